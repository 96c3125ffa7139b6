//! Family contact details encrypted at rest, through the real server, a
//! real SQLite file and a real SMTP server: the files on disk never hold
//! the name or address, yet the run-sheet and the mail still show them;
//! rotating the data key keeps everything readable.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::smtp::SmtpServer;
use common::{STAFF_PASSWORD, TestServer, at, contacts, open_db, request, seed_staff, seed_ward};
use http::{Method, StatusCode};

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MORNING: &str = "2026-11-23T08:00:00Z";
/// 14:00 Amsterdam that day: the first slot.
const SLOT: &str = "2026-11-23T13:00:00Z";

const NAME: &str = "Quentin Cipher-9b1e";
const EMAIL: &str = "quentin-9b1e@example.org";

/// Whether `needle` occurs anywhere in the file (a missing file holds nothing).
fn file_contains(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn on_disk(dir: &Path, needle: &str) -> bool {
    ["bedside.db", "bedside.db-wal"]
        .iter()
        .any(|f| file_contains(&dir.join(f), needle))
}

fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// A family books the slot through the invite form; returns the visit code.
async fn book(server: &TestServer, invite: &str) -> String {
    let (status, _, page) = server.get(&format!("/b/{invite}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let form = serde_urlencoded::to_string([
        ("csrf", input_value(&page, "csrf").as_str()),
        ("slot", &at(SLOT).as_second().to_string()),
        ("language", "en"),
        ("name", NAME),
        ("email", EMAIL),
        ("consent", "yes"),
    ])
    .unwrap();
    let origin = format!("http://{}", server.addr);
    let (status, headers, body) = request(
        server.addr,
        Method::POST,
        &format!("/b/{invite}"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
        Bytes::from(form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = headers["location"].to_str().unwrap();
    location
        .strip_prefix("/v/")
        .and_then(|l| l.strip_suffix("/booked"))
        .unwrap()
        .to_string()
}

/// Waits (bounded) until no outbox row is still to be sent.
async fn outbox_settled(dir: &Path) {
    for _ in 0..100 {
        let pending: i64 = open_db(dir)
            .query_row(
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND due_at <= ?1",
                [at(MORNING).as_second()],
                |r| r.get(0),
            )
            .unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox did not settle");
}

fn rotate(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_bedside"))
        .args(["keys", "rotate-data-key"])
        .env("BEDSIDE_DATA_DIR", dir)
        .env_remove("BEDSIDE_CONFIG")
        .output()
        .unwrap();
    let out = common::keep_log(out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sealed_columns(dir: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    open_db(dir)
        .prepare("SELECT email_key, name_enc, email_enc FROM contacts ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn contact_details_are_never_on_disk_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-18:00", 1);
    seed_staff(dir.path(), "anna.op", "operator", &["Ward 3"]);
    let smtp = SmtpServer::start();
    let port = smtp.port().to_string();
    let clock = Arc::new(FixedClock::new(at(MORNING)));
    let server = TestServer::start_at_with(
        dir.path(),
        clock.clone(),
        &[
            ("BEDSIDE_SMTP_HOST", "127.0.0.1"),
            ("BEDSIDE_SMTP_PORT", port.as_str()),
            ("BEDSIDE_SMTP_TLS", "none"),
            ("BEDSIDE_MAIL_POLL_INTERVAL", "1s"),
        ],
    )
    .await;
    let code = book(&server, &ward.invite).await;

    // The family's confirmation reaches them.
    let mail = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mail[0].to, [EMAIL]);
    // Their visit page opens (it decrypts the contact).
    let (status, _, page) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // The run-sheet shows their name.
    let staff = server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let (status, _, sheet) = server.get_as(&staff.cookie, "/staff").await;
    assert_eq!(status, StatusCode::OK);
    assert!(sheet.contains(NAME), "{sheet}");

    outbox_settled(dir.path()).await;
    server.stop().await;
    for needle in [NAME, EMAIL, "Quentin", "quentin-9b1e"] {
        assert!(!on_disk(dir.path(), needle), "{needle} found on disk");
    }
    assert_eq!(
        contacts(dir.path()),
        [(1, NAME.to_string(), EMAIL.to_string())]
    );

    // A new key: the stored bytes change, everything still reads.
    let before = sealed_columns(dir.path());
    rotate(dir.path());
    let after = sealed_columns(dir.path());
    assert_eq!(after.len(), 1);
    assert_ne!(before[0].0, after[0].0, "email_key recomputed");
    assert_ne!(before[0].1, after[0].1);
    assert_ne!(before[0].2, after[0].2);
    assert!(!dir.path().join("data-key.old").exists());
    assert!(!dir.path().join("data-key.new").exists());
    assert_eq!(
        contacts(dir.path()),
        [(1, NAME.to_string(), EMAIL.to_string())]
    );

    let server = TestServer::start_at(dir.path(), clock).await;
    let (status, _, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    let staff = server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let (_, _, sheet) = server.get_as(&staff.cookie, "/staff").await;
    assert!(sheet.contains(NAME), "{sheet}");
    server.stop().await;
}

#[test]
fn a_tampered_value_is_an_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    seed_ward(dir.path(), "mon-sun 14:00-18:00", 1);
    let conn = bedside::store::open_for_command(&dir.path().join("bedside.db")).unwrap();
    let id = bedside::store::bookings::contact_insert(&conn, NAME, EMAIL, "en", "1", 0).unwrap();
    // Flip one bit of the stored name.
    let mut sealed: Vec<u8> = conn
        .query_row("SELECT name_enc FROM contacts WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    sealed[20] ^= 0x01;
    conn.execute(
        "UPDATE contacts SET name_enc = ?2 WHERE id = ?1",
        rusqlite::params![id, sealed],
    )
    .unwrap();
    assert!(bedside::store::bookings::contact_by_id(&conn, id).is_err());
}
