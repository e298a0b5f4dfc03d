//! End-to-end tests: spawn the mock and talk to it over HTTP.

// clippy's test exemption covers only `#[test]` functions, not the helpers
// they share; failing loudly is what a test helper should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use heliport_mock::{spawn, MockHandle, DEFAULT_REPLY};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .unwrap()
    }
}

struct Mock {
    handle: MockHandle,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Mock {
    async fn start() -> Self {
        Mock {
            handle: spawn().await.unwrap(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Request<Full<Bytes>> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.handle.base_url(), path))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
    }

    /// Send a request; `Err` if the connection broke before the full response.
    async fn try_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Resp, String> {
        let resp = self
            .client
            .request(self.request(method, path, headers, body))
            .await
            .map_err(|e| format!("request: {e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body: {e:?}"))?
            .to_bytes();
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Resp {
        self.try_send(Method::POST, path, headers, &body.to_string())
            .await
            .unwrap()
    }
}

/// `(event name, data)` pairs of an SSE body.
fn sse(body: &str) -> Vec<(Option<String>, String)> {
    body.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (event, data)
        })
        .collect()
}

/// JSON payloads of an SSE body, stopping at `[DONE]`.
fn sse_json(body: &str) -> Vec<Value> {
    sse(body)
        .into_iter()
        .take_while(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect()
}

fn chat_body(stream: bool, include_usage: bool) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Say hello to me"}]}
        ]
    });
    if stream {
        body["stream"] = json!(true);
    }
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

#[tokio::test]
async fn chat_completion_json() {
    let mock = Mock::start().await;
    let r = mock
        .post("/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("x-mock-request-number"), "1");
    let v = r.json();
    assert_eq!(v["id"], "chatcmpl-mock-1");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], DEFAULT_REPLY);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // "You are terse." (3) + "Say hello to me" (4); reply has 5 words.
    assert_eq!(v["usage"]["prompt_tokens"], 7);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 12);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );

    let r = mock
        .post("/openai/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(r.header("x-mock-request-number"), "2");
    assert_eq!(r.json()["id"], "chatcmpl-mock-2");
}

#[tokio::test]
async fn chat_completion_controls() {
    let mock = Mock::start().await;
    let headers = [
        ("x-mock-reply", "Just \"three\" words"),
        ("x-mock-model", "served-model"),
        ("x-mock-cache-read", "10"),
    ];
    let v = mock
        .post(
            "/api/v1/chat/completions",
            &headers,
            chat_body(false, false),
        )
        .await
        .json();
    assert_eq!(v["model"], "served-model");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Just \"three\" words"
    );
    assert_eq!(v["usage"]["prompt_tokens"], 17);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
    assert_eq!(v["usage"]["completion_tokens"], 3);
    assert_eq!(v["usage"]["total_tokens"], 20);

    let v = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-usage", "false")],
            chat_body(false, false),
        )
        .await
        .json();
    assert!(v.get("usage").is_none());
    assert_eq!(v["choices"][0]["message"]["content"], DEFAULT_REPLY);

    // An empty prompt still counts as one token.
    let v = mock
        .post(
            "/v1/chat/completions",
            &[],
            json!({"model": "m", "messages": []}),
        )
        .await
        .json();
    assert_eq!(v["usage"]["prompt_tokens"], 1);
}

#[tokio::test]
async fn chat_completion_stream() {
    let mock = Mock::start().await;
    let r = mock
        .post("/v1/chat/completions", &[], chat_body(true, true))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "text/event-stream");
    assert!(r.headers.get("x-mock-request-number").is_some());
    let events = sse(r.text());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = sse_json(r.text());
    // 5 words + finish chunk + usage chunk.
    assert_eq!(chunks.len(), 7);
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-mock-1");
        assert_eq!(c["model"], "gpt-4o-mini");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "Hello ");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[6]["choices"], json!([]));
    assert_eq!(chunks[6]["usage"]["prompt_tokens"], 7);
    assert_eq!(chunks[6]["usage"]["completion_tokens"], 5);
    assert_eq!(chunks[6]["usage"]["total_tokens"], 12);

    // Without include_usage: no usage chunk.
    let r = mock
        .post("/v1/chat/completions", &[], chat_body(true, false))
        .await;
    let chunks = sse_json(r.text());
    assert_eq!(chunks.len(), 6);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    // x-mock-usage: false vetoes include_usage.
    let r = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-usage", "false")],
            chat_body(true, true),
        )
        .await;
    let chunks = sse_json(r.text());
    assert_eq!(chunks.len(), 6);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test]
async fn long_stream_with_x_mock_words() {
    let mock = Mock::start().await;
    let r = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-words", "1000")],
            chat_body(true, true),
        )
        .await;
    let chunks = sse_json(r.text());
    assert_eq!(chunks.len(), 1002);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.starts_with("word1 word2 "));
    assert!(text.ends_with(" word1000"));
    assert_eq!(text.split_whitespace().count(), 1000);
    assert_eq!(chunks[1001]["usage"]["completion_tokens"], 1000);
}

#[tokio::test]
async fn legacy_completions() {
    let mock = Mock::start().await;
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": ["one two", "three"]});
    let v = mock.post("/v1/completions", &[], body.clone()).await.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["id"], "cmpl-mock-1");
    assert_eq!(v["choices"][0]["text"], DEFAULT_REPLY);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 5);

    let mut stream_body = body;
    stream_body["stream"] = json!(true);
    stream_body["stream_options"] = json!({"include_usage": true});
    let r = mock.post("/v1/completions", &[], stream_body).await;
    let chunks = sse_json(r.text());
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    let last = chunks.last().unwrap();
    assert_eq!(last["usage"]["total_tokens"], 8);
    assert_eq!(sse(r.text()).last().unwrap().1, "[DONE]");
}

#[tokio::test]
async fn embeddings() {
    let mock = Mock::start().await;
    let v = mock
        .post(
            "/v1/embeddings",
            &[],
            json!({"model": "text-embedding-3-small", "input": "hello world"}),
        )
        .await
        .json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["index"], 0);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(v["usage"], json!({"prompt_tokens": 2, "total_tokens": 2}));

    let v = mock
        .post(
            "/v1/embeddings",
            &[],
            json!({"model": "e", "input": ["a b", "c", "a b"]}),
        )
        .await
        .json();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["index"], 2);
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(v["usage"]["prompt_tokens"], 5);

    let v = mock
        .post(
            "/v1/embeddings",
            &[("x-mock-usage", "false")],
            json!({"model": "e", "input": "x", "encoding_format": "base64"}),
        )
        .await
        .json();
    assert!(v.get("usage").is_none());
    // 8 little-endian f32s = 32 bytes = 44 base64 characters.
    assert_eq!(v["data"][0]["embedding"].as_str().unwrap().len(), 44);
}

#[tokio::test]
async fn responses_json() {
    let mock = Mock::start().await;
    let body = json!({
        "model": "gpt-4.1",
        "instructions": "Be nice.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi there you"}]}]
    });
    let v = mock.post("/v1/responses", &[], body).await.json();
    assert_eq!(v["id"], "resp_mock_1");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-4.1");
    assert!(v["created_at"].is_number());
    assert_eq!(v["parallel_tool_calls"], true);
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["tools"], json!([]));
    assert_eq!(v["instructions"], "Be nice.");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["status"], "completed");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(item["content"][0]["text"], DEFAULT_REPLY);
    assert_eq!(item["content"][0]["annotations"], json!([]));
    assert_eq!(v["usage"]["input_tokens"], 5);
    assert_eq!(v["usage"]["output_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 10);
    assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 0);

    let v = mock
        .post(
            "/v1/responses",
            &[("x-mock-usage", "false")],
            json!({"model": "m", "input": "x"}),
        )
        .await
        .json();
    assert!(v["usage"].is_null());
}

#[tokio::test]
async fn responses_stream() {
    let mock = Mock::start().await;
    let r = mock
        .post(
            "/v1/responses",
            &[],
            json!({"model": "gpt-4.1", "input": "one two three", "stream": true}),
        )
        .await;
    assert_eq!(r.header("content-type"), "text/event-stream");
    let events = sse(r.text());
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(["response.output_text.delta"; 5]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(kinds, expected);
    let mut text = String::new();
    for (i, (kind, data)) in events.iter().enumerate() {
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["type"], kind.as_deref().unwrap());
        assert_eq!(v["sequence_number"], i);
        if let Some(d) = v["delta"].as_str() {
            text.push_str(d);
        }
    }
    assert_eq!(text, DEFAULT_REPLY);
    let created: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(created["response"]["status"], "in_progress");
    let done: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"],
        DEFAULT_REPLY
    );
    assert_eq!(done["response"]["usage"]["input_tokens"], 3);
    assert_eq!(done["response"]["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn moderations() {
    let mock = Mock::start().await;
    let v = mock
        .post(
            "/v1/moderations",
            &[],
            json!({"input": ["all good", "please FLAGME now"]}),
        )
        .await
        .json();
    assert_eq!(v["model"], "omni-moderation-latest");
    assert!(v["id"].as_str().unwrap().starts_with("modr-"));
    assert_eq!(v["results"][0]["flagged"], false);
    assert_eq!(v["results"][1]["flagged"], true);
    assert_eq!(v["results"][1]["categories"]["harassment"], true);
    assert!(v["results"][0]["category_scores"]["violence"].is_number());
}

#[tokio::test]
async fn anthropic_messages_json() {
    let mock = Mock::start().await;
    let body = json!({
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": "Hi there"}]
    });
    let headers = [
        ("x-mock-cache-read", "100"),
        ("x-mock-cache-write", "20"),
        ("x-mock-usage", "false"),
    ];
    let r = mock.post("/v1/messages", &headers, body).await;
    assert_eq!(r.header("content-type"), "application/json");
    let v = r.json();
    assert_eq!(v["id"], "msg_mock_1");
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": DEFAULT_REPLY}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    // x-mock-usage has no effect on Anthropic.
    assert_eq!(
        v["usage"],
        json!({
            "input_tokens": 4,
            "output_tokens": 5,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 100
        })
    );
}

#[tokio::test]
async fn anthropic_messages_stream() {
    let mock = Mock::start().await;
    let body = json!({
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "stream": true,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}]
    });
    let r = mock
        .post("/anthropic/v1/messages", &[("x-mock-reply", "a b")], body)
        .await;
    assert_eq!(r.header("content-type"), "text/event-stream");
    let events = sse(r.text());
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for (kind, v) in kinds.iter().zip(&data) {
        assert_eq!(v["type"], *kind);
    }
    assert_eq!(data[0]["message"]["id"], "msg_mock_1");
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 2);
    assert_eq!(data[0]["message"]["usage"]["output_tokens"], 1);
    assert_eq!(
        data[3]["delta"],
        json!({"type": "text_delta", "text": "a "})
    );
    assert_eq!(data[4]["delta"]["text"], "b");
    assert_eq!(
        data[6]["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(data[6]["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn gemini_generate_content() {
    let mock = Mock::start().await;
    let body = json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello there friend"}]}]
    });
    let v = mock
        .post(
            "/v1beta/models/gemini-2.0-flash:generateContent",
            &[],
            body.clone(),
        )
        .await
        .json();
    assert_eq!(v["candidates"][0]["content"]["role"], "model");
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        DEFAULT_REPLY
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(v["candidates"][0]["index"], 0);
    assert_eq!(v["modelVersion"], "gemini-2.0-flash");
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10})
    );

    let v = mock
        .post(
            "/v1beta/models/g:generateContent",
            &[("x-mock-usage", "false")],
            body,
        )
        .await
        .json();
    assert!(v.get("usageMetadata").is_none());
}

#[tokio::test]
async fn gemini_stream_sse_and_array() {
    let mock = Mock::start().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]});
    let r = mock
        .post(
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            &[],
            body.clone(),
        )
        .await;
    assert_eq!(r.header("content-type"), "text/event-stream");
    let chunks = sse_json(r.text());
    assert_eq!(chunks.len(), 5);
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert!(chunks
        .iter()
        .all(|c| c["usageMetadata"]["promptTokenCount"] == 1));
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 6);
    assert!(chunks[0]["candidates"][0].get("finishReason").is_none());

    let r = mock
        .post("/v1beta/models/g:streamGenerateContent", &[], body)
        .await;
    assert_eq!(r.header("content-type"), "application/json");
    let arr = r.json();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.len(), 5);
    assert_eq!(arr[4]["usageMetadata"]["candidatesTokenCount"], 5);
}

#[tokio::test]
async fn errors_not_found_and_bad_json() {
    let mock = Mock::start().await;
    let r = mock.post("/v1/nope", &[], json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["error"]["code"], "not_found");
    assert!(r.json()["error"]["message"].is_string());

    let r = mock
        .try_send(Method::POST, "/v1/chat/completions", &[], "{not json")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    let r = mock
        .try_send(Method::POST, "/v1/messages", &[], "{not json")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    // A mistyped control is refused rather than silently ignored.
    let r = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-statuss", "500")],
            chat_body(false, false),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-mock-statuss"));
}

#[tokio::test]
async fn forced_status() {
    let mock = Mock::start().await;
    let headers = [("x-mock-status", "429"), ("x-mock-retry-after", "3")];
    let r = mock
        .post("/v1/chat/completions", &headers, chat_body(false, false))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("retry-after"), "3");
    assert_eq!(
        r.json(),
        json!({"error": {"message": "mock error 429", "type": "mock_error", "param": null, "code": "mock_429"}})
    );

    let r = mock
        .post(
            "/v1/messages",
            &[("x-mock-status", "529")],
            json!({"model": "c", "messages": []}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 529);
    assert!(r.headers.get("retry-after").is_none());
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "api_error", "message": "mock error 529"}})
    );

    let r = mock
        .post(
            "/v1beta/models/g:generateContent",
            &[("x-mock-status", "503")],
            json!({}),
        )
        .await;
    assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn fail_count_per_id() {
    let mock = Mock::start().await;
    let a = [("x-mock-fail-count", "2"), ("x-mock-fail-id", "a")];
    let b = [
        ("x-mock-fail-count", "1"),
        ("x-mock-fail-id", "b"),
        ("x-mock-fail-status", "500"),
    ];
    let body = chat_body(false, false);
    assert_eq!(
        mock.post("/v1/chat/completions", &a, body.clone())
            .await
            .status,
        503
    );
    assert_eq!(
        mock.post("/v1/chat/completions", &b, body.clone())
            .await
            .status,
        500
    );
    assert_eq!(
        mock.post("/v1/chat/completions", &b, body.clone())
            .await
            .status,
        200
    );
    let r = mock.post("/v1/chat/completions", &a, body.clone()).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], "mock_503");
    assert_eq!(
        mock.post("/v1/chat/completions", &a, body.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        mock.post("/v1/chat/completions", &a, body).await.status,
        200
    );
}

#[tokio::test]
async fn break_after_stream_and_json() {
    let mock = Mock::start().await;
    let req = mock.request(
        Method::POST,
        "/v1/chat/completions",
        &[("x-mock-break-after", "2")],
        &chat_body(true, true).to_string(),
    );
    let resp = mock.client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut received = Vec::new();
    let err = loop {
        match body.frame().await {
            Some(Ok(frame)) => received.extend_from_slice(frame.data_ref().unwrap()),
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    assert!(err.is_some(), "stream should have been aborted");
    let received = String::from_utf8(received).unwrap();
    assert_eq!(sse(&received).len(), 2, "{received}");

    let r = mock
        .try_send(
            Method::POST,
            "/v1/chat/completions",
            &[("x-mock-break-after", "0")],
            &chat_body(false, false).to_string(),
        )
        .await;
    assert!(
        r.is_err(),
        "expected the connection to close without a response"
    );

    // The mock keeps serving afterwards.
    let r = mock
        .post("/v1/chat/completions", &[], chat_body(false, false))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn delays() {
    let mock = Mock::start().await;
    let start = Instant::now();
    let r = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-delay-ms", "60")],
            chat_body(false, false),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(60));

    let start = Instant::now();
    let r = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-chunk-delay-ms", "15"), ("x-mock-words", "3")],
            chat_body(true, false),
        )
        .await;
    // 3 words + finish + [DONE] = 5 events, 4 gaps.
    assert_eq!(sse(r.text()).len(), 5);
    assert!(start.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn records_requests() {
    let mock = Mock::start().await;
    let body = chat_body(false, false);
    mock.post(
        "/v1/chat/completions?x=1",
        &[("Authorization", "Bearer sk-test"), ("X-Custom", "v")],
        body.clone(),
    )
    .await;
    mock.post("/v1/embeddings", &[], json!({"input": "x"}))
        .await;

    let reqs = mock.handle.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path_and_query, "/v1/chat/completions?x=1");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-test"));
    assert!(reqs[0]
        .headers
        .iter()
        .any(|(k, v)| k == "x-custom" && v == "v"));
    assert_eq!(reqs[0].body_json().unwrap(), body);
    assert_eq!(
        mock.handle.last_request().unwrap().path_and_query,
        "/v1/embeddings"
    );

    let r = mock
        .try_send(Method::GET, "/__mock/requests", &[], "")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["path_and_query"], "/v1/chat/completions?x=1");
    assert_eq!(list[1]["body"], r#"{"input":"x"}"#);
    assert!(list[0]["headers"]
        .as_array()
        .unwrap()
        .contains(&json!(["authorization", "Bearer sk-test"])));

    let r = mock
        .try_send(Method::DELETE, "/__mock/requests", &[], "")
        .await
        .unwrap();
    assert_eq!(r.json()["cleared"], 2);
    assert!(mock.handle.requests().is_empty());
    // Admin calls are neither recorded nor counted.
    let r = mock.post("/v1/chat/completions", &[], body).await;
    assert_eq!(r.header("x-mock-request-number"), "3");

    let r = mock
        .try_send(Method::GET, "/__mock/health", &[], "")
        .await
        .unwrap();
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test]
async fn serve_on_own_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(heliport_mock::serve(listener));
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(format!("http://{addr}/v1/chat/completions"))
        .body(Full::new(Bytes::from(chat_body(false, false).to_string())))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    server.abort();
}

#[tokio::test]
async fn given_usage_is_sent_verbatim_in_every_shape() {
    let mock = Mock::start().await;
    let u = json!({"prompt_tokens": 7, "completion_tokens": 3, "prompt_tokens_details": {"cache_write_tokens": 2}});
    let text = u.to_string();
    let h = [
        ("x-mock-usage-json", text.as_str()),
        ("x-mock-service-tier", "flex"),
    ];

    let r = mock
        .post("/v1/chat/completions", &h, chat_body(false, false))
        .await;
    assert_eq!(r.json()["usage"], u);
    assert_eq!(r.json()["service_tier"], "flex");
    let r = mock
        .post("/v1/chat/completions", &h, chat_body(true, true))
        .await;
    let chunks = sse_json(r.text());
    assert!(chunks.iter().all(|c| c["service_tier"] == "flex"));
    assert_eq!(chunks.last().unwrap()["usage"], u);
    // no usage chunk unless the client asked for one
    let r = mock
        .post("/v1/chat/completions", &h, chat_body(true, false))
        .await;
    assert!(sse_json(r.text()).iter().all(|c| c.get("usage").is_none()));

    let body = json!({"model": "gpt-4o", "input": "hi"});
    let r = mock.post("/v1/responses", &h, body.clone()).await;
    assert_eq!(r.json()["usage"], u);
    assert_eq!(r.json()["service_tier"], "flex");
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let r = mock.post("/v1/responses", &h, streamed).await;
    let last = sse_json(r.text()).pop().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["usage"], u);

    let a = json!({"input_tokens": 5, "output_tokens": 2, "cache_creation": {"ephemeral_1h_input_tokens": 4}, "server_tool_use": {"web_search_requests": 1}});
    let text = a.to_string();
    let h = [("x-mock-usage-json", text.as_str())];
    let body = json!({"model": "claude-sonnet-4", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]});
    let r = mock.post("/v1/messages", &h, body.clone()).await;
    assert_eq!(r.json()["usage"], a);
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let r = mock.post("/v1/messages", &h, streamed).await;
    let events = sse_json(r.text());
    assert_eq!(events[0]["message"]["usage"], a);
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"], a);

    let g = json!({"promptTokenCount": 9, "candidatesTokenCount": 1, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 4}]});
    let text = g.to_string();
    let h = [("x-mock-usage-json", text.as_str())];
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]});
    let r = mock
        .post("/v1beta/models/g:generateContent", &h, body.clone())
        .await;
    assert_eq!(r.json()["usageMetadata"], g);
    let r = mock
        .post("/v1beta/models/g:streamGenerateContent?alt=sse", &h, body)
        .await;
    assert!(sse_json(r.text()).iter().all(|c| c["usageMetadata"] == g));

    let r = mock
        .post(
            "/v1/chat/completions",
            &[("x-mock-usage-json", "[1, 2]")],
            chat_body(false, false),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
