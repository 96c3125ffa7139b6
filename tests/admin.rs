//! The admin pages as hospital IT uses them, through the real server and
//! database: units, tablets and their device links, staff accounts, API
//! keys, the audit trail and the statistics — and who may not use them.

mod common;

use std::path::Path;
use std::sync::Arc;

use bedside::clock::FixedClock;
use bedside::domain::codes::Code;
use bytes::Bytes;
use common::{
    STAFF_PASSWORD, StaffSession, TestServer, at, open_db, request, seed_staff, seed_ward,
};
use http::{Method, StatusCode};

/// Monday 23 November 2026, 09:00 in Amsterdam.
const MONDAY_MORNING: &str = "2026-11-23T08:00:00Z";
/// The first two slots that afternoon: 14:00 and 14:40 Amsterdam.
const FIRST_SLOT: &str = "2026-11-23T13:00:00Z";
const SECOND_SLOT: &str = "2026-11-23T13:40:00Z";
const NEW_PASSWORD: &str = "a brand new password for the ward";

/// A server with a ward ("Ward 3", two tablets, patient "Bed 12"), an
/// admin ("admin") and an operator on the ward ("nurse").
struct Setup {
    dir: tempfile::TempDir,
    server: TestServer,
    unit_id: i64,
    invite: String,
    admin_id: i64,
    nurse_id: i64,
    admin: StaffSession,
}

impl Setup {
    async fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ward = seed_ward(dir.path(), "mon-fri 14:00-16:00", 2);
        let admin_id = seed_staff(dir.path(), "admin", "admin", &[]);
        let nurse_id = seed_staff(dir.path(), "nurse", "operator", &["Ward 3"]);
        let clock = Arc::new(FixedClock::new(at(MONDAY_MORNING)));
        let server = TestServer::start_at(dir.path(), clock).await;
        let admin = login(&server, "admin").await;
        Setup {
            dir,
            server,
            unit_id: ward.unit_id,
            invite: ward.invite,
            admin_id,
            nurse_id,
            admin,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn get(&self, path: &str) -> (StatusCode, http::HeaderMap, String) {
        self.server.get_as(&self.admin.cookie, path).await
    }

    /// A same-origin form post by the admin, with the session's token.
    async fn post(&self, path: &str, form: &str) -> (StatusCode, http::HeaderMap, String) {
        let body = format!("csrf={}&{form}", self.admin.csrf);
        self.server.post_as(&self.admin.cookie, path, &body).await
    }

    /// Posts and expects a redirect back to a list page; returns its
    /// location.
    async fn post_ok(&self, path: &str, form: &str) -> String {
        let (status, headers, body) = self.post(path, form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path} {form}: {body}");
        headers["location"].to_str().unwrap().to_string()
    }

    fn tablet_id(&self, label: &str) -> i64 {
        open_db(self.dir())
            .query_row("SELECT id FROM tablets WHERE label = ?1", [label], |r| {
                r.get(0)
            })
            .unwrap()
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

/// Logs in and takes the CSRF token from the hidden `csrf` input of the
/// admin home page (an operator's from the database: they see no admin page).
async fn login(server: &TestServer, username: &str) -> StaffSession {
    let mut session = server.login(username, STAFF_PASSWORD).await.unwrap();
    let (status, _, page) = server.get_as(&session.cookie, "/staff/admin").await;
    if status == StatusCode::OK {
        session.csrf = input_value(&page, "csrf").unwrap();
    } else {
        session.csrf = open_db(&server.data_dir)
            .query_row(
                "SELECT s.csrf FROM sessions s JOIN staff f ON f.id = s.staff_id
                 WHERE f.username = ?1 ORDER BY s.created_at DESC LIMIT 1",
                [username],
                |r| r.get(0),
            )
            .unwrap();
    }
    session
}

/// The value of the first `name="<name>" value="…"` in a page.
fn input_value(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

/// The `value` of the input with `id`.
fn value_by_id(page: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

/// The text of the element with `id`, up to its first closing tag.
fn element<'a>(page: &'a str, id: &str) -> Option<&'a str> {
    let marker = format!("id=\"{id}\"");
    let start = page.find(&marker)? + marker.len();
    let rest = &page[start..];
    let open_end = rest.find('>')? + 1;
    let close = rest[open_end..].find("</")?;
    Some(&rest[open_end..open_end + close])
}

fn count(dir: &Path, sql: &str) -> i64 {
    open_db(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// A number from the database about the row with id `id` (`?1`).
fn number_of(dir: &Path, sql: &str, id: i64) -> i64 {
    open_db(dir).query_row(sql, [id], |r| r.get(0)).unwrap()
}

/// Everything an admin page can change, as text: compared before and after
/// a request that must change nothing. (Sessions are left out: using one
/// refreshes its idle timer.)
fn snapshot(dir: &Path) -> Vec<String> {
    let conn = open_db(dir);
    let mut all = Vec::new();
    for table in [
        "units",
        "tablets",
        "staff",
        "staff_units",
        "api_keys",
        "audit",
        "daily_counts",
    ] {
        // A table name cannot be a bound parameter; these are the fixed names above.
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
            .unwrap();
        let columns = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let values: Vec<String> = (0..columns)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                Ok(format!("{table}: {}", values.join(" | ")))
            })
            .unwrap();
        all.extend(rows.map(Result::unwrap));
    }
    all
}

/// Visiting hours as the database keeps them.
fn canonical(hours: &str) -> String {
    bedside::domain::hours::VisitingHours::parse(hours)
        .unwrap()
        .to_string()
}

fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)]).unwrap()[2..].to_string()
}

/// Every admin page, for the access checks.
const ADMIN_PAGES: &[&str] = &[
    "/staff/admin",
    "/staff/admin/units",
    "/staff/admin/tablets",
    "/staff/admin/staff",
    "/staff/admin/apikeys",
    "/staff/admin/audit",
    "/staff/admin/stats",
    "/staff/admin/subjects",
];

/// Writes an `.eml` file into the mail directory, as the mailer does when
/// no relay is configured.
fn write_eml(dir: &Path, name: &str, to: &str) {
    let mail = dir.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    std::fs::write(
        mail.join(name),
        format!(
            "From: <bedside@example.org>\r\nTo: <{to}>\r\nSubject: Your visit\r\n\r\nHello\r\n"
        ),
    )
    .unwrap();
}

/// Every admin change with a form that would be accepted, ids filled in.
fn admin_changes(s: &Setup) -> Vec<(String, String)> {
    let tablet = s.tablet_id("Tablet 1");
    let unit = s.unit_id;
    let changes = vec![
        (
            "/staff/admin/units".to_string(),
            "name=ICU&time_zone=Europe%2FAmsterdam&visiting_hours=mon-sun+10%3A00-12%3A00"
                .to_string(),
        ),
        (
            format!("/staff/admin/units/{unit}"),
            "time_zone=Europe%2FAmsterdam&visiting_hours=mon-fri+14%3A00-16%3A00&slot_minutes=45"
                .to_string(),
        ),
        (
            "/staff/admin/tablets".to_string(),
            format!("unit_id={unit}&label=Tablet+9"),
        ),
        (
            format!("/staff/admin/tablets/{tablet}/active"),
            "active=0".to_string(),
        ),
        (
            format!("/staff/admin/tablets/{tablet}/device-link"),
            String::new(),
        ),
        (
            "/staff/admin/staff".to_string(),
            format!(
                "username=j.devries&name=Jan+de+Vries&role=operator&units={unit}&password={}",
                encode(NEW_PASSWORD)
            ),
        ),
        (
            format!("/staff/admin/staff/{}", s.nurse_id),
            format!("role=operator&units={unit}&active=0"),
        ),
        (
            format!("/staff/admin/staff/{}/password", s.nurse_id),
            format!("password={}", encode(NEW_PASSWORD)),
        ),
        ("/staff/admin/apikeys".to_string(), "name=pas".to_string()),
        (
            "/staff/admin/apikeys/revoke".to_string(),
            "name=seeded".to_string(),
        ),
        (
            "/staff/admin/subjects/export".to_string(),
            "email=subject%40example.org".to_string(),
        ),
        (
            "/staff/admin/subjects/erase".to_string(),
            "email=subject%40example.org&email_again=Subject%40example.org".to_string(),
        ),
    ];
    // The person the subject forms find: one mail file addressed to them.
    write_eml(s.dir(), "000900-guest-invite.eml", "subject@example.org");
    // Every state-changing admin route is here.
    for pattern in bedside::http::router::STATE_CHANGING
        .iter()
        .filter(|p| p.starts_with("/staff/admin"))
    {
        assert!(
            changes
                .iter()
                .any(|(path, _)| bedside::http::router::route(&Method::POST, path).1 == *pattern),
            "{pattern} is not covered"
        );
    }
    changes
}

/// A live API key called "seeded", made before the server starts.
fn seed_key(dir: &Path) -> String {
    let config = common::config_for(dir, &[]);
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    bedside::domain::apikey::create(&conn, "seeded", 0, &ring::rand::SystemRandom::new()).unwrap()
}

#[tokio::test]
async fn operators_get_403_and_strangers_the_login_page_on_every_admin_route() {
    let s = Setup::start().await;
    seed_key(s.dir());
    let nurse = login(&s.server, "nurse").await;
    assert!(!nurse.csrf.is_empty());
    let before = snapshot(s.dir());
    for path in ADMIN_PAGES {
        let (status, _, _) = s.server.get_as(&nurse.cookie, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "operator GET {path}");
        let (status, headers, _) = s.server.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "stranger GET {path}");
        assert_eq!(headers["location"], "/staff/login", "stranger GET {path}");
    }
    for (path, form) in admin_changes(&s) {
        // The operator's own, valid token: refused for the role alone.
        let body = format!("csrf={}&{form}", nurse.csrf);
        let (status, _, _) = s.server.post_as(&nurse.cookie, &path, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "operator POST {path}");
        let (status, headers, _) = s.server.post_as("x=y", &path, &body).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "stranger POST {path}");
        assert_eq!(headers["location"], "/staff/login", "stranger POST {path}");
    }
    assert_eq!(snapshot(s.dir()), before, "a refused request changed data");
    // The admin sees every page.
    for path in ADMIN_PAGES {
        let (status, _, page) = s.get(path).await;
        assert_eq!(status, StatusCode::OK, "admin GET {path}: {page}");
        assert!(page.contains("name=\"csrf\""), "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn changes_without_the_token_or_from_another_site_are_refused_and_change_nothing() {
    let s = Setup::start().await;
    seed_key(s.dir());
    let before = snapshot(s.dir());
    let origin = format!("http://{}", s.server.addr);
    for (path, form) in admin_changes(&s) {
        let (status, _, _) = s.server.post_as(&s.admin.cookie, &path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no token: {path}");
        let wrong = format!("csrf=0000{}&{form}", &s.admin.csrf[4..]);
        let (status, _, _) = s.server.post_as(&s.admin.cookie, &path, &wrong).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "wrong token: {path}");
        let good = format!("csrf={}&{form}", s.admin.csrf);
        for headers in [
            [
                ("origin", "https://evil.example.org"),
                ("sec-fetch-site", "cross-site"),
            ],
            [("origin", "https://evil.example.org"), ("x-none", "1")],
            [
                ("origin", origin.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
        ] {
            let mut all = vec![
                ("cookie", s.admin.cookie.as_str()),
                ("content-type", "application/x-www-form-urlencoded"),
            ];
            all.extend(headers);
            let (status, _, _) = request(
                s.server.addr,
                Method::POST,
                &path,
                &all,
                Bytes::from(good.clone()),
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "cross-site: {path}");
        }
    }
    assert_eq!(snapshot(s.dir()), before, "a refused request changed data");
    // The very same forms, sent properly, are accepted.
    for (path, form) in admin_changes(&s) {
        let (status, _, body) = s.post(&path, &form).await;
        assert!(
            status == StatusCode::SEE_OTHER || status == StatusCode::OK,
            "{path}: {status} {body}"
        );
    }
    assert_ne!(snapshot(s.dir()), before);
    s.stop().await;
}

#[tokio::test]
async fn units_are_created_and_updated_and_bad_input_writes_nothing() {
    let s = Setup::start().await;
    let (status, _, page) = s.get("/staff/admin/units").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Ward 3"));
    assert!(page.contains("value=\"mon-fri 14:00-16:00\""), "{page}");

    let location = s
        .post_ok(
            "/staff/admin/units",
            "name=Cardiology&time_zone=Europe%2FBerlin\
             &visiting_hours=mon-fri+15%3A00-17%3A00%3B+sat%2Csun+10%3A00-12%3A00\
             &slot_minutes=20&buffer_minutes=5&horizon_days=14&max_visits_per_day=3\
             &early_join_minutes=15&grace_minutes=2&family_display=label",
        )
        .await;
    assert!(location.starts_with("/staff/admin/units?done=unit-added"));
    let stored: (String, String, i64, i64, i64, i64, i64, i64, String) = open_db(s.dir())
        .query_row(
            "SELECT time_zone, visiting_hours, slot_minutes, buffer_minutes, horizon_days,
                    max_visits_per_day, early_join_minutes, grace_minutes, family_display
             FROM units WHERE name = 'Cardiology'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        stored,
        (
            "Europe/Berlin".into(),
            canonical("mon-fri 15:00-17:00; sat,sun 10:00-12:00"),
            20,
            5,
            14,
            3,
            15,
            2,
            "label".into()
        )
    );
    let (_, _, page) = s.get(&location).await;
    assert!(
        element(&page, "notice")
            .unwrap()
            .contains("The unit was added")
    );
    assert!(page.contains("<strong class=\"unit-name\">Cardiology</strong>"));

    // Bad input: shown again with the reason next to the field, nothing written.
    let before = snapshot(s.dir());
    let (status, _, page) = s
        .post(
            "/staff/admin/units",
            "name=Oncology&time_zone=Mars%2FOlympus&visiting_hours=mon-fri+14%3A00-16%3A00",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-unit-time_zone-error")
            .unwrap()
            .contains("not an IANA time zone"),
        "{page}"
    );
    assert!(page.contains("value=\"Oncology\""), "entries are kept");
    assert!(element(&page, "form-errors").is_some());
    let (status, _, page) = s
        .post(
            "/staff/admin/units",
            "name=Oncology&time_zone=Europe%2FAmsterdam&visiting_hours=whenever",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, "new-unit-visiting_hours-error").is_some());
    let (status, _, page) = s
        .post(
            "/staff/admin/units",
            "name=ward+3&time_zone=Europe%2FAmsterdam&visiting_hours=mon+14%3A00-16%3A00",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-unit-name-error")
            .unwrap()
            .contains("exists already")
    );
    let (status, _, page) = s
        .post(
            "/staff/admin/units",
            "name=Oncology&time_zone=Europe%2FAmsterdam&visiting_hours=mon+14%3A00-16%3A00\
             &slot_minutes=half+an+hour",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-unit-slot_minutes-error")
            .unwrap()
            .contains("not a whole number")
    );
    assert_eq!(snapshot(s.dir()), before);

    // Update Ward 3.
    let id = s.unit_id;
    let location = s
        .post_ok(
            &format!("/staff/admin/units/{id}"),
            "time_zone=Europe%2FAmsterdam&visiting_hours=mon-fri+14%3A00-17%3A00\
             &slot_minutes=45&buffer_minutes=15&horizon_days=7&max_visits_per_day=2\
             &early_join_minutes=10&grace_minutes=5&family_display=label",
        )
        .await;
    assert_eq!(
        location,
        format!("/staff/admin/units?done=unit-saved#unit-{id}")
    );
    let (hours, slot, buffer, display): (String, i64, i64, String) = open_db(s.dir())
        .query_row(
            "SELECT visiting_hours, slot_minutes, buffer_minutes, family_display FROM units
             WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (hours, slot, buffer, display.as_str()),
        (canonical("mon-fri 14:00-17:00"), 45, 15, "label")
    );
    let (_, _, page) = s.get(&location).await;
    assert!(page.contains(&format!(
        "id=\"unit-{id}-slot_minutes\" name=\"slot_minutes\" value=\"45\""
    )));

    let before = snapshot(s.dir());
    let (status, _, page) = s
        .post(
            &format!("/staff/admin/units/{id}"),
            "time_zone=Europe%2FAmsterdam&visiting_hours=mon-fri+14%3A00-17%3A00&slot_minutes=3",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, &format!("unit-{id}-slot_minutes-error"))
            .unwrap()
            .contains("out of range; use 5 to 240"),
        "{page}"
    );
    assert!(page.contains(&format!(
        "id=\"unit-{id}-slot_minutes\" name=\"slot_minutes\" value=\"3\""
    )));
    assert_eq!(snapshot(s.dir()), before);
    let (status, _, _) = s.post("/staff/admin/units/999", "slot_minutes=30").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// Issues a device link; returns the page and the link on it.
async fn issue_device_link(s: &Setup, tablet: i64) -> (String, String) {
    let (status, _, page) = s
        .post(&format!("/staff/admin/tablets/{tablet}/device-link"), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let link = value_by_id(&page, "device-link-url").expect("the link on the page");
    (page, link)
}

#[tokio::test]
async fn tablets_are_added_switched_and_enrolled_with_a_link_shown_once() {
    let s = Setup::start().await;
    let unit = s.unit_id;
    let location = s
        .post_ok(
            "/staff/admin/tablets",
            &format!("unit_id={unit}&label=Tablet+3"),
        )
        .await;
    assert!(location.starts_with("/staff/admin/tablets?done=tablet-added"));
    let id = s.tablet_id("Tablet 3");
    let (_, _, page) = s.get(&location).await;
    let row = element(&page, &format!("tablet-{id}")).is_some();
    assert!(row && page.contains("Tablet 3") && page.contains("not issued yet"));

    let before = snapshot(s.dir());
    let (status, _, page) = s
        .post(
            "/staff/admin/tablets",
            &format!("unit_id={unit}&label=Tablet+3"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-tablet-label-error")
            .unwrap()
            .contains("already has a tablet")
    );
    let (status, _, page) = s.post("/staff/admin/tablets", "label=Tablet+4").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, "new-tablet-unit_id-error").is_some());
    let (status, _, page) = s
        .post("/staff/admin/tablets", "unit_id=999&label=Tablet+4")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, "new-tablet-unit_id-error").is_some());
    assert!(page.contains("value=\"Tablet 4\""), "entries are kept");
    assert_eq!(snapshot(s.dir()), before);

    // Out of service and back.
    let active = |id: i64| number_of(s.dir(), "SELECT active FROM tablets WHERE id = ?1", id);
    let location = s
        .post_ok(&format!("/staff/admin/tablets/{id}/active"), "active=0")
        .await;
    assert_eq!(active(id), 0);
    let (_, _, page) = s.get(&location).await;
    assert!(element(&page, "notice").unwrap().contains("out of service"));
    s.post_ok(&format!("/staff/admin/tablets/{id}/active"), "active=1")
        .await;
    assert_eq!(active(id), 1);
    let (status, _, _) = s
        .post(&format!("/staff/admin/tablets/{id}/active"), "active=maybe")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(active(id), 1);

    // Enrolment: a link shown once, with its QR code; only its hash kept.
    let stored_hash = || -> Option<Vec<u8>> {
        open_db(s.dir())
            .query_row("SELECT device_hash FROM tablets WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(stored_hash(), None);
    let (page, first_link) = issue_device_link(&s, id).await;
    let prefix = format!("http://{}/t/", s.server.addr);
    assert!(first_link.starts_with(&prefix), "{first_link}");
    assert!(element(&page, "device-link").is_some());
    assert!(page.contains("<svg"), "the QR code is inline SVG");
    let first = Code::parse(&first_link[prefix.len()..]).expect("a device code");
    assert_eq!(stored_hash(), Some(first.hash()));

    let (_, second_link) = issue_device_link(&s, id).await;
    let second = Code::parse(&second_link[prefix.len()..]).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        stored_hash(),
        Some(second.hash()),
        "the old hash is replaced"
    );
    let old_left = open_db(s.dir())
        .query_row(
            "SELECT count(*) FROM tablets WHERE device_hash = ?1",
            [first.hash()],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    assert_eq!(old_left, 0);

    // Shown once: never again on the list.
    let (_, _, page) = s.get("/staff/admin/tablets").await;
    assert!(!page.contains(second.expose()));
    assert!(!page.contains(first.expose()));
    assert!(page.contains("Issue a new device link"));
    let (status, _, _) = s.post("/staff/admin/tablets/999/device-link", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn staff_accounts_are_created_changed_and_disabled_but_never_ones_own() {
    let s = Setup::start().await;
    let unit = s.unit_id;
    // Bad input first: nothing is written.
    let before = snapshot(s.dir());
    let (status, _, page) = s
        .post(
            "/staff/admin/staff",
            &format!(
                "username=j.devries&name=Jan+de+Vries&role=operator&units={unit}&password=short"
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-staff-password-error")
            .unwrap()
            .contains("too short")
    );
    assert!(page.contains("value=\"j.devries\""), "entries are kept");
    assert!(
        !page.contains("value=\"short\""),
        "passwords are not shown again"
    );
    let (status, _, page) = s
        .post(
            "/staff/admin/staff",
            &format!(
                "username=jan+de+vries&name=Jan&role=operator&password={}",
                encode(NEW_PASSWORD)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, "new-staff-username-error").is_some());
    let (status, _, page) = s
        .post(
            "/staff/admin/staff",
            &format!(
                "username=nurse&name=Another&role=operator&password={}",
                encode(NEW_PASSWORD)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-staff-username-error")
            .unwrap()
            .contains("taken")
    );
    let (status, _, page) = s
        .post(
            "/staff/admin/staff",
            &format!(
                "username=j.devries&name=Jan&role=boss&password={}",
                encode(NEW_PASSWORD)
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, "new-staff-role-error").is_some());
    assert_eq!(snapshot(s.dir()), before);

    // Create: the new account can log in, on its unit.
    let location = s
        .post_ok(
            "/staff/admin/staff",
            &format!(
                "username=j.devries&name=Jan+de+Vries&role=operator&units={unit}&password={}",
                encode(NEW_PASSWORD)
            ),
        )
        .await;
    assert!(location.starts_with("/staff/admin/staff?done=staff-added"));
    let id: i64 = count(s.dir(), "SELECT id FROM staff WHERE username = 'j.devries'");
    assert_eq!(
        number_of(
            s.dir(),
            "SELECT unit_id FROM staff_units WHERE staff_id = ?1",
            id
        ),
        unit
    );
    s.server.login("j.devries", NEW_PASSWORD).await.unwrap();
    let (_, _, page) = s.get(&location).await;
    assert!(element(&page, &format!("staff-{id}")).is_some());
    assert!(page.contains("Jan de Vries"));

    // Promote, take off every unit, then disable: a disabled account cannot log in.
    s.post_ok(&format!("/staff/admin/staff/{id}"), "role=admin&active=1")
        .await;
    let role: String = open_db(s.dir())
        .query_row("SELECT role FROM staff WHERE id = ?1", [id], |r| r.get(0))
        .unwrap();
    assert_eq!(role, "admin");
    assert_eq!(
        number_of(
            s.dir(),
            "SELECT count(*) FROM staff_units WHERE staff_id = ?1",
            id
        ),
        0
    );
    s.post_ok(
        &format!("/staff/admin/staff/{id}"),
        &format!("role=operator&units={unit}&active=0"),
    )
    .await;
    assert_eq!(
        number_of(s.dir(), "SELECT active FROM staff WHERE id = ?1", id),
        0
    );
    let (status, _) = s.server.login("j.devries", NEW_PASSWORD).await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A new password for the nurse: the old one stops working.
    let nurse = s.nurse_id;
    let (status, _, page) = s
        .post(
            &format!("/staff/admin/staff/{nurse}/password"),
            "password=short",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, &format!("staff-{nurse}-password-error")).is_some());
    s.post_ok(
        &format!("/staff/admin/staff/{nurse}/password"),
        &format!("password={}", encode(NEW_PASSWORD)),
    )
    .await;
    assert!(s.server.login("nurse", STAFF_PASSWORD).await.is_err());
    s.server.login("nurse", NEW_PASSWORD).await.unwrap();

    // An admin cannot disable or demote themself.
    let me = s.admin_id;
    let before = snapshot(s.dir());
    let (status, _, page) = s
        .post(&format!("/staff/admin/staff/{me}"), "role=admin&active=0")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, &format!("staff-{me}-active-error"))
            .unwrap()
            .contains("cannot disable your own account")
    );
    let (status, _, page) = s
        .post(
            &format!("/staff/admin/staff/{me}"),
            "role=operator&active=1",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, &format!("staff-{me}-role-error"))
            .unwrap()
            .contains("your own admin role")
    );
    assert_eq!(snapshot(s.dir()), before);
    let (status, _, _) = s.get("/staff/admin/staff").await;
    assert_eq!(status, StatusCode::OK, "still an admin, still logged in");
    let (status, _, _) = s.post("/staff/admin/staff/999", "role=admin").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn api_keys_are_created_shown_once_and_revoked() {
    let s = Setup::start().await;
    let api = |key: String| {
        let addr = s.server.addr;
        async move {
            let auth = format!("Bearer {key}");
            request(
                addr,
                Method::GET,
                "/api/v1/units",
                &[("authorization", &auth)],
                Bytes::new(),
            )
            .await
            .0
        }
    };
    let (status, _, page) = s.post("/staff/admin/apikeys", "name=patient-admin").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let key = value_by_id(&page, "new-key-value").expect("the key on the page");
    assert!(key.starts_with("bsk_"), "{key}");
    assert_eq!(api(key.clone()).await, StatusCode::OK);

    let (_, _, page) = s.get("/staff/admin/apikeys").await;
    assert!(page.contains("patient-admin"));
    assert!(!page.contains(&key), "the key is shown only once");

    let before = snapshot(s.dir());
    let (status, _, page) = s.post("/staff/admin/apikeys", "name=patient-admin").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "new-apikey-name-error")
            .unwrap()
            .contains("exists already")
    );
    let (status, _, _) = s.post("/staff/admin/apikeys", "name=+").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, page) = s.post("/staff/admin/apikeys/revoke", "name=nothing").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "revoke-name-error")
            .unwrap()
            .contains("no key")
    );
    assert_eq!(snapshot(s.dir()), before);

    let location = s
        .post_ok("/staff/admin/apikeys/revoke", "name=patient-admin")
        .await;
    assert_eq!(api(key.clone()).await, StatusCode::UNAUTHORIZED);
    let (_, _, page) = s.get(&location).await;
    assert!(element(&page, "notice").unwrap().contains("revoked"));
    assert!(
        page.contains("2026-11-23 08:00"),
        "created and revoked times"
    );
    let (status, _, page) = s
        .post("/staff/admin/apikeys/revoke", "name=patient-admin")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "revoke-name-error")
            .unwrap()
            .contains("revoked already")
    );
    s.stop().await;
}

#[tokio::test]
async fn the_audit_trail_lists_admin_actions_by_id_without_names_or_codes() {
    let s = Setup::start().await;
    let me = s.admin_id;
    s.post_ok(
        "/staff/admin/units",
        "name=Cardiology+East&time_zone=Europe%2FAmsterdam&visiting_hours=mon+10%3A00-11%3A00",
    )
    .await;
    let unit: i64 = count(
        s.dir(),
        "SELECT id FROM units WHERE name = 'Cardiology East'",
    );
    s.post_ok(&format!("/staff/admin/units/{unit}"), "slot_minutes=20")
        .await;
    s.post_ok(
        "/staff/admin/tablets",
        &format!("unit_id={unit}&label=Tablet+Omega"),
    )
    .await;
    let tablet = s.tablet_id("Tablet Omega");
    let (_, link) = issue_device_link(&s, tablet).await;
    let device_code = link.rsplit('/').next().unwrap().to_string();
    s.post_ok(&format!("/staff/admin/tablets/{tablet}/active"), "active=0")
        .await;
    s.post_ok(
        "/staff/admin/staff",
        &format!(
            "username=j.devries&name=Jan+de+Vries&role=operator&units={unit}&password={}",
            encode(NEW_PASSWORD)
        ),
    )
    .await;
    let jan: i64 = count(s.dir(), "SELECT id FROM staff WHERE username = 'j.devries'");
    let (_, _, page) = s
        .post("/staff/admin/apikeys", "name=patient-admin-system")
        .await;
    let key = value_by_id(&page, "new-key-value").unwrap();
    s.post_ok("/staff/admin/apikeys/revoke", "name=patient-admin-system")
        .await;
    let key_id: i64 = count(s.dir(), "SELECT id FROM api_keys");

    let (status, _, page) = s.get("/staff/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    let start = page.find("id=\"audit\"").expect("an audit table");
    let table = &page[start..start + page[start..].find("</table>").unwrap()];
    let actor = format!("<td>staff:{me}</td>");
    for (action, object) in [
        ("unit.add", format!("unit:{unit}")),
        ("unit.update", format!("unit:{unit}")),
        ("tablet.add", format!("tablet:{tablet}")),
        ("tablet.device-link", format!("tablet:{tablet}")),
        ("tablet.disable", format!("tablet:{tablet}")),
        ("staff.add", format!("staff:{jan}")),
        ("staff.units", format!("staff:{jan}")),
        ("apikey.add", format!("apikey:{key_id}")),
        ("apikey.revoke", format!("apikey:{key_id}")),
        ("login", format!("staff:{me}")),
    ] {
        let row = format!("{actor}<td>{action}</td><td>{object}</td><td>ok</td></tr>");
        assert!(table.contains(&row), "missing {row} in {table}");
    }
    assert!(table.contains("<td>2026-11-23 08:00:00</td>"), "UTC times");
    // Newest first: the revoke came last.
    assert!(table.find("apikey.revoke").unwrap() < table.find("unit.add").unwrap());
    for secret in [
        "Cardiology East",
        "Tablet Omega",
        "j.devries",
        "Jan de Vries",
        "patient-admin-system",
        device_code.as_str(),
        key.as_str(),
    ] {
        assert!(!page.contains(secret), "the audit page shows {secret}");
        let pattern = format!("%{secret}%");
        let in_rows: i64 = open_db(s.dir())
            .query_row(
                "SELECT count(*) FROM audit WHERE actor || action || ifnull(object, '') || outcome
                 LIKE ?1",
                [pattern],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_rows, 0, "an audit row holds {secret}");
    }

    // Filters: by action, by days.
    let (_, _, page) = s.get("/staff/admin/audit?action=tablet").await;
    assert!(page.contains("<td>tablet.add</td>"));
    assert!(!page.contains("<td>unit.add</td>"));
    let (_, _, page) = s
        .get("/staff/admin/audit?from=2000-01-01&to=2000-01-31")
        .await;
    assert!(element(&page, "audit-empty").is_some(), "{page}");
    let (_, _, page) = s
        .get("/staff/admin/audit?from=2026-11-23&to=2026-11-23&action=apikey")
        .await;
    assert_eq!(page.matches("<td>apikey.").count(), 2);
    let (status, _, page) = s.get("/staff/admin/audit?from=23-11-2026").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element(&page, "audit-from-error")
            .unwrap()
            .contains("YYYY-MM-DD")
    );
    let (status, _, page) = s
        .get("/staff/admin/audit?from=2026-11-23&to=2026-11-01")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(element(&page, "audit-to-error").is_some());
    s.stop().await;
}

/// Books `slot` for the seeded patient as a family does.
async fn book(s: &Setup, slot: &str, name: &str) {
    let (status, _, page) = s.server.get(&format!("/b/{}", s.invite)).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = input_value(&page, "csrf").unwrap();
    let form = format!(
        "csrf={csrf}&slot={}&language=en&name={}&email=family%40example.org&consent=yes",
        at(slot).as_second(),
        encode(name)
    );
    let origin = format!("http://{}", s.server.addr);
    let (status, _, body) = request(
        s.server.addr,
        Method::POST,
        &format!("/b/{}", s.invite),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
        Bytes::from(form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
}

#[tokio::test]
async fn statistics_show_each_days_counts_and_a_chart_without_persons() {
    let s = Setup::start().await;
    book(&s, FIRST_SLOT, "Anna Example").await;
    book(&s, SECOND_SLOT, "Anna Example").await;
    let db = open_db(s.dir());
    db.execute(
        "UPDATE bookings SET status = 'done' WHERE starts_at = ?1",
        [at(FIRST_SLOT).as_second()],
    )
    .unwrap();
    // Older days, as left behind after their bookings were purged; one
    // before the eight weeks.
    db.execute(
        "INSERT INTO daily_counts (unit_id, day, booked, done, no_show, cancelled)
         VALUES (?1, '2026-11-02', 5, 3, 1, 1), (?1, '2026-09-28', 9, 9, 0, 0)",
        [s.unit_id],
    )
    .unwrap();

    let (status, _, page) = s
        .get(&format!("/staff/admin/stats?unit={}", s.unit_id))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<svg"));
    let row = |day: &str| {
        let start = page.find(&format!("id=\"day-{day}\"")).unwrap();
        let end = page[start..].find("</tr>").unwrap() + start;
        page[start..end]
            .split("<td>")
            .skip(1)
            .map(|c| c.trim_end_matches("</td>").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(row("2026-11-23"), ["2026-11-23", "2", "1", "0", "0"]);
    assert_eq!(row("2026-11-02"), ["2026-11-02", "5", "3", "1", "1"]);
    assert_eq!(row("2026-11-22"), ["2026-11-22", "0", "0", "0", "0"]);
    assert_eq!(row("2026-09-29"), ["2026-09-29", "0", "0", "0", "0"]);
    assert_eq!(page.matches("<tr id=\"day-").count(), 56);
    assert!(!page.contains("2026-09-28"), "eight weeks, not more");
    assert!(
        page.contains("<td>7</td><td>4</td><td>1</td><td>1</td>"),
        "totals"
    );
    assert!(page.contains("2026-11-23: 2 booked, 1 done, 0 no-show, 0 cancelled"));
    for person in ["Anna", "family@example.org", "Bed 12"] {
        assert!(!page.contains(person), "the statistics show {person}");
    }
    // Without a unit chosen: the first one.
    let (status, _, page) = s.get("/staff/admin/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Statistics: Ward 3"));
    let (status, _, _) = s.get("/staff/admin/stats?unit=999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn a_fresh_installation_shows_empty_pages_that_say_what_to_do_first() {
    let dir = tempfile::tempdir().unwrap();
    seed_staff(dir.path(), "admin", "admin", &[]);
    let server =
        TestServer::start_at(dir.path(), Arc::new(FixedClock::new(at(MONDAY_MORNING)))).await;
    let admin = login(&server, "admin").await;
    let (status, _, page) = server.get_as(&admin.cookie, "/staff/admin/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(element(&page, "no-units").unwrap().contains("no units yet"));
    let (status, _, page) = server.get_as(&admin.cookie, "/staff/admin/units").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No units yet"));
    let (status, _, page) = server.get_as(&admin.cookie, "/staff/admin/tablets").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Add a unit first"));
    server.stop().await;
}

/// Ada's values as seeded; every one must be in her export.
const ADA: (&str, &str) = ("Ada Lovelace-9b1e", "ada-9b1e@example.org");
const BERT: (&str, &str) = ("Bert Bystander-44c0", "bert-44c0@example.org");

/// Books through the domain with the real mailer, so there is mail too.
fn seed_family(s: &Setup, slot: &str, (name, email): (&str, &str)) -> i64 {
    let patient: i64 = open_db(s.dir())
        .query_row("SELECT id FROM patients", [], |r| r.get(0))
        .unwrap();
    common::seed_booking(s.dir(), patient, slot, (name, email), MONDAY_MORNING, true).id
}

/// An instant meeting on the ward whose guest link is queued for `email`.
fn seed_guest_invite(s: &Setup, email: &str) -> i64 {
    use bedside::domain::{meeting, unit};
    let config = common::config_for(s.dir(), &[]);
    let mailer = bedside::mail::Mailer::new(&config).unwrap();
    let conn = bedside::store::open_for_command(&config.db_path()).unwrap();
    let ward = unit::by_id(&conn, s.unit_id).unwrap();
    let started = meeting::start(
        &conn,
        &ward,
        s.nurse_id,
        30,
        at(MONDAY_MORNING),
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    mailer
        .guest_invite(
            &conn,
            &started.meeting,
            "http://127.0.0.1/g/x",
            email,
            bedside::i18n::Lang::En,
            at(MONDAY_MORNING).as_second(),
        )
        .unwrap();
    started.meeting.id
}

/// Every row that names one contact (by id) or one address (mail), as text.
fn rows_of(dir: &Path, contact: i64, meeting: i64) -> Vec<String> {
    let conn = open_db(dir);
    let mut out = Vec::new();
    for sql in [
        "SELECT * FROM contacts WHERE id = ?1 AND ?2 > 0",
        "SELECT * FROM bookings WHERE contact_id = ?1 AND ?2 > 0 ORDER BY id",
        "SELECT o.* FROM outbox o JOIN bookings b ON b.id = o.booking_id
         WHERE b.contact_id = ?1 AND ?2 > 0 ORDER BY o.id",
        "SELECT * FROM outbox WHERE meeting_id = ?2 AND ?1 > 0",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let columns = stmt.column_count();
        let rows: Vec<String> = stmt
            .query_map([contact, meeting], |r| {
                Ok((0..columns)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        out.extend(rows);
    }
    out
}

fn contact_of(dir: &Path, booking: i64) -> i64 {
    number_of(
        dir,
        "SELECT contact_id FROM bookings WHERE id = ?1",
        booking,
    )
}

#[tokio::test]
async fn an_admin_exports_everything_about_one_person_and_nothing_of_another() {
    let s = Setup::start().await;
    let first = seed_family(&s, FIRST_SLOT, ADA);
    seed_family(&s, SECOND_SLOT, BERT);
    let ada_meeting = seed_guest_invite(&s, ADA.1);
    seed_guest_invite(&s, BERT.1);
    write_eml(s.dir(), "000001-confirmation.eml", ADA.1);
    write_eml(s.dir(), "000002-confirmation.eml", BERT.1);
    let ada = contact_of(s.dir(), first);

    let (status, headers, body) = s
        .post(
            "/staff/admin/subjects/export",
            "email=ADA-9b1e%40Example.org",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"bedside-subject-export.json\""
    );
    assert_eq!(headers["cache-control"], "no-store");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    // Every value seeded for her.
    assert_eq!(json["contacts"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["contacts"][0]["name"], ADA.0);
    assert_eq!(json["contacts"][0]["email"], ADA.1);
    assert_eq!(json["contacts"][0]["language"], "en");
    assert_eq!(json["contacts"][0]["privacy_version"], "test");
    let bookings = json["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0]["patient"], "Bed 12");
    assert_eq!(bookings[0]["unit"], "Ward 3");
    assert_eq!(bookings[0]["starts_at"], FIRST_SLOT);
    assert!(
        bookings[0]["tablet"]
            .as_str()
            .unwrap()
            .starts_with("Tablet")
    );
    let mail = json["mail"].as_array().unwrap();
    let kinds: Vec<&str> = mail.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"confirmation"), "{kinds:?}");
    let invite = mail
        .iter()
        .find(|m| m["kind"] == "guest-invite")
        .expect("her guest invitation");
    assert_eq!(invite["recipient"], ADA.1);
    assert_eq!(invite["meeting"]["unit"], "Ward 3");
    assert_eq!(json["mail_files"][0]["file"], "000001-confirmation.eml");
    assert_eq!(json["mail_files"].as_array().unwrap().len(), 1);
    assert_eq!(json["retention"]["booking_days"], 14);
    // Nothing of Bert's.
    assert!(!body.contains(BERT.0) && !body.contains(BERT.1), "{body}");
    assert!(!body.contains("000002"));

    // The same JSON as the command line gives.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bedside"))
        .env("BEDSIDE_DATA_DIR", s.dir())
        .args(["subject", "export", "--email", ADA.1])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli, json);

    // Audited by contact id, never the address.
    let (object, outcome): (String, String) = open_db(s.dir())
        .query_row(
            "SELECT object, outcome FROM audit WHERE action = 'subject.export'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((object, outcome), (format!("contact:{ada}"), "ok".into()));

    // Someone unknown: a clear 404 on the page, and no file.
    let (status, headers, page) = s
        .post("/staff/admin/subjects/export", "email=nobody%40example.org")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.contains("Nothing is stored about this address"),
        "{page}"
    );
    assert!(page.contains("value=\"nobody@example.org\""));
    // Not an address: 422, nothing looked up.
    let (status, _, page) = s.post("/staff/admin/subjects/export", "email=").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("Enter the person"), "{page}");
    let _ = ada_meeting;
    s.stop().await;
}

#[tokio::test]
async fn an_admin_erases_one_person_after_confirming_and_nothing_of_another() {
    let s = Setup::start().await;
    let first = seed_family(&s, FIRST_SLOT, ADA);
    let bert_booking = seed_family(&s, SECOND_SLOT, BERT);
    let ada_meeting = seed_guest_invite(&s, ADA.1);
    let bert_meeting = seed_guest_invite(&s, BERT.1);
    write_eml(s.dir(), "000001-confirmation.eml", ADA.1);
    write_eml(s.dir(), "000002-confirmation.eml", BERT.1);
    let ada = contact_of(s.dir(), first);
    let bert = contact_of(s.dir(), bert_booking);
    let bert_before = rows_of(s.dir(), bert, bert_meeting);
    assert!(bert_before.len() >= 3, "{bert_before:?}");
    let ada_before = rows_of(s.dir(), ada, ada_meeting);
    assert!(ada_before.len() >= 3, "{ada_before:?}");
    let counts_before = count(
        s.dir(),
        "SELECT sum(booked) * 10 + sum(cancelled) FROM daily_counts",
    );

    // The admin home links to the page.
    let (_, _, home) = s.get("/staff/admin").await;
    assert!(home.contains("href=\"/staff/admin/subjects\""));

    // Step one: what would go, nothing deleted yet.
    let (status, _, page) = s
        .post(
            "/staff/admin/subjects/erase",
            &format!("email={}", encode(ADA.1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let preview_block = &page[page.find("id=\"erase-preview\"").unwrap()..];
    assert!(
        preview_block.contains("Bookings: 1, of which 1 still to come"),
        "{page}"
    );
    assert!(preview_block.contains("Mail files (<code>.eml</code>, no relay configured): 1"));
    assert_eq!(rows_of(s.dir(), ada, ada_meeting), ada_before);

    // A different address typed again: 422, nothing deleted.
    let (status, _, page) = s
        .post(
            "/staff/admin/subjects/erase",
            &format!("email={}&email_again={}", encode(ADA.1), encode(BERT.1)),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("This is not the address above"), "{page}");
    assert_eq!(rows_of(s.dir(), ada, ada_meeting), ada_before);
    assert!(s.dir().join("mail/000001-confirmation.eml").exists());

    // Confirmed: erased, counts shown.
    let (status, _, page) = s
        .post(
            "/staff/admin/subjects/erase",
            &format!(
                "email={}&email_again={}",
                encode(ADA.1),
                encode(" Ada-9B1E@example.org ")
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let notice = element(&page, "notice").unwrap();
    assert!(
        notice.contains("1 family contact(s), 1 booking(s) (1 still to come"),
        "{notice}"
    );
    assert!(notice.contains("1 mail file(s)"), "{notice}");
    assert!(rows_of(s.dir(), ada, ada_meeting).is_empty());
    assert!(!s.dir().join("mail/000001-confirmation.eml").exists());
    // Bert is untouched, byte for byte, his file too.
    assert_eq!(rows_of(s.dir(), bert, bert_meeting), bert_before);
    assert!(s.dir().join("mail/000002-confirmation.eml").exists());
    assert!(contacts_named(s.dir(), BERT.0));
    assert!(!contacts_named(s.dir(), ADA.0));
    // The meeting itself (no person) stays; only her invitation went.
    assert_eq!(
        number_of(
            s.dir(),
            "SELECT count(*) FROM meetings WHERE id = ?1",
            ada_meeting
        ),
        1
    );
    // The daily counts still count her visit, now as cancelled.
    assert_eq!(
        count(
            s.dir(),
            "SELECT sum(booked) * 10 + sum(cancelled) FROM daily_counts"
        ),
        counts_before + 1
    );

    // Audited by id and counts, never the address.
    let (actor, object, outcome): (String, String, String) = open_db(s.dir())
        .query_row(
            "SELECT actor, object, outcome FROM audit WHERE action = 'subject.erase'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(actor, format!("staff:{}", s.admin_id));
    assert_eq!(object, format!("contact:{ada}"));
    assert!(
        outcome.contains("bookings=1") && outcome.contains("mail_files=1"),
        "{outcome}"
    );
    let trail: String = open_db(s.dir())
        .query_row(
            "SELECT group_concat(coalesce(object, '') || outcome) FROM audit",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!trail.to_lowercase().contains("ada-9b1e"), "{trail}");

    // Findable nowhere afterwards.
    let (status, _, _) = s
        .post(
            "/staff/admin/subjects/export",
            &format!("email={}", encode(ADA.1)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Operators may not.
    let nurse = login(&s.server, "nurse").await;
    let before = rows_of(s.dir(), bert, bert_meeting);
    let body = format!(
        "csrf={}&email={}&email_again={}",
        nurse.csrf,
        encode(BERT.1),
        encode(BERT.1)
    );
    let (status, _, _) = s
        .server
        .post_as(&nurse.cookie, "/staff/admin/subjects/erase", &body)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rows_of(s.dir(), bert, bert_meeting), before);
    s.stop().await;
}

fn contacts_named(dir: &Path, name: &str) -> bool {
    common::contacts(dir).iter().any(|(_, n, _)| n == name)
}
