//! The Redis cache and limiter, shared by every heliport instance.
//!
//! One [`RedisConnection`] (a `ConnectionManager` made in the background)
//! serves both. heliport must start while Redis is down, so connecting never
//! blocks construction: until the first connection is made every call fails
//! fast with "not connected"; after it, the manager reconnects by itself.
//!
//! Keys live under `heliport:` with a cluster hash tag (`{...}`) around what
//! one script touches, so a Redis Cluster would keep each script's keys in
//! one slot:
//! - cache: `heliport:cache:{<org>}:<hex digest>`, a hash of slot → entry;
//! - limits: `heliport:rl:{<org>:<hash of segment, policy, window>}`, a hash
//!   of sub-bucket index → amount. Segments carry user ids and property
//!   values of any length, so they enter the key only hashed.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use heliport_core::redact::redact_query;
use heliport_core::usage::Usage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use uuid::Uuid;

use crate::memory::check_slot;
use crate::window;
use crate::{
    capped_expiry, now_ms, Admission, BoxFuture, BucketKey, CacheHits, CacheKey, CachedResponse,
    RateLimiter, ResponseCache, StateError,
};

/// The first retry of a failed first connection comes this soon ...
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// ... and retries slow down to at most this: a Redis that comes back is
/// used within a couple of seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often an idle connection is checked, so `heliport_redis_connected`
/// follows Redis even when no request uses it.
const HEALTH_EVERY: Duration = Duration::from_secs(5);

fn count_error(op: &'static str) {
    metrics::counter!("heliport_redis_errors_total", "op" => op).increment(1);
}

// ---------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------

struct Inner {
    client: redis::Client,
    /// Set once, by the background task, when the first connection is up.
    manager: OnceLock<ConnectionManager>,
    /// Whether the last exchange with Redis worked.
    connected: watch::Sender<bool>,
    timeout: Duration,
    /// The URL without credentials, for logs.
    url: String,
    started: AtomicBool,
    /// The runtime that started the connector. Every exchange runs there:
    /// the connection manager starts its reconnects on the runtime of the
    /// call that meets the failure, and a request thread's runtime may stop
    /// (at shutdown) while others still use the connection.
    home: OnceLock<tokio::runtime::Handle>,
}

impl Inner {
    /// Record whether Redis answered; log and publish only the changes, so
    /// an outage is one warning and a gauge, not a line per request.
    fn mark(&self, up: bool) {
        // The common case (no change) only reads: every call passes here.
        if *self.connected.borrow() == up {
            return;
        }
        let changed = self.connected.send_if_modified(|now| {
            let changed = *now != up;
            *now = up;
            changed
        });
        if changed {
            metrics::gauge!("heliport_redis_connected").set(if up { 1.0 } else { 0.0 });
            if up {
                tracing::info!(url = %self.url, "redis connected");
            } else {
                tracing::warn!(url = %self.url, "redis connection lost");
            }
        }
    }

    /// How long an answer may take before the connection is deemed stuck
    /// and replaced. Longer than a call's budget: calls give up first (and
    /// report `Timeout`), while the health check waits this long, so a
    /// silently dead connection is found and replaced even when idle.
    fn stuck_after(&self) -> Duration {
        self.timeout.saturating_mul(4).max(Duration::from_secs(1))
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout.max(Duration::from_secs(1))))
            .set_response_timeout(Some(self.stuck_after()))
            // Reconnects happen while calls wait on them: keep each attempt
            // short, the next call starts another.
            .set_number_of_retries(1)
            .set_min_delay(MIN_BACKOFF)
            .set_max_delay(MAX_BACKOFF)
    }
}

/// A handle on one Redis server, shared by a [`RedisCache`] and a
/// [`RedisLimiter`]. Cloning it shares the connection.
#[derive(Clone)]
pub struct RedisConnection {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection")
            .field("url", &self.inner.url)
            .field("connected", &self.is_connected())
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl RedisConnection {
    /// A connection to `url` (`redis://[user:password@]host[:port][/db]`, or
    /// `redis+unix:///path`); each call is bounded by `timeout`.
    ///
    /// Only a malformed URL is an error. Connecting happens in the
    /// background, retried with backoff until Redis answers; inside a tokio
    /// runtime it starts now, otherwise on the first call.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, StateError> {
        let shown = redact_query(url).into_owned();
        // The parser's messages name what is wrong without quoting the URL;
        // the redacted URL is the only form of it that goes anywhere.
        let client = redis::Client::open(url)
            .map_err(|e| StateError::Redis(format!("invalid redis URL {shown}: {e}")))?;
        let (connected, _) = watch::channel(false);
        metrics::gauge!("heliport_redis_connected").set(0.0);
        let connection = RedisConnection {
            inner: Arc::new(Inner {
                client,
                manager: OnceLock::new(),
                connected,
                timeout: timeout.max(Duration::from_millis(1)),
                url: shown,
                started: AtomicBool::new(false),
                home: OnceLock::new(),
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            connection.start();
        }
        Ok(connection)
    }

    /// Whether the last exchange with Redis worked.
    pub fn is_connected(&self) -> bool {
        *self.inner.connected.borrow()
    }

    /// Wait until Redis answers, at most `within`; true if it did.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        self.start();
        let mut rx = self.inner.connected.subscribe();
        let up = tokio::time::timeout(within, rx.wait_for(|up| *up))
            .await
            .is_ok_and(|seen| seen.is_ok());
        up
    }

    /// The URL, credentials removed: fit for logs.
    pub fn redacted_url(&self) -> &str {
        &self.inner.url
    }

    /// The time budget of each call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Start the background connector once.
    fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(home) = tokio::runtime::Handle::try_current() else {
            // Outside a runtime: the first call, inside one, starts it.
            self.inner.started.store(false, Ordering::SeqCst);
            return;
        };
        let _ = self.inner.home.set(home.clone());
        // Only a weak reference: dropping the last handle ends the task.
        home.spawn(connect_and_watch(Arc::downgrade(&self.inner)));
    }

    /// Run one exchange with Redis: "not connected" before the first
    /// connection, `Timeout` past the budget, every failure counted.
    async fn call<T, F, Fut>(&self, op: &'static str, exchange: F) -> Result<T, StateError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>> + Send + 'static,
        T: Send + 'static,
    {
        self.start();
        let (Some(manager), Some(home)) = (self.inner.manager.get(), self.inner.home.get()) else {
            count_error(op);
            return Err(StateError::Redis("not connected".to_string()));
        };
        let exchange = tokio::time::timeout(self.inner.timeout, exchange(manager.clone()));
        let outcome = match home.spawn(exchange).await {
            Ok(outcome) => outcome,
            Err(e) => {
                count_error(op);
                return Err(StateError::Redis(format!("the redis exchange ended: {e}")));
            }
        };
        match outcome {
            Ok(Ok(value)) => {
                self.inner.mark(true);
                Ok(value)
            }
            Ok(Err(e)) => {
                count_error(op);
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    self.inner.mark(false);
                }
                tracing::debug!(op, error = %e, "redis call failed");
                Err(StateError::Redis(e.to_string()))
            }
            Err(_) => {
                count_error(op);
                tracing::debug!(op, timeout = ?self.inner.timeout, "redis call timed out");
                Err(StateError::Timeout(self.inner.timeout))
            }
        }
    }
}

/// Make the first connection (retrying with backoff), then check it now and
/// then. Ends when the last handle is dropped.
async fn connect_and_watch(inner: Weak<Inner>) {
    let mut delay = MIN_BACKOFF;
    let mut attempts: u32 = 0;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        attempts = attempts.saturating_add(1);
        // Bounded here too: a server that accepts but never answers must not
        // stall the retries.
        let budget = strong.timeout.max(Duration::from_secs(1)).saturating_mul(2);
        let attempt = tokio::time::timeout(
            budget,
            ConnectionManager::new_with_config(strong.client.clone(), strong.manager_config()),
        )
        .await;
        let failure = match attempt {
            Ok(Ok(manager)) => {
                // Only this task sets it, once.
                let _ = strong.manager.set(manager);
                strong.mark(true);
                break;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {budget:?}"),
        };
        count_error("connect");
        // Powers of two: the first failures, then ever more rarely.
        if attempts.is_power_of_two() {
            tracing::warn!(url = %strong.url, attempts, error = %failure, "redis not reachable yet; retrying");
        }
        drop(strong);
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2).min(MAX_BACKOFF);
    }
    let mut ticks = tokio::time::interval(HEALTH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let Some(mut manager) = strong.manager.get().cloned() else {
            return;
        };
        let ping = redis::cmd("PING");
        let budget = strong.stuck_after().saturating_add(Duration::from_secs(1));
        let answered = matches!(
            tokio::time::timeout(budget, ping.query_async::<String>(&mut manager)).await,
            Ok(Ok(_))
        );
        if !answered {
            count_error("ping");
        }
        strong.mark(answered);
    }
}

/// A short, fixed-length stand-in for text that can be long or hold anything.
fn hash_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    hex::encode(digest.get(..16).unwrap_or(&digest))
}

// ---------------------------------------------------------------------------
// Response cache
// ---------------------------------------------------------------------------

/// Store one slot and push the key's expiry out to the furthest entry. The
/// comparison uses the server's clock for the current expiry; entries carry
/// the instance's (`expires_at_ms`), the only clock they were set by.
const CACHE_STORE: &str = r"
redis.replicate_commands()
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local want = tonumber(ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now + ttl >= want then
    return 0
  end
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// What a stored entry holds besides its body, in JSON ahead of the raw body
/// bytes (JSON would make a byte string an array of numbers, 3–4× larger).
#[derive(Serialize, Deserialize)]
struct StoredMeta {
    status: u16,
    headers: Vec<(String, String)>,
    streamed: bool,
    source_request_id: Uuid,
    model: Option<String>,
    usage: Option<Usage>,
    cost_nano_usd: Option<i64>,
    stored_at_ms: i64,
    expires_at_ms: i64,
}

/// The stored form: `HC1`, the metadata length (u32, big-endian), the JSON
/// metadata, then the body as it is.
const MAGIC: &[u8; 3] = b"HC1";

fn encode(entry: &CachedResponse) -> Result<Vec<u8>, StateError> {
    let meta = StoredMeta {
        status: entry.status,
        headers: entry.headers.clone(),
        streamed: entry.streamed,
        source_request_id: entry.source_request_id,
        model: entry.model.clone(),
        usage: entry.usage,
        cost_nano_usd: entry.cost_nano_usd,
        stored_at_ms: entry.stored_at_ms,
        expires_at_ms: entry.expires_at_ms,
    };
    let json = serde_json::to_vec(&meta).map_err(|e| StateError::Corrupt(e.to_string()))?;
    let len = u32::try_from(json.len())
        .map_err(|_| StateError::Corrupt("cache entry headers too large".to_string()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len() + entry.body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&entry.body);
    Ok(out)
}

fn decode(stored: Vec<u8>) -> Result<CachedResponse, StateError> {
    let corrupt = |what: &str| StateError::Corrupt(format!("cache entry: {what}"));
    let rest = stored
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| corrupt("unknown format"))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("truncated"))?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| corrupt("too long"))?;
    let (json, _) = rest
        .split_at_checked(len)
        .ok_or_else(|| corrupt("truncated"))?;
    let meta: StoredMeta = serde_json::from_slice(json).map_err(|e| corrupt(&e.to_string()))?;
    let body_start = MAGIC.len() + 4 + len;
    // The body is a view into the value Redis sent, not a copy of it.
    let all = Bytes::from(stored);
    let body = if body_start <= all.len() {
        all.slice(body_start..)
    } else {
        return Err(corrupt("truncated"));
    };
    Ok(CachedResponse {
        status: meta.status,
        headers: meta.headers,
        body,
        streamed: meta.streamed,
        source_request_id: meta.source_request_id,
        model: meta.model,
        usage: meta.usage,
        cost_nano_usd: meta.cost_nano_usd,
        stored_at_ms: meta.stored_at_ms,
        expires_at_ms: meta.expires_at_ms,
    })
}

/// The response cache in Redis: one hash per cache key, a field per slot.
#[derive(Debug, Clone)]
pub struct RedisCache {
    connection: RedisConnection,
    store_script: Arc<Script>,
}

impl RedisCache {
    /// A cache over `connection`.
    pub fn new(connection: RedisConnection) -> Self {
        RedisCache {
            connection,
            store_script: Arc::new(Script::new(CACHE_STORE)),
        }
    }

    /// The Redis key of a cache key.
    fn redis_key(key: &CacheKey) -> String {
        format!(
            "heliport:cache:{{{}}}:{}",
            key.org_id,
            hex::encode(key.digest)
        )
    }

    async fn lookup_slots(&self, key: &CacheKey, slots: u8) -> Result<CacheHits, StateError> {
        let redis_key = Self::redis_key(key);
        let slots = slots.clamp(1, crate::MAX_SLOTS);
        // Only the request's buckets are read: a key may hold up to 20 answers.
        let values: Vec<Option<Vec<u8>>> = self
            .connection
            .call("cache_lookup", |mut conn| async move {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(&redis_key);
                for slot in 0..slots {
                    cmd.arg(slot);
                }
                cmd.query_async(&mut conn).await
            })
            .await?;
        let now = now_ms();
        let mut found = Vec::with_capacity(values.len());
        for (slot, value) in (0..slots).zip(values) {
            let Some(value) = value else {
                continue;
            };
            match decode(value) {
                Ok(entry) if entry.expires_at_ms > now => found.push((slot, Arc::new(entry))),
                Ok(_) => {}
                // One unreadable slot (another version's format, a hand
                // edit) is a miss for that slot, not for the whole key; the
                // next store overwrites it.
                Err(e) => {
                    count_error("cache_decode");
                    tracing::warn!(slot, error = %e, "unreadable cache entry in redis");
                }
            }
        }
        found.sort_by_key(|(slot, _)| *slot);
        Ok(found)
    }

    async fn store_slot(
        &self,
        key: &CacheKey,
        slot: u8,
        mut entry: CachedResponse,
    ) -> Result<(), StateError> {
        check_slot(slot)?;
        let now = now_ms();
        entry.expires_at_ms = capped_expiry(now, entry.expires_at_ms);
        if entry.expires_at_ms <= now {
            return Ok(());
        }
        let value = encode(&entry)?;
        let redis_key = Self::redis_key(key);
        let script = Arc::clone(&self.store_script);
        self.connection
            .call("cache_store", |mut conn| async move {
                script
                    .key(&redis_key)
                    .arg(slot)
                    .arg(value)
                    .arg(entry.expires_at_ms)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        Ok(())
    }
}

impl ResponseCache for RedisCache {
    fn lookup<'a>(
        &'a self,
        key: &'a CacheKey,
        slots: u8,
    ) -> BoxFuture<'a, Result<CacheHits, StateError>> {
        Box::pin(self.lookup_slots(key, slots))
    }

    fn store<'a>(
        &'a self,
        key: &'a CacheKey,
        slot: u8,
        entry: CachedResponse,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(self.store_slot(key, slot, entry))
    }
}

// ---------------------------------------------------------------------------
// Rate limiter
// ---------------------------------------------------------------------------

/// One admission (or settlement) as a single atomic step, on the server's
/// clock so instances with skewed clocks agree. The arithmetic is
/// `window.rs`'s, which the unit tests pin.
///
/// KEYS[1]: the bucket, a hash of sub-bucket index -> amount.
/// ARGV: window ms, sub-bucket ms, quota, amount to add, settle (1: count the
/// amount whatever the usage).
/// Returns {admitted 0/1, used, retry-after ms (0 when admitted)}.
const LIMIT: &str = r"
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local sub = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local add = tonumber(ARGV[4])
local oldest = math.floor((now + 1 - window) / sub)
local raw = redis.call('HGETALL', KEYS[1])
local counted = {}
local used = 0
for i = 1, #raw, 2 do
  local index = tonumber(raw[i])
  local n = tonumber(raw[i + 1])
  if index == nil or n == nil or index < oldest then
    redis.call('HDEL', KEYS[1], raw[i])
  else
    used = used + n
    counted[#counted + 1] = {index, n}
  end
end
if ARGV[5] == '1' or used < quota then
  if add > 0 then
    local current = string.format('%d', math.floor(now / sub))
    redis.call('HINCRBY', KEYS[1], current, ARGV[4])
    redis.call('PEXPIRE', KEYS[1], window + sub)
  end
  return {1, used + add, 0}
end
table.sort(counted, function(a, b) return a[1] < b[1] end)
local remaining = used
local retry = window
for _, c in ipairs(counted) do
  remaining = remaining - c[2]
  if remaining < quota then
    retry = (c[1] + 1) * sub + window - 1 - now
    break
  end
end
if retry < 1 then
  retry = 1
end
return {0, used, retry}
";

/// The sliding-window limiter in Redis: every instance sharing the Redis
/// counts into the same buckets, each check one atomic script.
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    connection: RedisConnection,
    script: Arc<Script>,
}

impl RedisLimiter {
    /// A limiter over `connection`.
    pub fn new(connection: RedisConnection) -> Self {
        RedisLimiter {
            connection,
            script: Arc::new(Script::new(LIMIT)),
        }
    }

    /// The Redis key of a bucket counting windows of `window_ms`.
    fn redis_key(key: &BucketKey, window_ms: u64) -> String {
        let bucket = hash_hex(&[
            key.segment.as_bytes(),
            key.policy.as_bytes(),
            &window_ms.to_be_bytes(),
        ]);
        format!("heliport:rl:{{{}:{bucket}}}", key.org_id)
    }

    async fn run(
        &self,
        op: &'static str,
        key: &BucketKey,
        window: Duration,
        quota: u64,
        add: u64,
        settle: bool,
    ) -> Result<Admission, StateError> {
        let window_ms = window::window_ms(window);
        let sub_ms = window::sub_ms(window_ms);
        let redis_key = Self::redis_key(key, window_ms);
        let script = Arc::clone(&self.script);
        // Lua compares in doubles: keep every number exact.
        let quota = window::clamp_amount(quota);
        let add = window::clamp_amount(add);
        let reply: Vec<i64> = self
            .connection
            .call(op, |mut conn| async move {
                script
                    .key(&redis_key)
                    .arg(window_ms)
                    .arg(sub_ms)
                    .arg(quota)
                    .arg(add)
                    .arg(u8::from(settle))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let [admitted, used, retry_ms] = reply.as_slice() else {
            count_error(op);
            return Err(StateError::Corrupt(format!(
                "rate-limit script answered {reply:?}"
            )));
        };
        let admitted = *admitted == 1;
        Ok(Admission {
            admitted,
            used: u64::try_from(*used).unwrap_or(0),
            retry_after: (!admitted)
                .then(|| Duration::from_millis(u64::try_from(*retry_ms).unwrap_or(1).max(1))),
        })
    }
}

impl RateLimiter for RedisLimiter {
    fn admit<'a>(
        &'a self,
        key: &'a BucketKey,
        window: Duration,
        quota: u64,
        add: u64,
    ) -> BoxFuture<'a, Result<Admission, StateError>> {
        Box::pin(self.run("rl_admit", key, window, quota, add, false))
    }

    fn settle<'a>(
        &'a self,
        key: &'a BucketKey,
        window: Duration,
        amount: u64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            if amount == 0 {
                return Ok(());
            }
            self.run("rl_settle", key, window, 0, amount, true)
                .await
                .map(|_| ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(body: &[u8]) -> CachedResponse {
        CachedResponse {
            status: 201,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("x-ünïcode".into(), "✓".into()),
            ],
            body: Bytes::copy_from_slice(body),
            streamed: true,
            source_request_id: Uuid::new_v4(),
            model: Some("claude".into()),
            usage: Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
                ..Usage::default()
            }),
            cost_nano_usd: Some(-5),
            stored_at_ms: 1,
            expires_at_ms: 2,
        }
    }

    #[test]
    fn entries_round_trip_binary_and_utf8_bodies() {
        let binary: Vec<u8> = (0..=255u8).chain([0, 0xff, 0xc3]).collect();
        for body in [
            &b""[..],
            "données ✓ 🚀\n\ndata: [DONE]\n\n".as_bytes(),
            &binary,
        ] {
            let entry = sample(body);
            let back = decode(encode(&entry).unwrap()).unwrap();
            assert_eq!(back.body, entry.body);
            assert_eq!(back.headers, entry.headers);
            assert_eq!(back.status, 201);
            assert!(back.streamed);
            assert_eq!(back.source_request_id, entry.source_request_id);
            assert_eq!(back.model, entry.model);
            assert_eq!(back.usage, entry.usage);
            assert_eq!(back.cost_nano_usd, Some(-5));
            assert_eq!((back.stored_at_ms, back.expires_at_ms), (1, 2));
        }
    }

    #[test]
    fn damaged_entries_are_errors_not_panics() {
        let good = encode(&sample(b"body")).unwrap();
        for cut in 0..good.len().min(40) {
            assert!(decode(good[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        assert!(decode(b"XX1\0\0\0\0".to_vec()).is_err());
        let mut huge_len = good.clone();
        huge_len[3..7].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(huge_len).is_err());
    }

    #[test]
    fn keys_share_a_hash_tag_and_keep_long_values_out() {
        let key = BucketKey {
            org_id: Arc::from("org-9"),
            segment: format!("prop:team:{}", "x".repeat(10_000)),
            policy: "5;w=60;s=team".into(),
        };
        let k = RedisLimiter::redis_key(&key, 60_000);
        assert!(k.starts_with("heliport:rl:{org-9:"), "{k}");
        assert!(k.ends_with('}'));
        assert!(k.len() < 80);
        assert_ne!(k, RedisLimiter::redis_key(&key, 61_000));
        let cache = CacheKey {
            org_id: Arc::from("org-9"),
            digest: [0xab; 32],
        };
        assert_eq!(
            RedisCache::redis_key(&cache),
            format!("heliport:cache:{{org-9}}:{}", "ab".repeat(32))
        );
    }

    #[test]
    fn a_bad_url_is_an_error_and_never_shows_its_password() {
        let err = RedisConnection::new(
            "redis://user:hunter2@host:notaport/",
            Duration::from_millis(50),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(RedisConnection::new("http://x", Duration::from_millis(50)).is_err());
    }
}
