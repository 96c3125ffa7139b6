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

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedside::clock::FixedClock;
use common::browser::{
    Chromedriver, PHONE, browser_installed, run_steps, screenshot, screenshot_dir, text,
    wait_for_path,
};
use common::{TestServer, at, contacts, open_db, seed_ward};
use fantoccini::{Client, Locator};
use serde_json::json;

/// The server's (fixed) time for the whole test: Monday 09:00 in Amsterdam.
const NOW: &str = "2026-11-23T08:00:00Z";

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
    let browser = driver.session().await;
    eprintln!("browser test: browser ready in {:?}", started.elapsed());
    run_steps(
        &browser,
        family_books(browser.clone(), base, ward.invite.clone()),
    )
    .await;
    browser.close().await.unwrap();
    drop(driver);
    eprintln!("browser test: browser part took {:?}", started.elapsed());

    // The two submits wrote exactly one booking: the valid one.
    let db = open_db(dir.path());
    let bookings: i64 = db
        .query_row("SELECT count(*) FROM bookings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bookings, 1, "exactly one booking after the whole run");
    let status: String = db
        .query_row("SELECT status FROM bookings", [], |r| r.get(0))
        .unwrap();
    let [(_, name, email)]: [(i64, String, String); 1] = contacts(dir.path()).try_into().unwrap();
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
