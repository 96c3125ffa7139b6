//! API keys for hospital systems. A key is `bsk_` followed by a 128-bit
//! code; only its SHA-256 is stored, so it is shown once, at creation.

use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::codes::Code;
use super::{DomainError, short_text};
use crate::store::apikeys as q;

const PREFIX: &str = "bsk_";

/// Creates a key called `name` and returns the key text (shown once).
pub fn create(
    conn: &Connection,
    name: &str,
    now: i64,
    rng: &dyn SecureRandom,
) -> Result<String, DomainError> {
    let name = short_text("name", name, 60)?;
    if q::apikey_list(conn)?.iter().any(|(n, _, _)| *n == name) {
        return Err(DomainError::invalid(
            "name",
            format!("a key called '{name}' exists already"),
        ));
    }
    let code = Code::generate(rng);
    q::apikey_insert(conn, &name, &code.hash(), now)?;
    Ok(format!("{PREFIX}{}", code.expose()))
}

/// Revokes the key called `name`.
pub fn revoke(conn: &Connection, name: &str, now: i64) -> Result<(), DomainError> {
    if q::apikey_revoke(conn, name, now)? {
        Ok(())
    } else {
        Err(DomainError::NotFound)
    }
}

/// True when `key` is a live key.
pub fn verify(conn: &Connection, key: &str) -> Result<bool, DomainError> {
    let Some(code) = key.strip_prefix(PREFIX).and_then(Code::parse) else {
        return Ok(false);
    };
    Ok(q::apikey_by_hash(conn, &code.hash())?.is_some())
}
