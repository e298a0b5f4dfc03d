//! One request (`/requests/{id}`): the chat as messages beside the raw
//! JSON, every recorded field, feedback and scores, and the request as a
//! curl command (with placeholders for the keys).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde_json::Value;

use super::auth::Viewer;
use super::chat;
use super::format::{self, query};
use super::{layout, Dash, PageError};

/// Fields shown in their own sections rather than in the field list.
const SHOWN_APART: &[&str] = &[
    "request_body",
    "response_body",
    "request_properties",
    "scores",
];

fn pretty(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// Single-quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The request as a curl command through heliport; keys are placeholders
/// (heliport never stores the provider's key, and shows no heliport key).
fn curl(row: &Value, base: &str) -> String {
    let path = row
        .get("request_path")
        .and_then(Value::as_str)
        .unwrap_or("/");
    let method = row.get("method").and_then(Value::as_str).unwrap_or("POST");
    let mut lines = vec![format!(
        "curl -X {method} {}",
        shell_quote(&format!("{base}{path}"))
    )];
    let mut header = |name: &str, value: &str| {
        lines.push(format!("  -H {}", shell_quote(&format!("{name}: {value}"))));
    };
    header("Helicone-Auth", "Bearer $HELIPORT_KEY");
    header("Authorization", "Bearer $PROVIDER_API_KEY");
    header("Content-Type", "application/json");
    for (field, name) in [
        ("request_user_id", "Helicone-User-Id"),
        ("session_id", "Helicone-Session-Id"),
        ("session_path", "Helicone-Session-Path"),
        ("session_name", "Helicone-Session-Name"),
        ("prompt_id", "Helicone-Prompt-Id"),
    ] {
        if let Some(v) = row.get(field).and_then(Value::as_str) {
            header(name, v);
        }
    }
    if let Some(props) = row.get("request_properties").and_then(Value::as_object) {
        for (k, v) in props {
            header(
                &format!("Helicone-Property-{k}"),
                v.as_str().unwrap_or_default(),
            );
        }
    }
    match row.get("request_body") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => lines.push(format!("  --data-raw {}", shell_quote(s))),
        Some(v) => lines.push(format!("  --data-raw {}", shell_quote(&v.to_string()))),
    }
    lines.join(" \\\n")
}

fn feedback(row: &Value) -> Markup {
    let rating = row.get("feedback_rating").and_then(Value::as_bool);
    let scores = row.get("scores").and_then(Value::as_object);
    html! {
        h2 { "Feedback and scores" }
        p {
            "Feedback: "
            @match rating {
                Some(true) => span.badge.good { "👍 positive" },
                Some(false) => span.badge.bad { "👎 negative" },
                None => span.muted { "none" },
            }
        }
        @match scores.filter(|s| !s.is_empty()) {
            Some(scores) => table {
                thead { tr { th { "Score" } th.num { "Value" } } }
                tbody { @for (k, v) in scores { tr { td { (k) } td.num { (scalar(v)) } } } }
            },
            None => p.muted { "No scores." },
        }
    }
}

/// `GET /requests/{id}`.
pub(crate) async fn page(
    State(state): State<Dash>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(row) = state
        .api
        .records
        .get_request(&viewer.org_id, &id, false)
        .await?
    else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            format!("No request with id {id} in this organization."),
        ));
    };
    let req_body = row.get("request_body").cloned().unwrap_or(Value::Null);
    let resp_body = row.get("response_body").cloned().unwrap_or(Value::Null);
    let mut messages = chat::request_messages(&req_body);
    messages.extend(chat::response_messages(&resp_body));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:8787");
    let scheme = if state.cfg.secure_cookies {
        "https"
    } else {
        "http"
    };
    let curl_text = curl(&row, &format!("{scheme}://{host}"));
    let get = |k: &str| row.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let fields: Vec<(&String, &Value)> = row
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !SHOWN_APART.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let props = row.get("request_properties").and_then(Value::as_object);
    let body = html! {
        h1 { "Request " code { (id) } }
        dl.fields {
            dt { "Time (UTC)" } dd { (format::time_str(get("request_created_at").unwrap_or_default())) }
            dt { "Status" } dd {
                (row.get("response_status").map(scalar).unwrap_or_default())
                @if let Some(f) = get("failure") { " " span.badge.bad { (f) } }
            }
            dt { "Model" } dd { (get("model").unwrap_or("—")) }
            dt { "Provider" } dd { (get("provider").unwrap_or("—")) " · " code { (get("target_url").unwrap_or_default()) } }
            dt { "Latency" } dd { (format::ms(row.get("delay_ms").and_then(Value::as_f64))) " · first token " (format::ms(row.get("time_to_first_token").and_then(Value::as_f64))) }
            dt { "Tokens" } dd { (row.get("prompt_tokens").map(scalar).unwrap_or_default()) " in · " (row.get("completion_tokens").map(scalar).unwrap_or_default()) " out" }
            dt { "Cost" } dd { (format::row_cost(row.get("cost").and_then(Value::as_f64))) }
            dt { "User" } dd { @if let Some(u) = get("request_user_id") { a href=(format!("/requests{}", query([("range", "all"), ("user", u)]))) { (u) } } @else { "—" } }
            dt { "Session" } dd {
                @if let Some(s) = get("session_id") {
                    a href=(format!("/sessions/{}", format::url_encode(s))) { (s) }
                    @if let Some(p) = get("session_path") { " · " code { (p) } }
                } @else { "—" }
            }
            @if let Some(parent) = get("parent_request_id") {
                dt { "Attempt of" } dd { a href=(format!("/requests/{}", format::url_encode(parent))) { (parent) } }
            }
        }
        div.split {
            section {
                h2 { "Conversation" }
                @if messages.is_empty() { p.muted { "Not a chat body; see the raw JSON." } }
                (chat::render(&messages))
            }
            section {
                h2 { "Raw JSON" }
                h3 { "Request body" }
                pre { (pretty(&req_body)) }
                h3 { "Response body" }
                pre { (pretty(&resp_body)) }
            }
        }
        h2 { "Properties" }
        @match props.filter(|p| !p.is_empty()) {
            Some(props) => table {
                thead { tr { th { "Name" } th { "Value" } } }
                tbody { @for (k, v) in props {
                    tr {
                        td { (k) }
                        td { a href=(format!("/requests{}", query([("range", "all"), ("prop_name", k.as_str()), ("prop_value", v.as_str().unwrap_or_default())]))) { (scalar(v)) } }
                    }
                } }
            },
            None => p.muted { "No custom properties." },
        }
        (feedback(&row))
        h2 { "Copy as curl" }
        p.muted { "Keys are placeholders: set HELIPORT_KEY and PROVIDER_API_KEY." }
        div.actions { button type="button" data-copy="curl" hidden { "Copy" } }
        pre #curl { (curl_text) }
        h2 { "Every recorded field" }
        table {
            tbody { @for (k, v) in &fields { tr { th { (k) } td.mono { (scalar(v)) } } } }
        }
    };
    Ok(layout::page(&viewer, "/requests", "Request", body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn curl_quotes_and_redacts() {
        let row = json!({"request_path": "/v1/chat/completions", "method": "POST",
            "request_body": {"q": "it's"}, "request_properties": {"env": "prod"}, "request_user_id": "u1"});
        let c = curl(&row, "http://h");
        assert!(c.contains("'http://h/v1/chat/completions'"));
        assert!(c.contains(r"it'\''s"));
        assert!(c.contains("Helicone-Property-env: prod"));
        assert!(c.contains("$HELIPORT_KEY"));
    }
}
