//! Where the Redis tests find a Redis, so `cargo test` needs no set-up
//! beyond an installed `redis-server`:
//! 1. `HELIPORT_SKIP_REDIS_TESTS=1`: none, the Redis tests skip;
//! 2. `HELIPORT_TEST_REDIS_URL`, when set;
//! 3. a Redis already listening on 127.0.0.1:6379;
//! 4. else a `redis-server` this test binary starts on a free port, which
//!    stops when the test binary exits (however it exits).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test set-up: a missing Redis stops the run with a clear message"
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A Redis the tests may use.
pub struct TestRedis {
    /// Its URL.
    pub url: String,
    /// Its `host:port`.
    pub addr: String,
}

/// The Redis for this test binary, or `None` when told to skip.
pub fn test_redis() -> Option<&'static TestRedis> {
    static FOUND: OnceLock<Option<TestRedis>> = OnceLock::new();
    let found = FOUND.get_or_init(find).as_ref();
    if found.is_none() {
        eprintln!("skipped: HELIPORT_SKIP_REDIS_TESTS=1");
    }
    found
}

fn find() -> Option<TestRedis> {
    if std::env::var("HELIPORT_SKIP_REDIS_TESTS").is_ok_and(|v| v == "1") {
        return None;
    }
    if let Ok(url) = std::env::var("HELIPORT_TEST_REDIS_URL") {
        let addr = url
            .trim_start_matches("redis://")
            .rsplit('@')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        return Some(TestRedis { url, addr });
    }
    let default: SocketAddr = "127.0.0.1:6379".parse().unwrap();
    if TcpStream::connect_timeout(&default, Duration::from_millis(200)).is_ok() {
        return Some(TestRedis {
            url: "redis://127.0.0.1:6379".into(),
            addr: "127.0.0.1:6379".into(),
        });
    }
    let port = free_port();
    let Some(server) = spawn_owned_redis(port) else {
        panic!(
            "no Redis on 127.0.0.1:6379 and no redis-server to start: install redis-server, \
             set HELIPORT_TEST_REDIS_URL, or set HELIPORT_SKIP_REDIS_TESTS=1"
        );
    };
    // Kept for the life of the process: its stdin closes when we exit.
    static OWNED: OnceLock<Mutex<Child>> = OnceLock::new();
    let _ = OWNED.set(Mutex::new(server));
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the redis-server started for the tests never listened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(TestRedis {
        url: format!("redis://{addr}"),
        addr,
    })
}

/// A port nothing listens on (a moment ago).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a `redis-server` binary can be started.
pub fn redis_server_installed() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `redis-server` on `port` under a shell that kills it when its stdin
/// closes: when the test process ends, even by a panic or a signal, the
/// kernel closes the pipe and the server goes with it.
pub fn spawn_owned_redis(port: u16) -> Option<Child> {
    if !redis_server_installed() {
        return None;
    }
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --dir /tmp \
         >/dev/null 2>&1 & server=$!; cat >/dev/null; kill $server; wait $server"
    );
    // Nothing is ever written to stdin: the pipe only signals our exit.
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}
