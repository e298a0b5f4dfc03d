#![allow(clippy::unwrap_used)]
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let mock = heliport_mock::spawn().await.unwrap();
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello to me please"}]}"#;
    let sbody = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to me please"}]}"#;
    for (name, b) in [("json", body), ("stream", sbody)] {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let url = format!("{}/v1/chat/completions", mock.base_url());
        let start = Instant::now();
        let dur = Duration::from_secs(3);
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let client = client.clone();
            let url = url.clone();
            let b = b.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < dur {
                    let req = http::Request::post(&url)
                        .body(Full::new(Bytes::from(b.clone())))
                        .unwrap();
                    let resp = client.request(req).await.unwrap();
                    let _ = resp.into_body().collect().await.unwrap();
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        println!(
            "{name}: {} req/s",
            total as f64 / start.elapsed().as_secs_f64()
        );
    }
}
