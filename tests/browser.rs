//! A real browser (headless Chromium driven over WebDriver) books a visit
//! the way a family does on a phone: opens the invite, taps a time, types
//! a name and an e-mail address, ticks consent, books, and follows the
//! visit link to the waiting page. Also sends the empty form once and reads
//! the error messages. Screenshots go to `target/browser-screenshots/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian:
//! `apt-get install chromium chromium-driver`). Without them the test is
//! skipped with a message, except under CI (`CI` set), where it fails.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::{TestServer, at, open_db, seed_ward};
use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A common phone's viewport in CSS pixels (iPhone 12–15).
const PHONE: (u32, u32) = (390, 844);

/// The server's (fixed) time for the whole test: Monday 09:00 in Amsterdam.
const NOW: &str = "2026-11-23T08:00:00Z";

/// Longest the browser part may take before the test gives up, so a hung
/// browser fails the run instead of stalling CI.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_family_books_a_visit_in_a_real_browser() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let clock = Arc::new(FixedClock::new(at(NOW)));
    let server = TestServer::start_at(dir.path(), clock).await;
    let base = format!("http://{}", server.addr);

    // Screenshots of this run only.
    let _ = std::fs::remove_dir_all(screenshot_dir());

    let started = Instant::now();
    let driver = Chromedriver::start();
    let browser = driver.session(at(NOW)).await;
    eprintln!("browser test: browser ready in {:?}", started.elapsed());

    // Run the steps in their own task so that a failed assertion can still
    // leave a screenshot and the page source behind before the test fails.
    let mut steps = tokio::spawn(family_books(browser.clone(), base, ward.invite.clone()));
    let outcome = tokio::time::timeout(BROWSER_DEADLINE, &mut steps).await;
    steps.abort();
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.try_into_panic().map_err(|e| e.to_string())),
        Err(_) => Some(Err(format!(
            "the browser steps did not finish within {BROWSER_DEADLINE:?}"
        ))),
    };
    if let Some(failure) = failure {
        save_failure(&browser).await;
        match failure {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(message) => panic!("{message}"),
        }
    }
    browser.close().await.unwrap();
    drop(driver);
    eprintln!("browser test: browser part took {:?}", started.elapsed());

    // The two submits wrote exactly one booking: the valid one.
    let db = open_db(dir.path());
    let bookings: i64 = db
        .query_row("SELECT count(*) FROM bookings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bookings, 1, "exactly one booking after the whole run");
    let (name, email, status): (String, String, String) = db
        .query_row(
            "SELECT c.name, c.email, b.status FROM bookings b JOIN contacts c ON c.id = b.contact_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), email.as_str(), status.as_str()),
        ("Anna Example", "anna@example.org", "booked")
    );
    server.stop().await;
}

/// What the family does, start to finish.
async fn family_books(b: Client, base: String, invite: String) {
    let invite_url = format!("{base}/b/{invite}");

    // The invite: who, where, and the free times.
    b.goto(&invite_url).await.unwrap();
    let viewport = b
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .unwrap();
    assert_eq!(
        viewport,
        json!([PHONE.0, PHONE.1]),
        "a phone-sized viewport"
    );
    let h1 = text(&b, "h1").await;
    assert!(h1.contains("Bed 12"), "invite heading: {h1}");
    let unit = text(&b, "p.unit").await;
    assert!(unit.contains("Ward 3"), "unit shown on the invite: {unit}");
    screenshot(&b, "invite").await;

    // Tap the first time (its label, as a finger would), fill in, book.
    let labels = b.find_all(Locator::Css("label.slot")).await.unwrap();
    assert!(!labels.is_empty(), "the invite offers times");
    let first = &labels[0];
    let first_text = first.text().await.unwrap();
    assert!(first_text.contains("14:00"), "first slot: {first_text}");
    first.click().await.unwrap();
    let radio = first.find(Locator::Css("input[name=slot]")).await.unwrap();
    assert!(
        radio.is_selected().await.unwrap(),
        "tapping the label picks the time"
    );
    let name = b.find(Locator::Id("name")).await.unwrap();
    name.send_keys("Anna Example").await.unwrap();
    let email = b.find(Locator::Id("email")).await.unwrap();
    email.send_keys("anna@example.org").await.unwrap();
    let language = b.find(Locator::Id("language")).await.unwrap();
    assert_eq!(language.prop("value").await.unwrap().as_deref(), Some("en"));
    let consent = b.find(Locator::Id("consent")).await.unwrap();
    consent.click().await.unwrap();
    assert!(consent.is_selected().await.unwrap(), "consent is ticked");
    screenshot(&b, "invite-filled").await;
    b.find(Locator::Id("book"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

    // The confirmation.
    let booked = wait_for_path(&b, |p| p.starts_with("/v/") && p.ends_with("/booked")).await;
    let code = booked
        .trim_start_matches("/v/")
        .trim_end_matches("/booked")
        .to_string();
    assert!(
        !code.is_empty() && !code.contains('/'),
        "visit code in {booked}"
    );
    let when = text(&b, "#when").await;
    assert!(when.contains("Bed 12"), "booked #when: {when}");
    assert!(when.contains("14:00"), "booked #when: {when}");
    let link = b.find(Locator::Id("visit-link")).await.unwrap();
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.starts_with(&format!("{base}/v/")),
        "visit link {href} points at this server ({base})"
    );
    let calendar = b.find(Locator::Id("calendar")).await.unwrap();
    let ics = calendar.attr("href").await.unwrap().unwrap_or_default();
    assert_eq!(ics, format!("/v/{code}/calendar.ics"));
    screenshot(&b, "booked").await;

    // The visit link, five hours early: the waiting page.
    link.click().await.unwrap();
    wait_for_path(&b, |p| p == format!("/v/{code}")).await;
    let h1 = text(&b, "h1").await;
    assert_eq!(h1, "Your visit has not started yet");
    let when = text(&b, "#when").await;
    assert!(
        when.contains("Bed 12") && when.contains("14:00"),
        "waiting #when: {when}"
    );
    let opens = text(&b, "#opens").await;
    assert!(opens.contains("13:50"), "waiting #opens: {opens}");
    // visit.js counts down from the seconds the server said were left:
    // 12:50Z is 4 h 50 min after 08:00Z.
    let countdown = text(&b, "#countdown").await;
    assert!(
        countdown.starts_with("4 h 50 min") || countdown.starts_with("4 h 49 min"),
        "countdown: {countdown}"
    );
    screenshot(&b, "waiting").await;

    // The empty form, sent as is: errors shown, still on the invite.
    b.goto(&invite_url).await.unwrap();
    b.find(Locator::Id("book"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("form-errors"))
        .await
        .unwrap();
    let url = b.current_url().await.unwrap();
    assert_eq!(url.path(), format!("/b/{invite}"), "still on the invite");
    let mut errors = Vec::new();
    for e in b.find_all(Locator::Css(".error")).await.unwrap() {
        errors.push(e.attr("id").await.unwrap().unwrap_or_default());
    }
    for expected in ["slot-error", "name-error", "email-error", "consent-error"] {
        assert!(
            errors.iter().any(|id| id == expected),
            "#{expected} among the errors: {errors:?}"
        );
    }
    let alert = text(&b, "#form-errors").await;
    assert!(alert.contains("check"), "summary alert: {alert}");
    screenshot(&b, "invite-errors").await;
}

/// The visible text of the first element matching `css`.
async fn text(b: &Client, css: &str) -> String {
    let el = b
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
    el.text().await.unwrap()
}

/// Waits until the browser shows a path that `ok` accepts, and returns it.
async fn wait_for_path(b: &Client, ok: impl Fn(&str) -> bool) -> String {
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

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves what the phone shows screen by screen while scrolling down, as
/// `<name>.png`, `<name>-2.png`, …, and the whole page at phone width as
/// `<name>-full.png`.
async fn screenshot(b: &Client, name: &str) {
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
async fn set_viewport(b: &Client, width: u32, height: u32) {
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
async fn save_failure(b: &Client) {
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
fn browser_installed() -> bool {
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
struct Chromedriver {
    // Fields drop in order: the processes end before the profile goes.
    _group: ProcessGroup,
    addr: SocketAddr,
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
    fn start() -> Chromedriver {
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

    /// A new browser session: Chromium headless at phone size, with its
    /// clock set to `now` (see [`CLOCK_SHIM`]).
    async fn session(&self, now: jiff::Timestamp) -> Client {
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
        set_viewport(&client, PHONE.0, PHONE.1).await;
        self.set_browser_clock(&client, now).await;
        client
    }

    /// Moves the page's `Date.now()` to the server's fixed clock. The
    /// waiting page's countdown (static/visit.js) reloads the page once
    /// the browser's clock passes the opening time; with the server held
    /// at `NOW` and the machine's clock past it, that would reload for ever.
    async fn set_browser_clock(&self, client: &Client, now: jiff::Timestamp) {
        let offset_ms = now.as_millisecond() - jiff::Timestamp::now().as_millisecond();
        let source = CLOCK_SHIM.replace("OFFSET_MS", &offset_ms.to_string());
        let session = client.session_id().await.unwrap().unwrap();
        let body = json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": { "source": source },
        });
        let (status, _, answer) = common::request(
            self.addr,
            http::Method::POST,
            &format!("/session/{session}/goog/cdp/execute"),
            &[("content-type", "application/json")],
            Bytes::from(body.to_string()),
        )
        .await;
        assert_eq!(status, 200, "setting the browser clock: {answer}");
    }

    fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

/// Shifts `Date.now()` by OFFSET_MS in every document the session opens.
const CLOCK_SHIM: &str = "(() => { const real = Date.now.bind(Date); \
     Date.now = () => real() + OFFSET_MS; })();";

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
