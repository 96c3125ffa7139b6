//! The hospital's mail relay down for a whole day while families keep
//! booking and cancelling and reminders fall due, then back: every mail
//! still worth sending arrives exactly once, nothing about a visit that is
//! already over goes out, and a visit cancelled before its confirmation
//! could go gets the cancellation only (as `tests/mail.rs` expects of one
//! such visit).
//!
//! Through the real server, a real SQLite file and a real SMTP server on
//! loopback; the day passes on the server's injected clock, in two-hour
//! steps, and the sender (polling every second, woken by each new mail)
//! tries whatever is due at each step and is refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bedside::clock::FixedClock;
use common::mailbox::{PATIENCE, book, cancel, outbox, settle, start_with_relay};
use common::smtp::SmtpServer;
use common::{at, open_db, seed_unit, seed_ward};
use jiff::{SignedDuration, Timestamp};

/// Monday 23 November 2026, 09:00 in Amsterdam: the relay has just gone down.
const OUTAGE_START: &str = "2026-11-23T08:00:00Z";
/// The relay is down for this many two-hour steps: a day.
const STEPS: i64 = 12;
/// Visiting hours every afternoon: slots at 13:00, 13:40 and 14:20 UTC.
const HOURS: &str = "mon-sun 14:00-16:00";
const TABLETS: usize = 4;
const SLOT_TIMES: [&str; 3] = ["13:00", "13:40", "14:20"];

fn slot(day: &str, index: usize) -> String {
    format!("{day}T{}:00Z", SLOT_TIMES[index % SLOT_TIMES.len()])
}

/// One visit booked during the outage.
#[derive(Debug, Clone)]
struct Visit {
    email: String,
    code: String,
    day: &'static str,
    cancelled: bool,
}

/// Waits (boundedly) until the sender has tried every mail due at `now`:
/// none is pending with a due time not after `now`, none is in its hands.
async fn caught_up(dir: &Path, now: Timestamp) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let behind: i64 = open_db(dir)
            .query_row(
                "SELECT count(*) FROM outbox WHERE status = 'pending' \
                 AND (due_at <= ?1 OR lease_until IS NOT NULL)",
                [now.as_second()],
                |r| r.get(0),
            )
            .unwrap();
        if behind == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sender left {behind} due mail untried at {now}: {:#?}",
            outbox(dir)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The booking behind a visit code's e-mail address, by the outbox's view:
/// (kind, booking id) of every mail, by Message-ID.
fn kinds_by_message_id(dir: &Path) -> BTreeMap<String, (String, i64)> {
    outbox(dir)
        .into_iter()
        .map(|r| (r.message_id, (r.kind, r.booking_id.unwrap())))
        .collect()
}

#[tokio::test]
async fn after_a_day_without_a_relay_every_mail_still_due_arrives_once_and_none_about_visits_over()
{
    let dir = tempfile::tempdir().unwrap();
    // Enough patients for every booking to have its own (two visits a day
    // each at most).
    let first = seed_ward(dir.path(), HOURS, TABLETS);
    let mut invites = vec![first.invite];
    for i in 1..40 {
        invites.push(seed_unit(dir.path(), "Ward 3", "", 0, &format!("Bed {}", 12 + i)).invite);
    }
    let mut invites = invites.into_iter();
    let mut relay = SmtpServer::start();
    let port = relay.port();
    relay.stop();
    let clock = Arc::new(FixedClock::new(at(OUTAGE_START)));
    let server = start_with_relay(dir.path(), clock.clone(), port).await;

    // The day: every two hours families book visits for Tuesday and
    // Wednesday (and Monday, while its slots are ahead), and cancel some.
    let mut visits: Vec<Visit> = Vec::new();
    for step in 0..STEPS {
        let now = at(OUTAGE_START) + SignedDuration::from_hours(2 * step);
        clock.set(now);
        let mut wanted = vec![("2026-11-24", step as usize), ("2026-11-25", step as usize)];
        if step < 3 {
            wanted.push(("2026-11-23", step as usize));
        }
        for (day, index) in wanted {
            let email = format!("outage-{step}-{day}@example.org");
            let code = book(
                &server,
                &invites.next().unwrap(),
                &slot(day, index),
                "en",
                &email,
            )
            .await;
            visits.push(Visit {
                email,
                code,
                day,
                cancelled: false,
            });
        }
        // Cancel Monday's first visit (while it is still ahead), and every
        // other Tuesday visit an hour or two after it was booked.
        let to_cancel: Vec<usize> = visits
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.cancelled)
            .filter(|(_, v)| {
                (step == 1 && v.email == "outage-0-2026-11-23@example.org")
                    || (step % 2 == 1
                        && v.email == format!("outage-{}-2026-11-24@example.org", step - 1))
            })
            .map(|(i, _)| i)
            .collect();
        for i in to_cancel {
            cancel(&server, &visits[i].code).await;
            visits[i].cancelled = true;
        }
        caught_up(dir.path(), now).await;
    }
    assert!(relay.received().is_empty());

    // Everything was tried while the relay was down, and refused.
    let rows = outbox(dir.path());
    let tried: Vec<_> = rows.iter().filter(|r| r.attempts > 0).collect();
    assert!(!tried.is_empty());
    for r in &tried {
        let error = r.last_error.as_deref().unwrap_or_default();
        assert!(
            error.to_ascii_lowercase().contains("refused") || r.status == "stale",
            "{r:?}"
        );
    }
    // Monday's visits are over: all their mail went stale, unsent.
    let booking_of: BTreeMap<String, i64> = visits
        .iter()
        .map(|v| {
            (
                v.email.clone(),
                common::mailbox::booking_id(dir.path(), &v.email),
            )
        })
        .collect();
    let monday: BTreeSet<i64> = visits
        .iter()
        .filter(|v| v.day == "2026-11-23")
        .map(|v| booking_of[&v.email])
        .collect();
    for r in rows
        .iter()
        .filter(|r| monday.contains(&r.booking_id.unwrap()))
    {
        assert_eq!(r.status, "stale", "{r:?}");
    }

    // Tuesday 09:00 in Amsterdam: the relay is back, and the longest retry
    // wait has passed.
    let relay = SmtpServer::start_on(port);
    clock.set(at("2026-11-24T08:00:00Z") + SignedDuration::from_hours(1));
    let expected_now: usize = visits.iter().filter(|v| v.day != "2026-11-23").count();
    let received = relay.wait_for(expected_now, PATIENCE).await;
    assert_eq!(
        received.len(),
        expected_now,
        "a confirmation or a cancellation each"
    );
    settle(dir.path()).await;

    // The reminders, an hour before each visit (the last at 13:20 UTC;
    // the first visit ends at 13:30).
    for day in ["2026-11-24", "2026-11-25"] {
        let now = at(&format!("{day}T13:25:00Z"));
        clock.set(now);
        let reminders = visits
            .iter()
            .filter(|v| v.day <= day && v.day != "2026-11-23" && !v.cancelled)
            .count();
        relay.wait_for(expected_now + reminders, PATIENCE).await;
        settle(dir.path()).await;
        caught_up(dir.path(), now).await;
    }

    // What the families got: per message, once; per visit, what is due.
    let received = relay.received();
    let kinds = kinds_by_message_id(dir.path());
    let mut got: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for r in &received {
        let mail = common::mailbox::read_mail(&r.data);
        assert!(
            ids.insert(mail.message_id.clone()),
            "{} arrived twice",
            mail.message_id
        );
        let (kind, booking) = kinds
            .get(&mail.message_id)
            .unwrap_or_else(|| panic!("{} is no outbox mail", mail.message_id))
            .clone();
        *got.entry((kind, booking)).or_default() += 1;
    }
    let mut expected: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for v in visits.iter().filter(|v| v.day != "2026-11-23") {
        let id = booking_of[&v.email];
        if v.cancelled {
            expected.insert(("cancellation".into(), id), 1);
        } else {
            expected.insert(("confirmation".into(), id), 1);
            expected.insert(("reminder".into(), id), 1);
        }
    }
    assert_eq!(got, expected);
    // Each went to the family that booked.
    for r in &received {
        let mail = common::mailbox::read_mail(&r.data);
        let (_, booking) = &kinds[&mail.message_id];
        let email = booking_of
            .iter()
            .find(|(_, id)| *id == booking)
            .map(|(e, _)| e.clone())
            .unwrap();
        assert_eq!(r.to, [email]);
    }
    // Nothing is left waiting.
    let left: Vec<_> = outbox(dir.path())
        .into_iter()
        .filter(|r| r.status == "pending")
        .collect();
    assert!(left.is_empty(), "{left:#?}");
    server.stop().await;
}
