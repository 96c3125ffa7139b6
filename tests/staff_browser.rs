//! A nurse in a real browser (headless Chromium over WebDriver): logs in
//! through the login page, sees today's visits on her ward, and opens the
//! meeting on her device — landing in "Jitsi" (a local stand-in that just
//! answers) with a moderator token for that room in the URL fragment.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedside::clock::FixedClock;
use common::browser::{
    Chromedriver, browser_installed, run_steps, screenshot, text, wait_for_path,
};
use common::{STAFF_PASSWORD, TestServer, at, seed_staff, seed_unit, seed_ward};
use data_encoding::BASE64URL_NOPAD;
use fantoccini::{Client, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// 13:55 in Amsterdam: the 14:00 visit's join window is open.
const NOW: &str = "2026-11-23T12:55:00Z";

/// A stand-in for the Jitsi web server: answers every request with a page,
/// so the browser can land on the join URL and the test can read it.
async fn jitsi_stand_in() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = "<!doctype html><title>Jitsi stand-in</title><h1>Jitsi stand-in</h1>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_nurse_logs_in_sees_her_ward_and_opens_the_meeting() {
    if !browser_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 5", "mon-sun 14:00-16:00", 1, "Bed 51");
    seed_staff(dir.path(), "anna.op", "operator", &["Ward 3"]);
    for (patient, name) in [
        (ward.patient_id, "Carla Example"),
        (other.patient_id, "Dirk Example"),
    ] {
        let conn = bedside::store::open_for_command(&dir.path().join("bedside.db")).unwrap();
        let (p, u) = bedside::domain::patient::active_by_id(&conn, patient).unwrap();
        bedside::domain::booking::book(
            &conn,
            &p,
            &u,
            &bedside::domain::booking::BookingRequest {
                slot_start: at("2026-11-23T13:00:00Z").as_second(),
                name: name.into(),
                email: format!(
                    "{}@example.org",
                    name.split(' ').next().unwrap().to_lowercase()
                ),
                language: "en".into(),
                consent: true,
                privacy_version: "test".into(),
            },
            at("2026-11-23T08:00:00Z"),
            &ring::rand::SystemRandom::new(),
            None,
        )
        .unwrap();
    }
    let jitsi = jitsi_stand_in().await;
    let jitsi_url = format!("http://{jitsi}");
    let clock = Arc::new(FixedClock::new(at(NOW)));
    let server = TestServer::start_at_with(
        dir.path(),
        clock,
        &[("BEDSIDE_JITSI_PUBLIC_URL", &jitsi_url)],
    )
    .await;
    let base = format!("http://{}", server.addr);
    let secret = std::fs::read_to_string(dir.path().join("jitsi-app-secret")).unwrap();
    let room: String = common::open_db(dir.path())
        .query_row(
            "SELECT room FROM bookings b JOIN patients p ON p.id = b.patient_id WHERE p.label = 'Bed 12'",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let started = Instant::now();
    let driver = Chromedriver::start();
    let browser = driver.session().await;
    run_steps(
        &browser,
        nurse_opens_meeting(browser.clone(), base, jitsi, room, secret),
    )
    .await;
    browser.close().await.unwrap();
    drop(driver);
    eprintln!("staff browser test took {:?}", started.elapsed());
    server.stop().await;
}

async fn nurse_opens_meeting(
    b: Client,
    base: String,
    jitsi: std::net::SocketAddr,
    room: String,
    secret: String,
) {
    b.goto(&format!("{base}/staff")).await.unwrap();
    // Not logged in: sent to the login page.
    wait_for_path(&b, |p| p == "/staff/login").await;
    b.find(Locator::Css("#username"))
        .await
        .unwrap()
        .send_keys("anna.op")
        .await
        .unwrap();
    b.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(STAFF_PASSWORD)
        .await
        .unwrap();
    b.find(Locator::Css("#login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&b, |p| p == "/staff").await;

    let sheet = text(&b, "main").await;
    assert!(
        sheet.contains("Ward 3") && sheet.contains("Bed 12"),
        "{sheet}"
    );
    assert!(
        sheet.contains("14:00–14:30") && sheet.contains("Tablet 1"),
        "{sheet}"
    );
    assert!(sheet.contains("Carla Example"), "{sheet}");
    assert!(
        !sheet.contains("Ward 5") && !sheet.contains("Bed 51"),
        "only her ward: {sheet}"
    );
    let html = b.source().await.unwrap();
    assert!(
        !html.contains("@example.org"),
        "no family e-mail address in the page"
    );
    screenshot(&b, "staff-today").await;

    b.find(Locator::Css("tr.next button.open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Landed in "Jitsi", in the visit's room, with the token in the fragment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let url = loop {
        let url = b.current_url().await.unwrap();
        if url.port() == Some(jitsi.port()) {
            break url;
        }
        assert!(Instant::now() < deadline, "still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(url.path(), format!("/{room}"));
    assert_eq!(url.query(), None, "no token in a query string");
    let token = url
        .fragment()
        .and_then(|f| f.strip_prefix("jwt="))
        .expect("#jwt=…");
    let parts: Vec<&str> = token.split('.').collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.trim_end().as_bytes());
    ring::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap(),
    )
    .expect("signed with the app secret");
    let claims: serde_json::Value =
        serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
    assert_eq!(claims["room"], room.as_str());
    assert_eq!(claims["moderator"], true);
    assert_eq!(claims["context"]["user"]["name"], "Nurse anna.op");
    assert_eq!(claims["nbf"], at("2026-11-23T12:50:00Z").as_second());
    assert_eq!(claims["exp"], at("2026-11-23T13:35:00Z").as_second());
}
