//! Redis that is down, slow, or comes back: heliport starts anyway, calls
//! fail fast with a `StateError`, and the handle recovers by itself.

#![expect(
    clippy::unwrap_used,
    reason = "a test stops at the first thing that is not as expected"
)]

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heliport_state::{
    BucketKey, CacheKey, RateLimiter, RedisCache, RedisConnection, RedisLimiter, ResponseCache,
    StateError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

mod support;

const TIMEOUT: Duration = Duration::from_millis(250);

fn key() -> BucketKey {
    BucketKey {
        org_id: Arc::from(format!("test-{}", Uuid::new_v4()).as_str()),
        segment: "org".into(),
        policy: "5;w=60".into(),
    }
}

fn minute() -> Duration {
    Duration::from_secs(60)
}

#[test]
fn constructing_outside_a_runtime_with_redis_down_succeeds() {
    let made = heliport_state::redis("redis://127.0.0.1:1", TIMEOUT);
    assert!(made.is_ok());
}

#[test]
fn a_malformed_url_fails_at_start() {
    for url in [
        "",
        "not a url",
        "http://127.0.0.1:6379",
        "redis://:pw@host:99999",
    ] {
        let err = heliport_state::redis(url, TIMEOUT).err().unwrap();
        assert!(matches!(err, StateError::Redis(_)), "{url}: {err}");
        assert!(!err.to_string().contains(":pw@"), "{err}");
    }
}

#[tokio::test]
async fn unreachable_redis_fails_fast_and_never_panics() {
    let connection = RedisConnection::new("redis://user:s3cret@127.0.0.1:1/0", TIMEOUT).unwrap();
    assert!(!connection.redacted_url().contains("s3cret"));
    assert!(!format!("{connection:?}").contains("s3cret"));
    let cache = RedisCache::new(connection.clone());
    let limiter = RedisLimiter::new(connection.clone());
    let key = key();
    let ck = CacheKey {
        org_id: Arc::clone(&key.org_id),
        digest: [1; 32],
    };
    for _ in 0..20 {
        let start = Instant::now();
        let admit = limiter.admit(&key, minute(), 5, 1).await;
        let settle = limiter.settle(&key, minute(), 3).await;
        let lookup = cache.lookup(&ck, heliport_state::MAX_SLOTS).await;
        assert!(start.elapsed() < TIMEOUT * 4, "{:?}", start.elapsed());
        assert!(matches!(
            admit,
            Err(StateError::Redis(_) | StateError::Timeout(_))
        ));
        assert!(matches!(
            settle,
            Err(StateError::Redis(_) | StateError::Timeout(_))
        ));
        assert!(matches!(
            lookup,
            Err(StateError::Redis(_) | StateError::Timeout(_))
        ));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!connection.is_connected());
    assert!(!connection.wait_connected(Duration::from_millis(50)).await);
}

/// A TCP relay to the real Redis that can stop passing answers back.
struct Relay {
    port: u16,
    stalled: Arc<AtomicBool>,
}

async fn relay_to(upstream: &str) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stalled = Arc::new(AtomicBool::new(false));
    let upstream = upstream.to_string();
    let flag = Arc::clone(&stalled);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut client_r, mut client_w) = client.into_split();
            let (mut server_r, mut server_w) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_r, &mut server_w).await;
            });
            let flag = Arc::clone(&flag);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let Ok(n) = server_r.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    if client_w.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Relay { port, stalled }
}

#[tokio::test]
async fn a_redis_that_stops_answering_times_out_within_the_budget() {
    let Some(redis) = support::test_redis() else {
        return;
    };
    let relay = relay_to(&redis.addr).await;
    let connection =
        RedisConnection::new(&format!("redis://127.0.0.1:{}", relay.port), TIMEOUT).unwrap();
    assert!(
        connection.wait_connected(Duration::from_secs(5)).await,
        "no answer from the Redis at {} through the relay",
        redis.url
    );
    let limiter = RedisLimiter::new(connection);
    let key = key();
    assert!(limiter.admit(&key, minute(), 5, 1).await.unwrap().admitted);

    relay.stalled.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let stalled = limiter.admit(&key, minute(), 5, 1).await;
    let took = start.elapsed();
    assert!(
        matches!(stalled, Err(StateError::Timeout(t)) if t == TIMEOUT),
        "{stalled:?}"
    );
    assert!(took >= TIMEOUT && took < TIMEOUT * 4, "{took:?}");

    // Answers flow again: the late replies are matched to the calls that
    // gave up, and new calls get their own.
    relay.stalled.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    let used = loop {
        if let Ok(a) = limiter.admit(&key, minute(), 5, 1).await {
            break a.used;
        }
        assert!(Instant::now() < deadline, "never answered again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The stalled admit ran on the server even though its caller gave up (and
    // so may a retry that timed out here while the relay caught up).
    assert!((3..=5).contains(&used), "{used}");
}

/// A `redis-server` of the test's own, stopped when dropped (and when the
/// test process ends, whatever ends it).
struct OwnRedis(Child);

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        support::spawn_owned_redis(port).map(OwnRedis)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        // Closing its stdin is the wrapper's signal to stop the server.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Admit until Redis answers, at most `within`.
async fn answers_within(limiter: &RedisLimiter, key: &BucketKey, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if limiter.admit(key, minute(), 100, 1).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn the_handle_recovers_when_redis_appears_and_after_it_restarts() {
    if !support::redis_server_installed() {
        eprintln!("skipped: no redis-server binary to start");
        return;
    }
    let port = support::free_port();
    let connection = RedisConnection::new(&format!("redis://127.0.0.1:{port}"), TIMEOUT).unwrap();
    let limiter = RedisLimiter::new(connection.clone());
    let key = key();
    assert!(matches!(
        limiter.admit(&key, minute(), 100, 1).await,
        Err(StateError::Redis(_))
    ));

    // Redis appears after heliport started: the background connector finds it.
    let server = OwnRedis::start(port).unwrap();
    assert!(connection.wait_connected(Duration::from_secs(10)).await);
    assert!(answers_within(&limiter, &key, Duration::from_secs(5)).await);

    // Redis goes away: calls fail (fast), the gauge says so.
    drop(server);
    let start = Instant::now();
    assert!(limiter.admit(&key, minute(), 100, 1).await.is_err());
    assert!(start.elapsed() < TIMEOUT * 4, "{:?}", start.elapsed());
    assert!(!connection.is_connected());

    // And comes back on the same port: the connection manager reconnects.
    let _server = OwnRedis::start(port).unwrap();
    assert!(answers_within(&limiter, &key, Duration::from_secs(10)).await);
    assert!(connection.is_connected());
}

/// heliport serves requests on threads of their own, each with a runtime
/// that stops at shutdown; the connection is shared by all of them.
#[tokio::test]
async fn a_runtime_that_met_the_failure_and_stopped_does_not_take_the_connection_with_it() {
    if !support::redis_server_installed() {
        eprintln!("skipped: no redis-server binary to start");
        return;
    }
    let port = support::free_port();
    let server = OwnRedis::start(port).unwrap();
    let connection = RedisConnection::new(&format!("redis://127.0.0.1:{port}"), TIMEOUT).unwrap();
    assert!(connection.wait_connected(Duration::from_secs(10)).await);
    let limiter = RedisLimiter::new(connection.clone());
    let key = key();
    assert!(answers_within(&limiter, &key, Duration::from_secs(5)).await);

    // Redis goes away while another runtime is the one calling: its calls
    // meet the failure (and start the reconnects); then that runtime stops.
    drop(server);
    let other = RedisLimiter::new(connection.clone());
    let other_key = key.clone();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..10 {
                assert!(other.admit(&other_key, minute(), 100, 1).await.is_err());
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
    })
    .await
    .unwrap();

    // Redis comes back: calls from the runtime still running reconnect.
    let _server = OwnRedis::start(port).unwrap();
    assert!(answers_within(&limiter, &key, Duration::from_secs(10)).await);
    assert!(connection.is_connected());
}
