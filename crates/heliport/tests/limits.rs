//! What bounds heliport's connections and memory, and how it answers clients
//! that misbehave: half-sent heads, stalled or abandoned uploads, too many
//! headers, non-ASCII header values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn auth(h: &Heliport) -> String {
    format!("Bearer {}", h.key)
}

fn addr(h: &Heliport) -> String {
    h.base.trim_start_matches("http://").to_string()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Reads a whole HTTP/1.1 response (head and a `content-length` body).
async fn read_response(tcp: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut chunk))
            .await
            .expect("no response within 10 s")
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len || n == 0 {
                let status = text[9..12].parse().unwrap();
                return (status, text[end + 4..].to_string());
            }
        }
        assert!(n > 0, "connection closed before a response: {text}");
    }
}

/// Whether the server closed the connection (read gives EOF or an error).
async fn closed_by_server(tcp: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(within, tcp.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn half_sent_heads_are_closed_and_memory_comes_back() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_HEADER_READ_TIMEOUT_SECS", "1")]);
    let pid = h.child.id();
    // Warm up: one request through every layer.
    let (s, _, _) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &[("helicone-auth", &auth(&h))],
        chat_body("hi", false),
    )
    .await;
    assert_eq!(s, 200);
    let baseline = rss_kib(pid);

    let mut idle = Vec::new();
    for _ in 0..2000 {
        let mut tcp = TcpStream::connect(addr(&h)).await.unwrap();
        tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty")
            .await
            .unwrap();
        idle.push(tcp);
    }
    let peak = rss_kib(pid);
    // Every half-sent head is cut once the head-read timeout passes.
    for tcp in &mut idle {
        assert!(closed_by_server(tcp, Duration::from_secs(10)).await);
    }
    drop(idle);
    // ... and the memory those connections held is handed back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut now = rss_kib(pid);
    while now > baseline + 8 * 1024 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = rss_kib(pid);
    }
    println!("RSS: baseline {baseline} KiB, 2000 idle connections {peak} KiB, after {now} KiB");
    assert!(
        now <= baseline + 8 * 1024,
        "RSS stayed at {now} KiB (baseline {baseline} KiB, peak {peak} KiB)"
    );

    // A keep-alive connection idle past the timeout is closed too.
    let mut tcp = TcpStream::connect(addr(&h)).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut tcp).await.0, 200);
    assert!(closed_by_server(&mut tcp, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_MAX_CONNECTIONS", "4")]);
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut tcp = TcpStream::connect(addr(&h)).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut tcp).await.0, 200);
        held.push(tcp);
    }
    let url = h.url("/healthz");
    let waiting = tokio::spawn(async move { send("GET", &url, &[], "").await.0 });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a fifth connection was served");
    held.pop();
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting connection was never served")
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_stalled_upload_is_408_and_an_abandoned_one_is_cancelled() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_BODY_READ_TIMEOUT_SECS", "1")]);
    let a = auth(&h);
    let head = |id: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nHelicone-Auth: {a}\r\nHelicone-Request-Id: {id}\r\nHelicone-Property-Step: upload\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"model\":\"gpt-4o\","
        )
    };
    let stalled = "0193a000-0000-7000-8000-0000000000a1";
    let mut tcp = TcpStream::connect(addr(&h)).await.unwrap();
    tcp.write_all(head(stalled).as_bytes()).await.unwrap();
    let (status, body) = read_response(&mut tcp).await;
    assert_eq!(status, 408, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "request_timeout");
    let r = h.record(stalled).await;
    assert_eq!(r["failure"], "request_timeout");
    assert_eq!(r["request_properties"]["step"], "upload");

    let abandoned = "0193a000-0000-7000-8000-0000000000a2";
    let mut tcp = TcpStream::connect(addr(&h)).await.unwrap();
    tcp.write_all(head(abandoned).as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(tcp);
    let r = h.record(abandoned).await;
    assert_eq!(r["failure"], "cancelled");
    assert_eq!(r["cancelled"], true);
    assert_eq!(r["response_status"], serde_json::Value::Null);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn many_headers_pass_and_too_many_get_heliports_431() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let a = auth(&h);
    let names: Vec<String> = (0..300).map(|i| format!("x-extra-{i}")).collect();
    // 150 headers: above hyper's default of 100, within heliport's 256.
    let mut headers: Vec<(&str, &str)> = names[..150].iter().map(|n| (n.as_str(), "1")).collect();
    headers.push(("helicone-auth", &a));
    let (s, _, b) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &headers,
        chat_body("hi", false),
    )
    .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    headers.push(("helicone-auth", &a));
    for (path, style_check) in [
        ("/v1/chat/completions", "/error/code"),
        ("/anthropic/v1/messages", "/error/type"),
        ("/gemini/v1beta/models/g:generateContent", "/error/status"),
    ] {
        let (s, _, b) = send("POST", &h.url(path), &headers, "{}").await;
        assert_eq!(s, 431, "{path}");
        let v = json(&b);
        assert!(v.pointer(style_check).is_some(), "{path}: {v}");
        assert!(v.to_string().contains("256"), "{path}: {v}");
    }
}

#[tokio::test]
async fn gemini_routes_answer_in_gemini_shape() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let path = "/gemini/v1beta/models/gemini-2.0-flash:generateContent";
    let (s, _, b) = send("POST", &h.url(path), &[], "{}").await;
    assert_eq!(s, 401);
    let v = json(&b);
    assert_eq!(v["error"]["code"], 401, "{v}");
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Helicone-Auth"));
    let (s, _, b) = send(
        "POST",
        &h.url(path),
        &[("helicone-auth", &auth(&h)), ("helicone-retry-num", "x")],
        "{}",
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(json(&b)["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn unicode_properties_users_and_sessions_are_recorded() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut req = http::Request::post(h.url("/v1/chat/completions"))
        .header("helicone-auth", auth(&h))
        .body(http_body_util::Full::new(bytes::Bytes::from(chat_body(
            "hi", false,
        ))))
        .unwrap();
    for (k, v) in [
        ("helicone-property-city", "Zürich"),
        ("helicone-user-id", "渡辺"),
        ("helicone-session-name", "Планы 📅"),
    ] {
        req.headers_mut()
            .insert(k, http::HeaderValue::from_bytes(v.as_bytes()).unwrap());
    }
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["helicone-id"].to_str().unwrap().to_string();
    let r = h.record(&id).await;
    assert_eq!(r["request_properties"]["city"], "Zürich");
    assert_eq!(r["request_user_id"], "渡辺");
    assert_eq!(r["session_name"], "Планы 📅");
    let rows = h
        .wait_records(
            serde_json::json!({"request_response_rmt": {"properties": {"city": {"equals": "Zürich"}}}}),
            1,
        )
        .await;
    assert_eq!(rows.len(), 1);
}
