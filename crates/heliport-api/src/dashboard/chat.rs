//! A request and its answer as chat messages (roles, text, tool calls and
//! their results, images as links), read from the OpenAI (chat, Responses,
//! completions), Anthropic and Gemini body shapes. Anything else is shown
//! only as raw JSON.

use maud::{html, Markup};
use serde_json::Value;

/// A piece of a message.
#[derive(Debug, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image: a URL to link to, or a description of inline data.
    Image { url: Option<String>, what: String },
    /// A call of a tool (name, arguments as JSON text).
    ToolCall { name: String, arguments: String },
    /// A tool's answer.
    ToolResult { id: String, content: String },
}

/// One message.
#[derive(Debug, PartialEq)]
pub struct Message {
    /// system, user, assistant, tool, ...
    pub role: String,
    /// Its pieces, in order.
    pub parts: Vec<Part>,
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn image_part(url: Option<&str>, what: &str) -> Part {
    match url {
        // Inline data is not a link worth following: say what it is.
        Some(u) if u.starts_with("data:") => Part::Image {
            url: None,
            what: format!(
                "inline image ({}, {} bytes)",
                u.split(';')
                    .next()
                    .unwrap_or("data:")
                    .trim_start_matches("data:"),
                u.len()
            ),
        },
        Some(u) => Part::Image {
            url: Some(u.to_string()),
            what: what.to_string(),
        },
        None => Part::Image {
            url: None,
            what: what.to_string(),
        },
    }
}

/// The parts of one block of content, in any of the known shapes.
fn block(b: &Value, out: &mut Vec<Part>) {
    let get = |k: &str| b.get(k);
    let ty = get("type").and_then(Value::as_str).unwrap_or_default();
    match ty {
        "text" | "input_text" | "output_text" => {
            out.push(Part::Text(str_of(get("text").unwrap_or(&Value::Null))))
        }
        "thinking" => out.push(Part::Text(format!(
            "(thinking) {}",
            str_of(get("thinking").unwrap_or(&Value::Null))
        ))),
        "image_url" => {
            let url = get("image_url")
                .and_then(|i| i.get("url").or(Some(i)))
                .and_then(Value::as_str);
            out.push(image_part(url, "image"));
        }
        "input_image" => out.push(image_part(
            get("image_url").and_then(Value::as_str),
            "image",
        )),
        "image" | "document" => {
            let src = get("source");
            let url = src.and_then(|s| s.get("url")).and_then(Value::as_str);
            let media = src
                .and_then(|s| s.get("media_type"))
                .and_then(Value::as_str)
                .unwrap_or("image");
            match url {
                Some(u) => out.push(image_part(Some(u), media)),
                None => out.push(Part::Image {
                    url: None,
                    what: format!("inline {media}"),
                }),
            }
        }
        "tool_use" | "function_call" => out.push(Part::ToolCall {
            name: str_of(get("name").unwrap_or(&Value::Null)),
            arguments: str_of(get("input").or(get("arguments")).unwrap_or(&Value::Null)),
        }),
        "tool_result" | "function_call_output" => out.push(Part::ToolResult {
            id: str_of(
                get("tool_use_id")
                    .or(get("call_id"))
                    .unwrap_or(&Value::Null),
            ),
            content: match get("content").or(get("output")) {
                Some(Value::Array(items)) => {
                    let mut inner = Vec::new();
                    for i in items {
                        block(i, &mut inner);
                    }
                    inner
                        .into_iter()
                        .map(|p| match p {
                            Part::Text(t) => t,
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                }
                Some(v) => str_of(v),
                None => String::new(),
            },
        }),
        _ => {
            // Gemini parts carry no type.
            if let Some(t) = get("text") {
                out.push(Part::Text(str_of(t)));
            } else if let Some(d) = get("inline_data").or(get("inlineData")) {
                let mime = d
                    .get("mime_type")
                    .or(d.get("mimeType"))
                    .and_then(Value::as_str)
                    .unwrap_or("data");
                out.push(Part::Image {
                    url: None,
                    what: format!("inline {mime}"),
                });
            } else if let Some(f) = get("file_data").or(get("fileData")) {
                let uri = f
                    .get("file_uri")
                    .or(f.get("fileUri"))
                    .and_then(Value::as_str);
                out.push(image_part(uri, "file"));
            } else if let Some(c) = get("functionCall").or(get("function_call")) {
                out.push(Part::ToolCall {
                    name: str_of(c.get("name").unwrap_or(&Value::Null)),
                    arguments: str_of(c.get("args").unwrap_or(&Value::Null)),
                });
            } else if let Some(r) = get("functionResponse").or(get("function_response")) {
                out.push(Part::ToolResult {
                    id: str_of(r.get("name").unwrap_or(&Value::Null)),
                    content: str_of(r.get("response").unwrap_or(&Value::Null)),
                });
            } else if !b.is_null() {
                out.push(Part::Text(str_of(b)));
            }
        }
    }
}

fn content(v: Option<&Value>) -> Vec<Part> {
    let mut out = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.push(Part::Text(s.clone())),
        Some(Value::Array(items)) => items.iter().for_each(|b| block(b, &mut out)),
        Some(other) => block(other, &mut out),
    }
    out
}

/// A chat-style message object (OpenAI, Anthropic, Gemini, Responses).
fn message(m: &Value, default_role: &str) -> Option<Message> {
    if let Some(ty) = m.get("type").and_then(Value::as_str) {
        if ty != "message" {
            // A Responses item that is not a message: a call or its output.
            let mut parts = Vec::new();
            block(m, &mut parts);
            let role = if ty.ends_with("_output") {
                "tool"
            } else {
                "assistant"
            };
            return (!parts.is_empty()).then(|| Message {
                role: role.into(),
                parts,
            });
        }
    }
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or(default_role)
        .to_string();
    let mut parts = content(m.get("content").or(m.get("parts")));
    if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let f = c.get("function").unwrap_or(c);
            parts.push(Part::ToolCall {
                name: str_of(f.get("name").unwrap_or(&Value::Null)),
                arguments: str_of(f.get("arguments").unwrap_or(&Value::Null)),
            });
        }
    }
    if let Some(f) = m.get("function_call") {
        parts.push(Part::ToolCall {
            name: str_of(f.get("name").unwrap_or(&Value::Null)),
            arguments: str_of(f.get("arguments").unwrap_or(&Value::Null)),
        });
    }
    if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) {
        let text = parts
            .drain(..)
            .map(|p| match p {
                Part::Text(t) => t,
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join("\n");
        parts.push(Part::ToolResult {
            id: id.to_string(),
            content: text,
        });
    }
    Some(Message { role, parts })
}

/// The request's messages, in order (the system prompt first).
pub fn request_messages(body: &Value) -> Vec<Message> {
    let mut out = Vec::new();
    let system = body
        .get("system")
        .or(body.get("instructions"))
        .or(body.get("systemInstruction"))
        .or(body.get("system_instruction"));
    if let Some(s) = system {
        let parts = match s.get("parts") {
            Some(p) => content(Some(p)),
            None => content(Some(s)),
        };
        if !parts.is_empty() {
            out.push(Message {
                role: "system".into(),
                parts,
            });
        }
    }
    let list = body
        .get("messages")
        .or(body.get("contents"))
        .or(body.get("input"));
    match list {
        Some(Value::Array(items)) => out.extend(items.iter().filter_map(|m| message(m, "user"))),
        Some(Value::String(s)) => out.push(Message {
            role: "user".into(),
            parts: vec![Part::Text(s.clone())],
        }),
        _ => {}
    }
    if let Some(p) = body.get("prompt") {
        out.push(Message {
            role: "prompt".into(),
            parts: content(Some(p)),
        });
    }
    out
}

/// The answer's messages.
pub fn response_messages(body: &Value) -> Vec<Message> {
    let mut out = Vec::new();
    if let Some(choices) = body.get("choices").and_then(Value::as_array) {
        for c in choices {
            if let Some(m) = c.get("message").or(c.get("delta")) {
                out.extend(message(m, "assistant"));
            } else if let Some(t) = c.get("text") {
                out.push(Message {
                    role: "assistant".into(),
                    parts: vec![Part::Text(str_of(t))],
                });
            }
        }
    } else if let Some(cands) = body.get("candidates").and_then(Value::as_array) {
        for c in cands {
            if let Some(m) = c.get("content") {
                out.extend(message(m, "model"));
            }
        }
    } else if let Some(items) = body.get("output").and_then(Value::as_array) {
        out.extend(items.iter().filter_map(|m| message(m, "assistant")));
    } else if body.get("content").is_some() {
        out.extend(message(body, "assistant"));
    }
    out
}

/// Messages as HTML (all text escaped).
pub fn render(messages: &[Message]) -> Markup {
    html! {
        @for m in messages {
            div class=(format!("msg {}", if m.role == "assistant" || m.role == "model" { "assistant" } else { "" })) {
                div.role { (m.role) }
                @for p in &m.parts {
                    @match p {
                        Part::Text(t) => div.text { (t) },
                        Part::Image { url: Some(u), what } => div { "🖼 " a href=(u) rel="noopener noreferrer nofollow" target="_blank" { (what) ": " (u) } },
                        Part::Image { url: None, what } => div.muted { "🖼 " (what) },
                        Part::ToolCall { name, arguments } => div.tool { "→ call " strong { (name) } "(" (arguments) ")" },
                        Part::ToolResult { id, content } => div.tool { "← result of " (id) ": " (content) },
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_chat_with_tools_and_images() {
        let req = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "<script>alert(1)</script>"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
            {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}
        ]});
        let m = request_messages(&req);
        assert_eq!(m.len(), 4);
        assert!(
            matches!(&m[1].parts[1], Part::Image { url: Some(u), .. } if u == "https://x.test/a.png")
        );
        assert!(matches!(&m[2].parts[0], Part::ToolCall { name, .. } if name == "f"));
        assert!(
            matches!(&m[3].parts[0], Part::ToolResult { id, content } if id == "c1" && content == "42")
        );
        let html = render(&m).into_string();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        let resp = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]});
        assert_eq!(
            response_messages(&resp)[0].parts,
            vec![Part::Text("hi".into())]
        );
    }

    #[test]
    fn anthropic_gemini_and_responses() {
        let req = json!({"system": "sys", "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok"}]}]}]});
        let m = request_messages(&req);
        assert_eq!(m[0].role, "system");
        assert!(matches!(&m[1].parts[0], Part::ToolResult { content, .. } if content == "ok"));
        let resp = json!({"role": "assistant", "content": [{"type": "tool_use", "name": "get", "input": {"a": 1}}]});
        assert!(
            matches!(&response_messages(&resp)[0].parts[0], Part::ToolCall { name, .. } if name == "get")
        );
        let g = json!({"contents": [{"role": "user", "parts": [{"text": "hey"}]}]});
        assert_eq!(
            request_messages(&g)[0].parts,
            vec![Part::Text("hey".into())]
        );
        let gr = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "yo"}]}}]});
        assert_eq!(response_messages(&gr)[0].role, "model");
        let r = json!({"input": "q", "instructions": "i"});
        assert_eq!(request_messages(&r).len(), 2);
        let rr = json!({"output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
            {"type": "function_call", "name": "f", "arguments": "{}"}]});
        assert_eq!(response_messages(&rr).len(), 2);
    }
}
