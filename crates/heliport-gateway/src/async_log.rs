//! Async logging (SPEC §8): `POST /custom/v1/log` (and `/oai/v1/log`,
//! `/anthropic/v1/log`) records a call made without the proxy, in Helicone's
//! body shape, as completely as a proxied one: tokens, cost, properties,
//! user, session, prompt and omit flags from the `Helicone-*` headers, given
//! on the request or inside `providerRequest.meta` (as LiteLLM's Helicone
//! logger sends them, with the key in `Authorization`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use heliport_core::error::{ErrorCode, ErrorStyle, GatewayError};
use heliport_core::extract::{ApiFlavor, StreamAccumulator};
use heliport_core::options::RequestOptions;
use heliport_core::record::{CapturedBody, Exchange, RequestMeta};
use heliport_core::redact::redact_query;
use heliport_core::sse::SseParser;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::pipeline::error_response;
use crate::state::{AuthMode, GatewayState};

/// Which log endpoint was called: it names the provider when the logged URL
/// does not.
#[derive(Clone, Copy)]
pub(crate) enum Endpoint {
    Custom,
    OpenAi,
    Anthropic,
}

/// Handle `POST /<endpoint>/v1/log`.
pub(crate) async fn log(
    State(state): State<Arc<GatewayState>>,
    endpoint: Endpoint,
    req: Request,
) -> Response<Body> {
    match record(&state, endpoint, req).await {
        Ok(id) => {
            let mut resp = Response::new(Body::from(
                json!({"data": {"id": id.to_string()}, "error": null}).to_string(),
            ));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
                resp.headers_mut().insert("helicone-id", v);
            }
            resp
        }
        Err(e) => {
            metrics::counter!("heliport_requests_rejected_total", "code" => e.code.as_str())
                .increment(1);
            error_response(&e, ErrorStyle::Rest)
        }
    }
}

fn bad(message: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::InvalidRequest, message)
}

async fn record(
    state: &GatewayState,
    endpoint: Endpoint,
    req: Request,
) -> Result<Uuid, GatewayError> {
    let (parts, body) = req.into_parts();
    let limit = state.cfg.max_body_bytes;
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| {
            GatewayError::new(
                ErrorCode::PayloadTooLarge,
                format!("the log body is larger than the {limit} bytes heliport accepts (gateway.max_body_bytes), or it could not be read"),
            )
        })?
        .to_bytes();
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let provider_request = v
        .get("providerRequest")
        .filter(|p| p.is_object())
        .ok_or_else(|| bad("providerRequest is missing: send {providerRequest: {url, json, meta}, providerResponse: {json | textBody, status}, timing?}"))?;
    let provider_response = v
        .get("providerResponse")
        .filter(|p| p.is_object())
        .ok_or_else(|| {
            bad("providerResponse is missing: send {json | textBody, status, headers}")
        })?;

    // Helicone-* headers: the request's own, then those inside `meta` (a flat
    // map of header names, or `meta.headers`).
    let mut headers = helicone_headers(&parts.headers);
    if let Some(meta) = provider_request.get("meta").and_then(Value::as_object) {
        let nested = meta.get("headers").and_then(Value::as_object);
        for (k, v) in meta.iter().chain(nested.into_iter().flatten()) {
            let (Ok(name), Some(value)) = (HeaderName::from_bytes(k.as_bytes()), v.as_str()) else {
                continue;
            };
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
    let (org_id, key_id) = authenticate(state, &parts.headers, &headers).await?;
    let (opts, bad_header) = RequestOptions::parse_lenient(&headers);
    if let Some(e) = bad_header {
        return Err(GatewayError::new(ErrorCode::InvalidHeader, e.to_string()));
    }

    let url = provider_request
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let uri: Option<http::Uri> = url.parse().ok();
    let upstream_path = uri
        .as_ref()
        .and_then(|u| u.path_and_query())
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let price_provider = state
        .prices
        .provider_for_url(url)
        .map(str::to_string)
        .or_else(|| match endpoint {
            Endpoint::OpenAi => Some("openai".into()),
            Endpoint::Anthropic => Some("anthropic".into()),
            Endpoint::Custom => None,
        });
    let provider = match (&price_provider, endpoint) {
        (Some(id), _) => state.providers.name_for_price_id(id),
        (None, _) => "custom".to_string(),
    };

    let mut request_body = match provider_request.get("json") {
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => Bytes::from(other.to_string()),
        None => Bytes::new(),
    };
    let mut original = None;
    let mut prompt_inputs = None;
    if heliport_core::prompt::has_prompt_tags(&request_body) {
        if let Some(p) = heliport_core::prompt::strip_prompt_tags(&request_body) {
            original = Some(std::mem::replace(
                &mut request_body,
                Bytes::from(p.stripped_body),
            ));
            prompt_inputs = Some(p.inputs);
        }
    }

    let status = provider_response
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| bad("providerResponse.status must be an HTTP status (100-599)"))?;
    let (response_bytes, text) = match (
        provider_response.get("json"),
        provider_response.get("textBody"),
    ) {
        (Some(j), _) if !j.is_null() => (Bytes::from(j.to_string()), false),
        (_, Some(Value::String(t))) => (Bytes::from(t.clone()), true),
        _ => (Bytes::new(), false),
    };

    let (created_at, ended_at, ttft) = timing(v.get("timing"));
    let request_id = opts.request_id.unwrap_or_else(Uuid::now_v7);
    let mut ex = Exchange {
        uid: crate::ids::new_v7(),
        request_id,
        org_id,
        api_key_id: key_id,
        created_at,
        method: "POST".into(),
        path: redact_query(&upstream_path).into_owned(),
        provider,
        price_provider,
        target_url: redact_query(url).into_owned(),
        upstream_path: upstream_path.clone(),
        meta: RequestMeta {
            model_override: opts.model_override.clone(),
            prompt_id: opts.prompt_id.clone(),
            prompt_inputs,
            properties: opts.properties.clone(),
            user_id: opts.user_id.clone(),
            session_id: opts.session.id.clone(),
            session_path: opts.session.path.clone(),
            session_name: opts.session.name.clone(),
            omit_request: opts.omit_request,
            omit_response: opts.omit_response,
            cache_enabled: false,
        },
        status: Some(status),
        response_created_at: Some(ended_at),
        latency_ms: u64::try_from((ended_at - created_at).num_milliseconds()).ok(),
        time_to_first_token_ms: ttft,
        attempts: 1,
        body_cap_bytes: state.cfg.body_cap_bytes,
        posthog: opts.posthog.clone(),
        ..Default::default()
    };
    ex.admit_request_body(&request_body, original);
    let mut captured = CapturedBody::default();
    captured.push(&response_bytes, state.cfg.body_cap_bytes);
    ex.response_body = captured;
    // A logged stream (its events as text) is read like a proxied one.
    let looks_sse = text && {
        let t = response_bytes.trim_ascii_start();
        t.starts_with(b"data:") || t.starts_with(b"event:")
    };
    if looks_sse {
        ex.response_is_sse = true;
        let mut parser = SseParser::new(4 << 20);
        let mut acc = StreamAccumulator::new(ApiFlavor::from_path(&upstream_path));
        parser.push(&response_bytes, |e| acc.on_event(e));
        parser.finish(|e| acc.on_event(e));
        let mut extracted = acc.finish();
        if let Some(p) = ex.price_provider.as_deref() {
            extracted.adjust_for_provider(p);
        }
        ex.extracted = Some(extracted);
    }
    state.recorder.record(ex);
    metrics::counter!("heliport_async_logs_total").increment(1);
    Ok(request_id)
}

/// The request's own `Helicone-*` headers.
fn helicone_headers(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        if k.as_str().starts_with("helicone-") {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

/// The key: `Helicone-Auth` (on the request or in `meta`), else
/// `Authorization: Bearer <key>` as LiteLLM sends it. Logging needs `w`.
async fn authenticate(
    state: &GatewayState,
    request: &HeaderMap,
    helicone: &HeaderMap,
) -> Result<(String, Option<String>), GatewayError> {
    let raw = helicone
        .get("helicone-auth")
        .or_else(|| request.get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok());
    let Some(raw) = raw else {
        return match state.cfg.auth_mode {
            AuthMode::Optional => Ok((state.cfg.default_org_id.clone(), None)),
            AuthMode::Required => Err(GatewayError::new(
                ErrorCode::MissingAuth,
                "send the heliport key as 'Helicone-Auth: Bearer <key>' or 'Authorization: Bearer <key>'",
            )),
        };
    };
    let key = heliport_store::auth::bearer(raw).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidAuth,
            "the key must be sent as 'Bearer <key>'",
        )
    })?;
    let grant = state.keys.authenticate(key).await.ok_or_else(|| {
        GatewayError::new(ErrorCode::InvalidAuth, "the key is unknown or revoked")
    })?;
    if !grant.permissions.write {
        return Err(GatewayError::new(
            ErrorCode::Forbidden,
            "this key is read-only; logging needs a key with write permission (w or rw)",
        ));
    }
    Ok((grant.org_id, Some(grant.key_id)))
}

/// Start, end and time to first token of a logged call; missing times are now.
fn timing(t: Option<&Value>) -> (DateTime<Utc>, DateTime<Utc>, Option<u64>) {
    let now = Utc::now();
    let at = |key: &str| t.and_then(|t| t.get(key)).and_then(instant);
    let start = at("startTime").unwrap_or(now);
    let end = at("endTime").unwrap_or(now).max(start);
    let ttft = t
        .and_then(|t| t.get("timeToFirstToken"))
        .and_then(Value::as_f64)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| ms as u64);
    (start, end, ttft)
}

/// `{seconds, milliseconds}` (Helicone's SDKs), epoch milliseconds, or an
/// RFC 3339 string.
fn instant(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Object(o) => {
            let secs = o.get("seconds").and_then(Value::as_i64)?;
            let ms = o.get("milliseconds").and_then(Value::as_i64).unwrap_or(0);
            Utc.timestamp_millis_opt(secs.checked_mul(1000)?.checked_add(ms)?)
                .single()
        }
        Value::Number(n) => Utc.timestamp_millis_opt(n.as_i64()?).single(),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.with_timezone(&Utc)),
        _ => None,
    }
}

/// Answer for anything but POST on a log path.
pub(crate) async fn not_post() -> Response<Body> {
    let e = GatewayError::new(ErrorCode::InvalidRequest, "the log API takes POST");
    let mut resp = error_response(&e, ErrorStyle::Rest);
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_shape() {
        let t = json!({
            "startTime": {"seconds": 1_700_000_000, "milliseconds": 250},
            "endTime": 1_700_000_001_750i64,
            "timeToFirstToken": 300
        });
        let (start, end, ttft) = timing(Some(&t));
        assert_eq!(start.timestamp_millis(), 1_700_000_000_250);
        assert_eq!((end - start).num_milliseconds(), 1500);
        assert_eq!(ttft, Some(300));
        let (start, end, ttft) = timing(None);
        assert!(end >= start && ttft.is_none());
        // An end before the start is the start.
        let t = json!({"startTime": "2026-11-30T10:00:05Z", "endTime": "2026-11-30T10:00:00Z"});
        let (start, end, _) = timing(Some(&t));
        assert_eq!(start, end);
    }
}
