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
        ["privacy"] if get => (Route::Privacy, "/privacy", Page),
        ["privacy"] => not_allowed("GET, HEAD", "/privacy", Page),
        ["static", "bedside.css"] if get => (Route::Asset("bedside.css"), "/static/{asset}", Text),
        ["static", "visit.js"] if get => (Route::Asset("visit.js"), "/static/{asset}", Text),
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
        ["api", ..] => (Route::NotFound, "unmatched", Json),
        ["b" | "v", ..] => (Route::NotFound, "unmatched", Page),
        _ => (Route::NotFound, "unmatched", Text),
    }
}

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
