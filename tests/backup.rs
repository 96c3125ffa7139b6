//! `bedside backup` as an operator runs it: the real binary, against the
//! database of a real server that keeps taking bookings meanwhile; then
//! the copy restored (with the data key) under a new server that serves
//! the families' visit links.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::{TestServer, at, contacts, open_db, request, seed_unit, seed_ward};
use http::{Method, StatusCode};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bedside");
/// A Monday morning before visiting hours: every slot of the week is ahead.
const NOW: &str = "2026-11-23T06:00:00Z";
/// Long visiting hours: 18 slots a day (30 minutes + 10 buffer).
const HOURS: &str = "mon-sun 08:00-20:00";
/// Patients: each may have 2 visits a day, so 9 of them fill the 18 slots
/// of one tablet.
const PATIENTS: usize = 9;
/// Audit entries written before the test (about 250 bytes each).
const HISTORY: i64 = 100_000;

/// `bedside backup …` with a clean environment and its data in `data_dir`.
async fn backup(data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("BEDSIDE_DATA_DIR", data_dir)
        .arg("backup")
        .args(args)
        .stdin(Stdio::null());
    cmd.output().await.expect("bedside runs")
}

/// One acknowledged booking: its id and the code of its visit link.
#[derive(Debug, Clone)]
struct Acked {
    id: i64,
    code: String,
    label: String,
}

/// Every row of `bookings` with id ≤ `upto`, every column, in id order.
fn booking_rows(db: &rusqlite::Connection, upto: i64) -> Vec<Vec<SqlValue>> {
    let mut stmt = db
        .prepare("SELECT * FROM bookings WHERE id <= ?1 ORDER BY id")
        .unwrap();
    let columns = stmt.column_count();
    stmt.query_map([upto], |r| {
        (0..columns).map(|i| r.get::<_, SqlValue>(i)).collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_is_consistent_and_restores_to_a_server_that_serves_the_visits() {
    let dir = tempfile::tempdir().unwrap();
    let first = seed_ward(dir.path(), HOURS, 1);
    let mut patients = vec![(first.patient_id, "Bed 12".to_string())];
    for i in 1..PATIENTS {
        let label = format!("Bed {}", 12 + i);
        patients.push((
            seed_unit(dir.path(), "Ward 3", "", 0, &label).patient_id,
            label,
        ));
    }
    let key = {
        let conn = bedside::store::open_for_command(&dir.path().join("bedside.db")).unwrap();
        // Some history, so the copy takes long enough for bookings to
        // land while it runs.
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO audit (at, actor, action, object, outcome)
             SELECT ?2, 'cli', 'unit.update', 'unit:' || i, printf('%.200c', 'x') FROM n",
            rusqlite::params![HISTORY, at(NOW).as_second()],
        )
        .unwrap();
        bedside::domain::apikey::create(
            &conn,
            "load test",
            at(NOW).as_second(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap()
    };
    let clock = Arc::new(FixedClock::new(at(NOW)));
    let server = Arc::new(TestServer::start_at(dir.path(), clock.clone()).await);
    let authorization = format!("Bearer {key}");

    let (status, _, slots) = request(
        server.addr,
        Method::GET,
        &format!("/api/v1/units/{}/slots", first.unit_id),
        &[("authorization", &authorization)],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{slots}");
    let slots: Value = serde_json::from_str(&slots).unwrap();
    // Patient i takes slots 2i and 2i+1 of every day: one tablet, never full.
    let mut plan = Vec::new();
    for (n, slot) in slots["slots"].as_array().unwrap().iter().enumerate() {
        let (patient, label) = &patients[(n % (2 * PATIENTS)) / 2];
        plan.push((
            *patient,
            label.clone(),
            slot["start"].as_str().unwrap().to_string(),
        ));
    }
    assert!(plan.len() > 100, "{}", plan.len());

    // A hospital system books in a loop until told to stop.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (server, acked, stop, authorization) = (
            server.clone(),
            acked.clone(),
            stop.clone(),
            authorization.clone(),
        );
        tokio::spawn(async move {
            for (patient, label, start) in plan {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let body = json!({
                    "patient_id": patient, "start": start, "name": "Anna Example",
                    "email": "anna@example.org", "language": "en", "consent": true,
                });
                let (status, _, text) = request(
                    server.addr,
                    Method::POST,
                    "/api/v1/bookings",
                    &[
                        ("authorization", &authorization),
                        ("content-type", "application/json"),
                    ],
                    Bytes::from(body.to_string()),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{text}");
                let reply: Value = serde_json::from_str(&text).unwrap();
                let url = reply["visit_url"].as_str().unwrap();
                acked.lock().unwrap().push(Acked {
                    id: reply["id"].as_i64().unwrap(),
                    code: url.rsplit('/').next().unwrap().to_string(),
                    label,
                });
            }
        })
    };

    // Some bookings in, then the backup while more keep coming.
    while acked.lock().unwrap().len() < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before: Vec<Acked> = acked.lock().unwrap().clone();
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("bedside-backup.db");
    let out = backup(dir.path(), &[file.to_str().unwrap()]).await;
    let during = acked.lock().unwrap().len();
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        during > before.len(),
        "no booking was acknowledged while the backup ran"
    );

    // It says where, how big, and that the data key is not in it.
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(
        stdout.contains(&format!("{} ({size} bytes", file.display())),
        "{stdout}"
    );
    let key_file = dir.path().join("data-key");
    assert!(stdout.contains(&key_file.display().to_string()), "{stdout}");
    assert!(stdout.contains("NOT in the backup"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("bedside-backup.db")]);

    // The copy is sound and is one moment of the server's database: every
    // booking acknowledged before the backup began, and exactly the
    // bookings committed up to its last one, column for column.
    let copy =
        rusqlite::Connection::open_with_flags(&file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let newest: i64 = copy
        .query_row("SELECT max(id) FROM bookings", [], |r| r.get(0))
        .unwrap();
    let saved = booking_rows(&copy, i64::MAX);
    let live = booking_rows(&open_db(dir.path()), newest);
    assert_eq!(saved, live, "the copy differs from the server's bookings");
    let saved_ids: Vec<i64> = saved
        .iter()
        .map(|row| match row[0] {
            SqlValue::Integer(id) => id,
            ref other => panic!("{other:?}"),
        })
        .collect();
    for a in &before {
        assert!(
            saved_ids.contains(&a.id),
            "booking {} acknowledged before the backup is missing",
            a.id
        );
    }
    let all: Vec<Acked> = acked.lock().unwrap().clone();
    eprintln!(
        "DEBUG before={} during={during} saved={} all={}",
        before.len(),
        saved_ids.len(),
        all.len()
    );

    // Restore on a new machine: the backup as bedside.db, and the data key
    // (plus the Jitsi secret, which Jitsi holds too).
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&file, restored.path().join("bedside.db")).unwrap();
    for f in ["data-key", "jitsi-app-secret"] {
        std::fs::copy(dir.path().join(f), restored.path().join(f)).unwrap();
    }

    // A second run does not overwrite the backup without --force.
    let again = backup(dir.path(), &[file.to_str().unwrap()]).await;
    assert!(!again.status.success());
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(message.contains("--force"), "{message}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
    let forced = backup(dir.path(), &[file.to_str().unwrap(), "--force"]).await;
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    drop(copy);
    Arc::into_inner(server).unwrap().stop().await;

    // The restored server serves every visit link the backup holds, and
    // knows nothing of the bookings made after it.
    let server = TestServer::start_at(restored.path(), clock.clone()).await;
    let (kept, later): (Vec<&Acked>, Vec<&Acked>) =
        all.iter().partition(|a| saved_ids.contains(&a.id));
    assert_eq!(kept.len(), saved_ids.len());
    for a in kept {
        let (status, _, page) = server.get(&format!("/v/{}", a.code)).await;
        assert_eq!(status, StatusCode::OK, "booking {}: {page}", a.id);
        assert!(page.contains(&a.label), "booking {}: {page}", a.id);
    }
    // (A few: unknown codes count towards the guessing limit.)
    for a in later.iter().take(5) {
        let (status, _, _) = server.get(&format!("/v/{}", a.code)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "booking {}", a.id);
    }
    // The family's details open with the data key that came along.
    let people = contacts(restored.path());
    assert!(!people.is_empty());
    assert!(
        people
            .iter()
            .all(|(_, name, email)| name == "Anna Example" && email == "anna@example.org"),
        "{people:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_backup_without_a_database_or_a_directory_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = backup(dir.path(), &["copy.db"]).await;
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("no database at"), "{message}");
    assert!(message.contains("server.data_dir"), "{message}");

    seed_ward(dir.path(), HOURS, 1);
    let target = dir.path().join("missing/copy.db");
    let out = backup(dir.path(), &[target.to_str().unwrap()]).await;
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.contains("does not exist; create it first"),
        "{message}"
    );

    let own = dir.path().join("bedside.db");
    let before = std::fs::read(&own).unwrap();
    let out = backup(dir.path(), &[own.to_str().unwrap(), "--force"]).await;
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("one of bedside's own files"), "{message}");
    assert_eq!(std::fs::read(&own).unwrap(), before);
}
