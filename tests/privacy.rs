//! The privacy page and the record of processing are written from the
//! running configuration: the retention times they name are the
//! configured ones, the page speaks the browser's language, and the
//! statement's version follows its content.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::{TestServer, at, config_for, request};
use http::{Method, StatusCode};

const BIN: &str = env!("CARGO_BIN_EXE_bedside");

const SETTINGS: &[(&str, &str)] = &[
    ("BEDSIDE_RETENTION_BOOKING_DAYS", "21"),
    ("BEDSIDE_RETENTION_PATIENT_DAYS", "9"),
    ("BEDSIDE_RETENTION_MAIL_DAYS", "5"),
    ("BEDSIDE_RETENTION_AUDIT_DAYS", "400"),
    ("BEDSIDE_STAFF_SESSION_IDLE", "45m"),
    ("BEDSIDE_STAFF_SESSION_MAX", "10h"),
];

async fn page(server: &TestServer, language: &str) -> String {
    let (status, _, body) = request(
        server.addr,
        Method::GET,
        "/privacy",
        &[("accept-language", language)],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body
}

async fn start(dir: &Path, settings: &[(&str, &str)]) -> TestServer {
    let clock = Arc::new(FixedClock::new(at("2026-11-23T08:00:00Z")));
    TestServer::start_at_with(dir, clock, settings).await
}

#[tokio::test]
async fn the_page_shows_the_configured_retention_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), SETTINGS).await;
    let body = page(&server, "en").await;
    for expected in [
        "until 21 days after the visit&#39;s end",
        "until 9 days after discharge",
        "5 days after sending",
        "The audit trail: 400 days.",
        "after 45 min without use, and after 10 h at most",
        "at least every 24 h (schedule 0 0 3 * * *, UTC)",
        "records no calls",
    ] {
        let expected = expected.replace("&#39;", "'");
        let escaped = expected.replace('\'', "&#39;");
        assert!(
            body.contains(&expected) || body.contains(&escaped),
            "{expected} not in {body}"
        );
    }
    let version = bedside::privacy::privacy_version(&config_for(dir.path(), SETTINGS));
    assert!(
        body.contains(&format!("Version {version} of this statement")),
        "{body}"
    );
    // Without a contact, the contact sentence is left out.
    assert!(!body.contains("id=\"contact\""), "{body}");
    server.stop().await;

    let server = start(
        dir.path(),
        &[
            ("BEDSIDE_RETENTION_BOOKING_DAYS", "30"),
            ("BEDSIDE_RETENTION_AUDIT_DAYS", "90"),
        ],
    )
    .await;
    let body = page(&server, "en").await;
    assert!(body.contains("until 30 days after the visit"), "{body}");
    assert!(body.contains("The audit trail: 90 days."), "{body}");
    assert!(!body.contains("21 days"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_page_follows_the_browser_language_and_names_the_contact() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = SETTINGS.to_vec();
    settings.push(("BEDSIDE_PRIVACY_CONTACT", "dpo@hospital.example.org"));
    let server = start(dir.path(), &settings).await;

    let dutch = page(&server, "nl-NL,nl;q=0.9,en;q=0.5").await;
    assert!(dutch.contains("<html lang=\"nl\">"), "{dutch}");
    assert!(dutch.contains("Privacyverklaring"), "{dutch}");
    assert!(
        dutch.contains("tot 21 dagen na het einde van het bezoek"),
        "{dutch}"
    );
    assert!(dutch.contains("Het logboek: 400 dagen."), "{dutch}");
    assert!(dutch.contains("dpo@hospital.example.org"), "{dutch}");
    assert!(!dutch.contains("days"), "{dutch}");

    let english = page(&server, "en").await;
    assert!(english.contains("id=\"contact\""), "{english}");
    assert!(english.contains("dpo@hospital.example.org"), "{english}");
    for (language, word) in [("sv", "dagar"), ("de", "Tage")] {
        let body = page(&server, language).await;
        assert!(body.contains(&format!("21 {word}")), "{body}");
    }
    server.stop().await;
}

#[test]
fn the_version_follows_the_retention_times() {
    let dir = tempfile::tempdir().unwrap();
    let base = bedside::privacy::privacy_version(&config_for(dir.path(), SETTINGS));
    assert_eq!(base.len(), 12);
    assert!(base.chars().all(|c| c.is_ascii_hexdigit()), "{base}");
    assert_eq!(
        base,
        bedside::privacy::privacy_version(&config_for(dir.path(), SETTINGS))
    );
    let mut changed = SETTINGS.to_vec();
    changed[0] = ("BEDSIDE_RETENTION_BOOKING_DAYS", "22");
    assert_ne!(
        base,
        bedside::privacy::privacy_version(&config_for(dir.path(), &changed))
    );
    changed = SETTINGS.to_vec();
    changed.push(("BEDSIDE_PRIVACY_CONTACT", "dpo@hospital.example.org"));
    assert_ne!(
        base,
        bedside::privacy::privacy_version(&config_for(dir.path(), &changed))
    );
}

#[test]
fn the_record_of_processing_names_the_configured_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("BEDSIDE_DATA_DIR", dir.path())
        .env("BEDSIDE_PRIVACY_CONTACT", "dpo@hospital.example.org")
        .args(["privacy", "record"]);
    for (k, v) in SETTINGS {
        cmd.env(k, v);
    }
    let out = common::keep_log(cmd.output().unwrap());
    assert!(out.status.success(), "{out:?}");
    let md = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "# Record of processing activities (GDPR Art. 30)",
        "Privacy contact: dpo@hospital.example.org",
        "visit end + 21 days",
        "discharge + 9 days",
        "5 days after sending",
        "| Audit trail | 400 days |",
        "45 min unused, 10 h at most",
        "Argon2id",
        "__Host-",
        "secure_delete",
    ] {
        assert!(md.contains(expected), "{expected} not in {md}");
    }
    let mut env = bedside::config::Env::new();
    env.insert("BEDSIDE_DATA_DIR".into(), dir.path().display().to_string());
    env.insert(
        "BEDSIDE_PRIVACY_CONTACT".into(),
        "dpo@hospital.example.org".into(),
    );
    for (k, v) in SETTINGS {
        env.insert(k.to_string(), v.to_string());
    }
    let config = bedside::config::Config::load(None, &env).unwrap();
    assert!(
        md.contains(&bedside::privacy::privacy_version(&config)),
        "{md}"
    );
}
