//! Tablets: the devices that carry a visit to the bed.

use rusqlite::Connection;

use super::{DomainError, short_text};
use crate::store::units::{self as q, TabletRow};

pub fn add(
    conn: &Connection,
    unit_name: &str,
    label: &str,
    now: i64,
) -> Result<TabletRow, DomainError> {
    let unit = q::unit_by_name(conn, unit_name)?.ok_or(DomainError::NotFound)?;
    let label = short_text("label", label, 40)?;
    if q::tablets_of_unit(conn, unit.id)?
        .iter()
        .any(|t| t.label == label)
    {
        return Err(DomainError::invalid(
            "label",
            format!("unit {} already has a tablet '{label}'", unit.name),
        ));
    }
    let id = q::tablet_insert(conn, unit.id, &label, now)?;
    Ok(TabletRow {
        id,
        unit_id: unit.id,
        label,
        active: true,
    })
}

pub fn list(conn: &Connection, unit_name: &str) -> Result<Vec<TabletRow>, DomainError> {
    let unit = q::unit_by_name(conn, unit_name)?.ok_or(DomainError::NotFound)?;
    Ok(q::tablets_of_unit(conn, unit.id)?)
}

/// Takes a tablet out of (or back into) service. Returns how many future
/// bookings are still assigned to it, so staff can move them.
pub fn set_active(
    conn: &Connection,
    unit_name: &str,
    label: &str,
    active: bool,
    now: i64,
) -> Result<u64, DomainError> {
    let unit = q::unit_by_name(conn, unit_name)?.ok_or(DomainError::NotFound)?;
    let tablet = q::tablets_of_unit(conn, unit.id)?
        .into_iter()
        .find(|t| t.label == label)
        .ok_or(DomainError::NotFound)?;
    q::tablet_set_active(conn, tablet.id, active)?;
    Ok(crate::store::bookings::future_on_tablet(
        conn, tablet.id, now,
    )?)
}
