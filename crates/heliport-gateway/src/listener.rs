//! The one listener: accepts client connections up to a cap and serves each
//! with hyper, with a bounded time to send a request head, so idle or
//! half-sent connections cannot pile up; drains in-flight requests on
//! shutdown.
//!
//! Plain TCP speaks HTTP/1.1 only. With TLS (`tls.cert` / `tls.key`) the
//! client picks HTTP/2 or HTTP/1.1 by ALPN; an HTTP/2 connection is bounded
//! like an HTTP/1 one: a limit on concurrent streams, keep-alive pings, and
//! closed once it has had no open stream for the head-read timeout.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use heliport_core::error::{ErrorCode, ErrorStyle, GatewayError};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;

pub use crate::listener_tls::ListenerTls;
use crate::server::App;
use crate::workers::{Claim, Workers};

/// Limits of the listener (`gateway.*` in the configuration).
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Client connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time to send a request head, from when a connection opens or its
    /// previous response ends (hyper measures both from there, so this is
    /// also the keep-alive idle timeout). Also the time allowed for a TLS
    /// handshake, and how long an HTTP/2 connection may go without an open
    /// stream.
    pub header_read_timeout: Duration,
    /// Request headers heliport accepts; more is a 431 in heliport's shape.
    pub max_headers: usize,
    /// How long in-flight requests may run after shutdown begins.
    pub shutdown_grace: Duration,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_streams: u32,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) instead of plain HTTP/1.1.
    pub tls: Option<Arc<ListenerTls>>,
    /// Serve connections on these request threads; none: on the runtime
    /// `serve` runs on.
    pub workers: Option<Arc<Workers>>,
}

/// An accepted socket: still on the accepting runtime's reactor, or on its
/// way to a request thread.
enum Socket {
    Here(tokio::net::TcpStream),
    Moving(std::net::TcpStream),
}

static OPEN: AtomicUsize = AtomicUsize::new(0);
/// The most connections open at once since [`peak_connections_since_last`] last read it.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Client connections open right now (also exported as `heliport_connections_open`).
pub fn open_connections() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// The most client connections open at once since the last call (at least
/// those open now): a burst shorter than the caller's polling interval is
/// still seen.
pub fn peak_connections_since_last() -> usize {
    let now = OPEN.load(Ordering::Relaxed);
    PEAK.swap(now, Ordering::Relaxed).max(now)
}

/// hyper refuses heads with more headers than this with a bare 431; it sits
/// well above `max_headers` so heliport answers nearly every such request in
/// its own error shape.
const PARSE_HEADER_FACTOR: usize = 4;

/// HTTP/2 keep-alive: a ping after this much silence, and the connection is
/// closed if the ping is not answered within the timeout.
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest HTTP/2 header block accepted (hyper's default is 16 KiB; HTTP/1
/// heads may be far larger, and SDKs send many headers).
const H2_MAX_HEADER_LIST: u32 = 256 << 10;

/// Streams open on one HTTP/2 connection, and since when it has had none.
struct Activity {
    open: AtomicUsize,
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            open: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        })
    }

    fn begin(self: &Arc<Self>) -> StreamGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        StreamGuard(self.clone())
    }

    /// When the connection has been idle long enough to close, if it has no stream open.
    fn idle_deadline(&self, limit: Duration) -> Option<Instant> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some(since + limit)
    }

    fn touch(&self) {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

/// One stream from its request head to the end of its response body.
struct StreamGuard(Arc<Activity>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.touch();
            self.0.changed.notify_one();
        }
    }
}

/// The response with `guard` held until its body ends or is dropped.
fn hold_until_end(resp: Response<Body>, guard: Option<StreamGuard>) -> Response<Body> {
    match guard {
        None => resp,
        Some(g) => resp.map(|b| {
            Body::new(b.map_frame(move |f| {
                let _held = &g;
                f
            }))
        }),
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let in-flight
/// requests finish for up to the grace period.
pub async fn serve(
    listener: TcpListener,
    app: App,
    cfg: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut h1 = auto::Builder::new(TokioExecutor::new());
    h1.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_headers(cfg.max_headers.saturating_mul(PARSE_HEADER_FACTOR).max(100));
    // Plain TCP serves HTTP/1.1 only: an h2c connection would escape the
    // head-read timeout (it bounds HTTP/1 only) and stay open idle for good.
    // HTTP/2 is offered over TLS, where the connection loop bounds it.
    let h1 = Arc::new(h1.http1_only());
    let mut h2 = auto::Builder::new(TokioExecutor::new());
    h2.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_PING_INTERVAL))
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(cfg.http2_max_streams.max(1))
        .max_header_list_size(H2_MAX_HEADER_LIST);
    let h2 = Arc::new(h2.http2_only());

    // Cloned for every request: one reference count, not the router's and the state's.
    let app = Arc::new(app);
    let max = u32::try_from(cfg.max_connections.max(1)).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let max_headers = cfg.max_headers;
    let head_timeout = cfg.header_read_timeout;
    metrics::gauge!("heliport_connections_open").set(0.0);
    metrics::counter!("heliport_requests_total").increment(0);
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (tcp, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Streams are many small writes: without TCP_NODELAY each waits on the
        // client's delayed ACK (~40 ms).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let conn_app = app.clone();
        let service = move |activity: Option<Arc<Activity>>| {
            let app = conn_app.clone();
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                let guard = activity.as_ref().map(Activity::begin);
                async move {
                    if req.headers().len() > max_headers {
                        return Ok(hold_until_end(
                            too_many_headers(req.uri().path(), max_headers),
                            guard,
                        ));
                    }
                    let resp = app.answer(req.map(Body::new)).await;
                    Ok::<_, std::convert::Infallible>(hold_until_end(resp, guard))
                }
            })
        };
        let stop = stop_rx.clone();
        let h1 = h1.clone();
        let h2 = h2.clone();
        let tls = cfg.tls.clone();
        // On a request thread the socket moves to that thread's reactor.
        let (socket, workers) = match &cfg.workers {
            Some(w) => match tcp.into_std() {
                Ok(s) => (Socket::Moving(s), Some(w)),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot hand a connection to a request thread");
                    continue;
                }
            },
            None => (Socket::Here(tcp), None),
        };
        let conn = move |claim: Option<Claim>| async move {
            let _claim = claim;
            let tcp = match socket {
                Socket::Here(tcp) => tcp,
                Socket::Moving(s) => match tokio::net::TcpStream::from_std(s) {
                    Ok(tcp) => tcp,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot serve a connection on a request thread");
                        return;
                    }
                },
            };
            let open = OPEN.fetch_add(1, Ordering::Relaxed) + 1;
            PEAK.fetch_max(open, Ordering::Relaxed);
            metrics::gauge!("heliport_connections_open").increment(1.0);
            match tls {
                None => {
                    let conn = h1
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service(None))
                        .into_owned();
                    drive(conn, stop, None).await;
                }
                Some(tls) => {
                    // A handshake gets the head-read time, so a client that
                    // never finishes one cannot hold a slot.
                    match tokio::time::timeout(head_timeout, tls.acceptor().accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                                let activity = Activity::new();
                                let conn = h2
                                    .serve_connection(
                                        TokioIo::new(stream),
                                        service(Some(activity.clone())),
                                    )
                                    .into_owned();
                                drive(conn, stop, Some((activity, head_timeout))).await;
                            } else {
                                let conn = h1
                                    .serve_connection_with_upgrades(
                                        TokioIo::new(stream),
                                        service(None),
                                    )
                                    .into_owned();
                                drive(conn, stop, None).await;
                            }
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            metrics::gauge!("heliport_connections_open").decrement(1.0);
            OPEN.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        };
        match workers {
            Some(w) => w.spawn(|claim| conn(Some(claim))),
            None => {
                tokio::spawn(conn(None));
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends: all slots back means all done.
    if tokio::time::timeout(cfg.shutdown_grace, slots.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests still running after {:?}: stopping them",
            cfg.shutdown_grace
        );
    }
}

/// Run one connection to its end: on shutdown it is asked to finish
/// gracefully (HTTP/1: after the response in progress; HTTP/2: GOAWAY, open
/// streams complete). An HTTP/2 connection (`idle` given) that has had no
/// open stream for the limit gets a GOAWAY too, and is dropped if it is still
/// there, streamless, one limit later.
async fn drive<C>(conn: C, mut stop: watch::Receiver<bool>, idle: Option<(Arc<Activity>, Duration)>)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut stopping = false;
    let mut idle_closing = false;
    loop {
        let deadline = idle.as_ref().and_then(|(a, limit)| a.idle_deadline(*limit));
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "client connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = async {
                match &idle {
                    Some((a, _)) => a.changed.notified().await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => {
                let Some((a, limit)) = &idle else { continue };
                if a.idle_deadline(*limit).is_some_and(|d| d <= Instant::now()) {
                    if idle_closing || stopping {
                        tracing::debug!("closing an HTTP/2 connection that stayed idle after GOAWAY");
                        return;
                    }
                    tracing::debug!("closing an idle HTTP/2 connection");
                    idle_closing = true;
                    a.touch();
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

fn too_many_headers(path: &str, max: usize) -> Response<Body> {
    let e = GatewayError::new(
        ErrorCode::HeadersTooLarge,
        format!("the request has more than {max} headers (gateway.max_headers)"),
    );
    metrics::counter!("heliport_requests_rejected_total", "code" => e.code.as_str()).increment(1);
    crate::pipeline::error_response(&e, ErrorStyle::for_path(path))
}
