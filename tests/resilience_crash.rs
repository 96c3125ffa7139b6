//! The real `bedside serve` killed with SIGKILL in the middle of 1 000
//! concurrent bookings, then started again on the same data directory:
//! what it acknowledged must still be there (and nothing double-booked),
//! the database must be intact, and the families' links must work.
//!
//! This is what keeps the store's group commit honest: a booking may be
//! answered `201 Created` only once the transaction that holds it has
//! committed. A process killed at any instant loses at most bookings it
//! had not answered yet.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bedside::domain::unit::{self, UnitSettings};
use bedside::domain::{apikey, patient, tablet};
use common::raw::{Exchange, exchange, request_bytes};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_bedside");

/// Bookings fired at once.
const BOOKINGS: usize = 1_000;
/// Successful answers to wait for before the kill: a quarter of the
/// bookings, so many more are in flight (some committed and not yet
/// answered, some not yet committed) when the process dies.
const KILL_AFTER: usize = 250;
/// Tablets on the ward: each slot is asked for by five families, so one in
/// five requests is refused — the contention that could double-book.
const TABLETS: usize = 4;
const SLOTS: usize = 200;
const ASKS_PER_SLOT: usize = BOOKINGS / SLOTS;
/// Kill-and-restart rounds, each with its own `BOOKINGS` for other slots.
const ROUNDS: usize = 2;
const PATIENTS: usize = 100;

/// Longest the start-up may take (the line naming the address); a debug
/// build on a busy machine needs well under a second.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// A running `bedside serve`, with its stderr going to a file under
/// `target/test-logs/`. Killed when dropped, so a failing test leaves no
/// process behind.
struct Served {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bedside serve` on a free port with its data in `data_dir`, its
/// configuration from `BEDSIDE_*` variables only, and waits for the
/// start-up line that names the address.
fn serve(data_dir: &Path, run: &str) -> Served {
    let log = common::test_log_path(&format!("-serve-{run}"));
    let stderr = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .env("BEDSIDE_DATA_DIR", data_dir)
        .env("BEDSIDE_LISTEN", "127.0.0.1:0")
        .env(
            "BEDSIDE_RETENTION_PURGE_SCHEDULE",
            common::TEST_PURGE_SCHEDULE,
        )
        .env("BEDSIDE_LOG", "debug")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut served = Served {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
        log,
    };
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&served.log).unwrap_or_default();
        if let Some(rest) = text.split("listening on http://").nth(1) {
            served.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            return served;
        }
        if let Some(status) = served.child.try_wait().unwrap() {
            panic!("bedside serve exited with {status}:\n{text}");
        }
        assert!(
            started.elapsed() < START_PATIENCE,
            "no start-up line after {START_PATIENCE:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The ward: visiting hours all day, 5-minute slots, `TABLETS` tablets,
/// `PATIENTS` patients allowed 20 visits a day, and an API key.
struct Ward {
    unit_id: i64,
    patients: Vec<i64>,
    key: String,
}

fn seed(data_dir: &Path) -> Ward {
    let config = common::config_for(data_dir, &[]);
    bedside::create_data_dir(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let rng = ring::rand::SystemRandom::new();
    let u = unit::add(
        &conn,
        "Ward 9",
        &UnitSettings {
            time_zone: Some("Europe/Amsterdam".into()),
            visiting_hours: Some("mon-sun 00:00-23:59".into()),
            slot_minutes: Some(5),
            buffer_minutes: Some(0),
            horizon_days: Some(3),
            max_visits_per_day: Some(20),
            ..Default::default()
        },
        now,
    )
    .unwrap();
    for i in 1..=TABLETS {
        tablet::add(&conn, "Ward 9", &format!("Tablet {i}"), now).unwrap();
    }
    let patients = (1..=PATIENTS)
        .map(|i| {
            patient::add(&conn, &u, &format!("Bed {i}"), now, &rng)
                .unwrap()
                .patient
                .id
        })
        .collect();
    let key = apikey::create(&conn, "crash test", now, &rng).unwrap();
    Ward {
        unit_id: u.id,
        patients,
        key,
    }
}

/// One request on its own connection; the answer, or why there was none.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("authorization", auth.as_str())];
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    let bytes = request_bytes(method, path, &headers, body.as_bytes());
    match exchange(addr, &bytes, false).await {
        Ok(Exchange::Answered(r)) => Ok((r.status, r.text())),
        Ok(Exchange::Dropped { got, error }) => Err(format!(
            "no complete answer ({} bytes, {error:?})",
            got.len()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// A booking bedside acknowledged.
#[derive(Debug, Clone)]
struct Acked {
    id: i64,
    code: String,
    patient_id: i64,
    start: String,
    tablet: String,
}

/// The starts of the next `ROUNDS * SLOTS` free slots, beginning at least an hour
/// from now (so none passes while the test runs).
async fn upcoming_slots(addr: SocketAddr, ward: &Ward) -> Vec<String> {
    let (status, text) = call(
        addr,
        "GET",
        &format!("/api/v1/units/{}/slots", ward.unit_id),
        &ward.key,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let starts: Vec<String> = listed["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_string())
        .filter(|s| s.parse::<jiff::Timestamp>().unwrap() >= soon)
        .take(ROUNDS * SLOTS)
        .collect();
    assert_eq!(starts.len(), ROUNDS * SLOTS, "the ward offers enough slots");
    starts
}

/// Fires `BOOKINGS` bookings at once at `served` for `slots`, kills it
/// with SIGKILL once `KILL_AFTER` were acknowledged, and returns what it
/// acknowledged.
async fn fire_and_kill(
    mut served: Served,
    ward: &Arc<Ward>,
    slots: &[String],
    round: usize,
) -> Vec<Acked> {
    let addr = served.addr;
    let slots = Arc::new(slots.to_vec());
    // Every family's request, all at once. Five families in a row ask for
    // the same slot (four tablets: one of them is refused), each for
    // another patient; each patient is asked for ten slots in all.
    let acked_count = Arc::new(AtomicUsize::new(0));
    let answered_count = Arc::new(AtomicUsize::new(0));
    let (kill_tx, mut kill_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut tasks = Vec::new();
    for i in 0..BOOKINGS {
        let (ward, slots) = (ward.clone(), slots.clone());
        let family = round * BOOKINGS + i;
        let (acked_count, answered_count) = (acked_count.clone(), answered_count.clone());
        let kill_tx = kill_tx.clone();
        tasks.push(tokio::spawn(async move {
            let slot = i / ASKS_PER_SLOT;
            let patient_id =
                ward.patients[(i % ASKS_PER_SLOT + ASKS_PER_SLOT * (slot % 20)) % PATIENTS];
            let start = slots[slot].clone();
            let body = json!({
                "patient_id": patient_id,
                "start": start,
                "name": format!("Crash Family {family}"),
                "email": format!("crash-family-{family}@example.org"),
                "language": "en",
                "consent": true,
            });
            let answer = call(addr, "POST", "/api/v1/bookings", &ward.key, Some(&body)).await;
            let Ok((status, text)) = answer else {
                return (i, None);
            };
            answered_count.fetch_add(1, Ordering::SeqCst);
            if status != 201 {
                assert_eq!(
                    status, 409,
                    "family {family}: only a full slot may refuse: {text}"
                );
                return (i, None);
            }
            let created: Value = serde_json::from_str(&text).unwrap();
            let url = created["visit_url"].as_str().unwrap();
            let acked = Acked {
                id: created["id"].as_i64().unwrap(),
                code: url.rsplit("/v/").next().unwrap().to_string(),
                patient_id,
                start: created["start"].as_str().unwrap().to_string(),
                tablet: created["tablet"].as_str().unwrap().to_string(),
            };
            assert_eq!(
                acked.start, start,
                "family {family} got the slot it asked for"
            );
            if acked_count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                let _ = kill_tx.try_send(());
            }
            (i, Some(acked))
        }));
    }
    drop(kill_tx);

    kill_rx
        .recv()
        .await
        .expect("enough bookings were acknowledged to kill the server mid-way");
    served.child.kill().unwrap(); // SIGKILL: no shutdown, no flush, no goodbye
    let killed_at = answered_count.load(Ordering::SeqCst);
    served.child.wait().unwrap();

    let mut acked = Vec::new();
    let mut unanswered = 0;
    for task in tasks {
        match task.await.unwrap() {
            (_, Some(a)) => acked.push(a),
            (_, None) => unanswered += 1,
        }
    }
    let answered = answered_count.load(Ordering::SeqCst);
    assert!(
        answered < BOOKINGS,
        "every request was answered before the kill landed; nothing was in flight"
    );
    eprintln!(
        "round {round}: {} bookings acknowledged, {answered} answered ({killed_at} when the kill was sent), \
         {} refused or cut off",
        acked.len(),
        unanswered
    );
    acked
}

/// What must hold once bedside is started again on the data directory
/// after a kill: everything in `acked` is there as acknowledged, nothing
/// is double-booked, the database is intact, and `served` serves the
/// visits.
async fn check_after_restart(data: &Path, served: &Served, ward: &Ward, acked: &[Acked]) {
    let db = common::open_db(data);
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken_keys: i64 = db
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(broken_keys, 0, "no row points at one that is gone");

    // Every acknowledged booking is there, as acknowledged.
    let stored: BTreeMap<i64, (i64, i64, String, String)> = {
        let mut stmt = db
            .prepare(
                "SELECT b.id, b.patient_id, b.starts_at, t.label, b.status \
                 FROM bookings b JOIN tablets t ON t.id = b.tablet_id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    for a in acked {
        let Some((patient_id, starts_at, tablet, status)) = stored.get(&a.id) else {
            panic!(
                "booking {} (patient {}, {}, {}) was acknowledged and is gone",
                a.id, a.patient_id, a.start, a.tablet
            );
        };
        let start = a.start.parse::<jiff::Timestamp>().unwrap().as_second();
        assert_eq!(
            (*patient_id, *starts_at, tablet.as_str(), status.as_str()),
            (a.patient_id, start, a.tablet.as_str(), "booked"),
            "booking {} as acknowledged",
            a.id
        );
    }
    assert!(
        stored.len() >= acked.len(),
        "no fewer rows than acknowledgements"
    );

    // No tablet twice in one slot — neither in what families were told nor
    // in what is stored.
    let told: BTreeSet<(&str, &str)> = acked
        .iter()
        .map(|a| (a.tablet.as_str(), a.start.as_str()))
        .collect();
    assert_eq!(
        told.len(),
        acked.len(),
        "two families told the same tablet and time"
    );
    let doubled: i64 = db
        .query_row(
            "SELECT count(*) FROM (SELECT 1 FROM bookings WHERE status != 'cancelled' \
             GROUP BY tablet_id, starts_at HAVING count(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(doubled, 0, "a tablet is double-booked");
    let overfull: i64 = db
        .query_row(
            "SELECT count(*) FROM (SELECT 1 FROM bookings WHERE status != 'cancelled' \
             GROUP BY starts_at HAVING count(*) > ?1)",
            [TABLETS as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(overfull, 0, "a slot has more visits than tablets");

    // The confirmation mail of each was queued in the same transaction.
    let mailed: BTreeSet<i64> = {
        let mut stmt = db
            .prepare("SELECT booking_id FROM outbox WHERE kind = 'confirmation'")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for a in acked {
        assert!(
            mailed.contains(&a.id),
            "booking {} has no confirmation queued",
            a.id
        );
    }

    // The restarted server serves every acknowledged visit: the family's
    // link opens its page, and the API lists it.
    let addr = served.addr;
    let mut opened = Vec::new();
    for chunk in acked.chunks(32) {
        let mut batch = Vec::new();
        for a in chunk {
            let path = format!("/v/{}", a.code);
            batch.push(tokio::spawn(async move {
                let bytes = request_bytes("GET", &path, &[], b"");
                match exchange(addr, &bytes, false).await {
                    Ok(Exchange::Answered(r)) => (r.status, r.text()),
                    other => panic!("GET /v/<code>: {other:?}"),
                }
            }));
        }
        for task in batch {
            opened.push(task.await.unwrap());
        }
    }
    for (a, (status, page)) in acked.iter().zip(&opened) {
        assert_eq!(*status, 200, "visit {} after the restart: {page}", a.id);
        assert!(page.contains("Bed "), "visit {}: {page}", a.id);
    }
    let days: BTreeSet<String> = {
        let mut stmt = db
            .prepare("SELECT DISTINCT local_day FROM bookings")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let mut listed = BTreeSet::new();
    for day in days {
        let (status, text) = call(
            addr,
            "GET",
            &format!("/api/v1/units/{}/bookings?date={day}", ward.unit_id),
            &ward.key,
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{text}");
        let list: Value = serde_json::from_str(&text).unwrap();
        for b in list["bookings"].as_array().unwrap() {
            listed.insert(b["id"].as_i64().unwrap());
        }
    }
    for a in acked {
        assert!(listed.contains(&a.id), "booking {} is not listed", a.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bookings_acknowledged_before_a_sigkill_survive_it_and_none_is_double_booked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ward = Arc::new(seed(&data));
    let mut served = serve(&data, "start");
    let slots = upcoming_slots(served.addr, &ward).await;

    // Killed twice, in two rounds of bookings for other slots; after each
    // restart (with nothing repaired by hand) all acknowledged so far holds.
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let round_slots = &slots[round * SLOTS..(round + 1) * SLOTS];
        acked.extend(fire_and_kill(served, &ward, round_slots, round).await);
        served = serve(&data, &format!("after-kill-{round}"));
        check_after_restart(&data, &served, &ward, &acked).await;
    }
    let addr = served.addr;

    // And it takes new bookings.
    let body = json!({
        "patient_id": ward.patients[0],
        "start": slots[ROUNDS * SLOTS - 1],
        "name": "Crash Family After",
        "email": "crash-family-after@example.org",
        "language": "en",
        "consent": true,
    });
    let (status, text) = call(addr, "POST", "/api/v1/bookings", &ward.key, Some(&body))
        .await
        .unwrap();
    assert!(
        status == 201 || status == 409,
        "booking after the restart: {status} {text}"
    );
    drop(served);
}
