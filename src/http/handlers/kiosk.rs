//! The tablet kiosk: `/t/<device-code>` shows the tablet's next visit and
//! joins it as moderator through Jitsi's IFrame API when its window opens;
//! `/t/<device-code>/state.json` is what the page polls.
//!
//! The page is the one bedside page that runs a script from elsewhere
//! (Jitsi's `external_api.js`) and frames another site, so it sets its own
//! Content-Security-Policy naming exactly the Jitsi origin. The token is
//! minted only by `state.json`, only inside the window, at the moment the
//! tablet asks: a tablet that is unlinked or a visit that is cancelled gets
//! no token on the next poll.
//!
//! Every lookup goes through the per-address throttle; an unknown,
//! malformed or replaced device code gets the same "not found".

use askama::Template;
use bytes::Bytes;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::State;
use crate::domain::booking::Visit;
use crate::domain::kiosk::{self, Kiosk, Schedule};
use crate::domain::slots;
use crate::domain::unit::Unit;
use crate::error::{Error, Result};
use crate::http::handlers::throttled;
use crate::http::pages;
use crate::http::response::{self, Response, with_header};
use crate::jitsi::{Grant, Role, RoomName};

type Request = http::Request<Bytes>;

/// How often the page asks for its state, in seconds: often enough that a
/// cancelled visit ends on the tablet within moments, rarely enough that a
/// ward full of tablets is no load. The page also asks right when the next
/// window opens, so joining does not wait for this.
const POLL_SECS: u32 = 15;
/// The range `?poll=` may choose from (tests poll every second; a slow
/// ward network might poll each minute).
const POLL_RANGE: std::ops::RangeInclusive<u32> = 1..=60;

/// The tablet behind a device code, under the per-address guessing limit.
async fn find_kiosk(state: &State, request: &Request, code: &str) -> Result<Kiosk> {
    let code = code.to_string();
    let lookup = state.store.read(move |c| kiosk::by_device_code(c, &code));
    throttled(state, request, lookup).await
}

async fn find_schedule(state: &State, kiosk: &Kiosk, now: Timestamp) -> Result<Schedule> {
    let kiosk = kiosk.clone();
    Ok(state
        .store
        .read(move |c| kiosk::schedule(c, &kiosk, now))
        .await?)
}

/// The Jitsi site as the kiosk needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JitsiSite {
    /// `scheme://host[:port]`, for the Content-Security-Policy.
    origin: String,
    /// `host[:port]`, the IFrame API's `domain`.
    domain: String,
}

/// Splits `jitsi.public_url`. `None` when its host holds characters that
/// could break out of a CSP source expression (`;`, `,`, quotes, spaces):
/// such a policy would be wrong, so the page is not served.
fn jitsi_site(public_url: &str) -> Option<JitsiSite> {
    let uri: http::Uri = public_url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?.as_str();
    let plain = |b: u8| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b);
    if authority.is_empty() || !authority.bytes().all(plain) {
        return None;
    }
    Some(JitsiSite {
        origin: format!("{scheme}://{authority}"),
        domain: authority.to_string(),
    })
}

fn site(state: &State) -> Result<JitsiSite> {
    jitsi_site(&state.config.jitsi.public_url).ok_or_else(|| {
        tracing::error!(
            "jitsi.public_url has a host that cannot go into a Content-Security-Policy"
        );
        Error::Conflict(
            "the kiosk cannot be shown: jitsi.public_url has an unusual host name; \
             ask the hospital's IT to check it"
                .into(),
        )
    })
}

/// The kiosk page's policy: everything of its own, plus Jitsi's script and
/// frame from exactly the Jitsi origin. `connect-src 'self'` is for polling.
fn content_security_policy(jitsi_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' {jitsi_origin}; frame-src {jitsi_origin}; \
         connect-src 'self'; style-src 'self'; img-src 'self' data:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// The query the page may carry: `?poll=<seconds>`.
#[derive(Debug, Default, Deserialize)]
struct KioskQuery {
    poll: Option<String>,
}

fn poll_secs(request: &Request) -> u32 {
    let query: KioskQuery = request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    query
        .poll
        .and_then(|p| p.trim().parse::<u32>().ok())
        .map(|p| p.clamp(*POLL_RANGE.start(), *POLL_RANGE.end()))
        .unwrap_or(POLL_SECS)
}

/// "14:00" in the unit's zone.
fn clock(unit: &Unit, t: Timestamp) -> String {
    slots::local(unit, t).strftime("%H:%M").to_string()
}

/// The next visit as the page first shows it.
struct NextLine {
    time: String,
    patient_label: String,
}

fn next_line(visit: &Visit) -> NextLine {
    NextLine {
        time: format!(
            "{}–{}",
            clock(&visit.unit, visit.start()),
            clock(&visit.unit, visit.end())
        ),
        patient_label: visit.booking.patient_label.clone(),
    }
}

#[derive(Template)]
#[template(path = "kiosk.html")]
struct KioskPage {
    unit: String,
    tablet: String,
    time_zone: String,
    clock: String,
    date: String,
    next: Option<NextLine>,
    open: bool,
    state_url: String,
    poll: u32,
    now: i64,
    jitsi_origin: String,
    external_api: String,
}

/// `GET /t/<code>`: the tablet's screen. It shows the unit, the tablet,
/// the time and the next visit; `kiosk.js` keeps it current and joins.
pub async fn kiosk_show(state: &State, request: &Request, code: &str) -> Result<Response> {
    let kiosk = find_kiosk(state, request, code).await?;
    let site = site(state)?;
    let now = state.clock.now();
    let schedule = find_schedule(state, &kiosk, now).await?;
    let page = KioskPage {
        unit: kiosk.unit.name.clone(),
        tablet: kiosk.tablet.label.clone(),
        time_zone: kiosk.unit.time_zone_name.clone(),
        clock: clock(&kiosk.unit, now),
        date: slots::local(&kiosk.unit, now)
            .strftime("%A %-d %B")
            .to_string(),
        next: schedule.next.as_ref().map(next_line),
        open: schedule.open.is_some(),
        state_url: format!("/t/{}/state.json", code.trim().to_ascii_lowercase()),
        poll: poll_secs(request),
        now: now.as_second(),
        external_api: format!("{}/external_api.js", state.config.jitsi.public_url),
        jitsi_origin: site.origin.clone(),
    };
    let mut response = pages::render(http::StatusCode::OK, &page)?;
    with_header(
        &mut response,
        http::header::CONTENT_SECURITY_POLICY,
        &content_security_policy(&site.origin),
    );
    Ok(response)
}

/// `state.json`: what the page shows and, inside a window, how to join.
#[derive(Debug, Serialize)]
struct KioskState {
    unit: String,
    tablet: String,
    /// Seconds since the epoch: the page keeps its clock to bedside's.
    now: i64,
    next: Option<NextVisit>,
    join: Option<Join>,
}

/// The visit on now, or the next one today. While `join` is set, this is
/// the visit it joins.
#[derive(Debug, Serialize)]
struct NextVisit {
    start: i64,
    end: i64,
    /// When its join window opens (start − early join): the page asks
    /// again right then.
    opens: i64,
    patient_label: String,
}

#[derive(Debug, Serialize)]
struct Join {
    /// `host[:port]` of the Jitsi site.
    domain: String,
    /// The room, behind the tenant when one is set.
    room: String,
    jwt: String,
    /// End + grace: the token's expiry, when the tablet leaves.
    leave_at: i64,
    display_name: String,
}

/// `GET /t/<code>/state.json`: polled by the page. `join` carries a token
/// minted now, for this room only, valid from the window's start to end +
/// grace — and only while a booked visit of this tablet is in its window.
pub async fn kiosk_state(state: &State, request: &Request, code: &str) -> Result<Response> {
    let kiosk = find_kiosk(state, request, code).await?;
    let now = state.clock.now();
    let schedule = find_schedule(state, &kiosk, now).await?;
    let join = match (&schedule.next, schedule.open) {
        (Some(visit), Some(window)) => {
            let site = site(state)?;
            let room = RoomName::parse(&visit.booking.room)
                .map_err(|_| Error::Conflict("stored room name is invalid".into()))?;
            let (display_name, user) = kiosk::call_identity(&kiosk);
            let jwt = state.minter.mint(
                &Grant {
                    room: &room,
                    user: &user,
                    role: Role::Moderator,
                    not_before: window.not_before,
                    expires: window.expires,
                },
                now,
            )?;
            state.metrics.token_minted(crate::metrics::TokenKind::Kiosk);
            tracing::debug!(
                booking = visit.booking.id,
                tablet = kiosk.tablet.id,
                "token minted for a tablet"
            );
            Some(Join {
                domain: site.domain,
                room: match &state.config.jitsi.tenant {
                    Some(tenant) => format!("{tenant}/{}", room.as_str()),
                    None => room.as_str().to_string(),
                },
                jwt,
                leave_at: window.expires.as_second(),
                display_name,
            })
        }
        _ => None,
    };
    let body = KioskState {
        unit: kiosk.unit.name.clone(),
        tablet: kiosk.tablet.label.clone(),
        now: now.as_second(),
        next: schedule.next.as_ref().map(|v| NextVisit {
            start: v.booking.starts_at,
            end: v.booking.ends_at,
            opens: (v.start() - v.unit.early_join).as_second(),
            patient_label: v.booking.patient_label.clone(),
        }),
        join,
    };
    Ok(response::json(http::StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitsi_origin_is_scheme_host_and_port_only() {
        let site = |u| jitsi_site(u).map(|s| (s.origin, s.domain));
        assert_eq!(
            site("https://meet.example.org"),
            Some(("https://meet.example.org".into(), "meet.example.org".into()))
        );
        assert_eq!(
            site("https://localhost:8443"),
            Some(("https://localhost:8443".into(), "localhost:8443".into()))
        );
        assert_eq!(
            site("http://127.0.0.1:9000/meet"),
            Some(("http://127.0.0.1:9000".into(), "127.0.0.1:9000".into()))
        );
        assert_eq!(site("https://a;b.example"), None);
        assert_eq!(site("meet.example.org"), None);
    }

    #[test]
    fn the_policy_names_the_jitsi_origin_for_scripts_and_frames_only() {
        let csp = content_security_policy("https://meet.example.org");
        assert_eq!(
            csp,
            "default-src 'none'; script-src 'self' https://meet.example.org; \
             frame-src https://meet.example.org; connect-src 'self'; style-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
    }

    #[test]
    fn poll_is_bounded() {
        let poll = |uri: &str| poll_secs(&http::Request::get(uri).body(Bytes::new()).unwrap());
        assert_eq!(poll("/t/x"), POLL_SECS);
        assert_eq!(poll("/t/x?poll=1"), 1);
        assert_eq!(poll("/t/x?poll=0"), 1);
        assert_eq!(poll("/t/x?poll=100000"), 60);
        assert_eq!(poll("/t/x?poll=soon"), POLL_SECS);
    }
}
