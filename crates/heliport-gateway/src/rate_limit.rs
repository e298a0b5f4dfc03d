//! The rate-limit phase (SPEC §3.3): `Helicone-RateLimit-Policy` checked
//! against a sliding window per organization, user or property value, in
//! the in-process limiter or Redis. Requests are counted when admitted;
//! `u=cents` is settled with the real cost when the answer ends.

use std::sync::Arc;
use std::time::Duration;

use heliport_core::error::{ErrorCode, GatewayError};
use heliport_core::options::{RateLimitPolicy, RateLimitSegment, RateLimitUnit};
use heliport_core::record::{Exchange, Outcome};
use heliport_core::traffic;
use heliport_state::{BucketKey, RateLimiter};
use http::{HeaderMap, HeaderValue};

use crate::pipeline::{Ctx, Rejection};
use crate::state::{GatewayState, OnStoreError};
use crate::tee::{CompletionHook, PendingRecord};

/// Where a request under a policy stands.
pub(crate) struct LimitDecision {
    pub policy: RateLimitPolicy,
    pub key: BucketKey,
    /// Usage of the window in the limiter's unit; `None` when the store
    /// could not be asked.
    pub used: Option<u64>,
}

fn bucket(ctx: &Ctx, policy: &RateLimitPolicy) -> BucketKey {
    let find = |name: &str| {
        ctx.opts
            .properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let segment = match &policy.segment {
        RateLimitSegment::Organization => "org".to_string(),
        RateLimitSegment::User => {
            format!("user:{}", ctx.opts.user_id.as_deref().unwrap_or_default())
        }
        RateLimitSegment::Property(p) => format!("prop:{p}:{}", find(p)),
    };
    BucketKey {
        org_id: Arc::from(ctx.org_id.as_deref().unwrap_or_default()),
        segment,
        policy: policy.normalized(),
    }
}

/// Admit the request under its policy, or refuse it with a 429.
pub(crate) async fn admit(state: &GatewayState, ctx: &mut Ctx) -> Result<(), Rejection> {
    let Some(policy) = ctx.opts.rate_limit.clone() else {
        return Ok(());
    };
    let key = bucket(ctx, &policy);
    let window = Duration::from_secs(policy.window_secs);
    let checked = state
        .limiter
        .admit(
            &key,
            window,
            traffic::quota_units(&policy),
            traffic::admission_units(&policy),
        )
        .await;
    match checked {
        Ok(a) => {
            let refused = (!a.admitted).then(|| refusal(&policy, a.retry_after_secs()));
            ctx.limit = Some(LimitDecision {
                policy,
                key,
                used: Some(a.used),
            });
            match refused {
                Some(r) => {
                    metrics::counter!("heliport_rate_limited_total").increment(1);
                    Err(r)
                }
                None => Ok(()),
            }
        }
        Err(e) => {
            metrics::counter!("heliport_rate_limit_store_errors_total").increment(1);
            tracing::warn!(error = %e, "rate-limit store unavailable (rate_limit.on_store_error decides)");
            let deny = state.cfg.on_limit_store_error == OnStoreError::Deny;
            ctx.limit = Some(LimitDecision {
                policy,
                key,
                used: None,
            });
            if deny {
                return Err(Rejection {
                    err: GatewayError::new(
                        ErrorCode::RateLimited,
                        "the rate limit cannot be checked right now (its store is unavailable) and rate_limit.on_store_error = \"deny\"",
                    ),
                    recorded: false,
                    headers: vec![(http::header::RETRY_AFTER, HeaderValue::from(1u64))],
                });
            }
            Ok(())
        }
    }
}

/// Where the bucket stands, without counting (a cache hit is never limited).
pub(crate) async fn peek(state: &GatewayState, ctx: &mut Ctx) {
    let Some(policy) = ctx.opts.rate_limit.clone() else {
        return;
    };
    let key = bucket(ctx, &policy);
    let window = Duration::from_secs(policy.window_secs);
    let used = match state
        .limiter
        .admit(&key, window, traffic::quota_units(&policy), 0)
        .await
    {
        Ok(a) => Some(a.used),
        Err(e) => {
            metrics::counter!("heliport_rate_limit_store_errors_total").increment(1);
            tracing::debug!(error = %e, "rate-limit store unavailable: a cache hit's headers leave Remaining out");
            None
        }
    };
    ctx.limit = Some(LimitDecision { policy, key, used });
}

fn refusal(policy: &RateLimitPolicy, retry_after_secs: Option<u64>) -> Rejection {
    let secs = retry_after_secs.unwrap_or(1);
    let unit = match policy.unit {
        RateLimitUnit::Request => "requests",
        RateLimitUnit::Cents => "cents",
    };
    let who = match &policy.segment {
        RateLimitSegment::Organization => String::new(),
        RateLimitSegment::User => " per user".to_string(),
        RateLimitSegment::Property(p) => format!(" per value of property '{p}'"),
    };
    let err = GatewayError::new(
        ErrorCode::RateLimited,
        format!(
            "rate limit exceeded: at most {} {unit} per {} s{who} (Helicone-RateLimit-Policy: {}); retry in {secs} s",
            policy.quota_text(),
            policy.window_secs,
            policy.normalized()
        ),
    );
    Rejection {
        err,
        recorded: false,
        headers: vec![(http::header::RETRY_AFTER, HeaderValue::from(secs))],
    }
}

/// `Helicone-RateLimit-Limit`, `-Remaining` (when known) and `-Policy`.
pub(crate) fn add_headers(h: &mut HeaderMap, d: &LimitDecision) {
    if let Ok(v) = HeaderValue::from_str(&d.policy.quota_text()) {
        h.insert("helicone-ratelimit-limit", v);
    }
    if let Some(used) = d.used {
        h.insert(
            "helicone-ratelimit-remaining",
            HeaderValue::from(traffic::remaining(&d.policy, used)),
        );
    }
    if let Ok(v) = HeaderValue::from_str(&d.policy.normalized()) {
        h.insert("helicone-ratelimit-policy", v);
    }
}

/// Under `u=cents`, add the answer's real cost to the bucket when it ends.
pub(crate) fn on_upstream_answer(state: &GatewayState, ctx: &Ctx, pending: &mut PendingRecord) {
    let Some(d) = &ctx.limit else {
        return;
    };
    if d.policy.unit != RateLimitUnit::Cents {
        return;
    }
    let hook = SettleCost {
        limiter: state.limiter.clone(),
        key: d.key.clone(),
        window: Duration::from_secs(d.policy.window_secs),
    };
    pending.on_complete(Box::new(hook), &state.prices);
}

struct SettleCost {
    limiter: Arc<dyn RateLimiter>,
    key: BucketKey,
    window: Duration,
}

impl CompletionHook for SettleCost {
    fn on_complete(self: Box<Self>, outcome: &Outcome, _exchange: &Exchange) {
        let success = outcome.status.is_some_and(|s| (200..300).contains(&s));
        let amount = match outcome.cost_nano_usd {
            Some(c) => u64::try_from(c).unwrap_or(0),
            None if !success => 0,
            None => {
                // Unpriced (or no usage reported): counted as 0, and flagged.
                metrics::counter!("heliport_rate_limit_unpriced_total").increment(1);
                tracing::debug!(model = ?outcome.model, "u=cents: the answer has no price; counted as 0");
                0
            }
        };
        if amount == 0 {
            return;
        }
        let SettleCost {
            limiter,
            key,
            window,
        } = *self;
        crate::tee::run_soon(async move {
            if let Err(e) = limiter.settle(&key, window, amount).await {
                metrics::counter!("heliport_rate_limit_store_errors_total").increment(1);
                tracing::warn!(error = %e, "could not add a request's cost to its rate-limit bucket");
            }
        });
    }
}
