//! A mock LLM provider speaking the OpenAI, Anthropic and Gemini wire formats
//! (JSON and SSE), for heliport's tests, for trying heliport without a
//! provider key, and as the upstream of the load benchmark.
//!
//! Endpoints are matched on the path suffix, so any base path works
//! (`/v1/chat/completions`, `/openai/v1/chat/completions`, ...):
//!
//! | suffix | shape |
//! |---|---|
//! | `/chat/completions` | OpenAI chat completions (JSON or SSE) |
//! | `/completions` | OpenAI legacy text completions (JSON or SSE) |
//! | `/embeddings` | OpenAI embeddings (8 floats per input) |
//! | `/responses` | OpenAI Responses API (JSON or SSE) |
//! | `/moderations` | OpenAI moderations (`FLAGME` is flagged) |
//! | `/capture/`, `/batch/` | PostHog capture: accepted (`{"status":1}`), kept for inspection |
//! | `/v1/traces` | an OTLP/HTTP traces collector: accepted, kept for inspection |
//! | `/classify` | a prompt-security classifier: `{"text"}` answered `{"threat"}`, true when the text holds `THREATME` |
//! | `/messages` | Anthropic Messages (JSON or SSE) |
//! | `/models/{m}:generateContent` | Gemini |
//! | `/models/{m}:streamGenerateContent` | Gemini stream (`?alt=sse` for SSE, else a JSON array) |
//! | `GET`/`DELETE /__mock/requests` | list / clear the recorded requests |
//! | `GET /__mock/health` | `{"status":"ok"}` |
//! | `GET /__mock/connections` | `{"accepted":N,"streams_cut":M}`: connections accepted so far, and streamed answers whose body was dropped before its end (the client cancelled) |
//!
//! With [`MockTls`] (`heliport mock --tls-cert --tls-key`) the mock serves
//! HTTPS and offers HTTP/2 and HTTP/1.1 by ALPN (or HTTP/1.1 only).
//!
//! Token counts are word counts (prompt: words of all request text, at least
//! 1; completion: words of the reply) so tests can assert exact numbers.
//!
//! Behaviour is steered per request with headers: `x-mock-reply`,
//! `x-mock-words`, `x-mock-model`, `x-mock-usage`, `x-mock-status`,
//! `x-mock-retry-after`, `x-mock-fail-count`/`-fail-id`/`-fail-status`,
//! `x-mock-delay-ms`, `x-mock-chunk-delay-ms`, `x-mock-break-after`,
//! `x-mock-end-delay-ms` (the body stays open that long after the last event,
//! as real providers end it a moment after `[DONE]`), `x-mock-chunk-bytes`
//! (frames of that many bytes, splitting events anywhere),
//! `x-mock-cache-read`, `x-mock-cache-write`, `x-mock-usage-json`,
//! `x-mock-service-tier`. An unknown `x-mock-*` header or a malformed value
//! is answered with 400. Every provider response carries
//! `x-mock-request-number`.
//!
//! `x-mock-usage-json: {...}` (a JSON object) is sent verbatim wherever the
//! mock would put its own usage: OpenAI `usage` (JSON answers, and the usage
//! chunk of a stream that asked for `stream_options.include_usage`; the
//! Responses `usage` of the answer and of `response.completed`), Anthropic
//! `usage` (the answer, and both `message_start` and `message_delta`), Gemini
//! `usageMetadata` (every chunk). `x-mock-usage: false` still sends none. It
//! lets a test give any usage a provider could report, to check what it
//! costs. `x-mock-service-tier: T` reports tier `T` as OpenAI's
//! `service_tier` (chat and Responses) instead of `default`; Anthropic's
//! tier is part of its usage object.

mod anthropic;
mod body;
mod controls;
mod gemini;
mod handler;
mod openai;
mod text;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use crate::body::MockBody;

pub use crate::controls::DEFAULT_REPLY;

/// How many received requests are kept for inspection.
pub const MAX_RECORDED: usize = 1000;

/// A request as the mock received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path plus `?query` if any.
    pub path_and_query: String,
    /// Header names are lowercase; repeated headers appear once per value.
    pub headers: Vec<(String, String)>,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// The raw body.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The HTTP form used by `GET /__mock/requests`: the body becomes a string.
impl Serialize for ReceivedRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ReceivedRequest", 5)?;
        s.serialize_field("method", &self.method)?;
        s.serialize_field("path_and_query", &self.path_and_query)?;
        s.serialize_field("headers", &self.headers)?;
        s.serialize_field("version", &self.version)?;
        s.serialize_field("body", &String::from_utf8_lossy(&self.body))?;
        s.end()
    }
}

/// A request in the form it arrived in: storing the parsed parts (all cheap
/// to move or ref-count) keeps recording off the benchmark's hot path; the
/// conversion to strings happens only when someone asks.
struct Recorded {
    method: Method,
    version: http::Version,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn to_received(&self) -> ReceivedRequest {
        ReceivedRequest {
            method: self.method.to_string(),
            version: format!("{:?}", self.version),
            path_and_query: self
                .uri
                .path_and_query()
                .map_or_else(|| self.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: self.body.to_vec(),
        }
    }
}

/// State shared by all connections of one mock server.
#[derive(Default)]
struct State {
    counter: AtomicU64,
    /// Connections accepted (TCP; with TLS, before the handshake).
    connections: AtomicU64,
    /// Streamed bodies dropped before their last event.
    streams_cut: Arc<AtomicU64>,
    requests: Mutex<VecDeque<Recorded>>,
    failures: Mutex<HashMap<String, u64>>,
}

/// A poisoned lock only means another request panicked mid-update; the data
/// (a log and counters) is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn next_request_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn record(
        &self,
        method: Method,
        version: http::Version,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) {
        let mut log = lock(&self.requests);
        if log.len() >= MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(Recorded {
            method,
            version,
            uri,
            headers,
            body,
        });
    }

    fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.requests)
            .iter()
            .map(Recorded::to_received)
            .collect()
    }

    fn clear(&self) -> usize {
        let mut log = lock(&self.requests);
        let n = log.len();
        log.clear();
        n
    }

    /// Counts one more request for fail id `id`; true while it is among the
    /// first `count`.
    fn should_fail(&self, id: &str, count: u64) -> bool {
        let mut failures = lock(&self.failures);
        let seen = failures.entry(id.to_owned()).or_insert(0);
        *seen += 1;
        *seen <= count
    }
}

/// `/__mock/*` endpoints; not counted and not recorded.
fn admin(state: &State, method: &Method, path: &str) -> Response<MockBody> {
    let json = |status: StatusCode, body: String| {
        let mut resp = Response::new(MockBody::full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    };
    match (method, path.rsplit_once("/__mock/").map(|(_, p)| p)) {
        (&Method::GET, Some("requests")) => {
            let body = serde_json::to_string(&state.requests())
                .unwrap_or_else(|e| format!(r#"{{"error":{}}}"#, text::json_str(&e.to_string())));
            json(StatusCode::OK, body)
        }
        (&Method::DELETE, Some("requests")) => {
            json(StatusCode::OK, format!(r#"{{"cleared":{}}}"#, state.clear()))
        }
        (&Method::GET, Some("health")) => json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned()),
        (&Method::GET, Some("connections")) => json(
            StatusCode::OK,
            format!(
                r#"{{"accepted":{},"streams_cut":{}}}"#,
                state.connections.load(Ordering::Relaxed),
                state.streams_cut.load(Ordering::Relaxed)
            ),
        ),
        _ => json(
            StatusCode::NOT_FOUND,
            r#"{"error":{"message":"mock: no such admin endpoint","type":"invalid_request_error","code":"not_found"}}"#
                .to_owned(),
        ),
    }
}

/// Serve the mock on an already-bound listener until the future is dropped.
///
/// Dropping the future stops accepting; connections already accepted run on
/// their own tasks until the client closes them or the runtime shuts down.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    serve_with_state(listener, Arc::new(State::default()), None).await
}

/// Bind `addr` and serve (for the CLI); HTTPS with `tls`.
pub async fn run(addr: SocketAddr, tls: Option<MockTls>) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, tls = tls.is_some(), "heliport mock provider listening");
    serve_with_state(
        listener,
        Arc::new(State::default()),
        tls.map(MockTls::acceptor),
    )
    .await
}

/// Start on `127.0.0.1:0` in a background tokio task (for tests).
pub async fn spawn() -> io::Result<MockHandle> {
    spawn_inner(None).await
}

/// Start an HTTPS mock on `127.0.0.1:0` in a background tokio task (for
/// tests); its [`MockHandle::base_url`] is `https://127.0.0.1:PORT`, so the
/// certificate must name IP address 127.0.0.1.
pub async fn spawn_tls(tls: MockTls) -> io::Result<MockHandle> {
    spawn_inner(Some(tls)).await
}

async fn spawn_inner(tls: Option<MockTls>) -> io::Result<MockHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(State::default());
    let https = tls.is_some();
    let task = tokio::spawn(serve_with_state(
        listener,
        Arc::clone(&state),
        tls.map(MockTls::acceptor),
    ));
    Ok(MockHandle {
        addr,
        https,
        state,
        task: task.abort_handle(),
    })
}

/// The mock's TLS: a certificate chain and key, offering HTTP/2 and HTTP/1.1
/// by ALPN unless [`MockTls::http1_only`].
#[derive(Debug)]
pub struct MockTls {
    config: rustls::ServerConfig,
}

impl MockTls {
    /// From PEM text: the chain (leaf first) and its private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<MockTls> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
        };
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("certificate PEM", &e))?;
        if certs.is_empty() {
            return Err(bad("certificate PEM", &"no certificate found"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("key PEM", &e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate and key", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(MockTls { config })
    }

    /// From PEM files (`heliport mock --tls-cert --tls-key`).
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> io::Result<MockTls> {
        let read = |p: &std::path::Path| {
            std::fs::read(p)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", p.display())))
        };
        MockTls::from_pem(&read(cert)?, &read(key)?)
    }

    /// Offer only HTTP/1.1, like an upstream without HTTP/2.
    pub fn http1_only(mut self) -> MockTls {
        self.config.alpn_protocols = vec![b"http/1.1".to_vec()];
        self
    }

    fn acceptor(self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::new(self.config))
    }
}

async fn serve_with_state(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Real providers take requests with far more than hyper's default of 100
    // headers (SDKs and proxies add many).
    builder.http1().max_headers(1000);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically EMFILE under benchmark load or a connection reset
                // before accept; back off briefly instead of spinning or
                // taking the whole mock down.
                tracing::warn!(error = %e, "mock: accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        state.connections.fetch_add(1, Ordering::Relaxed);
        // Small SSE frames must not wait for Nagle.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "mock: set_nodelay failed");
        }
        let state = Arc::clone(&state);
        let builder = builder.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handler::handle(Arc::clone(&state), req));
            let served = match tls {
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls_stream) => {
                        builder
                            .serve_connection(TokioIo::new(tls_stream), service)
                            .await
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "mock: TLS handshake failed");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                // Includes the aborts caused by x-mock-break-after.
                tracing::debug!(error = %e, "mock: connection ended with an error");
            }
        });
    }
}

/// A mock server running in a background task; see [`spawn`].
///
/// Dropping the handle leaves the server running (it stops with the tokio
/// runtime), so `spawn().await?.addr` is a valid way to use it; call
/// [`MockHandle::shutdown`] to stop accepting earlier.
#[derive(Clone)]
pub struct MockHandle {
    /// The bound address (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    https: bool,
    state: Arc<State>,
    task: AbortHandle,
}

impl std::fmt::Debug for MockHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockHandle {
    /// `http://127.0.0.1:PORT` (`https://` for [`spawn_tls`]), without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Streamed answers whose body was dropped before its last event (the
    /// client, heliport, went away or reset the stream).
    pub fn streams_cut(&self) -> u64 {
        self.state.streams_cut.load(Ordering::Relaxed)
    }

    /// The last [`MAX_RECORDED`] requests received, oldest first
    /// (`/__mock/*` requests excluded).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.state.requests()
    }

    /// The most recent request received, if any.
    pub fn last_request(&self) -> Option<ReceivedRequest> {
        lock(&self.state.requests).back().map(Recorded::to_received)
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.state.clear();
    }

    /// Stop accepting new connections.
    pub fn shutdown(&self) {
        self.task.abort();
    }
}
