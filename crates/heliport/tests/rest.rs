//! The REST API of SPEC §7 against the real binary: every endpoint, every
//! filter operator, hostile filters, write permissions, and a second
//! organization that sees nothing of the first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// One REST call with `key`; the status and the parsed body (the raw text
/// as a JSON string when it is not JSON, as exports are).
async fn api(h: &Heliport, method: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let (status, _, bytes) = send(
        method,
        &h.url(path),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string(),
    )
    .await;
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

/// `api` that must answer 200; returns `data`.
async fn data(h: &Heliport, method: &str, path: &str, key: &str, body: Value) -> Value {
    let (status, v) = api(h, method, path, key, body.clone()).await;
    assert_eq!(status, 200, "{method} {path} {body}: {v}");
    assert_eq!(v["error"], Value::Null, "{v}");
    v["data"].clone()
}

/// `api` that must answer `want`; returns the error message.
async fn refused(
    h: &Heliport,
    method: &str,
    path: &str,
    key: &str,
    body: Value,
    want: u16,
) -> String {
    let (status, v) = api(h, method, path, key, body.clone()).await;
    assert_eq!(status, want, "{method} {path} {body}: {v}");
    assert_eq!(v["data"], Value::Null, "{v}");
    v["error"].as_str().unwrap_or_default().to_string()
}

/// Proxies one chat completion through heliport to the mock; returns its id.
async fn chat(h: &Heliport, content: &str, stream: bool, extra: &[(&str, &str)]) -> String {
    proxied_chat(h, &h.key, content, stream, extra).await
}

fn leaf(fields: Value) -> Value {
    json!({ "request_response_rmt": fields })
}

fn ids(rows: &Value) -> BTreeSet<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_string())
        .collect()
}

fn tag(name: &str, value: &str) -> String {
    format!(r#"<helicone-prompt-input key="{name}">{value}</helicone-prompt-input>"#)
}

/// Five requests with users, a session, properties, prompts and an
/// unpriced model; returns their ids in order.
async fn traffic(h: &Heliport) -> Vec<String> {
    let mut out = Vec::new();
    let s = [
        ("helicone-session-id", "s1"),
        ("helicone-session-name", "Trip"),
    ];
    out.push(
        chat(
            h,
            "one two three",
            false,
            &[
                ("helicone-user-id", "alice"),
                s[0],
                s[1],
                ("helicone-session-path", "/plan"),
                ("helicone-property-env", "prod"),
                ("helicone-property-team", "a"),
            ],
        )
        .await,
    );
    out.push(
        chat(
            h,
            "one two three four",
            true,
            &[
                ("helicone-user-id", "alice"),
                s[0],
                ("helicone-session-path", "/plan/search"),
                ("helicone-property-env", "prod"),
            ],
        )
        .await,
    );
    out.push(
        chat(
            h,
            &format!("Hi {}", tag("name", "Bob")),
            false,
            &[
                ("helicone-user-id", "bob"),
                s[0],
                ("helicone-session-path", "/answer"),
                ("helicone-property-env", "dev"),
                ("helicone-prompt-id", "greet"),
            ],
        )
        .await,
    );
    out.push(
        chat(
            h,
            &format!("Hello there {}", tag("name", "Bob")),
            false,
            &[("helicone-user-id", "bob"), ("helicone-prompt-id", "greet")],
        )
        .await,
    );
    out.push(
        chat(
            h,
            "unpriced please",
            false,
            &[
                ("helicone-model-override", "my-own-model"),
                ("helicone-property-env", "prod"),
            ],
        )
        .await,
    );
    let rows = h.wait_records(json!("all"), out.len()).await;
    assert_eq!(rows.len(), out.len());
    out
}

#[tokio::test]
async fn users_sessions_properties_prompts_and_metrics_from_recorded_traffic() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let k = h.key.clone();
    let ids_in_order = traffic(&h).await;

    // Users: requests, tokens, cost, first and last activity.
    let users = data(&h, "POST", "/v1/user/query", &k, json!({})).await;
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2, "{users:?}");
    let alice = users.iter().find(|u| u["user_id"] == "alice").unwrap();
    assert_eq!(alice["requests"], 2);
    assert_eq!(alice["count"], 2);
    assert_eq!(alice["prompt_tokens"], 3 + 4);
    assert_eq!(alice["completion_tokens"], 10);
    assert_eq!(alice["cost_nano_usd"], 7 * 2500 + 10 * 10_000);
    assert!(alice["first_active"].as_str().unwrap() <= alice["last_active"].as_str().unwrap());
    let only_bob = data(
        &h,
        "POST",
        "/v1/user/query",
        &k,
        json!({"userIds": ["bob"]}),
    )
    .await;
    assert_eq!(only_bob.as_array().unwrap().len(), 1);
    assert_eq!(only_bob[0]["requests"], 2);
    let future = json!({"timeFilter": {"startTimeUnixSeconds": 4_000_000_000u64, "endTimeUnixSeconds": 4_000_000_100u64}});
    assert_eq!(
        data(&h, "POST", "/v1/user/query", &k, future).await,
        json!([])
    );
    let now = json!({"timeFilter": {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}, "sort": {"requests": "desc"}});
    assert_eq!(
        data(&h, "POST", "/v1/user/query", &k, now)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Sessions, and one session as a tree by path.
    let sessions = data(&h, "POST", "/v1/session/query", &k, json!({"search": "s"})).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    let s1 = &sessions[0];
    assert_eq!(s1["session_id"], "s1");
    assert_eq!(s1["session_name"], "Trip");
    assert_eq!(s1["total_requests"], 3);
    assert_eq!(s1["user_ids"], json!(["alice", "bob"]));
    let by_user = data(
        &h,
        "POST",
        "/v1/session/query",
        &k,
        json!({"userId": "bob", "nameEquals": "Trip"}),
    )
    .await;
    assert_eq!(by_user.as_array().unwrap().len(), 1);
    let none = data(
        &h,
        "POST",
        "/v1/session/query",
        &k,
        json!({"nameEquals": "Other"}),
    )
    .await;
    assert_eq!(none, json!([]));
    let with_filter = data(
        &h,
        "POST",
        "/v1/session/query",
        &k,
        json!({"filter": leaf(json!({"properties": {"env": {"equals": "dev"}}}))}),
    )
    .await;
    assert_eq!(with_filter.as_array().unwrap().len(), 1);
    let tree = data(&h, "GET", "/v1/session/s1", &k, json!(null)).await;
    assert_eq!(tree["truncated"], false);
    let root = &tree["tree"];
    assert_eq!(root["path"], "/");
    assert_eq!(root["requests"], 3);
    let plan = &root["children"][0];
    assert_eq!(plan["path"], "/plan");
    assert_eq!(plan["requests"], 2);
    assert_eq!(plan["requests_here"][0]["request_id"], ids_in_order[0]);
    assert_eq!(plan["children"][0]["path"], "/plan/search");
    assert_eq!(root["children"][1]["path"], "/answer");
    assert!(plan["duration_ms"].as_i64().unwrap() >= 0);
    refused(&h, "GET", "/v1/session/nope", &k, json!(null), 404).await;

    // Properties: names, then one property's values.
    let names = data(&h, "POST", "/v1/property/query", &k, json!({})).await;
    let env = names
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["property"] == "env")
        .unwrap();
    assert_eq!(env["requests"], 4);
    let values = data(&h, "POST", "/v1/property/env/query", &k, json!({})).await;
    assert_eq!(values[0]["value"], "prod");
    assert_eq!(values[0]["requests"], 3);
    assert_eq!(values[1]["value"], "dev");
    let search = data(
        &h,
        "POST",
        "/v1/property/ENV/search",
        &k,
        json!({"searchTerm": "de"}),
    )
    .await;
    assert_eq!(search.as_array().unwrap().len(), 1);
    assert_eq!(
        data(&h, "POST", "/v1/property/nothing/query", &k, json!({})).await,
        json!([])
    );

    // Prompts: versions, each with its template and its requests.
    let prompts = data(&h, "POST", "/v1/prompt/query", &k, json!({})).await;
    assert_eq!(prompts[0]["prompt_id"], "greet");
    assert_eq!(prompts[0]["versions"], 2);
    let greet = data(&h, "GET", "/v1/prompt/greet", &k, json!(null)).await;
    assert_eq!(greet["latest_version"], 2);
    let v1 = &greet["versions"][0];
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["requests"], 1);
    assert!(v1["template"].to_string().contains("{{name}}"), "{v1}");
    let versions = data(&h, "POST", "/v1/prompt/greet/versions/query", &k, json!({})).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let v2 = data(&h, "GET", "/v1/prompt/greet/versions/2", &k, json!(null)).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["requests"], 1);
    refused(
        &h,
        "GET",
        "/v1/prompt/greet/versions/9",
        &k,
        json!(null),
        404,
    )
    .await;
    refused(
        &h,
        "GET",
        "/v1/prompt/greet/versions/x",
        &k,
        json!(null),
        400,
    )
    .await;
    refused(&h, "GET", "/v1/prompt/unknown", &k, json!(null), 404).await;

    // Counts (from the rollup when the filter allows) and metrics.
    assert_eq!(
        data(&h, "POST", "/v1/request/count/query", &k, json!({})).await,
        5
    );
    let gpt = json!({"filter": leaf(json!({"model": {"equals": "gpt-4o"}}))});
    assert_eq!(
        data(&h, "POST", "/v1/request/count/query", &k, gpt).await,
        4
    );
    let m = data(
        &h,
        "POST",
        "/v1/request/metrics/query",
        &k,
        json!({
            "timeFilter": {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
            "groupBy": "model",
        }),
    )
    .await;
    assert_eq!(m["overview"]["requests"], 5);
    assert_eq!(m["overview"]["unpriced_requests"], 1);
    assert_eq!(m["overview"]["streams"], 1);
    assert!(m["overview"]["latency_p95_ms"].as_f64().is_some());
    assert_eq!(m["breakdown"][0]["key"], "gpt-4o");
    assert_eq!(m["breakdown"][0]["requests"], 4);
    assert_eq!(m["breakdown"][1]["key"], "my-own-model");
    assert_eq!(m["breakdown"][1]["unpriced_requests"], 1);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let series = data(
        &h,
        "POST",
        "/v1/request/metrics/query",
        &k,
        json!({
            "timeFilter": {"start": now_ms - 3 * 3_600_000, "end": now_ms + 60_000},
            "bucket": "hour", "groupBy": "property:env",
        }),
    )
    .await;
    let buckets = series["series"].as_array().unwrap();
    assert!(buckets.len() >= 3, "{series}");
    let summed: i64 = buckets
        .iter()
        .map(|b| b["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(summed, 5);
    assert_eq!(series["breakdown"][0]["key"], "prod");
    let minutes = data(
        &h,
        "POST",
        "/v1/request/metrics/query",
        &k,
        json!({"timeFilter": {"start": now_ms - 600_000, "end": now_ms + 60_000}, "bucket": "minute"}),
    )
    .await;
    let summed: i64 = minutes["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(summed, 5);
    let e = refused(
        &h,
        "POST",
        "/v1/request/metrics/query",
        &k,
        json!({"filter": leaf(json!({"user_id": {"equals": "bob"}}))}),
        400,
    )
    .await;
    assert!(e.contains("`user_id`"), "{e}");
}

#[tokio::test]
async fn exports_stream_csv_and_json_lines() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let k = h.key.clone();
    let ids_in_order = traffic(&h).await;
    let (status, body) = api(
        &h,
        "POST",
        "/v1/request/export",
        &k,
        json!({"sort": {"created_at": "asc"}}),
    )
    .await;
    assert_eq!(status, 200);
    let text = body.as_str().unwrap().to_string();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    let got: Vec<&str> = lines
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids_in_order);
    let (status, body) = api(
        &h,
        "POST",
        "/v1/request/export?format=csv",
        &k,
        json!({"filter": leaf(json!({"properties": {"env": {"equals": "prod"}}})), "limit": 2}),
    )
    .await;
    assert_eq!(status, 200);
    let csv = body.as_str().unwrap().to_string();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        rows[0].starts_with("request_id,request_created_at,"),
        "{}",
        rows[0]
    );
    assert_eq!(rows.len(), 3, "{csv}");
    refused(
        &h,
        "POST",
        "/v1/request/export",
        &k,
        json!({"sort": {"cost": "asc"}}),
        400,
    )
    .await;
    refused(
        &h,
        "POST",
        "/v1/request/export",
        &k,
        json!({"format": "xml"}),
        400,
    )
    .await;
}

#[tokio::test]
async fn annotations_need_write_permission_and_keep_rollups_right() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let k = h.key.clone();
    let read = create_key(&h.db_url, "reader", "r");
    let write = create_key(&h.db_url, "writer", "w");
    let id = chat(&h, "rate me", false, &[("helicone-property-env", "prod")]).await;
    h.record(&id).await;

    // Feedback, both spellings.
    let r = data(
        &h,
        "POST",
        &format!("/v1/request/{id}/feedback"),
        &write,
        json!({"rating": true}),
    )
    .await;
    assert_eq!(r["rating"], true);
    assert_eq!(h.record(&id).await["feedback_rating"], true);
    data(
        &h,
        "POST",
        "/v1/feedback",
        &k,
        json!({"helicone-id": id, "rating": false}),
    )
    .await;
    assert_eq!(h.record(&id).await["feedback_rating"], false);

    // Scores merge; integers and booleans only.
    data(
        &h,
        "POST",
        &format!("/v1/request/{id}/score"),
        &k,
        json!({"scores": {"accuracy": 87}}),
    )
    .await;
    data(
        &h,
        "POST",
        &format!("/v1/request/{id}/score"),
        &k,
        json!({"scores": {"passed": true}}),
    )
    .await;
    assert_eq!(
        h.record(&id).await["scores"],
        json!({"accuracy": 87, "passed": true})
    );
    let scored = data(
        &h,
        "POST",
        "/v1/request/query",
        &k,
        json!({"filter": leaf(json!({"scores": {"accuracy": {"gte": 80}, "passed": {"equals": 1}}}))}),
    )
    .await;
    assert_eq!(ids(&scored), BTreeSet::from([id.clone()]));
    for bad in [
        json!({"scores": {"accuracy": 0.5}}),
        json!({"scores": {"accuracy": "high"}}),
        json!({"scores": {}}),
        json!({"scores": {"": 1}}),
        json!({"score": {"a": 1}}),
    ] {
        refused(&h, "POST", &format!("/v1/request/{id}/score"), &k, bad, 400).await;
    }

    // Property edits move the request between rollup rows.
    let r = data(
        &h,
        "PUT",
        &format!("/v1/request/{id}/property"),
        &k,
        json!({"key": "Env", "value": "staging"}),
    )
    .await;
    assert_eq!(r["key"], "env");
    assert_eq!(h.record(&id).await["request_properties"]["env"], "staging");
    let values = data(&h, "POST", "/v1/property/env/query", &k, json!({})).await;
    assert_eq!(values, json!([values[0].clone()]));
    assert_eq!(values[0]["value"], "staging");
    assert_eq!(values[0]["requests"], 1);
    data(
        &h,
        "PUT",
        &format!("/v1/request/{id}/property"),
        &k,
        json!({"key": "tier", "value": "gold"}),
    )
    .await;
    let names = data(&h, "POST", "/v1/property/query", &k, json!({})).await;
    let tier = names
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["property"] == "tier")
        .unwrap();
    assert_eq!(tier["requests"], 1);
    let by_new = json!({"filter": leaf(json!({"properties": {"tier": {"equals": "gold"}}}))});
    assert_eq!(
        data(&h, "POST", "/v1/request/count/query", &k, by_new).await,
        1
    );
    for bad in [
        json!({"key": "", "value": "x"}),
        json!({"key": "a", "value": 3}),
        json!({"value": "x"}),
    ] {
        refused(
            &h,
            "PUT",
            &format!("/v1/request/{id}/property"),
            &k,
            bad,
            400,
        )
        .await;
    }

    // Permissions: reads need r, writes need w.
    refused(
        &h,
        "POST",
        &format!("/v1/request/{id}/feedback"),
        &read,
        json!({"rating": true}),
        403,
    )
    .await;
    refused(
        &h,
        "POST",
        &format!("/v1/request/{id}/score"),
        &read,
        json!({"scores": {"a": 1}}),
        403,
    )
    .await;
    refused(
        &h,
        "PUT",
        &format!("/v1/request/{id}/property"),
        &read,
        json!({"key": "a", "value": "b"}),
        403,
    )
    .await;
    refused(&h, "POST", "/v1/user/query", &write, json!({}), 403).await;
    refused(&h, "POST", "/v1/request/export", &write, json!({}), 403).await;
    refused(
        &h,
        "POST",
        "/v1/user/query",
        "sk-heliport-unknown",
        json!({}),
        401,
    )
    .await;
    data(&h, "POST", "/v1/user/query", &read, json!({})).await;

    // Unknown ids are 404s (after a short wait for the writer).
    let unknown = "00000000-0000-4000-8000-000000000000";
    let t = Instant::now();
    refused(
        &h,
        "POST",
        &format!("/v1/request/{unknown}/feedback"),
        &k,
        json!({"rating": true}),
        404,
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(5));
    refused(
        &h,
        "POST",
        "/v1/feedback",
        &k,
        json!({"helicone-id": unknown, "rating": true}),
        404,
    )
    .await;
    refused(
        &h,
        "POST",
        &format!("/v1/request/{id}/feedback"),
        &k,
        json!({"rating": "yes"}),
        400,
    )
    .await;
    refused(&h, "POST", "/v1/feedback", &k, json!({"rating": true}), 400).await;
}

#[tokio::test]
async fn every_filter_operator_over_rest() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let k = h.key.clone();
    let all = traffic(&h).await;
    let (a, b, c, d, e) = (&all[0], &all[1], &all[2], &all[3], &all[4]);
    let set = |xs: &[&String]| {
        xs.iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<String>>()
    };
    let first = h.record(a).await;
    let created = first["request_created_at"].as_str().unwrap().to_string();
    let cases: Vec<(Value, BTreeSet<String>)> = vec![
        // text
        (json!({"request_id": {"equals": a}}), set(&[a])),
        (json!({"user_id": {"not-equals": "alice"}}), set(&[c, d, e])),
        (json!({"model": {"like": "gpt-4_"}}), set(&[a, b, c, d])),
        (json!({"model": {"like": "GPT%"}}), set(&[])),
        (json!({"model": {"ilike": "GPT%"}}), set(&[a, b, c, d])),
        (json!({"model": {"contains": "own"}}), set(&[e])),
        (
            json!({"model": {"not-contains": "own"}}),
            set(&[a, b, c, d]),
        ),
        (
            json!({"provider": {"equals": "openai"}}),
            set(&[a, b, c, d, e]),
        ),
        (
            json!({"target_url": {"contains": "/v1/chat/completions"}}),
            set(&[a, b, c, d, e]),
        ),
        (json!({"prompt_id": {"equals": "greet"}}), set(&[c, d])),
        (json!({"request_body": {"contains": "four"}}), set(&[b])),
        // A stream's body is its events: the reply is split across them.
        (
            json!({"response_body": {"ilike": "%HELLO FROM%"}}),
            set(&[a, c, d, e]),
        ),
        // number
        (json!({"status": {"equals": 200}}), set(&[a, b, c, d, e])),
        (json!({"prompt_tokens": {"gt": 3}}), set(&[b])),
        (json!({"prompt_tokens": {"gte": 3}}), set(&[a, b, d])),
        (json!({"prompt_tokens": {"lt": 3}}), set(&[c, e])),
        (json!({"prompt_tokens": {"lte": "2"}}), set(&[c, e])),
        (json!({"completion_tokens": {"not-equals": 5}}), set(&[])),
        (json!({"total_tokens": {"equals": 8}}), set(&[a, d])),
        (json!({"cost": {"gt": 0.0000575}}), set(&[b])),
        (json!({"cost": {"lte": 0.0000575}}), set(&[a, c, d])),
        (json!({"latency": {"gte": 0}}), set(&[a, b, c, d, e])),
        (
            json!({"time_to_first_token": {"gte": 0}}),
            set(&[a, b, c, d, e]),
        ),
        // time
        (
            json!({"request_created_at": {"gte": created}}),
            set(&[a, b, c, d, e]),
        ),
        (
            json!({"request_created_at": {"gt": created}}),
            set(&[b, c, d, e]),
        ),
        (json!({"request_created_at": {"lt": created}}), set(&[])),
        (json!({"request_created_at": {"lte": created}}), set(&[a])),
        (
            json!({"request_created_at": {"equals": created}}),
            set(&[a]),
        ),
        // boolean
        (json!({"cached": {"equals": false}}), set(&[a, b, c, d, e])),
        (json!({"cached": {"equals": true}}), set(&[])),
        // maps
        (
            json!({"properties": {"env": {"equals": "prod"}}}),
            set(&[a, b, e]),
        ),
        (
            json!({"properties": {"env": {"not-equals": "prod"}}}),
            set(&[c, d]),
        ),
        (json!({"properties": {"ENV": {"like": "d%"}}}), set(&[c])),
        (
            json!({"properties": {"team": {"not-contains": "a"}}}),
            set(&[b, c, d, e]),
        ),
        (
            json!({"parent_request_id": {"equals": "nothing"}}),
            set(&[]),
        ),
    ];
    for (fields, want) in cases {
        let body = json!({"filter": leaf(fields.clone()), "limit": 100});
        let rows = data(&h, "POST", "/v1/request/query", &k, body.clone()).await;
        assert_eq!(ids(&rows), want, "query {fields}");
        let n = data(&h, "POST", "/v1/request/count/query", &k, body).await;
        assert_eq!(n, want.len(), "count {fields}");
    }
    // Trees, sorting and paging.
    let tree = json!({
        "left": leaf(json!({"user_id": {"equals": "bob"}})),
        "operator": "or",
        "right": {"left": leaf(json!({"properties": {"env": {"equals": "prod"}}})), "operator": "and", "right": leaf(json!({"prompt_tokens": {"gt": 3}}))},
    });
    let rows = data(
        &h,
        "POST",
        "/v1/request/query",
        &k,
        json!({"filter": tree, "sort": {"prompt_tokens": "asc"}}),
    )
    .await;
    let order: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [c.as_str(), d.as_str(), b.as_str()]);
    let page = data(
        &h,
        "POST",
        "/v1/request/query",
        &k,
        json!({"sort": {"created_at": "asc"}, "limit": 2, "offset": 3}),
    )
    .await;
    let order: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [d.as_str(), e.as_str()]);
}

#[tokio::test]
async fn hostile_filters_are_clear_client_errors() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let k = h.key.clone();
    let id = chat(&h, "keep me", false, &[("helicone-property-env", "prod")]).await;
    h.record(&id).await;
    let nest = |levels: usize| {
        let mut deep = json!("all");
        for _ in 0..levels {
            deep = json!({"left": deep, "operator": "and", "right": "all"});
        }
        deep
    };
    let many: serde_json::Map<String, Value> = (0..600)
        .map(|i| (format!("p{i}"), json!({"equals": "x"})))
        .collect();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"filter": leaf(json!({"no_such_field": {"equals": "x"}}))}),
            "no_such_field",
        ),
        (
            json!({"filter": {"request": {"model": {"equals": "x"}}}}),
            "`request`",
        ),
        (
            json!({"filter": leaf(json!({"model": {"equals": 5}}))}),
            "a string",
        ),
        (
            json!({"filter": leaf(json!({"latency": {"gt": "fast"}}))}),
            "number",
        ),
        (
            json!({"filter": leaf(json!({"latency": {"like": "1%"}}))}),
            "`like`",
        ),
        (
            json!({"filter": leaf(json!({"cached": {"equals": "yes"}}))}),
            "true or false",
        ),
        (
            json!({"filter": leaf(json!({"request_created_at": {"gt": "yesterday"}}))}),
            "RFC 3339",
        ),
        (
            json!({"filter": leaf(json!({"model": {"equals": "x", "drop": "y"}}))}),
            "`drop`",
        ),
        (
            json!({"filter": leaf(json!({"properties": "x"}))}),
            "properties",
        ),
        (
            json!({"filter": leaf(json!({"properties": {"": {"equals": "x"}}}))}),
            "non-empty",
        ),
        (
            json!({"filter": leaf(json!({"scores": {"a": {"contains": "x"}}}))}),
            "`contains`",
        ),
        (
            json!({"filter": leaf(json!({"model": {"like": format!("%{}%", "a".repeat(20_000))}}))}),
            "10000",
        ),
        (
            json!({"filter": {"left": "all", "operator": "xor", "right": "all"}}),
            "\"xor\"",
        ),
        (json!({"filter": nest(70)}), "deeper"),
        (json!({"filter": nest(500)}), "recursion limit"),
        (
            json!({"filter": leaf(json!({"properties": many}))}),
            "conditions",
        ),
        (json!({"filter": 5}), "invalid filter"),
        (json!({"limit": 1001}), "`limit`"),
        (json!({"limit": -5}), "`limit`"),
        (json!({"offset": "ten"}), "`offset`"),
        (json!({"sort": {"model": "asc"}}), "cannot sort by `model`"),
        (json!({"sort": {"cost": "sideways"}}), "\"sideways\""),
        (json!([1, 2]), "JSON object"),
    ];
    for (body, needle) in cases {
        for path in ["/v1/request/query", "/v1/request/count/query"] {
            if path.contains("count") && body.get("filter").is_none() {
                continue;
            }
            let e = refused(&h, "POST", path, &k, body.clone(), 400).await;
            assert!(e.contains(needle), "{path} {body}: {e}");
        }
    }
    // SQL in values and in names is data, never SQL.
    for fields in [
        json!({"model": {"equals": "x' OR '1'='1"}}),
        json!({"user_id": {"like": "%'; DROP TABLE requests; --"}}),
        json!({"properties": {"env\"; DROP TABLE requests; --": {"equals": "prod"}}}),
        json!({"properties": {"env": {"equals": "prod' OR 1=1 --"}}}),
        json!({"scores": {"x') OR 1=1 --": {"gt": 0}}}),
        json!({"request_body": {"contains": "\u{0000}"}}),
    ] {
        let rows = data(
            &h,
            "POST",
            "/v1/request/query",
            &k,
            json!({"filter": leaf(fields.clone())}),
        )
        .await;
        assert_eq!(rows, json!([]), "{fields}");
    }
    let bad_json = send(
        "POST",
        &h.url("/v1/request/query"),
        &[("authorization", &format!("Bearer {k}"))],
        "{not json",
    )
    .await;
    assert_eq!(bad_json.0, 400);
    // Aggregate endpoints refuse bad parameters the same way.
    for (path, body, needle) in [
        ("/v1/user/query", json!({"userIds": "alice"}), "userIds"),
        (
            "/v1/user/query",
            json!({"timeFilter": {"start": "soon"}}),
            "timeFilter.start",
        ),
        ("/v1/user/query", json!({"limit": 5000}), "`limit`"),
        (
            "/v1/session/query",
            json!({"sort": {"nope": "asc"}}),
            "`nope`",
        ),
        ("/v1/session/query", json!({"filter": {"x": 1}}), "`x`"),
        (
            "/v1/property/query",
            json!({"timeFilter": [1]}),
            "timeFilter",
        ),
        ("/v1/prompt/query", json!({"offset": -1}), "`offset`"),
        (
            "/v1/request/metrics/query",
            json!({"bucket": "hour"}),
            "start and an end",
        ),
        (
            "/v1/request/metrics/query",
            json!({"groupBy": "colour"}),
            "groupBy",
        ),
    ] {
        let e = refused(&h, "POST", path, &k, body.clone(), 400).await;
        assert!(e.contains(needle), "{path} {body}: {e}");
    }
    // Nothing was harmed.
    let rows = data(&h, "POST", "/v1/request/query", &k, json!({})).await;
    assert_eq!(ids(&rows), BTreeSet::from([id]));
}

#[tokio::test]
async fn a_second_organization_sees_nothing_of_the_first() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let (ok, _, err) = run_cli(&h.db_url, &["orgs", "create", "other"]);
    assert!(ok, "{err}");
    let other = create_key_in(&h.db_url, "other-rw", "rw", Some("other"));
    let mine = traffic(&h).await;
    // The other organization's history, written while heliport runs.
    let (ok, out, err) = run_cli(
        &h.db_url,
        &[
            "seed", "--rows", "300", "--days", "2", "--org", "other", "--seed", "7",
        ],
    );
    assert!(ok, "{out}{err}");
    let k = h.key.clone();
    let theirs = data(
        &h,
        "POST",
        "/v1/request/query",
        &other,
        json!({"limit": 1000}),
    )
    .await;
    let theirs_ids = ids(&theirs);
    assert!(theirs_ids.len() >= 300, "{}", theirs_ids.len());
    assert!(theirs_ids.is_disjoint(&mine.iter().cloned().collect()));
    let their_id = theirs_ids.iter().next().unwrap().clone();
    let their_session = theirs
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["session_id"].as_str().map(str::to_string))
        .unwrap();

    // Reads: each key sees only its own.
    let mine_rows = data(&h, "POST", "/v1/request/query", &k, json!({"limit": 1000})).await;
    assert_eq!(ids(&mine_rows), mine.iter().cloned().collect());
    assert_eq!(
        data(&h, "POST", "/v1/request/count/query", &k, json!({})).await,
        5
    );
    refused(
        &h,
        "GET",
        &format!("/v1/request/{their_id}"),
        &k,
        json!(null),
        404,
    )
    .await;
    refused(
        &h,
        "GET",
        &format!("/v1/request/{}", mine[0]),
        &other,
        json!(null),
        404,
    )
    .await;
    let users = data(&h, "POST", "/v1/user/query", &k, json!({"limit": 1000})).await;
    let names: BTreeSet<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["alice", "bob"]));
    let their_users = data(
        &h,
        "POST",
        "/v1/user/query",
        &other,
        json!({"userIds": ["alice", "bob"]}),
    )
    .await;
    assert_eq!(their_users, json!([]));
    let sessions = data(&h, "POST", "/v1/session/query", &k, json!({"limit": 1000})).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    refused(
        &h,
        "GET",
        &format!("/v1/session/{their_session}"),
        &k,
        json!(null),
        404,
    )
    .await;
    refused(&h, "GET", "/v1/session/s1", &other, json!(null), 404).await;
    let props = data(&h, "POST", "/v1/property/query", &k, json!({})).await;
    let names: BTreeSet<&str> = props
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["property"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["env", "team"]));
    assert_eq!(
        data(&h, "POST", "/v1/property/customer/query", &k, json!({})).await,
        json!([])
    );
    assert_eq!(
        data(&h, "POST", "/v1/property/env/query", &other, json!({})).await,
        json!([])
    );
    let prompts = data(&h, "POST", "/v1/prompt/query", &k, json!({})).await;
    assert_eq!(prompts.as_array().unwrap().len(), 1);
    refused(&h, "GET", "/v1/prompt/summarize", &k, json!(null), 404).await;
    refused(&h, "GET", "/v1/prompt/greet", &other, json!(null), 404).await;
    let m = data(
        &h,
        "POST",
        "/v1/request/metrics/query",
        &k,
        json!({"groupBy": "user"}),
    )
    .await;
    assert_eq!(m["overview"]["requests"], 5);
    assert_eq!(m["breakdown"].as_array().unwrap().len(), 2);
    let (_, export) = api(&h, "POST", "/v1/request/export", &k, json!({})).await;
    assert_eq!(export.as_str().unwrap().lines().count(), 5);
    assert!(!export.as_str().unwrap().contains(&their_id));

    // Writes: another organization's request is unknown.
    refused(
        &h,
        "POST",
        &format!("/v1/request/{their_id}/feedback"),
        &k,
        json!({"rating": true}),
        404,
    )
    .await;
    refused(
        &h,
        "POST",
        &format!("/v1/request/{their_id}/score"),
        &k,
        json!({"scores": {"a": 1}}),
        404,
    )
    .await;
    refused(
        &h,
        "PUT",
        &format!("/v1/request/{their_id}/property"),
        &k,
        json!({"key": "a", "value": "b"}),
        404,
    )
    .await;
    refused(
        &h,
        "POST",
        "/v1/feedback",
        &other,
        json!({"helicone-id": mine[0], "rating": true}),
        404,
    )
    .await;
    let theirs_now = data(
        &h,
        "GET",
        &format!("/v1/request/{their_id}"),
        &other,
        json!(null),
    )
    .await;
    assert_eq!(theirs_now["feedback_rating"], Value::Null);
    assert_eq!(theirs_now["scores"], json!({}));
}

#[tokio::test]
async fn a_slow_read_is_a_503_and_health_stays_fast() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_STATEMENT_TIMEOUT_MS", "1")]);
    let (ok, out, err) = run_cli(&h.db_url, &["seed", "--rows", "20000", "--days", "1"]);
    assert!(ok, "{out}{err}");
    // A substring search through every body takes far more than 1 ms.
    let e = refused(
        &h,
        "POST",
        "/v1/request/query",
        &h.key,
        json!({"filter": leaf(json!({"response_body": {"contains": "no such text anywhere"}})), "sort": {"cost": "desc"}}),
        503,
    )
    .await;
    assert!(e.contains("1 ms"), "{e}");
    let t = Instant::now();
    let (status, _, _) = send("GET", &h.url("/readyz"), &[], "").await;
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
}
