//! A data subject's rights (GDPR Art. 15 and 17) for a family contact,
//! or anyone an instant meeting's guest link was mailed to: everything
//! stored about them, and erasing it.
//!
//! A family's contacts (one per booking) are found by the HMAC of their
//! e-mail address (see [`crate::crypto`]), and every query about them is
//! bounded by those contact ids. Mail still held in the outbox (queued, or refused by the
//! relay) is found by opening its sealed recipient; `.eml` files written
//! without a relay by their `To:` header. An address is compared
//! normalised (trimmed, lower case), as the lookup key is. Nobody else's
//! rows or files are read into the result or touched.
//!
//! A mail that has been sent keeps no address (its content is cleared on
//! sending), so it names nobody and is not part of anyone's export.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::DomainError;
use super::audit::{self, Actor};
use crate::config::RetentionConfig;
use crate::store::bookings as q;

/// What bedside holds about one person.
#[derive(Debug, Serialize)]
pub struct Export {
    /// One per booking (name, address, language and consent as given
    /// with it), oldest first; empty when the address only received a
    /// guest link.
    pub contacts: Vec<ContactExport>,
    pub bookings: Vec<BookingExport>,
    pub mail: Vec<MailExport>,
    /// Mail written as `.eml` files (no relay configured) addressed to them.
    pub mail_files: Vec<MailFileExport>,
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
    /// Where the mail still holds them, the address it goes to.
    pub recipient: Option<String>,
    /// For a guest link: the instant meeting it invites to.
    pub meeting: Option<MeetingExport>,
}

#[derive(Debug, Serialize)]
pub struct MeetingExport {
    pub unit: String,
    pub starts_at: String,
    pub ends_at: String,
}

#[derive(Debug, Serialize)]
pub struct MailFileExport {
    /// The file's name in the mail directory.
    pub file: String,
    pub written_at: String,
}

/// How long each kind of data is kept, in days.
#[derive(Debug, Serialize)]
pub struct RetentionExport {
    /// After the visit's (or instant meeting's) end.
    pub booking_days: u32,
    /// After the mail was sent or written to a file.
    pub mail_days: u32,
    pub patient_days: u32,
    pub audit_days: u32,
}

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The family contacts the address belonged to (one per booking).
    pub contact_ids: Vec<i64>,
    pub cancelled: usize,
    pub bookings: usize,
    /// Outbox rows: their bookings' and any other still addressed to them.
    pub mail: usize,
    pub mail_files: usize,
}

fn utc(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// An address the way lookups compare it.
fn normal(email: &str) -> String {
    email.trim().to_lowercase()
}

fn io_failed(dir: &Path, e: std::io::Error) -> DomainError {
    DomainError::Conflict(format!(
        "cannot read the mail directory {}: {e}; check its permissions",
        dir.display()
    ))
}

/// Outbox rows that still hold `email` as their recipient (queued or
/// refused mail; sent mail holds no address), by id.
fn outbox_addressed_to(conn: &Connection, email: &str) -> rusqlite::Result<Vec<i64>> {
    let wanted = normal(email);
    let rows: Vec<(i64, Option<String>)> = conn
        .prepare(
            "SELECT id, bedside_open_text('outbox.recipient', message_id, recipient)
             FROM outbox WHERE recipient IS NOT NULL ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .filter(|(_, to)| to.as_deref().is_some_and(|to| normal(to) == wanted))
        .map(|(id, _)| id)
        .collect())
}

/// The `.eml` files in `dir` addressed (`To:`) to `email`, with the time
/// each was written.
pub fn mail_files_to(dir: &Path, email: &str) -> std::io::Result<Vec<(PathBuf, i64)>> {
    let wanted = normal(email);
    let parser = mail_parser::MessageParser::new();
    let mut found = Vec::new();
    for (path, written) in crate::retention::mail_files(dir)? {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let addressed = parser
            .parse_headers(&bytes[..])
            .and_then(|m| {
                m.to().map(|to| {
                    to.iter()
                        .filter_map(|a| a.address())
                        .any(|a| normal(a) == wanted)
                })
            })
            .unwrap_or(false);
        if addressed {
            found.push((path, written));
        }
    }
    Ok(found)
}

/// Everything stored about the person with `email` (Art. 15), `.eml` files
/// in `mail_dir` included. `NotFound` when there is nothing.
pub fn export(
    conn: &Connection,
    email: &str,
    retention: &RetentionConfig,
    mail_dir: &Path,
) -> Result<Export, DomainError> {
    let ids = q::contact_ids_by_email(conn, email)?;
    let mut contacts = Vec::with_capacity(ids.len());
    for &id in &ids {
        let plain = q::contact_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
        let (consent_at, privacy_version, created_at): (i64, String, i64) = conn.query_row(
            "SELECT consent_at, privacy_version, created_at FROM contacts WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        contacts.push(ContactExport {
            name: plain.name,
            email: plain.email,
            language: plain.language,
            consent_at: utc(consent_at),
            privacy_version,
            created_at: utc(created_at),
        });
    }
    let id_list = serde_json::to_string(&ids).unwrap_or_default();
    let bookings = conn
        .prepare(
            "SELECT p.label, u.name, b.starts_at, b.ends_at, b.status, t.label, b.created_at
             FROM bookings b JOIN patients p ON p.id = b.patient_id
                             JOIN units u ON u.id = p.unit_id
                             JOIN tablets t ON t.id = b.tablet_id
             WHERE b.contact_id IN (SELECT value FROM json_each(?1))
             ORDER BY b.starts_at, b.id",
        )?
        .query_map([&id_list], |r| {
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
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Their bookings' mail, and any other mail still addressed to them
    // (guest links of instant meetings; the cancellation of a visit staff
    // deleted).
    let mut ids: Vec<i64> = conn
        .prepare(
            "SELECT o.id FROM outbox o JOIN bookings b ON b.id = o.booking_id
             WHERE b.contact_id IN (SELECT value FROM json_each(?1))",
        )?
        .query_map([&id_list], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.extend(outbox_addressed_to(conn, email)?);
    ids.sort_unstable();
    ids.dedup();
    let mut one_mail = conn.prepare(
        "SELECT o.kind, o.status, o.created_at, o.finished_at,
                bedside_open_text('outbox.recipient', o.message_id, o.recipient),
                u.name, m.starts_at, m.ends_at
         FROM outbox o LEFT JOIN meetings m ON m.id = o.meeting_id
                       LEFT JOIN units u ON u.id = m.unit_id
         WHERE o.id = ?1",
    )?;
    let mut mail = Vec::new();
    for mail_id in &ids {
        mail.push(one_mail.query_row([mail_id], |r| {
            let unit: Option<String> = r.get(5)?;
            let meeting = match (
                unit,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ) {
                (Some(unit), Some(starts), Some(ends)) => Some(MeetingExport {
                    unit,
                    starts_at: utc(starts),
                    ends_at: utc(ends),
                }),
                _ => None,
            };
            Ok(MailExport {
                kind: r.get(0)?,
                status: r.get(1)?,
                created_at: utc(r.get(2)?),
                finished_at: r.get::<_, Option<i64>>(3)?.map(utc),
                recipient: r.get(4)?,
                meeting,
            })
        })?);
    }
    let mail_files: Vec<MailFileExport> = mail_files_to(mail_dir, email)
        .map_err(|e| io_failed(mail_dir, e))?
        .into_iter()
        .map(|(path, written)| MailFileExport {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            written_at: utc(written),
        })
        .collect();
    if contacts.is_empty() && mail.is_empty() && mail_files.is_empty() {
        return Err(DomainError::NotFound);
    }
    Ok(Export {
        contacts,
        bookings,
        mail,
        mail_files,
        retention: RetentionExport {
            booking_days: retention.booking_days,
            mail_days: retention.mail_days,
            patient_days: retention.patient_days,
            audit_days: retention.audit_days,
        },
    })
}

/// How the audit trail names a person's contacts: by kind and ids
/// (`contact:3`, `contact:3,8,12`); `None` for no contact.
pub fn audit_object(contact_ids: &[i64]) -> Option<String> {
    let ids: Vec<String> = contact_ids.iter().map(i64::to_string).collect();
    (!ids.is_empty()).then(|| format!("contact:{}", ids.join(",")))
}

/// Erases the person with `email` (Art. 17): their future visits are
/// cancelled (without mail), then their bookings, every mail still
/// addressed to them (guest links included), their contacts and the `.eml`
/// files in `mail_dir` addressed to them are deleted, and an audit entry
/// records the counts — never the address. Run it in one transaction;
/// `NotFound` when there is nothing to erase.
pub fn erase(
    conn: &Connection,
    email: &str,
    actor: Actor,
    now: i64,
    mail_dir: &Path,
) -> Result<Erased, DomainError> {
    let ids = q::contact_ids_by_email(conn, email)?;
    let addressed = outbox_addressed_to(conn, email)?;
    let files = mail_files_to(mail_dir, email).map_err(|e| io_failed(mail_dir, e))?;
    if ids.is_empty() && addressed.is_empty() && files.is_empty() {
        return Err(DomainError::NotFound);
    }
    let (mut cancelled, mut bookings, mut mail) = (0, 0, 0);
    for &id in &ids {
        // Cancelled first, so the per-day counts record the visit as cancelled.
        cancelled += conn.execute(
            "UPDATE bookings SET status = 'cancelled', cancelled_by = 'family', cancelled_at = ?2
             WHERE contact_id = ?1 AND status = 'booked' AND ends_at > ?2",
            params![id, now],
        )?;
        mail += conn.execute(
            "DELETE FROM outbox WHERE booking_id IN (SELECT id FROM bookings WHERE contact_id = ?1)",
            [id],
        )?;
        bookings += conn.execute("DELETE FROM bookings WHERE contact_id = ?1", [id])?;
        conn.execute("DELETE FROM contacts WHERE id = ?1", [id])?;
    }
    let mut delete_mail = conn.prepare("DELETE FROM outbox WHERE id = ?1")?;
    for mail_id in &addressed {
        mail += delete_mail.execute([mail_id])?;
    }
    // Last, once every row is gone: a failure here rolls the rows back too,
    // and running the erasure again finishes the job.
    let mut mail_files = 0;
    for (path, _) in &files {
        match std::fs::remove_file(path) {
            Ok(()) => mail_files += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_failed(mail_dir, e)),
        }
    }
    let object = audit_object(&ids);
    let contacts = ids.len();
    let erased = Erased {
        contact_ids: ids,
        cancelled,
        bookings,
        mail,
        mail_files,
    };
    audit::record(
        conn,
        actor,
        "subject.erase",
        object.as_deref(),
        &format!(
            "cancelled={cancelled} bookings={bookings} mail={mail} contacts={contacts} mail_files={mail_files}"
        ),
        now,
    )?;
    Ok(erased)
}
