//! Queries on `api_keys`.

use rusqlite::{Connection, OptionalExtension, params};

pub fn apikey_insert(
    conn: &Connection,
    name: &str,
    key_hash: &[u8],
    now: i64,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO api_keys (name, key_hash, created_at) VALUES (?1, ?2, ?3)",
        params![name, key_hash, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Revokes the key called `name`; false if there is no live key by that name.
pub fn apikey_revoke(conn: &Connection, name: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
        params![name, now],
    )? == 1)
}

/// The id of the live key with this hash.
pub fn apikey_by_hash(conn: &Connection, key_hash: &[u8]) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
        [key_hash],
        |r| r.get(0),
    )
    .optional()
}

/// (name, created_at, revoked_at) of every key.
pub fn apikey_list(conn: &Connection) -> rusqlite::Result<Vec<(String, i64, Option<i64>)>> {
    conn.prepare("SELECT name, created_at, revoked_at FROM api_keys ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

/// (id, revoked_at) of the key called `name`, live or revoked.
pub fn apikey_by_name(
    conn: &Connection,
    name: &str,
) -> rusqlite::Result<Option<(i64, Option<i64>)>> {
    conn.query_row(
        "SELECT id, revoked_at FROM api_keys WHERE name = ?1",
        [name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}
