//! The in-process cache and limiter: one heliport instance, bounded in bytes.
//!
//! Both are moka caches with a byte weigher, so a flood of distinct keys
//! evicts the least useful entries instead of growing the process. Evicting a
//! rate-limit bucket forgets its usage, which can only admit more, never
//! fewer: the byte budget should hold every bucket active within a window.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use crate::window::{self, Ring};
use crate::{
    capped_expiry, now_ms, Admission, BoxFuture, BucketKey, CacheHits, CacheKey, CachedResponse,
    RateLimiter, ResponseCache, StateError, MAX_SLOTS,
};

/// moka weighs entries in `u32`; anything heavier counts as the maximum.
fn weight_u32(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// Response cache
// ---------------------------------------------------------------------------

/// One slot of one cache key. Slots are separate moka entries so each one
/// expires, and gives its bytes back, on its own schedule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SlotKey {
    org_id: Arc<str>,
    digest: [u8; 32],
    slot: u8,
}

/// Expires each slot at its entry's `expires_at_ms`.
struct EntryExpiry;

impl EntryExpiry {
    fn remaining(entry: &CachedResponse) -> Duration {
        let ms = entry.expires_at_ms.saturating_sub(now_ms()).max(0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(crate::MAX_TTL)
    }
}

impl Expiry<SlotKey, Arc<CachedResponse>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &SlotKey,
        value: &Arc<CachedResponse>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Self::remaining(value))
    }

    fn expire_after_update(
        &self,
        _key: &SlotKey,
        value: &Arc<CachedResponse>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        // A new answer in the slot brings its own expiry, not the old one's.
        Some(Self::remaining(value))
    }
}

/// The in-process response cache: at most `max_bytes` of entries (bodies,
/// headers and bookkeeping, as [`CachedResponse::weight`] counts them), each
/// dropped when it expires.
#[derive(Clone)]
pub struct MemoryCache {
    entries: Cache<SlotKey, Arc<CachedResponse>>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("bytes", &self.entries.weighted_size())
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl MemoryCache {
    /// A cache holding at most `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &SlotKey, value: &Arc<CachedResponse>| {
                weight_u32(value.weight().saturating_add(key.org_id.len() + 48))
            })
            .expire_after(EntryExpiry)
            .build();
        MemoryCache { entries }
    }

    /// Bytes held, by the weigher's count. moka applies evictions in
    /// batches: call [`MemoryCache::run_pending_tasks`] first for an exact
    /// figure.
    pub fn bytes(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Slots held (same caveat as [`MemoryCache::bytes`]).
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Apply pending evictions and expirations now instead of on moka's next
    /// batch (for metrics and tests).
    pub async fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks().await;
    }

    async fn lookup_slots(&self, key: &CacheKey, slots: u8) -> Vec<(u8, Arc<CachedResponse>)> {
        let now = now_ms();
        let mut found = Vec::new();
        for slot in 0..slots.min(MAX_SLOTS) {
            let slot_key = SlotKey {
                org_id: Arc::clone(&key.org_id),
                digest: key.digest,
                slot,
            };
            // moka drops expired entries lazily; the clock check makes an
            // entry past `expires_at_ms` invisible the moment it expires.
            if let Some(entry) = self.entries.get(&slot_key).await {
                if entry.expires_at_ms > now {
                    found.push((slot, entry));
                }
            }
        }
        found
    }

    async fn store_slot(
        &self,
        key: &CacheKey,
        slot: u8,
        mut entry: CachedResponse,
    ) -> Result<(), StateError> {
        check_slot(slot)?;
        let slot_key = SlotKey {
            org_id: Arc::clone(&key.org_id),
            digest: key.digest,
            slot,
        };
        let now = now_ms();
        entry.expires_at_ms = capped_expiry(now, entry.expires_at_ms);
        if entry.expires_at_ms <= now {
            // Storing an answer that is already stale empties the slot.
            self.entries.invalidate(&slot_key).await;
            return Ok(());
        }
        self.entries.insert(slot_key, Arc::new(entry)).await;
        Ok(())
    }
}

/// Slot numbers beyond [`MAX_SLOTS`] are a caller bug (the gateway refuses a
/// bucket size above 20 with a 400); they are refused rather than silently
/// stored somewhere else.
pub(crate) fn check_slot(slot: u8) -> Result<(), StateError> {
    if slot < MAX_SLOTS {
        Ok(())
    } else {
        Err(StateError::Corrupt(format!(
            "cache slot {slot} is beyond the {MAX_SLOTS} a key holds"
        )))
    }
}

impl ResponseCache for MemoryCache {
    fn lookup<'a>(
        &'a self,
        key: &'a CacheKey,
        slots: u8,
    ) -> BoxFuture<'a, Result<CacheHits, StateError>> {
        Box::pin(async move { Ok(self.lookup_slots(key, slots).await) })
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

/// A bucket's counters. Nothing awaits while the lock is held, so a
/// `std::sync::Mutex` makes each admission atomic without blocking the
/// runtime for longer than a few dozen additions.
#[derive(Debug)]
struct Bucket {
    window_ms: u64,
    ring: Mutex<Ring>,
}

impl Bucket {
    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic cannot happen inside the lock (plain arithmetic), and if one
        // did the counters would still be consistent numbers.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A bucket and the window it counts: the same policy text with another
/// window is another bucket.
type BucketSlot = (BucketKey, u64);

/// Forgets a bucket once it has been idle for a window (plus two sub-buckets
/// of margin): by then nothing it counted is inside any trailing window.
struct IdleExpiry;

impl IdleExpiry {
    fn idle_limit(bucket: &Bucket) -> Duration {
        let window_ms = bucket.window_ms;
        let idle_ms = window_ms.saturating_add(2 * window::sub_ms(window_ms));
        Duration::from_millis(idle_ms)
    }
}

impl Expiry<BucketSlot, Arc<Bucket>> for IdleExpiry {
    fn expire_after_create(
        &self,
        _key: &BucketSlot,
        value: &Arc<Bucket>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Self::idle_limit(value))
    }

    fn expire_after_read(
        &self,
        _key: &BucketSlot,
        value: &Arc<Bucket>,
        _read_at: Instant,
        _duration_until_expiry: Option<Duration>,
        _last_modified_at: Instant,
    ) -> Option<Duration> {
        Some(Self::idle_limit(value))
    }

    fn expire_after_update(
        &self,
        _key: &BucketSlot,
        value: &Arc<Bucket>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(Self::idle_limit(value))
    }
}

/// Where the in-process limiter reads the time: a monotonic clock, so a
/// wall-clock step never frees or freezes a bucket; tests drive their own.
#[derive(Debug, Clone)]
enum Clock {
    Monotonic(Instant),
    #[cfg(test)]
    Manual(Arc<std::sync::atomic::AtomicU64>),
}

impl Clock {
    fn now_ms(&self) -> u64 {
        match self {
            Clock::Monotonic(start) => {
                u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            #[cfg(test)]
            Clock::Manual(ms) => ms.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

/// The in-process sliding-window limiter: a table of buckets bounded to
/// `max_bytes`, each bucket forgotten once idle for its window.
#[derive(Clone)]
pub struct MemoryLimiter {
    buckets: Cache<BucketSlot, Arc<Bucket>>,
    clock: Clock,
}

impl std::fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("bytes", &self.buckets.weighted_size())
            .field("buckets", &self.buckets.entry_count())
            .finish()
    }
}

impl MemoryLimiter {
    /// A limiter whose bucket table holds at most `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        Self::with_clock(max_bytes, Clock::Monotonic(Instant::now()))
    }

    fn with_clock(max_bytes: u64, clock: Clock) -> Self {
        let buckets = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|(key, window_ms): &BucketSlot, _bucket: &Arc<Bucket>| {
                // Weighed once, at insertion: count the ring at its largest.
                let ring = Ring::max_len(*window_ms).saturating_mul(16);
                let text = key.org_id.len() + key.segment.len() + key.policy.len();
                weight_u32(
                    usize::try_from(ring)
                        .unwrap_or(usize::MAX)
                        .saturating_add(text + 192),
                )
            })
            .expire_after(IdleExpiry)
            .build();
        MemoryLimiter { buckets, clock }
    }

    /// Bytes held by the bucket table, by the weigher's count (moka applies
    /// evictions in batches: see [`MemoryLimiter::run_pending_tasks`]).
    pub fn bytes(&self) -> u64 {
        self.buckets.weighted_size()
    }

    /// Buckets held (same caveat as [`MemoryLimiter::bytes`]).
    pub fn bucket_count(&self) -> u64 {
        self.buckets.entry_count()
    }

    /// Apply pending evictions and expirations now (for metrics and tests).
    pub async fn run_pending_tasks(&self) {
        self.buckets.run_pending_tasks().await;
    }

    async fn bucket(&self, key: &BucketKey, window_ms: u64) -> Arc<Bucket> {
        self.buckets
            .get_with((key.clone(), window_ms), async move {
                Arc::new(Bucket {
                    window_ms,
                    ring: Mutex::new(Ring::new(window_ms)),
                })
            })
            .await
    }

    async fn admit_now(
        &self,
        key: &BucketKey,
        window: Duration,
        quota: u64,
        add: u64,
    ) -> Admission {
        let window_ms = window::window_ms(window);
        let bucket = self.bucket(key, window_ms).await;
        let decision = bucket.ring().admit(self.clock.now_ms(), quota, add);
        Admission {
            admitted: decision.admitted,
            used: decision.used,
            retry_after: decision.retry_after_ms.map(Duration::from_millis),
        }
    }

    async fn settle_now(&self, key: &BucketKey, window: Duration, amount: u64) {
        if amount == 0 {
            return;
        }
        let window_ms = window::window_ms(window);
        let bucket = self.bucket(key, window_ms).await;
        let now = self.clock.now_ms();
        let mut ring = bucket.ring();
        // Prune first so the ring stays within its length bound.
        ring.used(now);
        ring.add(now, amount);
    }
}

impl RateLimiter for MemoryLimiter {
    fn admit<'a>(
        &'a self,
        key: &'a BucketKey,
        window: Duration,
        quota: u64,
        add: u64,
    ) -> BoxFuture<'a, Result<Admission, StateError>> {
        Box::pin(async move { Ok(self.admit_now(key, window, quota, add).await) })
    }

    fn settle<'a>(
        &'a self,
        key: &'a BucketKey,
        window: Duration,
        amount: u64,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move {
            self.settle_now(key, window, amount).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use uuid::Uuid;

    use super::*;

    fn bucket_key(segment: &str) -> BucketKey {
        BucketKey {
            org_id: Arc::from("org-1"),
            segment: segment.to_string(),
            policy: "5;w=60".to_string(),
        }
    }

    fn manual() -> (MemoryLimiter, Arc<AtomicU64>) {
        let ms = Arc::new(AtomicU64::new(1_000_000));
        (
            MemoryLimiter::with_clock(1 << 20, Clock::Manual(Arc::clone(&ms))),
            ms,
        )
    }

    #[tokio::test]
    async fn admits_up_to_the_quota_then_slides() {
        let (limiter, clock) = manual();
        let key = bucket_key("org");
        let w = Duration::from_secs(60);
        for i in 1..=5 {
            let a = limiter.admit(&key, w, 5, 1).await.unwrap();
            assert!(a.admitted);
            assert_eq!(a.used, i);
        }
        clock.fetch_add(30_000, Ordering::SeqCst);
        let refused = limiter.admit(&key, w, 5, 1).await.unwrap();
        assert!(!refused.admitted);
        assert_eq!(refused.used, 5);
        // Counted in sub-bucket 1000 (1 000 000 ms / 1000), which leaves at
        // 1 060 999; the clock is at 1 030 000.
        assert_eq!(refused.retry_after, Some(Duration::from_millis(30_999)));
        clock.fetch_add(30_998, Ordering::SeqCst);
        assert!(!limiter.admit(&key, w, 5, 1).await.unwrap().admitted);
        clock.fetch_add(1, Ordering::SeqCst);
        let again = limiter.admit(&key, w, 5, 1).await.unwrap();
        assert!(again.admitted);
        assert_eq!(again.used, 1);
    }

    #[tokio::test]
    async fn settle_counts_cents_after_the_fact() {
        let (limiter, clock) = manual();
        let key = bucket_key("user:ab");
        let w = Duration::from_secs(1000);
        let first = limiter.admit(&key, w, 10_000, 0).await.unwrap();
        assert!(first.admitted);
        assert_eq!(first.used, 0);
        limiter.settle(&key, w, 12_000).await.unwrap();
        clock.fetch_add(1, Ordering::SeqCst);
        let refused = limiter.admit(&key, w, 10_000, 0).await.unwrap();
        assert!(!refused.admitted);
        assert_eq!(refused.used, 12_000);
    }

    #[tokio::test]
    async fn segments_policies_and_windows_are_separate_buckets() {
        let (limiter, _clock) = manual();
        let w = Duration::from_secs(60);
        assert!(
            limiter
                .admit(&bucket_key("user:a"), w, 1, 1)
                .await
                .unwrap()
                .admitted
        );
        assert!(
            !limiter
                .admit(&bucket_key("user:a"), w, 1, 1)
                .await
                .unwrap()
                .admitted
        );
        assert!(
            limiter
                .admit(&bucket_key("user:b"), w, 1, 1)
                .await
                .unwrap()
                .admitted
        );
        let mut other_policy = bucket_key("user:a");
        other_policy.policy = "1;w=60".to_string();
        assert!(
            limiter
                .admit(&other_policy, w, 1, 1)
                .await
                .unwrap()
                .admitted
        );
        let longer = Duration::from_secs(61);
        assert!(
            limiter
                .admit(&bucket_key("user:a"), longer, 1, 1)
                .await
                .unwrap()
                .admitted
        );
        let mut other_org = bucket_key("user:a");
        other_org.org_id = Arc::from("org-2");
        assert!(limiter.admit(&other_org, w, 1, 1).await.unwrap().admitted);
    }

    #[tokio::test]
    async fn the_bucket_table_stays_within_its_bytes() {
        let max = 64 * 1024;
        let limiter = MemoryLimiter::new(max);
        let w = Duration::from_secs(60);
        for i in 0..5_000 {
            let key = bucket_key(&format!("user:{i}"));
            limiter.admit(&key, w, 5, 1).await.unwrap();
        }
        limiter.run_pending_tasks().await;
        assert!(limiter.bytes() <= max, "{} > {max}", limiter.bytes());
        assert!(limiter.bucket_count() > 0);
    }

    #[tokio::test]
    async fn idle_buckets_are_forgotten_after_their_window() {
        let limiter = MemoryLimiter::new(1 << 20);
        let w = Duration::from_millis(30);
        limiter.admit(&bucket_key("org"), w, 5, 1).await.unwrap();
        limiter.run_pending_tasks().await;
        assert_eq!(limiter.bucket_count(), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while limiter.bucket_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            limiter.run_pending_tasks().await;
        }
        assert_eq!(limiter.bucket_count(), 0);
    }

    fn entry(body: &[u8], expires_in_ms: i64) -> CachedResponse {
        let now = now_ms();
        CachedResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::copy_from_slice(body),
            streamed: false,
            source_request_id: Uuid::new_v4(),
            model: Some("gpt-4o-mini".into()),
            usage: None,
            cost_nano_usd: Some(12),
            stored_at_ms: now,
            expires_at_ms: now + expires_in_ms,
        }
    }

    fn cache_key(n: u32) -> CacheKey {
        let mut digest = [0u8; 32];
        digest[..4].copy_from_slice(&n.to_be_bytes());
        CacheKey {
            org_id: Arc::from("org-1"),
            digest,
        }
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_bytes() {
        let max = 256 * 1024;
        let cache = MemoryCache::new(max);
        let body = vec![b'x'; 4096];
        // 2000 × ~4.3 KB ≈ 8.6 MB offered to a 256 KB cache.
        for i in 0..2_000 {
            cache
                .store(&cache_key(i), (i % 3) as u8, entry(&body, 60_000))
                .await
                .unwrap();
        }
        cache.run_pending_tasks().await;
        assert!(cache.bytes() <= max, "{} > {max}", cache.bytes());
        assert!(cache.entry_count() > 10);
    }

    #[tokio::test]
    async fn an_entry_heavier_than_the_whole_cache_is_not_kept() {
        let cache = MemoryCache::new(1024);
        let key = cache_key(1);
        cache
            .store(&key, 0, entry(&[0u8; 4096], 60_000))
            .await
            .unwrap();
        cache.run_pending_tasks().await;
        assert!(cache.lookup(&key, MAX_SLOTS).await.unwrap().is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[tokio::test]
    async fn expired_entries_are_reclaimed() {
        let cache = MemoryCache::new(1 << 20);
        let key = cache_key(7);
        cache.store(&key, 0, entry(b"soon gone", 40)).await.unwrap();
        cache.store(&key, 1, entry(b"stays", 60_000)).await.unwrap();
        cache.run_pending_tasks().await;
        assert_eq!(cache.entry_count(), 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.entry_count() > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            cache.run_pending_tasks().await;
        }
        assert_eq!(cache.entry_count(), 1);
        let found = cache.lookup(&key, MAX_SLOTS).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 1);
    }

    #[tokio::test]
    async fn storing_a_stale_answer_empties_the_slot() {
        let cache = MemoryCache::new(1 << 20);
        let key = cache_key(8);
        cache.store(&key, 2, entry(b"fresh", 60_000)).await.unwrap();
        cache.store(&key, 2, entry(b"stale", -1)).await.unwrap();
        assert!(cache.lookup(&key, MAX_SLOTS).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn expiry_is_capped_at_365_days() {
        let cache = MemoryCache::new(1 << 20);
        let key = cache_key(9);
        let far = 10 * 365 * 24 * 3_600_000;
        cache.store(&key, 0, entry(b"long", far)).await.unwrap();
        let found = cache.lookup(&key, MAX_SLOTS).await.unwrap();
        let max = now_ms() + crate::MAX_TTL.as_millis() as i64;
        assert!(found[0].1.expires_at_ms <= max);
    }
}
