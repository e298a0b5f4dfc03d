"""The official `anthropic` SDK through heliport's `/anthropic` route.

claude-3-5-sonnet: input $3, output $15, cache read $0.30, cache write $3.75
per million tokens (`heliport prices show claude-3-5-sonnet-20241022
--provider anthropic`), i.e. 3000 / 15000 / 300 / 3750 nano-USD per token.
Anthropic's `input_tokens` excludes cached tokens; heliport's prompt_tokens
counts every prompt token (SPEC §5).
"""

import json
import uuid

import anthropic

REPLY = "Hello from the heliport mock."
MODEL = "claude-3-5-sonnet-20241022"
IN, OUT, CACHE_READ, CACHE_WRITE = 3_000, 15_000, 300, 3_750
MESSAGES = [{"role": "user", "content": "one two three"}]  # 3 input tokens


def rid() -> str:
    return str(uuid.uuid4())


def test_messages_non_stream_with_cache_read(heliport):
    client = heliport.anthropic()
    request_id = rid()
    raw = client.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=64,
        messages=MESSAGES,
        extra_headers={
            "Helicone-Request-Id": request_id,
            "Helicone-User-Id": "claude-user",
            "Helicone-Property-Team": "research",
            "x-mock-cache-read": "10",
        },
    )
    message = raw.parse()
    assert raw.headers.get("helicone-id") == request_id
    assert message.content[0].text == REPLY
    assert message.usage.input_tokens == 3
    assert message.usage.cache_read_input_tokens == 10
    assert message.usage.output_tokens == 5

    rec = heliport.record(request_id)
    assert rec["provider"] == "anthropic"
    assert rec["model"] == MODEL
    assert rec["request_path"] == "/anthropic/v1/messages"
    assert rec["response_status"] == 200
    assert rec["stream"] is False
    assert rec["prompt_tokens"] == 13
    assert rec["prompt_cache_read_tokens"] == 10
    assert rec["prompt_cache_write_tokens"] in (0, None)
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 18
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 3 * IN + 10 * CACHE_READ + 5 * OUT == 87_000
    assert rec["request_user_id"] == "claude-user"
    assert rec["request_properties"] == {"team": "research"}
    assert rec["response_body"]["content"][0]["text"] == REPLY


def test_messages_stream_with_cache_read_and_write(heliport):
    client = heliport.anthropic()
    request_id = rid()
    with client.messages.stream(
        model=MODEL,
        max_tokens=64,
        system="be brief",  # 2 more input tokens
        messages=MESSAGES,
        extra_headers={
            "Helicone-Request-Id": request_id,
            "x-mock-cache-read": "10",
            "x-mock-cache-write": "4",
        },
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == REPLY
    assert final.content[0].text == REPLY
    assert final.usage.input_tokens == 5
    assert final.usage.output_tokens == 5

    rec = heliport.record(request_id)
    assert rec["stream"] is True
    assert rec["provider"] == "anthropic"
    assert rec["model"] == MODEL
    assert rec["prompt_tokens"] == 5 + 10 + 4
    assert rec["prompt_cache_read_tokens"] == 10
    assert rec["prompt_cache_write_tokens"] == 4
    assert rec["completion_tokens"] == 5
    assert rec["total_tokens"] == 24
    assert rec["usage_estimated"] is False
    assert rec["cost_nano_usd"] == 5 * IN + 10 * CACHE_READ + 4 * CACHE_WRITE + 5 * OUT
    assert rec["time_to_first_token"] is not None


def test_messages_create_stream_true(heliport):
    client = heliport.anthropic()
    request_id = rid()
    events = list(
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=MESSAGES,
            stream=True,
            extra_headers={"Helicone-Request-Id": request_id},
        )
    )
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == REPLY
    rec = heliport.record(request_id)
    assert rec["stream"] is True
    assert rec["prompt_tokens"] == 3
    assert rec["prompt_cache_read_tokens"] in (0, None)
    assert rec["completion_tokens"] == 5
    assert rec["cost_nano_usd"] == 3 * IN + 5 * OUT == 84_000


def test_anthropic_upstream_sees_api_key_and_no_helicone_headers(heliport):
    client = heliport.anthropic()
    tag = rid()
    request_id = rid()
    client.messages.create(
        model=MODEL,
        max_tokens=64,
        messages=MESSAGES,
        extra_headers={
            "Helicone-Request-Id": request_id,
            "Helicone-Property-X": "y",
            "x-e2e-tag": tag,
        },
    )
    got = heliport.mock_request(tag)
    assert got is not None, "the mock did not receive the request"
    assert got["path_and_query"] == "/v1/messages"
    assert ["x-api-key", "sk-ant-test"] in got["headers"]
    assert any(n == "anthropic-version" for n, _ in got["headers"])
    helicone = [n for n, _ in got["headers"] if n.startswith("helicone-")]
    assert helicone == [], f"helicone headers forwarded upstream: {helicone}"
    rec = heliport.record(request_id)
    assert "sk-ant-test" not in json.dumps(rec)


def test_anthropic_bad_key_is_anthropic_authentication_error(heliport):
    client = heliport.anthropic(key="sk-heliport-doesnotexist0000")
    tag = rid()
    try:
        client.messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, extra_headers={"x-e2e-tag": tag}
        )
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401
        # Anthropic's error shape, so the SDK shows heliport's message.
        assert e.body["type"] == "error", e.body
        assert "Helicone-Auth" in e.body["error"]["message"], e.body
        assert "Helicone-Auth" in str(e)
        assert e.response.headers.get("helicone-id")
    else:
        raise AssertionError("a bad Helicone-Auth key was accepted")
    assert heliport.mock_request(tag) is None, "a rejected request reached the upstream"


def test_anthropic_missing_key(heliport):
    client = heliport.anthropic(key=None)
    try:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    except anthropic.AuthenticationError as e:
        assert e.status_code == 401
        assert "Helicone-Auth" in str(e)
    else:
        raise AssertionError("a request without Helicone-Auth was accepted")


def test_anthropic_malformed_request_id_is_bad_request(heliport):
    client = heliport.anthropic()
    try:
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=MESSAGES,
            extra_headers={"Helicone-Request-Id": "12345"},
        )
    except anthropic.BadRequestError as e:
        assert e.status_code == 400
        assert e.body["type"] == "error", e.body
        assert "Helicone-Request-Id" in e.body["error"]["message"], e.body
    else:
        raise AssertionError("a malformed Helicone-Request-Id was accepted")


def test_anthropic_upstream_error(heliport):
    client = heliport.anthropic()
    request_id = rid()
    try:
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=MESSAGES,
            extra_headers={"Helicone-Request-Id": request_id, "x-mock-status": "529"},
        )
    except anthropic.APIStatusError as e:
        assert e.status_code == 529
        assert e.response.headers.get("helicone-id") == request_id
    else:
        raise AssertionError("the upstream 529 did not reach the client")
    rec = heliport.record(request_id)
    assert rec["response_status"] == 529
    assert rec["provider"] == "anthropic"
