//! The response cache phase (SPEC §3.4): a hit is replayed through the tee
//! and recorded, never reaching the upstream or a rate limit; a miss fills
//! the next bucket slot once its answer has ended complete and successful.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use chrono::Utc;
use heliport_core::extract::ApiFlavor;
use heliport_core::record::{CacheHit, Exchange, Outcome};
use heliport_core::redact::redact_query;
use heliport_core::traffic;
use heliport_state::{CacheKey, CachedResponse, ResponseCache};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body::Frame;
use rand::Rng;
use uuid::Uuid;

use crate::attempts::Target;
use crate::pipeline::{self, Ctx};
use crate::state::GatewayState;
use crate::tee::{CompletionHook, PendingRecord, TeeBody};

/// What the cache phase decided for one request.
pub(crate) enum CacheDecision {
    /// `Helicone-Cache-Enabled` is not on.
    Off,
    /// Answered from slot `bucket_idx`.
    Hit { bucket_idx: u32 },
    /// Not answered from the cache; the answer fills `fill` when there is
    /// one (none when the cache could not be read: writes are skipped then).
    Miss { fill: Option<(CacheKey, u8)> },
}

/// Look the request up; on a hit, the replayed answer.
pub(crate) async fn lookup(
    state: &GatewayState,
    ctx: &mut Ctx,
    targets: &[Target],
) -> Option<Response<Body>> {
    let opts = &ctx.opts.cache;
    if !opts.enabled {
        return None;
    }
    let first = targets.first()?;
    let key = CacheKey {
        org_id: Arc::from(ctx.org_id.as_deref().unwrap_or_default()),
        // Credentials in the URL (Gemini's `?key=`) are not part of the key:
        // one organization shares its cache whatever provider key it sends.
        digest: traffic::cache_digest(
            &redact_query(&first.route.upstream_url),
            ctx.method.as_str(),
            &first.body,
            &opts.ignore_keys,
            opts.seed.as_deref(),
        ),
    };
    let slots = opts.bucket_max_size.max(1);
    let entries = match state.cache.lookup(&key, slots).await {
        Ok(e) => e,
        Err(e) => {
            // An unreadable cache is a miss; the request goes on.
            metrics::counter!("heliport_cache_errors_total", "op" => "lookup").increment(1);
            tracing::debug!(error = %e, "cache lookup failed: treated as a miss");
            ctx.cache = CacheDecision::Miss { fill: None };
            return None;
        }
    };
    let live: Vec<(u8, Arc<CachedResponse>)> = entries
        .into_iter()
        .filter(|(slot, _)| *slot < slots)
        .collect();
    if live.len() < usize::from(slots) {
        // Fewer answers than buckets: this one goes upstream and fills the next slot.
        let free = (0..slots).find(|s| !live.iter().any(|(used, _)| used == s));
        metrics::counter!("heliport_cache_lookups_total", "result" => "miss").increment(1);
        ctx.cache = CacheDecision::Miss {
            fill: free.map(|slot| (key, slot)),
        };
        return None;
    }
    let pick = rand::rng().random_range(0..live.len());
    let (slot, entry) = live.into_iter().nth(pick)?;
    metrics::counter!("heliport_cache_lookups_total", "result" => "hit").increment(1);
    ctx.cache = CacheDecision::Hit {
        bucket_idx: u32::from(slot),
    };
    // A hit is not limited, but under a policy it still says where the bucket stands.
    crate::rate_limit::peek(state, ctx).await;
    Some(replay(state, ctx, first, slot, &entry))
}

/// The cached answer, through the tee, recorded as a hit.
fn replay(
    state: &GatewayState,
    ctx: &Ctx,
    target: &Target,
    slot: u8,
    entry: &CachedResponse,
) -> Response<Body> {
    let route = &target.route;
    let status = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
    let mut ex = pipeline::exchange(state, ctx, Some(route), Some(&target.body));
    ex.cache_hit = Some(CacheHit {
        reference_id: entry.source_request_id,
        bucket_idx: u32::from(slot),
        saved_nano_usd: entry.cost_nano_usd,
        usage: entry.usage,
        model: entry.model.clone(),
    });
    ex.status = Some(entry.status);
    ex.response_created_at = Some(Utc::now());
    ex.attempts = 0;
    let pending = PendingRecord::new(ex, state.recorder.clone(), ctx.started);
    let mut headers = HeaderMap::with_capacity(entry.headers.len() + 6);
    for (k, v) in &entry.headers {
        // The replayed body sets its own length.
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(name, value);
        }
    }
    pipeline::add_helicone_headers(&mut headers, ctx, status.is_success());
    let body = TeeBody::new(
        ReplayBody::new(&entry.body, entry.streamed),
        pending,
        entry.streamed,
        ApiFlavor::from_path(&route.upstream_path),
        state.cfg.body_cap_bytes,
        state.cfg.stream_idle_timeout,
    );
    let mut resp = Response::new(Body::new(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// On a miss with a free slot, save the upstream's answer once it has ended
/// complete and successful.
pub(crate) fn on_upstream_answer(
    state: &GatewayState,
    ctx: &Ctx,
    pending: &mut PendingRecord,
    status: StatusCode,
    headers: &HeaderMap,
    streamed: bool,
) {
    let CacheDecision::Miss {
        fill: Some((key, slot)),
    } = &ctx.cache
    else {
        return;
    };
    // An omitted answer is written nowhere, the cache included.
    if !status.is_success() || ctx.opts.omit_response {
        return;
    }
    if let Some(ex) = pending.exchange_mut() {
        ex.cache_fill_slot = Some(u32::from(*slot));
    }
    let hook = SaveAnswer {
        cache: state.cache.clone(),
        key: key.clone(),
        slot: *slot,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        streamed,
        ttl: Duration::from_secs(ctx.opts.cache.ttl_secs),
        request_id: ctx.request_id,
    };
    pending.on_complete(Box::new(hook), &state.prices);
}

/// `Helicone-Cache` and `Helicone-Cache-Bucket-Idx`.
pub(crate) fn add_headers(h: &mut HeaderMap, decision: &CacheDecision) {
    match decision {
        CacheDecision::Off => {}
        CacheDecision::Hit { bucket_idx } => {
            h.insert("helicone-cache", HeaderValue::from_static("HIT"));
            h.insert("helicone-cache-bucket-idx", HeaderValue::from(*bucket_idx));
        }
        CacheDecision::Miss { .. } => {
            h.insert("helicone-cache", HeaderValue::from_static("MISS"));
        }
    }
}

/// Saves a complete successful answer in its slot.
struct SaveAnswer {
    cache: Arc<dyn ResponseCache>,
    key: CacheKey,
    slot: u8,
    headers: Vec<(String, String)>,
    streamed: bool,
    ttl: Duration,
    request_id: Uuid,
}

impl CompletionHook for SaveAnswer {
    fn on_complete(self: Box<Self>, outcome: &Outcome, exchange: &Exchange) {
        let success = outcome
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .is_some_and(|s| s.is_success());
        // Only a whole answer is worth replaying; one longer than the record
        // cap was not kept whole.
        if !outcome.complete || !success || exchange.response_body.truncated {
            return;
        }
        let now = Utc::now().timestamp_millis();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let entry = CachedResponse {
            status: outcome.status.unwrap_or(200),
            headers: self.headers,
            body: Bytes::copy_from_slice(exchange.response_body.head()),
            streamed: self.streamed,
            source_request_id: self.request_id,
            model: outcome.model.clone(),
            usage: outcome.usage,
            cost_nano_usd: outcome.cost_nano_usd,
            stored_at_ms: now,
            expires_at_ms: now.saturating_add(ttl_ms),
        };
        let (cache, key, slot) = (self.cache, self.key, self.slot);
        crate::tee::run_soon(async move {
            if let Err(e) = cache.store(&key, slot, entry).await {
                metrics::counter!("heliport_cache_errors_total", "op" => "store").increment(1);
                tracing::debug!(error = %e, "cache store failed: the answer is not cached");
            }
        });
    }
}

/// A cached body replayed: a JSON answer in one frame, a stream one event
/// per frame, as an upstream would send them.
pub(crate) struct ReplayBody {
    frames: VecDeque<Bytes>,
}

impl ReplayBody {
    fn new(body: &Bytes, streamed: bool) -> Self {
        let frames = if streamed {
            split_events(body)
        } else {
            VecDeque::from([body.clone()])
        };
        ReplayBody { frames }
    }
}

/// Cut an SSE body after each blank line (`\n\n`, `\r\n\r\n`, or mixed).
fn split_events(body: &Bytes) -> VecDeque<Bytes> {
    let mut out = VecDeque::new();
    let mut start = 0;
    let mut i = 0;
    let bytes = body.as_ref();
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if b != b'\n' {
            continue;
        }
        let blank = match bytes.get(i) {
            Some(b'\n') => Some(i + 1),
            Some(b'\r') if bytes.get(i + 1) == Some(&b'\n') => Some(i + 2),
            _ => None,
        };
        if let Some(end) = blank {
            out.push_back(body.slice(start..end));
            start = end;
            i = end;
        }
    }
    if start < bytes.len() {
        out.push_back(body.slice(start..));
    }
    out
}

impl http_body::Body for ReplayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .frames
                .pop_front()
                .map(|b| Ok(Frame::data(b))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.frames.iter().map(|b| b.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_replay_one_event_per_frame() {
        let body =
            Bytes::from_static(b"data: 1\n\ndata: 2\r\n\r\nevent: x\ndata: 3\n\ndata: [DONE]\n\n");
        let frames: Vec<Bytes> = split_events(&body).into();
        assert_eq!(
            frames,
            vec![
                Bytes::from_static(b"data: 1\n\n"),
                Bytes::from_static(b"data: 2\r\n\r\n"),
                Bytes::from_static(b"event: x\ndata: 3\n\n"),
                Bytes::from_static(b"data: [DONE]\n\n"),
            ]
        );
        let tail = Bytes::from_static(b"data: 1\n\ndata: 2");
        assert_eq!(split_events(&tail).len(), 2);
    }
}
