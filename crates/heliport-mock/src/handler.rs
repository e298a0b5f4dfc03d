//! Request routing and the control flow shared by every endpoint.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::body::{MockBody, Pacing};
use crate::controls::Controls;
use crate::text::{count_words, split_reply, text_words};
use crate::{anthropic, gemini, openai, State};

const REQUEST_NUMBER: HeaderName = HeaderName::from_static("x-mock-request-number");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// What an endpoint produced, before status and headers are attached.
pub enum Reply {
    /// A complete JSON document.
    Json(Bytes),
    /// A streamed body, one frame per element of `events`.
    Stream {
        content_type: &'static str,
        events: Vec<Bytes>,
    },
}

impl Reply {
    pub fn sse(events: Vec<Bytes>) -> Self {
        Reply::Stream {
            content_type: "text/event-stream",
            events,
        }
    }
}

/// Everything an endpoint needs besides the request body.
pub struct Ctx<'a> {
    /// Request number; also used in ids.
    pub n: u64,
    /// Unix seconds.
    pub created: u64,
    pub model: String,
    pub reply: &'a str,
    /// Words in the prompt, at least 1.
    pub prompt_words: u64,
    pub completion_words: u64,
    pub controls: &'a Controls,
}

impl Ctx<'_> {
    /// The reply split into per-event stream pieces.
    pub fn pieces(&self) -> Vec<&str> {
        split_reply(self.reply)
    }

    /// `x-mock-usage-json` as a value, for the endpoints built with `json!`.
    pub fn usage_value(&self) -> Option<Value> {
        self.controls
            .usage_json
            .as_deref()
            .and_then(|u| serde_json::from_str(u).ok())
    }

    /// The `service_tier` to report, as a JSON string (borrowed unless a
    /// test set one: chat completions are the benchmark's hot path).
    pub fn service_tier(&self) -> std::borrow::Cow<'static, str> {
        match &self.controls.service_tier {
            Some(t) => crate::text::json_str(t).into(),
            None => r#""default""#.into(),
        }
    }
}

/// Which provider's error shape a route uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    OpenAi,
    Anthropic,
    Gemini,
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Chat,
    Completions,
    Embeddings,
    Responses,
    Moderations,
    Messages,
    /// PostHog's capture endpoint (`/capture/`, `/batch/`): accepted and kept for inspection.
    Capture,
    /// An OTLP/HTTP traces collector (`/v1/traces`): accepted and kept for inspection.
    Traces,
    /// A prompt-security classifier (`/classify`): `{"text"}` to `{"threat"}`.
    Classify,
    Gemini {
        model: String,
        stream: bool,
        sse: bool,
    },
    NotFound,
}

impl Route {
    fn parse(method: &Method, path: &str, query: Option<&str>) -> Route {
        if method != Method::POST {
            return Route::NotFound;
        }
        let path = path.trim_end_matches('/');
        if path.ends_with("/capture") || path.ends_with("/batch") {
            return Route::Capture;
        }
        if path.ends_with("/v1/traces") {
            return Route::Traces;
        }
        if path.ends_with("/classify") {
            return Route::Classify;
        }
        if let Some(idx) = path.rfind("/models/") {
            let rest = &path[idx + "/models/".len()..];
            if let Some((model, action)) = rest.split_once(':') {
                let stream = match action {
                    "generateContent" => false,
                    "streamGenerateContent" => true,
                    _ => return Route::NotFound,
                };
                let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
                return Route::Gemini {
                    model: model.to_owned(),
                    stream,
                    sse,
                };
            }
        }
        // `/chat/completions` must be tested before its suffix `/completions`.
        const SUFFIXES: [(&str, Route); 6] = [
            ("/chat/completions", Route::Chat),
            ("/completions", Route::Completions),
            ("/embeddings", Route::Embeddings),
            ("/responses", Route::Responses),
            ("/moderations", Route::Moderations),
            ("/messages", Route::Messages),
        ];
        for (suffix, route) in SUFFIXES {
            if path.ends_with(suffix) {
                return route;
            }
        }
        Route::NotFound
    }

    fn flavor(&self) -> Flavor {
        match self {
            Route::Messages => Flavor::Anthropic,
            Route::Gemini { .. } => Flavor::Gemini,
            _ => Flavor::OpenAi,
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, APPLICATION_JSON);
    resp
}

fn gemini_status_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// An error in `flavor`'s shape. `kind` is the error type (OpenAI/Anthropic);
/// `code` is OpenAI's `code` field.
fn error_response(
    flavor: Flavor,
    status: StatusCode,
    kind: &str,
    code: &str,
    message: &str,
) -> Response<MockBody> {
    let body = match flavor {
        Flavor::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Flavor::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
        Flavor::Gemini => json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "status": gemini_status_name(status),
        }}),
    };
    json_response(status, body.to_string())
}

/// The `x-mock-status` / fail-count error.
fn mock_error(flavor: Flavor, status: StatusCode, controls: &Controls) -> Response<MockBody> {
    let code = status.as_u16();
    let message = format!("mock error {code}");
    let mut resp = match flavor {
        Flavor::Anthropic => error_response(flavor, status, "api_error", "", &message),
        _ => error_response(
            flavor,
            status,
            "mock_error",
            &format!("mock_{code}"),
            &message,
        ),
    };
    if let Some(retry) = &controls.retry_after {
        resp.headers_mut().insert(RETRY_AFTER, retry.clone());
    }
    resp
}

fn invalid_request(flavor: Flavor, message: &str) -> Response<MockBody> {
    error_response(
        flavor,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        "invalid_request",
        message,
    )
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "x-mock-break-after: closing the connection without a response",
    )
}

/// Serve one request. An `Err` makes hyper drop the connection without
/// answering, which is how `x-mock-break-after` works for non-streams.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> io::Result<Response<MockBody>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();

    let path = parts.uri.path();
    if path.contains("/__mock/") {
        return Ok(crate::admin(&state, &parts.method, path));
    }

    let n = state.next_request_number();
    let route = Route::parse(&parts.method, path, parts.uri.query());
    let controls = Controls::parse(&parts.headers);
    state.record(
        parts.method,
        parts.version,
        parts.uri,
        parts.headers,
        body.clone(),
    );

    let mut resp = respond(&state, n, route, controls, &body).await?;
    resp.body_mut().count_cut_in(&state.streams_cut);
    resp.headers_mut()
        .insert(REQUEST_NUMBER, HeaderValue::from(n));
    Ok(resp)
}

async fn respond(
    state: &State,
    n: u64,
    route: Route,
    controls: Result<Controls, String>,
    body: &[u8],
) -> io::Result<Response<MockBody>> {
    let flavor = route.flavor();
    let controls = match controls {
        Ok(c) => c,
        Err(message) => return Ok(invalid_request(flavor, &message)),
    };
    if let Some(delay) = controls.delay {
        tokio::time::sleep(delay).await;
    }
    if route == Route::NotFound {
        return Ok(error_response(
            Flavor::OpenAi,
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            "mock: no such endpoint",
        ));
    }
    if let Some(status) = controls.status {
        return Ok(mock_error(flavor, status, &controls));
    }
    match route {
        // Sinks: what arrived is read back through /__mock/requests.
        Route::Capture => return Ok(json_response(StatusCode::OK, r#"{"status":1}"#)),
        Route::Traces => {
            let mut resp = Response::new(MockBody::full(Bytes::new()));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            );
            return Ok(resp);
        }
        _ => {}
    }
    if let Some(fail) = &controls.fail {
        if state.should_fail(&fail.id, fail.count) {
            return Ok(mock_error(flavor, fail.status, &controls));
        }
    }

    let json: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return Ok(invalid_request(
                flavor,
                "request body must be a JSON object",
            ))
        }
        Err(e) => {
            return Ok(invalid_request(
                flavor,
                &format!("request body is not valid JSON: {e}"),
            ))
        }
    };

    if route == Route::Classify {
        let text = json.get("text").and_then(Value::as_str).unwrap_or_default();
        let threat = text.contains("THREATME");
        return Ok(json_response(
            StatusCode::OK,
            json!({ "threat": threat }).to_string(),
        ));
    }

    let (prompt_keys, default_model): (&[&str], &str) = match &route {
        Route::Chat => (&["messages"], "mock-model"),
        Route::Completions => (&["prompt"], "mock-model"),
        Route::Embeddings => (&["input"], "mock-embedding"),
        Route::Responses => (&["input", "instructions"], "mock-model"),
        Route::Moderations => (&["input"], "omni-moderation-latest"),
        Route::Messages => (&["system", "messages"], "mock-model"),
        Route::Gemini { .. } => (&["contents", "systemInstruction", "system_instruction"], ""),
        Route::NotFound | Route::Capture | Route::Traces | Route::Classify => (&[], ""),
    };
    let model = match (&controls.model, &route) {
        (Some(m), _) => m.clone(),
        (None, Route::Gemini { model, .. }) => model.clone(),
        (None, _) => json
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(default_model)
            .to_owned(),
    };
    let prompt_words: u64 = prompt_keys
        .iter()
        .filter_map(|k| json.get(*k))
        .map(text_words)
        .sum();
    let cx = Ctx {
        n,
        created: now_secs(),
        model,
        reply: &controls.reply,
        prompt_words: prompt_words.max(1),
        completion_words: count_words(&controls.reply),
        controls: &controls,
    };

    let reply = match &route {
        Route::Chat => openai::chat(&json, &cx),
        Route::Completions => openai::completions(&json, &cx),
        Route::Embeddings => openai::embeddings(&json, &cx),
        Route::Responses => openai::responses(&json, &cx),
        Route::Moderations => openai::moderations(&json, &cx),
        Route::Messages => anthropic::messages(&json, &cx),
        Route::Gemini { stream: false, .. } => gemini::generate(&cx),
        Route::Gemini { sse, .. } => gemini::stream(&cx, *sse),
        Route::NotFound | Route::Capture | Route::Traces | Route::Classify => {
            return Ok(invalid_request(flavor, "unreachable"))
        }
    };

    match reply {
        Reply::Json(_) if controls.break_after.is_some() => Err(aborted()),
        Reply::Json(bytes) => Ok(json_response(StatusCode::OK, bytes)),
        Reply::Stream {
            content_type,
            events,
        } => {
            let mut resp = Response::new(MockBody::events(
                events,
                Pacing {
                    chunk_delay: controls.chunk_delay,
                    break_after: controls.break_after,
                    end_delay: controls.end_delay,
                    chunk_bytes: controls.chunk_bytes,
                },
            ));
            let headers = resp.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
            Ok(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str) -> Route {
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        Route::parse(&Method::POST, path, query)
    }

    #[test]
    fn routes_by_suffix_under_any_prefix() {
        assert_eq!(post("/v1/chat/completions"), Route::Chat);
        assert_eq!(post("/openai/v1/chat/completions"), Route::Chat);
        assert_eq!(post("/api/v1/chat/completions/"), Route::Chat);
        assert_eq!(post("/v1/completions"), Route::Completions);
        assert_eq!(post("/v1/embeddings"), Route::Embeddings);
        assert_eq!(post("/v1/responses"), Route::Responses);
        assert_eq!(post("/v1/moderations"), Route::Moderations);
        assert_eq!(post("/anthropic/v1/messages"), Route::Messages);
        assert_eq!(post("/v1/unknown"), Route::NotFound);
        assert_eq!(
            Route::parse(&Method::GET, "/v1/chat/completions", None),
            Route::NotFound
        );
    }

    #[test]
    fn routes_gemini() {
        assert_eq!(
            post("/v1beta/models/gemini-2.0-flash:generateContent"),
            Route::Gemini {
                model: "gemini-2.0-flash".into(),
                stream: false,
                sse: false
            }
        );
        assert_eq!(
            post("/gemini/v1beta/models/g:streamGenerateContent?key=k&alt=sse"),
            Route::Gemini {
                model: "g".into(),
                stream: true,
                sse: true
            }
        );
        assert_eq!(post("/v1beta/models/g:countTokens"), Route::NotFound);
    }
}
