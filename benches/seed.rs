//! Fills a stopped server's database with visits long past retention, for
//! the purge figure of `bench/run`: what a year or more of a busy hospital
//! leaves behind when the purge has not run.
//!
//! ```text
//! seed expired   --db PATH --unit NAME --count N   # N visits that ended over a year ago
//! seed purge-due --db PATH                         # forget the last purge: the next start purges
//! ```
//!
//! Each visit is what booking leaves after its mail went out: a `done`
//! booking on one of the ward's tablets (round-robin, a slot and a buffer
//! apart), its own family contact sealed with the database's data key (by
//! the store's own `bedside_seal` SQL function), and a sent confirmation
//! and reminder in the outbox (content cleared, as after sending). It is
//! written in one transaction with plain SQL, which takes seconds where a
//! million API calls would take the whole benchmark's time. Under plain
//! `cargo bench` (no mode) it does nothing.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rusqlite::params;

/// How far before now the newest seeded visit ended: beyond the longest
/// retention a configuration can set (365 days), so all of it is due.
const ENDED_DAYS_AGO: i64 = 366;
/// A visit's length and the step between two on one tablet (slot + buffer),
/// the defaults of a new ward.
const SLOT_SECS: i64 = 30 * 60;
const STEP_SECS: i64 = 40 * 60;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        let flag = format!("--{name}");
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let outcome = match (args.first().map(String::as_str), opt("db")) {
        (Some("expired"), Some(db)) => {
            let count = opt("count").and_then(|c| c.parse().ok()).unwrap_or(0);
            match opt("unit") {
                Some(unit) if count > 0 => expired(Path::new(&db), &unit, count),
                _ => Err("expired needs --unit NAME and --count N".into()),
            }
        }
        (Some("purge-due"), Some(db)) => purge_due(Path::new(&db)),
        (Some(mode), _) if mode != "--bench" => Err(format!("{mode}: unknown mode or no --db")),
        _ => {
            println!("seed: the purge seeder bench/run starts; nothing to do here");
            return ExitCode::SUCCESS;
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn expired(db: &Path, unit: &str, count: i64) -> Result<(), String> {
    let started = Instant::now();
    let mut conn = bedside::store::open_for_command(db).map_err(|e| e.to_string())?;
    // Room for the indexes being filled, so the seed is not disk-bound.
    conn.pragma_update(None, "cache_size", -256 * 1024)
        .map_err(|e| e.to_string())?;
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().as_second();
    let newest_end = now - ENDED_DAYS_AGO * 86_400;
    let unit_id: i64 = tx
        .query_row("SELECT id FROM units WHERE name = ?1", [unit], |r| r.get(0))
        .map_err(|e| format!("unit {unit}: {e}"))?;
    let tablets: Vec<i64> = tx
        .prepare("SELECT id FROM tablets WHERE unit_id = ?1 ORDER BY id")
        .and_then(|mut s| {
            s.query_map([unit_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| e.to_string())?;
    if tablets.is_empty() {
        return Err(format!("unit {unit} has no tablets"));
    }
    tx.execute(
        "INSERT INTO patients (unit_id, label, status, invite_hash, created_at)
         VALUES (?1, 'Bench bed seeded', 'active', randomblob(32), ?2)",
        params![unit_id, now],
    )
    .map_err(|e| e.to_string())?;
    let patient_id = tx.last_insert_rowid();
    let base = |table: &str| -> Result<i64, String> {
        tx.query_row(
            &format!("SELECT coalesce(max(id), 0) FROM {table}"),
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())
    };
    let (contact_base, booking_base) = (base("contacts")?, base("bookings")?);
    let n_tablets = tablets.len() as i64;
    // The tablets in a temporary table, so the inserts pick the i-th one.
    tx.execute_batch("CREATE TEMP TABLE seed_tablets (k INTEGER PRIMARY KEY, id INTEGER)")
        .map_err(|e| e.to_string())?;
    for (k, id) in tablets.iter().enumerate() {
        tx.execute("INSERT INTO seed_tablets VALUES (?1, ?2)", params![k, id])
            .map_err(|e| e.to_string())?;
    }
    let rows = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<usize, String> {
        tx.execute(sql, p).map_err(|e| e.to_string())
    };
    const N: &str =
        "WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)";
    rows(
        &format!(
            "{N} INSERT INTO contacts (id, name, email, email_key, name_enc, email_enc, language,
                 consent_at, privacy_version, created_at)
             SELECT ?2 + 1 + i, '', '', k,
                 bedside_seal('contacts.name', k, 'Bench Family ' || i),
                 bedside_seal('contacts.email', k, 'family' || i || '@example.org'),
                 'en', b, 'seeded', b
             FROM (SELECT i, bedside_email_key('family' || i || '.seed@example.org') AS k,
                          ?3 - (i / ?4) * ?5 - 86400 AS b FROM n)"
        ),
        &[&count, &contact_base, &newest_end, &n_tablets, &STEP_SECS],
    )?;
    // Visit i ends (i / tablets) steps before the newest end, on tablet i % tablets,
    // booked (and its contact given) a day before it ended. Rooms and
    // Message-IDs random, as bedside makes them.
    rows(
        &format!(
            "{N} INSERT INTO bookings (id, patient_id, contact_id, tablet_id, starts_at, ends_at,
                 room, visit_hash, status, created_at, local_day)
             SELECT ?2 + 1 + i, ?4, ?3 + 1 + i,
                 (SELECT id FROM seed_tablets WHERE k = i % ?5),
                 e - ?7, e, lower(hex(randomblob(16))), randomblob(32), 'done',
                 e - 86400, date(e - ?7, 'unixepoch')
             FROM (SELECT i, ?6 - (i / ?5) * ?8 AS e FROM n)"
        ),
        &[
            &count,
            &booking_base,
            &contact_base,
            &patient_id,
            &n_tablets,
            &newest_end,
            &SLOT_SECS,
            &STEP_SECS,
        ],
    )?;
    for (kind, before) in [("confirmation", 86_400), ("reminder", 3_600)] {
        rows(
            &format!(
                "{N} INSERT INTO outbox (kind, booking_id, message_id, status, due_at, stale_at,
                     attempts, created_at, finished_at)
                 SELECT ?2, b.id, lower(hex(randomblob(12))) || '.' || ?2 || '@seed.example.org', 'sent',
                     b.starts_at - ?3, b.ends_at, 1, b.starts_at - ?3, b.starts_at - ?3
                 FROM n JOIN bookings b ON b.id = ?4 + 1 + n.i"
            ),
            &[&count, &kind, &before, &booking_base],
        )?;
    }
    tx.execute_batch("DROP TABLE seed_tablets")
        .map_err(|e| e.to_string())?;
    tx.commit().map_err(|e| e.to_string())?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(|e| e.to_string())?;
    println!(
        "bench-result seed visits={count} tablets={n_tablets} seconds={:.1} purge_batch={}",
        started.elapsed().as_secs_f64(),
        bedside::retention::BATCH
    );
    Ok(())
}

/// Forgets when the purge last ran (the `meta` keys of `bedside::retention`),
/// so the next `bedside serve` purges at once, as after a long outage.
fn purge_due(db: &Path) -> Result<(), String> {
    let conn = bedside::store::open_for_command(db).map_err(|e| e.to_string())?;
    conn.execute(
        "DELETE FROM meta WHERE key IN ('purge.last_run', 'purge.last_success')",
        [],
    )
    .map_err(|e| e.to_string())?;
    println!("bench-result purge-due ok=1");
    Ok(())
}
