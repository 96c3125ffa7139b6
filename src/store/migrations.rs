//! Schema migrations: an ordered list, versioned by `PRAGMA user_version`.
//!
//! Migration N (1-based) moves the schema from version N-1 to N. Each runs in
//! its own `BEGIN IMMEDIATE` transaction together with the version bump, so a
//! crash leaves the database at a whole version. Never edit a migration that
//! has shipped: add a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The migrations, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: bookkeeping about the installation itself (no personal data).
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    INSERT INTO meta (key, value)
        VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));",
    // 2: wards, tablets, patients, family contacts, bookings, API keys.
    // Times are UTC seconds since the epoch, always set by the server.
    // Codes and keys are stored only as SHA-256 hashes.
    "CREATE TABLE units (
        id                   INTEGER PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
        time_zone            TEXT NOT NULL,
        visiting_hours       TEXT NOT NULL,
        slot_minutes         INTEGER NOT NULL CHECK (slot_minutes BETWEEN 5 AND 240),
        buffer_minutes       INTEGER NOT NULL CHECK (buffer_minutes BETWEEN 0 AND 120),
        horizon_days         INTEGER NOT NULL CHECK (horizon_days BETWEEN 0 AND 60),
        max_visits_per_day   INTEGER NOT NULL CHECK (max_visits_per_day BETWEEN 1 AND 20),
        early_join_minutes   INTEGER NOT NULL CHECK (early_join_minutes BETWEEN 0 AND 60),
        grace_minutes        INTEGER NOT NULL CHECK (grace_minutes BETWEEN 0 AND 60),
        family_display       TEXT NOT NULL CHECK (family_display IN ('name', 'label')),
        created_at           INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE tablets (
        id         INTEGER PRIMARY KEY,
        unit_id    INTEGER NOT NULL REFERENCES units (id),
        label      TEXT NOT NULL,
        active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at INTEGER NOT NULL,
        UNIQUE (unit_id, label)
    ) STRICT;
    CREATE TABLE patients (
        id            INTEGER PRIMARY KEY,
        unit_id       INTEGER NOT NULL REFERENCES units (id),
        label         TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('active', 'discharged')),
        invite_hash   BLOB NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        discharged_at INTEGER
    ) STRICT;
    CREATE INDEX patients_unit ON patients (unit_id, status);
    CREATE TABLE contacts (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL,
        email           TEXT NOT NULL,
        email_key       TEXT NOT NULL UNIQUE,
        language        TEXT NOT NULL,
        consent_at      INTEGER NOT NULL,
        privacy_version TEXT NOT NULL,
        created_at      INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE bookings (
        id           INTEGER PRIMARY KEY,
        patient_id   INTEGER NOT NULL REFERENCES patients (id),
        contact_id   INTEGER REFERENCES contacts (id),
        tablet_id    INTEGER NOT NULL REFERENCES tablets (id),
        starts_at    INTEGER NOT NULL,
        ends_at      INTEGER NOT NULL CHECK (ends_at > starts_at),
        room         TEXT NOT NULL UNIQUE,
        visit_hash   BLOB NOT NULL UNIQUE,
        status       TEXT NOT NULL CHECK (status IN
                         ('booked', 'cancelled', 'done', 'no-show', 'patient-unavailable')),
        cancelled_by TEXT CHECK (cancelled_by IN ('family', 'staff', 'discharge', 'api')),
        created_at   INTEGER NOT NULL,
        cancelled_at INTEGER
    ) STRICT;
    -- The last guard against double booking: one live booking per tablet and start.
    CREATE UNIQUE INDEX bookings_tablet_start ON bookings (tablet_id, starts_at)
        WHERE status IN ('booked', 'done', 'no-show');
    CREATE INDEX bookings_patient ON bookings (patient_id, starts_at);
    CREATE INDEX bookings_time ON bookings (starts_at);
    CREATE TABLE api_keys (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        key_hash   BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) STRICT;",
    // 3: staff accounts and sessions, tablet device links, instant meetings,
    // the audit trail, and per-unit daily counts that outlive the purge.
    "CREATE TABLE staff (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name  TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
        active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        locked_until  INTEGER,
        created_at    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE staff_units (
        staff_id INTEGER NOT NULL REFERENCES staff (id),
        unit_id  INTEGER NOT NULL REFERENCES units (id),
        PRIMARY KEY (staff_id, unit_id)
    ) STRICT;
    CREATE TABLE login_failures (
        staff_id INTEGER NOT NULL REFERENCES staff (id),
        at       INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX login_failures_staff ON login_failures (staff_id, at);
    CREATE TABLE sessions (
        id_hash      BLOB PRIMARY KEY,
        staff_id     INTEGER NOT NULL REFERENCES staff (id),
        csrf         TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sessions_staff ON sessions (staff_id);
    ALTER TABLE tablets ADD COLUMN device_hash BLOB;
    CREATE UNIQUE INDEX tablets_device ON tablets (device_hash) WHERE device_hash IS NOT NULL;
    CREATE TABLE meetings (
        id         INTEGER PRIMARY KEY,
        unit_id    INTEGER NOT NULL REFERENCES units (id),
        staff_id   INTEGER REFERENCES staff (id),
        room       TEXT NOT NULL UNIQUE,
        guest_hash BLOB NOT NULL UNIQUE,
        starts_at  INTEGER NOT NULL,
        ends_at    INTEGER NOT NULL CHECK (ends_at > starts_at),
        created_at INTEGER NOT NULL
    ) STRICT;
    -- Who did what to which object, and how it went. Never a name, e-mail
    -- address, label or code: objects are named by kind and id.
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        at      INTEGER NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        object  TEXT,
        outcome TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_at ON audit (at);
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    -- Counts per unit and local day; kept when bookings are purged.
    ALTER TABLE bookings ADD COLUMN local_day TEXT;
    CREATE TABLE daily_counts (
        unit_id   INTEGER NOT NULL REFERENCES units (id),
        day       TEXT NOT NULL,
        booked    INTEGER NOT NULL DEFAULT 0,
        done      INTEGER NOT NULL DEFAULT 0,
        no_show   INTEGER NOT NULL DEFAULT 0,
        cancelled INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (unit_id, day)
    ) STRICT;
    CREATE TRIGGER daily_counts_booked AFTER INSERT ON bookings WHEN NEW.local_day IS NOT NULL
    BEGIN
        INSERT INTO daily_counts (unit_id, day, booked)
            VALUES ((SELECT unit_id FROM patients WHERE id = NEW.patient_id), NEW.local_day, 1)
            ON CONFLICT (unit_id, day) DO UPDATE SET booked = booked + 1;
    END;
    CREATE TRIGGER daily_counts_status AFTER UPDATE OF status ON bookings
        WHEN NEW.local_day IS NOT NULL AND NEW.status <> OLD.status
    BEGIN
        UPDATE daily_counts SET
            done      = done      + (NEW.status = 'done') - (OLD.status = 'done'),
            no_show   = no_show   + (NEW.status = 'no-show') - (OLD.status = 'no-show'),
            cancelled = cancelled + (NEW.status IN ('cancelled', 'patient-unavailable'))
                                  - (OLD.status IN ('cancelled', 'patient-unavailable'))
        WHERE unit_id = (SELECT unit_id FROM patients WHERE id = NEW.patient_id)
          AND day = NEW.local_day;
    END;",
    // 4: the mail outbox. A row is written in the same transaction as the
    // change it reports; its content (address, text, calendar file) is
    // cleared once it is sent, has failed for good, or went stale.
    "CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        booking_id  INTEGER REFERENCES bookings (id) ON DELETE CASCADE,
        meeting_id  INTEGER REFERENCES meetings (id) ON DELETE CASCADE,
        message_id  TEXT NOT NULL UNIQUE,
        recipient   TEXT,
        subject     TEXT,
        body_text   TEXT,
        body_html   TEXT,
        ics         TEXT,
        ics_method  TEXT,
        status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'stale')),
        due_at      INTEGER NOT NULL,
        stale_at    INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER,
        last_error  TEXT,
        created_at  INTEGER NOT NULL,
        finished_at INTEGER
    ) STRICT;
    CREATE INDEX outbox_due ON outbox (status, due_at);
    CREATE INDEX outbox_booking ON outbox (booking_id);",
    // 5: the purge deletes a contact once no booking uses it. Without an
    // index on the referencing column both that check and the foreign-key
    // check on every contact deleted would read the whole bookings table.
    "CREATE INDEX bookings_contact ON bookings (contact_id);
    CREATE INDEX bookings_end ON bookings (ends_at);",
    // 6: contacts encrypted at rest. A migration cannot know the data key,
    // so bedside seals the existing plain rows right after migrating
    // (`bookings::seal_plain_contacts`): it fills these columns, turns
    // `email_key` into the HMAC of the address and blanks `name` and `email`
    // (kept, as '', because SQLite cannot drop their NOT NULL).
    "ALTER TABLE contacts ADD COLUMN name_enc BLOB;
    ALTER TABLE contacts ADD COLUMN email_enc BLOB;",
    // 7: which tablets are free around a slot (`bookings::busy_between`,
    // run by every booking) answered from the index alone: without
    // `ends_at` and `status` in it, each booking of the unit's tablets in
    // the last few hours was read from the table.
    "CREATE INDEX bookings_tablet_span ON bookings (tablet_id, starts_at, ends_at, status);",
    // 8: no index keyed by a random value alone. The purge deletes visits in
    // the order they ended; an index keyed by a hash (visit code, e-mail
    // key) or a random name (room, Message-ID) had each deleted row on a
    // page of its own, so every purged visit rewrote about 8 KB of index.
    // Instead visit codes now carry their visit's start and are indexed
    // behind it (`bookings_visit`); codes issued before (up to the booking
    // id kept in `meta`) are found by reading those bookings alone. E-mail
    // keys are indexed behind their day (`created_at / 86400`; an access or
    // erasure request asks day by day). The uniques on room, visit code and
    // Message-ID go: those are 128-, 256- and 96-bit random values, never
    // looked up by themselves. Contacts are no longer shared between
    // bookings (each booking keeps its own, deleted with it), so nothing
    // needs `email_key` to be unique.
    //
    // SQLite drops a UNIQUE only by rebuilding the table; `migrate` runs
    // this with foreign keys off (dropping `bookings` would otherwise
    // cascade into the outbox) and checks them before committing.
    "CREATE TABLE bookings_v8 (
        id           INTEGER PRIMARY KEY,
        patient_id   INTEGER NOT NULL REFERENCES patients (id),
        contact_id   INTEGER REFERENCES contacts (id),
        tablet_id    INTEGER NOT NULL REFERENCES tablets (id),
        starts_at    INTEGER NOT NULL,
        ends_at      INTEGER NOT NULL CHECK (ends_at > starts_at),
        room         TEXT NOT NULL,
        visit_hash   BLOB NOT NULL,
        status       TEXT NOT NULL CHECK (status IN
                         ('booked', 'cancelled', 'done', 'no-show', 'patient-unavailable')),
        cancelled_by TEXT CHECK (cancelled_by IN ('family', 'staff', 'discharge', 'api')),
        created_at   INTEGER NOT NULL,
        cancelled_at INTEGER,
        local_day    TEXT
    ) STRICT;
    INSERT INTO bookings_v8 (id, patient_id, contact_id, tablet_id, starts_at, ends_at, room,
            visit_hash, status, cancelled_by, created_at, cancelled_at, local_day)
        SELECT id, patient_id, contact_id, tablet_id, starts_at, ends_at, room,
            visit_hash, status, cancelled_by, created_at, cancelled_at, local_day
        FROM bookings;
    DROP TABLE bookings;
    ALTER TABLE bookings_v8 RENAME TO bookings;
    CREATE UNIQUE INDEX bookings_tablet_start ON bookings (tablet_id, starts_at)
        WHERE status IN ('booked', 'done', 'no-show');
    CREATE INDEX bookings_patient ON bookings (patient_id, starts_at);
    CREATE INDEX bookings_contact ON bookings (contact_id);
    CREATE INDEX bookings_end ON bookings (ends_at);
    CREATE INDEX bookings_tablet_span ON bookings (tablet_id, starts_at, ends_at, status);
    -- Also serves what bookings_time (starts_at) did.
    CREATE INDEX bookings_visit ON bookings (starts_at, visit_hash);
    INSERT INTO meta (key, value) VALUES
        ('visit_codes.legacy_until', CAST((SELECT coalesce(max(id), 0) FROM bookings) AS TEXT));
    CREATE TRIGGER daily_counts_booked AFTER INSERT ON bookings WHEN NEW.local_day IS NOT NULL
    BEGIN
        INSERT INTO daily_counts (unit_id, day, booked)
            VALUES ((SELECT unit_id FROM patients WHERE id = NEW.patient_id), NEW.local_day, 1)
            ON CONFLICT (unit_id, day) DO UPDATE SET booked = booked + 1;
    END;
    CREATE TRIGGER daily_counts_status AFTER UPDATE OF status ON bookings
        WHEN NEW.local_day IS NOT NULL AND NEW.status <> OLD.status
    BEGIN
        UPDATE daily_counts SET
            done      = done      + (NEW.status = 'done') - (OLD.status = 'done'),
            no_show   = no_show   + (NEW.status = 'no-show') - (OLD.status = 'no-show'),
            cancelled = cancelled + (NEW.status IN ('cancelled', 'patient-unavailable'))
                                  - (OLD.status IN ('cancelled', 'patient-unavailable'))
        WHERE unit_id = (SELECT unit_id FROM patients WHERE id = NEW.patient_id)
          AND day = NEW.local_day;
    END;
    CREATE TABLE contacts_v8 (
        id              INTEGER PRIMARY KEY,
        name            TEXT NOT NULL,
        email           TEXT NOT NULL,
        email_key       TEXT NOT NULL,
        language        TEXT NOT NULL,
        consent_at      INTEGER NOT NULL,
        privacy_version TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        name_enc        BLOB,
        email_enc       BLOB
    ) STRICT;
    INSERT INTO contacts_v8 (id, name, email, email_key, language, consent_at,
            privacy_version, created_at, name_enc, email_enc)
        SELECT id, name, email, email_key, language, consent_at,
            privacy_version, created_at, name_enc, email_enc
        FROM contacts;
    DROP TABLE contacts;
    ALTER TABLE contacts_v8 RENAME TO contacts;
    CREATE INDEX contacts_email ON contacts (created_at / 86400, email_key);
    CREATE TABLE outbox_v8 (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        booking_id  INTEGER REFERENCES bookings (id) ON DELETE CASCADE,
        meeting_id  INTEGER REFERENCES meetings (id) ON DELETE CASCADE,
        message_id  TEXT NOT NULL,
        recipient   TEXT,
        subject     TEXT,
        body_text   TEXT,
        body_html   TEXT,
        ics         TEXT,
        ics_method  TEXT,
        status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'stale')),
        due_at      INTEGER NOT NULL,
        stale_at    INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER,
        last_error  TEXT,
        created_at  INTEGER NOT NULL,
        finished_at INTEGER
    ) STRICT;
    INSERT INTO outbox_v8 SELECT id, kind, booking_id, meeting_id, message_id, recipient,
            subject, body_text, body_html, ics, ics_method, status, due_at, stale_at, attempts,
            lease_until, last_error, created_at, finished_at
        FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v8 RENAME TO outbox;
    CREATE INDEX outbox_due ON outbox (status, due_at);
    CREATE INDEX outbox_booking ON outbox (booking_id);",
    // 9: fewer index entries per visit, each of which the purge deletes
    // again. The purge finds ended bookings through `bookings_visit`
    // (every visit ends after it starts, and none is longer than the
    // longest slot), not an index of its own. A tablet's live bookings are
    // found through `bookings_tablet_start`, which holds only those,
    // instead of a second index of every booking. Only mail still to send
    // is indexed: sent, failed and dropped mail is read by id range
    // (`retention`), never looked up.
    "DROP INDEX bookings_end;
    DROP INDEX bookings_tablet_span;
    DROP INDEX outbox_due;
    CREATE INDEX outbox_pending ON outbox (due_at) WHERE status = 'pending';",
];

/// Migrations that rebuild tables others refer to: run with foreign keys
/// off (SQLite's documented way to change a table's constraints), checked
/// with `PRAGMA foreign_key_check` before they commit.
const REBUILDS: &[usize] = &[8];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; returns how many migrations
/// ran. Refuses a database written by a newer bedside.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    let mut applied = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let rebuild = REBUILDS.contains(&(index + 1));
        let foreign_keys: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        if rebuild {
            // A no-op inside a transaction: set before BEGIN.
            conn.pragma_update(None, "foreign_keys", false)?;
        }
        let done = apply(conn, index, sql, rebuild);
        if rebuild {
            conn.pragma_update(None, "foreign_keys", foreign_keys)?;
        }
        applied += done? as usize;
    }
    Ok(applied)
}

/// Runs migration `index + 1` in its own transaction; false when another
/// process had already run it.
fn apply(
    conn: &mut Connection,
    index: usize,
    sql: &str,
    rebuild: bool,
) -> Result<bool, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read inside the lock: another process may have migrated meanwhile.
    let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if now > index as i64 {
        return Ok(false);
    }
    tx.execute_batch(sql)?;
    if rebuild {
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            return Err(StoreError::Migration {
                version: index as i64 + 1,
                problem: format!("{broken} rows refer to rows that do not exist"),
            });
        }
    }
    tx.pragma_update(None, "user_version", index as i64 + 1)?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        assert_eq!(migrate(&mut conn, &path).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut conn, &path).unwrap(), 0);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err().to_string();
        assert!(err.contains("newer bedside"), "{err}");
    }

    /// Every row of `table`, as text, in id order.
    fn rows(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// Migration 8 rebuilds bookings, contacts and the outbox: every row
    /// comes through unchanged, foreign keys are on again and hold, the
    /// outbox still goes with its booking, the daily counts still follow
    /// status changes, and the double-booking guard still holds.
    #[test]
    fn the_table_rebuilds_keep_every_row_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        for (i, sql) in MIGRATIONS[..7].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO units VALUES (1, 'Ward 3', 'UTC', '', 30, 10, 7, 2, 10, 5, 'name', 0);
             INSERT INTO tablets (id, unit_id, label, created_at) VALUES (1, 1, 'T1', 0);
             INSERT INTO patients (id, unit_id, label, status, invite_hash, created_at)
                 VALUES (1, 1, 'Bed 1', 'active', x'01', 0);
             -- One contact shared by two bookings, as before version 8.
             INSERT INTO contacts (id, name, email, email_key, language, consent_at,
                 privacy_version, created_at, name_enc, email_enc)
                 VALUES (1, '', '', 'k1', 'en', 5, 'v1', 5, x'aa', x'bb'),
                        (2, '', '', 'k2', 'de', 6, 'v1', 6, x'cc', x'dd');
             INSERT INTO bookings (id, patient_id, contact_id, tablet_id, starts_at, ends_at, room,
                 visit_hash, status, created_at, local_day)
                 VALUES (1, 1, 1, 1, 1000, 2800, 'r1', x'01', 'booked', 10, '1970-01-01'),
                        (2, 1, 1, 1, 5000, 6800, 'r2', x'02', 'booked', 11, '1970-01-01'),
                        (3, 1, 2, 1, 9000, 9900, 'r3', x'03', 'booked', 12, '1970-01-01');
             INSERT INTO outbox (kind, booking_id, message_id, status, due_at, stale_at, created_at)
                 VALUES ('confirmation', 1, 'm1', 'pending', 1, 2, 3),
                        ('reminder', 1, 'm2', 'pending', 1, 2, 3),
                        ('confirmation', 3, 'm3', 'sent', 1, 2, 3);",
        )
        .unwrap();
        let tables = ["bookings", "contacts", "outbox", "daily_counts"];
        let before: Vec<Vec<String>> = tables.iter().map(|t| rows(&conn, t)).collect();

        assert_eq!(migrate(&mut conn, &path).unwrap(), MIGRATIONS.len() - 7);
        let after: Vec<Vec<String>> = tables.iter().map(|t| rows(&conn, t)).collect();
        assert_eq!(after, before);
        let on: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(on, "foreign keys are on again");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for name in [
            "bookings_visit",
            "contacts_email",
            "bookings_tablet_start",
            "outbox_booking",
        ] {
            assert!(indexes.iter().any(|i| i == name), "{name} in {indexes:?}");
        }

        // The rules still hold on the rebuilt tables.
        let busy = conn.execute(
            "INSERT INTO bookings (patient_id, tablet_id, starts_at, ends_at, room, visit_hash,
                 status, created_at) VALUES (1, 1, 1000, 2800, 'r9', x'09', 'booked', 13)",
            [],
        );
        assert!(busy.is_err(), "a second live booking of the tablet at 1000");
        let orphan = conn.execute(
            "INSERT INTO bookings (patient_id, contact_id, tablet_id, starts_at, ends_at, room,
                 visit_hash, status, created_at) VALUES (1, 99, 1, 20000, 21000, 'r', x'09', 'booked', 13)",
            [],
        );
        assert!(orphan.is_err(), "contact 99 does not exist");
        conn.execute("UPDATE bookings SET status = 'done' WHERE id = 2", [])
            .unwrap();
        let done: i64 = conn
            .query_row("SELECT done FROM daily_counts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(done, 1, "the daily counts follow status changes");
        conn.execute("DELETE FROM bookings WHERE id = 1", [])
            .unwrap();
        let mail: i64 = conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mail, 1, "a booking's mail goes with it");
    }

    #[test]
    fn a_failing_migration_leaves_the_version_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        // A table in the way makes migration 1 fail half-way.
        conn.execute_batch("CREATE TABLE meta (x)").unwrap();
        assert!(migrate(&mut conn, &path).is_err());
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
    }
}
