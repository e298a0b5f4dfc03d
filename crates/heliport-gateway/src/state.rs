//! What every request shares: configuration, providers, prices, keys, the
//! recorder and the upstream clients.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;

use heliport_core::pricing::PriceTable;
use heliport_core::provider::Providers;
use heliport_core::target::AllowedTargets;
use heliport_state::{RateLimiter, ResponseCache};
use heliport_store::auth::KeyCache;
use heliport_store::writer::Recorder;
use heliport_store::MetaStore;

use crate::upstream::Upstream;

/// `auth.mode` (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every proxied request needs a valid `Helicone-Auth` key.
    Required,
    /// Requests without a key are proxied and logged under the default organization.
    Optional,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "required" => Ok(AuthMode::Required),
            "optional" => Ok(AuthMode::Optional),
            other => Err(format!(
                "auth mode must be 'required' or 'optional', got '{other}'"
            )),
        }
    }
}

/// What a request under a rate-limit policy gets when the limit store
/// cannot answer (`rate_limit.on_store_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// Admit it (the default: requests keep flowing).
    Allow,
    /// Refuse it with a 429.
    Deny,
}

impl std::str::FromStr for OnStoreError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(OnStoreError::Allow),
            "deny" => Ok(OnStoreError::Deny),
            other => Err(format!(
                "rate_limit.on_store_error must be 'allow' or 'deny', got '{other}'"
            )),
        }
    }
}

/// Gateway settings, from `heliport serve`'s configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub auth_mode: AuthMode,
    pub default_org_id: String,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Longest pause allowed while a request body arrives (408 after).
    pub body_read_timeout: Duration,
    /// Largest body kept in a record (request and response each).
    pub body_cap_bytes: usize,
    /// Time allowed until the upstream's response head.
    pub upstream_timeout: Duration,
    /// Longest silence allowed inside a response body once it has started.
    pub stream_idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub allowed_targets: AllowedTargets,
    pub on_limit_store_error: OnStoreError,
    /// `Helicone-Moderations-Enabled` settings.
    pub moderation: crate::guards::ModerationSettings,
    /// `Helicone-LLM-Security-Enabled` settings.
    pub security: crate::guards::SecuritySettings,
}

/// Shared by every request.
pub struct GatewayState {
    pub cfg: GatewayConfig,
    pub providers: Providers,
    pub prices: Arc<PriceTable>,
    pub keys: Arc<KeyCache>,
    pub recorder: Recorder,
    pub upstream: Upstream,
    /// Organizations and keys (and `/readyz`'s check): never waits behind analytics reads.
    pub store: Arc<dyn MetaStore>,
    /// The response cache: in-process, or Redis shared by every instance.
    pub cache: Arc<dyn ResponseCache>,
    /// Rate-limit buckets: in-process, or Redis shared by every instance.
    pub limiter: Arc<dyn RateLimiter>,
    /// The counters every request moves.
    pub counters: RequestCounters,
}

/// The counters every request moves, registered once. The `counter!` macro
/// builds its key (a label list allocated), hashes it and looks it up in the
/// recorder's registry on every call.
pub struct RequestCounters {
    /// `heliport_requests_total`.
    pub requests: Counter,
    /// `heliport_upstream_responses_total` by `status`: 2xx, 3xx, 4xx, 5xx.
    upstream_responses: [Counter; 4],
}

impl RequestCounters {
    /// Registers the counters with the installed recorder: install it first,
    /// or they count nowhere.
    pub fn register() -> RequestCounters {
        RequestCounters {
            requests: metrics::counter!("heliport_requests_total"),
            upstream_responses: ["2xx", "3xx", "4xx", "5xx"].map(
                |class| metrics::counter!("heliport_upstream_responses_total", "status" => class),
            ),
        }
    }

    /// `heliport_upstream_responses_total` for an upstream answer's status.
    pub fn upstream_response(&self, status: http::StatusCode) -> &Counter {
        let [success, redirect, client_error, server_error] = &self.upstream_responses;
        match status.as_u16() {
            200..=299 => success,
            300..=399 => redirect,
            400..=499 => client_error,
            _ => server_error,
        }
    }
}
