//! heliport's REST API (SPEC §7), Helicone-compatible: request queries,
//! counts and exports, feedback, scores and property edits, and users,
//! sessions, properties and prompts, plus heliport's metrics query.
//!
//! Authenticated with `Authorization: Bearer <key>`: reads need `r`, writes
//! `w`; everything is scoped to the key's organization. Every answer is the
//! envelope `{"data": ..., "error": null}` (on error `{"data": null,
//! "error": "message"}`), except exports, which stream CSV or JSON lines.
//! A client's mistake is a 4xx naming it, never a 500.
//!
//! The web dashboard ([`dashboard`]) reads through the same stores.

#![warn(missing_docs)]

mod aggregates;
pub mod dashboard;
mod export;
mod requests;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use heliport_store::auth::{bearer, KeyCache};
use heliport_store::{AnalyticsStore, MetaStore, RecordStore, StoreError};
use serde_json::{json, Value};

/// What the API handlers share: the stores (as traits) and the key cache.
#[derive(Clone)]
pub struct ApiState {
    /// Request records.
    pub records: Arc<dyn RecordStore>,
    /// Aggregates.
    pub analytics: Arc<dyn AnalyticsStore>,
    /// Organizations, keys, prompts.
    pub meta: Arc<dyn MetaStore>,
    /// Authenticates API keys.
    pub keys: Arc<KeyCache>,
}

/// The REST routes, ready to merge into the server's router. Paths in the
/// namespace that name no endpoint are a 404 (answered by the gateway),
/// never proxied.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/request/query", post(requests::query))
        .route("/v1/request/query-clickhouse", post(requests::query))
        .route("/v1/request/count/query", post(requests::count))
        .route("/v1/request/export", post(export::export))
        .route("/v1/request/metrics/query", post(aggregates::metrics))
        .route("/v1/request/{id}", get(requests::get))
        .route("/v1/request/{id}/feedback", post(requests::feedback))
        .route("/v1/request/{id}/score", post(requests::score))
        .route("/v1/request/{id}/property", put(requests::property))
        .route("/v1/feedback", post(requests::feedback_by_body))
        .route("/v1/user/query", post(aggregates::users))
        .route("/v1/session/query", post(aggregates::sessions))
        .route("/v1/session/{id}", get(aggregates::session))
        .route("/v1/property/query", post(aggregates::property_names))
        .route(
            "/v1/property/{name}/query",
            post(aggregates::property_values),
        )
        .route(
            "/v1/property/{name}/search",
            post(aggregates::property_values),
        )
        .route("/v1/prompt/query", post(aggregates::prompts))
        .route("/v1/prompt/{id}", get(aggregates::prompt))
        .route(
            "/v1/prompt/{id}/versions/query",
            post(aggregates::prompt_versions),
        )
        .route(
            "/v1/prompt/{id}/versions/{version}",
            get(aggregates::prompt_version),
        )
        .with_state(state)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(envelope_rejections))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not accepted on {}", uri.path()),
    )
}

/// Largest rejection text carried into the envelope.
const REJECTION_TEXT_BYTES: usize = 4 << 10;

/// axum answers its own rejections (a body over the limit, a body that cannot
/// be read) in plain text; every REST answer is the JSON envelope.
async fn envelope_rejections(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json || !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    ApiError(parts.status, message).into_response()
}

/// An API error: a 4xx/5xx with the envelope.
#[derive(Debug)]
pub(crate) struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"data": null, "error": self.1}))).into_response()
    }
}

impl From<heliport_core::filter::FilterError> for ApiError {
    fn from(e: heliport_core::filter::FilterError) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, e.to_string())
    }
}

/// A store failure as the client sees it: its own mistakes in full, a busy
/// or slow store as 503 with the reason, anything else as a 500 whose
/// details go to the log only.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Invalid(_) | StoreError::Filter(_) => {
                ApiError(StatusCode::BAD_REQUEST, e.to_string())
            }
            StoreError::NotFound(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            StoreError::Timeout(_) => {
                tracing::warn!(error = %e, "a REST query hit the statement timeout");
                ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            other => {
                tracing::error!(error = %other, "a REST query failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the query failed; see heliport's log".into(),
                )
            }
        }
    }
}

pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

/// The envelope `{"data": ..., "error": null}`.
#[derive(serde::Serialize)]
struct Envelope<'a, T> {
    data: &'a T,
    error: Option<&'a str>,
}

/// The envelope around `data`, serialised once, straight from `data` (a
/// page of 1,000 records is megabytes: no copy of it is made on the way).
pub(crate) fn ok(data: impl serde::Serialize) -> Response {
    match serde_json::to_vec(&Envelope {
        data: &data,
        error: None,
    }) {
        Ok(bytes) => (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot serialise the answer: {e}"),
        )
        .into_response(),
    }
}

/// What an access needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// The caller's organization, for a key with the permission `access` needs.
pub(crate) async fn org_for(
    state: &ApiState,
    headers: &HeaderMap,
    access: Access,
) -> Result<String, ApiError> {
    let raw = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "missing_auth: send 'Authorization: Bearer <heliport key>'".into(),
            )
        })?;
    let key = raw.to_str().ok().and_then(bearer).ok_or_else(|| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "invalid_auth: Authorization must be 'Bearer <heliport key>'".into(),
        )
    })?;
    let grant = state.keys.authenticate(key).await.ok_or_else(|| {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "invalid_auth: the key is unknown or revoked".into(),
        )
    })?;
    match access {
        Access::Read if !grant.permissions.read => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden: this key cannot read; use a key with r or rw permission".into(),
        )),
        Access::Write if !grant.permissions.write => Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden: this key cannot write; use a key with w or rw permission".into(),
        )),
        _ => Ok(grant.org_id),
    }
}

/// The JSON body (an empty body reads as `{}`).
pub(crate) fn json_body(body: &axum::body::Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("the body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn axum_rejections_are_answered_in_the_envelope() {
        let plain = (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        )
            .into_response();
        let resp = envelope_rejections(plain).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"], Value::Null);
        assert!(v["error"].as_str().unwrap().contains("length limit"));
        // An empty refusal gets the status's reason; JSON answers pass as they are.
        let empty = StatusCode::METHOD_NOT_ALLOWED.into_response();
        let body = axum::body::to_bytes(envelope_rejections(empty).await.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Method Not Allowed"));
        let ok = ok(json!([1]));
        let body = axum::body::to_bytes(envelope_rejections(ok).await.into_body(), 1 << 16)
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap()["data"],
            json!([1])
        );
    }

    #[test]
    fn store_errors_map_to_statuses() {
        let s = |e: StoreError| ApiError::from(e).0;
        assert_eq!(s(StoreError::Invalid("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(s(StoreError::NotFound("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(s(StoreError::Timeout(5)), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            s(StoreError::Corrupt("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
