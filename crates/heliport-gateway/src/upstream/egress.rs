//! Where upstream connections go: straight to the target, or through an
//! HTTP egress proxy (a `CONNECT` tunnel for `https`, absolute-form requests
//! for `http`), chosen per target by hyper-util's curl-style matcher.
//!
//! For client-supplied URLs the private-address check still applies through a
//! proxy: the proxy would resolve the name itself, so heliport resolves the
//! target and refuses it before it asks the proxy for anything.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use heliport_core::redact::redact_query;
use http::Uri;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::{Service, ServiceExt};

use super::{resolve_checked, BoxError};

/// `gateway.proxy`: which egress proxy, if any, upstream connections use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxyConfig {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, lowercase
    /// forms first, as curl reads them.
    #[default]
    Environment,
    /// No proxy, whatever the environment says (`gateway.proxy = "none"`).
    Off,
    /// This proxy for every target except those `no_proxy` lists.
    Url { url: String, no_proxy: String },
}

/// The proxy rules in force, with what the start-up log says about them.
pub struct Proxies {
    pub(crate) matcher: Option<Arc<Matcher>>,
    /// One line per scheme proxied, credentials left out.
    pub summary: Vec<String>,
}

fn env_first(names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (n.to_string(), v))
    })
}

/// Only plain-HTTP proxies are spoken to (TLS to the target still runs end to
/// end inside the tunnel); anything else is refused at start rather than
/// silently ignored.
fn check_proxy_url(source: &str, url: &str) -> Result<(), String> {
    let shown = redact_query(url);
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| format!("{source}: '{shown}' is not a valid proxy URL"))?;
    match uri.scheme_str() {
        None | Some("http") => {}
        Some(other) => {
            return Err(format!(
                "{source}: proxy scheme '{other}' is not supported; heliport talks to its egress proxy \
                 over plain HTTP (http://host:port), and HTTPS to the target stays end to end inside \
                 the CONNECT tunnel"
            ))
        }
    }
    if uri.host().is_none() {
        return Err(format!("{source}: '{shown}' names no proxy host"));
    }
    Ok(())
}

impl Proxies {
    /// The rules of `cfg` (reading the environment for [`ProxyConfig::Environment`]).
    pub fn new(cfg: &ProxyConfig) -> Result<Proxies, String> {
        let builder = match cfg {
            ProxyConfig::Off => {
                return Ok(Proxies {
                    matcher: None,
                    summary: Vec::new(),
                })
            }
            ProxyConfig::Url { url, no_proxy } => {
                check_proxy_url("gateway.proxy", url)?;
                Matcher::builder().all(url.trim()).no(no_proxy.as_str())
            }
            ProxyConfig::Environment => {
                let mut b = Matcher::builder();
                let https = env_first(&["https_proxy", "HTTPS_PROXY"]);
                let http = env_first(&["http_proxy", "HTTP_PROXY"]);
                let all = env_first(&["all_proxy", "ALL_PROXY"]);
                if https.is_none() && http.is_none() && all.is_none() {
                    return Ok(Proxies {
                        matcher: None,
                        summary: Vec::new(),
                    });
                }
                for (name, value) in [&https, &http, &all].into_iter().flatten() {
                    check_proxy_url(name, value)?;
                }
                if let Some((_, v)) = https {
                    b = b.https(v);
                }
                if let Some((_, v)) = http {
                    b = b.http(v);
                }
                if let Some((_, v)) = all {
                    b = b.all(v);
                }
                if let Some((_, v)) = env_first(&["no_proxy", "NO_PROXY"]) {
                    b = b.no(v);
                }
                b
            }
        };
        let matcher = builder.build();
        let mut summary = Vec::new();
        for scheme in ["https", "http"] {
            let probe: Uri = format!("{scheme}://heliport-proxy-probe.invalid/")
                .parse()
                .map_err(|_| "internal: probe URL".to_string())?;
            if let Some(i) = matcher.intercept(&probe) {
                summary.push(format!(
                    "{scheme} via {}{}",
                    proxy_name(&i),
                    if has_credentials(&i) {
                        " (with credentials)"
                    } else {
                        ""
                    }
                ));
            }
        }
        if summary.is_empty() {
            return Ok(Proxies {
                matcher: None,
                summary,
            });
        }
        Ok(Proxies {
            matcher: Some(Arc::new(matcher)),
            summary,
        })
    }
}

fn has_credentials(i: &Intercept) -> bool {
    i.basic_auth().is_some() || i.raw_auth().is_some()
}

/// `host:port` of the proxy (the matcher keeps credentials apart from the URI).
fn proxy_name(i: &Intercept) -> String {
    redact_query(&i.uri().to_string())
        .trim_end_matches('/')
        .to_string()
}

/// A failure to get through the egress proxy, in words safe to show (no credentials).
#[derive(Debug)]
pub struct ProxyFailure(pub String);

impl std::fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyFailure {}

/// hyper-util does not export its tunnel error type, so its kinds are told
/// apart by their messages (pinned by this module's tests).
fn tunnel_failure<E: std::error::Error>(proxy: &str, dst: &Uri, e: E) -> ProxyFailure {
    let target = format!(
        "{}:{}",
        dst.host().unwrap_or("?"),
        dst.port_u16().unwrap_or(443)
    );
    let text = e.to_string();
    ProxyFailure(if text.contains("failed to create underlying connection") {
        match e.source() {
            Some(inner) => format!(
                "cannot reach the egress proxy {proxy}: {}",
                super::chain_text(inner)
            ),
            None => format!("cannot reach the egress proxy {proxy}"),
        }
    } else if text.contains("proxy authorization required") {
        format!(
            "the egress proxy {proxy} refused the tunnel to {target}: proxy authentication required (407)"
        )
    } else if text.ends_with("unsuccessful") {
        format!("the egress proxy {proxy} refused to open a tunnel to {target}")
    } else {
        format!("the egress proxy {proxy} failed to open a tunnel to {target}: {text}")
    })
}

/// The transport of one upstream connection.
pub struct EgressStream {
    io: TokioIo<TcpStream>,
    /// Plain HTTP sent to a proxy: requests go in absolute form.
    http_proxy: bool,
}

impl Connection for EgressStream {
    fn connected(&self) -> Connected {
        // Not the TCP stream's own `connected()`: its socket addresses
        // (`HttpInfo`) would be copied into every response's extensions, two
        // allocations a request that nothing here reads.
        Connected::new().proxy(self.http_proxy)
    }
}

impl hyper::rt::Read for EgressStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for EgressStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// Connects to the target directly (through `direct`, whose resolver may
/// refuse private addresses) or through the proxy the matcher names.
#[derive(Clone)]
pub struct Egress<R> {
    direct: HttpConnector<R>,
    /// To the proxy itself: the operator's, resolved by the system.
    to_proxy: HttpConnector,
    proxies: Option<Arc<Matcher>>,
    /// Check the target's addresses before asking a proxy for it.
    guarded: bool,
}

impl<R> Egress<R> {
    pub fn new(
        direct: HttpConnector<R>,
        to_proxy: HttpConnector,
        proxies: Option<Arc<Matcher>>,
        guarded: bool,
    ) -> Self {
        Egress {
            direct,
            to_proxy,
            proxies,
            guarded,
        }
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<EgressStream, BoxError>> + Send>>;

impl<R> Service<Uri> for Egress<R>
where
    HttpConnector<R>: Service<Uri, Response = TokioIo<TcpStream>> + Clone + Send + 'static,
    <HttpConnector<R> as Service<Uri>>::Future: Send,
    <HttpConnector<R> as Service<Uri>>::Error: Into<BoxError>,
{
    type Response = EgressStream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both inner connectors are always ready; each call takes its own clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let Some(intercept) = self.proxies.as_ref().and_then(|m| m.intercept(&dst)) else {
            let direct = self.direct.clone();
            return Box::pin(async move {
                let io = direct.oneshot(dst).await.map_err(Into::into)?;
                Ok(EgressStream {
                    io,
                    http_proxy: false,
                })
            });
        };
        let to_proxy = self.to_proxy.clone();
        let guarded = self.guarded;
        Box::pin(async move {
            if guarded {
                check_target(&dst).await?;
            }
            let proxy = proxy_name(&intercept);
            let proxy_uri = intercept.uri().clone();
            if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(proxy_uri, to_proxy);
                if let Some(auth) = intercept.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let io = tunnel
                    .oneshot(dst.clone())
                    .await
                    .map_err(|e| tunnel_failure(&proxy, &dst, e))?;
                Ok(EgressStream {
                    io,
                    http_proxy: false,
                })
            } else {
                let io = to_proxy.oneshot(proxy_uri).await.map_err(|e| {
                    let e: BoxError = e.into();
                    ProxyFailure(format!(
                        "cannot reach the egress proxy {proxy}: {}",
                        super::chain_text(&*e)
                    ))
                })?;
                Ok(EgressStream {
                    io,
                    http_proxy: true,
                })
            }
        })
    }
}

/// Refuse a target whose host is, or resolves to, a forbidden address. The
/// proxy resolves the name again when it connects: see docs/behaviour.md for
/// the window that leaves.
async fn check_target(dst: &Uri) -> Result<Vec<SocketAddr>, BoxError> {
    let host = dst.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    resolve_checked(host).await
}
