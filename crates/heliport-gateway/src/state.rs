//! What every request shares: configuration, providers, prices, keys, the
//! recorder and the upstream clients.

use std::sync::Arc;
use std::time::Duration;

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
}
