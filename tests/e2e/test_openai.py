"""The official `openai` SDK through heliport: chat (plain and streamed),
embeddings and the Responses API, each checked against its record.

Mock arithmetic: prompt tokens = whitespace-separated words of the request
text; the reply "Hello from the heliport mock." is 5 completion tokens.
gpt-4o costs $2.50 / $10.00 per million input / output tokens, i.e. 2500 /
10000 nano-USD per token (`heliport prices show gpt-4o --provider openai`).
"""

import json
import uuid

REPLY = "Hello from the heliport mock."
GPT4O_IN = 2_500  # nano-USD per input token
GPT4O_OUT = 10_000  # nano-USD per output token
GPT4O_CACHE_READ = 1_250  # nano-USD per cached input token
EMBED_IN = 20  # text-embedding-3-small, nano-USD per token

PROMPT = "one two three"  # 3 prompt tokens
MESSAGES = [{"role": "user", "content": PROMPT}]


def rid() -> str:
    return str(uuid.uuid4())


def test_chat_non_stream_records_everything(heliport):
    client = heliport.openai()
    session = rid()
    tag = rid()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={
            "Helicone-User-Id": "alice@example.com",
            "Helicone-Property-Environment": "staging",
            "Helicone-Session-Id": session,
            "Helicone-Session-Path": "/trip/flights",
            "Helicone-Session-Name": "Trip planner",
            "x-e2e-tag": tag,
        },
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == REPLY
    assert completion.usage.prompt_tokens == 3
    assert completion.usage.completion_tokens == 5

    request_id = raw.headers.get("helicone-id")
    assert request_id, f"no Helicone-Id header in {dict(raw.headers)}"
    uuid.UUID(request_id)  # a UUID

    rec = heliport.record(request_id)
    assert rec["request_id"] == request_id
    assert rec["model"] == "gpt-4o"
    assert rec["request_model"] == "gpt-4o"
    assert rec["response_model"] == "gpt-4o"
    assert rec["provider"] == "openai"
    assert rec["response_status"] == 200
    assert rec["stream"] is False
    assert rec["request_path"] == "/v1/chat/completions"
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 8
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 3 * GPT4O_IN + 5 * GPT4O_OUT == 57_500
    assert abs(rec["cost"] - 57_500e-9) < 1e-15
    assert rec["request_user_id"] == "alice@example.com"
    assert rec["request_properties"] == {"environment": "staging"}
    assert rec["session_id"] == session
    assert rec["session_path"] == "/trip/flights"
    assert rec["session_name"] == "Trip planner"
    assert rec["failure"] is None
    assert rec["cancelled"] is False
    assert isinstance(rec["delay_ms"], int) and rec["delay_ms"] >= 0
    # Bodies are kept (not omitted here).
    assert rec["request_body"]["messages"] == MESSAGES
    assert rec["response_body"]["choices"][0]["message"]["content"] == REPLY


def test_chat_request_id_header_is_used_and_echoed(heliport):
    client = heliport.openai()
    request_id = rid()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"Helicone-Request-Id": request_id},
    )
    assert raw.parse().choices[0].message.content == REPLY
    assert raw.headers.get("helicone-id") == request_id
    rec = heliport.record(request_id)
    assert rec["request_id"] == request_id
    assert rec["total_tokens"] == 8


def test_chat_user_from_body_field(heliport):
    """Without Helicone-User-Id the OpenAI body's `user` field is the user."""
    client = heliport.openai()
    request_id = rid()
    client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        user="body-user-7",
        extra_headers={"Helicone-Request-Id": request_id},
    )
    assert heliport.record(request_id)["request_user_id"] == "body-user-7"


def test_chat_stream_with_usage(heliport):
    client = heliport.openai()
    request_id = rid()
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"Helicone-Request-Id": request_id},
    )
    text = []
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(text) == REPLY
    assert usage is not None and usage.prompt_tokens == 3 and usage.completion_tokens == 5

    rec = heliport.record(request_id)
    assert rec["stream"] is True
    assert rec["response_status"] == 200
    assert rec["model"] == "gpt-4o"
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 8
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 57_500
    assert rec["time_to_first_token"] is not None
    assert 0 <= rec["time_to_first_token"] <= rec["delay_ms"]


def test_chat_stream_without_usage_is_estimated(heliport):
    client = heliport.openai()
    request_id = rid()
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        extra_headers={"Helicone-Request-Id": request_id},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == REPLY

    rec = heliport.record(request_id)
    assert rec["stream"] is True
    assert rec["usage_estimated"] is True
    assert rec["prompt_tokens"] > 0
    assert rec["completion_tokens"] > 0
    assert rec["total_tokens"] == rec["prompt_tokens"] + rec["completion_tokens"]
    # An estimate of a priced model is still priced.
    assert rec["cost_nano_usd"] == (
        rec["prompt_tokens"] * GPT4O_IN + rec["completion_tokens"] * GPT4O_OUT
    )


def test_chat_non_stream_without_usage_is_estimated(heliport):
    client = heliport.openai()
    request_id = rid()
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"Helicone-Request-Id": request_id, "x-mock-usage": "false"},
    )
    assert completion.choices[0].message.content == REPLY
    assert completion.usage is None
    rec = heliport.record(request_id)
    assert rec["usage_estimated"] is True
    assert rec["prompt_tokens"] > 0
    assert rec["completion_tokens"] > 0


def test_chat_cached_prompt_tokens(heliport):
    """OpenAI counts cached tokens inside prompt_tokens; they are priced at the cache-read rate."""
    client = heliport.openai()
    request_id = rid()
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"Helicone-Request-Id": request_id, "x-mock-cache-read": "10"},
    )
    assert completion.usage.prompt_tokens == 13
    rec = heliport.record(request_id)
    assert rec["prompt_tokens"] == 13
    assert rec["prompt_cache_read_tokens"] == 10
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 18
    assert rec["cost_nano_usd"] == 3 * GPT4O_IN + 10 * GPT4O_CACHE_READ + 5 * GPT4O_OUT


def test_model_override(heliport):
    client = heliport.openai()
    request_id = rid()
    client.chat.completions.create(
        model="my-finetune",
        messages=MESSAGES,
        extra_headers={
            "Helicone-Request-Id": request_id,
            "Helicone-Model-Override": "gpt-4o",
        },
    )
    rec = heliport.record(request_id)
    assert rec["model"] == "gpt-4o"
    assert rec["request_model"] == "my-finetune"
    assert rec["cost_nano_usd"] == 57_500


def test_unpriced_model_has_null_cost(heliport):
    client = heliport.openai()
    request_id = rid()
    client.chat.completions.create(
        model="no-such-model-e2e",
        messages=MESSAGES,
        extra_headers={"Helicone-Request-Id": request_id},
    )
    rec = heliport.record(request_id)
    assert rec["model"] == "no-such-model-e2e"
    assert rec["total_tokens"] == 8
    assert rec["cost_nano_usd"] is None
    assert rec["cost"] is None


def test_embeddings(heliport):
    client = heliport.openai()
    request_id = rid()
    result = client.embeddings.create(
        model="text-embedding-3-small",
        input="the quick brown fox",
        extra_headers={"Helicone-Request-Id": request_id},
    )
    assert len(result.data) == 1
    assert len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens == 4

    rec = heliport.record(request_id)
    assert rec["model"] == "text-embedding-3-small"
    assert rec["provider"] == "openai"
    assert rec["request_path"] == "/v1/embeddings"
    assert rec["prompt_tokens"] == 4
    assert rec["completion_tokens"] in (0, None)
    assert rec["total_tokens"] == 4
    assert rec["cost_nano_usd"] == 4 * EMBED_IN == 80


def test_embeddings_batch(heliport):
    client = heliport.openai()
    request_id = rid()
    result = client.embeddings.create(
        model="text-embedding-3-small",
        input=["alpha beta", "gamma delta epsilon"],
        encoding_format="float",
        extra_headers={"Helicone-Request-Id": request_id},
    )
    assert [len(d.embedding) for d in result.data] == [8, 8]
    rec = heliport.record(request_id)
    assert rec["prompt_tokens"] == 5
    assert rec["cost_nano_usd"] == 5 * EMBED_IN


def test_responses_non_stream(heliport):
    client = heliport.openai()
    request_id = rid()
    response = client.responses.create(
        model="gpt-4o",
        input=PROMPT,
        extra_headers={"Helicone-Request-Id": request_id},
    )
    assert response.output_text == REPLY
    assert response.usage.input_tokens == 3
    assert response.usage.output_tokens == 5

    rec = heliport.record(request_id)
    assert rec["request_path"] == "/v1/responses"
    assert rec["model"] == "gpt-4o"
    assert rec["stream"] is False
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 8
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 57_500


def test_responses_stream_helper(heliport):
    client = heliport.openai()
    request_id = rid()
    deltas = []
    with client.responses.stream(
        model="gpt-4o",
        input=PROMPT,
        extra_headers={"Helicone-Request-Id": request_id},
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == REPLY
    assert final.output_text == REPLY

    rec = heliport.record(request_id)
    assert rec["stream"] is True
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 8
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 57_500
    assert rec["time_to_first_token"] is not None


def test_responses_stream_true(heliport):
    client = heliport.openai()
    request_id = rid()
    events = list(
        client.responses.create(
            model="gpt-4o",
            input=[{"role": "user", "content": "four words right here"}],
            stream=True,
            extra_headers={"Helicone-Request-Id": request_id},
        )
    )
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == REPLY
    assert events[-1].type == "response.completed"

    rec = heliport.record(request_id)
    assert rec["stream"] is True
    assert rec["prompt_tokens"] == 4
    assert rec["completion_tokens"] == 5
    assert rec["cost_nano_usd"] == 4 * GPT4O_IN + 5 * GPT4O_OUT


def test_legacy_completions(heliport):
    client = heliport.openai()
    request_id = rid()
    completion = client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt=PROMPT,
        extra_headers={"Helicone-Request-Id": request_id},
    )
    assert completion.choices[0].text == REPLY
    rec = heliport.record(request_id)
    assert rec["request_path"] == "/v1/completions"
    assert rec["model"] == "gpt-3.5-turbo-instruct"
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    # $1.50 / $2.00 per million tokens.
    assert rec["cost_nano_usd"] == 3 * 1_500 + 5 * 2_000


def test_omit_request_and_response_bodies(heliport):
    client = heliport.openai()
    request_id = rid()
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "secret one two"}],
        extra_headers={
            "Helicone-Request-Id": request_id,
            "Helicone-Omit-Request": "true",
            "Helicone-Omit-Response": "TRUE",
        },
    )
    assert completion.choices[0].message.content == REPLY
    rec = heliport.record(request_id)
    assert rec["request_body"] is None
    assert rec["response_body"] is None
    assert rec["prompt_tokens"] == 3
    assert rec["completion_tokens"] == 5
    assert rec["cost_nano_usd"] == 57_500
    assert "secret" not in json.dumps(rec)


def test_omit_only_response(heliport):
    client = heliport.openai()
    request_id = rid()
    client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"Helicone-Request-Id": request_id, "Helicone-Omit-Response": "true"},
    )
    rec = heliport.record(request_id)
    assert rec["request_body"]["messages"] == MESSAGES
    assert rec["response_body"] is None
    assert rec["total_tokens"] == 8


def test_omit_false_keeps_bodies(heliport):
    client = heliport.openai()
    request_id = rid()
    client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={"Helicone-Request-Id": request_id, "Helicone-Omit-Request": "yes"},
    )
    rec = heliport.record(request_id)
    # Only "true" (any case) means true.
    assert rec["request_body"]["messages"] == MESSAGES
    assert rec["response_body"] is not None


def test_upstream_sees_provider_key_and_no_helicone_headers(heliport):
    client = heliport.openai()
    tag = rid()
    request_id = rid()
    client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        extra_headers={
            "Helicone-Request-Id": request_id,
            "Helicone-User-Id": "u",
            "Helicone-Property-Foo": "bar",
            "Helicone-Session-Id": rid(),
            "x-e2e-tag": tag,
        },
    )
    got = heliport.mock_request(tag)
    assert got is not None, "the mock did not receive the request"
    assert got["method"] == "POST"
    assert got["path_and_query"] == "/v1/chat/completions"
    names = [name for name, _ in got["headers"]]
    assert ["authorization", "Bearer sk-provider-test"] in got["headers"]
    helicone = [n for n in names if n.lower().startswith("helicone-")]
    assert helicone == [], f"helicone headers forwarded upstream: {helicone}"
    assert got["json"]["messages"] == MESSAGES
    # The provider key is forwarded but never stored.
    rec = heliport.record(request_id)
    assert "sk-provider-test" not in json.dumps(rec)
