//! The one listener: accepts client connections up to a cap and serves each
//! with hyper (HTTP/1.1, and h2c for clients that speak it), with a bounded
//! time to send a request head, so idle or half-sent connections cannot pile
//! up; drains in-flight requests on shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use heliport_core::error::{ErrorCode, ErrorStyle, GatewayError};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Limits of the listener (`gateway.*` in the configuration).
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Client connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time to send a request head, from when a connection opens or its
    /// previous response ends (hyper measures both from there, so this is
    /// also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
    /// Request headers heliport accepts; more is a 431 in heliport's shape.
    pub max_headers: usize,
    /// How long in-flight requests may run after shutdown begins.
    pub shutdown_grace: Duration,
}

static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Client connections open right now (also exported as `heliport_connections_open`).
pub fn open_connections() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// hyper refuses heads with more headers than this with a bare 431; it sits
/// well above `max_headers` so heliport answers nearly every such request in
/// its own error shape.
const PARSE_HEADER_FACTOR: usize = 4;

/// Serve `app` on `listener` until `shutdown` resolves, then let in-flight
/// requests finish for up to the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_headers(cfg.max_headers.saturating_mul(PARSE_HEADER_FACTOR).max(100));
    // Plain TCP serves HTTP/1.1 only: an h2c connection would escape the
    // head-read timeout (it bounds HTTP/1 only) and stay open idle for good.
    let builder = Arc::new(builder.http1_only());
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let max_headers = cfg.max_headers;
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
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            async move {
                if req.headers().len() > max_headers {
                    return Ok(too_many_headers(req.uri().path(), max_headers));
                }
                app.oneshot(canonical_rest_path(req).map(Body::new)).await
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            OPEN.fetch_add(1, Ordering::Relaxed);
            metrics::gauge!("heliport_connections_open").increment(1.0);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "client connection ended with an error");
            }
            metrics::gauge!("heliport_connections_open").decrement(1.0);
            OPEN.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(cfg.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests still running after {:?}: stopping them",
            cfg.shutdown_grace
        );
    }
}

/// heliport's own paths are routed by their canonical spelling, so
/// `/v1//request/query` reaches the same endpoint as `/v1/request/query`.
fn canonical_rest_path<B>(mut req: Request<B>) -> Request<B> {
    let Some(canonical) = heliport_core::namespace::reserved_path(req.uri().path()) else {
        return req;
    };
    if canonical == req.uri().path() {
        return req;
    }
    let pq = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn too_many_headers(path: &str, max: usize) -> Response<Body> {
    let e = GatewayError::new(
        ErrorCode::HeadersTooLarge,
        format!("the request has more than {max} headers (gateway.max_headers)"),
    );
    metrics::counter!("heliport_requests_rejected_total", "code" => e.code.as_str()).increment(1);
    crate::pipeline::error_response(&e, ErrorStyle::for_path(path))
}
