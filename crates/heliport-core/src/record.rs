//! What heliport records for each request (SPEC §5), and how a raw exchange
//! captured on the hot path becomes that record off it.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::{self, ApiFlavor, Extracted};
use crate::pricing::{CostQuery, PriceTable};
use crate::usage::Usage;

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

/// The response body as the tee kept it: whole chunks (no copies) up to the cap.
#[derive(Debug, Clone, Default)]
pub struct CapturedBody {
    pub chunks: Vec<Bytes>,
    pub kept: usize,
    pub total: u64,
    pub truncated: bool,
}

impl CapturedBody {
    /// Keep `chunk` while under `cap`; the part beyond the cap is dropped.
    pub fn push(&mut self, chunk: &Bytes, cap: usize) {
        self.total += chunk.len() as u64;
        if self.kept >= cap {
            self.truncated |= !chunk.is_empty();
            return;
        }
        let room = cap - self.kept;
        if chunk.len() <= room {
            self.chunks.push(chunk.clone());
            self.kept += chunk.len();
        } else {
            self.chunks.push(chunk.slice(..room));
            self.kept += room;
            self.truncated = true;
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.kept);
        for c in &self.chunks {
            v.extend_from_slice(c);
        }
        v
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
    /// The body as sent upstream.
    pub request_body: Bytes,
    /// The body before prompt tags were stripped, kept only for the template.
    pub original_request_body: Option<Bytes>,
    pub status: Option<u16>,
    pub failure: Option<String>,
    pub response_created_at: Option<DateTime<Utc>>,
    pub latency_ms: Option<u64>,
    pub time_to_first_token_ms: Option<u64>,
    pub response_is_sse: bool,
    pub response_body: CapturedBody,
    /// What the stream accumulator saw (SSE responses only).
    pub stream_extracted: Option<Extracted>,
    pub attempts: u32,
    pub fallback_index: Option<u32>,
    pub body_cap_bytes: usize,
}

fn body_text(bytes: &[u8], cap: usize) -> (String, bool) {
    if bytes.len() <= cap {
        (String::from_utf8_lossy(bytes).into_owned(), false)
    } else {
        (String::from_utf8_lossy(&bytes[..cap]).into_owned(), true)
    }
}

impl Exchange {
    /// Turn the raw exchange into the record: usage (reported or estimated),
    /// model, cost, bodies (capped, or omitted as the client asked).
    pub fn finalize(self, prices: &PriceTable) -> RequestRecord {
        let flavor = ApiFlavor::from_path(&self.upstream_path);
        let req = extract::request_fields(&self.request_body);
        let response_bytes = self.response_body.to_vec();
        let success = self.status.is_some_and(|s| (200..300).contains(&s));

        let extracted = match self.stream_extracted {
            Some(e) => e,
            None if !response_bytes.is_empty() => extract::from_json(flavor, &response_bytes),
            None => Extracted::default(),
        };
        let response_model = extracted.model.clone();
        let model = self
            .meta
            .model_override
            .clone()
            .or_else(|| response_model.clone())
            .or_else(|| req.model.clone())
            .or_else(|| model_from_path(&self.upstream_path));

        let mut usage_estimated = false;
        let usage = match extracted.usage {
            Some(u) => Some(u),
            // A successful answer without usage is estimated; errors consumed nothing.
            None if success && flavor != ApiFlavor::Unknown => {
                usage_estimated = true;
                let (prompt_text, messages) = extract::prompt_text(flavor, &self.request_body);
                let mut completion =
                    extract::completion_text(flavor, &response_bytes, self.response_is_sse);
                let mut estimate = crate::estimate::estimate(
                    model.as_deref().unwrap_or(""),
                    &prompt_text,
                    messages,
                    &completion,
                );
                // Only the capped head of a long answer was kept: scale by what was seen.
                if self.response_body.truncated && self.response_body.kept > 0 {
                    let ratio = self.response_body.total as f64 / self.response_body.kept as f64;
                    estimate.completion_tokens =
                        (estimate.completion_tokens as f64 * ratio).round() as u64;
                }
                completion.clear();
                Some(estimate)
            }
            None => None,
        };

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
            // Nothing consumed (an error answer, a rejected request): it cost nothing.
            (None, _, _) if !success => Some(0),
            _ => None,
        };

        let prompt_template = self.meta.prompt_id.as_ref().and_then(|_| {
            let src = self
                .original_request_body
                .as_ref()
                .unwrap_or(&self.request_body);
            crate::prompt::template(src)
        });

        let cap = self.body_cap_bytes;
        let (request_body, request_body_truncated) = if self.meta.omit_request {
            (None, false)
        } else {
            let (t, tr) = body_text(&self.request_body, cap);
            (Some(t), tr)
        };
        let no_response = self.response_body.total == 0 && self.status.is_none();
        let (response_body, response_body_truncated) = if self.meta.omit_response || no_response {
            (None, false)
        } else {
            let (t, tr) = body_text(&response_bytes, cap);
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
            prompt_inputs: self.meta.prompt_inputs,
            prompt_template,
            properties: self.meta.properties,
            cache_enabled: self.meta.cache_enabled,
            cached: false,
            cache_reference_id: None,
            cache_bucket_idx: None,
            attempts: self.attempts.max(1),
            fallback_index: self.fallback_index,
            api_key_id: self.api_key_id,
            request_body,
            response_body,
            request_body_truncated,
            response_body_truncated,
            body_cap_bytes: cap as u64,
            threat: false,
            flagged: false,
        }
    }
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
        assert_eq!(c.to_vec(), b"hello wo");
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
        let r = ex.finalize(&prices);
        assert_eq!(r.request_model.as_deref(), Some("gpt-4o"));
        assert_eq!(r.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(r.user_id.as_deref(), Some("u-1"));
        let u = r.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (1000, 500));
        assert!(!r.usage_estimated);
        assert_eq!(r.cost_nano_usd, Some(7_500_000));
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
        let r = ex.finalize(&prices);
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
        assert_eq!(ex.finalize(&prices).cost_nano_usd, None);
        let ex = exchange(
            "/v1/chat/completions",
            r#"{"model":"gpt-4o"}"#,
            r#"{"error":{"message":"nope"}}"#,
            429,
        );
        let r = ex.finalize(&prices);
        assert_eq!(r.usage, None);
        assert_eq!(r.cost_nano_usd, Some(0));
    }
}
