//! Time to the first streamed event, for `bench/run.sh`: sends `N`
//! sequential streaming requests over one keep-alive connection and reports
//! the median and 99th percentile, in microseconds, from the request's first
//! byte sent to the first body bytes holding `data:`, as one JSON line.
//!
//! `first_event URL N BODY [HEADER:VALUE]...`

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, n, body, headers @ ..] = args.as_slice() else {
        return Err("usage: first_event URL N BODY [HEADER:VALUE]...".into());
    };
    let uri: http::Uri = url.parse()?;
    let n: usize = n.parse()?;
    let authority = uri.authority().ok_or("the URL has no host")?.clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = http::Request::post(target)
            .header(http::header::HOST, authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json");
        for h in headers {
            let (k, v) = h.split_once(':').ok_or("headers are NAME:VALUE")?;
            req = req.header(k.trim(), v.trim());
        }
        let req = req.body(Full::new(Bytes::from(body.clone())))?;
        send.ready().await?;
        let began = Instant::now();
        let resp = send.send_request(req).await?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()).into());
        }
        let mut body = resp.into_body();
        let mut first = None;
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            if first.is_none() {
                if let Some(data) = frame.data_ref() {
                    if data.windows(5).any(|w| w == b"data:") {
                        first = Some(began.elapsed());
                    }
                }
            }
        }
        times.push(first.ok_or("no event in the answer")?);
    }
    times.sort();
    let pick = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(i).copied().unwrap_or(Duration::ZERO).as_micros()
    };
    println!(
        "{{\"requests\":{},\"p50_us\":{},\"p99_us\":{}}}",
        times.len(),
        pick(0.5),
        pick(0.99)
    );
    Ok(())
}
