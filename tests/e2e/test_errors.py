"""heliport's own errors and upstream errors, as the official SDKs raise them
(SPEC §2, §3, §6): clear 4xx bodies in the provider's shape, so the SDK's
exception names the header and what is accepted."""

import uuid

import openai
import pytest

MESSAGES = [{"role": "user", "content": "one two three"}]


def rid() -> str:
    return str(uuid.uuid4())


def call(client, **extra_headers):
    return client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, extra_headers=extra_headers or None
    )


def test_missing_helicone_auth(heliport):
    client = heliport.openai(key=None)
    tag = rid()
    with pytest.raises(openai.AuthenticationError) as info:
        call(client, **{"x-e2e-tag": tag})
    e = info.value
    assert e.status_code == 401
    assert "Helicone-Auth" in e.message, e.message
    assert e.code == "missing_auth", e.body
    assert e.response.headers.get("helicone-id"), "no Helicone-Id on a 401"
    assert heliport.mock_request(tag) is None, "an unauthenticated request reached the upstream"


def test_unknown_helicone_key(heliport):
    client = heliport.openai(key="sk-heliport-unknownkey1234567890")
    with pytest.raises(openai.AuthenticationError) as info:
        call(client)
    e = info.value
    assert e.status_code == 401
    assert "Helicone-Auth" in e.message, e.message
    assert e.code == "invalid_auth", e.body


def test_malformed_helicone_auth(heliport):
    client = heliport.openai(key=None, default_headers={"Helicone-Auth": "Basic abc"})
    with pytest.raises(openai.AuthenticationError) as info:
        call(client)
    assert info.value.status_code == 401
    assert "Helicone-Auth" in info.value.message


def test_malformed_request_id(heliport):
    client = heliport.openai()
    tag = rid()
    with pytest.raises(openai.BadRequestError) as info:
        call(client, **{"Helicone-Request-Id": "not-a-uuid", "x-e2e-tag": tag})
    e = info.value
    assert e.status_code == 400
    assert "Helicone-Request-Id" in e.message, e.message
    assert e.code == "invalid_header", e.body
    assert heliport.mock_request(tag) is None, "a rejected request reached the upstream"
    # A rejected request is still logged, under the id it was answered with.
    request_id = e.response.headers.get("helicone-id")
    assert request_id, "no Helicone-Id on a 400"
    rec = heliport.record(request_id)
    assert rec["response_status"] == 400


def test_uuid_v7_request_id_accepted(heliport):
    # Any UUID version is accepted (SPEC §3), v7 included.
    request_id = "01936d2e-7b3c-7def-8a12-3456789abcde"
    raw = heliport.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, extra_headers={"Helicone-Request-Id": request_id}
    )
    assert raw.headers.get("helicone-id") == request_id
    assert heliport.record(request_id)["total_tokens"] == 8


def test_bad_numeric_header_is_clear_400(heliport):
    client = heliport.openai()
    with pytest.raises(openai.BadRequestError) as info:
        call(
            client,
            **{"Helicone-Cache-Enabled": "true", "Helicone-Cache-Bucket-Max-Size": "lots"},
        )
    assert "Helicone-Cache-Bucket-Max-Size" in info.value.message


def test_upstream_503_is_internal_server_error(heliport):
    client = heliport.openai()  # max_retries=0
    request_id = rid()
    with pytest.raises(openai.InternalServerError) as info:
        call(client, **{"Helicone-Request-Id": request_id, "x-mock-status": "503"})
    e = info.value
    assert e.status_code == 503
    # The upstream's own error passes through.
    assert "mock error 503" in e.message
    assert e.response.headers.get("helicone-id") == request_id
    rec = heliport.record(request_id)
    assert rec["response_status"] == 503
    assert rec["provider"] == "openai"
    assert rec["model"] == "gpt-4o"


def test_upstream_429_is_rate_limit_error(heliport):
    client = heliport.openai()
    request_id = rid()
    with pytest.raises(openai.RateLimitError) as info:
        call(client, **{"Helicone-Request-Id": request_id, "x-mock-status": "429"})
    assert info.value.status_code == 429
    assert heliport.record(request_id)["response_status"] == 429


def test_read_only_key_cannot_proxy(heliport):
    client = heliport.openai(key=heliport.read_key)
    tag = rid()
    with pytest.raises(openai.PermissionDeniedError) as info:
        call(client, **{"x-e2e-tag": tag})
    assert info.value.status_code == 403
    assert heliport.mock_request(tag) is None


def test_write_only_key_can_proxy(heliport):
    client = heliport.openai(key=heliport.write_key)
    request_id = rid()
    completion = call(client, **{"Helicone-Request-Id": request_id})
    assert completion.choices[0].message.content == "Hello from the heliport mock."
    # Readable with the rw key of the same organization.
    assert heliport.record(request_id)["total_tokens"] == 8
