//! The JSON API under `/api/v1/` for hospital systems, authenticated by
//! API keys (`Authorization: Bearer <key>`). It never returns contact data:
//! labels, times and tablets only. `openapi.json` describes every route.

use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::State;
use crate::domain::booking::{self, BookingRequest};
use crate::domain::unit::Unit;
use crate::domain::{DomainError, apikey, patient, unit};
use crate::error::{Error, Result};
use crate::http::forms::{client_ip, parse_json};
use crate::http::response::{Response, json, with_header};
use crate::retention::Horizon;
use crate::store::bookings::BookingRow;
use crate::store::patients::PatientRow;
use crate::store::units as uq;

type Request = http::Request<Bytes>;

/// The OpenAPI 3 document, served as is.
pub const OPENAPI: &str = include_str!("../openapi.json");

pub async fn openapi_show() -> Result<Response> {
    let mut response = crate::http::response::text(http::StatusCode::OK, OPENAPI);
    with_header(
        &mut response,
        http::header::CONTENT_TYPE,
        "application/json",
    );
    Ok(response)
}

/// Checks the bearer key; failures count towards the address's limit.
pub async fn authenticate(state: &State, request: &Request) -> Result<()> {
    let ip = client_ip(&state.config, request);
    state
        .throttle
        .check(ip, state.clock.now())
        .map_err(|retry_after| Error::TooManyRequests { retry_after })?;
    let key = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1): "bearer" is fine.
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, k)| k.trim().to_string());
    let valid = match key.as_deref().and_then(apikey::hash) {
        // Valid keys are remembered until an API key (or anything else a
        // cached read came from) changes: a revoked key fails at once.
        Some(hash) => {
            let generation = state.store.generation();
            if state.api_keys.get(&hash, generation).is_some() {
                true
            } else {
                let lookup = hash.clone();
                let valid = state
                    .store
                    .read(move |c| apikey::verify_hash(c, &lookup))
                    .await?;
                if valid {
                    state.api_keys.put(hash, generation, ());
                }
                valid
            }
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        state.throttle.fail(ip, state.clock.now());
        Err(Error::Unauthorized)
    }
}

fn rfc3339(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[derive(Serialize)]
struct UnitOut {
    id: i64,
    name: String,
    time_zone: String,
    visiting_hours: String,
    slot_minutes: i64,
    buffer_minutes: i64,
    horizon_days: i64,
    max_visits_per_day: i64,
    early_join_minutes: i64,
    grace_minutes: i64,
    active_tablets: usize,
}

/// `GET /api/v1/units`
pub async fn units_list(state: &State) -> Result<Response> {
    let units = state
        .store
        .read(|c| {
            unit::list(c)?
                .into_iter()
                .map(|u| {
                    let active = uq::tablets_of_unit(c, u.id)?
                        .iter()
                        .filter(|t| t.active)
                        .count();
                    Ok(UnitOut {
                        id: u.id,
                        name: u.name.clone(),
                        time_zone: u.time_zone_name.clone(),
                        visiting_hours: u.hours.to_string(),
                        slot_minutes: u.slot.as_mins(),
                        buffer_minutes: u.buffer.as_mins(),
                        horizon_days: u.horizon_days,
                        max_visits_per_day: u.max_visits_per_day,
                        early_join_minutes: u.early_join.as_mins(),
                        grace_minutes: u.grace.as_mins(),
                        active_tablets: active,
                    })
                })
                .collect::<Result<Vec<_>, DomainError>>()
        })
        .await?;
    Ok(json(
        http::StatusCode::OK,
        &serde_json::json!({ "units": units }),
    ))
}

#[derive(Serialize)]
struct SlotOut {
    start: String,
    end: String,
    free_tablets: usize,
}

/// `GET /api/v1/units/{id}/slots`: free slots from now to the horizon.
pub async fn unit_slots(state: &State, unit_id: i64) -> Result<Response> {
    let now = state.clock.now();
    let (unit, offers) = state
        .store
        .read(move |c| {
            let u = unit::by_id(c, unit_id)?;
            let offers = booking::free_slots(c, &u, now)?;
            Ok::<_, DomainError>((u, offers))
        })
        .await?;
    let slots: Vec<SlotOut> = offers
        .iter()
        .map(|o| SlotOut {
            start: o.slot.start.to_string(),
            end: o.slot.end.to_string(),
            free_tablets: o.free,
        })
        .collect();
    Ok(json(
        http::StatusCode::OK,
        &serde_json::json!({ "unit_id": unit.id, "time_zone": unit.time_zone_name, "slots": slots }),
    ))
}

#[derive(Serialize)]
struct BookingOut {
    id: i64,
    patient_id: i64,
    patient_label: String,
    tablet: String,
    start: String,
    end: String,
    status: String,
}

impl From<&BookingRow> for BookingOut {
    fn from(b: &BookingRow) -> Self {
        BookingOut {
            id: b.id,
            patient_id: b.patient_id,
            patient_label: b.patient_label.clone(),
            tablet: b.tablet_label.clone(),
            start: rfc3339(b.starts_at),
            end: rfc3339(b.ends_at),
            status: b.status.clone(),
        }
    }
}

/// `GET /api/v1/units/{id}/bookings?date=YYYY-MM-DD`: one local day's
/// bookings (default today in the unit's zone). No contact data.
pub async fn unit_bookings(state: &State, request: &Request, unit_id: i64) -> Result<Response> {
    let date = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("date="))
        .map(|d| {
            d.parse::<jiff::civil::Date>().map_err(|_| Error::Invalid {
                field: "date",
                message: format!("'{d}' is not a date; write YYYY-MM-DD"),
            })
        })
        .transpose()?;
    let now = state.clock.now();
    let horizon = Horizon::at(now, &state.config.retention);
    let (date, rows) = state
        .store
        .read(move |c| {
            let u = unit::by_id(c, unit_id)?;
            let date = date.unwrap_or_else(|| now.to_zoned(u.time_zone.clone()).date());
            Ok::<_, DomainError>((date, booking::day_of_unit(c, &u, date, horizon)?))
        })
        .await?;
    let bookings: Vec<BookingOut> = rows.iter().map(BookingOut::from).collect();
    Ok(json(
        http::StatusCode::OK,
        &serde_json::json!({ "unit_id": unit_id, "date": date.to_string(), "bookings": bookings }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatientIn {
    unit_id: i64,
    label: String,
}

/// `POST /api/v1/patients`: registers a patient, returns the invite link
/// (shown this once).
pub async fn patient_create(state: &State, request: &Request) -> Result<Response> {
    let input: PatientIn = parse_json(request)?;
    let now = state.clock.now().as_second();
    let rng = state.rng.clone();
    let registered = state
        .store
        .write(move |tx| {
            let u = unit::by_id(tx, input.unit_id).map_err(|e| match e {
                DomainError::NotFound => DomainError::invalid("unit_id", "no unit with this id"),
                e => e,
            })?;
            patient::add(tx, &u, &input.label, now, &rng)
        })
        .await?;
    Ok(json(
        http::StatusCode::CREATED,
        &serde_json::json!({
            "id": registered.patient.id,
            "unit_id": registered.patient.unit_id,
            "label": registered.patient.label,
            "invite_url": format!("{}/b/{}", state.config.server.public_url, registered.invite.expose()),
        }),
    ))
}

/// `POST /api/v1/patients/{id}/discharge`
pub async fn patient_discharge(state: &State, patient_id: i64) -> Result<Response> {
    let now = state.clock.now().as_second();
    let cancelled = state
        .store
        .write({
            let mailer = state.mailer.clone();
            move |tx| patient::discharge(tx, patient_id, now, Some(mailer.as_ref()))
        })
        .await?;
    state
        .metrics
        .bookings_cancelled(crate::metrics::By::Api, cancelled as u64);
    Ok(json(
        http::StatusCode::OK,
        &serde_json::json!({ "id": patient_id, "status": "discharged", "cancelled_bookings": cancelled }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingIn {
    patient_id: i64,
    start: String,
    name: String,
    email: String,
    language: String,
    consent: bool,
}

/// `POST /api/v1/bookings`: books on a family's behalf (the family must
/// have consented to the privacy statement).
pub async fn booking_create(state: &State, request: &Request) -> Result<Response> {
    let input: BookingIn = parse_json(request)?;
    let start: Timestamp = input.start.parse().map_err(|_| Error::Invalid {
        field: "start",
        message: format!(
            "'{}' is not a time; use a slot's start from the slots list, e.g. 2026-11-23T13:00:00Z",
            input.start
        ),
    })?;
    let now = state.clock.now();
    let mailer = state.mailer.clone();
    let req = BookingRequest {
        slot_start: start.as_second(),
        name: input.name,
        email: input.email,
        language: input.language,
        consent: input.consent,
        privacy_version: state.privacy_version.clone(),
    };
    let patient_id = input.patient_id;
    let active = move |conn: &rusqlite::Connection| {
        patient::active_by_id(conn, patient_id).map_err(|e| match e {
            DomainError::NotFound => {
                DomainError::invalid("patient_id", "no active patient with this id")
            }
            e => e,
        })
    };
    // The domain names the chosen time `slot` (the family form's field); in
    // this API's body it is `start`.
    let start_field = |e| match e {
        DomainError::Invalid {
            field: "slot",
            message,
        } => DomainError::Invalid {
            field: "start",
            message,
        },
        e => e,
    };
    // Checked, and the mail composed, on this task: the writer thread that
    // every booking waits for reads the patient again (it may have been
    // discharged or moved meanwhile) and only inserts.
    let (p, u) = &*active_patient(state, patient_id, active).await?;
    let prepared = booking::prepare(p, u, &req, now, &state.rng, Some(mailer.as_ref()))
        .map_err(start_field)?;
    let booked = state
        .store
        .write(move |tx| {
            let (p, u) = active(tx)?;
            booking::book_prepared(tx, &p, &u, prepared, now, Some(mailer.as_ref()))
                .map_err(start_field)
        })
        .await?;
    state.metrics.booking_created(crate::metrics::By::Api);
    tracing::info!(booking = booked.id, "visit booked through the API");
    Ok(json(
        http::StatusCode::CREATED,
        &serde_json::json!({
            "id": booked.id,
            "patient_id": patient_id,
            "start": booked.start.to_string(),
            "end": booked.end.to_string(),
            "tablet": booked.tablet_label,
            "visit_url": format!("{}/v/{}", state.config.server.public_url, booked.visit.expose()),
        }),
    ))
}

/// The active patient `id` and its unit, from [`State::patients`] while
/// nothing they were read from has changed, else read by `active`.
async fn active_patient<F>(
    state: &State,
    id: i64,
    active: F,
) -> std::result::Result<Arc<(PatientRow, Unit)>, DomainError>
where
    F: FnOnce(&rusqlite::Connection) -> std::result::Result<(PatientRow, Unit), DomainError>
        + Send
        + 'static,
{
    let key = id.to_be_bytes();
    // Taken before the rows are read: a change committed meanwhile makes
    // what is read now stale for the next request, never current.
    let generation = state.store.generation();
    if let Some(found) = state.patients.get(&key, generation) {
        return Ok(found);
    }
    let found = Arc::new(state.store.read(active).await?);
    state.patients.put(key.to_vec(), generation, found.clone());
    Ok(found)
}

/// `POST /api/v1/bookings/{id}/cancel`
pub async fn booking_cancel(state: &State, booking_id: i64) -> Result<Response> {
    let now = state.clock.now();
    let horizon = Horizon::at(now, &state.config.retention);
    let row = state
        .store
        .write({
            let mailer = state.mailer.clone();
            move |tx| {
                // Past retention it is gone for the API too, not "already ended".
                booking::by_id_shown(tx, booking_id, horizon)?;
                booking::cancel_by_id(tx, booking_id, "api", now, Some(mailer.as_ref()))
            }
        })
        .await?;
    state.metrics.bookings_cancelled(crate::metrics::By::Api, 1);
    Ok(json(http::StatusCode::OK, &BookingOut::from(&row)))
}
