//! Request records: query, count, get, and the annotations a client adds
//! (feedback, scores, property edits).

use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use heliport_core::filter::{parse_filter, parse_query, FilterNode, MAX_TEXT_BYTES};
use heliport_store::model::ScoreValue;
use serde_json::{json, Value};

use crate::{bad_request, json_body, ok, org_for, Access, ApiError, ApiState};

/// Longest a score or property name may be, in bytes.
const MAX_NAME_BYTES: usize = 256;
/// Most scores one call may set.
const MAX_SCORES: usize = 100;
/// How long an annotation waits for a record still in the writer's queue
/// (records reach the store within ~20 ms of their response).
const RECORD_WAIT: Duration = Duration::from_secs(1);

pub(crate) async fn query(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let q = parse_query(&json_body(&body)?)?;
    Ok(ok(state.records.query_requests(&org, &q).await?))
}

pub(crate) async fn count(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let v = json_body(&body)?;
    let filter = match v.get("filter") {
        Some(f) => parse_filter(f)?,
        None => FilterNode::All,
    };
    Ok(ok(state.records.count_requests(&org, &filter).await?))
}

/// `GET /v1/request/{id}` (`?raw_bodies=true`: a streamed answer's events
/// as stored).
pub(crate) async fn get(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Read).await?;
    let raw = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.eq_ignore_ascii_case("raw_bodies=true"))
    });
    match state.records.get_request(&org, &id, raw).await? {
        Some(row) => Ok(ok(row)),
        None => Err(unknown(&id)),
    }
}

fn unknown(id: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no request with id '{id}' in this organization"),
    )
}

/// Runs an annotation; while the record is not there yet (still in the
/// writer's queue), tries again for up to [`RECORD_WAIT`].
async fn annotate<F, Fut>(id: &str, mut op: F) -> Result<(), ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, heliport_store::StoreError>>,
{
    let deadline = Instant::now() + RECORD_WAIT;
    loop {
        if op().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(unknown(id));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn rating(v: &Value) -> Result<bool, ApiError> {
    match v.get("rating") {
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad_request(format!(
            "`rating` must be true (positive) or false (negative), got {other}"
        ))),
        None => Err(bad_request(
            "`rating` is required: true (positive) or false (negative)",
        )),
    }
}

async fn set_feedback(
    state: &ApiState,
    org: &str,
    id: &str,
    rating: bool,
) -> Result<Response, ApiError> {
    annotate(id, || state.records.set_feedback(org, id, rating)).await?;
    Ok(ok(json!({"request_id": id, "rating": rating})))
}

/// `POST /v1/request/{id}/feedback {rating: bool}`.
pub(crate) async fn feedback(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Write).await?;
    let rating = rating(&json_body(&body)?)?;
    set_feedback(&state, &org, &id, rating).await
}

/// `POST /v1/feedback {"helicone-id", rating}` (Helicone's older form).
pub(crate) async fn feedback_by_body(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Write).await?;
    let v = json_body(&body)?;
    let id = match v.get("helicone-id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_TEXT_BYTES => s.clone(),
        Some(other) => {
            return Err(bad_request(format!(
                "`helicone-id` must be the request's id (a string), got {other}"
            )))
        }
        None => return Err(bad_request("`helicone-id` is required: the request's id")),
    };
    let rating = rating(&v)?;
    set_feedback(&state, &org, &id, rating).await
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(bad_request(format!(
            "{what} names must be 1 to {MAX_NAME_BYTES} bytes, got {} bytes",
            name.len()
        )));
    }
    Ok(())
}

/// `POST /v1/request/{id}/score {scores: {name: int | bool}}`.
pub(crate) async fn score(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Write).await?;
    let v = json_body(&body)?;
    let Some(Value::Object(map)) = v.get("scores") else {
        return Err(bad_request(
            "`scores` is required: an object of names to integers or booleans, e.g. {\"accuracy\": 87, \"passed\": true}",
        ));
    };
    if map.is_empty() || map.len() > MAX_SCORES {
        return Err(bad_request(format!(
            "`scores` must hold 1 to {MAX_SCORES} scores, got {}",
            map.len()
        )));
    }
    let mut scores = Vec::with_capacity(map.len());
    for (name, value) in map {
        check_name("score", name)?;
        let value = match value {
            Value::Bool(b) => ScoreValue::Bool(*b),
            Value::Number(n) => ScoreValue::Int(n.as_i64().ok_or_else(|| {
                bad_request(format!(
                    "score `{name}` must be an integer or a boolean, got {n}"
                ))
            })?),
            other => {
                return Err(bad_request(format!(
                    "score `{name}` must be an integer or a boolean, got {other}"
                )))
            }
        };
        scores.push((name.clone(), value));
    }
    annotate(&id, || state.records.add_scores(&org, &id, &scores)).await?;
    let echoed: serde_json::Map<String, Value> = map.clone();
    Ok(ok(json!({"request_id": id, "scores": echoed})))
}

/// `PUT /v1/request/{id}/property {key, value}`: the name is lowercased,
/// as header names are.
pub(crate) async fn property(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let org = org_for(&state, &headers, Access::Write).await?;
    let v = json_body(&body)?;
    let key = match v.get("key") {
        Some(Value::String(k)) => k.trim().to_lowercase(),
        other => {
            return Err(bad_request(format!(
                "`key` must be the property's name (a string), got {}",
                other.map_or("nothing".to_string(), Value::to_string)
            )))
        }
    };
    check_name("property", &key)?;
    let value = match v.get("value") {
        Some(Value::String(s)) if s.len() <= MAX_TEXT_BYTES => s.clone(),
        Some(Value::String(s)) => {
            return Err(bad_request(format!(
                "`value` is {} bytes; at most {MAX_TEXT_BYTES}",
                s.len()
            )))
        }
        other => {
            return Err(bad_request(format!(
                "`value` must be a string, got {}",
                other.map_or("nothing".to_string(), Value::to_string)
            )))
        }
    };
    annotate(&id, || state.records.set_property(&org, &id, &key, &value)).await?;
    Ok(ok(json!({"request_id": id, "key": key, "value": value})))
}
