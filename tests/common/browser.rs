//! Headless Chromium over WebDriver for the browser tests: starting
//! chromedriver, a phone-sized session, screenshots, and waiting for pages.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian:
//! `apt-get install chromium chromium-driver`). Without them a test calling
//! [`browser_installed`] is skipped with a message, except under CI (`CI`
//! set), where it fails.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A common phone's viewport in CSS pixels (iPhone 12–15).
pub const PHONE: (u32, u32) = (390, 844);

/// Longest the browser part of a test may take before it gives up, so a
/// hung browser fails the run instead of stalling CI.
pub const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

/// Runs a test's browser steps in their own task, so that a failed
/// assertion still leaves a screenshot and the page source behind before
/// the test fails; gives up after [`BROWSER_DEADLINE`].
pub async fn run_steps<F>(browser: &Client, steps: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut task = tokio::spawn(steps);
    let outcome = tokio::time::timeout(BROWSER_DEADLINE, &mut task).await;
    task.abort();
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.try_into_panic().map_err(|e| e.to_string())),
        Err(_) => Some(Err(format!(
            "the browser steps did not finish within {BROWSER_DEADLINE:?}"
        ))),
    };
    if let Some(failure) = failure {
        save_failure(browser).await;
        match failure {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(message) => panic!("{message}"),
        }
    }
}

/// The visible text of the first element matching `css`.
pub async fn text(b: &Client, css: &str) -> String {
    let el = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    el.text().await.unwrap()
}

/// Waits until the browser shows a path that `ok` accepts, and returns it.
pub async fn wait_for_path(b: &Client, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = b.current_url().await.unwrap();
        if ok(url.path()) {
            return url.path().to_string();
        }
        if Instant::now() > deadline {
            let shown = match b.find(Locator::Css("main")).await {
                Ok(main) => main.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("browser stayed at {url}, showing:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves what the phone shows screen by screen while scrolling down, as
/// `<name>.png`, `<name>-2.png`, …, and the whole page at phone width as
/// `<name>-full.png`.
pub async fn screenshot(b: &Client, name: &str) {
    let dir = screenshot_dir();
    let height = b
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .unwrap()
        .as_u64()
        .and_then(|h| u32::try_from(h).ok())
        .unwrap_or(PHONE.1);
    let screens = height.div_ceil(PHONE.1).clamp(1, 8);
    for i in 0..screens {
        let y = i * PHONE.1;
        b.execute(&format!("window.scrollTo(0, {y})"), vec![])
            .await
            .unwrap();
        let png = b.screenshot().await.unwrap();
        let file = match i {
            0 => format!("{name}.png"),
            _ => format!("{name}-{}.png", i + 1),
        };
        std::fs::write(dir.join(file), png).unwrap();
    }
    b.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    if screens > 1 {
        set_viewport(b, PHONE.0, height).await;
        let png = b.screenshot().await.unwrap();
        set_viewport(b, PHONE.0, PHONE.1).await;
        std::fs::write(dir.join(format!("{name}-full.png")), png).unwrap();
    }
}

/// Sizes the window so that the page gets `width` × `height` CSS pixels
/// (headless Chromium counts browser chrome into the window size).
pub async fn set_viewport(b: &Client, width: u32, height: u32) {
    b.set_window_size(width, height).await.unwrap();
    let inner = b
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .unwrap();
    let inner = |i: usize| {
        inner[i]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    let (w, h) = (inner(0), inner(1));
    if (w, h) != (width, height) {
        b.set_window_size(
            width + width.saturating_sub(w),
            height + height.saturating_sub(h),
        )
        .await
        .unwrap();
    }
}

/// After a failed step: what the browser showed, for whoever reads the log.
pub async fn save_failure(b: &Client) {
    let dir = screenshot_dir();
    if let Ok(png) = b.screenshot().await {
        let _ = std::fs::write(dir.join("failure.png"), png);
    }
    if let Ok(source) = b.source().await {
        let _ = std::fs::write(dir.join("failure.html"), source);
    }
    if let Ok(url) = b.current_url().await {
        eprintln!("browser test failed at {url}; see {}", dir.display());
    }
}

/// Whether the browser is there; under CI its absence is a failure.
pub fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the browser test needs {} (missing under CI): \
             apt-get install -y chromium chromium-driver",
            missing.join(" and ")
        );
    }
    // Straight to stderr: the test harness would swallow `eprintln!` of a
    // passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!!\n!!! skipping browser test: install chromium chromium-driver \
         ({} not found)\n!!!!!!!!!!\n",
        missing.join(", ")
    );
    false
}

/// A chromedriver child process on a free port, with a fresh browser
/// profile. Dropping it ends chromedriver and every browser process it
/// started, also when the test panics.
pub struct Chromedriver {
    // Fields drop in order: the processes end before the profile goes.
    _group: ProcessGroup,
    pub addr: SocketAddr,
    log: PathBuf,
    profile: tempfile::TempDir,
}

/// A child started as the leader of a new process group; dropping it kills
/// the group (chromedriver, and the Chromium processes it started, which
/// inherit the group).
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Chromedriver {
    pub fn start() -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromedriver.log");
        std::fs::create_dir(profile.path().join("chromium")).unwrap();
        // A port can be taken between choosing and binding it: try again.
        let mut last = String::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER}: {e}"));
            let mut group = ProcessGroup(child);
            match wait_ready(&mut group.0, addr) {
                Ok(()) => {
                    return Chromedriver {
                        _group: group,
                        addr,
                        log,
                        profile,
                    };
                }
                Err(e) => last = e,
            }
        }
        panic!("chromedriver did not start: {last}\n{}", tail(&log));
    }

    /// A new browser session: Chromium headless at phone size.
    pub async fn session(&self) -> Client {
        self.session_sized(PHONE).await
    }

    /// A new browser session whose page gets `viewport` CSS pixels.
    pub async fn session_sized(&self, viewport: (u32, u32)) -> Client {
        let user_data = self.profile.path().join("chromium");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            // Containers often have a tiny /dev/shm; Chromium crashes on it.
            "--disable-dev-shm-usage",
            "--disable-sync",
            &format!("--user-data-dir={}", user_data.display()),
        ];
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://{}", self.addr))
            .await
            .unwrap_or_else(|e| panic!("no browser session: {e}\n{}", self.log_tail()));
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await
            .unwrap();
        set_viewport(&client, viewport.0, viewport.1).await;
        client
    }

    /// Runs `source` in every document the session opens from now on
    /// (Chrome DevTools `Page.addScriptToEvaluateOnNewDocument`).
    pub async fn run_on_new_document(&self, client: &Client, source: &str) {
        let session = client.session_id().await.unwrap().unwrap();
        let body = json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": source },
        });
        let (status, _, answer) = super::request(
            self.addr,
            http::Method::POST,
            &format!("/session/{session}/goog/cdp/execute"),
            &[("content-type", "application/json")],
            bytes::Bytes::from(body.to_string()),
        )
        .await;
        assert_eq!(status, 200, "adding a script to new documents: {answer}");
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("chromedriver log (last lines):\n{}", self.log_tail());
        }
        // Then `_group` ends the processes and `profile` is removed.
    }
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Polls chromedriver's `GET /status` until it says it is ready.
fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("chromedriver exited with {status}"));
        }
        if status_body(addr).contains("\"ready\":true") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no answer on {addr} within 20 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /status` of a chromedriver, as plain text ("" when it fails).
fn status_body(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.replace(char::is_whitespace, "")
}
