//! Retention as a hospital would check it: data past its time is gone from
//! every page at once and from the database file after the purge — not a
//! row more, not a row less — the purge catches up after downtime, never
//! runs twice at once, and leaves the daily counts alone.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bedside::clock::FixedClock;
use bedside::config::Config;
use bedside::domain::audit::Actor;
use bedside::domain::{booking, patient};
use bedside::retention::{self, Counts, Cutoffs, PurgeError, Report};
use bedside::store::Store;
use bytes::Bytes;
use common::{TestServer, at, config_for, contacts, open_db, request, seed_ward};
use http::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_bedside");
const DAY: i64 = 86_400;
/// Monday 23 November 2026, 09:00 in Amsterdam: when families book.
const MORNING: &str = "2026-11-23T08:00:00Z";
/// 14:00 Amsterdam that day; the visit ends at 13:30 UTC.
const SLOT: &str = "2026-11-23T13:00:00Z";
/// The same time the next day.
const NEXT_DAY: &str = "2026-11-24T13:00:00Z";
/// The default booking retention, in seconds.
const BOOKING_KEEP: i64 = 14 * DAY;

/// Books `slot` for the patient through the domain, with the real mailer,
/// so the booking has its outbox rows (confirmation and reminder) like
/// one made through the pages. Returns (booking id, visit code, end).
fn book(dir: &Path, patient_id: i64, slot: &str, name: &str, email: &str) -> (i64, String, i64) {
    let booked = common::seed_booking(dir, patient_id, slot, (name, email), MORNING, true);
    (
        booked.id,
        booked.visit.expose().to_string(),
        booked.end.as_second(),
    )
}

fn ts(s: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(s).unwrap()
}

fn count(dir: &Path, sql: &str) -> i64 {
    open_db(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Runs the purge on its own connection to the file, as a second process
/// would (the server, if running, keeps serving meanwhile).
fn purge_file(config: &Config, now: jiff::Timestamp) -> Result<Report, PurgeError> {
    let store = Store::open(&config.db_path()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(retention::purge(
        &store,
        Cutoffs::at(now, config),
        Actor::System,
        true,
        &CancellationToken::new(),
    ));
    store.close();
    result
}

/// `purge_file` from async code.
async fn purge_async(config: &Config, now: jiff::Timestamp) -> Report {
    let config = config.clone();
    tokio::task::spawn_blocking(move || purge_file(&config, now))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_visit_is_kept_until_its_end_plus_retention_then_gone_everywhere_at_once_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let (carla, carla_code, end) = book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Carla Example",
        "carla@example.org",
    );
    // Dora has two visits: this one ends with Carla's, the other a day later.
    let (dora_first, _, _) = book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Dora Example",
        "dora@example.org",
    );
    let (dora_second, dora_code, _) = book(
        dir.path(),
        ward.patient_id,
        NEXT_DAY,
        "Dora Example",
        "dora@example.org",
    );
    let key = {
        let conn = open_db(dir.path());
        bedside::domain::apikey::create(&conn, "his", 0, &ring::rand::SystemRandom::new()).unwrap()
    };
    assert_eq!(
        count(
            dir.path(),
            &format!("SELECT count(*) FROM outbox WHERE booking_id = {carla}")
        ),
        2,
        "confirmation and reminder"
    );

    let clock = Arc::new(FixedClock::new(ts(end + BOOKING_KEEP - 1)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let listing = format!("/api/v1/units/{}/bookings?date=2026-11-23", ward.unit_id);
    let auth = format!("Bearer {key}");
    let api = |path: String, method: Method| {
        let auth = auth.clone();
        let addr = server.addr;
        async move {
            request(
                addr,
                method,
                &path,
                &[("authorization", auth.as_str())],
                Bytes::new(),
            )
            .await
        }
    };

    // One second before: still there, link and listing.
    let (status, _, _) = server.get(&format!("/v/{carla_code}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = api(listing.clone(), Method::GET).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("\"id\":{carla}")), "{body}");

    // One second after: gone from the link, the listing and the API at once,
    // though the purge has not run.
    clock.set(ts(end + BOOKING_KEEP + 1));
    let (status, _, _) = server.get(&format!("/v/{carla_code}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = api(listing.clone(), Method::GET).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains(&format!("\"id\":{carla}")), "{body}");
    let (status, _, _) = api(format!("/api/v1/bookings/{carla}/cancel"), Method::POST).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        count(dir.path(), "SELECT count(*) FROM bookings"),
        3,
        "hidden, not yet deleted"
    );
    // Dora's next-day visit is still inside its retention.
    let (status, _, _) = server.get(&format!("/v/{dora_code}")).await;
    assert_eq!(status, StatusCode::OK);

    // The purge removes the two ended visits with their mail and their
    // contacts (each booking has its own); Dora's other visit keeps its.
    let config = config_for(dir.path(), &[]);
    let report = purge_async(&config, clock_now(&clock)).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!((report.counts.bookings, report.counts.contacts), (2, 2));
    assert_eq!(report.counts.mail, 4);
    let ids: Vec<i64> = open_db(dir.path())
        .prepare("SELECT id FROM bookings")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, [dora_second]);
    for id in [carla, dora_first] {
        assert_eq!(
            count(
                dir.path(),
                &format!("SELECT count(*) FROM outbox WHERE booking_id = {id}")
            ),
            0
        );
    }
    let emails: Vec<String> = contacts(dir.path())
        .into_iter()
        .map(|(_, _, email)| email)
        .collect();
    assert_eq!(emails, ["dora@example.org"]);
    let (status, _, _) = server.get(&format!("/v/{dora_code}")).await;
    assert_eq!(status, StatusCode::OK, "the server kept serving");
    server.stop().await;
}

fn clock_now(clock: &FixedClock) -> jiff::Timestamp {
    use bedside::clock::Clock;
    clock.now()
}

/// SplitMix64: a small, seeded, reproducible generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A time near `boundary`: a quarter exactly on it or a second either
    /// side, the rest within five days either side.
    fn around(&mut self, boundary: i64) -> i64 {
        if self.chance(25) {
            boundary + self.below(3) as i64 - 1
        } else {
            boundary + self.below(10 * DAY as u64) as i64 - 5 * DAY
        }
    }
}

/// An outbox row: (id, booking, finished_at when sent, failed or stale,
/// meeting).
type Mail = (i64, Option<i64>, Option<i64>, Option<i64>);

struct Generated {
    /// (id, discharged_at when discharged)
    patients: Vec<(i64, Option<i64>)>,
    contacts: Vec<i64>,
    /// (id, patient, contact, ends_at)
    bookings: Vec<(i64, i64, Option<i64>, i64)>,
    /// (id, ends_at)
    meetings: Vec<(i64, i64)>,
    outbox: Vec<Mail>,
    /// (rowid, created_at, last_seen_at)
    sessions: Vec<(i64, i64, i64)>,
    /// (rowid, at)
    login_failures: Vec<(i64, i64)>,
    /// (id, at)
    audit: Vec<(i64, i64)>,
}

struct Settings {
    booking_days: i64,
    patient_days: i64,
    mail_days: i64,
    audit_days: i64,
    idle: i64,
    max: i64,
}

/// Random rows of every purged kind, at times around their boundaries,
/// written straight into the database file.
fn generate(
    conn: &rusqlite::Connection,
    rng: &mut Rng,
    now: i64,
    s: &Settings,
    size: usize,
) -> Generated {
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute(
        "INSERT INTO staff (username, display_name, password_hash, role, created_at)
         VALUES ('gen', 'Gen', 'x', 'operator', 0)",
        [],
    )
    .unwrap();
    let staff = tx.last_insert_rowid();
    let unit: i64 = tx
        .query_row("SELECT id FROM units", [], |r| r.get(0))
        .unwrap();
    let mut g = Generated {
        patients: tx
            .prepare("SELECT id FROM patients")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, None)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
        contacts: Vec::new(),
        bookings: Vec::new(),
        meetings: Vec::new(),
        outbox: Vec::new(),
        sessions: Vec::new(),
        login_failures: Vec::new(),
        audit: Vec::new(),
    };
    for i in 0..size / 4 + 2 {
        let discharged = rng
            .chance(60)
            .then(|| rng.around(now - s.patient_days * DAY));
        tx.execute(
            "INSERT INTO patients (unit_id, label, status, invite_hash, created_at, discharged_at)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            rusqlite::params![
                unit,
                format!("Bed g{i}"),
                if discharged.is_some() {
                    "discharged"
                } else {
                    "active"
                },
                format!("invite-{i}").into_bytes(),
                discharged
            ],
        )
        .unwrap();
        g.patients.push((tx.last_insert_rowid(), discharged));
    }
    for i in 0..size / 3 + 2 {
        tx.execute(
            "INSERT INTO contacts (name, email, email_key, language, consent_at, privacy_version, created_at)
             VALUES (?1, ?2, ?2, 'en', 0, 'x', 0)",
            rusqlite::params![format!("Name {i}"), format!("c{i}@example.org")],
        )
        .unwrap();
        g.contacts.push(tx.last_insert_rowid());
    }
    let statuses = [
        "booked",
        "cancelled",
        "done",
        "no-show",
        "patient-unavailable",
    ];
    for i in 0..size {
        // One tablet per booking: any times, no double-booking conflicts.
        tx.execute(
            "INSERT INTO tablets (unit_id, label, created_at) VALUES (?1, ?2, 0)",
            rusqlite::params![unit, format!("Gen tablet {i}")],
        )
        .unwrap();
        let tablet = tx.last_insert_rowid();
        let patient = g.patients[rng.below(g.patients.len() as u64) as usize].0;
        let contact = rng
            .chance(90)
            .then(|| g.contacts[rng.below(g.contacts.len() as u64) as usize]);
        let ends = rng.around(now - s.booking_days * DAY);
        tx.execute(
            "INSERT INTO bookings (patient_id, contact_id, tablet_id, starts_at, ends_at, room,
                 visit_hash, status, created_at, local_day)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, '2026-01-01')",
            rusqlite::params![
                patient,
                contact,
                tablet,
                ends - 1800,
                ends,
                format!("room{i}"),
                format!("visit-{i}").into_bytes(),
                statuses[rng.below(5) as usize]
            ],
        )
        .unwrap();
        g.bookings
            .push((tx.last_insert_rowid(), patient, contact, ends));
    }
    // Instant meetings: kept like bookings, until their end + booking_days.
    for i in 0..size / 4 + 2 {
        let ends = rng.around(now - s.booking_days * DAY);
        tx.execute(
            "INSERT INTO meetings (unit_id, staff_id, room, guest_hash, starts_at, ends_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
            rusqlite::params![
                unit,
                staff,
                format!("meeting-room{i}"),
                format!("guest-{i}").into_bytes(),
                ends - 1800,
                ends
            ],
        )
        .unwrap();
        g.meetings.push((tx.last_insert_rowid(), ends));
    }
    // Ids with gaps now and then wider than the mail step's id range, so
    // it walks ranges holding nothing.
    let mut outbox_id = 0i64;
    for i in 0..size {
        outbox_id += 1;
        if rng.below(8) == 0 {
            outbox_id += rng.below(3 * retention::MAIL_SPAN as u64) as i64;
        }
        // About a third about a booking, a fifth a meeting's guest link.
        let (booking, meeting) = match rng.below(10) {
            0..=3 => (
                Some(g.bookings[rng.below(g.bookings.len() as u64) as usize].0),
                None,
            ),
            4..=5 => (
                None,
                Some(g.meetings[rng.below(g.meetings.len() as u64) as usize].0),
            ),
            _ => (None, None),
        };
        let status = ["pending", "sent", "failed", "stale"][rng.below(4) as usize];
        let finished = (status != "pending").then(|| rng.around(now - s.mail_days * DAY));
        tx.execute(
            "INSERT INTO outbox (id, kind, booking_id, meeting_id, message_id, recipient, status,
                 due_at, stale_at, created_at, finished_at)
             VALUES (?6, 'confirmation', ?1, ?2, ?3, 'x@example.org', ?4, 0, 0, 0, ?5)",
            rusqlite::params![
                booking,
                meeting,
                format!("<m{i}@gen>"),
                status,
                finished,
                outbox_id
            ],
        )
        .unwrap();
        g.outbox
            .push((tx.last_insert_rowid(), booking, finished, meeting));
    }
    for i in 0..size / 2 {
        let created = rng.around(now - s.max);
        let last_seen = rng.around(now - s.idle).max(created);
        tx.execute(
            "INSERT INTO sessions (id_hash, staff_id, csrf, created_at, last_seen_at)
             VALUES (?1, ?2, 'c', ?3, ?4)",
            rusqlite::params![
                format!("session-{i}").into_bytes(),
                staff,
                created,
                last_seen
            ],
        )
        .unwrap();
        g.sessions
            .push((tx.last_insert_rowid(), created, last_seen));
    }
    for _ in 0..size / 2 {
        let at = if rng.chance(50) {
            now - 15 * 60 + rng.below(3) as i64 - 1
        } else {
            now - rng.below(3600) as i64
        };
        tx.execute(
            "INSERT INTO login_failures (staff_id, at) VALUES (?1, ?2)",
            rusqlite::params![staff, at],
        )
        .unwrap();
        g.login_failures.push((tx.last_insert_rowid(), at));
    }
    for _ in 0..size {
        let at = rng.around(now - s.audit_days * DAY);
        tx.execute(
            "INSERT INTO audit (at, actor, action, object, outcome) VALUES (?1, 'cli', 'gen', NULL, 'ok')",
            [at],
        )
        .unwrap();
        g.audit.push((tx.last_insert_rowid(), at));
    }
    tx.commit().unwrap();
    g
}

fn ids(conn: &rusqlite::Connection, sql: &str) -> BTreeSet<i64> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every kind of row at random times around its boundary, a random "now"
/// and random retention settings: what the purge deletes is exactly what
/// the rules, worked out here on their own, say — and the dry run and the
/// report count the same.
#[test]
fn the_purge_deletes_exactly_what_is_past_retention() {
    // Over all rounds, every category had rows deleted and rows kept.
    let (mut deleted, mut kept) = (Counts::default(), Counts::default());
    for seed in 1..=12u64 {
        // One round big enough for several batches per category.
        let size = if seed == 12 {
            1300
        } else {
            60 + (seed as usize * 37) % 140
        };
        let mut rng = Rng(seed);
        let s = Settings {
            booking_days: 1 + rng.below(30) as i64,
            patient_days: 1 + rng.below(30) as i64,
            mail_days: 1 + rng.below(30) as i64,
            audit_days: 30 + rng.below(400) as i64,
            idle: 60 * (5 + rng.below(700) as i64),
            max: 3600 * (1 + rng.below(23) as i64),
        };
        let now = at("2026-11-23T08:00:00Z").as_second() + rng.below(400 * DAY as u64) as i64;
        let dir = tempfile::tempdir().unwrap();
        seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
        let config = config_for(
            dir.path(),
            &[
                (
                    "BEDSIDE_RETENTION_BOOKING_DAYS",
                    &s.booking_days.to_string(),
                ),
                (
                    "BEDSIDE_RETENTION_PATIENT_DAYS",
                    &s.patient_days.to_string(),
                ),
                ("BEDSIDE_RETENTION_MAIL_DAYS", &s.mail_days.to_string()),
                ("BEDSIDE_RETENTION_AUDIT_DAYS", &s.audit_days.to_string()),
                ("BEDSIDE_STAFF_SESSION_IDLE", &format!("{}s", s.idle)),
                ("BEDSIDE_STAFF_SESSION_MAX", &format!("{}s", s.max)),
            ],
        );
        let conn = open_db(dir.path());
        // Seeding audited the ward's set-up at the real time: not ours to judge.
        conn.execute("DELETE FROM audit", []).unwrap();
        let g = generate(&conn, &mut rng, now, &s, size);
        let counts_before: String = conn
            .query_row(
                "SELECT group_concat(unit_id || day || booked || done || no_show || cancelled) FROM daily_counts",
                [],
                |r| r.get(0),
            )
            .unwrap();

        // The rules, as the issue states them.
        let gone_bookings: BTreeSet<i64> = g
            .bookings
            .iter()
            .filter(|b| b.3 + s.booking_days * DAY <= now)
            .map(|b| b.0)
            .collect();
        let kept_bookings: Vec<_> = g
            .bookings
            .iter()
            .filter(|b| !gone_bookings.contains(&b.0))
            .collect();
        let gone_meetings: BTreeSet<i64> = g
            .meetings
            .iter()
            .filter(|m| m.1 + s.booking_days * DAY <= now)
            .map(|m| m.0)
            .collect();
        let gone_mail: BTreeSet<i64> = g
            .outbox
            .iter()
            .filter(|o| {
                o.1.is_some_and(|b| gone_bookings.contains(&b))
                    || o.3.is_some_and(|m| gone_meetings.contains(&m))
                    || o.2.is_some_and(|f| f + s.mail_days * DAY <= now)
            })
            .map(|o| o.0)
            .collect();
        let gone_contacts: BTreeSet<i64> = g
            .contacts
            .iter()
            .filter(|c| !kept_bookings.iter().any(|b| b.2 == Some(**c)))
            .copied()
            .collect();
        let gone_patients: BTreeSet<i64> = g
            .patients
            .iter()
            .filter(|p| {
                p.1.is_some_and(|d| d + s.patient_days * DAY <= now)
                    && !kept_bookings.iter().any(|b| b.1 == p.0)
            })
            .map(|p| p.0)
            .collect();
        let gone_sessions: BTreeSet<i64> = g
            .sessions
            .iter()
            .filter(|x| x.2 + s.idle <= now || x.1 + s.max <= now)
            .map(|x| x.0)
            .collect();
        let gone_failures: BTreeSet<i64> = g
            .login_failures
            .iter()
            .filter(|f| f.1 < now - 15 * 60)
            .map(|f| f.0)
            .collect();
        let gone_audit: BTreeSet<i64> = g
            .audit
            .iter()
            .filter(|a| a.1 + s.audit_days * DAY <= now)
            .map(|a| a.0)
            .collect();
        let expected = Counts {
            bookings: gone_bookings.len() as u64,
            contacts: gone_contacts.len() as u64,
            patients: gone_patients.len() as u64,
            meetings: gone_meetings.len() as u64,
            mail: gone_mail.len() as u64,
            mail_files: 0,
            sessions: gone_sessions.len() as u64,
            login_failures: gone_failures.len() as u64,
            audit: gone_audit.len() as u64,
        };

        let all = [
            g.bookings.len(),
            g.contacts.len(),
            g.patients.len(),
            g.meetings.len(),
            g.outbox.len(),
            0,
            g.sessions.len(),
            g.login_failures.len(),
            g.audit.len(),
        ];
        for (i, (_, n)) in expected.categories().iter().enumerate() {
            *field(&mut deleted, i) += n;
            *field(&mut kept, i) += all[i] as u64 - n;
        }

        let cut = Cutoffs::at(ts(now), &config);
        assert_eq!(
            retention::plan(&conn, &cut).unwrap(),
            expected,
            "seed {seed}: dry run"
        );
        let report = purge_file(&config, ts(now)).unwrap();
        assert!(report.succeeded(), "seed {seed}: {report:?}");
        assert_eq!(report.counts, expected, "seed {seed}: report");

        let left = |all: Vec<i64>, gone: &BTreeSet<i64>| -> BTreeSet<i64> {
            all.into_iter().filter(|id| !gone.contains(id)).collect()
        };
        let check = |table: &str, sql: &str, all: Vec<i64>, gone: &BTreeSet<i64>| {
            assert_eq!(ids(&conn, sql), left(all, gone), "seed {seed}: {table}");
        };
        check(
            "bookings",
            "SELECT id FROM bookings",
            g.bookings.iter().map(|b| b.0).collect(),
            &gone_bookings,
        );
        check(
            "meetings",
            "SELECT id FROM meetings",
            g.meetings.iter().map(|m| m.0).collect(),
            &gone_meetings,
        );
        check(
            "outbox",
            "SELECT id FROM outbox",
            g.outbox.iter().map(|o| o.0).collect(),
            &gone_mail,
        );
        check(
            "contacts",
            "SELECT id FROM contacts",
            g.contacts.clone(),
            &gone_contacts,
        );
        check(
            "patients",
            "SELECT id FROM patients",
            g.patients.iter().map(|p| p.0).collect(),
            &gone_patients,
        );
        check(
            "sessions",
            "SELECT rowid FROM sessions",
            g.sessions.iter().map(|x| x.0).collect(),
            &gone_sessions,
        );
        check(
            "login_failures",
            "SELECT rowid FROM login_failures",
            g.login_failures.iter().map(|f| f.0).collect(),
            &gone_failures,
        );
        check(
            "audit",
            "SELECT id FROM audit WHERE action <> 'purge'",
            g.audit.iter().map(|a| a.0).collect(),
            &gone_audit,
        );
        // One audit entry for the run, with the counts and nothing else.
        let (actor, object, outcome): (String, Option<String>, String) = conn
            .query_row(
                "SELECT actor, object, outcome FROM audit WHERE action = 'purge'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((actor.as_str(), object), ("system", None));
        assert_eq!(outcome, expected.to_string());
        let counts_after: String = conn
            .query_row(
                "SELECT group_concat(unit_id || day || booked || done || no_show || cancelled) FROM daily_counts",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(counts_after, counts_before, "seed {seed}: daily counts");
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        // The purge runs without SQLite's foreign-key checks: it must
        // leave no row pointing at one it deleted.
        let dangling: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(dangling, 0, "seed {seed}: rows refer to deleted ones");
    }
    // Mail files have their own test (the generator writes none).
    for i in (0..9).filter(|i| *i != 5) {
        assert!(*field(&mut deleted, i) > 0, "category {i} never deleted");
        assert!(*field(&mut kept, i) > 0, "category {i} never kept");
    }
}

/// The `i`th category of `c`, in [`Counts::categories`]' order.
fn field(c: &mut Counts, i: usize) -> &mut u64 {
    [
        &mut c.bookings,
        &mut c.contacts,
        &mut c.patients,
        &mut c.meetings,
        &mut c.mail,
        &mut c.mail_files,
        &mut c.sessions,
        &mut c.login_failures,
        &mut c.audit,
    ]
    .into_iter()
    .nth(i)
    .unwrap()
}

/// Whether `needle` occurs in `haystack`, ignoring ASCII case.
fn occurs(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w.eq_ignore_ascii_case(needle))
        .count()
}

/// The raw bytes of the database and its WAL.
fn file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["bedside.db", "bedside.db-wal"]
        .iter()
        .filter_map(|f| Some((f.to_string(), std::fs::read(dir.join(f)).ok()?)))
        .collect()
}

#[tokio::test]
async fn a_purged_family_leaves_no_bytes_behind_in_the_database_files() {
    const NAME: &str = "Zebedee Canary-7f3a";
    const EMAIL: &str = "canary-7f3a@example.org";
    let needles: [&[u8]; 3] = [b"canary-7f3a", b"Zebedee", EMAIL.as_bytes()];
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let (_, code, end) = book(dir.path(), ward.patient_id, SLOT, NAME, EMAIL);
    let clock = Arc::new(FixedClock::new(at(MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    // The family opens their link; the confirmation is sent (its copy in
    // the outbox is cleared then), the reminder waits.
    let (status, _, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    // Name and address are encrypted at rest; the sealed name is the
    // canary the purge must leave no trace of.
    assert_eq!(contacts(dir.path())[0].1, NAME);
    let sealed: Vec<u8> = open_db(dir.path())
        .query_row("SELECT name_enc FROM contacts", [], |r| r.get(0))
        .unwrap();
    let before: usize = file_bytes(dir.path())
        .iter()
        .map(|(_, bytes)| occurs(bytes, &sealed) + occurs(bytes, b"canary-7f3a"))
        .sum();
    assert!(
        before > 0,
        "the sealed canary should be in the database to begin with"
    );

    clock.set(ts(end + BOOKING_KEEP + 60));
    let config = config_for(dir.path(), &[]);
    let report = purge_async(&config, clock_now(&clock)).await;
    assert_eq!((report.counts.bookings, report.counts.contacts), (1, 1));
    assert!(report.checkpointed, "{report:?}");
    server.stop().await;

    let files = file_bytes(dir.path());
    assert!(!files.is_empty());
    for (file, bytes) in &files {
        assert_eq!(
            occurs(bytes, &sealed),
            0,
            "{file} still holds the sealed name"
        );
        for needle in needles {
            assert_eq!(
                occurs(bytes, needle),
                0,
                "{file} still holds {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

/// Waits (bounded) until the database has an audit entry of a purge.
async fn wait_for_purge_entry(dir: &Path) -> (String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let found = open_db(dir)
            .query_row(
                "SELECT actor, outcome FROM audit WHERE action = 'purge' ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .ok();
        if let Some(entry) = found {
            return entry;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no purge within 60 s of the start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn set_last_success(dir: &Path, when: jiff::Timestamp) {
    open_db(dir)
        .execute(
            "INSERT INTO meta (key, value) VALUES ('purge.last_success', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [when.to_string()],
        )
        .unwrap();
}

async fn health(server: &TestServer) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = server.get("/healthz").await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn a_purge_missed_while_down_runs_at_start_and_healthz_says_when_it_is_overdue() {
    const EVERY_15_MIN: (&str, &str) = ("BEDSIDE_RETENTION_PURGE_SCHEDULE", "0 */15 * * * *");
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let (_, code, end) = book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Carla Example",
        "carla@example.org",
    );
    let t0 = ts(end + BOOKING_KEEP + 60);
    // The last purge was four intervals ago; bedside was down since.
    set_last_success(dir.path(), ts(t0.as_second() - 4 * 900));
    let clock = Arc::new(FixedClock::new(t0));
    let server = TestServer::start_at_with(dir.path(), clock.clone(), &[EVERY_15_MIN]).await;
    let (actor, outcome) = wait_for_purge_entry(dir.path()).await;
    assert_eq!(actor, "system");
    assert!(outcome.starts_with("bookings=1 contacts=1 "), "{outcome}");
    let (status, _, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, h) = health(&server).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (h["status"].as_str(), h["purge"].as_str()),
        (Some("ok"), Some("ok"))
    );
    assert_eq!(h["last_purge"], t0.to_string());

    // More than two intervals without a purge (the wall clock's schedule
    // has not caught up with the test's clock): degraded, still 200.
    clock.set(ts(t0.as_second() + 2 * 900 + 1));
    let (status, h) = health(&server).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (h["status"].as_str(), h["purge"].as_str()),
        (Some("degraded"), Some("overdue"))
    );
    server.stop().await;

    // A restart does not reset the schedule: the last purge was five
    // minutes ago, so none runs at start.
    clock.set(ts(t0.as_second() + 5 * 60));
    let server = TestServer::start_at_with(dir.path(), clock.clone(), &[EVERY_15_MIN]).await;
    let (_, h) = health(&server).await;
    assert_eq!(h["status"], "ok");
    server.stop().await;
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM audit WHERE action = 'purge'"
        ),
        1
    );
}

/// A `bedside` command with its data in `dir` and no BEDSIDE_* from outside.
fn bedside(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    common::keep_log(
        cmd.env("BEDSIDE_DATA_DIR", dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    )
}

/// `category count` lines, as `bedside purge` prints them.
fn printed_counts(out: &Output) -> BTreeMap<String, u64> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (name, n) = l.split_once(' ')?;
            Some((name.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

fn rows(dir: &Path) -> [i64; 4] {
    ["bookings", "contacts", "patients", "outbox"]
        .map(|t| count(dir, &format!("SELECT count(*) FROM {t}")))
}

#[test]
fn bedside_purge_dry_run_counts_without_deleting_and_without_it_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Carla Example",
        "carla@example.org",
    );
    {
        let conn = open_db(dir.path());
        patient::discharge(
            &conn,
            ward.patient_id,
            at("2026-11-23T09:00:00Z").as_second(),
            None,
        )
        .unwrap();
    }
    let expected: BTreeMap<String, u64> = [
        ("bookings", 1),
        ("contacts", 1),
        ("patients", 1),
        ("meetings", 0),
        ("mail", 2),
        ("mail_files", 0),
        ("sessions", 0),
        ("login_failures", 0),
        ("audit", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let when = "2026-12-08T00:00:00Z";

    let out = bedside(dir.path(), &["purge", "--dry-run", "--now", when]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(printed_counts(&out), expected, "{out:?}");
    assert_eq!(rows(dir.path()), [1, 1, 1, 2], "a dry run deletes nothing");

    // Before retention ends for anything, a purge finds nothing.
    let out = bedside(
        dir.path(),
        &["purge", "--dry-run", "--now", "2026-11-24T00:00:00Z"],
    );
    assert!(printed_counts(&out).values().all(|n| *n == 0), "{out:?}");

    let out = bedside(dir.path(), &["purge", "--now", when]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(printed_counts(&out), expected, "{out:?}");
    assert_eq!(rows(dir.path()), [0, 0, 0, 0]);
    let (actor, outcome): (String, String) = open_db(dir.path())
        .query_row(
            "SELECT actor, outcome FROM audit WHERE action = 'purge'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(actor, "cli");
    assert_eq!(
        outcome,
        "bookings=1 contacts=1 patients=1 meetings=0 mail=2 mail_files=0 sessions=0 login_failures=0 audit=0"
    );
    // A what-if time is not the scheduled purge.
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM meta WHERE key = 'purge.last_success'"
        ),
        0
    );

    let out = bedside(dir.path(), &["purge", "--now", "yesterday"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("RFC 3339"),
        "{out:?}"
    );
}

#[test]
fn two_purges_at_once_do_not_both_run() {
    let dir = tempfile::tempdir().unwrap();
    seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let config = config_for(dir.path(), &[]);
    let now = at("2026-11-23T08:00:00Z");
    let old = now.as_second() - 400 * DAY;
    // Enough batches that the two purges overlap even on a busy machine.
    const ROWS: u64 = 15_000;
    let fill = || {
        let conn = open_db(dir.path());
        let tx = conn.unchecked_transaction().unwrap();
        for _ in 0..ROWS {
            tx.execute(
                "INSERT INTO audit (at, actor, action, outcome) VALUES (?1, 'cli', 'old', 'ok')",
                [old],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    };

    // Two processes' worth: each thread its own store on the same file.
    // They usually overlap at once; if one happens to finish before the
    // other starts, both run in turn, and the race is tried again.
    let mut saw_busy = false;
    for _ in 0..10 {
        fill();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (config, barrier) = (config.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    purge_file(&config, now)
                })
            })
            .collect();
        let runs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let ran: Vec<&Report> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        let busy: Vec<String> = runs
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| {
                assert!(matches!(e, PurgeError::Busy { .. }), "{e}");
                e.to_string()
            })
            .collect();
        assert!(!ran.is_empty(), "{runs:?}");
        assert_eq!(ran.iter().map(|r| r.counts.audit).sum::<u64>(), ROWS);
        assert!(ran.iter().all(|r| r.succeeded()));
        assert_eq!(
            count(
                dir.path(),
                "SELECT count(*) FROM audit WHERE action = 'old'"
            ),
            0
        );
        if let Some(message) = busy.first() {
            assert!(message.contains("already running"), "{message}");
            saw_busy = true;
            break;
        }
    }
    assert!(saw_busy, "the two purges never overlapped in ten tries");
    // Nothing is left locked or broken: the lease is gone, and the next purge runs.
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM meta WHERE key = 'purge.lease'"
        ),
        0
    );
    assert!(purge_file(&config, now).unwrap().succeeded());
    let integrity: String = open_db(dir.path())
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // The command line says so too, with its own exit code.
    let until = jiff::Timestamp::now().as_second() + 300;
    open_db(dir.path())
        .execute(
            "INSERT INTO meta (key, value) VALUES ('purge.lease', ?1)",
            [format!("{until} 4242-elsewhere")],
        )
        .unwrap();
    let out = bedside(dir.path(), &["purge"]);
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already running"),
        "{out:?}"
    );
}

#[test]
fn daily_counts_outlive_the_bookings_they_count() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Carla Example",
        "carla@example.org",
    );
    let (second, _, _) = book(
        dir.path(),
        ward.patient_id,
        NEXT_DAY,
        "Carla Example",
        "carla@example.org",
    );
    {
        let conn = open_db(dir.path());
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        booking::cancel_by_id(&conn, second, "staff", at(MORNING), None).unwrap();
    }
    let snapshot = || -> Vec<(String, i64, i64, i64, i64)> {
        open_db(dir.path())
            .prepare("SELECT day, booked, done, no_show, cancelled FROM daily_counts ORDER BY day")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = snapshot();
    assert_eq!(
        before,
        [
            ("2026-11-23".to_string(), 1, 0, 0, 0),
            ("2026-11-24".to_string(), 1, 0, 0, 1)
        ]
    );
    let config = config_for(dir.path(), &[]);
    let report = purge_file(&config, at("2027-01-01T00:00:00Z")).unwrap();
    assert_eq!(report.counts.bookings, 2);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM bookings"), 0);
    assert_eq!(snapshot(), before);
}

/// Sets a file's modification time to `at` (seconds), as if written then.
fn set_written(path: &Path, at: i64) {
    let when = std::time::UNIX_EPOCH + Duration::from_secs(at as u64);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

fn eml_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("mail"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".eml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits (bounded) until the mail directory holds a file whose name ends
/// with `suffix`.
async fn wait_for_eml(dir: &Path, suffix: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(name) = eml_files(dir).into_iter().find(|n| n.ends_with(suffix)) {
            return name;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {suffix} file: {:?}",
            eml_files(dir)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn mail_written_as_files_is_purged_mail_days_after_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Carla Example",
        "carla@example.org",
    );
    // No relay configured: the server writes the confirmation as a file.
    let clock = Arc::new(FixedClock::new(at(MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let written = wait_for_eml(dir.path(), "-confirmation.eml").await;
    server.stop().await;
    let older = dir.path().join("mail").join(&written);
    let younger = dir.path().join("mail").join("000999-copy.eml");
    std::fs::copy(&older, &younger).unwrap();
    // Written by the server's clock: one at T, one two seconds later.
    let t = at(MORNING).as_second();
    set_written(&older, t);
    set_written(&younger, t + 2);
    let keep = 7 * DAY;
    let config = config_for(dir.path(), &[]);

    // One second before the older one's time is up: both kept.
    let early = ts(t + keep - 1);
    let conn = open_db(dir.path());
    assert_eq!(
        retention::plan(&conn, &Cutoffs::at(early, &config))
            .unwrap()
            .mail_files,
        0
    );
    let report = purge_async(&config, early).await;
    assert_eq!(report.counts.mail_files, 0);
    assert!(older.exists() && younger.exists());

    // One second after: the older one is gone, the younger one kept; the
    // dry run counted what the purge deleted, and the audit entry says so.
    let late = ts(t + keep + 1);
    assert_eq!(
        retention::plan(&conn, &Cutoffs::at(late, &config))
            .unwrap()
            .mail_files,
        1
    );
    let report = purge_async(&config, late).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.counts.mail_files, 1);
    assert!(!older.exists());
    assert!(younger.exists());
    let outcome: String = conn
        .query_row(
            "SELECT outcome FROM audit WHERE action = 'purge' ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(outcome.contains("mail_files=1"), "{outcome}");
    // Only .eml files are bedside's to delete.
    let other = dir.path().join("mail").join("notes.txt");
    std::fs::write(&other, "kept").unwrap();
    set_written(&other, t);
    purge_async(&config, ts(t + 100 * DAY)).await;
    assert!(other.exists());
    assert!(!younger.exists());
}

/// Starts an instant meeting on the ward at `now` for 30 minutes, with its
/// guest link queued for `email`. Returns (meeting id, end).
fn seed_meeting(dir: &Path, unit_id: i64, now: jiff::Timestamp, email: &str) -> (i64, i64) {
    use bedside::domain::{meeting, unit};
    let staff = common::seed_staff(dir, &format!("m{}", now.as_second()), "operator", &[]);
    let config = config_for(dir, &[]);
    let mailer = bedside::mail::Mailer::new(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let ward = unit::by_id(&conn, unit_id).unwrap();
    let started = meeting::start(
        &conn,
        &ward,
        staff,
        30,
        now,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    mailer
        .guest_invite(
            &conn,
            &started.meeting,
            "http://127.0.0.1/x",
            email,
            bedside::i18n::Lang::En,
            now.as_second(),
        )
        .unwrap();
    (started.meeting.id, started.meeting.ends_at)
}

#[test]
fn an_instant_meeting_and_its_guest_invitation_are_kept_until_its_end_plus_retention() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let (meeting, end) = seed_meeting(dir.path(), ward.unit_id, at(MORNING), "guest@example.org");
    let rows = || {
        (
            count(
                dir.path(),
                &format!("SELECT count(*) FROM meetings WHERE id = {meeting}"),
            ),
            count(
                dir.path(),
                &format!("SELECT count(*) FROM outbox WHERE meeting_id = {meeting}"),
            ),
        )
    };
    assert_eq!(rows(), (1, 1));
    let config = config_for(dir.path(), &[]);

    let report = purge_file(&config, ts(end + BOOKING_KEEP - 1)).unwrap();
    assert_eq!((report.counts.meetings, report.counts.mail), (0, 0));
    assert_eq!(rows(), (1, 1), "one second before: kept");

    let after = ts(end + BOOKING_KEEP + 1);
    let planned = retention::plan(&open_db(dir.path()), &Cutoffs::at(after, &config)).unwrap();
    assert_eq!((planned.meetings, planned.mail), (1, 1));
    let report = purge_file(&config, after).unwrap();
    assert!(report.succeeded(), "{report:?}");
    assert_eq!((report.counts.meetings, report.counts.mail), (1, 1));
    assert_eq!(rows(), (0, 0), "one second after: gone with its invitation");
    // The staff account and the ward are no one's retention.
    assert_eq!(count(dir.path(), "SELECT count(*) FROM units"), 1);
}

#[test]
fn the_vacuum_schedule_is_checked_and_vacuum_shrinks_the_file_but_never_during_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let load = |value: &str| {
        let mut env = bedside::config::Env::new();
        env.insert("BEDSIDE_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("BEDSIDE_RETENTION_VACUUM_SCHEDULE".into(), value.into());
        Config::load(None, &env).map(|c| c.retention.vacuum_schedule)
    };
    assert_eq!(load("").unwrap(), None, "off by default");
    assert_eq!(
        load("0 30 3 * * Sun").unwrap().as_deref(),
        Some("0 30 3 * * Sun")
    );
    for (bad, says) in [
        ("30 3 * * Sun", "six cron fields"),
        ("0 */5 * * * *", "more than once an hour"),
        ("0 61 3 * * *", "not a cron schedule"),
    ] {
        let problems = load(bad).unwrap_err().to_string();
        assert!(
            problems.contains("retention.vacuum_schedule") && problems.contains(says),
            "{bad}: {problems}"
        );
    }

    seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let config = config_for(dir.path(), &[]);
    {
        let conn = open_db(dir.path());
        let tx = conn.unchecked_transaction().unwrap();
        let filler = "x".repeat(2000);
        for _ in 0..3000 {
            tx.execute(
                "INSERT INTO audit (at, actor, action, outcome) VALUES (0, 'cli', 'old', ?1)",
                [&filler],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    purge_file(&config, at(MORNING)).unwrap();
    let size = || std::fs::metadata(config.db_path()).unwrap().len();
    let before = size();
    assert!(before > 4_000_000, "{before}");

    let store = Store::open(&config.db_path()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A purge holds the lease (here: another process's): VACUUM waits.
    let until = jiff::Timestamp::now().as_second() + 300;
    open_db(dir.path())
        .execute(
            "INSERT INTO meta (key, value) VALUES ('purge.lease', ?1)",
            [format!("{until} 4242-elsewhere")],
        )
        .unwrap();
    let refused = runtime.block_on(retention::vacuum(&store)).unwrap_err();
    assert!(matches!(refused, retention::VacuumError::Busy { .. }));
    assert!(refused.to_string().contains("a purge is running"));
    assert_eq!(size(), before);

    open_db(dir.path())
        .execute("DELETE FROM meta WHERE key = 'purge.lease'", [])
        .unwrap();
    runtime.block_on(retention::vacuum(&store)).unwrap();
    store.close();
    let after = size();
    assert!(after < before / 4, "{before} -> {after}");
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM meta WHERE key = 'purge.lease'"
        ),
        0,
        "the lease is released"
    );
    let integrity: String = open_db(dir.path())
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

/// The sealed name and address of the contact of `booking`, as stored.
fn sealed_contact(dir: &Path, booking: i64) -> (Vec<u8>, Vec<u8>) {
    open_db(dir)
        .query_row(
            "SELECT c.name_enc, c.email_enc FROM contacts c JOIN bookings b ON b.contact_id = c.id
             WHERE b.id = ?1",
            [booking],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn staff_delete_a_visits_data_at_once_and_the_family_is_told_of_a_cancelled_visit() {
    const NAME: &str = "Quentin Canary-3d9e";
    const EMAIL: &str = "quentin-3d9e@example.org";
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    common::seed_unit(dir.path(), "Ward 5", "mon-sun 14:00-16:00", 1, "Bed 7");
    common::seed_staff(dir.path(), "nurse", "operator", &["Ward 3"]);
    common::seed_staff(dir.path(), "other", "operator", &["Ward 5"]);
    let (quentin, code, _) = book(dir.path(), ward.patient_id, SLOT, NAME, EMAIL);
    let (dora_first, _, _) = book(
        dir.path(),
        ward.patient_id,
        SLOT,
        "Dora Example",
        "dora@example.org",
    );
    let (dora_second, _, dora_end) = book(
        dir.path(),
        ward.patient_id,
        NEXT_DAY,
        "Dora Example",
        "dora@example.org",
    );
    let (name_enc, email_enc) = sealed_contact(dir.path(), quentin);
    let clock = Arc::new(FixedClock::new(at(MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let nurse = server.login("nurse", common::STAFF_PASSWORD).await.unwrap();
    let other = server.login("other", common::STAFF_PASSWORD).await.unwrap();
    let (_, _, sheet) = server.get_as(&nurse.cookie, "/staff").await;
    assert!(sheet.contains(&format!("action=\"/staff/visits/{quentin}/delete\"")));
    let delete = |session: &common::StaffSession, id: i64, confirm: bool| {
        let form = format!(
            "csrf={}{}",
            session.csrf,
            if confirm { "&confirm=yes" } else { "" }
        );
        let cookie = session.cookie.clone();
        let server = &server;
        async move {
            server
                .post_as(&cookie, &format!("/staff/visits/{id}/delete"), &form)
                .await
        }
    };
    let counts = || {
        count(
            dir.path(),
            "SELECT sum(booked) * 100 + sum(cancelled) FROM daily_counts",
        )
    };
    let bookings = || count(dir.path(), "SELECT count(*) FROM bookings");
    let counts_before = counts();

    // Another ward's operator: not found, nothing changed.
    let (status, _, _) = delete(&other, quentin, true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without ticking "I am sure": refused, nothing changed.
    let (status, _, page) = delete(&nurse, quentin, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("nothing was deleted"), "{page}");
    assert_eq!(bookings(), 3);
    let (status, _, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);

    // Deleted: the link is dead at once, the booking, its mail and the
    // contact are gone.
    let (status, headers, _) = delete(&nurse, quentin, true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/staff");
    let (status, _, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(bookings(), 2);
    assert_eq!(
        count(
            dir.path(),
            &format!("SELECT count(*) FROM outbox WHERE booking_id = {quentin}")
        ),
        0
    );
    assert!(contacts(dir.path()).iter().all(|(_, n, _)| n != NAME));
    // The visit was still to come: it counts as cancelled, and the family
    // is mailed the cancellation — the one row kept, detached.
    assert_eq!(counts(), counts_before + 1);
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM outbox WHERE booking_id IS NULL AND kind = 'cancellation'"
        ),
        1
    );
    let file = wait_for_eml(dir.path(), "-cancellation.eml").await;
    let mail = std::fs::read_to_string(dir.path().join("mail").join(file)).unwrap();
    assert!(mail.contains(EMAIL), "the cancellation goes to the family");
    let (object, outcome): (String, String) = open_db(dir.path())
        .query_row(
            "SELECT object, outcome FROM audit WHERE action = 'visit.delete'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(object, format!("booking:{quentin}"));
    assert!(
        outcome.starts_with("cancelled=1 ") && outcome.ends_with("contacts=1"),
        "{outcome}"
    );
    assert!(!outcome.contains("quentin"));

    // Dora's first visit goes; her contact stays for her second.
    let (status, _, _) = delete(&nurse, dora_first, true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        contacts(dir.path())
            .iter()
            .any(|(_, n, _)| n == "Dora Example")
    );
    // A visit that is over is not cancelled and mails nobody.
    clock.set(ts(dora_end + 3600));
    // (A new shift: the morning's session has expired.)
    let nurse = server.login("nurse", common::STAFF_PASSWORD).await.unwrap();
    let mail_before = count(dir.path(), "SELECT count(*) FROM outbox");
    let (status, _, _) = delete(&nurse, dora_second, true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(bookings(), 0);
    assert!(contacts(dir.path()).is_empty());
    assert!(count(dir.path(), "SELECT count(*) FROM outbox") < mail_before);
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM outbox WHERE booking_id IS NULL AND kind = 'cancellation'"
        ),
        2,
        "Quentin's and Dora's first visit's cancellations, none for the visit that was over"
    );
    server.stop().await;

    // The canary's sealed name and address are in neither database file.
    for (file, bytes) in file_bytes(dir.path()) {
        assert_eq!(occurs(&bytes, &name_enc), 0, "{file} holds the sealed name");
        assert_eq!(
            occurs(&bytes, &email_enc),
            0,
            "{file} holds the sealed address"
        );
        assert_eq!(occurs(&bytes, b"Canary-3d9e"), 0, "{file}");
    }
}

#[tokio::test]
async fn a_meeting_guest_link_is_gone_at_retention_even_before_the_purge() {
    use bedside::domain::{meeting, unit};
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let staff = common::seed_staff(dir.path(), "nurse-m", "operator", &[]);
    let (guest, end) = {
        let conn = open_db(dir.path());
        let u = unit::by_id(&conn, ward.unit_id).unwrap();
        let started = meeting::start(
            &conn,
            &u,
            staff,
            30,
            at(MORNING),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        (started.guest.expose().to_string(), started.meeting.ends_at)
    };
    let clock = Arc::new(FixedClock::new(ts(end + BOOKING_KEEP - 1)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let (status, _, page) = server.get(&format!("/v/{guest}")).await;
    assert_eq!(status, StatusCode::OK, "one second before: the ended page");
    assert!(page.contains("ended"), "{page}");
    clock.set(ts(end + BOOKING_KEEP));
    let (status, _, _) = server.get(&format!("/v/{guest}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "at retention: no such link");
    server.stop().await;
}
