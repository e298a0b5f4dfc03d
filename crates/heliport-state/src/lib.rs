//! heliport's shared traffic state (SPEC §3.3, §3.4): the response cache and
//! the rate limiters. Each is a trait with an in-process implementation
//! (bounded in bytes) and a Redis one (shared by every heliport instance,
//! updated atomically). The gateway holds them as `Arc<dyn ...>` and never
//! knows which it has.
//!
//! A store that fails (Redis down or slow) answers `Err(StateError)`; the
//! gateway decides what that means (a cache miss, or the configured
//! `rate_limit.on_store_error`), so requests keep flowing.

#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use heliport_core::usage::Usage;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod memory;
mod redis_backend;
mod window;

pub use memory::{MemoryCache, MemoryLimiter};
pub use redis_backend::{RedisCache, RedisConnection, RedisLimiter};

/// The in-process cache and limiter, for a single heliport instance: the
/// cache holds at most `cache_max_bytes`, the limiter's bucket table at most
/// `limiter_max_bytes`.
pub fn in_process(cache_max_bytes: u64, limiter_max_bytes: u64) -> Stores {
    (
        Arc::new(MemoryCache::new(cache_max_bytes)),
        Arc::new(MemoryLimiter::new(limiter_max_bytes)),
    )
}

/// The Redis cache and limiter, shared by every heliport instance pointed at
/// the same Redis, over one connection. Every call answers within `timeout`
/// (or fails with [`StateError::Timeout`]).
///
/// Only a malformed `url` is an error here. An unreachable Redis is not: the
/// connection is made in the background (retried with backoff), and until it
/// is up every call answers `Err(StateError::Redis("not connected"))`.
/// Call it inside a tokio runtime so connecting starts at once; outside one,
/// it starts on the first call.
pub fn redis(url: &str, timeout: Duration) -> Result<Stores, StateError> {
    let connection = RedisConnection::new(url, timeout)?;
    Ok((
        Arc::new(RedisCache::new(connection.clone())),
        Arc::new(RedisLimiter::new(connection)),
    ))
}

/// The most answers one cache key holds (`Helicone-Cache-Bucket-Max-Size`
/// is 1..=20): slots are `0..MAX_SLOTS`.
pub const MAX_SLOTS: u8 = 20;

/// The longest a cache entry is kept (SPEC §3.4: at most 365 days); a later
/// `expires_at_ms` is brought forward to this.
pub const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Milliseconds since the Unix epoch, the clock `expires_at_ms` is set by.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `expires_at_ms` brought within [`MAX_TTL`] of `now_ms`.
pub(crate) fn capped_expiry(now_ms: i64, expires_at_ms: i64) -> i64 {
    let max_ttl_ms = i64::try_from(MAX_TTL.as_millis()).unwrap_or(i64::MAX);
    expires_at_ms.min(now_ms.saturating_add(max_ttl_ms))
}

/// A boxed future, so the traits can be used as `dyn` objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a cache lookup finds: `(slot, entry)` pairs, in slot order.
pub type CacheHits = Vec<(u8, Arc<CachedResponse>)>;

/// The cache and the limiter the gateway holds.
pub type Stores = (Arc<dyn ResponseCache>, Arc<dyn RateLimiter>);

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
    /// The organization the entry belongs to.
    pub org_id: Arc<str>,
    /// A digest of the rest of the key (computed by the gateway).
    pub digest: [u8; 32],
}

/// One cached answer, replayed byte for byte on a hit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedResponse {
    /// The upstream's status code.
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
    /// Tokens the answer used.
    pub usage: Option<Usage>,
    /// What the answer cost, in nano-USD.
    pub cost_nano_usd: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub stored_at_ms: i64,
    /// Milliseconds since the Unix epoch; never returned by a lookup after.
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
    /// The unexpired entries stored under `key` in slots `0..slots` (the
    /// request's bucket size: slots past it are not read), with their slot
    /// numbers.
    fn lookup<'a>(
        &'a self,
        key: &'a CacheKey,
        slots: u8,
    ) -> BoxFuture<'a, Result<CacheHits, StateError>>;

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
    /// The organization the bucket belongs to.
    pub org_id: Arc<str>,
    /// Who shares the bucket: `org`, `user:<id>` or `prop:<name>:<value>`.
    pub segment: String,
    /// The normalized policy text.
    pub policy: String,
}

/// What one admission check found. Amounts are in the bucket's integer unit
/// (1 per request; nano-USD for `u=cents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The request may go ahead.
    pub admitted: bool,
    /// Usage in the trailing window after this check (the request's own
    /// `add` included when admitted).
    pub used: u64,
    /// When refused: how long until enough usage leaves the window for
    /// `used < quota` to hold again (if nothing else is counted meanwhile),
    /// to the millisecond and at least 1 ms; see
    /// [`Admission::retry_after_secs`] for a header value.
    pub retry_after: Option<Duration>,
}

impl Admission {
    /// `retry_after` for a `Retry-After` header: whole seconds, rounded up,
    /// at least 1 (a refusal never says "retry now").
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            secs.max(1)
        })
    }
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
