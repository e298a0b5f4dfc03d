//! Upstream connections kept for reuse: hyper's own client connections in a
//! short list per request thread.
//!
//! hyper-util's legacy client cost a request about 8,000 instructions of
//! pooling on top of hyper's (bench/PROFILE.md, section 20): a SipHash of the
//! pool key on every checkout and return, a boxed future, and a task spawned
//! for each HTTP/1 response whose body was still coming, only to wait for the
//! connection to come back. Here an HTTP/1 connection goes back in the list as
//! soon as its response head is in, and a checkout takes the newest one that
//! is ready again, so no task waits for it. A request thread talks to a few
//! upstreams over a few dozen connections: a scan of the list costs less than
//! hashing the key once.
//!
//! What the legacy client did that requests rely on is kept: `Host` on
//! HTTP/1, the origin form of the target (absolute through a proxy), HTTP/2
//! where ALPN offers it (one connection shared by all its requests), and a
//! request that a reused connection closed under before sending it is sent
//! again on another.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::uri::{Authority, Scheme, Uri};
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tower::ServiceExt;

use super::BoxError;

/// Longest a connection waits in the list unused before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most connections a list keeps; the longest unused goes first.
const MAX_CONNECTIONS: usize = 1024;
/// How often a list in use drops its closed and long-unused connections.
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// HTTP/2 pings on idle-looking upstream connections: a dead peer is noticed
/// within interval + timeout instead of at the next request.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// A fast stream would otherwise grow each pooled connection's read buffer to
/// hundreds of KiB, and keep it.
const H1_MAX_BUF: usize = 64 << 10;

/// An open connection's sending half.
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// Whether a request can go now: an HTTP/1 connection is ready once the
    /// previous response has been read to its end.
    fn is_ready(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_ready(),
            Sender::H2(s) => s.is_ready(),
        }
    }
}

/// A connection and where it goes.
struct Conn {
    https: bool,
    authority: Authority,
    /// Through a forward proxy without a tunnel (plain HTTP): HTTP/1 requests
    /// carry their absolute target.
    proxied: bool,
    /// The `Host` an HTTP/1 request without one gets, made once.
    host: Option<HeaderValue>,
    sender: Sender,
}

impl Conn {
    fn same_origin(&self, https: bool, authority: &Authority) -> bool {
        self.https == https
            && self
                .authority
                .as_str()
                .eq_ignore_ascii_case(authority.as_str())
    }

    /// Another handle on an HTTP/2 connection, which every request shares.
    fn shared(&self) -> Option<Conn> {
        match &self.sender {
            Sender::H2(s) => Some(Conn {
                https: self.https,
                authority: self.authority.clone(),
                proxied: self.proxied,
                host: None,
                sender: Sender::H2(s.clone()),
            }),
            Sender::H1(_) => None,
        }
    }
}

struct Kept {
    conn: Conn,
    /// When it was last handed out, came back, or was seen busy.
    since: Instant,
}

impl Kept {
    /// Whether it stays in the list: open, and busy or not unused too long.
    /// A busy one's idle time starts once it is ready again.
    fn keep_at(&mut self, now: Instant) -> bool {
        if self.conn.sender.is_closed() {
            return false;
        }
        if !self.conn.sender.is_ready() {
            self.since = now;
            return true;
        }
        now.duration_since(self.since) <= IDLE_TIMEOUT
    }
}

/// A pool's connections, newest at the back.
struct List {
    conns: Vec<Kept>,
    swept: Instant,
}

impl List {
    fn sweep(&mut self, now: Instant) {
        self.conns.retain_mut(|k| k.keep_at(now));
        self.swept = now;
    }
}

/// Connections to upstreams made by one connector (one trust and address
/// policy), kept for reuse.
pub(super) struct ConnPool<C> {
    connector: C,
    kept: Mutex<List>,
}

impl<C, S> ConnPool<C>
where
    C: tower::Service<Uri, Response = S> + Clone + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send,
    S: hyper::rt::Read + hyper::rt::Write + Connection + Unpin + Send + 'static,
{
    pub(super) fn new(connector: C) -> Self {
        ConnPool {
            connector,
            kept: Mutex::new(List {
                conns: Vec::new(),
                swept: Instant::now(),
            }),
        }
    }

    /// Send `req` (an absolute URI) on a kept connection to its origin, or on
    /// a new one; the response head, or why none came.
    pub(super) async fn request(
        &self,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, BoxError> {
        let https = match req.uri().scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(format!("no http(s) scheme in {}", req.uri()).into()),
        };
        let Some(authority) = req.uri().authority().cloned() else {
            return Err(format!("no host in {}", req.uri()).into());
        };
        let target = req.uri().clone();
        loop {
            let (mut conn, reused) = match self.checkout(https, &authority) {
                Some(conn) => (conn, true),
                // Boxed: connecting (TCP, TLS, a handshake) is a large future
                // that most requests never start, and the request's future is
                // moved whole more than once on its way to being polled.
                None => {
                    let connecting = Box::pin(self.connect(&target, https, authority.clone()));
                    (connecting.await?, false)
                }
            };
            prepare(&mut req, &conn);
            let sent = match &mut conn.sender {
                Sender::H1(s) => s.try_send_request(req).await,
                Sender::H2(s) => s.try_send_request(req).await,
            };
            match sent {
                Ok(res) => {
                    // An HTTP/2 connection is listed from its handshake on.
                    if let Sender::H1(_) = conn.sender {
                        self.keep(conn);
                    }
                    return Ok(res);
                }
                // The connection closed before the request left: another
                // may take it (what the legacy client did for reused ones).
                Err(mut e) if reused => match e.take_message() {
                    Some(mut back) => {
                        *back.uri_mut() = target.clone();
                        req = back;
                    }
                    None => return Err(e.into_error().into()),
                },
                Err(e) => return Err(e.into_error().into()),
            }
        }
    }

    /// The newest kept connection to `authority` that can take a request
    /// now. HTTP/1 ones leave the list until their response head is in;
    /// HTTP/2 ones stay, shared. Closed and long-unused ones are dropped
    /// every `SWEEP_EVERY`, and when none is found (a new connection is made
    /// then anyway).
    fn checkout(&self, https: bool, authority: &Authority) -> Option<Conn> {
        let mut list = self.kept.lock().ok()?;
        let now = Instant::now();
        if now.duration_since(list.swept) > SWEEP_EVERY {
            list.sweep(now);
        }
        let found = list.conns.iter_mut().rposition(|k| {
            if !k.conn.sender.is_ready() {
                if !k.conn.sender.is_closed() {
                    // Busy: its idle time has not started.
                    k.since = now;
                }
                return false;
            }
            k.conn.same_origin(https, authority) && now.duration_since(k.since) <= IDLE_TIMEOUT
        });
        let Some(i) = found else {
            list.sweep(now);
            return None;
        };
        let k = list.conns.get_mut(i)?;
        k.since = now;
        match k.conn.shared() {
            Some(shared) => Some(shared),
            None => Some(list.conns.remove(i).conn),
        }
    }

    /// Put an HTTP/1 connection whose response head came back into the
    /// list. It may still be reading its body: a checkout passes over it
    /// until it is ready.
    fn keep(&self, conn: Conn) {
        let Ok(mut list) = self.kept.lock() else {
            return;
        };
        let now = Instant::now();
        make_room(&mut list, now);
        list.conns.push(Kept { conn, since: now });
    }

    /// A new HTTP/2 connection goes into the list at once, so the requests
    /// that come while its first answer is awaited share it; if another to
    /// the same origin got there first, that one is used and this one closes.
    fn share(&self, conn: Conn) -> Conn {
        let Ok(mut list) = self.kept.lock() else {
            return conn;
        };
        let listed = list.conns.iter().rev().find(|k| {
            matches!(k.conn.sender, Sender::H2(_))
                && k.conn.same_origin(conn.https, &conn.authority)
                && k.conn.sender.is_ready()
        });
        if let Some(first) = listed.and_then(|k| k.conn.shared()) {
            return first;
        }
        let Some(listed) = conn.shared() else {
            return conn;
        };
        let now = Instant::now();
        make_room(&mut list, now);
        list.conns.push(Kept {
            conn: listed,
            since: now,
        });
        conn
    }

    /// A new connection: TCP (through the egress proxy if one applies), TLS
    /// for `https`, then HTTP/2 if ALPN chose it, else HTTP/1.1. Its task runs
    /// on the calling thread's runtime.
    async fn connect(
        &self,
        target: &Uri,
        https: bool,
        authority: Authority,
    ) -> Result<Conn, BoxError> {
        let io = self
            .connector
            .clone()
            .oneshot(target.clone())
            .await
            .map_err(Into::into)?;
        let connected = io.connected();
        let proxied = connected.is_proxied();
        let sender = if connected.is_negotiated_h2() {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
                .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT)
                .handshake(io)
                .await?;
            drive(conn, "HTTP/2");
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::Builder::new()
                .max_buf_size(H1_MAX_BUF)
                .handshake(io)
                .await?;
            drive(conn, "HTTP/1");
            Sender::H1(sender)
        };
        let conn = Conn {
            https,
            host: host_header(target, https),
            authority,
            proxied,
            sender,
        };
        Ok(match conn.sender {
            Sender::H2(_) => self.share(conn),
            Sender::H1(_) => conn,
        })
    }
}

/// Run a connection's task on the calling thread's runtime until it ends.
fn drive<F>(conn: F, protocol: &'static str)
where
    F: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream {protocol} connection ended");
        }
    });
}

/// Room for one more in a full list: the closed and long-unused go, then
/// the one unused longest.
fn make_room(list: &mut List, now: Instant) {
    if list.conns.len() < MAX_CONNECTIONS {
        return;
    }
    list.sweep(now);
    if list.conns.len() >= MAX_CONNECTIONS {
        let oldest = list.conns.iter().enumerate().min_by_key(|(_, k)| k.since);
        if let Some(i) = oldest.map(|(i, _)| i) {
            list.conns.remove(i);
        }
    }
}

/// The request as the connection sends it: on HTTP/1 a `Host` header and
/// the target in origin form (absolute to a proxy, authority for CONNECT);
/// HTTP/2 takes the absolute URI as its pseudo-headers.
fn prepare(req: &mut Request<Full<Bytes>>, conn: &Conn) {
    if let Sender::H2(_) = conn.sender {
        return;
    }
    if let Some(host) = &conn.host {
        if !req.headers().contains_key(HOST) {
            req.headers_mut().insert(HOST, host.clone());
        }
    }
    if *req.method() == Method::CONNECT {
        *req.uri_mut() = Uri::from(conn.authority.clone());
    } else if !conn.proxied {
        let origin = match req.uri().path_and_query() {
            Some(p) if p.as_str() != "/" => Uri::from(p.clone()),
            _ => Uri::from_static("/"),
        };
        *req.uri_mut() = origin;
    }
}

/// `host[:port]` as `Host` carries it: the port only when it is not the
/// scheme's default. Every request on a connection has the same.
fn host_header(uri: &Uri, https: bool) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default = if https { 443 } else { 80 };
    match uri.port_u16() {
        Some(port) if port != default => HeaderValue::from_str(&format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper_util::client::legacy::connect::HttpConnector;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    /// What the upstream saw of one request: its head as text.
    type Heads = mpsc::UnboundedReceiver<String>;

    /// A raw HTTP/1.1 upstream: each connection answers requests one after
    /// another. A request whose path starts with `/hold` gets its head and
    /// the first part of a chunked body, then waits for `release`; `/close`
    /// answers and closes the connection.
    async fn upstream(release: Arc<tokio::sync::Notify>) -> (String, Heads, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(sock, tx.clone(), release.clone()));
            }
        });
        (format!("http://{addr}"), rx, accepted)
    }

    async fn serve(
        mut sock: TcpStream,
        heads: mpsc::UnboundedSender<String>,
        release: Arc<tokio::sync::Notify>,
    ) {
        let mut buf = Vec::new();
        loop {
            let end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 4096];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end); // the tests send no request bodies
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let _ = heads.send(head);
            if path.starts_with("/hold") {
                let first = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                if sock.write_all(first).await.is_err() {
                    return;
                }
                release.notified().await;
                if sock.write_all(b"4\r\nlast\r\n0\r\n\r\n").await.is_err() {
                    return;
                }
            } else {
                let close = path.starts_with("/close");
                let answer = if close {
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                };
                if sock.write_all(answer.as_bytes()).await.is_err() || close {
                    return;
                }
            }
        }
    }

    fn pool() -> ConnPool<HttpConnector> {
        ConnPool::new(HttpConnector::new())
    }

    fn get(url: &str) -> Request<Full<Bytes>> {
        Request::get(url).body(Full::new(Bytes::new())).unwrap()
    }

    async fn body(res: Response<Incoming>) -> Bytes {
        res.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn sequential_requests_share_one_connection_with_host_and_origin_form() {
        let (base, mut heads, accepted) = upstream(Default::default()).await;
        let pool = pool();
        for i in 0..5 {
            let res = pool
                .request(get(&format!("{base}/v1/x?i={i}")))
                .await
                .unwrap();
            assert_eq!(body(res).await, "ok");
            let head = heads.recv().await.unwrap();
            assert!(
                head.starts_with(&format!("GET /v1/x?i={i} HTTP/1.1\r\n")),
                "{head}"
            );
            let host = base.trim_start_matches("http://");
            assert!(
                head.to_ascii_lowercase()
                    .contains(&format!("\r\nhost: {host}\r\n")),
                "{head}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_request_is_not_queued_behind_a_response_still_streaming() {
        let release = Arc::new(tokio::sync::Notify::new());
        let (base, _heads, accepted) = upstream(release.clone()).await;
        let pool = pool();
        let streaming = pool.request(get(&format!("{base}/hold"))).await.unwrap();
        // The first connection is back in the list, its body still coming:
        // the next request must take a connection of its own, not wait.
        let res = tokio::time::timeout(
            Duration::from_secs(5),
            pool.request(get(&format!("{base}/quick"))),
        )
        .await
        .expect("a request waited for another's stream to end")
        .unwrap();
        assert_eq!(body(res).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        release.notify_one();
        assert_eq!(body(streaming).await, "firstlast");
        // Both connections are ready again: no third one is made.
        for _ in 0..3 {
            assert_eq!(
                body(pool.request(get(&format!("{base}/again"))).await.unwrap()).await,
                "ok"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        let (base, _heads, accepted) = upstream(Default::default()).await;
        let pool = pool();
        assert_eq!(
            body(pool.request(get(&format!("{base}/close"))).await.unwrap()).await,
            "ok"
        );
        // Wait until the connection's task has seen the close.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool
            .kept
            .lock()
            .unwrap()
            .conns
            .iter()
            .any(|k| !k.conn.sender.is_closed())
        {
            assert!(
                Instant::now() < deadline,
                "the closed connection stayed open"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            body(pool.request(get(&format!("{base}/v1/y"))).await.unwrap()).await,
            "ok"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// TCP that says HTTP/2 was negotiated (prior knowledge, no TLS), as an
    /// HTTPS connector says after ALPN chose `h2`.
    #[derive(Clone)]
    struct H2Prior(HttpConnector);

    struct H2Stream(hyper_util::rt::TokioIo<TcpStream>);

    impl Connection for H2Stream {
        fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
            hyper_util::client::legacy::connect::Connected::new().negotiated_h2()
        }
    }

    impl hyper::rt::Read for H2Stream {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: hyper::rt::ReadBufCursor<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl hyper::rt::Write for H2Stream {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl tower::Service<Uri> for H2Prior {
        type Response = H2Stream;
        type Error = BoxError;
        type Future =
            std::pin::Pin<Box<dyn std::future::Future<Output = Result<H2Stream, BoxError>> + Send>>;
        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            self.0.poll_ready(cx).map_err(Into::into)
        }
        fn call(&mut self, dst: Uri) -> Self::Future {
            let connecting = self.0.call(dst);
            Box::pin(async move { Ok(H2Stream(connecting.await?)) })
        }
    }

    /// An HTTP/2 (prior knowledge) upstream whose answers take `delay`; how
    /// many connections carried at least one request.
    async fn h2_upstream(delay: Duration) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let used = Arc::new(AtomicUsize::new(0));
        let count = used.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let count = count.clone();
                let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    if first.swap(false, Ordering::SeqCst) {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    async move {
                        tokio::time::sleep(delay).await;
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            "ok",
                        ))))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(sock), svc),
                );
            }
        });
        (format!("http://{addr}"), used)
    }

    #[tokio::test]
    async fn http2_is_shared_from_its_handshake_on() {
        let (base, used) = h2_upstream(Duration::from_millis(300)).await;
        let pool = Arc::new(ConnPool::new(H2Prior(HttpConnector::new())));
        // The first request's answer is slow; a request that comes meanwhile
        // takes the same connection instead of making its own.
        let first = tokio::spawn({
            let (pool, url) = (pool.clone(), format!("{base}/a"));
            async move { body(pool.request(get(&url)).await.unwrap()).await }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.kept.lock().unwrap().conns.is_empty() {
            assert!(Instant::now() < deadline, "the connection was never listed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let second = body(pool.request(get(&format!("{base}/b"))).await.unwrap()).await;
        assert_eq!(second, "ok");
        assert_eq!(first.await.unwrap(), "ok");
        // Concurrent first requests to a new origin end up on one connection.
        let (base, used_burst) = h2_upstream(Duration::from_millis(50)).await;
        let burst: Vec<_> = (0..8)
            .map(|i| {
                let (pool, url) = (pool.clone(), format!("{base}/{i}"));
                tokio::spawn(async move { body(pool.request(get(&url)).await.unwrap()).await })
            })
            .collect();
        for b in burst {
            assert_eq!(b.await.unwrap(), "ok");
        }
        for i in 0..4 {
            let again = pool
                .request(get(&format!("{base}/again{i}")))
                .await
                .unwrap();
            assert_eq!(body(again).await, "ok");
        }
        assert_eq!(used.load(Ordering::SeqCst), 1);
        assert_eq!(used_burst.load(Ordering::SeqCst), 1);
        let listed = pool.kept.lock().unwrap().conns.len();
        assert_eq!(listed, 2, "one connection an origin stays listed");
    }

    #[tokio::test]
    async fn a_target_without_scheme_or_host_is_an_error_not_a_panic() {
        let pool = pool();
        assert!(pool.request(get("/relative")).await.is_err());
        assert!(pool.request(get("ftp://example.com/x")).await.is_err());
    }
}
