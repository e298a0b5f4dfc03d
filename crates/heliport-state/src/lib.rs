//! heliport's shared traffic state (SPEC §3.3, §3.4): the response cache and
//! the rate limiters. Each is a trait with an in-process implementation
//! (bounded in bytes) and a Redis one (shared by every heliport instance,
//! updated atomically). The gateway holds them as `Arc<dyn ...>` and never
//! knows which it has.
//!
//! A store that fails (Redis down or slow) answers `Err(StateError)`; the
//! gateway decides what that means (a cache miss, or the configured
//! `rate_limit.on_store_error`), so requests keep flowing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use heliport_core::usage::Usage;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A boxed future, so the traits can be used as `dyn` objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared store that could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Redis refused, failed or is not connected (yet).
    #[error("redis: {0}")]
    Redis(String),
    /// The store did not answer within its time budget.
    #[error("the state store did not answer within {0:?}")]
    Timeout(Duration),
    /// A stored value that cannot be read back.
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
}

// ---------------------------------------------------------------------------
// Response cache
// ---------------------------------------------------------------------------

/// Where one request's cached answers live: its organization (tenants never
/// share entries) and a digest of everything else in the key (SPEC §3.4:
/// upstream URL, method, body minus ignored keys, seed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub org_id: Arc<str>,
    pub digest: [u8; 32],
}

/// One cached answer, replayed byte for byte on a hit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedResponse {
    pub status: u16,
    /// Response headers to replay (content type and the provider's own),
    /// without hop-by-hop or `Helicone-*` ones.
    pub headers: Vec<(String, String)>,
    /// The whole body; for a streamed answer, its SSE bytes as they came.
    pub body: Bytes,
    /// The answer was an SSE stream: replay it as one.
    pub streamed: bool,
    /// The request whose answer filled this slot (`cache_reference_id`).
    pub source_request_id: Uuid,
    /// The model that answered, and what the answer cost and used when it
    /// was made: a hit records them as what it saved.
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub cost_nano_usd: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub stored_at_ms: i64,
    pub expires_at_ms: i64,
}

impl CachedResponse {
    /// Bytes this entry holds in memory, for the in-process byte budget.
    pub fn weight(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 16)
                .sum::<usize>()
            + self.model.as_ref().map_or(0, String::len)
            + 160
    }
}

/// The response cache (SPEC §3.4). A key holds up to 20 bucket slots.
pub trait ResponseCache: Send + Sync + 'static {
    /// The unexpired entries stored under `key`, with their slot numbers.
    fn lookup<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Vec<(u8, Arc<CachedResponse>)>, StateError>>;

    /// Store `entry` in `slot` of `key`, kept until `entry.expires_at_ms`.
    fn store<'a>(
        &'a self,
        key: &'a CacheKey,
        slot: u8,
        entry: CachedResponse,
    ) -> BoxFuture<'a, Result<(), StateError>>;
}

// ---------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------

/// One rate-limit bucket: the organization, who inside it shares the bucket
/// (`org`, `user:<id>`, `prop:<name>:<value>`) and the normalized policy, so
/// two policies never share counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketKey {
    pub org_id: Arc<str>,
    pub segment: String,
    pub policy: String,
}

/// What one admission check found. Amounts are in the bucket's integer unit
/// (1 per request; nano-USD for `u=cents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub admitted: bool,
    /// Usage in the trailing window after this check (the request's own
    /// `add` included when admitted).
    pub used: u64,
    /// When refused: how long until enough usage leaves the window.
    pub retry_after: Option<Duration>,
}

/// Sliding-window limits (SPEC §3.3): usage is counted in sub-buckets no
/// coarser than window/60, and a request is admitted while the usage of the
/// trailing window is below the quota.
pub trait RateLimiter: Send + Sync + 'static {
    /// Admit a request if `used < quota` over the trailing `window`, adding
    /// `add` (0 for `u=cents`, whose cost is settled later) when admitted.
    /// Atomic: concurrent callers on one bucket (on any instance sharing the
    /// store) never see the same `used`.
    fn admit<'a>(
        &'a self,
        key: &'a BucketKey,
        window: Duration,
        quota: u64,
        add: u64,
    ) -> BoxFuture<'a, Result<Admission, StateError>>;

    /// Count `amount` into the bucket now (the real cost of a `u=cents`
    /// request, when its response ends).
    fn settle<'a>(
        &'a self,
        key: &'a BucketKey,
        window: Duration,
        amount: u64,
    ) -> BoxFuture<'a, Result<(), StateError>>;
}
