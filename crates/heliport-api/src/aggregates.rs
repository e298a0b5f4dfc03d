//! Aggregates: users, sessions, properties, prompts, and heliport's metrics
//! query. Everything comes from the stores' rollups.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use heliport_core::analytics::{
    parse_metrics_query, parse_prompt_query, parse_property_query, parse_session_query,
    parse_user_query,
};
use heliport_store::model::{PromptVersion, PromptVersionStats};
use serde_json::{Map, Value};

use crate::{bad_request, json_body, ok, org_for, Access, ApiError, ApiState};

/// `POST /v1/user/query {userIds?, timeFilter?, search?, sort?, limit?, offset?}`.
pub(crate) async fn users(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_user_query(&json_body(&body)?)?;
    Ok(ok(state.analytics.users(&org, &q).await?))
}

/// `POST /v1/session/query {timeFilter?, search?, nameEquals?, userId?,
/// filter?, sort?, limit?, offset?}`.
pub(crate) async fn sessions(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_session_query(&json_body(&body)?)?;
    Ok(ok(state.analytics.sessions(&org, &q).await?))
}

/// `GET /v1/session/{id}`: the session with its requests as a tree by path.
pub(crate) async fn session(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    match state.analytics.session_tree(&org, &id).await? {
        Some(tree) => Ok(ok(tree)),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no session with id '{id}' in this organization"),
        )),
    }
}

/// `POST /v1/property/query {timeFilter?, search?, sort?, limit?, offset?}`:
/// property names with their totals.
pub(crate) async fn property_names(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_property_query(&json_body(&body)?)?;
    Ok(ok(state.analytics.property_names(&org, &q).await?))
}

/// `POST /v1/property/{name}/query` (and Helicone's `/search` with
/// `searchTerm`): one property's values with their totals.
pub(crate) async fn property_values(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_property_query(&json_body(&body)?)?;
    // Stored lowercase, as header names arrive.
    let name = name.to_lowercase();
    Ok(ok(state.analytics.property_values(&org, &name, &q).await?))
}

/// `POST /v1/prompt/query {search?, limit?, offset?}`: prompt ids with
/// their versions, most recently versioned first.
pub(crate) async fn prompts(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_prompt_query(&json_body(&body)?)?;
    Ok(ok(state.meta.prompts(&org, &q).await?))
}

/// A version with its template and the requests made with it.
fn version_json(v: &PromptVersion, stats: Option<&PromptVersionStats>) -> Value {
    let mut m = match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let stats = stats.cloned().unwrap_or(PromptVersionStats {
        version: v.version,
        sums: Default::default(),
        first_used: None,
        last_used: None,
    });
    if let Ok(Value::Object(s)) = serde_json::to_value(&stats) {
        for (k, val) in s {
            m.entry(k).or_insert(val);
        }
    }
    Value::Object(m)
}

/// A prompt's versions (one when `version` is given) with their usage; 404
/// when there are none.
async fn versions(
    state: &ApiState,
    org: &str,
    id: &str,
    version: Option<i64>,
) -> Result<Vec<Value>, ApiError> {
    let versions = state.meta.prompt_versions(org, id, version).await?;
    if versions.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            match version {
                Some(v) => format!("prompt '{id}' has no version {v} in this organization"),
                None => format!("no prompt with id '{id}' in this organization"),
            },
        ));
    }
    let stats = state.analytics.prompt_stats(org, id).await?;
    Ok(versions
        .iter()
        .map(|v| version_json(v, stats.iter().find(|s| s.version == v.version)))
        .collect())
}

/// `GET /v1/prompt/{id}`: the prompt with every version, its template and
/// the requests made with it.
pub(crate) async fn prompt(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let versions = versions(&state, &org, &id, None).await?;
    Ok(ok(serde_json::json!({
        "prompt_id": id,
        "latest_version": versions.last().and_then(|v| v.get("version")).cloned(),
        "versions": versions,
    })))
}

/// `POST /v1/prompt/{id}/versions/query`: the versions alone.
pub(crate) async fn prompt_versions(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    Ok(ok(versions(&state, &org, &id, None).await?))
}

/// `GET /v1/prompt/{id}/versions/{version}`.
pub(crate) async fn prompt_version(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let version: i64 = version
        .parse()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| bad_request(format!("a prompt version is a number, got '{version}'")))?;
    let mut list = versions(&state, &org, &id, Some(version)).await?;
    Ok(ok(list.pop()))
}

/// heliport's `POST /v1/request/metrics/query {timeFilter, filter?,
/// bucket?, groupBy?, limit?, tzOffsetMinutes? | timezoneDifference?}`:
/// totals with latency and TTFT percentiles, an optional time series and
/// an optional breakdown.
pub(crate) async fn metrics(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_metrics_query(&json_body(&body)?)?;
    Ok(ok(state.analytics.metrics(&org, &q).await?))
}
