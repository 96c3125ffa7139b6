//! Tablets: the devices that carry a visit to the bed.

use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::audit::{self, Actor};
use super::codes::Code;
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

/// The tablet with this id.
pub fn by_id(conn: &Connection, id: i64) -> Result<TabletRow, DomainError> {
    q::tablet_by_id(conn, id)?.ok_or(DomainError::NotFound)
}

/// Every unit's tablets, each with whether a device link has been issued.
pub fn list_all(conn: &Connection) -> Result<Vec<(TabletRow, bool)>, DomainError> {
    Ok(q::tablets_all(conn)?)
}

/// As [`add`], for the unit with this id (from a form's choice), audited.
pub fn add_to_unit(
    conn: &Connection,
    unit_id: i64,
    label: &str,
    actor: Actor,
    now: i64,
) -> Result<TabletRow, DomainError> {
    let unit = q::unit_by_id(conn, unit_id)?
        .ok_or_else(|| DomainError::invalid("unit_id", "choose one of the units listed"))?;
    let tablet = add(conn, &unit.name, label, now)?;
    audit::record(
        conn,
        actor,
        "tablet.add",
        Some(&format!("tablet:{}", tablet.id)),
        "ok",
        now,
    )?;
    Ok(tablet)
}

/// As [`set_active`], by id, audited. Returns how many future bookings are
/// still assigned to the tablet.
pub fn set_active_by_id(
    conn: &Connection,
    id: i64,
    active: bool,
    actor: Actor,
    now: i64,
) -> Result<u64, DomainError> {
    let tablet = by_id(conn, id)?;
    q::tablet_set_active(conn, tablet.id, active)?;
    let action = if active {
        "tablet.enable"
    } else {
        "tablet.disable"
    };
    audit::record(
        conn,
        actor,
        action,
        Some(&format!("tablet:{id}")),
        "ok",
        now,
    )?;
    Ok(crate::store::bookings::future_on_tablet(conn, id, now)?)
}

/// Issues a new device link for a tablet: a fresh code whose hash replaces
/// the previous one, so the old link stops working at once. The code is
/// returned to be shown this once; only its hash is kept.
pub fn issue_device_code(
    conn: &Connection,
    id: i64,
    actor: Actor,
    now: i64,
    rng: &dyn SecureRandom,
) -> Result<Code, DomainError> {
    let code = Code::generate(rng);
    if !q::tablet_set_device_hash(conn, id, &code.hash())? {
        return Err(DomainError::NotFound);
    }
    audit::record(
        conn,
        actor,
        "tablet.device-link",
        Some(&format!("tablet:{id}")),
        "ok",
        now,
    )?;
    Ok(code)
}
