//! The tablet kiosk through the real server and database: the device link
//! opens the tablet's own screen and nothing else; state.json hands out a
//! moderator token for this tablet's visit only, only inside its window;
//! cancelled visits, other tablets' visits and replaced links never join.

mod common;

use std::path::Path;
use std::sync::Arc;

use bedside::clock::FixedClock;
use bedside::domain::booking::{self, Booked};
use bedside::domain::codes::Code;
use bytes::Bytes;
use common::{TestServer, at, config_for, open_db, request, seed_unit, seed_ward};
use data_encoding::BASE64URL_NOPAD;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first slot that morning: 14:00–14:30 Amsterdam.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";
const FIRST_SLOT_END: &str = "2026-11-23T13:30:00Z";
/// Its window opens ten minutes early; the token lasts five minutes past the end.
const WINDOW_OPENS: &str = "2026-11-23T12:50:00Z";
const LEAVE_AT: &str = "2026-11-23T13:35:00Z";

const CSP: &str = "default-src 'none'; script-src 'self' https://localhost:8443; \
                   frame-src https://localhost:8443; connect-src 'self'; style-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// Gives the tablet labelled `label` on Ward 3 a fresh device link and
/// returns its code (what the admin page will do).
fn link_tablet(dir: &Path, label: &str) -> String {
    let code = Code::generate(&ring::rand::SystemRandom::new());
    let changed = open_db(dir)
        .execute(
            "UPDATE tablets SET device_hash = ?1
             WHERE label = ?2 AND unit_id = (SELECT id FROM units WHERE name = 'Ward 3')",
            rusqlite::params![code.hash(), label],
        )
        .unwrap();
    assert_eq!(changed, 1, "tablet {label} exists");
    code.expose().to_string()
}

/// Books the slot at `start` for patient `patient_id` as a family named
/// Anna would, with the clock at Monday morning.
fn book(dir: &Path, patient_id: i64, start: &str) -> Booked {
    common::seed_booking(
        dir,
        patient_id,
        start,
        ("Anna Example", "anna@example.org"),
        MONDAY_MORNING,
        false,
    )
}

fn room_of(dir: &Path, booking_id: i64) -> String {
    open_db(dir)
        .query_row(
            "SELECT room FROM bookings WHERE id = ?1",
            [booking_id],
            |r| r.get(0),
        )
        .unwrap()
}

async fn state_json(server: &TestServer, code: &str) -> Value {
    let (status, headers, body) = server.get(&format!("/t/{code}/state.json")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    for private in ["Anna", "anna@example.org"] {
        assert!(!body.contains(private), "{private} in state.json: {body}");
    }
    serde_json::from_str(&body).unwrap()
}

fn token_text(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    String::from_utf8(BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

/// Checks the signature with the server's secret (ring, as Prosody would)
/// and returns the claims.
fn verified_claims(dir: &Path, token: &str) -> Value {
    let secret = std::fs::read_to_string(dir.join("jitsi-app-secret")).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token has three parts");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.trim_end().as_bytes());
    ring::hmac::verify(
        &key,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap(),
    )
    .expect("signature verifies with the app secret");
    serde_json::from_str(&token_text(token)).unwrap()
}

/// Starts bedside with a held clock and extra settings (e.g. a tenant).
async fn start_with(dir: &Path, clock: Arc<FixedClock>, extra: &[(&str, &str)]) -> Started {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let public = format!("http://{addr}");
    let mut settings = vec![("BEDSIDE_PUBLIC_URL", public.as_str())];
    settings.extend_from_slice(extra);
    let config = config_for(dir, &settings);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(bedside::run_with_clock(
        config,
        listener,
        shutdown.clone(),
        clock,
    ));
    // The listener queues connections until bedside is ready.
    let (status, _, _) = request(addr, Method::GET, "/healthz", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "bedside did not come up healthy");
    Started {
        addr,
        shutdown,
        task,
    }
}

struct Started {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bedside::StartError>>,
}

impl Started {
    async fn get(&self, path: &str) -> (StatusCode, http::HeaderMap, String) {
        request(self.addr, Method::GET, path, &[], Bytes::new()).await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn unknown_malformed_and_replaced_links_are_the_same_not_found() {
    let dir = tempfile::tempdir().unwrap();
    seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let old = link_tablet(dir.path(), "Tablet 1");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;

    let (status, _, _) = server.get(&format!("/t/{old}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the link works before it is replaced"
    );
    // An admin issues a new link: the old one stops working at once.
    let new = link_tablet(dir.path(), "Tablet 1");
    let unknown = Code::generate(&ring::rand::SystemRandom::new());

    let mut pages = Vec::new();
    let mut states = Vec::new();
    for code in [old.as_str(), unknown.expose(), "abc"] {
        let (status, _, page) = server.get(&format!("/t/{code}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
        pages.push(page);
        let (status, headers, body) = server.get(&format!("/t/{code}/state.json")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
        assert_eq!(headers["content-type"], "application/json");
        states.push(body);
    }
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "{pages:?}");
    assert!(states.windows(2).all(|w| w[0] == w[1]), "{states:?}");
    assert!(!pages[0].contains("Tablet 1") && !pages[0].contains("Ward 3"));

    let (status, _, page) = server.get(&format!("/t/{new}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Tablet 1"));
    // Codes are read case-insensitively, like every code in bedside.
    let (status, _, _) = server.get(&format!("/t/{}", new.to_uppercase())).await;
    assert_eq!(status, StatusCode::OK);

    // Removing the link (no tablet has it any more) is the same.
    open_db(dir.path())
        .execute("UPDATE tablets SET device_hash = NULL", [])
        .unwrap();
    let (status, _, page) = server.get(&format!("/t/{new}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(page, pages[0]);
    server.stop().await;
}

#[tokio::test]
async fn guessing_device_links_is_throttled_like_every_code() {
    let dir = tempfile::tempdir().unwrap();
    seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let code = link_tablet(dir.path(), "Tablet 1");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;
    let rng = ring::rand::SystemRandom::new();
    for i in 0..20 {
        let guess = Code::generate(&rng);
        let path = match i % 2 {
            0 => format!("/t/{}", guess.expose()),
            _ => format!("/t/{}/state.json", guess.expose()),
        };
        let (status, _, _) = server.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Over the limit, even the right link waits.
    let (status, headers, _) = server.get(&format!("/t/{code}/state.json")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    server.stop().await;
}

#[tokio::test]
async fn the_kiosk_page_shows_unit_tablet_clock_and_next_visit_and_nothing_of_the_family() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let booked = book(dir.path(), ward.patient_id, FIRST_SLOT);
    assert_eq!(booked.tablet_label, "Tablet 1");
    let one = link_tablet(dir.path(), "Tablet 1");
    let two = link_tablet(dir.path(), "Tablet 2");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock).await;

    let (status, headers, page) = server.get(&format!("/t/{one}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(
        headers.get_all("content-security-policy").iter().count(),
        1,
        "one policy, not the common one as well"
    );
    assert_eq!(headers["cache-control"], "no-store");
    for shown in [
        "Ward 3",
        "Tablet 1",
        "09:00",
        "Monday 23 November",
        "Next visit",
        "14:00–14:30",
        "Bed 12",
    ] {
        assert!(page.contains(shown), "{shown} on the kiosk page:\n{page}");
    }
    for private in ["Anna", "anna@example.org", booked.visit.expose()] {
        assert!(!page.contains(private), "{private} on the kiosk page");
    }
    assert!(
        !page.contains(&room_of(dir.path(), booked.id)),
        "no room before the window"
    );
    // Scripts from files only: Jitsi's IFrame API and the kiosk's own.
    assert!(page.contains("<script src=\"https://localhost:8443/external_api.js\" async>"));
    assert!(page.contains("<script src=\"/static/kiosk.js\" defer>"));
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=").count(),
        "no inline script"
    );
    assert!(!page.contains(" style="), "no inline style");
    assert!(page.contains(&format!("data-state=\"/t/{one}/state.json\"")));
    assert!(page.contains("data-time-zone=\"Europe/Amsterdam\""));
    assert!(page.contains("data-poll=\"15\""));

    // The other tablet has nothing today.
    let (_, _, page) = server.get(&format!("/t/{two}?poll=2")).await;
    assert!(page.contains("Tablet 2") && page.contains("No more visits today"));
    assert!(!page.contains("Bed 12"));
    assert!(page.contains("data-poll=\"2\""));
    let (_, _, page) = server.get(&format!("/t/{two}?poll=0")).await;
    assert!(
        page.contains("data-poll=\"1\""),
        "the poll interval is bounded"
    );

    // The script the page loads is served.
    let (status, headers, script) = server.get("/static/kiosk.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert!(script.contains("JitsiMeetExternalAPI"));
    server.stop().await;
}

#[tokio::test]
async fn state_json_joins_only_inside_the_window_with_a_moderator_token_for_that_room() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let booked = book(dir.path(), ward.patient_id, FIRST_SLOT);
    let room = room_of(dir.path(), booked.id);
    let code = link_tablet(dir.path(), "Tablet 1");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    let next = serde_json::json!({
        "start": at(FIRST_SLOT).as_second(),
        "end": at(FIRST_SLOT_END).as_second(),
        "opens": at(WINDOW_OPENS).as_second(),
        "patient_label": "Bed 12",
    });

    // Before the window: what is next, no way in.
    let state = state_json(&server, &code).await;
    assert_eq!(state["unit"], "Ward 3");
    assert_eq!(state["tablet"], "Tablet 1");
    assert_eq!(state["now"], at(MONDAY_MORNING).as_second());
    assert_eq!(state["next"], next);
    assert_eq!(state["join"], Value::Null);
    clock.set(at("2026-11-23T12:49:59Z"));
    assert_eq!(state_json(&server, &code).await["join"], Value::Null);

    // Inside the window, from its first second to the slot's last.
    for now in [WINDOW_OPENS, FIRST_SLOT, "2026-11-23T13:29:59Z"] {
        clock.set(at(now));
        let state = state_json(&server, &code).await;
        assert_eq!(state["next"], next, "{now}: next is the visit joined");
        let join = &state["join"];
        assert_eq!(join["domain"], "localhost:8443");
        assert_eq!(join["room"], room.as_str());
        assert_eq!(join["leave_at"], at(LEAVE_AT).as_second());
        assert_eq!(join["display_name"], "Tablet 1 · Ward 3");
        let claims = verified_claims(dir.path(), join["jwt"].as_str().unwrap());
        assert_eq!(claims["room"], room.as_str());
        assert_eq!(claims["moderator"], true);
        assert_eq!(claims["context"]["user"]["moderator"], "true");
        assert_eq!(claims["context"]["user"]["affiliation"], "owner");
        assert_eq!(claims["context"]["user"]["name"], "Tablet 1 · Ward 3");
        assert_eq!(claims["nbf"], at(WINDOW_OPENS).as_second());
        assert_eq!(claims["exp"], at(LEAVE_AT).as_second());
        assert_eq!(claims["iat"], at(now).as_second(), "minted when asked");
        assert_eq!(claims["sub"], "meet.jitsi");
        assert!(!token_text(join["jwt"].as_str().unwrap()).contains("anna"));
    }

    // The slot is over: no more joining (the page stays for the grace
    // time on its own), and nothing else is on today.
    for now in [FIRST_SLOT_END, LEAVE_AT, "2026-11-23T20:00:00Z"] {
        clock.set(at(now));
        let state = state_json(&server, &code).await;
        assert_eq!(state["join"], Value::Null, "{now}");
        assert_eq!(state["next"], Value::Null, "{now}");
    }
    let (_, _, page) = server.get(&format!("/t/{code}")).await;
    assert!(page.contains("No more visits today"));
    server.stop().await;
}

#[tokio::test]
async fn a_visit_on_another_tablet_never_shows_up_on_this_one() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 2);
    let other = seed_unit(dir.path(), "Ward 3", "", 0, "Bed 13");
    let first = book(dir.path(), ward.patient_id, FIRST_SLOT);
    let second = book(dir.path(), other.patient_id, FIRST_SLOT);
    assert_eq!(first.tablet_label, "Tablet 1");
    assert_eq!(second.tablet_label, "Tablet 2");
    let (room1, room2) = (
        room_of(dir.path(), first.id),
        room_of(dir.path(), second.id),
    );
    let one = link_tablet(dir.path(), "Tablet 1");
    let two = link_tablet(dir.path(), "Tablet 2");
    let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;

    for now in [MONDAY_MORNING, FIRST_SLOT] {
        clock.set(at(now));
        for (code, mine, theirs, label, not_label) in [
            (&one, &room1, &room2, "Bed 12", "Bed 13"),
            (&two, &room2, &room1, "Bed 13", "Bed 12"),
        ] {
            let (_, _, body) = server.get(&format!("/t/{code}/state.json")).await;
            assert!(!body.contains(theirs.as_str()), "{now}: {body}");
            assert!(!body.contains(not_label), "{now}: {body}");
            let state: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(state["next"]["patient_label"], label);
            if now == FIRST_SLOT {
                assert_eq!(state["join"]["room"], mine.as_str());
            }
            let (_, _, page) = server.get(&format!("/t/{code}")).await;
            assert!(page.contains(label) && !page.contains(not_label), "{page}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_cancelled_visit_never_joins() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let booked = book(dir.path(), ward.patient_id, FIRST_SLOT);
    let code = link_tablet(dir.path(), "Tablet 1");
    let clock = Arc::new(FixedClock::new(at(FIRST_SLOT)));
    let server = TestServer::start_at(dir.path(), clock.clone()).await;
    assert_ne!(state_json(&server, &code).await["join"], Value::Null);

    // Staff cancel it mid-visit: the next poll has no way in.
    let conn = bedside::store::open_for_command(&dir.path().join("bedside.db")).unwrap();
    booking::cancel_by_id(&conn, booked.id, "staff", at(FIRST_SLOT), None).unwrap();
    let state = state_json(&server, &code).await;
    assert_eq!(state["join"], Value::Null);
    assert_eq!(state["next"], Value::Null);
    clock.set(at(WINDOW_OPENS));
    assert_eq!(state_json(&server, &code).await["join"], Value::Null);
    let (_, _, page) = server.get(&format!("/t/{code}")).await;
    assert!(page.contains("No more visits today") && !page.contains("Bed 12"));
    server.stop().await;
}

#[tokio::test]
async fn with_a_tenant_the_room_is_behind_it_and_the_policy_names_the_configured_site() {
    let dir = tempfile::tempdir().unwrap();
    let ward = seed_ward(dir.path(), "mon-sun 14:00-16:00", 1);
    let booked = book(dir.path(), ward.patient_id, FIRST_SLOT);
    let room = room_of(dir.path(), booked.id);
    let code = link_tablet(dir.path(), "Tablet 1");
    let clock = Arc::new(FixedClock::new(at(FIRST_SLOT)));
    let server = start_with(
        dir.path(),
        clock,
        &[
            ("BEDSIDE_JITSI_PUBLIC_URL", "https://meet.example.org/"),
            ("BEDSIDE_JITSI_TENANT", "hospital"),
        ],
    )
    .await;

    let (status, headers, page) = server.get(&format!("/t/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["content-security-policy"],
        CSP.replace("https://localhost:8443", "https://meet.example.org")
    );
    assert!(page.contains("<script src=\"https://meet.example.org/external_api.js\" async>"));
    assert!(page.contains("Visit now"));

    let (_, _, body) = server.get(&format!("/t/{code}/state.json")).await;
    let state: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["join"]["domain"], "meet.example.org");
    assert_eq!(state["join"]["room"], format!("hospital/{room}"));
    let claims = verified_claims(dir.path(), state["join"]["jwt"].as_str().unwrap());
    assert_eq!(claims["room"], room.as_str(), "the claim is the bare room");
    assert_eq!(claims["sub"], "hospital");
    server.stop().await;
}
