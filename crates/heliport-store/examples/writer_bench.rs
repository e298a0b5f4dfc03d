//! Records/s of the record writer's insert path (the SQLite sink), without
//! HTTP: synthetic records inserted in batches of 512, as the writer does.
//!
//! `cargo run --release -p heliport-store --example writer_bench -- [N] [plain|rich]`
//!
//! `plain` records look like `bench/run.sh`'s (no user, session or
//! properties); `rich` ones carry a user, a session with a path, three
//! properties and a prompt id, so every rollup the writer keeps is touched.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark: any failure should stop it loudly"
)]

use std::time::{Duration, Instant};

use chrono::Utc;
use heliport_core::record::RequestRecord;
use heliport_core::usage::Usage;

fn record(i: u64, rich: bool) -> RequestRecord {
    let models = [
        "gpt-4o",
        "gpt-4o-mini",
        "claude-3-5-sonnet",
        "gemini-1.5-pro",
    ];
    let model = models[(i % 4) as usize].to_string();
    let mut r = RequestRecord {
        uid: uuid::Uuid::now_v7(),
        request_id: uuid::Uuid::new_v4(),
        org_id: "bench-org".into(),
        created_at: Utc::now(),
        response_created_at: Some(Utc::now()),
        provider: "openai".into(),
        target_url: "http://127.0.0.1:9999/v1/chat/completions".into(),
        path: "/v1/chat/completions".into(),
        method: "POST".into(),
        status: Some(if i % 50 < 1 { 500 } else { 200 }),
        request_model: Some(model.clone()),
        response_model: Some(model.clone()),
        model: Some(model),
        latency_ms: Some(100 + i % 900),
        time_to_first_token_ms: Some(20 + i % 200),
        usage: Some(Usage {
            prompt_tokens: 12 + i % 100,
            completion_tokens: 30 + i % 300,
            ..Usage::default()
        }),
        cost_nano_usd: Some(57_500 + (i % 1000) as i64),
        attempts: 1,
        request_body: Some(
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Say hello to the benchmark, please."}]}"#
                .into(),
        ),
        response_body: Some(
            r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the heliport mock."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}"#
                .into(),
        ),
        body_cap_bytes: 1 << 20,
        ..RequestRecord::default()
    };
    if rich {
        r.user_id = Some(format!("user-{}", i % 2000));
        r.session_id = Some(format!("session-{}", i / 8));
        r.session_path = Some(format!("/step/{}", i % 8));
        r.session_name = Some("bench".into());
        r.properties = vec![
            (
                "environment".into(),
                ["prod", "staging", "dev"][(i % 3) as usize].into(),
            ),
            ("feature".into(), format!("feature-{}", i % 12)),
            ("customer".into(), format!("customer-{}", i % 500)),
        ];
        r.prompt_id = Some(format!("prompt-{}", i % 5));
        r.prompt_template = Some(format!("template {}", i % 10));
    }
    r
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse().expect("N"))
        .unwrap_or(200_000);
    let rich = args.next().as_deref() == Some("rich");
    let dir = std::env::temp_dir().join(format!("heliport-writer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/bench.db", dir.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(heliport_store::SqliteStore::open(&url))
        .unwrap();
    let sink = heliport_store::sqlite::sink::SqliteRecordSink::open(&url).unwrap();
    let mut versions = heliport_store::sqlite::sink::PromptVersionCache::default();
    let batch = 512u64;
    let mut busy = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let mut records: Vec<RequestRecord> =
            (i..(i + batch).min(n)).map(|k| record(k, rich)).collect();
        let t = Instant::now();
        sink.insert(&mut records, &mut versions).unwrap();
        busy += t.elapsed();
        i += batch;
    }
    println!(
        "{} records ({}): {:.0} records/s in the insert path ({:.2} s)",
        n,
        if rich { "rich" } else { "plain" },
        n as f64 / busy.as_secs_f64(),
        busy.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}
