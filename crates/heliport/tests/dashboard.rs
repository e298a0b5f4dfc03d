//! The web dashboard against the real binary: sign-in and sign-out, cookie
//! flags, cross-site POSTs refused, security headers, a `<script>` prompt
//! shown as text, a second organization that sees none of the first's data
//! on any page, the keys page for write keys only, and no page shadowing a
//! proxied path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::json;

const FORM: &str = "application/x-www-form-urlencoded";

/// A browser of the dashboard: the session cookie, once signed in.
struct Browser<'a> {
    h: &'a Heliport,
    cookie: Option<String>,
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

impl<'a> Browser<'a> {
    fn new(h: &'a Heliport) -> Browser<'a> {
        Browser { h, cookie: None }
    }

    /// Signs in with `key`; the sign-in answer.
    async fn sign_in(&mut self, key: &str) -> Resp {
        let host = self.h.base.trim_start_matches("http://").to_string();
        let origin = self.h.base.clone();
        let resp = send(
            "POST",
            &self.h.url("/signin"),
            &[("content-type", FORM), ("origin", &origin), ("host", &host)],
            format!("key={}&next=%2F", enc(key)),
        )
        .await;
        let set = header(&resp.1, "set-cookie");
        if let Some(pair) = set.split(';').next().filter(|p| p.contains('=')) {
            self.cookie = Some(pair.to_string());
        }
        resp
    }

    async fn get(&self, path: &str) -> (u16, http::HeaderMap, String) {
        let mut headers = vec![];
        if let Some(c) = &self.cookie {
            headers.push(("cookie", c.as_str()));
        }
        let (status, h, body) = send("GET", &self.h.url(path), &headers, "").await;
        (status, h, String::from_utf8_lossy(&body).into_owned())
    }

    /// A 200 page's HTML.
    async fn page(&self, path: &str) -> String {
        let (status, _, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(
        &self,
        path: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> (u16, http::HeaderMap, String) {
        let mut headers = vec![("content-type", FORM)];
        if let Some(c) = &self.cookie {
            headers.push(("cookie", c.as_str()));
        }
        headers.extend_from_slice(extra);
        let (status, h, body) = send("POST", &self.h.url(path), &headers, body.to_string()).await;
        (status, h, String::from_utf8_lossy(&body).into_owned())
    }
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// One chat completion through heliport; returns its id.
async fn chat(h: &Heliport, key: &str, content: &str, extra: &[(&str, &str)]) -> String {
    proxied_chat(h, key, content, false, extra).await
}

#[tokio::test]
async fn sign_in_cookie_flags_headers_and_sign_out() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[("HELIPORT_KEY_REFRESH_SECS", "1")]);
    let mut b = Browser::new(&h);

    // An unsigned browser is sent to the sign-in page, never given a 401.
    let (status, headers, _) = b.get("/").await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), "/signin");
    let (status, headers, body) = b.get("/requests?model=x").await;
    assert_eq!(status, 303);
    assert!(header(&headers, "location").starts_with("/signin?next=%2Frequests"));
    assert!(body.is_empty());
    let (status, headers, body) = b.get("/signin").await;
    assert_eq!(status, 200);
    assert!(body.contains("name=\"key\""));
    let csp = header(&headers, "content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert!(!body.contains("<script>"), "no inline script");

    // Wrong keys.
    let (status, _, body) = b.sign_in("sk-heliport-nope").await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("unknown or revoked"));
    assert!(b.cookie.is_none());
    let write_only = create_key(&h.db_url, "w-only", "w");
    let (status, _, _) = b.sign_in(&write_only).await;
    assert_eq!(status, 403);
    assert!(b.cookie.is_none());

    // A cross-site sign-in is refused.
    let (status, _, _) = send(
        "POST",
        &h.url("/signin"),
        &[("content-type", FORM), ("sec-fetch-site", "cross-site")],
        format!("key={}", enc(&h.key)),
    )
    .await;
    assert_eq!(status, 403);

    // The right key: a session cookie with every flag.
    let (status, headers, _) = b.sign_in(&h.key).await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), "/");
    let set = header(&headers, "set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(!set.contains(&h.key), "the key is never in the cookie");
    let overview = b.page("/").await;
    assert!(overview.contains("Overview"));
    assert!(!overview.contains(&h.key), "the key is never shown");
    let token = csrf(&overview);

    // Sign-out refuses a missing token, a wrong one, and another site.
    let (status, _, _) = b.post("/signout", "", &[]).await;
    assert_eq!(status, 403);
    let (status, _, _) = b.post("/signout", "csrf=0000", &[]).await;
    assert_eq!(status, 403);
    let (status, _, _) = b
        .post(
            "/signout",
            &format!("csrf={token}"),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _, _) = b
        .post(
            "/signout",
            &format!("csrf={token}"),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(b.get("/").await.0, 200, "still signed in");

    // Signing out ends the session on the server: the old cookie is dead.
    let (status, headers, _) = b
        .post(
            "/signout",
            &format!("csrf={token}"),
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), "/signin");
    assert!(header(&headers, "set-cookie").contains("Max-Age=0"));
    assert_eq!(b.get("/").await.0, 303);

    // A read-only key signs in; revoking its key ends its session.
    let read_only = create_key(&h.db_url, "reader", "r");
    let (status, _, _) = b.sign_in(&read_only).await;
    assert_eq!(status, 303);
    assert_eq!(b.get("/requests").await.0, 200);
    let (ok, _, err) = run_cli(&h.db_url, &["keys", "revoke", "reader"]);
    assert!(ok, "{err}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // The CLI revokes in the database; the server's key cache reloads
        // periodically.
        if b.get("/requests").await.0 == 303 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revoked key still signed in"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn every_page_shows_a_script_prompt_as_text() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let evil = "<script>alert('prompt')</script>";
    let id = chat(
        &h,
        &h.key,
        evil,
        &[
            ("helicone-user-id", "<b>user</b>"),
            ("helicone-session-id", "<i>sess</i>"),
            ("helicone-session-path", "/<u>path</u>"),
            ("helicone-property-env", "<img src=x onerror=alert(1)>"),
            ("helicone-prompt-id", "<em>prompt</em>"),
        ],
    )
    .await;
    h.wait_records(json!({}), 1).await;
    let mut b = Browser::new(&h);
    b.sign_in(&h.key).await;
    let pages = [
        "/".to_string(),
        "/?range=1h".to_string(),
        "/overview/breakdown?by=user".to_string(),
        "/overview/breakdown?by=user&fragment=1".to_string(),
        "/overview/breakdown?by=property&property=env&fragment=1".to_string(),
        "/requests".to_string(),
        format!("/requests/{id}"),
        "/live".to_string(),
        "/users".to_string(),
        "/sessions".to_string(),
        format!("/sessions/{}", enc("<i>sess</i>")),
        "/properties".to_string(),
        "/properties/env".to_string(),
        "/prompts".to_string(),
        format!("/prompts/{}", enc("<em>prompt</em>")),
        "/keys".to_string(),
        format!("/requests?text={}", enc("alert('prompt')")),
        format!("/live/rows?after={}", enc("2000-01-01T00:00:00Z")),
    ];
    for path in &pages {
        let html = b.page(path).await;
        for raw in [
            "<script>alert",
            "<img src=x",
            "<b>user",
            "<i>sess",
            "<u>path",
            "<em>prompt",
        ] {
            assert!(!html.contains(raw), "{path} shows {raw} unescaped");
        }
        // The only script element is the dashboard's own file.
        let fragment = path.starts_with("/live/rows") || path.ends_with("fragment=1");
        assert_eq!(
            html.matches("<script").count(),
            usize::from(!fragment),
            "{path}"
        );
    }
    let detail = b.page(&format!("/requests/{id}")).await;
    assert!(
        detail.contains("&lt;script&gt;alert("),
        "the prompt is shown, escaped"
    );
    assert!(detail.contains("curl -X POST"));
    let table = b
        .page(&format!("/requests?text={}", enc("alert('prompt')")))
        .await;
    assert!(table.contains(&id), "text search finds the request");
    // The breakdown panels hold the (escaped) user and property value.
    let users = b.page("/overview/breakdown?by=user&fragment=1").await;
    assert!(users.contains("&lt;b&gt;user&lt;/b&gt;"), "{users}");
    let props = b
        .page("/overview/breakdown?by=property&property=env&fragment=1")
        .await;
    assert!(props.contains("&lt;img src=x"), "{props}");
}

#[tokio::test]
async fn a_second_organization_sees_none_of_the_first() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let (ok, _, err) = run_cli(&h.db_url, &["orgs", "create", "other"]);
    assert!(ok, "{err}");
    let other = create_key_in(&h.db_url, "other-rw", "rw", Some("other"));
    let id = chat(
        &h,
        &h.key,
        "secret-prompt-text",
        &[
            ("helicone-user-id", "secret-user"),
            ("helicone-session-id", "secret-session"),
            ("helicone-session-path", "/secret-path"),
            ("helicone-property-secretprop", "secret-value"),
            ("helicone-prompt-id", "secret-prompt"),
        ],
    )
    .await;
    h.wait_records(json!({}), 1).await;

    // The first organization sees its request.
    let mut mine = Browser::new(&h);
    mine.sign_in(&h.key).await;
    assert!(mine.page("/requests").await.contains(&id));
    assert!(mine.page("/users").await.contains("secret-user"));

    let mut b = Browser::new(&h);
    b.sign_in(&other).await;
    let pages = [
        "/",
        "/?range=30d",
        "/requests",
        "/requests?range=all",
        "/requests?range=all&user=secret-user",
        "/requests?range=all&session=secret-session",
        "/overview/breakdown?by=user&range=30d",
        "/overview/breakdown?by=property&property=secretprop&fragment=1",
        "/live",
        "/users",
        "/sessions",
        "/properties",
        "/properties/secretprop",
        "/prompts",
        "/keys",
        "/live/rows?after=2000-01-01T00:00:00Z",
    ];
    let secrets = [
        "secret-prompt",
        "secret-user",
        "secret-session",
        "secret-path",
        "secret-value",
        id.as_str(),
    ];
    for path in pages {
        let html = b.page(path).await;
        // A filter's own value is echoed in its form: that is not a leak.
        for secret in secrets.iter().filter(|s| !path.contains(*s)) {
            assert!(
                !html.contains(secret),
                "{path} shows the first organization's {secret}"
            );
        }
        if path.contains("=secret-") {
            assert!(html.contains("No request matches"), "{path}");
        }
    }
    for path in [
        format!("/requests/{id}"),
        "/sessions/secret-session".to_string(),
        "/prompts/secret-prompt".to_string(),
    ] {
        let (status, _, html) = b.get(&path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!html.contains("secret-prompt-text"));
    }
    // Nor can it revoke the first organization's key.
    let keys_html = mine.page("/keys").await;
    let first_key_id = keys_html
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let token = csrf(&b.page("/keys").await);
    let (status, _, _) = b
        .post(
            "/keys/revoke",
            &format!("csrf={token}&id={first_key_id}"),
            &[],
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(mine.get("/").await.0, 200);
}

#[tokio::test]
async fn keys_page_needs_write_permission() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let reader = create_key(&h.db_url, "reader", "r");
    let mut r = Browser::new(&h);
    r.sign_in(&reader).await;
    let overview = r.page("/").await;
    assert!(
        !overview.contains("href=\"/keys\""),
        "no keys link without write"
    );
    assert_eq!(r.get("/keys").await.0, 403);
    let token = csrf(&overview);
    let (status, _, _) = r
        .post(
            "/keys/create",
            &format!("csrf={token}&name=x&permissions=rw"),
            &[],
        )
        .await;
    assert_eq!(status, 403);

    let mut w = Browser::new(&h);
    w.sign_in(&h.key).await;
    let page = w.page("/keys").await;
    assert!(page.contains("reader"));
    assert!(!page.contains(&reader), "keys are shown by prefix only");
    let token = csrf(&page);
    // No token, no key.
    let (status, _, _) = w.post("/keys/create", "name=x&permissions=rw", &[]).await;
    assert_eq!(status, 403);
    let (status, _, created) = w
        .post(
            "/keys/create",
            &format!("csrf={token}&name=made-here&permissions=r"),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let new_key = created
        .split("id=\"newkey\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new key, shown once")
        .to_string();
    assert!(new_key.starts_with("sk-heliport-"), "{new_key}");
    let listed = w.page("/keys").await;
    assert!(listed.contains("made-here"));
    assert!(!listed.contains(&new_key), "shown once only");
    // It signs in, then revoked from the page, it does not.
    let mut n = Browser::new(&h);
    assert_eq!(n.sign_in(&new_key).await.0, 303);
    let id = listed
        .split("<tr>")
        .find(|row| row.contains("made-here"))
        .and_then(|row| row.split("name=\"id\" value=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let (status, headers, _) = w
        .post("/keys/revoke", &format!("csrf={token}&id={id}"), &[])
        .await;
    assert_eq!(status, 303);
    assert_eq!(header(&headers, "location"), "/keys");
    assert_eq!(n.get("/").await.0, 303, "the revoked key's session ended");
    let mut again = Browser::new(&h);
    assert_eq!(again.sign_in(&new_key).await.0, 401);
}

#[tokio::test]
async fn dashboard_never_shadows_a_proxied_path() {
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let port = h.base.rsplit(':').next().unwrap().to_string();
    let is_dashboard = |headers: &http::HeaderMap| headers.contains_key("content-security-policy");
    // On a plain host, `/` and the pages are the dashboard's.
    for path in ["/", "/requests", "/signin", "/assets/dashboard.css"] {
        let (status, headers, _) = send("GET", &h.url(path), &[], "").await;
        assert!(is_dashboard(&headers), "{path}: {status}");
    }
    // A routing Host, a target URL, or a proxied path goes to the proxy.
    for (host, path, extra) in [
        (format!("oai.localhost:{port}"), "/", None),
        (format!("oai.localhost:{port}"), "/requests", None),
        (format!("anthropic.localhost:{port}"), "/signin", None),
        (format!("gateway.localhost:{port}"), "/", None),
        (format!("groq.localhost:{port}"), "/users", None),
        (
            format!("localhost:{port}"),
            "/requests",
            Some(mock.base_url()),
        ),
        (format!("localhost:{port}"), "/v1/models", None),
        (format!("localhost:{port}"), "/anthropic/v1/messages", None),
    ] {
        let mut headers = vec![("host", host.as_str())];
        if let Some(t) = &extra {
            headers.push(("helicone-target-url", t.as_str()));
        }
        let (status, resp, body) = send("GET", &h.url(path), &headers, "").await;
        assert!(
            !is_dashboard(&resp),
            "{host}{path} answered by the dashboard: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    // The REST API is untouched.
    let auth = format!("Bearer {}", h.key);
    let (status, _, _) = send(
        "POST",
        &h.url("/v1/request/query"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    assert_eq!(status, 200);
}
