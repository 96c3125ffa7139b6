//! API keys for hospital systems. A key is `bsk_` followed by a 128-bit
//! code; only its SHA-256 is stored, so it is shown once, at creation.

use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::audit::{self, Actor};
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

/// What the database keeps of `key` (its hash), if it can be a key at all.
pub fn hash(key: &str) -> Option<Vec<u8>> {
    key.strip_prefix(PREFIX)
        .and_then(Code::parse)
        .map(|c| c.hash())
}

/// True when the key with this [`hash`] is a live key.
pub fn verify_hash(conn: &Connection, hash: &[u8]) -> Result<bool, DomainError> {
    Ok(q::apikey_by_hash(conn, hash)?.is_some())
}

/// (name, created_at, revoked_at) of every key, by name.
pub fn list(conn: &Connection) -> Result<Vec<(String, i64, Option<i64>)>, DomainError> {
    Ok(q::apikey_list(conn)?)
}

/// As [`create`], audited: returns the new key's id and its text (shown
/// once).
pub fn create_audited(
    conn: &Connection,
    name: &str,
    actor: Actor,
    now: i64,
    rng: &dyn SecureRandom,
) -> Result<(i64, String), DomainError> {
    let key = create(conn, name, now, rng)?;
    let (id, _) = q::apikey_by_name(conn, name.trim())?.ok_or(DomainError::NotFound)?;
    audit::record(
        conn,
        actor,
        "apikey.add",
        Some(&format!("apikey:{id}")),
        "ok",
        now,
    )?;
    Ok((id, key))
}

/// As [`revoke`], audited; a name that is unknown or revoked already is a
/// problem with the field `name`. Returns the key's id.
pub fn revoke_audited(
    conn: &Connection,
    name: &str,
    actor: Actor,
    now: i64,
) -> Result<i64, DomainError> {
    let name = name.trim();
    let id = match q::apikey_by_name(conn, name)? {
        Some((id, None)) => id,
        Some((_, Some(_))) => {
            return Err(DomainError::invalid(
                "name",
                format!("the key '{name}' is revoked already"),
            ));
        }
        None => {
            return Err(DomainError::invalid(
                "name",
                format!("there is no key called '{name}'"),
            ));
        }
    };
    revoke(conn, name, now)?;
    audit::record(
        conn,
        actor,
        "apikey.revoke",
        Some(&format!("apikey:{id}")),
        "ok",
        now,
    )?;
    Ok(id)
}
