//! The upstream HTTP client: pooled keep-alive connections, TLS with rustls,
//! and a resolver that refuses private addresses for client-supplied URLs.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A resolved address is in a range client-supplied targets may not reach.
#[derive(Debug)]
pub struct ForbiddenAddress {
    pub host: String,
    pub addr: std::net::IpAddr,
}

impl std::fmt::Display for ForbiddenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves to {}, a private or reserved address",
            self.host, self.addr
        )
    }
}

impl std::error::Error for ForbiddenAddress {}

/// DNS through the system resolver, refusing names with any private,
/// loopback, link-local or metadata address. Checking at connect time (not
/// before) leaves no window for DNS rebinding.
#[derive(Clone, Debug, Default)]
pub struct GuardedResolver;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs
                .iter()
                .find(|a| heliport_core::target::is_forbidden_ip(a.ip()))
            {
                return Err(Box::new(ForbiddenAddress {
                    host,
                    addr: bad.ip(),
                }) as BoxError);
            }
            Ok(addrs.into_iter())
        })
    }
}

type OpenClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;
type GuardedClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Why no upstream response arrived.
#[derive(Debug)]
pub enum UpstreamError {
    /// The target resolved to a forbidden address (never retried).
    Forbidden(String),
    /// Connection refused, reset before the response head, DNS or TLS failure.
    Unreachable(String),
    /// No response head within the upstream timeout.
    Timeout(std::time::Duration),
}

impl UpstreamError {
    /// Whether another attempt may succeed (SPEC §3.1: connection failures
    /// and timeouts are retried; a forbidden address never is).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_) | UpstreamError::Timeout(_)
        )
    }
}

/// Two pools: one for operator-configured providers, one (guarded) for URLs clients supply.
#[derive(Clone)]
pub struct Upstream {
    open: OpenClient,
    guarded: GuardedClient,
}

fn https<R>(
    mut http: HttpConnector<R>,
    connect_timeout: Duration,
) -> Result<HttpsConnector<HttpConnector<R>>, rustls::Error> {
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http))
}

impl Upstream {
    pub fn new(connect_timeout: Duration) -> Result<Upstream, rustls::Error> {
        let build = || {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(1024)
                // A fast stream would otherwise grow each pooled connection's read
                // buffer to hundreds of KiB, and keep it.
                .http1_max_buf_size(64 << 10);
            b
        };
        Ok(Upstream {
            open: build().build(https(HttpConnector::new(), connect_timeout)?),
            guarded: build().build(https(
                HttpConnector::new_with_resolver(GuardedResolver),
                connect_timeout,
            )?),
        })
    }

    /// Send a request; `guarded` for client-supplied URLs. Waits at most
    /// `timeout` for the response head.
    pub async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
        guarded: bool,
        timeout: std::time::Duration,
    ) -> Result<http::Response<Incoming>, UpstreamError> {
        let sent = if guarded {
            tokio::time::timeout(timeout, self.guarded.request(req)).await
        } else {
            tokio::time::timeout(timeout, self.open.request(req)).await
        };
        let Ok(res) = sent else {
            return Err(UpstreamError::Timeout(timeout));
        };
        res.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            let mut detail = String::new();
            while let Some(s) = source {
                if let Some(f) = s.downcast_ref::<ForbiddenAddress>() {
                    return UpstreamError::Forbidden(f.to_string());
                }
                if !detail.is_empty() {
                    detail.push_str(": ");
                }
                detail.push_str(&s.to_string());
                source = s.source();
            }
            UpstreamError::Unreachable(detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guarded_resolver_refuses_localhost() {
        let up = Upstream::new(Duration::from_secs(2)).unwrap();
        let req = http::Request::builder()
            .uri("http://localhost:1/x")
            .body(Full::new(Bytes::new()))
            .unwrap();
        match up.send(req, true, Duration::from_secs(5)).await {
            Err(UpstreamError::Forbidden(m)) => assert!(m.contains("localhost"), "{m}"),
            other => panic!("expected forbidden, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn refused_connections_are_unreachable() {
        let up = Upstream::new(Duration::from_secs(2)).unwrap();
        let req = http::Request::builder()
            .uri("http://127.0.0.1:1/x")
            .body(Full::new(Bytes::new()))
            .unwrap();
        assert!(matches!(
            up.send(req, false, Duration::from_secs(5)).await,
            Err(UpstreamError::Unreachable(_))
        ));
    }
}
