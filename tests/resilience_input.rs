//! Hostile input: over ten thousand malformed requests, from a seeded
//! generator, at the real server over raw TCP — bad UTF-8, huge headers,
//! oversized bodies, wrong content types, truncated and broken forms, bad
//! percent-encoding, broken framing, and SQL and HTML injection strings in
//! every field of every form and API route (src/http/router.rs). What a
//! hospital's security review asks of it:
//!
//! - no 5xx and no panic: every request that was complete gets an answer
//!   (a truncated one, whose client hung up, may just be closed);
//! - nothing stored: every request is refused by construction (each
//!   carries at least one fault that must refuse it, a "spoiler"), so the
//!   database afterwards is what it was — except the records whose job is
//!   to count refusals: `audit` and `login_failures` may grow (failed
//!   logins are recorded there for lockout and review), `sessions` may
//!   change their last-seen time (the test's admin session is used), and
//!   `meta` may note when `/readyz` last proved the database writable;
//! - injected HTML never comes back as markup in a page: a page may show
//!   the text back (a form kept as typed), escaped. The JSON API may quote
//!   a bad value back inside a JSON string of its error message; that is
//!   data, not markup, as long as it is served as `application/json` with
//!   `nosniff` (and every answer's CSP is `default-src 'none'`), which the
//!   test checks for any answer that contains the payload unescaped.
//!
//! The generator is seeded; a failure names the seed and the case, and
//! `RESILIENCE_SEED=<seed> cargo test --test resilience_input` replays it.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bedside::clock::FixedClock;
use common::raw::{Exchange, RawResponse, exchange};
use common::{STAFF_PASSWORD, TestServer, at, open_db, seed_booking, seed_staff, seed_ward};

/// Requests thrown at the server.
const CASES: usize = 20_000;
/// Connections open at once.
const WORKERS: usize = 16;
/// The seed when `RESILIENCE_SEED` is not set.
const DEFAULT_SEED: u64 = 0x0bed_51de;

/// The clock: a Monday morning, the seeded visit in the afternoon.
const NOW: &str = "2026-11-23T08:00:00Z";
const SLOT: &str = "2026-11-23T13:00:00Z";

/// HTML that must never come back as markup. Each carries the marker
/// `bedside-xss`, so a page that shows it back escaped is told apart
/// from one that runs it.
const HTML: &[&str] = &[
    "<script>alert('bedside-xss')</script>",
    "\"><img src=x onerror=alert('bedside-xss')>",
    "'><svg onload=alert('bedside-xss')>",
    "</textarea></title><script>alert('bedside-xss')</script>",
    "<iframe src=javascript:alert('bedside-xss')>",
    "javascript:alert('bedside-xss')",
    "<a href=\"javascript:alert('bedside-xss')\">x</a>",
];

/// What a page that runs injected HTML would contain: the payloads' tags
/// and attributes unescaped.
const MARKUP: &[&str] = &[
    "<script>alert('bedside-xss')",
    "<img src=x onerror",
    "<svg onload",
    "<iframe src=javascript",
    "href=\"javascript:alert('bedside-xss')",
    "href='javascript:alert('bedside-xss')",
    "href=javascript:alert('bedside-xss')",
];

const SQL: &[&str] = &[
    "' OR '1'='1",
    "'; DROP TABLE bookings; --",
    "1; DELETE FROM units",
    "\" OR \"\"=\"",
    "1 UNION SELECT name FROM sqlite_master--",
    "%' AND 1=0 UNION SELECT 1,2,3 --",
    "'); UPDATE staff SET role='admin' --",
    "Robert'); DROP TABLE contacts;--",
];

/// Values that are odd without being attacks.
const ODD: &[&str] = &[
    "",
    " ",
    "\0",
    "\u{202e}evil",
    "a\u{0301}\u{0301}\u{0301}",
    "-1",
    "0",
    "9223372036854775808",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "\r\nX-Injected: 1",
    "%00",
    "../../etc/passwd",
    "\u{1F600}",
];

/// A value for a field: hostile most of the time.
fn hostile(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..10) {
        0..=3 => HTML[rng.usize(0..HTML.len())].to_string(),
        4..=6 => SQL[rng.usize(0..SQL.len())].to_string(),
        7 => ODD[rng.usize(0..ODD.len())].to_string(),
        8 => {
            // Long: past every field's limit.
            let unit = HTML[rng.usize(0..HTML.len())];
            unit.repeat(rng.usize(10..200))
        }
        _ => format!(
            "{}{}",
            SQL[rng.usize(0..SQL.len())],
            HTML[rng.usize(0..HTML.len())]
        ),
    }
}

/// A value that must make a typed field (an id, a number, a choice, a
/// time zone, a token) invalid: never a number, never a valid choice.
fn spoiler(rng: &mut fastrand::Rng) -> String {
    if rng.bool() {
        HTML[rng.usize(0..HTML.len())].to_string()
    } else {
        SQL[rng.usize(0..SQL.len())].to_string()
    }
}

/// The seeded world the requests are aimed at, and the keys into it.
struct World {
    addr: SocketAddr,
    origin: String,
    invite: String,
    visit: String,
    booking_id: i64,
    patient_id: i64,
    unit_id: i64,
    tablet_id: i64,
    other_staff_id: i64,
    api_key: String,
    cookie: String,
    csrf: String,
    login_csrf: String,
    book_csrf: String,
    cancel_csrf: String,
}

/// How a form proves it was sent from bedside's own page.
#[derive(Clone, Copy)]
enum Token {
    Session,
    Login,
    Book,
    Cancel,
}

/// One form route: its fields, and the faults that must make it refuse
/// (field, value; `None` leaves the field out). The path may hold an id
/// that does not exist, itself a fault.
struct Form {
    path: String,
    token: Token,
    fields: &'static [&'static str],
    spoilers: Vec<(&'static str, Spoil)>,
}

#[derive(Clone)]
enum Spoil {
    /// Leave the field out.
    Omit,
    /// A hostile value a typed field cannot take.
    Hostile,
    /// This very value.
    Value(&'static str),
}

const MISSING: i64 = 999_999;

fn forms(w: &World) -> Vec<Form> {
    use Spoil::*;
    use Token::*;
    let b = w.booking_id;
    let p = w.patient_id;
    let t = w.tablet_id;
    let s = w.other_staff_id;
    let u = w.unit_id;
    let form = |path: String, token, fields, spoilers| Form {
        path,
        token,
        fields,
        spoilers,
    };
    vec![
        form(
            format!("/b/{}", w.invite),
            Book,
            &["csrf", "slot", "name", "email", "language", "consent"],
            vec![("consent", Omit), ("slot", Hostile), ("csrf", Hostile)],
        ),
        form(
            format!("/v/{}/cancel", w.visit),
            Cancel,
            &["csrf"],
            vec![("csrf", Hostile), ("csrf", Omit)],
        ),
        form(
            "/staff/login".into(),
            Login,
            &["csrf", "username", "password"],
            vec![("password", Hostile), ("csrf", Hostile)],
        ),
        form(
            "/staff/logout".into(),
            Session,
            &["csrf"],
            vec![("csrf", Hostile), ("csrf", Omit)],
        ),
        form(
            format!("/staff/visits/{b}/open"),
            Session,
            &["csrf"],
            vec![("csrf", Hostile)],
        ),
        form(
            format!("/staff/visits/{MISSING}/open"),
            Session,
            &["csrf"],
            vec![("extra", Value("1"))],
        ),
        form(
            format!("/staff/visits/{b}/status"),
            Session,
            &["csrf", "status"],
            vec![("status", Hostile), ("status", Omit), ("csrf", Hostile)],
        ),
        form(
            format!("/staff/visits/{b}/move"),
            Session,
            &["csrf", "tablet_id"],
            vec![
                ("tablet_id", Hostile),
                ("tablet_id", Value("999999")),
                ("csrf", Hostile),
            ],
        ),
        form(
            format!("/staff/visits/{b}/delete"),
            Session,
            &["csrf", "confirm"],
            vec![("confirm", Hostile), ("confirm", Omit), ("csrf", Hostile)],
        ),
        form(
            "/staff/patients".into(),
            Session,
            &["csrf", "unit_id", "label"],
            vec![
                ("unit_id", Hostile),
                ("unit_id", Value("999999")),
                ("csrf", Hostile),
            ],
        ),
        form(
            format!("/staff/patients/{p}/discharge"),
            Session,
            &["csrf"],
            vec![("csrf", Hostile), ("csrf", Omit)],
        ),
        form(
            format!("/staff/patients/{MISSING}/discharge"),
            Session,
            &["csrf"],
            vec![("extra", Value("1"))],
        ),
        form(
            "/staff/meetings".into(),
            Session,
            &["csrf", "unit_id", "minutes"],
            vec![
                ("unit_id", Value("999999")),
                ("minutes", Hostile),
                ("csrf", Hostile),
            ],
        ),
        form(
            format!("/staff/meetings/{MISSING}/open"),
            Session,
            &["csrf"],
            vec![("extra", Value("1"))],
        ),
        form(
            format!("/staff/meetings/{MISSING}/invite"),
            Session,
            &["csrf", "guest", "email", "language"],
            vec![("extra", Value("1"))],
        ),
        form(
            "/staff/admin/units".into(),
            Session,
            &[
                "csrf",
                "name",
                "time_zone",
                "visiting_hours",
                "slot_minutes",
                "buffer_minutes",
                "horizon_days",
                "max_visits_per_day",
                "early_join_minutes",
                "grace_minutes",
                "family_display",
            ],
            vec![
                ("time_zone", Hostile),
                ("visiting_hours", Hostile),
                ("slot_minutes", Hostile),
                ("family_display", Hostile),
                ("csrf", Hostile),
            ],
        ),
        form(
            format!("/staff/admin/units/{u}"),
            Session,
            &[
                "csrf",
                "name",
                "time_zone",
                "visiting_hours",
                "slot_minutes",
                "buffer_minutes",
                "horizon_days",
                "max_visits_per_day",
                "early_join_minutes",
                "grace_minutes",
                "family_display",
            ],
            vec![
                ("time_zone", Hostile),
                ("visiting_hours", Hostile),
                ("grace_minutes", Hostile),
                ("family_display", Hostile),
                ("csrf", Hostile),
            ],
        ),
        form(
            "/staff/admin/tablets".into(),
            Session,
            &["csrf", "unit_id", "label"],
            vec![
                ("unit_id", Hostile),
                ("unit_id", Value("999999")),
                ("csrf", Hostile),
            ],
        ),
        form(
            format!("/staff/admin/tablets/{t}/active"),
            Session,
            &["csrf", "active"],
            vec![("active", Hostile), ("active", Omit), ("csrf", Hostile)],
        ),
        form(
            format!("/staff/admin/tablets/{t}/device-link"),
            Session,
            &["csrf"],
            vec![("csrf", Hostile)],
        ),
        form(
            format!("/staff/admin/tablets/{MISSING}/device-link"),
            Session,
            &["csrf"],
            vec![("extra", Value("1"))],
        ),
        form(
            "/staff/admin/staff".into(),
            Session,
            &["csrf", "username", "name", "role", "units", "password"],
            vec![
                ("role", Hostile),
                ("units", Hostile),
                ("password", Value("<i>")),
                ("csrf", Hostile),
            ],
        ),
        form(
            format!("/staff/admin/staff/{s}"),
            Session,
            &["csrf", "role", "units", "active"],
            vec![("role", Hostile), ("units", Hostile), ("csrf", Hostile)],
        ),
        form(
            format!("/staff/admin/staff/{s}/password"),
            Session,
            &["csrf", "password"],
            vec![
                ("password", Value("<i>")),
                ("password", Omit),
                ("csrf", Hostile),
            ],
        ),
        form(
            "/staff/admin/apikeys".into(),
            Session,
            &["csrf", "name"],
            vec![("csrf", Hostile), ("csrf", Omit)],
        ),
        form(
            "/staff/admin/subjects/export".into(),
            Session,
            &["csrf", "email"],
            vec![("email", Hostile), ("csrf", Hostile)],
        ),
        form(
            "/staff/admin/subjects/erase".into(),
            Session,
            &["csrf", "email", "email_again"],
            vec![
                ("email", Hostile),
                ("email_again", Hostile),
                ("csrf", Hostile),
            ],
        ),
        form(
            "/staff/admin/apikeys/revoke".into(),
            Session,
            &["csrf", "name"],
            vec![("name", Hostile), ("csrf", Hostile)],
        ),
    ]
}

/// The JSON API's state-changing routes: path, fields, and the faults.
struct JsonRoute {
    path: String,
    fields: &'static [(&'static str, Kind)],
    spoilers: &'static [(&'static str, Spoil)],
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bool,
}

fn json_routes(w: &World) -> Vec<JsonRoute> {
    use Kind::*;
    use Spoil::*;
    vec![
        JsonRoute {
            path: "/api/v1/patients".into(),
            fields: &[("unit_id", Int), ("label", Text)],
            spoilers: &[
                ("unit_id", Value("999999")),
                ("unit_id", Hostile),
                ("label", Omit),
                ("extra", Hostile),
            ],
        },
        JsonRoute {
            path: format!("/api/v1/patients/{MISSING}/discharge"),
            fields: &[],
            spoilers: &[],
        },
        JsonRoute {
            path: "/api/v1/bookings".into(),
            fields: &[
                ("patient_id", Int),
                ("start", Text),
                ("name", Text),
                ("email", Text),
                ("language", Text),
                ("consent", Bool),
            ],
            spoilers: &[
                ("consent", Value("false")),
                ("start", Hostile),
                ("patient_id", Value("999999")),
                ("language", Hostile),
                ("extra", Hostile),
            ],
        },
        JsonRoute {
            path: format!("/api/v1/bookings/{MISSING}/cancel"),
            fields: &[],
            spoilers: &[],
        },
        JsonRoute {
            path: format!("/api/v1/bookings/{}/cancel", w.booking_id),
            fields: &[],
            // Only with a bad key: see `json_case`.
            spoilers: &[("key", Hostile)],
        },
        JsonRoute {
            path: format!("/api/v1/patients/{}/discharge", w.patient_id),
            fields: &[],
            spoilers: &[("key", Hostile)],
        },
    ]
}

/// One request to throw, and what the test may expect of it.
struct Case {
    what: String,
    bytes: Vec<u8>,
    /// The client stops half-way and hangs up: no answer is owed.
    hang_up: bool,
}

/// Percent-encodes everything but unreserved characters.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A header line value cannot hold CR, LF or NUL; anything else goes.
fn header_safe(s: &str) -> String {
    s.replace(['\r', '\n', '\0'], " ")
}

/// The headers a browser or client would send, some of them hostile.
fn common_headers(rng: &mut fastrand::Rng, w: &World, with_session: bool) -> Vec<String> {
    let mut h = Vec::new();
    if rng.u8(0..10) < 7 {
        // Spread the requests over many client addresses (the server trusts
        // this header here), so the guessing limit does not answer them all.
        h.push(format!(
            "x-forwarded-for: 10.{}.{}.{}",
            rng.u8(..),
            rng.u8(..),
            rng.u8(..)
        ));
    } else if rng.bool() {
        h.push(format!("x-forwarded-for: {}", header_safe(&hostile(rng))));
    }
    if with_session {
        match rng.u8(0..10) {
            0 => h.push(format!(
                "cookie: __Host-bedside_session={}",
                enc(&hostile(rng))
            )),
            1 => h.push(format!("cookie: {}", header_safe(&hostile(rng)))),
            _ => h.push(format!("cookie: {}", w.cookie)),
        }
    }
    match rng.u8(0..10) {
        0..=5 => {
            h.push(format!("origin: {}", w.origin));
            h.push("sec-fetch-site: same-origin".into());
        }
        6 => h.push(format!("origin: {}", header_safe(&hostile(rng)))),
        7 => h.push("sec-fetch-site: cross-site".into()),
        _ => {}
    }
    if rng.u8(0..4) == 0 {
        h.push(format!("accept-language: {}", header_safe(&hostile(rng))));
    }
    if rng.u8(0..8) == 0 {
        h.push(format!("user-agent: {}", header_safe(&hostile(rng))));
    }
    h
}

fn assemble(method: &str, target: &str, headers: &[String], body: &[u8], length: bool) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for line in headers {
        out.push_str(line);
        out.push_str("\r\n");
    }
    if length {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A value a typed field accepts; `None` for free text.
fn plausible(field: &str, w: &World) -> Option<String> {
    Some(match field {
        "slot" => at(SLOT).as_second().to_string(),
        "email" => "fuzz@example.org".into(),
        "language" => "en".into(),
        "consent" => "yes".into(),
        "unit_id" | "units" => w.unit_id.to_string(),
        "tablet_id" => w.tablet_id.to_string(),
        "role" => "operator".into(),
        "minutes" => "30".into(),
        "active" => "1".into(),
        "time_zone" => "Europe/Amsterdam".into(),
        "visiting_hours" => "mon-fri 14:00-16:00".into(),
        "slot_minutes" => "30".into(),
        "buffer_minutes" => "10".into(),
        "horizon_days" => "7".into(),
        "max_visits_per_day" => "2".into(),
        "early_join_minutes" => "10".into(),
        "grace_minutes" => "5".into(),
        "family_display" => "label".into(),
        _ => return None,
    })
}

/// The urlencoded body of a form with one spoiler and hostile values.
fn form_body(rng: &mut fastrand::Rng, w: &World, form: &Form) -> (String, String) {
    let (spoiled, spoil) = form.spoilers[rng.usize(0..form.spoilers.len())].clone();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for field in form.fields {
        let value = if *field == "csrf" {
            match form.token {
                Token::Session => w.csrf.clone(),
                Token::Login => w.login_csrf.clone(),
                Token::Book => w.book_csrf.clone(),
                Token::Cancel => w.cancel_csrf.clone(),
            }
        } else {
            match plausible(field, w) {
                // Mostly a plausible value where one is needed, so the
                // spoiler is what refuses (and the form is shown again
                // with the hostile text kept), not a pile of faults.
                Some(v) if rng.u8(0..10) < 7 => v,
                _ => hostile(rng),
            }
        };
        pairs.push((field.to_string(), value));
    }
    pairs.retain(|(k, _)| k != spoiled);
    match &spoil {
        Spoil::Omit => {}
        Spoil::Hostile => pairs.push((spoiled.to_string(), spoiler(rng))),
        Spoil::Value(v) => pairs.push((spoiled.to_string(), v.to_string())),
    }
    rng.shuffle(&mut pairs);
    let body = serde_urlencoded::to_string(&pairs).unwrap();
    (body, format!("{spoiled} spoiled"))
}

fn form_case(rng: &mut fastrand::Rng, w: &World, forms: &[Form]) -> Case {
    let form = &forms[rng.usize(0..forms.len())];
    let (mut body, spoiled) = form_body(rng, w, form);
    let mut headers = common_headers(rng, w, true);
    let mut what = format!("POST {} ({spoiled})", form.path);
    let mut hang_up = false;
    // Now and then broken on top: the spoiler still refuses it.
    match rng.u8(0..12) {
        0 => {
            // Bad percent-encoding.
            body.push_str("&name=%zz%E0%A4%&%");
            what.push_str(", bad percent-encoding");
        }
        1 => {
            // The same field twice.
            body = format!("{body}&csrf=x&csrf=y");
            what.push_str(", duplicate fields");
        }
        2 => {
            what.push_str(", truncated");
            let cut = rng.usize(0..=body.len());
            let bytes = {
                let mut h = headers.clone();
                h.push("content-type: application/x-www-form-urlencoded".into());
                let mut b = assemble("POST", &form.path, &h, body.as_bytes(), true);
                b.truncate(b.len() - (body.len() - cut));
                b
            };
            hang_up = true;
            return Case {
                what,
                bytes,
                hang_up,
            };
        }
        3 => {
            // Raw bytes that are not UTF-8.
            let mut raw = body.into_bytes();
            raw.extend_from_slice(b"&name=\xff\xfe\xc3\x28&label=\xed\xa0\x80");
            headers.push("content-type: application/x-www-form-urlencoded".into());
            return Case {
                what: what + ", bad UTF-8",
                bytes: assemble("POST", &form.path, &headers, &raw, true),
                hang_up,
            };
        }
        _ => {}
    }
    let content_type = match rng.u8(0..14) {
        0 => Some("application/json"),
        1 => Some("text/plain"),
        2 => Some("multipart/form-data; boundary=x"),
        3 => None,
        4 => Some("application/x-www-form-urlencoded; charset=<script>"),
        _ => Some("application/x-www-form-urlencoded"),
    };
    if let Some(ct) = content_type {
        headers.push(format!("content-type: {ct}"));
    }
    Case {
        what,
        bytes: assemble("POST", &form.path, &headers, body.as_bytes(), true),
        hang_up,
    }
}

fn json_value(rng: &mut fastrand::Rng, w: &World, field: &str, kind: Kind) -> serde_json::Value {
    use serde_json::json;
    if rng.u8(0..10) == 0 {
        // The wrong type altogether.
        return match rng.u8(0..4) {
            0 => json!(null),
            1 => json!([hostile(rng)]),
            2 => json!({ "x": hostile(rng) }),
            _ => json!(-1),
        };
    }
    let likely = rng.u8(0..10) < 7;
    match (field, kind) {
        ("patient_id", _) if likely => json!(w.patient_id),
        ("unit_id", _) if likely => json!(w.unit_id),
        ("start", _) if likely => json!(SLOT),
        ("email", _) if likely => json!("fuzz@example.org"),
        ("language", _) if likely => json!("en"),
        (_, Kind::Bool) if likely => json!(true),
        (_, Kind::Int) => json!(MISSING),
        (_, Kind::Bool) => json!(hostile(rng)),
        (_, Kind::Text) => json!(hostile(rng)),
    }
}

fn json_case(rng: &mut fastrand::Rng, w: &World, routes: &[JsonRoute]) -> Case {
    let route = &routes[rng.usize(0..routes.len())];
    let mut obj = serde_json::Map::new();
    for (field, kind) in route.fields {
        obj.insert(field.to_string(), json_value(rng, w, field, *kind));
    }
    let mut what = format!("POST {}", route.path);
    let mut key = w.api_key.clone();
    if !route.spoilers.is_empty() {
        let (field, spoil) = &route.spoilers[rng.usize(0..route.spoilers.len())];
        what.push_str(&format!(" ({field} spoiled)"));
        match (*field, spoil) {
            ("key", _) => key = header_safe(&hostile(rng)),
            (f, Spoil::Omit) => {
                obj.remove(f);
            }
            (f, Spoil::Hostile) => {
                obj.insert(f.to_string(), serde_json::Value::String(spoiler(rng)));
            }
            (f, Spoil::Value(v)) => {
                obj.insert(f.to_string(), serde_json::from_str(v).unwrap());
            }
        }
    }
    let mut body = serde_json::Value::Object(obj).to_string().into_bytes();
    match rng.u8(0..10) {
        0 => {
            body.truncate(rng.usize(0..=body.len()));
            what.push_str(", cut JSON");
        }
        1 => {
            body = b"{\"label\": \"\xff\xfe\", \"unit_id\": 1}".to_vec();
            what.push_str(", bad UTF-8");
        }
        2 => {
            body = format!("[{}]", String::from_utf8_lossy(&body)).into_bytes();
            what.push_str(", an array");
        }
        _ => {}
    }
    let mut headers = common_headers(rng, w, false);
    match rng.u8(0..10) {
        0 => {}
        1 => headers.push(format!("authorization: {}", header_safe(&hostile(rng)))),
        2 => headers.push(format!("authorization: Basic {key}")),
        _ => headers.push(format!("authorization: Bearer {key}")),
    }
    match rng.u8(0..8) {
        0 => headers.push("content-type: application/x-www-form-urlencoded".into()),
        1 => {}
        2 => headers.push("content-type: text/json".into()),
        _ => headers.push("content-type: application/json".into()),
    }
    Case {
        what,
        bytes: assemble("POST", &route.path, &headers, &body, true),
        hang_up: false,
    }
}

/// Reading routes with hostile codes, ids and queries.
fn get_case(rng: &mut fastrand::Rng, w: &World) -> Case {
    let h = enc(&hostile(rng));
    let q = enc(&hostile(rng));
    let u = w.unit_id;
    let paths = [
        "/healthz".to_string(),
        "/readyz".into(),
        "/metrics".into(),
        format!("/asap/{h}.pem"),
        format!("/staff/admin/subjects?{q}"),
        format!("/privacy?lang={q}"),
        format!("/static/{h}"),
        format!("/b/{h}"),
        format!("/b/{}?slot={q}", w.invite),
        format!("/v/{h}"),
        format!("/v/{}?x={q}", w.visit),
        format!("/v/{h}/booked"),
        format!("/v/{}/booked?{q}", w.visit),
        format!("/v/{h}/calendar.ics"),
        format!("/api/v1/openapi.json?{q}"),
        "/api/v1/units".into(),
        format!("/api/v1/units/{u}/slots?{q}"),
        format!("/api/v1/units/{h}/slots"),
        format!("/api/v1/units/{u}/bookings?date={q}"),
        format!("/staff/login?next={q}"),
        format!("/staff?day={q}"),
        format!("/staff/patients?{q}"),
        format!("/staff/meetings?unit={q}"),
        "/staff/admin".into(),
        format!("/staff/admin/units?{q}"),
        format!("/staff/admin/tablets?{q}"),
        format!("/staff/admin/staff?done={q}"),
        format!("/staff/admin/apikeys?done={q}"),
        format!("/staff/admin/audit?page={q}&action={q}"),
        format!("/staff/admin/stats?from={q}&to={q}"),
        format!("/t/{h}"),
        format!("/t/{h}/state.json?poll={q}"),
        format!("/{h}"),
        format!("/staff/visits/{h}/open"),
    ];
    let path = &paths[rng.usize(0..paths.len())];
    let mut headers = common_headers(rng, w, true);
    if path.starts_with("/api/") {
        headers.push(format!("authorization: Bearer {}", w.api_key));
    }
    let method = [
        "GET", "GET", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS",
    ][rng.usize(0..8)];
    Case {
        what: format!("{method} {}", path.split('?').next().unwrap_or(path)),
        bytes: assemble(
            method,
            path,
            &headers,
            b"",
            method != "GET" && method != "HEAD",
        ),
        hang_up: false,
    }
}

/// Requests broken at the HTTP level, at any route.
fn framing_case(rng: &mut fastrand::Rng, w: &World, forms: &[Form]) -> Case {
    let form = &forms[rng.usize(0..forms.len())];
    let path = form.path.as_str();
    let ct = "content-type: application/x-www-form-urlencoded".to_string();
    let (what, bytes, hang_up): (&str, Vec<u8>, bool) = match rng.u8(0..16) {
        0 => {
            let body = "a=".to_string() + &"A".repeat(70 * 1024);
            (
                "oversized body",
                assemble("POST", path, &[ct], body.as_bytes(), true),
                false,
            )
        }
        1 => (
            "declared huge body",
            assemble(
                "POST",
                path,
                &[ct, "content-length: 1000000000000".into()],
                b"a=b",
                false,
            ),
            false,
        ),
        2 => (
            "huge header",
            assemble(
                "GET",
                "/healthz",
                &[format!("x-junk: {}", "J".repeat(40 * 1024))],
                b"",
                false,
            ),
            false,
        ),
        3 => {
            let many: Vec<String> = (0..300).map(|i| format!("x-h{i}: {i}")).collect();
            ("too many headers", assemble("GET", "/healthz", &many, b"", false), false)
        }
        4 => {
            let mut b = b"GET /v/\xff\xfe\x80 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec();
            if rng.bool() {
                b = b"GET /b/%ff%fe%C0%80 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_vec();
            }
            ("bad UTF-8 in the path", b, false)
        }
        5 => {
            let mut b = format!("POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n").into_bytes();
            b.extend_from_slice(b"x-name: \xff\xfe\xc3\x28\r\ncontent-length: 0\r\n\r\n");
            ("bad UTF-8 in a header", b, false)
        }
        6 => (
            "bad chunked body",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ct}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
            )
            .into_bytes(),
            false,
        ),
        7 => (
            "content-length and chunked",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ct}\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\na=b\r\n0\r\n\r\n"
            )
            .into_bytes(),
            false,
        ),
        8 => (
            "bad content-length",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ct}\r\ncontent-length: {}\r\n\r\na=b",
                ["-1", "abc", "3, 4", "0x10", "99999999999999999999999"][rng.usize(0..5)]
            )
            .into_bytes(),
            false,
        ),
        9 => (
            "two content-lengths",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ct}\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\na=b&c"
            )
            .into_bytes(),
            false,
        ),
        10 => (
            "bad request line",
            [
                "GET\r\n\r\n",
                "GET / HTTP/9.9\r\nhost: x\r\n\r\n",
                "GET /healthz\r\n\r\n",
                "get /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                "GET http://evil.example/staff HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                "OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                "CONNECT evil.example:443 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                "GET /healthz HTTP/1.0\r\n\r\n",
                "G\0T /healthz HTTP/1.1\r\nhost: x\r\n\r\n",
                "GET /health z HTTP/1.1\r\nhost: x\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n",
                "GET /healthz HTTP/1.1\r\nhost: x\r\nx-nul: a\0b\r\n\r\n",
                " GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n",
            ][rng.usize(0..13)]
            .as_bytes()
            .to_vec(),
            false,
        ),
        11 => {
            let mut junk = vec![0u8; rng.usize(1..2048)];
            rng.fill(&mut junk);
            ("random bytes, then a hang-up", junk, true)
        }
        12 => {
            let mut b = assemble("POST", path, &[ct], b"csrf=abc&name=x", true);
            b.truncate(rng.usize(1..b.len()));
            ("request cut off, then a hang-up", b, true)
        }
        13 => (
            "expect 100-continue, oversized",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ct}\r\nexpect: 100-continue\r\ncontent-length: 900000\r\n\r\n"
            )
            .into_bytes(),
            false,
        ),
        14 => (
            "obsolete line folding",
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{ct}\r\nx-a: b\r\n c\r\ncontent-length: 0\r\n\r\n"
            )
            .into_bytes(),
            false,
        ),
        _ => {
            let headers = common_headers(rng, w, true);
            (
                "form with no body",
                assemble("POST", path, &headers, b"", false),
                false,
            )
        }
    };
    Case {
        what: what.to_string(),
        bytes,
        hang_up,
    }
}

fn generate(rng: &mut fastrand::Rng, w: &World) -> Vec<Case> {
    let forms = forms(w);
    let json = json_routes(w);
    (0..CASES)
        .map(|_| match rng.u8(0..20) {
            0..=9 => form_case(rng, w, &forms),
            10..=12 => json_case(rng, w, &json),
            13..=16 => get_case(rng, w),
            _ => framing_case(rng, w, &forms),
        })
        .collect()
}

/// Every table's content, as text, keyed by table; `sessions` by staff
/// only (their last-seen time moves with every request of the test's
/// session), `audit` and `login_failures` left out (they record refusals),
/// and `meta` without the housekeeping times of `/readyz` and the purge.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let db = open_db(dir);
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let sql = match table.as_str() {
            "audit" | "login_failures" => continue,
            "sessions" => "SELECT staff_id FROM sessions ORDER BY 1".to_string(),
            // `/readyz` proves the database takes writes by writing its
            // time here, and a purge records its run: housekeeping, not input.
            "meta" => "SELECT * FROM meta WHERE key NOT LIKE 'readyz.%' \
                       AND key NOT LIKE 'purge.%' ORDER BY 1"
                .to_string(),
            t => format!("SELECT * FROM \"{t}\" ORDER BY 1"),
        };
        let mut stmt = db.prepare(&sql).unwrap();
        let n = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                let cols: Vec<String> = (0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        v => format!("{v:?}"),
                    })
                    .collect();
                Ok(cols.join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.insert(table, rows);
    }
    out
}

/// The value of the first `name="<name>" value="…"` in a page.
fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

async fn set_up(dir: &Path) -> (TestServer, World) {
    let ward = seed_ward(dir, "mon-sun 14:00-16:00", 2);
    seed_staff(dir, "admin", "admin", &["Ward 3"]);
    let other_staff_id = seed_staff(dir, "nurse", "operator", &["Ward 3"]);
    let booked = seed_booking(
        dir,
        ward.patient_id,
        SLOT,
        ("Fuzz Family", "fuzz-family@example.org"),
        NOW,
        false,
    );
    let api_key = {
        let conn = bedside::store::open_for_command(&dir.join("bedside.db")).unwrap();
        bedside::domain::apikey::create(
            &conn,
            "fuzz",
            at(NOW).as_second(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap()
    };
    let tablet_id: i64 = open_db(dir)
        .query_row("SELECT min(id) FROM tablets", [], |r| r.get(0))
        .unwrap();
    let clock = Arc::new(FixedClock::new(at(NOW)));
    let server = TestServer::start_at_with(
        dir,
        clock,
        &[
            ("BEDSIDE_CLIENT_IP_HEADER", "x-forwarded-for"),
            // Mail is written as files into the data directory: no relay.
        ],
    )
    .await;
    let session = server.login("admin", STAFF_PASSWORD).await.unwrap();
    let (_, _, login_page) = server.get("/staff/login").await;
    let (_, _, invite_page) = server.get(&format!("/b/{}", ward.invite)).await;
    let visit = booked.visit.expose().to_string();
    let (_, _, visit_page) = server.get(&format!("/v/{visit}")).await;
    let world = World {
        addr: server.addr,
        origin: format!("http://{}", server.addr),
        invite: ward.invite.clone(),
        visit,
        booking_id: booked.id,
        patient_id: ward.patient_id,
        unit_id: ward.unit_id,
        tablet_id,
        other_staff_id,
        api_key,
        cookie: session.cookie.clone(),
        csrf: session.csrf.clone(),
        login_csrf: input_value(&login_page, "csrf"),
        book_csrf: input_value(&invite_page, "csrf"),
        cancel_csrf: input_value(&visit_page, "csrf"),
    };
    (server, world)
}

/// What went wrong with one case, if anything.
fn judge(case: &Case, outcome: &std::io::Result<Exchange>) -> Option<String> {
    match outcome {
        Err(e) => Some(format!("no connection or no answer: {e}")),
        Ok(Exchange::Dropped { got, error }) => {
            if case.hang_up {
                None
            } else {
                Some(format!(
                    "closed without an answer ({} bytes: {:?}; {error:?})",
                    got.len(),
                    String::from_utf8_lossy(&got[..got.len().min(200)])
                ))
            }
        }
        Ok(Exchange::Answered(r)) => judge_response(r),
    }
}

fn judge_response(r: &RawResponse) -> Option<String> {
    if r.status >= 500 {
        return Some(format!("answered {}: {}", r.status, r.text()));
    }
    let text = r.text();
    let content_type = r.header("content-type").unwrap_or_default();
    for markup in MARKUP {
        if text.contains(markup) {
            let html = content_type.starts_with("text/html") || content_type.is_empty();
            let sniffable = r.header("x-content-type-options") != Some("nosniff");
            if html || sniffable {
                return Some(format!(
                    "injected markup {markup:?} came back unescaped ({content_type}): {text}"
                ));
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_malformed_requests_get_4xx_change_nothing_and_never_echo_markup() {
    let seed = std::env::var("RESILIENCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    // A panic anywhere in the server (a handler, a connection task) is a
    // finding even when the connection somehow still got an answer.
    let panics = Arc::new(AtomicUsize::new(0));
    {
        let panics = panics.clone();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            panics.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let (server, world) = set_up(dir.path()).await;
    let before = snapshot(dir.path());
    let cases = Arc::new(generate(&mut fastrand::Rng::with_seed(seed), &world));
    assert!(cases.len() >= 10_000);

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (cases, next, addr) = (cases.clone(), next.clone(), world.addr);
        workers.push(tokio::spawn(async move {
            let mut findings = Vec::new();
            let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { break };
                let outcome = exchange(addr, &case.bytes, case.hang_up).await;
                let key = match &outcome {
                    Ok(Exchange::Answered(r)) => r.status.to_string(),
                    Ok(Exchange::Dropped { .. }) => "closed".into(),
                    Err(_) => "error".into(),
                };
                *statuses.entry(key).or_default() += 1;
                if let Some(finding) = judge(case, &outcome) {
                    let what: String = case.what.chars().take(120).collect();
                    let finding: String = finding.chars().take(600).collect();
                    findings.push(format!("case {i}, {what}: {finding}"));
                }
            }
            (findings, statuses)
        }));
    }
    let mut findings = Vec::new();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for w in workers {
        let (f, s) = w.await.unwrap();
        findings.extend(f);
        for (k, n) in s {
            *statuses.entry(k).or_default() += n;
        }
    }
    eprintln!(
        "seed {seed:#x}: {} requests in {:.1?} over {WORKERS} connections; answers: {statuses:?}",
        cases.len(),
        started.elapsed()
    );
    findings.sort();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &findings {
        let kind = [
            "closed without an answer",
            "answered 5",
            "injected markup",
            "no connection",
        ]
        .into_iter()
        .find(|k| f.contains(k))
        .unwrap_or("other");
        *kinds.entry(kind).or_default() += 1;
    }
    assert!(
        findings.is_empty(),
        "seed {seed:#x}: {} of {} requests went wrong ({kinds:?}); the first:\n{}",
        findings.len(),
        cases.len(),
        findings
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(panics.load(Ordering::SeqCst), 0, "the server panicked");

    // Nothing stored, nothing changed.
    let after = snapshot(dir.path());
    for (table, rows) in &before {
        assert_eq!(
            Some(rows),
            after.get(table),
            "seed {seed:#x}: table {table} changed"
        );
    }
    assert_eq!(before.len(), after.len());
    // Still up, and the admin still logged in (no refused request logged
    // the session out).
    let (status, _, body) = server.get("/healthz").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = server.get_as(&world.cookie, "/staff").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[test]
fn every_state_changing_route_gets_hostile_input() {
    // A route added to the router without a form here fails this test.
    let w = World {
        addr: "127.0.0.1:9".parse().unwrap(),
        origin: String::new(),
        invite: "x".into(),
        visit: "x".into(),
        booking_id: 1,
        patient_id: 1,
        unit_id: 1,
        tablet_id: 1,
        other_staff_id: 1,
        api_key: String::new(),
        cookie: String::new(),
        csrf: String::new(),
        login_csrf: String::new(),
        book_csrf: String::new(),
        cancel_csrf: String::new(),
    };
    let paths = forms(&w)
        .into_iter()
        .map(|f| f.path)
        .chain(json_routes(&w).into_iter().map(|r| r.path));
    let covered: std::collections::BTreeSet<&str> = paths
        .map(|p| bedside::http::router::route(&http::Method::POST, &p).1)
        .collect();
    for pattern in bedside::http::router::STATE_CHANGING {
        assert!(
            covered.contains(pattern),
            "POST {pattern} gets no hostile input in this test"
        );
    }
}
