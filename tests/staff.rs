//! Ward staff through the real server: logging in, sessions, lockout, the
//! run-sheet, actions on visits, patients, instant meetings — and that
//! nothing state-changing can be done cross-site or without a token.

mod common;

use std::sync::Arc;

use bedside::clock::FixedClock;
use bytes::Bytes;
use common::{
    STAFF_PASSWORD, StaffSession, TestServer, at, open_db, open_db_keyed, request, seed_staff,
    seed_unit, seed_ward,
};
use data_encoding::BASE64URL_NOPAD;
use http::{Method, StatusCode};

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MORNING: &str = "2026-11-23T08:00:00Z";
/// 14:00 Amsterdam that day: the first slot.
const SLOT: &str = "2026-11-23T13:00:00Z";

/// Books the 14:00 slot for a seeded patient, straight through the domain.
/// Returns (booking id, visit code).
fn book(dir: &std::path::Path, patient_id: i64, name: &str, email: &str) -> (i64, String) {
    let booked = common::seed_booking(dir, patient_id, SLOT, (name, email), MORNING, false);
    (booked.id, booked.visit.expose().to_string())
}

/// Every row of every table, as text: what "nothing changed" means.
fn snapshot(dir: &std::path::Path) -> String {
    let db = open_db(dir);
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    for table in tables {
        let mut stmt = db
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1"))
            .unwrap();
        let columns = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..columns)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.push_str(&format!("{table}:\n{}\n", rows.join("\n")));
    }
    out
}

fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string()
}

struct World {
    server: TestServer,
    dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
    ward: common::Ward,
    other: common::Ward,
    booking: i64,
    other_booking: i64,
    visit_code: String,
}

/// Two wards with a visit each at 14:00; an admin, an operator of Ward 3
/// and an operator of Ward 5.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 5", "mon-sun 14:00-16:00", 1, "Bed 51");
    seed_staff(dir.path(), "admin", "admin", &[]);
    seed_staff(dir.path(), "anna.op", "operator", &["Ward 3"]);
    seed_staff(dir.path(), "bo.op", "operator", &["Ward 5"]);
    let (booking, visit_code) = book(
        dir.path(),
        ward.patient_id,
        "Carla Example",
        "carla@example.org",
    );
    let (other_booking, _) = book(
        dir.path(),
        other.patient_id,
        "Dirk Example",
        "dirk@example.org",
    );
    let clock = Arc::new(FixedClock::new(at(MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    World {
        server,
        dir,
        clock,
        ward,
        other,
        booking,
        other_booking,
        visit_code,
    }
}

#[tokio::test]
async fn every_state_changing_route_refuses_cross_site_and_tokenless_posts() {
    let w = world().await;
    let admin = w.server.login("admin", STAFF_PASSWORD).await.unwrap();
    assert!(
        !admin.csrf.is_empty(),
        "the run-sheet carries the session's token"
    );
    let meeting = {
        let conn = bedside::store::open_for_command(&w.dir.path().join("bedside.db")).unwrap();
        let u = bedside::domain::unit::by_id(&conn, w.ward.unit_id).unwrap();
        bedside::domain::meeting::start(
            &conn,
            &u,
            1,
            30,
            at(MORNING),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap()
        .meeting
        .id
    };
    let tablet: i64 = open_db(w.dir.path())
        .query_row("SELECT min(id) FROM tablets", [], |r| r.get(0))
        .unwrap();
    // Valid tokens of the family and login forms, to show the origin check alone refuses.
    let (_, _, invite_page) = w.server.get(&format!("/b/{}", w.ward.invite)).await;
    let (_, _, visit_page) = w.server.get(&format!("/v/{}", w.visit_code)).await;
    let (_, _, login_page) = w.server.get("/staff/login").await;

    let before = snapshot(w.dir.path());
    for pattern in bedside::http::router::STATE_CHANGING {
        let id = if pattern.starts_with("/staff/visits") || pattern.starts_with("/api/v1/bookings/")
        {
            w.booking
        } else if pattern.contains("patients/") {
            w.ward.patient_id
        } else if pattern.starts_with("/staff/meetings/") {
            meeting
        } else if pattern.starts_with("/staff/admin/units/") {
            w.ward.unit_id
        } else if pattern.starts_with("/staff/admin/tablets/") {
            tablet
        } else {
            1
        };
        let path = pattern
            .replace("{id}", &id.to_string())
            .replace("{invite}", &w.ward.invite)
            .replace("{code}", &w.visit_code);
        let token = match *pattern {
            "/b/{invite}" => input_value(&invite_page, "csrf"),
            "/v/{code}/cancel" => input_value(&visit_page, "csrf"),
            "/staff/login" => input_value(&login_page, "csrf"),
            _ => admin.csrf.clone(),
        };
        let fields = format!(
            "slot={}&name=Eve+Example&email=eve%40example.org&language=en&consent=yes&username=admin&password={}&status=done&tablet_id={tablet}&unit_id={}&label=Bed+99&minutes=30&active=0&role=operator&time_zone=Europe%2FAmsterdam&visiting_hours=mon+10%3A00-11%3A00",
            at(SLOT).as_second(),
            STAFF_PASSWORD.replace(' ', "+"),
            w.ward.unit_id
        );
        let api = pattern.starts_with("/api/");
        let content_type = if api {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let body = if api {
            "{}".to_string()
        } else {
            format!("csrf={token}&{fields}")
        };
        // Cross-site, with the session cookie and even a valid token.
        let (status, _, _) = request(
            w.server.addr,
            Method::POST,
            &path,
            &[
                ("cookie", &admin.cookie),
                ("content-type", content_type),
                ("origin", "https://evil.example.org"),
                ("sec-fetch-site", "cross-site"),
            ],
            Bytes::from(body),
        )
        .await;
        // The API is authenticated by a key in a header, never a cookie: no key, 401.
        let refused = if api {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, refused, "cross-site POST {pattern}");
        // Same origin, but without the token.
        let (status, _, _) = w.server.post_as(&admin.cookie, &path, &fields).await;
        let expected = if api {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "token-less POST {pattern}");
        assert_eq!(
            snapshot(w.dir.path()),
            before,
            "{pattern} changed something"
        );
    }
}

#[tokio::test]
async fn login_sets_a_host_cookie_and_a_new_session_each_time_and_logout_ends_it() {
    let w = world().await;
    let (_, _, page) = w.server.get("/staff/login").await;
    let token = input_value(&page, "csrf");
    let form = format!(
        "csrf={token}&username=anna.op&password={}",
        STAFF_PASSWORD.replace(' ', "+")
    );
    async fn post(server: &TestServer, form: &str) -> (StatusCode, http::HeaderMap, String) {
        let origin = format!("http://{}", server.addr);
        request(
            server.addr,
            Method::POST,
            "/staff/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", &origin),
            ],
            Bytes::from(form.to_string()),
        )
        .await
    }
    let (status, headers, _) = post(&w.server, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/staff");
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    let attributes: Vec<&str> = cookie.split("; ").collect();
    assert!(attributes[0].starts_with("__Host-bedside_session="));
    for a in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.contains(&a), "{a} missing in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "__Host- cookies have no Domain");
    let (_, headers2, _) = post(&w.server, &form).await;
    let cookie2 = headers2["set-cookie"].to_str().unwrap().to_string();
    assert_ne!(
        attributes[0],
        cookie2.split(';').next().unwrap(),
        "a new id at every login"
    );
    // Only the hash is stored.
    let id = attributes[0].split('=').nth(1).unwrap();
    assert!(!snapshot(w.dir.path()).contains(id));

    let session = attributes[0].to_string();
    let (status, _, page) = w.server.get_as(&session, "/staff").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = input_value(&page, "csrf");
    let (status, headers, _) = w
        .server
        .post_as(&session, "/staff/logout", &format!("csrf={csrf}"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie is worthless now.
    let (status, headers, _) = w.server.get_as(&session, "/staff").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/staff/login");
}

#[tokio::test]
async fn sessions_end_after_the_idle_and_absolute_timeouts() {
    let w = world().await;
    let s = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    // Used every 29 minutes it stays alive…
    for minutes in [29, 58, 87] {
        w.clock
            .set(at(MORNING) + jiff::SignedDuration::from_mins(minutes));
        let (status, _, _) = w.server.get_as(&s.cookie, "/staff").await;
        assert_eq!(status, StatusCode::OK, "after {minutes} min");
    }
    // …but not 30 minutes idle.
    w.clock
        .set(at(MORNING) + jiff::SignedDuration::from_mins(87 + 30));
    let (status, _, _) = w.server.get_as(&s.cookie, "/staff").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // And never beyond 12 hours, however busy.
    let s = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let start = at(MORNING) + jiff::SignedDuration::from_mins(87 + 30);
    let mut t = start;
    while t < start + jiff::SignedDuration::from_hours(12) {
        t += jiff::SignedDuration::from_mins(20);
        w.clock.set(t);
        let (status, _, _) = w.server.get_as(&s.cookie, "/staff").await;
        let alive = t.duration_since(start) < jiff::SignedDuration::from_hours(12);
        assert_eq!(status == StatusCode::OK, alive, "at {t}");
    }
}

#[tokio::test]
async fn ten_failures_lock_the_account_and_failures_all_look_alike() {
    let w = world().await;
    let wrong = w
        .server
        .login("anna.op", "wrong password here")
        .await
        .unwrap_err();
    let unknown = w
        .server
        .login("nobody", "wrong password here")
        .await
        .unwrap_err();
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    let strip = |page: &str| {
        page.replace(&input_value(page, "csrf"), "")
            .replace("nobody", "anna.op")
    };
    assert_eq!(
        strip(&wrong.1),
        strip(&unknown.1),
        "unknown user and wrong password answer alike"
    );
    for _ in 0..9 {
        w.server
            .login("anna.op", "wrong password here")
            .await
            .unwrap_err();
    }
    // Ten failures: even the right password is refused now, with the same answer.
    let locked = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap_err();
    assert_eq!(strip(&locked.1), strip(&wrong.1));
    // Other accounts are not affected.
    w.server.login("bo.op", STAFF_PASSWORD).await.unwrap();
    // Fifteen minutes later the account opens again, and one more wrong
    // try does not lock it again at once.
    w.clock
        .set(at(MORNING) + jiff::SignedDuration::from_mins(15));
    w.server
        .login("anna.op", "wrong password here")
        .await
        .unwrap_err();
    w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    // Monitoring sees the failures counted.
    let (_, _, metrics) = w.server.get("/metrics").await;
    assert!(
        metrics.contains("bedside_failed_logins_total 13\n"),
        "{metrics}"
    );
    // The audit trail counted the failures, naming only the account id.
    let db = open_db(w.dir.path());
    let failed: i64 = db
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'login' AND outcome = 'failed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 13);
    let locked_rows: i64 = db
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'staff.locked'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(locked_rows, 1);
    let trail = snapshot(w.dir.path());
    let audit = trail
        .split("audit:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    assert!(
        !audit.contains("anna") && !audit.contains("nobody") && !audit.contains("wrong"),
        "{audit}"
    );
}

#[tokio::test]
async fn an_operator_sees_and_touches_only_their_units() {
    let w = world().await;
    let anna = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let (status, _, page) = w.server.get_as(&anna.cookie, "/staff").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ward 3") && page.contains("Bed 12"), "{page}");
    assert!(page.contains("14:00–14:30"));
    assert!(
        page.contains("Carla Example"),
        "the unit shows family names"
    );
    assert!(!page.contains("Ward 5") && !page.contains("Bed 51") && !page.contains("Dirk"));
    assert!(!page.contains("@example.org"), "never an e-mail address");
    assert!(
        page.contains("class=\"next status-booked\""),
        "the next visit is highlighted"
    );

    // Another unit's visit, patient and meetings: not found / forbidden, nothing changes.
    let before = snapshot(w.dir.path());
    let csrf = &anna.csrf;
    for (path, form) in [
        (
            format!("/staff/visits/{}/open", w.other_booking),
            format!("csrf={csrf}"),
        ),
        (
            format!("/staff/visits/{}/status", w.other_booking),
            format!("csrf={csrf}&status=done"),
        ),
        (
            format!("/staff/visits/{}/move", w.other_booking),
            format!("csrf={csrf}&tablet_id=1"),
        ),
        (
            format!("/staff/patients/{}/discharge", w.other.patient_id),
            format!("csrf={csrf}"),
        ),
        (
            "/staff/patients".to_string(),
            format!("csrf={csrf}&unit_id={}&label=Bed+1", w.other.unit_id),
        ),
        (
            "/staff/meetings".to_string(),
            format!("csrf={csrf}&unit_id={}&minutes=30", w.other.unit_id),
        ),
    ] {
        let (status, _, _) = w.server.post_as(&anna.cookie, &path, &form).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
            "{path}: {status}"
        );
    }
    assert_eq!(snapshot(w.dir.path()), before);
    let (_, _, patients) = w.server.get_as(&anna.cookie, "/staff/patients").await;
    assert!(patients.contains("Bed 12") && !patients.contains("Bed 51"));
    // Admin pages are not for operators.
    let (status, _, _) = w.server.get_as(&anna.cookie, "/staff/admin/units").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A ward that shows labels, not names: the family's name is gone.
    open_db(w.dir.path())
        .execute("UPDATE units SET family_display = 'label'", [])
        .unwrap();
    let (_, _, page) = w.server.get_as(&anna.cookie, "/staff").await;
    assert!(!page.contains("Carla"));
}

fn claims_of(dir: &std::path::Path, location: &str) -> serde_json::Value {
    let token = location
        .split("#jwt=")
        .nth(1)
        .expect("a token in the fragment");
    let parts: Vec<&str> = token.split('.').collect();
    let secret = std::fs::read_to_string(dir.join("jitsi-app-secret")).unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.trim_end().as_bytes());
    ring::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap(),
    )
    .expect("signed with the app secret");
    serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap()
}

#[tokio::test]
async fn open_meeting_signs_staff_in_as_moderator_for_that_room_and_window() {
    let w = world().await;
    let anna = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let open = format!("/staff/visits/{}/open", w.booking);
    // Too early: the token would not be accepted yet, so no redirect.
    let (status, _, body) = w
        .server
        .post_as(&anna.cookie, &open, &format!("csrf={}", anna.csrf))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    w.clock.set(at("2026-11-23T12:55:00Z"));
    let anna = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let (status, headers, _) = w
        .server
        .post_as(&anna.cookie, &open, &format!("csrf={}", anna.csrf))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers["location"].to_str().unwrap();
    let room: String = open_db(w.dir.path())
        .query_row(
            "SELECT room FROM bookings WHERE id = ?1",
            [w.booking],
            |r| r.get(0),
        )
        .unwrap();
    assert!(location.starts_with(&format!("https://localhost:8443/{room}#jwt=")));
    let c = claims_of(w.dir.path(), location);
    assert_eq!(c["room"], room.as_str());
    assert_eq!(c["moderator"], true);
    assert_eq!(c["context"]["user"]["moderator"], "true");
    assert_eq!(c["context"]["user"]["affiliation"], "owner");
    assert_eq!(c["context"]["user"]["name"], "Nurse anna.op");
    assert_eq!(c["nbf"], at("2026-11-23T12:50:00Z").as_second());
    assert_eq!(c["exp"], at("2026-11-23T13:35:00Z").as_second());
    let audited: i64 = open_db(w.dir.path())
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'visit.open'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn staff_mark_visits_and_move_them_between_tablets() {
    let w = world().await;
    let anna = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let db = || open_db(w.dir.path());
    let tablet_of = || -> i64 {
        db().query_row(
            "SELECT tablet_id FROM bookings WHERE id = ?1",
            [w.booking],
            |r| r.get(0),
        )
        .unwrap()
    };
    let before = tablet_of();
    let (_, _, page) = w.server.get_as(&anna.cookie, "/staff").await;
    assert!(
        page.contains("Tablet 2"),
        "the other free tablet is offered"
    );
    let other: i64 = db()
        .query_row(
            "SELECT id FROM tablets WHERE label = 'Tablet 2' AND unit_id = ?1",
            [w.ward.unit_id],
            |r| r.get(0),
        )
        .unwrap();
    let (status, _, _) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/visits/{}/move", w.booking),
            &format!("csrf={}&tablet_id={other}", anna.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_ne!(tablet_of(), before);
    assert_eq!(tablet_of(), other);
    // Patient unavailable cancels; the family's link says so kindly.
    let (status, _, _) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/visits/{}/status", w.booking),
            &format!("csrf={}&status=patient-unavailable", anna.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, family) = w.server.get(&format!("/v/{}", w.visit_code)).await;
    assert!(
        family.contains("the patient cannot take the call"),
        "{family}"
    );
    // A second status change is refused.
    let (status, _, _) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/visits/{}/status", w.booking),
            &format!("csrf={}&status=done", anna.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let counts: (i64, i64) = db()
        .query_row(
            "SELECT booked, cancelled FROM daily_counts WHERE unit_id = ?1",
            [w.ward.unit_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(counts, (1, 1), "the daily counts follow");
}

#[tokio::test]
async fn registering_a_patient_shows_the_invite_card_once_and_discharge_closes_it() {
    let w = world().await;
    let anna = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let (status, _, card) = w
        .server
        .post_as(
            &anna.cookie,
            "/staff/patients",
            &format!("csrf={}&unit_id={}&label=Bed+14", anna.csrf, w.ward.unit_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(card.contains("Bed 14 · Ward 3"));
    assert!(card.contains("<svg"), "a QR code to print");
    let link = card
        .split("id=\"link\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let path = link
        .trim_start_matches(&format!("http://{}", w.server.addr))
        .to_string();
    let (status, _, invite) = w.server.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(invite.contains("Book a video visit with Bed 14"));
    // The code is never stored, so the list cannot show it again.
    let (_, _, list) = w.server.get_as(&anna.cookie, "/staff/patients").await;
    assert!(!list.contains(path.trim_start_matches("/b/")));
    // A label that is too long is refused on the page.
    let (status, _, page) = w
        .server
        .post_as(
            &anna.cookie,
            "/staff/patients",
            &format!(
                "csrf={}&unit_id={}&label={}",
                anna.csrf,
                w.ward.unit_id,
                "x".repeat(41)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("too long"));
    // Discharge: the invite stops working.
    let id: i64 = open_db(w.dir.path())
        .query_row("SELECT id FROM patients WHERE label = 'Bed 14'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let (status, _, _) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/patients/{id}/discharge"),
            &format!("csrf={}", anna.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = w.server.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_instant_meeting_gives_a_guest_link_boxed_in_time_like_a_visit() {
    let w = world().await;
    let anna = w.server.login("anna.op", STAFF_PASSWORD).await.unwrap();
    let (status, _, page) = w
        .server
        .post_as(
            &anna.cookie,
            "/staff/meetings",
            &format!("csrf={}&unit_id={}&minutes=20", anna.csrf, w.ward.unit_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<svg"));
    let link = page
        .split("id=\"link\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let guest_path = link
        .trim_start_matches(&format!("http://{}", w.server.addr))
        .to_string();
    // The guest goes straight in, as a guest, until the end + 5 minutes grace.
    let (status, headers, _) = w.server.get(&guest_path).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let guest = claims_of(w.dir.path(), headers["location"].to_str().unwrap());
    assert_eq!(guest["moderator"], false);
    assert_eq!(guest["nbf"], at(MORNING).as_second());
    assert_eq!(guest["exp"], at("2026-11-23T08:25:00Z").as_second());
    // Staff join the same room as moderator.
    let meeting: i64 = open_db(w.dir.path())
        .query_row("SELECT id FROM meetings", [], |r| r.get(0))
        .unwrap();
    let (status, headers, _) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/meetings/{meeting}/open"),
            &format!("csrf={}", anna.csrf),
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let host = claims_of(w.dir.path(), headers["location"].to_str().unwrap());
    assert_eq!(host["room"], guest["room"]);
    assert_eq!(host["moderator"], true);
    // "Send by e-mail" queues one mail with the link; a made-up link is refused.
    let guest_code = guest_path.trim_start_matches("/v/");
    let (status, _, page) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/meetings/{meeting}/invite"),
            &format!(
                "csrf={}&guest={guest_code}&email=eve%40example.org&language=de",
                anna.csrf
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("The link was sent by e-mail"));
    let (kind, body): (String, String) = open_db_keyed(w.dir.path())
        .query_row(
            "SELECT kind, coalesce(bedside_open_text('outbox.body_text', message_id, body_text), '')
             FROM outbox WHERE meeting_id = ?1",
            [meeting],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "guest-invite");
    assert!(body.is_empty() || body.contains(guest_code), "{body}");
    let (status, _, _) = w
        .server
        .post_as(
            &anna.cookie,
            &format!("/staff/meetings/{meeting}/invite"),
            &format!(
                "csrf={}&guest=00000000000000000000000000&email=eve%40example.org&language=en",
                anna.csrf
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bounds: a meeting of 0 or 1000 minutes is refused.
    let (status, _, page) = w
        .server
        .post_as(
            &anna.cookie,
            "/staff/meetings",
            &format!("csrf={}&unit_id={}&minutes=1000", anna.csrf, w.ward.unit_id),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("5 to 240 minutes"));
    // After the end, the guest link says the visit has ended.
    w.clock.set(at("2026-11-23T08:20:00Z"));
    let (status, _, page) = w.server.get(&guest_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("This visit has ended"));
}

#[test]
fn staff_sessions_are_listed_in_the_state_changing_routes() {
    // The CSRF test walks this list; logging in and out must be in it.
    let list = bedside::http::router::STATE_CHANGING;
    assert!(list.contains(&"/staff/login") && list.contains(&"/staff/logout"));
    let _: Option<StaffSession> = None;
}
