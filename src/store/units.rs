//! Queries on `units` and `tablets`.

use crate::store::CachedExt;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A `units` row as stored.
#[derive(Debug, Clone)]
pub struct UnitRow {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub visiting_hours: String,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub horizon_days: i64,
    pub max_visits_per_day: i64,
    pub early_join_minutes: i64,
    pub grace_minutes: i64,
    pub family_display: String,
}

/// `SELECT <every unit column> FROM units <tail>`, built at compile time.
macro_rules! select_units {
    ($tail:literal) => {
        concat!(
            "SELECT id, name, time_zone, visiting_hours, slot_minutes, buffer_minutes, \
             horizon_days, max_visits_per_day, early_join_minutes, grace_minutes, \
             family_display FROM units ",
            $tail
        )
    };
}

fn unit_row(r: &Row<'_>) -> rusqlite::Result<UnitRow> {
    Ok(UnitRow {
        id: r.get(0)?,
        name: r.get(1)?,
        time_zone: r.get(2)?,
        visiting_hours: r.get(3)?,
        slot_minutes: r.get(4)?,
        buffer_minutes: r.get(5)?,
        horizon_days: r.get(6)?,
        max_visits_per_day: r.get(7)?,
        early_join_minutes: r.get(8)?,
        grace_minutes: r.get(9)?,
        family_display: r.get(10)?,
    })
}

pub fn unit_insert(conn: &Connection, u: &UnitRow, now: i64) -> rusqlite::Result<i64> {
    conn.execute_cached(
        "INSERT INTO units (name, time_zone, visiting_hours, slot_minutes, buffer_minutes,
             horizon_days, max_visits_per_day, early_join_minutes, grace_minutes,
             family_display, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            u.name,
            u.time_zone,
            u.visiting_hours,
            u.slot_minutes,
            u.buffer_minutes,
            u.horizon_days,
            u.max_visits_per_day,
            u.early_join_minutes,
            u.grace_minutes,
            u.family_display,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn unit_update(conn: &Connection, u: &UnitRow) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE units SET time_zone = ?2, visiting_hours = ?3, slot_minutes = ?4,
             buffer_minutes = ?5, horizon_days = ?6, max_visits_per_day = ?7,
             early_join_minutes = ?8, grace_minutes = ?9, family_display = ?10
         WHERE id = ?1",
        params![
            u.id,
            u.time_zone,
            u.visiting_hours,
            u.slot_minutes,
            u.buffer_minutes,
            u.horizon_days,
            u.max_visits_per_day,
            u.early_join_minutes,
            u.grace_minutes,
            u.family_display
        ],
    )?;
    Ok(())
}

pub fn unit_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<UnitRow>> {
    conn.query_row_cached(select_units!("WHERE name = ?1"), [name], unit_row)
        .optional()
}

pub fn unit_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<UnitRow>> {
    conn.prepare_cached(select_units!("WHERE id = ?1"))?
        .query_row([id], unit_row)
        .optional()
}

pub fn unit_list(conn: &Connection) -> rusqlite::Result<Vec<UnitRow>> {
    conn.prepare_cached(select_units!("ORDER BY name"))?
        .query_map([], unit_row)?
        .collect()
}

/// A `tablets` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabletRow {
    pub id: i64,
    pub unit_id: i64,
    pub label: String,
    pub active: bool,
}

fn tablet_row(r: &Row<'_>) -> rusqlite::Result<TabletRow> {
    Ok(TabletRow {
        id: r.get(0)?,
        unit_id: r.get(1)?,
        label: r.get(2)?,
        active: r.get(3)?,
    })
}

pub fn tablet_insert(
    conn: &Connection,
    unit_id: i64,
    label: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute_cached(
        "INSERT INTO tablets (unit_id, label, active, created_at) VALUES (?1, ?2, 1, ?3)",
        params![unit_id, label, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn tablets_of_unit(conn: &Connection, unit_id: i64) -> rusqlite::Result<Vec<TabletRow>> {
    conn.prepare_cached(
        "SELECT id, unit_id, label, active FROM tablets WHERE unit_id = ?1 ORDER BY id",
    )?
    .query_map([unit_id], tablet_row)?
    .collect()
}

pub fn tablet_set_active(conn: &Connection, id: i64, active: bool) -> rusqlite::Result<()> {
    conn.execute_cached(
        "UPDATE tablets SET active = ?2 WHERE id = ?1",
        params![id, active],
    )?;
    Ok(())
}

/// The tablet with this id.
pub fn tablet_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<TabletRow>> {
    conn.query_row_cached(
        "SELECT id, unit_id, label, active FROM tablets WHERE id = ?1",
        [id],
        tablet_row,
    )
    .optional()
}

/// Every tablet of every unit, with whether a device link is set (the
/// hash itself never leaves the database), by unit and then id.
pub fn tablets_all(conn: &Connection) -> rusqlite::Result<Vec<(TabletRow, bool)>> {
    conn.prepare_cached(
        "SELECT t.id, t.unit_id, t.label, t.active, t.device_hash IS NOT NULL
         FROM tablets t JOIN units u ON u.id = t.unit_id
         ORDER BY u.name, t.id",
    )?
    .query_map([], |r| Ok((tablet_row(r)?, r.get(4)?)))?
    .collect()
}

/// Sets the hash of a tablet's device code, replacing (and so ending) the
/// previous one. False when there is no such tablet.
pub fn tablet_set_device_hash(conn: &Connection, id: i64, hash: &[u8]) -> rusqlite::Result<bool> {
    Ok(conn.execute_cached(
        "UPDATE tablets SET device_hash = ?2 WHERE id = ?1",
        params![id, hash],
    )? == 1)
}

/// A unit's counts for one local day, from `daily_counts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyCount {
    /// `YYYY-MM-DD` in the unit's time zone.
    pub day: String,
    pub booked: i64,
    pub done: i64,
    pub no_show: i64,
    pub cancelled: i64,
}

/// A unit's daily counts for the days `from..=to` (`YYYY-MM-DD`) that
/// have any, oldest first.
pub fn daily_counts(
    conn: &Connection,
    unit_id: i64,
    from: &str,
    to: &str,
) -> rusqlite::Result<Vec<DailyCount>> {
    conn.prepare_cached(
        "SELECT day, booked, done, no_show, cancelled FROM daily_counts
         WHERE unit_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day",
    )?
    .query_map(params![unit_id, from, to], |r| {
        Ok(DailyCount {
            day: r.get(0)?,
            booked: r.get(1)?,
            done: r.get(2)?,
            no_show: r.get(3)?,
            cancelled: r.get(4)?,
        })
    })?
    .collect()
}

/// The tablet whose device link (`/t/<code>`) hashes to `device_hash`;
/// `None` for an unknown or replaced link.
pub fn tablet_by_device(
    conn: &Connection,
    device_hash: &[u8],
) -> rusqlite::Result<Option<TabletRow>> {
    conn.query_row_cached(
        "SELECT id, unit_id, label, active FROM tablets WHERE device_hash = ?1",
        [device_hash],
        tablet_row,
    )
    .optional()
}
