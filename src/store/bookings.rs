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

pub fn booking_by_visit(
    conn: &Connection,
    visit_hash: &[u8],
) -> rusqlite::Result<Option<BookingRow>> {
    // Cached: this is the lookup behind every click on a visit link.
    conn.prepare_cached(select_bookings!("WHERE b.visit_hash = ?1"))?
        .query_row([visit_hash], booking_row)
        .optional()
}

pub fn booking_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<BookingRow>> {
    conn.query_row_cached(select_bookings!("WHERE b.id = ?1"), [id], booking_row)
        .optional()
}

/// A visit's longest possible length, in seconds.
const MAX_VISIT_SECS: i64 = crate::domain::unit::MAX_SLOT_MINUTES * 60;

/// Live bookings of a unit's tablets that end after `from` and start before `until`.
pub fn busy_between(
    conn: &Connection,
    unit_id: i64,
    from: i64,
    until: i64,
) -> rusqlite::Result<Vec<(i64, i64, i64)>> {
    conn.prepare_cached(
        "SELECT b.tablet_id, b.starts_at, b.ends_at
         FROM bookings b JOIN tablets t ON t.id = b.tablet_id
         WHERE t.unit_id = ?1 AND b.status IN ('booked', 'done', 'no-show')
           AND b.ends_at > ?2 AND b.starts_at < ?3
           -- No visit is longer than the longest slot, so this bounds the
           -- (tablet, start) index range from below as well: without it
           -- every booking is checked against all earlier ones.
           AND b.starts_at > ?2 - ?4",
    )?
    .query_map(params![unit_id, from, until, MAX_VISIT_SECS], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?
    .collect()
}

/// The first active tablet of a unit, by id (the order in which
/// [`crate::domain::slots::free_tablets`] offers them), with no live
/// booking overlapping [from, until): what a booking takes. For each
/// tablet it walks the tablet's bookings backwards from `until` through the
/// covering index `bookings_tablet_span` and stops at the first live one:
/// a tablet's live bookings never overlap (each was placed, or moved, only
/// where the tablet was free), so if that one ends by `from`, every
/// earlier one does too. Typically one or two index entries per tablet, in
/// one statement rather than one per tablet.
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
               FROM bookings b INDEXED BY bookings_tablet_span
               WHERE b.tablet_id = t.id AND b.starts_at < ?3 AND b.starts_at > ?2 - ?4
                 AND (b.status = 'booked' OR b.status = 'done' OR b.status = 'no-show')
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

/// Bookings still to come on one tablet.
pub fn future_on_tablet(conn: &Connection, tablet_id: i64, now: i64) -> rusqlite::Result<u64> {
    conn.query_row_cached(
        "SELECT count(*) FROM bookings WHERE tablet_id = ?1 AND status = 'booked' AND ends_at > ?2",
        params![tablet_id, now],
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

/// Inserts a contact, or updates the one with the same e-mail address
/// (compared case-insensitively) with the latest name, language and consent.
/// Name and address are sealed with the data key (see [`crate::crypto`]);
/// the plain columns stay empty.
pub fn contact_upsert(
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
         FROM k WHERE true
         ON CONFLICT (email_key) DO UPDATE SET
             name = '', email = '', name_enc = excluded.name_enc, email_enc = excluded.email_enc,
             language = excluded.language, consent_at = excluded.consent_at,
             privacy_version = excluded.privacy_version
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

/// The contact with an e-mail address, looked up by its HMAC under the
/// connection's key.
pub fn contact_id_by_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row_cached(
        "SELECT id FROM contacts WHERE email_key = bedside_email_key(?1)",
        [email],
        |r| r.get(0),
    )
    .optional()
}

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
