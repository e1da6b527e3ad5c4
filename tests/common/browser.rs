//! A real headless Chromium driven over WebDriver, for end-to-end tests of the web UI: starts
//! Debian's `chromedriver` on a free loopback port (killed on drop), opens one browser session
//! with a fresh profile, and runs fantoccini's async calls on a small runtime of its own, so
//! that the tests stay synchronous like the rest of the suite (and may use the blocking API
//! client between two browser steps).
//!
//! Without Chromium or its driver the tests are skipped with a line saying so, except under CI
//! (`CI` set), where a missing browser is a failure: `scripts/test.sh` installs both.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any one wait for the browser may take before the test fails. Generous: the
/// machine may be busy building; nothing asserts how long a wait took.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The window of the desktop screenshots, and the phone width of [`Browser::phone_width`].
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    driver_log: PathBuf,
    /// The driver's log and Chromium's profile; removed after both have stopped.
    _scratch: tempfile::TempDir,
}

/// Whether the browser is installed. Missing: under CI a failure naming what to install,
/// elsewhere a skip line for `test` and `false`.
pub fn available(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let what = format!(
        "{} missing: install Debian's `chromium` and `chromium-driver` \
         (apt-get install chromium chromium-driver; scripts/test.sh does)",
        missing.join(" and ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {what}");
    }
    eprintln!("skipped {test}: {what}");
    false
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a browser session, or returns `None` when the browser is not
    /// installed and the test is to be skipped (see [`available`]).
    pub fn start(test: &str) -> Option<Browser> {
        if !available(test) {
            return None;
        }
        let scratch = tempfile::tempdir().unwrap();
        let profile = scratch.path().join("profile");
        std::fs::create_dir(&profile).unwrap();
        let driver_log = scratch.path().join("chromedriver.log");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", driver_log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut b = Browser {
            rt,
            client: None,
            driver,
            driver_log,
            _scratch: scratch,
        };
        let webdriver = format!("http://127.0.0.1:{port}");
        b.wait_for_driver(&webdriver);

        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    // Connections outside loopback are refused here: Chromium must not try any
                    // (QUIC probes, component updates, sync, field trials).
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let client =
            b.rt.block_on(async {
                ClientBuilder::rustls()
                    .expect("rustls connector")
                    .capabilities(caps)
                    .connect(&webdriver)
                    .await
            })
            .unwrap_or_else(|e| {
                panic!(
                    "open a Chromium session: {e}\nchromedriver log:\n{}",
                    b.driver_log_tail()
                )
            });
        b.client = Some(client);
        Some(b)
    }

    /// Waits until chromedriver answers `/status` as ready; fails if it exits first.
    fn wait_for_driver(&mut self, webdriver: &str) {
        let http = reqwest::blocking::Client::new();
        let url = format!("{webdriver}/status");
        let give_up = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.driver.try_wait().unwrap() {
                panic!(
                    "chromedriver exited with {status}:\n{}",
                    self.driver_log_tail()
                );
            }
            let ready = http
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .ok()
                .and_then(|r| r.json::<serde_json::Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return;
            }
            if Instant::now() >= give_up {
                panic!(
                    "gave up waiting for chromedriver on {webdriver} ({DEADLINE:?}):\n{}",
                    self.driver_log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn driver_log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.driver_log).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_string()
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser session is open")
    }

    /// Runs one of the client's futures to completion.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Unwraps a WebDriver answer; an error fails the test naming `what` and the current page.
    fn ok<T>(&self, what: &str, r: Result<T, CmdError>) -> T {
        r.unwrap_or_else(|e| panic!("{what}: {e}\n{}", self.page_summary()))
    }

    /// The current URL and the start of the page's text, for failure messages.
    pub fn page_summary(&self) -> String {
        let c = self.client();
        let (url, body) = self.block_on(async {
            let url = c.current_url().await.map(|u| u.to_string());
            let body = match c.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            (url, body)
        });
        let body: String = body.chars().take(3000).collect();
        format!(
            "at {}\npage text:\n{body}",
            url.unwrap_or_else(|e| format!("<no url: {e}>"))
        )
    }

    pub fn goto(&self, url: &str) {
        let r = self.block_on(self.client().goto(url));
        self.ok(&format!("open {url}"), r)
    }

    /// The current URL.
    pub fn url(&self) -> String {
        let r = self.block_on(self.client().current_url());
        self.ok("read the current URL", r).to_string()
    }

    /// The current URL's path.
    pub fn path(&self) -> String {
        let r = self.block_on(self.client().current_url());
        self.ok("read the current URL", r).path().to_string()
    }

    /// The current URL's path, and `?query` if it has one.
    pub fn path_and_query(&self) -> String {
        let r = self.block_on(self.client().current_url());
        let u = self.ok("read the current URL", r);
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    pub fn wait_for(&self, css: &str) -> Element {
        let r = self.block_on(
            self.client()
                .wait()
                .at_most(DEADLINE)
                .for_element(Locator::Css(css)),
        );
        self.ok(&format!("wait for `{css}`"), r)
    }

    /// Every element matching `css` now, without waiting.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let r = self.block_on(self.client().find_all(Locator::Css(css)));
        self.ok(&format!("find `{css}`"), r)
    }

    /// Whether an element matches `css` now, without waiting.
    pub fn exists(&self, css: &str) -> bool {
        !self.find_all(css).is_empty()
    }

    /// The rendered text of an element.
    pub fn text_of(&self, el: &Element) -> String {
        let r = self.block_on(el.text());
        self.ok("read an element's text", r)
    }

    /// The rendered text of the first element matching `css`, waiting for it.
    pub fn text(&self, css: &str) -> String {
        let el = self.wait_for(css);
        self.text_of(&el)
    }

    /// An attribute of an element as written in the markup.
    pub fn attr_of(&self, el: &Element, name: &str) -> Option<String> {
        let r = self.block_on(el.attr(name));
        self.ok(&format!("read attribute `{name}`"), r)
    }

    /// An attribute of the first element matching `css`, waiting for it.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.wait_for(css);
        self.attr_of(&el, name)
    }

    pub fn click_on(&self, el: &Element) {
        let r = self.block_on(el.click());
        self.ok("click", r)
    }

    /// Clicks the first element matching `css`, waiting for it.
    pub fn click(&self, css: &str) {
        let el = self.wait_for(css);
        self.click_on(&el)
    }

    /// Types `text` into the first field matching `css`, waiting for it.
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.wait_for(css);
        let r = self.block_on(el.send_keys(text));
        self.ok(&format!("type into `{css}`"), r)
    }

    /// The browser's cookies for the current page.
    pub fn cookies(&self) -> Vec<fantoccini::cookies::Cookie<'static>> {
        let r = self.block_on(self.client().get_all_cookies());
        self.ok("read the cookies", r)
    }

    /// Forgets every cookie of the current site (a signed-out browser).
    pub fn clear_cookies(&self) {
        let r = self.block_on(self.client().delete_all_cookies());
        self.ok("delete the cookies", r)
    }

    pub fn set_window_size(&self, (width, height): (u32, u32)) {
        let r = self.block_on(self.client().set_window_size(width, height));
        self.ok("resize the window", r)
    }

    /// A phone-sized window (390x844); [`Browser::desktop_width`] puts the desktop one back.
    pub fn phone_width(&self) {
        self.set_window_size(PHONE)
    }

    pub fn desktop_width(&self) {
        self.set_window_size(DESKTOP)
    }

    /// Writes a PNG of the viewport to `<target dir>/ui-screenshots/<name>.png` and returns
    /// its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let r = self.block_on(self.client().screenshot());
        let png = self.ok(&format!("screenshot {name}"), r);
        save_png(name, png)
    }

    /// [`Browser::screenshot`] of one element (scrolled into view), for content below the fold.
    pub fn screenshot_of(&self, el: &Element, name: &str) -> PathBuf {
        let r = self.block_on(el.screenshot());
        let png = self.ok(&format!("screenshot {name}"), r);
        save_png(name, png)
    }
}

/// Writes `png` to `<target dir>/ui-screenshots/<name>.png`.
fn save_png(name: &str, png: Vec<u8>) -> PathBuf {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot {name} is not a PNG"
    );
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// `$CARGO_TARGET_DIR/ui-screenshots`, or the workspace's `target/ui-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => root.join(t),
        None => root.join("target"),
    };
    target.join("ui-screenshots")
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; the driver goes after it.
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
