//! The user-supplied text of a chat request: what [`super::screen`] screens.

use serde_json::Value;

use super::{screen, Verdict};
use crate::extract::ApiFlavor;

fn push(out: &mut String, s: &str) {
    if s.trim().is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(s);
}

/// Text of a content value: a string, a text part (`text`, `input_text`), a
/// block holding nested content (Anthropic `tool_result`, Responses
/// messages), a tool output (`output`), or a list of these. Images, files
/// and tool calls carry no text to screen.
fn content(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => push(out, s),
        Value::Array(items) => items.iter().for_each(|i| content(i, out)),
        Value::Object(o) => {
            if let Some(Value::String(t)) = o.get("text") {
                push(out, t);
            }
            if let Some(c) = o.get("content") {
                content(c, out);
            }
            if let Some(c) = o.get("output") {
                content(c, out);
            }
            // Anthropic plain-text documents.
            if let Some(Value::Object(src)) = o.get("source") {
                if src.get("type").and_then(Value::as_str) == Some("text") {
                    if let Some(Value::String(d)) = src.get("data") {
                        push(out, d);
                    }
                }
            }
        }
        _ => {}
    }
}

fn role(v: &Value) -> Option<&str> {
    v.get("role").and_then(Value::as_str)
}

/// Roles whose text comes from the client's user or from tools the client
/// ran (tool results are where indirect injections arrive). `system`,
/// `developer` and `assistant` turns are the application's own.
fn is_user_role(r: Option<&str>) -> bool {
    matches!(r, Some("user" | "tool" | "function"))
}

/// Chat completions and Anthropic messages: `messages[]` of a user or tool role.
fn messages(v: &Value, out: &mut String) {
    for m in v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if is_user_role(role(m)) {
            if let Some(c) = m.get("content") {
                content(c, out);
            }
        }
    }
}

/// Responses `input`: a string, or items — user messages (typed `message` or
/// not), `function_call_output` and other tool outputs; system, developer
/// and assistant messages and the model's own items are skipped.
fn responses_input(v: &Value, out: &mut String) {
    match v.get("input") {
        Some(Value::String(s)) => push(out, s),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(s) => push(out, s),
                    Value::Object(o) => {
                        let kind = o.get("type").and_then(Value::as_str);
                        if is_user_role(role(item)) {
                            if let Some(c) = o.get("content") {
                                content(c, out);
                            }
                        } else if kind.is_some_and(|k| k.ends_with("_output")) {
                            if let Some(c) = o.get("output") {
                                content(c, out);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Gemini `contents[]` of the user role (function responses are structured
/// data, not text).
fn gemini(v: &Value, out: &mut String) {
    for c in v
        .get("contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if role(c).is_none_or(|r| r == "user") {
            for part in c
                .get("parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(Value::String(t)) = part.get("text") {
                    push(out, t);
                }
            }
        }
    }
}

/// The user-supplied text of a request body, pieces joined by blank lines:
/// - OpenAI chat/completions and Anthropic messages: `messages[]` with role
///   `user` (or `tool` / `function`: tool results), content as a string or a
///   list of parts (`text`, Anthropic `tool_result` content, plain-text
///   documents);
/// - OpenAI Responses: `input` as a string, or its user messages and
///   `function_call_output` items;
/// - Gemini: user `contents[].parts[].text`.
///
/// System prompts (`system`, `instructions`, system and developer messages)
/// and assistant turns are left out. With [`ApiFlavor::Unknown`] every shape
/// is tried. Lenient: a body that is not JSON, or fields of odd types, give
/// less text, never an error.
pub fn user_text(flavor: ApiFlavor, body: &[u8]) -> String {
    let mut out = String::new();
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return out;
    };
    let all = flavor == ApiFlavor::Unknown;
    if all || matches!(flavor, ApiFlavor::OpenAiChat | ApiFlavor::Anthropic) {
        messages(&v, &mut out);
    }
    if all || flavor == ApiFlavor::OpenAiResponses {
        responses_input(&v, &mut out);
    }
    if all || flavor == ApiFlavor::Gemini {
        gemini(&v, &mut out);
    }
    out
}

/// [`screen`] of the [`user_text`] of a request body.
pub fn screen_request(flavor: ApiFlavor, body: &[u8]) -> Verdict {
    screen(&user_text(flavor, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_chat_user_and_tool_messages() {
        let body = br#"{"model":"gpt-4o","messages":[
            {"role":"system","content":"You are terse. SECRET"},
            {"role":"developer","content":"Never reveal SECRET"},
            {"role":"user","content":"Hello there"},
            {"role":"assistant","content":"Hi!","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"q\":\"x\"}"}}]},
            {"role":"tool","tool_call_id":"c1","content":"tool said this"},
            {"role":"user","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}
        ]}"#;
        assert_eq!(
            user_text(ApiFlavor::OpenAiChat, body),
            "Hello there\n\ntool said this\n\nWhat is in this image?"
        );
        assert_eq!(
            user_text(ApiFlavor::Unknown, body),
            user_text(ApiFlavor::OpenAiChat, body)
        );
    }

    #[test]
    fn responses_input_string_and_items() {
        let body = br#"{"model":"gpt-4.1","instructions":"Talk like a pirate.","input":"Tell me a joke."}"#;
        assert_eq!(
            user_text(ApiFlavor::OpenAiResponses, body),
            "Tell me a joke."
        );
        let body = br#"{"model":"gpt-4.1","instructions":"Be brief.","input":[
            {"role":"developer","content":"hidden rules"},
            {"role":"user","content":[{"type":"input_text","text":"Are semicolons optional?"},{"type":"input_image","image_url":"https://x/y.png"}]},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Yes"}]},
            {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
            {"type":"function_call_output","call_id":"c1","output":"{\"ok\":true}"},
            {"type":"message","role":"user","content":"And in Go?"}
        ]}"#;
        assert_eq!(
            user_text(ApiFlavor::OpenAiResponses, body),
            "Are semicolons optional?\n\n{\"ok\":true}\n\nAnd in Go?"
        );
    }

    #[test]
    fn anthropic_user_blocks_and_tool_results() {
        let body = br#"{"model":"claude-sonnet-4-20250514","max_tokens":100,
            "system":[{"type":"text","text":"You are a poet. SECRET"}],
            "messages":[
                {"role":"user","content":"Write a haiku."},
                {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"lookup","input":{"q":"x"}}]},
                {"role":"user","content":[
                    {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"autumn leaves"}]},
                    {"type":"tool_result","tool_use_id":"t2","content":"plain result"},
                    {"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc body"}},
                    {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo"}},
                    {"type":"text","text":"Go on."}
                ]}
            ]}"#;
        assert_eq!(
            user_text(ApiFlavor::Anthropic, body),
            "Write a haiku.\n\nautumn leaves\n\nplain result\n\ndoc body\n\nGo on."
        );
    }

    #[test]
    fn gemini_user_parts() {
        let body = br#"{"systemInstruction":{"parts":[{"text":"rules"}]},"contents":[{"role":"user","parts":[{"text":"Hello"}]},{"role":"model","parts":[{"text":"Meow"}]},{"parts":[{"text":"Why?"}]}]}"#;
        assert_eq!(user_text(ApiFlavor::Gemini, body), "Hello\n\nWhy?");
    }

    #[test]
    fn odd_bodies_give_no_text() {
        for body in [
            &b""[..],
            b"not json",
            b"[1,2]",
            b"{\"messages\":\"x\"}",
            b"{\"messages\":[{\"role\":\"user\",\"content\":42}]}",
            b"{\"input\":{\"x\":1}}",
        ] {
            assert_eq!(user_text(ApiFlavor::Unknown, body), "", "{body:?}");
        }
    }
}
