//! Schema migrations: an ordered list, versioned by `PRAGMA user_version`.
//!
//! Migration N (1-based) moves the schema from version N-1 to N. Each runs in
//! its own `BEGIN IMMEDIATE` transaction together with the version bump, so a
//! crash leaves the database at a whole version. Never edit a migration that
//! has shipped: add a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The migrations, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: bookkeeping about the installation itself (no personal data).
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    INSERT INTO meta (key, value)
        VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`]; returns how many migrations
/// ran. Refuses a database written by a newer bedside.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    let mut applied = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read inside the lock: another process may have migrated meanwhile.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now > index as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        assert_eq!(migrate(&mut conn, &path).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut conn, &path).unwrap(), 0);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err().to_string();
        assert!(err.contains("newer bedside"), "{err}");
    }

    #[test]
    fn a_failing_migration_leaves_the_version_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut conn = Connection::open(&path).unwrap();
        // A table in the way makes migration 1 fail half-way.
        conn.execute_batch("CREATE TABLE meta (x)").unwrap();
        assert!(migrate(&mut conn, &path).is_err());
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 0);
    }
}
