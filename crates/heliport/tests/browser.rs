//! The dashboard in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/setup-browser.sh`), driven over
//! WebDriver: sign in, filter requests, open one, follow its session tree,
//! check that a `<script>` prompt is shown as text, and sign out, with a
//! screenshot of each page in `target/browser-screenshots/`.
//!
//! Without chromedriver the test says so and passes, unless
//! `HELIPORT_BROWSER_TESTS=required` (as `scripts/test.sh` sets), where it
//! fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

fn chromedriver() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port; waits until it accepts connections.
fn start_driver(path: &PathBuf) -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    (Driver(child), port)
}

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("browser-screenshots"))
        .unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
}

async fn chat(h: &Heliport, content: &str, extra: &[(&str, &str)]) -> String {
    proxied_chat(h, &h.key, content, false, extra).await
}

async fn click(c: &Client, at: Locator<'_>) {
    c.find(at).await.unwrap().click().await.unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits until the page's `<h1>` starts with `want`.
async fn wait_h1(c: &Client, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(h1) = c.find(Locator::Css("h1")).await {
            if let Ok(t) = h1.text().await {
                if t.starts_with(want) {
                    return t;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no page titled {want} (at {:?})",
            c.current_url().await.map(|u| u.to_string())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dashboard_in_headless_chromium() {
    let Some(driver_path) = chromedriver() else {
        if std::env::var("HELIPORT_BROWSER_TESTS").as_deref() == Ok("required") {
            panic!("chromedriver is missing: run scripts/setup-browser.sh");
        }
        eprintln!("SKIPPED dashboard_in_headless_chromium: chromedriver not found (run scripts/setup-browser.sh)");
        return;
    };
    let mock = heliport_mock::spawn().await.unwrap();
    let h = Heliport::start(&mock, &[]);
    let session = [
        ("helicone-user-id", "browser-user"),
        ("helicone-session-id", "browser-session"),
        ("helicone-session-name", "checkout"),
        ("helicone-property-env", "prod"),
    ];
    let root = chat(
        &h,
        "plan the trip",
        &[
            session[0],
            session[1],
            session[2],
            session[3],
            ("helicone-session-path", "/plan"),
        ],
    )
    .await;
    chat(
        &h,
        "book it",
        &[
            session[0],
            session[1],
            session[2],
            ("helicone-session-path", "/plan/book"),
        ],
    )
    .await;
    let evil = chat(
        &h,
        "<script>document.title='pwned'</script>",
        &[("helicone-user-id", "other-user")],
    )
    .await;
    chat(&h, "unrelated", &[("helicone-user-id", "third-user")]).await;
    h.wait_records(json!({}), 4).await;

    let (_driver, port) = start_driver(&driver_path);
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");

    // An unsigned browser lands on the sign-in page.
    c.goto(&h.url("/")).await.unwrap();
    wait_h1(&c, "heliport").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/signin"));
    shot(&c, "01-signin").await;
    c.find(Locator::Id("key"))
        .await
        .unwrap()
        .send_keys(&h.key)
        .await
        .unwrap();
    click(&c, Locator::Css("form button[type=submit]")).await;
    wait_h1(&c, "Overview").await;
    let cards = text_of(&c, ".cards").await;
    assert!(cards.contains("Requests"), "{cards}");
    // The breakdown panels load on their own.
    let by_user = text_of(&c, "#by-user table").await;
    assert!(by_user.contains("browser-user"), "{by_user}");
    text_of(&c, "#by-property table").await;
    shot(&c, "02-overview").await;

    // Requests, filtered by user through the form.
    click(&c, Locator::LinkText("Requests")).await;
    wait_h1(&c, "Requests").await;
    let user = c.find(Locator::Css("input[name=user]")).await.unwrap();
    user.send_keys("browser-user").await.unwrap();
    click(&c, Locator::Css("form.filters button[type=submit]")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("user=browser-user")
    {
        assert!(Instant::now() < deadline, "the filter was not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = c.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2, "two requests of browser-user");
    let table = text_of(&c, "table").await;
    assert!(!table.contains("third-user"));
    shot(&c, "03-requests-filtered").await;

    // Open the session's root request.
    click(&c, Locator::Css(&format!("a[href='/requests/{root}']"))).await;
    wait_h1(&c, "Request").await;
    let conv = text_of(&c, ".msg .text").await;
    assert!(conv.contains("plan the trip"), "{conv}");
    shot(&c, "04-request").await;

    // Follow its session: the tree holds both paths.
    click(&c, Locator::LinkText("browser-session")).await;
    wait_h1(&c, "Session").await;
    let tree = text_of(&c, ".tree").await;
    assert!(tree.contains("/plan/book"), "{tree}");
    assert!(tree.contains("/plan"), "{tree}");
    assert!(c.find(Locator::Css("svg.wf")).await.is_ok(), "a waterfall");
    shot(&c, "05-session").await;

    // The <script> prompt is text: shown, never run.
    c.goto(&h.url(&format!("/requests/{evil}"))).await.unwrap();
    wait_h1(&c, "Request").await;
    let conv = text_of(&c, ".msg .text").await;
    assert!(
        conv.contains("<script>document.title='pwned'</script>"),
        "{conv}"
    );
    let title = c.title().await.unwrap();
    assert_ne!(title, "pwned");
    assert!(title.contains("heliport"), "{title}");
    shot(&c, "06-script-prompt").await;

    // Live tail and the other pages render.
    for (path, h1) in [
        ("/live", "Live"),
        ("/users", "Users"),
        ("/sessions", "Sessions"),
        ("/properties", "Properties"),
        ("/prompts", "Prompts"),
        ("/keys", "API keys"),
    ] {
        c.goto(&h.url(path)).await.unwrap();
        wait_h1(&c, h1).await;
        shot(&c, &format!("07{}", path.replace('/', "-"))).await;
    }
    // New requests reach the live tail without a reload.
    c.goto(&h.url("/live")).await.unwrap();
    wait_h1(&c, "Live").await;
    let fresh = chat(&h, "arrives live", &[]).await;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(&format!(
            "#live-rows a[href='/requests/{fresh}']"
        )))
        .await
        .expect("the new request appears in the live tail");

    // Sign out: back to the sign-in page, and the pages are closed.
    click(&c, Locator::Css("form[action='/signout'] button")).await;
    wait_h1(&c, "heliport").await;
    shot(&c, "08-signed-out").await;
    c.goto(&h.url("/requests")).await.unwrap();
    wait_h1(&c, "heliport").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/signin"));
    c.close().await.unwrap();
}
