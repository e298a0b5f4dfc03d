//! What heliport records for each request (SPEC §5), and how a raw exchange
//! captured on the hot path becomes that record off it.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::{self, ApiFlavor, Extracted, StreamAccumulator};
use crate::pricing::{CostQuery, PriceTable};
use crate::usage::Usage;
use sha2::{Digest, Sha256};

/// One stored request: a row of `requests`. Serialisable so the spool can hold it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Unique per record (idempotent spool replay); `request_id` may repeat.
    pub uid: Uuid,
    pub request_id: Uuid,
    pub org_id: String,
    pub created_at: DateTime<Utc>,
    pub response_created_at: Option<DateTime<Utc>>,
    pub provider: String,
    pub target_url: String,
    pub path: String,
    pub method: String,
    pub status: Option<u16>,
    /// A named failure: an error code heliport answered, `cancelled`, `stream_error`.
    pub failure: Option<String>,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    pub model: Option<String>,
    pub model_override: Option<String>,
    pub stream: bool,
    pub latency_ms: Option<u64>,
    pub time_to_first_token_ms: Option<u64>,
    pub usage: Option<Usage>,
    pub usage_estimated: bool,
    pub cost_nano_usd: Option<i64>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub session_path: Option<String>,
    pub session_name: Option<String>,
    pub prompt_id: Option<String>,
    pub prompt_version: Option<i64>,
    pub prompt_inputs: Option<Vec<(String, String)>>,
    /// Canonical prompt template; the store turns it into `prompt_version`.
    pub prompt_template: Option<String>,
    pub properties: Vec<(String, String)>,
    pub cache_enabled: bool,
    pub cached: bool,
    pub cache_reference_id: Option<String>,
    pub cache_bucket_idx: Option<u32>,
    pub attempts: u32,
    pub fallback_index: Option<u32>,
    pub api_key_id: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub request_body_truncated: bool,
    pub response_body_truncated: bool,
    pub body_cap_bytes: u64,
    pub threat: bool,
    pub flagged: bool,
    /// For an upstream attempt that did not answer the request (a retry or a
    /// fallback entry tried before the one that answered): the request's id.
    #[serde(default)]
    pub parent_request_id: Option<Uuid>,
    /// For a cache hit (which costs nothing): what the answer cost when it was made.
    #[serde(default)]
    pub cache_saved_nano_usd: Option<i64>,
}

/// Request metadata taken from the `Helicone-*` options at admission.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub model_override: Option<String>,
    pub prompt_id: Option<String>,
    pub prompt_inputs: Option<Vec<(String, String)>>,
    pub properties: Vec<(String, String)>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub session_path: Option<String>,
    pub session_name: Option<String>,
    pub omit_request: bool,
    pub omit_response: bool,
    pub cache_enabled: bool,
}

/// Bytes kept from the end of an answer longer than the cap (where JSON answers keep their usage).
const TAIL_BYTES: usize = 64 << 10;

/// The response body as the tee kept it: the head up to the cap, and the last
/// bytes past it. Chunks are copied, not referenced: a chunk is a slice of the
/// connection's read buffer, and holding it would pin the whole buffer (kilobytes
/// per record) while the record waits for the writer.
#[derive(Debug, Clone, Default)]
pub struct CapturedBody {
    head: Vec<u8>,
    pub total: u64,
    pub truncated: bool,
    tail: std::collections::VecDeque<u8>,
}

impl CapturedBody {
    /// Keep `chunk` while under `cap`; past the cap only the last bytes are kept.
    pub fn push(&mut self, chunk: &[u8], cap: usize) {
        self.total += chunk.len() as u64;
        let room = cap.saturating_sub(self.head.len());
        let (head, rest) = chunk.split_at(chunk.len().min(room));
        self.head.extend_from_slice(head);
        if rest.is_empty() {
            return;
        }
        self.truncated = true;
        let rest = rest
            .get(rest.len().saturating_sub(TAIL_BYTES)..)
            .unwrap_or_default();
        let overflow = (self.tail.len() + rest.len()).saturating_sub(TAIL_BYTES);
        self.tail.drain(..overflow.min(self.tail.len()));
        self.tail.extend(rest.iter().copied());
    }

    /// Make room for a body expected at `len` bytes (announced, or a
    /// stream's first guess), of which at most `cap` are kept. Only so much
    /// is taken on the word of a header: an upstream that announces a large
    /// body and sends nothing must not hold the cap.
    pub fn reserve(&mut self, len: usize, cap: usize) {
        let room = cap.saturating_sub(self.head.len()).min(RESERVE_CEILING);
        // Only a hint: without the memory, the body grows as it arrives.
        let _ = self.head.try_reserve_exact(len.min(room));
    }

    /// Bytes kept from the start of the body.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn kept(&self) -> usize {
        self.head.len()
    }

    /// Bytes held in memory (head and tail), as allocated: a body that grew
    /// in steps may hold up to twice what it kept.
    pub fn held(&self) -> usize {
        self.head.capacity() + self.tail.capacity()
    }

    /// The bytes kept past the cap (at most the last 64 KiB).
    pub fn tail_vec(&self) -> Vec<u8> {
        self.tail.iter().copied().collect()
    }
}

/// Everything the hot path saw of one request, handed to the recorder as is.
/// Parsing, estimation and pricing happen in [`Exchange::finalize`], off the
/// response path.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    pub uid: Uuid,
    pub request_id: Uuid,
    pub org_id: String,
    pub api_key_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub method: String,
    /// Incoming path and query.
    pub path: String,
    pub provider: String,
    pub price_provider: Option<String>,
    pub target_url: String,
    /// Path and query as sent upstream (selects the usage format).
    pub upstream_path: String,
    pub meta: RequestMeta,
    /// The body as sent upstream, cut at the record cap when it is admitted
    /// (see [`Exchange::admit_request_body`]).
    pub request_body: Bytes,
    /// Length of the whole request body (more than `request_body` when cut).
    pub request_body_total: u64,
    /// Model, stream flag and user of a body cut at admission, read from the
    /// whole body then.
    pub request_fields: Option<extract::RequestFields>,
    /// The prompt template of a body cut at admission, computed from the whole body then.
    pub prompt_template: Option<String>,
    /// The body before prompt tags were stripped, kept only for the template.
    pub original_request_body: Option<Bytes>,
    pub status: Option<u16>,
    pub failure: Option<String>,
    pub response_created_at: Option<DateTime<Utc>>,
    pub latency_ms: Option<u64>,
    pub time_to_first_token_ms: Option<u64>,
    pub response_is_sse: bool,
    pub response_body: CapturedBody,
    /// Usage and model already read on the request path, by
    /// [`Exchange::outcome`] for a completion hook.
    pub extracted: Option<Extracted>,
    /// A stream's events as the tee read them, finished into [`Extracted`]
    /// where the record is made: parsing the usage event (and the event that
    /// named the model) on the request path held back the stream's end.
    pub stream: Option<Box<StreamAccumulator>>,
    pub attempts: u32,
    pub fallback_index: Option<u32>,
    pub body_cap_bytes: usize,
    /// Set on an upstream attempt that did not answer the request.
    pub parent_request_id: Option<Uuid>,
    /// Set when the answer was replayed from the cache.
    pub cache_hit: Option<CacheHit>,
    /// The cache slot this answer fills (a miss with caching on).
    pub cache_fill_slot: Option<u32>,
    /// Usage estimated on the request path by [`Exchange::outcome`].
    pub estimated_usage: Option<Usage>,
    /// Refused because moderation flagged the prompt (SPEC §3.5).
    pub flagged: bool,
    /// Refused because the prompt-injection screen found a threat (SPEC §3.6).
    pub threat: bool,
    /// Where the record's PostHog event goes (`Helicone-Posthog-Key/-Host`):
    /// handed to the exporters, never stored or spooled.
    pub posthog: Option<crate::options::PosthogOptions>,
}

/// A request answered from the response cache.
#[derive(Debug, Clone)]
pub struct CacheHit {
    /// The request whose answer was stored.
    pub reference_id: Uuid,
    pub bucket_idx: u32,
    /// What the stored answer cost, used and was answered by when it was made.
    pub saved_nano_usd: Option<i64>,
    pub usage: Option<Usage>,
    pub model: Option<String>,
}

/// What an answer reported and cost, for completion hooks.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Option<u16>,
    /// Ended normally: no failure, the stream's end reached.
    pub complete: bool,
    pub usage: Option<Usage>,
    pub model: Option<String>,
    /// `None` when unpriced or nothing was reported.
    pub cost_nano_usd: Option<i64>,
}

/// A template kept by its hash only (an omitted request, or one over the cap).
fn template_hash(template: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(template.as_bytes()))
    )
}

fn body_text(mut bytes: Vec<u8>, cap: usize) -> (String, bool) {
    let cut = bytes.len() > cap;
    bytes.truncate(cap);
    // The buffer may be larger than what it holds (grown in steps, reserved
    // for a body that came short, or a whole read buffer); the record keeps
    // only the text.
    bytes.shrink_to_fit();
    // The bytes become the text in place: a body is copied once fewer on
    // its way to the store (a 1 MB answer, 1 MB less to copy).
    let text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    (text, cut)
}

/// Most of a body [`CapturedBody::reserve`] takes before any of it arrives.
const RESERVE_CEILING: usize = 256 << 10;

/// Fixed cost of one queued exchange beside its bodies (ids, times, strings).
const EXCHANGE_OVERHEAD_BYTES: usize = 1024;

/// What one name/value pair holds beside its text: its slot in the list and
/// two heap allocations' headers and rounding. Counting the text alone put a
/// 100-property record at a tenth of its size, and a queue of them at several
/// times its byte budget.
const PAIR_OVERHEAD_BYTES: usize = 96;

/// Bytes a list of name/value pairs (properties, prompt inputs) holds.
pub fn pairs_weight(pairs: &[(String, String)]) -> usize {
    pairs
        .iter()
        .map(|(k, v)| k.len() + v.len() + PAIR_OVERHEAD_BYTES)
        .sum()
}

impl Exchange {
    /// Keep what the record needs of the request body, and no more than the
    /// record cap of it: a 32 MiB prompt must not wait in the record queue
    /// whole. What the writer would read from the whole body (model, stream
    /// flag, user; the prompt template) is read now when the body is cut.
    pub fn admit_request_body(&mut self, sent: &Bytes, original: Option<Bytes>) {
        let cap = self.body_cap_bytes;
        self.request_body_total = sent.len() as u64;
        // The pre-strip body only feeds the template, and only under a prompt id.
        let original = original.filter(|_| self.meta.prompt_id.is_some());
        let oversized = sent.len() > cap || original.as_ref().is_some_and(|o| o.len() > cap);
        if !oversized {
            self.request_body = sent.clone();
            self.original_request_body = original;
            return;
        }
        self.request_fields = Some(extract::request_fields(sent));
        if self.meta.prompt_id.is_some() {
            // A template longer than the cap is versioned by its hash, as an
            // omitted one is: the version is found, its text is not kept.
            self.prompt_template = crate::prompt::template(original.as_ref().unwrap_or(sent))
                .map(|t| if t.len() > cap { template_hash(&t) } else { t });
        }
        self.request_body = sent.slice(..cap.min(sent.len()));
        // A slice would keep the whole body alive: copy the head out.
        self.request_body = Bytes::copy_from_slice(&self.request_body);
        self.original_request_body = None;
    }

    /// Bytes this exchange holds while it waits for the writer: the record
    /// queue is bounded by the sum of these, not by a count.
    pub fn weight(&self) -> usize {
        self.request_body.len()
            + self.original_request_body.as_ref().map_or(0, Bytes::len)
            + self.prompt_template.as_ref().map_or(0, String::len)
            + self.response_body.held()
            + self.path.len()
            + self.target_url.len()
            + pairs_weight(&self.meta.properties)
            + self.meta.prompt_inputs.as_deref().map_or(0, pairs_weight)
            + self.stream.as_ref().map_or(0, |s| s.held())
            + EXCHANGE_OVERHEAD_BYTES
    }

    /// What the answer reported: read already, or from the stream's events,
    /// or from the answer's body.
    fn take_extracted(&mut self) -> Extracted {
        if let Some(e) = self.extracted.take() {
            return e;
        }
        match self.stream.take() {
            Some(stream) => {
                let mut e = stream.finish();
                if let Some(p) = &self.price_provider {
                    e.adjust_for_provider(p);
                }
                e
            }
            None => self.read_answer(),
        }
    }

    /// Usage, model and tier the answer reports (none for calls that
    /// generate nothing), adjusted to the provider's conventions.
    fn read_answer(&self) -> Extracted {
        let flavor = ApiFlavor::from_path(&self.upstream_path);
        let response_bytes = self.response_body.head();
        let generation = self.method.eq_ignore_ascii_case("POST");
        let mut extracted = if !generation || response_bytes.is_empty() {
            Extracted::default()
        } else {
            let e = extract::from_json(flavor, response_bytes);
            if e.usage.is_none() && self.response_body.truncated {
                // The usage of a long JSON answer sits at its end, past the cap.
                let tail = self.response_body.tail_vec();
                let t = usage_from_tail(flavor, &tail);
                Extracted {
                    usage: t.usage,
                    model: e.model.or(t.model),
                    service_tier: e.service_tier.or(t.service_tier),
                    flavor: t.flavor,
                }
            } else {
                e
            }
        };
        if let Some(p) = &self.price_provider {
            extracted.adjust_for_provider(p);
        }
        extracted
    }

    /// The answer's usage: as reported, else estimated with a tokenizer for a
    /// complete successful generation (`true` when estimated). Errors consumed
    /// nothing; an answer cut short (cancelled, broken, timed out) is unknown.
    fn usage_of(&self, extracted: &Extracted, model: Option<&str>) -> (Option<Usage>, bool) {
        if let Some(u) = extracted.usage {
            return (Some(u), false);
        }
        let flavor = ApiFlavor::from_path(&self.upstream_path);
        let success = self.status.is_some_and(|s| (200..300).contains(&s));
        let generation = self.method.eq_ignore_ascii_case("POST");
        if success && generation && self.failure.is_none() && flavor != ApiFlavor::Unknown {
            let estimate = self.estimate_usage(flavor, model, self.response_body.head());
            (Some(estimate), true)
        } else {
            (None, false)
        }
    }

    /// What the answer reported and cost, read on the request path when a
    /// completion hook needs it (settling a `u=cents` limit, saving a cache
    /// entry), with the same rules the record follows (an answer without
    /// usage is estimated). The reading is kept so the writer does not repeat it.
    pub fn outcome(&mut self, prices: &PriceTable) -> Outcome {
        let extracted = self.take_extracted();
        let model = self
            .meta
            .model_override
            .clone()
            .or_else(|| extracted.model.clone())
            .or_else(|| extract::request_fields(&self.request_body).model)
            .or_else(|| model_from_path(&self.upstream_path));
        let (usage, estimated) = self.usage_of(&extracted, model.as_deref());
        if estimated {
            self.estimated_usage = usage;
        }
        let cost_nano_usd = match (&usage, &model, &self.price_provider) {
            (Some(u), Some(m), Some(p)) => prices
                .cost(&CostQuery {
                    provider_id: p,
                    model: m,
                    usage: u,
                    at: self.created_at,
                    service_tier: extracted.service_tier.as_deref(),
                })
                .map(|c| c.nano_usd),
            _ => None,
        };
        let outcome = Outcome {
            status: self.status,
            complete: self.failure.is_none(),
            usage,
            model,
            cost_nano_usd,
        };
        self.extracted = Some(extracted);
        outcome
    }

    /// Turn the raw exchange into the record: usage (reported or estimated),
    /// model, cost, bodies (capped, or omitted as the client asked).
    pub fn finalize(mut self: Box<Self>, prices: &PriceTable) -> RequestRecord {
        let req = self
            .request_fields
            .take()
            .unwrap_or_else(|| extract::request_fields(&self.request_body));
        let request_cut = self.request_body_total > self.request_body.len() as u64;
        let success = self.status.is_some_and(|s| (200..300).contains(&s));
        // Only generation calls consume tokens: a GET of a stored response or a
        // listing carries the original usage, which must not be counted twice.
        let generation = self.method.eq_ignore_ascii_case("POST");

        let mut extracted = self.take_extracted();
        // A hit is recorded with what the stored answer reported when it was made.
        if let Some(hit) = &self.cache_hit {
            if hit.usage.is_some() {
                extracted.usage = hit.usage;
            }
            if hit.model.is_some() {
                extracted.model = hit.model.clone();
            }
        }
        let response_model = extracted.model.clone();
        let model = self
            .meta
            .model_override
            .clone()
            .or_else(|| response_model.clone())
            .or_else(|| req.model.clone())
            .or_else(|| model_from_path(&self.upstream_path));

        let (usage, usage_estimated) = match self.estimated_usage.take() {
            Some(u) => (Some(u), true),
            None => self.usage_of(&extracted, model.as_deref()),
        };

        // A request given up or cut short (client gone before the stream's end,
        // timeout, broken stream) may still have been billed, and whatever usage
        // it reported so far is partial: its cost is unknown, on every provider.
        let cut_short = matches!(
            self.failure.as_deref(),
            Some("cancelled" | "upstream_timeout" | "stream_error")
        );
        let cost_nano_usd = match (&usage, &model, &self.price_provider) {
            _ if cut_short => None,
            (Some(u), Some(m), Some(p)) => prices
                .cost(&CostQuery {
                    provider_id: p,
                    model: m,
                    usage: u,
                    at: self.created_at,
                    service_tier: extracted.service_tier.as_deref(),
                })
                .map(|c| c.nano_usd),
            // Retrievals and listings generate nothing.
            (None, _, _) if !generation => Some(0),
            // An error answer or a rejected request consumed nothing.
            (None, _, _) if !success => Some(0),
            _ => None,
        };
        // A hit was free; what the answer cost when it was made is what it saved.
        let (cost_nano_usd, cache_saved_nano_usd) = match &self.cache_hit {
            Some(hit) => (Some(0), hit.saved_nano_usd.or(cost_nano_usd)),
            None => (cost_nano_usd, None),
        };

        let mut prompt_inputs = self.meta.prompt_inputs;
        let prompt_template = self.prompt_template.take().or_else(|| {
            self.meta.prompt_id.as_ref().and_then(|_| {
                let src = self
                    .original_request_body
                    .as_ref()
                    .unwrap_or(&self.request_body);
                crate::prompt::template(src)
            })
        });
        // An omitted request is written nowhere: versions are kept by a hash of
        // the template, and the inputs are dropped.
        let prompt_template = if self.meta.omit_request {
            prompt_inputs = None;
            prompt_template.map(|t| {
                if t.starts_with("sha256:") {
                    t
                } else {
                    template_hash(&t)
                }
            })
        } else {
            prompt_template
        };

        let cap = self.body_cap_bytes;
        let (request_body, request_body_truncated) = if self.meta.omit_request {
            (None, false)
        } else {
            let (t, tr) = body_text(std::mem::take(&mut self.request_body).into(), cap);
            (Some(t), tr || request_cut)
        };
        let no_response = self.response_body.total == 0 && self.status.is_none();
        let (response_body, response_body_truncated) = if self.meta.omit_response || no_response {
            (None, false)
        } else {
            let (t, tr) = body_text(std::mem::take(&mut self.response_body.head), cap);
            (Some(t), tr || self.response_body.truncated)
        };

        let user_id = self.meta.user_id.clone().or(req.user);
        RequestRecord {
            uid: self.uid,
            request_id: self.request_id,
            org_id: self.org_id,
            created_at: self.created_at,
            response_created_at: self.response_created_at,
            provider: self.provider,
            target_url: self.target_url,
            path: self.path,
            method: self.method,
            status: self.status,
            failure: self.failure,
            request_model: req.model,
            response_model,
            model,
            model_override: self.meta.model_override,
            stream: self.response_is_sse || req.stream,
            latency_ms: self.latency_ms,
            time_to_first_token_ms: self.time_to_first_token_ms,
            usage,
            usage_estimated,
            cost_nano_usd,
            user_id,
            session_id: self.meta.session_id,
            session_path: self.meta.session_path,
            session_name: self.meta.session_name,
            prompt_id: self.meta.prompt_id,
            prompt_version: None,
            prompt_inputs,
            prompt_template,
            properties: self.meta.properties,
            cache_enabled: self.meta.cache_enabled,
            cached: self.cache_hit.is_some(),
            cache_reference_id: self.cache_hit.as_ref().map(|h| h.reference_id.to_string()),
            cache_bucket_idx: self
                .cache_hit
                .as_ref()
                .map(|h| h.bucket_idx)
                .or(self.cache_fill_slot),
            attempts: self.attempts,
            fallback_index: self.fallback_index,
            api_key_id: self.api_key_id,
            request_body,
            response_body,
            request_body_truncated,
            response_body_truncated,
            body_cap_bytes: cap as u64,
            threat: self.threat,
            flagged: self.flagged,
            parent_request_id: self.parent_request_id,
            cache_saved_nano_usd,
        }
    }
}

/// Prompt text beyond this is not tokenized; the estimate is scaled instead.
const ESTIMATE_TEXT_CAP: usize = 256 << 10;

/// Cut `text` to the cap (at a char boundary); returns the scale factor for counts.
fn cap_text(text: &mut String) -> f64 {
    if text.len() <= ESTIMATE_TEXT_CAP {
        return 1.0;
    }
    let full = text.len() as f64;
    let mut end = ESTIMATE_TEXT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    full / end.max(1) as f64
}

impl Exchange {
    /// Tokens counted with a tokenizer when the provider reported none.
    fn estimate_usage(&self, flavor: ApiFlavor, model: Option<&str>, response: &[u8]) -> Usage {
        let kept = self.request_body.len();
        let (mut prompt_text, messages, mut prompt_scale) =
            if self.request_body_total > kept as u64 && kept > 0 {
                // Only the head of a body cut at admission is here, and it no
                // longer parses: count its text and scale by the bytes seen.
                let head = String::from_utf8_lossy(&self.request_body).into_owned();
                (head, 1, self.request_body_total as f64 / kept as f64)
            } else {
                let (text, messages) = extract::prompt_text(flavor, &self.request_body);
                (text, messages, 1.0)
            };
        prompt_scale *= cap_text(&mut prompt_text);
        let mut completion = extract::completion_text(flavor, response, self.response_is_sse);
        let mut completion_scale = cap_text(&mut completion);
        // Only the capped head of a long answer was kept: scale by what was seen.
        if self.response_body.truncated && self.response_body.kept() > 0 {
            completion_scale *= self.response_body.total as f64 / self.response_body.kept() as f64;
        }
        let mut u =
            crate::estimate::estimate(model.unwrap_or(""), &prompt_text, messages, &completion);
        u.prompt_tokens = (u.prompt_tokens as f64 * prompt_scale).round() as u64;
        u.completion_tokens = (u.completion_tokens as f64 * completion_scale).round() as u64;
        u
    }
}

/// Usage from the last bytes of a JSON answer whose head was cut: the last
/// `"usage"` (or Gemini's `"usageMetadata"`) object found there.
fn usage_from_tail(flavor: ApiFlavor, tail: &[u8]) -> Extracted {
    for key in ["\"usage\"", "\"usageMetadata\""] {
        let Some(pos) = memchr::memmem::rfind(tail, key.as_bytes()) else {
            continue;
        };
        let rest = tail.get(pos + key.len()..).unwrap_or_default();
        let Some(colon) = rest.iter().position(|b| !b.is_ascii_whitespace()) else {
            continue;
        };
        if rest.get(colon) != Some(&b':') {
            continue;
        }
        let mut de =
            serde_json::Deserializer::from_slice(rest.get(colon + 1..).unwrap_or_default())
                .into_iter::<serde_json::Value>();
        if let Some(Ok(value)) = de.next() {
            let key = key.trim_matches('"');
            let mut wrapped = serde_json::Map::new();
            wrapped.insert(key.to_string(), value);
            if flavor == ApiFlavor::Anthropic {
                wrapped.insert("type".into(), "message".into());
            }
            let bytes = serde_json::Value::Object(wrapped).to_string();
            let e = extract::from_json(flavor, bytes.as_bytes());
            if e.usage.is_some() {
                return e;
            }
        }
    }
    Extracted::default()
}

/// A model named in the path: Gemini `/models/{model}:generateContent`, Azure
/// `/deployments/{deployment}/...`.
pub fn model_from_path(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    if let Some(i) = path.find("/models/") {
        let rest = &path[i + "/models/".len()..];
        let end = rest.find([':', '/']).unwrap_or(rest.len());
        let m = &rest[..end];
        return (!m.is_empty()).then(|| m.to_string());
    }
    if let Some(i) = path.find("/deployments/") {
        let rest = &path[i + "/deployments/".len()..];
        let end = rest.find('/').unwrap_or(rest.len());
        let m = &rest[..end];
        return (!m.is_empty()).then(|| m.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_body_caps_without_copying() {
        let mut c = CapturedBody::default();
        c.push(&Bytes::from_static(b"hello "), 8);
        c.push(&Bytes::from_static(b"world"), 8);
        c.push(&Bytes::from_static(b"!"), 8);
        assert_eq!(c.head(), b"hello wo");
        assert_eq!(c.total, 12);
        assert!(c.truncated);
    }

    #[test]
    fn models_in_paths() {
        assert_eq!(
            model_from_path("/v1beta/models/gemini-2.0-flash:generateContent").as_deref(),
            Some("gemini-2.0-flash")
        );
        assert_eq!(
            model_from_path("/openai/deployments/gpt-4o/chat/completions?api-version=1").as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(model_from_path("/v1/chat/completions"), None);
    }

    fn exchange(path: &str, req: &str, resp: &str, status: u16) -> Exchange {
        let mut body = CapturedBody::default();
        body.push(&Bytes::from(resp.to_string()), 1 << 20);
        Exchange {
            uid: Uuid::new_v4(),
            request_id: Uuid::new_v4(),
            org_id: "org".into(),
            created_at: Utc::now(),
            method: "POST".into(),
            path: path.into(),
            provider: "openai".into(),
            price_provider: Some("openai".into()),
            target_url: format!("https://api.openai.com{path}"),
            upstream_path: path.into(),
            request_body: Bytes::from(req.to_string()),
            status: Some(status),
            response_body: body,
            body_cap_bytes: 1 << 20,
            ..Default::default()
        }
    }

    #[test]
    fn finalize_prices_reported_usage() {
        let prices = PriceTable::builtin().unwrap();
        let ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"user":"u-1"}"#,
            r#"{"id":"x","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}"#,
            200,
        );
        let r = Box::new(ex).finalize(&prices);
        assert_eq!(r.request_model.as_deref(), Some("gpt-4o"));
        assert_eq!(r.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(r.user_id.as_deref(), Some("u-1"));
        let u = r.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (1000, 500));
        assert!(!r.usage_estimated);
        assert_eq!(r.cost_nano_usd, Some(7_500_000));
    }

    #[test]
    fn xai_reasoning_is_added_to_the_completion() {
        let prices = PriceTable::builtin().unwrap();
        let resp = r#"{"object":"chat.completion","model":"grok-3-mini","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":70,"total_tokens":2000,"completion_tokens_details":{"reasoning_tokens":930}}}"#;
        let mut ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"grok-3-mini"}"#,
            resp,
            200,
        );
        ex.provider = "xai".into();
        ex.price_provider = Some("x-ai".into());
        let r = Box::new(ex).finalize(&prices);
        let u = r.usage.unwrap();
        assert_eq!((u.completion_tokens, u.reasoning_tokens), (1000, 930));
        // 0.3 in, 0.5 out per 1M
        assert_eq!(r.cost_nano_usd, Some(1000 * 300 + 1000 * 500));

        // Elsewhere completion_tokens already holds the reasoning.
        let ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"o3"}"#,
            &resp.replace("grok-3-mini", "o3"),
            200,
        );
        assert_eq!(
            Box::new(ex)
                .finalize(&prices)
                .usage
                .unwrap()
                .completion_tokens,
            70
        );
    }

    #[test]
    fn finalize_estimates_missing_usage_and_honours_omit() {
        let prices = PriceTable::builtin().unwrap();
        let mut ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello world"}]}"#,
            r#"{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"}}]}"#,
            200,
        );
        ex.meta.omit_request = true;
        ex.meta.omit_response = true;
        let r = Box::new(ex).finalize(&prices);
        assert!(r.usage_estimated);
        let u = r.usage.unwrap();
        assert!(u.prompt_tokens > 0 && u.completion_tokens > 0);
        assert!(r.cost_nano_usd.unwrap() > 0);
        assert_eq!(r.request_body, None);
        assert_eq!(r.response_body, None);
    }

    #[test]
    fn unknown_models_are_unpriced_and_errors_cost_nothing() {
        let prices = PriceTable::builtin().unwrap();
        let ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"my-local-model"}"#,
            r#"{"model":"my-local-model","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#,
            200,
        );
        assert_eq!(Box::new(ex).finalize(&prices).cost_nano_usd, None);
        let ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o"}"#,
            r#"{"error":{"message":"nope"}}"#,
            429,
        );
        let r = Box::new(ex).finalize(&prices);
        assert_eq!(r.usage, None);
        assert_eq!(r.cost_nano_usd, Some(0));
    }

    #[test]
    fn usage_past_the_cap_is_read_from_the_tail() {
        let prices = PriceTable::builtin().unwrap();
        let long = "word ".repeat(5000);
        let resp = format!(
            r#"{{"id":"x","object":"chat.completion","model":"gpt-4o","choices":[{{"index":0,"message":{{"role":"assistant","content":"{long}"}}}}],"usage":{{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}}}"#
        );
        let mut ex = exchange("/v1/chat/completions", r#"{"model":"gpt-4o"}"#, "", 200);
        ex.body_cap_bytes = 1024;
        ex.response_body = CapturedBody::default();
        for chunk in resp.as_bytes().chunks(700) {
            ex.response_body.push(&Bytes::copy_from_slice(chunk), 1024);
        }
        let r = Box::new(ex).finalize(&prices);
        assert!(r.response_body_truncated);
        assert!(!r.usage_estimated);
        assert_eq!(r.usage.unwrap().completion_tokens, 500);
        assert_eq!(r.cost_nano_usd, Some(7_500_000));
    }

    #[test]
    fn oversized_request_bodies_are_cut_at_admission() {
        let prices = PriceTable::builtin().unwrap();
        let content = "word ".repeat(50_000);
        let body = Bytes::from(format!(
            r#"{{"model":"gpt-4o","user":"u-9","messages":[{{"role":"user","content":"{content}"}}]}}"#
        ));
        let mut ex = exchange(
            "/v1/chat/completions",
            "",
            r#"{"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}"#,
            200,
        );
        ex.body_cap_bytes = 4096;
        ex.meta.prompt_id = Some("p".into());
        ex.admit_request_body(&body, None);
        assert_eq!(ex.request_body.len(), 4096);
        assert!(ex.weight() < 16 << 10, "{}", ex.weight());
        let r = Box::new(ex).finalize(&prices);
        assert!(r.request_body_truncated);
        assert_eq!(r.request_model.as_deref(), Some("gpt-4o"));
        assert_eq!(r.user_id.as_deref(), Some("u-9"));
        assert!(r.prompt_template.unwrap().starts_with("sha256:"));
        // Estimated from the head, scaled to the whole body.
        assert!(r.usage_estimated);
        let prompt = r.usage.unwrap().prompt_tokens;
        assert!((40_000..70_000).contains(&prompt), "{prompt}");
    }

    #[test]
    fn a_record_weighs_its_properties_as_allocated() {
        let mut ex = exchange("/v1/chat/completions", "", "{}", 200);
        let bare = ex.weight();
        ex.meta.properties = (0..100)
            .map(|i| (format!("p{i}"), format!("value-{i}")))
            .collect();
        // Each pair holds its list slot and two allocations beside its text:
        // counted as text alone, a queue of such records held several times
        // its byte budget.
        let text: usize = ex
            .meta
            .properties
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        assert_eq!(ex.weight() - bare, text + 100 * PAIR_OVERHEAD_BYTES);
        // A captured body counts what it allocated, not only what it kept.
        let mut body = CapturedBody::default();
        body.reserve(10_000, 1 << 20);
        body.push(b"short", 1 << 20);
        assert!(body.held() >= 10_000);
    }

    #[test]
    fn small_request_bodies_are_kept_whole() {
        let mut ex = exchange("/v1/chat/completions", "", "", 200);
        let body = Bytes::from_static(br#"{"model":"gpt-4o"}"#);
        ex.admit_request_body(&body, Some(Bytes::from_static(b"original")));
        assert_eq!(ex.request_body, body);
        // Without a prompt id the pre-strip body is not needed.
        assert_eq!(ex.original_request_body, None);
        assert!(ex.request_fields.is_none());
    }

    #[test]
    fn retrievals_are_not_counted_again() {
        let prices = PriceTable::builtin().unwrap();
        let mut ex = exchange(
            "/v1/responses/resp_1",
            "",
            r#"{"object":"response","model":"gpt-4o","usage":{"input_tokens":10,"output_tokens":5,"total_tokens":15}}"#,
            200,
        );
        ex.method = "GET".into();
        let r = Box::new(ex).finalize(&prices);
        assert_eq!(r.usage, None);
        assert_eq!(r.cost_nano_usd, Some(0));
    }

    #[test]
    fn a_stream_cut_after_partial_usage_has_unknown_cost() {
        let prices = PriceTable::builtin().unwrap();
        let mut ex = exchange(
            "/v1/messages",
            r#"{"model":"claude-3-5-sonnet-20241022"}"#,
            "",
            200,
        );
        ex.response_is_sse = true;
        ex.extracted = Some(Extracted {
            usage: Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 1,
                ..Default::default()
            }),
            model: Some("claude-3-5-sonnet-20241022".into()),
            ..Default::default()
        });
        ex.price_provider = Some("anthropic".into());
        ex.failure = Some("stream_error".into());
        let r = Box::new(ex).finalize(&prices);
        assert_eq!(r.usage.map(|u| u.prompt_tokens), Some(10));
        assert_eq!(r.cost_nano_usd, None);
    }

    #[test]
    fn given_up_requests_have_unknown_cost() {
        let prices = PriceTable::builtin().unwrap();
        let mut ex = exchange("/v1/chat/completions", r#"{"model":"gpt-4o"}"#, "", 200);
        ex.status = None;
        ex.response_body = CapturedBody::default();
        ex.failure = Some("cancelled".into());
        assert_eq!(Box::new(ex).finalize(&prices).cost_nano_usd, None);
    }

    #[test]
    fn omitted_requests_keep_no_prompt_content() {
        let prices = PriceTable::builtin().unwrap();
        let mut ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"secret plan for Alice"}]}"#,
            r#"{"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}"#,
            200,
        );
        ex.meta.prompt_id = Some("p".into());
        ex.meta.prompt_inputs = Some(vec![("name".into(), "Alice".into())]);
        ex.meta.omit_request = true;
        let r = Box::new(ex).finalize(&prices);
        assert_eq!(r.request_body, None);
        assert_eq!(r.prompt_inputs, None);
        let t = r.prompt_template.unwrap();
        assert!(t.starts_with("sha256:") && !t.contains("secret"), "{t}");
    }
}
