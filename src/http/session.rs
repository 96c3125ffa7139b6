//! Staff sessions on the web: the cookie, who is logged in, CSRF on their
//! forms, and the role and unit checks every staff handler makes.
//!
//! The cookie is `__Host-bedside_session`: `Secure`, `HttpOnly`,
//! `SameSite=Lax`, `Path=/`, no `Domain` — so it is only ever sent over
//! HTTPS to this exact host. Browsers treat `http://localhost` as secure,
//! so local development works there over plain HTTP.

use bytes::Bytes;
use subtle::ConstantTimeEq;

use crate::State;
use crate::domain::staff::{self, StaffUser};
use crate::error::{Error, Result};
use crate::http::forms::check_same_origin;
use crate::http::response::{Response, with_header};

pub const COOKIE: &str = "__Host-bedside_session";

type Request = http::Request<Bytes>;

/// The session id from the request's cookies, if any.
pub fn session_id(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_string())
        })
}

/// The logged-in staff member, if the session is alive.
pub async fn current(state: &State, request: &Request) -> Result<Option<StaffUser>> {
    let Some(session) = session_id(request) else {
        return Ok(None);
    };
    let now = state.clock.now().as_second();
    let idle = state.config.staff.session_idle.as_secs() as i64;
    let max = state.config.staff.session_max.as_secs() as i64;
    Ok(state
        .store
        .write(move |tx| staff::session_user(tx, &session, now, idle, max))
        .await?)
}

/// The logged-in staff member, or a redirect to the login page.
pub async fn require(state: &State, request: &Request) -> Result<StaffUser> {
    current(state, request).await?.ok_or(Error::LoginRequired)
}

/// As [`require`], for admins only.
pub async fn require_admin(state: &State, request: &Request) -> Result<StaffUser> {
    let user = require(state, request).await?;
    if user.is_admin() {
        Ok(user)
    } else {
        Err(Error::Forbidden)
    }
}

/// Checks a state-changing staff request: same origin, and the session's
/// CSRF token in the form field `csrf`. Anything else is 403.
pub fn check_csrf(
    state: &State,
    request: &Request,
    user: &StaffUser,
    token: Option<&str>,
) -> Result<()> {
    check_same_origin(&state.config, request)?;
    match token {
        Some(t) if bool::from(t.as_bytes().ct_eq(user.csrf.as_bytes())) => Ok(()),
        _ => Err(Error::Forbidden),
    }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(response: &mut Response, session: &str) {
    with_header(
        response,
        http::header::SET_COOKIE,
        &format!("{COOKIE}={session}; Path=/; Secure; HttpOnly; SameSite=Lax"),
    );
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(response: &mut Response) {
    with_header(
        response,
        http::header::SET_COOKIE,
        &format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
}

/// The form field `csrf` of an urlencoded body (for handlers that parse
/// the rest themselves).
pub fn form_token(request: &Request) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(request.body())
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v)
}
