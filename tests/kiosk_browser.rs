//! The tablet kiosk in a real browser (headless Chromium over WebDriver),
//! against a stand-in Jitsi site: a tiny HTTP server on 127.0.0.1 whose
//! `external_api.js` defines `JitsiMeetExternalAPI` and records what it is
//! given in the page (an element `#jitsi-joined` with `data-*` attributes)
//! instead of opening a call. The test moves bedside's clock and watches
//! the page join when the window opens, stay through the grace time, hang
//! up at end + grace, join the next visit and leave it at once when staff
//! cancel it — all under the page's own Content-Security-Policy, with no
//! violation reported.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian:
//! `apt-get install chromium chromium-driver`). Without them the test is
//! skipped with a message, except under CI (`CI` set), where it fails.
//! Screenshots go to `target/browser-screenshots/kiosk-*.png`; on failure
//! also the page source (`kiosk-failure.html`).

mod common;

use common::browser::{Chromedriver, browser_installed, run_steps, screenshot_dir};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bedside::clock::FixedClock;
use bedside::domain::booking::{self, Booked};
use bedside::domain::codes::Code;
use bytes::Bytes;
use common::{at, config_for, open_db, seed_ward};
use data_encoding::BASE64URL_NOPAD;
use fantoccini::{Client, Locator};
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A common ward tablet's screen in CSS pixels (10" landscape).
const TABLET: (u32, u32) = (1280, 800);

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first visit: 14:00–14:30 Amsterdam; window opens 13:50, token
/// and call last until 14:35.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";
const FIRST_OPENS: &str = "2026-11-23T12:50:00Z";
const FIRST_GRACE: &str = "2026-11-23T13:31:00Z";
const FIRST_LEAVE: &str = "2026-11-23T13:35:00Z";
/// The second visit: 15:20–15:50 Amsterdam; window opens 15:10.
const SECOND_SLOT: &str = "2026-11-23T14:20:00Z";
const SECOND_OPENS: &str = "2026-11-23T14:10:00Z";

/// Longest the page may take to react to a moved clock: it polls every
/// second (`?poll=1`), so a few seconds is generous.
const REACT_WITHIN: Duration = Duration::from_secs(10);

/// The stand-in for Jitsi's IFrame API.
const FAKE_EXTERNAL_API: &str = r#"(function () {
  "use strict";
  window.jitsiLog = [];
  window.JitsiMeetExternalAPI = function (domain, options) {
    var frame = document.createElement("div");
    frame.id = "jitsi-joined";
    frame.setAttribute("data-domain", domain);
    frame.setAttribute("data-room", options.roomName);
    frame.setAttribute("data-jwt", options.jwt);
    frame.setAttribute("data-display-name", options.userInfo.displayName);
    frame.setAttribute("data-prejoin", String(options.configOverwrite.prejoinConfig.enabled));
    frame.setAttribute("data-parent", options.parentNode.id);
    frame.textContent = "in a call";
    options.parentNode.appendChild(frame);
    window.jitsiLog.push("join " + options.roomName);
    this.executeCommand = function (name) {
      window.jitsiLog.push(name);
      if (name === "hangup") { frame.remove(); }
    };
    this.dispose = function () {
      window.jitsiLog.push("dispose");
      frame.remove();
    };
  };
})();
"#;

/// Collects Content-Security-Policy violations in every document the
/// session opens, before any page script runs.
const CSP_WATCH: &str = "(() => { window.cspViolations = []; \
     document.addEventListener('securitypolicyviolation', e => \
       window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); })();";

#[tokio::test]
async fn the_tablet_joins_its_visit_when_the_window_opens_and_leaves_at_the_end() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let first = book(dir.path(), ward.patient_id, FIRST_SLOT);
    let second = book(dir.path(), ward.patient_id, SECOND_SLOT);
    let code = link_tablet(dir.path(), "Tablet 1");

    let jitsi = FakeJitsi::start().await;
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = Bedside::start(dir.path(), clock.clone(), &jitsi.url()).await;

    let started = Instant::now();
    let driver = Chromedriver::start();
    let browser = driver.session_sized(TABLET).await;
    driver.run_on_new_document(&browser, CSP_WATCH).await;
    eprintln!(
        "kiosk browser test: browser ready in {:?}",
        started.elapsed()
    );

    let visit = Visits {
        base: format!("http://{}", server.addr),
        code,
        jitsi_domain: jitsi.addr.to_string(),
        dir: dir.path().to_path_buf(),
        clock,
        first,
        second,
    };
    run_steps(&browser, the_tablet_through_the_day(browser.clone(), visit)).await;
    browser.close().await.unwrap();
    drop(driver);
    eprintln!(
        "kiosk browser test: browser part took {:?}",
        started.elapsed()
    );
    assert!(
        jitsi.requests() >= 1,
        "the page loaded the IFrame API from the Jitsi site"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_jitsi_or_bedside_the_screen_says_so_and_recovers() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    book(dir.path(), ward.patient_id, FIRST_SLOT);
    let code = link_tablet(dir.path(), "Tablet 1");
    let clock = Arc::new(FixedClock::new(at(FIRST_OPENS)));

    // A Jitsi site that does not answer: nothing listens on its port.
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let down = Bedside::start(dir.path(), clock.clone(), &nowhere).await;
    let jitsi = FakeJitsi::start().await;
    let driver = Chromedriver::start();
    let browser = driver.session_sized(TABLET).await;
    driver.run_on_new_document(&browser, CSP_WATCH).await;

    let b = browser.clone();
    let data = dir.path().to_path_buf();
    let steps = async move {
        let dir = data;
        // Jitsi's script is missing: the tablet says so instead of
        // pretending to wait, and does not try to join.
        b.goto(&format!("http://{}/t/{code}?poll=1", down.addr))
            .await
            .unwrap();
        wait_for_text(
            &b,
            "notice",
            "The video service cannot be reached. This screen tries again in a minute.",
        )
        .await;
        assert!(shown(&b, "notice").await && shown(&b, "waiting").await);
        assert_eq!(text_of(&b, "next-heading").await, "Visit now");
        assert_eq!(text_of(&b, "next").await, "14:00–14:30 · Bed 12");
        screenshot(&b, "kiosk-no-jitsi").await;
        down.stop().await;

        // With Jitsi there, the tablet joins; then bedside goes away (a
        // restart, a network drop): the call and the clock go on, the
        // screen says it is reconnecting, and recovers when bedside is back.
        let up = Bedside::start(&dir, clock.clone(), &jitsi.url()).await;
        let addr = up.addr;
        b.goto(&format!("http://{addr}/t/{code}?poll=1"))
            .await
            .unwrap();
        wait_until(
            &b,
            "joined the visit",
            "return !!document.getElementById('jitsi-joined')",
        )
        .await;
        up.stop().await;
        wait_for_text(
            &b,
            "notice",
            "No connection to the visit service. Trying again…",
        )
        .await;
        assert!(present(&b, "jitsi-joined").await, "the call goes on");
        let back = Bedside::start_on(addr, &dir, clock.clone(), &jitsi.url()).await;
        wait_until(
            &b,
            "reconnected",
            "return document.getElementById('notice').hidden",
        )
        .await;
        assert!(present(&b, "jitsi-joined").await, "still the same call");
        assert_eq!(log(&b).await.len(), 1, "joined once: {:?}", log(&b).await);
        let violations = b
            .execute("return window.cspViolations", vec![])
            .await
            .unwrap();
        assert_eq!(violations, json!([]));
        back.stop().await;
    };
    run_steps(&browser, steps).await;
    browser.close().await.unwrap();
}

/// What the test knows about the day on the ward.
struct Visits {
    base: String,
    code: String,
    jitsi_domain: String,
    dir: PathBuf,
    clock: Arc<FixedClock>,
    first: Booked,
    second: Booked,
}

async fn the_tablet_through_the_day(b: Client, v: Visits) {
    let room = |booked: &Booked| -> String {
        open_db(&v.dir)
            .query_row(
                "SELECT room FROM bookings WHERE id = ?1",
                [booked.id],
                |r| r.get(0),
            )
            .unwrap()
    };
    let (first_room, second_room) = (room(&v.first), room(&v.second));

    // Morning: the waiting screen with the clock in the ward's time and
    // the first visit.
    b.goto(&format!("{}/t/{}?poll=1", v.base, v.code))
        .await
        .unwrap();
    wait_until(
        &b,
        "Jitsi's script loaded",
        "return typeof JitsiMeetExternalAPI === 'function'",
    )
    .await;
    wait_for_text(&b, "clock", "09:00").await;
    assert_eq!(text_of(&b, "unit").await, "Ward 3");
    assert_eq!(text_of(&b, "tablet").await, "Tablet 1");
    assert_eq!(text_of(&b, "date").await, "Monday 23 November");
    assert_eq!(text_of(&b, "next-heading").await, "Next visit");
    assert_eq!(text_of(&b, "next").await, "14:00–14:30 · Bed 12");
    assert!(shown(&b, "waiting").await && !shown(&b, "call").await);
    assert!(!present(&b, "jitsi-joined").await);
    let clock_px = b
        .execute(
            "return parseFloat(getComputedStyle(document.getElementById('clock')).fontSize)",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        clock_px.as_f64().unwrap_or(0.0) >= 64.0,
        "a clock to read across the room: {clock_px}px"
    );
    screenshot(&b, "kiosk-waiting").await;

    // The window opens: the page joins the first visit's room.
    v.clock.set(at(FIRST_OPENS));
    wait_until(
        &b,
        "joined the first visit",
        "return !!document.getElementById('jitsi-joined')",
    )
    .await;
    let joined = b.find(Locator::Id("jitsi-joined")).await.unwrap();
    let attr = |name: &'static str| {
        let joined = joined.clone();
        async move { joined.attr(name).await.unwrap().unwrap_or_default() }
    };
    assert_eq!(attr("data-room").await, first_room);
    assert_eq!(attr("data-domain").await, v.jitsi_domain);
    assert_eq!(attr("data-display-name").await, "Tablet 1 · Ward 3");
    assert_eq!(attr("data-prejoin").await, "false");
    assert_eq!(attr("data-parent").await, "call");
    let claims = verified_claims(&v.dir, &attr("data-jwt").await);
    assert_eq!(claims["room"], first_room.as_str());
    assert_eq!(claims["moderator"], true);
    assert_eq!(claims["context"]["user"]["name"], "Tablet 1 · Ward 3");
    assert_eq!(claims["nbf"], at(FIRST_OPENS).as_second());
    assert_eq!(claims["exp"], at(FIRST_LEAVE).as_second());
    assert!(shown(&b, "call").await && !shown(&b, "waiting").await);
    screenshot(&b, "kiosk-call").await;

    // The slot is over but the grace time is not: the family is not cut
    // off mid-sentence. Several polls go by without a hangup.
    v.clock.set(at(FIRST_GRACE));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        present(&b, "jitsi-joined").await,
        "still in the call during the grace time"
    );
    assert_eq!(log(&b).await, vec![format!("join {first_room}")]);

    // End + grace: hung up, back to waiting, the next visit shown.
    v.clock.set(at(FIRST_LEAVE));
    wait_until(
        &b,
        "left the first visit",
        "return !document.getElementById('jitsi-joined')",
    )
    .await;
    wait_for_text(&b, "next", "15:20–15:50 · Bed 12").await;
    assert!(shown(&b, "waiting").await && !shown(&b, "call").await);
    assert_eq!(text_of(&b, "next-heading").await, "Next visit");
    wait_until(
        &b,
        "the call's frame disposed",
        "return window.jitsiLog.indexOf('dispose') >= 0",
    )
    .await;
    assert_eq!(
        log(&b).await,
        vec![
            format!("join {first_room}"),
            "hangup".into(),
            "dispose".into()
        ]
    );

    // The second visit opens: joined; then staff cancel it mid-visit and
    // the tablet leaves at once, long before its end.
    v.clock.set(at(SECOND_OPENS));
    wait_until(
        &b,
        "joined the second visit",
        "return !!document.getElementById('jitsi-joined')",
    )
    .await;
    let joined = b.find(Locator::Id("jitsi-joined")).await.unwrap();
    let joined_room = joined.attr("data-room").await.unwrap().unwrap_or_default();
    assert_eq!(joined_room, second_room);
    let cancel_at = at("2026-11-23T14:12:00Z");
    v.clock.set(cancel_at);
    let conn = bedside::store::open_for_command(&v.dir.join("bedside.db")).unwrap();
    booking::cancel_by_id(&conn, v.second.id, "staff", cancel_at, None).unwrap();
    wait_until(
        &b,
        "left the cancelled visit",
        "return !document.getElementById('jitsi-joined')",
    )
    .await;
    wait_for_text(&b, "next", "No more visits today").await;
    assert!(shown(&b, "waiting").await);
    screenshot(&b, "kiosk-done").await;

    let violations = b
        .execute("return window.cspViolations", vec![])
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "the page's own policy lets it work");
}

/// The entries the stand-in IFrame API recorded.
async fn log(b: &Client) -> Vec<String> {
    let v = b.execute("return window.jitsiLog", vec![]).await.unwrap();
    serde_json::from_value(v).unwrap()
}

/// Runs `script` (returning a boolean) until it is true, or fails.
async fn wait_until(b: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + REACT_WITHIN;
    loop {
        if b.execute(script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        if Instant::now() > deadline {
            let shown = b
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap_or_default();
            panic!("not {what} within {REACT_WITHIN:?}; the page shows:\n{shown}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_text(b: &Client, id: &str, expected: &str) {
    let script = format!(
        "var e = document.getElementById({}); return !!e && e.textContent.trim() === {};",
        json!(id),
        json!(expected)
    );
    let deadline = Instant::now() + REACT_WITHIN;
    loop {
        if b.execute(&script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        if Instant::now() > deadline {
            panic!("#{id} is {:?}, not {expected:?}", text_of(b, id).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(b: &Client, id: &str) -> String {
    let script = format!(
        "var e = document.getElementById({}); return e ? e.textContent.trim() : null;",
        json!(id)
    );
    match b.execute(&script, vec![]).await.unwrap() {
        Value::String(s) => s,
        other => panic!("no #{id} on the page ({other})"),
    }
}

async fn present(b: &Client, id: &str) -> bool {
    let script = format!("return !!document.getElementById({});", json!(id));
    b.execute(&script, vec![]).await.unwrap() == json!(true)
}

async fn shown(b: &Client, id: &str) -> bool {
    b.find(Locator::Id(id))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap()
}

/// Gives the tablet labelled `label` on Ward 3 a fresh device link.
fn link_tablet(dir: &Path, label: &str) -> String {
    let code = Code::generate(&ring::rand::SystemRandom::new());
    let changed = open_db(dir)
        .execute(
            "UPDATE tablets SET device_hash = ?1
             WHERE label = ?2 AND unit_id = (SELECT id FROM units WHERE name = 'Ward 3')",
            rusqlite::params![code.hash(), label],
        )
        .unwrap();
    assert_eq!(changed, 1, "tablet {label} exists");
    code.expose().to_string()
}

/// Books the slot at `start` for the patient, as a family named Anna.
fn book(dir: &Path, patient_id: i64, start: &str) -> Booked {
    common::seed_booking(
        dir,
        patient_id,
        start,
        ("Anna Example", "anna@example.org"),
        MONDAY_MORNING,
        false,
    )
}

/// Checks the signature with the server's secret and returns the claims.
fn verified_claims(dir: &Path, token: &str) -> Value {
    let secret = std::fs::read_to_string(dir.join("jitsi-app-secret")).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "a JWS compact token has three parts: {token}"
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.trim_end().as_bytes());
    ring::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap(),
    )
    .expect("signature verifies with the app secret");
    serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap()
}

/// bedside on a fresh port with a held clock, pointing at `jitsi_url`.
struct Bedside {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bedside::StartError>>,
}

impl Bedside {
    async fn start(dir: &Path, clock: Arc<FixedClock>, jitsi_url: &str) -> Bedside {
        Self::start_on("127.0.0.1:0".parse().unwrap(), dir, clock, jitsi_url).await
    }

    /// As [`Bedside::start`], on `addr` (to come back where it was).
    async fn start_on(
        addr: SocketAddr,
        dir: &Path,
        clock: Arc<FixedClock>,
        jitsi_url: &str,
    ) -> Bedside {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let public = format!("http://{addr}");
        let config = config_for(
            dir,
            &[
                ("BEDSIDE_PUBLIC_URL", public.as_str()),
                ("BEDSIDE_JITSI_PUBLIC_URL", jitsi_url),
            ],
        );
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(bedside::run_with_clock(
            config,
            listener,
            shutdown.clone(),
            clock,
        ));
        // The listener queues connections until bedside is ready.
        let (status, _, _) =
            common::request(addr, http::Method::GET, "/healthz", &[], Bytes::new()).await;
        assert_eq!(status, 200, "bedside did not come up healthy");
        Bedside {
            addr,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// The stand-in Jitsi site: serves [`FAKE_EXTERNAL_API`] at
/// `/external_api.js`, 404 for anything else. Stops when dropped.
struct FakeJitsi {
    addr: SocketAddr,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeJitsi {
    async fn start() -> FakeJitsi {
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move {
                        if req.uri().path() != "/external_api.js" {
                            return http::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::new()));
                        }
                        counter.fetch_add(1, Ordering::SeqCst);
                        http::Response::builder()
                            .header("content-type", "text/javascript; charset=utf-8")
                            .header("cache-control", "no-store")
                            .body(Full::new(Bytes::from_static(FAKE_EXTERNAL_API.as_bytes())))
                    }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        FakeJitsi {
            addr,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FakeJitsi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Saves what the tablet shows as `<name>.png`. Best effort: the family
/// browser test clears the directory when it starts, maybe right now.
async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    let _ = std::fs::write(screenshot_dir().join(format!("{name}.png")), png);
}
