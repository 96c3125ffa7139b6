//! The JSON API under `/api/v1/` as a hospital system's developer meets it:
//! a real server with an injected clock, a real SQLite file in a temp dir,
//! real API keys, and the OpenAPI document checked against the live server.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bedside::clock::FixedClock;
use bedside::domain::apikey;
use bytes::Bytes;
use common::{TestServer, Ward, at, open_db, request, seed_unit, seed_ward};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

/// A Monday morning before visiting hours: every slot of the week is ahead.
const NOW: &str = "2026-11-23T08:00:00Z";
/// Visiting hours every day; in Amsterdam's winter time (UTC+1) the slots
/// of a day start at 13:00, 13:40 and 14:20 UTC (30 minutes + 10 buffer).
const HOURS: &str = "mon-sun 14:00-16:00";
/// The family's details: fake, and easy to search for in a response.
const NAME: &str = "Anna Example";
const EMAIL: &str = "anna@example.org";

/// Every `/api/v1` route the router knows (src/http/router.rs), as method
/// and the pattern it logs. Checked against the router itself below, so a
/// route added there without being added here (and to the document) fails.
const ROUTER_PATTERNS: [(&str, &str); 8] = [
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/units"),
    ("GET", "/api/v1/units/{id}/slots"),
    ("GET", "/api/v1/units/{id}/bookings"),
    ("POST", "/api/v1/patients"),
    ("POST", "/api/v1/patients/{id}/discharge"),
    ("POST", "/api/v1/bookings"),
    ("POST", "/api/v1/bookings/{id}/cancel"),
];

/// One answer of the server, and what it answered.
struct Reply {
    method: Method,
    path: String,
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    /// The body as JSON; fails the test (showing the body) when it is not.
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}: {}", self.status, self.text))
    }

    /// Asserts a JSON error answer with `status` and returns its body.
    fn assert_error(&self, status: StatusCode, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: {}", self.text);
        assert_eq!(self.headers["content-type"], "application/json", "{what}");
        let body = self.json();
        let message = body["error"].as_str();
        assert!(
            message.is_some_and(|m| !m.is_empty()),
            "{what}: no error message in {body}"
        );
        body
    }
}

/// A running bedside with ward "Ward 3" (patient "Bed 12"), an API key,
/// the clock standing at [`NOW`], and the OpenAPI document it serves.
struct Api {
    server: TestServer,
    doc: Value,
    clock: Arc<FixedClock>,
    key: String,
    ward: Ward,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(tablets: usize) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let ward = seed_ward(dir.path(), HOURS, tablets);
        let key = create_key(dir.path(), "patient administration");
        let clock = Arc::new(FixedClock::new(at(NOW)));
        let server = TestServer::start_at(dir.path(), clock.clone()).await;
        let (status, _, text) = server.get("/api/v1/openapi.json").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        Api {
            server,
            doc: serde_json::from_str(&text).unwrap(),
            clock,
            key,
            ward,
            _dir: dir,
        }
    }

    fn dir(&self) -> &Path {
        &self.server.data_dir
    }

    /// Another patient on the ward (no extra tablets).
    fn add_patient(&self, label: &str) -> Ward {
        seed_unit(self.dir(), "Ward 3", HOURS, 0, label)
    }

    /// Sends a request with the given key (none when `None`) and, when
    /// `content_type` is given, a body of that type.
    async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: &str,
    ) -> Reply {
        let authorization = key.map(|k| format!("Bearer {k}"));
        let mut headers = Vec::new();
        if let Some(a) = &authorization {
            headers.push(("authorization", a.as_str()));
        }
        if let Some(t) = content_type {
            headers.push(("content-type", t));
        }
        let (status, headers, text) = request(
            self.server.addr,
            method.clone(),
            path,
            &headers,
            Bytes::from(body.to_string()),
        )
        .await;
        Reply {
            method,
            path: path.to_string(),
            status,
            headers,
            text,
        }
    }

    /// `GET` with the valid key.
    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(&self.key), None, "")
            .await
    }

    /// `POST` of a JSON body with the valid key.
    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(&self.key),
            Some("application/json"),
            &body.to_string(),
        )
        .await
    }

    /// The starts of the ward's free slots, as the API lists them.
    async fn slot_starts(&self) -> Vec<String> {
        let reply = self
            .get(&format!("/api/v1/units/{}/slots", self.ward.unit_id))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["start"].as_str().unwrap().to_string())
            .collect()
    }

    /// Books `start` for `patient_id` on the family's behalf.
    async fn book(&self, patient_id: i64, start: &str) -> Reply {
        self.post("/api/v1/bookings", &booking_body(patient_id, start))
            .await
    }

    /// A booking the test relies on: asserts 201 and returns its id.
    async fn book_ok(&self, patient_id: i64, start: &str) -> i64 {
        let reply = self.book(patient_id, start).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()["id"].as_i64().unwrap()
    }

    /// Asserts a JSON error answer with `status` that the document lists,
    /// with its schema, for the route the request went to; returns the body.
    fn refused(&self, reply: &Reply, status: StatusCode, what: &str) -> Value {
        let body = reply.assert_error(status, what);
        let path = reply.path.split('?').next().unwrap();
        let (_, pattern, _) = bedside::http::router::route(&reply.method, path);
        let method = reply.method.as_str().to_ascii_lowercase();
        let response = &self.doc["paths"][pattern][method]["responses"][status.as_str()];
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{what}: {status} is not documented for {} {pattern}",
            reply.method
        );
        check_schema(&self.doc, schema, &body, what);
        body
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

/// Creates an API key straight in the database, as `bedside apikey create` does.
fn create_key(data_dir: &Path, name: &str) -> String {
    let conn = bedside::store::open_for_command(&data_dir.join("bedside.db")).unwrap();
    apikey::create(
        &conn,
        name,
        at(NOW).as_second(),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
}

/// A complete, valid booking request.
fn booking_body(patient_id: i64, start: &str) -> Value {
    json!({
        "patient_id": patient_id,
        "start": start,
        "name": NAME,
        "email": EMAIL,
        "language": "en",
        "consent": true,
    })
}

/// Rows in the tables a refused request must not touch.
fn row_counts(data_dir: &Path) -> [(&'static str, i64); 3] {
    let db = open_db(data_dir);
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    [
        ("patients", count("SELECT count(*) FROM patients")),
        ("bookings", count("SELECT count(*) FROM bookings")),
        ("contacts", count("SELECT count(*) FROM contacts")),
    ]
}

/// A booking's status as stored.
fn stored_status(data_dir: &Path, booking_id: i64) -> String {
    open_db(data_dir)
        .query_row(
            "SELECT status FROM bookings WHERE id = ?1",
            [booking_id],
            |r| r.get(0),
        )
        .unwrap()
}

/// The path of a link bedside handed out (links use its real address).
fn path_of(url: &str, server: &TestServer) -> String {
    let base = format!("http://{}", server.addr);
    url.strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} does not start with {base}"))
        .to_string()
}

#[tokio::test]
async fn every_route_but_the_document_wants_a_live_key() {
    let api = Api::start(2).await;
    let other = api.add_patient("Bed 14");
    let slots = api.slot_starts().await;
    let booking_id = api.book_ok(api.ward.patient_id, &slots[0]).await;

    // A second key that works until it is revoked.
    let revoked = create_key(api.dir(), "old system");
    let reply = api
        .send(Method::GET, "/api/v1/units", Some(&revoked), None, "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    {
        let conn = bedside::store::open_for_command(&api.dir().join("bedside.db")).unwrap();
        apikey::revoke(&conn, "old system", at(NOW).as_second()).unwrap();
    }
    // Revoked by another process (the CLI): the running server, which
    // remembers keys it found valid, notices within moments.
    let started = std::time::Instant::now();
    loop {
        let reply = api
            .send(Method::GET, "/api/v1/units", Some(&revoked), None, "")
            .await;
        if reply.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "a key revoked {:?} ago still works",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let unit = api.ward.unit_id;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/units".into(), None),
        (Method::GET, format!("/api/v1/units/{unit}/slots"), None),
        (
            Method::GET,
            format!("/api/v1/units/{unit}/bookings?date=2026-11-23"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/patients".into(),
            Some(json!({ "unit_id": unit, "label": "Bed 20" })),
        ),
        (
            Method::POST,
            "/api/v1/bookings".into(),
            Some(booking_body(api.ward.patient_id, &slots[1])),
        ),
        (
            Method::POST,
            format!("/api/v1/bookings/{booking_id}/cancel"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/patients/{}/discharge", other.patient_id),
            None,
        ),
    ];
    let before = row_counts(api.dir());
    // Every route but the document, by the router's own patterns.
    let covered: BTreeSet<&str> = routes
        .iter()
        .map(|(method, path, _)| {
            let path = path.split('?').next().unwrap();
            bedside::http::router::route(method, path).1
        })
        .collect();
    let expected: BTreeSet<&str> = ROUTER_PATTERNS
        .iter()
        .map(|(_, pattern)| *pattern)
        .filter(|p| *p != "/api/v1/openapi.json")
        .collect();
    assert_eq!(covered, expected);

    let bad_keys: [(&str, Option<&str>); 5] = [
        ("no key", None),
        ("a malformed key", Some("not-a-key")),
        ("a key prefix alone", Some("bsk_")),
        ("a key of the wrong characters", Some("bsk_!!!!")),
        ("a revoked key", Some(&revoked)),
    ];
    let mut now = at(NOW);
    for (what, key) in bad_keys {
        for (method, path, body) in &routes {
            let body = body.as_ref().map(Value::to_string);
            let reply = api
                .send(
                    method.clone(),
                    path,
                    key,
                    body.as_ref().map(|_| "application/json"),
                    body.as_deref().unwrap_or(""),
                )
                .await;
            let what = format!("{method} {path} with {what}");
            api.refused(&reply, StatusCode::UNAUTHORIZED, &what);
            assert_eq!(reply.headers["www-authenticate"], "Bearer", "{what}");
        }
        // Each refusal counts towards the address's guess limit (20 in 15
        // minutes); let them age out so the next round is not throttled.
        now += jiff::SignedDuration::from_mins(16);
        api.clock.set(now);
    }
    assert_eq!(
        row_counts(api.dir()),
        before,
        "a refused request wrote something"
    );
    assert_eq!(stored_status(api.dir(), booking_id), "booked");

    // The scheme is matched case-insensitively; another scheme is refused.
    let lowercase = format!("bearer {}", api.key);
    let basic = format!("Basic {}", api.key);
    for (header, expected) in [
        (&lowercase, StatusCode::OK),
        (&basic, StatusCode::UNAUTHORIZED),
    ] {
        let (status, _, text) = request(
            api.server.addr,
            Method::GET,
            "/api/v1/units",
            &[("authorization", header.as_str())],
            Bytes::new(),
        )
        .await;
        assert_eq!(status, expected, "{}: {text}", &header[..6]);
    }

    // The document itself is public.
    let reply = api
        .send(Method::GET, "/api/v1/openapi.json", None, None, "")
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    for (method, path, body) in &routes {
        let reply = match body {
            Some(body) => api.post(path, body).await,
            None => {
                api.send(method.clone(), path, Some(&api.key), None, "")
                    .await
            }
        };
        assert!(
            reply.status.is_success(),
            "{method} {path} with a valid key: {} {}",
            reply.status,
            reply.text
        );
    }
    api.stop().await;
}

/// `components.schemas.X` for a `$ref`, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "$ref {reference} points nowhere");
            resolve(doc, target)
        }
        None => schema,
    }
}

/// Checks `value` against what the document promises: every `required`
/// property present, the `type` and `enum` right, all the way down.
fn check_schema(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let fits = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("{at}: schema type {other} not handled by this test"),
        };
        assert!(fits, "{at}: expected {kind}, got {value}");
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        assert!(
            allowed.contains(value),
            "{at}: {value} is not one of {allowed:?}"
        );
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required {
            let name = name.as_str().unwrap();
            assert!(
                value.get(name).is_some(),
                "{at}: required property {name} missing in {value}"
            );
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, sub) in properties {
            if let Some(v) = object.get(name) {
                check_schema(doc, sub, v, &format!("{at}.{name}"));
            }
        }
        // Nothing the document does not mention: an undocumented property
        // is where contact data would slip out unnoticed.
        for name in object.keys() {
            assert!(
                properties.contains_key(name),
                "{at}: property {name} is not in the document"
            );
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check_schema(doc, items, v, &format!("{at}[{i}]"));
        }
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented_on_the_live_server() {
    let api = Api::start(2).await;
    let discharged = api.add_patient("Bed 14");
    let slots = api.slot_starts().await;
    let to_cancel = api.book_ok(api.ward.patient_id, &slots[0]).await;

    let reply = api
        .send(Method::GET, "/api/v1/openapi.json", None, None, "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "application/json");
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().expect("the document has paths");

    // Values for the properties a request body must carry. A required
    // property missing here fails the test, so the table keeps up with the
    // document.
    let last_slot = slots.last().unwrap().clone();
    let values = json!({
        "unit_id": api.ward.unit_id,
        "label": "Bed 20",
        "patient_id": api.ward.patient_id,
        "start": last_slot,
        "name": NAME,
        "email": EMAIL,
        "language": "en",
        "consent": true,
    });

    let mut documented = BTreeSet::new();
    for item in paths.values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                assert!(
                    documented.insert(id.to_string()),
                    "duplicate operationId {id}"
                );
            }
        }
    }

    let mut called = BTreeSet::new();
    for (pattern, item) in paths {
        for (method_name, op) in item.as_object().unwrap() {
            let method = match method_name.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "patch" => Method::PATCH,
                "delete" => Method::DELETE,
                _ => continue, // "parameters", "summary", …
            };
            let op_id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {pattern} has no operationId"));
            let what = format!("{op_id} ({method} {pattern})");

            // The right kind of id for each `{id}`, by the collection before it.
            let segments: Vec<&str> = pattern.split('/').collect();
            let path = segments
                .iter()
                .enumerate()
                .map(|(i, s)| match *s {
                    "{id}" => match segments[i - 1] {
                        "units" => api.ward.unit_id.to_string(),
                        "patients" => discharged.patient_id.to_string(),
                        "bookings" => to_cancel.to_string(),
                        other => panic!("{what}: which id goes after {other}?"),
                    },
                    s if s.starts_with('{') => panic!("{what}: no value for {s}"),
                    s => s.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                let required = parameter["required"].as_bool().unwrap_or(false);
                assert!(
                    parameter["in"] == "path" || !required,
                    "{what}: required parameter {parameter} not handled by this test"
                );
            }

            let body = op.get("requestBody").map(|request_body| {
                let schema = &request_body["content"]["application/json"]["schema"];
                assert!(!schema.is_null(), "{what}: request body is not JSON");
                let mut body = serde_json::Map::new();
                for name in resolve(&doc, schema)["required"].as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    let value = values
                        .get(name)
                        .unwrap_or_else(|| panic!("{what}: no test value for {name}"));
                    body.insert(name.to_string(), value.clone());
                }
                let body = Value::Object(body);
                check_schema(&doc, schema, &body, &format!("{what} request"));
                body
            });

            let public = op.get("security") == Some(&json!([]));
            let key = (!public).then_some(api.key.as_str());
            let reply = match &body {
                Some(body) => {
                    api.send(
                        method.clone(),
                        &path,
                        key,
                        Some("application/json"),
                        &body.to_string(),
                    )
                    .await
                }
                None => api.send(method.clone(), &path, key, None, "").await,
            };
            called.insert(op_id.to_string());

            assert!(
                reply.status != StatusCode::NOT_FOUND
                    && reply.status != StatusCode::METHOD_NOT_ALLOWED,
                "{what}: the server does not know it ({})",
                reply.status
            );
            let responses = op["responses"].as_object().unwrap();
            let documented_response = responses.get(reply.status.as_str()).unwrap_or_else(|| {
                panic!(
                    "{what}: answered {} which is not among {:?}: {}",
                    reply.status,
                    responses.keys().collect::<Vec<_>>(),
                    reply.text
                )
            });
            assert!(
                reply.status.is_success(),
                "{what}: real values should succeed: {} {}",
                reply.status,
                reply.text
            );
            if let Some(schema) = documented_response
                .get("content")
                .and_then(|c| c.get("application/json"))
                .and_then(|c| c.get("schema"))
            {
                assert_eq!(reply.headers["content-type"], "application/json", "{what}");
                check_schema(&doc, schema, &reply.json(), &format!("{what} response"));
            }
        }
    }
    assert_eq!(called, documented, "operations in the document not called");

    // The other direction: every route the router knows is documented,
    // under the pattern the router itself reports.
    for (method, pattern) in ROUTER_PATTERNS {
        let method: Method = method.parse().unwrap();
        let (route, logged, _) =
            bedside::http::router::route(&method, &pattern.replace("{id}", "7"));
        assert_eq!(
            logged, pattern,
            "the router calls {method} {pattern} differently"
        );
        assert!(
            !matches!(
                route,
                bedside::http::router::Route::NotFound
                    | bedside::http::router::Route::MethodNotAllowed { .. }
            ),
            "the router does not answer {method} {pattern}"
        );
        let op = &doc["paths"][pattern][method.as_str().to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {pattern} is not in openapi.json");
    }
    let documented_routes: usize = paths
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "patch" | "delete"))
                .count()
        })
        .sum();
    assert_eq!(
        documented_routes,
        ROUTER_PATTERNS.len(),
        "the document lists routes the router does not have"
    );
    api.stop().await;
}

#[tokio::test]
async fn register_list_book_list_and_cancel_without_contact_data_leaking() {
    let api = Api::start(2).await;
    let unit = api.ward.unit_id;

    // Register a patient; the invite link works for the family.
    let reply = api
        .post(
            "/api/v1/patients",
            &json!({ "unit_id": unit, "label": "Bed 7" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let patient = reply.json();
    assert_eq!(patient["label"], "Bed 7");
    assert_eq!(patient["unit_id"], unit);
    let patient_id = patient["id"].as_i64().unwrap();
    let invite_path = path_of(patient["invite_url"].as_str().unwrap(), &api.server);
    assert!(invite_path.starts_with("/b/"), "{invite_path}");
    let (status, _, page) = api.server.get(&invite_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Bed 7"), "{page}");

    // The free slots: today's first is 14:00 in Amsterdam, 13:00 UTC.
    let reply = api.get(&format!("/api/v1/units/{unit}/slots")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let listed = reply.json();
    assert_eq!(listed["unit_id"], unit);
    assert_eq!(listed["time_zone"], "Europe/Amsterdam");
    let slots = listed["slots"].as_array().unwrap();
    assert_eq!(
        slots.len(),
        3 * 8,
        "three slots a day, today and 7 days ahead"
    );
    assert_eq!(
        slots[0],
        json!({ "start": "2026-11-23T13:00:00Z", "end": "2026-11-23T13:30:00Z", "free_tablets": 2 })
    );

    // Book it on the family's behalf.
    let start = slots[0]["start"].as_str().unwrap();
    let reply = api.book(patient_id, start).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let created = reply.json();
    assert_eq!(created["patient_id"], patient_id);
    assert_eq!(created["start"], "2026-11-23T13:00:00Z");
    assert_eq!(created["end"], "2026-11-23T13:30:00Z");
    assert_eq!(created["tablet"], "Tablet 1");
    let visit_path = path_of(created["visit_url"].as_str().unwrap(), &api.server);
    assert!(visit_path.starts_with("/v/"), "{visit_path}");
    for text in [NAME, EMAIL] {
        assert!(!reply.text.contains(text), "{text} in {}", reply.text);
    }
    let booking_id = created["id"].as_i64().unwrap();

    // The day's list shows it with label, tablet and status — and nothing
    // about the family.
    let reply = api
        .get(&format!("/api/v1/units/{unit}/bookings?date=2026-11-23"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    for text in [NAME, "Anna", EMAIL, "example.org"] {
        assert!(!reply.text.contains(text), "{text} in {}", reply.text);
    }
    let day = reply.json();
    assert_eq!(day["date"], "2026-11-23");
    assert_eq!(
        day["bookings"],
        json!([{
            "id": booking_id,
            "patient_id": patient_id,
            "patient_label": "Bed 7",
            "tablet": "Tablet 1",
            "start": "2026-11-23T13:00:00Z",
            "end": "2026-11-23T13:30:00Z",
            "status": "booked",
        }])
    );
    // Another day's list does not show it.
    let reply = api
        .get(&format!("/api/v1/units/{unit}/bookings?date=2026-11-24"))
        .await;
    assert_eq!(reply.json()["bookings"], json!([]));

    // Cancel it; cancelling again is a conflict.
    let cancel = format!("/api/v1/bookings/{booking_id}/cancel");
    let reply = api.post(&cancel, &json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["status"], "cancelled");
    assert_eq!(reply.json()["id"], booking_id);
    assert_eq!(stored_status(api.dir(), booking_id), "cancelled");
    let reply = api.post(&cancel, &json!({})).await;
    let error = api.refused(&reply, StatusCode::CONFLICT, "second cancel");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("cancelled already"),
        "{error}"
    );

    // The slot is free again.
    let reply = api.get(&format!("/api/v1/units/{unit}/slots")).await;
    assert_eq!(reply.json()["slots"][0]["free_tablets"], 2);
    api.stop().await;
}

/// A request the API must refuse, and how.
struct Refusal {
    what: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: String,
    status: StatusCode,
    /// The `field` the error names, when one is at fault.
    field: Option<&'static str>,
}

impl Refusal {
    /// A well-formed JSON request with something wrong inside.
    fn json(
        what: &'static str,
        path: &'static str,
        body: Value,
        status: StatusCode,
        field: Option<&'static str>,
    ) -> Refusal {
        Refusal {
            what,
            path,
            content_type: "application/json",
            body: body.to_string(),
            status,
            field,
        }
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason_and_writes_nothing() {
    let api = Api::start(2).await;
    let unit = api.ward.unit_id;
    let patient = api.ward.patient_id;
    let slot = api.slot_starts().await[0].clone();
    let with = |changes: Value| {
        let mut body = booking_body(patient, &slot);
        for (k, v) in changes.as_object().unwrap() {
            body[k.as_str()] = v.clone();
        }
        body
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        Refusal::json(
            "an unknown unit",
            "/api/v1/patients",
            json!({ "unit_id": 9999, "label": "Bed 20" }),
            unprocessable,
            Some("unit_id"),
        ),
        Refusal::json(
            "a label of 41 characters",
            "/api/v1/patients",
            json!({ "unit_id": unit, "label": "x".repeat(41) }),
            unprocessable,
            Some("label"),
        ),
        Refusal::json(
            "an empty label",
            "/api/v1/patients",
            json!({ "unit_id": unit, "label": "  " }),
            unprocessable,
            Some("label"),
        ),
        Refusal::json(
            "an unknown field in a patient",
            "/api/v1/patients",
            json!({ "unit_id": unit, "label": "Bed 20", "name": NAME }),
            StatusCode::BAD_REQUEST,
            None,
        ),
        Refusal {
            what: "a patient as text/plain",
            path: "/api/v1/patients",
            content_type: "text/plain",
            body: json!({ "unit_id": unit, "label": "Bed 20" }).to_string(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: None,
        },
        Refusal {
            what: "a patient that is not JSON",
            path: "/api/v1/patients",
            content_type: "application/json",
            body: "unit_id=1&label=Bed+20".into(),
            status: StatusCode::BAD_REQUEST,
            field: None,
        },
        Refusal::json(
            "an unknown patient",
            "/api/v1/bookings",
            with(json!({ "patient_id": 9999 })),
            unprocessable,
            Some("patient_id"),
        ),
        Refusal::json(
            "a malformed e-mail address",
            "/api/v1/bookings",
            with(json!({ "email": "anna@" })),
            unprocessable,
            Some("email"),
        ),
        Refusal::json(
            "no consent",
            "/api/v1/bookings",
            with(json!({ "consent": false })),
            unprocessable,
            Some("consent"),
        ),
        Refusal::json(
            "a language not offered",
            "/api/v1/bookings",
            with(json!({ "language": "xx" })),
            unprocessable,
            Some("language"),
        ),
        Refusal::json(
            "a start between slots (14:05 in Amsterdam)",
            "/api/v1/bookings",
            with(json!({ "start": "2026-11-23T13:05:00Z" })),
            unprocessable,
            Some("start"),
        ),
        Refusal::json(
            "yesterday's slot",
            "/api/v1/bookings",
            with(json!({ "start": "2026-11-22T13:00:00Z" })),
            unprocessable,
            Some("start"),
        ),
        Refusal::json(
            "a start that is not a time",
            "/api/v1/bookings",
            with(json!({ "start": "tomorrow at two" })),
            unprocessable,
            Some("start"),
        ),
        Refusal::json(
            "an unknown field in a booking",
            "/api/v1/bookings",
            with(json!({ "phone": "+31 6 0000 0000" })),
            StatusCode::BAD_REQUEST,
            None,
        ),
        Refusal {
            what: "a booking as text/plain",
            path: "/api/v1/bookings",
            content_type: "text/plain",
            body: with(json!({})).to_string(),
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            field: None,
        },
        Refusal {
            what: "a booking that is not JSON",
            path: "/api/v1/bookings",
            content_type: "application/json",
            body: "{ \"patient_id\": ".into(),
            status: StatusCode::BAD_REQUEST,
            field: None,
        },
    ];
    let before = row_counts(api.dir());
    for case in cases {
        let what = case.what;
        let reply = api
            .send(
                Method::POST,
                case.path,
                Some(&api.key),
                Some(case.content_type),
                &case.body,
            )
            .await;
        let error = api.refused(&reply, case.status, what);
        assert_eq!(error["field"].as_str(), case.field, "{what}: {error}");
        assert_eq!(row_counts(api.dir()), before, "{what} wrote something");
    }
    // The unknown field is named in the message, the unsupported type says
    // what to send instead.
    let reply = api
        .post("/api/v1/bookings", &with(json!({ "phone": "x" })))
        .await;
    assert!(reply.text.contains("phone"), "{}", reply.text);
    let reply = api
        .send(
            Method::POST,
            "/api/v1/bookings",
            Some(&api.key),
            Some("text/plain"),
            "{}",
        )
        .await;
    assert!(reply.text.contains("application/json"), "{}", reply.text);

    // A malformed date in the day's list names the parameter.
    let reply = api
        .get(&format!("/api/v1/units/{unit}/bookings?date=23-11-2026"))
        .await;
    let error = api.refused(&reply, StatusCode::UNPROCESSABLE_ENTITY, "a malformed date");
    assert_eq!(error["field"], "date");
    // Unknown units and bookings are 404 in JSON.
    for (method, path) in [
        (Method::GET, "/api/v1/units/9999/slots"),
        (Method::GET, "/api/v1/units/9999/bookings"),
        (Method::POST, "/api/v1/bookings/9999/cancel"),
        (Method::POST, "/api/v1/patients/9999/discharge"),
    ] {
        let reply = api.send(method, path, Some(&api.key), None, "").await;
        api.refused(&reply, StatusCode::NOT_FOUND, path);
    }
    assert_eq!(row_counts(api.dir()), before);
    api.stop().await;
}

#[tokio::test]
async fn a_full_slot_is_refused_with_a_conflict_that_says_so() {
    let api = Api::start(1).await;
    let other = api.add_patient("Bed 14");
    let slots = api.slot_starts().await;
    let start = &slots[0];
    api.book_ok(api.ward.patient_id, start).await;

    let before = row_counts(api.dir());
    let reply = api.book(other.patient_id, start).await;
    let error = api.refused(&reply, StatusCode::CONFLICT, "the second booking");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("slot full"), "{message}");
    assert_eq!(row_counts(api.dir()), before);

    // The slot is no longer offered.
    let now_offered = api.slot_starts().await;
    assert!(!now_offered.contains(start), "{now_offered:?}");
    api.stop().await;
}

#[tokio::test]
async fn discharge_cancels_visits_to_come_and_closes_the_invite() {
    let api = Api::start(2).await;
    let patient = api.ward.patient_id;
    let unit = api.ward.unit_id;
    let (status, _, _) = api.server.get(&format!("/b/{}", api.ward.invite)).await;
    assert_eq!(status, StatusCode::OK);

    // A visit today that will have ended, and one tomorrow.
    let slots = api.slot_starts().await;
    assert_eq!(slots[0], "2026-11-23T13:00:00Z");
    assert_eq!(slots[3], "2026-11-24T13:00:00Z");
    let past = api.book_ok(patient, &slots[0]).await;
    let future = api.book_ok(patient, &slots[3]).await;
    api.clock.set(at("2026-11-23T16:00:00Z"));

    let discharge = format!("/api/v1/patients/{patient}/discharge");
    let reply = api.post(&discharge, &json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({ "id": patient, "status": "discharged", "cancelled_bookings": 1 })
    );
    assert_eq!(stored_status(api.dir(), future), "cancelled");
    assert_eq!(stored_status(api.dir(), past), "booked");
    let reply = api
        .get(&format!("/api/v1/units/{unit}/bookings?date=2026-11-24"))
        .await;
    assert_eq!(reply.json()["bookings"][0]["status"], "cancelled");

    // The family's invite is gone, and the API books no more for them.
    let (status, _, _) = api.server.get(&format!("/b/{}", api.ward.invite)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let before = row_counts(api.dir());
    let reply = api.book(patient, &slots[4]).await;
    let error = api.refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "booking after discharge",
    );
    assert_eq!(error["field"], "patient_id");
    assert_eq!(row_counts(api.dir()), before);

    // Discharging twice is a conflict.
    let reply = api.post(&discharge, &json!({})).await;
    api.refused(&reply, StatusCode::CONFLICT, "second discharge");
    api.stop().await;
}
