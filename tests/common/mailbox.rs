//! The mail tests' view of bedside: families booking and cancelling
//! through the real pages, the outbox as an auditor reads it, and the
//! mails a family's mail program shows. Shared by `tests/mail.rs` and
//! `tests/resilience_mail.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bedside::clock::FixedClock;
use bytes::Bytes;
use http::{Method, StatusCode};
use mail_parser::MimeHeaders;

use super::smtp::Received;
use super::{TestServer, at, open_db, open_db_keyed, request};

/// Longest a test waits for the sender: it is woken by every new mail and
/// polls every second, so this is only ever reached when something is wrong.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Starts bedside sending through the test relay on `port`, polling every
/// second, retrying after about ten seconds.
pub async fn start_with_relay(dir: &Path, clock: Arc<FixedClock>, port: u16) -> TestServer {
    let port = port.to_string();
    TestServer::start_at_with(
        dir,
        clock,
        &[
            ("BEDSIDE_SMTP_HOST", "127.0.0.1"),
            ("BEDSIDE_SMTP_PORT", port.as_str()),
            ("BEDSIDE_SMTP_TLS", "none"),
            ("BEDSIDE_MAIL_POLL_INTERVAL", "1s"),
            ("BEDSIDE_MAIL_RETRY_FIRST", "10s"),
        ],
    )
    .await
}

/// The value of the first `name="<name>" value="…"` in a page.
pub fn input_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

/// What a family's browser sends: a same-origin form post.
pub async fn post_form(
    server: &TestServer,
    path: &str,
    form: &str,
) -> (StatusCode, http::HeaderMap, String) {
    let origin = format!("http://{}", server.addr);
    request(
        server.addr,
        Method::POST,
        path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
        Bytes::from(form.to_string()),
    )
    .await
}

/// A family books `slot` through the invite page's form; returns the
/// visit code from the page it is sent on to.
pub async fn book(
    server: &TestServer,
    invite: &str,
    slot: &str,
    lang: &str,
    email: &str,
) -> String {
    let (status, _, page) = server.get(&format!("/b/{invite}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = input_value(&page, "csrf").unwrap();
    let form = serde_urlencoded::to_string([
        ("csrf", csrf.as_str()),
        ("slot", &at(slot).as_second().to_string()),
        ("language", lang),
        ("name", "A Relative"),
        ("email", email),
        ("consent", "yes"),
    ])
    .unwrap();
    let (status, headers, body) = post_form(server, &format!("/b/{invite}"), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = headers["location"].to_str().unwrap();
    location
        .strip_prefix("/v/")
        .and_then(|l| l.strip_suffix("/booked"))
        .expect("sent on to /v/<code>/booked")
        .to_string()
}

/// The family presses "Cancel this visit" on the visit page.
pub async fn cancel(server: &TestServer, code: &str) {
    let (_, _, page) = server.get(&format!("/v/{code}")).await;
    let csrf = input_value(&page, "csrf").expect("the visit page has a cancel form");
    let (status, _, body) = post_form(
        server,
        &format!("/v/{code}/cancel"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Your visit is cancelled"), "{body}");
}

/// The booking made with `email`.
pub fn booking_id(dir: &Path, email: &str) -> i64 {
    open_db_keyed(dir)
        .query_row(
            "SELECT b.id FROM bookings b JOIN contacts c ON c.id = b.contact_id \
             WHERE c.email_key = bedside_email_key(?1)",
            [email],
            |r| r.get(0),
        )
        .unwrap()
}

/// One outbox row as an auditor sees it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub kind: String,
    pub booking_id: Option<i64>,
    pub message_id: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

pub fn outbox(dir: &Path) -> Vec<Row> {
    let conn = open_db(dir);
    let mut stmt = conn
        .prepare(
            "SELECT id, kind, booking_id, message_id, status, attempts, last_error
             FROM outbox ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            kind: r.get(1)?,
            booking_id: r.get(2)?,
            message_id: r.get(3)?,
            status: r.get(4)?,
            attempts: r.get(5)?,
            last_error: r.get(6)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The outbox row of `kind` for a booking.
pub fn row(dir: &Path, booking: i64, kind: &str) -> Row {
    let rows: Vec<Row> = outbox(dir)
        .into_iter()
        .filter(|r| r.booking_id == Some(booking) && r.kind == kind)
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "one {kind} row for booking {booking}: {rows:?}"
    );
    rows[0].clone()
}

/// Waits (boundedly) until `done` holds for the outbox; panics with the
/// outbox in the message if it never does.
pub async fn outbox_until(dir: &Path, what: &str, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let rows = outbox(dir);
        if done(&rows) {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}; outbox: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (boundedly) until the sender has recorded what became of every
/// mail it handed over: the relay's `250` arrives before bedside marks the
/// row sent, and a clock moved past a lease in that moment would send the
/// mail again (the outbox's at-least-once rule, not what a test wants).
pub async fn settle(dir: &Path) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let in_hand: i64 = open_db(dir)
            .query_row(
                "SELECT count(*) FROM outbox WHERE status = 'pending' AND lease_until IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if in_hand == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sender still holds {in_hand} mail after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a family's mail program shows of one mail.
#[derive(Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    /// `Content-Type` of the calendar attachment (`text/calendar`), its
    /// `method` parameter, and its text.
    pub calendar: Option<(String, Option<String>, String)>,
}

pub fn read_mail(raw: &[u8]) -> Mail {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a MIME message");
    let calendar = m.attachments().next().map(|part| {
        let ct = part.content_type().expect("the attachment has a type");
        (
            format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()),
            ct.attribute("method").map(str::to_string),
            String::from_utf8(part.contents().to_vec()).unwrap(),
        )
    });
    Mail {
        to: m
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.address())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        subject: m.subject().unwrap_or_default().to_string(),
        message_id: m.message_id().unwrap_or_default().to_string(),
        text: m.body_text(0).unwrap_or_default().into_owned(),
        html: m.body_html(0).unwrap_or_default().into_owned(),
        calendar,
    }
}

pub fn mails(received: &[Received]) -> Vec<Mail> {
    received.iter().map(|r| read_mail(&r.data)).collect()
}

/// The mails of `kind`, told apart by the outbox row of their Message-ID
/// (every mail sent is an outbox row first).
pub fn of_kind<'a>(dir: &Path, mails: &'a [Mail], kind: &str) -> Vec<&'a Mail> {
    let kinds: BTreeMap<String, String> = outbox(dir)
        .into_iter()
        .map(|r| (r.message_id, r.kind))
        .collect();
    mails
        .iter()
        .filter(|m| {
            let k = kinds
                .get(&m.message_id)
                .unwrap_or_else(|| panic!("{} is no outbox mail", m.message_id));
            k == kind
        })
        .collect()
}
