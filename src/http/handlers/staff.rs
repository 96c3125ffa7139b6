//! Pages for ward staff: login and logout, today's run-sheet with the
//! actions on each visit, patients and their invite cards, and instant
//! meetings. Operators see only their own units; every change is a
//! CSRF-checked POST and lands in the audit trail.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use serde::Deserialize;

use crate::State;
use crate::domain::staff;
use crate::error::{Error, Result};
use crate::http::forms::{self, client_ip};
use crate::http::pages::{self, LoginPage};
use crate::http::response::{Response, text, with_header};
use crate::http::session;

type Request = http::Request<Bytes>;

/// The same words for every failed login: unknown account, wrong password,
/// disabled or locked account all look alike from outside.
const LOGIN_FAILED: &str = "Login failed: check your username and password. After 10 failed \
                            attempts an account is locked for 15 minutes.";

fn see_other(location: &str) -> Response {
    let mut response = text(http::StatusCode::SEE_OTHER, "");
    with_header(&mut response, http::header::LOCATION, location);
    response
}

/// `GET /staff/login`
pub async fn login_show(state: &State, _request: &Request) -> Result<Response> {
    pages::render(
        http::StatusCode::OK,
        &LoginPage {
            csrf: state.form_key.token("login", ""),
            username: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `POST /staff/login`: a new session (and a new session id) on success.
pub async fn login(state: &State, request: &Request) -> Result<Response> {
    forms::check_same_origin(&state.config, request)?;
    let form: LoginForm = forms::parse_form(request)?;
    if !state.form_key.verify("login", "", form.csrf.as_deref()) {
        return Err(Error::Forbidden);
    }
    let ip = client_ip(&state.config, request);
    state
        .login_throttle
        .check(ip, state.clock.now())
        .map_err(|retry_after| Error::TooManyRequests { retry_after })?;
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let now = state.clock.now().as_second();
    let (staff_id, hash) = {
        let username = username.clone();
        state
            .store
            .read(move |c| staff::login_lookup(c, &username, now))
            .await?
    };
    // The slow check runs off the async workers, and runs for unknown
    // accounts too, so every failure takes as long as any other.
    let matched =
        tokio::task::spawn_blocking(move || staff::verify_password(hash.as_deref(), &password))
            .await
            .unwrap_or(false);
    match (matched, staff_id) {
        (true, Some(id)) => {
            let rng = state.rng.clone();
            let session = state
                .store
                .write(move |tx| staff::login_succeeded(tx, id, now, &rng))
                .await?;
            let mut response = see_other("/staff");
            session::set_cookie(&mut response, session.expose());
            Ok(response)
        }
        _ => {
            state.failed_logins.fetch_add(1, Ordering::Relaxed);
            state.login_throttle.fail(ip, state.clock.now());
            state
                .store
                .write(move |tx| staff::login_failed(tx, staff_id, now))
                .await?;
            pages::render(
                http::StatusCode::UNAUTHORIZED,
                &LoginPage {
                    csrf: state.form_key.token("login", ""),
                    username,
                    error: Some(LOGIN_FAILED.into()),
                },
            )
        }
    }
}

/// `POST /staff/logout`: ends the session on the server too.
pub async fn logout(state: &State, request: &Request) -> Result<Response> {
    let user = session::require(state, request).await?;
    session::check_csrf(
        state,
        request,
        &user,
        session::form_token(request).as_deref(),
    )?;
    let session_id = session::session_id(request).unwrap_or_default();
    let now = state.clock.now().as_second();
    state
        .store
        .write(move |tx| staff::logout(tx, &session_id, user.id, now))
        .await?;
    let mut response = see_other("/staff/login");
    session::clear_cookie(&mut response);
    Ok(response)
}

// Written next: the run-sheet, visit actions, patients, instant meetings.
pub async fn today_show(state: &State, request: &Request) -> Result<Response> {
    session::require(state, request).await?;
    Err(Error::NotFound)
}
pub async fn visit_open(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn visit_status(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn visit_move(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn patients_show(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn patient_create(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn patient_discharge(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn meeting_form(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn meeting_create(_: &State, _: &Request) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn meeting_open(_: &State, _: &Request, _id: i64) -> Result<Response> {
    Err(Error::NotFound)
}
