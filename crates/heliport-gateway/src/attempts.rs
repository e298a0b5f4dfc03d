//! Upstream attempts (SPEC §3.1, §3.2): the targets a request may go to (its
//! route, or the `Helicone-Fallbacks` entries in order), each tried with
//! retries when they are enabled. Everything here happens before the first
//! byte reaches the client: once an answer is chosen, the stream is the
//! client's. Every attempt that did not answer is recorded on its own,
//! pointing at the request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use heliport_core::error::{ErrorCode, GatewayError};
use heliport_core::options::{CodeMatch, RequestOptions};
use heliport_core::provider::{self, Route};
use heliport_core::record::{CapturedBody, Exchange};
use heliport_core::redact::redact_query;
use heliport_core::traffic;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use secrecy::ExposeSecret;

use crate::pipeline::{self, Ctx, Rejection};
use crate::state::GatewayState;
use crate::tee::PendingRecord;
use crate::upstream::{Pool, UpstreamError};
use crate::{auth, headers};

/// Longest wait for the body of an attempt that is not the answer (an error
/// worth recording, then discarded).
const ATTEMPT_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// One place the request can go.
pub(crate) struct Target {
    /// Shared with the request's context: the single target's route is the
    /// request's own, and is not copied.
    pub route: Arc<Route>,
    /// The pool it goes through: guarded for a client-supplied URL (private
    /// addresses refused), insecure for a `tls_insecure` provider.
    pub pool: Pool,
    /// The entry's headers, set over the client's.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body for this target (the entry's `bodyKeyOverride` merged in).
    pub body: Bytes,
    /// Statuses on which the next entry is tried.
    pub on_codes: Vec<CodeMatch>,
    /// Refused before connecting (a literal private address).
    pub refused: Option<GatewayError>,
}

/// The answer chosen for the client, with its pending record.
pub(crate) struct Answer {
    pub response: Response<Incoming>,
    pub pending: PendingRecord,
    pub target: Target,
}

/// The targets in the order they are tried: the route alone, or the
/// fallback entries (entry 0 is the primary), each through the §1 checks.
pub(crate) fn targets(
    state: &GatewayState,
    ctx: &Ctx,
    client_headers: &HeaderMap,
) -> Result<Vec<Target>, GatewayError> {
    let Some(entries) = &ctx.opts.fallbacks else {
        let Some(route) = ctx.route.clone() else {
            return Err(GatewayError::new(ErrorCode::Internal, "no route"));
        };
        let pool = check_target(state, &route)?;
        return Ok(vec![Target {
            route,
            pool,
            headers: Vec::new(),
            body: ctx.request_body.clone(),
            on_codes: Vec::new(),
            refused: None,
        }]);
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let opts = RequestOptions {
            target_url: Some(e.target_url.clone()),
            ..RequestOptions::default()
        };
        let route = provider::resolve(
            ctx.host.as_deref(),
            &ctx.path,
            &opts,
            &state.providers,
            |url| state.prices.provider_for_url(url).map(str::to_string),
        )?;
        let (pool, refused) = match check_target(state, &route) {
            Ok(p) => (p, None),
            Err(e) => (Pool::Guarded, Some(e)),
        };
        let mut entry_headers = Vec::with_capacity(e.headers.len());
        for (name, value) in &e.headers {
            // Validated when the header was parsed; a value that still fails is skipped.
            let (Ok(n), Ok(mut v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value.expose_secret()),
            ) else {
                continue;
            };
            // An entry's headers follow the client's rules: heliport's own and
            // hop-by-hop headers never travel, nor does a heliport key.
            if !headers::forwardable(&n) {
                continue;
            }
            auth::check_credential(
                state,
                n.as_str(),
                value.expose_secret(),
                auth::helicone_key(client_headers),
            )?;
            v.set_sensitive(true);
            entry_headers.push((n, v));
        }
        let body = match &e.body_key_override {
            Some(o) => traffic::merge_body(&ctx.request_body, o)
                .map(Bytes::from)
                .unwrap_or_else(|| ctx.request_body.clone()),
            None => ctx.request_body.clone(),
        };
        out.push(Target {
            route: Arc::new(route),
            pool,
            headers: entry_headers,
            body,
            on_codes: e.on_codes.clone(),
            refused,
        });
    }
    Ok(out)
}

/// Client-supplied URLs may not reach private addresses (SPEC §1). Returns
/// the pool to use: the guarded one (which checks resolved addresses) for
/// them; for an operator's provider, its own (insecure only when the operator
/// marked it `tls_insecure`, never for a URL a client supplied).
fn check_target(state: &GatewayState, route: &Route) -> Result<Pool, GatewayError> {
    if !route.client_supplied {
        return Ok(state.upstream.pool_for_provider(&route.provider));
    }
    upstream_uri(route)?;
    check_client_url(state, &route.upstream_url)
}

/// The §1 check for any URL a client supplies (a target, a fallback entry, a
/// PostHog host): allowed by the operator, or not a literal private address
/// (names are checked when they resolve, at connect time). Returns the pool
/// to send through.
pub(crate) fn check_client_url(state: &GatewayState, url: &str) -> Result<Pool, GatewayError> {
    if state.cfg.allowed_targets.allows(url) {
        return Ok(Pool::Open);
    }
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string));
    if let Some(ip) = host.as_deref().and_then(heliport_core::target::literal_ip) {
        if heliport_core::target::is_forbidden_ip(ip) {
            return Err(target_forbidden(&format!(
                "{ip} is a private or reserved address"
            )));
        }
    }
    Ok(Pool::Guarded)
}

fn upstream_uri(route: &Route) -> Result<http::Uri, GatewayError> {
    route.upstream_url.parse().map_err(|_| {
        GatewayError::new(
            ErrorCode::InvalidHeader,
            format!("'{}' is not a valid URL", redact_query(&route.upstream_url)),
        )
    })
}

fn target_forbidden(why: &str) -> GatewayError {
    GatewayError::new(
        ErrorCode::TargetNotAllowed,
        format!("the target URL is not allowed: {why}; an operator can allow it in gateway.allowed_targets (HELIPORT_ALLOWED_TARGETS)"),
    )
}

/// What became of one attempt.
enum Tried {
    Answered(Response<Incoming>),
    Failed(UpstreamError),
}

/// Try the targets in order, each with its retries, until one answers with
/// something the client gets.
///
/// The request's own record exists from the first attempt on: a client that
/// hangs up while heliport waits on the upstream or between retries is
/// recorded as cancelled, with the attempts made so far.
pub(crate) async fn run(
    state: &GatewayState,
    ctx: &mut Ctx,
    client_headers: &HeaderMap,
    mut targets: Vec<Target>,
) -> Result<Answer, Rejection> {
    let mut base_headers = headers::upstream_request_headers(client_headers);
    let retry = ctx.opts.retry.clone();
    let tries = if retry.enabled {
        retry.num.saturating_add(1)
    } else {
        1
    };
    let fallbacks = ctx.opts.fallbacks.is_some();
    let count = targets.len();
    let single_shot = count == 1 && tries == 1;
    let Some(first) = targets.first() else {
        return Err(GatewayError::new(ErrorCode::Internal, "no upstream target").into());
    };
    let mut pending = PendingRecord::new(
        pipeline::exchange(state, ctx, Some(&first.route), Some(&first.body)),
        state.recorder.clone(),
        ctx.started,
    );
    for (i, target) in targets.drain(..).enumerate() {
        let last_entry = i + 1 == count;
        if fallbacks {
            ctx.fallback_index = u32::try_from(i).ok();
        }
        // What this target's records start from (its route and body). The
        // first target's is the request's own record, which until an answer
        // only gains its attempt count and fallback index (both set again on
        // every copy): it is copied only if an attempt has to be recorded.
        let proto = (i != 0).then(|| {
            Box::new(pipeline::exchange(
                state,
                ctx,
                Some(&target.route),
                Some(&target.body),
            ))
        });
        if let Some(e) = &target.refused {
            ctx.attempts += 1;
            if last_entry {
                return Err(fail(ctx, pending, proto, e.clone()));
            }
            record_attempt(
                state,
                ctx,
                base(&proto, &pending),
                None,
                Some(e.code.as_str()),
                None,
                Instant::now(),
            );
            continue;
        }
        for t in 1..=tries {
            let last_try = t == tries;
            ctx.attempts += 1;
            if let Some(ex) = pending.exchange_mut() {
                ex.attempts = ctx.attempts;
                ex.fallback_index = ctx.fallback_index;
            }
            let began = Instant::now();
            let headers = if single_shot {
                std::mem::take(&mut base_headers)
            } else {
                base_headers.clone()
            };
            let req = build_request(ctx, &target, headers).map_err(Rejection::from)?;
            let tried = match state
                .upstream
                .send(req, target.pool, state.cfg.upstream_timeout)
                .await
            {
                Ok(resp) => Tried::Answered(resp),
                Err(e) => Tried::Failed(e),
            };
            let waited = began.elapsed().as_secs_f64() * 1000.0;
            ctx.upstream_ms = Some(ctx.upstream_ms.unwrap_or(0.0) + waited);
            match tried {
                Tried::Answered(resp) => {
                    let status = resp.status().as_u16();
                    let retry_it = !last_try && traffic::is_retryable_status(status);
                    let fall_back =
                        !last_entry && target.on_codes.iter().any(|c| c.matches(status));
                    if retry_it || fall_back {
                        let retry_after = resp
                            .headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| traffic::parse_retry_after(v, Utc::now()));
                        record_answered_attempt(state, ctx, base(&proto, &pending), resp, began)
                            .await;
                        if retry_it {
                            tokio::time::sleep(traffic::retry_delay(&retry, t, retry_after)).await;
                            continue;
                        }
                        break;
                    }
                    if i != 0 {
                        // Answered by a later entry: the record is that entry's.
                        if let (Some(ex), Some(mut answered)) = (pending.exchange_mut(), proto) {
                            answered.attempts = ctx.attempts;
                            answered.fallback_index = ctx.fallback_index;
                            *ex = *answered;
                        }
                    }
                    return Ok(Answer {
                        response: resp,
                        pending,
                        target,
                    });
                }
                Tried::Failed(e) => {
                    let err = gateway_error(state, ctx, &target.route, &e);
                    if !last_try && e.retryable() {
                        record_attempt(
                            state,
                            ctx,
                            base(&proto, &pending),
                            None,
                            Some(err.code.as_str()),
                            None,
                            began,
                        );
                        tokio::time::sleep(traffic::retry_delay(&retry, t, None)).await;
                        continue;
                    }
                    if !last_entry {
                        // An entry that cannot be reached: the next one is tried.
                        record_attempt(
                            state,
                            ctx,
                            base(&proto, &pending),
                            None,
                            Some(err.code.as_str()),
                            None,
                            began,
                        );
                        break;
                    }
                    return Err(fail(ctx, pending, proto, err));
                }
            }
        }
    }
    Err(GatewayError::new(ErrorCode::Internal, "no upstream attempt answered").into())
}

fn build_request(
    ctx: &Ctx,
    target: &Target,
    mut headers: HeaderMap,
) -> Result<Request<Full<Bytes>>, GatewayError> {
    let mut req = Request::builder()
        .method(ctx.method.clone())
        .uri(upstream_uri(&target.route)?)
        .body(Full::new(target.body.clone()))
        .map_err(|e| {
            GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("cannot build the upstream request: {e}"),
            )
        })?;
    for (name, value) in &target.headers {
        headers.insert(name.clone(), value.clone());
    }
    *req.headers_mut() = headers;
    Ok(req)
}

/// heliport's answer for an attempt that got no response.
fn gateway_error(
    state: &GatewayState,
    ctx: &Ctx,
    route: &Route,
    e: &UpstreamError,
) -> GatewayError {
    match e {
        UpstreamError::Forbidden(why) => {
            // The resolved address stays in heliport's log: telling the client
            // would let it map internal names.
            tracing::warn!(request_id = %ctx.request_id, "{why}");
            target_forbidden("its host resolves to a private or reserved address")
        }
        UpstreamError::Unreachable(why) => {
            tracing::warn!(request_id = %ctx.request_id, upstream = %redact_query(&route.upstream_url), error = %why, "upstream unreachable");
            GatewayError::new(
                ErrorCode::UpstreamUnreachable,
                format!("could not reach {}: {why}", route.provider),
            )
        }
        UpstreamError::Tls(why) => {
            tracing::warn!(request_id = %ctx.request_id, upstream = %redact_query(&route.upstream_url), error = %why, "upstream TLS failed");
            GatewayError::new(
                ErrorCode::UpstreamUnreachable,
                format!("could not reach {}: {why}", route.provider),
            )
        }
        UpstreamError::Timeout(_) => GatewayError::new(
            ErrorCode::UpstreamTimeout,
            format!(
                "{} did not answer within {} s",
                route.provider,
                state.cfg.upstream_timeout.as_secs()
            ),
        ),
    }
}

/// Record one attempt that did not answer the request: its own id, the
/// request's id as parent, its number and fallback entry.
fn record_attempt(
    state: &GatewayState,
    ctx: &Ctx,
    proto: Option<&Exchange>,
    status: Option<u16>,
    failure: Option<&str>,
    body: Option<CapturedBody>,
    began: Instant,
) {
    // Only a request already recorded has no exchange left to copy.
    let Some(proto) = proto else { return };
    let mut ex = proto.clone();
    ex.uid = crate::ids::new_v7();
    ex.request_id = crate::ids::new_v7();
    ex.parent_request_id = Some(ctx.request_id);
    // One PostHog event per request, not per attempt.
    ex.posthog = None;
    ex.attempts = ctx.attempts;
    ex.fallback_index = ctx.fallback_index;
    ex.status = status;
    ex.failure = failure.map(str::to_string);
    if let Some(b) = body {
        ex.response_body = b;
        ex.response_created_at = Some(Utc::now());
    }
    ex.latency_ms = Some(began.elapsed().as_millis() as u64);
    state.recorder.record(ex);
}

/// Record an answer that is not passed on (it is retried, or the next
/// fallback entry is tried), with as much of its body as arrives promptly.
async fn record_answered_attempt(
    state: &GatewayState,
    ctx: &Ctx,
    proto: Option<&Exchange>,
    resp: Response<Incoming>,
    began: Instant,
) {
    let status = resp.status().as_u16();
    metrics::counter!("heliport_upstream_attempts_retried_total").increment(1);
    let mut body = resp.into_body();
    let mut captured = CapturedBody::default();
    let cap = state.cfg.body_cap_bytes;
    let _ = tokio::time::timeout(ATTEMPT_BODY_TIMEOUT, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(d) = frame.data_ref() {
                captured.push(d, cap);
            }
        }
    })
    .await;
    record_attempt(state, ctx, proto, Some(status), None, Some(captured), began);
}

/// The exchange a target's attempt records start from: its own, or the
/// request's record for the first target.
fn base<'a>(proto: &'a Option<Box<Exchange>>, pending: &'a PendingRecord) -> Option<&'a Exchange> {
    proto.as_deref().or_else(|| pending.exchange())
}

/// Record the request itself as failed after admission (with the route of
/// the target that failed it), with heliport's own error body.
fn fail(
    ctx: &Ctx,
    mut pending: PendingRecord,
    proto: Option<Box<Exchange>>,
    e: GatewayError,
) -> Rejection {
    if let Some(ex) = pending.exchange_mut() {
        if let Some(proto) = proto {
            *ex = *proto;
        }
        ex.attempts = ctx.attempts;
        ex.fallback_index = ctx.fallback_index;
        pipeline::refusal_outcome(ex, ctx, &e);
    }
    pending.finish(None);
    Rejection {
        err: e,
        recorded: true,
        headers: Vec::new(),
    }
}
