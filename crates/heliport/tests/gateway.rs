//! The heliport binary end to end against the mock provider: routing,
//! headers, auth, errors, streaming, recording.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use http_body_util::BodyExt;

fn auth(h: &Heliport) -> String {
    format!("Bearer {}", h.key)
}

#[tokio::test]
async fn chat_is_proxied_and_recorded_with_tokens_and_cost() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let (status, headers, body) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("authorization", "Bearer sk-provider"),
            ("content-type", "application/json"),
            ("helicone-property-Environment", "prod"),
            ("helicone-user-id", "alice"),
            ("helicone-session-id", "s-1"),
            ("helicone-session-path", "/plan/step"),
            ("helicone-session-name", "Trip"),
            ("helicone-model-override", "gpt-4o"),
        ],
        chat_body("one two three", false),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        json(&body)["choices"][0]["message"]["content"],
        heliport_mock::DEFAULT_REPLY
    );
    let id = headers["helicone-id"].to_str().unwrap().to_string();
    let timing = headers["server-timing"].to_str().unwrap();
    assert!(
        timing.starts_with("heliport;dur=") && timing.contains(", upstream;dur="),
        "{timing}"
    );

    // What the provider saw: its own key, no Helicone-* headers.
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer sk-provider"));
    assert!(
        seen.headers
            .iter()
            .all(|(k, _)| !k.starts_with("helicone-")),
        "{:?}",
        seen.headers
    );
    assert_eq!(seen.path_and_query, "/v1/chat/completions");

    let r = h.record(&id).await;
    assert_eq!(r["provider"], "openai");
    assert_eq!(r["model"], "gpt-4o");
    assert_eq!(r["response_status"], 200);
    assert_eq!(r["prompt_tokens"], 3);
    assert_eq!(r["completion_tokens"], 5);
    assert_eq!(r["total_tokens"], 8);
    assert_eq!(r["cost_nano_usd"], 3 * 2500 + 5 * 10_000);
    assert_eq!(r["request_user_id"], "alice");
    assert_eq!(r["request_properties"]["environment"], "prod");
    assert_eq!(r["session_id"], "s-1");
    assert_eq!(r["session_path"], "/plan/step");
    assert_eq!(r["session_name"], "Trip");
    assert_eq!(r["model_override"], "gpt-4o");
    assert_eq!(r["usage_estimated"], false);
    assert!(!r["request_body"].to_string().contains("sk-provider"));

    // GET by id, and the request appears in /metrics.
    let (status, _, body) = send(
        "GET",
        &h.url(&format!("/v1/request/{id}")),
        &[("authorization", &a)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["data"]["request_id"], id);
    let (_, _, metrics) = send("GET", &h.url("/metrics"), &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("heliport_records_written_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("heliport_records_queued_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn streams_arrive_as_they_are_produced_and_are_recorded() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let started = Instant::now();
    let resp = start(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("content-type", "application/json"),
            ("x-mock-chunk-delay-ms", "150"),
        ],
        chat_body("stream me please", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["helicone-id"].to_str().unwrap().to_string();
    let mut body = resp.into_body();
    let mut first_at = None;
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        if let Some(d) = frame.data_ref() {
            first_at.get_or_insert_with(|| started.elapsed());
            all.extend_from_slice(d);
        }
    }
    let total = started.elapsed();
    let first_at = first_at.unwrap();
    // 7+ events 150 ms apart: the first must arrive long before the last.
    assert!(
        first_at < total / 2,
        "first byte at {first_at:?} of {total:?}: the stream was buffered"
    );
    let text = String::from_utf8(all).unwrap();
    assert!(text.contains("data: [DONE]"));

    let r = h.record(&id).await;
    assert_eq!(r["stream"], true);
    assert_eq!(r["prompt_tokens"], 3);
    assert_eq!(r["completion_tokens"], 5);
    assert_eq!(r["usage_estimated"], false);
    assert_eq!(r["cancelled"], false);
    assert!(r["time_to_first_token"].as_i64().unwrap() < r["delay_ms"].as_i64().unwrap());
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_recorded_as_cancelled() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let resp = start(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("content-type", "application/json"),
            ("x-mock-chunk-delay-ms", "200"),
            ("x-mock-words", "50"),
        ],
        chat_body("go", true),
    )
    .await;
    let id = resp.headers()["helicone-id"].to_str().unwrap().to_string();
    let mut body = resp.into_body();
    let _ = body.frame().await;
    drop(body);
    let r = h.record(&id).await;
    assert_eq!(r["cancelled"], true);
    assert_eq!(r["failure"], "cancelled");
}

#[tokio::test]
async fn a_broken_upstream_stream_is_recorded() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let id = "0193a000-0000-7000-8000-000000000001";
    let broke = stream_breaks(
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("helicone-request-id", id),
            ("x-mock-break-after", "2"),
        ],
        chat_body("go", true),
    )
    .await;
    assert!(broke, "the client must see the stream break");
    let r = h.record(id).await;
    assert_eq!(r["failure"], "stream_error");
    assert_eq!(r["response_status"], 200);
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let url = h.url("/v1/chat/completions");
    let (s, headers, b) = send(
        "POST",
        &url,
        &[("content-type", "application/json")],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(json(&b)["error"]["code"], "missing_auth");
    assert!(headers.contains_key("helicone-id"));
    let (s, _, b) = send(
        "POST",
        &url,
        &[("helicone-auth", "Bearer sk-heliport-wrong")],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(json(&b)["error"]["code"], "invalid_auth");
    let (s, _, b) = send(
        "POST",
        &url,
        &[("helicone-auth", "sk-no-bearer")],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(json(&b)["error"]["code"], "invalid_auth");
    // Anthropic routes answer in Anthropic's shape.
    let (s, _, b) = send("POST", &h.url("/anthropic/v1/messages"), &[], "{}").await;
    assert_eq!(s, 401);
    assert_eq!(json(&b)["type"], "error");
    assert_eq!(json(&b)["error"]["type"], "authentication_error");
    // A read-only key cannot proxy; a write-only key cannot read.
    let r = create_key(&h.db_url, "reader", "r");
    let (s, _, b) = send(
        "POST",
        &url,
        &[("helicone-auth", &format!("Bearer {r}"))],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 403, "{}", String::from_utf8_lossy(&b));
    let (s, _, _) = send(
        "POST",
        &h.url("/v1/request/query"),
        &[("authorization", &format!("Bearer {r}"))],
        "{}",
    )
    .await;
    assert_eq!(s, 200);
    let w = create_key(&h.db_url, "writer", "w");
    let (s, _, b) = send(
        "POST",
        &h.url("/v1/request/query"),
        &[("authorization", &format!("Bearer {w}"))],
        "{}",
    )
    .await;
    assert_eq!(s, 403);
    assert!(json(&b)["error"].as_str().unwrap().contains("read"));
    assert!(mock.requests().is_empty(), "nothing may reach the upstream");
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_KEY_REFRESH_SECS", "1")]);
    let a = auth(&h);
    let url = h.url("/v1/chat/completions");
    let (s, _, _) = send(
        "POST",
        &url,
        &[("helicone-auth", &a)],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 200);
    let (ok, out, err) = run_cli(&h.db_url, &["keys", "revoke", "test"]);
    assert!(ok, "{err}");
    assert!(out.contains("Revoked"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (s, _, _) = send(
            "POST",
            &url,
            &[("helicone-auth", &a)],
            chat_body("x", false),
        )
        .await;
        if s == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "revoked key still accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, out, _) = run_cli(&h.db_url, &["keys", "list"]);
    assert!(ok);
    assert!(out.contains("revoked"), "{out}");
    assert!(!out.contains(&h.key), "keys list must never show a key");
}

#[tokio::test]
async fn optional_auth_logs_under_the_default_organization() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_AUTH_MODE", "optional")]);
    let (s, headers, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[],
        chat_body("hello", false),
    )
    .await;
    assert_eq!(s, 200);
    let id = headers["helicone-id"].to_str().unwrap();
    // The test key belongs to the default organization, so it sees the record.
    let r = h.record(id).await;
    assert_eq!(r["api_key_id"], serde_json::Value::Null);
    // A bad key is still refused in optional mode.
    let (s, _, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", "Bearer nope")],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn malformed_helicone_headers_are_clear_400s_and_recorded() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let url = h.url("/v1/chat/completions");
    for (header, value, needle) in [
        ("helicone-request-id", "not-a-uuid", "Helicone-Request-Id"),
        ("helicone-retry-num", "lots", "Helicone-Retry-Num"),
        (
            "helicone-ratelimit-policy",
            "10;w=0",
            "Helicone-Ratelimit-Policy",
        ),
        (
            "helicone-cache-bucket-max-size",
            "21",
            "Helicone-Cache-Bucket-Max-Size",
        ),
        ("helicone-fallbacks", "not json", "Helicone-Fallbacks"),
        (
            "helicone-target-url",
            "ftp://example.com",
            "Helicone-Target-Url",
        ),
    ] {
        let (s, headers, b) = send(
            "POST",
            &url,
            &[
                ("helicone-auth", &a),
                (header, value),
                ("helicone-property-team", "search"),
                ("helicone-user-id", "alice"),
                ("helicone-session-id", "s-42"),
                ("helicone-session-path", "/plan/step"),
            ],
            chat_body("x", false),
        )
        .await;
        assert_eq!(s, 400, "{header}");
        let v = json(&b);
        assert_eq!(v["error"]["code"], "invalid_header");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{header}: {v}"
        );
        let id = headers["helicone-id"].to_str().unwrap();
        let r = h.record(id).await;
        assert_eq!(r["response_status"], 400);
        assert_eq!(r["failure"], "invalid_header");
        // The headers that did parse are kept: the refusal is findable.
        assert_eq!(r["request_properties"]["team"], "search", "{header}: {r}");
        assert_eq!(r["request_user_id"], "alice", "{header}");
        assert_eq!(r["session_id"], "s-42", "{header}");
        assert_eq!(r["session_path"], "/plan/step", "{header}");
        assert_eq!(r["provider"], "openai", "{header}");
    }
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn request_ids_are_echoed_and_may_repeat() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let id = "01932c07-209c-7f5c-b2a9-1b2c3d4e5f60";
    for _ in 0..2 {
        let (s, headers, _) = send(
            "POST",
            &h.url("/v1/chat/completions"),
            &[("helicone-auth", &a), ("helicone-request-id", id)],
            chat_body("x", false),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(headers["helicone-id"], id);
    }
    let rows = h
        .wait_records(
            serde_json::json!({"request_response_rmt": {"request_id": {"equals": id}}}),
            2,
        )
        .await;
    assert_eq!(rows.len(), 2, "a reused id adds a record");
}

#[tokio::test]
async fn forbidden_targets_unknown_routes_and_large_bodies() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_MAX_BODY_BYTES", "1000")]);
    let a = auth(&h);
    for target in [
        "http://127.0.0.1:1",
        "http://169.254.169.254",
        "http://localhost:8080",
        "http://[::1]:80",
        "http://10.1.2.3",
    ] {
        let (s, _, b) = send(
            "POST",
            &h.url("/v1/chat/completions"),
            &[("helicone-auth", &a), ("helicone-target-url", target)],
            chat_body("x", false),
        )
        .await;
        assert_eq!(s, 403, "{target}: {}", String::from_utf8_lossy(&b));
        assert_eq!(json(&b)["error"]["code"], "target_not_allowed");
    }
    let (s, _, b) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("helicone-openai-api-base", "http://192.168.0.1"),
        ],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(json(&b)["error"]["code"], "target_not_allowed");
    let (s, _, b) = send(
        "POST",
        &h.url("/nowhere/at/all"),
        &[("helicone-auth", &a)],
        "",
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(json(&b)["error"]["code"], "not_found");
    let big = "x".repeat(2000);
    let (s, _, b) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", &a)],
        chat_body(&big, false),
    )
    .await;
    assert_eq!(s, 413);
    assert_eq!(json(&b)["error"]["code"], "payload_too_large");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn allowed_targets_and_target_urls_reach_the_upstream() {
    let mock = heliport_mock::spawn().await.unwrap();
    let base = mock.base_url();
    let h = Heliport::start(&mock, &[("HELIPORT_ALLOWED_TARGETS", &base)]);
    let a = auth(&h);
    let (s, headers, b) = send(
        "POST",
        &h.url("/v1/chat/completions?x=1"),
        &[("helicone-auth", &a), ("helicone-target-url", &base)],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    assert_eq!(
        mock.last_request().unwrap().path_and_query,
        "/v1/chat/completions?x=1"
    );
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["target_url"], format!("{base}/v1/chat/completions?x=1"));
}

#[tokio::test]
async fn upstream_failures_are_502_and_504() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(
        &mock,
        &[
            ("HELIPORT_ANTHROPIC_BASE_URL", "http://127.0.0.1:1"),
            ("HELIPORT_UPSTREAM_TIMEOUT_SECS", "1"),
        ],
    );
    let a = auth(&h);
    let (s, headers, b) = send(
        "POST",
        &h.url("/anthropic/v1/messages"),
        &[("helicone-auth", &a)],
        "{}",
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(json(&b)["error"]["code"], "upstream_unreachable");
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["failure"], "upstream_unreachable");
    assert_eq!(r["response_status"], 502);

    let (s, headers, b) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", &a), ("x-mock-delay-ms", "3000")],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 504);
    assert_eq!(json(&b)["error"]["code"], "upstream_timeout");
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["failure"], "upstream_timeout");

    // An upstream error passes through as it was, and is recorded.
    let (s, headers, b) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", &a), ("x-mock-status", "429")],
        chat_body("x", false),
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(json(&b)["error"]["code"], "mock_429");
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["response_status"], 429);
    assert_eq!(r["failure"], serde_json::Value::Null);
}

#[tokio::test]
async fn gemini_and_anthropic_usage_is_recorded() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let gem = serde_json::json!({"contents": [{"role": "user", "parts": [{"text": "one two"}]}]})
        .to_string();
    for path in [
        "/gemini/v1beta/models/gemini-2.0-flash:generateContent",
        "/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
    ] {
        let (s, headers, b) = send(
            "POST",
            &h.url(path),
            &[("helicone-auth", &a), ("x-goog-api-key", "g")],
            gem.clone(),
        )
        .await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
        assert_eq!(r["provider"], "gemini");
        assert_eq!(r["model"], "gemini-2.0-flash");
        assert_eq!(r["prompt_tokens"], 2, "{path}");
        assert_eq!(r["completion_tokens"], 5, "{path}");
        assert!(r["cost_nano_usd"].as_i64().unwrap() > 0, "{path}: {r}");
    }
    let msg = serde_json::json!({"model": "claude-3-5-sonnet-20241022", "max_tokens": 5, "messages": [{"role": "user", "content": "a b c d"}]}).to_string();
    let (s, headers, _) = send(
        "POST",
        &h.url("/anthropic/v1/messages"),
        &[
            ("helicone-auth", &a),
            ("x-mock-cache-read", "10"),
            ("x-mock-cache-write", "6"),
        ],
        msg,
    )
    .await;
    assert_eq!(s, 200);
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(
        r["prompt_tokens"],
        4 + 10 + 6,
        "prompt tokens count cached ones too"
    );
    assert_eq!(r["prompt_cache_read_tokens"], 10);
    assert_eq!(r["prompt_cache_write_tokens"], 6);
    assert_eq!(r["completion_tokens"], 5);
}

#[tokio::test]
async fn unknown_models_are_unpriced_not_free() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let body = serde_json::json!({"model": "my-local-llama", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (_, headers, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", &a)],
        body,
    )
    .await;
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["model"], "my-local-llama");
    assert_eq!(r["cost"], serde_json::Value::Null);
    assert_eq!(r["cost_nano_usd"], serde_json::Value::Null);
    assert_eq!(r["prompt_tokens"], 1);
}

#[tokio::test]
async fn sigterm_drains_the_queue_and_records_survive_restart() {
    let mock = heliport_mock::spawn().await.unwrap();
    let mut h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let n = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = h.url("/v1/chat/completions");
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            send(
                "POST",
                &url,
                &[("helicone-auth", &a), ("helicone-property-batch", "drain")],
                chat_body(&format!("n {i}"), false),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    h.stop();
    // Restart on the same database: every record is there.
    let dir = h.dir.clone();
    let key = h.key.clone();
    std::mem::forget(h);
    let mut h2 = Heliport::start_in(dir, &mock, &[]);
    h2.key = key;
    let rows = h2
        .wait_records(serde_json::json!({"request_response_rmt": {"properties": {"batch": {"equals": "drain"}}}}), n)
        .await;
    assert_eq!(rows.len(), n);
}

#[tokio::test]
async fn health_endpoints() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    for path in ["/healthcheck", "/healthz", "/readyz"] {
        let (s, _, _) = send("GET", &h.url(path), &[], "").await;
        assert_eq!(s, 200, "{path}");
    }
}

#[tokio::test]
async fn metrics_name_every_series_from_the_start() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let (s, _, b) = send("GET", &h.url("/metrics"), &[], "").await;
    assert_eq!(s, 200);
    let text = String::from_utf8_lossy(&b);
    for series in [
        "heliport_records_queued_total 0",
        "heliport_records_written_total 0",
        "heliport_records_spooled_total 0",
        "heliport_records_dropped_total 0",
        "heliport_spool_pending 0",
        "heliport_record_queue_bytes 0",
        "heliport_requests_total",
        "heliport_connections_open",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

/// Logs written to a pipe carry no terminal colours; the JSON format is one
/// object per line.
#[test]
fn logs_are_plain_or_json_when_not_on_a_terminal() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for format in ["text", "json"] {
        let dir = std::env::temp_dir().join(format!("heliport-logs-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(bin())
            .arg("serve")
            .env("HELIPORT_LISTEN", "127.0.0.1:0")
            .env(
                "HELIPORT_DATABASE_URL",
                format!("sqlite://{}/h.db", dir.display()),
            )
            .env("HELIPORT_SPOOL_PATH", format!("{}/h.spool", dir.display()))
            .env("HELIPORT_LOG", "info")
            .env("HELIPORT_LOG_FORMAT", format)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        let logs = String::from_utf8(out.stderr).unwrap();
        assert!(logs.contains("heliport started"), "{logs}");
        assert!(
            !logs.contains('\u{1b}'),
            "colour codes in piped {format} logs: {logs}"
        );
        if format == "json" {
            for l in logs.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"));
                assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn prices_show_prints_what_a_model_costs() {
    let dir = std::env::temp_dir().join(format!("heliport-prices-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/h.db", dir.display());
    let (ok, out, err) = run_cli(&db, &["prices", "show", "gpt-4o", "--provider", "openai"]);
    assert!(ok, "{err}");
    assert!(out.contains("2.5"), "{out}");
    assert!(out.contains("10"), "{out}");
    let (ok, _, err) = run_cli(&db, &["prices", "show", "no-such-model-xyz"]);
    assert!(!ok);
    assert!(err.contains("unpriced"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn keys_import_accepts_a_helicone_hash() {
    let dir = std::env::temp_dir().join(format!("heliport-keys-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/h.db", dir.display());
    let hash = "a".repeat(64);
    let (ok, out, err) = run_cli(
        &db,
        &["keys", "import", "--hash", &hash, "--name", "from-helicone"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Imported"));
    let (ok, _, err) = run_cli(&db, &["keys", "import", "--hash", "xyz"]);
    assert!(!ok);
    assert!(err.contains("64 hexadecimal"), "{err}");
    let (_, out, _) = run_cli(&db, &["keys", "list"]);
    assert!(out.contains("from-helicone"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn heliports_own_rest_paths_are_never_proxied() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_AUTH_MODE", "optional")]);
    // Every endpoint answers for itself, in the envelope.
    for (path, status) in [
        ("/v1/user/query", 200),
        ("/v1/session/query", 200),
        ("/v1/property/query", 200),
        ("/v1/prompt/query", 200),
        ("/v1/prompt/x", 405),
        ("/v1/feedback", 400),
        ("/v1/request/abc/feedback", 400),
    ] {
        let (s, _, b) = send(
            "POST",
            &h.url(path),
            &[("authorization", &format!("Bearer {}", h.key))],
            "{}",
        )
        .await;
        assert_eq!(s, status, "{path}: {}", String::from_utf8_lossy(&b));
        let v = json(&b);
        assert!(
            v.get("data").is_some() && v.get("error").is_some(),
            "{path}: {v}"
        );
    }
    // Spellings that miss every route: 404 in the REST envelope, never proxied.
    for path in [
        "/v1/request/query/x",
        "/v1/request",
        "/v1/feedback/x",
        "/v1//user/x",
        "/v1/Request/nothing/here/at/all",
        "/v1/./prompt/../session/x/y/z",
        "/v1/%72equest",
        "/custom/v1/log/x",
    ] {
        for method in ["GET", "POST"] {
            let (s, _, b) = send(
                method,
                &h.url(path),
                &[
                    ("authorization", &format!("Bearer {}", h.key)),
                    ("helicone-auth", &format!("Bearer {}", h.key)),
                ],
                "{}",
            )
            .await;
            assert_eq!(s, 404, "{method} {path}: {}", String::from_utf8_lossy(&b));
            let v = json(&b);
            assert_eq!(v["data"], serde_json::Value::Null, "{path}");
            assert!(v["error"].as_str().unwrap().contains("REST"), "{path}: {v}");
        }
    }
    // Spellings of real endpoints reach them.
    for path in [
        "/v1/request/query/",
        "/v1//request/query",
        "/v1/Request/query",
        "/v1/x/../request/query",
    ] {
        let (s, _, b) = send(
            "POST",
            &h.url(path),
            &[("authorization", &format!("Bearer {}", h.key))],
            "{}",
        )
        .await;
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&b));
        assert!(json(&b)["data"].is_array(), "{path}");
    }
    // A path written under a REST prefix that normalises out of it is still
    // the REST routes' to answer (`/v1/request/{id}` matches `..` as written).
    let (s, _, b) = send(
        "GET",
        &h.url("/v1/request/.."),
        &[("authorization", &format!("Bearer {}", h.key))],
        "",
    )
    .await;
    let v = json(&b);
    assert!(
        v.get("data").is_some() && v.get("error").is_some(),
        "{s}: {v}"
    );
    assert!(
        mock.requests().is_empty(),
        "a heliport key must never reach a provider"
    );
}

#[tokio::test]
async fn a_heliport_key_is_never_sent_to_a_provider() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    for (name, value) in [
        ("authorization", format!("Bearer {}", h.key)),
        ("authorization", h.key.clone()),
        ("x-api-key", h.key.clone()),
        ("api-key", h.key.clone()),
    ] {
        let (s, _, b) = send(
            "POST",
            &h.url("/v1/chat/completions"),
            &[("helicone-auth", &a), (name, &value)],
            chat_body("hi", false),
        )
        .await;
        assert_eq!(s, 400, "{name}: {}", String::from_utf8_lossy(&b));
        let msg = json(&b)["error"]["message"].as_str().unwrap().to_string();
        assert!(
            msg.contains("heliport key") && !msg.contains(&h.key),
            "{msg}"
        );
    }
    // A second key of the organization (not the one in Helicone-Auth) too.
    let other = create_key(&h.db_url, "other", "rw");
    let (s, _, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("authorization", &format!("Bearer {other}")),
        ],
        chat_body("hi", false),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        mock.requests().is_empty(),
        "a heliport key must never reach a provider"
    );
}

#[tokio::test]
async fn requests_cut_at_shutdown_are_recorded_as_cancelled() {
    let mock = heliport_mock::spawn().await.unwrap();
    let mut h = Heliport::start(&mock, &[("HELIPORT_SHUTDOWN_GRACE_SECS", "1")]);
    let a = auth(&h);
    let id = "0193a000-0000-7000-8000-0000000000aa";
    let resp = start(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("helicone-request-id", id),
            ("x-mock-chunk-delay-ms", "300"),
            ("x-mock-words", "100"),
        ],
        chat_body("long answer", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let _ = body.frame().await;
    let stopped = Instant::now();
    h.stop();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "shutdown must not wait for the stream"
    );
    drop(body);
    let dir = h.dir.clone();
    let key = h.key.clone();
    std::mem::forget(h);
    let mut h2 = Heliport::start_in(dir, &mock, &[]);
    h2.key = key;
    let r = h2.record(id).await;
    assert_eq!(r["failure"], "cancelled");
    assert_eq!(r["response_status"], 200);
}

#[tokio::test]
async fn a_stream_that_goes_quiet_is_cut_and_recorded() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_STREAM_IDLE_TIMEOUT_SECS", "1")]);
    let a = auth(&h);
    let id = "0193a000-0000-7000-8000-0000000000bb";
    let started = Instant::now();
    let broke = stream_breaks(
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("helicone-request-id", id),
            ("x-mock-chunk-delay-ms", "3000"),
        ],
        chat_body("go", true),
    )
    .await;
    assert!(broke);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut after about 1 s of silence"
    );
    let r = h.record(id).await;
    assert_eq!(r["failure"], "upstream_timeout");
}

#[tokio::test]
async fn allowed_targets_cannot_be_escaped_with_dot_segments() {
    let mock = heliport_mock::spawn().await.unwrap();
    let base = mock.base_url();
    let h = Heliport::start(
        &mock,
        &[("HELIPORT_ALLOWED_TARGETS", &format!("{base}/v1/"))],
    );
    let a = auth(&h);
    let (s, _, b) = send(
        "POST",
        &h.url("/admin"),
        &[
            ("helicone-auth", &a),
            ("helicone-target-url", &format!("{base}/v1/..")),
        ],
        "{}",
    )
    .await;
    assert_eq!(s, 403, "{}", String::from_utf8_lossy(&b));
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn non_json_bodies_are_forwarded_and_recorded_as_they_are() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let body = "this is not JSON <helicone-prompt-input key=\"x\">y</helicone-prompt-input>";
    let (s, headers, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", &a), ("content-type", "text/plain")],
        body,
    )
    .await;
    assert_eq!(s, 400, "the provider's own answer passes through");
    assert_eq!(mock.last_request().unwrap().body_text(), body);
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["request_body"], body);
    assert_eq!(r["response_status"], 400);
}

/// Reads a stream until the event holding `marker` has arrived whole (its
/// blank line included), then hangs up, as the official SDKs do at the
/// terminal event.
async fn read_until_then_hang_up(resp: http::Response<hyper::body::Incoming>, marker: &str) {
    let mut body = resp.into_body();
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame.unwrap().data_ref() {
            seen.extend_from_slice(d);
        }
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find(marker) {
            let rest = &text[at..];
            if rest.contains("\n\n") || rest.contains("\r\n\r\n") {
                return;
            }
        }
    }
    panic!(
        "the stream ended without {marker}: {}",
        String::from_utf8_lossy(&seen)
    );
}

#[tokio::test]
async fn a_stream_left_at_its_terminal_event_is_complete() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let anthropic = serde_json::json!({
        "model": "claude-3-5-sonnet-20241022", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi there"}],
    })
    .to_string();
    let responses =
        serde_json::json!({"model": "gpt-4o", "input": "hi there", "stream": true}).to_string();
    let gemini = serde_json::json!({"contents": [{"parts": [{"text": "hi there"}]}]}).to_string();
    let cases = [
        (
            "/v1/chat/completions",
            chat_body("hi there", true),
            "[DONE]",
            true,
        ),
        // Without include_usage the tokens are estimated: still a full answer.
        (
            "/v1/chat/completions",
            chat_body("hi there", false).replace("\"stream\":false", "\"stream\":true"),
            "[DONE]",
            false,
        ),
        ("/anthropic/v1/messages", anthropic, "message_stop", true),
        ("/v1/responses", responses, "response.completed", true),
        (
            "/gemini/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
            gemini,
            "finishReason",
            true,
        ),
    ];
    for (path, body, marker, reported) in cases {
        let resp = start(
            "POST",
            &h.url(path),
            &[
                ("helicone-auth", &a),
                ("content-type", "application/json"),
                // The upstream ends the body long after its last event, and
                // splits events anywhere.
                ("x-mock-end-delay-ms", "3000"),
                ("x-mock-chunk-bytes", "7"),
            ],
            body,
        )
        .await;
        assert_eq!(resp.status(), 200, "{path}");
        let id = resp.headers()["helicone-id"].to_str().unwrap().to_string();
        read_until_then_hang_up(resp, marker).await;
        let r = h.record(&id).await;
        assert_eq!(r["failure"], serde_json::Value::Null, "{path}: {r}");
        assert_eq!(r["cancelled"], false, "{path}");
        assert!(r["total_tokens"].as_i64().unwrap() > 0, "{path}: {r}");
        assert_eq!(r["usage_estimated"], !reported, "{path}");
        assert!(r["cost"].as_f64().unwrap() > 0.0, "{path}: {r}");
    }
}
