//! Retention: how long each kind of record is kept, and the purge that
//! deletes what is past it.
//!
//! Every rule is keyed on a time the server itself set — a visit's end,
//! a discharge, a mail's finish, an audit entry's time, a session's last
//! use — never on a time a client sent, so no request can make data live
//! longer or die sooner. A row whose time plus its retention is at or before
//! "now" is past retention ([`Cutoffs`]).
//!
//! Bookings past retention are hidden from every page and API at once
//! ([`Horizon`]), before the purge has physically removed them: the purge
//! runs on a schedule, and may be late or may have failed.
//!
//! The purge itself ([`purge`]):
//! - holds a lease row in `meta`, taken in a `BEGIN IMMEDIATE` transaction
//!   and renewed with every batch, so two processes on one database (the
//!   server and `bedside purge`, or two servers by mistake) never purge at
//!   once, and a crashed one blocks the next for [`LEASE_SECS`] at most;
//! - deletes in batches, one short write transaction each, yielding
//!   between them, so visits keep being booked and opened: bookings (with
//!   their mail and contacts) in batches sized to take about [`BATCH_TIME`]
//!   ([`Pace`]) and cut short at [`BATCH_DEADLINE`], each deleted by a few
//!   set-wise statements per [`CHUNK`] visits; the other categories
//!   [`BATCH`] rows at a time;
//! - checkpoints the WAL on a separate connection every
//!   [`CHECKPOINT_ROWS`] bookings, while the writer serves others, so no
//!   purge commit (and no booking queued behind one) copies the WAL into
//!   the database itself ([`Store::bulk_deletes`]);
//! - runs its batches, and the checkpoints they cause, at the lowest CPU
//!   priority (`SCHED_IDLE`), so requests that arrive meanwhile get a core
//!   at once ([`Store::bulk_deletes`]);
//! - runs each category on its own: one that fails is logged and named in
//!   the audit entry, and the others still run;
//! - records `purge.last_run` and `purge.last_success` in `meta`, so a
//!   restarted server knows a purge is overdue and catches up at once
//!   instead of waiting a full interval (the way Synapse's purge never ran
//!   on servers restarted more often than its interval);
//! - truncates the WAL afterwards: with `secure_delete` the database file
//!   keeps no deleted content, and the `-wal` file keeps none either.
//!
//! Per-ward daily counts hold no persons and are never purged; deleting a
//! booking does not change them (their triggers fire on insert and update).
//!
//! Instant meetings follow the bookings' rule (meeting end +
//! `booking_days`), and their queued guest invitations go with them. Mail
//! written as `.eml` files (no relay configured) is deleted `mail_days`
//! after it was written, by the file's modification time — which the
//! server's own clock set when it wrote the file.
//!
//! An optional `VACUUM` ([`vacuum`]) runs on its own schedule, never during
//! a purge: it takes the same lease.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use ring::rand::SecureRandom;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::State;
use crate::config::{Config, RetentionConfig};
use crate::domain::audit::{self, Actor};
use crate::store::{Store, StoreError};

/// Rows deleted per write transaction. Small enough that a batch holds the
/// write lock for milliseconds, so bookings and visit links are served
/// between batches; and well under SQLite's 999 bind variables should a
/// batch ever be bound as one list.
pub const BATCH: i64 = 500;

/// How long one batch of bookings should hold the writer, commit included.
/// A booking or a visit link that arrives meanwhile waits for it (the
/// issue's bound is 50 ms for a write transaction), so this leaves room for
/// a slow fsync; the batch size follows from it ([`Pace`]). Batches run at
/// the lowest CPU priority (see [`Store::bulk_deletes`]), so one may take
/// longer than planned while requests run first: 15 ms leaves room for
/// that (20 ms let one hold the writer 46 ms in the bench).
pub const BATCH_TIME: std::time::Duration = std::time::Duration::from_millis(15);

/// A bookings batch stops deleting once it has run this long, and commits
/// what it has (it looks at the clock every [`CHUNK`] visits). At the
/// lowest CPU priority a batch gets a core only when nothing else wants
/// it, so on a busy machine one planned at [`BATCH_TIME`] could hold the
/// writer several times as long (56 ms once in the bench); this bounds it
/// to about this plus one chunk, however busy the machine.
pub const BATCH_DEADLINE: std::time::Duration = std::time::Duration::from_millis(20);

/// A batch that took longer than this (queueing included) got too little
/// CPU time at the lowest priority — the machine's cores are busy — and
/// the batches of the next [`NORMAL_FOR`] (twice as long each time it
/// happens again, up to [`NORMAL_FOR_MAX`]) run at normal priority: on a
/// machine that is never idle, a purge at the lowest priority alone would
/// crawl (with two busy loops on two cores, 1 million visits were not
/// purged in 10 minutes; one batch held the writer 2.5 s) and keep
/// personal data past its retention. In the bench's mixed load no batch
/// takes this long, and all run at the lowest priority.
const STARVED: std::time::Duration = std::time::Duration::from_millis(50);

/// See [`STARVED`].
const NORMAL_FOR: std::time::Duration = std::time::Duration::from_secs(1);
const NORMAL_FOR_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// Visits a bookings batch deletes between two looks at the clock: a few
/// milliseconds of work, and few enough statements that their own cost
/// stays small (see [`bookings_batch`]).
const CHUNK: usize = 250;

/// Bookings deleted between two checkpoints of the purge
/// ([`crate::store::Checkpointer::catch_up`]). Since schema 8 a visit's rows
/// and index entries sit on pages shared with the visits purged beside it
/// (before, its random-keyed index entries had a page each: 8 KiB of WAL a
/// visit, and this was 2 500), so the checkpoint thread keeps up with the
/// purge on its own most of the time; this bounds the WAL all the same (64
/// MiB in the 1-million-visit bench): the final `TRUNCATE` checkpoint holds
/// the writer while the file system frees it, which took 3 s for 270 MB.
pub const CHECKPOINT_ROWS: u64 = 20_000;

/// Bounds of a bookings batch. A visit is a dozen rows and index entries,
/// so even the largest batch is a few MB of WAL.
const BATCH_MIN: i64 = 50;
const BATCH_MAX: i64 = 5000;

/// Outbox ids the mail step reads per batch, from the first one left: it
/// finds sent, failed and dropped mail by id range, not by index (see
/// migration 9).
pub const MAIL_SPAN: i64 = 5000;

/// How long a purge lease lasts unless renewed. Every batch renews it, and
/// a batch takes milliseconds, so only a crashed or frozen purge lets it
/// run out; then the next purge may start after this long.
pub const LEASE_SECS: i64 = 5 * 60;

/// The directory, next to the database, that mail goes to as `.eml` files
/// when no relay is configured (see [`crate::mail::transport`]).
pub const MAIL_DIR: &str = "mail";

/// `meta` keys.
const LAST_RUN: &str = "purge.last_run";
const LAST_SUCCESS: &str = "purge.last_success";
const LEASE: &str = "purge.lease";

/// The oldest visit end still inside booking retention: the pages' and
/// API's view of which bookings exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// Bookings that ended at or before this (seconds) are gone.
    ended_by: i64,
}

impl Horizon {
    /// What is shown at `now` under `retention`.
    pub fn at(now: Timestamp, retention: &RetentionConfig) -> Horizon {
        Horizon {
            ended_by: now.as_second() - RetentionConfig::secs(retention.booking_days),
        }
    }

    /// Whether a booking that ends at `ends_at` is still kept (and shown).
    pub fn keeps(self, ends_at: i64) -> bool {
        ends_at > self.ended_by
    }
}

/// What is past retention at one moment: each row whose server-set time is
/// at or before its cutoff (seconds since the epoch) is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// The moment itself.
    pub now: i64,
    /// `bookings.ends_at` (with the booking's outbox rows, and its contact
    /// once no kept booking uses it); `meetings.ends_at` too (with their
    /// guest invitations).
    pub bookings: i64,
    /// `patients.discharged_at`, for patients no kept booking refers to.
    pub patients: i64,
    /// `outbox.finished_at` of sent, failed and stale mail; the modification
    /// time of `.eml` files.
    pub mail: i64,
    /// `sessions.last_seen_at`: idle too long.
    pub session_idle: i64,
    /// `sessions.created_at`: older than one shift.
    pub session_max: i64,
    /// `login_failures.at`: no longer counted towards a lockout.
    pub login_failures: i64,
    /// `audit.at`.
    pub audit: i64,
}

impl Cutoffs {
    /// The cutoffs at `now` under `config`.
    pub fn at(now: Timestamp, config: &Config) -> Cutoffs {
        let now = now.as_second();
        let r = &config.retention;
        let days = |d| now - RetentionConfig::secs(d);
        Cutoffs {
            now,
            bookings: days(r.booking_days),
            patients: days(r.patient_days),
            mail: days(r.mail_days),
            session_idle: now - config.staff.session_idle.as_secs() as i64,
            session_max: now - config.staff.session_max.as_secs() as i64,
            // A lockout counts failures at or after now − window; older
            // ones are past use ("older than 15 minutes").
            login_failures: now - crate::domain::staff::LOCK_WINDOW_SECS - 1,
            audit: days(r.audit_days),
        }
    }
}

/// Rows deleted (or, in a dry run, to be deleted), per category.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub bookings: u64,
    pub contacts: u64,
    pub patients: u64,
    /// Instant meetings.
    pub meetings: u64,
    /// Outbox rows: those of deleted bookings and meetings, and finished
    /// ones past retention.
    pub mail: u64,
    /// `.eml` files in the mail directory.
    pub mail_files: u64,
    pub sessions: u64,
    pub login_failures: u64,
    pub audit: u64,
}

impl Counts {
    /// (category, count), in the order the purge goes through them.
    pub fn categories(&self) -> [(&'static str, u64); 9] {
        [
            ("bookings", self.bookings),
            ("contacts", self.contacts),
            ("patients", self.patients),
            ("meetings", self.meetings),
            ("mail", self.mail),
            ("mail_files", self.mail_files),
            ("sessions", self.sessions),
            ("login_failures", self.login_failures),
            ("audit", self.audit),
        ]
    }

    fn add(&mut self, other: Counts) {
        self.bookings += other.bookings;
        self.contacts += other.contacts;
        self.patients += other.patients;
        self.meetings += other.meetings;
        self.mail += other.mail;
        self.mail_files += other.mail_files;
        self.sessions += other.sessions;
        self.login_failures += other.login_failures;
        self.audit += other.audit;
    }
}

impl std::fmt::Display for Counts {
    /// `bookings=3 contacts=2 …`: counts only, never a value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .categories()
            .iter()
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// What a purge at `cut` would delete, without deleting anything
/// (`bedside purge --dry-run`). Counts exactly what [`purge`] deletes,
/// `.eml` files in the mail directory beside `conn`'s database included.
pub fn plan(conn: &Connection, cut: &Cutoffs) -> rusqlite::Result<Counts> {
    let mail_files = match conn.path().filter(|p| !p.is_empty()) {
        Some(db) => mail_files_past(&mail_dir(Path::new(db)), cut.mail)
            .map(|files| files.len() as u64)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the mail directory; its files are not counted");
                0
            }),
        None => 0,
    };
    let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<u64> {
        conn.query_row(sql, p, |r| r.get(0))
    };
    Ok(Counts {
        bookings: count(
            "SELECT count(*) FROM bookings WHERE starts_at < ?1 AND ends_at <= ?1",
            &[&cut.bookings],
        )?,
        contacts: count(
            "SELECT count(*) FROM contacts c WHERE NOT EXISTS
                 (SELECT 1 FROM bookings b WHERE b.contact_id = c.id AND b.ends_at > ?1)",
            &[&cut.bookings],
        )?,
        patients: count(
            "SELECT count(*) FROM patients p
             WHERE p.status = 'discharged' AND p.discharged_at <= ?1 AND NOT EXISTS
                 (SELECT 1 FROM bookings b WHERE b.patient_id = p.id AND b.ends_at > ?2)",
            &[&cut.patients, &cut.bookings],
        )?,
        meetings: count(
            "SELECT count(*) FROM meetings WHERE ends_at <= ?1",
            &[&cut.bookings],
        )?,
        mail: count(
            "SELECT count(*) FROM outbox o
             WHERE o.booking_id IN (SELECT id FROM bookings WHERE starts_at < ?1 AND ends_at <= ?1)
                OR o.meeting_id IN (SELECT id FROM meetings WHERE ends_at <= ?1)
                OR (o.status IN ('sent', 'failed', 'stale') AND o.finished_at <= ?2)",
            &[&cut.bookings, &cut.mail],
        )?,
        mail_files,
        sessions: count(
            "SELECT count(*) FROM sessions WHERE last_seen_at <= ?1 OR created_at <= ?2",
            &[&cut.session_idle, &cut.session_max],
        )?,
        login_failures: count(
            "SELECT count(*) FROM login_failures WHERE at <= ?1",
            &[&cut.login_failures],
        )?,
        audit: count("SELECT count(*) FROM audit WHERE at <= ?1", &[&cut.audit])?,
    })
}

/// The purge's steps, in order: bookings first, since contacts and
/// patients go only once no kept booking needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Bookings,
    Contacts,
    Patients,
    Meetings,
    Mail,
    Sessions,
    LoginFailures,
    Audit,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::Bookings,
        Step::Contacts,
        Step::Patients,
        Step::Meetings,
        Step::Mail,
        Step::Sessions,
        Step::LoginFailures,
        Step::Audit,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Bookings => "bookings",
            Step::Contacts => "contacts",
            Step::Patients => "patients",
            Step::Meetings => "meetings",
            Step::Mail => "mail",
            Step::Sessions => "sessions",
            Step::LoginFailures => "login_failures",
            Step::Audit => "audit",
        }
    }

    /// Deletes one batch (of up to `rows` bookings — fewer when `until`
    /// passes first, see [`BATCH_DEADLINE`] — [`MAIL_SPAN`] outbox ids
    /// after `after`, or [`BATCH`] rows of the other steps); returns
    /// what went and, when more may be left, the `after` of the next batch.
    ///
    /// Each batch deletes a row's dependents itself — a booking's or a
    /// meeting's mail before it, a contact or a patient only when no
    /// booking refers to it — so it leaves every foreign key whole without
    /// SQLite's checks: a transaction of purge batches alone runs without
    /// them ([`Store::write_expired`]).
    fn batch(
        self,
        conn: &Connection,
        cut: &Cutoffs,
        rows: i64,
        after: i64,
        until: std::time::Instant,
    ) -> rusqlite::Result<(Counts, Option<i64>)> {
        let mut counts = Counts::default();
        let deleted = match self {
            Step::Bookings => {
                let (deleted, mail, contacts, more) =
                    bookings_batch(conn, cut.bookings, rows, until)?;
                counts.bookings = deleted;
                counts.mail = mail;
                counts.contacts = contacts;
                return Ok((counts, more.then_some(0)));
            }
            Step::Contacts => {
                counts.contacts = delete(
                    conn,
                    "DELETE FROM contacts WHERE id IN (SELECT c.id FROM contacts c WHERE NOT EXISTS
                         (SELECT 1 FROM bookings b WHERE b.contact_id = c.id) LIMIT ?1)",
                    &[&BATCH],
                )?;
                counts.contacts
            }
            Step::Patients => {
                counts.patients = delete(
                    conn,
                    "DELETE FROM patients WHERE id IN (SELECT p.id FROM patients p
                         WHERE p.status = 'discharged' AND p.discharged_at <= ?1 AND NOT EXISTS
                             (SELECT 1 FROM bookings b WHERE b.patient_id = p.id)
                         LIMIT ?2)",
                    &[&cut.patients, &BATCH],
                )?;
                counts.patients
            }
            Step::Meetings => {
                // Their outbox rows (guest invitations) first.
                counts.mail = delete(
                    conn,
                    "DELETE FROM outbox WHERE meeting_id IN (SELECT id FROM meetings
                         WHERE ends_at <= ?1 ORDER BY ends_at, id LIMIT ?2)",
                    &[&cut.bookings, &BATCH],
                )?;
                counts.meetings = delete(
                    conn,
                    "DELETE FROM meetings WHERE id IN (SELECT id FROM meetings
                         WHERE ends_at <= ?1 ORDER BY ends_at, id LIMIT ?2)",
                    &[&cut.bookings, &BATCH],
                )?;
                counts.meetings
            }
            Step::Mail => {
                // By id range: only mail still to send is indexed, and a
                // range of ids reads at most MAIL_SPAN rows, whatever the
                // outbox holds. Each range starts at the first id left
                // after the last one, so ids long gone cost nothing.
                let first_after = |id: i64| -> rusqlite::Result<Option<i64>> {
                    conn.query_row("SELECT min(id) FROM outbox WHERE id > ?1", [id], |r| {
                        r.get(0)
                    })
                };
                let Some(first) = first_after(after)? else {
                    return Ok((counts, None));
                };
                let last = first.saturating_add(MAIL_SPAN - 1);
                counts.mail = delete(
                    conn,
                    "DELETE FROM outbox WHERE id >= ?1 AND id <= ?2
                         AND status IN ('sent', 'failed', 'stale') AND finished_at <= ?3",
                    &[&first, &last, &cut.mail],
                )?;
                let more = first_after(last)?.is_some();
                return Ok((counts, more.then_some(last)));
            }
            Step::Sessions => {
                counts.sessions = delete(
                    conn,
                    "DELETE FROM sessions WHERE rowid IN (SELECT rowid FROM sessions
                         WHERE last_seen_at <= ?1 OR created_at <= ?2 LIMIT ?3)",
                    &[&cut.session_idle, &cut.session_max, &BATCH],
                )?;
                counts.sessions
            }
            Step::LoginFailures => {
                counts.login_failures = delete(
                    conn,
                    "DELETE FROM login_failures WHERE rowid IN
                         (SELECT rowid FROM login_failures WHERE at <= ?1 LIMIT ?2)",
                    &[&cut.login_failures, &BATCH],
                )?;
                counts.login_failures
            }
            Step::Audit => {
                counts.audit = delete(
                    conn,
                    "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at <= ?1 LIMIT ?2)",
                    &[&cut.audit, &BATCH],
                )?;
                counts.audit
            }
        };
        Ok((counts, (deleted as i64 >= BATCH).then_some(0)))
    }
}

fn delete(conn: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> rusqlite::Result<u64> {
    Ok(conn.execute(sql, p)? as u64)
}

/// Deletes up to `rows` bookings that ended at or before `cutoff`, oldest
/// first, with their outbox rows, and their contacts when no other booking
/// uses them; stops early, between chunks of [`CHUNK`] visits, once
/// `until` has passed. Returns (bookings, outbox rows, contacts, whether
/// more may be left).
///
/// Set-wise, one query and three statements per chunk: inside a write
/// transaction SQLite keeps a statement journal of every page a statement
/// changes, and one statement per row rewrote it hundreds of times a batch.
/// Found through `bookings_visit` by start: a visit ends after it starts.
fn bookings_batch(
    conn: &Connection,
    cutoff: i64,
    rows: i64,
    until: std::time::Instant,
) -> rusqlite::Result<(u64, u64, u64, bool)> {
    let batch: Vec<(i64, Option<i64>)> = conn
        .prepare_cached(BOOKINGS_PAST)?
        .query_map(params![cutoff, rows], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (mut deleted, mut mail, mut contacts) = (0, 0, 0);
    for chunk in batch.chunks(CHUNK) {
        if deleted > 0 && std::time::Instant::now() >= until {
            return Ok((deleted, mail, contacts, true));
        }
        let bookings = id_list(chunk.iter().map(|(id, _)| *id));
        let mut contact_ids: Vec<i64> = chunk.iter().filter_map(|(_, c)| *c).collect();
        contact_ids.sort_unstable();
        contact_ids.dedup();
        // The outbox rows first, so no `ON DELETE CASCADE` has anything
        // left to do (or, with foreign keys off, to leave behind).
        mail += conn
            .prepare_cached(
                "DELETE FROM outbox WHERE booking_id IN (SELECT value FROM json_each(?1))",
            )?
            .execute([&bookings])? as u64;
        deleted += conn
            .prepare_cached("DELETE FROM bookings WHERE id IN (SELECT value FROM json_each(?1))")?
            .execute([&bookings])? as u64;
        // A contact whose other booking is in a later chunk (or batch)
        // goes with that one.
        contacts += conn
            .prepare_cached(
                "DELETE FROM contacts WHERE id IN (SELECT value FROM json_each(?1))
                 AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.contact_id = contacts.id)",
            )?
            .execute([id_list(contact_ids.into_iter())])? as u64;
    }
    Ok((deleted, mail, contacts, batch.len() as i64 >= rows))
}

const BOOKINGS_PAST: &str = "SELECT id, contact_id FROM bookings
     WHERE starts_at < ?1 AND ends_at <= ?1 ORDER BY starts_at LIMIT ?2";

/// Ids as a JSON array (`[1,2,3]`), bound as one parameter and read back
/// with `json_each`: a batch may be more ids than SQLite takes parameters.
fn id_list(ids: impl Iterator<Item = i64>) -> String {
    let mut list = String::from("[");
    for (i, id) in ids.enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push_str(&id.to_string());
    }
    list.push(']');
    list
}

/// The size of the next bookings batch, from how long the last ones took:
/// the time a visit takes depends on the disk, on how much else the
/// machine does, and on how much of the database is in memory, so a fixed
/// row count is either slow or holds the writer too long somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pace {
    rows: i64,
}

impl Pace {
    fn new() -> Pace {
        Pace { rows: BATCH }
    }

    /// After a batch of `rows` bookings that held the writer for `took`:
    /// aims the next at [`BATCH_TIME`], growing at most twofold at a time
    /// and within [`BATCH_MIN`]..=[`BATCH_MAX`].
    fn after(&mut self, rows: u64, took: std::time::Duration) {
        if rows == 0 {
            return;
        }
        let per_row = took.as_secs_f64() / rows as f64;
        let want = if per_row > 0.0 {
            (BATCH_TIME.as_secs_f64() / per_row).round() as i64
        } else {
            BATCH_MAX
        };
        self.rows = want.min(self.rows * 2).clamp(BATCH_MIN, BATCH_MAX);
    }
}

/// Whether the next purge batch runs at the lowest CPU priority (see
/// [`STARVED`]).
#[derive(Debug, Clone, Copy)]
struct Priority {
    /// Batches run at normal priority until this instant.
    normal_until: std::time::Instant,
    /// How long the next spell at normal priority lasts.
    normal_for: std::time::Duration,
}

impl Priority {
    fn new(now: std::time::Instant) -> Priority {
        Priority {
            normal_until: now,
            normal_for: NORMAL_FOR,
        }
    }

    fn lowest(&self, now: std::time::Instant) -> bool {
        now >= self.normal_until
    }

    /// After a batch started at `started` that took `took`.
    fn after(&mut self, started: std::time::Instant, took: std::time::Duration) {
        if took > STARVED {
            self.normal_until = started + took + self.normal_for;
            // Starved again right after a spell at normal priority: a
            // longer one next time (each such batch holds up bookings).
            self.normal_for = (self.normal_for * 2).min(NORMAL_FOR_MAX);
        } else if self.lowest(started) {
            self.normal_for = NORMAL_FOR;
        }
    }
}

/// The mail directory of the database at `db_path`: `<data_dir>/mail`, where
/// the mailer writes `.eml` files when no relay is configured.
pub fn mail_dir(db_path: &Path) -> PathBuf {
    crate::store::key_dir(db_path).join(MAIL_DIR)
}

/// The `.eml` files in `dir`, each with its modification time (seconds).
/// A missing directory has none. Symbolic links and other entries are
/// left alone: bedside only deletes what it wrote.
pub fn mail_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, i64)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if !meta.is_file() || path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let written = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        files.push((path, written));
    }
    files.sort();
    Ok(files)
}

/// The `.eml` files in `dir` written at or before `cutoff`.
pub fn mail_files_past(dir: &Path, cutoff: i64) -> std::io::Result<Vec<PathBuf>> {
    Ok(mail_files(dir)?
        .into_iter()
        .filter(|(_, written)| *written <= cutoff)
        .map(|(path, _)| path)
        .collect())
}

/// Deletes the `.eml` files in `dir` written at or before `cutoff`; returns
/// how many. One that vanished meanwhile (another purge) is not counted.
fn delete_mail_files_past(dir: &Path, cutoff: i64) -> std::io::Result<u64> {
    let mut deleted = 0;
    for path in mail_files_past(dir, cutoff)? {
        match std::fs::remove_file(&path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// What deleting one visit's data at once removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitDeleted {
    /// The visit was still to come (or running) and was cancelled first,
    /// with the family's cancellation mail.
    pub cancelled: bool,
    /// Outbox rows deleted with the booking.
    pub mail: u64,
    /// 1 when the family member had no other booking and went too.
    pub contacts: u64,
}

/// Deletes one booking's data now, ahead of its retention (staff's "delete
/// this visit's data now", as Kura deletes a room's details when its host
/// deletes it): the booking, its visit code and room, its mail, and the
/// family's contact details unless another booking of theirs needs them.
///
/// A visit that has not ended is cancelled first through `notify`, so the
/// family hears that it will not take place: their cancellation mail is
/// the one thing kept, detached from the deleted booking, until it is sent
/// (its content is cleared then) and its record is purged like any mail.
/// Per-ward daily counts keep counting the visit (they name no one). One
/// audit entry, by id only. Run it in one transaction.
pub fn delete_visit_now(
    conn: &Connection,
    booking_id: i64,
    actor: Actor,
    now: Timestamp,
    notify: Option<&dyn crate::domain::notify::Notifier>,
) -> Result<VisitDeleted, crate::domain::DomainError> {
    use crate::domain::DomainError;
    let (status, ends_at, contact): (String, i64, Option<i64>) = conn
        .query_row(
            "SELECT status, ends_at, contact_id FROM bookings WHERE id = ?1",
            [booking_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or(DomainError::NotFound)?;
    let cancelled = status == "booked" && ends_at > now.as_second();
    if cancelled {
        crate::domain::booking::cancel_by_id(conn, booking_id, "staff", now, notify)?;
        // The cancellation outlives the booking: it is the family's news.
        conn.execute(
            "UPDATE outbox SET booking_id = NULL
             WHERE booking_id = ?1 AND kind = 'cancellation' AND status = 'pending'",
            [booking_id],
        )?;
    }
    let mail: u64 = conn.query_row(
        "SELECT count(*) FROM outbox WHERE booking_id = ?1",
        [booking_id],
        |r| r.get(0),
    )?;
    conn.execute("DELETE FROM outbox WHERE booking_id = ?1", [booking_id])?;
    conn.execute("DELETE FROM bookings WHERE id = ?1", [booking_id])?;
    let contacts = match contact {
        Some(id) => conn.execute(
            "DELETE FROM contacts WHERE id = ?1
             AND NOT EXISTS (SELECT 1 FROM bookings WHERE contact_id = ?1)",
            [id],
        )? as u64,
        None => 0,
    };
    audit::record(
        conn,
        actor,
        "visit.delete",
        Some(&format!("booking:{booking_id}")),
        &format!(
            "cancelled={} mail={mail} contacts={contacts}",
            u8::from(cancelled)
        ),
        now.as_second(),
    )?;
    Ok(VisitDeleted {
        cancelled,
        mail,
        contacts,
    })
}

/// How a purge run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub counts: Counts,
    /// Categories whose step failed (the others still ran).
    pub failed: Vec<&'static str>,
    /// Stopped early by shutdown, or the lease was lost.
    pub interrupted: bool,
    /// False when a reader kept the WAL from being truncated.
    pub checkpointed: bool,
    /// The longest any write transaction (the purge's batches, and whatever
    /// else was written meanwhile) or checkpoint held the database's writer
    /// while the purge ran — how long a booking had to wait at most — and
    /// the longest of the purge's own batches.
    pub longest_hold: crate::store::LongestHold,
}

impl Report {
    /// Every category ran to the end.
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && !self.interrupted
    }

    /// The audit entry's outcome: counts and what failed, never a value.
    pub fn outcome(&self) -> String {
        let mut out = self.counts.to_string();
        if !self.failed.is_empty() {
            out.push_str(&format!(" failed={}", self.failed.join(",")));
        }
        if self.interrupted {
            out.push_str(" interrupted");
        }
        out
    }
}

/// Why a purge did not run.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(
        "a purge is already running (another bedside process holds the purge lease until {until}); \
         it finishes on its own — try again later"
    )]
    Busy { until: Timestamp },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for PurgeError {
    fn from(e: rusqlite::Error) -> Self {
        PurgeError::Store(e.into())
    }
}

/// Why one batch failed.
#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error("the purge lease was lost (held too long, or taken over)")]
    LeaseLost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for BatchError {
    fn from(e: rusqlite::Error) -> Self {
        BatchError::Store(e.into())
    }
}

/// Deletes everything past `cut` in batches, under the purge lease, and
/// writes one audit entry for the run. With `record`, the run is recorded
/// as the scheduled purge (`purge.last_run`, `purge.last_success`); a
/// what-if run at another time (`bedside purge --now`) is not. Checks
/// `stop` between batches.
pub async fn purge(
    store: &Store,
    cut: Cutoffs,
    actor: Actor,
    record: bool,
    stop: &CancellationToken,
) -> Result<Report, PurgeError> {
    let holder = lease_holder();
    let taken = {
        let holder = holder.clone();
        store
            .write(move |tx| {
                let taken = lease_take(tx, &holder, wall_clock(), LEASE_SECS)?;
                if taken.is_ok() && record {
                    meta_set(tx, LAST_RUN, cut.now)?;
                }
                Ok::<_, PurgeError>(taken)
            })
            .await?
    };
    if let Err(until) = taken {
        return Err(PurgeError::Busy {
            until: Timestamp::from_second(until).unwrap_or_default(),
        });
    }

    let mut report = Report {
        counts: Counts::default(),
        failed: Vec::new(),
        interrupted: false,
        checkpointed: false,
        longest_hold: crate::store::LongestHold::default(),
    };
    store.take_longest_hold();
    let bulk = match bulk_start(store).await {
        Ok(bulk) => Some(bulk),
        Err(e) => {
            tracing::warn!(error = %e, "the purge's background checkpoints did not start; the writer checkpoints as usual");
            None
        }
    };
    let mut pace = Pace::new();
    let mut priority = Priority::new(std::time::Instant::now());
    let mut since_checkpoint = 0;
    'steps: for step in Step::ALL {
        let mut after = 0;
        loop {
            if stop.is_cancelled() {
                report.interrupted = true;
                break 'steps;
            }
            let holder = holder.clone();
            let rows = pace.rows;
            let started = std::time::Instant::now();
            let job = move |tx: &rusqlite::Transaction| {
                if lease_take(tx, &holder, wall_clock(), LEASE_SECS)?.is_err() {
                    return Err(BatchError::LeaseLost);
                }
                let until = std::time::Instant::now() + BATCH_DEADLINE;
                Ok(step.batch(tx, &cut, rows, after, until)?)
            };
            // Only rows past retention: the caches stay (see write_expired).
            let batch = if priority.lowest(started) {
                store.write_expired(job).await
            } else {
                store.write_expired_now(job).await
            };
            let took = started.elapsed();
            priority.after(started, took);
            match batch {
                Ok((counts, more)) => {
                    if step == Step::Bookings {
                        tracing::debug!(
                            rows = counts.bookings,
                            ms = took.as_secs_f64() * 1000.0,
                            "purge batch"
                        );
                        pace.after(counts.bookings, took);
                        if let Some(checkpointer) = &bulk {
                            checkpointer.write_back();
                        }
                        since_checkpoint += counts.bookings;
                        if since_checkpoint >= CHECKPOINT_ROWS
                            && let Some(checkpointer) = &bulk
                        {
                            since_checkpoint = 0;
                            let started = std::time::Instant::now();
                            let caught_up = checkpointer.catch_up().await;
                            tracing::debug!(
                                ms = started.elapsed().as_secs_f64() * 1000.0,
                                "purge checkpoint"
                            );
                            if let Err(e) = caught_up {
                                tracing::warn!(error = %e, "a checkpoint during the purge failed; the next one tries again");
                            }
                        }
                    }
                    report.counts.add(counts);
                    match more {
                        Some(next) => after = next,
                        None => break,
                    }
                }
                Err(BatchError::LeaseLost) => {
                    tracing::error!(step = step.name(), "purge stopped: its lease was lost");
                    report.interrupted = true;
                    break 'steps;
                }
                Err(BatchError::Store(e)) => {
                    tracing::error!(step = step.name(), error = %e, "purge step failed; going on with the next");
                    report.failed.push(step.name());
                    break;
                }
            }
            // Let queued requests' writes in between batches.
            tokio::task::yield_now().await;
        }
    }

    if let Some(bulk) = &bulk {
        bulk_end(store, bulk).await;
    }

    // Mail written as files: deleted one by one, outside the database.
    if !report.interrupted {
        let dir = mail_dir(store.path());
        let deleted = tokio::task::spawn_blocking(move || delete_mail_files_past(&dir, cut.mail))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match deleted {
            Ok(n) => report.counts.mail_files += n,
            Err(e) => {
                tracing::error!(step = "mail_files", error = %e, "purge step failed; going on with the next");
                report.failed.push("mail_files");
            }
        }
    }

    let outcome = report.outcome();
    let success = record && report.succeeded();
    store
        .write(move |tx| {
            audit::record(tx, actor, "purge", None, &outcome, cut.now)?;
            if success {
                meta_set(tx, LAST_SUCCESS, cut.now)?;
            }
            lease_release(tx, &holder)?;
            Ok::<_, StoreError>(())
        })
        .await?;
    store.forget_cached();
    report.checkpointed = store.checkpoint().await?;
    report.longest_hold = store.take_longest_hold();
    if !report.checkpointed {
        tracing::warn!(
            "after the purge a reader kept the WAL from being truncated; the next checkpoint does it"
        );
    }
    Ok(report)
}

/// Puts the writer in bulk-delete mode, with checkpoints on a connection
/// of their own ([`Store::bulk_deletes`]).
async fn bulk_start(store: &Store) -> Result<crate::store::Checkpointer, StoreError> {
    let checkpointer = store.checkpointer()?;
    store.bulk_deletes(true).await?;
    Ok(checkpointer)
}

/// Copies what is left of the WAL beside the writer, so the final
/// `TRUNCATE` checkpoint (which holds the writer) has little left to copy,
/// then puts the writer back as it was.
async fn bulk_end(store: &Store, checkpointer: &crate::store::Checkpointer) {
    if let Err(e) = checkpointer.catch_up().await {
        tracing::warn!(error = %e, "the checkpoint after the purge failed; the final one does it all");
    }
    if let Err(e) = store.bulk_deletes(false).await {
        tracing::error!(error = %e, "the writer could not be put back to checkpointing on its own");
    }
}

/// The machine's clock, for the lease only: a lease is about real time
/// passing between processes, whatever "now" a run was given.
fn wall_clock() -> i64 {
    Timestamp::now().as_second()
}

/// A name for this run's lease: the process id and 64 random bits.
fn lease_holder() -> String {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    format!(
        "{}-{}",
        std::process::id(),
        data_encoding::HEXLOWER.encode(&bytes)
    )
}

/// The lease as stored: `<until> <holder>`.
fn lease_read(conn: &Connection) -> rusqlite::Result<Option<(i64, String)>> {
    let value: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [LEASE], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(value.and_then(|v| {
        let (until, holder) = v.split_once(' ')?;
        Some((until.parse().ok()?, holder.to_string()))
    }))
}

/// Takes or renews the lease for `holder` until `now + secs`. `Err(until)`
/// when someone else holds it. Call it inside a `BEGIN IMMEDIATE`
/// transaction, so reading and taking are one step.
fn lease_take(
    conn: &Connection,
    holder: &str,
    now: i64,
    secs: i64,
) -> rusqlite::Result<Result<(), i64>> {
    if let Some((until, other)) = lease_read(conn)?
        && other != holder
        && until > now
    {
        return Ok(Err(until));
    }
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![LEASE, format!("{} {holder}", now + secs)],
    )?;
    Ok(Ok(()))
}

fn lease_release(conn: &Connection, holder: &str) -> rusqlite::Result<()> {
    if lease_read(conn)?.is_some_and(|(_, h)| h == holder) {
        conn.execute("DELETE FROM meta WHERE key = ?1", [LEASE])?;
    }
    Ok(())
}

fn meta_set(conn: &Connection, key: &str, at: i64) -> rusqlite::Result<()> {
    let text = Timestamp::from_second(at).unwrap_or_default().to_string();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, text],
    )?;
    Ok(())
}

/// When the last purge that ran to the end started (its "now").
pub fn last_success(conn: &Connection) -> rusqlite::Result<Option<Timestamp>> {
    let value: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [LAST_SUCCESS],
            |r| r.get(0),
        )
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()))
}

/// Whether a purge is due at start: the last success is older than one
/// interval, or there never was one.
pub fn due(last_success: Option<Timestamp>, now: Timestamp, interval: std::time::Duration) -> bool {
    match last_success {
        Some(t) => now.as_second() - t.as_second() > interval.as_secs() as i64,
        None => true,
    }
}

/// Whether the purge is overdue enough to tell monitoring: the last success
/// is older than twice the interval, or there never was one though the
/// server has been up longer than that.
pub fn overdue(
    last_success: Option<Timestamp>,
    now: Timestamp,
    interval: std::time::Duration,
    up_since: Timestamp,
) -> bool {
    let twice = 2 * interval.as_secs() as i64;
    let since = last_success.unwrap_or(up_since);
    now.as_second() - since.as_second() > twice
}

/// What the running server knows about its purges, for `/healthz`.
#[derive(Debug)]
pub struct Monitor {
    /// When the server started, by its clock.
    pub up_since: Timestamp,
    running: AtomicBool,
}

impl Monitor {
    pub fn new(up_since: Timestamp) -> Monitor {
        Monitor {
            up_since,
            running: AtomicBool::new(false),
        }
    }

    /// A purge of this server is running (or, at start, about to).
    pub fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }
}

/// At start: whether a purge is due now. If so it is marked running
/// already, so `/healthz` says so from the first request.
pub async fn due_at_start(state: &State) -> bool {
    let last = state
        .store
        .read(|c| Ok::<_, StoreError>(last_success(c)?))
        .await;
    let due = match last {
        Ok(last) => due(
            last,
            state.clock.now(),
            state.config.retention.purge_interval,
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot read when the last purge ran; purging now");
            true
        }
    };
    if due {
        state.purge.running.store(true, Ordering::SeqCst);
    }
    due
}

/// The scheduler: purges on `retention.purge_schedule` until `shutdown`,
/// and first at once when `catch_up` (a purge was due at start); runs
/// `VACUUM` on `retention.vacuum_schedule` when one is set. Both wait in
/// one loop, so in this process a vacuum never runs during a purge (and the
/// lease keeps other processes' purges out). A purge in progress stops at
/// the next batch on shutdown.
pub async fn run(state: Arc<State>, shutdown: CancellationToken, catch_up: bool) {
    let tick = Arc::new(Notify::new());
    let cron = start_cron(&state.config.retention.purge_schedule, tick.clone()).await;
    if let Err(e) = &cron {
        tracing::error!(error = %e, "the purge schedule could not be started; only a purge due at start runs, and /healthz will report it overdue");
    }
    let vacuum_tick = Arc::new(Notify::new());
    let vacuum_cron = match &state.config.retention.vacuum_schedule {
        Some(schedule) => {
            let cron = start_cron(schedule, vacuum_tick.clone()).await;
            if let Err(e) = &cron {
                tracing::error!(error = %e, "the vacuum schedule could not be started; VACUUM does not run");
            }
            cron.ok()
        }
        None => None,
    };
    if catch_up {
        tracing::info!("a purge is due (missed while bedside was down, or never run); purging now");
        run_once(&state, &shutdown).await;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tick.notified() => run_once(&state, &shutdown).await,
            () = vacuum_tick.notified() => vacuum_once(&state.store).await,
        }
    }
    for cron in [cron.ok(), vacuum_cron].into_iter().flatten() {
        let mut cron = cron;
        let _ = cron.shutdown().await;
    }
}

/// Why a vacuum did not run.
#[derive(Debug, thiserror::Error)]
pub enum VacuumError {
    #[error("a purge is running (lease held until {until}); VACUUM waits for its next turn")]
    Busy { until: Timestamp },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for VacuumError {
    fn from(e: rusqlite::Error) -> Self {
        VacuumError::Store(e.into())
    }
}

/// Rebuilds the database file (`VACUUM`) on the writer, so it shrinks to
/// what it holds, then truncates the WAL. Holds the purge lease meanwhile:
/// never during a purge, in this process or another.
pub async fn vacuum(store: &Store) -> Result<(), VacuumError> {
    let holder = lease_holder();
    let taken = {
        let holder = holder.clone();
        store
            .write(move |tx| {
                Ok::<_, VacuumError>(lease_take(tx, &holder, wall_clock(), LEASE_SECS)?)
            })
            .await?
    };
    if let Err(until) = taken {
        return Err(VacuumError::Busy {
            until: Timestamp::from_second(until).unwrap_or_default(),
        });
    }
    let vacuumed = store.vacuum().await;
    store
        .write(move |tx| Ok::<_, StoreError>(lease_release(tx, &holder)?))
        .await?;
    Ok(vacuumed?)
}

async fn vacuum_once(store: &Store) {
    match vacuum(store).await {
        Ok(()) => tracing::info!("VACUUM done"),
        Err(e @ VacuumError::Busy { .. }) => tracing::info!("VACUUM skipped: {e}"),
        Err(e) => tracing::error!(error = %e, "VACUUM failed; it runs again at its next time"),
    }
}

async fn start_cron(
    schedule: &str,
    tick: Arc<Notify>,
) -> Result<tokio_cron_scheduler::JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let scheduler = JobScheduler::new().await?;
    // The job only wakes the loop in `run`, which does the purging: so
    // purges never overlap, and shutdown can wait for the one in progress.
    let job = Job::new_async(schedule, move |_, _| {
        let tick = tick.clone();
        Box::pin(async move { tick.notify_one() })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}

/// One scheduled purge, at the server's "now".
async fn run_once(state: &State, stop: &CancellationToken) {
    state.purge.running.store(true, Ordering::SeqCst);
    let cut = Cutoffs::at(state.clock.now(), &state.config);
    match purge(&state.store, cut, Actor::System, true, stop).await {
        Ok(report) if report.succeeded() => {
            state.metrics.purge_deleted(&report.counts);
            tracing::info!(
                outcome = %report.outcome(),
                longest_write_ms = report.longest_hold.any.as_millis() as u64,
                longest_batch_ms = report.longest_hold.purge.as_millis() as u64,
                "purge done"
            );
        }
        Ok(report) => {
            state.metrics.purge_deleted(&report.counts);
            tracing::warn!(outcome = %report.outcome(), "purge incomplete; the next run goes on");
        }
        Err(e @ PurgeError::Busy { .. }) => tracing::info!("purge skipped: {e}"),
        Err(e) => tracing::error!(error = %e, "purge failed; the next run tries again"),
    }
    state.purge.running.store(false, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_command(&dir.path().join("t.db")).unwrap();
        (dir, conn)
    }

    /// A batch deadline that does not pass during a test.
    fn later() -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(3600)
    }

    /// A bookings batch whose deadline has passed stops after its first
    /// chunk and says more are left; the next, with time, deletes the rest
    /// and says none are.
    #[test]
    fn a_bookings_batch_stops_at_its_deadline_between_chunks() {
        let (_dir, conn) = db();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        let visits = CHUNK as i64 * 2 + 10;
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO bookings (id, patient_id, tablet_id, starts_at, ends_at, room,
                 visit_hash, status, created_at)
             SELECT i, 1, 1, i * 10, i * 10 + 5, 'r' || i, randomblob(16), 'done', 0 FROM n",
            [visits],
        )
        .unwrap();
        let count = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM bookings", [], |r| r.get(0))
                .unwrap()
        };
        let cutoff = visits * 10 + 5;
        let passed = std::time::Instant::now();
        let (deleted, _, _, more) = bookings_batch(&conn, cutoff, BATCH_MAX, passed).unwrap();
        assert_eq!((deleted, more), (CHUNK as u64, true));
        assert_eq!(count(&conn), visits - CHUNK as i64);
        // The oldest went first.
        let first: i64 = conn
            .query_row("SELECT min(starts_at) FROM bookings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(first, (CHUNK as i64 + 1) * 10);
        let (deleted, _, _, more) = bookings_batch(&conn, cutoff, BATCH_MAX, later()).unwrap();
        assert_eq!((deleted, more), (visits as u64 - CHUNK as u64, false));
        assert_eq!(count(&conn), 0);
    }

    /// The mail step reads the outbox by id range from the first id left,
    /// whatever lies between: two batches for two mails a hundred million
    /// ids apart, each deleting only finished mail past retention.
    #[test]
    fn the_mail_step_skips_the_ids_that_are_gone() {
        let (_dir, conn) = db();
        let cut = Cutoffs {
            now: 1_000_000,
            bookings: 0,
            patients: 0,
            mail: 500_000,
            session_idle: 0,
            session_max: 0,
            login_failures: 0,
            audit: 0,
        };
        for (id, status, finished) in [
            (7, "sent", Some(400_000)),
            (8, "pending", None),
            (9, "failed", Some(600_000)),
            (100_000_007, "stale", Some(100)),
        ] {
            conn.execute(
                "INSERT INTO outbox (id, kind, message_id, status, due_at, stale_at, created_at,
                     finished_at)
                 VALUES (?1, 'confirmation', 'm', ?2, 0, 0, 0, ?3)",
                params![id, status, finished],
            )
            .unwrap();
        }
        let (first, more) = Step::Mail.batch(&conn, &cut, BATCH, 0, later()).unwrap();
        assert_eq!((first.mail, more), (1, Some(7 + MAIL_SPAN - 1)));
        let (second, more) = Step::Mail
            .batch(&conn, &cut, BATCH, more.unwrap(), later())
            .unwrap();
        assert_eq!((second.mail, more), (1, None));
        let left: Vec<i64> = conn
            .prepare("SELECT id FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, [8, 9]);
    }

    /// Ended bookings are found by start, in order, through
    /// `bookings_visit` (schema 9 keeps no index of ends): no scan, no sort.
    #[test]
    fn ended_bookings_are_found_through_the_index_of_starts() {
        let (_dir, conn) = db();
        let plan = crate::store::query_plan(&conn, BOOKINGS_PAST, params![0, 10]);
        assert_eq!(
            plan,
            "SEARCH bookings USING INDEX bookings_visit (starts_at<?)"
        );
    }

    #[test]
    fn a_lease_keeps_others_out_until_it_runs_out_or_is_released() {
        let (_dir, conn) = db();
        assert_eq!(lease_take(&conn, "a", 1000, 300).unwrap(), Ok(()));
        assert_eq!(lease_take(&conn, "b", 1100, 300).unwrap(), Err(1300));
        // The holder renews it.
        assert_eq!(lease_take(&conn, "a", 1200, 300).unwrap(), Ok(()));
        assert_eq!(lease_take(&conn, "b", 1300, 300).unwrap(), Err(1500));
        // Run out: taken over; the old holder can no longer renew or release.
        assert_eq!(lease_take(&conn, "b", 1500, 300).unwrap(), Ok(()));
        assert_eq!(lease_take(&conn, "a", 1501, 300).unwrap(), Err(1800));
        lease_release(&conn, "a").unwrap();
        assert_eq!(lease_take(&conn, "a", 1502, 300).unwrap(), Err(1800));
        lease_release(&conn, "b").unwrap();
        assert_eq!(lease_take(&conn, "a", 1503, 300).unwrap(), Ok(()));
    }

    #[test]
    fn a_purge_is_due_after_one_interval_and_overdue_after_two() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        let interval = std::time::Duration::from_secs(900);
        assert!(due(None, t(0), interval));
        assert!(!due(Some(t(1000)), t(1900), interval));
        assert!(due(Some(t(1000)), t(1901), interval));
        assert!(!overdue(Some(t(1000)), t(2800), interval, t(0)));
        assert!(overdue(Some(t(1000)), t(2801), interval, t(0)));
        // Never ran: overdue only once the server has been up that long.
        assert!(!overdue(None, t(1800), interval, t(0)));
        assert!(overdue(None, t(1801), interval, t(0)));
    }

    #[test]
    fn the_horizon_hides_a_booking_exactly_at_end_plus_retention() {
        let config = Config::load(None, &Default::default()).unwrap();
        let end = 1_800_000_000;
        let at = |s| Horizon::at(Timestamp::from_second(s).unwrap(), &config.retention);
        let keep = 14 * 86_400;
        assert!(at(end + keep - 1).keeps(end));
        assert!(!at(end + keep).keeps(end));
    }

    /// Starved batches (the machine's cores busy) send the purge to normal
    /// priority for a second, then two, four ... up to a minute while it
    /// goes on; a batch at the lowest priority that gets its core in time
    /// starts the count over.
    #[test]
    fn a_starved_purge_runs_at_normal_priority_for_longer_and_longer() {
        let ms = std::time::Duration::from_millis;
        let t0 = std::time::Instant::now();
        let mut p = Priority::new(t0);
        assert!(p.lowest(t0));
        p.after(t0, ms(20));
        assert!(p.lowest(t0 + ms(20)));
        // Starved: 2 s of it, then a second at normal priority.
        p.after(t0, ms(2000));
        assert!(!p.lowest(t0 + ms(2999)));
        assert!(p.lowest(t0 + ms(3000)));
        // Batches at normal priority in time change nothing.
        p.after(t0 + ms(2100), ms(10));
        assert!(!p.lowest(t0 + ms(2999)));
        // Starved again at once: two seconds this time, and so on up to 60.
        p.after(t0 + ms(3000), ms(100));
        assert!(!p.lowest(t0 + ms(5099)));
        assert!(p.lowest(t0 + ms(5100)));
        let mut at = t0 + ms(5100);
        for _ in 0..10 {
            p.after(at, ms(100));
            at = p.normal_until;
        }
        assert_eq!(p.normal_for, NORMAL_FOR_MAX);
        // A batch at the lowest priority in time: back to one second.
        p.after(at, ms(20));
        p.after(at + ms(20), ms(100));
        assert!(p.lowest(at + ms(20) + ms(100) + NORMAL_FOR));
        assert!(!p.lowest(at + ms(20) + ms(100) + NORMAL_FOR - ms(1)));
    }

    #[test]
    fn the_bookings_batch_aims_at_its_time_and_grows_gradually() {
        let ms = std::time::Duration::from_millis;
        let mut pace = Pace::new();
        assert_eq!(pace.rows, BATCH);
        // Fast: at most twice as many next time.
        pace.after(500, ms(1));
        assert_eq!(pace.rows, 1000);
        // 1000 rows in 30 ms: 500 rows make the 15 ms aimed at.
        pace.after(1000, ms(30));
        assert_eq!(pace.rows, 500);
        // Very slow: never below the floor; a batch of nothing teaches nothing.
        pace.after(500, ms(10_000));
        assert_eq!(pace.rows, BATCH_MIN);
        pace.after(0, ms(0));
        assert_eq!(pace.rows, BATCH_MIN);
        for _ in 0..20 {
            pace.after(pace.rows as u64, ms(0));
        }
        assert_eq!(pace.rows, BATCH_MAX);
    }

    #[test]
    fn counts_print_every_category_and_no_values() {
        let c = Counts {
            bookings: 3,
            mail: 5,
            ..Default::default()
        };
        assert_eq!(
            c.to_string(),
            "bookings=3 contacts=0 patients=0 meetings=0 mail=5 mail_files=0 sessions=0 login_failures=0 audit=0"
        );
    }
}
