//! A streamed answer consolidated into the JSON object the same call would
//! have answered without streaming (SPEC §7), as Helicone shows it: OpenAI
//! chat and text completions, the Responses API, Anthropic messages and
//! Gemini. The record keeps the raw events; queries consolidate them when
//! read (`raw_bodies: true` returns the events as stored).

use serde_json::{Map, Value};

use crate::sse::SseParser;

/// Largest event parsed while consolidating (bigger ones are skipped).
const MAX_EVENT_BYTES: usize = 4 << 20;

/// The JSON object a stream adds up to, or None when `body` is not a
/// stream in a shape heliport knows (it is then shown as stored).
pub fn consolidate(body: &str) -> Option<Value> {
    let trimmed = body.trim_start();
    if !(trimmed.starts_with("data:") || trimmed.starts_with("event:") || trimmed.starts_with(':'))
    {
        return None;
    }
    let mut events: Vec<(Option<String>, Value)> = Vec::new();
    let mut parser = SseParser::new(MAX_EVENT_BYTES);
    let mut take = |ev: &crate::sse::SseEvent<'_>| {
        if let Ok(v) = serde_json::from_slice::<Value>(ev.data) {
            events.push((ev.event.map(str::to_string), v));
        }
    };
    parser.push(body.as_bytes(), &mut take);
    parser.finish(&mut take);
    let first = events.first().map(|(_, v)| v)?;
    let kind = first
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let object = first
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind == "message_start"
        || events
            .iter()
            .any(|(e, _)| e.as_deref() == Some("message_start"))
    {
        return anthropic(&events);
    }
    if kind.starts_with("response.") {
        return responses(&events);
    }
    if object == "chat.completion.chunk" {
        return openai_chat(&events);
    }
    if object == "text_completion" {
        return openai_text(&events);
    }
    if first.get("candidates").is_some() || first.get("usageMetadata").is_some() {
        return gemini(&events);
    }
    None
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Appends `piece` to the string at `key` (creating it).
fn append(obj: &mut Map<String, Value>, key: &str, piece: &str) {
    match obj.get_mut(key) {
        Some(Value::String(s)) => s.push_str(piece),
        _ => {
            obj.insert(key.to_string(), Value::String(piece.to_string()));
        }
    }
}

/// Index `i` of `list`, grown with `fill` as needed.
fn slot(list: &mut Vec<Value>, i: usize, fill: impl Fn() -> Value) -> Option<&mut Value> {
    // An index far past what a stream holds is a broken event, not a reason
    // to allocate.
    if i > 1024 {
        return None;
    }
    while list.len() <= i {
        list.push(fill());
    }
    list.get_mut(i)
}

fn openai_chat(events: &[(Option<String>, Value)]) -> Option<Value> {
    let mut out = Map::new();
    let mut choices: Vec<Value> = Vec::new();
    for (_, chunk) in events {
        for key in [
            "id",
            "created",
            "model",
            "system_fingerprint",
            "service_tier",
        ] {
            if let Some(v) = chunk.get(key).filter(|v| !v.is_null()) {
                out.insert(key.to_string(), v.clone());
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            out.insert("usage".into(), u.clone());
        }
        for c in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let i = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            let Some(Value::Object(choice)) = slot(
                &mut choices,
                i,
                || serde_json::json!({"index": i, "message": {"role": "assistant", "content": null}, "finish_reason": null}),
            ) else {
                continue;
            };
            if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                choice.insert("finish_reason".into(), f.clone());
            }
            if let Some(l) = c.get("logprobs").filter(|l| !l.is_null()) {
                choice.insert("logprobs".into(), l.clone());
            }
            let Some(delta) = c.get("delta").and_then(Value::as_object) else {
                continue;
            };
            let Some(Value::Object(msg)) = choice.get_mut("message") else {
                continue;
            };
            if let Some(role) = delta.get("role").and_then(Value::as_str) {
                msg.insert("role".into(), Value::String(role.into()));
            }
            for key in ["content", "refusal", "reasoning_content"] {
                if let Some(piece) = delta.get(key).and_then(Value::as_str) {
                    append(msg, key, piece);
                }
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let k = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let calls = msg
                    .entry("tool_calls")
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(calls) = calls else { continue };
                let Some(Value::Object(tc)) = slot(
                    calls,
                    k,
                    || serde_json::json!({"id": null, "type": "function", "function": {"name": "", "arguments": ""}}),
                ) else {
                    continue;
                };
                for key in ["id", "type"] {
                    if let Some(v) = call.get(key).filter(|v| !v.is_null()) {
                        tc.insert(key.into(), v.clone());
                    }
                }
                if let (Some(f), Some(Value::Object(tf))) =
                    (call.get("function"), tc.get_mut("function"))
                {
                    for key in ["name", "arguments"] {
                        if let Some(piece) = f.get(key).and_then(Value::as_str) {
                            append(tf, key, piece);
                        }
                    }
                }
            }
        }
    }
    out.insert("object".into(), Value::String("chat.completion".into()));
    out.insert("choices".into(), Value::Array(choices));
    Some(Value::Object(out))
}

fn openai_text(events: &[(Option<String>, Value)]) -> Option<Value> {
    let mut out = Map::new();
    let mut choices: Vec<Value> = Vec::new();
    for (_, chunk) in events {
        for key in ["id", "created", "model", "system_fingerprint", "usage"] {
            if let Some(v) = chunk.get(key).filter(|v| !v.is_null()) {
                out.insert(key.to_string(), v.clone());
            }
        }
        for c in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let i = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            let Some(Value::Object(choice)) = slot(
                &mut choices,
                i,
                || serde_json::json!({"index": i, "text": "", "finish_reason": null}),
            ) else {
                continue;
            };
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                append(choice, "text", t);
            }
            if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                choice.insert("finish_reason".into(), f.clone());
            }
        }
    }
    out.insert("object".into(), Value::String("text_completion".into()));
    out.insert("choices".into(), Value::Array(choices));
    Some(Value::Object(out))
}

/// The Responses API sends the whole response in its terminal event.
fn responses(events: &[(Option<String>, Value)]) -> Option<Value> {
    events
        .iter()
        .rev()
        .find(|(_, e)| {
            matches!(
                str_of(e, "type"),
                Some("response.completed" | "response.incomplete" | "response.failed")
            )
        })
        .or_else(|| {
            events
                .iter()
                .rev()
                .find(|(_, e)| e.get("response").is_some())
        })
        .and_then(|(_, e)| e.get("response").cloned())
}

fn anthropic(events: &[(Option<String>, Value)]) -> Option<Value> {
    let mut message = Map::new();
    let mut blocks: Vec<Value> = Vec::new();
    // Tool inputs arrive as JSON text in pieces; parsed at their block's end.
    let mut partial_json: Vec<String> = Vec::new();
    for (_, e) in events {
        match str_of(e, "type") {
            Some("message_start") => {
                if let Some(Value::Object(m)) = e.get("message") {
                    message = m.clone();
                }
            }
            Some("content_block_start") => {
                let i = e.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                if let (Some(b), Some(s)) =
                    (e.get("content_block"), slot(&mut blocks, i, || Value::Null))
                {
                    *s = b.clone();
                }
            }
            Some("content_block_delta") => {
                let i = e.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                let Some(delta) = e.get("delta") else {
                    continue;
                };
                let Some(Value::Object(block)) = slot(&mut blocks, i, || serde_json::json!({}))
                else {
                    continue;
                };
                match str_of(delta, "type") {
                    Some("text_delta") => {
                        append(block, "text", str_of(delta, "text").unwrap_or_default())
                    }
                    Some("thinking_delta") => append(
                        block,
                        "thinking",
                        str_of(delta, "thinking").unwrap_or_default(),
                    ),
                    Some("signature_delta") => append(
                        block,
                        "signature",
                        str_of(delta, "signature").unwrap_or_default(),
                    ),
                    Some("input_json_delta") => {
                        while partial_json.len() <= i {
                            partial_json.push(String::new());
                        }
                        if let Some(p) = partial_json.get_mut(i) {
                            p.push_str(str_of(delta, "partial_json").unwrap_or_default());
                        }
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(Value::Object(d)) = e.get("delta") {
                    for (k, v) in d {
                        message.insert(k.clone(), v.clone());
                    }
                }
                if let Some(Value::Object(u)) = e.get("usage") {
                    let usage = message
                        .entry("usage")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(usage) = usage {
                        for (k, v) in u {
                            usage.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (i, text) in partial_json.iter().enumerate() {
        if text.is_empty() {
            continue;
        }
        if let Some(Value::Object(block)) = blocks.get_mut(i) {
            let input = serde_json::from_str(text).unwrap_or(Value::String(text.clone()));
            block.insert("input".into(), input);
        }
    }
    message.insert("content".into(), Value::Array(blocks));
    Some(Value::Object(message))
}

fn gemini(events: &[(Option<String>, Value)]) -> Option<Value> {
    let mut out = Map::new();
    let mut candidates: Vec<Value> = Vec::new();
    for (_, chunk) in events {
        for key in [
            "usageMetadata",
            "modelVersion",
            "responseId",
            "promptFeedback",
        ] {
            if let Some(v) = chunk.get(key).filter(|v| !v.is_null()) {
                out.insert(key.to_string(), v.clone());
            }
        }
        for c in chunk
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let i = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            let Some(Value::Object(cand)) = slot(
                &mut candidates,
                i,
                || serde_json::json!({"content": {"role": "model", "parts": []}, "index": i}),
            ) else {
                continue;
            };
            for (k, v) in c.as_object().into_iter().flatten() {
                if k != "content" {
                    cand.insert(k.clone(), v.clone());
                }
            }
            let Some(Value::Object(content)) = cand.get_mut("content") else {
                continue;
            };
            if let Some(role) = c.pointer("/content/role").and_then(Value::as_str) {
                content.insert("role".into(), Value::String(role.into()));
            }
            let Some(Value::Array(parts)) = content.get_mut("parts") else {
                continue;
            };
            for part in c
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // Consecutive text pieces join into one part, as the whole answer has them.
                match (part.get("text").and_then(Value::as_str), parts.last_mut()) {
                    (Some(t), Some(Value::Object(last)))
                        if last.contains_key("text")
                            && part.as_object().is_some_and(|p| p.len() == 1) =>
                    {
                        append(last, "text", t);
                    }
                    _ => parts.push(part.clone()),
                }
            }
        }
    }
    out.insert("candidates".into(), Value::Array(candidates));
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_streams_with_tool_calls() {
        let body = concat!(
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\n\n",
            "data: [DONE]\n\n"
        );
        let v = consolidate(body).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["id"], "c1");
        assert_eq!(v["model"], "gpt-4o");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        let call = &v["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["id"], "t1");
        assert_eq!(call["function"]["name"], "get");
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert_eq!(v["usage"]["total_tokens"], 8);
    }

    #[test]
    fn anthropic_streams() {
        let body = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"there\"}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"tu\",\"name\":\"f\",\"input\":{}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"x\\\":\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"2}\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        let v = consolidate(body).unwrap();
        assert_eq!(v["id"], "m1");
        assert_eq!(v["content"][0]["text"], "Hi there");
        assert_eq!(v["content"][1]["input"], json!({"x": 2}));
        assert_eq!(v["stop_reason"], "end_turn");
        assert_eq!(v["usage"], json!({"input_tokens": 4, "output_tokens": 7}));
    }

    #[test]
    fn responses_and_gemini_and_text_completions() {
        let body = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"status\":\"in_progress\"}}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"output\":[]}}\n\n";
        assert_eq!(consolidate(body).unwrap()["status"], "completed");
        let body = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]},\"index\":0}]}\r\n\r\ndata: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":2},\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n";
        let v = consolidate(body).unwrap();
        assert_eq!(
            v["candidates"][0]["content"]["parts"],
            json!([{"text": "Hello"}])
        );
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
        assert_eq!(v["usageMetadata"]["promptTokenCount"], 2);
        let body = "data: {\"id\":\"t\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"id\":\"t\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"b\",\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        let v = consolidate(body).unwrap();
        assert_eq!(v["choices"][0]["text"], "ab");
    }

    #[test]
    fn other_bodies_are_left_alone() {
        assert_eq!(consolidate("{\"ok\":true}"), None);
        assert_eq!(consolidate("data: not json\n\n"), None);
        assert_eq!(consolidate(""), None);
        // Hostile indexes do not allocate.
        let body = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":99999999,\"delta\":{\"content\":\"x\"}}]}\n\n";
        assert_eq!(consolidate(body).unwrap()["choices"], json!([]));
    }
}
