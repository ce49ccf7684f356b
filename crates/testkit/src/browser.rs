//! Driving the web console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) over WebDriver with fantoccini, against the real server on a real socket.
//! Shared by every browser test (the clinicians' console, the nurses' station, live
//! auscultation) so they start, sign in, wait and take screenshots the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auscult_proto::v1 as pb;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::{Db, TestServer, admin, authed, start_with};

/// The password every test web user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// Where browser tests write screenshots for a person to look at: `target/screenshots/`.
pub fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// `chromedriver` on a free port, killed on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts `binary` (chromedriver or geckodriver: both take `--port=N`) and waits until it
    /// listens.
    pub fn start(binary: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real server with its web console on a free loopback port, and the console's base URL
/// (`http://127.0.0.1:PORT`); `None` (the test skips, saying why) as [`start_with`] does.
pub async fn start_console(db: Db) -> Option<(TestServer, String)> {
    let ts = start_with(db, |c| {
        c.web_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await?;
    let base = format!("http://{}", ts.server.web_addr.expect("a web console"));
    Some((ts, base))
}

/// A headless Chromium session with its own empty profile directory, 1280×800, audio allowed
/// to play without a gesture.
pub async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
                "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session")
}

/// A browser the console is tested in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Headless Chromium over `chromedriver`.
    Chromium,
    /// Headless Firefox ESR over `geckodriver`.
    Firefox,
}

impl Engine {
    /// The WebDriver and the browser binary, or `None` after saying the test is skipped (a
    /// failure when CI declared the browser present).
    pub fn find_or_skip(self) -> Option<(PathBuf, PathBuf)> {
        match self {
            Engine::Chromium => crate::ci::chromium_or_skip(),
            Engine::Firefox => crate::ci::firefox_or_skip(),
        }
    }

    /// A new headless session of this browser with its own empty `profile`.
    pub async fn open(self, driver: &Driver, binary: &Path, profile: &Path) -> Client {
        match self {
            Engine::Chromium => browser(driver, binary, profile).await,
            Engine::Firefox => firefox(driver, binary, profile).await,
        }
    }
}

/// A headless Firefox session (through a [`Driver`] started on `geckodriver`) with its own
/// empty profile directory, 1280×800, audio allowed to play without a gesture.
pub async fn firefox(driver: &Driver, firefox: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "moz:firefoxOptions".into(),
        json!({
            "binary": firefox,
            "args": ["-headless", "-profile", profile, "--width=1280", "--height=800"],
            "prefs": {
                "media.autoplay.default": 0,
                "media.autoplay.blocking_policy": 0,
                "intl.accept_languages": "en-US, en",
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session with Firefox")
}

/// A tenant-bound web user with [`PASSWORD`], created over the admin API as
/// `auscult add-user --username` does.
pub async fn add_web_user(ts: &TestServer, tenant_id: &str, username: &str, role: pb::Role) {
    admin(&ts.channel)
        .create_user(authed(
            &ts.admin_token,
            pb::CreateUserRequest {
                tenant_id: tenant_id.into(),
                name: if role == pb::Role::Clinician {
                    format!("Dr {username}")
                } else {
                    username.to_owned()
                },
                role: role as i32,
                lifetime_seconds: None,
                web_login: Some(pb::WebLogin {
                    username: username.into(),
                    password: PASSWORD.into(),
                }),
            },
        ))
        .await
        .expect("create a web user");
}

/// Signs in on `base`'s sign-in page and waits for the page it leads to.
pub async fn sign_in(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/sign-in")).await.unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    submit_and_wait(c, "sign-in-submit").await;
}

/// Clicks the submit button `id` and waits until the page it leads to has loaded (the old
/// page's body is marked first, so a page that looks alike is not mistaken for the new one).
pub async fn submit_and_wait(c: &Client, id: &str) {
    c.execute("document.body.dataset.stale = '1';", vec![])
        .await
        .unwrap();
    click_and_wait(c, id, Locator::Css("body:not([data-stale])")).await;
}

/// Clicks the element with id `id` and waits until `then` is on the page.
pub async fn click_and_wait(c: &Client, id: &str, then: Locator<'_>) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(then).await.unwrap();
}

/// Signs out with the header's button and waits for the sign-in form.
pub async fn sign_out(c: &Client) {
    click_and_wait(c, "sign-out", Locator::Id("sign-in-form")).await;
}

/// The path of the page the browser shows.
pub async fn path(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

/// Clicks the page's language switch and waits for the page in `lang` (`"ja"`, `"en"`).
pub async fn switch_language(c: &Client, lang: &str) {
    click_and_wait(
        c,
        "lang-switch",
        Locator::Css(&format!("html[lang='{lang}']")),
    )
    .await;
}

/// The text of the first element matching `css`.
pub async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs `body` (an async function body returning a value) in the page.
pub async fn in_page(c: &Client, body: &str) -> serde_json::Value {
    let script = format!(
        "const done = arguments[arguments.length - 1]; (async () => {{ {body} }})().then(done, e => done('error: ' + e));"
    );
    c.execute_async(&script, vec![]).await.unwrap()
}

/// Resizes the window and writes a screenshot `NAME-WxH.png` into [`screenshots_dir`].
pub async fn screenshot(c: &Client, name: &str, width: u32, height: u32) {
    c.set_window_size(width, height).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = c.screenshot().await.unwrap();
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}-{width}x{height}.png")), png).unwrap();
}

/// Desktop, tablet and phone window sizes of the screenshots.
pub const EVERY_SIZE: [(u32, u32); 3] = [(1280, 800), (820, 1180), (390, 844)];
/// Desktop and phone only.
pub const DESKTOP_AND_PHONE: [(u32, u32); 2] = [(1280, 800), (390, 844)];

/// Checks the page the browser shows with [`accessibility`] (failing with `page` and every
/// violation), screenshots it as `name` at each of `sizes`, and sets the window back to the
/// tests' 1280×800.
pub async fn check_and_capture(c: &Client, page: &str, name: &str, sizes: &[(u32, u32)]) {
    let violations = accessibility(c).await;
    assert!(violations.is_empty(), "{page}: {violations:#?}");
    for &(width, height) in sizes {
        screenshot(c, name, width, height).await;
    }
    c.set_window_size(1280, 800).await.unwrap();
}

/// axe-core (vendored from npm, MPL-2.0: `crates/testkit/vendor/axe-core/`).
const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");

/// Runs axe-core's WCAG 2 A and AA rules (labels, contrast, names, landmarks, keyboard
/// reachability of controls, …) on the page the browser shows and returns every violation as
/// `rule: target…` lines; empty when the page passes. The script is injected over WebDriver,
/// which the page's content security policy does not govern; the page itself never loads it.
pub async fn accessibility(c: &Client) -> Vec<String> {
    c.execute(AXE, vec![]).await.expect("inject axe-core");
    let result = in_page(
        c,
        "const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
         return r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ') + (n.failureSummary ? ' [' + n.failureSummary.replace(/\\s+/g, ' ') + ']' : '')).join(' | '));",
    )
    .await;
    match result {
        serde_json::Value::Array(lines) => lines
            .into_iter()
            .map(|l| l.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => panic!("axe-core did not run: {other}"),
    }
}
