//! Booking as a family does it, through the real server and database:
//! the invite page, the form, the visit link over time, cancelling — and
//! what must never happen (double booking, seeing another family's visit).

mod common;

use std::sync::Arc;

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::{TestServer, at, open_db, request, seed_unit, seed_ward};
use data_encoding::BASE64URL_NOPAD;
use http::{Method, StatusCode};
use jiff::Timestamp;

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first slot that morning: 14:00 Amsterdam.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";

/// The value of the first `name="<name>" value="…"` in a page.
fn input_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

/// What a family's browser sends: same-origin form post.
async fn post_form(
    server: &TestServer,
    path: &str,
    form: &str,
) -> (StatusCode, http::HeaderMap, String) {
    let origin = format!("http://{}", server.addr);
    request(
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
    .await
}

/// Opens the invite page, and books `slot` (seconds) with the given details.
/// Returns the status, the Location header, and the page body.
async fn book(
    server: &TestServer,
    invite: &str,
    slot: i64,
    extra: &str,
) -> (StatusCode, Option<String>, String) {
    let (status, _, page) = server.get(&format!("/b/{invite}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let csrf = input_value(&page, "csrf").unwrap();
    let form = format!("csrf={csrf}&slot={slot}&language=en&{extra}");
    let (status, headers, body) = post_form(server, &format!("/b/{invite}"), &form).await;
    let location = headers
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    (status, location, body)
}

const ANNA: &str = "name=Anna+Example&email=anna%40example.org&consent=yes";

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    open_db(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Books the first slot for the seeded patient; returns the visit code.
async fn booked_visit(server: &TestServer, invite: &str) -> String {
    let (status, location, body) = book(server, invite, at(FIRST_SLOT).as_second(), ANNA).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let location = location.unwrap();
    let code = location
        .strip_prefix("/v/")
        .and_then(|l| l.strip_suffix("/booked"))
        .unwrap();
    code.to_string()
}

/// A ward open `hours` with `tablets` tablets and its seeded patient, and
/// the server on it with its clock at [`MONDAY_MORNING`]. The directory
/// holds the data until it is dropped.
async fn ward_at_monday_morning(
    hours: &str,
    tablets: usize,
) -> (tempfile::TempDir, common::Ward, Arc<FixedClock>, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), hours, tablets);
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    (dir, ward, clock, server)
}

/// Discharges the seeded patient at `at` (seconds) as the CLI does, through
/// a connection of its own; returns how many visits to come it cancelled.
fn discharge_by_cli(dir: &std::path::Path, patient_id: i64, at: i64) -> usize {
    let conn = bedside::store::open_for_command(&dir.join("bedside.db")).unwrap();
    bedside::domain::patient::discharge(&conn, patient_id, at, None).unwrap()
}

#[tokio::test]
async fn the_invite_page_shows_the_patient_unit_and_free_slots_grouped_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;
    let (status, headers, page) = server.get(&format!("/b/{}", ward.invite)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(page.contains("Book a video visit with Bed 12"), "{page}");
    assert!(page.contains("Ward 3"));
    assert!(page.contains("Monday 23 November"));
    assert!(page.contains("14:00–14:30"));
    assert!(page.contains("times in Europe/Amsterdam"));
    assert!(page.contains("2 places left"));
    // Need to know: nothing about the other patient on the same ward.
    assert!(!page.contains("Bed 13"));
    // 3 slots a day (14:00, 14:40, 15:20) for today and 7 more days.
    assert_eq!(page.matches("type=\"radio\"").count(), 3 * 8);
    let (_, _, other_page) = server.get(&format!("/b/{}", other.invite)).await;
    assert!(other_page.contains("Bed 13") && !other_page.contains("Bed 12"));
    server.stop().await;
}

#[tokio::test]
async fn fifty_families_racing_for_one_slot_with_three_tablets_get_three_bookings() {
    let dir = tempfile::tempdir().unwrap();
    let first = seed_ward(dir.path(), "mon-sun 14:00-16:00", 3);
    let mut invites = vec![first.invite];
    for i in 1..50 {
        invites.push(seed_unit(dir.path(), "Ward 3", "", 0, &format!("Bed {}", 12 + i)).invite);
    }
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = Arc::new(TestServer::start_at(dir.path(), clock).await);
    // Every family has the page open (and its form token) before anyone books.
    let mut forms = Vec::new();
    for invite in &invites {
        let (_, _, page) = server.get(&format!("/b/{invite}")).await;
        forms.push((invite.clone(), input_value(&page, "csrf").unwrap()));
    }
    let slot = at(FIRST_SLOT).as_second();
    let tasks: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, (invite, csrf))| {
            let server = server.clone();
            tokio::spawn(async move {
                let form = format!(
                    "csrf={csrf}&slot={slot}&language=en&name=Family+{i}&email=family{i}%40example.org&consent=yes"
                );
                post_form(&server, &format!("/b/{invite}"), &form).await
            })
        })
        .collect();
    let mut booked = 0;
    let mut full = 0;
    for task in tasks {
        let (status, _, body) = task.await.unwrap();
        match status {
            StatusCode::SEE_OTHER => booked += 1,
            StatusCode::UNPROCESSABLE_ENTITY if body.contains("slot full") => full += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((booked, full), (3, 47));
    let dir = &server.data_dir;
    assert_eq!(
        count(dir, "SELECT count(*) FROM bookings WHERE status = 'booked'"),
        3
    );
    assert_eq!(
        count(
            dir,
            "SELECT count(DISTINCT tablet_id) FROM bookings WHERE status = 'booked'"
        ),
        3,
        "a tablet was given twice"
    );
    // The page now offers the slot no more.
    let (_, _, page) = server.get(&format!("/b/{}", invites[0])).await;
    assert!(!page.contains(&format!("value=\"{slot}\"")));
}

#[tokio::test]
async fn the_visit_link_waits_then_joins_with_a_token_for_that_room_then_ends() {
    let (dir, ward, clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 2).await;
    let code = booked_visit(&server, &ward.invite).await;

    // The consent recorded is the version of the statement /privacy shows.
    let recorded: String = open_db(dir.path())
        .query_row("SELECT privacy_version FROM contacts", [], |r| r.get(0))
        .unwrap();
    let (_, _, privacy) = server.get("/privacy").await;
    let shown = privacy.split("id=\"version\"").nth(1).unwrap();
    assert_eq!(recorded.len(), 12, "{recorded}");
    assert!(shown.contains(&recorded), "{recorded} not in {shown}");
    // The confirmation: time, link, calendar entry, how to cancel.
    let (status, _, page) = server.get(&format!("/v/{code}/booked")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("30 min with Bed 12 on Monday 23 November 2026, 14:00"),
        "{page}"
    );
    assert!(page.contains(&format!("http://{}/v/{code}", server.addr)));
    assert!(page.contains("calendar.ics"));
    assert!(page.contains("Cancel this visit"));
    let (status, headers, ics) = server.get(&format!("/v/{code}/calendar.ics")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/calendar; charset=utf-8");
    assert!(ics.contains("DTSTART;TZID=Europe/Amsterdam:20261123T140000\r\n"));

    // Before the window: a waiting page that reloads itself.
    clock.set(at("2026-11-23T12:49:59Z"));
    let (status, _, page) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Your visit has not started yet"));
    assert!(page.contains("13:50"));
    assert!(
        page.contains("http-equiv=\"refresh\" content=\"1\""),
        "{page}"
    );

    // Inside the window (10 minutes early join): straight into the call.
    let room: String = open_db(dir.path())
        .query_row("SELECT room FROM bookings", [], |r| r.get(0))
        .unwrap();
    for now in ["2026-11-23T12:50:00Z", "2026-11-23T13:29:59Z"] {
        clock.set(at(now));
        let (status, headers, body) = server.get(&format!("/v/{code}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "at {now}");
        let location = headers["location"].to_str().unwrap();
        let (base, token) = location.split_once("#jwt=").expect("token in the fragment");
        assert_eq!(base, format!("https://localhost:8443/{room}"));
        assert!(!location.contains('?'), "no token in a query string");
        assert!(!body.contains(token), "the token is not in the page");
        let claims = verified_claims(dir.path(), token);
        assert_eq!(claims["room"], room.as_str());
        assert_eq!(claims["nbf"], at("2026-11-23T12:50:00Z").as_second());
        assert_eq!(claims["exp"], at("2026-11-23T13:35:00Z").as_second());
        assert_eq!(claims["context"]["user"]["name"], "Anna Example");
        assert_eq!(claims["moderator"], false);
        assert_eq!(claims["context"]["user"]["moderator"], "false");
        assert_eq!(claims["sub"], "meet.jitsi");
        assert!(!token_text(token).contains("anna@example.org"));
    }

    // After the end.
    clock.set(at("2026-11-23T13:30:00Z"));
    let (status, _, page) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This visit has ended"));
    server.stop().await;
}

fn token_text(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    String::from_utf8(BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

/// Checks the signature with the server's secret (ring, as Prosody would)
/// and returns the claims.
fn verified_claims(dir: &std::path::Path, token: &str) -> serde_json::Value {
    let secret = std::fs::read_to_string(dir.join("jitsi-app-secret")).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.trim_end().as_bytes());
    ring::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap(),
    )
    .expect("signature verifies with the app secret");
    serde_json::from_str(&token_text(token)).unwrap()
}

/// The token in a visit link's redirect (`…#jwt=<token>`).
fn jwt_of(headers: &http::HeaderMap) -> String {
    headers["location"]
        .to_str()
        .unwrap()
        .split("#jwt=")
        .nth(1)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_ward_can_name_families_by_the_patient_label_instead() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    open_db(dir.path())
        .execute("UPDATE units SET family_display = 'label'", [])
        .unwrap();
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let code = booked_visit(&server, &ward.invite).await;
    clock.set(at(FIRST_SLOT));
    let (_, headers, _) = server.get(&format!("/v/{code}")).await;
    let token = jwt_of(&headers);
    let claims = verified_claims(dir.path(), &token);
    assert_eq!(claims["context"]["user"]["name"], "Family of Bed 12");
    assert!(!token_text(&token).contains("Anna"));
    server.stop().await;
}

/// The name a family joins under is worked out once while their visit is
/// kept in memory; a ward that switches to patient labels meanwhile is
/// followed at the next opening of the link, not served the old name.
#[tokio::test]
async fn a_ward_switching_to_labels_is_followed_by_links_already_opened() {
    let (dir, ward, clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 1).await;
    let code = booked_visit(&server, &ward.invite).await;
    clock.set(at(FIRST_SLOT));
    let joins_as = |headers: &http::HeaderMap| {
        verified_claims(dir.path(), &jwt_of(headers))["context"]["user"]["name"].clone()
    };
    for _ in 0..2 {
        let (_, headers, _) = server.get(&format!("/v/{code}")).await;
        assert_eq!(joins_as(&headers), "Anna Example");
    }
    // Changed by another process (as `bedside unit` would): the server
    // notices within a fraction of a second.
    open_db(dir.path())
        .execute("UPDATE units SET family_display = 'label'", [])
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, headers, _) = server.get(&format!("/v/{code}")).await;
        if joins_as(&headers) == "Family of Bed 12" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still joins under the name given"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn cancelling_frees_the_tablet_and_the_link_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let second = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let code = booked_visit(&server, &ward.invite).await;
    let slot = at(FIRST_SLOT).as_second();
    // The only tablet is taken: the other family cannot have the slot.
    let (status, _, body) = book(&server, &second.invite, slot, ANNA).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("slot full"), "{body}");

    let (_, _, page) = server.get(&format!("/v/{code}")).await;
    let csrf = input_value(&page, "csrf").unwrap();
    let (status, _, body) = post_form(
        &server,
        &format!("/v/{code}/cancel"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Your visit is cancelled"), "{body}");
    let (_, _, page) = server.get(&format!("/v/{code}")).await;
    assert!(page.contains("This visit was cancelled"));
    // A second press says so kindly and changes nothing.
    let (status, _, body) = post_form(
        &server,
        &format!("/v/{code}/cancel"),
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("already cancelled"), "{body}");
    // Now the other family gets the tablet.
    let (status, _, _) = book(
        &server,
        &second.invite,
        slot,
        "name=Bo+Example&email=bo%40example.org&consent=yes",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    server.stop().await;
}

#[tokio::test]
async fn one_family_cannot_see_or_cancel_another_familys_visit() {
    let dir = tempfile::tempdir().unwrap();
    let a = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let b = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let code_a = booked_visit(&server, &a.invite).await;
    let (status, location, _) = book(
        &server,
        &b.invite,
        at(FIRST_SLOT).as_second(),
        "name=Bo+Example&email=bo%40example.org&consent=yes",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let code_b = location
        .strip_prefix("/v/")
        .and_then(|l| l.strip_suffix("/booked"))
        .unwrap()
        .to_string();

    // A's pages never mention B's patient, name or address.
    for path in [
        format!("/v/{code_a}"),
        format!("/v/{code_a}/booked"),
        format!("/v/{code_a}/calendar.ics"),
    ] {
        let (_, _, page) = server.get(&path).await;
        assert!(
            !page.contains("Bed 13") && !page.contains("Bo Example") && !page.contains("bo@"),
            "{path}"
        );
        assert!(
            !page.contains("anna@example.org"),
            "{path}: the address is never shown back"
        );
    }
    // A's form token does not cancel B's visit.
    let (_, _, page) = server.get(&format!("/v/{code_a}")).await;
    let csrf_a = input_value(&page, "csrf").unwrap();
    let (status, _, _) = post_form(
        &server,
        &format!("/v/{code_b}/cancel"),
        &format!("csrf={csrf_a}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM bookings WHERE status = 'booked'"
        ),
        2
    );
    // A cross-site post is refused outright.
    let (status, _, _) = request(
        server.addr,
        Method::POST,
        &format!("/v/{code_b}/cancel"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", "https://evil.example.org"),
            ("sec-fetch-site", "cross-site"),
        ],
        Bytes::from(format!("csrf={csrf_a}")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM bookings WHERE status = 'booked'"
        ),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn changed_codes_reveal_nothing_and_guessing_is_throttled() {
    let (_dir, ward, clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 1).await;
    let code = booked_visit(&server, &ward.invite).await;

    // One character changed, never existed, malformed: the same answer.
    let flip = |c: &str| {
        let mut chars: Vec<char> = c.chars().collect();
        chars[5] = if chars[5] == 'a' { 'b' } else { 'a' };
        chars.into_iter().collect::<String>()
    };
    let mut answers = Vec::new();
    for path in [
        format!("/v/{}", flip(&code)),
        format!("/b/{}", flip(&ward.invite)),
        "/v/00000000000000000000000000".to_string(),
        "/v/not-a-code".to_string(),
        format!("/v/{}/booked", flip(&code)),
    ] {
        let (status, _, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            !body.contains("Bed 12") && !body.contains("Ward 3"),
            "{path}"
        );
        answers.push(body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "responses differ");

    // Guessing on: after 20 failures in 15 minutes, 429 — even for a right code.
    for _ in 0..15 {
        server.get(&format!("/v/{}", flip(&code))).await;
    }
    let (status, headers, body) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(body.contains("Too many tries"));
    // Time heals: once the failures age out the family gets in again.
    clock.set(at("2026-11-23T08:15:00Z"));
    let (status, _, _) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn discharge_stops_the_invite_and_cancels_visits_to_come() {
    let (dir, ward, _clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 1).await;
    let code = booked_visit(&server, &ward.invite).await;
    assert_eq!(
        discharge_by_cli(dir.path(), ward.patient_id, at(MONDAY_MORNING).as_second()),
        1
    );
    let (status, _, _) = server.get(&format!("/b/{}", ward.invite)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, page) = server.get(&format!("/v/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This visit was cancelled"));
    server.stop().await;
}

/// The server keeps visits it has opened in memory; a change another
/// process commits (the CLI discharging the patient, here through its own
/// connection) still reaches the link within moments, and no token is
/// minted for the cancelled visit afterwards.
#[tokio::test]
async fn a_change_made_by_another_process_reaches_an_opened_visit_link() {
    let (dir, ward, clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 1).await;
    let code = booked_visit(&server, &ward.invite).await;
    clock.set(at(FIRST_SLOT));
    for _ in 0..3 {
        let (status, _, _) = server.get(&format!("/v/{code}")).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    assert_eq!(
        discharge_by_cli(dir.path(), ward.patient_id, at(FIRST_SLOT).as_second()),
        1
    );
    let started = std::time::Instant::now();
    loop {
        let (status, _, page) = server.get(&format!("/v/{code}")).await;
        if status == StatusCode::OK && page.contains("This visit was cancelled") {
            break;
        }
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the link still opens the call {:?} after the discharge",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // From then on, every request says so.
    for _ in 0..3 {
        let (status, _, page) = server.get(&format!("/v/{code}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("This visit was cancelled"));
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_message_and_writes_nothing() {
    let (dir, ward, _clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 2).await;
    let slot = at(FIRST_SLOT).as_second();
    let cases: Vec<(&str, i64, &str, &str)> = vec![
        (
            "no consent",
            slot,
            "name=Anna&email=anna%40example.org",
            "tick the box",
        ),
        (
            "bad e-mail",
            slot,
            "name=Anna&email=anna%40example&consent=yes",
            "does not look like an e-mail address",
        ),
        (
            "no name",
            slot,
            "name=&email=anna%40example.org&consent=yes",
            "is required",
        ),
        (
            "long name",
            slot,
            "name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&email=anna%40example.org&consent=yes",
            "too long",
        ),
        ("outside hours", slot + 5 * 60, ANNA, "cannot be booked"),
        (
            "past slot",
            at("2026-11-22T13:00:00Z").as_second(),
            ANNA,
            "cannot be booked",
        ),
        (
            "beyond horizon",
            at("2026-12-23T13:00:00Z").as_second(),
            ANNA,
            "cannot be booked",
        ),
        (
            "html injection",
            slot,
            "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&email=x&consent=yes",
            "does not look like",
        ),
    ];
    for (what, slot, details, message) in cases {
        let (status, location, body) = book(&server, &ward.invite, slot, details).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert!(location.is_none(), "{what}");
        assert!(body.contains(message), "{what}: {body}");
        assert!(
            !body.contains("<script>alert"),
            "{what}: entries are escaped"
        );
    }
    // A form without its token (forged, or from another site) is refused.
    let (status, _, body) = post_form(
        &server,
        &format!("/b/{}", ward.invite),
        &format!("slot={slot}&{ANNA}"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("This form has expired"), "{body}");
    // Wrong content type.
    let (status, _, _) = request(
        server.addr,
        Method::POST,
        &format!("/b/{}", ward.invite),
        &[("content-type", "application/json")],
        Bytes::from("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM bookings"), 0);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM contacts"), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_patient_gets_at_most_the_wards_daily_visits() {
    let (_dir, ward, _clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 1).await;
    let slots =
        [FIRST_SLOT, "2026-11-23T13:40:00Z", "2026-11-23T14:20:00Z"].map(|s| at(s).as_second());
    for slot in &slots[..2] {
        let (status, _, body) = book(&server, &ward.invite, *slot, ANNA).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    }
    let (status, _, body) = book(&server, &ward.invite, slots[2], ANNA).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("already has 2 visit(s) on that day"),
        "{body}"
    );
    // The next day is fine.
    let tuesday = at(FIRST_SLOT) + jiff::SignedDuration::from_hours(24);
    let (status, _, _) = book(&server, &ward.invite, tuesday.as_second(), ANNA).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    server.stop().await;
}

#[test]
fn times_are_utc_seconds_in_the_database() {
    // A guard for the tests above: FIRST_SLOT is 14:00 in Amsterdam in November.
    let t: Timestamp = FIRST_SLOT.parse().unwrap();
    let local = t.to_zoned(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap());
    assert_eq!(local.strftime("%H:%M").to_string(), "14:00");
}

/// Links mailed before schema 8 carry no visit start (26 characters): they
/// still open their visit, found among the bookings made before the
/// upgrade (ids up to `visit_codes.legacy_until`), and only there.
#[tokio::test]
async fn a_link_mailed_before_the_upgrade_still_opens_its_visit() {
    use bedside::domain::codes::Code;
    let (dir, ward, _clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 2).await;
    let new_code = booked_visit(&server, &ward.invite).await;
    assert_eq!(new_code.len(), 32);
    // The booking as an older bedside wrote it: its code's hash, and the
    // migration's record that bookings up to it have such codes.
    let old = Code::generate(&ring::rand::SystemRandom::new());
    let db = open_db(dir.path());
    let id: i64 = db
        .query_row("SELECT id FROM bookings", [], |r| r.get(0))
        .unwrap();
    db.execute(
        "UPDATE bookings SET visit_hash = ?1 WHERE id = ?2",
        rusqlite::params![old.hash(), id],
    )
    .unwrap();
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'visit_codes.legacy_until'",
        [id.to_string()],
    )
    .unwrap();

    let (status, _, page) = server.get(&format!("/v/{}", old.expose())).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Your visit with Bed 12 starts on Monday 23 November 2026, 14:00."),
        "{page}"
    );
    let (status, _, _) = server.get(&format!("/v/{new_code}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "that code is no longer this visit's"
    );

    // Past the bookings made before the upgrade it is no code at all. (A
    // change by another process reaches the server's cache within 0.2 s.)
    db.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'visit_codes.legacy_until'",
        [(id - 1).to_string()],
    )
    .unwrap();
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        (status, _, _) = server.get(&format!("/v/{}", old.expose())).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// A patient discharged while a family's booking waits for the database is
/// read again inside the booking's transaction: the invite is gone (404)
/// and nothing is booked.
#[tokio::test]
async fn a_patient_discharged_while_a_booking_waits_is_not_booked() {
    let (dir, ward, _clock, server) = ward_at_monday_morning("mon-sun 14:00-16:00", 2).await;
    // Another process holds the write lock: the booking is checked and its
    // mail composed, then waits for it.
    let db = open_db(dir.path());
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let booking = book(&server, &ward.invite, at(FIRST_SLOT).as_second(), ANNA);
    let discharge = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        db.execute(
            "UPDATE patients SET status = 'discharged', discharged_at = 0 WHERE id = ?1",
            [ward.patient_id],
        )
        .unwrap();
        db.execute_batch("COMMIT").unwrap();
    };
    let ((status, _, body), ()) = tokio::join!(booking, discharge);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(count(dir.path(), "SELECT count(*) FROM bookings"), 0);
    assert_eq!(count(dir.path(), "SELECT count(*) FROM outbox"), 0);
    server.stop().await;
}
