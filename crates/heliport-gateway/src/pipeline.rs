//! The life of one proxied request. [`handle`] lists the phases in order, as
//! Pingora's `ProxyHttp` does; each phase is a small function over the
//! request context [`Ctx`], and what a phase decides lands in the context:
//!
//! options → route → auth → admit → body → prompt → targets → cache lookup
//! (a hit is replayed and recorded, never limited) → rate limit → guards →
//! upstream attempts (retries × fallback entries) → response headers → body
//! tee → completion hooks (settle `u=cents`, save the cache entry).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use heliport_core::error::{ErrorCode, ErrorStyle, GatewayError};
use heliport_core::extract::ApiFlavor;
use heliport_core::options::RequestOptions;
use heliport_core::provider::{self, Route};
use heliport_core::record::{CapturedBody, Exchange, RequestMeta};
use heliport_core::redact::redact_query;
use http::{header, HeaderName, HeaderValue, Request, Response};
use uuid::Uuid;

use crate::attempts::{self, Answer};
use crate::cache::{self, CacheDecision};
use crate::rate_limit::{self, LimitDecision};
use crate::state::GatewayState;
use crate::tee::{HeadStart, TeeBody, HEAD_START_WAIT};
use crate::{auth, guards, headers, request_body};

/// Per-request context: what the phases decided so far.
pub(crate) struct Ctx {
    pub started: Instant,
    pub created_at: DateTime<Utc>,
    pub request_id: Uuid,
    pub style: ErrorStyle,
    pub method: http::Method,
    pub path: String,
    /// The `Host` the request came to (Helicone-style hosts route by it).
    pub host: Option<String>,
    pub org_id: Option<String>,
    pub key_id: Option<String>,
    pub route: Option<Arc<Route>>,
    pub opts: RequestOptions,
    pub request_body: Bytes,
    pub original_request_body: Option<Bytes>,
    pub prompt_inputs: Option<Vec<(String, String)>>,
    /// The cache phase's decision (enabled requests only).
    pub cache: CacheDecision,
    /// The rate-limit phase's decision (requests under a policy only).
    pub limit: Option<LimitDecision>,
    /// Set once fallbacks were tried: which entry answered.
    pub fallback_index: Option<u32>,
    /// Upstream calls made so far.
    pub attempts: u32,
    /// Time spent waiting on the upstream (for `Server-Timing`).
    pub upstream_ms: Option<f64>,
    /// Refused by moderation / by the prompt-injection screen.
    pub flagged: bool,
    pub threat: bool,
}

/// Entry point for every proxied request.
pub async fn handle(state: Arc<GatewayState>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut ctx = Ctx {
        started: Instant::now(),
        created_at: Utc::now(),
        request_id: crate::ids::new_v7(),
        // Only paths outside heliport's namespace come here (`App::answer`
        // and the router's fallback both check).
        style: ErrorStyle::for_proxied_path(parts.uri.path()),
        method: parts.method.clone(),
        host: parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.host())
            .map(str::to_string),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".to_string()),
        org_id: None,
        key_id: None,
        route: None,
        opts: RequestOptions::default(),
        request_body: Bytes::new(),
        original_request_body: None,
        prompt_inputs: None,
        cache: CacheDecision::Off,
        limit: None,
        fallback_index: None,
        attempts: 0,
        upstream_ms: None,
        flagged: false,
        threat: false,
    };
    state.counters.requests.increment(1);
    match run(&state, &mut ctx, parts, body).await {
        Ok(resp) => resp,
        Err(e) => reject(&state, ctx, e),
    }
}

/// The phases, in order.
async fn run(
    state: &Arc<GatewayState>,
    ctx: &mut Ctx,
    parts: http::request::Parts,
    body: Body,
) -> Result<Response<Body>, Rejection> {
    let bad_header = options(ctx, &parts.headers);
    let route = route(state, ctx);
    auth::authenticate(state, ctx, &parts.headers).await?;
    admit(ctx, route, bad_header)?;
    auth::refuse_heliport_keys(state, &parts.headers)?;
    if let Some(p) = &ctx.opts.posthog {
        attempts::check_client_url(state, &p.host)?;
    }
    request_body::read(state, ctx, &parts.headers, body).await?;
    request_body::prepare_prompt(ctx);
    let targets = attempts::targets(state, ctx, &parts.headers)?;
    if let Some(hit) = cache::lookup(state, ctx, &targets).await {
        return Ok(hit);
    }
    rate_limit::admit(state, ctx).await?;
    if guards::requested(ctx) {
        // Boxed: its future would otherwise add 2 KB to every request's.
        Box::pin(guards::screen(state, ctx, &parts.headers)).await?;
    }
    let answer = attempts::run(state, ctx, &parts.headers, targets).await?;
    Ok(respond(state, ctx, answer).await)
}

/// Every `Helicone-*` header that parses is kept, so a request refused for
/// one bad header is still recorded with its properties, user and session.
fn options(ctx: &mut Ctx, headers: &http::HeaderMap) -> Option<GatewayError> {
    let (opts, bad_header) = RequestOptions::parse_lenient(headers);
    if let Some(id) = opts.request_id {
        ctx.request_id = id;
    }
    ctx.opts = opts;
    bad_header.map(|e| GatewayError::new(ErrorCode::InvalidHeader, e.to_string()))
}

/// Pick the upstream; the route also decides the error shape.
fn route(state: &GatewayState, ctx: &mut Ctx) -> Result<Route, GatewayError> {
    let r = provider::resolve(
        ctx.host.as_deref(),
        &ctx.path,
        &ctx.opts,
        &state.providers,
        |url| state.prices.provider_for_url(url).map(str::to_string),
    );
    ctx.style = match &r {
        Ok(route) => route.error_style,
        Err(_) => ErrorStyle::for_proxied_path(&ctx.path),
    };
    r
}

/// Refusals that wait for authentication, so they are recorded under the
/// organization. The route is kept even when a header is refused: the record
/// says where the request was going.
fn admit(
    ctx: &mut Ctx,
    route: Result<Route, GatewayError>,
    bad_header: Option<GatewayError>,
) -> Result<(), GatewayError> {
    let no_route = match route {
        Ok(r) => {
            ctx.route = Some(Arc::new(r));
            None
        }
        Err(e) => Some(e),
    };
    match (bad_header, no_route) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(()),
    }
}

/// The answer's head and body: upstream headers pass through, heliport's own
/// are added, and the body goes through the tee with the completion hooks. A
/// stream's head waits briefly for its first events, to leave with them.
async fn respond(state: &GatewayState, ctx: &mut Ctx, answer: Answer) -> Response<Body> {
    let Answer {
        response,
        mut pending,
        target,
    } = answer;
    let (up_parts, up_body) = response.into_parts();
    let is_sse = is_event_stream(&up_parts.headers);
    if let Some(ex) = pending.exchange_mut() {
        ex.status = Some(up_parts.status.as_u16());
        ex.response_created_at = Some(Utc::now());
    }
    state
        .counters
        .upstream_response(up_parts.status)
        .increment(1);
    let mut out_headers = headers::client_response_headers(up_parts.headers);
    cache::on_upstream_answer(
        state,
        ctx,
        &mut pending,
        up_parts.status,
        &out_headers,
        is_sse,
    );
    rate_limit::on_upstream_answer(state, ctx, &mut pending);
    add_helicone_headers(&mut out_headers, ctx, up_parts.status.is_success());
    let body = TeeBody::new(
        up_body,
        pending,
        is_sse,
        ApiFlavor::from_path(&target.route.upstream_path),
        state.cfg.body_cap_bytes,
        state.cfg.stream_idle_timeout,
    )
    .reframe_events(is_sse && ctx.opts.stream_force_format);
    let body = if is_sse {
        // Boxed before the wait, so this future holds a pointer, not the tee.
        Body::new(HeadStart::new(Box::new(body), HEAD_START_WAIT).await)
    } else {
        Body::new(body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = up_parts.status;
    *resp.headers_mut() = out_headers;
    resp
}

pub(crate) fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"))
}

/// The record of this request (or of one attempt of it), built from the
/// context without emptying it: later phases and attempts still need the
/// properties, user and session. `route` and `body` are the target's (a
/// fallback entry has its own); by default, the request's.
pub(crate) fn exchange(
    state: &GatewayState,
    ctx: &Ctx,
    route: Option<&Route>,
    body: Option<&Bytes>,
) -> Exchange {
    let route = route.or(ctx.route.as_deref());
    let o = &ctx.opts;
    let mut ex = Exchange {
        uid: crate::ids::new_v7(),
        request_id: ctx.request_id,
        org_id: ctx.org_id.clone().unwrap_or_default(),
        api_key_id: ctx.key_id.clone(),
        created_at: ctx.created_at,
        method: ctx.method.to_string(),
        path: redact_query(&ctx.path).into_owned(),
        provider: route.map(|r| r.provider.clone()).unwrap_or_default(),
        price_provider: route.and_then(|r| r.price_provider.clone()),
        target_url: route
            .map(|r| redact_query(&r.upstream_url).into_owned())
            .unwrap_or_default(),
        upstream_path: route
            .map(|r| r.upstream_path.clone())
            .unwrap_or_else(|| ctx.path.clone()),
        meta: RequestMeta {
            model_override: o.model_override.clone(),
            prompt_id: o.prompt_id.clone(),
            prompt_inputs: ctx.prompt_inputs.clone(),
            properties: o.properties.clone(),
            user_id: o.user_id.clone(),
            session_id: o.session.id.clone(),
            session_path: o.session.path.clone(),
            session_name: o.session.name.clone(),
            omit_request: o.omit_request,
            omit_response: o.omit_response,
            cache_enabled: o.cache.enabled,
        },
        attempts: ctx.attempts,
        fallback_index: ctx.fallback_index,
        body_cap_bytes: state.cfg.body_cap_bytes,
        posthog: o.posthog.clone(),
        flagged: ctx.flagged,
        threat: ctx.threat,
        ..Default::default()
    };
    ex.admit_request_body(
        body.unwrap_or(&ctx.request_body),
        ctx.original_request_body.clone(),
    );
    ex
}

/// An error answered by heliport; `recorded` when its record is already queued.
pub(crate) struct Rejection {
    pub err: GatewayError,
    pub recorded: bool,
    /// Headers the refusal carries besides heliport's own (`Retry-After`).
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
}

impl From<GatewayError> for Rejection {
    fn from(err: GatewayError) -> Self {
        Rejection {
            err,
            recorded: false,
            headers: Vec::new(),
        }
    }
}

/// heliport's own response headers (SPEC §4): the id, status, timing, and
/// whatever the cache, fallback and rate-limit phases decided.
pub(crate) fn add_helicone_headers(h: &mut http::HeaderMap, ctx: &Ctx, success: bool) {
    // Names made once and values written into stack buffers: this runs on
    // every request, and a name given as a string is copied into each map.
    const HELICONE_ID: HeaderName = HeaderName::from_static("helicone-id");
    const HELICONE_STATUS: HeaderName = HeaderName::from_static("helicone-status");
    const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
    const FALLBACK_INDEX: HeaderName = HeaderName::from_static("helicone-fallback-index");
    const TIMING_MAX: usize = 128;
    let mut id = uuid::Uuid::encode_buffer();
    if let Ok(v) = HeaderValue::from_str(ctx.request_id.as_hyphenated().encode_lower(&mut id)) {
        h.insert(HELICONE_ID, v);
    }
    h.insert(
        HELICONE_STATUS,
        HeaderValue::from_static(if success { "success" } else { "failed" }),
    );
    let total_us = ctx.started.elapsed().as_micros();
    let mut buf = [0u8; TIMING_MAX];
    let mut timing = &mut buf[..];
    match ctx.upstream_ms {
        Some(up) => {
            // Whole microseconds: what the header shows (ms, 3 decimals).
            let up_us = (up * 1000.0).round() as u128;
            push_duration(&mut timing, "heliport", total_us.saturating_sub(up_us));
            push_duration(&mut timing, ", upstream", up_us);
        }
        None => push_duration(&mut timing, "heliport", total_us),
    }
    let written = TIMING_MAX - timing.len();
    if let Some(v) = buf
        .get(..written)
        .and_then(|b| HeaderValue::from_bytes(b).ok())
    {
        h.append(SERVER_TIMING, v);
    }
    if let Some(i) = ctx.fallback_index {
        h.insert(FALLBACK_INDEX, HeaderValue::from(i));
    }
    cache::add_headers(h, &ctx.cache);
    if let Some(limit) = &ctx.limit {
        rate_limit::add_headers(h, limit);
    }
}

/// `name;dur=MS` with the milliseconds to three decimals, as `Server-Timing`
/// gives them; two durations of any size fit the caller's buffer. Written
/// digit by digit: `write!` costs more than the rest of these headers.
fn push_duration(out: &mut &mut [u8], name: &str, micros: u128) {
    use std::io::Write as _;
    let digit = |n: u128| b'0' + (n % 10) as u8;
    let _ = out.write_all(name.as_bytes());
    let _ = out.write_all(b";dur=");
    let _ = out.write_all(itoa::Buffer::new().format(micros / 1000).as_bytes());
    let _ = out.write_all(&[b'.', digit(micros / 100), digit(micros / 10), digit(micros)]);
}

/// Answer an error heliport decided itself; record it when the organization is known.
fn reject(state: &GatewayState, ctx: Ctx, rejection: Rejection) -> Response<Body> {
    let Rejection {
        err: e,
        recorded: already,
        headers: extra,
    } = rejection;
    metrics::counter!("heliport_requests_rejected_total", "code" => e.code.as_str()).increment(1);
    tracing::warn!(request_id = %ctx.request_id, path = %redact_query(&ctx.path), code = e.code.as_str(), "{}", e.message);
    if !already && ctx.org_id.is_some() {
        let mut ex = exchange(state, &ctx, None, None);
        refusal_outcome(&mut ex, &ctx, &e);
        state.recorder.record(ex);
    }
    let mut resp = error_response(&e, ctx.style);
    let h = resp.headers_mut();
    for (k, v) in extra {
        h.insert(k, v);
    }
    add_helicone_headers(h, &ctx, false);
    resp
}

/// What a record of a refusal says: heliport's status and error body (none
/// for a client that went away), the failure code and the time taken.
pub(crate) fn refusal_outcome(ex: &mut Exchange, ctx: &Ctx, e: &GatewayError) {
    // A client gone mid-request got no answer.
    ex.status = (e.code != ErrorCode::Cancelled).then(|| e.status().as_u16());
    ex.failure = Some(e.code.as_str().to_string());
    if ex.status.is_some() {
        let mut captured = CapturedBody::default();
        captured.push(&e.body(ctx.style), usize::MAX);
        ex.response_body = captured;
        ex.response_created_at = Some(Utc::now());
    }
    ex.latency_ms = Some(ctx.started.elapsed().as_millis() as u64);
}

/// heliport's own error answer in the given shape (SPEC §6).
pub fn error_response(e: &GatewayError, style: ErrorStyle) -> Response<Body> {
    let mut resp = Response::new(Body::from(e.body(style)));
    *resp.status_mut() = e.status();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(parts: &[(&str, u128)]) -> String {
        let mut buf = [0u8; 128];
        let mut out = &mut buf[..];
        for (name, micros) in parts {
            push_duration(&mut out, name, *micros);
        }
        let written = 128 - out.len();
        String::from_utf8_lossy(buf.get(..written).unwrap_or_default()).into_owned()
    }

    #[test]
    fn server_timing_durations_are_milliseconds_to_three_decimals() {
        assert_eq!(timing(&[("heliport", 0)]), "heliport;dur=0.000");
        assert_eq!(timing(&[("heliport", 5)]), "heliport;dur=0.005");
        assert_eq!(timing(&[("heliport", 1_070)]), "heliport;dur=1.070");
        assert_eq!(
            timing(&[("heliport", 1_234_567), (", upstream", 999)]),
            "heliport;dur=1234.567, upstream;dur=0.999"
        );
        // The largest durations still fit the buffer whole.
        let max = timing(&[("heliport", u128::MAX), (", upstream", u128::MAX)]);
        assert!(
            max.ends_with(", upstream;dur=340282366920938463463374607431768211.455"),
            "{max}"
        );
    }
}
