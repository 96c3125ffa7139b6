//! The accept loop, per-request plumbing and graceful shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::forms::Peer;
use super::handlers::{self, assets};
use super::response::{self, Response};
use super::router::{Route, route};
use crate::State;
use crate::error::Error;

/// The largest request body accepted. Forms are small; anything bigger is a
/// mistake or an attack.
pub const MAX_BODY: usize = 64 * 1024;

/// The most bytes of request line and headers (hyper answers 431 beyond).
/// Browsers send a few KiB; nginx's default limit is 4 × 8 KiB.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// A client that has not sent its headers by then is disconnected.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` is cancelled, then stops accepting, lets requests
/// in flight finish for up to `grace`, and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let state = state.clone();
        // Boxed: hyper keeps room for the service's future in every
        // connection, idle or not, and the future of the largest handler
        // is kilobytes; a box per request costs less than that per
        // connection (1 000 open connections: see the README's figures).
        let service = service_fn(move |mut request: http::Request<Incoming>| {
            let state = state.clone();
            request.extensions_mut().insert(Peer(peer));
            Box::pin(async move { Ok::<_, Infallible>(handle(&state, request).await) })
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_header_size(MAX_HEADER_BYTES)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all requests finished"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period were cut off");
        }
    }
}

/// One request, start to finish: route, read the capped body, dispatch,
/// turn errors into responses, add the common headers, log one line.
async fn handle(state: &State, request: http::Request<Incoming>) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let (route, pattern, flavour) = route(&method, request.uri().path());
    let lang = response::error_lang(pattern, request.headers());
    let mut response = match read_body(request).await {
        Ok(request) => dispatch(state, route, request).await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(|e| response::from_error(&e, flavour, lang));
    state.security_headers.apply(&mut response);
    state
        .metrics
        .request(pattern, response.status().as_u16(), started.elapsed());
    // The route pattern, never the path or query: those carry codes.
    // Every request is counted in /metrics; the log has a line at `info`
    // for those that went wrong (4xx, 5xx), at `debug` for the rest.
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 400 {
        tracing::info!(method = %method, route = pattern, status, latency_ms, "request");
    } else {
        tracing::debug!(method = %method, route = pattern, status, latency_ms, "request");
    }
    response
}

async fn dispatch(
    state: &State,
    route: Route,
    request: http::Request<Bytes>,
) -> Result<Response, Error> {
    use handlers::{admin, api, asap, family, health, kiosk, staff};
    let r = &request;
    let is_api = matches!(
        route,
        Route::ApiUnits
            | Route::ApiUnitSlots(_)
            | Route::ApiUnitBookings(_)
            | Route::ApiPatientCreate
            | Route::ApiPatientDischarge(_)
            | Route::ApiBookingCreate
            | Route::ApiBookingCancel(_)
    );
    if is_api {
        api::authenticate(state, r).await?;
    }
    match route {
        Route::Health => health::health_show(state).await,
        Route::Ready => health::ready_show(state).await,
        Route::Metrics => Ok(health::metrics_show(state, r).await),
        Route::AsapKey(file) => asap::public_key_show(state, &file).await,
        Route::Privacy => family::privacy_show(state, r).await,
        Route::Asset(name) => Ok(assets::asset_show(name)),
        Route::InviteShow(invite) => family::invite_show(state, r, &invite).await,
        Route::BookingCreate(invite) => family::booking_create(state, r, &invite).await,
        Route::VisitOpen(code) => family::visit_open(state, r, &code).await,
        Route::VisitBooked(code) => family::visit_booked(state, r, &code).await,
        Route::VisitCancel(code) => family::visit_cancel(state, r, &code).await,
        Route::VisitCalendar(code) => family::visit_calendar(state, r, &code).await,
        Route::ApiOpenApi => api::openapi_show().await,
        Route::ApiUnits => api::units_list(state).await,
        Route::ApiUnitSlots(id) => api::unit_slots(state, id).await,
        Route::ApiUnitBookings(id) => api::unit_bookings(state, r, id).await,
        Route::ApiPatientCreate => api::patient_create(state, r).await,
        Route::ApiPatientDischarge(id) => api::patient_discharge(state, id).await,
        Route::ApiBookingCreate => api::booking_create(state, r).await,
        Route::ApiBookingCancel(id) => api::booking_cancel(state, id).await,
        Route::StaffLoginShow => staff::login_show(state, r).await,
        Route::StaffLogin => staff::login(state, r).await,
        Route::StaffLogout => staff::logout(state, r).await,
        Route::StaffToday => staff::today_show(state, r).await,
        Route::StaffVisitOpen(id) => staff::visit_open(state, r, id).await,
        Route::StaffVisitStatus(id) => staff::visit_status(state, r, id).await,
        Route::StaffVisitMove(id) => staff::visit_move(state, r, id).await,
        Route::StaffPatients => staff::patients_show(state, r).await,
        Route::StaffPatientCreate => staff::patient_create(state, r).await,
        Route::StaffPatientDischarge(id) => staff::patient_discharge(state, r, id).await,
        Route::StaffMeetingForm => staff::meeting_form(state, r).await,
        Route::StaffMeetingCreate => staff::meeting_create(state, r).await,
        Route::StaffMeetingOpen(id) => staff::meeting_open(state, r, id).await,
        Route::StaffMeetingInvite(id) => staff::meeting_invite(state, r, id).await,
        Route::AdminHome => admin::admin_home(state, r).await,
        Route::AdminUnits => admin::units_list(state, r).await,
        Route::AdminUnitCreate => admin::unit_create(state, r).await,
        Route::AdminUnitUpdate(id) => admin::unit_update(state, r, id).await,
        Route::AdminTablets => admin::tablets_list(state, r).await,
        Route::AdminTabletCreate => admin::tablet_create(state, r).await,
        Route::AdminTabletActive(id) => admin::tablet_active(state, r, id).await,
        Route::AdminTabletDeviceLink(id) => admin::tablet_device_link(state, r, id).await,
        Route::AdminStaff => admin::staff_list(state, r).await,
        Route::AdminStaffCreate => admin::staff_create(state, r).await,
        Route::AdminStaffUpdate(id) => admin::staff_update(state, r, id).await,
        Route::AdminStaffPassword(id) => admin::staff_password(state, r, id).await,
        Route::AdminApiKeys => admin::apikeys_list(state, r).await,
        Route::AdminApiKeyCreate => admin::apikey_create(state, r).await,
        Route::AdminApiKeyRevoke => admin::apikey_revoke(state, r).await,
        Route::AdminAudit => admin::audit_list(state, r).await,
        Route::AdminStats => admin::stats_show(state, r).await,
        Route::AdminSubjects => admin::subjects_show(state, r).await,
        Route::AdminSubjectExport => admin::subject_export(state, r).await,
        Route::AdminSubjectErase => admin::subject_erase(state, r).await,
        Route::StaffVisitDelete(id) => staff::visit_delete(state, r, id).await,
        Route::KioskShow(code) => kiosk::kiosk_show(state, r, &code).await,
        Route::KioskState(code) => kiosk::kiosk_state(state, r, &code).await,
        Route::MethodNotAllowed { allow } => Err(Error::MethodNotAllowed {
            method: request.method().to_string(),
            allow,
        }),
        Route::NotFound => Err(Error::NotFound),
    }
}

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes — at once
/// when `Content-Length` says so, otherwise as soon as the stream exceeds it.
async fn read_body(request: http::Request<Incoming>) -> Result<http::Request<Bytes>, Error> {
    let too_large = Error::PayloadTooLarge { limit: MAX_BODY };
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return Err(too_large);
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large),
        Err(_) => {
            return Err(Error::BadRequest(
                "the request body could not be read completely; send it again".into(),
            ));
        }
    };
    Ok(http::Request::from_parts(parts, bytes))
}
