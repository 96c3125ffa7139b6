//! Queries on `staff`, `staff_units`, `login_failures` and `sessions`.

use rusqlite::{Connection, OptionalExtension, Row, params};

/// A staff account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
    pub locked_until: Option<i64>,
}

fn staff_row(r: &Row<'_>) -> rusqlite::Result<StaffRow> {
    Ok(StaffRow {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: r.get(3)?,
        active: r.get(4)?,
        locked_until: r.get(5)?,
    })
}

pub fn staff_insert(
    conn: &Connection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    role: &str,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO staff (username, display_name, password_hash, role, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![username, display_name, password_hash, role, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn staff_by_username(
    conn: &Connection,
    username: &str,
) -> rusqlite::Result<Option<(StaffRow, String)>> {
    conn.query_row(
        "SELECT id, username, display_name, role, active, locked_until, password_hash
         FROM staff WHERE username = ?1",
        [username],
        |r| Ok((staff_row(r)?, r.get(6)?)),
    )
    .optional()
}

pub fn staff_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<StaffRow>> {
    conn.query_row(
        "SELECT id, username, display_name, role, active, locked_until FROM staff WHERE id = ?1",
        [id],
        staff_row,
    )
    .optional()
}

pub fn staff_list(conn: &Connection) -> rusqlite::Result<Vec<StaffRow>> {
    conn.prepare(
        "SELECT id, username, display_name, role, active, locked_until FROM staff ORDER BY username",
    )?
    .query_map([], staff_row)?
    .collect()
}

pub fn staff_set_password(conn: &Connection, id: i64, hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE staff SET password_hash = ?2, locked_until = NULL WHERE id = ?1",
        params![id, hash],
    )?;
    conn.execute("DELETE FROM login_failures WHERE staff_id = ?1", [id])?;
    Ok(())
}

pub fn staff_set_active(conn: &Connection, id: i64, active: bool) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE staff SET active = ?2 WHERE id = ?1",
        params![id, active],
    )?;
    Ok(())
}

pub fn staff_set_role(conn: &Connection, id: i64, role: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE staff SET role = ?2 WHERE id = ?1",
        params![id, role],
    )?;
    Ok(())
}

pub fn staff_units(conn: &Connection, id: i64) -> rusqlite::Result<Vec<i64>> {
    conn.prepare("SELECT unit_id FROM staff_units WHERE staff_id = ?1 ORDER BY unit_id")?
        .query_map([id], |r| r.get(0))?
        .collect()
}

pub fn staff_set_units(conn: &Connection, id: i64, units: &[i64]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM staff_units WHERE staff_id = ?1", [id])?;
    for unit in units {
        conn.execute(
            "INSERT INTO staff_units (staff_id, unit_id) VALUES (?1, ?2)",
            params![id, unit],
        )?;
    }
    Ok(())
}

/// Records a failed login and returns how many there were since `since`.
pub fn login_failure_add(
    conn: &Connection,
    id: i64,
    now: i64,
    since: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO login_failures (staff_id, at) VALUES (?1, ?2)",
        params![id, now],
    )?;
    conn.execute(
        "DELETE FROM login_failures WHERE staff_id = ?1 AND at < ?2",
        params![id, since],
    )?;
    conn.query_row(
        "SELECT count(*) FROM login_failures WHERE staff_id = ?1 AND at >= ?2",
        params![id, since],
        |r| r.get(0),
    )
}

pub fn login_failures_clear(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM login_failures WHERE staff_id = ?1", [id])?;
    Ok(())
}

pub fn staff_lock(conn: &Connection, id: i64, until: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE staff SET locked_until = ?2 WHERE id = ?1",
        params![id, until],
    )?;
    Ok(())
}

pub fn session_insert(
    conn: &Connection,
    id_hash: &[u8],
    staff_id: i64,
    csrf: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (id_hash, staff_id, csrf, created_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![id_hash, staff_id, csrf, now],
    )?;
    Ok(())
}

/// (staff id, csrf token, created_at, last_seen_at) of a session.
pub fn session_get(
    conn: &Connection,
    id_hash: &[u8],
) -> rusqlite::Result<Option<(i64, String, i64, i64)>> {
    conn.query_row(
        "SELECT staff_id, csrf, created_at, last_seen_at FROM sessions WHERE id_hash = ?1",
        [id_hash],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
}

pub fn session_touch(conn: &Connection, id_hash: &[u8], now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
        params![id_hash, now],
    )?;
    Ok(())
}

pub fn session_delete(conn: &Connection, id_hash: &[u8]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
    Ok(())
}

pub fn sessions_delete_of_staff(conn: &Connection, staff_id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE staff_id = ?1", [staff_id])?;
    Ok(())
}
