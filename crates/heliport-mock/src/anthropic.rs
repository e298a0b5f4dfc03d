//! Anthropic Messages API responses.
//!
//! Anthropic always reports usage, so `x-mock-usage: false` does not apply
//! here; `x-mock-cache-read` / `x-mock-cache-write` fill the cache fields while
//! `input_tokens` stays the uncached word count, as the real API does.
//! `x-mock-usage-json` replaces the usage object of the answer, and of both
//! `message_start` and `message_delta` in a stream (newer API versions
//! repeat the whole cumulative usage in the delta).

use bytes::Bytes;
use serde_json::Value;

use crate::handler::{Ctx, Reply};
use crate::text::json_str;

fn event(kind: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// `POST .../messages`.
pub fn messages(body: &Value, cx: &Ctx<'_>) -> Reply {
    let n = cx.n;
    let model = json_str(&cx.model);
    let input = cx.prompt_words;
    let output = cx.completion_words;
    let read = cx.controls.cache_read;
    let write = cx.controls.cache_write;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let given = cx.controls.usage_json.as_deref();
    if !stream {
        let usage = given.map_or_else(
            || {
                format!(
                    concat!(
                        r#"{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
                        r#""cache_read_input_tokens":{},"output_tokens":{}}}"#
                    ),
                    input, write, read, output
                )
            },
            str::to_owned,
        );
        return Reply::Json(Bytes::from(format!(
            concat!(
                r#"{{"id":"msg_mock_{}","type":"message","role":"assistant","model":{},"#,
                r#""content":[{{"type":"text","text":{}}}],"stop_reason":"end_turn","#,
                r#""stop_sequence":null,"usage":{}}}"#
            ),
            n,
            model,
            json_str(cx.reply),
            usage
        )));
    }

    let pieces = cx.pieces();
    let mut events = Vec::with_capacity(pieces.len() + 6);
    let start_usage = given.map_or_else(
        || {
            format!(
                concat!(
                    r#"{{"input_tokens":{},"cache_creation_input_tokens":{},"#,
                    r#""cache_read_input_tokens":{},"output_tokens":1}}"#
                ),
                input, write, read
            )
        },
        str::to_owned,
    );
    events.push(event(
        "message_start",
        &format!(
            concat!(
                r#"{{"type":"message_start","message":{{"id":"msg_mock_{}","type":"message","#,
                r#""role":"assistant","model":{},"content":[],"stop_reason":null,"#,
                r#""stop_sequence":null,"usage":{}}}}}"#
            ),
            n, model, start_usage
        ),
    ));
    events.push(event(
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    ));
    events.push(event("ping", r#"{"type":"ping"}"#));
    for piece in &pieces {
        events.push(event(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
                json_str(piece)
            ),
        ));
    }
    events.push(event(
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    ));
    let delta_usage =
        given.map_or_else(|| format!(r#"{{"output_tokens":{output}}}"#), str::to_owned);
    events.push(event(
        "message_delta",
        &format!(
            concat!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"#,
                r#""usage":{}}}"#
            ),
            delta_usage
        ),
    ));
    events.push(event("message_stop", r#"{"type":"message_stop"}"#));
    Reply::sse(events)
}
