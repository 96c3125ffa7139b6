//! The deployment kit (`deploy/`, `jitsi-config/`, `examples/api-calls.sh`)
//! checked by the tools that will read it — `systemd-analyze`, nginx, Caddy,
//! curl against a real bedside — and against bedside's own list of settings,
//! so a file here cannot drift from what bedside reads and mints.
//!
//! A tool that is not installed is skipped with a note on stderr; the
//! checks that need no tool always run.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bedside::clock::FixedClock;
use bedside::config::{Config, Env, KEYS, OTHER_ENV};
use common::{TestServer, at, request, seed_ward};
use serde_json::Value;

/// A Monday morning before visiting hours: every slot of the week is ahead.
const NOW: &str = "2026-11-23T08:00:00Z";
/// Visiting hours every day; in Amsterdam's winter time the first slot of
/// the day starts at 13:00 UTC.
const HOURS: &str = "mon-sun 14:00-16:00";
/// Where the unit expects the binary.
const UNIT_EXEC: &str = "ExecStart=/usr/local/bin/bedside serve";
/// The longest `server.shutdown_grace` bedside accepts (src/config.rs).
const MAX_SHUTDOWN_GRACE_SECS: u64 = 60;

/// The variables docker-jitsi-meet's compose file passes to its containers
/// (docker-compose.yml, environment of web, prosody and jicofo) that the kit
/// sets, plus the compose-level ones it uses. A name not here would be
/// silently ignored by docker-jitsi-meet.
const DOCKER_JITSI_MEET_ENV: &[&str] = &[
    "AUTH_TYPE",
    "DISABLE_DEEP_LINKING",
    "DISABLE_LOCAL_RECORDING",
    "ENABLE_AUTH",
    "ENABLE_AUTO_OWNER",
    "ENABLE_CLOSE_PAGE",
    "ENABLE_GUESTS",
    "ENABLE_LOBBY",
    "ENABLE_PREJOIN_PAGE",
    "ENABLE_RECORDING",
    "ENABLE_THIRD_PARTY_REQUESTS",
    "ENABLE_TRANSCRIPTIONS",
    "ENABLE_WELCOME_PAGE",
    "JWT_ACCEPTED_AUDIENCES",
    "JWT_ACCEPTED_ISSUERS",
    "JWT_ALLOW_EMPTY",
    "JWT_APP_ID",
    "JWT_APP_SECRET",
    "JWT_ASAP_KEYSERVER",
    "JWT_AUTH_TYPE",
    "JWT_ENABLE_DOMAIN_VERIFICATION",
    "JWT_SIGN_TYPE",
    "JWT_TOKEN_AUTH_MODULE",
    "PUBLIC_URL",
    "RESTART_POLICY",
    "XMPP_DOMAIN",
    "XMPP_MUC_MODULES",
];

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The tool's path, from PATH or the sbin directories (nginx lives in
/// /usr/sbin, which an unprivileged PATH may lack).
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The tools, or `None` after a note saying which one is missing.
fn tools<const N: usize>(names: [&str; N], check: &str) -> Option<[PathBuf; N]> {
    let found = names.map(tool);
    if let Some(i) = found.iter().position(Option::is_none) {
        eprintln!(
            "skipped: {check} needs `{}`, which is not installed",
            names[i]
        );
        return None;
    }
    Some(found.map(Option::unwrap))
}

/// Runs a command; returns (success, stdout + stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Every `PREFIX…` name in `text` (upper case, digits, underscores).
fn names_with_prefix(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let name = name.trim_end_matches('_');
        // "BEDSIDE_*" in prose names no variable.
        if name.len() > prefix.trim_end_matches('_').len() {
            names.insert(name.to_string());
        }
    }
    names
}

/// A file with `#` comments removed (none of the kit's files has `#` inside
/// a quoted value).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A TCP port free right now on the loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port` (a proxy starting up).
async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start listening on port {port}");
}

/// Lines of `log` until `count` are there (a proxy writes its log lines
/// after answering).
async fn log_lines(log: &Path, count: usize) -> Vec<String> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= count {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {count} lines in {}, got: {:?}",
        log.display(),
        std::fs::read_to_string(log)
    );
}

/// A running proxy process, stopped when dropped.
struct Proxy(std::process::Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The requests a proxy's log is checked with: a visit link with a code and
/// a query string, an invite, a kiosk, a page with a query. None of the
/// secrets (codes, query values) may reach the log.
const PROXIED: [&str; 4] = [
    "/v/0123456789abcdef0123456789abcdef/booked?token=QUERYSECRET",
    "/b/fedcba9876543210fedcba9876543210",
    "/t/00112233445566778899aabbccddeeff",
    "/healthz?probe=QUERYSECRET",
];

/// Sends [`PROXIED`] through the proxy on `port` and checks its log.
async fn check_proxy_log(port: u16, log: &Path, what: &str) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for path in PROXIED {
        request(addr, http::Method::GET, path, &[], bytes::Bytes::new()).await;
    }
    // /healthz went through to bedside: the proxy really proxies.
    let (status, _, body) = request(
        addr,
        http::Method::GET,
        "/healthz",
        &[],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(status, 200, "{what}: /healthz through the proxy: {body}");
    let lines = log_lines(log, PROXIED.len() + 1).await;
    let text = lines.join("\n");
    for secret in [
        "QUERYSECRET",
        "?",
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
        "00112233445566778899aabbccddeeff",
    ] {
        assert!(
            !text.contains(secret),
            "{what}: the access log records `{secret}`:\n{text}"
        );
    }
    // What it does record: the kind of link and the page, for operations.
    for kept in ["/v/", "booked", "/b/", "/t/", "/healthz"] {
        assert!(
            text.contains(kept),
            "{what}: the log lost `{kept}`:\n{text}"
        );
    }
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let Some([analyze]) = tools(["systemd-analyze"], "verifying deploy/bedside.service") else {
        return;
    };
    let unit = read("deploy/bedside.service");
    assert!(
        unit.lines().any(|l| l == UNIT_EXEC),
        "the unit should run `{UNIT_EXEC}`"
    );
    // verify insists the ExecStart binary exists: point it at the real one.
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("bedside");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bedside"), &binary).unwrap();
    let exec = format!("ExecStart={} serve", binary.display());
    let verify = |text: &str| {
        let file = dir.path().join("bedside.service");
        std::fs::write(&file, text).unwrap();
        let (ok, out) = run(Command::new(&analyze).arg("verify").arg(&file));
        // verify exits 0 on unknown keys and bad values, but says so.
        let about_unit: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("bedside.service"))
            .collect();
        (ok && about_unit.is_empty(), out)
    };
    let (ok, out) = verify(&unit.replace(UNIT_EXEC, &exec));
    assert!(ok, "systemd-analyze verify complains:\n{out}");

    // The check catches a typo, on this machine's systemd too.
    let typo = unit
        .replace(UNIT_EXEC, &exec)
        .replace("ProtectSystem=strict", "ProtectSytem=strict");
    let (ok, out) = verify(&typo);
    assert!(!ok, "a misspelt key went unnoticed:\n{out}");
}

#[test]
fn systemd_unit_is_sandboxed_and_hands_secrets_over_as_credentials() {
    let unit = read("deploy/bedside.service");
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for required in [
        "User=bedside",
        "StateDirectory=bedside",
        "StateDirectoryMode=0700",
        "UMask=0077",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        // The purge lowers its batches' priority (SCHED_IDLE): see the unit.
        "SystemCallFilter=sched_setscheduler setpriority",
        "KillSignal=SIGTERM",
        "Environment=BEDSIDE_DATA_DIR=/var/lib/bedside",
    ] {
        assert!(lines.contains(&required), "the unit lacks `{required}`");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RestrictAddressFamilies=")),
        "the unit lacks RestrictAddressFamilies="
    );
    // systemd must wait longer than bedside may take to drain requests.
    let stop = lines
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec=");
    let secs: u64 = stop
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec in seconds");
    assert!(
        secs > MAX_SHUTDOWN_GRACE_SECS,
        "TimeoutStopSec={stop} is not above the longest shutdown_grace ({MAX_SHUTDOWN_GRACE_SECS}s)"
    );
    // Every file setting that points into the credentials directory has
    // its LoadCredential=, active or commented out alike.
    let mut pointed = 0;
    for line in &lines {
        let (commented, line) = match line.strip_prefix('#') {
            Some(rest) => (true, rest),
            None => (false, *line),
        };
        let Some(rest) = line.strip_prefix("Environment=BEDSIDE_") else {
            continue;
        };
        let Some((_, name)) = rest.split_once("=%d/") else {
            continue;
        };
        pointed += 1;
        let load = format!(
            "{}LoadCredential={name}:/etc/bedside/credentials/{name}",
            if commented { "#" } else { "" }
        );
        assert!(
            lines.contains(&load.as_str()),
            "`{line}` has no matching `{load}`"
        );
    }
    assert!(
        pointed >= 2,
        "the Jitsi secret and the SMTP password come as credentials"
    );
}

/// A self-signed certificate for the test copies of the proxy configs:
/// `key.pem` and `cert.pem` in `dir`.
fn throwaway_certificate(openssl: &std::path::Path, dir: &std::path::Path) {
    let (ok, out) = run(Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=visits.hospital.example.org",
            "-keyout",
        ])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem")));
    assert!(ok, "openssl req: {out}");
}

#[test]
fn nginx_config_passes_nginx_t() {
    let Some([nginx, openssl]) = tools(["nginx", "openssl"], "nginx -t on deploy/nginx.conf")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    throwaway_certificate(&openssl, d);
    let main = nginx_test_copy(d, &read("deploy/nginx.conf"), None);
    let (ok, out) = run(Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(d)
        .arg("-c")
        .arg(&main));
    assert!(ok, "nginx -t rejects deploy/nginx.conf:\n{out}");
}

/// A runnable copy of `conf` in `dir`: the throwaway certificate from
/// `dir`, logs in `dir`, and with `ports` = (http, https, upstream) its
/// listeners and upstream moved to the loopback (plain HTTP, so the test's
/// client can speak to it). Returns the main configuration file.
fn nginx_test_copy(dir: &Path, conf: &str, ports: Option<(u16, u16, u16)>) -> PathBuf {
    let d = dir.display();
    let mut site = conf
        .replace(
            "/etc/ssl/certs/visits.hospital.example.org.pem",
            &format!("{d}/cert.pem"),
        )
        .replace(
            "/etc/ssl/private/visits.hospital.example.org.key",
            &format!("{d}/key.pem"),
        )
        .replace("/var/log/nginx/", &format!("{d}/"));
    assert!(
        site.contains(&format!("{d}/cert.pem")),
        "certificate path changed"
    );
    assert!(
        site.contains(&format!("{d}/bedside.access.log")),
        "access log path changed"
    );
    if let Some((http, https, upstream)) = ports {
        for (from, to) in [
            ("listen 80;", format!("listen 127.0.0.1:{http};")),
            ("listen [::]:80;", String::new()),
            (
                "listen 443 ssl http2;",
                format!("listen 127.0.0.1:{https};"),
            ),
            ("listen [::]:443 ssl http2;", String::new()),
            (
                "proxy_pass http://127.0.0.1:8080;",
                format!("proxy_pass http://127.0.0.1:{upstream};"),
            ),
        ] {
            assert!(
                site.contains(from),
                "deploy/nginx.conf no longer has `{from}`"
            );
            site = site.replace(from, &to);
        }
    }
    std::fs::write(dir.join("bedside.conf"), site).unwrap();
    let main = dir.join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nmaster_process off;\nevents {{}}\n\
             http {{\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  include {d}/bedside.conf;\n}}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    main
}

#[tokio::test]
async fn nginx_access_log_keeps_no_query_string_and_no_code() {
    let Some([nginx, openssl]) = tools(["nginx", "openssl"], "running deploy/nginx.conf") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    throwaway_certificate(&openssl, d);
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let (http_port, https_port) = (free_port(), free_port());
    let main = nginx_test_copy(
        d,
        &read("deploy/nginx.conf"),
        Some((http_port, https_port, server.addr.port())),
    );
    let _proxy = Proxy(
        Command::new(nginx)
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(&main)
            .args(["-g", "daemon off;"])
            // One process (master_process off above), so stopping it stops
            // all of nginx; and none of it holds the test's output open
            // (a leaked worker holding stdout would hang `cargo test | tee`).
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx starts"),
    );
    wait_for_port(https_port, "nginx").await;
    check_proxy_log(https_port, &d.join("bedside.access.log"), "nginx").await;
    server.stop().await;
}

#[tokio::test]
async fn caddyfile_is_valid_and_its_log_keeps_no_query_string_and_no_code() {
    let Some([caddy]) = tools(["caddy"], "running deploy/Caddyfile") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let port = free_port();
    let mut conf = read("deploy/Caddyfile");
    for (from, to) in [
        (
            "visits.hospital.example.org {",
            format!("http://127.0.0.1:{port} {{"),
        ),
        ("/var/log/caddy/", format!("{}/", d.display())),
        (
            "reverse_proxy 127.0.0.1:8080",
            format!("reverse_proxy {}", server.addr),
        ),
    ] {
        assert!(
            conf.contains(from),
            "deploy/Caddyfile no longer has `{from}`"
        );
        conf = conf.replace(from, &to);
    }
    // No admin endpoint (tests run in parallel); Caddy's state goes to the
    // temporary HOME below.
    let file = d.join("Caddyfile");
    std::fs::write(&file, format!("{{\n\tadmin off\n}}\n\n{conf}")).unwrap();
    let (ok, out) = run(Command::new(&caddy)
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("HOME", d)
        .env("XDG_DATA_HOME", d)
        .env("XDG_CONFIG_HOME", d));
    assert!(ok, "caddy validate rejects deploy/Caddyfile:\n{out}");
    let _proxy = Proxy(
        Command::new(&caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", d)
            .env("XDG_DATA_HOME", d)
            .env("XDG_CONFIG_HOME", d)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("caddy starts"),
    );
    wait_for_port(port, "caddy").await;
    check_proxy_log(port, &d.join("bedside.access.log"), "caddy").await;
    server.stop().await;
}

#[test]
fn proxy_log_formats_name_no_query_string() {
    let nginx = without_comments(&read("deploy/nginx.conf"));
    for variable in [
        "$request_uri",
        "$query_string",
        "$args",
        "$arg_",
        "$is_args",
        "$http_referer",
        "$http_cookie",
    ] {
        assert!(
            !nginx.contains(variable),
            "deploy/nginx.conf uses {variable}"
        );
    }
    // $request is the whole request line, query string included; its
    // longer relatives ($request_method, $request_time) are fine.
    for (i, _) in nginx.match_indices("$request") {
        let next = nginx[i + "$request".len()..].chars().next();
        assert!(
            next == Some('_') && !nginx[i..].starts_with("$request_uri"),
            "deploy/nginx.conf uses $request (the request line with its query string)"
        );
    }
    assert!(
        nginx.contains("log_format bedside"),
        "nginx.conf defines its log format"
    );
    assert!(
        nginx
            .lines()
            .filter(|l| l.trim_start().starts_with("access_log"))
            .all(|l| l.trim_end().ends_with(" bedside;")),
        "every access_log in nginx.conf uses the bedside format"
    );

    let caddy = without_comments(&read("deploy/Caddyfile"));
    assert!(caddy.contains("format filter"), "the Caddy log is filtered");
    let uri = caddy
        .lines()
        .find(|l| l.trim_start().starts_with("request>uri "))
        .expect("the Caddy log filters request>uri");
    assert!(
        uri.contains("regexp") && uri.contains(r"\?"),
        "the request>uri filter drops the query: {uri}"
    );
}

#[test]
fn every_bedside_variable_in_the_kit_is_one_bedside_reads() {
    let known: BTreeSet<&str> = KEYS
        .iter()
        .map(|k| k.env)
        .chain(OTHER_ENV.iter().copied())
        .collect();
    let mut checked = 0;
    for dir in ["deploy", "jitsi-config"] {
        for entry in std::fs::read_dir(repo(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for name in names_with_prefix(&text, "BEDSIDE_") {
                checked += 1;
                assert!(
                    known.contains(name.as_str()),
                    "{} names {name}, which bedside does not read (see KEYS in src/config.rs)",
                    path.display()
                );
            }
        }
    }
    assert!(checked > 10, "found only {checked} BEDSIDE_ names");
}

#[test]
fn docker_variables_in_the_kit_are_ones_docker_jitsi_meet_reads() {
    let known: BTreeSet<&str> = DOCKER_JITSI_MEET_ENV.iter().copied().collect();
    // The .env lines, active or commented out.
    let env = read("jitsi-config/docker-jitsi-meet.env");
    let mut names = BTreeSet::new();
    for line in env.lines() {
        let line = line.trim_start_matches('#');
        if let Some((name, _)) = line.split_once('=')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        {
            names.insert(name.to_string());
        }
    }
    // What compose.yaml takes from the .env: ${NAME}, ${NAME:-…}, ${NAME:?…},
    // and secrets' `environment: NAME`.
    let compose = read("deploy/compose.yaml");
    for (i, _) in compose.match_indices("${") {
        let name: String = compose[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        names.insert(name);
    }
    names.extend(names_with_prefix(&compose, "JWT_"));
    let bedside: BTreeSet<&str> = KEYS.iter().map(|k| k.env).collect();
    for name in &names {
        assert!(
            known.contains(name.as_str()) || bedside.contains(name.as_str()),
            "{name} is not a variable docker-jitsi-meet reads"
        );
    }
    for name in [
        "JWT_APP_ID",
        "JWT_ACCEPTED_AUDIENCES",
        "JWT_SIGN_TYPE",
        "JWT_APP_SECRET",
        "XMPP_DOMAIN",
        "PUBLIC_URL",
    ] {
        assert!(
            compose.contains(name),
            "compose.yaml does not hand {name} to bedside"
        );
    }
}

/// `KEY=value` of the active lines of an env file.
fn env_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn jitsi_files_carry_what_bedside_mints_by_default() {
    let config = Config::load(None, &Env::new()).expect("the defaults load");
    let j = &config.jitsi;
    let env = env_values(&read("jitsi-config/docker-jitsi-meet.env"));
    let value = |key: &str| {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("docker-jitsi-meet.env has no active {key}"))
    };
    assert_eq!(value("JWT_APP_ID"), j.app_id);
    assert_eq!(value("JWT_ACCEPTED_ISSUERS"), j.app_id);
    assert_eq!(value("JWT_ACCEPTED_AUDIENCES"), j.audience);
    assert_eq!(value("JWT_SIGN_TYPE"), j.algorithm.as_str());
    assert_eq!(value("XMPP_DOMAIN"), j.xmpp_domain);
    assert_eq!(value("JWT_ALLOW_EMPTY"), "0");
    assert_eq!(value("ENABLE_AUTO_OWNER"), "0");
    assert!(
        value("XMPP_MUC_MODULES")
            .split(',')
            .any(|m| m == "token_affiliation")
    );

    let lua = read("jitsi-config/prosody-bedside.cfg.lua");
    let active: Vec<&str> = lua
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("--"))
        .collect();
    for line in [
        "authentication = \"token\"".to_string(),
        format!("app_id = \"{}\"", j.app_id),
        format!("signature_algorithm = \"{}\"", j.algorithm.as_str()),
        format!("asap_accepted_issuers = {{ \"{}\" }}", j.app_id),
        format!("asap_accepted_audiences = {{ \"{}\" }}", j.audience),
        "allow_empty_token = false".to_string(),
        "\"token_verification\";".to_string(),
        "\"token_affiliation\";".to_string(),
    ] {
        assert!(
            active.contains(&line.as_str()),
            "prosody-bedside.cfg.lua lacks `{line}`"
        );
    }
    assert!(
        read("jitsi-config/jicofo.conf")
            .lines()
            .any(|l| l == "jicofo.conference.enable-auto-owner = false"),
        "jicofo.conf turns auto-owner off"
    );
}

#[test]
fn docker_env_file_agrees_with_bedside_jitsi_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bedside"))
        .args(["jitsi-config", "--format", "docker-env"])
        .env("BEDSIDE_DATA_DIR", dir.path())
        .env_remove("BEDSIDE_CONFIG")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bedside jitsi-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = env_values(&read("jitsi-config/docker-jitsi-meet.env"));
    let printed = env_values(&printed);
    assert!(
        printed.len() > 5,
        "bedside jitsi-config printed {printed:?}"
    );
    for (key, value) in &printed {
        if key == "JWT_APP_SECRET" || key == "PUBLIC_URL" {
            continue; // a placeholder and an example host in the file
        }
        assert!(
            file.contains(&(key.clone(), value.clone())),
            "bedside jitsi-config prints {key}={value}; jitsi-config/docker-jitsi-meet.env does not say so"
        );
    }
}

#[tokio::test]
async fn api_calls_example_runs_against_a_real_server() {
    let Some([bash, _, _, _]) = tools(["bash", "curl", "jq", "date"], "examples/api-calls.sh")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), HOURS, 2);
    // The key as the README says to make one.
    let out = Command::new(env!("CARGO_BIN_EXE_bedside"))
        .args(["apikey", "create", "patient administration system"])
        .env("BEDSIDE_DATA_DIR", dir.path())
        .env_remove("BEDSIDE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let clock = Arc::new(FixedClock::new(at(NOW)));
    let server = TestServer::start_at(dir.path(), clock).await;
    let base = format!("http://{}", server.addr);
    let out = tokio::process::Command::new(bash)
        .arg(repo("examples/api-calls.sh"))
        .env("API_URL", &base)
        .env("API_KEY", &key)
        .env("PATIENT_LABEL", "Bed 14")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the example failed:\n{stderr}\n{stdout}"
    );

    // The invite and visit links it printed are bedside's own.
    let mut lines = stdout.lines();
    let invite = lines.next().unwrap_or_default();
    let visit = lines.next().unwrap_or_default();
    assert!(
        invite.starts_with(&format!("{base}/b/")),
        "invite link: {invite}"
    );
    assert!(
        visit.starts_with(&format!("{base}/v/")),
        "visit link: {visit}"
    );
    let (status, _, page) = server.get(invite.strip_prefix(&base).unwrap()).await;
    assert_eq!(status, 200, "the printed invite link opens: {page}");
    assert!(page.contains("Bed 14"), "the invite is for the new patient");

    // The ward's day it printed holds the new visit, on the first slot.
    let day: Value =
        serde_json::from_str(&lines.collect::<Vec<_>>().join("\n")).expect("the day as JSON");
    assert_eq!(day["unit_id"], ward.unit_id);
    assert_eq!(day["date"], "2026-11-23");
    let bookings = day["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 1, "{day}");
    assert_eq!(bookings[0]["patient_label"], "Bed 14");
    assert_eq!(bookings[0]["start"], "2026-11-23T13:00:00Z");
    assert_eq!(bookings[0]["status"], "booked");
    // The API never hands back the family's details, and the script never
    // shows the key.
    for secret in ["anna@example.org", "Anna Example", key.as_str()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "the output shows `{secret}`"
        );
    }
    server.stop().await;
}
