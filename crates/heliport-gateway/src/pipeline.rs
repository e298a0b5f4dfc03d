//! The life of one proxied request, stage by stage. `handle` lists the stages
//! in order; each stage is a small function over the request context.
//!
//! route → options → auth → body → prompt → target check → upstream → tee

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
use heliport_store::auth::bearer;
use heliport_store::keys::KEY_PREFIX;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use uuid::Uuid;

use crate::headers;
use crate::state::{AuthMode, GatewayState};
use crate::tee::{PendingRecord, TeeBody};
use crate::upstream::UpstreamError;

/// Per-request context: what the stages decided so far.
struct Ctx {
    started: Instant,
    created_at: DateTime<Utc>,
    request_id: Uuid,
    style: ErrorStyle,
    method: String,
    path: String,
    org_id: Option<String>,
    key_id: Option<String>,
    route: Option<Route>,
    opts: RequestOptions,
    request_body: Bytes,
    original_request_body: Option<Bytes>,
    prompt_inputs: Option<Vec<(String, String)>>,
}

/// Entry point for every proxied request.
pub async fn handle(state: Arc<GatewayState>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut ctx = Ctx {
        started: Instant::now(),
        created_at: Utc::now(),
        request_id: Uuid::now_v7(),
        style: ErrorStyle::for_path(parts.uri.path()),
        method: parts.method.to_string(),
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
    };
    metrics::counter!("heliport_requests_total").increment(1);
    match run(&state, &mut ctx, parts, body).await {
        Ok(resp) => resp,
        Err(e) => reject(&state, ctx, e),
    }
}

async fn run(
    state: &Arc<GatewayState>,
    ctx: &mut Ctx,
    parts: http::request::Parts,
    body: Body,
) -> Result<Response<Body>, Rejection> {
    // Every header that parses is kept, so a request refused for one bad
    // header is still recorded with its properties, user and session.
    let (opts, bad_header) = RequestOptions::parse_lenient(&parts.headers);
    if let Some(id) = opts.request_id {
        ctx.request_id = id;
    }
    ctx.opts = opts;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.host());
    let route = route_stage(state, ctx, host);
    authenticate(state, ctx, &parts.headers).await?;
    // The route is kept even when a header is refused: the record says where
    // the request was going.
    let no_route = match route {
        Ok(r) => {
            ctx.route = Some(r);
            None
        }
        Err(e) => Some(e),
    };
    if let Some(e) = bad_header {
        return Err(GatewayError::new(ErrorCode::InvalidHeader, e.to_string()).into());
    }
    if let Some(e) = no_route {
        return Err(e.into());
    }
    refuse_heliport_keys(state, &parts.headers)?;
    read_body(state, ctx, &parts.headers, body).await?;
    prepare_prompt(ctx);
    let guarded = check_target(state, ctx)?;
    forward(state, ctx, parts, guarded).await
}

/// Pick the upstream; the route also decides the error shape.
fn route_stage(
    state: &GatewayState,
    ctx: &mut Ctx,
    host: Option<&str>,
) -> Result<Route, GatewayError> {
    let r = provider::resolve(host, &ctx.path, &ctx.opts, &state.providers, |url| {
        state.prices.provider_for_url(url).map(str::to_string)
    });
    ctx.style = match &r {
        Ok(route) => route.error_style,
        Err(_) => ErrorStyle::for_path(&ctx.path),
    };
    r
}

/// A heliport key in a provider credential header would be sent to the
/// provider: refuse the request instead (SPEC §1).
fn refuse_heliport_keys(
    state: &GatewayState,
    headers: &http::HeaderMap,
) -> Result<(), GatewayError> {
    let helicone_key = headers
        .get("helicone-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    for name in ["authorization", "x-api-key", "api-key"] {
        for value in headers.get_all(name) {
            let Ok(v) = value.to_str() else { continue };
            let token = bearer(v).unwrap_or_else(|| v.trim());
            if token.is_empty() {
                continue;
            }
            if token.starts_with(KEY_PREFIX)
                || helicone_key == Some(token)
                || state.keys.knows(token)
            {
                return Err(GatewayError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "the {name} header carries a heliport key, which heliport never sends to a provider: put the provider's own key in {name} and the heliport key in Helicone-Auth"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `Helicone-Auth` (SPEC §2). Proxying needs a key with `w`.
async fn authenticate(
    state: &GatewayState,
    ctx: &mut Ctx,
    headers: &http::HeaderMap,
) -> Result<(), GatewayError> {
    let raw = headers.get("helicone-auth");
    let Some(raw) = raw else {
        return match state.cfg.auth_mode {
            AuthMode::Optional => {
                ctx.org_id = Some(state.cfg.default_org_id.clone());
                Ok(())
            }
            AuthMode::Required => Err(GatewayError::new(
                ErrorCode::MissingAuth,
                "Helicone-Auth header is missing: send 'Helicone-Auth: Bearer <heliport key>' (create one with `heliport keys create --name NAME`)",
            )),
        };
    };
    let key = raw.to_str().ok().and_then(bearer).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidAuth,
            "Helicone-Auth must be 'Bearer <heliport key>'",
        )
    })?;
    let grant = state.keys.authenticate(key).await.ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidAuth,
            "Helicone-Auth: the key is unknown or revoked",
        )
    })?;
    if !grant.permissions.write {
        return Err(GatewayError::new(
            ErrorCode::Forbidden,
            "Helicone-Auth: this key is read-only; proxying needs a key with write permission (w or rw)",
        ));
    }
    ctx.org_id = Some(grant.org_id);
    ctx.key_id = Some(grant.key_id);
    Ok(())
}

/// Bodies below this are copied out of the connection's read buffer.
const SMALL_BODY: usize = 64 << 10;

/// Read the whole request body, up to the configured limit. A client that
/// goes quiet mid-body gets a 408; one that hangs up is recorded as cancelled.
async fn read_body(
    state: &GatewayState,
    ctx: &mut Ctx,
    headers: &http::HeaderMap,
    mut body: Body,
) -> Result<(), GatewayError> {
    let limit = state.cfg.max_body_bytes;
    let too_large = || {
        GatewayError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than the {limit} bytes heliport accepts (gateway.max_body_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let idle = state.cfg.body_read_timeout;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "the client stopped sending its request");
                return Err(GatewayError::new(
                    ErrorCode::Cancelled,
                    "the client closed the connection while sending its request",
                ));
            }
            Err(_) => {
                return Err(GatewayError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request body stopped arriving: nothing for {} s (gateway.body_read_timeout_secs)",
                        idle.as_secs()
                    ),
                ))
            }
        };
        if let Ok(data) = frame.into_data() {
            len = len.saturating_add(data.len());
            if len > limit {
                return Err(too_large());
            }
            chunks.push(data);
        }
    }
    ctx.request_body = match chunks.len() {
        0 => Bytes::new(),
        // One large frame is kept as it is; a small one is copied out of the
        // connection's read buffer, which the record would otherwise pin
        // until the writer runs.
        1 if len >= SMALL_BODY => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = Vec::with_capacity(len);
            for c in &chunks {
                all.extend_from_slice(c);
            }
            Bytes::from(all)
        }
    };
    Ok(())
}

/// Strip `<helicone-prompt-input>` tags: the upstream sees plain text.
fn prepare_prompt(ctx: &mut Ctx) {
    if !heliport_core::prompt::has_prompt_tags(&ctx.request_body) {
        return;
    }
    if let Some(p) = heliport_core::prompt::strip_prompt_tags(&ctx.request_body) {
        let original = std::mem::replace(&mut ctx.request_body, Bytes::from(p.stripped_body));
        ctx.original_request_body = Some(original);
        ctx.prompt_inputs = Some(p.inputs);
    }
}

/// Client-supplied URLs may not reach private addresses (SPEC §1). Returns
/// whether the guarded client (which checks resolved addresses) must be used.
fn check_target(state: &GatewayState, ctx: &Ctx) -> Result<bool, GatewayError> {
    let Some(route) = &ctx.route else {
        return Ok(false);
    };
    if !route.client_supplied || state.cfg.allowed_targets.allows(&route.upstream_url) {
        return Ok(false);
    }
    let uri: http::Uri = route.upstream_url.parse().map_err(|_| {
        GatewayError::new(
            ErrorCode::InvalidHeader,
            format!("'{}' is not a valid URL", redact_query(&route.upstream_url)),
        )
    })?;
    if let Some(ip) = uri.host().and_then(heliport_core::target::literal_ip) {
        if heliport_core::target::is_forbidden_ip(ip) {
            return Err(target_forbidden(&format!(
                "{ip} is a private or reserved address"
            )));
        }
    }
    Ok(true)
}

fn target_forbidden(why: &str) -> GatewayError {
    GatewayError::new(
        ErrorCode::TargetNotAllowed,
        format!("the target URL is not allowed: {why}; an operator can allow it in gateway.allowed_targets (HELIPORT_ALLOWED_TARGETS)"),
    )
}

fn exchange(state: &GatewayState, ctx: &mut Ctx) -> Exchange {
    let route = ctx.route.as_ref();
    let o = &mut ctx.opts;
    let mut ex = Exchange {
        uid: Uuid::now_v7(),
        request_id: ctx.request_id,
        org_id: ctx.org_id.clone().unwrap_or_default(),
        api_key_id: ctx.key_id.clone(),
        created_at: ctx.created_at,
        method: ctx.method.clone(),
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
            model_override: o.model_override.take(),
            prompt_id: o.prompt_id.take(),
            prompt_inputs: ctx.prompt_inputs.take(),
            properties: std::mem::take(&mut o.properties),
            user_id: o.user_id.take(),
            session_id: o.session.id.take(),
            session_path: o.session.path.take(),
            session_name: o.session.name.take(),
            omit_request: o.omit_request,
            omit_response: o.omit_response,
            cache_enabled: o.cache.enabled,
        },
        attempts: 1,
        body_cap_bytes: state.cfg.body_cap_bytes,
        ..Default::default()
    };
    ex.admit_request_body(&ctx.request_body, ctx.original_request_body.take());
    ex
}

async fn forward(
    state: &Arc<GatewayState>,
    ctx: &mut Ctx,
    parts: http::request::Parts,
    guarded: bool,
) -> Result<Response<Body>, Rejection> {
    let Some(route) = ctx.route.clone() else {
        return Err(GatewayError::new(ErrorCode::Internal, "no route").into());
    };
    let uri: http::Uri = route.upstream_url.parse().map_err(|_| {
        GatewayError::new(
            ErrorCode::InvalidHeader,
            format!("'{}' is not a valid URL", redact_query(&route.upstream_url)),
        )
    })?;
    let mut up_req = Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(Full::new(ctx.request_body.clone()))
        .map_err(|e| {
            GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("cannot build the upstream request: {e}"),
            )
        })?;
    *up_req.headers_mut() = headers::upstream_request_headers(&parts.headers);

    let mut pending = PendingRecord::new(exchange(state, ctx), state.recorder.clone(), ctx.started);
    let sent_at = Instant::now();
    let result = tokio::time::timeout(
        state.cfg.upstream_timeout,
        state.upstream.send(up_req, guarded),
    )
    .await;
    let upstream_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
    let resp = match result {
        Ok(Ok(resp)) => resp,
        Ok(Err(UpstreamError::Forbidden(why))) => {
            // The resolved address stays in heliport's log: telling the client
            // would let it map internal names.
            tracing::warn!(request_id = %ctx.request_id, "{why}");
            return Err(fail(
                &mut pending,
                ctx,
                target_forbidden("its host resolves to a private or reserved address"),
            ));
        }
        Ok(Err(UpstreamError::Unreachable(why))) => {
            tracing::warn!(request_id = %ctx.request_id, upstream = %redact_query(&route.upstream_url), error = %why, "upstream unreachable");
            return Err(fail(
                &mut pending,
                ctx,
                GatewayError::new(
                    ErrorCode::UpstreamUnreachable,
                    format!("could not reach {}: {why}", route.provider),
                ),
            ));
        }
        Err(_) => {
            return Err(fail(
                &mut pending,
                ctx,
                GatewayError::new(
                    ErrorCode::UpstreamTimeout,
                    format!(
                        "{} did not answer within {} s",
                        route.provider,
                        state.cfg.upstream_timeout.as_secs()
                    ),
                ),
            ));
        }
    };

    let (up_parts, up_body) = resp.into_parts();
    let is_sse = up_parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
    if let Some(ex) = pending.exchange_mut() {
        ex.status = Some(up_parts.status.as_u16());
        ex.response_created_at = Some(Utc::now());
    }
    metrics::counter!("heliport_upstream_responses_total", "status" => status_class(up_parts.status)).increment(1);

    let mut out_headers = headers::client_response_headers(&up_parts.headers);
    add_helicone_headers(&mut out_headers, ctx, Some(upstream_ms));
    let flavor = ApiFlavor::from_path(&route.upstream_path);
    let body = TeeBody::new(
        up_body,
        pending,
        is_sse,
        flavor,
        state.cfg.body_cap_bytes,
        state.cfg.stream_idle_timeout,
    );
    let mut resp = Response::new(Body::new(body));
    *resp.status_mut() = up_parts.status;
    *resp.headers_mut() = out_headers;
    Ok(resp)
}

fn status_class(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// An error answered by heliport; `recorded` when its record is already queued.
struct Rejection {
    err: GatewayError,
    recorded: bool,
}

impl From<GatewayError> for Rejection {
    fn from(err: GatewayError) -> Self {
        Rejection {
            err,
            recorded: false,
        }
    }
}

/// Record a request that failed after admission, with heliport's own error body.
fn fail(pending: &mut PendingRecord, ctx: &Ctx, e: GatewayError) -> Rejection {
    if let Some(ex) = pending.exchange_mut() {
        ex.status = Some(e.status().as_u16());
        ex.failure = Some(e.code.as_str().to_string());
        ex.response_body
            .push(&Bytes::from(e.body(ctx.style)), usize::MAX);
    }
    pending.finish(None);
    Rejection {
        err: e,
        recorded: true,
    }
}

fn add_helicone_headers(h: &mut http::HeaderMap, ctx: &Ctx, upstream_ms: Option<f64>) {
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id.to_string()) {
        h.insert("helicone-id", v);
    }
    let total_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
    let timing = match upstream_ms {
        Some(up) => format!(
            "heliport;dur={:.3}, upstream;dur={:.3}",
            (total_ms - up).max(0.0),
            up
        ),
        None => format!("heliport;dur={total_ms:.3}"),
    };
    if let Ok(v) = HeaderValue::from_str(&timing) {
        h.append("server-timing", v);
    }
}

/// Answer an error heliport decided itself; record it when the organization is known.
fn reject(state: &GatewayState, mut ctx: Ctx, rejection: Rejection) -> Response<Body> {
    let Rejection {
        err: e,
        recorded: already,
    } = rejection;
    metrics::counter!("heliport_requests_rejected_total", "code" => e.code.as_str()).increment(1);
    tracing::warn!(request_id = %ctx.request_id, path = %redact_query(&ctx.path), code = e.code.as_str(), "{}", e.message);
    let body = e.body(ctx.style);
    if !already && ctx.org_id.is_some() {
        let mut ex = exchange(state, &mut ctx);
        // A client gone mid-request got no answer.
        ex.status = (e.code != ErrorCode::Cancelled).then(|| e.status().as_u16());
        ex.failure = Some(e.code.as_str().to_string());
        if ex.status.is_some() {
            let mut captured = CapturedBody::default();
            captured.push(&Bytes::from(body.clone()), usize::MAX);
            ex.response_body = captured;
            ex.response_created_at = Some(Utc::now());
        }
        ex.latency_ms = Some(ctx.started.elapsed().as_millis() as u64);
        state.recorder.record(ex);
    }
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = e.status();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_helicone_headers(h, &ctx, None);
    resp
}
