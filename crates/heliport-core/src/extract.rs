//! Usage, model and service tier from provider responses (whole JSON bodies
//! and SSE streams), plus the prompt and completion text heliport estimates
//! tokens from when a provider reports no usage.
//!
//! Every function here is total: malformed or unexpected input yields empty
//! results, never an error, because a response heliport cannot read must
//! still reach the client untouched.

use std::fmt;
use std::marker::PhantomData;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::sse::{SseEvent, SseParser};
use crate::usage::Usage;

/// The response convention of an upstream endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApiFlavor {
    /// chat/completions, completions, embeddings and every OpenAI-compatible provider.
    OpenAiChat,
    /// OpenAI's Responses API.
    OpenAiResponses,
    /// Anthropic's Messages API.
    Anthropic,
    /// Gemini `generateContent` / `streamGenerateContent` (AI Studio and Vertex).
    Gemini,
    /// Anything else: the response shape is sniffed instead.
    #[default]
    Unknown,
}

impl ApiFlavor {
    /// From the upstream path (and query): `.../chat/completions`,
    /// `.../completions`, `.../embeddings` -> `OpenAiChat`; `.../responses` ->
    /// `OpenAiResponses`; `.../messages` -> `Anthropic`; `:generateContent` /
    /// `:streamGenerateContent` -> `Gemini`; else `Unknown`. Azure paths such as
    /// `/openai/deployments/x/chat/completions?api-version=...` are `OpenAiChat`.
    pub fn from_path(path_and_query: &str) -> ApiFlavor {
        // Byte by byte: this runs several times a request, and the `char`
        // patterns of `split` and `rsplit` cost ten times as much.
        let bytes = path_and_query.as_bytes();
        let end = bytes
            .iter()
            .position(|&b| b == b'?' || b == b'#')
            .unwrap_or(bytes.len());
        let path = bytes.get(..end).unwrap_or_default();
        let path = match path.iter().rposition(|&b| b != b'/') {
            Some(i) => path.get(..=i).unwrap_or_default(),
            None => &[],
        };
        let last = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => path.get(i + 1..).unwrap_or_default(),
            None => path,
        };
        if let Some(colon) = last.iter().rposition(|&b| b == b':') {
            return match last.get(colon + 1..).unwrap_or_default() {
                b"generateContent" | b"streamGenerateContent" => ApiFlavor::Gemini,
                _ => ApiFlavor::Unknown,
            };
        }
        match last {
            b"completions" | b"embeddings" => ApiFlavor::OpenAiChat,
            b"responses" => ApiFlavor::OpenAiResponses,
            b"messages" => ApiFlavor::Anthropic,
            _ => ApiFlavor::Unknown,
        }
    }
}

/// What heliport records from a provider response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extracted {
    /// Normalised usage (see [`Usage`]), `None` when the provider reported none.
    pub usage: Option<Usage>,
    /// The model the provider says answered, often more specific than the requested one.
    pub model: Option<String>,
    /// The service tier the provider says it used (OpenAI `service_tier`, Anthropic `usage.service_tier`).
    pub service_tier: Option<String>,
    /// The convention the usage was read in (`Unknown` without usage).
    pub flavor: ApiFlavor,
}

impl Extracted {
    /// Applies a provider's own reading of its API flavor's fields, given
    /// its price-table id: xAI's chat completions leave reasoning tokens
    /// out of `completion_tokens` (genai-prices' xAI extractor adds them in).
    pub fn adjust_for_provider(&mut self, price_provider: &str) {
        if self.flavor == ApiFlavor::OpenAiChat && price_provider == "x-ai" {
            if let Some(u) = &mut self.usage {
                u.completion_tokens = u.completion_tokens.saturating_add(u.reasoning_tokens);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Lenient deserialisation
// ---------------------------------------------------------------------------

/// A value read leniently: a wrong type, `null` or an absent field give `None`
/// instead of failing the whole document, so one odd field from an
/// OpenAI-compatible server cannot void the usage next to it.
struct Lax<T>(Option<T>);

impl<T> Default for Lax<T> {
    fn default() -> Self {
        Lax(None)
    }
}

impl<T> Lax<T> {
    fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl Lax<u64> {
    fn val(&self) -> Option<u64> {
        self.0
    }
}

impl Lax<String> {
    /// The string if present and non-empty (Azure's first chunk carries `"model": ""`).
    fn text(&self) -> Option<String> {
        self.0
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }
}

/// How each JSON type converts into a `Lax<Self>`; every default is "not this type".
trait LaxTarget<'de>: Sized {
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl LaxTarget<'_> for u64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    fn from_i64(v: i64) -> Option<Self> {
        u64::try_from(v).ok()
    }
    fn from_f64(v: f64) -> Option<Self> {
        // Token counts are integers; a float here is a serializer quirk, not a fraction.
        (v.is_finite() && v >= 0.0).then(|| v.round() as u64)
    }
    fn from_str(v: &str) -> Option<Self> {
        // Protobuf JSON (Vertex) may encode 64-bit integers as strings.
        v.trim().parse().ok()
    }
}

impl LaxTarget<'_> for String {
    fn from_str(v: &str) -> Option<Self> {
        Some(v.to_owned())
    }
}

impl LaxTarget<'_> for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

macro_rules! lax_object {
    ($($t:ty),*) => {$(
        impl<'de> LaxTarget<'de> for $t {
            fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
                <$t>::deserialize(MapAccessDeserializer::new(map)).map(Some)
            }
        }
    )*};
}

struct LaxVisitor<T>(PhantomData<T>);

impl<'de, T: LaxTarget<'de>> Visitor<'de> for LaxVisitor<T> {
    type Value = Lax<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Lax(T::from_bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Lax(T::from_i64(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Lax(T::from_u64(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Lax(T::from_f64(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Lax(T::from_str(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lax(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Lax(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq).map(Lax)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map).map(Lax)
    }
}

impl<'de, T: LaxTarget<'de>> Deserialize<'de> for Lax<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LaxVisitor(PhantomData))
    }
}

/// The fields of any provider's response (or stream event) that carry usage,
/// model or tier; everything else is skipped without being built. Read by
/// name in `scan_doc` too: a field added here goes there as well.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    model: Lax<String>,
    #[serde(rename = "modelVersion")]
    model_version: Lax<String>,
    service_tier: Lax<String>,
    #[serde(rename = "type")]
    kind: Lax<String>,
    object: Lax<String>,
    usage: Lax<RawUsage>,
    // Boxed, these two: a `Doc` is returned and moved by value several times
    // an answer (and an event), and inline they tripled its size for fields
    // only Gemini and Groq send.
    #[serde(rename = "usageMetadata")]
    usage_metadata: Lax<Box<GeminiUsage>>,
    x_groq: Lax<Box<XGroq>>,
    /// Responses stream events wrap the response object.
    response: Lax<Box<Doc>>,
    /// Anthropic `message_start` wraps the message object.
    message: Lax<Box<Doc>>,
}

/// OpenAI chat, OpenAI Responses and Anthropic usage fields side by side:
/// their names do not collide, so one struct reads all three. `usage_at`
/// reads the same fields by name: a field added here goes there too.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUsage {
    prompt_tokens: Lax<u64>,
    completion_tokens: Lax<u64>,
    prompt_tokens_details: Lax<Details>,
    completion_tokens_details: Lax<Details>,
    /// DeepSeek's name for cached prompt tokens.
    prompt_cache_hit_tokens: Lax<u64>,
    input_tokens: Lax<u64>,
    output_tokens: Lax<u64>,
    input_tokens_details: Lax<Details>,
    output_tokens_details: Lax<Details>,
    cache_read_input_tokens: Lax<u64>,
    cache_creation_input_tokens: Lax<u64>,
    /// Anthropic's cache writes by duration.
    cache_creation: Lax<CacheCreation>,
    /// Anthropic's server-side tools.
    server_tool_use: Lax<ServerToolUse>,
    service_tier: Lax<String>,
}

/// The `*_tokens_details` of every convention (OpenAI chat and Responses,
/// Anthropic `output_tokens_details`). Read by name in `usage_at` too.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Details {
    cached_tokens: Lax<u64>,
    /// Cache writes (OpenRouter and other OpenAI-compatible servers).
    cache_write_tokens: Lax<u64>,
    reasoning_tokens: Lax<u64>,
    /// Anthropic's name for reasoning tokens.
    thinking_tokens: Lax<u64>,
    audio_tokens: Lax<u64>,
    /// Image tokens (OpenAI's image endpoints).
    image_tokens: Lax<u64>,
}

impl Details {
    fn cached(d: &Lax<Details>) -> Option<u64> {
        d.get().and_then(|d| d.cached_tokens.val())
    }
    fn cache_write(d: &Lax<Details>) -> u64 {
        d.get()
            .and_then(|d| d.cache_write_tokens.val())
            .unwrap_or(0)
    }
    fn reasoning(d: &Lax<Details>) -> u64 {
        d.get().and_then(|d| d.reasoning_tokens.val()).unwrap_or(0)
    }
    fn audio(d: &Lax<Details>) -> u64 {
        d.get().and_then(|d| d.audio_tokens.val()).unwrap_or(0)
    }
    fn image(d: &Lax<Details>) -> u64 {
        d.get().and_then(|d| d.image_tokens.val()).unwrap_or(0)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Lax<u64>,
    ephemeral_1h_input_tokens: Lax<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ServerToolUse {
    web_search_requests: Lax<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GeminiUsage {
    prompt_token_count: Lax<u64>,
    candidates_token_count: Lax<u64>,
    cached_content_token_count: Lax<u64>,
    thoughts_token_count: Lax<u64>,
    tool_use_prompt_token_count: Lax<u64>,
    total_token_count: Lax<u64>,
    prompt_tokens_details: Lax<Modalities>,
    cache_tokens_details: Lax<Modalities>,
    candidates_tokens_details: Lax<Modalities>,
    tool_use_prompt_tokens_details: Lax<Modalities>,
}

/// A Gemini modality name, read without allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Modality {
    Text,
    Audio,
    Image,
    Video,
    Document,
}

impl LaxTarget<'_> for Modality {
    fn from_str(v: &str) -> Option<Self> {
        const NAMES: [(&str, Modality); 5] = [
            ("TEXT", Modality::Text),
            ("AUDIO", Modality::Audio),
            ("IMAGE", Modality::Image),
            ("VIDEO", Modality::Video),
            ("DOCUMENT", Modality::Document),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(v))
            .map(|(_, m)| *m)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ModalityCount {
    modality: Lax<Modality>,
    token_count: Lax<u64>,
}

/// Gemini's `[{modality, tokenCount}]` lists. Like genai-prices, only the
/// first entry of each modality counts.
#[derive(Default, Clone, Copy)]
struct Modalities {
    seen: [bool; 5],
    counts: [u64; 5],
}

impl Modalities {
    fn of(&self, m: Modality) -> u64 {
        self.counts.get(m as usize).copied().unwrap_or(0)
    }
    fn get(l: &Lax<Modalities>) -> Modalities {
        l.get().copied().unwrap_or_default()
    }
}

impl<'de> LaxTarget<'de> for Modalities {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Modalities::default();
        while let Some(item) = seq.next_element::<Lax<ModalityCount>>()? {
            let Some(m) = item.get().and_then(|i| i.modality.get().copied()) else {
                continue;
            };
            let i = m as usize;
            if let (Some(seen @ false), Some(count)) = (out.seen.get_mut(i), out.counts.get_mut(i))
            {
                *seen = true;
                *count = item.get().and_then(|i| i.token_count.val()).unwrap_or(0);
            }
        }
        Ok(Some(out))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct XGroq {
    usage: Lax<RawUsage>,
}

/// The request's own fields a record keeps; read by name in
/// `request_fields` too.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRequest {
    model: Lax<String>,
    stream: Lax<bool>,
    user: Lax<String>,
    metadata: Lax<RequestMetadata>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RequestMetadata {
    user_id: Lax<String>,
}

lax_object!(
    Doc,
    Box<Doc>,
    RawUsage,
    Details,
    CacheCreation,
    ServerToolUse,
    GeminiUsage,
    Box<GeminiUsage>,
    ModalityCount,
    XGroq,
    Box<XGroq>,
    RequestMetadata
);

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

fn chat_usage(u: &RawUsage) -> Option<Usage> {
    let (prompt, completion) = (u.prompt_tokens.val(), u.completion_tokens.val());
    if prompt.is_none() && completion.is_none() {
        // Some OpenAI-compatible servers answer chat requests in the Responses convention.
        return responses_usage(u);
    }
    let (pd, cd) = (&u.prompt_tokens_details, &u.completion_tokens_details);
    Some(Usage {
        prompt_tokens: prompt.unwrap_or(0),
        completion_tokens: completion.unwrap_or(0),
        prompt_cache_read_tokens: Details::cached(pd)
            .or(u.prompt_cache_hit_tokens.val())
            .unwrap_or(0),
        prompt_cache_write_tokens: Details::cache_write(pd),
        reasoning_tokens: Details::reasoning(cd),
        prompt_audio_tokens: Details::audio(pd),
        completion_audio_tokens: Details::audio(cd),
        ..Usage::default()
    })
}

fn responses_usage(u: &RawUsage) -> Option<Usage> {
    let (input, output) = (u.input_tokens.val(), u.output_tokens.val());
    if input.is_none() && output.is_none() {
        return None;
    }
    let (id, od) = (&u.input_tokens_details, &u.output_tokens_details);
    Some(Usage {
        prompt_tokens: input.unwrap_or(0),
        completion_tokens: output.unwrap_or(0),
        prompt_cache_read_tokens: Details::cached(id).unwrap_or(0),
        prompt_cache_write_tokens: Details::cache_write(id),
        reasoning_tokens: Details::reasoning(od),
        prompt_image_tokens: Details::image(id),
        completion_image_tokens: Details::image(od),
        ..Usage::default()
    })
}

/// Anthropic usage as reported, before normalisation: a stream reports it in
/// two halves (`message_start`, `message_delta`) that are merged field by field.
#[derive(Debug, Clone, Copy, Default)]
struct AnthropicParts {
    input: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
    cache_write_5m: Option<u64>,
    cache_write_1h: Option<u64>,
    web_searches: Option<u64>,
    thinking: Option<u64>,
    output: Option<u64>,
}

impl AnthropicParts {
    fn merge(&mut self, u: &RawUsage) {
        // Later values are cumulative, so each reported field replaces the earlier one.
        let cc = u.cache_creation.get();
        self.input = u.input_tokens.val().or(self.input);
        self.cache_read = u.cache_read_input_tokens.val().or(self.cache_read);
        self.cache_write = u.cache_creation_input_tokens.val().or(self.cache_write);
        self.cache_write_5m = cc
            .and_then(|c| c.ephemeral_5m_input_tokens.val())
            .or(self.cache_write_5m);
        self.cache_write_1h = cc
            .and_then(|c| c.ephemeral_1h_input_tokens.val())
            .or(self.cache_write_1h);
        self.web_searches = u
            .server_tool_use
            .get()
            .and_then(|s| s.web_search_requests.val())
            .or(self.web_searches);
        self.thinking = u
            .output_tokens_details
            .get()
            .and_then(|d| d.thinking_tokens.val())
            .or(self.thinking);
        self.output = u.output_tokens.val().or(self.output);
    }

    fn usage(&self) -> Option<Usage> {
        if self.input.is_none()
            && self.cache_read.is_none()
            && self.cache_write.is_none()
            && self.output.is_none()
        {
            return None;
        }
        let read = self.cache_read.unwrap_or(0);
        let (w5m, w1h) = (
            self.cache_write_5m.unwrap_or(0),
            self.cache_write_1h.unwrap_or(0),
        );
        // The total is always sent beside the breakdown; a breakdown alone
        // still says how much was written.
        let write = self.cache_write.unwrap_or_else(|| w5m.saturating_add(w1h));
        Some(Usage {
            // Anthropic's input_tokens excludes cache reads and writes; ours includes them.
            prompt_tokens: self
                .input
                .unwrap_or(0)
                .saturating_add(read)
                .saturating_add(write),
            completion_tokens: self.output.unwrap_or(0),
            prompt_cache_read_tokens: read,
            prompt_cache_write_tokens: write,
            prompt_cache_write_5m_tokens: w5m,
            prompt_cache_write_1h_tokens: w1h,
            reasoning_tokens: self.thinking.unwrap_or(0),
            web_searches: self.web_searches.unwrap_or(0),
            ..Usage::default()
        })
    }
}

fn anthropic_usage(u: &RawUsage) -> Option<Usage> {
    let mut parts = AnthropicParts::default();
    parts.merge(u);
    parts.usage()
}

fn gemini_usage(g: &GeminiUsage) -> Option<Usage> {
    let prompt = g.prompt_token_count.val();
    let candidates = g.candidates_token_count.val();
    let thoughts = g.thoughts_token_count.val();
    let tool_prompt = g.tool_use_prompt_token_count.val();
    if prompt.is_none()
        && candidates.is_none()
        && thoughts.is_none()
        && tool_prompt.is_none()
        && g.total_token_count.val().is_none()
    {
        return None;
    }
    let thoughts = thoughts.unwrap_or(0);
    let prompt_d = Modalities::get(&g.prompt_tokens_details);
    let tool_d = Modalities::get(&g.tool_use_prompt_tokens_details);
    let cache_d = Modalities::get(&g.cache_tokens_details);
    let out_d = Modalities::get(&g.candidates_tokens_details);
    // Documents are priced as images (genai-prices maps them so).
    let visual = |d: &Modalities| {
        d.of(Modality::Image)
            .saturating_add(d.of(Modality::Document))
    };
    let both = |f: &dyn Fn(&Modalities) -> u64| f(&prompt_d).saturating_add(f(&tool_d));
    Some(Usage {
        // promptTokenCount already includes cachedContentTokenCount; tool-use
        // prompts are billed as input but reported beside it.
        prompt_tokens: prompt.unwrap_or(0).saturating_add(tool_prompt.unwrap_or(0)),
        completion_tokens: candidates.unwrap_or(0).saturating_add(thoughts),
        prompt_cache_read_tokens: g.cached_content_token_count.val().unwrap_or(0),
        reasoning_tokens: thoughts,
        prompt_audio_tokens: both(&|d| d.of(Modality::Audio)),
        prompt_image_tokens: both(&visual),
        prompt_video_tokens: both(&|d| d.of(Modality::Video)),
        prompt_cache_read_audio_tokens: cache_d.of(Modality::Audio),
        prompt_cache_read_image_tokens: visual(&cache_d),
        prompt_cache_read_video_tokens: cache_d.of(Modality::Video),
        completion_audio_tokens: out_d.of(Modality::Audio),
        completion_image_tokens: visual(&out_d),
        completion_video_tokens: out_d.of(Modality::Video),
        ..Usage::default()
    })
}

/// Guesses the flavor of a body whose endpoint did not tell.
fn sniff(doc: &Doc) -> ApiFlavor {
    let kind = doc.kind.get().map(String::as_str).unwrap_or_default();
    let usage = doc.usage.get();
    if doc.response.get().is_some() && kind.starts_with("response.") {
        return ApiFlavor::OpenAiResponses;
    }
    if doc.message.get().is_some() && kind == "message_start" {
        return ApiFlavor::Anthropic;
    }
    if usage.is_some_and(|u| u.prompt_tokens.val().is_some() || u.completion_tokens.val().is_some())
    {
        return ApiFlavor::OpenAiChat;
    }
    if kind == "message" && usage.is_some_and(|u| u.input_tokens.val().is_some()) {
        return ApiFlavor::Anthropic;
    }
    if doc.object.get().is_some_and(|o| o == "response") {
        return ApiFlavor::OpenAiResponses;
    }
    if doc.usage_metadata.get().is_some() || doc.model_version.get().is_some() {
        return ApiFlavor::Gemini;
    }
    if doc.x_groq.get().is_some_and(|g| g.usage.get().is_some()) {
        return ApiFlavor::OpenAiChat;
    }
    if let Some(u) = usage {
        if u.cache_read_input_tokens.val().is_some()
            || u.cache_creation_input_tokens.val().is_some()
        {
            return ApiFlavor::Anthropic;
        }
        if u.input_tokens.val().is_some() || u.output_tokens.val().is_some() {
            // Without cache fields the Anthropic and Responses conventions agree.
            return ApiFlavor::OpenAiResponses;
        }
    }
    if doc.model.get().is_some() {
        return ApiFlavor::OpenAiChat;
    }
    ApiFlavor::Unknown
}

fn extract_doc(flavor: ApiFlavor, doc: &Doc) -> Extracted {
    let mut x = extract_doc_as(flavor, doc);
    if x.usage.is_none() {
        x.flavor = ApiFlavor::Unknown;
    }
    x
}

fn extract_doc_as(flavor: ApiFlavor, doc: &Doc) -> Extracted {
    match flavor {
        ApiFlavor::OpenAiChat => Extracted {
            usage: doc.usage.get().and_then(chat_usage).or_else(|| {
                doc.x_groq
                    .get()
                    .and_then(|g| g.usage.get())
                    .and_then(chat_usage)
            }),
            model: doc.model.text(),
            service_tier: doc.service_tier.text(),
            flavor,
        },
        ApiFlavor::OpenAiResponses => {
            let r = doc.response.get().map_or(doc, |b| &**b);
            Extracted {
                usage: r.usage.get().and_then(responses_usage),
                model: r.model.text(),
                service_tier: r.service_tier.text(),
                flavor,
            }
        }
        ApiFlavor::Anthropic => {
            let m = doc.message.get().map_or(doc, |b| &**b);
            let usage = m.usage.get();
            Extracted {
                usage: usage.and_then(anthropic_usage),
                model: m.model.text(),
                service_tier: usage
                    .and_then(|u| u.service_tier.text())
                    .or_else(|| m.service_tier.text()),
                flavor,
            }
        }
        ApiFlavor::Gemini => Extracted {
            usage: doc.usage_metadata.get().and_then(|g| gemini_usage(g)),
            model: doc.model_version.text().or_else(|| doc.model.text()),
            service_tier: None,
            flavor,
        },
        ApiFlavor::Unknown => match sniff(doc) {
            ApiFlavor::Unknown => Extracted::default(),
            f => extract_doc(f, doc),
        },
    }
}

fn parse_doc(bytes: &[u8]) -> Option<Doc> {
    // Derived structs also accept a JSON array, field by field in order.
    if !is_json_object(bytes) {
        return None;
    }
    scan_doc(bytes).or_else(|| serde_doc(bytes))
}

/// Nesting serde may read a `Doc` through. Each level of `response` /
/// `message` is a `Doc` deserialized on the stack (kilobytes of frames in
/// release builds), and serde_json's own limit of 128 levels came close to
/// a 2 MiB thread stack: a hostile upstream's answer must not abort the
/// process. Real answers nest under ten levels.
const SERDE_DOC_DEPTH: usize = 32;

/// `T` (a `Doc` or what holds one) from a whole document, when its nesting
/// is within `SERDE_DOC_DEPTH`.
fn serde_doc<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    crate::json_members::depth_at_most(bytes, SERDE_DOC_DEPTH)
        .then(|| serde_json::from_slice(bytes).ok())
        .flatten()
}

/// A `T` read member by member (`json_members`): `keep` deserializes the
/// members `T` keeps, and the rest (the generated content or the prompt,
/// mostly) are skipped unread. `None` when the object is not well formed at
/// its top level or a key is escaped: the caller parses it in full then.
fn read_members<T: Default>(bytes: &[u8], mut keep: impl FnMut(&mut T, &[u8], &[u8])) -> Option<T> {
    let mut out = T::default();
    crate::json_members::for_each_member(bytes, |key, value| keep(&mut out, key, value))?;
    Some(out)
}

/// One member's value, read leniently.
fn lax<'a, T: LaxTarget<'a>>(value: &'a [u8]) -> Lax<T> {
    serde_json::from_slice(value).unwrap_or_default()
}

/// [`lax`] for text: a string without escapes or control characters, and
/// `null`, are read directly (a model name, an object type: a few on every
/// answer and stream event, where serde's setup cost more than the bytes);
/// anything else as serde reads it.
fn lax_text(value: &[u8]) -> Lax<String> {
    if let Some(inner) = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
    {
        if !inner.iter().any(|&c| c < 0x20 || c == b'\\' || c == b'"') {
            return Lax(std::str::from_utf8(inner).ok().map(str::to_owned));
        }
    }
    if value == b"null" {
        return Lax(None);
    }
    lax(value)
}

/// The `Doc` of an object, read member by member.
fn scan_doc(bytes: &[u8]) -> Option<Doc> {
    scan_doc_within(bytes, NESTED_SCANS)
}

/// Levels of `response` / `message` wrapping read member by member: the
/// APIs wrap once. Deeper documents go to serde, whose recursion limit
/// keeps a hostile upstream's nesting from exhausting the stack (and from
/// being walked once per level).
const NESTED_SCANS: u8 = 1;

fn scan_doc_within(bytes: &[u8], nested_scans: u8) -> Option<Doc> {
    let nested = |value: &[u8]| -> Lax<Box<Doc>> {
        match nested_scans.checked_sub(1) {
            Some(left) if is_json_object(value) => scan_doc_within(value, left)
                .map(|doc| Lax(Some(Box::new(doc))))
                // An escaped key or a malformed object: as serde reads it.
                .unwrap_or_else(|| Lax(serde_doc(value))),
            _ => Lax(serde_doc(value)),
        }
    };
    let (doc, end) = read_members_at(bytes, |doc: &mut Doc, key, rest| match key {
        b"model" => put(&mut doc.model, at(rest, lax_text)),
        b"modelVersion" => put(&mut doc.model_version, at(rest, lax_text)),
        b"service_tier" => put(&mut doc.service_tier, at(rest, lax_text)),
        b"type" => put(&mut doc.kind, at(rest, lax_text)),
        b"object" => put(&mut doc.object, at(rest, lax_text)),
        b"usage" => put(&mut doc.usage, usage_at(rest)),
        b"usageMetadata" => put(&mut doc.usage_metadata, at(rest, lax)),
        b"x_groq" => put(&mut doc.x_groq, at(rest, lax)),
        b"response" => put(&mut doc.response, at(rest, nested)),
        b"message" => put(&mut doc.message, at(rest, nested)),
        _ => None,
    })?;
    crate::json_members::trailing_ws_only(bytes, end).then_some(doc)
}

/// A `T` read member by member from the object `rest` starts with, each
/// value where it lies (`json_members::read_object`): `keep` returns the
/// length of a value it read, `None` for one skipped unread. With the
/// object's length; `None` as `read_object` gives it.
fn read_members_at<'a, T: Default>(
    rest: &'a [u8],
    mut keep: impl FnMut(&mut T, &'a [u8], &'a [u8]) -> Option<usize>,
) -> Option<(T, usize)> {
    let mut out = T::default();
    let end = crate::json_members::read_object(rest, |key, value| keep(&mut out, key, value))?;
    Some((out, end))
}

/// `read` of the value `rest` starts with, and its length.
fn at<'a, T>(rest: &'a [u8], read: impl FnOnce(&'a [u8]) -> T) -> Option<(T, usize)> {
    let len = crate::json_members::value_len(rest)?;
    Some((read(rest.get(..len)?), len))
}

/// Stores what [`at`] read and gives its length.
fn put<T>(slot: &mut T, read: Option<(T, usize)>) -> Option<usize> {
    let (value, len) = read?;
    *slot = value;
    Some(len)
}

/// The `usage` object `rest` starts with, read member by member where it
/// lies, its counts straight from their digits: through serde's derived
/// visitors the 11 numbers of an OpenAI usage cost about as much as the
/// rest of the answer. The fields are `RawUsage`'s; anything unusual (an
/// escaped key, a count written as a string or a float, not an object at
/// all) is read as serde reads it. With the value's length.
fn usage_at(rest: &[u8]) -> Option<(Lax<RawUsage>, usize)> {
    fn details_at(rest: &[u8]) -> Option<(Lax<Details>, usize)> {
        let read = read_members_at(rest, |d: &mut Details, key, r| match key {
            b"cached_tokens" => put(&mut d.cached_tokens, at(r, count)),
            b"cache_write_tokens" => put(&mut d.cache_write_tokens, at(r, count)),
            b"reasoning_tokens" => put(&mut d.reasoning_tokens, at(r, count)),
            b"thinking_tokens" => put(&mut d.thinking_tokens, at(r, count)),
            b"audio_tokens" => put(&mut d.audio_tokens, at(r, count)),
            b"image_tokens" => put(&mut d.image_tokens, at(r, count)),
            _ => None,
        });
        or_serde(rest, read)
    }
    let read = read_members_at(rest, |u: &mut RawUsage, key, r| match key {
        b"prompt_tokens" => put(&mut u.prompt_tokens, at(r, count)),
        b"completion_tokens" => put(&mut u.completion_tokens, at(r, count)),
        b"prompt_tokens_details" => put(&mut u.prompt_tokens_details, details_at(r)),
        b"completion_tokens_details" => put(&mut u.completion_tokens_details, details_at(r)),
        b"prompt_cache_hit_tokens" => put(&mut u.prompt_cache_hit_tokens, at(r, count)),
        b"input_tokens" => put(&mut u.input_tokens, at(r, count)),
        b"output_tokens" => put(&mut u.output_tokens, at(r, count)),
        b"input_tokens_details" => put(&mut u.input_tokens_details, details_at(r)),
        b"output_tokens_details" => put(&mut u.output_tokens_details, details_at(r)),
        b"cache_read_input_tokens" => put(&mut u.cache_read_input_tokens, at(r, count)),
        b"cache_creation_input_tokens" => put(&mut u.cache_creation_input_tokens, at(r, count)),
        b"cache_creation" => put(&mut u.cache_creation, at(r, lax)),
        b"server_tool_use" => put(&mut u.server_tool_use, at(r, lax)),
        b"service_tier" => put(&mut u.service_tier, at(r, lax_text)),
        _ => None,
    });
    or_serde(rest, read)
}

/// What [`read_members_at`] read from `rest`, or, where it could not (not
/// an object, an escaped key), the value as serde reads it.
fn or_serde<'a, T: LaxTarget<'a>>(
    rest: &'a [u8],
    read: Option<(T, usize)>,
) -> Option<(Lax<T>, usize)> {
    match read {
        Some((value, len)) => Some((Lax(Some(value)), len)),
        None => at(rest, lax),
    }
}

/// A token count: plain digits are read directly, anything else leniently.
fn count(value: &[u8]) -> Lax<u64> {
    // Up to 19 digits always fit in a u64.
    if (1..=19).contains(&value.len()) && value.iter().all(u8::is_ascii_digit) {
        return Lax(std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()));
    }
    lax(value)
}

/// A complete (non-streamed) JSON response body.
///
/// With `Unknown` the shape is sniffed (`usage.prompt_tokens` -> OpenAI chat;
/// `type == "message"` with `usage.input_tokens` -> Anthropic;
/// `object == "response"` -> Responses; `usageMetadata` -> Gemini); a known
/// flavor whose fields are absent falls back to sniffing too. A top-level
/// array is Gemini's non-SSE `streamGenerateContent`: the last
/// `usageMetadata` and `modelVersion` win. Garbage gives `Extracted::default()`.
pub fn from_json(flavor: ApiFlavor, body: &[u8]) -> Extracted {
    let body = body.trim_ascii_start();
    if body.first() == Some(&b'[') {
        return gemini_array(body);
    }
    let Some(doc) = parse_doc(body) else {
        return Extracted::default();
    };
    let out = extract_doc(flavor, &doc);
    if out.usage.is_some() || flavor == ApiFlavor::Unknown {
        return out;
    }
    match sniff(&doc) {
        f if f == flavor || f == ApiFlavor::Unknown => out,
        f => {
            let alt = extract_doc(f, &doc);
            if alt.usage.is_some() {
                alt
            } else {
                out
            }
        }
    }
}

fn gemini_array(body: &[u8]) -> Extracted {
    let Some(chunks) = serde_doc::<Vec<Lax<Doc>>>(body) else {
        return Extracted::default();
    };
    let mut out = Extracted::default();
    for doc in chunks.iter().filter_map(Lax::get) {
        let x = extract_doc(ApiFlavor::Gemini, doc);
        if x.usage.is_some() {
            out.usage = x.usage;
            out.flavor = x.flavor;
        }
        if x.model.is_some() {
            out.model = x.model;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

static USAGE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
static MODEL_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\""));
static MODEL_VERSION_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"modelVersion\""));
static USAGE_METADATA_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"usageMetadata\""));
static FINISH_REASON_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finishReason\""));

/// Quoted JSON tokens are safe to search for in raw event bytes: the same
/// words inside generated text have their quotes escaped (`\"`), so the
/// closing quote never matches.
fn has(data: &[u8], token: &[u8]) -> bool {
    memchr::memmem::find(data, token).is_some()
}

/// Whether `data` holds `"usage"` followed by an object, not `"usage": null`
/// (OpenAI sends the null on every chunk once `include_usage` is set).
fn has_usage_object(data: &[u8]) -> bool {
    USAGE_KEY.find_iter(data).any(|i| {
        let rest = data
            .get(i + b"\"usage\"".len()..)
            .unwrap_or_default()
            .trim_ascii_start();
        match rest.split_first() {
            Some((b':', value)) => value.trim_ascii_start().first() == Some(&b'{'),
            _ => false,
        }
    })
}

fn is_json_object(data: &[u8]) -> bool {
    data.trim_ascii_start().first() == Some(&b'{')
}

/// Guesses a stream's flavor from one event; `Unknown` means "look at the next".
fn sniff_event(ev: &SseEvent<'_>) -> ApiFlavor {
    if let Some(name) = ev.event {
        if name.starts_with("message_") || name.starts_with("content_block_") {
            return ApiFlavor::Anthropic;
        }
        if name.starts_with("response.") {
            return ApiFlavor::OpenAiResponses;
        }
    }
    let d = ev.data;
    if has(d, b"\"chat.completion.chunk\"")
        || has(d, b"\"text_completion\"")
        || has(d, b"\"choices\"")
    {
        ApiFlavor::OpenAiChat
    } else if USAGE_METADATA_KEY.find(d).is_some() || has(d, b"\"candidates\"") {
        ApiFlavor::Gemini
    } else if has(d, b"\"message_start\"") {
        ApiFlavor::Anthropic
    } else if has(d, b"\"response.created\"")
        || has(d, b"\"response.in_progress\"")
        || has(d, b"\"response.completed\"")
    {
        ApiFlavor::OpenAiResponses
    } else {
        ApiFlavor::Unknown
    }
}

/// Events of an undetermined stream looked at before giving up on it.
const SNIFF_EVENTS: u8 = 32;
/// Parses spent looking for the model before giving up on it, so a provider
/// whose chunks never name one usably (unparsable, or `"model": ""` like
/// Azure's first chunk) does not cost a parse per chunk.
const MODEL_ATTEMPTS: u8 = 4;

/// Streaming accumulator fed every SSE event of a response, on the hot path.
///
/// Only events that can carry usage or the model are parsed: OpenAI chat the
/// first event naming a model and events holding a `"usage"` object;
/// Responses `response.created`/`completed`/`incomplete`/`failed`; Anthropic
/// `message_start`/`message_delta`; Gemini events with `usageMetadata`.
/// Where usage repeats cumulatively on many events (Gemini, vLLM's continuous
/// usage), the latest such event is kept as bytes and parsed once in
/// [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct StreamAccumulator {
    flavor: ApiFlavor,
    sniff_budget: u8,
    model_attempts: u8,
    model: Option<String>,
    service_tier: Option<String>,
    usage: Option<Usage>,
    anthropic: AnthropicParts,
    /// Data of the latest usage-bearing event not parsed yet.
    deferred: Vec<u8>,
    /// An event that names the model, parsed when the next event arrives
    /// (or at the end) rather than before it reaches the client: the first
    /// event of a stream is the one whose delay the client feels most.
    model_event: Vec<u8>,
    /// The stream's terminal event has passed (SPEC §5): whatever happens to
    /// the connection afterwards, the answer is complete.
    terminal: bool,
}

/// Which Responses events matter.
enum ResponsesEvent {
    Created,
    Terminal,
    Other,
}

/// Which Anthropic events matter.
enum AnthropicEvent {
    Start,
    Delta,
    Stop,
    Other,
}

impl StreamAccumulator {
    /// An accumulator for a stream of the given flavor (`Unknown` sniffs it from the events).
    pub fn new(flavor: ApiFlavor) -> Self {
        StreamAccumulator {
            flavor,
            sniff_budget: SNIFF_EVENTS,
            model_attempts: 0,
            model: None,
            service_tier: None,
            usage: None,
            anthropic: AnthropicParts::default(),
            deferred: Vec::new(),
            model_event: Vec::new(),
            terminal: false,
        }
    }

    /// Whether the stream's terminal event has arrived: `data: [DONE]`,
    /// Anthropic `message_stop`, Responses `response.completed` /
    /// `.incomplete` / `.failed`, or Gemini's chunk with a `finishReason`.
    pub fn is_complete(&self) -> bool {
        self.terminal
    }

    /// Observe one event of the stream.
    pub fn on_event(&mut self, ev: &SseEvent<'_>) {
        self.read_model_event();
        if ev.data == b"[DONE]" {
            self.terminal = true;
            return;
        }
        if self.flavor == ApiFlavor::Unknown {
            if self.sniff_budget == 0 {
                return;
            }
            self.sniff_budget -= 1;
            self.flavor = sniff_event(ev);
        }
        match self.flavor {
            ApiFlavor::OpenAiChat => self.on_chat(ev.data),
            ApiFlavor::OpenAiResponses => self.on_responses(ev),
            ApiFlavor::Anthropic => self.on_anthropic(ev),
            ApiFlavor::Gemini => self.on_gemini(ev.data),
            ApiFlavor::Unknown => {}
        }
    }

    /// Bytes it holds: events kept to be parsed at the end.
    pub fn held(&self) -> usize {
        self.deferred.capacity()
            + self.model_event.capacity()
            + self.model.as_ref().map_or(0, String::capacity)
            + self.service_tier.as_ref().map_or(0, String::capacity)
    }

    /// What the stream reported.
    pub fn finish(mut self) -> Extracted {
        self.read_model_event();
        if !self.deferred.is_empty() {
            if let Some(doc) = parse_doc(&self.deferred) {
                let x = extract_doc(self.flavor, &doc);
                if x.usage.is_some() {
                    self.usage = x.usage;
                }
                self.absorb_meta(x, false);
            }
        }
        if self.flavor == ApiFlavor::Anthropic {
            self.usage = self.anthropic.usage();
        }
        Extracted {
            usage: self.usage,
            model: self.model,
            flavor: if self.usage.is_some() {
                self.flavor
            } else {
                ApiFlavor::Unknown
            },
            service_tier: self.service_tier,
        }
    }

    fn absorb_meta(&mut self, x: Extracted, tier_wins: bool) {
        if self.model.is_none() {
            self.model = x.model;
        }
        if x.service_tier.is_some() && (tier_wins || self.service_tier.is_none()) {
            self.service_tier = x.service_tier;
        }
    }

    fn defer(&mut self, data: &[u8]) {
        self.deferred.clear();
        self.deferred.extend_from_slice(data);
    }

    /// Keep a model-bearing event to read with the next one: what it holds
    /// is needed only once the answer ends.
    fn defer_model_event(&mut self, data: &[u8]) {
        self.model_event.clear();
        self.model_event.extend_from_slice(data);
    }

    /// Read the kept model-bearing event, as it would have been read when it
    /// came: for the model and whatever usage it holds, or else kept for its
    /// usage.
    fn read_model_event(&mut self) {
        if self.model_event.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.model_event);
        if !self.parse_now(&data) && self.has_usage(&data) {
            self.defer(&data);
        }
        // The allocation is kept for the next one.
        self.model_event = data;
        self.model_event.clear();
    }

    /// Whether an event of this stream's flavor carries usage worth keeping.
    fn has_usage(&self, data: &[u8]) -> bool {
        match self.flavor {
            ApiFlavor::Gemini => USAGE_METADATA_KEY.find(data).is_some(),
            _ => has_usage_object(data),
        }
    }

    /// Parses an event now for the model (and whatever usage it holds).
    /// Returns false when it was not parsable.
    fn parse_now(&mut self, data: &[u8]) -> bool {
        self.model_attempts = self.model_attempts.saturating_add(1);
        let Some(doc) = parse_doc(data) else {
            return false;
        };
        let x = extract_doc(self.flavor, &doc);
        if x.usage.is_some() {
            self.usage = x.usage;
            // This event is newer than anything deferred.
            self.deferred.clear();
        }
        self.absorb_meta(x, false);
        true
    }

    fn wants_model(&self) -> bool {
        self.model.is_none() && self.model_attempts < MODEL_ATTEMPTS
    }

    fn on_chat(&mut self, data: &[u8]) {
        if !is_json_object(data) {
            return; // `[DONE]`
        }
        if self.wants_model() && MODEL_KEY.find(data).is_some() {
            self.defer_model_event(data);
            return;
        }
        if has_usage_object(data) {
            self.defer(data);
        }
    }

    fn on_gemini(&mut self, data: &[u8]) {
        if FINISH_REASON_KEY.find(data).is_some() {
            self.terminal = true;
        }
        if self.wants_model() && MODEL_VERSION_KEY.find(data).is_some() {
            self.defer_model_event(data);
            return;
        }
        if USAGE_METADATA_KEY.find(data).is_some() {
            self.defer(data);
        }
    }

    fn on_responses(&mut self, ev: &SseEvent<'_>) {
        let kind = match ev.event {
            Some("response.created" | "response.in_progress") => ResponsesEvent::Created,
            Some("response.completed" | "response.incomplete" | "response.failed") => {
                ResponsesEvent::Terminal
            }
            Some(_) => ResponsesEvent::Other,
            // Without an `event:` line the type is only in the JSON.
            None if has(ev.data, b"\"response.completed\"")
                || has(ev.data, b"\"response.incomplete\"")
                || has(ev.data, b"\"response.failed\"") =>
            {
                ResponsesEvent::Terminal
            }
            None if has(ev.data, b"\"response.created\"") => ResponsesEvent::Created,
            None => ResponsesEvent::Other,
        };
        match kind {
            ResponsesEvent::Created if self.wants_model() => {
                self.parse_now(ev.data);
            }
            ResponsesEvent::Terminal => {
                self.terminal = true;
                if let Some(doc) = parse_doc(ev.data) {
                    let x = extract_doc(ApiFlavor::OpenAiResponses, &doc);
                    if x.usage.is_some() {
                        self.usage = x.usage;
                    }
                    // response.created echoes the requested tier ("auto"); the final one is what ran.
                    self.absorb_meta(x, true);
                }
            }
            _ => {}
        }
    }

    fn on_anthropic(&mut self, ev: &SseEvent<'_>) {
        let kind = match ev.event {
            Some("message_start") => AnthropicEvent::Start,
            Some("message_delta") => AnthropicEvent::Delta,
            Some("message_stop") => AnthropicEvent::Stop,
            Some(_) => AnthropicEvent::Other,
            None if has(ev.data, b"\"message_start\"") => AnthropicEvent::Start,
            None if has(ev.data, b"\"message_delta\"") => AnthropicEvent::Delta,
            None if has(ev.data, b"\"message_stop\"") => AnthropicEvent::Stop,
            None => AnthropicEvent::Other,
        };
        let Some(doc) = (match kind {
            AnthropicEvent::Other => None,
            AnthropicEvent::Stop => {
                self.terminal = true;
                None
            }
            _ => parse_doc(ev.data),
        }) else {
            return;
        };
        let m = match kind {
            AnthropicEvent::Start => doc.message.get().map_or(&doc, |b| &**b),
            _ => &doc,
        };
        if let Some(u) = m.usage.get() {
            self.anthropic.merge(u);
            if let Some(tier) = u.service_tier.text() {
                self.service_tier = Some(tier);
            }
        }
        if self.model.is_none() {
            self.model = m.model.text();
        }
    }
}

// ---------------------------------------------------------------------------
// Text for token estimation
// ---------------------------------------------------------------------------

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn array_field<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Chat `content`: a string or (some compatible servers) an array of text parts.
fn chat_content_text(content: Option<&Value>, out: &mut String) {
    match content {
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(parts)) => {
            for p in parts {
                if let Some(t) = str_field(p, "text") {
                    out.push_str(t);
                }
            }
        }
        _ => {}
    }
}

fn chat_text(v: &Value, message_key: &str, out: &mut String) {
    for choice in array_field(v, "choices") {
        chat_content_text(choice.get(message_key).and_then(|m| m.get("content")), out);
        // Legacy completions.
        if let Some(t) = str_field(choice, "text") {
            out.push_str(t);
        }
    }
}

fn gemini_text(v: &Value, out: &mut String) {
    for cand in array_field(v, "candidates") {
        if let Some(content) = cand.get("content") {
            for part in array_field(content, "parts") {
                if let Some(t) = str_field(part, "text") {
                    out.push_str(t);
                }
            }
        }
    }
}

fn responses_json_text(v: &Value, out: &mut String) {
    if let Some(t) = str_field(v, "output_text") {
        out.push_str(t);
        return;
    }
    for item in array_field(v, "output") {
        for part in array_field(item, "content") {
            if str_field(part, "type") == Some("output_text") {
                if let Some(t) = str_field(part, "text") {
                    out.push_str(t);
                }
            }
        }
    }
}

fn anthropic_json_text(v: &Value, out: &mut String) {
    for block in array_field(v, "content") {
        if str_field(block, "type") == Some("text") {
            if let Some(t) = str_field(block, "text") {
                out.push_str(t);
            }
        }
    }
}

fn json_text(flavor: ApiFlavor, v: &Value, out: &mut String) {
    let all = flavor == ApiFlavor::Unknown;
    if all || flavor == ApiFlavor::OpenAiChat {
        chat_text(v, "message", out);
    }
    if all || flavor == ApiFlavor::OpenAiResponses {
        responses_json_text(v, out);
    }
    if all || flavor == ApiFlavor::Anthropic {
        anthropic_json_text(v, out);
    }
    if all || flavor == ApiFlavor::Gemini {
        gemini_text(v, out);
    }
}

/// Only delta events: the final Responses event and `response.output_text.done`
/// repeat the whole text.
fn stream_text(flavor: ApiFlavor, v: &Value, out: &mut String) {
    let all = flavor == ApiFlavor::Unknown;
    if all || flavor == ApiFlavor::OpenAiChat {
        chat_text(v, "delta", out);
    }
    if (all || flavor == ApiFlavor::OpenAiResponses)
        && str_field(v, "type") == Some("response.output_text.delta")
    {
        if let Some(t) = str_field(v, "delta") {
            out.push_str(t);
        }
    }
    if (all || flavor == ApiFlavor::Anthropic)
        && str_field(v, "type") == Some("content_block_delta")
    {
        if let Some(delta) = v.get("delta") {
            if str_field(delta, "type") == Some("text_delta") {
                if let Some(t) = str_field(delta, "text") {
                    out.push_str(t);
                }
            }
        }
    }
    if all || flavor == ApiFlavor::Gemini {
        gemini_text(v, out);
    }
}

/// Text the model produced, for token estimation when the provider reported
/// no usage: from a JSON body, or a captured SSE stream body when `is_sse`,
/// joined in order. Chat: `choices[].message.content` / `delta.content` (and
/// legacy `text`); Responses: `output_text` parts / `response.output_text.delta`;
/// Anthropic: `text` blocks / `text_delta`; Gemini:
/// `candidates[].content.parts[].text`; embeddings: nothing.
pub fn completion_text(flavor: ApiFlavor, body: &[u8], is_sse: bool) -> String {
    let mut out = String::new();
    if is_sse {
        let mut parser = SseParser::new(usize::MAX);
        let mut on = |ev: &SseEvent<'_>| {
            if is_json_object(ev.data) {
                if let Ok(v) = serde_json::from_slice::<Value>(ev.data) {
                    stream_text(flavor, &v, &mut out);
                }
            }
        };
        parser.push(body, &mut on);
        parser.finish(&mut on);
    } else if let Ok(v) = serde_json::from_slice::<Value>(body) {
        match &v {
            // Gemini's non-SSE streamGenerateContent.
            Value::Array(chunks) => chunks.iter().for_each(|c| json_text(flavor, c, &mut out)),
            _ => json_text(flavor, &v, &mut out),
        }
    }
    out
}

fn push_line(out: &mut String, s: &str) {
    if s.is_empty() {
        return;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(s);
}

/// One element of a content list: a string (completions/embeddings arrays), a
/// text part (`text`), a nested content holder (Anthropic `tool_result`,
/// Responses input messages) or a Responses `function_call_output`.
fn prompt_part(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => push_line(out, s),
        Value::Object(_) => {
            if let Some(t) = str_field(v, "text") {
                push_line(out, t);
            }
            if let Some(c) = v.get("content") {
                prompt_content(c, out);
            }
            if let Some(o) = str_field(v, "output") {
                push_line(out, o);
            }
        }
        _ => {}
    }
}

fn prompt_content(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| prompt_part(i, out)),
        _ => prompt_part(v, out),
    }
}

fn gemini_content(v: &Value, out: &mut String) {
    for part in array_field(v, "parts") {
        if let Some(t) = str_field(part, "text") {
            push_line(out, t);
        }
    }
}

/// The text of the latest user message of a chat request (what moderation
/// screens, SPEC §3.5): OpenAI chat `messages`, Responses `input` (a string
/// or items), Anthropic `messages`; text parts joined with `\n`, images and
/// tool results left out. `None` when the body has no user message.
pub fn latest_user_text(flavor: ApiFlavor, request_body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(request_body).ok()?;
    let message = match (flavor, v.get("input")) {
        (ApiFlavor::OpenAiResponses, Some(Value::String(s))) => return Some(s.clone()),
        (ApiFlavor::OpenAiResponses, Some(Value::Array(items))) => items
            .iter()
            .rev()
            .find(|m| str_field(m, "role").is_none_or(|r| r == "user"))?,
        _ => array_field(&v, "messages")
            .iter()
            .rev()
            .find(|m| str_field(m, "role") == Some("user"))?,
    };
    let mut out = String::new();
    match message.get("content") {
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(parts)) => {
            for p in parts {
                let kind = str_field(p, "type").unwrap_or("text");
                if matches!(kind, "text" | "input_text") {
                    if let Some(t) = str_field(p, "text") {
                        push_line(&mut out, t);
                    }
                }
            }
        }
        _ => {}
    }
    Some(out)
}

/// Prompt text of a request body for estimation, and the number of messages
/// in it (estimators add a per-message overhead): chat and Anthropic
/// `messages` (+ Anthropic `system`), Responses `input` + `instructions`,
/// completions `prompt`, embeddings `input`, Gemini `contents` +
/// `systemInstruction`. Pieces are joined with `\n`. A system prompt or
/// instructions count as one message; embeddings and completions inputs count
/// as none.
pub fn prompt_text(flavor: ApiFlavor, request_body: &[u8]) -> (String, usize) {
    let mut out = String::new();
    let mut messages = 0usize;
    let Ok(v) = serde_json::from_slice::<Value>(request_body) else {
        return (out, 0);
    };
    if let Some(sys) = v.get("system") {
        let before = out.len();
        prompt_content(sys, &mut out);
        if out.len() > before {
            messages += 1;
        }
    }
    if let Some(s) = str_field(&v, "instructions") {
        push_line(&mut out, s);
        messages += 1;
    }
    for key in ["systemInstruction", "system_instruction"] {
        if let Some(si) = v.get(key) {
            gemini_content(si, &mut out);
            messages += 1;
        }
    }
    let msgs = array_field(&v, "messages");
    messages += msgs.len();
    for m in msgs {
        if let Some(c) = m.get("content") {
            prompt_content(c, &mut out);
        }
    }
    match v.get("contents") {
        Some(Value::Array(contents)) => {
            messages += contents.len();
            contents.iter().for_each(|c| gemini_content(c, &mut out));
        }
        Some(c @ Value::Object(_)) => {
            messages += 1;
            gemini_content(c, &mut out);
        }
        _ => {}
    }
    if let Some(p) = v.get("prompt") {
        prompt_content(p, &mut out);
    }
    match v.get("input") {
        Some(Value::String(s)) => {
            push_line(&mut out, s);
            if flavor == ApiFlavor::OpenAiResponses {
                messages += 1;
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                // Object items are Responses input items; strings are embeddings inputs.
                if item.is_object() {
                    messages += 1;
                }
                prompt_part(item, &mut out);
            }
        }
        _ => {}
    }
    (out, messages)
}

/// Fields of a request body heliport records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFields {
    /// The requested `model`.
    pub model: Option<String>,
    /// Whether the client asked for a stream (`"stream": true`).
    pub stream: bool,
    /// OpenAI `user`, or Anthropic `metadata.user_id`.
    pub user: Option<String>,
}

/// Model, stream flag and end-user id of a request body. Never fails: a body
/// that is not a JSON object gives `RequestFields::default()`.
pub fn request_fields(request_body: &[u8]) -> RequestFields {
    if !is_json_object(request_body) {
        return RequestFields::default();
    }
    // The prompt (`messages`, `input`, `contents`) is skipped unread.
    let raw = read_members(request_body, |r: &mut RawRequest, key, value| match key {
        b"model" => r.model = lax_text(value),
        b"stream" => r.stream = lax(value),
        b"user" => r.user = lax_text(value),
        b"metadata" => r.metadata = lax(value),
        _ => {}
    })
    .or_else(|| serde_json::from_slice::<RawRequest>(request_body).ok());
    let Some(raw) = raw else {
        return RequestFields::default();
    };
    RequestFields {
        model: raw.model.text(),
        stream: raw.stream.0.unwrap_or(false),
        user: raw
            .user
            .text()
            .or_else(|| raw.metadata.get().and_then(|m| m.user_id.text())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_read_directly_is_what_serde_reads() {
        let cases: [&[u8]; 16] = [
            br#""gpt-4o""#,
            br#""""#,
            br#""gpt\u002d4o""#,
            br#""a\"b""#,
            b"\"tab\there\"",
            b"\"bad \xff utf-8\"",
            "\"é model\"".as_bytes(),
            b"null",
            b"12",
            b"true",
            b"{}",
            b"[\"x\"]",
            b"\"",
            b"\"unterminated",
            b"",
            b"\"a\" ",
        ];
        for raw in cases {
            assert_eq!(
                lax_text(raw).0,
                lax::<String>(raw).0,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    fn usage(prompt: u64, completion: u64, read: u64, write: u64, reasoning: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            prompt_cache_read_tokens: read,
            prompt_cache_write_tokens: write,
            reasoning_tokens: reasoning,
            ..Usage::default()
        }
    }

    /// Runs a raw SSE body through the parser and an accumulator.
    fn stream(flavor: ApiFlavor, body: &[u8]) -> Extracted {
        stream_chunks(flavor, &[body])
    }

    fn stream_chunks(flavor: ApiFlavor, chunks: &[&[u8]]) -> Extracted {
        let mut parser = SseParser::new(1 << 20);
        let mut acc = StreamAccumulator::new(flavor);
        for c in chunks {
            parser.push(c, |ev| acc.on_event(ev));
        }
        parser.finish(|ev| acc.on_event(ev));
        acc.finish()
    }

    /// The result must not depend on where the network split the stream.
    fn assert_split_invariant(flavor: ApiFlavor, body: &[u8]) {
        let whole = stream(flavor, body);
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(stream_chunks(flavor, &[a, b]), whole, "split at {i}");
        }
    }

    #[test]
    fn flavor_from_path() {
        use ApiFlavor::*;
        let cases = [
            ("/v1/chat/completions", OpenAiChat),
            ("/v1/completions", OpenAiChat),
            ("/v1/embeddings", OpenAiChat),
            ("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", OpenAiChat),
            ("/openai/deployments/emb/embeddings?api-version=2024-10-21", OpenAiChat),
            ("/api/v1/chat/completions/", OpenAiChat),
            ("/v1beta/openai/chat/completions", OpenAiChat),
            ("/v1/responses", OpenAiResponses),
            ("/openai/responses?api-version=2025-04-01-preview", OpenAiResponses),
            ("/v1/messages", Anthropic),
            ("/v1/messages?beta=true", Anthropic),
            ("/v1beta/models/gemini-2.0-flash:generateContent", Gemini),
            ("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", Gemini),
            (
                "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                Gemini,
            ),
            ("/v1beta/models/gemini-2.0-flash:countTokens", Unknown),
            ("/v1/messages/count_tokens", Unknown),
            ("/v1/models", Unknown),
            ("/v1/chat/completions-ish", Unknown),
            ("/v1/chat/completions#part", OpenAiChat),
            ("messages", Anthropic),
            ("/v1/models/x:generateContent/", Gemini),
            ("", Unknown),
        ];
        for (path, want) in cases {
            assert_eq!(ApiFlavor::from_path(path), want, "{path}");
        }
    }

    const OPENAI_CHAT_JSON: &str = r#"{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "o3-mini-2025-01-31",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "The capital of France is Paris.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 1117,
    "completion_tokens": 246,
    "total_tokens": 1363,
    "prompt_tokens_details": { "cached_tokens": 1024, "audio_tokens": 0 },
    "completion_tokens_details": {
      "reasoning_tokens": 192,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_fc9f1d7035"
}"#;

    #[test]
    fn openai_chat_json() {
        let want = Extracted {
            usage: Some(usage(1117, 246, 1024, 0, 192)),
            model: Some("o3-mini-2025-01-31".into()),
            service_tier: Some("default".into()),
            flavor: ApiFlavor::OpenAiChat,
        };
        assert_eq!(
            from_json(ApiFlavor::OpenAiChat, OPENAI_CHAT_JSON.as_bytes()),
            want
        );
        assert_eq!(
            from_json(ApiFlavor::Unknown, OPENAI_CHAT_JSON.as_bytes()),
            want
        );
        assert_eq!(
            completion_text(ApiFlavor::OpenAiChat, OPENAI_CHAT_JSON.as_bytes(), false),
            "The capital of France is Paris."
        );
    }

    #[test]
    fn usage_read_by_members_is_what_serde_reads() {
        let cases = [
            r#"{"prompt_tokens":1117,"completion_tokens":246,"total_tokens":1363,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0,"accepted_prediction_tokens":0}}"#,
            r#"{"input_tokens":12,"output_tokens":30,"cache_read_input_tokens":4,"cache_creation_input_tokens":8,"cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":3},"server_tool_use":{"web_search_requests":2},"service_tier":"standard"}"#,
            r#"{"input_tokens":9,"input_tokens_details":{"cached_tokens":2},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":14}"#,
            r#"{"prompt_tokens":10,"prompt_cache_hit_tokens":6,"completion_tokens":"7","prompt_tokens_details":null}"#,
            r#"{"prompt_tokens":10.0,"completion_tokens":-1,"completion_tokens_details":{"reasoning_tokens":"2"}}"#,
            r#"{"prompt_tokens":18446744073709551615,"completion_tokens":99999999999999999999}"#,
            r#"{"prompt_tok\u0065ns":3,"completion_tokens":4}"#,
            r#"null"#,
            r#"[1,2]"#,
        ];
        for case in cases {
            for flavor in [
                ApiFlavor::OpenAiChat,
                ApiFlavor::Anthropic,
                ApiFlavor::OpenAiResponses,
            ] {
                let doc = |usage| Doc {
                    usage,
                    kind: Lax(Some("message".into())),
                    ..Doc::default()
                };
                let (scanned, len) = usage_at(case.as_bytes()).unwrap();
                assert_eq!(len, case.len(), "{case}");
                assert_eq!(
                    extract_doc(flavor, &doc(scanned)),
                    extract_doc(flavor, &doc(lax(case.as_bytes()))),
                    "{flavor:?} {case}"
                );
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_and_a_nested_escaped_key_still_reads() {
        // 2,000 levels of `response`, with an escaped key so every level is
        // refused by the scan: serde is not let recurse through them, on a
        // 256 KiB stack (an eighth of a request thread's).
        let deep = format!(
            "{}{{}}{}",
            r#"{"mod\u0065l":"x","response":"#.repeat(2000),
            "}".repeat(2000)
        );
        let read = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || from_json(ApiFlavor::Unknown, deep.as_bytes()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(read, Extracted::default());
        // A nested object the scan refuses (an escaped key) is read by serde.
        let escaped = r#"{"type":"response.completed","response":{"model":"gpt-5","usage":{"input_tokens":9,"output_tokens":2},"instructi\u006fns":null}}"#;
        let x = from_json(ApiFlavor::OpenAiResponses, escaped.as_bytes());
        assert_eq!(x.model.as_deref(), Some("gpt-5"));
        assert_eq!(
            x.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((9, 2))
        );
    }

    #[test]
    fn member_scan_reads_what_the_full_parse_reads() {
        let full = |body: &str| {
            let doc: Doc = serde_json::from_slice(body.as_bytes()).unwrap();
            extract_doc(ApiFlavor::Unknown, &doc)
        };
        let anthropic = r#"{"type":"message","model":"claude-sonnet-4-5","content":[{"type":"text","text":"{\"usage\": \"not this\"}"}],"usage":{"input_tokens":12,"output_tokens":3,"cache_read_input_tokens":4}}"#;
        let responses = r#"{"type":"response.completed","response":{"object":"response","model":"gpt-5","output":[{"content":[{"text":"]]}}"}]}],"usage":{"input_tokens":9,"output_tokens":2}}}"#;
        for body in [OPENAI_CHAT_JSON, anthropic, responses] {
            let scanned = extract_doc(ApiFlavor::Unknown, &scan_doc(body.as_bytes()).unwrap());
            assert_eq!(scanned, full(body), "{body}");
            assert!(scanned.usage.is_some(), "{body}");
        }
        // A key written with escapes is left to the full parse, which reads it.
        let escaped =
            r#"{"mod\u0065l":"gpt-4o","usage":{"prompt_tokens":1,"completion_tokens":1}}"#;
        assert!(scan_doc(escaped.as_bytes()).is_none());
        assert_eq!(
            from_json(ApiFlavor::OpenAiChat, escaped.as_bytes())
                .model
                .as_deref(),
            Some("gpt-4o")
        );
    }

    #[test]
    fn openai_embeddings_and_legacy_completions_json() {
        let emb = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[-0.006929283,-0.005336422,0.00024047505]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        assert_eq!(
            from_json(ApiFlavor::OpenAiChat, emb),
            Extracted {
                usage: Some(usage(5, 0, 0, 0, 0)),
                model: Some("text-embedding-3-small".into()),
                service_tier: None,
                flavor: ApiFlavor::OpenAiChat,
            }
        );
        assert_eq!(completion_text(ApiFlavor::OpenAiChat, emb, false), "");

        let cmpl = br#"{"id":"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7","object":"text_completion","created":1589478378,"model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_44709d6fcb","choices":[{"text":"\n\nThis is indeed a test","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#;
        let x = from_json(ApiFlavor::OpenAiChat, cmpl);
        assert_eq!(x.usage, Some(usage(5, 7, 0, 0, 0)));
        assert_eq!(x.model.as_deref(), Some("gpt-3.5-turbo-instruct"));
        assert_eq!(
            completion_text(ApiFlavor::OpenAiChat, cmpl, false),
            "\n\nThis is indeed a test"
        );
    }

    #[test]
    fn deepseek_cache_hit_field() {
        let body = br#"{"id":"930c60df-bf64-41c9-a88e-3ec75f81e00e","object":"chat.completion","created":1737015346,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1032,"completion_tokens":12,"total_tokens":1044,"prompt_cache_hit_tokens":1024,"prompt_cache_miss_tokens":8},"system_fingerprint":"fp_3a5770e1b4"}"#;
        assert_eq!(
            from_json(ApiFlavor::OpenAiChat, body).usage,
            Some(usage(1032, 12, 1024, 0, 0))
        );
        // When both are present, OpenAI's field is the one used.
        let both = br#"{"model":"deepseek-reasoner","usage":{"prompt_tokens":128,"completion_tokens":339,"total_tokens":467,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":300},"prompt_cache_hit_tokens":60,"prompt_cache_miss_tokens":64}}"#;
        assert_eq!(
            from_json(ApiFlavor::OpenAiChat, both).usage,
            Some(usage(128, 339, 64, 0, 300))
        );
    }

    const OPENAI_STREAM_WITH_USAGE: &str = concat!(
        "data: {\"id\":\"chatcmpl-AyPoDNPmXKmBtlxcv5XHKlOS5lPuW\",\"object\":\"chat.completion.chunk\",\"created\":1738960000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_72ed7ab54c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-AyPoDNPmXKmBtlxcv5XHKlOS5lPuW\",\"object\":\"chat.completion.chunk\",\"created\":1738960000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_72ed7ab54c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Say \\\"usage\\\":{\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-AyPoDNPmXKmBtlxcv5XHKlOS5lPuW\",\"object\":\"chat.completion.chunk\",\"created\":1738960000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_72ed7ab54c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hi!\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-AyPoDNPmXKmBtlxcv5XHKlOS5lPuW\",\"object\":\"chat.completion.chunk\",\"created\":1738960000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_72ed7ab54c\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-AyPoDNPmXKmBtlxcv5XHKlOS5lPuW\",\"object\":\"chat.completion.chunk\",\"created\":1738960000,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_72ed7ab54c\",\"choices\":[],\"usage\":{\"prompt_tokens\":2019,\"completion_tokens\":10,\"total_tokens\":2029,\"prompt_tokens_details\":{\"cached_tokens\":1920,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn openai_stream_with_include_usage() {
        let want = Extracted {
            usage: Some(usage(2019, 10, 1920, 0, 0)),
            model: Some("gpt-4o-mini-2024-07-18".into()),
            service_tier: Some("default".into()),
            flavor: ApiFlavor::OpenAiChat,
        };
        let body = OPENAI_STREAM_WITH_USAGE.as_bytes();
        assert_eq!(stream(ApiFlavor::OpenAiChat, body), want);
        assert_eq!(stream(ApiFlavor::Unknown, body), want);
        assert_split_invariant(ApiFlavor::OpenAiChat, body);
        assert_eq!(
            completion_text(ApiFlavor::OpenAiChat, body, true),
            "Say \"usage\":{ hi!"
        );
    }

    #[test]
    fn openai_stream_without_usage() {
        // Same stream, without the final usage chunk: the client did not ask include_usage.
        let body: String = OPENAI_STREAM_WITH_USAGE
            .split("\n\n")
            .filter(|e| !e.contains("\"choices\":[]"))
            .map(|e| format!("{e}\n\n"))
            .collect();
        let x = stream(ApiFlavor::OpenAiChat, body.as_bytes());
        assert_eq!(x.usage, None);
        assert_eq!(x.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    }

    #[test]
    fn azure_stream_skips_empty_model_of_filter_chunk() {
        let body = concat!(
            "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n",
            "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{\"content\":\"\",\"refusal\":null,\"role\":\"assistant\"},\"finish_reason\":null,\"index\":0,\"logprobs\":null}],\"created\":1741000000,\"id\":\"chatcmpl-B1\",\"model\":\"gpt-4o-2024-11-20\",\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"fp_b705f0c291\",\"usage\":null}\n\n",
            "data: {\"choices\":[],\"created\":1741000000,\"id\":\"chatcmpl-B1\",\"model\":\"gpt-4o-2024-11-20\",\"object\":\"chat.completion.chunk\",\"system_fingerprint\":\"fp_b705f0c291\",\"usage\":{\"completion_tokens\":9,\"completion_tokens_details\":{\"accepted_prediction_tokens\":0,\"audio_tokens\":0,\"reasoning_tokens\":0,\"rejected_prediction_tokens\":0},\"prompt_tokens\":14,\"prompt_tokens_details\":{\"audio_tokens\":0,\"cached_tokens\":0},\"total_tokens\":23}}\n\n",
            "data: [DONE]\n\n",
        );
        let x = stream(ApiFlavor::OpenAiChat, body.as_bytes());
        assert_eq!(x.model.as_deref(), Some("gpt-4o-2024-11-20"));
        assert_eq!(x.usage, Some(usage(14, 9, 0, 0, 0)));
    }

    #[test]
    fn a_model_event_read_late_gives_what_it_gave_at_once() {
        // The first event names the model and carries usage (continuous
        // usage): read when the next event comes, a later usage still wins.
        let body = concat!(
            "data: {\"model\":\"m-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n",
            "data: {\"model\":\"m-2\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,\"total_tokens\":10}}\n\n",
        );
        let x = stream(ApiFlavor::OpenAiChat, body.as_bytes());
        assert_eq!(x.model.as_deref(), Some("m-1"));
        assert_eq!(x.usage, Some(usage(3, 7, 0, 0, 0)));
        // The only event: read at the end, usage and all.
        let one = "data: {\"model\":\"m-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n";
        let x = stream(ApiFlavor::OpenAiChat, one.as_bytes());
        assert_eq!(x.model.as_deref(), Some("m-1"));
        assert_eq!(x.usage, Some(usage(3, 1, 0, 0, 0)));
    }

    const GROQ_STREAM: &str = concat!(
        "data: {\"id\":\"chatcmpl-8f3c5b4e-4b2a-4f6d-9c1e-2a7d0b9e6f11\",\"object\":\"chat.completion.chunk\",\"created\":1730241104,\"model\":\"llama-3.1-8b-instant\",\"system_fingerprint\":\"fp_a491995411\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}],\"x_groq\":{\"id\":\"req_01jbdacd0hfewvvsxa8pd4y9sx\"}}\n\n",
        "data: {\"id\":\"chatcmpl-8f3c5b4e-4b2a-4f6d-9c1e-2a7d0b9e6f11\",\"object\":\"chat.completion.chunk\",\"created\":1730241104,\"model\":\"llama-3.1-8b-instant\",\"system_fingerprint\":\"fp_a491995411\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"chatcmpl-8f3c5b4e-4b2a-4f6d-9c1e-2a7d0b9e6f11\",\"object\":\"chat.completion.chunk\",\"created\":1730241104,\"model\":\"llama-3.1-8b-instant\",\"system_fingerprint\":\"fp_a491995411\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_01jbdacd0hfewvvsxa8pd4y9sx\",\"usage\":{\"queue_time\":0.017301,\"prompt_tokens\":40,\"prompt_time\":0.001996,\"completion_tokens\":10,\"completion_time\":0.013333,\"total_tokens\":50,\"total_time\":0.015329}}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn groq_x_groq_usage() {
        let want = Extracted {
            usage: Some(usage(40, 10, 0, 0, 0)),
            model: Some("llama-3.1-8b-instant".into()),
            service_tier: None,
            flavor: ApiFlavor::OpenAiChat,
        };
        assert_eq!(stream(ApiFlavor::OpenAiChat, GROQ_STREAM.as_bytes()), want);
        assert_eq!(stream(ApiFlavor::Unknown, GROQ_STREAM.as_bytes()), want);
        assert_split_invariant(ApiFlavor::OpenAiChat, GROQ_STREAM.as_bytes());
    }

    #[test]
    fn continuous_usage_last_wins() {
        // vLLM with stream_options.continuous_usage_stats: cumulative usage on every chunk.
        let body = concat!(
            "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":{\"prompt_tokens\":30,\"total_tokens\":30,\"completion_tokens\":0}}\n\n",
            "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":{\"prompt_tokens\":30,\"total_tokens\":31,\"completion_tokens\":1}}\n\n",
            "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}],\"usage\": {\"prompt_tokens\":30,\"total_tokens\":32,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        let x = stream(ApiFlavor::OpenAiChat, body.as_bytes());
        assert_eq!(x.usage, Some(usage(30, 2, 0, 0, 0)));
        assert_eq!(x.model.as_deref(), Some("meta-llama/Llama-3.1-8B-Instruct"));
    }

    #[test]
    fn usage_object_detection() {
        assert!(has_usage_object(br#"{"usage":{"a":1}}"#));
        assert!(has_usage_object(br#"{"usage" : {"a":1}}"#));
        assert!(!has_usage_object(br#"{"usage":null}"#));
        assert!(!has_usage_object(br#"{"usage"}"#));
        assert!(!has_usage_object(br#"{"content":"\"usage\":{"}"#));
    }

    const RESPONSES_STREAM: &str = concat!(
        "event: response.created\n",
        "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_details\":null,\"instructions\":\"You are a helpful assistant.\",\"max_output_tokens\":null,\"model\":\"o4-mini-2025-04-16\",\"output\":[],\"parallel_tool_calls\":true,\"previous_response_id\":null,\"reasoning\":{\"effort\":\"medium\",\"summary\":null},\"service_tier\":\"auto\",\"store\":true,\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\",\"usage\":null,\"user\":null,\"metadata\":{}}}\n\n",
        "event: response.in_progress\n",
        "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"in_progress\",\"model\":\"o4-mini-2025-04-16\",\"output\":[],\"service_tier\":\"auto\",\"usage\":null}}\n\n",
        "event: response.output_item.added\n",
        "data: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":1,\"item\":{\"id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n",
        "event: response.content_part.added\n",
        "data: {\"type\":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":1,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n",
        "event: response.output_text.delta\n",
        "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":1,\"content_index\":0,\"delta\":\"Hi\"}\n\n",
        "event: response.output_text.delta\n",
        "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":1,\"content_index\":0,\"delta\":\" there!\"}\n\n",
        "event: response.output_text.done\n",
        "data: {\"type\":\"response.output_text.done\",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":1,\"content_index\":0,\"text\":\"Hi there!\"}\n\n",
        "event: response.completed\n",
        "data: {\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":1741290958,\"status\":\"completed\",\"error\":null,\"model\":\"o4-mini-2025-04-16\",\"output\":[{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]},{\"id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi there!\",\"annotations\":[]}]}],\"service_tier\":\"default\",\"usage\":{\"input_tokens\":2100,\"input_tokens_details\":{\"cached_tokens\":1920},\"output_tokens\":350,\"output_tokens_details\":{\"reasoning_tokens\":256},\"total_tokens\":2450},\"user\":null,\"metadata\":{}}}\n\n",
    );

    #[test]
    fn responses_stream() {
        let want = Extracted {
            usage: Some(usage(2100, 350, 1920, 0, 256)),
            model: Some("o4-mini-2025-04-16".into()),
            service_tier: Some("default".into()),
            flavor: ApiFlavor::OpenAiResponses,
        };
        let body = RESPONSES_STREAM.as_bytes();
        assert_eq!(stream(ApiFlavor::OpenAiResponses, body), want);
        assert_eq!(stream(ApiFlavor::Unknown, body), want);
        assert_split_invariant(ApiFlavor::OpenAiResponses, body);
        assert_eq!(
            completion_text(ApiFlavor::OpenAiResponses, body, true),
            "Hi there!"
        );
        assert_eq!(completion_text(ApiFlavor::Unknown, body, true), "Hi there!");
        // Some proxies drop the `event:` lines.
        let unnamed: String = RESPONSES_STREAM
            .lines()
            .filter(|l| !l.starts_with("event:"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(stream(ApiFlavor::OpenAiResponses, unnamed.as_bytes()), want);
        assert_eq!(stream(ApiFlavor::Unknown, unnamed.as_bytes()), want);
    }

    #[test]
    fn responses_incomplete_stream() {
        let body = concat!(
            "event: response.created\n",
            "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"usage\":null}}\n\n",
            "event: response.incomplete\n",
            "data: {\"type\":\"response.incomplete\",\"sequence_number\":7,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"usage\":{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":16,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":28}}}\n\n",
        );
        let x = stream(ApiFlavor::OpenAiResponses, body.as_bytes());
        assert_eq!(x.usage, Some(usage(12, 16, 0, 0, 0)));
        assert_eq!(x.model.as_deref(), Some("gpt-4.1-2025-04-14"));
    }

    #[test]
    fn responses_json() {
        let body = br#"{
  "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
  "object": "response",
  "created_at": 1741476777,
  "status": "completed",
  "error": null,
  "model": "gpt-4o-2024-08-06",
  "output": [
    {
      "type": "message",
      "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41",
      "status": "completed",
      "role": "assistant",
      "content": [
        { "type": "output_text", "text": "The image depicts a scenic landscape.", "annotations": [] }
      ]
    }
  ],
  "service_tier": "default",
  "usage": {
    "input_tokens": 328,
    "input_tokens_details": { "cached_tokens": 128 },
    "output_tokens": 52,
    "output_tokens_details": { "reasoning_tokens": 0 },
    "total_tokens": 380
  }
}"#;
        let want = Extracted {
            usage: Some(usage(328, 52, 128, 0, 0)),
            model: Some("gpt-4o-2024-08-06".into()),
            service_tier: Some("default".into()),
            flavor: ApiFlavor::OpenAiResponses,
        };
        assert_eq!(from_json(ApiFlavor::OpenAiResponses, body), want);
        assert_eq!(from_json(ApiFlavor::Unknown, body), want);
        assert_eq!(
            completion_text(ApiFlavor::OpenAiResponses, body, false),
            "The image depicts a scenic landscape."
        );
    }

    const ANTHROPIC_STREAM: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":21,\"cache_creation_input_tokens\":188,\"cache_read_input_tokens\":2048,\"cache_creation\":{\"ephemeral_5m_input_tokens\":188,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\", world\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );

    #[test]
    fn anthropic_stream_with_cache_tokens() {
        let want = Extracted {
            usage: Some(Usage {
                // message_start's cache_creation breakdown.
                prompt_cache_write_5m_tokens: 188,
                ..usage(21 + 188 + 2048, 15, 2048, 188, 0)
            }),
            model: Some("claude-sonnet-4-20250514".into()),
            service_tier: Some("standard".into()),
            flavor: ApiFlavor::Anthropic,
        };
        let body = ANTHROPIC_STREAM.as_bytes();
        assert_eq!(stream(ApiFlavor::Anthropic, body), want);
        assert_eq!(stream(ApiFlavor::Unknown, body), want);
        assert_split_invariant(ApiFlavor::Anthropic, body);
        assert_eq!(
            completion_text(ApiFlavor::Anthropic, body, true),
            "Hello, world"
        );
        assert_eq!(
            completion_text(ApiFlavor::Unknown, body, true),
            "Hello, world"
        );
    }

    #[test]
    fn anthropic_delta_repeating_input_fields_wins() {
        // Newer API versions repeat cumulative input/cache counts in message_delta
        // (they grow with server tools such as web search).
        let body = ANTHROPIC_STREAM.replace(
            "\"usage\":{\"output_tokens\":15}",
            "\"usage\":{\"input_tokens\":3021,\"cache_creation_input_tokens\":188,\"cache_read_input_tokens\":2048,\"output_tokens\":503,\"server_tool_use\":{\"web_search_requests\":1}}",
        );
        let x = stream(ApiFlavor::Anthropic, body.as_bytes());
        assert_eq!(
            x.usage,
            Some(Usage {
                prompt_cache_write_5m_tokens: 188,
                web_searches: 1,
                ..usage(3021 + 188 + 2048, 503, 2048, 188, 0)
            })
        );
        // Null fields in the delta do not erase message_start's counts.
        let body = ANTHROPIC_STREAM.replace(
            "\"usage\":{\"output_tokens\":15}",
            "\"usage\":{\"input_tokens\":null,\"cache_creation_input_tokens\":null,\"cache_read_input_tokens\":null,\"output_tokens\":15}",
        );
        let x = stream(ApiFlavor::Anthropic, body.as_bytes());
        assert_eq!(
            x.usage,
            Some(Usage {
                prompt_cache_write_5m_tokens: 188,
                ..usage(21 + 188 + 2048, 15, 2048, 188, 0)
            })
        );
    }

    #[test]
    fn anthropic_cache_durations_and_web_searches() {
        let body = br#"{"type":"message","model":"claude-sonnet-4-5","usage":{"input_tokens":100,"cache_creation_input_tokens":3000,"cache_read_input_tokens":2000,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":50,"output_tokens_details":{"thinking_tokens":20},"server_tool_use":{"web_search_requests":3}}}"#;
        let want = Usage {
            prompt_cache_write_5m_tokens: 1000,
            prompt_cache_write_1h_tokens: 2000,
            web_searches: 3,
            ..usage(5100, 50, 2000, 3000, 20)
        };
        assert_eq!(from_json(ApiFlavor::Anthropic, body).usage, Some(want));
        assert_eq!(from_json(ApiFlavor::Unknown, body).usage, Some(want));

        // A stream splits it: the input side in message_start, the searches
        // (and final output) in message_delta.
        let body = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":3000,\"cache_read_input_tokens\":2000,\"cache_creation\":{\"ephemeral_5m_input_tokens\":1000,\"ephemeral_1h_input_tokens\":2000},\"output_tokens\":1}}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":50,\"output_tokens_details\":{\"thinking_tokens\":20},\"server_tool_use\":{\"web_search_requests\":3}}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        assert_eq!(
            stream(ApiFlavor::Anthropic, body.as_bytes()).usage,
            Some(want)
        );
        assert_split_invariant(ApiFlavor::Anthropic, body.as_bytes());

        // Only the breakdown: it still says how much was written.
        let body = br#"{"type":"message","usage":{"input_tokens":10,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":40},"output_tokens":5}}"#;
        let u = from_json(ApiFlavor::Anthropic, body).usage.unwrap();
        assert_eq!(
            (
                u.prompt_tokens,
                u.prompt_cache_write_tokens,
                u.prompt_cache_write_1h_tokens
            ),
            (50, 40, 40)
        );
    }

    #[test]
    fn openai_compatible_modalities_and_cache_writes() {
        // OpenRouter reports cache writes; OpenAI audio models audio tokens.
        let body = br#"{"object":"chat.completion","model":"anthropic/claude-sonnet-4.5","usage":{"prompt_tokens":5000,"completion_tokens":100,"prompt_tokens_details":{"cached_tokens":1000,"cache_write_tokens":2000,"audio_tokens":300},"completion_tokens_details":{"reasoning_tokens":40,"audio_tokens":60}}}"#;
        let u = from_json(ApiFlavor::OpenAiChat, body).usage.unwrap();
        assert_eq!(
            u,
            Usage {
                prompt_audio_tokens: 300,
                completion_audio_tokens: 60,
                ..usage(5000, 100, 1000, 2000, 40)
            }
        );
        // Responses-style usage (and OpenAI's image endpoints).
        let body = br#"{"object":"response","model":"gpt-image-1","usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":100,"cache_write_tokens":7,"image_tokens":600,"text_tokens":400},"output_tokens":4000,"output_tokens_details":{"image_tokens":4000}}}"#;
        let u = from_json(ApiFlavor::Unknown, body).usage.unwrap();
        assert_eq!(
            u,
            Usage {
                prompt_image_tokens: 600,
                completion_image_tokens: 4000,
                ..usage(1000, 4000, 100, 7, 0)
            }
        );
    }

    #[test]
    fn gemini_modalities() {
        let body = br#"{"modelVersion":"gemini-2.5-flash","usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":300,"candidatesTokenCount":50,"thoughtsTokenCount":20,"toolUsePromptTokenCount":100,
            "promptTokensDetails":[{"modality":"TEXT","tokenCount":400},{"modality":"AUDIO","tokenCount":300},{"modality":"IMAGE","tokenCount":200},{"modality":"DOCUMENT","tokenCount":60},{"modality":"VIDEO","tokenCount":40},{"modality":"AUDIO","tokenCount":999}],
            "toolUsePromptTokensDetails":[{"modality":"audio","tokenCount":10},{"modality":"TEXT","tokenCount":90}],
            "cacheTokensDetails":[{"modality":"AUDIO","tokenCount":100},{"modality":"IMAGE"},{"modality":"VIDEO","tokenCount":20},{"tokenCount":5},"odd"],
            "candidatesTokensDetails":[{"modality":"AUDIO","tokenCount":30},{"modality":"IMAGE","tokenCount":15},{"modality":"TEXT","tokenCount":5}]}}"#;
        let u = from_json(ApiFlavor::Gemini, body).usage.unwrap();
        assert_eq!(
            u,
            Usage {
                // the first AUDIO entry counts; tool-use prompts add theirs
                prompt_audio_tokens: 310,
                // images and documents
                prompt_image_tokens: 260,
                prompt_video_tokens: 40,
                prompt_cache_read_audio_tokens: 100,
                // an entry without a count counts nothing
                prompt_cache_read_image_tokens: 0,
                prompt_cache_read_video_tokens: 20,
                completion_audio_tokens: 30,
                completion_image_tokens: 15,
                ..usage(1100, 70, 300, 0, 20)
            }
        );
    }

    #[test]
    fn anthropic_json() {
        let body = br#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[{"type":"text","text":"Hi! My name is Claude."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}},{"type":"text","text":" Bye."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":503,"service_tier":"standard"}}"#;
        let want = Extracted {
            usage: Some(usage(3895, 503, 1800, 0, 0)),
            model: Some("claude-3-5-haiku-20241022".into()),
            service_tier: Some("standard".into()),
            flavor: ApiFlavor::Anthropic,
        };
        assert_eq!(from_json(ApiFlavor::Anthropic, body), want);
        assert_eq!(from_json(ApiFlavor::Unknown, body), want);
        assert_eq!(
            completion_text(ApiFlavor::Anthropic, body, false),
            "Hi! My name is Claude. Bye."
        );
    }

    const GEMINI_SSE: &str = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"The sky\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12010,\"totalTokenCount\": 12010,\"cachedContentTokenCount\": 8000,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 12010}],\"cacheTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 8000}]},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"oXdJaPSRMuGm_uMP5OWy0Ak\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" is blue because of Rayleigh scattering.\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12010,\"candidatesTokenCount\": 5,\"totalTokenCount\": 12059,\"cachedContentTokenCount\": 8000,\"thoughtsTokenCount\": 44},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"oXdJaPSRMuGm_uMP5OWy0Ak\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12010,\"candidatesTokenCount\": 11,\"totalTokenCount\": 12115,\"cachedContentTokenCount\": 8000,\"toolUsePromptTokenCount\": 50,\"thoughtsTokenCount\": 44,\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 12010}]},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"oXdJaPSRMuGm_uMP5OWy0Ak\"}\r\n\r\n",
    );

    #[test]
    fn gemini_sse_stream() {
        let want = Extracted {
            usage: Some(usage(12010 + 50, 11 + 44, 8000, 0, 44)),
            model: Some("gemini-2.5-flash".into()),
            service_tier: None,
            flavor: ApiFlavor::Gemini,
        };
        let body = GEMINI_SSE.as_bytes();
        assert_eq!(stream(ApiFlavor::Gemini, body), want);
        assert_eq!(stream(ApiFlavor::Unknown, body), want);
        assert_split_invariant(ApiFlavor::Gemini, body);
        assert_eq!(
            completion_text(ApiFlavor::Gemini, body, true),
            "The sky is blue because of Rayleigh scattering."
        );
    }

    #[test]
    fn gemini_json_and_json_array_stream() {
        let single = br#"{
  "candidates": [
    {
      "content": { "parts": [{ "text": "Hello there." }], "role": "model" },
      "finishReason": "STOP",
      "avgLogprobs": -0.0123
    }
  ],
  "usageMetadata": {
    "promptTokenCount": 9,
    "candidatesTokenCount": 3,
    "totalTokenCount": 12,
    "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": 9 }],
    "candidatesTokensDetails": [{ "modality": "TEXT", "tokenCount": 3 }]
  },
  "modelVersion": "gemini-2.0-flash",
  "responseId": "abc"
}"#;
        let want = Extracted {
            usage: Some(usage(9, 3, 0, 0, 0)),
            model: Some("gemini-2.0-flash".into()),
            service_tier: None,
            flavor: ApiFlavor::Gemini,
        };
        assert_eq!(from_json(ApiFlavor::Gemini, single), want);
        assert_eq!(from_json(ApiFlavor::Unknown, single), want);

        let array = b"[{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Once upon\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 7,\"totalTokenCount\": 7},\"modelVersion\": \"gemini-2.0-flash-001\"}\r\n,\r\n{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" a time\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 7,\"candidatesTokenCount\": 4,\"totalTokenCount\": 11},\"modelVersion\": \"gemini-2.0-flash-001\"}\r\n]";
        let want = Extracted {
            usage: Some(usage(7, 4, 0, 0, 0)),
            model: Some("gemini-2.0-flash-001".into()),
            service_tier: None,
            flavor: ApiFlavor::Gemini,
        };
        assert_eq!(from_json(ApiFlavor::Gemini, array), want);
        assert_eq!(from_json(ApiFlavor::Unknown, array), want);
        assert_eq!(
            completion_text(ApiFlavor::Gemini, array, false),
            "Once upon a time"
        );
    }

    #[test]
    fn garbage_never_fails() {
        for body in [
            &b""[..],
            b"not json",
            b"{",
            b"[1,2",
            b"null",
            b"[]",
            b"[null, 3, \"x\"]",
            b"{\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\"}}",
        ] {
            for f in [
                ApiFlavor::OpenAiChat,
                ApiFlavor::OpenAiResponses,
                ApiFlavor::Anthropic,
                ApiFlavor::Gemini,
                ApiFlavor::Unknown,
            ] {
                assert_eq!(from_json(f, body), Extracted::default());
                assert_eq!(stream(f, body), Extracted::default());
                assert_eq!(completion_text(f, body, false), "");
                assert_eq!(completion_text(f, body, true), "");
                assert_eq!(prompt_text(f, body), (String::new(), 0));
            }
            assert_eq!(request_fields(body), RequestFields::default());
        }
    }

    #[test]
    fn odd_field_types_are_tolerated() {
        let body = br#"{"model":42,"service_tier":["x"],"message":"oops","response":"text","usage":{"prompt_tokens":"12","completion_tokens":3.0,"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":-1}}}"#;
        assert_eq!(
            from_json(ApiFlavor::OpenAiChat, body),
            Extracted {
                usage: Some(usage(12, 3, 0, 0, 0)),
                model: None,
                service_tier: None,
                flavor: ApiFlavor::OpenAiChat,
            }
        );
    }

    #[test]
    fn prompt_text_per_flavor() {
        let chat = br#"{"model":"gpt-4o","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"42"}]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::OpenAiChat, chat),
            ("You are terse.\nWhat is in this image?\n42".to_owned(), 4)
        );

        let anthropic = br#"{"model":"claude-sonnet-4-20250514","max_tokens":1024,"system":[{"type":"text","text":"You are a poet.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Write a haiku."},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"lookup","input":{"q":"x"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"autumn"}]},{"type":"text","text":"Go on."}]}]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::Anthropic, anthropic),
            (
                "You are a poet.\nWrite a haiku.\nautumn\nGo on.".to_owned(),
                4
            )
        );

        let responses = br#"{"model":"gpt-4.1","instructions":"Talk like a pirate.","input":[{"role":"user","content":[{"type":"input_text","text":"Are semicolons optional?"}]},{"type":"function_call_output","call_id":"c1","output":"{\"ok\":true}"}]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::OpenAiResponses, responses),
            (
                "Talk like a pirate.\nAre semicolons optional?\n{\"ok\":true}".to_owned(),
                3
            )
        );
        let responses_str = br#"{"model":"gpt-4.1","input":"Tell me a joke."}"#;
        assert_eq!(
            prompt_text(ApiFlavor::OpenAiResponses, responses_str),
            ("Tell me a joke.".to_owned(), 1)
        );

        let completions =
            br#"{"model":"gpt-3.5-turbo-instruct","prompt":["Say this","is a test"]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::OpenAiChat, completions),
            ("Say this\nis a test".to_owned(), 0)
        );
        let embeddings = br#"{"model":"text-embedding-3-small","input":["The food was delicious","and the waiter"]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::OpenAiChat, embeddings),
            ("The food was delicious\nand the waiter".to_owned(), 0)
        );
        let token_ids = br#"{"model":"text-embedding-3-small","input":[[1,2,3]]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::OpenAiChat, token_ids),
            (String::new(), 0)
        );

        let gemini = br#"{"systemInstruction":{"parts":[{"text":"You are a cat."}]},"contents":[{"role":"user","parts":[{"text":"Hello"},{"inlineData":{"mimeType":"image/png","data":"iVBOR"}}]},{"role":"model","parts":[{"text":"Meow"}]},{"role":"user","parts":[{"text":"Why?"}]}]}"#;
        assert_eq!(
            prompt_text(ApiFlavor::Gemini, gemini),
            ("You are a cat.\nHello\nMeow\nWhy?".to_owned(), 4)
        );
        assert_eq!(
            prompt_text(ApiFlavor::Unknown, gemini),
            prompt_text(ApiFlavor::Gemini, gemini)
        );
    }

    #[test]
    fn request_fields_of_each_provider() {
        assert_eq!(
            request_fields(
                br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"user":"user-123","messages":[]}"#
            ),
            RequestFields {
                model: Some("gpt-4o".into()),
                stream: true,
                user: Some("user-123".into()),
            }
        );
        assert_eq!(
            request_fields(
                br#"{"model":"claude-sonnet-4-20250514","max_tokens":10,"metadata":{"user_id":"u-9"},"messages":[]}"#
            ),
            RequestFields {
                model: Some("claude-sonnet-4-20250514".into()),
                stream: false,
                user: Some("u-9".into()),
            }
        );
        assert_eq!(
            request_fields(br#"{"contents":[],"stream":"yes","user":7}"#),
            RequestFields::default()
        );
    }

    #[test]
    fn unknown_stream_gives_up_quietly() {
        let mut body = String::new();
        for i in 0..100 {
            body.push_str(&format!("data: {{\"n\":{i}}}\n\n"));
        }
        assert_eq!(
            stream(ApiFlavor::Unknown, body.as_bytes()),
            Extracted::default()
        );
    }

    /// Feeds chunks and says whether the accumulator saw the stream's end.
    fn completes(flavor: ApiFlavor, body: &str) -> bool {
        let mut parser = SseParser::new(1 << 20);
        let mut acc = StreamAccumulator::new(flavor);
        parser.push(body.as_bytes(), |ev| acc.on_event(ev));
        acc.is_complete()
    }

    #[test]
    fn terminal_events_mark_a_stream_complete() {
        let chat =
            "data: {\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[]}\n\n";
        assert!(!completes(ApiFlavor::OpenAiChat, chat));
        assert!(completes(
            ApiFlavor::OpenAiChat,
            &format!("{chat}data: [DONE]\n\n")
        ));
        assert!(completes(
            ApiFlavor::Unknown,
            &format!("{chat}data: [DONE]\n\n")
        ));
        // The event is complete only once its blank line has arrived.
        assert!(!completes(ApiFlavor::OpenAiChat, "data: [DONE]\n"));

        let anthropic = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude\",\"usage\":{\"input_tokens\":3}}}\n\n";
        assert!(!completes(ApiFlavor::Anthropic, anthropic));
        assert!(completes(
            ApiFlavor::Anthropic,
            &format!("{anthropic}event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n")
        ));
        assert!(completes(
            ApiFlavor::Anthropic,
            &format!("{anthropic}data: {{\"type\":\"message_stop\"}}\n\n")
        ));

        for terminal in [
            "response.completed",
            "response.incomplete",
            "response.failed",
        ] {
            let body = format!(
                "event: response.created\ndata: {{\"type\":\"response.created\",\"response\":{{}}}}\n\nevent: {terminal}\ndata: {{\"type\":\"{terminal}\",\"response\":{{}}}}\n\n"
            );
            assert!(completes(ApiFlavor::OpenAiResponses, &body), "{terminal}");
            assert!(completes(ApiFlavor::Unknown, &body), "{terminal}");
        }
        assert!(!completes(
            ApiFlavor::OpenAiResponses,
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n"
        ));

        let gemini = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]}}]}\n\n";
        assert!(!completes(ApiFlavor::Gemini, gemini));
        assert!(completes(
            ApiFlavor::Gemini,
            &format!("{gemini}data: {{\"candidates\":[{{\"finishReason\":\"STOP\"}}],\"usageMetadata\":{{\"promptTokenCount\":1}}}}\n\n")
        ));
    }

    #[test]
    fn latest_user_message() {
        let chat = br#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"first"},{"role":"assistant","content":"a"},{"role":"user","content":[{"type":"text","text":"second"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"more"}]}]}"#;
        assert_eq!(
            latest_user_text(ApiFlavor::OpenAiChat, chat).as_deref(),
            Some("second\nmore")
        );
        let anthropic = br#"{"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"hello"}]}]}"#;
        assert_eq!(
            latest_user_text(ApiFlavor::Anthropic, anthropic).as_deref(),
            Some("hello")
        );
        let responses = br#"{"input":"just text"}"#;
        assert_eq!(
            latest_user_text(ApiFlavor::OpenAiResponses, responses).as_deref(),
            Some("just text")
        );
        let items = br#"{"input":[{"role":"user","content":[{"type":"input_text","text":"q1"}]},{"role":"assistant","content":"a"},{"role":"user","content":"q2"}]}"#;
        assert_eq!(
            latest_user_text(ApiFlavor::OpenAiResponses, items).as_deref(),
            Some("q2")
        );
        assert_eq!(
            latest_user_text(ApiFlavor::OpenAiChat, br#"{"messages":[]}"#),
            None
        );
        assert_eq!(latest_user_text(ApiFlavor::OpenAiChat, b"not json"), None);
    }
}
