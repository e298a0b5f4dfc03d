//! Traffic control end to end (SPEC §3.1–§3.4): the response cache, retries,
//! fallbacks and rate limits, in-process and through the Redis this machine
//! runs at 127.0.0.1:6379, against the mock with failures injected per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
// The state crate's way of finding (or starting) a Redis for tests.
#[path = "../../heliport-state/tests/support/mod.rs"]
#[expect(dead_code, reason = "only test_redis is used here")]
mod redis_support;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// The test Redis URL, or None when the Redis tests are to be skipped.
fn redis() -> Option<&'static str> {
    redis_support::test_redis().map(|r| r.url.as_str())
}

fn auth(h: &Heliport) -> String {
    format!("Bearer {}", h.key)
}

fn id_of(headers: &http::HeaderMap) -> String {
    headers["helicone-id"].to_str().unwrap().to_string()
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// A chat request through `h` with extra headers.
async fn chat(h: &Heliport, extra: &[(&str, &str)], body: &str) -> Resp {
    let a = auth(h);
    let mut headers: Vec<(&str, &str)> =
        vec![("helicone-auth", &a), ("content-type", "application/json")];
    headers.extend_from_slice(extra);
    send(
        "POST",
        &h.url("/v1/chat/completions"),
        &headers,
        body.to_string(),
    )
    .await
}

/// Records whose parent is `request_id` (attempts that did not answer it).
async fn attempts_of(h: &Heliport, request_id: &str, want: usize) -> Vec<serde_json::Value> {
    h.wait_records(
        json!({"request_response_rmt": {"parent_request_id": {"equals": request_id}}}),
        want,
    )
    .await
}

/// Sends `body` until the answer comes from the cache (the entry is saved
/// once the first answer has ended), returning that answer.
async fn until_hit(h: &Heliport, extra: &[(&str, &str)], body: &str) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = chat(h, extra, body).await;
        if header(&r.1, "helicone-cache") == Some("HIT") || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------

#[tokio::test]
async fn identical_calls_are_answered_from_the_cache() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let body = chat_body("cache me please", false);
    let on = [("helicone-cache-enabled", "true")];

    let (s, h1, b1) = chat(&h, &on, &body).await;
    assert_eq!(s, 200);
    assert_eq!(header(&h1, "helicone-cache"), Some("MISS"));
    let (s, h2, b2) = chat(&h, &on, &body).await;
    assert_eq!(s, 200);
    assert_eq!(header(&h2, "helicone-cache"), Some("HIT"));
    assert_eq!(header(&h2, "helicone-cache-bucket-idx"), Some("0"));
    assert_eq!(b1, b2, "a hit replays the answer byte for byte");
    assert_eq!(mock.requests().len(), 1, "a hit never reaches the provider");

    let first = h.record(&id_of(&h1)).await;
    let hit = h.record(&id_of(&h2)).await;
    assert_eq!(first["cached"], false);
    assert_eq!(first["cache_enabled"], true);
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["cost_nano_usd"], 0);
    assert_eq!(hit["cache_saved_nano_usd"], first["cost_nano_usd"]);
    assert_eq!(hit["cache_reference_id"], first["request_id"]);
    assert_eq!(hit["cache_bucket_idx"], 0);
    assert_eq!(hit["prompt_tokens"], first["prompt_tokens"]);

    // Without the header nothing is read or written.
    let (_, h3, _) = chat(&h, &[], &body).await;
    assert_eq!(header(&h3, "helicone-cache"), None);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn streamed_answers_replay_as_streams() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let body = chat_body("stream and cache", true);
    let on = [("helicone-cache-enabled", "true")];
    let (_, h1, b1) = chat(&h, &on, &body).await;
    assert_eq!(header(&h1, "helicone-cache"), Some("MISS"));
    // The entry is saved when the first answer has ended: wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (h2, b2) = loop {
        let (_, h2, b2) = chat(&h, &on, &body).await;
        if header(&h2, "helicone-cache") == Some("HIT") || Instant::now() > deadline {
            break (h2, b2);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(header(&h2, "helicone-cache"), Some("HIT"));
    assert!(header(&h2, "content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(b1, b2);
    assert!(String::from_utf8_lossy(&b2).contains("data: [DONE]"));
    let hit = h.record(&id_of(&h2)).await;
    assert_eq!(hit["stream"], true);
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["completion_tokens"], 5);
}

#[tokio::test]
async fn cache_keys_follow_seed_ignored_keys_buckets_and_tenants() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let on = [("helicone-cache-enabled", "true")];
    let base =
        json!({"model": "gpt-4o", "user": "u1", "messages": [{"role": "user", "content": "k"}]});
    let other_user =
        json!({"model": "gpt-4o", "user": "u2", "messages": [{"role": "user", "content": "k"}]});

    // Ignored keys do not split the cache.
    let ignore = [
        ("helicone-cache-enabled", "true"),
        ("helicone-cache-ignore-keys", "user"),
    ];
    chat(&h, &ignore, &base.to_string()).await;
    let (_, hd, _) = until_hit(&h, &ignore, &other_user.to_string()).await;
    assert_eq!(header(&hd, "helicone-cache"), Some("HIT"));
    let (_, hd, _) = chat(&h, &on, &other_user.to_string()).await;
    assert_eq!(header(&hd, "helicone-cache"), Some("MISS"));

    // A seed is its own cache.
    let seeded = [
        ("helicone-cache-enabled", "true"),
        ("helicone-cache-seed", "s1"),
    ];
    let (_, hd, _) = chat(&h, &seeded, &base.to_string()).await;
    assert_eq!(header(&hd, "helicone-cache"), Some("MISS"));
    let (_, hd, _) = until_hit(&h, &seeded, &base.to_string()).await;
    assert_eq!(header(&hd, "helicone-cache"), Some("HIT"));

    // Buckets: three answers are collected, then picked among.
    let body = chat_body("bucket", false);
    let mut replies = std::collections::BTreeSet::new();
    for reply in ["one", "two", "three"] {
        let (_, hd, b) = chat(
            &h,
            &[
                ("helicone-cache-enabled", "true"),
                ("helicone-cache-bucket-max-size", "3"),
                ("x-mock-reply", reply),
            ],
            &body,
        )
        .await;
        assert_eq!(header(&hd, "helicone-cache"), Some("MISS"), "{reply}");
        assert!(String::from_utf8_lossy(&b).contains(reply));
        replies.insert(reply.to_string());
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let (_, hd, b) = chat(
            &h,
            &[
                ("helicone-cache-enabled", "true"),
                ("helicone-cache-bucket-max-size", "3"),
            ],
            &body,
        )
        .await;
        assert_eq!(header(&hd, "helicone-cache"), Some("HIT"));
        let idx: u32 = header(&hd, "helicone-cache-bucket-idx")
            .unwrap()
            .parse()
            .unwrap();
        assert!(idx < 3);
        let text = String::from_utf8_lossy(&b).to_string();
        seen.insert(
            replies
                .iter()
                .find(|r| text.contains(r.as_str()))
                .unwrap()
                .clone(),
        );
    }
    assert!(
        seen.len() >= 2,
        "hits are spread over the buckets: {seen:?}"
    );

    // Another organization never sees these entries.
    let (ok, out, _) = run_cli(&h.db_url, &["orgs", "create", "other-team"]);
    assert!(ok, "{out}");
    let (ok, out, err) = run_cli(
        &h.db_url,
        &["keys", "create", "--name", "other", "--org", "other-team"],
    );
    assert!(ok, "{err}");
    let other_key = out
        .split_whitespace()
        .find(|w| w.starts_with("sk-heliport-"))
        .unwrap()
        .to_string();
    let other_auth = format!("Bearer {other_key}");
    let (_, hd, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &other_auth),
            ("helicone-cache-enabled", "true"),
        ],
        base.to_string(),
    )
    .await;
    assert_eq!(header(&hd, "helicone-cache"), Some("MISS"));
}

#[tokio::test]
async fn provider_keys_in_the_url_are_not_part_of_the_cache_key() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let body = json!({"contents": [{"parts": [{"text": "cache by content"}]}]}).to_string();
    let a = auth(&h);
    let path = "/gemini/v1beta/models/gemini-2.0-flash:generateContent?key=";
    let headers = [
        ("helicone-auth", a.as_str()),
        ("helicone-cache-enabled", "true"),
    ];
    let (_, first, _) = send(
        "POST",
        &h.url(&format!("{path}AIzaONE")),
        &headers,
        body.clone(),
    )
    .await;
    assert_eq!(header(&first, "helicone-cache"), Some("MISS"));
    let (_, second, _) = send("POST", &h.url(&format!("{path}AIzaTWO")), &headers, body).await;
    assert_eq!(header(&second, "helicone-cache"), Some("HIT"));
}

#[tokio::test]
async fn entries_expire_with_cache_control() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let body = chat_body("short lived", false);
    let on = [
        ("helicone-cache-enabled", "true"),
        ("cache-control", "max-age=1"),
    ];
    chat(&h, &on, &body).await;
    let (_, hd, _) = until_hit(&h, &on, &body).await;
    assert_eq!(header(&hd, "helicone-cache"), Some("HIT"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, hd, _) = chat(&h, &on, &body).await;
        if header(&hd, "helicone-cache") == Some("MISS") {
            break;
        }
        assert!(Instant::now() < deadline, "the entry outlived its max-age");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn errors_are_never_cached() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let body = chat_body("failing", false);
    let on = [("helicone-cache-enabled", "true"), ("x-mock-status", "500")];
    for _ in 0..2 {
        let (s, hd, _) = chat(&h, &on, &body).await;
        assert_eq!(s, 500);
        assert_eq!(header(&hd, "helicone-cache"), Some("MISS"));
    }
    assert_eq!(mock.requests().len(), 2);
}

// ---------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------

#[tokio::test]
async fn retries_recover_from_transient_failures() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let retry = [
        ("helicone-retry-enabled", "true"),
        ("helicone-retry-num", "3"),
        ("helicone-retry-min-timeout", "10"),
        ("helicone-retry-max-timeout", "50"),
        ("x-mock-fail-id", "transient"),
        ("x-mock-fail-count", "2"),
        ("x-mock-fail-status", "503"),
    ];
    let (s, hd, _) = chat(&h, &retry, &chat_body("retry me", false)).await;
    assert_eq!(s, 200);
    assert_eq!(mock.requests().len(), 3);
    let id = id_of(&hd);
    let r = h.record(&id).await;
    assert_eq!(r["attempts"], 3);
    assert_eq!(r["response_status"], 200);
    let tries = attempts_of(&h, &id, 2).await;
    assert_eq!(tries.len(), 2);
    for t in &tries {
        assert_eq!(t["response_status"], 503);
        assert_eq!(t["cost_nano_usd"], 0);
    }
    // Queries see requests; attempts only when asked for by their parent.
    assert_eq!(h.wait_records(json!("all"), 1).await.len(), 1);
}

#[tokio::test]
async fn a_client_gone_during_backoff_is_recorded_as_cancelled() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let id = "0193a000-0000-7000-8000-0000000000b1";
    let a = auth(&h);
    let body = chat_body("x", false);
    let gave_up = tokio::time::timeout(
        Duration::from_millis(500),
        send(
            "POST",
            &h.url("/v1/chat/completions"),
            &[
                ("helicone-auth", &a),
                ("helicone-request-id", id),
                ("helicone-retry-enabled", "true"),
                ("helicone-retry-min-timeout", "5000"),
                ("helicone-retry-max-timeout", "5000"),
                ("x-mock-fail-id", "backoff"),
                ("x-mock-fail-count", "5"),
            ],
            body,
        ),
    )
    .await;
    assert!(
        gave_up.is_err(),
        "the client was meant to give up during the backoff"
    );
    let r = h.record(id).await;
    assert_eq!(r["failure"], "cancelled");
    assert_eq!(r["attempts"], 1);
    assert_eq!(attempts_of(&h, id, 1).await.len(), 1);
}

#[tokio::test]
async fn a_hostile_retry_after_is_capped() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let (s, _, _) = chat(
        &h,
        &[
            ("helicone-retry-enabled", "true"),
            ("helicone-retry-min-timeout", "1"),
            ("helicone-retry-max-timeout", "50"),
            ("x-mock-fail-id", "huge-retry-after"),
            ("x-mock-fail-count", "1"),
            ("x-mock-fail-status", "429"),
            ("x-mock-retry-after", "1e20"),
        ],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn without_retries_the_failure_is_returned_and_exhausted_retries_return_the_last() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let (s, _, _) = chat(
        &h,
        &[
            ("x-mock-fail-id", "no-retry"),
            ("x-mock-fail-count", "1"),
            ("x-mock-fail-status", "529"),
        ],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 529);
    assert_eq!(mock.requests().len(), 1);

    mock.clear_requests();
    let (s, hd, b) = chat(
        &h,
        &[
            ("helicone-retry-enabled", "true"),
            ("helicone-retry-num", "2"),
            ("helicone-retry-min-timeout", "1"),
            ("x-mock-status", "429"),
        ],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 429, "{}", String::from_utf8_lossy(&b));
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(h.record(&id_of(&hd)).await["attempts"], 3);
    // Client errors are not retried.
    mock.clear_requests();
    let (s, _, _) = chat(
        &h,
        &[("helicone-retry-enabled", "true"), ("x-mock-status", "400")],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let started = Instant::now();
    let (s, _, _) = chat(
        &h,
        &[
            ("helicone-retry-enabled", "true"),
            ("helicone-retry-min-timeout", "10"),
            ("helicone-retry-max-timeout", "5000"),
            ("x-mock-fail-id", "ra"),
            ("x-mock-fail-count", "1"),
            ("x-mock-fail-status", "429"),
            ("x-mock-retry-after", "1"),
        ],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry came before Retry-After: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unreachable_upstreams_are_retried_then_502() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_OPENAI_BASE_URL", "http://127.0.0.1:1")]);
    let (s, hd, b) = chat(
        &h,
        &[
            ("helicone-retry-enabled", "true"),
            ("helicone-retry-num", "2"),
            ("helicone-retry-min-timeout", "1"),
        ],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 502, "{}", String::from_utf8_lossy(&b));
    let id = id_of(&hd);
    let r = h.record(&id).await;
    assert_eq!(r["attempts"], 3);
    assert_eq!(r["failure"], "upstream_unreachable");
    let tries = attempts_of(&h, &id, 2).await;
    assert_eq!(tries.len(), 2);
    assert!(tries.iter().all(|t| t["failure"] == "upstream_unreachable"));
}

// ---------------------------------------------------------------------------
// Fallbacks
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fallbacks_try_entries_in_order() {
    let mock = heliport_mock::spawn().await.unwrap();
    let allowed = mock.base_url();
    let h = Heliport::start(&mock, &[("HELIPORT_ALLOWED_TARGETS", allowed.as_str())]);
    let fallbacks = json!([
        {"target-url": format!("{allowed}/primary"), "headers": {"x-mock-status": "503"}, "onCodes": [{"from": 500, "to": 599}]},
        {"target-url": "http://127.0.0.1:1", "onCodes": [429]},
        {"target-url": format!("{allowed}/secondary"), "headers": {"x-mock-model": "entry-two", "helicone-property-leak": "no"},
         "onCodes": [], "bodyKeyOverride": {"model": "gpt-4o-mini", "metadata": {"via": "fallback"}}},
    ])
    .to_string();
    let (s, hd, b) = chat(
        &h,
        &[
            ("helicone-fallbacks", &fallbacks),
            ("x-e2e", "client-header"),
        ],
        &chat_body("fall back", false),
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    assert_eq!(header(&hd, "helicone-fallback-index"), Some("2"));
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0]
        .path_and_query
        .starts_with("/primary/v1/chat/completions"));
    assert_eq!(reqs[0].body_json().unwrap()["model"], "gpt-4o");
    // The last entry: its body override and headers, over the client's.
    assert!(reqs[1]
        .path_and_query
        .starts_with("/secondary/v1/chat/completions"));
    let sent = reqs[1].body_json().unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["metadata"]["via"], "fallback");
    assert_eq!(reqs[1].header("x-e2e"), Some("client-header"));
    assert_eq!(reqs[1].header("x-mock-status"), None);
    assert!(reqs
        .iter()
        .all(|r| r.headers.iter().all(|(k, _)| !k.starts_with("helicone-"))));

    let id = id_of(&hd);
    let r = h.record(&id).await;
    assert_eq!(r["fallback_index"], 2);
    assert_eq!(r["attempts"], 3);
    assert_eq!(r["model"], "entry-two");
    // The record shows what the answering entry was sent.
    assert_eq!(r["request_model"], "gpt-4o-mini");
    assert_eq!(r["request_body"]["metadata"]["via"], "fallback");
    let tries = attempts_of(&h, &id, 2).await;
    assert_eq!(tries.len(), 2);
    let mut by_index: Vec<_> = tries
        .iter()
        .map(|t| t["fallback_index"].as_i64().unwrap())
        .collect();
    by_index.sort_unstable();
    assert_eq!(by_index, vec![0, 1]);
}

#[tokio::test]
async fn the_last_entry_answers_whatever_it_says_and_entries_pass_the_address_check() {
    let mock = heliport_mock::spawn().await.unwrap();
    let allowed = mock.base_url();
    let h = Heliport::start(&mock, &[("HELIPORT_ALLOWED_TARGETS", allowed.as_str())]);
    // A private address that is not allowed cannot be reached: the next entry is tried.
    let fallbacks = json!([
        {"target-url": "http://10.1.2.3", "onCodes": []},
        {"target-url": allowed, "headers": {"x-mock-status": "503"}, "onCodes": [503]},
    ])
    .to_string();
    let (s, hd, _) = chat(
        &h,
        &[("helicone-fallbacks", &fallbacks)],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 503, "the last entry's answer is returned as it is");
    assert_eq!(header(&hd, "helicone-fallback-index"), Some("1"));
    let tries = attempts_of(&h, &id_of(&hd), 1).await;
    assert_eq!(tries[0]["failure"], "target_not_allowed");
    // Every entry refused: the refusal is the answer.
    let only_private = json!([{"target-url": "http://169.254.169.254"}]).to_string();
    let (s, hd, b) = chat(
        &h,
        &[("helicone-fallbacks", &only_private)],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 403, "{}", String::from_utf8_lossy(&b));
    // Recorded where it was going, not under the route's default provider.
    let r = h.record(&id_of(&hd)).await;
    assert!(
        r["target_url"]
            .as_str()
            .unwrap()
            .starts_with("http://169.254.169.254"),
        "{r}"
    );
    assert_eq!(r["failure"], "target_not_allowed");

    // An entry's headers never carry a heliport key to a provider.
    let with_key =
        json!([{"target-url": allowed, "headers": {"Authorization": format!("Bearer {}", h.key)}}])
            .to_string();
    let (s, _, b) = chat(
        &h,
        &[("helicone-fallbacks", &with_key)],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&b));
    assert!(json(&b)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("heliport key"));
}

#[tokio::test]
async fn fallbacks_and_retries_combine() {
    let mock = heliport_mock::spawn().await.unwrap();
    let allowed = mock.base_url();
    let h = Heliport::start(&mock, &[("HELIPORT_ALLOWED_TARGETS", allowed.as_str())]);
    let fallbacks = json!([
        {"target-url": format!("{allowed}/a"), "headers": {"x-mock-status": "500"}, "onCodes": [500]},
        {"target-url": format!("{allowed}/b")},
    ])
    .to_string();
    let (s, hd, _) = chat(
        &h,
        &[
            ("helicone-fallbacks", &fallbacks),
            ("helicone-retry-enabled", "true"),
            ("helicone-retry-num", "1"),
            ("helicone-retry-min-timeout", "1"),
        ],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 200);
    // Entry 0 tried twice (a retry), then entry 1.
    assert_eq!(mock.requests().len(), 3);
    let r = h.record(&id_of(&hd)).await;
    assert_eq!(
        (r["attempts"].as_i64(), r["fallback_index"].as_i64()),
        (Some(3), Some(1))
    );
}

#[tokio::test]
async fn hostile_traffic_headers_are_clear_400s() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let many: Vec<serde_json::Value> = (0..10_000)
        .map(|_| json!({"target-url": "https://api.openai.com"}))
        .collect();
    let many = serde_json::Value::Array(many).to_string();
    for (name, value) in [
        ("helicone-fallbacks", many.as_str()),
        ("helicone-fallbacks", "[{\"target-url\": 5}]"),
        ("helicone-ratelimit-policy", "1e400;w=1"),
        ("helicone-ratelimit-policy", "-5;w=60"),
        ("helicone-ratelimit-policy", "5;w=60;u=dollars"),
        ("helicone-ratelimit-policy", "5;w=99999999999999999999"),
        ("helicone-ratelimit-policy", "5;w=60;s=user"),
        ("helicone-ratelimit-policy", "5;w=60;s=team"),
        ("helicone-retry-num", "18446744073709551616"),
        ("helicone-retry-factor", "NaN"),
        ("helicone-cache-bucket-max-size", "0"),
    ] {
        let (s, _, b) = chat(&h, &[(name, value)], &chat_body("x", false)).await;
        let v = json(&b);
        assert_eq!(s, 400, "{name}: {value:.60}: {v}");
        assert_eq!(v["error"]["code"], "invalid_header", "{name}");
    }
    assert!(mock.requests().is_empty());
}

// ---------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------

/// Sends `n` requests at once; returns the statuses.
async fn burst(
    h: &Heliport,
    n: usize,
    extra: Vec<(String, String)>,
) -> Vec<(u16, http::HeaderMap)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = h.url("/v1/chat/completions");
        let a = auth(h);
        let extra = extra.clone();
        tasks.push(tokio::spawn(async move {
            let mut headers: Vec<(&str, &str)> = vec![("helicone-auth", &a)];
            headers.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let (s, hd, _) = send(
                "POST",
                &url,
                &headers,
                chat_body(&format!("burst {i}"), false),
            )
            .await;
            (s, hd)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn limits_hold(h: &Heliport) {
    let policy = vec![(
        "helicone-ratelimit-policy".to_string(),
        "5;w=60".to_string(),
    )];
    let results = burst(h, 50, policy.clone()).await;
    let admitted = results.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(admitted, 5, "50 simultaneous requests against 5;w=60");
    assert_eq!(refused.len(), 45);
    for (_, hd) in &results {
        assert_eq!(header(hd, "helicone-ratelimit-limit"), Some("5"));
        assert_eq!(
            header(hd, "helicone-ratelimit-policy"),
            Some("5;w=60;u=request")
        );
        assert!(header(hd, "helicone-ratelimit-remaining").is_some());
    }
    let (_, hd) = refused[0];
    assert_eq!(header(hd, "helicone-ratelimit-remaining"), Some("0"));
    assert_eq!(
        h.record(&id_of(hd)).await["attempts"],
        0,
        "nothing went upstream"
    );
    let ra: u64 = header(hd, "retry-after").unwrap().parse().unwrap();
    // Usage leaves the window sub-bucket by sub-bucket (a 60th of it).
    assert!((1..=61).contains(&ra), "{ra}");
    let r = h.record(&id_of(hd)).await;
    assert_eq!(r["response_status"], 429);
    assert_eq!(r["failure"], "rate_limited");
}

#[tokio::test]
async fn fifty_simultaneous_requests_against_five_admit_five() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    limits_hold(&h).await;
    assert_eq!(mock.requests().len(), 5, "nothing refused goes upstream");
}

#[tokio::test]
async fn limits_are_per_user_and_per_property_and_hits_do_not_count() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let per_user = |user: &str| {
        vec![
            (
                "helicone-ratelimit-policy".to_string(),
                "2;w=60;s=user".to_string(),
            ),
            ("helicone-user-id".to_string(), user.to_string()),
        ]
    };
    let a = burst(&h, 4, per_user("alice")).await;
    let b = burst(&h, 4, per_user("bob")).await;
    assert_eq!(a.iter().filter(|(s, _)| *s == 200).count(), 2);
    assert_eq!(b.iter().filter(|(s, _)| *s == 200).count(), 2);
    let per_team = |team: &str| {
        vec![
            (
                "helicone-ratelimit-policy".to_string(),
                "1;w=60;s=team".to_string(),
            ),
            ("helicone-property-team".to_string(), team.to_string()),
        ]
    };
    assert_eq!(
        burst(&h, 3, per_team("x"))
            .await
            .iter()
            .filter(|(s, _)| *s == 200)
            .count(),
        1
    );
    assert_eq!(
        burst(&h, 3, per_team("y"))
            .await
            .iter()
            .filter(|(s, _)| *s == 200)
            .count(),
        1
    );

    // Cache hits are never limited and never counted.
    let body = chat_body("cached under a limit", false);
    let hdrs = [
        ("helicone-cache-enabled", "true"),
        ("helicone-ratelimit-policy", "1;w=60;s=user"),
        ("helicone-user-id", "carol"),
    ];
    let (s, _, _) = chat(&h, &hdrs, &body).await;
    assert_eq!(s, 200);
    for _ in 0..3 {
        let (s, hd, _) = chat(&h, &hdrs, &body).await;
        assert_eq!(s, 200);
        assert_eq!(header(&hd, "helicone-cache"), Some("HIT"));
        assert_eq!(header(&hd, "helicone-ratelimit-remaining"), Some("0"));
    }
    let (s, _, _) = chat(&h, &hdrs, &chat_body("a different question", false)).await;
    assert_eq!(
        s, 429,
        "carol's one request was used by the miss, not the hits"
    );
}

#[tokio::test]
async fn cents_limits_count_estimated_spend_too() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    // A stream without include_usage reports nothing: its spend is estimated.
    let policy = [("helicone-ratelimit-policy", "0.001;w=60;u=cents")];
    let body = chat_body("one two three", false).replace("\"stream\":false", "\"stream\":true");
    let (s, _, _) = chat(&h, &policy, &body).await;
    assert_eq!(s, 200);
    let (s, _, _) = chat(&h, &policy, &body).await;
    assert_eq!(s, 429, "the first stream's estimated cost was not counted");
}

#[tokio::test]
async fn cents_limits_settle_the_real_cost() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    // gpt-4o, 3 prompt + 5 completion tokens = 57,500 nano-USD = 0.00575 cents.
    let policy = [("helicone-ratelimit-policy", "0.01;w=60;u=cents")];
    let (s, hd, _) = chat(&h, &policy, &chat_body("one two three", false)).await;
    assert_eq!(s, 200);
    assert_eq!(header(&hd, "helicone-ratelimit-remaining"), Some("0"));
    // The cost is settled when the answer ends; the second request still fits.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut admitted = 1;
    loop {
        let (s, _, _) = chat(&h, &policy, &chat_body("one two three", false)).await;
        if s == 429 {
            break;
        }
        admitted += 1;
        assert!(
            Instant::now() < deadline && admitted <= 2,
            "the spend was never counted"
        );
    }
    assert_eq!(
        admitted, 2,
        "0.01 cents admits two requests of 0.00575 cents"
    );
}

// ---------------------------------------------------------------------------
// Across instances, through Redis
// ---------------------------------------------------------------------------

#[tokio::test]
async fn two_instances_on_one_redis_share_limits_and_cache() {
    let mock = heliport_mock::spawn().await.unwrap();
    let Some(redis) = redis() else { return };
    let a = Heliport::start(&mock, &[("HELIPORT_REDIS_URL", redis)]);
    // The second instance shares the first one's database (keys, records) and Redis.
    let mut b = Heliport::start_in(a.dir.clone(), &mock, &[("HELIPORT_REDIS_URL", redis)]);
    b.key = a.key.clone();

    let policy = vec![(
        "helicone-ratelimit-policy".to_string(),
        "5;w=60".to_string(),
    )];
    let (ra, rb) = tokio::join!(burst(&a, 25, policy.clone()), burst(&b, 25, policy));
    let admitted = ra
        .iter()
        .chain(rb.iter())
        .filter(|(s, _)| *s == 200)
        .count();
    assert_eq!(admitted, 5, "two instances enforce one limit");

    let body = chat_body("shared cache", false);
    let on = [("helicone-cache-enabled", "true")];
    let (_, h1, _) = chat(&a, &on, &body).await;
    assert_eq!(header(&h1, "helicone-cache"), Some("MISS"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, h2, _) = chat(&b, &on, &body).await;
        if header(&h2, "helicone-cache") == Some("HIT") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an answer cached by one instance is not a hit on the other"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn in_process_limits_also_hold_through_redis() {
    let mock = heliport_mock::spawn().await.unwrap();
    let Some(redis) = redis() else { return };
    let h = Heliport::start(&mock, &[("HELIPORT_REDIS_URL", redis)]);
    limits_hold(&h).await;
}

#[tokio::test]
async fn requests_keep_flowing_when_redis_is_unreachable() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(
        &mock,
        &[
            ("HELIPORT_REDIS_URL", "redis://127.0.0.1:1"),
            ("HELIPORT_REDIS_TIMEOUT_MS", "100"),
        ],
    );
    let hdrs = [
        ("helicone-cache-enabled", "true"),
        ("helicone-ratelimit-policy", "1;w=60"),
    ];
    for _ in 0..3 {
        let (s, hd, _) = chat(&h, &hdrs, &chat_body("redis is down", false)).await;
        assert_eq!(s, 200, "on_store_error = allow lets requests through");
        assert_eq!(header(&hd, "helicone-cache"), Some("MISS"));
        assert_eq!(header(&hd, "helicone-ratelimit-limit"), Some("1"));
    }
    let (_, _, m) = send("GET", &h.url("/metrics"), &[], "").await;
    let m = String::from_utf8_lossy(&m);
    assert!(
        m.lines()
            .any(|l| l.starts_with("heliport_redis_errors_total") && !l.ends_with(" 0")),
        "redis errors are counted:\n{m}"
    );

    let deny = Heliport::start(
        &mock,
        &[
            ("HELIPORT_REDIS_URL", "redis://127.0.0.1:1"),
            ("HELIPORT_REDIS_TIMEOUT_MS", "100"),
            ("HELIPORT_RATE_LIMIT_ON_STORE_ERROR", "deny"),
        ],
    );
    let (s, _, b) = chat(
        &deny,
        &[("helicone-ratelimit-policy", "1;w=60")],
        &chat_body("x", false),
    )
    .await;
    assert_eq!(s, 429, "{}", String::from_utf8_lossy(&b));
    // Without a policy nothing needs Redis.
    let (s, _, _) = chat(&deny, &[], &chat_body("x", false)).await;
    assert_eq!(s, 200);
}
