//! The guards phase (SPEC §3.5, §3.6): screening a chat request before it
//! goes upstream. `Helicone-LLM-Security-Enabled` runs the user-supplied text
//! through heliport's prompt-injection detector (then, when configured, an
//! external classifier); a threat is refused with `PROMPT_THREAT_DETECTED`.
//! `Helicone-Moderations-Enabled` sends the latest user message to OpenAI's
//! moderation endpoint; a flagged prompt is refused with
//! `PROMPT_FLAGGED_FOR_MODERATION`. Neither is ever forwarded. The moderation
//! call is recorded as a child of the request.

use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use heliport_core::error::{ErrorCode, GatewayError};
use heliport_core::extract::{self, ApiFlavor};
use heliport_core::injection;
use heliport_core::provider::join_url;
use heliport_core::record::{CapturedBody, Exchange};
use heliport_core::redact::redact_query;
use http::{header, HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::pipeline::{self, Ctx, Rejection};
use crate::state::GatewayState;
use crate::upstream::Pool;

/// Largest moderation or classifier answer read.
const MODERATION_ANSWER_BYTES: usize = 1 << 20;

/// User text up to this size is screened on the request's own task; longer
/// text (about 75 ns a byte) goes to the blocking pool so that it never
/// holds up the other connections of a worker thread.
const SCREEN_INLINE_BYTES: usize = 1 << 10;

/// `Helicone-LLM-Security-Enabled` settings (`security.*`).
#[derive(Debug, Clone, Default)]
pub struct SecuritySettings {
    /// An external classifier asked after heliport's own detector finds
    /// nothing: POST `{"text"}`, answering `{"threat": bool}`.
    pub classifier_url: Option<String>,
    /// Let the request through when the classifier fails.
    pub fail_open: bool,
}

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

/// Which chat API a request to screen for threats speaks: the moderation
/// ones, and Gemini's `generateContent`, whose user parts the detector reads.
fn security_flavor(ctx: &Ctx) -> Option<ApiFlavor> {
    chat_flavor(ctx).or_else(|| {
        let route = ctx.route.as_ref()?;
        let path = route.upstream_path.split('?').next().unwrap_or_default();
        (ctx.method == Method::POST && ApiFlavor::from_path(path) == ApiFlavor::Gemini)
            .then_some(ApiFlavor::Gemini)
    })
}

/// Whether the request asks for moderation or the prompt-injection screen.
pub(crate) fn requested(ctx: &Ctx) -> bool {
    ctx.opts.moderations_enabled || ctx.opts.llm_security_enabled
}

/// Screen the request as its safety headers ask.
pub(crate) async fn screen(
    state: &GatewayState,
    ctx: &mut Ctx,
    client_headers: &HeaderMap,
) -> Result<(), Rejection> {
    if !requested(ctx) {
        return Ok(());
    }
    let (moderate, secure) = (ctx.opts.moderations_enabled, ctx.opts.llm_security_enabled);
    let flavor = if moderate {
        chat_flavor(ctx)
    } else {
        security_flavor(ctx)
    };
    let Some(flavor) = flavor else {
        let (header, which) = if moderate {
            (
                "Helicone-Moderations-Enabled",
                "OpenAI chat/completions or responses, Anthropic messages",
            )
        } else {
            (
                "Helicone-LLM-Security-Enabled",
                "OpenAI chat/completions or responses, Anthropic messages, Gemini generateContent",
            )
        };
        return Err(GatewayError::new(
            ErrorCode::InvalidHeader,
            format!(
                "{header}: screening applies to chat requests ({which}), not to {} {}",
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
    // The detector first: it needs no network and costs nothing upstream.
    if secure {
        security(state, ctx, flavor).await?;
    }
    if moderate {
        moderation(state, ctx, client_headers, flavor).await?;
    }
    Ok(())
}

/// SPEC §3.6: the user-supplied text through the detector, then through the
/// operator's classifier when one is configured.
async fn security(state: &GatewayState, ctx: &mut Ctx, flavor: ApiFlavor) -> Result<(), Rejection> {
    let text = injection::user_text(flavor, &ctx.request_body);
    if text.trim().is_empty() {
        return Ok(());
    }
    let (verdict, text) = if text.len() <= SCREEN_INLINE_BYTES {
        (injection::screen(&text), text)
    } else {
        tokio::task::spawn_blocking(move || (injection::screen(&text), text))
            .await
            .map_err(|e| GatewayError::new(ErrorCode::Internal, format!("screening failed: {e}")))?
    };
    if verdict.threat {
        let kind = verdict.kind.map_or("prompt injection", |k| k.as_str());
        return Err(threat(ctx, kind, Some(verdict.score), "heliport"));
    }
    let Some(url) = state.cfg.security.classifier_url.as_deref() else {
        return Ok(());
    };
    match classify(state, url, &text).await {
        Ok(false) => Ok(()),
        Ok(true) => Err(threat(ctx, "prompt injection", None, "classifier")),
        Err(why) if state.cfg.security.fail_open => {
            metrics::counter!("heliport_security_classifier_errors_total").increment(1);
            tracing::warn!(request_id = %ctx.request_id, "the security classifier failed, letting the request through (security.fail_open): {why}");
            Ok(())
        }
        Err(why) => {
            metrics::counter!("heliport_security_classifier_errors_total").increment(1);
            Err(GatewayError::new(
                ErrorCode::UpstreamUnreachable,
                format!("the security classifier could not be asked: {why}"),
            )
            .into())
        }
    }
}

/// The refusal of a request found to be a threat.
fn threat(ctx: &mut Ctx, kind: &str, score: Option<f32>, by: &'static str) -> Rejection {
    metrics::counter!("heliport_security_threats_total", "by" => by).increment(1);
    ctx.threat = true;
    let mut details = serde_json::Map::new();
    details.insert("reason".into(), json!(kind));
    details.insert("detected_by".into(), json!(by));
    if let Some(score) = score {
        // Two decimals: enough to compare, without float noise.
        details.insert("score".into(), json!((score * 100.0).round() / 100.0));
    }
    GatewayError::new(
        ErrorCode::PromptThreat,
        format!("the prompt looks like a prompt-injection or jailbreak attempt ({kind}) and was not sent to the model"),
    )
    .with_details(details)
    .into()
}

/// Ask the operator's classifier: POST `{"text"}`, answer `{"threat": bool}`.
async fn classify(state: &GatewayState, url: &str, text: &str) -> Result<bool, String> {
    let body = Bytes::from(json!({ "text": text }).to_string());
    let req = Request::post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the classifier request: {e}"))?;
    let resp = state
        .upstream
        .send(req, Pool::Open, state.cfg.upstream_timeout)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("it answered {status}"));
    }
    let answer = Limited::new(resp.into_body(), MODERATION_ANSWER_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| format!("its answer could not be read: {e}"))?;
    let v: Value =
        serde_json::from_slice(&answer).map_err(|e| format!("its answer is not JSON: {e}"))?;
    v.get("threat")
        .and_then(Value::as_bool)
        .ok_or_else(|| "its answer has no boolean \"threat\"".to_string())
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
            return Err(e.to_string());
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
    ex.uid = crate::ids::new_v7();
    ex.request_id = crate::ids::new_v7();
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
