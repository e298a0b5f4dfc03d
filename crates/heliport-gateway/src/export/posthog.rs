//! PostHog events (`Helicone-Posthog-Key`, `-Host`): after a request is
//! recorded, a `helicone_request_response` event goes to `<host>/capture/`,
//! batched per host and key. The key travels only in the request body: it is
//! never stored, spooled or logged.

use std::collections::BTreeMap;

use bytes::Bytes;
use heliport_core::options::PosthogOptions;
use heliport_core::record::RequestRecord;
use heliport_core::target::AllowedTargets;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use super::deliver::{self, Encode, Outgoing};
use super::queue::{self, ByteQueue};
use crate::upstream::{Pool, Upstream};

/// Bytes of events waiting to be sent.
const QUEUE_BYTES: usize = 8 << 20;

/// One event and where it goes.
pub(super) struct Event {
    host: String,
    key: SecretString,
    event: Value,
}

/// The fan-out's side of the PostHog exporter.
pub(super) struct Handle {
    queue: ByteQueue<Event>,
}

impl Handle {
    pub(super) fn push(&self, r: &RequestRecord, dest: &PosthogOptions) {
        let event = event(r);
        let weight = 256 + event.to_string().len();
        let item = Event {
            host: dest.host.clone(),
            key: dest.key.clone(),
            event,
        };
        if !self.queue.push(item, weight) {
            metrics::counter!("heliport_export_dropped_total", "exporter" => "posthog")
                .increment(1);
        }
    }
}

/// Start the exporter on the current runtime.
pub(super) fn start(upstream: Upstream, allowed: AllowedTargets) -> Handle {
    let (queue, rx) = queue::channel(QUEUE_BYTES);
    tokio::spawn(deliver::run(Encoder { allowed }, rx, upstream));
    Handle { queue }
}

/// The event SPEC §3 describes: distinct id = user id or request id.
fn event(r: &RequestRecord) -> Value {
    let usage = r.usage.as_ref();
    let mut props = Map::new();
    // Custom properties first: the standard fields win a name clash.
    for (k, v) in &r.properties {
        props.insert(k.clone(), Value::String(v.clone()));
    }
    let standard = json!({
        "model": r.model,
        "provider": r.provider,
        "path": r.path,
        "prompt_tokens": usage.map(|u| u.prompt_tokens),
        "completion_tokens": usage.map(|u| u.completion_tokens),
        "total_tokens": usage.map(|u| u.total_tokens()),
        "cost_usd": r.cost_nano_usd.map(|c| c as f64 / 1e9),
        "latency_ms": r.latency_ms,
        "time_to_first_token_ms": r.time_to_first_token_ms,
        "status": r.status,
        "request_id": r.request_id.to_string(),
        "user_id": r.user_id,
        "session_id": r.session_id,
        "cached": r.cached,
        "$lib": "heliport",
    });
    if let Value::Object(fields) = standard {
        props.extend(fields);
    }
    json!({
        "event": "helicone_request_response",
        "distinct_id": r.user_id.clone().unwrap_or_else(|| r.request_id.to_string()),
        "timestamp": r.created_at.to_rfc3339(),
        "properties": props,
    })
}

struct Encoder {
    allowed: AllowedTargets,
}

impl Encode for Encoder {
    type Item = Event;
    const NAME: &'static str = "posthog";

    fn encode(&self, batch: Vec<Event>) -> Vec<Outgoing> {
        // One request per destination: host and key.
        let mut groups: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
        let mut keys: BTreeMap<(String, String), SecretString> = BTreeMap::new();
        for e in batch {
            let id = (e.host.clone(), fingerprint(&e.key));
            keys.entry(id.clone()).or_insert_with(|| e.key.clone());
            groups.entry(id).or_default().push(e.event);
        }
        groups
            .into_iter()
            .filter_map(|(id, events)| {
                let key = keys.get(&id)?;
                let url = format!("{}/capture/", id.0.trim_end_matches('/'));
                let body = json!({"api_key": key.expose_secret(), "batch": events});
                Some(Outgoing {
                    pool: if self.allowed.allows(&url) {
                        Pool::Open
                    } else {
                        Pool::Guarded
                    },
                    events: events_len(&body),
                    url,
                    body: Bytes::from(body.to_string()),
                    content_type: "application/json",
                    headers: Vec::new(),
                })
            })
            .collect()
    }
}

fn events_len(body: &Value) -> u64 {
    body.get("batch")
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u64)
}

/// A short stand-in for a key when grouping: the key itself never becomes a
/// map key that could be printed.
fn fingerprint(key: &SecretString) -> String {
    hex::encode(blake3::hash(key.expose_secret().as_bytes()).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use heliport_core::usage::Usage;

    #[test]
    fn events_carry_what_spec_lists() {
        let r = RequestRecord {
            request_id: uuid::Uuid::nil(),
            model: Some("gpt-4o".into()),
            provider: "openai".into(),
            path: "/v1/chat/completions".into(),
            usage: Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
                ..Default::default()
            }),
            cost_nano_usd: Some(57_500),
            latency_ms: Some(12),
            time_to_first_token_ms: Some(4),
            status: Some(200),
            properties: vec![
                ("team".into(), "search".into()),
                ("model".into(), "x".into()),
            ],
            ..Default::default()
        };
        let e = event(&r);
        assert_eq!(e["event"], "helicone_request_response");
        assert_eq!(e["distinct_id"], uuid::Uuid::nil().to_string());
        let p = &e["properties"];
        assert_eq!(p["model"], "gpt-4o", "standard fields win");
        assert_eq!(p["team"], "search");
        assert_eq!(p["total_tokens"], 8);
        assert_eq!(p["cost_usd"], 0.0000575);
        assert_eq!(p["time_to_first_token_ms"], 4);
    }
}
