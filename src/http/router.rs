//! Every route bedside answers, in one `match`.
//!
//! Handlers never parse paths: the router splits them and hands over what
//! they need. Each route has a fixed pattern used in logs instead of the
//! real path, because real paths will carry invite and visit codes.

use http::Method;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    /// The path exists but not for this method; `allow` lists the methods.
    MethodNotAllowed {
        allow: &'static str,
    },
    NotFound,
}

/// The route and the pattern to log for it.
pub fn route(method: &Method, path: &str) -> (Route, &'static str) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => match *method {
            Method::GET | Method::HEAD => (Route::Health, "/healthz"),
            _ => (Route::MethodNotAllowed { allow: "GET, HEAD" }, "/healthz"),
        },
        _ => (Route::NotFound, "unmatched"),
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
    }

    #[test]
    fn unmatched_paths_are_logged_without_the_path() {
        assert_eq!(route(&Method::GET, "/v/secret-code").1, "unmatched");
    }
}
