//! The family's pages: the invite (`/b/<invite>`), booking, the visit link
//! (`/v/<code>`) with its waiting page, join redirect, cancel button and
//! calendar file, and the privacy page.
//!
//! Every code lookup goes through the per-address throttle, and an unknown,
//! malformed, expired or discharged code gets the same "not found" page.
//!
//! Language: pages of a booked visit speak the language the family chose
//! in the form; every other page (the invite, the privacy page, a guest
//! link) the browser's `Accept-Language`.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use crate::State;
use crate::calendar::Method;
use crate::domain::DomainError;
use crate::domain::booking::{self, BookingRequest, Phase, Visit};
use crate::domain::codes::Code;
use crate::domain::unit::{FamilyDisplay, Unit};
use crate::domain::{meeting, patient};
use crate::error::{Error, Result};
use crate::http::forms;
use crate::http::handlers::throttled;
use crate::http::pages::{self, BookedPage, Entered, InvitePage, MessagePage, WaitingPage};
use crate::http::response::{Response, with_header, with_header_owned};
use crate::i18n::{Lang, fill};
use crate::jitsi::{Grant, Role, RoomName, TokenUser};
use crate::retention::Horizon;
use crate::store::meetings::MeetingRow;
use crate::store::patients::PatientRow;
use jiff::Timestamp;

type Request = http::Request<Bytes>;

async fn find_invite(state: &State, invite: &str) -> Result<(PatientRow, Unit), DomainError> {
    let invite = invite.to_string();
    state
        .store
        .read(move |c| patient::by_invite(c, &invite))
        .await
}

async fn find_visit(state: &State, code: &str) -> Result<Visit, DomainError> {
    let code = code.to_string();
    let horizon = Horizon::at(state.clock.now(), &state.config.retention);
    state
        .store
        .read(move |c| booking::visit_by_code(c, &code, horizon))
        .await
}

/// `GET /b/<invite>`: the patient's label and unit, free slots, the form.
pub async fn invite_show(state: &State, request: &Request, invite: &str) -> Result<Response> {
    let (patient, unit) = throttled(state, request, find_invite(state, invite)).await?;
    invite_page(
        state,
        Lang::of_browser(request.headers()),
        &patient,
        &unit,
        invite,
        &Entered::default(),
        Vec::new(),
        http::StatusCode::OK,
    )
    .await
}

/// The invite page with the free slots as they are now, the family's
/// entries and the problems found in them. The form's language choice
/// starts at the page's language.
#[allow(clippy::too_many_arguments)]
async fn invite_page(
    state: &State,
    lang: Lang,
    patient: &PatientRow,
    unit: &Unit,
    invite: &str,
    entered: &Entered,
    errors: Vec<(&'static str, String)>,
    status: http::StatusCode,
) -> Result<Response> {
    let now = state.clock.now();
    let offers = {
        let unit = unit.clone();
        state
            .store
            .read(move |c| booking::free_slots(c, &unit, now))
            .await?
    };
    let page = InvitePage::new(
        lang,
        &patient.label,
        unit,
        invite,
        state.form_key.token("book", invite),
        &offers,
        entered,
        errors,
    );
    pages::render(status, &page)
}

#[derive(Debug, Deserialize)]
pub struct BookingForm {
    csrf: Option<String>,
    slot: Option<String>,
    name: Option<String>,
    email: Option<String>,
    language: Option<String>,
    consent: Option<String>,
}

/// `POST /b/<invite>`: books, then sends the family to the confirmation.
/// Any problem shows the form again with the entries kept and each problem
/// next to its field; nothing is written.
pub async fn booking_create(state: &State, request: &Request, invite: &str) -> Result<Response> {
    forms::check_same_origin(&state.config, request)?;
    let (patient, unit) = throttled(state, request, find_invite(state, invite)).await?;
    let form: BookingForm = forms::parse_form(request)?;
    if !state.form_key.verify("book", invite, form.csrf.as_deref()) {
        return Err(Error::FormExpired);
    }
    let lang = Lang::of_browser(request.headers());
    let entered = Entered {
        slot: form.slot.as_deref().and_then(|s| s.trim().parse().ok()),
        name: form.name.clone().unwrap_or_default(),
        email: form.email.clone().unwrap_or_default(),
        language: form.language.clone().unwrap_or_default(),
        consent: form.consent.is_some(),
    };
    let now = state.clock.now();

    let req = BookingRequest {
        slot_start: entered.slot.unwrap_or_default(),
        name: entered.name.clone(),
        email: entered.email.clone(),
        language: entered.language.clone(),
        consent: entered.consent,
        privacy_version: state.privacy_version.clone(),
    };
    let mut errors: Vec<_> = booking::problems(&req)
        .into_iter()
        .map(|(field, message)| problem(lang, field, message, false))
        .collect();
    if entered.slot.is_none() {
        errors.insert(
            0,
            problem(
                lang,
                "slot",
                "please choose one of the times shown".to_string(),
                false,
            ),
        );
    }
    if errors.is_empty() {
        // Checked, and the mail composed, on this task: the writer thread
        // that every booking waits for reads the patient again (discharged
        // meanwhile, the invite is gone: 404) and only inserts.
        let prepared = booking::prepare(
            &patient,
            &unit,
            &req,
            now,
            &state.rng,
            Some(state.mailer.as_ref()),
        );
        let result = match prepared {
            Ok(prepared) => {
                let invite = invite.to_string();
                let mailer = state.mailer.clone();
                state
                    .store
                    .write(move |tx| {
                        let (p, u) = patient::by_invite(tx, &invite)?;
                        booking::book_prepared(tx, &p, &u, prepared, now, Some(mailer.as_ref()))
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(booked) => {
                state.metrics.booking_created(crate::metrics::By::Family);
                tracing::info!(booking = booked.id, unit = unit.id, "visit booked");
                return Ok(see_other(format!("/v/{}/booked", booked.visit.expose())));
            }
            Err(DomainError::Invalid { field, message }) => {
                errors.push(problem(lang, field, message, false))
            }
            Err(DomainError::Conflict(message)) => {
                errors.push(problem(lang, "slot", message, true))
            }
            Err(e) => return Err(e.into()),
        }
    }
    invite_page(
        state,
        lang,
        &patient,
        &unit,
        invite,
        &entered,
        errors,
        http::StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// A problem with a field of the booking form, in the page's language.
/// English pages keep the booking rules' own message, which names the
/// exact problem; other languages say per field what to do. `taken` marks
/// a time that could not be had (full, or the patient's day full).
fn problem(
    lang: Lang,
    field: &'static str,
    english: String,
    taken: bool,
) -> (&'static str, String) {
    let t = lang.text();
    let text = match (lang, field) {
        (Lang::En, _) => return (field, english),
        (_, "slot") if taken => t.slot_taken,
        (_, "slot") => t.slot_problem,
        (_, "name") => t.name_problem,
        (_, "email") => t.email_problem,
        (_, "language") => t.language_problem,
        (_, "consent") => t.consent_problem,
        _ => return (field, english),
    };
    (field, text.to_string())
}

fn see_other(location: String) -> Response {
    let mut response = crate::http::response::text(http::StatusCode::SEE_OTHER, "");
    with_header_owned(&mut response, http::header::LOCATION, location);
    response
}

fn lang_of(visit: &Visit) -> Lang {
    visit
        .contact
        .as_ref()
        .and_then(|c| Lang::parse(&c.language))
        .unwrap_or(Lang::En)
}

fn visit_url(state: &State, code: &str) -> String {
    format!("{}/v/{code}", state.config.server.public_url)
}

/// `GET /v/<code>/booked`: the confirmation after booking.
pub async fn visit_booked(state: &State, request: &Request, code: &str) -> Result<Response> {
    let visit = throttled(state, request, find_visit(state, code)).await?;
    let lang = lang_of(&visit);
    let t = lang.text();
    if matches!(visit.phase(state.clock.now()), Phase::Cancelled) {
        return cancelled_page(&visit, lang);
    }
    let minutes = visit.end().duration_since(visit.start());
    let page = BookedPage {
        lang: lang.code(),
        t,
        when: fill(
            t.booked_when_fmt,
            &[
                &pages::duration(t, minutes),
                &visit.booking.patient_label,
                &pages::when(lang, &visit.unit, visit.start()),
            ],
        ),
        visit_url: visit_url(state, code),
        code: code.to_ascii_lowercase(),
    };
    pages::render(http::StatusCode::OK, &page)
}

fn cancelled_page(visit: &Visit, lang: Lang) -> Result<Response> {
    let t = lang.text();
    let body = if visit.booking.status == "patient-unavailable" {
        t.cancelled_unavailable
    } else {
        t.cancelled_body
    };
    pages::render(
        http::StatusCode::OK,
        &MessagePage::new(lang, t.cancelled_heading, &[body]),
    )
}

/// What a `/v/<code>` link leads to: a booked visit, or an instant
/// meeting's guest link.
enum Link {
    Visit(Arc<Visit>),
    Meeting(Box<(MeetingRow, Unit)>),
}

/// The visit or meeting behind a link. Visits come from [`VisitCache`]
/// while nothing they show has changed; instant meetings, rarer, are read.
///
/// [`VisitCache`]: crate::domain::booking::VisitCache
async fn find_link(state: &State, code: &str) -> Result<Link, DomainError> {
    let horizon = Horizon::at(state.clock.now(), &state.config.retention);
    let parsed = Code::parse_link(code).ok_or(DomainError::NotFound)?;
    let hash = parsed.hash();
    // Taken before the rows are read: a change committed meanwhile makes
    // what is read now stale for the next request, never current.
    let generation = state.store.generation();
    if let Some(visit) = state.visits.visits.get(&hash, generation) {
        return if horizon.keeps(visit.booking.ends_at) {
            Ok(Link::Visit(visit))
        } else {
            Err(DomainError::NotFound)
        };
    }
    let code = code.to_string();
    let found = state
        .store
        .read(move |c| match booking::visit_by_code(c, &code, horizon) {
            Err(DomainError::NotFound) => match meeting::by_guest_code(c, &code) {
                // Past retention (meeting end + booking_days) it is gone for
                // every page at once, even before the purge removes it.
                Ok(found) if !horizon.keeps(found.0.ends_at) => Err(DomainError::NotFound),
                other => other.map(|found| Link::Meeting(Box::new(found))),
            },
            other => other.map(|v| Link::Visit(Arc::new(v))),
        })
        .await?;
    if let Link::Visit(visit) = &found {
        state.visits.visits.put(hash, generation, visit.clone());
    }
    Ok(found)
}

/// An instant meeting's guest link: straight in while it runs (as a
/// guest, until its end + grace), "ended" afterwards. The guest is nobody
/// bedside knows, so `lang` is their browser's.
fn meeting_join(state: &State, lang: Lang, meeting: &MeetingRow, unit: &Unit) -> Result<Response> {
    let t = lang.text();
    let now = state.clock.now();
    let start = Timestamp::from_second(meeting.starts_at).unwrap_or_default();
    let end = Timestamp::from_second(meeting.ends_at).unwrap_or_default();
    if now >= end {
        return pages::render(
            http::StatusCode::OK,
            &MessagePage::new(lang, t.ended_heading, &[t.ended_body]),
        );
    }
    let room = RoomName::parse(&meeting.room)
        .map_err(|_| Error::Conflict("stored room name is invalid".into()))?;
    let user = TokenUser::new(&format!("guest-{}", meeting.id), t.guest_name)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let grant = Grant {
        room: &room,
        user: &user,
        role: Role::Guest,
        not_before: start,
        expires: end + unit.grace,
    };
    tracing::info!(meeting = meeting.id, "guest joined an instant meeting");
    let url = state.minter.join_url(&grant, now)?;
    state.metrics.token_minted(crate::metrics::TokenKind::Guest);
    Ok(see_other(url))
}

/// `GET /v/<code>`: the link a family keeps. Before the window a waiting
/// page; inside it a fresh token for this room only and a 303 into the
/// call; afterwards "ended" or "cancelled".
pub async fn visit_open(state: &State, request: &Request, code: &str) -> Result<Response> {
    let visit = match throttled(state, request, find_link(state, code)).await? {
        Link::Visit(v) => v,
        Link::Meeting(found) => {
            let lang = Lang::of_browser(request.headers());
            return meeting_join(state, lang, &found.0, &found.1);
        }
    };
    let lang = lang_of(&visit);
    let t = lang.text();
    let now = state.clock.now();
    match visit.phase(now) {
        Phase::Waiting { opens } => {
            let page = WaitingPage {
                lang: lang.code(),
                t,
                when: fill(
                    t.waiting_when_fmt,
                    &[
                        &visit.booking.patient_label,
                        &pages::when(lang, &visit.unit, visit.start()),
                    ],
                ),
                opens_text: fill(
                    t.waiting_opens_fmt,
                    &[
                        &pages::when(lang, &visit.unit, opens),
                        &pages::duration(t, opens.duration_since(now)),
                    ],
                ),
                wait_secs: opens.duration_since(now).as_secs().max(1),
                refresh_secs: booking::refresh_after(opens, now).as_secs(),
                code: code.to_ascii_lowercase(),
                csrf: state.form_key.token("cancel", &code.to_ascii_lowercase()),
            };
            pages::render(http::StatusCode::OK, &page)
        }
        Phase::Open {
            not_before,
            expires,
        } => {
            // Worked out once per visit kept in memory; on every request
            // again only when it does not pass (with the reason why).
            let failed;
            let (room, user) = match visit.joins_as.get_or_init(|| joins_as(&visit, lang).ok()) {
                Some((room, user)) => (room, user),
                None => {
                    failed = joins_as(&visit, lang)?;
                    (&failed.0, &failed.1)
                }
            };
            let grant = Grant {
                room,
                user,
                role: Role::Guest,
                not_before,
                expires,
            };
            let url = state.minter.join_url(&grant, now)?;
            state
                .metrics
                .token_minted(crate::metrics::TokenKind::Family);
            if state.visits.join_worth_logging(visit.booking.id, now) {
                tracing::info!(booking = visit.booking.id, "family joined a visit");
            } else {
                tracing::debug!(booking = visit.booking.id, "family joined a visit again");
            }
            Ok(see_other(url))
        }
        Phase::Ended => pages::render(
            http::StatusCode::OK,
            &MessagePage::new(lang, t.ended_heading, &[t.ended_body]),
        ),
        Phase::Cancelled => cancelled_page(&visit, lang),
    }
}

/// The room of a visit, and who the family is in it: the name they gave
/// when the ward shows names and it is fit for a meeting, "Family of
/// <patient>" otherwise.
fn joins_as(visit: &Visit, lang: Lang) -> Result<(RoomName, TokenUser)> {
    let room = RoomName::parse(&visit.booking.room)
        .map_err(|_| Error::Conflict("stored room name is invalid".into()))?;
    let id = format!("visit-{}", visit.booking.id);
    let user = match (&visit.unit.family_display, &visit.contact) {
        (FamilyDisplay::Name, Some(c)) => TokenUser::new(&id, &c.name).ok(),
        _ => None,
    };
    let user = match user {
        Some(u) => u,
        None => {
            let label_name = fill(lang.text().family_of_fmt, &[&visit.booking.patient_label]);
            TokenUser::new(&id, &label_name).map_err(|e| Error::BadRequest(e.to_string()))?
        }
    };
    Ok((room, user))
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    csrf: Option<String>,
}

/// `POST /v/<code>/cancel`: the family frees the tablet.
pub async fn visit_cancel(state: &State, request: &Request, code: &str) -> Result<Response> {
    forms::check_same_origin(&state.config, request)?;
    let visit = throttled(state, request, find_visit(state, code)).await?;
    let lang = lang_of(&visit);
    let t = lang.text();
    let form: CancelForm = forms::parse_form(request)?;
    let code = code.to_ascii_lowercase();
    if !state.form_key.verify("cancel", &code, form.csrf.as_deref()) {
        return Err(Error::FormExpired);
    }
    let now = state.clock.now();
    let horizon = Horizon::at(now, &state.config.retention);
    let result = {
        let code = code.clone();
        state
            .store
            .write({
                let mailer = state.mailer.clone();
                move |tx| booking::cancel_by_code(tx, &code, now, horizon, Some(mailer.as_ref()))
            })
            .await
    };
    match result {
        Ok(_) => {
            state
                .metrics
                .bookings_cancelled(crate::metrics::By::Family, 1);
            tracing::info!(booking = visit.booking.id, "visit cancelled by the family");
            pages::render(
                http::StatusCode::OK,
                &MessagePage::new(lang, t.cancel_done, &[t.cancelled_body]),
            )
        }
        Err(DomainError::Conflict(_)) => pages::render(
            http::StatusCode::CONFLICT,
            &MessagePage::new(lang, t.cancelled_heading, &[t.cancelled_already]),
        ),
        Err(e) => Err(e.into()),
    }
}

/// `GET /v/<code>/calendar.ics`: the visit as a calendar entry.
pub async fn visit_calendar(state: &State, request: &Request, code: &str) -> Result<Response> {
    let visit = throttled(state, request, find_visit(state, code)).await?;
    let url = visit_url(state, &code.to_ascii_lowercase());
    let text = state
        .mailer
        .calendar(&visit, &url, Method::Publish, state.clock.now());
    let mut response = http::Response::new(http_body_util::Full::new(Bytes::from(text)));
    with_header(
        &mut response,
        http::header::CONTENT_TYPE,
        "text/calendar; charset=utf-8",
    );
    with_header(
        &mut response,
        http::header::CONTENT_DISPOSITION,
        "attachment; filename=\"visit.ics\"",
    );
    Ok(response)
}

/// `GET /privacy`: the privacy statement written from the running
/// configuration (its retention times, contact and version), in the
/// browser's language.
pub async fn privacy_show(state: &State, request: &Request) -> Result<Response> {
    let lang = Lang::of_browser(request.headers());
    pages::render(
        http::StatusCode::OK,
        &pages::PrivacyPage::new(&state.config, lang),
    )
}
