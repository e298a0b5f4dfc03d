//! Word counting, reply splitting and JSON string escaping.
//!
//! Token counts in the mock are word counts so tests can assert exact numbers
//! without a tokenizer.

use serde_json::Value;

/// Number of whitespace-separated words in `s`.
pub fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Number of words in the text carried by a request fragment.
///
/// One walker serves every provider shape: strings count directly, arrays
/// sum their elements, and objects contribute only their `text`, `content`
/// and `parts` members — the keys under which OpenAI, Anthropic and Gemini
/// put prompt text. Other members (roles, image URLs, ids) are ignored.
pub fn text_words(v: &Value) -> u64 {
    match v {
        Value::String(s) => count_words(s),
        Value::Array(items) => items.iter().map(text_words).sum(),
        Value::Object(map) => ["text", "content", "parts"]
            .iter()
            .filter_map(|k| map.get(*k))
            .map(text_words)
            .sum(),
        _ => 0,
    }
}

/// Split `reply` into stream pieces: each word with the whitespace that
/// follows it (whitespace before the first word stays with it), so that
/// concatenating the pieces gives back `reply` exactly.
pub fn split_reply(reply: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut prev_ws = false;
    for (i, c) in reply.char_indices() {
        let ws = c.is_whitespace();
        if !ws && prev_ws && seen_word {
            pieces.push(&reply[start..i]);
            start = i;
        }
        seen_word |= !ws;
        prev_ws = ws;
    }
    if start < reply.len() {
        pieces.push(&reply[start..]);
    }
    pieces
}

/// `"word1 word2 ... wordN"`.
pub fn numbered_words(n: usize) -> String {
    let mut out = String::with_capacity(n * 7);
    for i in 1..=n {
        if i > 1 {
            out.push(' ');
        }
        out.push_str("word");
        push_decimal(&mut out, i as u64);
    }
    out
}

fn push_decimal(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[pos..] {
        out.push(char::from(b));
    }
}

/// `s` as a quoted JSON string literal.
///
/// The hot endpoints assemble their JSON with `format!` instead of building
/// a `serde_json::Value` tree per request; every user-controlled string goes
/// through here.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = c as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Standard base64 (with padding), for `encoding_format: "base64"` embeddings.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(s & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_whitespace_separated_words() {
        assert_eq!(count_words(""), 0);
        assert_eq!(count_words("   "), 0);
        assert_eq!(count_words("one"), 1);
        assert_eq!(count_words("  one two\tthree\nfour  "), 4);
        assert_eq!(count_words("Hello from the heliport mock."), 5);
    }

    #[test]
    fn counts_text_in_every_provider_shape() {
        // OpenAI chat: string content and text parts; image parts ignored.
        let chat = json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "hello there"},
                {"type": "image_url", "image_url": {"url": "http://x/y z"}}
            ]}
        ]);
        assert_eq!(text_words(&chat), 4);
        // Responses input items with input_text parts.
        let responses =
            json!([{"role": "user", "content": [{"type": "input_text", "text": "a b c"}]}]);
        assert_eq!(text_words(&responses), 3);
        // Gemini contents.
        let gemini = json!([{"role": "user", "parts": [{"text": "one two"}, {"text": "three"}]}]);
        assert_eq!(text_words(&gemini), 3);
        // Anthropic system blocks.
        let system = json!([{"type": "text", "text": "you are a bot"}]);
        assert_eq!(text_words(&system), 4);
        assert_eq!(text_words(&json!(null)), 0);
        assert_eq!(text_words(&json!(42)), 0);
    }

    #[test]
    fn split_reply_round_trips() {
        for reply in [
            "Hello from the heliport mock.",
            "one",
            "",
            "  leading and trailing  ",
            "multi\n\nline  text",
        ] {
            let pieces = split_reply(reply);
            assert_eq!(pieces.concat(), reply);
            let words = pieces.iter().filter(|p| !p.trim().is_empty()).count() as u64;
            assert_eq!(words, count_words(reply), "{reply:?}");
        }
        assert_eq!(
            split_reply("Hello from the heliport mock."),
            ["Hello ", "from ", "the ", "heliport ", "mock."]
        );
    }

    #[test]
    fn numbered_words_has_n_words() {
        assert_eq!(numbered_words(0), "");
        assert_eq!(numbered_words(3), "word1 word2 word3");
        assert_eq!(count_words(&numbered_words(1234)), 1234);
    }

    #[test]
    fn json_str_escapes() {
        let nasty = "a\"b\\c\nd\u{1}é";
        let lit = json_str(nasty);
        let back: String = serde_json::from_str(&lit).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
