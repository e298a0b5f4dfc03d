//! OpenAI-shaped responses: chat completions, legacy completions, embeddings,
//! the Responses API and moderations.
//!
//! Chat and legacy completions are the benchmark's hot path, so they are
//! assembled with `format!` from pre-escaped strings; the rarer endpoints use
//! `serde_json::json!` for readability.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::handler::{Ctx, Reply};
use crate::text::{base64, json_str};

const DONE: &[u8] = b"data: [DONE]\n\n";

fn is_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

/// Whether the stream ends with a usage chunk: the client asked for it and
/// `x-mock-usage: false` did not veto it.
fn include_usage(body: &Value, cx: &Ctx<'_>) -> bool {
    cx.controls.usage
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

fn chat_usage(cx: &Ctx<'_>) -> String {
    if let Some(u) = &cx.controls.usage_json {
        return u.clone();
    }
    let cached = cx.controls.cache_read;
    let prompt = cx.prompt_words + cached;
    let completion = cx.completion_words;
    let total = prompt + completion;
    format!(
        concat!(
            r#"{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},"#,
            r#""prompt_tokens_details":{{"cached_tokens":{},"audio_tokens":0}},"#,
            r#""completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"#,
            r#""accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#
        ),
        prompt, completion, total, cached
    )
}

fn completion_usage(cx: &Ctx<'_>) -> String {
    if let Some(u) = &cx.controls.usage_json {
        return u.clone();
    }
    let prompt = cx.prompt_words;
    let completion = cx.completion_words;
    format!(
        r#"{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}"#,
        prompt + completion
    )
}

/// `POST .../chat/completions`.
pub fn chat(body: &Value, cx: &Ctx<'_>) -> Reply {
    let n = cx.n;
    let created = cx.created;
    let model = json_str(&cx.model);
    if !is_stream(body) {
        let usage = if cx.controls.usage {
            format!(r#","usage":{}"#, chat_usage(cx))
        } else {
            String::new()
        };
        let reply = json_str(cx.reply);
        return Reply::Json(Bytes::from(format!(
            concat!(
                r#"{{"id":"chatcmpl-mock-{n}","object":"chat.completion","created":{created},"#,
                r#""model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","#,
                r#""content":{reply},"refusal":null,"annotations":[]}},"logprobs":null,"#,
                r#""finish_reason":"stop"}}]{usage},"service_tier":{tier},"#,
                r#""system_fingerprint":"fp_mock"}}"#
            ),
            tier = cx.service_tier(),
            n = n,
            created = created,
            model = model,
            reply = reply,
            usage = usage,
        )));
    }

    let with_usage = include_usage(body, cx);
    let head = format!(
        concat!(
            r#"data: {{"id":"chatcmpl-mock-{}","object":"chat.completion.chunk","created":{},"#,
            r#""model":{},"service_tier":{},"system_fingerprint":"fp_mock","choices":["#
        ),
        n,
        created,
        model,
        cx.service_tier()
    );
    // The real API puts `"usage":null` on every chunk once usage was requested.
    let tail = if with_usage { r#","usage":null}"# } else { "}" };
    let pieces = cx.pieces();
    let mut events = Vec::with_capacity(pieces.len() + 3);
    for (i, piece) in pieces.iter().enumerate() {
        let delta = if i == 0 {
            format!(
                r#"{{"role":"assistant","content":{},"refusal":null}}"#,
                json_str(piece)
            )
        } else {
            format!(r#"{{"content":{}}}"#, json_str(piece))
        };
        events.push(Bytes::from(
            format!(
                r#"{head}{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":null}}]{tail}"#
            ) + "\n\n",
        ));
    }
    events.push(Bytes::from(
        format!(
            r#"{head}{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]{tail}"#
        ) + "\n\n",
    ));
    if with_usage {
        events.push(Bytes::from(
            format!(r#"{head}],"usage":{}}}"#, chat_usage(cx)) + "\n\n",
        ));
    }
    events.push(Bytes::from_static(DONE));
    Reply::sse(events)
}

/// `POST .../completions` (legacy text completions).
pub fn completions(body: &Value, cx: &Ctx<'_>) -> Reply {
    let n = cx.n;
    let created = cx.created;
    let model = json_str(&cx.model);
    if !is_stream(body) {
        let usage = if cx.controls.usage {
            format!(r#","usage":{}"#, completion_usage(cx))
        } else {
            String::new()
        };
        return Reply::Json(Bytes::from(format!(
            concat!(
                r#"{{"id":"cmpl-mock-{}","object":"text_completion","created":{},"model":{},"#,
                r#""choices":[{{"text":{},"index":0,"logprobs":null,"finish_reason":"stop"}}]{}}}"#
            ),
            n,
            created,
            model,
            json_str(cx.reply),
            usage
        )));
    }

    let with_usage = include_usage(body, cx);
    let head = format!(
        r#"data: {{"id":"cmpl-mock-{n}","object":"text_completion","created":{created},"model":{model},"choices":["#
    );
    let tail = if with_usage { r#","usage":null}"# } else { "}" };
    let pieces = cx.pieces();
    let mut events = Vec::with_capacity(pieces.len() + 3);
    for piece in &pieces {
        events.push(Bytes::from(
            format!(
                r#"{head}{{"text":{},"index":0,"logprobs":null,"finish_reason":null}}]{tail}"#,
                json_str(piece)
            ) + "\n\n",
        ));
    }
    events.push(Bytes::from(
        format!(r#"{head}{{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}}]{tail}"#)
            + "\n\n",
    ));
    if with_usage {
        events.push(Bytes::from(
            format!(r#"{head}],"usage":{}}}"#, completion_usage(cx)) + "\n\n",
        ));
    }
    events.push(Bytes::from_static(DONE));
    Reply::sse(events)
}

/// `POST .../embeddings`: one deterministic 8-dimensional vector per input.
pub fn embeddings(body: &Value, cx: &Ctx<'_>) -> Reply {
    let inputs: Vec<&Value> = match body.get("input") {
        // A flat array of numbers is one pre-tokenised input, not many.
        Some(Value::Array(items)) if !items.first().is_some_and(Value::is_number) => {
            items.iter().collect()
        }
        Some(v) => vec![v],
        None => Vec::new(),
    };
    let as_base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embedding_vector(input);
            let embedding = if as_base64 {
                let raw: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64(&raw))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let mut out = json!({"object": "list", "data": data, "model": cx.model});
    if cx.controls.usage {
        out["usage"] = cx.usage_value().unwrap_or_else(
            || json!({"prompt_tokens": cx.prompt_words, "total_tokens": cx.prompt_words}),
        );
    }
    Reply::Json(Bytes::from(out.to_string()))
}

/// A vector derived from the input text, so equal inputs embed equally.
///
/// Components are multiples of 1/128, exact in both f32 and f64, so the float
/// and base64 encodings decode to identical numbers.
fn embedding_vector(input: &Value) -> [f32; 8] {
    let text = match input {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // FNV-1a: tiny, stable, good enough to spread inputs apart.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let bytes = h.to_le_bytes();
    bytes.map(|b| f32::from(b as i8) / 128.0)
}

fn echo(body: &Value, key: &str, default: Value) -> Value {
    match body.get(key) {
        Some(v) if !v.is_null() => v.clone(),
        _ => default,
    }
}

/// The full `response` object; `status` is `in_progress` for the opening
/// stream events and `completed` otherwise.
fn response_object(body: &Value, cx: &Ctx<'_>, status: &str, output: Value, usage: Value) -> Value {
    json!({
        "id": format!("resp_mock_{}", cx.n),
        "object": "response",
        "created_at": cx.created,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": echo(body, "instructions", Value::Null),
        "max_output_tokens": echo(body, "max_output_tokens", Value::Null),
        "max_tool_calls": echo(body, "max_tool_calls", Value::Null),
        "model": cx.model,
        "output": output,
        "parallel_tool_calls": echo(body, "parallel_tool_calls", json!(true)),
        "previous_response_id": echo(body, "previous_response_id", Value::Null),
        "reasoning": echo(body, "reasoning", json!({"effort": null, "summary": null})),
        "service_tier": cx.controls.service_tier.as_deref().unwrap_or("default"),
        "store": echo(body, "store", json!(true)),
        "temperature": echo(body, "temperature", json!(1.0)),
        "text": echo(body, "text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
        "tool_choice": echo(body, "tool_choice", json!("auto")),
        "tools": echo(body, "tools", json!([])),
        "top_logprobs": 0,
        "top_p": echo(body, "top_p", json!(1.0)),
        "truncation": echo(body, "truncation", json!("disabled")),
        "usage": usage,
        "user": echo(body, "user", Value::Null),
        "metadata": echo(body, "metadata", json!({})),
    })
}

fn responses_usage(cx: &Ctx<'_>) -> Value {
    if !cx.controls.usage {
        return Value::Null;
    }
    if let Some(u) = cx.usage_value() {
        return u;
    }
    let cached = cx.controls.cache_read;
    let input = cx.prompt_words + cached;
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": cx.completion_words,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + cx.completion_words,
    })
}

fn output_text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn message_item(id: &str, status: &str, content: Value) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

/// `POST .../responses` (Responses API).
pub fn responses(body: &Value, cx: &Ctx<'_>) -> Reply {
    let item_id = format!("msg_mock_{}", cx.n);
    let done_item = message_item(&item_id, "completed", json!([output_text_part(cx.reply)]));
    if !is_stream(body) {
        let out = response_object(
            body,
            cx,
            "completed",
            json!([done_item]),
            responses_usage(cx),
        );
        return Reply::Json(Bytes::from(out.to_string()));
    }

    let mut events = Vec::new();
    let mut seq = 0u64;
    let mut push = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        events.push(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")));
    };
    let pending = response_object(body, cx, "in_progress", json!([]), Value::Null);
    push("response.created", json!({"response": pending}));
    push("response.in_progress", json!({"response": pending}));
    push(
        "response.output_item.added",
        json!({"output_index": 0, "item": message_item(&item_id, "in_progress", json!([]))}),
    );
    let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
    let with_at = |extra: Value| {
        let mut v = at.clone();
        if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
            obj.extend(more);
        }
        v
    };
    push(
        "response.content_part.added",
        with_at(json!({"part": output_text_part("")})),
    );
    for piece in cx.pieces() {
        push(
            "response.output_text.delta",
            with_at(json!({"delta": piece, "logprobs": []})),
        );
    }
    push(
        "response.output_text.done",
        with_at(json!({"text": cx.reply, "logprobs": []})),
    );
    push(
        "response.content_part.done",
        with_at(json!({"part": output_text_part(cx.reply)})),
    );
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": done_item}),
    );
    let completed = response_object(
        body,
        cx,
        "completed",
        json!([done_item]),
        responses_usage(cx),
    );
    push("response.completed", json!({"response": completed}));
    Reply::sse(events)
}

const MODERATION_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// `POST .../moderations`: an input is flagged (as harassment) when it
/// contains `FLAGME`.
pub fn moderations(body: &Value, cx: &Ctx<'_>) -> Reply {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => other
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect(),
        _ => vec![String::new()],
    };
    let results: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let flagged = text.contains("FLAGME");
            let mut categories = serde_json::Map::new();
            let mut scores = serde_json::Map::new();
            let mut applied = serde_json::Map::new();
            for (i, name) in MODERATION_CATEGORIES.iter().enumerate() {
                let hit = flagged && i == 0;
                categories.insert((*name).to_owned(), json!(hit));
                scores.insert((*name).to_owned(), json!(if hit { 0.99 } else { 0.0001 }));
                applied.insert((*name).to_owned(), json!(["text"]));
            }
            json!({
                "flagged": flagged,
                "categories": categories,
                "category_scores": scores,
                "category_applied_input_types": applied,
            })
        })
        .collect();
    let out = json!({"id": format!("modr-mock-{}", cx.n), "model": cx.model, "results": results});
    Reply::Json(Bytes::from(out.to_string()))
}
