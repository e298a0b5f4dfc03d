//! The guards phase (SPEC §3.5, §3.6): screening a chat request before it
//! goes upstream. `Helicone-Moderations-Enabled` sends the latest user
//! message to OpenAI's moderation endpoint; a flagged prompt is refused with
//! `PROMPT_FLAGGED_FOR_MODERATION` and never forwarded. The moderation call
//! is recorded as a child of the request.

use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use heliport_core::error::{ErrorCode, GatewayError};
use heliport_core::extract::{self, ApiFlavor};
use heliport_core::provider::join_url;
use heliport_core::record::{CapturedBody, Exchange};
use heliport_core::redact::redact_query;
use http::{header, HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::pipeline::{self, Ctx, Rejection};
use crate::state::GatewayState;
use crate::upstream::Pool;

/// Largest moderation answer read.
const MODERATION_ANSWER_BYTES: usize = 1 << 20;

/// Moderation settings (`moderation.*`).
#[derive(Debug, Clone)]
pub struct ModerationSettings {
    /// The OpenAI key for routes whose own key is not OpenAI's.
    pub api_key: Option<SecretString>,
    pub model: String,
    /// Let the request through when the moderation call fails.
    pub fail_open: bool,
}

impl Default for ModerationSettings {
    fn default() -> Self {
        ModerationSettings {
            api_key: None,
            model: "omni-moderation-latest".into(),
            fail_open: false,
        }
    }
}

/// Which chat API a request speaks, when it is one.
fn chat_flavor(ctx: &Ctx) -> Option<ApiFlavor> {
    let route = ctx.route.as_ref()?;
    if ctx.method != Method::POST {
        return None;
    }
    let path = route.upstream_path.split('?').next().unwrap_or_default();
    match ApiFlavor::from_path(path) {
        ApiFlavor::OpenAiChat if path.trim_end_matches('/').ends_with("/chat/completions") => {
            Some(ApiFlavor::OpenAiChat)
        }
        f @ (ApiFlavor::OpenAiResponses | ApiFlavor::Anthropic) => Some(f),
        _ => None,
    }
}

/// Screen the request as its safety headers ask.
pub(crate) async fn screen(
    state: &GatewayState,
    ctx: &mut Ctx,
    client_headers: &HeaderMap,
) -> Result<(), Rejection> {
    let (moderate, secure) = (ctx.opts.moderations_enabled, ctx.opts.llm_security_enabled);
    if !moderate && !secure {
        return Ok(());
    }
    let Some(flavor) = chat_flavor(ctx) else {
        let header = if moderate {
            "Helicone-Moderations-Enabled"
        } else {
            "Helicone-LLM-Security-Enabled"
        };
        return Err(GatewayError::new(
            ErrorCode::InvalidHeader,
            format!(
                "{header}: screening applies to chat requests (OpenAI chat/completions or responses, Anthropic messages), not to {} {}",
                ctx.method,
                redact_query(ctx.path.split('?').next().unwrap_or_default())
            ),
        )
        .into());
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&ctx.request_body).is_err() {
        return Err(GatewayError::new(
            ErrorCode::InvalidRequest,
            "the request body is not JSON, so it cannot be screened (Helicone-Moderations-Enabled / Helicone-LLM-Security-Enabled)",
        )
        .into());
    }
    if moderate {
        moderation(state, ctx, client_headers, flavor).await?;
    }
    Ok(())
}

/// The moderation call's outcome.
enum Verdict {
    Clean,
    Flagged(Vec<String>),
}

async fn moderation(
    state: &GatewayState,
    ctx: &mut Ctx,
    client_headers: &HeaderMap,
    flavor: ApiFlavor,
) -> Result<(), Rejection> {
    let Some(text) = extract::latest_user_text(flavor, &ctx.request_body) else {
        return Ok(());
    };
    let settings = &state.cfg.moderation;
    match call_moderation(state, ctx, client_headers, &text).await {
        Ok(Verdict::Clean) => Ok(()),
        Ok(Verdict::Flagged(categories)) => {
            metrics::counter!("heliport_moderation_flagged_total").increment(1);
            ctx.flagged = true;
            let mut details = serde_json::Map::new();
            details.insert("categories".into(), json!(categories));
            Err(GatewayError::new(
                ErrorCode::PromptFlagged,
                format!(
                    "the prompt was flagged by moderation ({}) and was not sent to the model",
                    categories.join(", ")
                ),
            )
            .with_details(details)
            .into())
        }
        Err(why) if settings.fail_open => {
            metrics::counter!("heliport_moderation_errors_total").increment(1);
            tracing::warn!(request_id = %ctx.request_id, "moderation failed, letting the request through (moderation.fail_open): {why}");
            Ok(())
        }
        Err(why) => {
            metrics::counter!("heliport_moderation_errors_total").increment(1);
            Err(GatewayError::new(
                ErrorCode::UpstreamUnreachable,
                format!("the moderation check could not be made: {why}"),
            )
            .into())
        }
    }
}

/// The key moderation is called with: the request's own on an OpenAI route,
/// else the one from configuration.
fn moderation_key(
    state: &GatewayState,
    ctx: &Ctx,
    client_headers: &HeaderMap,
) -> Option<SecretString> {
    let openai_route = ctx
        .route
        .as_ref()
        .is_some_and(|r| r.price_provider.as_deref() == Some("openai") || r.provider == "openai");
    let own = openai_route
        .then(|| client_headers.get(header::AUTHORIZATION))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(heliport_store::auth::bearer)
        .map(SecretString::from);
    own.or_else(|| state.cfg.moderation.api_key.clone())
}

async fn call_moderation(
    state: &GatewayState,
    ctx: &Ctx,
    client_headers: &HeaderMap,
    text: &str,
) -> Result<Verdict, String> {
    let base = state
        .providers
        .get("openai")
        .and_then(|p| p.base_url.clone())
        .ok_or_else(|| "no OpenAI base URL is configured".to_string())?;
    let url = join_url(&base, "/v1/moderations");
    let key = moderation_key(state, ctx, client_headers).ok_or_else(|| {
        "no OpenAI key: send the request on an OpenAI route with its key, or set moderation.api_key (HELIPORT_MODERATION_API_KEY)".to_string()
    })?;
    let body = Bytes::from(json!({"model": state.cfg.moderation.model, "input": text}).to_string());
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
        .map_err(|_| "the OpenAI key is not a valid header value".to_string())?;
    auth.set_sensitive(true);
    let req = Request::post(url.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, auth)
        .body(Full::new(body.clone()))
        .map_err(|e| format!("cannot build the moderation request: {e}"))?;
    let began = Instant::now();
    let sent = state
        .upstream
        .send(req, Pool::Open, state.cfg.upstream_timeout)
        .await;
    let mut child = moderation_record(state, ctx, &url, &body);
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            child.failure = Some("upstream_unreachable".into());
            finish(state, child, began);
            return Err(format!("{e:?}"));
        }
    };
    let status = resp.status();
    let answer = Limited::new(resp.into_body(), MODERATION_ANSWER_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    child.status = Some(status.as_u16());
    child.response_body.push(&answer, state.cfg.body_cap_bytes);
    child.response_created_at = Some(Utc::now());
    finish(state, child, began);
    if !status.is_success() {
        return Err(format!("the moderation endpoint answered {status}"));
    }
    let v: Value = serde_json::from_slice(&answer)
        .map_err(|e| format!("the moderation answer is not JSON: {e}"))?;
    let result = v
        .get("results")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .ok_or_else(|| "the moderation answer has no results".to_string())?;
    if result.get("flagged").and_then(Value::as_bool) != Some(true) {
        return Ok(Verdict::Clean);
    }
    let categories = result
        .get("categories")
        .and_then(Value::as_object)
        .map(|c| {
            c.iter()
                .filter(|(_, hit)| hit.as_bool() == Some(true))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(Verdict::Flagged(categories))
}

/// The moderation call's own record, a child of the request.
fn moderation_record(state: &GatewayState, ctx: &Ctx, url: &str, body: &Bytes) -> Exchange {
    let mut ex = pipeline::exchange(state, ctx, None, Some(body));
    ex.uid = Uuid::now_v7();
    ex.request_id = Uuid::now_v7();
    ex.parent_request_id = Some(ctx.request_id);
    ex.posthog = None;
    ex.provider = "openai".into();
    ex.price_provider = Some("openai".into());
    ex.target_url = redact_query(url).into_owned();
    ex.path = "/v1/moderations".into();
    ex.upstream_path = "/v1/moderations".into();
    ex.method = "POST".into();
    ex.attempts = 1;
    ex.fallback_index = None;
    ex.response_body = CapturedBody::default();
    ex
}

fn finish(state: &GatewayState, mut ex: Exchange, began: Instant) {
    ex.latency_ms = Some(began.elapsed().as_millis() as u64);
    state.recorder.record(ex);
}
