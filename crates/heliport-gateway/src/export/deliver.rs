//! What every exporter does with its queue: batch, send, retry with
//! backoff, and count what was sent, what failed and what was dropped.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;

use super::queue::Receiver;
use super::{backoff, BATCH_EVENTS, BATCH_LINGER, RETRIES};
use crate::upstream::{Pool, Upstream};

/// Longest wait for a collector's answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One request to a collector, carrying `events` events.
pub(super) struct Outgoing {
    pub url: String,
    pub body: Bytes,
    pub content_type: &'static str,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// The guarded pool for a client-supplied URL (private addresses refused).
    pub pool: Pool,
    pub events: u64,
}

/// Turns a batch of queued items into requests.
pub(super) trait Encode: Send + 'static {
    type Item: Send + 'static;
    /// The exporter's name in metrics and logs.
    const NAME: &'static str;
    fn encode(&self, batch: Vec<Self::Item>) -> Vec<Outgoing>;
}

/// Drain `rx` for ever: batches of up to [`BATCH_EVENTS`] items, waiting at
/// most [`BATCH_LINGER`] for a batch to fill.
pub(super) async fn run<E: Encode>(encoder: E, mut rx: Receiver<E::Item>, upstream: Upstream) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = Instant::now() + BATCH_LINGER;
        while batch.len() < BATCH_EVENTS {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(item)) => batch.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        for out in encoder.encode(batch) {
            deliver(&upstream, E::NAME, out).await;
        }
    }
}

/// Send one request, retrying failures; what cannot be sent is dropped and
/// counted.
async fn deliver(upstream: &Upstream, name: &'static str, out: Outgoing) {
    for attempt in 0..=RETRIES {
        match send_once(upstream, &out).await {
            Ok(()) => {
                metrics::counter!("heliport_export_sent_total", "exporter" => name)
                    .increment(out.events);
                return;
            }
            Err((why, retryable)) => {
                metrics::counter!("heliport_export_failures_total", "exporter" => name)
                    .increment(1);
                tracing::warn!(exporter = name, attempt, error = %why, "export failed");
                if !retryable {
                    break;
                }
                if attempt < RETRIES {
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }
    metrics::counter!("heliport_export_dropped_total", "exporter" => name).increment(out.events);
}

/// One try; the error says whether another may succeed.
async fn send_once(upstream: &Upstream, out: &Outgoing) -> Result<(), (String, bool)> {
    let mut req = Request::post(out.url.as_str())
        .header(header::CONTENT_TYPE, out.content_type)
        .body(Full::new(out.body.clone()))
        .map_err(|e| (format!("cannot build the request: {e}"), false))?;
    for (k, v) in &out.headers {
        req.headers_mut().insert(k.clone(), v.clone());
    }
    let resp = upstream
        .send(req, out.pool, SEND_TIMEOUT)
        .await
        .map_err(|e| {
            let retryable = e.retryable();
            (e.to_string(), retryable)
        })?;
    let status = resp.status();
    // The answer is read so the connection can be reused.
    let _ = tokio::time::timeout(SEND_TIMEOUT, resp.into_body().collect()).await;
    if status.is_success() {
        return Ok(());
    }
    let retryable = status.is_server_error() || status.as_u16() == 429;
    Err((format!("the collector answered {status}"), retryable))
}
