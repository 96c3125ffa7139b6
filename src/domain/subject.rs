//! A data subject's rights (GDPR Art. 15 and 17) for a family contact:
//! everything stored about them, and erasing it.
//!
//! A person is found by the HMAC of their e-mail address (see
//! [`crate::crypto`]); every query below is bounded by their contact id, so
//! nobody else's rows are read or touched.

use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::DomainError;
use super::audit::{self, Actor};
use crate::config::RetentionConfig;
use crate::store::bookings as q;

/// What bedside holds about one family contact.
#[derive(Debug, Serialize)]
pub struct Export {
    pub contact: ContactExport,
    pub bookings: Vec<BookingExport>,
    pub mail: Vec<MailExport>,
    pub retention: RetentionExport,
}

#[derive(Debug, Serialize)]
pub struct ContactExport {
    pub name: String,
    pub email: String,
    pub language: String,
    pub consent_at: String,
    pub privacy_version: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct BookingExport {
    pub patient: String,
    pub unit: String,
    pub starts_at: String,
    pub ends_at: String,
    pub status: String,
    pub tablet: String,
    pub created_at: String,
}

#[derive(Debug, Serialize)]
pub struct MailExport {
    pub kind: String,
    pub status: String,
    pub created_at: String,
    /// When it was sent (or given up on); absent while queued.
    pub finished_at: Option<String>,
}

/// How long each kind of data is kept, in days after the visit ended.
#[derive(Debug, Serialize)]
pub struct RetentionExport {
    pub booking_days: u32,
    pub mail_days: u32,
    pub patient_days: u32,
    pub audit_days: u32,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub contact_id: i64,
    pub cancelled: usize,
    pub bookings: usize,
    pub mail: usize,
}

fn utc(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn contact_id(conn: &Connection, email: &str) -> Result<i64, DomainError> {
    q::contact_id_by_email(conn, email)?.ok_or(DomainError::NotFound)
}

/// Everything stored about the person with `email` (Art. 15).
pub fn export(
    conn: &Connection,
    email: &str,
    retention: &RetentionConfig,
) -> Result<Export, DomainError> {
    let id = contact_id(conn, email)?;
    let plain = q::contact_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    let (consent_at, privacy_version, created_at): (i64, String, i64) = conn.query_row(
        "SELECT consent_at, privacy_version, created_at FROM contacts WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let bookings = conn
        .prepare(
            "SELECT p.label, u.name, b.starts_at, b.ends_at, b.status, t.label, b.created_at
             FROM bookings b JOIN patients p ON p.id = b.patient_id
                             JOIN units u ON u.id = p.unit_id
                             JOIN tablets t ON t.id = b.tablet_id
             WHERE b.contact_id = ?1 ORDER BY b.starts_at, b.id",
        )?
        .query_map([id], |r| {
            Ok(BookingExport {
                patient: r.get(0)?,
                unit: r.get(1)?,
                starts_at: utc(r.get(2)?),
                ends_at: utc(r.get(3)?),
                status: r.get(4)?,
                tablet: r.get(5)?,
                created_at: utc(r.get(6)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mail = conn
        .prepare(
            "SELECT o.kind, o.status, o.created_at, o.finished_at FROM outbox o
             JOIN bookings b ON b.id = o.booking_id
             WHERE b.contact_id = ?1 ORDER BY o.id",
        )?
        .query_map([id], |r| {
            Ok(MailExport {
                kind: r.get(0)?,
                status: r.get(1)?,
                created_at: utc(r.get(2)?),
                finished_at: r.get::<_, Option<i64>>(3)?.map(utc),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Export {
        contact: ContactExport {
            name: plain.name,
            email: plain.email,
            language: plain.language,
            consent_at: utc(consent_at),
            privacy_version,
            created_at: utc(created_at),
        },
        bookings,
        mail,
        retention: RetentionExport {
            booking_days: retention.booking_days,
            mail_days: retention.mail_days,
            patient_days: retention.patient_days,
            audit_days: retention.audit_days,
        },
    })
}

/// Erases the person with `email` (Art. 17): their future visits are
/// cancelled (without mail), then their bookings, the mail about them and
/// the contact are deleted, and an audit entry records the counts. Run it in
/// one transaction.
pub fn erase(
    conn: &Connection,
    email: &str,
    actor: Actor,
    now: i64,
) -> Result<Erased, DomainError> {
    let id = contact_id(conn, email)?;
    // Cancelled first, so the per-day counts record the visit as cancelled.
    let cancelled = conn.execute(
        "UPDATE bookings SET status = 'cancelled', cancelled_by = 'family', cancelled_at = ?2
         WHERE contact_id = ?1 AND status = 'booked' AND ends_at > ?2",
        params![id, now],
    )?;
    let mail = conn.execute(
        "DELETE FROM outbox WHERE booking_id IN (SELECT id FROM bookings WHERE contact_id = ?1)",
        [id],
    )?;
    let bookings = conn.execute("DELETE FROM bookings WHERE contact_id = ?1", [id])?;
    conn.execute("DELETE FROM contacts WHERE id = ?1", [id])?;
    let erased = Erased {
        contact_id: id,
        cancelled,
        bookings,
        mail,
    };
    audit::record(
        conn,
        actor,
        "subject.erase",
        Some(&format!("contact:{id}")),
        &format!("cancelled={cancelled} bookings={bookings} mail={mail} contacts=1"),
        now,
    )?;
    Ok(erased)
}
