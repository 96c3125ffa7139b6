//! Staff accounts, passwords, sessions and lockout.
//!
//! Passwords are hashed with Argon2id (m = 19 MiB, t = 2, p = 1: OWASP's
//! recommendation). Hashing is slow on purpose, so it never runs inside a
//! database transaction: a login reads the account, verifies the password
//! on a blocking thread, then writes the outcome.
//!
//! Sessions live in the database as a SHA-256 of their id; the cookie holds
//! the id. A session ends after `idle` without use, after `max` in any
//! case, at logout, and when the account is disabled or its password reset.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::audit::{self, Actor};
use super::codes::Code;
use super::unit;
use super::{DomainError, short_text};
use crate::store::staff::{self as q, StaffRow};

/// Shortest password accepted (NIST SP 800-63B asks for at least 8; the
/// hospital's accounts open patient schedules, so 12).
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted: long enough for any passphrase manager.
pub const MAX_PASSWORD: usize = 256;
/// Failed logins within [`LOCK_WINDOW_SECS`] that lock an account.
pub const LOCK_AFTER: i64 = 10;
pub const LOCK_WINDOW_SECS: i64 = 15 * 60;
/// How long a locked account stays locked.
pub const LOCK_SECS: i64 = 15 * 60;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, on every unit.
    Admin,
    /// Only the units assigned to them.
    Operator,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
}

/// A logged-in staff member.
#[derive(Debug, Clone)]
pub struct StaffUser {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The units an operator is assigned to (admins see all).
    pub units: Vec<i64>,
    /// This session's CSRF token, for the forms on their pages.
    pub csrf: String,
}

impl StaffUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// May this person see and act on `unit_id`?
    pub fn can_see(&self, unit_id: i64) -> bool {
        self.is_admin() || self.units.contains(&unit_id)
    }
}

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: OWASP Password Storage Cheat Sheet.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password's length; the message says what is wanted.
pub fn check_password(password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(DomainError::invalid(
            "password",
            format!(
                "is too short; use at least {MIN_PASSWORD} characters (a few words make a good one)"
            ),
        ));
    }
    if n > MAX_PASSWORD {
        return Err(DomainError::invalid(
            "password",
            format!("is too long; use at most {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// The Argon2id hash (PHC string) of a password. Slow: not in a transaction.
pub fn hash_password(password: &str, rng: &dyn SecureRandom) -> Result<String, DomainError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)
        .map_err(|_| DomainError::Conflict("the random number generator failed".into()))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| DomainError::Conflict(format!("salt: {e}")))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Conflict(format!("password hashing failed: {e}")))
}

/// A hash no password matches, verified for unknown accounts so that they
/// take as long as wrong passwords.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Lhv/9JQSe5kaIyVZCF/YwQD0RJlwFZ4j8fCFh9hixCE";

/// True when `password` matches `hash`. Slow: not in a transaction.
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    let matched = PasswordHash::new(hash.unwrap_or(DUMMY_HASH))
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    matched && hash.is_some()
}

fn check_username(username: &str) -> Result<String, DomainError> {
    let u = username.trim();
    let ok = (2..=40).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(u.to_string())
    } else {
        Err(DomainError::invalid(
            "username",
            "use 2 to 40 letters, digits, '.', '-' or '_' (e.g. j.devries)",
        ))
    }
}

/// Creates an account. `password_hash` comes from [`hash_password`].
pub fn add(
    conn: &Connection,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
    actor: Actor,
    now: i64,
) -> Result<StaffRow, DomainError> {
    let username = check_username(username)?;
    let display_name = short_text("name", display_name, 60)?;
    if q::staff_by_username(conn, &username)?.is_some() {
        return Err(DomainError::invalid(
            "username",
            format!("'{username}' is taken; choose another"),
        ));
    }
    let id = q::staff_insert(
        conn,
        &username,
        &display_name,
        password_hash,
        role.as_str(),
        now,
    )?;
    audit::record(
        conn,
        actor,
        "staff.add",
        Some(&format!("staff:{id}")),
        "ok",
        now,
    )?;
    q::staff_by_id(conn, id)?.ok_or(DomainError::NotFound)
}

pub fn by_username(conn: &Connection, username: &str) -> Result<StaffRow, DomainError> {
    Ok(q::staff_by_username(conn, username)?
        .ok_or(DomainError::NotFound)?
        .0)
}

/// Sets a new password (hash from [`hash_password`]), unlocks the account
/// and ends its sessions.
pub fn set_password(
    conn: &Connection,
    id: i64,
    password_hash: &str,
    actor: Actor,
    now: i64,
) -> Result<(), DomainError> {
    q::staff_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    q::staff_set_password(conn, id, password_hash)?;
    q::sessions_delete_of_staff(conn, id)?;
    audit::record(
        conn,
        actor,
        "staff.password",
        Some(&format!("staff:{id}")),
        "ok",
        now,
    )?;
    Ok(())
}

/// Disables (or re-enables) an account; disabling ends its sessions.
pub fn set_active(
    conn: &Connection,
    id: i64,
    active: bool,
    actor: Actor,
    now: i64,
) -> Result<(), DomainError> {
    q::staff_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    q::staff_set_active(conn, id, active)?;
    if !active {
        q::sessions_delete_of_staff(conn, id)?;
    }
    let action = if active {
        "staff.enable"
    } else {
        "staff.disable"
    };
    audit::record(conn, actor, action, Some(&format!("staff:{id}")), "ok", now)?;
    Ok(())
}

pub fn set_role(
    conn: &Connection,
    id: i64,
    role: Role,
    actor: Actor,
    now: i64,
) -> Result<(), DomainError> {
    q::staff_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    q::staff_set_role(conn, id, role.as_str())?;
    audit::record(
        conn,
        actor,
        "staff.role",
        Some(&format!("staff:{id}")),
        role.as_str(),
        now,
    )?;
    Ok(())
}

/// Assigns an operator to exactly these units (by name).
pub fn set_units(
    conn: &Connection,
    id: i64,
    unit_names: &[String],
    actor: Actor,
    now: i64,
) -> Result<Vec<i64>, DomainError> {
    q::staff_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    let mut ids = Vec::new();
    for name in unit_names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        let u = unit::by_name(conn, name).map_err(|e| match e {
            DomainError::NotFound => {
                DomainError::invalid("units", format!("no unit called '{name}'"))
            }
            e => e,
        })?;
        ids.push(u.id);
    }
    q::staff_set_units(conn, id, &ids)?;
    audit::record(
        conn,
        actor,
        "staff.units",
        Some(&format!("staff:{id}")),
        "ok",
        now,
    )?;
    Ok(ids)
}

pub fn list(conn: &Connection) -> Result<Vec<(StaffRow, Vec<i64>)>, DomainError> {
    q::staff_list(conn)?
        .into_iter()
        .map(|s| {
            let units = q::staff_units(conn, s.id)?;
            Ok((s, units))
        })
        .collect()
}

/// What a login attempt needs from the database before the password check:
/// the account id and hash, if the account exists, is active and unlocked.
pub fn login_lookup(
    conn: &Connection,
    username: &str,
    now: i64,
) -> Result<(Option<i64>, Option<String>), DomainError> {
    match q::staff_by_username(conn, username.trim())? {
        Some((s, hash)) if s.active && s.locked_until.is_none_or(|t| t <= now) => {
            Ok((Some(s.id), Some(hash)))
        }
        // Known but disabled or locked: count the failure, never match.
        Some((s, _)) => Ok((Some(s.id), None)),
        None => Ok((None, None)),
    }
}

/// Records a failed login; the 10th within 15 minutes locks the account.
pub fn login_failed(conn: &Connection, staff_id: Option<i64>, now: i64) -> Result<(), DomainError> {
    let object = staff_id.map(|id| format!("staff:{id}"));
    if let Some(id) = staff_id {
        // Tries during a lock are audited but neither counted nor allowed to
        // extend it, and a lock starts the count afresh: an attacker cannot
        // keep a nurse locked out with a try every quarter of an hour.
        let locked = q::staff_by_id(conn, id)?
            .and_then(|s| s.locked_until)
            .is_some_and(|until| until > now);
        if !locked {
            let recent = q::login_failure_add(conn, id, now, now - LOCK_WINDOW_SECS)?;
            if recent >= LOCK_AFTER {
                q::staff_lock(conn, id, now + LOCK_SECS)?;
                q::login_failures_clear(conn, id)?;
                audit::record(
                    conn,
                    Actor::System,
                    "staff.locked",
                    object.as_deref(),
                    "ok",
                    now,
                )?;
            }
        }
    }
    audit::record(
        conn,
        Actor::System,
        "login",
        object.as_deref(),
        "failed",
        now,
    )?;
    Ok(())
}

/// Opens a session after a successful password check: a new id every
/// time. Returns the session id (for the cookie).
pub fn login_succeeded(
    conn: &Connection,
    staff_id: i64,
    now: i64,
    rng: &dyn SecureRandom,
) -> Result<Code, DomainError> {
    let session = Code::generate(rng);
    let csrf = Code::generate(rng);
    q::session_insert(conn, &session.hash(), staff_id, csrf.expose(), now)?;
    q::login_failures_clear(conn, staff_id)?;
    audit::record(
        conn,
        Actor::Staff(staff_id),
        "login",
        Some(&format!("staff:{staff_id}")),
        "ok",
        now,
    )?;
    Ok(session)
}

/// The staff member behind a session id, if the session is alive (not idle
/// for `idle_secs`, not older than `max_secs`, account active). Refreshes
/// its idle timer. An expired session is deleted.
pub fn session_user(
    conn: &Connection,
    session: &str,
    now: i64,
    idle_secs: i64,
    max_secs: i64,
) -> Result<Option<StaffUser>, DomainError> {
    let Some(code) = Code::parse(session) else {
        return Ok(None);
    };
    let hash = code.hash();
    let Some((staff_id, csrf, created, last_seen)) = q::session_get(conn, &hash)? else {
        return Ok(None);
    };
    if now - last_seen >= idle_secs || now - created >= max_secs {
        q::session_delete(conn, &hash)?;
        return Ok(None);
    }
    let Some(staff) = q::staff_by_id(conn, staff_id)?.filter(|s| s.active) else {
        q::session_delete(conn, &hash)?;
        return Ok(None);
    };
    // Refresh at most once a minute: every page view need not be a write.
    if now - last_seen >= 60 {
        q::session_touch(conn, &hash, now)?;
    }
    Ok(Some(StaffUser {
        id: staff.id,
        username: staff.username,
        display_name: staff.display_name,
        role: Role::parse(&staff.role).unwrap_or(Role::Operator),
        units: q::staff_units(conn, staff.id)?,
        csrf,
    }))
}

/// Ends a session.
pub fn logout(
    conn: &Connection,
    session: &str,
    staff_id: i64,
    now: i64,
) -> Result<(), DomainError> {
    if let Some(code) = Code::parse(session) {
        q::session_delete(conn, &code.hash())?;
    }
    audit::record(
        conn,
        Actor::Staff(staff_id),
        "logout",
        Some(&format!("staff:{staff_id}")),
        "ok",
        now,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let rng = ring::rand::SystemRandom::new();
        let hash = hash_password("correct horse battery", &rng).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(Some(&hash), "correct horse battery"));
        assert!(!verify_password(Some(&hash), "correct horse batterY"));
        assert!(!verify_password(None, "correct horse battery"));
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash must parse, or unknown users answer faster"
        );
        assert!(hash_password("short", &rng).is_err());
        assert!(
            hash_password(&"x".repeat(64), &rng).is_ok(),
            "64 characters must be allowed"
        );
    }

    #[test]
    fn usernames_are_plain() {
        assert!(check_username("j.devries").is_ok());
        for bad in ["", "a", "with space", "naïve", &"x".repeat(41)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }
}
