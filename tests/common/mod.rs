//! Shared test plumbing: a real bedside on 127.0.0.1:0 over a real SQLite
//! file in a temp dir, and a small real HTTP/1.1 client.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod browser;
pub mod mailbox;
pub mod raw;
pub mod smtp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use bedside::clock::FixedClock;
use bedside::config::{Config, Env};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running server and the directory that holds its data.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), bedside::StartError>>,
}

/// The purge schedule tests run with unless they set one: daily at 03:00
/// UTC, so a scheduled purge (which writes to `meta` and the audit trail)
/// practically never lands in the middle of a test comparing the database
/// before and after. The purge due at start still runs; see `ready`.
pub const TEST_PURGE_SCHEDULE: &str = "0 0 3 * * *";

/// The configuration tests use: defaults, with the data in `data_dir`.
pub fn config_for(data_dir: &Path, extra: &[(&str, &str)]) -> Config {
    capture_logs();
    let mut env = Env::new();
    env.insert("BEDSIDE_DATA_DIR".into(), data_dir.display().to_string());
    env.insert(
        "BEDSIDE_RETENTION_PURGE_SCHEDULE".into(),
        TEST_PURGE_SCHEDULE.into(),
    );
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::load(None, &env).expect("test config is valid")
}

impl TestServer {
    /// Starts bedside on a fresh port with its data in `data_dir`.
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(config_for(data_dir, &[])).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let data_dir = config.server.data_dir.clone();
        let task = tokio::spawn(bedside::run(config, listener, shutdown.clone()));
        Self::ready(addr, data_dir, shutdown, task).await
    }

    /// Starts bedside with its clock held by the test, and its public URL
    /// set to the address it really listens on (so links and the origin
    /// check match what a browser sees).
    pub async fn start_at(data_dir: &Path, clock: Arc<FixedClock>) -> TestServer {
        Self::start_at_with(data_dir, clock, &[]).await
    }

    /// As [`TestServer::start_at`], with more `BEDSIDE_*` settings.
    pub async fn start_at_with(
        data_dir: &Path,
        clock: Arc<FixedClock>,
        extra: &[(&str, &str)],
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let public = format!("http://{addr}");
        let mut settings = vec![("BEDSIDE_PUBLIC_URL", public.as_str())];
        settings.extend_from_slice(extra);
        let config = config_for(data_dir, &settings);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(bedside::run_with_clock(
            config,
            listener,
            shutdown.clone(),
            clock,
        ));
        Self::ready(addr, data_dir.to_path_buf(), shutdown, task).await
    }

    async fn ready(
        addr: SocketAddr,
        data_dir: PathBuf,
        shutdown: CancellationToken,
        task: JoinHandle<Result<(), bedside::StartError>>,
    ) -> TestServer {
        let server = TestServer {
            addr,
            data_dir,
            shutdown,
            task,
        };
        // Ready when /healthz answers (the listener queues connections
        // meanwhile) and the purge due at start is done, so it does not
        // change the database under a test.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (status, _, body) = server.get("/healthz").await;
            assert_eq!(status, 200, "server did not come up healthy: {body}");
            if !body.contains(r#""purge":"running""#) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the purge at start did not finish: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        server
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    pub async fn get(&self, path: &str) -> (http::StatusCode, http::HeaderMap, String) {
        request(self.addr, http::Method::GET, path, &[], Bytes::new()).await
    }
}

/// Sends one request on a new connection and returns status, headers, body.
pub async fn request(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (http::StatusCode, http::HeaderMap, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let response = sender
        .send_request(builder.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Opens the database file directly, as an auditor would.
pub fn open_db(data_dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data_dir.join("bedside.db")).unwrap()
}

/// Opens the database file with the data key, as bedside does: SQL can
/// then use `bedside_open`, `bedside_seal` and `bedside_email_key`.
pub fn open_db_keyed(data_dir: &Path) -> rusqlite::Connection {
    let conn = open_db(data_dir);
    let key = bedside::crypto::DataKey::load_or_create(data_dir).unwrap();
    bedside::crypto::register(&conn, &key).unwrap();
    conn
}

/// Every contact as (id, name, e-mail), decrypted.
pub fn contacts(data_dir: &Path) -> Vec<(i64, String, String)> {
    bedside::store::bookings::contacts_all(&open_db_keyed(data_dir)).unwrap()
}

/// A ward set up the way `bedside unit/tablet/patient add` does it, written
/// straight into the database file before (or while) the server runs.
pub struct Ward {
    pub unit_id: i64,
    pub patient_id: i64,
    /// The patient's invite code (the part after `/b/`).
    pub invite: String,
}

/// Creates the data directory and a ward "Ward 3" in Europe/Amsterdam with
/// the given visiting `hours`, `tablets` active tablets (Tablet 1, 2, …)
/// and one patient "Bed 12". Defaults otherwise: 30-minute slots, 10
/// minutes buffer, 7 days ahead, 2 visits a day, join 10 minutes early,
/// 5 minutes grace.
pub fn seed_ward(data_dir: &Path, hours: &str, tablets: usize) -> Ward {
    seed_unit(data_dir, "Ward 3", hours, tablets, "Bed 12")
}

/// As [`seed_ward`], for any unit name and patient label.
pub fn seed_unit(data_dir: &Path, unit: &str, hours: &str, tablets: usize, label: &str) -> Ward {
    use bedside::domain::{patient, tablet, unit as units};
    let config = config_for(data_dir, &[]);
    bedside::create_data_dir(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let u = match units::by_name(&conn, unit) {
        Ok(u) => u,
        Err(_) => units::add(
            &conn,
            unit,
            &units::UnitSettings {
                time_zone: Some("Europe/Amsterdam".into()),
                visiting_hours: Some(hours.into()),
                ..Default::default()
            },
            now,
        )
        .unwrap(),
    };
    for i in 1..=tablets {
        tablet::add(&conn, unit, &format!("Tablet {i}"), now).unwrap();
    }
    let registered = patient::add(&conn, &u, label, now, &ring::rand::SystemRandom::new()).unwrap();
    Ward {
        unit_id: u.id,
        patient_id: registered.patient.id,
        invite: registered.invite.expose().to_string(),
    }
}

/// A fixed instant, e.g. `at("2026-11-23T08:00:00Z")`.
pub fn at(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

/// The password every seeded staff account has.
pub const STAFF_PASSWORD: &str = "correct horse battery staple";

/// Creates a staff account (`role` "admin" or "operator") working on the
/// named units, with [`STAFF_PASSWORD`]. Returns its id.
pub fn seed_staff(data_dir: &Path, username: &str, role: &str, units: &[&str]) -> i64 {
    use bedside::domain::audit::Actor;
    use bedside::domain::staff::{self, Role};
    let config = config_for(data_dir, &[]);
    bedside::create_data_dir(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let hash = staff::hash_password(STAFF_PASSWORD, &ring::rand::SystemRandom::new()).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let role = Role::parse(role).unwrap();
    let s = staff::add(
        &conn,
        username,
        &format!("Nurse {username}"),
        role,
        &hash,
        Actor::Cli,
        now,
    )
    .unwrap();
    let units: Vec<String> = units.iter().map(|u| u.to_string()).collect();
    staff::set_units(&conn, s.id, &units, Actor::Cli, now).unwrap();
    s.id
}

/// A logged-in staff browser: its cookie and the CSRF token of its session.
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// `__Host-bedside_session=<id>`, ready for a `cookie` header.
    pub cookie: String,
    pub csrf: String,
}

impl TestServer {
    /// Logs in through the login form as a browser would.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<StaffSession, (http::StatusCode, String)> {
        let (_, _, page) = self.get("/staff/login").await;
        let token = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let body = serde_urlencoded::to_string([
            ("csrf", token.as_str()),
            ("username", username),
            ("password", password),
        ])
        .unwrap();
        let origin = format!("http://{}", self.addr);
        let (status, headers, body) = request(
            self.addr,
            http::Method::POST,
            "/staff/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", &origin),
            ],
            Bytes::from(body),
        )
        .await;
        if status != http::StatusCode::SEE_OTHER {
            return Err((status, body));
        }
        let set_cookie = headers["set-cookie"].to_str().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let (_, _, page) = self.get_as(&cookie, "/staff").await;
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string();
        Ok(StaffSession { cookie, csrf })
    }

    /// A GET with a session cookie.
    pub async fn get_as(
        &self,
        cookie: &str,
        path: &str,
    ) -> (http::StatusCode, http::HeaderMap, String) {
        request(
            self.addr,
            http::Method::GET,
            path,
            &[("cookie", cookie)],
            Bytes::new(),
        )
        .await
    }

    /// A same-origin form POST with a session cookie; `form` is urlencoded
    /// and should carry `csrf=<token>` when the test wants it accepted.
    pub async fn post_as(
        &self,
        cookie: &str,
        path: &str,
        form: &str,
    ) -> (http::StatusCode, http::HeaderMap, String) {
        let origin = format!("http://{}", self.addr);
        request(
            self.addr,
            http::Method::POST,
            path,
            &[
                ("cookie", cookie),
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", &origin),
                ("sec-fetch-site", "same-origin"),
            ],
            Bytes::from(form.to_string()),
        )
        .await
    }
}

/// Books `slot` for a seeded patient straight through the domain, as the
/// family `(name, email)` would, at `now`. With `with_mail` the real mailer
/// writes the booking's outbox rows, as a booking through the pages does.
pub fn seed_booking(
    data_dir: &Path,
    patient_id: i64,
    slot: &str,
    (name, email): (&str, &str),
    now: &str,
    with_mail: bool,
) -> bedside::domain::booking::Booked {
    use bedside::domain::{booking, notify::Notifier, patient};
    let config = config_for(data_dir, &[]);
    let mailer = bedside::mail::Mailer::new(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let (p, u) = patient::active_by_id(&conn, patient_id).unwrap();
    booking::book(
        &conn,
        &p,
        &u,
        &booking::BookingRequest {
            slot_start: at(slot).as_second(),
            name: name.into(),
            email: email.into(),
            language: "en".into(),
            consent: true,
            privacy_version: "test".into(),
        },
        at(now),
        &ring::rand::SystemRandom::new(),
        with_mail.then_some(&mailer as &dyn Notifier),
    )
    .unwrap()
}

/// Where every test leaves the logs it caused — in-process servers and
/// spawned `bedside` processes alike — for `.ci/log-scan` to read after
/// the suite: `target/test-logs/`.
pub fn test_log_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp");
    let dir = target.join("test-logs");
    std::fs::create_dir_all(&dir).expect("target/test-logs can be created");
    dir
}

/// This test binary's name without cargo's hash, e.g. `mail`.
fn test_binary() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    match stem.rsplit_once('-') {
        Some((name, _hash)) => name.to_string(),
        None => stem.into_owned(),
    }
}

/// The log file of this test binary's process, with a suffix:
/// `target/test-logs/<binary>-<pid><suffix>.log`.
pub fn test_log_path(suffix: &str) -> PathBuf {
    test_log_dir().join(format!(
        "{}-{}{suffix}.log",
        test_binary(),
        std::process::id()
    ))
}

/// Sends everything the code under test logs in this process (the
/// servers of every test, at debug level) to [`test_log_path`], once per
/// test binary. Called by [`config_for`], so every in-process server and
/// seeding helper is covered.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(test_log_path(""))
            .expect("the test log can be opened");
        // Another subscriber set by a test (none today) wins; its logs are
        // then its own business.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    });
}

/// Appends what a spawned `bedside` wrote to stderr (its logs and
/// messages) to `target/test-logs/<binary>-<pid>-bedside.log`, and hands
/// the output back: `let out = keep_log(cmd.output().unwrap());`.
pub fn keep_log(output: std::process::Output) -> std::process::Output {
    keep_stderr(&output.stderr);
    output
}

/// Appends `bytes` of a spawned `bedside`'s stderr to the log of this
/// test binary's children (see [`keep_log`]).
pub fn keep_stderr(bytes: &[u8]) {
    use std::io::Write;
    if bytes.is_empty() {
        return;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(test_log_path("-bedside"))
        .expect("the test log can be opened");
    file.write_all(bytes).expect("the test log can be written");
}
