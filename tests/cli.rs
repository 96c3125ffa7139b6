//! The `bedside` binary as hospital IT runs it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;

const BIN: &str = env!("CARGO_BIN_EXE_bedside");

/// A `bedside` command with a clean environment (no BEDSIDE_* leaking in
/// from the machine) and its data in `data_dir`.
fn bedside(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("BEDSIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("BEDSIDE_DATA_DIR", data_dir)
        .env("BEDSIDE_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    common::keep_log(cmd.output().expect("bedside runs"))
}

/// A running `bedside serve`; killed if a test fails half-way.
struct Served {
    child: Child,
    addr: SocketAddr,
    stderr: BufReader<std::process::ChildStderr>,
}

impl Served {
    /// Sends SIGTERM, as systemd or docker stop would.
    fn sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "bedside did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it logged after the start-up line (once it has exited).
    fn rest_of_log(&mut self) -> String {
        let mut log = String::new();
        self.stderr.read_to_string(&mut log).unwrap();
        common::keep_stderr(log.as_bytes());
        log
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // What it logged and no one read yet, for the log scan.
        let mut rest = Vec::new();
        let _ = self.stderr.read_to_end(&mut rest);
        common::keep_stderr(&rest);
    }
}

/// Starts `bedside serve` on a free port and waits for its start-up line,
/// which names the address and the data directory.
fn serve(data_dir: &Path) -> Served {
    let mut child = bedside(data_dir)
        .env("BEDSIDE_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut served = Served {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
        stderr,
    };
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            served.stderr.read_line(&mut line).unwrap() > 0,
            "serve exited early"
        );
        common::keep_stderr(line.as_bytes());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            served.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            let data = std::fs::canonicalize(data_dir).unwrap();
            assert!(
                line.contains(&format!("data in {}", data.display())),
                "{line}"
            );
            return served;
        }
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_starts_with_no_config_and_sigterm_lets_a_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bedside-data");
    let mut server = serve(&data);
    let addr = server.addr;
    assert!(data.join("bedside.db").exists());
    assert!(data.join("jitsi-app-secret").exists());
    let health = http_get(addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains(r#""database":"ok""#), "{health}");

    // A request in flight: headers and half the body sent.
    let mut in_flight = TcpStream::connect(addr).unwrap();
    in_flight
        .write_all(b"POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100)); // let the server start reading it

    server.sigterm();
    // Shutdown has begun once the listener is closed.
    let start = Instant::now();
    while TcpStream::connect(addr).is_ok() {
        assert!(start.elapsed() < Duration::from_secs(5), "still accepting");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The request in flight still gets its answer.
    in_flight.write_all(b"world").unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");

    let status = server.wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let log = server.rest_of_log();
    assert!(log.contains("SIGTERM received"), "{log}");

    // The database is consistent and the WAL folded back in.
    let db = common::open_db(&data);
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn request_logs_hold_the_route_pattern_never_the_path_or_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let answer = http_get(server.addr, "/v/visitcode1234567890?jwt=tokenvalue987");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    server.sigterm();
    server.wait(Duration::from_secs(10));
    let log = server.rest_of_log();
    assert!(log.contains("route=\"/v/{code}\""), "{log}");
    assert!(log.contains("status=404"), "{log}");
    assert!(!log.contains("visitcode1234567890"), "{log}");
    assert!(!log.contains("tokenvalue987"), "{log}");
}

#[derive(Debug)]
struct Token {
    header: serde_json::Value,
    claims: serde_json::Value,
}

/// Checks the signature with ring, as Prosody checks it, and decodes.
fn verify(token: &str, secret: &[u8]) -> Option<Token> {
    let parts: Vec<&str> = token.split('.').collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let signature = BASE64URL_NOPAD.decode(parts[2].as_bytes()).ok()?;
    ring::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &signature,
    )
    .ok()?;
    let json = |p: &str| serde_json::from_slice(&BASE64URL_NOPAD.decode(p.as_bytes()).unwrap());
    Some(Token {
        header: json(parts[0]).unwrap(),
        claims: json(parts[1]).unwrap(),
    })
}

#[test]
fn token_prints_a_join_url_for_that_room_only_valid_for_the_time_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(bedside(dir.path()).args([
        "token",
        "--room",
        "ward3-bed12",
        "--name",
        "Tablet 3",
        "--moderator",
        "--valid-for",
        "30m",
    ]));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the URL on stdout: {stdout}"
    );
    let url = stdout.trim();
    let (base, token) = url.split_once("#jwt=").unwrap();
    assert_eq!(base, "https://localhost:8443/ward3-bed12");

    let secret = std::fs::read_to_string(dir.path().join("jitsi-app-secret")).unwrap();
    let t = verify(token, secret.trim_end().as_bytes()).expect("signature verifies");
    assert_eq!(t.header["typ"], "JWT");
    assert_eq!(t.header["alg"], "HS256");
    assert_eq!(t.claims["room"], "ward3-bed12");
    assert_eq!(t.claims["sub"], "meet.jitsi");
    assert_eq!(t.claims["iss"], "bedside");
    assert_eq!(t.claims["aud"], "jitsi");
    assert_eq!(t.claims["moderator"], true);
    assert_eq!(t.claims["context"]["user"]["name"], "Tablet 3");
    let (nbf, exp) = (
        t.claims["nbf"].as_i64().unwrap(),
        t.claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - nbf, 30 * 60);
    let now = jiff::Timestamp::now().as_second();
    assert!((now - 60..=now).contains(&nbf), "nbf {nbf} vs now {now}");

    // A second token uses the same secret (it was created once, 0600).
    let out = run(bedside(dir.path()).args(["token", "--room", "r2", "--name", "Staff"]));
    let url = String::from_utf8(out.stdout).unwrap();
    let t = verify(
        url.trim().split_once("#jwt=").unwrap().1,
        secret.trim_end().as_bytes(),
    )
    .expect("same secret");
    assert_eq!(t.claims["moderator"], false);
    assert_eq!(t.claims["room"], "r2");
}

#[test]
fn token_refuses_what_prosody_would_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(bedside(dir.path()).args(["token", "--room", "Ward3", "--name", "T"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("try 'ward3'"), "{err}");

    let out = run(bedside(dir.path()).args(["token", "--room", "*", "--name", "T"]));
    assert!(!out.status.success());

    let out = run(bedside(dir.path()).args([
        "token",
        "--room",
        "r",
        "--name",
        "T",
        "--valid-for",
        "25h",
    ]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("between 1m and 24h"));

    let short = dir.path().join("short-secret");
    std::fs::write(&short, "0123456789").unwrap();
    let out = run(bedside(dir.path())
        .env("BEDSIDE_JITSI_APP_SECRET_FILE", &short)
        .args(["token", "--room", "r", "--name", "T"]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("jitsi.app_secret_file"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn init_writes_a_commented_file_that_check_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bedside.toml");
    let out = run(bedside(dir.path()).arg("init").arg(&file));
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    for key in bedside::config::KEYS {
        assert!(text.contains(key.env), "{} missing", key.key);
    }
    // Never overwritten by accident.
    let again = run(bedside(dir.path()).arg("init").arg(&file));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let out = run(bedside(dir.path()).arg("--config").arg(&file).arg("check"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("no problems found"), "{stdout}");
}

#[test]
fn check_lists_every_problem_with_its_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"everywhere\"\n\
         [jitsi]\nalgorithm = \"none\"\npublic_url = \"meet\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let out = run(bedside(dir.path())
        .env("BEDSIDE_JITSI_AUDIENCE", "*")
        .arg("--config")
        .arg(&file)
        .arg("check"));
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for key in [
        "server.listen",
        "jitsi.algorithm",
        "jitsi.public_url",
        "jitsi.colour",
        "jitsi.audience (env BEDSIDE_JITSI_AUDIENCE)",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("problem  {key}: "))),
            "{key} not reported:\n{stdout}"
        );
    }
    assert!(stdout.contains("5 problem(s) found"), "{stdout}");

    // serve refuses the same configuration before touching anything.
    let out = run(bedside(&dir.path().join("never"))
        .arg("--config")
        .arg(&file)
        .arg("serve"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
    assert!(!dir.path().join("never").exists());
}

#[test]
fn check_reports_a_database_from_a_newer_bedside() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = run(bedside(dir.path()).arg("check"));
    assert!(fresh.status.success(), "{fresh:?}");
    assert!(String::from_utf8_lossy(&fresh.stdout).contains("will be created at first start"));

    let mut server = serve(dir.path());
    server.sigterm();
    assert!(server.wait(Duration::from_secs(10)).success());
    drop(server);
    let ok = run(bedside(dir.path()).arg("check"));
    assert!(ok.status.success(), "{ok:?}");

    common::open_db(dir.path())
        .pragma_update(None, "user_version", 42)
        .unwrap();
    let out = run(bedside(dir.path()).arg("check"));
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("problem  server.data_dir:"), "{stdout}");
    assert!(stdout.contains("newer bedside"), "{stdout}");
}

#[test]
fn a_ward_set_up_from_the_cli_is_bookable_through_the_printed_invite() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let out = run(bedside(dir.path()).args(args));
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&[
        "unit",
        "add",
        "Ward 3",
        "--time-zone",
        "Europe/Amsterdam",
        "--hours",
        "mon-sun 08:00-20:00",
        "--slot-minutes",
        "20",
        "--buffer-minutes",
        "5",
    ]);
    ok(&["tablet", "add", "--unit", "Ward 3", "Tablet 1"]);
    ok(&["tablet", "add", "--unit", "Ward 3", "Tablet 2"]);
    let tablets = ok(&["tablet", "list", "--unit", "Ward 3"]);
    assert!(tablets.contains("Tablet 2\tactive"), "{tablets}");
    let qr = dir.path().join("card.svg");
    let added = ok(&[
        "patient",
        "add",
        "--unit",
        "Ward 3",
        "--label",
        "Bed 12",
        "--qr",
        qr.to_str().unwrap(),
    ]);
    let link = added
        .lines()
        .find(|l| l.starts_with("http://127.0.0.1:8080/b/"))
        .expect("the invite link is printed");
    assert!(std::fs::read_to_string(&qr).unwrap().contains("<svg"));
    let units = ok(&["unit", "list"]);
    assert!(units.contains("20 min, 5 min between"), "{units}");
    // Every change from the command line is in the audit trail, by id only.
    let trail: Vec<(String, String)> = common::open_db(dir.path())
        .prepare("SELECT action, coalesce(object, '') FROM audit WHERE actor = 'cli' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["unit.add", "tablet.add", "tablet.add", "patient.add"]
    );
    assert!(
        trail
            .iter()
            .all(|(_, o)| !o.contains("Bed") && !o.contains("Ward"))
    );

    // The server started on the same data serves the printed invite.
    let server = serve(dir.path());
    let path = link.trim_start_matches("http://127.0.0.1:8080");
    let page = http_get(server.addr, path);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("Book a video visit with Bed 12"), "{page}");
    assert!(
        page.contains("20 min") || page.contains("–"),
        "slots are offered"
    );
    drop(server);

    // Discharge: the same link stops working.
    let list = ok(&["patient", "list", "--unit", "Ward 3"]);
    let id = list.split('\t').next().unwrap().trim().to_string();
    let out = ok(&["patient", "discharge", &id]);
    assert!(out.contains("discharged"), "{out}");
    let server = serve(dir.path());
    let page = http_get(server.addr, path);
    assert!(page.starts_with("HTTP/1.1 404"), "{page}");
}

#[test]
fn admin_commands_refuse_bad_input_naming_the_option_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fails = |args: &[&str], hint: &str| {
        let out = run(bedside(dir.path()).args(args));
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(hint), "{args:?}: {err}");
    };
    fails(
        &[
            "unit",
            "add",
            "Ward 3",
            "--time-zone",
            "Mars/Olympus",
            "--hours",
            "mon 10:00-11:00",
        ],
        "time-zone: 'Mars/Olympus' is not an IANA time zone",
    );
    fails(
        &[
            "unit",
            "add",
            "Ward 3",
            "--time-zone",
            "Europe/Amsterdam",
            "--hours",
            "mon 11:00-10:00",
        ],
        "hours",
    );
    fails(
        &["unit", "add", "Ward 3", "--time-zone", "Europe/Amsterdam"],
        "visiting-hours: is required",
    );
    fails(
        &["tablet", "add", "--unit", "Ward 9", "T1"],
        "no unit called 'Ward 9'",
    );
    fails(
        &["patient", "add", "--unit", "Ward 9", "--label", "Bed 1"],
        "no unit called 'Ward 9'",
    );
    let ok = run(bedside(dir.path()).args([
        "unit",
        "add",
        "Ward 3",
        "--time-zone",
        "Europe/Amsterdam",
        "--hours",
        "mon 10:00-11:00",
    ]));
    assert!(ok.status.success());
    fails(
        &["unit", "set", "Ward 3", "--slot-minutes", "500"],
        "slot-minutes: 500 is out of range; use 5 to 240",
    );
    fails(
        &[
            "patient",
            "add",
            "--unit",
            "Ward 3",
            "--label",
            &"x".repeat(41),
        ],
        "label: is too long",
    );
    fails(&["patient", "discharge", "99"], "no patient with id 99");
    let db = common::open_db(dir.path());
    let counts: (i64, i64, i64) = db
        .query_row(
            "SELECT (SELECT count(*) FROM units), (SELECT count(*) FROM tablets), (SELECT count(*) FROM patients)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(counts, (1, 0, 0));
    let slot: i64 = db
        .query_row("SELECT slot_minutes FROM units", [], |r| r.get(0))
        .unwrap();
    assert_eq!(slot, 30, "a refused change leaves the unit as it was");
}
