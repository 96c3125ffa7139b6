//! Queries on `patients`.

use crate::store::CachedExt;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A `patients` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRow {
    pub id: i64,
    pub unit_id: i64,
    pub label: String,
    pub active: bool,
}

fn patient_row(r: &Row<'_>) -> rusqlite::Result<PatientRow> {
    Ok(PatientRow {
        id: r.get(0)?,
        unit_id: r.get(1)?,
        label: r.get(2)?,
        active: r.get::<_, String>(3)? == "active",
    })
}

pub fn patient_insert(
    conn: &Connection,
    unit_id: i64,
    label: &str,
    invite_hash: &[u8],
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute_cached(
        "INSERT INTO patients (unit_id, label, status, invite_hash, created_at)
         VALUES (?1, ?2, 'active', ?3, ?4)",
        params![unit_id, label, invite_hash, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The active patient an invite belongs to; discharged patients' invites
/// find nothing.
pub fn patient_by_invite(
    conn: &Connection,
    invite_hash: &[u8],
) -> rusqlite::Result<Option<PatientRow>> {
    conn.query_row_cached(
        "SELECT id, unit_id, label, status FROM patients
         WHERE invite_hash = ?1 AND status = 'active'",
        [invite_hash],
        patient_row,
    )
    .optional()
}

pub fn patient_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<PatientRow>> {
    conn.query_row_cached(
        "SELECT id, unit_id, label, status FROM patients WHERE id = ?1",
        [id],
        patient_row,
    )
    .optional()
}

pub fn patients_of_unit(conn: &Connection, unit_id: i64) -> rusqlite::Result<Vec<PatientRow>> {
    conn.prepare_cached(
        "SELECT id, unit_id, label, status FROM patients
         WHERE unit_id = ?1 AND status = 'active' ORDER BY label, id",
    )?
    .query_map([unit_id], patient_row)?
    .collect()
}

pub fn patient_discharge(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE patients SET status = 'discharged', discharged_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}
