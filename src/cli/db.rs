//! What the administration commands share: the configuration, the
//! database, one `BEGIN IMMEDIATE` transaction per command, and errors
//! printed so an operator knows what to type next.

use std::path::Path;
use std::process::ExitCode;

use rusqlite::{Connection, TransactionBehavior};

use super::load_config;
use crate::config::Config;
use crate::domain::DomainError;

/// Runs `f` in one write transaction on the configured database (created
/// and migrated if needed) and commits it; on error nothing is written,
/// the message is printed and the exit code returned. `missing` says what
/// a `NotFound` means here ("no unit called 'Ward 9'").
pub fn write<T>(
    config_file: Option<&Path>,
    missing: &str,
    f: impl FnOnce(&Config, &Connection) -> Result<T, DomainError>,
) -> Result<(Config, T), ExitCode> {
    let config = load_config(config_file)?;
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    };
    crate::create_data_dir(&config).map_err(|e| fail(e.to_string()))?;
    let mut conn = crate::store::open_for_command(&config.db_path())
        .map_err(|e| fail(format!("server.data_dir: {e}")))?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| fail(format!("cannot write to the database: {e}")))?;
    let value = match f(&config, &tx) {
        Ok(v) => v,
        Err(DomainError::NotFound) => return Err(fail(missing.to_string())),
        Err(DomainError::Invalid { field, message }) => {
            return Err(fail(format!("{}: {message}", field.replace('_', "-"))));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    tx.commit()
        .map_err(|e| fail(format!("cannot write to the database: {e}")))?;
    Ok((config, value))
}

/// Records an administration command in the audit trail (actor `cli`).
pub fn audit(conn: &Connection, action: &str, object: &str) -> Result<(), DomainError> {
    crate::domain::audit::record(
        conn,
        crate::domain::audit::Actor::Cli,
        action,
        Some(object),
        "ok",
        now(),
    )?;
    Ok(())
}

/// Seconds since the epoch, now: what commands stamp rows with.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
