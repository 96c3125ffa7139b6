//! The outbox table: every mail is a row first, written in the transaction
//! that causes it, then claimed by the sender with a lease, sent, and
//! marked. A crash after the relay's `250` but before the mark lets the
//! lease run out and the row be sent again: at most one duplicate, never a
//! lost mail.

use crate::store::CachedExt;
use rusqlite::{Connection, OptionalExtension, params};

/// How long a claimed row is the sender's alone. Longer than any SMTP
/// exchange takes; after it, another attempt may claim the row.
pub const LEASE_SECS: i64 = 120;

/// A mail to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    pub kind: &'a str,
    pub booking_id: Option<i64>,
    pub meeting_id: Option<i64>,
    pub message_id: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// The calendar file and its method (REQUEST, CANCEL), if any.
    pub ics: Option<(&'a str, &'a str)>,
    pub due_at: i64,
    /// Never sent at or after this instant (the visit is over).
    pub stale_at: i64,
}

/// The content columns are sealed with the data key registered on the
/// connection (see [`crate::crypto::register`]): a queued mail holds the
/// family's address and calendar invitation until it is sent.
pub fn enqueue(conn: &Connection, m: &NewMail<'_>, now: i64) -> rusqlite::Result<i64> {
    insert(
        conn,
        "INSERT INTO outbox (kind, booking_id, meeting_id, message_id, recipient, subject,
             body_text, body_html, ics, ics_method, status, due_at, stale_at, created_at)
         VALUES (?1, ?2, ?3, ?4, bedside_seal_text('outbox.recipient', ?4, ?5),
             bedside_seal_text('outbox.subject', ?4, ?6),
             bedside_seal_text('outbox.body_text', ?4, ?7),
             bedside_seal_text('outbox.body_html', ?4, ?8),
             bedside_seal_text('outbox.ics', ?4, ?9), ?10, 'pending', ?11, ?12, ?13)",
        m,
        now,
    )
}

/// [`enqueue`] for a mail whose recipient, subject and bodies were sealed
/// before the transaction ([`crate::crypto::DataKey::seal_text`], under the
/// contexts [`enqueue`] uses), so the writer does not spend its time on
/// them. The calendar file is sealed here: a booking's names the booking's
/// id, which exists only in the transaction.
pub fn enqueue_sealed(conn: &Connection, m: &NewMail<'_>, now: i64) -> rusqlite::Result<i64> {
    insert(
        conn,
        "INSERT INTO outbox (kind, booking_id, meeting_id, message_id, recipient, subject,
             body_text, body_html, ics, ics_method, status, due_at, stale_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, bedside_seal_text('outbox.ics', ?4, ?9), ?10,
             'pending', ?11, ?12, ?13)",
        m,
        now,
    )
}

/// Runs one of the two outbox `INSERT`s (their parameters are the same).
fn insert(conn: &Connection, sql: &str, m: &NewMail<'_>, now: i64) -> rusqlite::Result<i64> {
    conn.execute_cached(
        sql,
        params![
            m.kind,
            m.booking_id,
            m.meeting_id,
            m.message_id,
            m.recipient,
            m.subject,
            m.text,
            m.html,
            m.ics.map(|(text, _)| text),
            m.ics.map(|(_, method)| method),
            m.due_at,
            m.stale_at,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Re-seals the content of every mail still held under `new` (key
/// rotation); the connection's registered key opens the current content.
/// Returns how many rows.
pub fn reseal_all(conn: &Connection, new: &crate::crypto::DataKey) -> rusqlite::Result<usize> {
    type Content = [Option<String>; 5];
    const COLUMNS: [&str; 5] = ["recipient", "subject", "body_text", "body_html", "ics"];
    let rows: Vec<(i64, String, Content)> = conn
        .prepare(
            "SELECT id, message_id,
                    bedside_open_text('outbox.recipient', message_id, recipient),
                    bedside_open_text('outbox.subject', message_id, subject),
                    bedside_open_text('outbox.body_text', message_id, body_text),
                    bedside_open_text('outbox.body_html', message_id, body_html),
                    bedside_open_text('outbox.ics', message_id, ics)
             FROM outbox
             WHERE coalesce(recipient, subject, body_text, body_html, ics) IS NOT NULL",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, message_id, content) in &rows {
        let mut sealed: Vec<Option<String>> = Vec::new();
        for (column, value) in COLUMNS.iter().zip(content) {
            sealed.push(match value {
                Some(v) => Some(
                    new.seal_text(
                        &crate::crypto::context(&format!("outbox.{column}"), message_id),
                        v,
                    )
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?,
                ),
                None => None,
            });
        }
        conn.execute_cached(
            "UPDATE outbox SET recipient = ?2, subject = ?3, body_text = ?4, body_html = ?5,
                 ics = ?6 WHERE id = ?1",
            params![id, sealed[0], sealed[1], sealed[2], sealed[3], sealed[4]],
        )?;
    }
    Ok(rows.len())
}

/// Drops a booking's pending mails of `kinds` (e.g. its reminder once it is
/// cancelled): they go stale unsent, their content cleared.
pub fn drop_pending(
    conn: &Connection,
    booking_id: i64,
    kinds: &[&str],
    why: &str,
    now: i64,
) -> rusqlite::Result<usize> {
    let mut dropped = 0;
    for kind in kinds {
        dropped += conn.execute_cached(
            "UPDATE outbox SET status = 'stale', last_error = ?3, finished_at = ?4,
                 recipient = NULL, subject = NULL, body_text = NULL, body_html = NULL, ics = NULL
             WHERE booking_id = ?1 AND kind = ?2 AND status = 'pending'",
            params![booking_id, kind, why, now],
        )?;
    }
    Ok(dropped)
}

/// A row claimed for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub message_id: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub ics: Option<(String, String)>,
    pub attempts: i64,
    pub created_at: i64,
}

const CLAIM_DUE: &str = "SELECT id, kind, message_id,
        bedside_open_text('outbox.recipient', message_id, recipient),
        bedside_open_text('outbox.subject', message_id, subject),
        bedside_open_text('outbox.body_text', message_id, body_text),
        bedside_open_text('outbox.body_html', message_id, body_html),
        bedside_open_text('outbox.ics', message_id, ics), ics_method,
        attempts, created_at, stale_at
     FROM outbox
     WHERE status = 'pending' AND due_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
     ORDER BY due_at, id LIMIT ?2";

/// Takes the first `limit` due rows: claims each for `LEASE_SECS`, or, if
/// its visit is over, marks it stale instead (never sent). Only those rows
/// are looked at, so a claim costs the same however many mails are due or
/// wait for later days (it runs on the writer at every round of the
/// sender); [`drop_stale`] clears the others. Returns the claimed rows and
/// how many went stale: fewer than `limit` claimed does not mean nothing
/// else is due.
///
/// Through `outbox_pending`, which holds mail still to send alone, in the
/// order it is due.
pub fn claim_due(
    conn: &Connection,
    now: i64,
    limit: i64,
) -> rusqlite::Result<(Vec<Claimed>, usize)> {
    let rows: Vec<(Claimed, i64)> = conn
        .prepare_cached(CLAIM_DUE)?
        .query_map(params![now, limit], |r| {
            let ics: Option<String> = r.get(7)?;
            let method: Option<String> = r.get(8)?;
            Ok((
                Claimed {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    message_id: r.get(2)?,
                    recipient: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    subject: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    text: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    html: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    ics: ics.zip(method),
                    attempts: r.get(9)?,
                    created_at: r.get(10)?,
                },
                r.get(11)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (mut claimed, mut stale) = (Vec::with_capacity(rows.len()), 0);
    for (row, stale_at) in rows {
        if stale_at <= now {
            conn.execute_cached(
                "UPDATE outbox SET status = 'stale', last_error = ?3, finished_at = ?2,
                     recipient = NULL, subject = NULL, body_text = NULL, body_html = NULL, ics = NULL
                 WHERE id = ?1",
                params![row.id, now, STALE_REASON],
            )?;
            stale += 1;
        } else {
            conn.execute_cached(
                "UPDATE outbox SET lease_until = ?2, attempts = attempts + 1 WHERE id = ?1",
                params![row.id, now + LEASE_SECS],
            )?;
            claimed.push(row);
        }
    }
    Ok((claimed, stale))
}

/// What a mail that went stale records.
const STALE_REASON: &str = "the visit was over before the mail could go";

/// Marks every pending row whose visit is over as stale and clears its
/// content, those not due yet too (a retry put after the visit's end).
/// It reads every pending row — each reminder of the days ahead — so the
/// sender runs it now and then ([`super::sender::STALE_SWEEP_EVERY`]), not
/// at every claim. Returns how many rows.
pub fn drop_stale(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute_cached(
        "UPDATE outbox SET status = 'stale', last_error = ?2, finished_at = ?1,
             recipient = NULL, subject = NULL, body_text = NULL, body_html = NULL, ics = NULL
         WHERE status = 'pending' AND stale_at <= ?1
           AND (lease_until IS NULL OR lease_until <= ?1)",
        params![now, STALE_REASON],
    )
}

/// The relay accepted the mail: keep the record, drop the content.
pub fn mark_sent(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE outbox SET status = 'sent', finished_at = ?2, lease_until = NULL, last_error = NULL,
             recipient = NULL, subject = NULL, body_text = NULL, body_html = NULL, ics = NULL
         WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// A temporary failure: try again at `due_at`.
pub fn mark_retry(conn: &Connection, id: i64, due_at: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE outbox SET due_at = ?2, lease_until = NULL, last_error = ?3 WHERE id = ?1",
        params![id, due_at, error],
    )?;
    Ok(())
}

/// A permanent failure (or too many temporary ones): keep the relay's
/// reply for admins, and the content so an admin can retry once the cause
/// is fixed (retention purges it with the row).
pub fn mark_failed(conn: &Connection, id: i64, error: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE outbox SET status = 'failed', finished_at = ?3, lease_until = NULL, last_error = ?2
         WHERE id = ?1",
        params![id, error, now],
    )?;
    Ok(())
}

/// How many rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub stale: i64,
}

pub fn counts(conn: &Connection) -> rusqlite::Result<Counts> {
    let mut c = Counts::default();
    let mut stmt = conn.prepare_cached("SELECT status, count(*) FROM outbox GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (status, n) = row?;
        match status.as_str() {
            "pending" => c.pending = n,
            "sent" => c.sent = n,
            "failed" => c.failed = n,
            _ => c.stale = n,
        }
    }
    Ok(c)
}

/// A failed mail, for admins: (id, kind, created_at, the relay's reply).
pub fn failed(conn: &Connection, limit: i64) -> rusqlite::Result<Vec<(i64, String, i64, String)>> {
    conn.prepare_cached(
        "SELECT id, kind, created_at, coalesce(last_error, '') FROM outbox
         WHERE status = 'failed' ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?
    .collect()
}

/// Puts a failed mail back in the queue, if its content is still there
/// and its visit not over. False when it cannot be retried.
pub fn retry_failed(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let ready: Option<i64> = conn
        .query_row(
            "SELECT id FROM outbox WHERE id = ?1 AND status = 'failed' AND body_text IS NOT NULL
                 AND recipient IS NOT NULL AND stale_at > ?2",
            params![id, now],
            |r| r.get(0),
        )
        .optional()?;
    if ready.is_none() {
        return Ok(false);
    }
    conn.execute_cached(
        "UPDATE outbox SET status = 'pending', due_at = ?2, attempts = 0, created_at = ?2,
             finished_at = NULL, lease_until = NULL WHERE id = ?1",
        params![id, now],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail<'a>(message_id: &'a str, due_at: i64, stale_at: i64) -> NewMail<'a> {
        NewMail {
            kind: "confirmation",
            booking_id: None,
            meeting_id: None,
            message_id,
            recipient: "anna@example.org",
            subject: "Your visit",
            text: "text",
            html: "<p>html</p>",
            ics: None,
            due_at,
            stale_at,
        }
    }

    fn status(conn: &Connection, message_id: &str) -> (String, Option<String>) {
        conn.query_row(
            "SELECT status, recipient FROM outbox WHERE message_id = ?1",
            [message_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    /// A claim drops the due mail of visits that are over and sends the
    /// rest; a mail not due before its visit ended (a retry put late) is
    /// left to the sweep, which clears it too.
    #[test]
    fn mail_of_past_visits_is_never_claimed_and_the_sweep_clears_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_command(&dir.path().join("t.db")).unwrap();
        let now = 1_000;
        enqueue(&conn, &mail("due", 900, 2_000), 0).unwrap();
        enqueue(&conn, &mail("due-over", 900, 950), 0).unwrap();
        enqueue(&conn, &mail("later-over", 1_100, 950), 0).unwrap();
        enqueue(&conn, &mail("later", 1_100, 2_000), 0).unwrap();

        let (claimed, stale) = claim_due(&conn, now, 10).unwrap();
        assert_eq!(stale, 1);
        let ids: Vec<&str> = claimed.iter().map(|c| c.message_id.as_str()).collect();
        assert_eq!(ids, ["due"]);
        assert_eq!(claimed[0].recipient, "anna@example.org");
        assert_eq!(status(&conn, "due-over"), ("stale".into(), None));
        assert_eq!(status(&conn, "later-over").0, "pending");

        assert_eq!(drop_stale(&conn, now).unwrap(), 1);
        assert_eq!(status(&conn, "later-over"), ("stale".into(), None));
        assert_eq!(status(&conn, "later").0, "pending");
        // The claimed mail is leased, not stale: it is being sent.
        assert_eq!(status(&conn, "due").0, "pending");
    }

    /// The sender finds due mail in the index of mail still to send, in
    /// the order it claims it: no scan of the outbox, no sort.
    #[test]
    fn due_mail_is_found_through_the_index_of_pending_mail() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_command(&dir.path().join("t.db")).unwrap();
        let plan = crate::store::query_plan(&conn, CLAIM_DUE, params![0, 10]);
        assert_eq!(plan, "SEARCH outbox USING INDEX outbox_pending (due_at<?)");
    }
}
