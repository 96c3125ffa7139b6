//! The HTTP load client `bench/run` drives a running `bedside serve` with,
//! for the figures `wrk` cannot give: bookings that must each be distinct
//! (patient, slot) pairs, a visit-link load at a fixed rate while a purge
//! runs, a thousand idle keep-alive connections, and cold starts.
//!
//! ```text
//! load book  --addr A --unit NAME --conns C --count N [--until FILE]   # at most N
//! load get   --addr A --path P --conns C (--seconds S | --until FILE) [--rate R] [--expect 303]
//! load visit --addr A --unit NAME          # books a visit whose join window is open now
//! load hold  --addr A --path P --conns C --ready FILE --until FILE
//! load coldstart --bin BEDSIDE --dir D --runs R
//! ```
//!
//! The API key comes from `BENCH_API_KEY`. Every mode prints one line
//! `bench-result <mode> key=value …` for the script. Under plain
//! `cargo bench` (no mode) it does nothing.
//!
//! Latencies are measured per request from the moment it was due to be
//! sent (for `--rate`) or sent (closed loop) to the last byte of the
//! response, on HTTP/1.1 keep-alive connections, one request at a time each.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

type Sender = SendRequest<Full<Bytes>>;
type Failure = String;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let opts = Opts(args.get(1..).unwrap_or_default().to_vec());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = match mode {
        "book" => runtime.block_on(book(&opts)),
        "get" => runtime.block_on(get(&opts)),
        "visit" => runtime.block_on(visit(&opts)),
        "hold" => runtime.block_on(hold(&opts)),
        "coldstart" => coldstart(&opts),
        _ => {
            println!(
                "load: the load client bench/run starts (its modes: benches/load.rs); nothing to do here"
            );
            return ExitCode::SUCCESS;
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load {mode}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs.
struct Opts(Vec<String>);

impl Opts {
    fn get(&self, name: &str) -> Option<&str> {
        let flag = format!("--{name}");
        self.0
            .iter()
            .position(|a| *a == flag)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }

    fn req(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Result<T, Failure> {
        match (self.get(name), default) {
            (Some(v), _) => v.parse().map_err(|_| format!("--{name} {v}: not a number")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("--{name} is required")),
        }
    }
}

/// A flag that turns true once `path` exists (checked every 10 ms).
fn until_file(path: Option<&str>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(path) = path {
        let (stop, path) = (stop.clone(), path.to_string());
        tokio::spawn(async move {
            while !std::path::Path::new(&path).exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    stop
}

async fn connect(addr: &str) -> Result<Sender, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).ok();
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request on a keep-alive connection: (status, body).
async fn call(
    sender: &mut Sender,
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Bytes), Failure> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection: {e}"))?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr);
    if let Ok(key) = std::env::var("BENCH_API_KEY") {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let content = match body {
        Some(v) => {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(v.to_string())
        }
        None => Bytes::new(),
    };
    let request = request
        .body(Full::new(content))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{method} {}: {e}", path.split('/').nth(1).unwrap_or("")))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// A JSON API call that must answer `want`.
async fn api(
    sender: &mut Sender,
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    want: u16,
) -> Result<Value, Failure> {
    let (status, bytes) = call(sender, addr, method, path, body).await?;
    if status != want {
        return Err(format!(
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{method} {path}: not JSON: {e}"))
}

/// The unit called `name`, as the API lists it.
async fn unit_by_name(sender: &mut Sender, addr: &str, name: &str) -> Result<Value, Failure> {
    let units = api(sender, addr, "GET", "/api/v1/units", None, 200).await?;
    units["units"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| u["name"] == name)
        .cloned()
        .ok_or_else(|| format!("no unit called {name}"))
}

/// Registers `n` patients on the unit; returns their ids.
async fn patients(
    sender: &mut Sender,
    addr: &str,
    unit_id: i64,
    n: usize,
) -> Result<Vec<i64>, Failure> {
    let run = std::process::id();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({ "unit_id": unit_id, "label": format!("Bench bed {run}-{i}") });
        let created = api(sender, addr, "POST", "/api/v1/patients", Some(&body), 201).await?;
        ids.push(created["id"].as_i64().ok_or("patient without id")?);
    }
    Ok(ids)
}

/// Latencies in microseconds; reported in milliseconds.
#[derive(Default)]
struct Latencies(Vec<u64>);

impl Latencies {
    fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1] as f64 / 1000.0
    }

    fn summary(&mut self) -> String {
        format!(
            "p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
            self.quantile_ms(0.50),
            self.quantile_ms(0.99),
            self.quantile_ms(1.0)
        )
    }
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies: Latencies,
    ok: u64,
    other: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, t: Tally) {
        self.latencies.0.extend(t.latencies.0);
        self.ok += t.ok;
        for (k, n) in t.other {
            *self.other.entry(k).or_default() += n;
        }
    }

    fn failed(&self) -> u64 {
        self.other.values().sum()
    }

    fn report_failures(&self, mode: &str) {
        if !self.other.is_empty() {
            eprintln!("load {mode}: unexpected answers: {:?}", self.other);
        }
    }
}

/// `book`: as many bookings as asked (or until the stop file), each a
/// distinct (patient, slot) the ward can take, from `--conns` connections.
async fn book(opts: &Opts) -> Result<(), Failure> {
    let addr = opts.req("addr")?.to_string();
    let conns: usize = opts.num("conns", None)?;
    let count: usize = opts.num("count", None)?;
    let mut sender = connect(&addr).await?;
    let unit = unit_by_name(&mut sender, &addr, opts.req("unit")?).await?;
    let unit_id = unit["id"].as_i64().ok_or("unit without id")?;
    let per_day = unit["max_visits_per_day"]
        .as_u64()
        .ok_or("no daily limit")? as usize;
    let slots = api(
        &mut sender,
        &addr,
        "GET",
        &format!("/api/v1/units/{unit_id}/slots"),
        None,
        200,
    )
    .await?;

    // Each free tablet of each slot is one booking; patients take turns so
    // none goes over the ward's visits per day (days by UTC date: the
    // benchmark wards keep UTC).
    let mut jobs: Vec<(String, usize)> = Vec::new();
    let mut on_day: BTreeMap<String, usize> = BTreeMap::new();
    'slots: for slot in slots["slots"].as_array().into_iter().flatten() {
        let start = slot["start"].as_str().ok_or("slot without start")?;
        let day = start.get(..10).unwrap_or_default().to_string();
        for _ in 0..slot["free_tablets"].as_u64().unwrap_or(0) {
            if jobs.len() == count {
                break 'slots;
            }
            let n = on_day.entry(day.clone()).or_default();
            jobs.push((start.to_string(), *n / per_day));
            *n += 1;
        }
    }
    if jobs.len() < count {
        // Fewer is fine for a load that runs until told to stop; the caller
        // sees `ok` below `--count`.
        eprintln!(
            "load book: the ward has room for {} more bookings, not {count}",
            jobs.len()
        );
    }
    if jobs.is_empty() {
        return Err("the ward has no free slot left".into());
    }
    let needed = jobs.iter().map(|(_, p)| p + 1).max().unwrap_or(0);
    let patient_ids = Arc::new(patients(&mut sender, &addr, unit_id, needed).await?);
    drop(sender);

    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = until_file(opts.get("until"));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..conns {
        let (addr, jobs, next, stop, patient_ids) = (
            addr.clone(),
            jobs.clone(),
            next.clone(),
            stop.clone(),
            patient_ids.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut sender = connect(&addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() || stop.load(Ordering::SeqCst) {
                    break;
                }
                let (start, patient) = &jobs[i];
                let body = json!({
                    "patient_id": patient_ids[*patient],
                    "start": start,
                    "name": format!("Bench Family {i}"),
                    "email": format!("family{i}@example.org"),
                    "language": "en",
                    "consent": true,
                });
                let sent = Instant::now();
                let (status, _) =
                    call(&mut sender, &addr, "POST", "/api/v1/bookings", Some(&body)).await?;
                tally.latencies.0.push(sent.elapsed().as_micros() as u64);
                if status == 201 {
                    tally.ok += 1;
                } else {
                    *tally.other.entry(status.to_string()).or_default() += 1;
                }
            }
            Ok::<_, Failure>(tally)
        }));
    }
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.await.map_err(|e| e.to_string())??);
    }
    let seconds = started.elapsed().as_secs_f64();
    tally.report_failures("book");
    println!(
        "bench-result book ok={} failed={} seconds={seconds:.3} rate={:.1} {}",
        tally.ok,
        tally.failed(),
        tally.ok as f64 / seconds,
        tally.latencies.summary()
    );
    Ok(())
}

/// `get`: GETs of one path from `--conns` connections, as fast as answered
/// or at `--rate` requests per second in all, for `--seconds` or until the
/// stop file appears.
async fn get(opts: &Opts) -> Result<(), Failure> {
    let addr = opts.req("addr")?.to_string();
    let path = opts.req("path")?.to_string();
    let conns: usize = opts.num("conns", None)?;
    let seconds: f64 = opts.num("seconds", Some(f64::INFINITY))?;
    let rate: f64 = opts.num("rate", Some(0.0))?;
    let expect: u16 = opts.num("expect", Some(0))?;
    let stop = until_file(opts.get("until"));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds.min(3600.0));
    let mut workers = Vec::new();
    for w in 0..conns {
        let (addr, path, stop) = (addr.clone(), path.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut sender = connect(&addr).await?;
            // At a fixed rate each connection has its own schedule, offset so
            // the connections do not fire together; a late answer does not
            // move the schedule (no coordinated omission).
            let interval = (rate > 0.0).then(|| Duration::from_secs_f64(conns as f64 / rate));
            let mut due =
                started + interval.map_or(Duration::ZERO, |i| i * w as u32 / conns as u32);
            loop {
                if interval.is_some() {
                    tokio::time::sleep_until(due.into()).await;
                }
                let now = Instant::now();
                if now >= deadline || stop.load(Ordering::SeqCst) {
                    break;
                }
                let sent = if interval.is_some() { due } else { now };
                let (status, _) = call(&mut sender, &addr, "GET", &path, None).await?;
                tally.latencies.0.push(sent.elapsed().as_micros() as u64);
                if expect == 0 || status == expect {
                    tally.ok += 1;
                } else {
                    *tally.other.entry(status.to_string()).or_default() += 1;
                }
                if let Some(i) = interval {
                    due += i;
                }
            }
            Ok::<_, Failure>(tally)
        }));
    }
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.await.map_err(|e| e.to_string())??);
    }
    let seconds = started.elapsed().as_secs_f64();
    tally.report_failures("get");
    println!(
        "bench-result get requests={} failed={} seconds={seconds:.3} rate={:.1} {}",
        tally.ok + tally.failed(),
        tally.failed(),
        (tally.ok + tally.failed()) as f64 / seconds,
        tally.latencies.summary()
    );
    Ok(())
}

/// `visit`: books the ward's first free slot (its join window must already
/// be open) and prints the visit code, checking that `/v/<code>` answers 303.
async fn visit(opts: &Opts) -> Result<(), Failure> {
    let addr = opts.req("addr")?.to_string();
    let mut sender = connect(&addr).await?;
    let unit = unit_by_name(&mut sender, &addr, opts.req("unit")?).await?;
    let unit_id = unit["id"].as_i64().ok_or("unit without id")?;
    let slots = api(
        &mut sender,
        &addr,
        "GET",
        &format!("/api/v1/units/{unit_id}/slots"),
        None,
        200,
    )
    .await?;
    let start = slots["slots"][0]["start"]
        .as_str()
        .ok_or("the ward has no free slot")?
        .to_string();
    let patient = patients(&mut sender, &addr, unit_id, 1).await?[0];
    let body = json!({
        "patient_id": patient, "start": start, "name": "Bench Visitor",
        "email": "visitor@example.org", "language": "en", "consent": true,
    });
    let booked = api(
        &mut sender,
        &addr,
        "POST",
        "/api/v1/bookings",
        Some(&body),
        201,
    )
    .await?;
    let code = booked["visit_url"]
        .as_str()
        .and_then(|u| u.rsplit_once("/v/"))
        .map(|(_, c)| c.to_string())
        .ok_or("booking without visit_url")?;
    let (status, _) = call(&mut sender, &addr, "GET", &format!("/v/{code}"), None).await?;
    if status != 303 {
        return Err(format!(
            "/v/<code> answered {status}, not 303: the join window of the slot at {start} is not open"
        ));
    }
    println!("bench-result visit code={code}");
    Ok(())
}

/// `hold`: opens `--conns` keep-alive connections, one request each, keeps
/// them open until the stop file appears, then checks how many still work.
async fn hold(opts: &Opts) -> Result<(), Failure> {
    let addr = opts.req("addr")?.to_string();
    let path = opts.req("path")?.to_string();
    let conns: usize = opts.num("conns", None)?;
    let ready = opts.req("ready")?.to_string();
    let stop = until_file(Some(opts.req("until")?));
    let mut senders = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut sender = connect(&addr).await?;
        let (status, _) = call(&mut sender, &addr, "GET", &path, None).await?;
        if status != 200 {
            return Err(format!("GET {path}: {status}"));
        }
        senders.push(sender);
    }
    std::fs::write(&ready, format!("{}\n", senders.len())).map_err(|e| e.to_string())?;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut alive = 0;
    for sender in &mut senders {
        if matches!(call(sender, &addr, "GET", &path, None).await, Ok((200, _))) {
            alive += 1;
        }
    }
    println!("bench-result hold opened={} alive={alive}", senders.len());
    Ok(())
}

/// `coldstart`: starts the release binary `--runs` times on a fresh data
/// directory and as often on one that exists, alternating, and times each
/// start to its first `/healthz` 200.
fn coldstart(opts: &Opts) -> Result<(), Failure> {
    let bin = opts.req("bin")?;
    let dir = std::path::PathBuf::from(opts.req("dir")?);
    let runs: usize = opts.num("runs", None)?;
    let existing = dir.join("existing");
    // The existing directory gets its first start (secret, keys, database) here.
    start_once(bin, &existing)?;
    let (mut fresh, mut again) = (Vec::new(), Vec::new());
    for run in 0..runs {
        fresh.push(start_once(bin, &dir.join(format!("fresh-{run}")))?);
        again.push(start_once(bin, &existing)?);
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|ms| format!("{ms:.1}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "bench-result coldstart fresh_ms={:.1} existing_ms={:.1} fresh_all={} existing_all={}",
        median(&fresh),
        median(&again),
        list(&fresh),
        list(&again)
    );
    Ok(())
}

/// Starts `bedside serve` on `data_dir`, returns the milliseconds to the
/// first `/healthz` 200, and stops it with SIGTERM.
fn start_once(bin: &str, data_dir: &std::path::Path) -> Result<f64, Failure> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(bin);
    command.arg("serve");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("BEDSIDE_") {
            command.env_remove(k);
        }
    }
    let started = Instant::now();
    let mut child = command
        .env("BEDSIDE_DATA_DIR", data_dir)
        .env("BEDSIDE_LISTEN", &addr)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{bin}: {e}"))?;
    let ms = loop {
        if health_ok(&addr) {
            break started.elapsed().as_secs_f64() * 1000.0;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            return Err("no /healthz 200 within 10 s".into());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("bedside serve exited: {status}"));
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Ok(ms)
}

fn health_ok(addr: &str) -> bool {
    let Ok(sock) = addr.parse() else { return false };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&sock, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.1 200")
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
