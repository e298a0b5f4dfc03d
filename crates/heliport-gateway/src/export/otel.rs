//! OpenTelemetry export: every recorded request becomes a span, sent over
//! OTLP/HTTP (protobuf) to `otel.endpoint`, following the GenAI semantic
//! conventions (`gen_ai.system`, `gen_ai.operation.name`,
//! `gen_ai.request.model`, `gen_ai.response.model`,
//! `gen_ai.usage.input_tokens` / `output_tokens`) plus heliport's cost, user,
//! session and properties. The messages are the OpenTelemetry project's own
//! (opentelemetry-proto), encoded with prost.

use bytes::Bytes;
use heliport_core::record::RequestRecord;
use http::{HeaderName, HeaderValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;

use super::deliver::{self, Encode, Outgoing};
use super::queue::{self, ByteQueue};
use crate::upstream::{Pool, Upstream};

/// `otel.*` configuration.
#[derive(Debug, Clone)]
pub struct OtelConfig {
    /// The OTLP/HTTP traces URL (`.../v1/traces`).
    pub endpoint: String,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// Export request and response bodies (capped) as span attributes.
    pub include_bodies: bool,
    /// Extra headers for the collector (e.g. an API key), never logged.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Bytes of spans waiting to be sent.
const QUEUE_BYTES: usize = 16 << 20;

/// The fan-out's side of the exporter.
pub(super) struct Handle {
    queue: ByteQueue<Span>,
}

impl Handle {
    pub(super) fn push(&self, r: &RequestRecord) {
        let span = span_of(r);
        let weight = span.encoded_len() + 64;
        if !self.queue.push(span, weight) {
            metrics::counter!("heliport_export_dropped_total", "exporter" => "otel").increment(1);
        }
    }
}

/// Start the exporter on the current runtime.
pub(super) fn start(cfg: OtelConfig, upstream: Upstream) -> Handle {
    let (queue, rx) = queue::channel(QUEUE_BYTES);
    tokio::spawn(deliver::run(Encoder { cfg }, rx, upstream));
    Handle { queue }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn text(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

fn int(key: &str, v: u64) -> KeyValue {
    kv(
        key,
        any_value::Value::IntValue(i64::try_from(v).unwrap_or(i64::MAX)),
    )
}

/// `gen_ai.system` for heliport's provider names.
fn gen_ai_system(provider: &str) -> &str {
    match provider {
        "gemini" => "gcp.gemini",
        "azure" => "az.ai.openai",
        "mistral" => "mistral_ai",
        other => other,
    }
}

/// `gen_ai.operation.name` from the upstream path.
fn operation(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or_default();
    if path.ends_with("/chat/completions")
        || path.ends_with("/messages")
        || path.ends_with("/responses")
    {
        "chat"
    } else if path.ends_with("/completions") {
        "text_completion"
    } else if path.ends_with("/embeddings") {
        "embeddings"
    } else if path.contains(":generateContent") || path.contains(":streamGenerateContent") {
        "generate_content"
    } else {
        "http"
    }
}

fn nanos(t: chrono::DateTime<chrono::Utc>) -> u64 {
    t.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// The span of one recorded request: the request id is the trace id, so a
/// trace found in a collector leads back to the record.
fn span_of(r: &RequestRecord) -> Span {
    let op = operation(&r.path);
    let start = nanos(r.created_at);
    let end = start.saturating_add(r.latency_ms.unwrap_or(0).saturating_mul(1_000_000));
    let mut attrs = vec![
        text("gen_ai.system", gen_ai_system(&r.provider)),
        text("gen_ai.operation.name", op),
        text("heliport.request_id", r.request_id.to_string()),
        text("url.full", r.target_url.clone()),
        kv("heliport.cached", any_value::Value::BoolValue(r.cached)),
        kv("heliport.stream", any_value::Value::BoolValue(r.stream)),
    ];
    if let Some(m) = &r.request_model {
        attrs.push(text("gen_ai.request.model", m.clone()));
    }
    if let Some(m) = &r.response_model {
        attrs.push(text("gen_ai.response.model", m.clone()));
    }
    if let Some(m) = &r.model {
        attrs.push(text("heliport.model", m.clone()));
    }
    if let Some(u) = &r.usage {
        attrs.push(int("gen_ai.usage.input_tokens", u.prompt_tokens));
        attrs.push(int("gen_ai.usage.output_tokens", u.completion_tokens));
    }
    if let Some(c) = r.cost_nano_usd {
        attrs.push(kv(
            "heliport.cost_usd",
            any_value::Value::DoubleValue(c as f64 / 1e9),
        ));
    }
    if let Some(s) = r.status {
        attrs.push(int("http.response.status_code", u64::from(s)));
    }
    if let Some(t) = r.time_to_first_token_ms {
        attrs.push(int("heliport.time_to_first_token_ms", t));
    }
    for (key, value) in [
        ("enduser.id", &r.user_id),
        ("session.id", &r.session_id),
        ("heliport.session.path", &r.session_path),
        ("heliport.session.name", &r.session_name),
        ("heliport.prompt.id", &r.prompt_id),
        ("error.type", &r.failure),
    ] {
        if let Some(v) = value {
            attrs.push(text(key, v.clone()));
        }
    }
    for (k, v) in &r.properties {
        attrs.push(text(&format!("heliport.property.{k}"), v.clone()));
    }
    // Bodies are present only when `otel.include_bodies` kept them.
    if let Some(b) = &r.request_body {
        attrs.push(text("gen_ai.prompt", b.clone()));
    }
    if let Some(b) = &r.response_body {
        attrs.push(text("gen_ai.completion", b.clone()));
    }
    let failed = r.failure.is_some() || r.status.is_some_and(|s| s >= 400);
    let name = match &r.request_model {
        Some(m) => format!("{op} {m}"),
        None => op.to_string(),
    };
    Span {
        trace_id: r.request_id.as_bytes().to_vec(),
        span_id: r
            .uid
            .as_bytes()
            .get(8..)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        name,
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        status: Some(Status {
            code: if failed {
                status::StatusCode::Error as i32
            } else {
                status::StatusCode::Unset as i32
            },
            message: r.failure.clone().unwrap_or_default(),
        }),
        ..Default::default()
    }
}

struct Encoder {
    cfg: OtelConfig,
}

impl Encode for Encoder {
    type Item = Span;
    const NAME: &'static str = "otel";

    fn encode(&self, spans: Vec<Span>) -> Vec<Outgoing> {
        let events = spans.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![text("service.name", self.cfg.service_name.clone())],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "heliport".to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        vec![Outgoing {
            url: self.cfg.endpoint.clone(),
            body: Bytes::from(request.encode_to_vec()),
            content_type: "application/x-protobuf",
            headers: self.cfg.headers.clone(),
            // An operator's endpoint: trusted like a configured provider.
            pool: Pool::Open,
            events,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heliport_core::usage::Usage;

    #[test]
    fn spans_follow_the_gen_ai_conventions() {
        let r = RequestRecord {
            request_id: crate::ids::new_v7(),
            uid: crate::ids::new_v7(),
            provider: "openai".into(),
            path: "/v1/chat/completions".into(),
            request_model: Some("gpt-4o".into()),
            response_model: Some("gpt-4o-2024-08-06".into()),
            usage: Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
                ..Default::default()
            }),
            cost_nano_usd: Some(57_500),
            latency_ms: Some(20),
            status: Some(200),
            user_id: Some("alice".into()),
            properties: vec![("team".into(), "search".into())],
            ..Default::default()
        };
        let s = span_of(&r);
        assert_eq!(s.name, "chat gpt-4o");
        assert_eq!(s.trace_id, r.request_id.as_bytes().to_vec());
        assert_eq!(s.span_id.len(), 8);
        assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 20_000_000);
        let attr = |k: &str| {
            s.attributes
                .iter()
                .find(|a| a.key == k)
                .and_then(|a| a.value.clone())
                .and_then(|v| v.value)
        };
        assert_eq!(
            attr("gen_ai.system"),
            Some(any_value::Value::StringValue("openai".into()))
        );
        assert_eq!(
            attr("gen_ai.usage.input_tokens"),
            Some(any_value::Value::IntValue(3))
        );
        assert_eq!(
            attr("gen_ai.usage.output_tokens"),
            Some(any_value::Value::IntValue(5))
        );
        assert_eq!(
            attr("heliport.cost_usd"),
            Some(any_value::Value::DoubleValue(0.0000575))
        );
        assert_eq!(
            attr("enduser.id"),
            Some(any_value::Value::StringValue("alice".into()))
        );
        assert_eq!(
            attr("heliport.property.team"),
            Some(any_value::Value::StringValue("search".into()))
        );
        assert!(
            attr("gen_ai.prompt").is_none(),
            "no bodies unless configured"
        );
    }
}
