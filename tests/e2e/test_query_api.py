"""heliport's REST API (SPEC §7): Helicone's request query, count, get, and
key permissions."""

import uuid

import pytest

GPT4O_IN, GPT4O_OUT = 2_500, 10_000


def rid() -> str:
    return str(uuid.uuid4())


def leaf(**fields):
    return {"request_response_rmt": fields}


def AND(left, right):
    return {"left": left, "operator": "and", "right": right}


def OR(left, right):
    return {"left": left, "operator": "or", "right": right}


@pytest.fixture(scope="module")
def run(heliport):
    """Three requests tagged with a unique `run` property: two by user-a with
    3- and 7-word prompts, one by user-b with a 1-word prompt."""
    run_id = f"run-{uuid.uuid4().hex[:10]}"
    user_a, user_b = f"a-{run_id}", f"b-{run_id}"
    client = heliport.openai()
    ids = {}
    for name, user, prompt in [
        ("small", user_a, "one two three"),
        ("large", user_a, "one two three four five six seven"),
        ("tiny", user_b, "one"),
    ]:
        request_id = rid()
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": prompt}],
            extra_headers={
                "Helicone-Request-Id": request_id,
                "Helicone-User-Id": user,
                "Helicone-Property-Run": run_id,
                "Helicone-Property-Size": name,
            },
        )
        ids[name] = request_id
    for request_id in ids.values():
        heliport.record(request_id)
    return {"run": run_id, "user_a": user_a, "user_b": user_b, "ids": ids}


def by_run(run):
    return leaf(properties={"run": {"equals": run["run"]}})


def test_filter_by_property(heliport, run):
    rows = heliport.query(by_run(run), limit=100)
    assert {r["request_id"] for r in rows} == set(run["ids"].values())
    for r in rows:
        assert r["request_properties"]["run"] == run["run"]
    # Newest first by default.
    assert [r["request_id"] for r in rows] == [
        run["ids"]["tiny"],
        run["ids"]["large"],
        run["ids"]["small"],
    ]


def test_filter_by_user(heliport, run):
    rows = heliport.query(leaf(user_id={"equals": run["user_a"]}), limit=100)
    assert {r["request_id"] for r in rows} == {run["ids"]["small"], run["ids"]["large"]}
    assert all(r["request_user_id"] == run["user_a"] for r in rows)


def test_filter_tree_and_or(heliport, run):
    rows = heliport.query(
        AND(by_run(run), leaf(properties={"size": {"not-equals": "large"}})), limit=100
    )
    assert {r["request_id"] for r in rows} == {run["ids"]["small"], run["ids"]["tiny"]}
    rows = heliport.query(
        OR(
            leaf(user_id={"equals": run["user_b"]}),
            AND(by_run(run), leaf(prompt_tokens={"gte": 7})),
        ),
        limit=100,
    )
    assert {r["request_id"] for r in rows} == {run["ids"]["tiny"], run["ids"]["large"]}


def test_filter_by_cost_in_usd(heliport, run):
    # small: 3*2500 + 5*10000 = 57500 nano = $0.0000575.
    rows = heliport.query(AND(by_run(run), leaf(cost={"equals": 0.0000575})), limit=100)
    assert [r["request_id"] for r in rows] == [run["ids"]["small"]]
    rows = heliport.query(AND(by_run(run), leaf(cost={"gt": 0.0000575})), limit=100)
    assert [r["request_id"] for r in rows] == [run["ids"]["large"]]


def test_count(heliport, run):
    assert heliport.count(by_run(run)) == 3
    assert heliport.count(AND(by_run(run), leaf(user_id={"equals": run["user_a"]}))) == 2
    assert heliport.count(leaf(user_id={"equals": "nobody-" + run["run"]})) == 0


def test_sort_by_cost(heliport, run):
    asc = heliport.query(by_run(run), sort={"cost": "asc"}, limit=100)
    assert [r["request_id"] for r in asc] == [
        run["ids"]["tiny"],
        run["ids"]["small"],
        run["ids"]["large"],
    ]
    assert [r["cost_nano_usd"] for r in asc] == [
        1 * GPT4O_IN + 5 * GPT4O_OUT,
        3 * GPT4O_IN + 5 * GPT4O_OUT,
        7 * GPT4O_IN + 5 * GPT4O_OUT,
    ]
    desc = heliport.query(by_run(run), sort={"cost": "desc"}, limit=100)
    assert [r["request_id"] for r in desc] == [r["request_id"] for r in reversed(asc)]


def test_paging(heliport, run):
    page1 = heliport.query(by_run(run), sort={"prompt_tokens": "asc"}, limit=2)
    page2 = heliport.query(by_run(run), sort={"prompt_tokens": "asc"}, limit=2, offset=2)
    assert [r["prompt_tokens"] for r in page1] == [1, 3]
    assert [r["prompt_tokens"] for r in page2] == [7]


def test_query_clickhouse_alias(heliport, run):
    r = heliport.api(
        "POST", "/v1/request/query-clickhouse", json={"filter": by_run(run), "limit": 100}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 3


def test_get_unknown_request_is_404(heliport):
    r = heliport.api("GET", f"/v1/request/{rid()}")
    assert r.status_code == 404
    body = r.json()
    assert body["data"] is None and body["error"]


def test_bad_filter_is_400(heliport):
    r = heliport.api(
        "POST", "/v1/request/query", json={"filter": leaf(no_such_field={"equals": "x"})}
    )
    assert r.status_code == 400
    body = r.json()
    assert body["data"] is None
    assert "no_such_field" in body["error"]


def test_read_only_key_can_query(heliport, run):
    rows = heliport.query(by_run(run), key=heliport.read_key, limit=100)
    assert len(rows) == 3
    r = heliport.api("GET", f"/v1/request/{run['ids']['small']}", key=heliport.read_key)
    assert r.status_code == 200
    assert r.json()["data"]["request_id"] == run["ids"]["small"]


def test_write_only_key_cannot_query(heliport, run):
    r = heliport.api(
        "POST", "/v1/request/query", key=heliport.write_key, json={"filter": by_run(run)}
    )
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["data"] is None and body["error"]
    r = heliport.api("GET", f"/v1/request/{run['ids']['small']}", key=heliport.write_key)
    assert r.status_code == 403
    r = heliport.api(
        "POST", "/v1/request/count/query", key=heliport.write_key, json={"filter": "all"}
    )
    assert r.status_code == 403


def test_query_without_key_is_401(heliport):
    r = heliport.api("POST", "/v1/request/query", key=None, json={"filter": "all"})
    assert r.status_code == 401
    assert r.json()["error"]
    r = heliport.api("POST", "/v1/request/query", key="sk-heliport-nope", json={"filter": "all"})
    assert r.status_code == 401


def test_client_mistakes_are_4xx_in_the_envelope(heliport):
    # A LIKE pattern longer than SQLite accepts is the client's mistake.
    huge = "%" + "a" * 60_000 + "%"
    r = heliport.api("POST", "/v1/request/query", json={"filter": leaf(model={"like": huge})})
    assert r.status_code == 400, r.text
    assert r.json()["data"] is None and "10000" in r.json()["error"]
    # axum's own refusals use the envelope too.
    r = heliport.api("GET", "/v1/request/query")
    assert r.status_code == 405, r.text
    assert r.json() == {"data": None, "error": "GET is not accepted on /v1/request/query"}
    # (axum's 413 is answered in the envelope too: see heliport-api's unit
    # test; a client still sending 3 MB may see the connection reset first.)
    # An unknown path in the namespace: 404 in the envelope, never proxied.
    r = heliport.api("POST", "/v1/request/nothing/here")
    assert r.status_code == 404
    assert r.json()["data"] is None
