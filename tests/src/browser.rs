//! A real browser for the tests: Debian's headless Chromium, driven through its chromedriver
//! (WebDriver) with fantoccini. One chromedriver, on a free port of 127.0.0.1, serves a whole
//! test binary ([`Browser::shared`]) and stops when the last test holding it ends; each test
//! opens a browser session of its own ([`Browser::session`]).

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The window of a desktop browser, and [`PHONE`]'s of a phone.
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

pub struct Browser {
    driver: Child,
    port: u16,
}

impl Browser {
    /// The chromedriver of this test binary, started by the first test that asks.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<Browser>> = Mutex::new(Weak::new());
        crate::shared(&SHARED, Self::start)
    }

    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut driver = Command::new(find("chromedriver"))
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver (Debian's `chromium-driver`; tests/setup installs it)");
        let started = crate::line_seen(driver.stdout.take().expect("stdout is piped"), "started successfully");
        let browser = Self { driver, port };
        let listening = started.recv_timeout(Duration::from_secs(20));
        assert!(listening.is_ok(), "chromedriver did not start on port {port} within 20 s");
        browser
    }

    /// A new headless Chromium with a fresh profile and a desktop window.
    pub async fn session(&self) -> Client {
        let args = [
            "--headless=new",
            // Tests run as root in CI containers, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-proxy-server",
            "--lang=en",
        ];
        let mut capabilities = Capabilities::new();
        let options = json!({ "args": args, "binary": find("chromium") });
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("cannot open a Chromium session");
        client.set_window_size(DESKTOP.0, DESKTOP.1).await.expect("cannot size the window");
        client
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `program` on `PATH`, or where Debian installs it.
fn find(program: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| Path::new("/usr/bin").join(program))
}

/// Saves a screenshot of the whole page `client` shows as `name`.png under `dir` (a test's
/// output directory, `CARGO_TARGET_TMPDIR`), for people to look at; its path.
pub async fn screenshot(client: &Client, dir: &str, name: &str) -> PathBuf {
    let dir = Path::new(dir).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("a directory for screenshots");
    let path = dir.join(format!("{name}.png"));
    // The window as tall as the page for the picture, then as it was.
    let (width, height) = client.get_window_size().await.expect("the window's size");
    let page = client.execute("return document.documentElement.scrollHeight", vec![]).await.expect("the page's height");
    let tall = page.as_u64().unwrap_or(height).clamp(height, 6000);
    client.set_window_size(width as u32, tall as u32 + 120).await.expect("cannot size the window");
    let png = client.screenshot().await.expect("a screenshot");
    client.set_window_size(width as u32, height as u32).await.expect("cannot size the window");
    std::fs::write(&path, png).expect("cannot save the screenshot");
    eprintln!("screenshot: {}", path.display());
    path
}
