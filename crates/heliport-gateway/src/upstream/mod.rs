//! The upstream HTTP client: pooled keep-alive connections (HTTP/2 where the
//! upstream offers it by ALPN, else HTTP/1.1), TLS with rustls against the
//! configured trust, optional egress proxies, and a resolver that refuses
//! private addresses for client-supplied URLs.

mod egress;
mod pool;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;

pub use egress::{Proxies, ProxyConfig, ProxyFailure};
pub use tls::{TlsRoots, Trust};

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

/// The addresses of `host` (a name or a literal IP), or an error if any of
/// them is loopback, private, link-local, metadata or reserved.
pub(crate) async fn resolve_checked(host: &str) -> Result<Vec<SocketAddr>, BoxError> {
    let addrs: Vec<SocketAddr> = match heliport_core::target::literal_ip(host) {
        Some(ip) => vec![SocketAddr::new(ip, 0)],
        None => tokio::net::lookup_host((host, 0)).await?.collect(),
    };
    if let Some(bad) = addrs
        .iter()
        .find(|a| heliport_core::target::is_forbidden_ip(a.ip()))
    {
        return Err(Box::new(ForbiddenAddress {
            host: host.to_string(),
            addr: bad.ip(),
        }) as BoxError);
    }
    Ok(addrs)
}

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
        Box::pin(async move { Ok(resolve_checked(name.as_str()).await?.into_iter()) })
    }
}

type OpenClient = pool::ConnPool<HttpsConnector<egress::Egress<GaiResolver>>>;
type GuardedClient = pool::ConnPool<HttpsConnector<egress::Egress<GuardedResolver>>>;

/// Why no upstream response arrived.
#[derive(Debug)]
pub enum UpstreamError {
    /// The target resolved to a forbidden address (never retried).
    Forbidden(String),
    /// Connection refused or reset before the response head, DNS failure, or
    /// the egress proxy could not be reached or would not open a tunnel.
    Unreachable(String),
    /// The TLS handshake failed: the upstream's certificate did not verify, or
    /// no protocol version or cipher suite was shared. Never retried: another
    /// try meets the same certificate.
    Tls(String),
    /// No response head within the upstream timeout.
    Timeout(std::time::Duration),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Forbidden(why) => write!(f, "not allowed: {why}"),
            UpstreamError::Unreachable(why) => write!(f, "unreachable: {why}"),
            UpstreamError::Tls(why) => f.write_str(why),
            UpstreamError::Timeout(t) => write!(f, "no answer within {}s", t.as_secs()),
        }
    }
}

impl UpstreamError {
    /// Whether another attempt may succeed (SPEC §3.1: connection failures
    /// and timeouts are retried; a forbidden address or a certificate that
    /// does not verify never is).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_) | UpstreamError::Timeout(_)
        )
    }
}

/// Which pool, and so which checks and trust, a request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Operator-configured providers: verified against the configured trust.
    Open,
    /// Client-supplied URLs: private addresses refused, directly or through a proxy.
    Guarded,
    /// A provider marked `tls_insecure`: certificates not verified (development only).
    Insecure,
}

/// How the upstream client is built (`gateway.*` and `providers.*.tls_insecure`).
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub connect_timeout: Duration,
    pub trust: Trust,
    pub proxy: ProxyConfig,
    /// Providers whose certificates are not verified.
    pub insecure_providers: Vec<String>,
    /// Request threads ([`crate::workers::Workers`]): each gets pools of its
    /// own, so an upstream connection is polled on the thread whose requests
    /// use it. Other threads share one set.
    pub request_threads: usize,
}

impl UpstreamConfig {
    /// Bundled roots, the proxy from the environment, nothing insecure.
    pub fn new(connect_timeout: Duration) -> Self {
        UpstreamConfig {
            connect_timeout,
            trust: Trust::default(),
            proxy: ProxyConfig::Environment,
            insecure_providers: Vec::new(),
            request_threads: 0,
        }
    }
}

/// Pools by trust and address policy: one for operator-configured providers,
/// one (guarded) for URLs clients supply, and one for `tls_insecure` providers.
struct Pools {
    open: OpenClient,
    guarded: GuardedClient,
    insecure: Option<OpenClient>,
}

/// The upstream client: a set of [`Pools`] per request thread, and one for
/// every other thread.
#[derive(Clone)]
pub struct Upstream {
    shared: Arc<Pools>,
    per_thread: Arc<[Pools]>,
    insecure_providers: Arc<[String]>,
    proxies: Option<Arc<Matcher>>,
    /// What the start-up log says about trust and proxies.
    pub summary: Vec<String>,
}

fn tcp<R>(mut http: HttpConnector<R>, connect_timeout: Duration) -> HttpConnector<R> {
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    http
}

fn https<R>(
    egress: egress::Egress<R>,
    tls: rustls::ClientConfig,
) -> HttpsConnector<egress::Egress<R>> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(egress)
}

impl Upstream {
    /// Bundled roots and the environment's proxies (tests and tools).
    pub fn new(connect_timeout: Duration) -> Result<Upstream, String> {
        Upstream::with_config(&UpstreamConfig::new(connect_timeout))
    }

    pub fn with_config(cfg: &UpstreamConfig) -> Result<Upstream, String> {
        let (roots, trust) = tls::root_store(&cfg.trust)?;
        let roots = Arc::new(roots);
        let proxies = Proxies::new(&cfg.proxy)?;
        let verified = tls::client_config(roots).map_err(|e| format!("TLS: {e}"))?;
        let to_proxy = || tcp(HttpConnector::new(), cfg.connect_timeout);
        let egress_open = || {
            egress::Egress::new(
                tcp(HttpConnector::new(), cfg.connect_timeout),
                to_proxy(),
                proxies.matcher.clone(),
                false,
            )
        };
        let guarded = || {
            egress::Egress::new(
                tcp(
                    HttpConnector::new_with_resolver(GuardedResolver),
                    cfg.connect_timeout,
                ),
                to_proxy(),
                proxies.matcher.clone(),
                true,
            )
        };
        let insecure_config = if cfg.insecure_providers.is_empty() {
            None
        } else {
            Some(tls::insecure_client_config().map_err(|e| format!("TLS: {e}"))?)
        };
        let pools = || Pools {
            open: pool::ConnPool::new(https(egress_open(), verified.clone())),
            guarded: pool::ConnPool::new(https(guarded(), verified.clone())),
            insecure: insecure_config
                .as_ref()
                .map(|c| pool::ConnPool::new(https(egress_open(), c.clone()))),
        };
        let mut summary = vec![format!(
            "upstream TLS trusts {}",
            [
                (trust.bundled, "bundled web roots"),
                (trust.system, "system store certificates"),
                (trust.ca_bundle, "certificates from gateway.ca_bundle"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect::<Vec<_>>()
            .join(" + ")
        )];
        summary.extend(proxies.summary.iter().map(|s| format!("egress proxy: {s}")));
        Ok(Upstream {
            shared: Arc::new(pools()),
            per_thread: (0..cfg.request_threads).map(|_| pools()).collect(),
            insecure_providers: cfg.insecure_providers.clone().into(),
            proxies: proxies.matcher,
            summary,
        })
    }

    /// This thread's pools.
    fn pools(&self) -> &Pools {
        crate::workers::worker_index()
            .checked_sub(1)
            .and_then(|i| self.per_thread.get(i))
            .unwrap_or(&self.shared)
    }

    /// The pool for an operator-configured route of `provider`.
    pub fn pool_for_provider(&self, provider: &str) -> Pool {
        if self.shared.insecure.is_some() && self.insecure_providers.iter().any(|p| p == provider) {
            Pool::Insecure
        } else {
            Pool::Open
        }
    }

    /// Send a request through `pool`. Waits at most `timeout` for the
    /// response head.
    pub async fn send(
        &self,
        mut req: http::Request<Full<Bytes>>,
        pool: Pool,
        timeout: std::time::Duration,
    ) -> Result<http::Response<Incoming>, UpstreamError> {
        if let Some(m) = &self.proxies {
            // Plain HTTP through a proxy carries the proxy's credentials on
            // each request (HTTPS sends them once, on CONNECT).
            if req.uri().scheme() == Some(&http::uri::Scheme::HTTP) {
                if let Some(auth) = m.intercept(req.uri()).and_then(|i| i.basic_auth().cloned()) {
                    req.headers_mut()
                        .insert(http::header::PROXY_AUTHORIZATION, auth);
                }
            }
        }
        let host = req.uri().host().unwrap_or_default().to_string();
        let pools = self.pools();
        let sent = match (pool, &pools.insecure) {
            (Pool::Guarded, _) => tokio::time::timeout(timeout, pools.guarded.request(req)).await,
            (Pool::Insecure, Some(insecure)) => {
                tokio::time::timeout(timeout, insecure.request(req)).await
            }
            _ => tokio::time::timeout(timeout, pools.open.request(req)).await,
        };
        let Ok(res) = sent else {
            return Err(UpstreamError::Timeout(timeout));
        };
        res.map_err(|e| classify(&e, &host))
    }
}

/// Every error in `e`'s chain, looking inside `io::Error`s (whose `source()`
/// skips the error they wrap).
fn chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cur) = next {
        out.push(cur);
        next = match cur
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cur.source(),
        };
        if out.len() > 32 {
            break;
        }
    }
    out
}

fn classify(e: &BoxError, host: &str) -> UpstreamError {
    let e: &(dyn std::error::Error + 'static) = &**e;
    let errors = chain(e);
    for s in &errors {
        if let Some(f) = s.downcast_ref::<ForbiddenAddress>() {
            return UpstreamError::Forbidden(f.to_string());
        }
        if let Some(p) = s.downcast_ref::<ProxyFailure>() {
            return UpstreamError::Unreachable(p.to_string());
        }
        if let Some(t) = s.downcast_ref::<rustls::Error>() {
            return UpstreamError::Tls(tls::describe_tls_error(t, host));
        }
    }
    UpstreamError::Unreachable(chain_text(e))
}

/// The messages of `e` and its sources, each once, joined by ": ".
pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut detail = String::new();
    for s in chain(e) {
        let text = s.to_string();
        // io::Error shows the error it wraps; keep each message once.
        if detail.ends_with(&text) {
            continue;
        }
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(&text);
    }
    detail
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
        match up.send(req, Pool::Guarded, Duration::from_secs(5)).await {
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
            up.send(req, Pool::Open, Duration::from_secs(5)).await,
            Err(UpstreamError::Unreachable(_))
        ));
    }
}
