//! Queries on `bookings` and `contacts`.

use crate::store::CachedExt;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::crypto::{self, DataKey};

/// A booking with what the pages and API show about it.
#[derive(Debug, Clone)]
pub struct BookingRow {
    pub id: i64,
    pub patient_id: i64,
    pub patient_label: String,
    pub unit_id: i64,
    pub tablet_id: i64,
    pub tablet_label: String,
    pub contact_id: Option<i64>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub room: String,
    pub status: String,
    pub cancelled_by: Option<String>,
}

/// `SELECT <booking with labels> FROM bookings JOIN … <tail>`.
macro_rules! select_bookings {
    ($tail:literal) => {
        concat!(
            "SELECT b.id, b.patient_id, p.label, p.unit_id, b.tablet_id, t.label, b.contact_id, \
                    b.starts_at, b.ends_at, b.room, b.status, b.cancelled_by \
             FROM bookings b JOIN patients p ON p.id = b.patient_id \
                             JOIN tablets t ON t.id = b.tablet_id ",
            $tail
        )
    };
}

fn booking_row(r: &Row<'_>) -> rusqlite::Result<BookingRow> {
    Ok(BookingRow {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        patient_label: r.get(2)?,
        unit_id: r.get(3)?,
        tablet_id: r.get(4)?,
        tablet_label: r.get(5)?,
        contact_id: r.get(6)?,
        starts_at: r.get(7)?,
        ends_at: r.get(8)?,
        room: r.get(9)?,
        status: r.get(10)?,
        cancelled_by: r.get(11)?,
    })
}

pub struct NewBookingRow<'a> {
    pub patient_id: i64,
    pub contact_id: Option<i64>,
    pub tablet_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub room: &'a str,
    pub visit_hash: &'a [u8],
    /// The visit's calendar day in the unit's zone (YYYY-MM-DD), for the
    /// daily counts.
    pub local_day: &'a str,
}

pub fn booking_insert(conn: &Connection, b: &NewBookingRow<'_>, now: i64) -> rusqlite::Result<i64> {
    conn.execute_cached(
        "INSERT INTO bookings (patient_id, contact_id, tablet_id, starts_at, ends_at, room,
             visit_hash, status, created_at, local_day)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'booked', ?8, ?9)",
        params![
            b.patient_id,
            b.contact_id,
            b.tablet_id,
            b.starts_at,
            b.ends_at,
            b.room,
            b.visit_hash,
            now,
            b.local_day
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The booking of a visit code: by its visit's start (`visit_start`, which
/// the code carries) and hash through `bookings_visit`, or — for a code
/// issued before schema 8, which carries no start — by reading the
/// bookings made before it, the only ones such a code can belong to.
pub fn booking_by_visit(
    conn: &Connection,
    visit_start: Option<i64>,
    visit_hash: &[u8],
) -> rusqlite::Result<Option<BookingRow>> {
    // Cached: this is the lookup behind every click on a visit link.
    match visit_start {
        Some(start) => conn
            .prepare_cached(BY_VISIT_CODE)?
            .query_row(params![start, visit_hash], booking_row),
        None => conn
            .prepare_cached(BY_OLD_VISIT_CODE)?
            .query_row([visit_hash], booking_row),
    }
    .optional()
}

const BY_VISIT_CODE: &str = select_bookings!("WHERE b.starts_at = ?1 AND b.visit_hash = ?2");

const BY_OLD_VISIT_CODE: &str = select_bookings!(
    "WHERE b.id <= (SELECT CAST(value AS INTEGER) FROM meta
                    WHERE key = 'visit_codes.legacy_until')
       AND b.visit_hash = ?1"
);

pub fn booking_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<BookingRow>> {
    conn.query_row_cached(select_bookings!("WHERE b.id = ?1"), [id], booking_row)
        .optional()
}

/// A visit's longest possible length, in seconds.
const MAX_VISIT_SECS: i64 = crate::domain::unit::MAX_SLOT_MINUTES * 60;

const BUSY_BETWEEN: &str = "SELECT b.tablet_id, b.starts_at, b.ends_at
     FROM bookings b JOIN tablets t ON t.id = b.tablet_id
     WHERE t.unit_id = ?1 AND b.status IN ('booked', 'done', 'no-show')
       AND b.ends_at > ?2 AND b.starts_at < ?3
       -- No visit is longer than the longest slot, so this bounds the
       -- (tablet, start) index range from below as well: without it
       -- every booking is checked against all earlier ones.
       AND b.starts_at > ?2 - ?4";

/// Live bookings of a unit's tablets that end after `from` and start before
/// `until`, through `bookings_tablet_start` (live bookings only).
pub fn busy_between(
    conn: &Connection,
    unit_id: i64,
    from: i64,
    until: i64,
) -> rusqlite::Result<Vec<(i64, i64, i64)>> {
    conn.prepare_cached(BUSY_BETWEEN)?
        .query_map(params![unit_id, from, until, MAX_VISIT_SECS], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect()
}

/// The first active tablet of a unit, by id (the order in which
/// [`crate::domain::slots::free_tablets`] offers them), with no live
/// booking overlapping [from, until): what a booking takes. For each
/// tablet it takes the last live booking starting before `until` from
/// `bookings_tablet_start` (which holds live bookings only; the `status IN`
/// term is that index's own, so SQLite may use it): a tablet's live
/// bookings never overlap (each was placed, or moved, only where the
/// tablet was free), so if that one ends by `from`, every earlier one does
/// too. One index entry and one row per tablet, in one statement rather
/// than one per tablet.
pub fn first_free_tablet(
    conn: &Connection,
    unit_id: i64,
    from: i64,
    until: i64,
) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row_cached(
        "SELECT t.id, t.label FROM tablets t
         -- `+`: the tablets in id order straight from the table (a row per
         -- device), up to the first free one, instead of every tablet of
         -- the unit through its (unit, label) index and then a sort.
         WHERE +t.unit_id = ?1 AND t.active = 1
           AND coalesce((
               SELECT b.ends_at > ?2
               FROM bookings b INDEXED BY bookings_tablet_start
               WHERE b.tablet_id = t.id AND b.starts_at < ?3 AND b.starts_at > ?2 - ?4
                 AND b.status IN ('booked', 'done', 'no-show')
               ORDER BY b.starts_at DESC LIMIT 1), 0) = 0
         ORDER BY t.id LIMIT 1",
        params![unit_id, from, until, MAX_VISIT_SECS],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Live bookings of one patient starting in [from, until).
pub fn patient_bookings_between(
    conn: &Connection,
    patient_id: i64,
    from: i64,
    until: i64,
) -> rusqlite::Result<i64> {
    conn.query_row_cached(
        "SELECT count(*) FROM bookings
         WHERE patient_id = ?1
           AND (status = 'booked' OR status = 'done' OR status = 'no-show')
           AND starts_at >= ?2 AND starts_at < ?3",
        params![patient_id, from, until],
        |r| r.get(0),
    )
}

/// A unit's bookings (every status) starting in [from, until), by time.
pub fn unit_bookings_between(
    conn: &Connection,
    unit_id: i64,
    from: i64,
    until: i64,
) -> rusqlite::Result<Vec<BookingRow>> {
    conn.prepare_cached(select_bookings!(
        "WHERE p.unit_id = ?1 AND b.starts_at >= ?2 AND b.starts_at < ?3 \
         ORDER BY b.starts_at, t.label"
    ))?
    .query_map(params![unit_id, from, until], booking_row)?
    .collect()
}

pub fn booking_cancel(
    conn: &Connection,
    id: i64,
    status: &str,
    by: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE bookings SET status = ?2, cancelled_by = ?3, cancelled_at = ?4
         WHERE id = ?1 AND status = 'booked'",
        params![id, status, by, now],
    )?;
    Ok(())
}

/// Cancels every booking of a patient that has not ended yet; returns their ids.
pub fn cancel_future_of_patient(
    conn: &Connection,
    patient_id: i64,
    by: &str,
    now: i64,
) -> rusqlite::Result<Vec<i64>> {
    let ids: Vec<i64> = conn
        .prepare(
            "SELECT id FROM bookings WHERE patient_id = ?1 AND status = 'booked' AND ends_at > ?2",
        )?
        .query_map(params![patient_id, now], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute_cached(
        "UPDATE bookings SET status = 'cancelled', cancelled_by = ?2, cancelled_at = ?3
         WHERE patient_id = ?1 AND status = 'booked' AND ends_at > ?3",
        params![patient_id, by, now],
    )?;
    Ok(ids)
}

// The `IN` term lets SQLite use `bookings_tablet_start` (live bookings
// only), whose own condition it is; no visit is longer than
// MAX_VISIT_SECS, which bounds its range from below.
const FUTURE_ON_TABLET: &str = "SELECT count(*) FROM bookings
     WHERE tablet_id = ?1 AND status IN ('booked', 'done', 'no-show')
       AND status = 'booked' AND ends_at > ?2 AND starts_at > ?2 - ?3";

/// Bookings still to come on one tablet.
pub fn future_on_tablet(conn: &Connection, tablet_id: i64, now: i64) -> rusqlite::Result<u64> {
    conn.query_row_cached(
        FUTURE_ON_TABLET,
        params![tablet_id, now, MAX_VISIT_SECS],
        |r| r.get(0),
    )
}

/// A family member's contact details.
#[derive(Debug, Clone)]
pub struct ContactRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub language: String,
}

/// Inserts the contact of one booking: each booking keeps its own (name,
/// address, language, the consent given with it) and loses it with the
/// booking — no record of a family outlives its visits. Name and address
/// are sealed with the data key (see [`crate::crypto`]); the plain columns
/// stay empty. `email_key` (the address's HMAC) finds a person's contacts
/// for access and erasure requests.
pub fn contact_insert(
    conn: &Connection,
    name: &str,
    email: &str,
    language: &str,
    privacy_version: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.query_row_cached(
        "WITH k (email_key) AS (SELECT bedside_email_key(?2))
         INSERT INTO contacts (name, email, email_key, name_enc, email_enc, language,
             consent_at, privacy_version, created_at)
         SELECT '', '', k.email_key, bedside_seal('contacts.name', k.email_key, ?1),
             bedside_seal('contacts.email', k.email_key, ?2), ?3, ?4, ?5, ?4
         FROM k
         RETURNING id",
        params![name, email, language, now, privacy_version],
        |r| r.get(0),
    )
}

/// `SELECT id, name, email <tail>` on contacts, opened with the
/// connection's key; rows written by raw SQL (tests, an older bedside before
/// its first start) are read as they are.
macro_rules! select_contacts {
    ($tail:literal) => {
        concat!(
            "SELECT id, \
                CASE WHEN name_enc IS NULL THEN name \
                     ELSE bedside_open('contacts.name', email_key, name_enc) END, \
                CASE WHEN email_enc IS NULL THEN email \
                     ELSE bedside_open('contacts.email', email_key, email_enc) END ",
            $tail
        )
    };
}

pub fn contact_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<ContactRow>> {
    conn.prepare_cached(select_contacts!(", language FROM contacts WHERE id = ?1"))?
        .query_row([id], |r| {
            Ok(ContactRow {
                id: r.get(0)?,
                name: r.get(1)?,
                email: r.get(2)?,
                language: r.get(3)?,
            })
        })
        .optional()
}

/// The contacts with an e-mail address (one per booking; one shared by
/// several bookings made before schema version 8), oldest first, looked up
/// by the address's HMAC under the connection's key in `contacts_email`,
/// day by day from the oldest contact's to the newest's (a few hundred
/// probes at most: this serves access and erasure requests, rare).
pub fn contact_ids_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached(CONTACTS_BY_EMAIL)?
        .query_map([email], |r| r.get(0))?
        .collect()
}

const CONTACTS_BY_EMAIL: &str = "SELECT id FROM contacts
     WHERE created_at / 86400 IN (
         WITH RECURSIVE day (n) AS (
             SELECT min(created_at / 86400) FROM contacts
             UNION ALL
             SELECT n + 1 FROM day WHERE n < (SELECT max(created_at / 86400) FROM contacts))
         SELECT n FROM day)
       AND email_key = bedside_email_key(?1)
     ORDER BY id";

/// Seals every contact still stored in plain text (from before migration 6)
/// in one transaction; returns how many.
pub fn seal_plain_contacts(conn: &mut Connection, key: &DataKey) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let plain: Vec<(i64, String, String)> = tx
        .prepare(
            "SELECT id, name, email FROM contacts WHERE name_enc IS NULL OR email_enc IS NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, name, email) in &plain {
        reseal_contact(&tx, key, *id, name, email)?;
    }
    tx.commit()?;
    Ok(plain.len())
}

/// Writes one contact's name and address sealed under `key`, with the
/// matching lookup key, and blanks the plain columns.
pub fn reseal_contact(
    conn: &Connection,
    key: &DataKey,
    id: i64,
    name: &str,
    email: &str,
) -> rusqlite::Result<()> {
    let crypto = |e| rusqlite::Error::UserFunctionError(Box::new(e));
    let email_key = key.email_key(email);
    let name_enc = key
        .seal(&crypto::context("contacts.name", &email_key), name)
        .map_err(crypto)?;
    let email_enc = key
        .seal(&crypto::context("contacts.email", &email_key), email)
        .map_err(crypto)?;
    conn.execute_cached(
        "UPDATE contacts SET name = '', email = '', email_key = ?2, name_enc = ?3, email_enc = ?4
         WHERE id = ?1",
        params![id, email_key, name_enc, email_enc],
    )?;
    Ok(())
}

/// Every contact as (id, name, e-mail), opened with the connection's key.
pub fn contacts_all(conn: &Connection) -> rusqlite::Result<Vec<(i64, String, String)>> {
    conn.prepare_cached(select_contacts!("FROM contacts ORDER BY id"))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

pub fn booking_set_status(conn: &Connection, id: i64, status: &str) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE bookings SET status = ?2 WHERE id = ?1 AND status = 'booked'",
        params![id, status],
    )?;
    Ok(())
}

pub fn booking_set_tablet(conn: &Connection, id: i64, tablet_id: i64) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE bookings SET tablet_id = ?2 WHERE id = ?1 AND status = 'booked'",
        params![id, tablet_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::query_plan as plan;

    /// A visit is found by its start and code hash through
    /// `bookings_visit`; by the hash alone only among the bookings made
    /// before schema 8. A person's contacts are found on whichever day they
    /// were given, through `contacts_email`; nothing else is found.
    #[test]
    fn codes_and_addresses_are_found_through_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_command(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO units VALUES (1, 'Ward 3', 'UTC', '', 30, 10, 7, 2, 10, 5, 'name', 0);
             INSERT INTO tablets (id, unit_id, label, created_at) VALUES (1, 1, 'T1', 0);
             INSERT INTO patients (id, unit_id, label, status, invite_hash, created_at)
                 VALUES (1, 1, 'Bed 1', 'active', x'01', 0);",
        )
        .unwrap();
        // Days 20300, 20303 (nothing between) and 20310, two on the first.
        let starts: Vec<i64> = [20_300, 20_300, 20_303, 20_310, 20_310]
            .iter()
            .enumerate()
            .map(|(i, d)| d * 86_400 + 3600 * i as i64)
            .collect();
        let mut ids = Vec::new();
        for (i, &start) in starts.iter().enumerate() {
            let email = if i % 2 == 0 {
                "ann@example.org"
            } else {
                "bo@example.org"
            };
            let contact = contact_insert(&conn, "A", email, "en", "1", start - 86_400).unwrap();
            let hash = [i as u8 + 1; 32];
            let id = booking_insert(
                &conn,
                &NewBookingRow {
                    patient_id: 1,
                    contact_id: Some(contact),
                    tablet_id: 1,
                    starts_at: start,
                    ends_at: start + 1800,
                    room: "r",
                    visit_hash: &hash,
                    local_day: "2025-01-01",
                },
                start - 86_400,
            )
            .unwrap();
            ids.push((id, contact));
            if i == 0 {
                // As if the first had been booked before migration 8.
                conn.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'visit_codes.legacy_until'",
                    [id.to_string()],
                )
                .unwrap();
            }
        }
        for (i, ((id, _), start)) in ids.iter().zip(&starts).enumerate() {
            let hash = [i as u8 + 1; 32];
            let found = booking_by_visit(&conn, Some(*start), &hash).unwrap();
            assert_eq!(found.map(|b| b.id), Some(*id));
            let wrong_start = booking_by_visit(&conn, Some(start + 60), &hash).unwrap();
            assert!(wrong_start.is_none());
            let no_start = booking_by_visit(&conn, None, &hash).unwrap();
            assert_eq!(
                no_start.map(|b| b.id),
                (i == 0).then_some(*id),
                "booking {i}"
            );
        }
        assert!(
            booking_by_visit(&conn, Some(starts[0]), &[99; 32])
                .unwrap()
                .is_none()
        );
        let ann: Vec<i64> = ids.iter().step_by(2).map(|(_, c)| *c).collect();
        assert_eq!(
            contact_ids_by_email(&conn, " ANN@example.org").unwrap(),
            ann
        );
        assert_eq!(
            contact_ids_by_email(&conn, "bo@example.org").unwrap().len(),
            2
        );
        assert!(
            contact_ids_by_email(&conn, "cy@example.org")
                .unwrap()
                .is_empty()
        );

        // Equalities on both columns of each index, not a scan.
        let visit = plan(&conn, BY_VISIT_CODE, params![starts[0], vec![1u8; 32]]);
        assert!(
            visit.contains("USING INDEX bookings_visit (starts_at=? AND visit_hash=?)"),
            "{visit}"
        );
        let old = plan(&conn, BY_OLD_VISIT_CODE, [vec![1u8; 32]]);
        assert!(old.contains("INTEGER PRIMARY KEY (rowid<?)"), "{old}");
        let contacts = plan(&conn, CONTACTS_BY_EMAIL, ["ann@example.org"]);
        assert!(
            contacts.contains("INDEX contacts_email (<expr>=? AND email_key=?)"),
            "{contacts}"
        );
        // A tablet's live bookings around a time, through the index of
        // live bookings (schema 9 has no other by tablet).
        let busy = plan(&conn, BUSY_BETWEEN, params![1, 0, 3600, MAX_VISIT_SECS]);
        assert!(
            busy.contains(
                "INDEX bookings_tablet_start (tablet_id=? AND starts_at>? AND starts_at<?)"
            ),
            "{busy}"
        );
        let future = plan(&conn, FUTURE_ON_TABLET, params![1, 0, MAX_VISIT_SECS]);
        assert!(
            future.contains("INDEX bookings_tablet_start (tablet_id=? AND starts_at>?)"),
            "{future}"
        );
    }

    /// `first_free_tablet` picks what the full `busy_between` scan and
    /// `free_tablets` would, on tablets holding non-overlapping live
    /// bookings of mixed lengths, cancelled ones overlapping them, an
    /// inactive tablet and another unit's, for windows of every size and
    /// place.
    #[test]
    fn the_first_free_tablet_agrees_with_scanning_every_booking() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_command(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO units VALUES (1, 'Ward 3', 'UTC', '', 30, 10, 7, 2, 10, 5, 'name', 0),
                 (2, 'Ward 4', 'UTC', '', 30, 10, 7, 2, 10, 5, 'name', 0);
             INSERT INTO tablets (id, unit_id, label, active, created_at) VALUES
                 (1, 2, 'Other', 1, 0), (2, 1, 'T1', 1, 0), (3, 1, 'Off', 0, 0),
                 (4, 1, 'T2', 1, 0), (5, 1, 'T3', 1, 0);
             INSERT INTO patients (id, unit_id, label, status, invite_hash, created_at)
                 VALUES (1, 1, 'Bed 1', 'active', x'01', 0);",
        )
        .unwrap();
        let mut rng = fastrand::Rng::with_seed(8);
        let mut n = 0;
        for tablet in 1..=5i64 {
            let mut t = 0i64;
            while t < 40 * 3600 {
                let len = [5, 15, 30, 60, 240][rng.usize(..5)] * 60;
                let status = ["booked", "done", "no-show", "cancelled"][rng.usize(..4)];
                n += 1;
                conn.execute(
                    "INSERT INTO bookings (patient_id, tablet_id, starts_at, ends_at, room,
                         visit_hash, status, created_at)
                     VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, 0)",
                    params![
                        tablet,
                        t,
                        t + len,
                        format!("r{n}"),
                        vec![n as u8, (n >> 8) as u8],
                        status
                    ],
                )
                .unwrap();
                // A cancelled booking frees its time: the next may overlap it.
                t += if status == "cancelled" {
                    len / 2
                } else {
                    len + rng.i64(0..2400)
                };
            }
        }
        let (mut free, mut full) = (0, 0);
        for _ in 0..3000 {
            let from = rng.i64(-3600..42 * 3600);
            let until = from + rng.i64(60..3 * 3600);
            let busy = busy_between(&conn, 1, from, until).unwrap();
            let expected = [(2, "T1"), (4, "T2"), (5, "T3")]
                .into_iter()
                .find(|(tablet, _)| !busy.iter().any(|(t, _, _)| t == tablet))
                .map(|(id, label)| (id, label.to_string()));
            let found = first_free_tablet(&conn, 1, from, until).unwrap();
            assert_eq!(found, expected, "[{from}, {until})");
            if found.is_some() {
                free += 1;
            } else {
                full += 1;
            }
        }
        assert!(free > 100 && full > 100, "{free} free, {full} full");
    }
}
