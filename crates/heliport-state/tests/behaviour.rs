//! One behaviour suite, run against the in-process and the Redis stores.
//!
//! The Redis half uses the Redis `support::test_redis` finds (one already
//! running, or one it starts), under a fresh organization id per test, so
//! runs and parallel tests never share a key.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test stops at the first thing that is not as expected"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use heliport_state::{
    Admission, BucketKey, CacheKey, CachedResponse, MemoryCache, MemoryLimiter, RateLimiter,
    RedisCache, RedisConnection, RedisLimiter, ResponseCache, StateError,
};
use tokio::sync::Barrier;
use uuid::Uuid;

mod support;

const TIMEOUT: Duration = Duration::from_millis(250);

fn fresh_org() -> Arc<str> {
    Arc::from(format!("test-{}", Uuid::new_v4()).as_str())
}

/// A connection to the test Redis, or `None` when told to skip.
async fn test_redis() -> Option<RedisConnection> {
    let redis = support::test_redis()?;
    let connection = RedisConnection::new(&redis.url, TIMEOUT).unwrap();
    assert!(
        connection.wait_connected(Duration::from_secs(5)).await,
        "no answer from the Redis at {}",
        redis.addr
    );
    Some(connection)
}

fn bucket(org: &Arc<str>, segment: &str, policy: &str) -> BucketKey {
    BucketKey {
        org_id: Arc::clone(org),
        segment: segment.to_string(),
        policy: policy.to_string(),
    }
}

/// Ask until admitted (each refused ask adds nothing), at most `within`.
async fn admitted_within(
    limiter: &dyn RateLimiter,
    key: &BucketKey,
    window: Duration,
    quota: u64,
    within: Duration,
) -> Option<Admission> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let a = limiter.admit(key, window, quota, 1).await.unwrap();
        if a.admitted {
            return Some(a);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

// ---------------------------------------------------------------------------
// The limiter suite
// ---------------------------------------------------------------------------

async fn limiter_suite(limiter: Arc<dyn RateLimiter>) {
    let org = fresh_org();
    let minute = Duration::from_secs(60);

    // Admitted while used < quota; `used` includes the request's own add.
    let key = bucket(&org, "org", "3;w=60");
    for expected in 1..=3 {
        let a = limiter.admit(&key, minute, 3, 1).await.unwrap();
        assert!(a.admitted);
        assert_eq!(a.used, expected);
        assert_eq!(a.retry_after, None);
        assert_eq!(a.retry_after_secs(), None);
    }
    let refused = limiter.admit(&key, minute, 3, 1).await.unwrap();
    assert!(!refused.admitted);
    assert_eq!(refused.used, 3);
    // Everything was counted within the last second: it leaves in a window
    // (plus at most one sub-bucket), less the time spent since.
    let retry = refused.retry_after.unwrap();
    assert!(retry > Duration::from_secs(58), "{retry:?}");
    assert!(retry <= Duration::from_secs(61), "{retry:?}");
    assert!((59..=61).contains(&refused.retry_after_secs().unwrap()));
    // A refused check adds nothing.
    assert_eq!(limiter.admit(&key, minute, 3, 1).await.unwrap().used, 3);

    // Segments, policies and organizations are separate buckets.
    let user_a = bucket(&org, "user:a", "1;w=60;s=user");
    let user_b = bucket(&org, "user:b", "1;w=60;s=user");
    assert!(limiter.admit(&user_a, minute, 1, 1).await.unwrap().admitted);
    assert!(!limiter.admit(&user_a, minute, 1, 1).await.unwrap().admitted);
    assert!(limiter.admit(&user_b, minute, 1, 1).await.unwrap().admitted);
    let other_policy = bucket(&org, "user:a", "2;w=60;s=user");
    assert!(
        limiter
            .admit(&other_policy, minute, 2, 1)
            .await
            .unwrap()
            .admitted
    );
    let other_org = bucket(&fresh_org(), "user:a", "1;w=60;s=user");
    assert!(
        limiter
            .admit(&other_org, minute, 1, 1)
            .await
            .unwrap()
            .admitted
    );
    // A huge property value is just another bucket.
    let huge = bucket(
        &org,
        &format!("prop:team:{}", "z".repeat(100_000)),
        "1;w=60;s=team",
    );
    assert!(limiter.admit(&huge, minute, 1, 1).await.unwrap().admitted);
    assert!(!limiter.admit(&huge, minute, 1, 1).await.unwrap().admitted);

    // u=cents: admitted with add 0, the cost settled afterwards; the last
    // admitted request may overshoot.
    let cents = bucket(&org, "org", "10;w=1000;u=cents");
    let window = Duration::from_secs(1000);
    let quota = 10 * 10_000_000; // 10 cents in nano-USD
    let first = limiter.admit(&cents, window, quota, 0).await.unwrap();
    assert!(first.admitted);
    assert_eq!(first.used, 0);
    limiter.settle(&cents, window, 60_000_000).await.unwrap();
    let second = limiter.admit(&cents, window, quota, 0).await.unwrap();
    assert!(second.admitted);
    assert_eq!(second.used, 60_000_000);
    limiter.settle(&cents, window, 70_000_000).await.unwrap();
    limiter.settle(&cents, window, 0).await.unwrap();
    let third = limiter.admit(&cents, window, quota, 0).await.unwrap();
    assert!(!third.admitted);
    assert_eq!(third.used, 130_000_000);

    // Sliding: usage leaves a short window and the bucket admits again, not
    // before the window has passed.
    let short = Duration::from_millis(300);
    let sliding = bucket(&org, "org", "2;w=0.3");
    let start = Instant::now();
    assert!(limiter.admit(&sliding, short, 2, 1).await.unwrap().admitted);
    assert!(limiter.admit(&sliding, short, 2, 1).await.unwrap().admitted);
    let refused = limiter.admit(&sliding, short, 2, 1).await.unwrap();
    assert!(!refused.admitted);
    let retry = refused.retry_after.unwrap();
    assert!(retry <= Duration::from_millis(306), "{retry:?}");
    assert_eq!(refused.retry_after_secs(), Some(1));
    let again = admitted_within(&*limiter, &sliding, short, 2, Duration::from_secs(3))
        .await
        .expect("usage never left the window");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(again.used, 1);
}

/// 50 callers at once against quota 5 over 60 s, spread over `limiters`
/// (one per heliport instance); returns how many were admitted.
async fn fifty_against_five(limiters: Vec<Arc<dyn RateLimiter>>) -> usize {
    let key = bucket(&fresh_org(), "org", "5;w=60");
    let start = Arc::new(Barrier::new(50));
    let mut calls = Vec::new();
    for i in 0..50 {
        let limiter = Arc::clone(&limiters[i % limiters.len()]);
        let key = key.clone();
        let start = Arc::clone(&start);
        calls.push(tokio::spawn(async move {
            start.wait().await;
            limiter
                .admit(&key, Duration::from_secs(60), 5, 1)
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let admitted: Vec<&Admission> = answers.iter().filter(|a| a.admitted).collect();
    // Every admitted caller saw a different count: 1..=5.
    let mut seen: Vec<u64> = admitted.iter().map(|a| a.used).collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=admitted.len() as u64).collect::<Vec<_>>());
    for refused in answers.iter().filter(|a| !a.admitted) {
        assert_eq!(refused.used, 5);
        assert!(refused.retry_after.is_some());
    }
    eprintln!(
        "50 simultaneous admits over {} instance(s), quota 5: {} admitted, {} refused",
        limiters.len(),
        admitted.len(),
        50 - admitted.len()
    );
    admitted.len()
}

// ---------------------------------------------------------------------------
// The cache suite
// ---------------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn answer(body: impl Into<Bytes>, ttl_ms: i64) -> CachedResponse {
    let now = now_ms();
    CachedResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-request-id".into(), "req_123".into()),
        ],
        body: body.into(),
        streamed: false,
        source_request_id: Uuid::new_v4(),
        model: Some("gpt-4o-mini".into()),
        usage: None,
        cost_nano_usd: Some(1_234),
        stored_at_ms: now,
        expires_at_ms: now + ttl_ms,
    }
}

fn cache_key(org: &Arc<str>, n: u8) -> CacheKey {
    CacheKey {
        org_id: Arc::clone(org),
        digest: [n; 32],
    }
}

async fn cache_suite(cache: Arc<dyn ResponseCache>) {
    let org = fresh_org();
    let key = cache_key(&org, 1);
    assert!(cache
        .lookup(&key, heliport_state::MAX_SLOTS)
        .await
        .unwrap()
        .is_empty());

    // A slot holds an answer, replayed byte for byte.
    let first = answer(r#"{"id":"chatcmpl-1","choices":[]}"#, 60_000);
    cache.store(&key, 0, first.clone()).await.unwrap();
    let found = cache.lookup(&key, heliport_state::MAX_SLOTS).await.unwrap();
    assert_eq!(found.len(), 1);
    let (slot, hit) = &found[0];
    assert_eq!(*slot, 0);
    assert_eq!(hit.body, first.body);
    assert_eq!(hit.headers, first.headers);
    assert_eq!(hit.status, 200);
    assert_eq!(hit.source_request_id, first.source_request_id);
    assert_eq!(hit.model, first.model);
    assert_eq!(hit.cost_nano_usd, Some(1_234));
    assert_eq!(hit.expires_at_ms, first.expires_at_ms);

    // More slots, up to 20; a store replaces its slot.
    let mut streamed = answer(
        Bytes::from_static("data: {\"x\":\"é✓\"}\n\ndata: [DONE]\n\n".as_bytes()),
        60_000,
    );
    streamed.streamed = true;
    cache.store(&key, 19, streamed.clone()).await.unwrap();
    let binary: Vec<u8> = (0..=255u8).rev().chain([0, 0, 0xc3, 0x28]).collect();
    cache
        .store(&key, 4, answer(binary.clone(), 60_000))
        .await
        .unwrap();
    let replaced = answer("second answer for slot 0", 60_000);
    cache.store(&key, 0, replaced.clone()).await.unwrap();
    let found = cache.lookup(&key, heliport_state::MAX_SLOTS).await.unwrap();
    let slots: Vec<u8> = found.iter().map(|(s, _)| *s).collect();
    assert_eq!(slots, vec![0, 4, 19]);
    assert_eq!(found[0].1.body, replaced.body);
    assert_eq!(found[1].1.body, Bytes::from(binary));
    assert_eq!(found[2].1.body, streamed.body);
    assert!(found[2].1.streamed);
    assert!(matches!(
        cache.store(&key, 20, answer("x", 60_000)).await,
        Err(StateError::Corrupt(_))
    ));

    // Tenants never share entries, nor do different digests.
    assert!(cache
        .lookup(&cache_key(&fresh_org(), 1), heliport_state::MAX_SLOTS)
        .await
        .unwrap()
        .is_empty());
    assert!(cache
        .lookup(&cache_key(&org, 2), heliport_state::MAX_SLOTS)
        .await
        .unwrap()
        .is_empty());

    // An entry past expires_at_ms is never returned; its neighbours stay.
    let key = cache_key(&org, 3);
    cache
        .store(&key, 0, answer("short-lived", 1_000))
        .await
        .unwrap();
    cache
        .store(&key, 1, answer("long-lived", 60_000))
        .await
        .unwrap();
    let before = cache.lookup(&key, heliport_state::MAX_SLOTS).await.unwrap();
    assert_eq!(before.len(), 2);
    let expires_at = before[0].1.expires_at_ms;
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let found = cache.lookup(&key, heliport_state::MAX_SLOTS).await.unwrap();
        let at = now_ms();
        if found.len() == 1 {
            assert_eq!(found[0].0, 1);
            break;
        }
        assert!(at <= expires_at, "an expired entry was returned");
        assert!(Instant::now() < deadline, "the entry never expired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // An answer stored already stale is not kept.
    let key = cache_key(&org, 4);
    cache.store(&key, 0, answer("stale", -1)).await.unwrap();
    assert!(cache
        .lookup(&key, heliport_state::MAX_SLOTS)
        .await
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------
// In-process
// ---------------------------------------------------------------------------

#[tokio::test]
async fn memory_limiter_behaves() {
    limiter_suite(Arc::new(MemoryLimiter::new(1 << 20))).await;
}

#[tokio::test]
async fn memory_cache_behaves() {
    cache_suite(Arc::new(MemoryCache::new(1 << 20))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_fifty_simultaneous_admits_against_quota_five_admit_five() {
    let (_, limiter) = heliport_state::in_process(1 << 20, 1 << 20);
    assert_eq!(fifty_against_five(vec![limiter]).await, 5);
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

#[tokio::test]
async fn redis_limiter_behaves() {
    let Some(connection) = test_redis().await else {
        return;
    };
    limiter_suite(Arc::new(RedisLimiter::new(connection))).await;
}

#[tokio::test]
async fn redis_cache_behaves() {
    let Some(connection) = test_redis().await else {
        return;
    };
    cache_suite(Arc::new(RedisCache::new(connection))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fifty_simultaneous_admits_against_quota_five_admit_five() {
    let Some(connection) = test_redis().await else {
        return;
    };
    assert_eq!(
        fifty_against_five(vec![Arc::new(RedisLimiter::new(connection))]).await,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_admit_five_of_fifty() {
    // Two connections, two managers: as two heliport processes would.
    let Some(one) = test_redis().await else {
        return;
    };
    let Some(two) = test_redis().await else {
        return;
    };
    let limiters: Vec<Arc<dyn RateLimiter>> = vec![
        Arc::new(RedisLimiter::new(one)),
        Arc::new(RedisLimiter::new(two)),
    ];
    assert_eq!(fifty_against_five(limiters).await, 5);
}

#[tokio::test]
async fn the_redis_constructor_shares_one_connection() {
    let Some(redis) = support::test_redis() else {
        return;
    };
    let (cache, limiter) = heliport_state::redis(&redis.url, TIMEOUT).unwrap();
    let org = fresh_org();
    // Connecting is in the background: wait for the first answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while limiter
        .admit(
            &bucket(&org, "org", "9;w=60"),
            Duration::from_secs(60),
            9,
            1,
        )
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cache
        .store(&cache_key(&org, 9), 0, answer("ok", 5_000))
        .await
        .unwrap();
    assert_eq!(
        cache
            .lookup(&cache_key(&org, 9), heliport_state::MAX_SLOTS)
            .await
            .unwrap()
            .len(),
        1
    );
}
