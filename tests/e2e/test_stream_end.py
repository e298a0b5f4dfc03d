"""Streams whose client hangs up at the terminal event are complete.

The official openai SDK stops reading at `data: [DONE]` and closes the
response; real providers end the body a moment later (an HTTP/2 END_STREAM or
the last empty chunk). The mock holds the body open after its last event
(`x-mock-end-delay-ms`) and splits events at odd byte boundaries
(`x-mock-chunk-bytes`), so the SDK hangs up while heliport's upstream body is
still open: the record must say the answer was complete, with its tokens and
cost.
"""

import time
import uuid

REPLY = "Hello from the heliport mock."
MESSAGES = [{"role": "user", "content": "one two three"}]
GPT4O_IN = 2_500
GPT4O_OUT = 10_000
END_DELAY_MS = 5_000
# Headers that make the upstream misbehave the way real ones do.
LATE_END = {"x-mock-end-delay-ms": str(END_DELAY_MS), "x-mock-chunk-bytes": "5"}


def rid() -> str:
    return str(uuid.uuid4())


def test_sdk_hanging_up_at_done_with_usage_is_complete(heliport):
    client = heliport.openai()
    request_id = rid()
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"Helicone-Request-Id": request_id, **LATE_END},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    elapsed = time.monotonic() - started
    assert text == REPLY
    # The SDK left at [DONE], long before the upstream ended the body.
    assert elapsed < END_DELAY_MS / 1000 - 1, f"the SDK read to the end ({elapsed:.1f}s)"

    rec = heliport.record(request_id)
    assert rec["cancelled"] is False
    assert rec["response_status"] == 200
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 3 * GPT4O_IN + 5 * GPT4O_OUT


def test_sdk_hanging_up_at_done_without_usage_is_estimated_and_priced(heliport):
    client = heliport.openai()
    request_id = rid()
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        extra_headers={"Helicone-Request-Id": request_id, **LATE_END},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == REPLY

    rec = heliport.record(request_id)
    assert rec["cancelled"] is False
    assert rec["usage_estimated"] is True
    assert rec["completion_tokens"] > 0
    assert rec["cost_nano_usd"] == (
        rec["prompt_tokens"] * GPT4O_IN + rec["completion_tokens"] * GPT4O_OUT
    )


def test_responses_stream_left_at_completed_is_complete(heliport):
    client = heliport.openai()
    request_id = rid()
    with client.responses.stream(
        model="gpt-4o",
        input="one two three",
        extra_headers={"Helicone-Request-Id": request_id, **LATE_END},
    ) as stream:
        for event in stream:
            if event.type == "response.completed":
                break
    rec = heliport.record(request_id)
    assert rec["cancelled"] is False
    assert rec["usage_estimated"] is False
    assert rec["total_tokens"] > 0
    assert rec["cost_nano_usd"] > 0


def test_client_leaving_before_the_end_is_still_cancelled(heliport):
    client = heliport.openai()
    request_id = rid()
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={
            "Helicone-Request-Id": request_id,
            "x-mock-words": "40",
            "x-mock-chunk-delay-ms": "100",
        },
    )
    for _ in stream:
        break
    stream.close()
    rec = heliport.record(request_id)
    assert rec["cancelled"] is True
    assert rec["cost_nano_usd"] is None
