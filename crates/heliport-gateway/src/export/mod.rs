//! Exports of recorded requests: PostHog events (`Helicone-Posthog-Key`) and
//! OpenTelemetry spans (`otel.endpoint`). They hang off one after-recording
//! fan-out with its own byte-bounded queue: the record writer only hands a
//! batch over, and a slow or failing collector never slows recording or
//! responses. Each exporter batches, retries with backoff and drops (counted)
//! what it cannot keep within its budget.

mod deliver;
mod otel;
mod posthog;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use heliport_core::options::PosthogOptions;
use heliport_core::record::RequestRecord;
use heliport_core::target::AllowedTargets;
use heliport_store::writer::AfterRecording;

pub use otel::OtelConfig;

use crate::upstream::Upstream;
use queue::{ByteQueue, Receiver};

/// Exports to set up (`heliport serve`'s configuration).
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// OpenTelemetry span export, when configured.
    pub otel: Option<OtelConfig>,
    /// Bytes of recorded requests waiting for the exporters.
    pub queue_max_bytes: usize,
    /// Client-supplied PostHog hosts may reach these despite the
    /// private-address check (`gateway.allowed_targets`).
    pub allowed_targets: AllowedTargets,
}

/// One recorded request on its way to the exporters.
struct Recorded {
    record: RequestRecord,
    posthog: Option<PosthogOptions>,
}

/// The fan-out's intake, handed to the record writer.
pub struct Exporters {
    queue: ByteQueue<Recorded>,
    otel: bool,
    bodies: bool,
}

/// Largest body kept in an exported span (`otel.include_bodies`).
const SPAN_BODY_BYTES: usize = 16 << 10;

impl AfterRecording for Exporters {
    fn recorded(&self, records: Vec<RequestRecord>, posthog: Vec<Option<PosthogOptions>>) {
        let mut destinations = posthog.into_iter();
        for mut record in records {
            let posthog = destinations.next().flatten();
            // An attempt that did not answer the request is not a request.
            if record.parent_request_id.is_some() || (posthog.is_none() && !self.otel) {
                continue;
            }
            if self.bodies {
                for b in [&mut record.request_body, &mut record.response_body]
                    .into_iter()
                    .flatten()
                {
                    truncate_at_char(b, SPAN_BODY_BYTES);
                }
            } else {
                record.request_body = None;
                record.response_body = None;
            }
            let weight = weight(&record);
            if !self.queue.push(Recorded { record, posthog }, weight) {
                metrics::counter!("heliport_export_dropped_total", "exporter" => "fan-out")
                    .increment(1);
            }
        }
    }
}

fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Bytes a record holds while it waits.
fn weight(r: &RequestRecord) -> usize {
    512 + r.request_body.as_ref().map_or(0, String::capacity)
        + r.response_body.as_ref().map_or(0, String::capacity)
        + heliport_core::record::pairs_weight(&r.properties)
        + r.prompt_inputs
            .as_deref()
            .map_or(0, heliport_core::record::pairs_weight)
        + r.path.len()
        + r.target_url.len()
}

/// Start the fan-out and the exporters on the current runtime.
pub fn start(cfg: ExportConfig, upstream: Upstream) -> Arc<Exporters> {
    for exporter in ["fan-out", "posthog", "otel"] {
        metrics::counter!("heliport_export_sent_total", "exporter" => exporter).increment(0);
        metrics::counter!("heliport_export_failures_total", "exporter" => exporter).increment(0);
        metrics::counter!("heliport_export_dropped_total", "exporter" => exporter).increment(0);
    }
    let (queue, rx) = queue::channel(cfg.queue_max_bytes);
    let posthog = posthog::start(upstream.clone(), cfg.allowed_targets.clone());
    let otel = cfg.otel.clone().map(|c| otel::start(c, upstream));
    let exporters = Arc::new(Exporters {
        queue,
        otel: otel.is_some(),
        bodies: cfg.otel.as_ref().is_some_and(|c| c.include_bodies),
    });
    tokio::spawn(fan_out(rx, posthog, otel));
    exporters
}

/// Hands each recorded request to the exporters that want it.
async fn fan_out(mut rx: Receiver<Recorded>, posthog: posthog::Handle, otel: Option<otel::Handle>) {
    while let Some(r) = rx.recv().await {
        if let Some(dest) = &r.posthog {
            posthog.push(&r.record, dest);
        }
        if let Some(otel) = &otel {
            otel.push(&r.record);
        }
    }
}

/// How an exporter retries a batch: up to 5 more tries, waiting 1, 2, 4, 8
/// and 16 s, after which the batch is dropped and counted.
const RETRIES: u32 = 5;

fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(4))
}

/// Events an exporter sends at once, and how long it waits to fill a batch.
const BATCH_EVENTS: usize = 100;
const BATCH_LINGER: Duration = Duration::from_secs(1);
