//! The audit trail: append-only rows of who did what to which object and
//! how it went. Objects are named by kind and id ("booking:12"); a row
//! never holds a name, e-mail address, label or code.

use rusqlite::{Connection, params};

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Staff(i64),
    ApiKey(i64),
    /// The command line (hospital IT on the server).
    Cli,
    /// bedside itself (scheduled jobs).
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Staff(id) => write!(f, "staff:{id}"),
            Actor::ApiKey(id) => write!(f, "apikey:{id}"),
            Actor::Cli => f.write_str("cli"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Appends one entry. `object` is `kind:id`, e.g. `booking:12`.
pub fn record(
    conn: &Connection,
    actor: Actor,
    action: &str,
    object: Option<&str>,
    outcome: &str,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, object, outcome) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now, actor.to_string(), action, object, outcome],
    )?;
    Ok(())
}

/// One audit entry as shown to admins.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub object: Option<String>,
    pub outcome: String,
}

/// Entries in [from, until), newest first, optionally of one action
/// (prefix match: "login" finds "login.ok" and "login.failed").
pub fn list(
    conn: &Connection,
    from: i64,
    until: i64,
    action: Option<&str>,
    limit: i64,
) -> rusqlite::Result<Vec<Entry>> {
    let pattern = format!("{}%", action.unwrap_or("").replace(['%', '_'], ""));
    conn.prepare(
        "SELECT at, actor, action, object, outcome FROM audit
         WHERE at >= ?1 AND at < ?2 AND action LIKE ?3
         ORDER BY at DESC, id DESC LIMIT ?4",
    )?
    .query_map(params![from, until, pattern, limit], |r| {
        Ok(Entry {
            at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            object: r.get(3)?,
            outcome: r.get(4)?,
        })
    })?
    .collect()
}
