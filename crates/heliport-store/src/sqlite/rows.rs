//! Maps a `requests` row to Helicone's request JSON, plus heliport's own
//! fields.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::db;
use crate::error::StoreError;

/// Maps a `requests` row (selected with [`REQUEST_COLUMNS`] or `*`) to
/// Helicone's request JSON, plus heliport's own fields.
/// A streamed answer's `response_body` is consolidated into the JSON object
/// the call would have answered without streaming, unless `raw_bodies`.
pub(crate) fn row_to_json(row: &SqliteRow, raw_bodies: bool) -> Result<Value, StoreError> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    let cost_nano = int(row, "cost_nano_usd")?;
    let cost = match cost_nano {
        // Precision loss only above ~9 million USD per request.
        Some(n) => serde_json::Number::from_f64(n as f64 / 1e9)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let failure = text(row, "failure")?;

    put("request_id", text_value(row, "request_id")?);
    let created =
        int(row, "created_at")?.ok_or_else(|| StoreError::Corrupt("created_at is NULL".into()))?;
    put("request_created_at", Value::String(rfc3339(created)?));
    put("request_path", text_value(row, "path")?);
    put("request_body", body(row, "request_body")?);
    put("request_model", text_value(row, "request_model")?);
    put("request_user_id", text_value(row, "user_id")?);
    put("request_properties", object(row, "properties")?);
    put("response_status", int_value(row, "status")?);
    let response_body = match text(row, "response_body")? {
        Some(t) if !raw_bodies && flag(row, "stream")? => {
            heliport_core::consolidate::consolidate(&t).unwrap_or_else(|| parse_json(Some(t)))
        }
        other => parse_json(other),
    };
    put("response_body", response_body);
    put("response_model", text_value(row, "response_model")?);
    put(
        "response_created_at",
        match int(row, "response_created_at")? {
            Some(t) => Value::String(rfc3339(t)?),
            None => Value::Null,
        },
    );
    put("model", text_value(row, "model")?);
    put("model_override", text_value(row, "model_override")?);
    put("provider", text_value(row, "provider")?);
    put("delay_ms", int_value(row, "latency_ms")?);
    put(
        "time_to_first_token",
        int_value(row, "time_to_first_token_ms")?,
    );
    for col in [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_cache_read_tokens",
        "prompt_cache_write_tokens",
        "reasoning_tokens",
    ] {
        put(col, int_value(row, col)?);
    }
    put("cost", cost.clone());
    put("costUSD", cost);
    put(
        "cost_nano_usd",
        cost_nano.map(Value::from).unwrap_or(Value::Null),
    );
    put("prompt_id", text_value(row, "prompt_id")?);
    put("cache_enabled", Value::Bool(flag(row, "cache_enabled")?));
    put("cache_reference_id", text_value(row, "cache_reference_id")?);
    put("target_url", text_value(row, "target_url")?);
    put("scores", object(row, "scores")?);
    put(
        "feedback_rating",
        int(row, "feedback_rating")?
            .map(|r| Value::Bool(r != 0))
            .unwrap_or(Value::Null),
    );
    for col in ["session_id", "session_path", "session_name"] {
        put(col, text_value(row, col)?);
    }
    put("prompt_version", int_value(row, "prompt_version")?);
    put(
        "prompt_inputs",
        match parse_json(text(row, "prompt_inputs")?) {
            v @ Value::Object(_) => v,
            _ => Value::Null,
        },
    );
    put("cached", Value::Bool(flag(row, "cached")?));
    put("cache_bucket_idx", int_value(row, "cache_bucket_idx")?);
    put("attempts", int_value(row, "attempts")?);
    put("fallback_index", int_value(row, "fallback_index")?);
    put("parent_request_id", text_value(row, "parent_request_id")?);
    put(
        "cache_saved_nano_usd",
        int_value(row, "cache_saved_nano_usd")?,
    );
    put("threat", Value::Bool(flag(row, "threat")?));
    put("flagged", Value::Bool(flag(row, "flagged")?));
    put(
        "usage_estimated",
        Value::Bool(flag(row, "usage_estimated")?),
    );
    put(
        "cancelled",
        Value::Bool(failure.as_deref() == Some("cancelled")),
    );
    put("failure", failure.map(Value::String).unwrap_or(Value::Null));
    put("stream", Value::Bool(flag(row, "stream")?));
    put("method", text_value(row, "method")?);
    put("api_key_id", text_value(row, "api_key_id")?);
    put(
        "request_body_truncated",
        Value::Bool(flag(row, "request_body_truncated")?),
    );
    put(
        "response_body_truncated",
        Value::Bool(flag(row, "response_body_truncated")?),
    );
    put("body_cap_bytes", int_value(row, "body_cap_bytes")?);
    Ok(Value::Object(m))
}

fn text(row: &SqliteRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col)
        .map_err(db("reading a request row"))
}

fn int(row: &SqliteRow, col: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(db("reading a request row"))
}

fn text_value(row: &SqliteRow, col: &str) -> Result<Value, StoreError> {
    Ok(text(row, col)?.map(Value::String).unwrap_or(Value::Null))
}

fn int_value(row: &SqliteRow, col: &str) -> Result<Value, StoreError> {
    Ok(int(row, col)?.map(Value::from).unwrap_or(Value::Null))
}

fn flag(row: &SqliteRow, col: &str) -> Result<bool, StoreError> {
    Ok(int(row, col)?.is_some_and(|v| v != 0))
}

fn parse_json(s: Option<String>) -> Value {
    match s {
        Some(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        None => Value::Null,
    }
}

/// A body is returned as JSON when it parses (truncated bodies will not) and
/// as the raw string otherwise.
fn body(row: &SqliteRow, col: &str) -> Result<Value, StoreError> {
    Ok(parse_json(text(row, col)?))
}

/// `properties` and `scores` are JSON objects; anything else reads as `{}`
/// so one bad row cannot break a whole page.
fn object(row: &SqliteRow, col: &str) -> Result<Value, StoreError> {
    Ok(match parse_json(text(row, col)?) {
        v @ Value::Object(_) => v,
        _ => Value::Object(Map::new()),
    })
}

fn rfc3339(micros: i64) -> Result<String, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {micros}us is out of range")))
}
