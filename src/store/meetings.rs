//! Queries on `meetings` (instant meetings started by staff).

use crate::store::CachedExt;
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone)]
pub struct MeetingRow {
    pub id: i64,
    pub unit_id: i64,
    pub staff_id: Option<i64>,
    pub room: String,
    pub starts_at: i64,
    pub ends_at: i64,
}

fn meeting_row(r: &Row<'_>) -> rusqlite::Result<MeetingRow> {
    Ok(MeetingRow {
        id: r.get(0)?,
        unit_id: r.get(1)?,
        staff_id: r.get(2)?,
        room: r.get(3)?,
        starts_at: r.get(4)?,
        ends_at: r.get(5)?,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn meeting_insert(
    conn: &Connection,
    unit_id: i64,
    staff_id: i64,
    room: &str,
    guest_hash: &[u8],
    starts_at: i64,
    ends_at: i64,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute_cached(
        "INSERT INTO meetings (unit_id, staff_id, room, guest_hash, starts_at, ends_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![unit_id, staff_id, room, guest_hash, starts_at, ends_at, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn meeting_by_guest(
    conn: &Connection,
    guest_hash: &[u8],
) -> rusqlite::Result<Option<MeetingRow>> {
    conn.query_row_cached(
        "SELECT id, unit_id, staff_id, room, starts_at, ends_at FROM meetings WHERE guest_hash = ?1",
        [guest_hash],
        meeting_row,
    )
    .optional()
}

pub fn meeting_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<MeetingRow>> {
    conn.query_row_cached(
        "SELECT id, unit_id, staff_id, room, starts_at, ends_at FROM meetings WHERE id = ?1",
        [id],
        meeting_row,
    )
    .optional()
}

/// A unit's meetings starting in [from, until).
pub fn meetings_between(
    conn: &Connection,
    unit_id: i64,
    from: i64,
    until: i64,
) -> rusqlite::Result<Vec<MeetingRow>> {
    conn.prepare_cached(
        "SELECT id, unit_id, staff_id, room, starts_at, ends_at FROM meetings
         WHERE unit_id = ?1 AND starts_at >= ?2 AND starts_at < ?3 ORDER BY starts_at",
    )?
    .query_map(params![unit_id, from, until], meeting_row)?
    .collect()
}
