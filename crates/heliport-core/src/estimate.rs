//! Token estimation for responses whose provider reported no usage.
//!
//! Counts use OpenAI's public BPE encodings through tiktoken-rs. For models
//! without a public tokenizer (Anthropic, Gemini, open-weight models behind
//! other vendors) cl100k_base is used anyway: the result is an estimate, and
//! it is recorded as such by the caller.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use crate::usage::Usage;

/// Tokens OpenAI's chat format adds around every message
/// (`<|start|>{role}\n{content}<|end|>\n`), per OpenAI's cookbook.
const TOKENS_PER_MESSAGE: u64 = 3;
/// Tokens priming the assistant's reply (`<|start|>assistant<|message|>`).
const REPLY_PRIMING_TOKENS: u64 = 3;

/// The BPE encodings heliport estimates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4, GPT-3.5, `text-embedding-*`, and the default for other vendors.
    Cl100kBase,
    /// GPT-4o and later OpenAI models (o-series, GPT-4.1, GPT-4.5, GPT-5).
    O200kBase,
}

/// Model-name prefixes (lowercase) tokenised with o200k_base.
const O200K_PREFIXES: [&str; 9] = [
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "chatgpt-4o",
    "gpt-oss",
];

/// The encoding heliport picks for `model`.
///
/// Routing prefixes such as `openai/` (OpenRouter, LiteLLM style) and the
/// `ft:` prefix of fine-tuned models are ignored, and matching is
/// case-insensitive, so `openai/GPT-4o-mini` and `ft:gpt-4o-mini:org::id`
/// both resolve to o200k_base.
pub fn encoding_for_model(model: &str) -> Encoding {
    let name = model.rsplit('/').next().unwrap_or(model).trim();
    let name = name.to_ascii_lowercase();
    let name = name.strip_prefix("ft:").unwrap_or(&name);
    if O200K_PREFIXES.iter().any(|p| name.starts_with(p)) {
        Encoding::O200kBase
    } else {
        Encoding::Cl100kBase
    }
}

/// Estimated usage when the provider reported none.
///
/// `prompt_text` is all prompt text (the caller extracts it), `messages` the
/// number of chat messages, `completion_text` what the model produced. Chat
/// requests (`messages > 0`) get OpenAI's framing overhead: 3 tokens per
/// message plus 3 priming the reply; non-chat requests (completions,
/// embeddings) get none. Cache and reasoning counts stay 0: nothing in the
/// text reveals them.
pub fn estimate(model: &str, prompt_text: &str, messages: usize, completion_text: &str) -> Usage {
    let encoding = encoding_for_model(model);
    let framing = if messages == 0 {
        0
    } else {
        let messages = u64::try_from(messages).unwrap_or(u64::MAX);
        messages
            .saturating_mul(TOKENS_PER_MESSAGE)
            .saturating_add(REPLY_PRIMING_TOKENS)
    };
    Usage {
        prompt_tokens: count_with(encoding, prompt_text).saturating_add(framing),
        completion_tokens: count_with(encoding, completion_text),
        ..Usage::default()
    }
}

/// Token count of `text` under the encoding heliport picks for `model`.
///
/// The first call for an encoding builds its encoder (see [`encoder`]); if that
/// fails, or encoding `text` fails, the count falls back to one token per four
/// characters.
pub fn count_tokens(model: &str, text: &str) -> u64 {
    count_with(encoding_for_model(model), text)
}

fn count_with(encoding: Encoding, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let Some(bpe) = encoder(encoding) else {
        return chars_estimate(text);
    };
    segments(text)
        .map(|segment| count_segment(bpe, segment))
        .fold(0u64, u64::saturating_add)
}

fn count_segment(bpe: &CoreBPE, segment: &str) -> u64 {
    // tiktoken-rs unwraps fancy-regex results inside `encode_ordinary`, and
    // its regex VM reports a stack overflow on whitespace runs of ~1M chars.
    // `segments` keeps runs far below that; this guard is the last resort so
    // an estimate never takes down the request task. `encode_ordinary` treats
    // special-token strings such as `<|endoftext|>` in user text as plain
    // text, as providers count user content.
    match catch_unwind(AssertUnwindSafe(|| bpe.encode_ordinary(segment).len())) {
        Ok(n) => u64::try_from(n).unwrap_or(u64::MAX),
        Err(_) => chars_estimate(segment),
    }
}

/// A segment grows to about this many bytes before it is cut at the next
/// word boundary.
const SEGMENT_BYTES: usize = 4096;
/// Longest run of whitespace, or of non-whitespace, encoded in one piece.
const MAX_RUN_BYTES: usize = 128;

/// Splits `text` into pieces encoded separately, because tiktoken-rs' BPE
/// merge is quadratic in the length of a regex piece: one 200k-space run
/// took a minute, so a hostile or odd body (long whitespace, base64, minified
/// JSON) could pin a core. Cuts fall just before the last whitespace char
/// preceding a word, where the tokenizer's regex splits anyway, so ordinary
/// text counts exactly; only runs longer than [`MAX_RUN_BYTES`] are cut
/// mid-run, costing at most a token or so per cut.
fn segments(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = next_cut(rest);
        let (segment, tail) = rest.split_at(cut);
        rest = tail;
        Some(segment)
    })
}

/// Byte offset (a char boundary, > 0) where the first segment of `text` ends.
fn next_cut(text: &str) -> usize {
    let mut run_start = 0;
    let mut prev: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if let Some((prev_i, prev_ws)) = prev {
            if prev_ws != ws {
                if prev_ws && i >= SEGMENT_BYTES && prev_i > 0 {
                    return prev_i;
                }
                run_start = i;
            } else if i - run_start >= MAX_RUN_BYTES {
                return i;
            }
        }
        prev = Some((i, ws));
    }
    text.len()
}

/// The fallback estimate: about four characters per token for English text.
fn chars_estimate(text: &str) -> u64 {
    let chars = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
    chars.div_ceil(4)
}

/// The process-wide encoder for `encoding`, built on first use.
///
/// Building one parses a bundled vocabulary of 100k–200k entries: it takes
/// noticeable time and tens of MB, so it happens only once an estimate is
/// actually needed, and only for the encodings used. `None` (remembered, so
/// the build is not retried on every request) if building failed.
pub fn encoder(encoding: Encoding) -> Option<&'static CoreBPE> {
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    let cell = match encoding {
        Encoding::Cl100kBase => &CL100K,
        Encoding::O200kBase => &O200K,
    };
    cell.get_or_init(|| build_encoder(encoding)).as_ref()
}

fn build_encoder(encoding: Encoding) -> Option<CoreBPE> {
    // The builders unwrap while parsing their bundled data; guard anyway so an
    // estimate can never abort a request.
    catch_unwind(|| match encoding {
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base().ok(),
        Encoding::O200kBase => tiktoken_rs::o200k_base().ok(),
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn estimate_encoding_choice() {
        for m in [
            "gpt-4o",
            "gpt-4o-mini-2024-07-18",
            "gpt-4.1-nano",
            "gpt-4.5-preview",
            "gpt-5",
            "o1-mini",
            "o3",
            "o4-mini",
            "chatgpt-4o-latest",
            "openai/GPT-4o",
            "ft:gpt-4o-mini:acme::abc123",
        ] {
            assert_eq!(encoding_for_model(m), Encoding::O200kBase, "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "text-embedding-3-small",
            "claude-sonnet-4-20250514",
            "gemini-2.5-pro",
            "",
        ] {
            assert_eq!(encoding_for_model(m), Encoding::Cl100kBase, "{m}");
        }
    }

    #[test]
    fn estimate_known_counts() {
        assert_eq!(count_tokens("gpt-4", "hello world"), 2);
        assert_eq!(count_tokens("gpt-4o", "hello world"), 2);
        // Reference counts from OpenAI's tiktoken for both encodings.
        let s = "The quick brown fox jumps over the lazy dog.";
        assert_eq!(count_tokens("gpt-3.5-turbo", s), 10);
        assert_eq!(count_tokens("gpt-4o-mini", s), 10);
        assert_eq!(count_tokens("gpt-4", "tiktoken is great!"), 6);
        assert_eq!(count_tokens("gpt-4o", "tiktoken is great!"), 6);
        assert_eq!(count_tokens("gpt-4", ""), 0);
        // Special-token text in user content counts as plain text.
        assert!(count_tokens("gpt-4", "<|endoftext|>") > 1);
    }

    #[test]
    fn estimate_message_overhead_and_empty_completion() {
        let u = estimate("gpt-4", "hello world", 2, "");
        assert_eq!(u.prompt_tokens, 2 + 2 * 3 + 3);
        assert_eq!(u.completion_tokens, 0);
        assert_eq!(u.prompt_cache_read_tokens, 0);
        assert_eq!(u.reasoning_tokens, 0);

        let u = estimate("text-embedding-3-small", "hello world", 0, "");
        assert_eq!(u.prompt_tokens, 2);

        let u = estimate("gpt-4o", "", 1, "hello world");
        assert_eq!(u.prompt_tokens, 6);
        assert_eq!(u.completion_tokens, 2);
    }

    #[test]
    fn estimate_chars_fallback() {
        assert_eq!(chars_estimate("abcd"), 1);
        assert_eq!(chars_estimate("abcde"), 2);
        assert_eq!(chars_estimate("☃☃☃☃☃☃☃☃"), 2);
    }

    #[test]
    fn estimate_segments_cover_text_and_keep_ordinary_counts() {
        let sentence = "Hello there, world!  How are you?\n\nFine. ";
        let text = sentence.repeat(500);
        let parts: Vec<&str> = segments(&text).collect();
        assert!(parts.len() > 1);
        assert!(parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 2 * SEGMENT_BYTES));
        assert_eq!(parts.concat(), text);
        for (name, enc) in [
            ("gpt-4", Encoding::Cl100kBase),
            ("gpt-4o", Encoding::O200kBase),
        ] {
            let whole = encoder(enc).unwrap().encode_ordinary(&text).len() as u64;
            assert_eq!(count_tokens(name, &text), whole, "{name}");
        }
        let cjk = "日本語のテキスト".repeat(300);
        assert_eq!(segments(&cjk).collect::<Vec<_>>().concat(), cjk);
    }

    /// Inputs that are quadratic or overflow the regex VM when encoded whole.
    #[test]
    fn estimate_pathological_inputs_are_fast_and_do_not_panic() {
        let inputs = [
            format!("{}x", " ".repeat(2_000_000)),
            format!("{}x", "\n".repeat(1_000_000)),
            "a".repeat(1_000_000),
            "漢".repeat(300_000),
        ];
        for text in &inputs {
            let t = Instant::now();
            let n = count_tokens("gpt-4", text);
            let m = count_tokens("gpt-4o", text);
            println!(
                "{} bytes: {n} / {m} tokens in {:?}",
                text.len(),
                t.elapsed()
            );
            assert!(n > 0 && m > 0);
        }
    }

    /// Timing report, not a check: `cargo test -p heliport-core estimate_timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing report, run by hand"]
    fn estimate_timing() {
        let sentence = "Heliport records tokens and cost for every request it proxies. ";
        let text: String = sentence.repeat(4096 / sentence.len() + 1)[..4096].to_owned();
        // Build fresh encoders (not the singletons, which parallel tests may
        // already have built) so the first-build cost is what gets measured.
        for (name, enc) in [
            ("cl100k_base", Encoding::Cl100kBase),
            ("o200k_base", Encoding::O200kBase),
        ] {
            let t = Instant::now();
            let bpe = build_encoder(enc).unwrap();
            let build = t.elapsed();
            let t = Instant::now();
            let n = bpe.encode_ordinary(&text).len();
            let first = t.elapsed();
            let t = Instant::now();
            for _ in 0..10 {
                bpe.encode_ordinary(&text);
            }
            let steady = t.elapsed() / 10;
            println!(
                "{name}: build {build:?}; 4 KB text = {n} tokens, encode {first:?} first, {steady:?} steady"
            );
        }
    }
}
