//! Helicone prompt inputs and prompt templates.
//!
//! Inside any string of a request body, Helicone marks a prompt input as
//! `<helicone-prompt-input key="name">value</helicone-prompt-input>`.
//! heliport strips the tags before forwarding (the upstream sees plain
//! `value`), records the inputs, and derives the prompt's template by
//! replacing each tagged value with `{{name}}`. The store versions distinct
//! templates under one `Helicone-Prompt-Id`; this module only produces the
//! canonical template string, so callers hash it however they like.
//!
//! The tag grammar follows Helicone's own parser
//! (`<helicone-prompt-input\s*key="…"\s*>…</\s*helicone-prompt-input\s*>`,
//! value matched lazily up to the first closing tag) and additionally accepts
//! single-quoted keys and whitespace around `=`.

use memchr::memmem;
use serde_json::{Map, Value};

const OPEN: &str = "<helicone-prompt-input";
const CLOSE_NAME: &str = "helicone-prompt-input";

/// Top-level fields that carry prompt content across the supported APIs
/// (OpenAI chat/responses/completions, Anthropic messages, Gemini).
const TEMPLATE_FIELDS: [&str; 9] = [
    "model",
    "messages",
    "system",
    "input",
    "instructions",
    "prompt",
    "contents",
    "systemInstruction",
    "tools",
];

/// Cheap check used on the hot path before any parse: does the body contain
/// `<helicone-prompt-input`?
///
/// A body that spells the `<` as the JSON escape `\u003c` is not detected;
/// such bodies are forwarded with their tags, which is what the client wrote.
pub fn has_prompt_tags(body: &[u8]) -> bool {
    memmem::find(body, OPEN.as_bytes()).is_some()
}

/// The result of stripping prompt-input tags from a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptExtraction {
    /// The JSON body with every tag replaced by its plain value (what goes
    /// upstream). Re-serialised only because tags were present.
    ///
    /// Re-serialisation does not keep the client's object key order (keys come
    /// out sorted) nor its whitespace; providers do not care about either.
    /// Integers and floats round-trip, unicode is emitted as UTF-8, and only
    /// integers beyond the 64-bit range lose precision (they become floats).
    pub stripped_body: Vec<u8>,
    /// Inputs in order of first appearance; a key appearing twice keeps the
    /// first value. Values are recorded verbatim (Helicone trims them), so the
    /// template with its `{{key}}` placeholders filled in reproduces exactly
    /// the text that went upstream.
    pub inputs: Vec<(String, String)>,
}

/// Strip tags from every JSON string value in the body (messages' content
/// strings and text parts, `system`, `input`, `instructions`, `prompt`, Gemini
/// parts — simply every string in the JSON tree; object keys are left alone).
///
/// Returns `None` when the body is not JSON or has no well-formed tag, in which
/// case the caller forwards the original bytes untouched. An unterminated or
/// malformed tag is left as is. Bodies failing [`has_prompt_tags`] return
/// `None` without being parsed.
pub fn strip_prompt_tags(body: &[u8]) -> Option<PromptExtraction> {
    if !has_prompt_tags(body) {
        return None;
    }
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let mut inputs: Vec<(String, String)> = Vec::new();
    let changed = rewrite_strings(&mut value, &mut |key, val, out| {
        out.push_str(val);
        if !inputs.iter().any(|(k, _)| k == key) {
            inputs.push((key.to_owned(), val.to_owned()));
        }
    });
    if !changed {
        return None;
    }
    let stripped_body = serde_json::to_vec(&value).ok()?;
    Some(PromptExtraction {
        stripped_body,
        inputs,
    })
}

/// The canonical template of a request body for versioning.
///
/// A JSON object holding the body's prompt-bearing fields — `model`,
/// `messages`, `system`, `input`, `instructions`, `prompt`, `contents`,
/// `systemInstruction`, `tools` (those present) — with every tag replaced by
/// `{{key}}`, serialised canonically (object keys sorted at every depth, no
/// whitespace) so equal templates compare equal as strings. A body without
/// tags still has a template (its literal prompt). `None` if the body is not a
/// JSON object.
pub fn template(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let Value::Object(mut object) = value else {
        return None;
    };
    let mut picked = Map::new();
    for field in TEMPLATE_FIELDS {
        if let Some(v) = object.remove(field) {
            picked.insert(field.to_owned(), v);
        }
    }
    let mut picked = Value::Object(picked);
    rewrite_strings(&mut picked, &mut |key, _val, out| {
        out.push_str("{{");
        out.push_str(key);
        out.push_str("}}");
    });
    serde_json::to_string(&canonical(picked)).ok()
}

/// Rebuilds objects with keys inserted in sorted order, so the output is sorted
/// even if some crate in the build enables serde_json's `preserve_order`
/// (which would make `Map` keep insertion order instead of sorting).
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// Applies [`rewrite_tags`] to every string in the tree; true if any changed.
///
/// Recursion depth is bounded by serde_json's parser recursion limit (128).
fn rewrite_strings(value: &mut Value, emit: &mut dyn FnMut(&str, &str, &mut String)) -> bool {
    match value {
        Value::String(s) => match rewrite_tags(s, emit) {
            Some(new) => {
                *s = new;
                true
            }
            None => false,
        },
        Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= rewrite_strings(item, emit);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for (_, item) in map.iter_mut() {
                changed |= rewrite_strings(item, emit);
            }
            changed
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Replaces every well-formed tag in `text` with whatever `emit(key, value,
/// out)` appends. `None` when no tag matched, to spare an allocation.
fn rewrite_tags(text: &str, emit: &mut dyn FnMut(&str, &str, &mut String)) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    // `copied` is where the not-yet-copied text starts; `search` where to look
    // for the next opening tag (past malformed ones, which stay as text).
    let mut copied = 0;
    let mut search = 0;
    while let Some(rel) = memmem::find(bytes.get(search..).unwrap_or_default(), OPEN.as_bytes()) {
        let start = search + rel;
        match parse_tag(text, start) {
            Some(tag) => {
                let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
                buf.push_str(&text[copied..start]);
                emit(tag.key, tag.value, buf);
                copied = tag.end;
                search = tag.end;
            }
            None => search = start + OPEN.len(),
        }
    }
    let mut buf = out?;
    buf.push_str(&text[copied..]);
    Some(buf)
}

/// One well-formed tag found in a string.
struct Tag<'a> {
    key: &'a str,
    value: &'a str,
    /// Byte offset just past the closing tag.
    end: usize,
}

/// Parses a tag starting at `start` (where `OPEN` was found). All delimiters
/// are ASCII, so every offset computed here is a char boundary.
fn parse_tag(text: &str, start: usize) -> Option<Tag<'_>> {
    let bytes = text.as_bytes();
    let mut i = skip_ws(bytes, start + OPEN.len());
    i = eat(bytes, i, b"key")?;
    i = skip_ws(bytes, i);
    i = eat(bytes, i, b"=")?;
    i = skip_ws(bytes, i);
    let quote = *bytes.get(i)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let key_start = i + 1;
    let key_len = memchr::memchr(quote, bytes.get(key_start..)?)?;
    let key_end = key_start + key_len;
    // An empty key could never be referenced as `{{}}`; treat it as malformed.
    if key_len == 0 {
        return None;
    }
    i = skip_ws(bytes, key_end + 1);
    i = eat(bytes, i, b">")?;
    let value_start = i;
    let (value_end, end) = find_close(bytes, value_start)?;
    Some(Tag {
        key: &text[key_start..key_end],
        value: &text[value_start..value_end],
        end,
    })
}

/// Finds the first `</ helicone-prompt-input >` (whitespace tolerant) at or
/// after `from`: returns where it starts and where it ends.
fn find_close(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(rel) = memmem::find(bytes.get(search..)?, b"</") {
        let at = search + rel;
        let end = skip_ws(bytes, at + 2);
        let end = eat(bytes, end, CLOSE_NAME.as_bytes()).and_then(|i| {
            let i = skip_ws(bytes, i);
            eat(bytes, i, b">")
        });
        if let Some(end) = end {
            return Some((at, end));
        }
        search = at + 2;
    }
    None
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

fn eat(bytes: &[u8], i: usize, lit: &[u8]) -> Option<usize> {
    let end = i.checked_add(lit.len())?;
    (bytes.get(i..end)? == lit).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strip(body: &Value) -> (Value, Vec<(String, String)>) {
        let bytes = serde_json::to_vec(body).unwrap();
        assert!(has_prompt_tags(&bytes));
        let ex = strip_prompt_tags(&bytes).unwrap();
        (
            serde_json::from_slice(&ex.stripped_body).unwrap(),
            ex.inputs,
        )
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn prompt_strips_chat_string_content_and_parts() {
        let body = json!({
            "model": "gpt-4o",
            "temperature": 0.7,
            "max_tokens": 12345678901u64,
            "messages": [
                {"role": "system", "content": "You are <helicone-prompt-input key=\"persona\">a pirate</helicone-prompt-input>."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Tell me about <helicone-prompt-input key=\"topic\">the sea ☃</helicone-prompt-input>"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
                ]}
            ]
        });
        let (out, inputs) = strip(&body);
        assert_eq!(out["messages"][0]["content"], "You are a pirate.");
        assert_eq!(
            out["messages"][1]["content"][0]["text"],
            "Tell me about the sea ☃"
        );
        assert_eq!(out["temperature"], 0.7);
        assert_eq!(out["max_tokens"], 12345678901u64);
        assert_eq!(
            out["messages"][1]["content"][1]["image_url"]["url"],
            "https://x/y.png"
        );
        assert_eq!(
            inputs,
            pairs(&[("persona", "a pirate"), ("topic", "the sea ☃")])
        );
    }

    #[test]
    fn prompt_strips_anthropic_system_and_responses_input() {
        let body = json!({
            "model": "claude-sonnet-4",
            "system": "Reply in <helicone-prompt-input key=\"lang\">French</helicone-prompt-input>",
            "messages": [{"role": "user", "content": "hi"}]
        });
        let (out, inputs) = strip(&body);
        assert_eq!(out["system"], "Reply in French");
        assert_eq!(inputs, pairs(&[("lang", "French")]));

        let body = json!({
            "model": "gpt-4.1",
            "input": "Summarise <helicone-prompt-input key=\"doc\">line 1\nline <b>2</b></helicone-prompt-input> now"
        });
        let (out, inputs) = strip(&body);
        assert_eq!(out["input"], "Summarise line 1\nline <b>2</b> now");
        assert_eq!(inputs, pairs(&[("doc", "line 1\nline <b>2</b>")]));
    }

    #[test]
    fn prompt_multiple_inputs_duplicate_key_and_quotes() {
        let body = json!({
            "messages": [{"role": "user", "content":
                "<helicone-prompt-input key=\"a\">1</helicone-prompt-input>+<helicone-prompt-input  key = 'b' >2</ helicone-prompt-input >=<helicone-prompt-input key=\"a\">9</helicone-prompt-input>"
            }]
        });
        let (out, inputs) = strip(&body);
        assert_eq!(out["messages"][0]["content"], "1+2=9");
        assert_eq!(inputs, pairs(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn prompt_malformed_tags_are_left_untouched() {
        let malformed = [
            "<helicone-prompt-input key=\"a\">never closed",
            "<helicone-prompt-input key=a>x</helicone-prompt-input>",
            "<helicone-prompt-input key=\"a>x</helicone-prompt-input>",
            "<helicone-prompt-input name=\"a\">x</helicone-prompt-input>",
            "<helicone-prompt-input key=\"\">x</helicone-prompt-input>",
            "<helicone-prompt-input key=\"a\"/>",
        ];
        for text in malformed {
            let bytes = serde_json::to_vec(&json!({ "prompt": text })).unwrap();
            assert!(strip_prompt_tags(&bytes).is_none(), "{text}");
        }
        // A malformed tag next to a good one: only the good one is stripped.
        let body = json!({"prompt": "<helicone-prompt-input key=x>a</helicone-prompt-input> <helicone-prompt-input key=\"y\">b</helicone-prompt-input>"});
        let (out, inputs) = strip(&body);
        assert_eq!(
            out["prompt"],
            "<helicone-prompt-input key=x>a</helicone-prompt-input> b"
        );
        assert_eq!(inputs, pairs(&[("y", "b")]));
    }

    #[test]
    fn prompt_non_json_or_no_tags_is_none() {
        assert!(
            strip_prompt_tags(b"<helicone-prompt-input key=\"a\">x</helicone-prompt-input>")
                .is_none()
        );
        assert!(strip_prompt_tags(br#"{"messages":[{"role":"user","content":"hi"}]}"#).is_none());
        assert!(!has_prompt_tags(br#"{"messages":[]}"#));
        assert!(template(b"not json").is_none());
        assert!(template(b"[1,2]").is_none());
    }

    #[test]
    fn prompt_template_ignores_input_values() {
        let mk = |persona: &str, topic: &str, temp: f64| {
            serde_json::to_vec(&json!({
                "model": "gpt-4o",
                "temperature": temp,
                "messages": [
                    {"role": "system", "content": format!("You are <helicone-prompt-input key=\"persona\">{persona}</helicone-prompt-input>.")},
                    {"role": "user", "content": [{"type": "text", "text": format!("About <helicone-prompt-input key='topic'>{topic}</helicone-prompt-input>")}]}
                ]
            }))
            .unwrap()
        };
        let a = template(&mk("a pirate", "the sea", 0.1)).unwrap();
        let b = template(&mk("a poet", "the moon", 0.9)).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a,
            r#"{"messages":[{"content":"You are {{persona}}.","role":"system"},{"content":[{"text":"About {{topic}}","type":"text"}],"role":"user"}],"model":"gpt-4o"}"#
        );

        let other = serde_json::to_vec(&json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are truly <helicone-prompt-input key=\"persona\">a pirate</helicone-prompt-input>."},
                {"role": "user", "content": [{"type": "text", "text": "About <helicone-prompt-input key=\"topic\">x</helicone-prompt-input>"}]}
            ]
        }))
        .unwrap();
        assert_ne!(a, template(&other).unwrap());
    }

    #[test]
    fn prompt_template_key_order_is_canonical() {
        let a = br#"{ "system": "s", "model": "claude", "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "t", "input_schema": {"type": "object", "b": 1, "a": 2}}] }"#;
        let b = br#"{"tools":[{"input_schema":{"a":2,"type":"object","b":1},"name":"t"}],"messages":[{"content":"hi","role":"user"}],"model":"claude","system":"s","max_tokens":5}"#;
        let ta = template(a).unwrap();
        assert_eq!(ta, template(b).unwrap());
        assert_eq!(
            ta,
            r#"{"messages":[{"content":"hi","role":"user"}],"model":"claude","system":"s","tools":[{"input_schema":{"a":2,"b":1,"type":"object"},"name":"t"}]}"#
        );
    }

    #[test]
    fn prompt_template_filled_reproduces_stripped_text() {
        let body = serde_json::to_vec(&json!({
            "contents": [{"role": "user", "parts": [{"text": "Hi <helicone-prompt-input key=\"n\"> Ann </helicone-prompt-input>!"}]}]
        }))
        .unwrap();
        let t = template(&body).unwrap();
        let ex = strip_prompt_tags(&body).unwrap();
        let mut filled = t.clone();
        for (k, v) in &ex.inputs {
            filled = filled.replace(&format!("{{{{{k}}}}}"), v);
        }
        assert_eq!(filled.as_bytes(), &ex.stripped_body[..]);
        assert_eq!(ex.inputs, pairs(&[("n", " Ann ")]));
    }
}
