"""Prompts (SPEC §5): `<helicone-prompt-input>` tags are stripped before the
upstream sees the request, the inputs are recorded, and every distinct
template under one Helicone-Prompt-Id is a new version."""

import uuid

REPLY = "Hello from the heliport mock."


def rid() -> str:
    return str(uuid.uuid4())


def tagged(name: str, value: str) -> str:
    return f'<helicone-prompt-input key="{name}">{value}</helicone-prompt-input>'


def send(heliport, prompt_id: str, content: str, system: str | None = None):
    client = heliport.openai()
    request_id = rid()
    tag = rid()
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        extra_headers={
            "Helicone-Request-Id": request_id,
            "Helicone-Prompt-Id": prompt_id,
            "x-e2e-tag": tag,
        },
    )
    assert completion.choices[0].message.content == REPLY
    return request_id, tag


def test_prompt_inputs_and_versions(heliport):
    prompt_id = f"greeting-{uuid.uuid4().hex[:8]}"

    # First template, first input value.
    r1, tag1 = send(heliport, prompt_id, f"Write a greeting for {tagged('name', 'Alice')} please.")
    upstream = heliport.mock_request(tag1)
    assert upstream is not None
    assert upstream["json"]["messages"] == [
        {"role": "user", "content": "Write a greeting for Alice please."}
    ]
    assert "helicone-prompt-input" not in upstream["body"]
    rec1 = heliport.record(r1)
    assert rec1["prompt_id"] == prompt_id
    assert rec1["prompt_version"] == 1
    assert rec1["prompt_inputs"] == {"name": "Alice"}
    # 6 words reach the upstream: the tags are not counted as prompt text.
    assert rec1["prompt_tokens"] == 6

    # Same surrounding text, another value: still version 1.
    r2, tag2 = send(heliport, prompt_id, f"Write a greeting for {tagged('name', 'Bob Smith')} please.")
    assert heliport.mock_request(tag2)["json"]["messages"][0]["content"] == (
        "Write a greeting for Bob Smith please."
    )
    rec2 = heliport.record(r2)
    assert rec2["prompt_id"] == prompt_id
    assert rec2["prompt_version"] == 1
    assert rec2["prompt_inputs"] == {"name": "Bob Smith"}

    # Different surrounding text: a new version.
    r3, _ = send(heliport, prompt_id, f"Write a farewell for {tagged('name', 'Carol')} please.")
    rec3 = heliport.record(r3)
    assert rec3["prompt_version"] == 2
    assert rec3["prompt_inputs"] == {"name": "Carol"}

    # Back to the first template: version 1 again, not a new version.
    r4, _ = send(heliport, prompt_id, f"Write a greeting for {tagged('name', 'Dave')} please.")
    assert heliport.record(r4)["prompt_version"] == 1

    # The prompt id is filterable.
    rows = heliport.query(
        {"request_response_rmt": {"prompt_id": {"equals": prompt_id}}}, limit=100
    )
    assert {r["request_id"] for r in rows} == {r1, r2, r3, r4}


def test_prompt_multiple_inputs_across_messages(heliport):
    prompt_id = f"multi-{uuid.uuid4().hex[:8]}"
    r1, tag = send(
        heliport,
        prompt_id,
        f"Translate {tagged('text', 'good morning')} into {tagged('lang', 'French')}.",
        system=f"You are a {tagged('role', 'translator')}.",
    )
    upstream = heliport.mock_request(tag)
    assert upstream["json"]["messages"] == [
        {"role": "system", "content": "You are a translator."},
        {"role": "user", "content": "Translate good morning into French."},
    ]
    rec = heliport.record(r1)
    assert rec["prompt_version"] == 1
    assert rec["prompt_inputs"] == {"text": "good morning", "lang": "French", "role": "translator"}

    # A different prompt id starts its own versions at 1, even with another template.
    other = f"other-{uuid.uuid4().hex[:8]}"
    r2, _ = send(heliport, other, f"Summarize {tagged('doc', 'this')}.")
    assert heliport.record(r2)["prompt_version"] == 1


def test_prompt_id_without_tags(heliport):
    prompt_id = f"plain-{uuid.uuid4().hex[:8]}"
    r1, tag = send(heliport, prompt_id, "no inputs here")
    assert heliport.mock_request(tag)["json"]["messages"][0]["content"] == "no inputs here"
    rec = heliport.record(r1)
    assert rec["prompt_id"] == prompt_id
    assert rec["prompt_version"] == 1
    assert rec["prompt_inputs"] in ({}, None)
