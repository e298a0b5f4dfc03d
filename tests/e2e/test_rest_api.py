"""heliport's REST API beyond request queries (SPEC §7), fed by the official
OpenAI SDK: users, sessions as trees, properties, prompts, feedback, scores,
property edits, exports, metrics and consolidated streams."""

import csv
import io
import json
import uuid

import pytest

REPLY = "Hello from the heliport mock."


def rid() -> str:
    return str(uuid.uuid4())


def leaf(**fields):
    return {"request_response_rmt": fields}


def data(resp):
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["error"] is None, body
    return body["data"]


@pytest.fixture(scope="module")
def traffic(heliport):
    """Three requests in one session by two users, one streamed, one under a
    prompt id, all tagged with a unique `run` property."""
    run = f"run-{uuid.uuid4().hex[:10]}"
    users = {"a": f"a-{run}", "b": f"b-{run}"}
    session = f"s-{run}"
    prompt = f"p-{run}"
    client = heliport.openai()
    ids = {}
    for name, user, path, stream, extra in [
        ("plan", users["a"], "/plan", False, {}),
        ("search", users["a"], "/plan/search", True, {}),
        ("answer", users["b"], "/answer", False, {"Helicone-Prompt-Id": prompt}),
    ]:
        request_id = rid()
        headers = {
            "Helicone-Request-Id": request_id,
            "Helicone-User-Id": user,
            "Helicone-Session-Id": session,
            "Helicone-Session-Name": "Agent",
            "Helicone-Session-Path": path,
            "Helicone-Property-Run": run,
            **extra,
        }
        messages = [{"role": "user", "content": f"step {name} please"}]
        if stream:
            chunks = client.chat.completions.create(
                model="gpt-4o",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=headers,
            )
            assert "".join(
                c.choices[0].delta.content or "" for c in chunks if c.choices
            ) == REPLY
        else:
            client.chat.completions.create(model="gpt-4o", messages=messages, extra_headers=headers)
        ids[name] = request_id
    for request_id in ids.values():
        heliport.record(request_id)
    return {"run": run, "users": users, "session": session, "prompt": prompt, "ids": ids}


def test_users_have_requests_tokens_and_cost(heliport, traffic):
    rows = data(heliport.api("POST", "/v1/user/query", json={"userIds": list(traffic["users"].values())}))
    by_user = {r["user_id"]: r for r in rows}
    a = by_user[traffic["users"]["a"]]
    assert a["requests"] == a["count"] == 2
    assert a["prompt_tokens"] == 6
    assert a["completion_tokens"] == 10
    assert a["cost"] == pytest.approx((6 * 2500 + 10 * 10_000) / 1e9)
    assert a["first_active"] <= a["last_active"]
    assert by_user[traffic["users"]["b"]]["requests"] == 1


def test_session_is_a_tree_by_path(heliport, traffic):
    sessions = data(heliport.api("POST", "/v1/session/query", json={"search": traffic["session"]}))
    assert [s["session_id"] for s in sessions] == [traffic["session"]]
    assert sessions[0]["session_name"] == "Agent"
    assert sessions[0]["total_requests"] == 3
    assert sorted(sessions[0]["user_ids"]) == sorted(traffic["users"].values())
    tree = data(heliport.api("GET", f"/v1/session/{traffic['session']}"))["tree"]
    assert [c["path"] for c in tree["children"]] == ["/plan", "/answer"]
    plan = tree["children"][0]
    assert plan["requests"] == 2
    assert plan["requests_here"][0]["request_id"] == traffic["ids"]["plan"]
    assert plan["children"][0]["path"] == "/plan/search"
    assert heliport.api("GET", f"/v1/session/nope-{traffic['run']}").status_code == 404


def test_property_values(heliport, traffic):
    names = data(heliport.api("POST", "/v1/property/query", json={"search": "run"}))
    assert "run" in [n["property"] for n in names]
    values = data(heliport.api("POST", "/v1/property/run/query", json={"search": traffic["run"]}))
    assert values == [values[0]] and values[0]["value"] == traffic["run"]
    assert values[0]["requests"] == 3


def test_prompt_versions_with_templates_and_requests(heliport, traffic):
    prompt = data(heliport.api("GET", f"/v1/prompt/{traffic['prompt']}"))
    assert prompt["latest_version"] == 1
    version = prompt["versions"][0]
    assert version["requests"] == 1
    assert "step answer please" in json.dumps(version["template"])
    listed = data(heliport.api("POST", "/v1/prompt/query", json={"search": traffic["prompt"]}))
    assert [p["prompt_id"] for p in listed] == [traffic["prompt"]]


def test_feedback_scores_and_property_edits(heliport, traffic):
    request_id = traffic["ids"]["answer"]
    data(heliport.api("POST", f"/v1/request/{request_id}/feedback", json={"rating": True}))
    data(heliport.api("POST", f"/v1/request/{request_id}/score", json={"scores": {"helpful": 9, "safe": True}}))
    data(heliport.api("PUT", f"/v1/request/{request_id}/property", json={"key": "Reviewed", "value": "yes"}))
    rec = heliport.record(request_id)
    assert rec["feedback_rating"] is True
    assert rec["scores"] == {"helpful": 9, "safe": True}
    assert rec["request_properties"]["reviewed"] == "yes"
    data(heliport.api("POST", "/v1/feedback", json={"helicone-id": request_id, "rating": False}))
    assert heliport.record(request_id)["feedback_rating"] is False
    found = heliport.query(leaf(scores={"helpful": {"gte": 9}}, properties={"run": {"equals": traffic["run"]}}))
    assert [r["request_id"] for r in found] == [request_id]
    # Floats are not scores; a read-only key cannot write; a write-only one cannot read.
    r = heliport.api("POST", f"/v1/request/{request_id}/score", json={"scores": {"helpful": 0.5}})
    assert r.status_code == 400 and "integer" in r.json()["error"]
    r = heliport.api("POST", f"/v1/request/{request_id}/feedback", key=heliport.read_key, json={"rating": True})
    assert r.status_code == 403
    r = heliport.api("POST", "/v1/user/query", key=heliport.write_key, json={})
    assert r.status_code == 403


def test_streamed_answers_are_consolidated(heliport, traffic):
    rec = heliport.record(traffic["ids"]["search"])
    assert rec["stream"] is True
    assert rec["response_body"]["object"] == "chat.completion"
    assert rec["response_body"]["choices"][0]["message"]["content"] == REPLY
    raw = data(heliport.api("GET", f"/v1/request/{traffic['ids']['search']}?raw_bodies=true"))
    assert raw["response_body"].startswith("data:")


def test_exports_are_csv_or_json_lines(heliport, traffic):
    body = {"filter": leaf(properties={"run": {"equals": traffic["run"]}}), "sort": {"created_at": "asc"}}
    r = heliport.api("POST", "/v1/request/export", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["request_id"] for row in rows] == list(traffic["ids"].values())
    r = heliport.api("POST", "/v1/request/export?format=csv", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["request_id"] for row in table] == list(traffic["ids"].values())
    assert table[0]["request_user_id"] == traffic["users"]["a"]


def test_metrics_and_counts_agree(heliport, traffic):
    by_run = leaf(properties={"run": {"equals": traffic["run"]}})
    assert heliport.count(by_run) == 3
    m = data(heliport.api("POST", "/v1/request/metrics/query", json={"groupBy": "property:run", "limit": 1000}))
    row = next(b for b in m["breakdown"] if b["key"] == traffic["run"])
    assert row["requests"] == 3
    assert m["overview"]["requests"] == heliport.count("all")
