//! Patients (a pseudonymous label on a ward) and their invites.

use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::codes::Code;
use super::notify::{CancelReason, Notifier};
use super::unit::{self, Unit};
use super::{DomainError, short_text};
use crate::store::bookings as bq;
use crate::store::patients::{self as q, PatientRow};

/// The longest patient label: "Bed 12", "Room 4 window" — a label, not a name.
pub const MAX_LABEL: usize = 40;

/// A newly registered patient and the invite to hand to the family. The
/// invite is shown this once; only its hash is kept.
#[derive(Debug)]
pub struct Registered {
    pub patient: PatientRow,
    pub invite: Code,
}

/// Registers a patient on `unit` under a pseudonymous `label`.
pub fn add(
    conn: &Connection,
    unit: &Unit,
    label: &str,
    now: i64,
    rng: &dyn SecureRandom,
) -> Result<Registered, DomainError> {
    let label = short_text("label", label, MAX_LABEL)?;
    let invite = Code::generate(rng);
    let id = q::patient_insert(conn, unit.id, &label, &invite.hash(), now)?;
    Ok(Registered {
        patient: PatientRow {
            id,
            unit_id: unit.id,
            label,
            active: true,
        },
        invite,
    })
}

/// The active patient and unit behind an invite. Unknown, malformed and
/// discharged invites are all the same `NotFound`.
pub fn by_invite(conn: &Connection, invite: &str) -> Result<(PatientRow, Unit), DomainError> {
    let code = Code::parse(invite).ok_or(DomainError::NotFound)?;
    let patient = q::patient_by_invite(conn, &code.hash())?.ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, patient.unit_id)?;
    Ok((patient, unit))
}

/// An active patient by id, with its unit (for hospital systems).
pub fn active_by_id(conn: &Connection, id: i64) -> Result<(PatientRow, Unit), DomainError> {
    let patient = q::patient_by_id(conn, id)?
        .filter(|p| p.active)
        .ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, patient.unit_id)?;
    Ok((patient, unit))
}

/// Discharges a patient: the invite stops working and every booking that
/// has not ended is cancelled. Returns how many bookings were cancelled.
pub fn discharge(
    conn: &Connection,
    patient_id: i64,
    now: i64,
    notify: Option<&dyn Notifier>,
) -> Result<usize, DomainError> {
    let patient = q::patient_by_id(conn, patient_id)?.ok_or(DomainError::NotFound)?;
    if !patient.active {
        return Err(DomainError::Conflict(
            "this patient was discharged already".into(),
        ));
    }
    q::patient_discharge(conn, patient_id, now)?;
    let cancelled = bq::cancel_future_of_patient(conn, patient_id, "discharge", now)?;
    if let Some(n) = notify {
        for booking in &cancelled {
            n.visit_cancelled(conn, *booking, CancelReason::Discharge, now)?;
        }
    }
    Ok(cancelled.len())
}

/// Active patients of a unit.
pub fn list(conn: &Connection, unit: &Unit) -> Result<Vec<PatientRow>, DomainError> {
    Ok(q::patients_of_unit(conn, unit.id)?)
}
