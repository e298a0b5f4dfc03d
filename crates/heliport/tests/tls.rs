//! TLS, HTTP/2 and egress proxies end to end: the heliport binary against a
//! TLS mock upstream (certificates made here with rcgen, signed by a private
//! CA), small CONNECT proxies that count what they carry, and heliport's own
//! listener over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- certificates

/// A private certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its key, PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `localhost`, 127.0.0.1 and any `extra_ips`.
    fn leaf(&self, extra_ips: &[IpAddr]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.distinguished_name
            .push(DnType::CommonName, "heliport test server");
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        for ip in extra_ips {
            p.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heliport-tls-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A TLS mock upstream (HTTP/2 and HTTP/1.1 offered, or HTTP/1.1 only).
async fn tls_mock(leaf: &Leaf, h2: bool) -> MockHandle {
    let tls = heliport_mock::MockTls::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap();
    let tls = if h2 { tls } else { tls.http1_only() };
    heliport_mock::spawn_tls(tls).await.unwrap()
}

fn auth(h: &Heliport) -> String {
    format!("Bearer {}", h.key)
}

async fn chat(h: &Heliport, path: &str, headers: &[(&str, &str)], stream: bool) -> Resp {
    let a = auth(h);
    let mut all = vec![
        ("helicone-auth", a.as_str()),
        ("content-type", "application/json"),
    ];
    all.extend_from_slice(headers);
    send(
        "POST",
        &h.url(path),
        &all,
        chat_body("one two three", stream),
    )
    .await
}

fn error_message(body: &Bytes) -> String {
    json(body)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------- upstream TLS and HTTP/2

/// Chat and a stream through a TLS upstream signed by a private CA; returns
/// the HTTP version the upstream saw.
async fn chat_and_stream_through(mock: &MockHandle, h: &Heliport) -> String {
    let (status, headers, body) = chat(h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        json(&body)["choices"][0]["message"]["content"],
        heliport_mock::DEFAULT_REPLY
    );
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["prompt_tokens"], 3);
    assert_eq!(r["completion_tokens"], 5);
    let version = mock.last_request().unwrap().version;

    let (status, headers, body) = chat(h, "/v1/chat/completions", &[], true).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("data: [DONE]"), "{text}");
    let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
    assert_eq!(r["stream"], true);
    assert_eq!(r["completion_tokens"], 5);
    assert_eq!(r["usage_estimated"], false);
    assert_eq!(r["failure"], serde_json::Value::Null);
    assert_eq!(mock.last_request().unwrap().version, version);
    version
}

#[tokio::test]
async fn chat_and_streams_over_h2_and_http1_with_a_private_ca() {
    let ca = Ca::new("heliport test CA");
    let leaf = ca.leaf(&[]);
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    for (h2, want) in [(true, "HTTP/2.0"), (false, "HTTP/1.1")] {
        let mock = tls_mock(&leaf, h2).await;
        let h = Heliport::start(&mock, &[("HELIPORT_CA_BUNDLE", &bundle)]);
        assert_eq!(chat_and_stream_through(&mock, &h).await, want);
    }
}

#[tokio::test]
async fn the_system_store_is_used_when_asked() {
    let ca = Ca::new("heliport system CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let dir = temp_dir();
    // rustls-native-certs reads SSL_CERT_FILE as the system store.
    let file = write(&dir, "system.pem", &ca.pem());
    let h = Heliport::start(
        &mock,
        &[("HELIPORT_TLS_ROOTS", "system"), ("SSL_CERT_FILE", &file)],
    );
    let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn a_hundred_sequential_calls_share_one_connection_a_request_thread() {
    let ca = Ca::new("heliport test CA");
    let leaf = ca.leaf(&[]);
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    for h2 in [true, false] {
        let mock = tls_mock(&leaf, h2).await;
        // Each request thread keeps upstream pools of its own.
        let h = Heliport::start(
            &mock,
            &[
                ("HELIPORT_CA_BUNDLE", &bundle),
                ("HELIPORT_REQUEST_THREADS", "2"),
            ],
        );
        for i in 0..100 {
            let stream = i % 2 == 1;
            let (status, headers, _) = chat(&h, "/v1/chat/completions", &[], stream).await;
            assert_eq!(status, 200);
            if stream {
                // hyper's client hands an HTTP/1.1 connection back to its
                // pool from a task of its own once the streamed body ended;
                // the next call could race it on a loaded machine. The record
                // is written later than that end, so waiting for it orders them.
                h.record(headers["helicone-id"].to_str().unwrap()).await;
            }
        }
        let upstream = mock.connections();
        assert!(
            (1..=2).contains(&upstream),
            "h2={h2}: 100 sequential calls must reuse one upstream connection a request thread, made {upstream}"
        );
    }
}

#[tokio::test]
async fn a_client_that_leaves_an_h2_stream_resets_only_that_stream() {
    let ca = Ca::new("heliport test CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    // One request thread: its pool is the one both calls below use.
    let h = Heliport::start(
        &mock,
        &[
            ("HELIPORT_CA_BUNDLE", &bundle),
            ("HELIPORT_REQUEST_THREADS", "1"),
        ],
    );
    let a = auth(&h);
    let resp = start(
        "POST",
        &h.url("/v1/chat/completions"),
        &[
            ("helicone-auth", &a),
            ("content-type", "application/json"),
            ("x-mock-chunk-delay-ms", "200"),
            ("x-mock-words", "50"),
        ],
        chat_body("go", true),
    )
    .await;
    let id = resp.headers()["helicone-id"].to_str().unwrap().to_string();
    let mut body = resp.into_body();
    let _ = body.frame().await;
    drop(body);
    let r = h.record(&id).await;
    assert_eq!(r["cancelled"], true);
    assert_eq!(r["failure"], "cancelled");
    // The upstream saw its stream reset...
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock.streams_cut() == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream stream was never cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and the connection lives on.
    let (status, _, _) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200);
    assert_eq!(mock.connections(), 1);
    assert_eq!(mock.last_request().unwrap().version, "HTTP/2.0");
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_a_clear_502_and_not_retried() {
    let ca = Ca::new("heliport test CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let dir = temp_dir();
    // Bundled roots only, and then a CA bundle holding another CA.
    let other = write(&dir, "other.pem", &Ca::new("another CA").pem());
    for extra in [vec![], vec![("HELIPORT_CA_BUNDLE", other.as_str())]] {
        let h = Heliport::start(&mock, &extra);
        let before = mock.connections();
        let (status, headers, body) = chat(
            &h,
            "/v1/chat/completions",
            &[
                ("helicone-retry-enabled", "true"),
                ("helicone-retry-num", "3"),
            ],
            false,
        )
        .await;
        assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
        let v = json(&body);
        assert_eq!(v["error"]["code"], "upstream_unreachable");
        let msg = error_message(&body);
        assert!(msg.contains("did not verify"), "{msg}");
        assert!(msg.contains("unknown certificate authority"), "{msg}");
        assert!(msg.contains("gateway.ca_bundle"), "{msg}");
        assert_eq!(
            mock.connections() - before,
            1,
            "a TLS failure is not retried"
        );
        assert!(mock.requests().is_empty());
        let r = h.record(headers["helicone-id"].to_str().unwrap()).await;
        assert_eq!(r["failure"], "upstream_unreachable");
    }
}

#[tokio::test]
async fn tls_insecure_is_per_provider_loud_and_never_for_client_urls() {
    let ca = Ca::new("unknown CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let base = mock.base_url();
    let h = Heliport::start_logged(
        &mock,
        &[
            ("HELIPORT_GROQ_BASE_URL", &base),
            ("HELIPORT_GROQ_TLS_INSECURE", "true"),
            ("HELIPORT_ALLOWED_TARGETS", &base),
        ],
    );
    let log = h.log();
    assert!(
        log.contains("WARNING: providers.groq.tls_insecure = true")
            && log.contains("is NOT verified"),
        "{log}"
    );
    let (status, _, body) = chat(&h, "/groq/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Another provider at the same server is verified.
    let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    // So is the same URL when a client supplies it.
    let (status, _, body) = chat(
        &h,
        "/groq/v1/chat/completions",
        &[("helicone-target-url", &base)],
        false,
    )
    .await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert!(error_message(&body).contains("did not verify"));
}

// ---------------------------------------------------------------- egress proxies

#[derive(Clone, Copy)]
enum ProxyMode {
    /// Tunnel and forward to the loopback address asked for.
    Forward,
    /// Tunnel every CONNECT to this address, whatever was asked.
    Redirect(SocketAddr),
    /// Answer every request with this status.
    Refuse(u16),
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    proxy_auth: Option<String>,
}

/// A small HTTP proxy on loopback that counts the tunnels it opens.
struct TestProxy {
    addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestProxy {
    async fn spawn(mode: ProxyMode) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (t, s) = (tunnels.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(proxy_conn(conn, mode, t.clone(), s.clone()));
            }
        });
        TestProxy {
            addr,
            tunnels,
            seen,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn proxy_conn(
    mut conn: TcpStream,
    mode: ProxyMode,
    tunnels: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let end = loop {
        let mut chunk = [0u8; 4096];
        let n = match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        assert!(buf.len() < 65536, "proxy: head too long");
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let target = first.next().unwrap_or_default().to_string();
    let proxy_auth = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_string());
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        proxy_auth,
    });
    let dest = match mode {
        ProxyMode::Refuse(code) => {
            let _ = conn
                .write_all(
                    format!("HTTP/1.1 {code} Refused\r\ncontent-length: 0\r\n\r\n").as_bytes(),
                )
                .await;
            return;
        }
        ProxyMode::Redirect(to) if method == "CONNECT" => to.to_string(),
        _ if method == "CONNECT" => target.clone(),
        _ => target
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_string(),
    };
    // This proxy only ever connects on this machine.
    let Ok(dest_addr) = dest.parse::<SocketAddr>() else {
        let _ = conn.write_all(b"HTTP/1.1 502 Not Loopback\r\n\r\n").await;
        return;
    };
    assert!(
        dest_addr.ip().is_loopback(),
        "proxy: {dest} is not loopback"
    );
    let Ok(mut upstream) = TcpStream::connect(dest_addr).await else {
        let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if method == "CONNECT" {
        tunnels.fetch_add(1, Ordering::SeqCst);
        if conn
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let _ = upstream.write_all(&buf[end..]).await;
    } else {
        // Absolute-form requests go on as they are (hyper's server takes them).
        let _ = upstream.write_all(&buf).await;
    }
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
}

/// An environment with every proxy variable of the test process's own
/// environment neutralised, plus `extra`.
fn proxy_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("https_proxy", ""),
        ("http_proxy", ""),
        ("all_proxy", ""),
        ("no_proxy", ""),
        ("HTTPS_PROXY", ""),
        ("HTTP_PROXY", ""),
        ("ALL_PROXY", ""),
        ("NO_PROXY", ""),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_with_the_proxy_credentials() {
    let ca = Ca::new("heliport test CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let proxy = TestProxy::spawn(ProxyMode::Forward).await;
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    let proxy_url = format!("http://alice:s3cr%40t@{}", proxy.addr);
    let h = Heliport::start_logged(
        &mock,
        &proxy_env(&[
            ("HELIPORT_CA_BUNDLE", &bundle),
            ("HTTPS_PROXY", &proxy_url),
            ("HELIPORT_LOG", "info"),
            // One request thread, so one pool: the tunnel is reused.
            ("HELIPORT_REQUEST_THREADS", "1"),
        ]),
    );
    for stream in [false, true, false] {
        let (status, _, body) = chat(&h, "/v1/chat/completions", &[], stream).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    assert_eq!(proxy.tunnels(), 1, "one tunnel, reused: {:?}", proxy.seen());
    assert_eq!(mock.connections(), 1);
    assert_eq!(mock.last_request().unwrap().version, "HTTP/2.0");
    let seen = proxy.seen();
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, mock.addr.to_string());
    // alice:s3cr@t, percent-decoded from the URL.
    assert_eq!(
        seen[0].proxy_auth.as_deref(),
        Some("Basic YWxpY2U6czNjckB0")
    );
    let log = h.log();
    assert!(log.contains("egress proxy"), "{log}");
    assert!(!log.contains("s3cr") && !log.contains("YWxpY2U6"), "{log}");
}

#[tokio::test]
async fn plain_http_goes_to_the_proxy_in_absolute_form() {
    let mock = heliport_mock::spawn().await.unwrap();
    let proxy = TestProxy::spawn(ProxyMode::Forward).await;
    let proxy_url = format!("http://bob:pw@{}", proxy.addr);
    let h = Heliport::start(&mock, &proxy_env(&[("http_proxy", &proxy_url)]));
    let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].target,
        format!("{}/v1/chat/completions", mock.base_url())
    );
    assert_eq!(seen[0].proxy_auth.as_deref(), Some("Basic Ym9iOnB3"));
    assert_eq!(proxy.tunnels(), 0);
}

#[tokio::test]
async fn no_proxy_exempts_a_host_and_gateway_proxy_overrides_the_environment() {
    let ca = Ca::new("heliport test CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let proxy = TestProxy::spawn(ProxyMode::Forward).await;
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    let dead = "http://127.0.0.1:1";
    let url = proxy.url();

    // NO_PROXY: straight to the upstream.
    let h = Heliport::start(
        &mock,
        &proxy_env(&[
            ("HELIPORT_CA_BUNDLE", &bundle),
            ("HTTPS_PROXY", &url),
            ("NO_PROXY", "example.com, 127.0.0.1"),
        ]),
    );
    let (status, _, _) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200);
    assert_eq!(proxy.tunnels(), 0);
    drop(h);

    // gateway.proxy wins over a (dead) environment proxy.
    let h = Heliport::start(
        &mock,
        &proxy_env(&[
            ("HELIPORT_CA_BUNDLE", &bundle),
            ("HTTPS_PROXY", dead),
            ("HELIPORT_PROXY", &url),
        ]),
    );
    let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(proxy.tunnels(), 1);
    drop(h);

    // gateway.proxy = "none" ignores the environment.
    let h = Heliport::start(
        &mock,
        &proxy_env(&[
            ("HELIPORT_CA_BUNDLE", &bundle),
            ("HTTPS_PROXY", dead),
            ("HELIPORT_PROXY", "none"),
        ]),
    );
    let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(proxy.tunnels(), 1);
}

#[tokio::test]
async fn a_proxy_that_refuses_is_a_clear_502() {
    let ca = Ca::new("heliport test CA");
    let mock = tls_mock(&ca.leaf(&[]), true).await;
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    for (code, words) in [
        (403, "refused to open a tunnel"),
        (407, "proxy authentication required"),
    ] {
        let proxy = TestProxy::spawn(ProxyMode::Refuse(code)).await;
        let url = format!("http://carol:topsecret@{}", proxy.addr);
        let h = Heliport::start(
            &mock,
            &proxy_env(&[("HELIPORT_CA_BUNDLE", &bundle), ("HTTPS_PROXY", &url)]),
        );
        let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
        assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
        let msg = error_message(&body);
        assert!(msg.contains(words), "{msg}");
        assert!(msg.contains(&proxy.addr.to_string()), "{msg}");
        assert!(
            !msg.contains("topsecret") && !msg.contains("carol"),
            "{msg}"
        );
        assert_eq!(json(&body)["error"]["code"], "upstream_unreachable");
    }
    // A proxy that is not there at all.
    let h = Heliport::start(
        &mock,
        &proxy_env(&[
            ("HELIPORT_CA_BUNDLE", &bundle),
            ("HTTPS_PROXY", "http://127.0.0.1:1"),
        ]),
    );
    let (status, _, body) = chat(&h, "/v1/chat/completions", &[], false).await;
    assert_eq!(status, 502);
    assert!(
        error_message(&body).contains("cannot reach the egress proxy http://127.0.0.1:1"),
        "{}",
        error_message(&body)
    );
}

#[tokio::test]
async fn client_urls_are_checked_before_the_proxy_is_asked() {
    // The upstream answers for 203.0.113.10 (a documentation address no
    // packet ever goes to): the proxy sends that tunnel to the mock.
    let public: IpAddr = "203.0.113.10".parse().unwrap();
    let ca = Ca::new("heliport test CA");
    let mock = tls_mock(&ca.leaf(&[public]), true).await;
    let proxy = TestProxy::spawn(ProxyMode::Redirect(mock.addr)).await;
    let dir = temp_dir();
    let bundle = write(&dir, "ca.pem", &ca.pem());
    let url = proxy.url();
    let h = Heliport::start(
        &mock,
        &proxy_env(&[("HELIPORT_CA_BUNDLE", &bundle), ("HTTPS_PROXY", &url)]),
    );
    // A name that resolves to loopback: refused before any tunnel.
    let port = mock.addr.port();
    let (status, _, body) = chat(
        &h,
        "/v1/chat/completions",
        &[("helicone-target-url", &format!("https://localhost:{port}"))],
        false,
    )
    .await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["error"]["code"], "target_not_allowed");
    assert_eq!(proxy.tunnels(), 0, "{:?}", proxy.seen());
    // A public address goes through the proxy, by name.
    let (status, _, body) = chat(
        &h,
        "/v1/chat/completions",
        &[("helicone-target-url", "https://203.0.113.10")],
        false,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.seen()[0].target, "203.0.113.10:443");
}

// ---------------------------------------------------------------- TLS on the listener

fn client_tls(ca_pems: &[&str], alpn: &[&[u8]]) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

fn listener_addr(h: &Heliport) -> SocketAddr {
    h.base.strip_prefix("https://").unwrap().parse().unwrap()
}

async fn tls_connect(
    h: &Heliport,
    cfg: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(listener_addr(h)).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
}

type H2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// An HTTP/2 connection to heliport's TLS listener; the task ends when the connection does.
async fn h2_connection(h: &Heliport, ca: &str) -> (H2Sender, tokio::task::JoinHandle<()>) {
    let tls = tls_connect(h, client_tls(&[ca], &[b"h2"])).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    (
        send,
        tokio::spawn(async move {
            let _ = conn.await;
        }),
    )
}

fn listener_request(
    h: &Heliport,
    stream: bool,
    extra: &[(&str, &str)],
) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::post(h.url("/v1/chat/completions"))
        .header("helicone-auth", auth(h))
        .header("content-type", "application/json");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(Full::new(Bytes::from(chat_body("over tls", stream))))
        .unwrap()
}

/// heliport serving TLS with `leaf`, files in `dir`.
fn tls_heliport(mock: &MockHandle, dir: &Path, leaf: &Leaf, extra: &[(&str, &str)]) -> Heliport {
    let cert = write(dir, "cert.pem", &leaf.cert_pem);
    let key = write(dir, "key.pem", &leaf.key_pem);
    let mut env = vec![
        ("HELIPORT_TLS_CERT", cert.as_str()),
        ("HELIPORT_TLS_KEY", key.as_str()),
    ];
    env.extend_from_slice(extra);
    let h = Heliport::start(mock, &env);
    assert!(h.base.starts_with("https://"), "{}", h.base);
    h
}

/// The record of `id`, read through the REST API over the same HTTP/2 connection.
async fn h2_record(send: &mut H2Sender, h: &Heliport, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = send
            .send_request(
                http::Request::get(h.url(&format!("/v1/request/{id}")))
                    .header("authorization", auth(h))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        if status == 200 {
            return json(&body)["data"].clone();
        }
        assert!(Instant::now() < deadline, "no record for {id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_listener_serves_https_over_h2_and_http1() {
    let mock = heliport_mock::spawn().await.unwrap();
    let ca = Ca::new("listener CA");
    let dir = temp_dir();
    let h = tls_heliport(&mock, &dir, &ca.leaf(&[]), &[]);

    // HTTP/2: a chat and a stream on one connection.
    let (mut send, _conn) = h2_connection(&h, &ca.pem()).await;
    let resp = send
        .send_request(listener_request(&h, false, &[]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let id = resp.headers()["helicone-id"].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        json(&body)["choices"][0]["message"]["content"],
        heliport_mock::DEFAULT_REPLY
    );
    let r = h2_record(&mut send, &h, &id).await;
    assert_eq!(r["completion_tokens"], 5);
    assert_eq!(r["response_status"], 200);
    let resp = send
        .send_request(listener_request(&h, true, &[]))
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("data: [DONE]"));

    // A refusal over HTTP/2 carries its length; the answer to HEAD has no
    // body (an HTTP/2 client resets a HEAD stream that sends one).
    for method in [http::Method::POST, http::Method::HEAD] {
        let req = http::Request::builder()
            .method(method.clone())
            .uri(h.url("/v1/chat/completions"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 401, "{method}");
        let length: usize = resp.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        if method == http::Method::HEAD {
            assert!(body.is_empty(), "{body:?}");
            assert!(length > 0);
        } else {
            assert_eq!(body.len(), length);
            assert!(error_message(&body).contains("Helicone-Auth"), "{body:?}");
        }
    }

    // HTTP/1.1 for a client that offers only it.
    let tls = tls_connect(&h, client_tls(&[&ca.pem()], &[b"http/1.1"]))
        .await
        .unwrap();
    let (mut send1, conn1) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn1);
    let resp = send1
        .send_request(listener_request(&h, false, &[]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);

    // A client that does not trust the certificate gets no connection.
    let other = Ca::new("not the listener's CA");
    assert!(tls_connect(&h, client_tls(&[&other.pem()], &[b"h2"]))
        .await
        .is_err());
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let mock = heliport_mock::spawn().await.unwrap();
    let (ca1, ca2) = (Ca::new("first CA"), Ca::new("second CA"));
    let dir = temp_dir();
    let h = tls_heliport(&mock, &dir, &ca1.leaf(&[]), &[]);

    // A stream in flight on a connection made with the first certificate.
    let (mut send, conn) = h2_connection(&h, &ca1.pem()).await;
    let resp = send
        .send_request(listener_request(
            &h,
            true,
            &[("x-mock-chunk-delay-ms", "100"), ("x-mock-words", "20")],
        ))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut seen = Vec::new();
    if let Some(f) = body.frame().await {
        seen.extend_from_slice(f.unwrap().data_ref().unwrap());
    }

    // New files, then SIGHUP: new connections get the second certificate.
    let leaf2 = ca2.leaf(&[]);
    write(&dir, "cert.pem", &leaf2.cert_pem);
    write(&dir, "key.pem", &leaf2.key_pem);
    let pid = h.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while tls_connect(&h, client_tls(&[&ca2.pem()], &[b"h2"]))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(tls_connect(&h, client_tls(&[&ca1.pem()], &[b"h2"]))
        .await
        .is_err());

    // The old connection finished its stream and still takes requests.
    while let Some(f) = body.frame().await {
        if let Some(d) = f.unwrap().data_ref() {
            seen.extend_from_slice(d);
        }
    }
    assert!(String::from_utf8_lossy(&seen).contains("data: [DONE]"));
    let resp = send
        .send_request(listener_request(&h, false, &[]))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!conn.is_finished());

    // A broken file keeps the certificate in force.
    write(&dir, "key.pem", "not a key");
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let (status, _, _) = send_h2_health(&h, &ca2.pem()).await;
    assert_eq!(status, 200);
}

async fn send_h2_health(h: &Heliport, ca: &str) -> (u16, http::HeaderMap, Bytes) {
    let (mut send, _conn) = h2_connection(h, ca).await;
    let resp = send
        .send_request(
            http::Request::get(h.url("/healthz"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

#[tokio::test]
async fn idle_h2_connections_are_closed_and_streams_are_limited() {
    let mock = heliport_mock::spawn().await.unwrap();
    let ca = Ca::new("listener CA");
    let dir = temp_dir();
    let h = tls_heliport(
        &mock,
        &dir,
        &ca.leaf(&[]),
        &[
            ("HELIPORT_HEADER_READ_TIMEOUT_SECS", "1"),
            ("HELIPORT_HTTP2_MAX_STREAMS", "7"),
        ],
    );

    // The limit on concurrent streams is in the server's SETTINGS.
    let tls = tls_connect(&h, client_tls(&[&ca.pem()], &[b"h2"]))
        .await
        .unwrap();
    let (mut client, mut connection) = h2::client::handshake(tls).await.unwrap();
    let _keep_open = client.clone();
    let (resp, _) = client
        .send_request(
            http::Request::get(h.url("/healthz")).body(()).unwrap(),
            true,
        )
        .unwrap();
    tokio::select! {
        r = resp => assert_eq!(r.unwrap().status(), 200),
        r = &mut connection => panic!("connection ended: {r:?}"),
    }
    assert_eq!(connection.max_concurrent_send_streams(), 7);
    // With no stream open (the client keeps its handle, so it would not close it), the server closes it after the head-read timeout.
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), &mut connection)
        .await
        .expect("an idle HTTP/2 connection must be closed")
        .ok();
    assert!(started.elapsed() >= Duration::from_millis(500));

    // So is one that never sends a request.
    let (_send, conn) = h2_connection(&h, &ca.pem()).await;
    tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("a silent HTTP/2 connection must be closed")
        .unwrap();

    // A TLS handshake that never starts takes a slot only for that long.
    let mut silent = TcpStream::connect(listener_addr(&h)).await.unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf))
        .await
        .expect("a connection without a handshake must be closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_dashboard_session_cookie_is_secure_over_tls() {
    let mock = heliport_mock::spawn().await.unwrap();
    let ca = Ca::new("dashboard CA");
    let dir = temp_dir();
    let h = tls_heliport(&mock, &dir, &ca.leaf(&[]), &[]);
    let (mut send, _conn) = h2_connection(&h, &ca.pem()).await;
    let body = format!("key={}&next=%2F", h.key);
    let resp = send
        .send_request(
            http::Request::post(h.url("/signin"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::new(Bytes::from(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // The cookie opens the dashboard over the same connection.
    let pair = cookie.split(';').next().unwrap().to_string();
    let resp = send
        .send_request(
            http::Request::get(h.url("/"))
                .header("cookie", pair)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
