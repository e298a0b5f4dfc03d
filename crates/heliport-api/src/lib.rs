//! heliport's REST API (SPEC §7): Helicone-compatible request queries,
//! authenticated with `Authorization: Bearer <key>` and scoped to the key's
//! organization. Every answer is the envelope `{"data": ..., "error": null}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use heliport_core::filter::{parse_filter, parse_query, FilterNode};
use heliport_store::auth::{bearer, KeyCache};
use heliport_store::SqliteStore;
use serde_json::{json, Value};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: SqliteStore,
    pub keys: Arc<KeyCache>,
}

/// The REST routes, ready to merge into the server's router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/request/query", post(query_requests))
        .route("/v1/request/query-clickhouse", post(query_requests))
        .route("/v1/request/count/query", post(count_requests))
        .route("/v1/request/{id}", get(get_request))
        // Endpoints of SPEC §7 this version does not serve yet say so; any
        // other path in the namespace is a 404 (answered by the gateway),
        // never proxied.
        .route("/v1/request/{id}/feedback", any(not_available))
        .route("/v1/request/{id}/score", any(not_available))
        .route("/v1/request/{id}/property", any(not_available))
        .route("/v1/feedback", any(not_available))
        .route("/v1/user/query", any(not_available))
        .route("/v1/session/query", any(not_available))
        .route("/v1/property/query", any(not_available))
        .route("/v1/prompt", any(not_available))
        .route("/v1/prompt/{*rest}", any(not_available))
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

async fn not_available(uri: axum::http::Uri) -> ApiError {
    ApiError(
        StatusCode::NOT_IMPLEMENTED,
        format!(
            "{} is part of heliport's REST API but not available in this version",
            uri.path()
        ),
    )
}

/// An API error: a 4xx/5xx with the envelope.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"data": null, "error": self.1}))).into_response()
    }
}

fn ok(data: Value) -> Response {
    Json(json!({"data": data, "error": null})).into_response()
}

/// The caller's organization, for a key with read permission.
async fn read_org(state: &ApiState, headers: &HeaderMap) -> Result<String, ApiError> {
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
    if !grant.permissions.read {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "forbidden: this key cannot read; use a key with r or rw permission".into(),
        ));
    }
    Ok(grant.org_id)
}

fn json_body(body: &axum::body::Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "query failed");
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the query failed; see heliport's log".into(),
    )
}

async fn query_requests(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = read_org(&state, &headers).await?;
    let q = parse_query(&json_body(&body)?)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let rows = heliport_store::query::query_requests(state.store.pool(), &org, &q)
        .await
        .map_err(store_error)?;
    Ok(ok(Value::Array(rows)))
}

async fn count_requests(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = read_org(&state, &headers).await?;
    let v = json_body(&body)?;
    let filter = match v.get("filter") {
        Some(f) => parse_filter(f).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?,
        None => FilterNode::All,
    };
    let n = heliport_store::query::count_requests(state.store.pool(), &org, &filter)
        .await
        .map_err(store_error)?;
    Ok(ok(json!(n)))
}

async fn get_request(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let org = read_org(&state, &headers).await?;
    match heliport_store::query::get_request(state.store.pool(), &org, &id)
        .await
        .map_err(store_error)?
    {
        Some(row) => Ok(ok(row)),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no request with id '{id}'"),
        )),
    }
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
}
