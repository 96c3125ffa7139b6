//! Mail as families and admins meet it, through the real server, a real
//! SQLite file and a real SMTP server on loopback: the confirmation with
//! its calendar invitation, the cancellation, the reminder an hour
//! before, what happens while the relay is down or says no, and mail
//! about a visit that is already over.
//!
//! Time is the server's injected clock: retries and reminders become due
//! by moving it, and the sender notices within its one-second poll. Where
//! a test must show that something did *not* happen, it waits for another
//! mail that the same sender round had to send (a bounded wait for an
//! event), then looks.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bedside::clock::FixedClock;
use common::mailbox::{
    Mail, PATIENCE, book, booking_id, cancel, mails, of_kind, outbox, outbox_until, read_mail, row,
    settle, start_with_relay,
};
use common::smtp::{Received, SmtpServer};
use common::{TestServer, at, open_db, request, seed_unit, seed_ward};
use ical::parser::ical::component::IcalCalendar;
use ical::property::Property;

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first slot that afternoon: 14:00–14:30 Amsterdam.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";
/// The second: 14:40–15:10 Amsterdam.
const SECOND_SLOT: &str = "2026-11-23T13:40:00Z";
/// The first slot on Tuesday.
const TUESDAY_SLOT: &str = "2026-11-24T13:00:00Z";

/// HTML text as a browser shows it: character references decoded (the
/// templates escape `/` as `&#x2f;`).
fn unescape_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let c = match &rest[1..end] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The links of an HTML mail as a reader meets them: (target, visible text).
fn html_links(html: &str) -> Vec<(String, String)> {
    html.split("<a ")
        .skip(1)
        .filter_map(|a| {
            let href = a.split("href=\"").nth(1)?.split('"').next()?;
            let text = a.split_once('>')?.1.split("</a>").next()?;
            Some((unescape_html(href), unescape_html(text).trim().to_string()))
        })
        .collect()
}

/// Runs `bedside mail queue` against the data directory, as an admin would.
fn mail_queue(dir: &Path) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bedside"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("BEDSIDE_DATA_DIR", dir)
        .args(["mail", "queue"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bedside runs");
    let out = common::keep_log(out);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number after `label` at the start of a line of `mail queue`.
fn queue_count(output: &str, label: &str) -> i64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label} count in:\n{output}"))
}

/// The calendar file parsed as iCalendar, as a calendar program would.
fn calendar(text: &str) -> IcalCalendar {
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = parser
        .next()
        .expect("one VCALENDAR")
        .expect("the calendar parses");
    assert!(parser.next().is_none(), "exactly one VCALENDAR");
    calendar
}

fn property<'a>(properties: &'a [Property], name: &str) -> &'a Property {
    properties
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no {name} in {properties:#?}"))
}

fn value<'a>(properties: &'a [Property], name: &str) -> &'a str {
    property(properties, name)
        .value
        .as_deref()
        .unwrap_or_default()
}

/// The `TZID` parameter of a date-time property.
fn tzid(p: &Property) -> Option<&str> {
    p.params
        .as_ref()?
        .iter()
        .find(|(k, _)| k == "TZID")
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

const ANNA: &str = "anna@example.org";
const BO: &str = "bo@example.org";

#[tokio::test]
async fn a_booking_mails_one_confirmation_with_an_invitation_and_a_cancel_withdraws_it() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let relay = SmtpServer::start();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock.clone(), relay.port()).await;

    let code = book(&server, &ward.invite, FIRST_SLOT, "en", ANNA).await;
    let id = booking_id(dir.path(), ANNA);
    let received = relay.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1, "one confirmation");
    assert_eq!(received[0].to, [ANNA], "the envelope goes to the family");
    let mail = read_mail(&received[0].data);
    assert_eq!(mail.to, [ANNA]);
    assert!(
        mail.subject.contains("Bed 12") && mail.subject.contains("14:00"),
        "{}",
        mail.subject
    );
    let link = format!("http://{}/v/{code}", server.addr);
    assert!(
        html_links(&mail.html).iter().any(|(href, _)| *href == link),
        "the HTML part links to the visit: {}",
        mail.html
    );
    let html_shown = unescape_html(&mail.html);
    for (part, body) in [("text", &mail.text), ("html", &html_shown)] {
        assert!(
            body.contains(&link),
            "{part} part has the visit link: {body}"
        );
        // The Jitsi token is minted on click, never mailed.
        assert!(
            !body.to_ascii_lowercase().contains("jwt") && !body.contains("eyJ"),
            "{part} part has no token: {body}"
        );
    }
    // The Message-ID is the outbox's: a retry after a crash sends the same id.
    settle(dir.path()).await;
    let confirmation = row(dir.path(), id, "confirmation");
    assert_eq!(mail.message_id, confirmation.message_id);
    assert!(
        mail.message_id.ends_with("@127.0.0.1"),
        "{}",
        mail.message_id
    );
    assert_eq!(confirmation.status, "sent");

    // The invitation a calendar program adds.
    let (content_type, method, ics) = mail.calendar.expect("an .ics attachment");
    assert_eq!(content_type, "text/calendar");
    assert_eq!(method.as_deref(), Some("REQUEST"));
    let cal = calendar(&ics);
    assert_eq!(value(&cal.properties, "METHOD"), "REQUEST");
    assert_eq!(cal.timezones.len(), 1, "a VTIMEZONE for the ward's zone");
    assert_eq!(
        value(&cal.timezones[0].properties, "TZID"),
        "Europe/Amsterdam"
    );
    assert_eq!(cal.events.len(), 1);
    let event = &cal.events[0].properties;
    let uid = format!("booking-{id}@127.0.0.1");
    assert_eq!(value(event, "UID"), uid);
    let start = property(event, "DTSTART");
    assert_eq!(tzid(start), Some("Europe/Amsterdam"));
    assert_eq!(start.value.as_deref(), Some("20261123T140000"));
    let end = property(event, "DTEND");
    assert_eq!(tzid(end), Some("Europe/Amsterdam"));
    assert_eq!(end.value.as_deref(), Some("20261123T143000"));

    // Another family's visit at the same time: its reminder is due with
    // the cancelled one, so its arrival shows the reminder round ran.
    book(&server, &other.invite, FIRST_SLOT, "en", BO).await;
    assert_eq!(relay.wait_for(2, PATIENCE).await.len(), 2);

    cancel(&server, &code).await;
    let received = relay.wait_for(3, PATIENCE).await;
    assert_eq!(received.len(), 3, "one cancellation");
    let all = mails(&received);
    let cancellations = of_kind(dir.path(), &all, "cancellation");
    assert_eq!(cancellations.len(), 1);
    let cancellation = cancellations[0];
    assert_eq!(cancellation.to, [ANNA]);
    let (content_type, method, ics) = cancellation.calendar.clone().expect("an .ics attachment");
    assert_eq!(content_type, "text/calendar");
    assert_eq!(method.as_deref(), Some("CANCEL"));
    let cal = calendar(&ics);
    assert_eq!(value(&cal.properties, "METHOD"), "CANCEL");
    assert_eq!(
        value(&cal.events[0].properties, "UID"),
        uid,
        "the same event"
    );

    // Past the reminders' due time (13:00): Bo's comes, Anna's never.
    settle(dir.path()).await;
    clock.set(at("2026-11-23T12:00:30Z"));
    let received = relay.wait_for(4, PATIENCE).await;
    assert_eq!(received.len(), 4);
    let all = mails(&received);
    let reminders = of_kind(dir.path(), &all, "reminder");
    assert_eq!(reminders.len(), 1, "{reminders:#?}");
    assert_eq!(reminders[0].to, [BO]);
    let anna: Vec<&Mail> = all.iter().filter(|m| m.to == [ANNA]).collect();
    assert_eq!(anna.len(), 2, "confirmation and cancellation only");
    assert_eq!(row(dir.path(), id, "reminder").status, "stale");
    server.stop().await;
}

/// A hospital system books through the API: the family gets the same
/// confirmation as from the booking page (the visit link the API answered
/// with, an invitation named after the booking's id), the queued reminder
/// is sealed in the database, and the API's cancellation withdraws the
/// same calendar event.
#[tokio::test]
async fn a_booking_through_the_api_mails_the_family_and_its_cancel_withdraws_the_same_event() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let key = bedside::domain::apikey::create(
        &bedside::store::open_for_command(&dir.path().join("bedside.db")).unwrap(),
        "hospital system",
        at(MONDAY_MORNING).as_second(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let relay = SmtpServer::start();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock, relay.port()).await;
    let authorization = format!("Bearer {key}");
    let api = |path: String, body: String| {
        let authorization = authorization.clone();
        let addr = server.addr;
        async move {
            request(
                addr,
                http::Method::POST,
                &path,
                &[
                    ("authorization", authorization.as_str()),
                    ("content-type", "application/json"),
                ],
                bytes::Bytes::from(body),
            )
            .await
        }
    };

    let (status, _, reply) = api(
        "/api/v1/bookings".into(),
        format!(
            r#"{{"patient_id": {}, "start": "{FIRST_SLOT}", "name": "Anna", "email": "{ANNA}",
                "language": "en", "consent": true}}"#,
            ward.patient_id
        ),
    )
    .await;
    assert_eq!(status, http::StatusCode::CREATED, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let id = reply["id"].as_i64().unwrap();
    let link = reply["visit_url"].as_str().unwrap().to_string();
    let received = relay.wait_for(1, PATIENCE).await;
    let mail = read_mail(&received[0].data);
    assert_eq!(mail.to, [ANNA]);
    assert!(
        mail.subject.contains("Bed 12") && mail.subject.contains("14:00"),
        "{}",
        mail.subject
    );
    assert!(mail.text.contains(&link), "{}", mail.text);
    assert!(unescape_html(&mail.html).contains(&link), "{}", mail.html);
    let (_, method, ics) = mail.calendar.expect("an .ics attachment");
    assert_eq!(method.as_deref(), Some("REQUEST"));
    let uid = format!("booking-{id}@127.0.0.1");
    assert_eq!(value(&calendar(&ics).events[0].properties, "UID"), uid);

    // What waits in the outbox holds neither the address nor the link.
    let code = link.rsplit('/').next().unwrap().to_string();
    let stored: Vec<String> = open_db(dir.path())
        .query_row(
            "SELECT recipient, subject, body_text, body_html FROM outbox WHERE kind = 'reminder'",
            [],
            |r| Ok(vec![r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
        )
        .unwrap();
    for value in &stored {
        assert!(value.starts_with("sealed1:"), "{value}");
        assert!(!value.contains("anna") && !value.contains(&code), "{value}");
    }

    settle(dir.path()).await;
    let (status, _, reply) = api(format!("/api/v1/bookings/{id}/cancel"), String::new()).await;
    assert_eq!(status, http::StatusCode::OK, "{reply}");
    let received = relay.wait_for(2, PATIENCE).await;
    let all = mails(&received);
    let cancellations = of_kind(dir.path(), &all, "cancellation");
    assert_eq!(cancellations.len(), 1);
    let (_, method, ics) = cancellations[0]
        .calendar
        .clone()
        .expect("an .ics attachment");
    assert_eq!(method.as_deref(), Some("CANCEL"));
    assert_eq!(
        value(&calendar(&ics).events[0].properties, "UID"),
        uid,
        "the same event"
    );
    server.stop().await;
}

#[tokio::test]
async fn mail_written_while_the_relay_is_down_goes_once_when_it_is_back() {
    const FAMILIES: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let first = seed_ward(dir.path(), "mon-sun 14:00-16:00", FAMILIES / 2);
    let mut invites = vec![first.invite];
    for i in 1..FAMILIES {
        invites.push(seed_unit(dir.path(), "Ward 3", "", 0, &format!("Bed {}", 12 + i)).invite);
    }
    let mut relay = SmtpServer::start();
    let port = relay.port();
    relay.stop();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock.clone(), port).await;

    let addresses: Vec<String> = (0..FAMILIES)
        .map(|i| format!("family{i}@example.org"))
        .collect();
    for (i, invite) in invites.iter().enumerate() {
        let slot = if i < FAMILIES / 2 {
            FIRST_SLOT
        } else {
            SECOND_SLOT
        };
        book(&server, invite, slot, "en", &addresses[i]).await;
    }
    // Every confirmation was tried, refused, and waits for its retry.
    let rows = outbox_until(dir.path(), "every confirmation tried once", |rows| {
        rows.iter()
            .filter(|r| r.kind == "confirmation" && r.attempts >= 1 && r.last_error.is_some())
            .count()
            == FAMILIES
    })
    .await;
    for r in rows.iter().filter(|r| r.kind == "confirmation") {
        assert_eq!(r.status, "pending", "{r:?}");
        let error = r.last_error.as_deref().unwrap();
        assert!(error.to_ascii_lowercase().contains("refused"), "{error}");
    }

    // The relay is back; the retry wait (about ten seconds) passes.
    let relay = SmtpServer::start_on(port);
    clock.set(at("2026-11-23T08:01:00Z"));
    let received = relay.wait_for(FAMILIES, PATIENCE).await;
    assert_eq!(received.len(), FAMILIES);
    let confirmations: BTreeMap<String, i64> = outbox(dir.path())
        .into_iter()
        .filter(|r| r.kind == "confirmation")
        .map(|r| (r.message_id, r.booking_id.unwrap()))
        .collect();
    let check_once_each = |received: &[Received]| {
        let all = mails(received);
        let sent = of_kind(dir.path(), &all, "confirmation");
        let ids: BTreeSet<&str> = sent.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(sent.len(), FAMILIES, "no confirmation twice");
        assert_eq!(ids.len(), FAMILIES, "no confirmation twice");
        assert!(
            ids.iter().all(|id| confirmations.contains_key(*id)),
            "each is a booking's confirmation"
        );
        let to: BTreeSet<String> = sent.iter().map(|m| m.to.join(",")).collect();
        assert_eq!(to, addresses.iter().cloned().collect::<BTreeSet<_>>());
    };
    check_once_each(&received);
    settle(dir.path()).await;
    assert!(
        outbox(dir.path())
            .iter()
            .filter(|r| r.kind == "confirmation")
            .all(|r| r.status == "sent")
    );

    // Later rounds (the reminders, due an hour before each visit) send no
    // confirmation again.
    clock.set(at("2026-11-23T12:40:30Z"));
    let received = relay.wait_for(2 * FAMILIES, PATIENCE).await;
    assert_eq!(received.len(), 2 * FAMILIES);
    assert_eq!(
        of_kind(dir.path(), &mails(&received), "reminder").len(),
        FAMILIES
    );
    check_once_each(&received);
    server.stop().await;
}

#[tokio::test]
async fn a_refused_recipient_is_marked_failed_not_retried_and_shown_to_admins_without_the_address()
{
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let relay = SmtpServer::start();
    relay.refuse(ANNA);
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock.clone(), relay.port()).await;

    // Anna's visit is the later one: her reminder is not due below.
    book(&server, &ward.invite, SECOND_SLOT, "en", ANNA).await;
    book(&server, &other.invite, FIRST_SLOT, "en", BO).await;
    let anna = booking_id(dir.path(), ANNA);
    assert_eq!(relay.wait_for(1, PATIENCE).await.len(), 1);
    outbox_until(dir.path(), "Anna's confirmation failed", |rows| {
        rows.iter()
            .any(|r| r.booking_id == Some(anna) && r.kind == "confirmation" && r.status == "failed")
    })
    .await;
    let failed = row(dir.path(), anna, "confirmation");
    let reply = failed.last_error.clone().unwrap();
    assert!(
        reply.starts_with("550"),
        "the relay's reply is kept: {reply}"
    );
    assert!(!reply.contains(ANNA), "{reply}");

    settle(dir.path()).await;
    // An hour later (past any retry wait) and Bo's reminder later still:
    // the round that sent it did not try Anna's confirmation again.
    clock.set(at("2026-11-23T12:00:30Z"));
    let received = relay.wait_for(2, PATIENCE).await;
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.to == [BO]));
    let failed_now = row(dir.path(), anna, "confirmation");
    assert_eq!(failed_now.status, "failed");
    assert_eq!(failed_now.attempts, 1, "not retried");
    assert_eq!(relay.refused(), [ANNA], "the relay was asked once");

    let queue = mail_queue(dir.path());
    assert_eq!(queue_count(&queue, "failed"), 1, "{queue}");
    let line = queue
        .lines()
        .find(|l| l.starts_with(&format!("failed  #{}", failed.id)))
        .unwrap_or_else(|| panic!("the failed mail is listed:\n{queue}"));
    assert!(
        line.contains("confirmation") && line.contains("550"),
        "{line}"
    );
    assert!(!queue.contains(ANNA) && !queue.contains("anna"), "{queue}");
    server.stop().await;
}

#[tokio::test]
async fn mail_about_a_visit_that_is_over_is_dropped_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let mut relay = SmtpServer::start();
    let port = relay.port();
    relay.stop();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock.clone(), port).await;

    book(&server, &ward.invite, FIRST_SLOT, "en", ANNA).await;
    let anna = booking_id(dir.path(), ANNA);
    outbox_until(dir.path(), "the confirmation tried", |rows| {
        rows.iter()
            .any(|r| r.kind == "confirmation" && r.last_error.is_some())
    })
    .await;

    // The relay stays down until after the visit (14:00–14:30) is over.
    clock.set(at("2026-11-23T13:31:00Z"));
    let relay = SmtpServer::start_on(port);
    outbox_until(dir.path(), "Anna's mail dropped", |rows| {
        rows.iter()
            .filter(|r| r.booking_id == Some(anna))
            .all(|r| r.status == "stale")
    })
    .await;
    // The relay works (a visit booked now is confirmed), and nothing
    // about the visit that is over went out.
    book(&server, &other.invite, TUESDAY_SLOT, "en", BO).await;
    let received = relay.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, [BO]);
    for kind in ["confirmation", "reminder"] {
        assert_eq!(row(dir.path(), anna, kind).status, "stale", "{kind}");
    }
    settle(dir.path()).await;

    let queue = mail_queue(dir.path());
    assert_eq!(queue_count(&queue, "stale"), 2, "{queue}");
    assert_eq!(queue_count(&queue, "sent"), 1, "{queue}");
    assert_eq!(queue_count(&queue, "failed"), 0, "{queue}");
    server.stop().await;
}

#[tokio::test]
async fn the_reminder_comes_an_hour_before_once_in_the_familys_language() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let relay = SmtpServer::start();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock.clone(), relay.port()).await;

    let code = book(&server, &ward.invite, FIRST_SLOT, "nl", ANNA).await;
    let anna = booking_id(dir.path(), ANNA);
    let received = relay.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1);
    let confirmation = read_mail(&received[0].data);
    assert!(
        confirmation
            .subject
            .starts_with("Uw videobezoek met Bed 12"),
        "{}",
        confirmation.subject
    );

    settle(dir.path()).await;
    // 12:59:59 in Amsterdam: a booking now wakes the sender, which sends
    // its confirmation and leaves the reminder alone.
    clock.set(at("2026-11-23T11:59:59Z"));
    book(&server, &other.invite, SECOND_SLOT, "en", BO).await;
    let received = relay.wait_for(2, PATIENCE).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].to, [BO]);
    let reminder = row(dir.path(), anna, "reminder");
    assert_eq!(
        (reminder.status.as_str(), reminder.attempts),
        ("pending", 0)
    );

    // 13:00: the reminder goes.
    settle(dir.path()).await;
    clock.set(at("2026-11-23T12:00:00Z"));
    let received = relay.wait_for(3, PATIENCE).await;
    assert_eq!(received.len(), 3);
    let mail = read_mail(&received[2].data);
    assert_eq!(mail.to, [ANNA]);
    assert_eq!(mail.subject, "Herinnering: videobezoek met Bed 12 om 14:00");
    assert!(
        mail.text
            .contains("Uw videobezoek met Bed 12 begint om 14:00 (Europe/Amsterdam)."),
        "{}",
        mail.text
    );
    assert!(mail.text.contains(&format!("/v/{code}")), "{}", mail.text);
    assert!(
        mail.calendar.is_none(),
        "the invitation came with the confirmation"
    );

    // Bo's reminder (13:40) comes in a later round; Anna's only once.
    settle(dir.path()).await;
    clock.set(at("2026-11-23T12:40:00Z"));
    let received = relay.wait_for(4, PATIENCE).await;
    assert_eq!(received.len(), 4);
    assert_eq!(received[3].to, [BO]);
    let all = mails(&received);
    let to_anna = of_kind(dir.path(), &all, "reminder")
        .into_iter()
        .filter(|m| m.to == [ANNA])
        .count();
    assert_eq!(to_anna, 1, "one reminder");
    server.stop().await;
}

#[tokio::test]
async fn without_a_relay_mail_is_written_as_a_file_named_without_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;

    let code = book(&server, &ward.invite, FIRST_SLOT, "en", ANNA).await;
    let id = booking_id(dir.path(), ANNA);
    let rows = outbox_until(dir.path(), "the confirmation written", |rows| {
        rows.iter()
            .any(|r| r.kind == "confirmation" && r.status == "sent")
    })
    .await;
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(name.ends_with("-confirmation.eml"), "{name}");
    assert!(!name.contains("anna"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only bedside's user reads the mail");
    }
    let mail = read_mail(&std::fs::read(file).unwrap());
    assert_eq!(mail.to, [ANNA]);
    assert!(
        mail.text
            .contains(&format!("http://{}/v/{code}", server.addr)),
        "{}",
        mail.text
    );
    assert_eq!(
        mail.message_id,
        row(dir.path(), id, "confirmation").message_id
    );
    assert!(
        rows.iter()
            .any(|r| r.kind == "reminder" && r.status == "pending")
    );
    // Once written, the outbox keeps no copy of the address.
    let recipient: Option<String> = open_db(dir.path())
        .query_row(
            "SELECT recipient FROM outbox WHERE kind = 'confirmation'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recipient, None);
    server.stop().await;
}

// Known bugs: these fail today and are ignored so the suite stays green;
// `cargo test --test mail -- --ignored` runs them. Remove the `ignore`
// with the fix.

#[tokio::test]
async fn the_html_mails_join_button_says_what_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let relay = SmtpServer::start();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock, relay.port()).await;
    let code = book(&server, &ward.invite, FIRST_SLOT, "en", ANNA).await;
    let received = relay.wait_for(1, PATIENCE).await;
    assert_eq!(received.len(), 1);
    let mail = read_mail(&received[0].data);
    let link = format!("http://{}/v/{code}", server.addr);
    let links = html_links(&mail.html);
    let (_, label) = links
        .iter()
        .find(|(href, _)| *href == link)
        .expect("the HTML part links to the visit");
    // The button is a coloured box; without a label it is a blank square.
    assert!(!label.is_empty(), "the join button has no text: {links:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_visit_cancelled_before_its_confirmation_went_out_is_never_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let mut relay = SmtpServer::start();
    let port = relay.port();
    relay.stop();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = start_with_relay(dir.path(), clock.clone(), port).await;

    let code = book(&server, &ward.invite, FIRST_SLOT, "en", ANNA).await;
    outbox_until(dir.path(), "the confirmation tried", |rows| {
        rows.iter()
            .any(|r| r.kind == "confirmation" && r.last_error.is_some())
    })
    .await;
    cancel(&server, &code).await;
    outbox_until(dir.path(), "the cancellation tried", |rows| {
        rows.iter()
            .any(|r| r.kind == "cancellation" && r.last_error.is_some())
    })
    .await;

    // The relay is back after the retry wait: everything still queued goes.
    let relay = SmtpServer::start_on(port);
    clock.set(at("2026-11-23T08:01:00Z"));
    assert!(!relay.wait_for(1, PATIENCE).await.is_empty());
    settle(dir.path()).await;
    let all = mails(&relay.received());
    let kinds: BTreeMap<String, String> = outbox(dir.path())
        .into_iter()
        .map(|r| (r.message_id, r.kind))
        .collect();
    let kinds: Vec<&str> = all.iter().map(|m| kinds[&m.message_id].as_str()).collect();
    // A "your visit is booked" with a live-looking link, perhaps after the
    // cancellation, and a calendar REQUEST after its CANCEL: the family
    // cannot tell which is true.
    assert_eq!(kinds, ["cancellation"], "{all:#?}");
    server.stop().await;
}
