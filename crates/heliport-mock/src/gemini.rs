//! Gemini `generateContent` / `streamGenerateContent` responses.

use bytes::Bytes;

use crate::handler::{Ctx, Reply};
use crate::text::{count_words, json_str};

fn usage_metadata(cx: &Ctx<'_>, candidates: u64) -> String {
    if !cx.controls.usage {
        return String::new();
    }
    if let Some(u) = &cx.controls.usage_json {
        return format!(r#","usageMetadata":{u}"#);
    }
    let cached = cx.controls.cache_read;
    let prompt = cx.prompt_words + cached;
    let cached_field = if cached > 0 {
        format!(r#","cachedContentTokenCount":{cached}"#)
    } else {
        String::new()
    };
    format!(
        r#","usageMetadata":{{"promptTokenCount":{prompt},"candidatesTokenCount":{candidates},"totalTokenCount":{}{cached_field}}}"#,
        prompt + candidates
    )
}

fn chunk(cx: &Ctx<'_>, text: &str, last: bool, candidates: u64) -> String {
    let finish = if last {
        r#","finishReason":"STOP""#
    } else {
        ""
    };
    format!(
        concat!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":{}}}]}}{},"index":0}}]"#,
            r#"{},"modelVersion":{},"responseId":"mock-{}"}}"#
        ),
        json_str(text),
        finish,
        usage_metadata(cx, candidates),
        json_str(&cx.model),
        cx.n
    )
}

/// `POST .../models/{model}:generateContent`.
pub fn generate(cx: &Ctx<'_>) -> Reply {
    Reply::Json(Bytes::from(chunk(cx, cx.reply, true, cx.completion_words)))
}

/// `POST .../models/{model}:streamGenerateContent`: SSE with `?alt=sse`,
/// otherwise one JSON array whose elements arrive as separate frames.
pub fn stream(cx: &Ctx<'_>, sse: bool) -> Reply {
    let mut pieces = cx.pieces();
    if pieces.is_empty() {
        pieces.push("");
    }
    let last = pieces.len() - 1;
    let mut so_far = 0;
    let mut events = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        so_far += count_words(piece);
        let body = chunk(cx, piece, i == last, so_far);
        let framed = if sse {
            format!("data: {body}\r\n\r\n")
        } else {
            let open = if i == 0 { "[" } else { ",\r\n" };
            let close = if i == last { "]" } else { "" };
            format!("{open}{body}{close}")
        };
        events.push(Bytes::from(framed));
    }
    if sse {
        Reply::sse(events)
    } else {
        Reply::Stream {
            content_type: "application/json",
            events,
        }
    }
}
