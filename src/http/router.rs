//! Every route bedside answers, in one `match`.
//!
//! Handlers never parse paths: the router splits them and hands over what
//! they need. Each route has a fixed pattern used in logs instead of the
//! real path, because real paths carry invite and visit codes.

use http::Method;

/// Where a request goes. Codes and ids are handed over as text/numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Ready,
    Metrics,
    AsapKey(String),
    Privacy,
    Asset(&'static str),
    InviteShow(String),
    BookingCreate(String),
    VisitOpen(String),
    VisitBooked(String),
    VisitCancel(String),
    VisitCalendar(String),
    ApiOpenApi,
    ApiUnits,
    ApiUnitSlots(i64),
    ApiUnitBookings(i64),
    ApiPatientCreate,
    ApiPatientDischarge(i64),
    ApiBookingCreate,
    ApiBookingCancel(i64),
    StaffLoginShow,
    StaffLogin,
    StaffLogout,
    StaffToday,
    StaffVisitOpen(i64),
    StaffVisitStatus(i64),
    StaffVisitMove(i64),
    StaffPatients,
    StaffPatientCreate,
    StaffPatientDischarge(i64),
    StaffMeetingForm,
    StaffMeetingCreate,
    StaffMeetingOpen(i64),
    StaffMeetingInvite(i64),
    AdminHome,
    AdminUnits,
    AdminUnitCreate,
    AdminUnitUpdate(i64),
    AdminTablets,
    AdminTabletCreate,
    AdminTabletActive(i64),
    AdminTabletDeviceLink(i64),
    AdminStaff,
    AdminStaffCreate,
    AdminStaffUpdate(i64),
    AdminStaffPassword(i64),
    AdminApiKeys,
    AdminApiKeyCreate,
    AdminApiKeyRevoke,
    AdminAudit,
    AdminStats,
    AdminSubjects,
    AdminSubjectExport,
    AdminSubjectErase,
    StaffVisitDelete(i64),
    KioskShow(String),
    KioskState(String),
    /// The path exists but not for this method; `allow` lists the methods.
    MethodNotAllowed {
        allow: &'static str,
    },
    NotFound,
}

/// How errors on a route are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Plain text (health checks, unknown paths).
    Text,
    /// An HTML page a family reads.
    Page,
    /// JSON for hospital systems.
    Json,
}

/// The route, the pattern to log for it, and how its errors look.
pub fn route(method: &Method, path: &str) -> (Route, &'static str, Flavour) {
    use Flavour::*;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get = matches!(*method, Method::GET | Method::HEAD);
    let post = *method == Method::POST;
    let id = |s: &str| s.parse::<i64>().ok().filter(|i| *i > 0);
    let not_allowed =
        |allow, pattern, flavour| (Route::MethodNotAllowed { allow }, pattern, flavour);
    match segments.as_slice() {
        ["healthz"] if get => (Route::Health, "/healthz", Text),
        ["healthz"] => not_allowed("GET, HEAD", "/healthz", Text),
        ["readyz"] if get => (Route::Ready, "/readyz", Text),
        ["readyz"] => not_allowed("GET, HEAD", "/readyz", Text),
        ["asap", file] if get => (
            Route::AsapKey(file.to_string()),
            "/asap/{kid_hash}.pem",
            Text,
        ),
        ["asap", _] => not_allowed("GET, HEAD", "/asap/{kid_hash}.pem", Text),
        ["metrics"] if get => (Route::Metrics, "/metrics", Text),
        ["metrics"] => not_allowed("GET, HEAD", "/metrics", Text),
        ["privacy"] if get => (Route::Privacy, "/privacy", Page),
        ["privacy"] => not_allowed("GET, HEAD", "/privacy", Page),
        ["static", "bedside.css"] if get => (Route::Asset("bedside.css"), "/static/{asset}", Text),
        ["static", "visit.js"] if get => (Route::Asset("visit.js"), "/static/{asset}", Text),
        ["static", "kiosk.js"] if get => (Route::Asset("kiosk.js"), "/static/{asset}", Text),
        ["b", invite] if get => (Route::InviteShow(invite.to_string()), "/b/{invite}", Page),
        ["b", invite] if post => (
            Route::BookingCreate(invite.to_string()),
            "/b/{invite}",
            Page,
        ),
        ["b", _] => not_allowed("GET, HEAD, POST", "/b/{invite}", Page),
        ["v", code] if get => (Route::VisitOpen(code.to_string()), "/v/{code}", Page),
        ["v", _] => not_allowed("GET, HEAD", "/v/{code}", Page),
        ["v", code, "booked"] if get => (
            Route::VisitBooked(code.to_string()),
            "/v/{code}/booked",
            Page,
        ),
        ["v", _, "booked"] => not_allowed("GET, HEAD", "/v/{code}/booked", Page),
        ["v", code, "cancel"] if post => (
            Route::VisitCancel(code.to_string()),
            "/v/{code}/cancel",
            Page,
        ),
        ["v", _, "cancel"] => not_allowed("POST", "/v/{code}/cancel", Page),
        ["v", code, "calendar.ics"] if get => (
            Route::VisitCalendar(code.to_string()),
            "/v/{code}/calendar.ics",
            Page,
        ),
        ["v", _, "calendar.ics"] => not_allowed("GET, HEAD", "/v/{code}/calendar.ics", Page),
        ["api", "v1", "openapi.json"] if get => (Route::ApiOpenApi, "/api/v1/openapi.json", Json),
        ["api", "v1", "openapi.json"] => not_allowed("GET, HEAD", "/api/v1/openapi.json", Json),
        ["api", "v1", "units"] if get => (Route::ApiUnits, "/api/v1/units", Json),
        ["api", "v1", "units"] => not_allowed("GET, HEAD", "/api/v1/units", Json),
        ["api", "v1", "units", unit, "slots"] if id(unit).is_some() => match get {
            true => (
                Route::ApiUnitSlots(id(unit).unwrap_or(0)),
                "/api/v1/units/{id}/slots",
                Json,
            ),
            false => not_allowed("GET, HEAD", "/api/v1/units/{id}/slots", Json),
        },
        ["api", "v1", "units", unit, "bookings"] if id(unit).is_some() => match get {
            true => (
                Route::ApiUnitBookings(id(unit).unwrap_or(0)),
                "/api/v1/units/{id}/bookings",
                Json,
            ),
            false => not_allowed("GET, HEAD", "/api/v1/units/{id}/bookings", Json),
        },
        ["api", "v1", "patients"] if post => (Route::ApiPatientCreate, "/api/v1/patients", Json),
        ["api", "v1", "patients"] => not_allowed("POST", "/api/v1/patients", Json),
        ["api", "v1", "patients", p, "discharge"] if id(p).is_some() => match post {
            true => (
                Route::ApiPatientDischarge(id(p).unwrap_or(0)),
                "/api/v1/patients/{id}/discharge",
                Json,
            ),
            false => not_allowed("POST", "/api/v1/patients/{id}/discharge", Json),
        },
        ["api", "v1", "bookings"] if post => (Route::ApiBookingCreate, "/api/v1/bookings", Json),
        ["api", "v1", "bookings"] => not_allowed("POST", "/api/v1/bookings", Json),
        ["api", "v1", "bookings", b, "cancel"] if id(b).is_some() => match post {
            true => (
                Route::ApiBookingCancel(id(b).unwrap_or(0)),
                "/api/v1/bookings/{id}/cancel",
                Json,
            ),
            false => not_allowed("POST", "/api/v1/bookings/{id}/cancel", Json),
        },
        ["staff", "login"] if get => (Route::StaffLoginShow, "/staff/login", Page),
        ["staff", "login"] if post => (Route::StaffLogin, "/staff/login", Page),
        ["staff", "login"] => not_allowed("GET, HEAD, POST", "/staff/login", Page),
        ["staff", "logout"] if post => (Route::StaffLogout, "/staff/logout", Page),
        ["staff", "logout"] => not_allowed("POST", "/staff/logout", Page),
        ["staff"] if get => (Route::StaffToday, "/staff", Page),
        ["staff"] => not_allowed("GET, HEAD", "/staff", Page),
        ["staff", "visits", v, action] if id(v).is_some() => {
            let v = id(v).unwrap_or(0);
            match (*action, post) {
                ("open", true) => (Route::StaffVisitOpen(v), "/staff/visits/{id}/open", Page),
                ("status", true) => (
                    Route::StaffVisitStatus(v),
                    "/staff/visits/{id}/status",
                    Page,
                ),
                ("move", true) => (Route::StaffVisitMove(v), "/staff/visits/{id}/move", Page),
                ("delete", true) => (
                    Route::StaffVisitDelete(v),
                    "/staff/visits/{id}/delete",
                    Page,
                ),
                ("open" | "status" | "move" | "delete", false) => {
                    not_allowed("POST", "/staff/visits/{id}/{action}", Page)
                }
                _ => (Route::NotFound, "unmatched", Page),
            }
        }
        ["staff", "patients"] if get => (Route::StaffPatients, "/staff/patients", Page),
        ["staff", "patients"] if post => (Route::StaffPatientCreate, "/staff/patients", Page),
        ["staff", "patients"] => not_allowed("GET, HEAD, POST", "/staff/patients", Page),
        ["staff", "patients", p, "discharge"] if id(p).is_some() => match post {
            true => (
                Route::StaffPatientDischarge(id(p).unwrap_or(0)),
                "/staff/patients/{id}/discharge",
                Page,
            ),
            false => not_allowed("POST", "/staff/patients/{id}/discharge", Page),
        },
        ["staff", "meetings"] if get => (Route::StaffMeetingForm, "/staff/meetings", Page),
        ["staff", "meetings"] if post => (Route::StaffMeetingCreate, "/staff/meetings", Page),
        ["staff", "meetings"] => not_allowed("GET, HEAD, POST", "/staff/meetings", Page),
        ["staff", "meetings", m, "invite"] if id(m).is_some() => match post {
            true => (
                Route::StaffMeetingInvite(id(m).unwrap_or(0)),
                "/staff/meetings/{id}/invite",
                Page,
            ),
            false => not_allowed("POST", "/staff/meetings/{id}/invite", Page),
        },
        ["staff", "meetings", m, "open"] if id(m).is_some() => match post {
            true => (
                Route::StaffMeetingOpen(id(m).unwrap_or(0)),
                "/staff/meetings/{id}/open",
                Page,
            ),
            false => not_allowed("POST", "/staff/meetings/{id}/open", Page),
        },
        ["staff", "admin"] if get => (Route::AdminHome, "/staff/admin", Page),
        ["staff", "admin"] => not_allowed("GET, HEAD", "/staff/admin", Page),
        ["staff", "admin", "units"] if get => (Route::AdminUnits, "/staff/admin/units", Page),
        ["staff", "admin", "units"] if post => (Route::AdminUnitCreate, "/staff/admin/units", Page),
        ["staff", "admin", "units"] => not_allowed("GET, HEAD, POST", "/staff/admin/units", Page),
        ["staff", "admin", "units", u] if id(u).is_some() => match post {
            true => (
                Route::AdminUnitUpdate(id(u).unwrap_or(0)),
                "/staff/admin/units/{id}",
                Page,
            ),
            false => not_allowed("POST", "/staff/admin/units/{id}", Page),
        },
        ["staff", "admin", "tablets"] if get => (Route::AdminTablets, "/staff/admin/tablets", Page),
        ["staff", "admin", "tablets"] if post => {
            (Route::AdminTabletCreate, "/staff/admin/tablets", Page)
        }
        ["staff", "admin", "tablets"] => {
            not_allowed("GET, HEAD, POST", "/staff/admin/tablets", Page)
        }
        ["staff", "admin", "tablets", t, action] if id(t).is_some() => {
            let t = id(t).unwrap_or(0);
            match (*action, post) {
                ("active", true) => (
                    Route::AdminTabletActive(t),
                    "/staff/admin/tablets/{id}/active",
                    Page,
                ),
                ("device-link", true) => (
                    Route::AdminTabletDeviceLink(t),
                    "/staff/admin/tablets/{id}/device-link",
                    Page,
                ),
                ("active" | "device-link", false) => {
                    not_allowed("POST", "/staff/admin/tablets/{id}/{action}", Page)
                }
                _ => (Route::NotFound, "unmatched", Page),
            }
        }
        ["staff", "admin", "staff"] if get => (Route::AdminStaff, "/staff/admin/staff", Page),
        ["staff", "admin", "staff"] if post => {
            (Route::AdminStaffCreate, "/staff/admin/staff", Page)
        }
        ["staff", "admin", "staff"] => not_allowed("GET, HEAD, POST", "/staff/admin/staff", Page),
        ["staff", "admin", "staff", a] if id(a).is_some() => match post {
            true => (
                Route::AdminStaffUpdate(id(a).unwrap_or(0)),
                "/staff/admin/staff/{id}",
                Page,
            ),
            false => not_allowed("POST", "/staff/admin/staff/{id}", Page),
        },
        ["staff", "admin", "staff", a, "password"] if id(a).is_some() => match post {
            true => (
                Route::AdminStaffPassword(id(a).unwrap_or(0)),
                "/staff/admin/staff/{id}/password",
                Page,
            ),
            false => not_allowed("POST", "/staff/admin/staff/{id}/password", Page),
        },
        ["staff", "admin", "apikeys"] if get => (Route::AdminApiKeys, "/staff/admin/apikeys", Page),
        ["staff", "admin", "apikeys"] if post => {
            (Route::AdminApiKeyCreate, "/staff/admin/apikeys", Page)
        }
        ["staff", "admin", "apikeys"] => {
            not_allowed("GET, HEAD, POST", "/staff/admin/apikeys", Page)
        }
        ["staff", "admin", "apikeys", "revoke"] if post => (
            Route::AdminApiKeyRevoke,
            "/staff/admin/apikeys/revoke",
            Page,
        ),
        ["staff", "admin", "apikeys", "revoke"] => {
            not_allowed("POST", "/staff/admin/apikeys/revoke", Page)
        }
        ["staff", "admin", "audit"] if get => (Route::AdminAudit, "/staff/admin/audit", Page),
        ["staff", "admin", "audit"] => not_allowed("GET, HEAD", "/staff/admin/audit", Page),
        ["staff", "admin", "stats"] if get => (Route::AdminStats, "/staff/admin/stats", Page),
        ["staff", "admin", "stats"] => not_allowed("GET, HEAD", "/staff/admin/stats", Page),
        ["staff", "admin", "subjects"] if get => {
            (Route::AdminSubjects, "/staff/admin/subjects", Page)
        }
        ["staff", "admin", "subjects"] => not_allowed("GET, HEAD", "/staff/admin/subjects", Page),
        ["staff", "admin", "subjects", "export"] if post => (
            Route::AdminSubjectExport,
            "/staff/admin/subjects/export",
            Page,
        ),
        ["staff", "admin", "subjects", "export"] => {
            not_allowed("POST", "/staff/admin/subjects/export", Page)
        }
        ["staff", "admin", "subjects", "erase"] if post => (
            Route::AdminSubjectErase,
            "/staff/admin/subjects/erase",
            Page,
        ),
        ["staff", "admin", "subjects", "erase"] => {
            not_allowed("POST", "/staff/admin/subjects/erase", Page)
        }
        ["t", code] if get => (Route::KioskShow(code.to_string()), "/t/{code}", Page),
        ["t", _] => not_allowed("GET, HEAD", "/t/{code}", Page),
        ["t", code, "state.json"] if get => (
            Route::KioskState(code.to_string()),
            "/t/{code}/state.json",
            Json,
        ),
        ["t", _, "state.json"] => not_allowed("GET, HEAD", "/t/{code}/state.json", Json),
        ["api", ..] => (Route::NotFound, "unmatched", Json),
        ["staff" | "t", ..] => (Route::NotFound, "unmatched", Page),
        ["b" | "v", ..] => (Route::NotFound, "unmatched", Page),
        _ => (Route::NotFound, "unmatched", Text),
    }
}

/// Every path pattern that changes state (POST), with an example path,
/// for tests that must cover each one (CSRF, authorisation).
pub const STATE_CHANGING: &[&str] = &[
    "/b/{invite}",
    "/v/{code}/cancel",
    "/api/v1/patients",
    "/api/v1/patients/{id}/discharge",
    "/api/v1/bookings",
    "/api/v1/bookings/{id}/cancel",
    "/staff/login",
    "/staff/logout",
    "/staff/visits/{id}/open",
    "/staff/visits/{id}/status",
    "/staff/visits/{id}/move",
    "/staff/patients",
    "/staff/patients/{id}/discharge",
    "/staff/meetings",
    "/staff/meetings/{id}/open",
    "/staff/meetings/{id}/invite",
    "/staff/admin/units",
    "/staff/admin/units/{id}",
    "/staff/admin/tablets",
    "/staff/admin/tablets/{id}/active",
    "/staff/admin/tablets/{id}/device-link",
    "/staff/admin/staff",
    "/staff/admin/staff/{id}",
    "/staff/admin/staff/{id}/password",
    "/staff/admin/apikeys",
    "/staff/admin/apikeys/revoke",
    "/staff/admin/subjects/export",
    "/staff/admin/subjects/erase",
    "/staff/visits/{id}/delete",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(route(&Method::GET, "/healthz").0, Route::Health);
        assert_eq!(route(&Method::HEAD, "/healthz").0, Route::Health);
        assert_eq!(
            route(&Method::POST, "/healthz").0,
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
        assert_eq!(route(&Method::GET, "/healthz/x").0, Route::NotFound);
        assert_eq!(route(&Method::GET, "/").0, Route::NotFound);
        assert_eq!(
            route(&Method::GET, "/b/abc").0,
            Route::InviteShow("abc".into())
        );
        assert_eq!(
            route(&Method::POST, "/b/abc").0,
            Route::BookingCreate("abc".into())
        );
        assert_eq!(
            route(&Method::POST, "/v/abc/cancel").0,
            Route::VisitCancel("abc".into())
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/units/7/slots").0,
            Route::ApiUnitSlots(7)
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/units/x/slots").0,
            Route::NotFound
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/units/-1/slots").0,
            Route::NotFound
        );
    }

    #[test]
    fn the_state_changing_list_is_every_post_route() {
        // Each listed pattern, with ids and codes filled in, is a POST route
        // with that very pattern; and a GET to it is not another POST route.
        for pattern in STATE_CHANGING {
            let path = pattern
                .replace("{id}", "7")
                .replace("{invite}", "x")
                .replace("{code}", "x");
            let (r, p, _) = route(&Method::POST, &path);
            assert_ne!(r, Route::NotFound, "{pattern}");
            assert!(!matches!(r, Route::MethodNotAllowed { .. }), "{pattern}");
            assert_eq!(p, *pattern);
        }
    }

    #[test]
    fn codes_never_reach_the_log_pattern() {
        for path in [
            "/v/secret-code",
            "/b/secret-code",
            "/v/secret-code/cancel",
            "/v/x/y/z",
        ] {
            let (_, pattern, _) = route(&Method::GET, path);
            assert!(!pattern.contains("secret"), "{path}: {pattern}");
        }
    }
}
