"""Traffic control through the official SDKs (SPEC §3.1–§3.4): the response
headers a user reads (`Helicone-Cache`, `Helicone-RateLimit-*`,
`Helicone-Fallback-Index`), cached streams the SDKs parse, rate-limit errors
the SDKs raise, and retries that the client never sees."""

import json
import uuid

import openai
import pytest

MESSAGES = [{"role": "user", "content": "one two three"}]
REPLY = "Hello from the heliport mock."


def rid() -> str:
    return str(uuid.uuid4())


def unique_messages():
    return [{"role": "user", "content": f"question {uuid.uuid4().hex}"}]


def test_cache_hit_through_the_openai_sdk(heliport):
    client = heliport.openai(default_headers={"Helicone-Cache-Enabled": "true"})
    messages = unique_messages()
    first = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert first.headers["helicone-cache"] == "MISS"
    second = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert second.headers["helicone-cache"] == "HIT"
    assert second.headers["helicone-cache-bucket-idx"] == "0"
    assert second.parse().choices[0].message.content == REPLY

    rec = heliport.record(second.headers["helicone-id"])
    assert rec["cached"] is True
    assert rec["cost_nano_usd"] == 0
    assert rec["cache_saved_nano_usd"] == heliport.record(first.headers["helicone-id"])["cost_nano_usd"]


def test_cached_stream_is_read_by_the_sdk(heliport):
    client = heliport.openai(default_headers={"Helicone-Cache-Enabled": "true"})
    messages = unique_messages()

    def stream_once():
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        text, usage = "", None
        for chunk in raw.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage is not None:
                usage = chunk.usage
        return raw.headers["helicone-cache"], text, usage

    status, text, usage = stream_once()
    assert (status, text) == ("MISS", REPLY)
    # The entry is saved when the first stream has ended.
    hit = heliport.wait_for("a cache hit", lambda: (r := stream_once())[0] == "HIT" and r)
    _, text, usage = hit
    assert text == REPLY
    assert usage is not None and usage.completion_tokens == 5


def test_cache_hit_through_the_anthropic_sdk(heliport):
    client = heliport.anthropic(default_headers={"Helicone-Cache-Enabled": "true"})
    messages = unique_messages()
    kw = dict(model="claude-3-5-sonnet-20241022", max_tokens=50, messages=messages)
    assert client.messages.with_raw_response.create(**kw).headers["helicone-cache"] == "MISS"
    hit = client.messages.with_raw_response.create(**kw)
    assert hit.headers["helicone-cache"] == "HIT"
    assert hit.parse().content[0].text == REPLY


def test_rate_limit_headers_and_the_sdk_error(heliport):
    team = f"team-{uuid.uuid4().hex[:8]}"
    client = heliport.openai(
        default_headers={
            "Helicone-RateLimit-Policy": "2;w=60;s=team",
            "Helicone-Property-Team": team,
        }
    )
    remaining = []
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert raw.headers["helicone-ratelimit-limit"] == "2"
        assert raw.headers["helicone-ratelimit-policy"] == "2;w=60;u=request;s=team"
        remaining.append(raw.headers["helicone-ratelimit-remaining"])
    assert remaining == ["1", "0"]
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert "rate limit exceeded" in str(e.value)
    assert e.value.response.headers["retry-after"]
    assert e.value.response.headers["helicone-ratelimit-remaining"] == "0"


def test_retries_are_invisible_to_the_client(heliport):
    client = heliport.openai()
    fail_id = uuid.uuid4().hex
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={
            "Helicone-Retry-Enabled": "true",
            "Helicone-Retry-Min-Timeout": "10",
            "x-mock-fail-id": fail_id,
            "x-mock-fail-count": "2",
            "x-mock-fail-status": "529",
        },
    )
    assert raw.parse().choices[0].message.content == REPLY
    rec = heliport.record(raw.headers["helicone-id"])
    assert rec["attempts"] == 3


def test_fallback_index_through_the_sdk(heliport):
    # The session allows the loopback mock as a target (gateway.allowed_targets);
    # entry 0 is told to fail by its own headers.
    client = heliport.openai()
    fallbacks = [
        {"target-url": heliport.mock_url, "headers": {"x-mock-status": "503"}, "onCodes": [503]},
        {"target-url": heliport.mock_url},
    ]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"Helicone-Fallbacks": json.dumps(fallbacks)},
    )
    assert raw.headers["helicone-fallback-index"] == "1"
    assert raw.parse().choices[0].message.content == REPLY
    rec = heliport.record(raw.headers["helicone-id"])
    assert (rec["fallback_index"], rec["attempts"]) == (1, 2)


def test_a_private_fallback_target_is_refused(heliport):
    client = heliport.openai()
    fallbacks = [{"target-url": "http://169.254.169.254/latest"}]
    with pytest.raises(openai.PermissionDeniedError) as e:
        client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            extra_headers={"Helicone-Fallbacks": json.dumps(fallbacks)},
        )
    assert "target URL is not allowed" in str(e.value)
