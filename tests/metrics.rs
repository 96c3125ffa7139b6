//! `/metrics` and `/readyz` as monitoring meets them: a real server with an
//! injected clock over a real SQLite file, a family booking through the
//! real pages, and the exposition read by a strict parser of the
//! Prometheus / OpenMetrics text format.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::{TestServer, at, open_db, request, seed_booking, seed_ward};
use http::{Method, StatusCode};
use serde_json::Value;

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first two slots that afternoon: 14:00 and 14:40 Amsterdam.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";
const SECOND_SLOT: &str = "2026-11-23T13:40:00Z";
/// Five minutes before the first slot: its join window is open.
const JUST_BEFORE: &str = "2026-11-23T12:55:00Z";
const ANNA: &str = "name=Anna+Example&email=anna%40example.org&consent=yes";

/// Every series the issue names, as the sample names that carry it.
const SERIES: [&str; 12] = [
    "bedside_http_requests_total",
    "bedside_http_request_duration_seconds_bucket",
    "bedside_http_request_duration_seconds_sum",
    "bedside_http_request_duration_seconds_count",
    "bedside_bookings_created_total",
    "bedside_bookings_cancelled_total",
    "bedside_tokens_minted_total",
    "bedside_purge_rows_deleted_total",
    "bedside_outbox_messages",
    "bedside_purge_last_success_age_seconds",
    "bedside_purge_interval_seconds",
    "bedside_failed_logins_total",
];

/// One sample line: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition.
#[derive(Debug)]
struct Exposition {
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The metric family a sample belongs to: its name less the suffix its
/// type adds (`_total`, `_bucket`, …), when a family of that type exists.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    for (suffix, kinds) in [
        ("_total", &["counter"][..]),
        ("_created", &["counter", "histogram", "summary"][..]),
        ("_bucket", &["histogram"][..]),
        ("_sum", &["histogram", "summary"][..]),
        ("_count", &["histogram", "summary"][..]),
    ] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|t| kinds.contains(&t.as_str()))
        {
            return Some(base);
        }
    }
    None
}

/// Parses the text format strictly: every line is `# HELP`, `# TYPE`,
/// `# UNIT`, the final `# EOF`, or a sample whose family was declared
/// (HELP and TYPE) before it, with well-formed labels and a number.
fn parse(text: &str) -> Exposition {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        macro_rules! fail {
            ($why:expr) => {
                panic!("line {}: {}: {line:?}\n{text}", i + 1, $why)
            };
        }
        if *line == "# EOF" {
            if i + 1 != lines.len() {
                fail!("# EOF before the end");
            }
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .unwrap_or_else(|| fail!("no help text"));
            if !valid_name(name) || help.trim().is_empty() {
                fail!("bad HELP");
            }
            helps.insert(name.into(), help.into());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| fail!("no type"));
            if !valid_name(name)
                || ![
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "unknown",
                    "untyped",
                ]
                .contains(&kind)
            {
                fail!("bad TYPE");
            }
            if types.insert(name.into(), kind.into()).is_some() {
                fail!("TYPE given twice");
            }
        } else if let Some(rest) = line.strip_prefix("# UNIT ") {
            let (name, _) = rest.split_once(' ').unwrap_or_else(|| fail!("no unit"));
            if !types.contains_key(name) {
                fail!("UNIT before TYPE");
            }
        } else if line.starts_with('#') {
            fail!("unexpected comment");
        } else {
            let name_end = line.find(['{', ' ']).unwrap_or_else(|| fail!("no value"));
            let name = &line[..name_end];
            if !valid_name(name) {
                fail!("bad metric name");
            }
            let family = family_of(name, &types).unwrap_or_else(|| fail!("no TYPE for it"));
            if !helps.contains_key(family) {
                fail!("no HELP for it");
            }
            let mut rest = &line[name_end..];
            let mut labels = BTreeMap::new();
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices().peekable();
                let end;
                loop {
                    let (start, c) = chars.next().unwrap_or_else(|| fail!("open labels"));
                    if c == '}' {
                        end = start;
                        break;
                    }
                    let eq = inner[start..]
                        .find("=\"")
                        .unwrap_or_else(|| fail!("label without =\""));
                    let key = &inner[start..start + eq];
                    if !valid_name(key) || key.contains(':') {
                        fail!("bad label name");
                    }
                    for _ in 0..eq + 1 {
                        chars.next();
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => value.push('\n'),
                                Some((_, c @ ('\\' | '"'))) => value.push(c),
                                _ => fail!("bad escape"),
                            },
                            Some((_, '"')) => break,
                            Some((_, '\n')) | None => fail!("unterminated label value"),
                            Some((_, c)) => value.push(c),
                        }
                    }
                    if labels.insert(key.to_string(), value).is_some() {
                        fail!("label given twice");
                    }
                    match chars.peek() {
                        Some((_, ',')) => {
                            chars.next();
                        }
                        Some((_, '}')) => {}
                        _ => fail!("expected , or }"),
                    }
                }
                rest = &inner[end + 1..];
            }
            let value = rest
                .strip_prefix(' ')
                .unwrap_or_else(|| fail!("no space before the value"));
            if value.contains(' ') {
                fail!("a timestamp or trailing text");
            }
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| fail!("value is not a number")),
            };
            samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
    }
    Exposition { samples }
}

/// `GET /metrics`, as Prometheus asks for it (OpenMetrics) or as a person
/// with `curl` does; both parse, with the content type that says which.
async fn scrape(server: &TestServer, openmetrics: bool) -> (String, Exposition) {
    let accept = [(
        "accept",
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )];
    let headers: &[(&str, &str)] = if openmetrics { &accept } else { &[] };
    let (status, h, text) =
        request(server.addr, Method::GET, "/metrics", headers, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let content_type = h["content-type"].to_str().unwrap();
    if openmetrics {
        assert_eq!(
            content_type,
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
    } else {
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    }
    let parsed = parse(&text);
    (text, parsed)
}

fn input_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

async fn post_form(server: &TestServer, path: &str, form: &str) -> (StatusCode, http::HeaderMap) {
    let origin = format!("http://{}", server.addr);
    let (status, headers, _) = request(
        server.addr,
        Method::POST,
        path,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
        Bytes::from(form.to_string()),
    )
    .await;
    (status, headers)
}

/// Books `slot` on the invite page as a family does; returns the visit code.
async fn book(server: &TestServer, invite: &str, slot: &str) -> String {
    let (status, _, page) = server.get(&format!("/b/{invite}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = input_value(&page, "csrf").unwrap();
    let form = format!(
        "csrf={csrf}&slot={}&language=en&{ANNA}",
        at(slot).as_second()
    );
    let (status, headers) = post_form(server, &format!("/b/{invite}"), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers["location"].to_str().unwrap();
    location
        .strip_prefix("/v/")
        .and_then(|l| l.strip_suffix("/booked"))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn metrics_parse_name_every_series_and_count_a_familys_booking_without_its_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;

    let (_, before) = scrape(&server, true).await;
    for name in SERIES {
        assert!(before.has(name), "{name} missing before any traffic");
    }
    let family_bookings = |e: &Exposition| {
        e.value("bedside_bookings_created_total", &[("by", "family")])
            .unwrap()
    };
    let family_tokens = |e: &Exposition| {
        e.value("bedside_tokens_minted_total", &[("kind", "family")])
            .unwrap()
    };
    assert_eq!(family_bookings(&before), 0.0);
    assert_eq!(family_tokens(&before), 0.0);

    // A family books two visits, cancels one and joins the other.
    let joined = book(&server, &ward.invite, FIRST_SLOT).await;
    let cancelled = book(&server, &ward.invite, SECOND_SLOT).await;
    clock.set(at(JUST_BEFORE));
    let (_, _, page) = server.get(&format!("/v/{cancelled}")).await;
    let csrf = input_value(&page, "csrf").unwrap();
    let (status, _) = post_form(
        &server,
        &format!("/v/{cancelled}/cancel"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) = server.get(&format!("/v/{joined}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers["location"].to_str().unwrap().contains("#jwt="));
    // A guessed code: counted under the route's pattern, never its path.
    let (status, _, _) = server.get("/v/guessed-code-zzzz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (text, after) = scrape(&server, false).await;
    for name in SERIES {
        assert!(after.has(name), "{name} missing:\n{text}");
    }
    assert_eq!(family_bookings(&after), 2.0, "{text}");
    assert_eq!(
        after.value("bedside_bookings_cancelled_total", &[("by", "family")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(family_tokens(&after), 1.0, "{text}");
    for kind in ["staff", "kiosk", "guest"] {
        assert_eq!(
            after.value("bedside_tokens_minted_total", &[("kind", kind)]),
            Some(0.0),
            "{kind}"
        );
    }
    let requests = |route: &str, status: &str| {
        after
            .value(
                "bedside_http_requests_total",
                &[("route", route), ("status", status)],
            )
            .unwrap_or(0.0)
    };
    assert_eq!(requests("/b/{invite}", "303"), 2.0, "{text}");
    assert_eq!(requests("/b/{invite}", "200"), 2.0, "{text}");
    assert_eq!(requests("/v/{code}/cancel", "200"), 1.0, "{text}");
    assert_eq!(requests("/v/{code}", "303"), 1.0, "{text}");
    assert_eq!(requests("/v/{code}", "404"), 1.0, "{text}");
    assert_eq!(
        after.value(
            "bedside_http_request_duration_seconds_count",
            &[("route", "/b/{invite}")]
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        after.value(
            "bedside_http_request_duration_seconds_bucket",
            &[("route", "/b/{invite}"), ("le", "+Inf")]
        ),
        Some(4.0),
        "{text}"
    );
    // Route labels are the router's patterns: nothing else.
    for s in after
        .samples
        .iter()
        .filter(|s| s.name.starts_with("bedside_http_"))
    {
        let route = &s.labels["route"];
        assert!(
            route == "unmatched" || route.starts_with('/') && !route.contains("zzzz"),
            "{route}"
        );
    }

    // The outbox gauges say what the database holds (the booking and
    // cancellation mails). The mail sender works meanwhile, so compare
    // with a database that did not change around the scrape.
    let db = open_db(dir.path());
    let outbox = || -> Vec<(String, i64)> {
        ["pending", "failed", "stale"]
            .iter()
            .map(|state| {
                let rows: i64 = db
                    .query_row(
                        "SELECT count(*) FROM outbox WHERE status = ?1",
                        [state],
                        |r| r.get(0),
                    )
                    .unwrap();
                (state.to_string(), rows)
            })
            .collect()
    };
    let mut tries = 0;
    let (rows, gauges) = loop {
        let rows = outbox();
        let (_, now) = scrape(&server, true).await;
        if rows == outbox() {
            break (rows, now);
        }
        tries += 1;
        assert!(tries < 50, "the outbox never stood still");
    };
    for (state, n) in &rows {
        assert_eq!(
            gauges.value("bedside_outbox_messages", &[("state", state)]),
            Some(*n as f64),
            "{state}"
        );
    }
    let queued: i64 = db
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert!(queued >= 2, "{queued}");

    // The purge at start succeeded at 08:00 by the server's clock; it is
    // now 12:55.
    assert_eq!(
        after.value("bedside_purge_last_success_age_seconds", &[]),
        Some((4 * 3600 + 55 * 60) as f64),
        "{text}"
    );
    assert_eq!(
        after.value("bedside_purge_interval_seconds", &[]),
        Some(86_400.0)
    );
    assert_eq!(after.value("bedside_failed_logins_total", &[]), Some(0.0));

    // Nothing that identifies anyone: no code, name, address or label.
    for secret in [
        ward.invite.as_str(),
        joined.as_str(),
        cancelled.as_str(),
        "guessed-code",
        "Anna",
        "example.org",
        "Bed 12",
        "Ward 3",
    ] {
        assert!(!text.contains(secret), "{secret} in:\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_purge_at_start_is_counted_per_category() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    // A visit seven weeks ago: past the 14 days' retention.
    seed_booking(
        dir.path(),
        ward.patient_id,
        "2026-10-05T12:00:00Z",
        ("Anna Example", "anna@example.org"),
        "2026-10-05T08:00:00Z",
        false,
    );
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;
    let (text, metrics) = scrape(&server, true).await;
    let deleted = |category: &str| {
        metrics
            .value(
                "bedside_purge_rows_deleted_total",
                &[("category", category)],
            )
            .unwrap_or_else(|| panic!("{category} missing:\n{text}"))
    };
    assert_eq!(deleted("bookings"), 1.0, "{text}");
    assert_eq!(deleted("contacts"), 1.0, "{text}");
    assert_eq!(deleted("patients"), 0.0, "{text}");
    assert_eq!(
        metrics.value("bedside_purge_last_success_age_seconds", &[]),
        Some(0.0)
    );
    server.stop().await;
}

async fn ready(server: &TestServer) -> (StatusCode, Value) {
    let (status, headers, body) = server.get("/readyz").await;
    assert_eq!(headers["content-type"], "application/json");
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn readyz_names_the_database_the_keys_or_the_purge_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;

    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["failed"], serde_json::json!([]));
    // The check really wrote: its row carries the server's time.
    let written: String = open_db(dir.path())
        .query_row(
            "SELECT value FROM meta WHERE key = 'readyz.last_write'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(written, MONDAY_MORNING);

    // Another process holds the write lock (a stuck command, a sqlite3
    // shell): bedside cannot write, so it is not ready.
    let mut holder = open_db(dir.path());
    holder
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let lock = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["failed"], serde_json::json!(["database"]), "{body}");
    assert!(
        body["checks"]["database"]
            .as_str()
            .unwrap()
            .contains("not writable"),
        "{body}"
    );
    // Liveness is another question: the process is fine.
    let (status, _, _) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    lock.rollback().unwrap();
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The data key was swapped under the running server (rotated while it
    // ran): what it seals now, no future start could read.
    let key_file = dir.path().join("data-key");
    let original = std::fs::read(&key_file).unwrap();
    bedside::crypto::DataKey::generate()
        .unwrap()
        .write_to(&key_file)
        .unwrap();
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["keys"]), "{body}");
    assert!(
        body["checks"]["keys"]
            .as_str()
            .unwrap()
            .contains("restart bedside"),
        "{body}"
    );
    std::fs::write(&key_file, &original).unwrap();
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Two days later with no purge since (the test schedule is daily):
    // overdue, while /healthz only says "degraded".
    clock.set(at(MONDAY_MORNING) + jiff::SignedDuration::from_hours(49));
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["purge"]), "{body}");
    let purge = body["checks"]["purge"].as_str().unwrap();
    assert!(purge.starts_with("overdue"), "{purge}");
    assert!(purge.contains(MONDAY_MORNING), "{purge}");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["keys"], "ok");
    let (status, _, health) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(health.contains(r#""status":"degraded""#), "{health}");
    // Just under twice the interval it was still ready.
    clock.set(at(MONDAY_MORNING) + jiff::SignedDuration::from_hours(47));
    let (status, body) = ready(&server).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}
