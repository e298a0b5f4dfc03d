//! Test harness: the real `heliport` binary against the in-process mock provider.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub use heliport_mock::MockHandle;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_heliport")
}

/// A running `heliport serve` with its own database directory.
pub struct Heliport {
    pub child: Child,
    pub base: String,
    pub dir: std::path::PathBuf,
    pub db_url: String,
    pub key: String,
    envs: Vec<(String, String)>,
}

impl Heliport {
    /// Start heliport with `OPENAI`/`ANTHROPIC`/`GEMINI` base URLs at the mock, plus `extra` env.
    pub fn start(mock: &MockHandle, extra: &[(&str, &str)]) -> Heliport {
        let dir = std::env::temp_dir().join(format!("heliport-it-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in(dir, mock, extra)
    }

    /// Like [`Heliport::start`], with its stderr (the log) kept in
    /// `dir/heliport.log` for [`Heliport::log`].
    pub fn start_logged(mock: &MockHandle, extra: &[(&str, &str)]) -> Heliport {
        let dir = std::env::temp_dir().join(format!("heliport-it-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        Self::launch(dir, mock, extra, true)
    }

    /// Everything heliport has written to stderr (only with [`Heliport::start_logged`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("heliport.log")).unwrap_or_default()
    }

    pub fn start_in(
        dir: std::path::PathBuf,
        mock: &MockHandle,
        extra: &[(&str, &str)],
    ) -> Heliport {
        Self::launch(dir, mock, extra, false)
    }

    fn launch(
        dir: std::path::PathBuf,
        mock: &MockHandle,
        extra: &[(&str, &str)],
        log_to_file: bool,
    ) -> Heliport {
        let db_url = format!("sqlite://{}/heliport.db", dir.display());
        let mut envs: Vec<(String, String)> = vec![
            ("HELIPORT_LISTEN".into(), "127.0.0.1:0".into()),
            ("HELIPORT_DATABASE_URL".into(), db_url.clone()),
            (
                "HELIPORT_SPOOL_PATH".into(),
                format!("{}/heliport.spool", dir.display()),
            ),
            ("HELIPORT_OPENAI_BASE_URL".into(), mock.base_url()),
            ("HELIPORT_ANTHROPIC_BASE_URL".into(), mock.base_url()),
            ("HELIPORT_GEMINI_BASE_URL".into(), mock.base_url()),
            ("HELIPORT_LOG".into(), "warn".into()),
        ];
        for (k, v) in extra {
            envs.retain(|(ek, _)| ek != k);
            envs.push((k.to_string(), v.to_string()));
        }
        let key = create_key(&db_url, "test", "rw");
        let mut cmd = Command::new(bin());
        let stderr = if log_to_file {
            Stdio::from(std::fs::File::create(dir.join("heliport.log")).unwrap())
        } else {
            Stdio::inherit()
        };
        cmd.arg("serve").stdout(Stdio::piped()).stderr(stderr);
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start heliport");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if line.is_empty() && log_to_file {
            let log = std::fs::read_to_string(dir.join("heliport.log")).unwrap_or_default();
            panic!("heliport did not start: {log}");
        }
        let base = line
            .trim()
            .strip_prefix("heliport listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        Heliport {
            child,
            base,
            dir,
            db_url,
            key,
            envs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("heliport did not stop within 20 s of SIGTERM");
    }

    /// Query records through the REST API until `want` rows match `filter`.
    pub async fn wait_records(
        &self,
        filter: serde_json::Value,
        want: usize,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _, body) = send(
                "POST",
                &self.url("/v1/request/query"),
                &[("authorization", &format!("Bearer {}", self.key))],
                serde_json::json!({"filter": filter, "limit": 100}).to_string(),
            )
            .await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let rows = v["data"].as_array().cloned().unwrap_or_default();
            if rows.len() >= want || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The one record with this request id.
    pub async fn record(&self, request_id: &str) -> serde_json::Value {
        let rows = self
            .wait_records(
                serde_json::json!({"request_response_rmt": {"request_id": {"equals": request_id}}}),
                1,
            )
            .await;
        assert_eq!(
            rows.len(),
            1,
            "expected one record for {request_id}, got {rows:?}"
        );
        rows[0].clone()
    }
}

impl Drop for Heliport {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn uuid_like() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{n:x}-{}", std::process::id())
}

/// `heliport keys create`, returning the printed key.
pub fn create_key(db_url: &str, name: &str, perms: &str) -> String {
    create_key_in(db_url, name, perms, None)
}

/// `heliport keys create [--org ORG]`, returning the printed key.
pub fn create_key_in(db_url: &str, name: &str, perms: &str, org: Option<&str>) -> String {
    let mut args = vec!["keys", "create", "--name", name, "--permissions", perms];
    if let Some(org) = org {
        args.extend(["--org", org]);
    }
    let out = Command::new(bin())
        .args(args)
        .env("HELIPORT_DATABASE_URL", db_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace()
        .find(|w| w.starts_with("sk-heliport-"))
        .unwrap()
        .to_string()
}

pub fn run_cli(db_url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("HELIPORT_DATABASE_URL", db_url)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub type Resp = (u16, http::HeaderMap, Bytes);

/// One HTTP/1.1 request, whole body back.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let resp = start(method, url, headers, body).await;
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (parts.status.as_u16(), parts.headers, bytes)
}

/// One request, the response head back with a streaming body.
pub async fn start(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> http::Response<hyper::body::Incoming> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    client.request(req).await.unwrap()
}

/// Send a request whose stream is expected to break; true when the client saw
/// it break (before the head was flushed, or while reading the body).
pub async fn stream_breaks(url: &str, headers: &[(&str, &str)], body: String) -> bool {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    match client.request(req).await {
        Err(_) => true,
        Ok(resp) => resp.into_body().collect().await.is_err(),
    }
}

/// Proxies one chat completion through heliport to the mock with `key`
/// and the `extra` headers; returns its `helicone-id`.
pub async fn proxied_chat(
    h: &Heliport,
    key: &str,
    content: &str,
    stream: bool,
    extra: &[(&str, &str)],
) -> String {
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("helicone-auth", auth.as_str()),
        ("authorization", "Bearer sk-provider"),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    let (status, resp, body) = send(
        "POST",
        &h.url("/v1/chat/completions"),
        &headers,
        chat_body(content, stream),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    resp["helicone-id"].to_str().unwrap().to_string()
}

pub fn chat_body(content: &str, stream: bool) -> String {
    serde_json::json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
        "stream_options": {"include_usage": stream},
    })
    .to_string()
}

pub fn json(b: &Bytes) -> serde_json::Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}
