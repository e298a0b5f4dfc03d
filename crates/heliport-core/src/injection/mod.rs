//! Prompt-injection and jailbreak screening (SPEC §3.6), with no I/O.
//!
//! [`screen`] scores text with a logistic-regression model over hashed
//! character 2–5-grams and word uni/bigrams of a normalised copy of the text.
//! The weights are trained offline by `scripts/train-injection-detector.py`
//! and compiled in (`data/injection/model.bin`); `docs/behaviour.md` says how
//! they are built and how well they do.
//!
//! Before scoring, the text is normalised so that cheap obfuscations land on
//! the n-grams the model knows: invisible characters are dropped, Unicode
//! tag characters, full-width, mathematical and enclosed letters become ASCII,
//! Cyrillic and Greek look-alikes inside Latin words become Latin, leetspeak
//! inside words is undone and spaced-out letters (`i g n o r e`) are joined.
//! Payloads that are cheap to decode (base64, hex, 8-bit binary, and rot13 or
//! reversed text when the prompt asks for that) are scored as extra views.
//! Each view is scored in overlapping windows and the highest window wins, so
//! an instruction hidden inside a long document is not diluted by it.
//!
//! [`user_text`] pulls the user-supplied text out of a chat request body;
//! system prompts and assistant turns are not screened.

mod decode;
mod features;
mod normalize;
mod request;

use std::fmt;
use std::sync::LazyLock;

pub use request::{screen_request, user_text};

use features::for_each_feature;
use normalize::{normalize, Normalized};

/// The compiled-in model: header and quantised weights (see [`Model::parse`]).
const MODEL_BYTES: &[u8] = include_bytes!("../../data/injection/model.bin");

/// Windows of the normalised text are this many bytes long...
const WINDOW: usize = 1024;
/// ...and start this many bytes apart, so every sentence sits whole in one.
const STRIDE: usize = 512;
/// Texts longer than this are also scored in small windows, so a sentence
/// hidden in a long document is not drowned by the text around it...
const SMALL_WINDOW: usize = 256;
/// ...which start this many bytes apart.
const SMALL_STRIDE: usize = 128;
/// Of a longer text only the first `HEAD` and last `TAIL` bytes are screened,
/// so a 1 MB (or 100 MB) prompt costs about as much as a 256 KiB one (tens of
/// milliseconds); instructions aimed at the model usually sit near either end.
const HEAD: usize = 192 * 1024;
/// See [`HEAD`].
const TAIL: usize = 64 * 1024;

/// What kind of attack a threat looks like; a best guess from cue words in
/// the part of the text that scored highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreatKind {
    /// "Ignore previous instructions" and its paraphrases.
    InstructionOverride,
    /// A persona without rules: DAN, "developer mode", "you are now ...".
    RoleHijack,
    /// Asking for the system prompt or initial instructions.
    PromptExtraction,
    /// An instruction hidden by encoding or obfuscation (base64, hex, rot13,
    /// homoglyphs, invisible or spaced-out characters, leetspeak).
    EncodedPayload,
    /// Fake chat-template tokens, role tags, end-of-prompt markers or tool
    /// outputs.
    DelimiterInjection,
}

impl ThreatKind {
    /// A short human-readable name, used as the reason of a [`Verdict`].
    pub fn as_str(self) -> &'static str {
        match self {
            ThreatKind::InstructionOverride => "instruction override",
            ThreatKind::RoleHijack => "role hijack",
            ThreatKind::PromptExtraction => "system prompt extraction",
            ThreatKind::EncodedPayload => "obfuscated or encoded payload",
            ThreatKind::DelimiterInjection => "delimiter or tag injection",
        }
    }
}

impl fmt::Display for ThreatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of screening one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Whether the text should be refused as a prompt-injection or jailbreak attempt.
    pub threat: bool,
    /// The model's probability of an attack (0..=1) for the most suspicious
    /// window of the text; `threat` is `score >= threshold`.
    pub score: f32,
    /// The threshold `score` was compared with (chosen at training time).
    pub threshold: f32,
    /// The kind of attack, when `threat`.
    pub kind: Option<ThreatKind>,
    /// A short reason: the kind's name when `threat`, else `""`.
    pub reason: &'static str,
}

impl Verdict {
    fn clean(score: f32, threshold: f32) -> Verdict {
        Verdict {
            threat: false,
            score,
            threshold,
            kind: None,
            reason: "",
        }
    }
}

/// The linear model: `logit = bias + scale * sum(weights[b]) / sqrt(n)` over
/// the `n` distinct feature buckets `b` of a window (binary features, L2
/// normalised, so repeating a text does not change its score).
struct Model {
    bits: u32,
    scale: f32,
    bias: f32,
    threshold: f32,
    weights: &'static [u8],
}

const MAGIC: &[u8; 4] = b"HPIM";
const HEADER: usize = 28;

impl Model {
    /// Layout (little-endian): `HPIM`, u32 feature version, u32 hash bits,
    /// f32 weight scale, f32 bias, f32 threshold (a probability), u32 reserved,
    /// then `2^bits` i16 weights.
    fn parse(bytes: &'static [u8]) -> Option<Model> {
        let word = |i: usize| -> Option<[u8; 4]> { bytes.get(i..i + 4)?.try_into().ok() };
        if bytes.get(..4)? != MAGIC || u32::from_le_bytes(word(4)?) != features::VERSION {
            return None;
        }
        let bits = u32::from_le_bytes(word(8)?);
        let weights = bytes.get(HEADER..)?;
        if bits != features::BITS || weights.len() != 2usize << bits {
            return None;
        }
        Some(Model {
            bits,
            scale: f32::from_le_bytes(word(12)?),
            bias: f32::from_le_bytes(word(16)?),
            threshold: f32::from_le_bytes(word(20)?),
            weights,
        })
    }

    fn weight(&self, bucket: u32) -> i32 {
        let i = bucket as usize * 2;
        match self.weights.get(i..i + 2) {
            Some(&[lo, hi]) => i32::from(i16::from_le_bytes([lo, hi])),
            _ => 0,
        }
    }

    /// The attack probability of one window of normalised text. `seen` is an
    /// all-zero bitset of `2^bits` bits that drops repeated buckets; the bits
    /// set here are cleared again through `touched` (cheaper than clearing
    /// 32 KiB per window).
    fn window_score(&self, window: &str, seen: &mut [u64], touched: &mut Vec<u32>) -> f32 {
        debug_assert!(self.bits == features::BITS);
        let mut sum: i64 = 0;
        for_each_feature(window, |b| {
            if let Some(word) = seen.get_mut((b >> 6) as usize) {
                let bit = 1u64 << (b & 63);
                if *word & bit == 0 {
                    *word |= bit;
                    sum += i64::from(self.weight(b));
                    touched.push(b);
                }
            }
        });
        let n = touched.len();
        for &b in touched.iter() {
            if let Some(word) = seen.get_mut((b >> 6) as usize) {
                *word = 0;
            }
        }
        touched.clear();
        let logit = if n == 0 {
            self.bias
        } else {
            self.bias + self.scale * sum as f32 / (n as f32).sqrt()
        };
        1.0 / (1.0 + (-logit).exp())
    }
}

static MODEL: LazyLock<Option<Model>> = LazyLock::new(|| Model::parse(MODEL_BYTES));

/// Whether the compiled-in model is readable (it always is in a released
/// build; tests check it).
pub fn model_ready() -> bool {
    MODEL.is_some()
}

/// The windows a normalised text is scored in: [`WINDOW`]-byte slices every
/// [`STRIDE`] bytes (one when the text is short) and, for a text longer than
/// [`SMALL_WINDOW`], [`SMALL_WINDOW`]-byte slices every [`SMALL_STRIDE`] too.
fn windows(s: &str) -> impl Iterator<Item = &str> {
    let small = (s.len() > SMALL_WINDOW).then(|| windows_of(s, SMALL_WINDOW, SMALL_STRIDE));
    windows_of(s, WINDOW, STRIDE).chain(small.into_iter().flatten())
}

/// `size`-byte slices of `s` every `stride` bytes, cut at char boundaries;
/// one (possibly empty) slice when `s` is no longer than `size`.
fn windows_of(s: &str, size: usize, stride: usize) -> impl Iterator<Item = &str> {
    let len = s.len();
    let boundary = move |mut i: usize| {
        while i < len && !s.is_char_boundary(i) {
            i += 1;
        }
        i.min(len)
    };
    let mut start = Some(0usize);
    std::iter::from_fn(move || {
        let from = start?;
        let to = boundary(from.saturating_add(size));
        start = (to < len).then(|| boundary(from + stride));
        s.get(from..to)
    })
}

/// Where the highest score came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Plain,
    Decoded,
}

struct Best {
    /// Scratch bitset and bucket list for [`Model::window_score`].
    seen: Vec<u64>,
    touched: Vec<u32>,
    score: f32,
    view: View,
    obfuscated: bool,
    /// The window that scored highest, for the reason cues (bounded copy).
    window: String,
}

impl Best {
    fn offer(&mut self, model: &Model, norm: &Normalized, view: View) {
        for w in windows(&norm.text) {
            let s = model.window_score(w, &mut self.seen, &mut self.touched);
            if s > self.score {
                self.score = s;
                self.view = view;
                self.obfuscated = norm.obfuscated;
                self.window.clear();
                self.window.push_str(w);
            }
        }
    }
}

/// The part of a long text that is screened: all of it up to `HEAD + TAIL`
/// bytes, else its first `HEAD` and last `TAIL` bytes.
fn bounded(text: &str) -> (&str, &str) {
    if text.len() <= HEAD + TAIL {
        return (text, "");
    }
    let mut h = HEAD;
    while !text.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = text.len() - TAIL;
    while !text.is_char_boundary(t) {
        t += 1;
    }
    (
        text.get(..h).unwrap_or_default(),
        text.get(t..).unwrap_or_default(),
    )
}

/// Screens one text (the user-supplied part of a request; see [`user_text`])
/// for prompt injection and jailbreak attempts.
///
/// Pure and allocation-light (a normalised copy of the text and a 32 KiB
/// bitset per call): a few KB screen in well under a millisecond; long texts
/// are bounded (see [`HEAD`]). Should the compiled-in model be
/// unreadable, every text is clean (tests guarantee it is readable).
pub fn screen(text: &str) -> Verdict {
    let Some(model) = MODEL.as_ref() else {
        return Verdict::clean(0.0, 1.0);
    };
    let mut best = Best {
        seen: vec![0u64; (1usize << features::BITS) / 64],
        touched: Vec::with_capacity(8 * 1024),
        score: 0.0,
        view: View::Plain,
        obfuscated: false,
        window: String::new(),
    };
    let (head, tail) = bounded(text);
    for part in [head, tail] {
        if part.is_empty() {
            continue;
        }
        best.offer(model, &normalize(part), View::Plain);
        decode::for_each_view(part, |view| {
            best.offer(model, &normalize(&view), View::Decoded)
        });
    }
    if best.score < model.threshold {
        return Verdict::clean(best.score, model.threshold);
    }
    let kind = if best.view == View::Decoded || best.obfuscated {
        ThreatKind::EncodedPayload
    } else {
        cues::kind_of(&best.window)
    };
    Verdict {
        threat: true,
        score: best.score,
        threshold: model.threshold,
        kind: Some(kind),
        reason: kind.as_str(),
    }
}

mod cues {
    //! Cue words that name the kind of a detected attack. They only label a
    //! threat the model found; they never decide one.

    use super::ThreatKind;

    const DELIMITER: &[&str] = &[
        "<|im_start|>",
        "<|im_end|>",
        "<|system|>",
        "<|user|>",
        "<|assistant|>",
        "<|endoftext|>",
        "<|start_header_id|>",
        "<|eot_id|>",
        "</system>",
        "<system>",
        "</user>",
        "</instructions>",
        "[inst]",
        "[/inst]",
        "<<sys>>",
        "### instruction",
        "### system",
        "### response",
        "end of prompt",
        "end of system prompt",
        "end of user input",
        "begin system",
        "[system]",
        "system override",
        "function_results",
        "<tool_result",
        "</tool",
        "tool output",
        "\"role\": \"system\"",
        "\"role\":\"system\"",
    ];

    const EXTRACTION: &[&str] = &[
        "system prompt",
        "system message",
        "system instructions",
        "initial instructions",
        "initial prompt",
        "original instructions",
        "original prompt",
        "hidden prompt",
        "hidden instructions",
        "developer message",
        "pre-prompt",
        "your instructions",
        "your prompt",
        "text above",
        "words above",
        "everything above",
        "verbatim",
        "prompt del sistema",
        "instrucciones iniciales",
        "instrucciones del sistema",
        "prompt système",
        "prompt systeme",
        "instructions initiales",
        "systemprompt",
        "systemanweisung",
        "anfangsanweisung",
        "prompt do sistema",
        "instruções iniciais",
        "prompt di sistema",
        "istruzioni iniziali",
        "系统提示",
        "系統提示",
        "初始指令",
        "システムプロンプト",
        "初期指示",
        "системный промпт",
        "системные инструкции",
        "системное сообщение",
        "исходные инструкции",
        "시스템 프롬프트",
        "초기 지시",
        "موجه النظام",
        "تعليمات النظام",
        "التعليمات الأولية",
        "सिस्टम प्रॉम्प्ट",
        "प्रारंभिक निर्देश",
    ];

    const ROLE: &[&str] = &[
        "do anything now",
        "developer mode",
        "dev mode",
        "god mode",
        "jailbreak",
        "jailbroken",
        "you are now",
        "from now on you",
        "unfiltered",
        "uncensored",
        "unrestricted",
        "no restrictions",
        "without restrictions",
        "no limits",
        "no rules",
        "no guidelines",
        "no filters",
        "pretend to be",
        "pretend you are",
        "act as",
        "roleplay as",
        "modo desarrollador",
        "mode développeur",
        "entwicklermodus",
        "modo de desenvolvedor",
        "modo desenvolvedor",
        "modalità sviluppatore",
        "开发者模式",
        "開発者モード",
        "режим разработчика",
        "개발자 모드",
        "وضع المطور",
        "डेवलपर मोड",
        "sin restricciones",
        "sans restrictions",
        "sans limites",
        "ohne einschränkungen",
        "ohne regeln",
        "sem restrições",
        "senza restrizioni",
        "没有限制",
        "无限制",
        "制限なし",
        "без ограничений",
        "제한 없",
        "بدون قيود",
        "प्रतिबंध",
        "ahora eres",
        "tu es maintenant",
        "du bist jetzt",
        "agora você é",
        "ora sei",
        "你现在是",
        "あなたは今",
        "теперь ты",
        "이제 너는",
        "أنت الآن",
        "अब तुम",
        "अब आप",
    ];

    fn any(window: &str, cues: &[&str]) -> bool {
        cues.iter().any(|c| window.contains(c))
    }

    /// "dan" as a whole word (the persona), not inside "dance" or "Jordan".
    fn has_dan(window: &str) -> bool {
        window
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == "dan" || w == "stan" || w == "dude" || w == "aim")
    }

    pub(super) fn kind_of(window: &str) -> ThreatKind {
        if any(window, DELIMITER) {
            ThreatKind::DelimiterInjection
        } else if any(window, EXTRACTION) {
            ThreatKind::PromptExtraction
        } else if any(window, ROLE) || has_dan(window) {
            ThreatKind::RoleHijack
        } else {
            ThreatKind::InstructionOverride
        }
    }
}

/// Features for the offline trainer (`examples/injection_features.rs`): the
/// hashed feature buckets (repeats kept; the trainer keeps distinct ones) of
/// each window of `text`'s plain view, or of the whole normalised text as one
/// window when `whole`. Not a stable API.
#[doc(hidden)]
pub fn training_features(text: &str, whole: bool) -> Vec<Vec<u32>> {
    let norm = normalize(text);
    let collect = |w: &str| {
        let mut v = Vec::new();
        for_each_feature(w, |b| v.push(b));
        v
    };
    if whole {
        vec![collect(&norm.text)]
    } else {
        windows(&norm.text).map(collect).collect()
    }
}

/// The normalised form of `text` the model sees (for tests and the trainer's
/// reports). Not a stable API.
#[doc(hidden)]
pub fn normalized(text: &str) -> String {
    normalize(text).text
}

#[cfg(test)]
mod tests;
