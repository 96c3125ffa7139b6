//! Wards ("units"): their time zone, visiting hours and booking rules.

use jiff::SignedDuration;
use jiff::tz::TimeZone;
use rusqlite::Connection;

use super::hours::VisitingHours;
use super::{DomainError, short_text};
use crate::store::units::{self as q, UnitRow};

/// How a family member is named in the call (the token's display name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyDisplay {
    /// The name they gave when booking.
    Name,
    /// "Family of <patient label>", for wards that prefer not to show names.
    Label,
}

/// A ward, checked and ready for slot computation.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: i64,
    pub name: String,
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    pub hours: VisitingHours,
    pub slot: SignedDuration,
    pub buffer: SignedDuration,
    pub horizon_days: i64,
    pub max_visits_per_day: i64,
    pub early_join: SignedDuration,
    pub grace: SignedDuration,
    pub family_display: FamilyDisplay,
}

impl Unit {
    fn from_row(row: UnitRow) -> Result<Unit, DomainError> {
        // Rows were checked on the way in; a failure here means the time
        // zone database changed under us, which must be loud.
        let time_zone = TimeZone::get(&row.time_zone).map_err(|_| {
            DomainError::invalid(
                "time_zone",
                format!(
                    "unit {}: time zone '{}' is no longer known",
                    row.name, row.time_zone
                ),
            )
        })?;
        let hours = VisitingHours::parse(&row.visiting_hours)
            .map_err(|e| DomainError::invalid("visiting_hours", e))?;
        Ok(Unit {
            id: row.id,
            name: row.name,
            time_zone_name: row.time_zone,
            time_zone,
            hours,
            slot: SignedDuration::from_mins(row.slot_minutes),
            buffer: SignedDuration::from_mins(row.buffer_minutes),
            horizon_days: row.horizon_days,
            max_visits_per_day: row.max_visits_per_day,
            early_join: SignedDuration::from_mins(row.early_join_minutes),
            grace: SignedDuration::from_mins(row.grace_minutes),
            family_display: if row.family_display == "label" {
                FamilyDisplay::Label
            } else {
                FamilyDisplay::Name
            },
        })
    }
}

/// Settings to give a new unit or change on an existing one; `None` keeps
/// the current value (or the default, for a new unit).
#[derive(Debug, Clone, Default)]
pub struct UnitSettings {
    pub time_zone: Option<String>,
    pub visiting_hours: Option<String>,
    pub slot_minutes: Option<i64>,
    pub buffer_minutes: Option<i64>,
    pub horizon_days: Option<i64>,
    pub max_visits_per_day: Option<i64>,
    pub early_join_minutes: Option<i64>,
    pub grace_minutes: Option<i64>,
    pub family_display: Option<String>,
}

/// Defaults for a new unit, chosen for a typical ward: half-hour visits with
/// ten minutes to wipe the tablet and walk to the next bed, a week ahead.
pub const DEFAULT_SLOT_MINUTES: i64 = 30;

/// The longest slot a unit may have; no visit lasts longer (queries rely on
/// it to bound their index ranges).
pub const MAX_SLOT_MINUTES: i64 = 240;
pub const DEFAULT_BUFFER_MINUTES: i64 = 10;
pub const DEFAULT_HORIZON_DAYS: i64 = 7;
pub const DEFAULT_MAX_VISITS_PER_DAY: i64 = 2;
pub const DEFAULT_EARLY_JOIN_MINUTES: i64 = 10;
pub const DEFAULT_GRACE_MINUTES: i64 = 5;

fn in_range(field: &'static str, v: i64, min: i64, max: i64) -> Result<i64, DomainError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(DomainError::invalid(
            field,
            format!("{v} is out of range; use {min} to {max}"),
        ))
    }
}

/// Applies `s` to `row`, checking every value.
fn apply(row: &mut UnitRow, s: &UnitSettings) -> Result<(), DomainError> {
    if let Some(tz) = &s.time_zone {
        TimeZone::get(tz).map_err(|_| {
            DomainError::invalid(
                "time_zone",
                format!("'{tz}' is not an IANA time zone; write e.g. Europe/Amsterdam"),
            )
        })?;
        row.time_zone = tz.clone();
    }
    if let Some(h) = &s.visiting_hours {
        row.visiting_hours = VisitingHours::parse(h)
            .map_err(|e| DomainError::invalid("visiting_hours", e))?
            .to_string();
    }
    let fields = [
        (
            "slot_minutes",
            s.slot_minutes,
            5,
            MAX_SLOT_MINUTES,
            &mut row.slot_minutes,
        ),
        (
            "buffer_minutes",
            s.buffer_minutes,
            0,
            120,
            &mut row.buffer_minutes,
        ),
        ("horizon_days", s.horizon_days, 0, 60, &mut row.horizon_days),
        (
            "max_visits_per_day",
            s.max_visits_per_day,
            1,
            20,
            &mut row.max_visits_per_day,
        ),
        (
            "early_join_minutes",
            s.early_join_minutes,
            0,
            60,
            &mut row.early_join_minutes,
        ),
        (
            "grace_minutes",
            s.grace_minutes,
            0,
            60,
            &mut row.grace_minutes,
        ),
    ];
    for (field, value, min, max, target) in fields {
        if let Some(v) = value {
            *target = in_range(field, v, min, max)?;
        }
    }
    if let Some(d) = &s.family_display {
        row.family_display = match d.as_str() {
            "name" | "label" => d.clone(),
            _ => {
                return Err(DomainError::invalid(
                    "family_display",
                    format!(
                        "'{d}' is not a choice; use name (the family member's name) or label (\"Family of <patient label>\")"
                    ),
                ));
            }
        };
    }
    Ok(())
}

/// Creates a unit; `time_zone` and `visiting_hours` are required.
pub fn add(conn: &Connection, name: &str, s: &UnitSettings, now: i64) -> Result<Unit, DomainError> {
    let name = short_text("name", name, 60)?;
    if s.time_zone.is_none() {
        return Err(DomainError::invalid(
            "time_zone",
            "is required, e.g. Europe/Amsterdam",
        ));
    }
    if s.visiting_hours.is_none() {
        return Err(DomainError::invalid(
            "visiting_hours",
            "is required, e.g. \"mon-fri 14:00-16:00, 18:00-19:30\"",
        ));
    }
    if q::unit_by_name(conn, &name)?.is_some() {
        return Err(DomainError::invalid(
            "name",
            format!("a unit called '{name}' exists already"),
        ));
    }
    let mut row = UnitRow {
        id: 0,
        name,
        time_zone: String::new(),
        visiting_hours: String::new(),
        slot_minutes: DEFAULT_SLOT_MINUTES,
        buffer_minutes: DEFAULT_BUFFER_MINUTES,
        horizon_days: DEFAULT_HORIZON_DAYS,
        max_visits_per_day: DEFAULT_MAX_VISITS_PER_DAY,
        early_join_minutes: DEFAULT_EARLY_JOIN_MINUTES,
        grace_minutes: DEFAULT_GRACE_MINUTES,
        family_display: "name".into(),
    };
    apply(&mut row, s)?;
    row.id = q::unit_insert(conn, &row, now)?;
    Unit::from_row(row)
}

/// Changes settings of an existing unit. Bookings already made keep their
/// times; new slots follow the new settings.
pub fn set(conn: &Connection, name: &str, s: &UnitSettings) -> Result<Unit, DomainError> {
    let mut row = q::unit_by_name(conn, name)?.ok_or(DomainError::NotFound)?;
    apply(&mut row, s)?;
    q::unit_update(conn, &row)?;
    Unit::from_row(row)
}

pub fn by_name(conn: &Connection, name: &str) -> Result<Unit, DomainError> {
    Unit::from_row(q::unit_by_name(conn, name)?.ok_or(DomainError::NotFound)?)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Unit, DomainError> {
    Unit::from_row(q::unit_by_id(conn, id)?.ok_or(DomainError::NotFound)?)
}

pub fn list(conn: &Connection) -> Result<Vec<Unit>, DomainError> {
    q::unit_list(conn)?
        .into_iter()
        .map(Unit::from_row)
        .collect()
}
