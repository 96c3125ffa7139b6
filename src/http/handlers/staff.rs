//! Pages for ward staff: login and logout, today's run-sheet with the
//! actions on each visit, patients and their invite cards, and instant
//! meetings. Operators see only their own units; every change is a
//! CSRF-checked POST and lands in the audit trail.

use bytes::Bytes;
use serde::Deserialize;

use jiff::Timestamp;

use crate::State;
use crate::domain::audit::{self, Actor};
use crate::domain::staff::{self, StaffUser};
use crate::domain::unit::{self, FamilyDisplay, Unit};
use crate::domain::{DomainError, booking, meeting, patient};
use crate::error::{Error, Result};
use crate::http::forms::{self, client_ip};
use crate::http::pages::{
    self, LinkPage, LoginPage, MeetingPage, Nav, PatientsPage, RunRow, RunUnit, TodayPage,
};
use crate::http::qr;
use crate::http::response::{Response, text, with_header};
use crate::http::session;
use crate::i18n::Lang;
use crate::jitsi::{Grant, Role, RoomName, TokenUser};
use crate::retention::Horizon;
use crate::store::bookings::{self, BookingRow};
use crate::store::meetings::MeetingRow;

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
        return Err(Error::FormExpired);
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
            state.metrics.failed_login();
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

/// The units a staff member may see, in name order.
fn visible_units(conn: &rusqlite::Connection, user: &StaffUser) -> Result<Vec<Unit>, DomainError> {
    Ok(unit::list(conn)?
        .into_iter()
        .filter(|u| user.can_see(u.id))
        .collect())
}

/// `GET /staff`: today's visits on each of the user's units, in local time,
/// the next one highlighted. Never a family's e-mail address; their name
/// only where the unit shows names.
pub async fn today_show(state: &State, request: &Request) -> Result<Response> {
    let user = session::require(state, request).await?;
    let now = state.clock.now();
    let horizon = Horizon::at(now, &state.config.retention);
    let viewer = user.clone();
    let units = state
        .store
        .read(move |c| {
            let mut out = Vec::new();
            for u in visible_units(c, &viewer)? {
                let date = now.to_zoned(u.time_zone.clone()).date();
                let rows = booking::day_of_unit(c, &u, date, horizon)?;
                let next_id = rows
                    .iter()
                    .filter(|b| b.status == "booked" && b.ends_at > now.as_second())
                    .map(|b| b.id)
                    .next();
                let mut run_rows = Vec::new();
                for b in &rows {
                    let family = match (u.family_display, b.contact_id) {
                        (FamilyDisplay::Name, Some(id)) => bookings::contact_by_id(c, id)?
                            .map(|contact| contact.name)
                            .unwrap_or_else(|| "—".into()),
                        _ => "—".into(),
                    };
                    let actionable = b.status == "booked";
                    let move_to = if actionable {
                        booking::free_tablets_for(c, b, &u)?
                    } else {
                        Vec::new()
                    };
                    run_rows.push(RunRow {
                        id: b.id,
                        time: span(&u, b.starts_at, b.ends_at),
                        patient: b.patient_label.clone(),
                        tablet: b.tablet_label.clone(),
                        family,
                        status: b.status.clone(),
                        next: Some(b.id) == next_id,
                        actionable,
                        move_to,
                    });
                }
                let day_start = date
                    .to_zoned(u.time_zone.clone())
                    .map(|z| z.timestamp().as_second())
                    .unwrap_or(0);
                let meetings = crate::store::meetings::meetings_between(
                    c,
                    u.id,
                    day_start,
                    day_start + 26 * 3600,
                )?
                .into_iter()
                .filter(|m| span_day(&u, m.starts_at) == date)
                .map(|m| {
                    let running = now.as_second() < m.ends_at + u.grace.as_secs();
                    (m.id, span(&u, m.starts_at, m.ends_at), running)
                })
                .collect();
                out.push(RunUnit {
                    id: u.id,
                    name: u.name.clone(),
                    date: date.strftime("%A %-d %B %Y").to_string(),
                    zone: u.time_zone_name.clone(),
                    rows: run_rows,
                    meetings,
                });
            }
            Ok::<_, DomainError>(out)
        })
        .await?;
    pages::render(
        http::StatusCode::OK,
        &TodayPage {
            nav: Nav::of(&user),
            units,
        },
    )
}

/// "14:00–14:30" in the unit's zone.
fn span(unit: &Unit, start: i64, end: i64) -> String {
    let local = |s: i64| {
        Timestamp::from_second(s)
            .map(|t| {
                t.to_zoned(unit.time_zone.clone())
                    .strftime("%H:%M")
                    .to_string()
            })
            .unwrap_or_default()
    };
    format!("{}–{}", local(start), local(end))
}

fn span_day(unit: &Unit, at: i64) -> jiff::civil::Date {
    Timestamp::from_second(at)
        .map(|t| t.to_zoned(unit.time_zone.clone()).date())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: Option<String>,
    status: Option<String>,
    tablet_id: Option<i64>,
}

/// Loads a booking the user may act on: another unit's booking, or one
/// past retention, is "not found", so operators learn nothing about wards
/// that are not theirs.
async fn visible_booking(state: &State, user: &StaffUser, id: i64) -> Result<(BookingRow, Unit)> {
    let horizon = Horizon::at(state.clock.now(), &state.config.retention);
    let (b, u) = state
        .store
        .read(move |c| booking::by_id_shown(c, id, horizon))
        .await?;
    if user.can_see(u.id) {
        Ok((b, u))
    } else {
        Err(Error::NotFound)
    }
}

/// Signs the user in to `room` as moderator for [window start, end + grace)
/// and sends the browser there. Refused outside that window, so nobody is
/// left stuck in Jitsi with a token it will not take.
fn join_as_moderator(
    state: &State,
    user: &StaffUser,
    room: &str,
    opens: Timestamp,
    expires: Timestamp,
) -> Result<Response> {
    let now = state.clock.now();
    if now < opens || now >= expires {
        return Err(Error::Conflict(format!(
            "this meeting can be opened from {} until {} (UTC)",
            opens.strftime("%H:%M"),
            expires.strftime("%H:%M")
        )));
    }
    let room =
        RoomName::parse(room).map_err(|_| Error::Conflict("stored room name is invalid".into()))?;
    let person = TokenUser::new(&format!("staff-{}", user.id), &user.display_name)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let grant = Grant {
        room: &room,
        user: &person,
        role: Role::Moderator,
        not_before: opens,
        expires,
    };
    let url = state.minter.join_url(&grant, now)?;
    state.metrics.token_minted(crate::metrics::TokenKind::Staff);
    Ok(see_other(&url))
}

/// `POST /staff/visits/{id}/open`: "open meeting on this device".
pub async fn visit_open(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: ActionForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    let (b, u) = visible_booking(state, &user, id).await?;
    if b.status != "booked" {
        return Err(Error::Conflict(format!("this visit is {}", b.status)));
    }
    let (start, end) = (
        Timestamp::from_second(b.starts_at).unwrap_or_default(),
        Timestamp::from_second(b.ends_at).unwrap_or_default(),
    );
    let response = join_as_moderator(state, &user, &b.room, start - u.early_join, end + u.grace)?;
    audit_now(
        state,
        Actor::Staff(user.id),
        "visit.open",
        format!("booking:{id}"),
    )
    .await?;
    Ok(response)
}

async fn audit_now(
    state: &State,
    actor: Actor,
    action: &'static str,
    object: String,
) -> Result<()> {
    let now = state.clock.now().as_second();
    state
        .store
        .write(move |tx| {
            Ok::<_, DomainError>(audit::record(tx, actor, action, Some(&object), "ok", now)?)
        })
        .await?;
    Ok(())
}

/// `POST /staff/visits/{id}/status`: done, no-show, patient unavailable.
pub async fn visit_status(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: ActionForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    visible_booking(state, &user, id).await?;
    let status = form.status.unwrap_or_default();
    let now = state.clock.now();
    let actor = Actor::Staff(user.id);
    let cancels = status == "patient-unavailable";
    state
        .store
        .write({
            let mailer = state.mailer.clone();
            move |tx| booking::set_status(tx, id, &status, actor, now, Some(mailer.as_ref()))
        })
        .await?;
    state
        .metrics
        .bookings_cancelled(crate::metrics::By::Staff, u64::from(cancels));
    Ok(see_other(&format!("/staff#visit-{id}")))
}

/// `POST /staff/visits/{id}/move`: to another free tablet of the unit.
pub async fn visit_move(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: ActionForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    visible_booking(state, &user, id).await?;
    let tablet = form.tablet_id.ok_or_else(|| Error::Invalid {
        field: "tablet_id",
        message: "choose the tablet to move the visit to".into(),
    })?;
    let now = state.clock.now();
    let actor = Actor::Staff(user.id);
    state
        .store
        .write(move |tx| booking::move_tablet(tx, id, tablet, actor, now))
        .await?;
    Ok(see_other(&format!("/staff#visit-{id}")))
}

#[derive(Deserialize)]
struct DeleteForm {
    csrf: Option<String>,
    confirm: Option<String>,
}

/// `POST /staff/visits/{id}/delete`: "delete this visit's data now" — the
/// booking, its link, its mail and the family's contact (unless another
/// visit needs it) go at once; a visit still to come is cancelled first,
/// with the family's cancellation mail (see
/// [`crate::retention::delete_visit_now`]). Needs the `confirm` box ticked.
pub async fn visit_delete(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: DeleteForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    visible_booking(state, &user, id).await?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(Error::Invalid {
            field: "confirm",
            message: "tick \"I am sure\" to delete this visit's data; nothing was deleted".into(),
        });
    }
    let now = state.clock.now();
    let actor = Actor::Staff(user.id);
    let mailer = state.mailer.clone();
    let deleted = state
        .store
        .write(move |tx| {
            crate::retention::delete_visit_now(tx, id, actor, now, Some(mailer.as_ref()))
        })
        .await?;
    if deleted.cancelled {
        state
            .metrics
            .bookings_cancelled(crate::metrics::By::Staff, 1);
    }
    // Out of the WAL as well, not only unlinked.
    if !state.store.checkpoint().await? {
        tracing::warn!(
            "after deleting a visit a reader kept the WAL from being truncated; the next checkpoint does it"
        );
    }
    tracing::info!(
        booking = id,
        staff = user.id,
        cancelled = deleted.cancelled,
        "visit data deleted at once"
    );
    Ok(see_other("/staff"))
}

async fn patients_page(
    state: &State,
    user: &StaffUser,
    label: String,
    error: Option<String>,
    status: http::StatusCode,
) -> Result<Response> {
    let viewer = user.clone();
    let (units, lists) = state
        .store
        .read(move |c| {
            let units = visible_units(c, &viewer)?;
            let mut lists = Vec::new();
            for u in &units {
                let ps = patient::list(c, u)?
                    .into_iter()
                    .map(|p| (p.id, p.label))
                    .collect();
                lists.push((u.name.clone(), ps));
            }
            Ok::<_, DomainError>((units.into_iter().map(|u| (u.id, u.name)).collect(), lists))
        })
        .await?;
    pages::render(
        status,
        &PatientsPage {
            nav: Nav::of(user),
            units,
            lists,
            label,
            error,
        },
    )
}

/// `GET /staff/patients`
pub async fn patients_show(state: &State, request: &Request) -> Result<Response> {
    let user = session::require(state, request).await?;
    patients_page(state, &user, String::new(), None, http::StatusCode::OK).await
}

#[derive(Deserialize)]
struct PatientForm {
    csrf: Option<String>,
    unit_id: Option<i64>,
    label: Option<String>,
}

/// `POST /staff/patients`: registers a patient and shows the invite card
/// (link and QR code) once.
pub async fn patient_create(state: &State, request: &Request) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: PatientForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    let unit_id = form
        .unit_id
        .filter(|id| user.can_see(*id))
        .ok_or(Error::Forbidden)?;
    let label = form.label.unwrap_or_default();
    let now = state.clock.now().as_second();
    let rng = state.rng.clone();
    let actor = Actor::Staff(user.id);
    let wanted = label.clone();
    let result = state
        .store
        .write(move |tx| {
            let u = unit::by_id(tx, unit_id)?;
            let registered = patient::add(tx, &u, &wanted, now, &rng)?;
            let object = format!("patient:{}", registered.patient.id);
            audit::record(tx, actor, "patient.add", Some(&object), "ok", now)?;
            Ok::<_, DomainError>((registered, u.name))
        })
        .await;
    let (registered, unit_name) = match result {
        Ok(r) => r,
        Err(DomainError::Invalid { field, message }) => {
            let error = Some(format!("{field}: {message}"));
            return patients_page(
                state,
                &user,
                label,
                error,
                http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let link = format!(
        "{}/b/{}",
        state.config.server.public_url,
        registered.invite.expose()
    );
    pages::render(
        http::StatusCode::OK,
        &LinkPage {
            nav: Nav::of(&user),
            heading: format!("Invite for {}", registered.patient.label),
            notice: "Print this card or copy the link now: it is shown only once.".into(),
            title: "Video visits".into(),
            subtitle: format!("{} · {}", registered.patient.label, unit_name),
            qr_svg: qr::svg(&link).map_err(Error::Conflict)?,
            link,
            instructions: "Scan the code or open the link to book a video visit.".into(),
            meeting_id: None,
            guest_code: String::new(),
            mail_error: None,
            languages: Vec::new(),
        },
    )
}

/// `POST /staff/patients/{id}/discharge`
pub async fn patient_discharge(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    session::check_csrf(
        state,
        request,
        &user,
        session::form_token(request).as_deref(),
    )?;
    let now = state.clock.now().as_second();
    let viewer = user.clone();
    let mailer = state.mailer.clone();
    let cancelled = state
        .store
        .write(move |tx| {
            let (p, _) = patient::active_by_id(tx, id)?;
            if !viewer.can_see(p.unit_id) {
                return Err(DomainError::NotFound);
            }
            let cancelled = patient::discharge(tx, id, now, Some(mailer.as_ref()))?;
            audit::record(
                tx,
                Actor::Staff(viewer.id),
                "patient.discharge",
                Some(&format!("patient:{id}")),
                &format!("ok, {cancelled} visit(s) cancelled"),
                now,
            )?;
            Ok(cancelled)
        })
        .await?;
    state
        .metrics
        .bookings_cancelled(crate::metrics::By::Staff, cancelled as u64);
    Ok(see_other("/staff/patients"))
}

async fn meeting_page(
    state: &State,
    user: &StaffUser,
    error: Option<String>,
    status: http::StatusCode,
) -> Result<Response> {
    let viewer = user.clone();
    let units = state
        .store
        .read(move |c| {
            Ok::<_, DomainError>(
                visible_units(c, &viewer)?
                    .into_iter()
                    .map(|u| (u.id, u.name))
                    .collect(),
            )
        })
        .await?;
    pages::render(
        status,
        &MeetingPage {
            nav: Nav::of(user),
            units,
            error,
        },
    )
}

/// `GET /staff/meetings`
pub async fn meeting_form(state: &State, request: &Request) -> Result<Response> {
    let user = session::require(state, request).await?;
    meeting_page(state, &user, None, http::StatusCode::OK).await
}

#[derive(Deserialize)]
struct MeetingForm {
    csrf: Option<String>,
    unit_id: Option<i64>,
    minutes: Option<String>,
}

/// `POST /staff/meetings`: starts a meeting now and shows its guest link.
pub async fn meeting_create(state: &State, request: &Request) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: MeetingForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    let unit_id = form
        .unit_id
        .filter(|id| user.can_see(*id))
        .ok_or(Error::Forbidden)?;
    let minutes = match form.minutes.as_deref().map(str::trim) {
        None | Some("") => meeting::DEFAULT_MINUTES,
        Some(m) => match m.parse() {
            Ok(m) => m,
            Err(_) => {
                let error = Some(format!("minutes: '{m}' is not a number of minutes"));
                return meeting_page(state, &user, error, http::StatusCode::UNPROCESSABLE_ENTITY)
                    .await;
            }
        },
    };
    let now = state.clock.now();
    let rng = state.rng.clone();
    let staff_id = user.id;
    let result = state
        .store
        .write(move |tx| {
            let u = unit::by_id(tx, unit_id)?;
            let started = meeting::start(tx, &u, staff_id, minutes, now, &rng)?;
            Ok::<_, DomainError>((started, u))
        })
        .await;
    let (started, u) = match result {
        Ok(r) => r,
        Err(DomainError::Invalid { field, message }) => {
            let error = Some(format!("{field}: {message}"));
            return meeting_page(state, &user, error, http::StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Err(e) => return Err(e.into()),
    };
    meeting_link_page(
        state,
        &user,
        &started.meeting,
        &u,
        started.guest.expose(),
        "Give the family this link now: it is shown only once, and works until the meeting ends.",
        None,
        http::StatusCode::OK,
    )
}

/// The page with a meeting's guest link, QR code, "join" and "send by
/// e-mail".
#[allow(clippy::too_many_arguments)]
fn meeting_link_page(
    state: &State,
    user: &StaffUser,
    meeting: &MeetingRow,
    unit: &Unit,
    guest_code: &str,
    notice: &str,
    mail_error: Option<String>,
    status: http::StatusCode,
) -> Result<Response> {
    let link = format!("{}/v/{guest_code}", state.config.server.public_url);
    pages::render(
        status,
        &LinkPage {
            nav: Nav::of(user),
            heading: "Instant meeting".into(),
            notice: notice.into(),
            title: "Video call".into(),
            subtitle: format!(
                "{} · {}",
                unit.name,
                span(unit, meeting.starts_at, meeting.ends_at)
            ),
            qr_svg: qr::svg(&link).map_err(Error::Conflict)?,
            link,
            instructions: "Scan the code or open the link to join the call.".into(),
            meeting_id: Some(meeting.id),
            guest_code: guest_code.to_string(),
            mail_error,
            languages: Lang::ALL
                .iter()
                .map(|l| (l.code(), l.native_name()))
                .collect(),
        },
    )
}

#[derive(Deserialize)]
struct InviteForm {
    csrf: Option<String>,
    guest: Option<String>,
    email: Option<String>,
    language: Option<String>,
}

/// `POST /staff/meetings/{id}/invite`: mails the meeting's guest link to
/// the family. The link is the one in the form, accepted only when it is
/// this meeting's own; the address goes into the outbox and nowhere else.
pub async fn meeting_invite(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    let form: InviteForm = forms::parse_form(request)?;
    session::check_csrf(state, request, &user, form.csrf.as_deref())?;
    let (m, u) = state.store.read(move |c| meeting::by_id(c, id)).await?;
    if !user.can_see(u.id) {
        return Err(Error::NotFound);
    }
    let code = form.guest.unwrap_or_default();
    let matches = {
        let code = code.clone();
        state
            .store
            .read(move |c| meeting::guest_code_matches(c, id, &code))
            .await?
    };
    if !matches {
        return Err(Error::Forbidden);
    }
    let email = form.email.unwrap_or_default().trim().to_string();
    let options = email_address::Options::default()
        .with_required_tld()
        .without_display_text();
    if email_address::EmailAddress::parse_with_options(&email, options).is_err() {
        let error = Some(
            "That does not look like an e-mail address; check it, e.g. name@example.org".into(),
        );
        return meeting_link_page(
            state,
            &user,
            &m,
            &u,
            &code,
            "Nothing was sent.",
            error,
            http::StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let lang = form
        .language
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or(Lang::En);
    let now = state.clock.now().as_second();
    let link = format!("{}/v/{code}", state.config.server.public_url);
    let (mailer, meeting, staff_id) = (state.mailer.clone(), m.clone(), user.id);
    state
        .store
        .write(move |tx| {
            mailer.guest_invite(tx, &meeting, &link, &email, lang, now)?;
            audit::record(
                tx,
                Actor::Staff(staff_id),
                "meeting.invite",
                Some(&format!("meeting:{id}")),
                "ok",
                now,
            )?;
            Ok::<_, DomainError>(())
        })
        .await?;
    meeting_link_page(
        state,
        &user,
        &m,
        &u,
        &code,
        "The link was sent by e-mail.",
        None,
        http::StatusCode::OK,
    )
}

/// `POST /staff/meetings/{id}/open`: join (or rejoin) as moderator.
pub async fn meeting_open(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = session::require(state, request).await?;
    session::check_csrf(
        state,
        request,
        &user,
        session::form_token(request).as_deref(),
    )?;
    let (m, u) = state.store.read(move |c| meeting::by_id(c, id)).await?;
    if !user.can_see(u.id) {
        return Err(Error::NotFound);
    }
    let (start, end) = (
        Timestamp::from_second(m.starts_at).unwrap_or_default(),
        Timestamp::from_second(m.ends_at).unwrap_or_default(),
    );
    let response = join_as_moderator(state, &user, &m.room, start, end + u.grace)?;
    audit_now(
        state,
        Actor::Staff(user.id),
        "meeting.open",
        format!("meeting:{id}"),
    )
    .await?;
    Ok(response)
}
