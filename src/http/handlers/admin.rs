//! Admin pages under `/staff/admin`: units, tablets (with device links),
//! staff accounts, API keys, the audit trail, per-unit statistics and data
//! subject requests (export and erasure of one person's data).
//! Admins only; every change is a CSRF-checked POST and is audited.
//!
//! A change that succeeds answers with a redirect to its list page (so a
//! reload does not repeat it) and a fixed notice chosen by `?done=`; the
//! two secrets shown only once — a tablet's device link and a new API key —
//! are shown on the page answering the POST instead, since a redirect
//! would have to carry them in a URL. A change that cannot be made shows
//! the page again with 422, the entries kept and each problem next to its
//! field; nothing is written then.

use askama::Template;
use bytes::Bytes;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use crate::State;
use crate::domain::audit::{self, Actor};
use crate::domain::hours::VisitingHours;
use crate::domain::staff::{self, Role, StaffUser};
use crate::domain::unit::{self, Unit, UnitSettings};
use crate::domain::{DomainError, apikey, subject, tablet};
use crate::error::{Error, Result};
use crate::http::forms::parse_form;
use crate::http::pages::{Nav, render};
use crate::http::response::{Response, text, with_header};
use crate::http::{qr, session};
use crate::store::staff as staff_q;
use crate::store::units::{self as units_q, DailyCount};

type Request = http::Request<Bytes>;
type Status = http::StatusCode;

/// The most audit entries one page shows: enough for a week of a busy
/// hospital's admin actions, few enough for a browser; narrower dates or
/// an action filter find older ones.
const AUDIT_LIMIT: i64 = 500;
/// The audit page's default period when no dates are given.
const AUDIT_DEFAULT_DAYS: i64 = 7;
/// Days in the statistics: eight whole weeks, so weekdays line up.
const STATS_DAYS: i64 = 56;

// ---------------------------------------------------------------------------
// Shared pieces

/// Problems with the fields of one submitted form, each shown next to its
/// field (`"form"` for the form as a whole).
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, field: &'static str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field, message.into()));
        }
    }

    /// Keeps a domain error that is about the input for the page; anything
    /// else (a missing object, a database failure) is the request's error.
    fn absorb(&mut self, error: DomainError) -> Result<()> {
        match error {
            DomainError::Invalid { field, message } => self.push(field, message),
            DomainError::Conflict(message) => self.push("form", message),
            other => return Err(other.into()),
        }
        Ok(())
    }
}

/// An option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub text: String,
    pub selected: bool,
}

fn unit_choices(units: &[Unit], selected: &[i64]) -> Vec<Choice> {
    units
        .iter()
        .map(|u| Choice {
            value: u.id.to_string(),
            text: u.name.clone(),
            selected: selected.contains(&u.id),
        })
        .collect()
}

/// The admin and the CSRF check every change starts with.
async fn admin_change(state: &State, request: &Request) -> Result<StaffUser> {
    let user = session::require_admin(state, request).await?;
    session::check_csrf(
        state,
        request,
        &user,
        session::form_token(request).as_deref(),
    )?;
    Ok(user)
}

fn see_other(location: &str) -> Response {
    let mut response = text(Status::SEE_OTHER, "");
    with_header(&mut response, http::header::LOCATION, location);
    response
}

/// A form's fields in order, repeated ones (a multi-select) included.
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

fn field_all<'a>(fields: &'a Fields, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The query string's pairs; an unreadable query is treated as empty.
fn query(request: &Request) -> Fields {
    request
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

/// What `?done=` may announce: fixed texts only, so nothing a link carries
/// is ever shown as if bedside said it.
const NOTICES: &[(&str, &str)] = &[
    (
        "unit-added",
        "The unit was added. Add its tablets next: families can book only when a unit has an active tablet.",
    ),
    (
        "unit-saved",
        "The unit's settings were saved. Visits booked already keep their times; new slots follow the new settings.",
    ),
    (
        "tablet-added",
        "The tablet was added. Issue its device link to enrol it.",
    ),
    (
        "tablet-enabled",
        "The tablet is back in service: families can book it again.",
    ),
    (
        "tablet-disabled",
        "The tablet is out of service: no new visits are booked on it.",
    ),
    (
        "staff-added",
        "The account was created. Give its username and password to its owner in person.",
    ),
    ("staff-saved", "The account was saved."),
    (
        "password-set",
        "The new password is set. The account is unlocked and its sessions were ended.",
    ),
    (
        "apikey-revoked",
        "The key was revoked: it no longer opens the API.",
    ),
];

fn notice(request: &Request) -> Option<String> {
    let q = query(request);
    let done = field(&q, "done");
    let text = NOTICES.iter().find(|(k, _)| *k == done)?.1;
    let future: u64 = field(&q, "future").parse().unwrap_or(0);
    if done == "tablet-disabled" && future > 0 {
        Some(format!(
            "{text} {future} visit(s) still to come are booked on it: move them to another tablet, or bring this one back."
        ))
    } else {
        Some(text.to_string())
    }
}

/// The page of a change that could not be made, or the list page.
fn status_of(failed: bool) -> Status {
    if failed {
        Status::UNPROCESSABLE_ENTITY
    } else {
        Status::OK
    }
}

/// "2026-11-23 08:00" (UTC) for a time in seconds.
fn utc(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

async fn units_all(state: &State) -> Result<Vec<Unit>> {
    Ok(state.store.read(unit::list).await?)
}

// ---------------------------------------------------------------------------
// Home

#[derive(Template)]
#[template(path = "admin_home.html")]
pub struct HomePage {
    pub nav: Nav,
    /// The outbox's state, and mail the relay refused with its reply:
    /// (id, kind, when, reply). Never an address.
    pub mail: crate::mail::outbox::Counts,
    pub failed_mail: Vec<(i64, String, String, String)>,
}

/// `GET /staff/admin`
pub async fn admin_home(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    let (mail, failed) = state
        .store
        .read(|c| {
            Ok::<_, crate::store::StoreError>((
                crate::mail::outbox::counts(c)?,
                crate::mail::outbox::failed(c, 20)?,
            ))
        })
        .await?;
    let failed_mail = failed
        .into_iter()
        .map(|(id, kind, at, reply)| {
            let when = jiff::Timestamp::from_second(at)
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            (id, kind, when, reply)
        })
        .collect();
    render(
        Status::OK,
        &HomePage {
            nav: Nav::of(&user),
            mail,
            failed_mail,
        },
    )
}

// ---------------------------------------------------------------------------
// Units

/// One input of a unit form.
pub struct UnitField {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub value: String,
    pub number: bool,
}

/// The form of one unit (or of a new one).
pub struct UnitForm {
    /// `None` for the form that adds a unit.
    pub id: Option<i64>,
    pub name: String,
    /// Time zone, hours and slot length as stored, for the collapsed form.
    pub summary: String,
    pub fields: Vec<UnitField>,
    pub family_display: String,
    pub errors: FieldErrors,
}

impl UnitForm {
    /// The HTML id of the form's section, and the prefix of its inputs'.
    pub fn key(&self) -> String {
        match self.id {
            Some(id) => format!("unit-{id}"),
            None => "new-unit".into(),
        }
    }

    pub fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/staff/admin/units/{id}"),
            None => "/staff/admin/units".into(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        id: Option<i64>,
        name: String,
        time_zone: String,
        visiting_hours: String,
        numbers: [String; 6],
        family_display: String,
    ) -> UnitForm {
        let [slot, buffer, horizon, max, early, grace] = numbers;
        let fields = vec![
            UnitField {
                name: "time_zone",
                label: "Time zone",
                hint: "The ward's IANA time zone, e.g. Europe/Amsterdam. Visiting hours are in this zone.",
                value: time_zone,
                number: false,
            },
            UnitField {
                name: "visiting_hours",
                label: "Visiting hours",
                hint: "Days and times, e.g. mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00",
                value: visiting_hours,
                number: false,
            },
            UnitField {
                name: "slot_minutes",
                label: "Slot length (minutes)",
                hint: "How long one visit lasts: 5 to 240.",
                value: slot,
                number: true,
            },
            UnitField {
                name: "buffer_minutes",
                label: "Buffer between visits (minutes)",
                hint: "Time to wipe the tablet and walk to the next bed: 0 to 120.",
                value: buffer,
                number: true,
            },
            UnitField {
                name: "horizon_days",
                label: "Booking horizon (days)",
                hint: "How many days ahead families can book: 0 to 60.",
                value: horizon,
                number: true,
            },
            UnitField {
                name: "max_visits_per_day",
                label: "Visits per patient per day",
                hint: "The most visits one patient can have in a day: 1 to 20.",
                value: max,
                number: true,
            },
            UnitField {
                name: "early_join_minutes",
                label: "Early join (minutes)",
                hint: "How long before the start the visit link opens: 0 to 60.",
                value: early,
                number: true,
            },
            UnitField {
                name: "grace_minutes",
                label: "Grace (minutes)",
                hint: "How long after the end the call may run on: 0 to 60.",
                value: grace,
                number: true,
            },
        ];
        UnitForm {
            id,
            name,
            summary: String::new(),
            fields,
            family_display,
            errors: FieldErrors::default(),
        }
    }

    fn of(u: &Unit) -> UnitForm {
        let mut form = UnitForm::new(
            Some(u.id),
            u.name.clone(),
            u.time_zone_name.clone(),
            compact_hours(&u.hours),
            [
                u.slot.as_mins().to_string(),
                u.buffer.as_mins().to_string(),
                u.horizon_days.to_string(),
                u.max_visits_per_day.to_string(),
                u.early_join.as_mins().to_string(),
                u.grace.as_mins().to_string(),
            ],
            match u.family_display {
                unit::FamilyDisplay::Name => "name".into(),
                unit::FamilyDisplay::Label => "label".into(),
            },
        );
        form.summary = format!(
            "{} · {} · {}-minute visits",
            u.time_zone_name,
            compact_hours(&u.hours),
            u.slot.as_mins()
        );
        form
    }

    fn blank() -> UnitForm {
        UnitForm::new(
            None,
            String::new(),
            String::new(),
            String::new(),
            [
                unit::DEFAULT_SLOT_MINUTES.to_string(),
                unit::DEFAULT_BUFFER_MINUTES.to_string(),
                unit::DEFAULT_HORIZON_DAYS.to_string(),
                unit::DEFAULT_MAX_VISITS_PER_DAY.to_string(),
                unit::DEFAULT_EARLY_JOIN_MINUTES.to_string(),
                unit::DEFAULT_GRACE_MINUTES.to_string(),
            ],
            "name".into(),
        )
    }

    /// The form as it was sent, to show again with its problems.
    fn entered(id: Option<i64>, f: &UnitFields, errors: FieldErrors) -> UnitForm {
        let v = |o: &Option<String>| o.clone().unwrap_or_default();
        let mut form = UnitForm::new(
            id,
            v(&f.name),
            v(&f.time_zone),
            v(&f.visiting_hours),
            [
                v(&f.slot_minutes),
                v(&f.buffer_minutes),
                v(&f.horizon_days),
                v(&f.max_visits_per_day),
                v(&f.early_join_minutes),
                v(&f.grace_minutes),
            ],
            v(&f.family_display),
        );
        form.errors = errors;
        form
    }
}

/// Visiting hours as a ward manager writes them: runs of days with the
/// same times joined ("mon-fri 14:00-16:00; sat,sun 10:00-12:00"), where
/// the stored form has one entry per day. Parses back to the same hours.
fn compact_hours(hours: &VisitingHours) -> String {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let times = |day: Weekday| {
        hours
            .on(day)
            .iter()
            .map(|w| {
                format!(
                    "{:02}:{:02}-{:02}:{:02}",
                    w.start.hour(),
                    w.start.minute(),
                    w.end.hour(),
                    w.end.minute()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let week: Vec<String> = (0..7)
        .map(|i| times(Weekday::from_monday_zero_offset(i).unwrap_or(Weekday::Monday)))
        .collect();
    let mut entries = Vec::new();
    let mut first = 0;
    while first < 7 {
        let mut last = first;
        while last + 1 < 7 && week[last + 1] == week[first] {
            last += 1;
        }
        if !week[first].is_empty() {
            let days = match last - first {
                0 => NAMES[first].to_string(),
                1 => format!("{},{}", NAMES[first], NAMES[last]),
                _ => format!("{}-{}", NAMES[first], NAMES[last]),
            };
            entries.push(format!("{days} {}", week[first]));
        }
        first = last + 1;
    }
    entries.join("; ")
}

#[derive(Template)]
#[template(path = "admin_units.html")]
pub struct UnitsPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub failed: bool,
    pub forms: Vec<UnitForm>,
}

#[derive(Debug, Deserialize)]
struct UnitFields {
    name: Option<String>,
    time_zone: Option<String>,
    visiting_hours: Option<String>,
    slot_minutes: Option<String>,
    buffer_minutes: Option<String>,
    horizon_days: Option<String>,
    max_visits_per_day: Option<String>,
    early_join_minutes: Option<String>,
    grace_minutes: Option<String>,
    family_display: Option<String>,
}

impl UnitFields {
    /// The settings the form asks for; an empty field keeps the current
    /// value (or the default, for a new unit).
    fn settings(&self, errors: &mut FieldErrors) -> UnitSettings {
        fn given(o: &Option<String>) -> Option<String> {
            o.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        }
        let mut number = |name: &'static str, o: &Option<String>| -> Option<i64> {
            let v = given(o)?;
            match v.parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(
                        name,
                        format!("'{v}' is not a whole number of the unit asked"),
                    );
                    None
                }
            }
        };
        UnitSettings {
            slot_minutes: number("slot_minutes", &self.slot_minutes),
            buffer_minutes: number("buffer_minutes", &self.buffer_minutes),
            horizon_days: number("horizon_days", &self.horizon_days),
            max_visits_per_day: number("max_visits_per_day", &self.max_visits_per_day),
            early_join_minutes: number("early_join_minutes", &self.early_join_minutes),
            grace_minutes: number("grace_minutes", &self.grace_minutes),
            time_zone: given(&self.time_zone),
            visiting_hours: given(&self.visiting_hours),
            family_display: given(&self.family_display),
        }
    }
}

/// The units page; `rejected` is a form sent with problems, shown in place
/// of its stored values.
async fn units_page(
    state: &State,
    user: &StaffUser,
    rejected: Option<UnitForm>,
    notice: Option<String>,
) -> Result<Response> {
    let units = units_all(state).await?;
    let mut forms: Vec<UnitForm> = units.iter().map(UnitForm::of).collect();
    forms.push(UnitForm::blank());
    let failed = rejected.is_some();
    if let Some(mut r) = rejected
        && let Some(slot) = forms.iter_mut().find(|f| f.id == r.id)
    {
        if r.id.is_some() {
            // The name is not part of the update form.
            r.name = std::mem::take(&mut slot.name);
            r.summary = std::mem::take(&mut slot.summary);
        }
        *slot = r;
    }
    render(
        status_of(failed),
        &UnitsPage {
            nav: Nav::of(user),
            notice,
            failed,
            forms,
        },
    )
}

/// `GET /staff/admin/units`
pub async fn units_list(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    units_page(state, &user, None, notice(request)).await
}

/// `POST /staff/admin/units`: adds a unit.
pub async fn unit_create(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: UnitFields = parse_form(request)?;
    let mut errors = FieldErrors::default();
    let settings = form.settings(&mut errors);
    if errors.is_empty() {
        let name = form.name.clone().unwrap_or_default();
        let now = state.clock.now().as_second();
        let actor = Actor::Staff(user.id);
        let result = state
            .store
            .write(move |tx| {
                let u = unit::add(tx, &name, &settings, now)?;
                let object = format!("unit:{}", u.id);
                audit::record(tx, actor, "unit.add", Some(&object), "ok", now)?;
                Ok::<_, DomainError>(u.id)
            })
            .await;
        match result {
            Ok(id) => {
                tracing::info!(unit = id, staff = user.id, "unit added");
                return Ok(see_other(&format!(
                    "/staff/admin/units?done=unit-added#unit-{id}"
                )));
            }
            Err(e) => errors.absorb(e)?,
        }
    }
    let rejected = UnitForm::entered(None, &form, errors);
    units_page(state, &user, Some(rejected), None).await
}

/// `POST /staff/admin/units/{id}`: changes a unit's settings.
pub async fn unit_update(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: UnitFields = parse_form(request)?;
    let mut errors = FieldErrors::default();
    let settings = form.settings(&mut errors);
    if errors.is_empty() {
        let now = state.clock.now().as_second();
        let actor = Actor::Staff(user.id);
        let result = state
            .store
            .write(move |tx| {
                let u = unit::by_id(tx, id)?;
                unit::set(tx, &u.name, &settings)?;
                let object = format!("unit:{id}");
                audit::record(tx, actor, "unit.update", Some(&object), "ok", now)?;
                Ok::<_, DomainError>(())
            })
            .await;
        match result {
            Ok(()) => {
                tracing::info!(unit = id, staff = user.id, "unit settings changed");
                return Ok(see_other(&format!(
                    "/staff/admin/units?done=unit-saved#unit-{id}"
                )));
            }
            Err(e) => errors.absorb(e)?,
        }
    } else {
        // A form for a unit that does not exist is not worth correcting.
        state
            .store
            .read(move |c| unit::by_id(c, id).map(|_| ()))
            .await?;
    }
    let rejected = UnitForm::entered(Some(id), &form, errors);
    units_page(state, &user, Some(rejected), None).await
}

// ---------------------------------------------------------------------------
// Tablets

pub struct TabletView {
    pub id: i64,
    pub unit_name: String,
    pub label: String,
    pub active: bool,
    pub enrolled: bool,
    pub errors: FieldErrors,
}

/// A device link just issued, shown this once.
pub struct DeviceLink {
    pub tablet_id: i64,
    pub unit_name: String,
    pub label: String,
    pub link: String,
    /// SVG markup made by the QR encoder from the link alone.
    pub qr: String,
}

#[derive(Template)]
#[template(path = "admin_tablets.html")]
pub struct TabletsPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub failed: bool,
    pub issued: Option<DeviceLink>,
    pub tablets: Vec<TabletView>,
    pub units: Vec<Choice>,
    pub label: String,
    pub errors: FieldErrors,
}

/// A tablet form sent with problems.
enum TabletRejected {
    New {
        unit_id: Option<i64>,
        label: String,
        errors: FieldErrors,
    },
    Row(i64, FieldErrors),
}

async fn tablets_page(
    state: &State,
    user: &StaffUser,
    rejected: Option<TabletRejected>,
    issued: Option<DeviceLink>,
    notice: Option<String>,
) -> Result<Response> {
    let units = units_all(state).await?;
    let rows = state.store.read(tablet::list_all).await?;
    let unit_name = |id: i64| {
        units
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.name.clone())
            .unwrap_or_default()
    };
    let mut tablets: Vec<TabletView> = rows
        .into_iter()
        .map(|(t, enrolled)| TabletView {
            id: t.id,
            unit_name: unit_name(t.unit_id),
            label: t.label,
            active: t.active,
            enrolled,
            errors: FieldErrors::default(),
        })
        .collect();
    let failed = rejected.is_some();
    let (mut selected, mut label, mut errors) = (Vec::new(), String::new(), FieldErrors::default());
    match rejected {
        Some(TabletRejected::New {
            unit_id,
            label: l,
            errors: e,
        }) => {
            selected.extend(unit_id);
            label = l;
            errors = e;
        }
        Some(TabletRejected::Row(id, e)) => {
            if let Some(t) = tablets.iter_mut().find(|t| t.id == id) {
                t.errors = e;
            }
        }
        None => {}
    }
    render(
        status_of(failed),
        &TabletsPage {
            nav: Nav::of(user),
            notice,
            failed,
            issued,
            tablets,
            units: unit_choices(&units, &selected),
            label,
            errors,
        },
    )
}

/// `GET /staff/admin/tablets`
pub async fn tablets_list(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    tablets_page(state, &user, None, None, notice(request)).await
}

#[derive(Debug, Deserialize)]
struct TabletFields {
    unit_id: Option<String>,
    label: Option<String>,
}

/// `POST /staff/admin/tablets`: adds a tablet to a unit.
pub async fn tablet_create(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: TabletFields = parse_form(request)?;
    let label = form.label.unwrap_or_default();
    let unit_id: Option<i64> = form.unit_id.as_deref().and_then(|v| v.trim().parse().ok());
    let mut errors = FieldErrors::default();
    match unit_id {
        None => errors.push("unit_id", "choose the unit the tablet belongs to"),
        Some(unit_id) => {
            let now = state.clock.now().as_second();
            let actor = Actor::Staff(user.id);
            let l = label.clone();
            let result = state
                .store
                .write(move |tx| tablet::add_to_unit(tx, unit_id, &l, actor, now))
                .await;
            match result {
                Ok(t) => {
                    tracing::info!(
                        tablet = t.id,
                        unit = unit_id,
                        staff = user.id,
                        "tablet added"
                    );
                    return Ok(see_other(&format!(
                        "/staff/admin/tablets?done=tablet-added#tablet-{}",
                        t.id
                    )));
                }
                Err(e) => errors.absorb(e)?,
            }
        }
    }
    let rejected = TabletRejected::New {
        unit_id,
        label,
        errors,
    };
    tablets_page(state, &user, Some(rejected), None, None).await
}

#[derive(Debug, Deserialize)]
struct ActiveField {
    active: Option<String>,
}

/// `POST /staff/admin/tablets/{id}/active`: takes a tablet out of (or back
/// into) service.
pub async fn tablet_active(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: ActiveField = parse_form(request)?;
    let active = match form.active.as_deref().map(str::trim) {
        Some("1") => true,
        Some("0") => false,
        _ => {
            state.store.read(move |c| tablet::by_id(c, id)).await?;
            let mut errors = FieldErrors::default();
            errors.push("active", "use the Enable or Disable button");
            return tablets_page(
                state,
                &user,
                Some(TabletRejected::Row(id, errors)),
                None,
                None,
            )
            .await;
        }
    };
    let now = state.clock.now().as_second();
    let actor = Actor::Staff(user.id);
    let future = state
        .store
        .write(move |tx| tablet::set_active_by_id(tx, id, active, actor, now))
        .await?;
    tracing::info!(
        tablet = id,
        active,
        staff = user.id,
        "tablet service changed"
    );
    Ok(see_other(&if active {
        format!("/staff/admin/tablets?done=tablet-enabled#tablet-{id}")
    } else {
        format!("/staff/admin/tablets?done=tablet-disabled&future={future}#tablet-{id}")
    }))
}

/// `POST /staff/admin/tablets/{id}/device-link`: issues a new device link,
/// which ends the previous one, and shows it once with its QR code.
pub async fn tablet_device_link(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let now = state.clock.now().as_second();
    let actor = Actor::Staff(user.id);
    let rng = state.rng.clone();
    let (t, u, code) = state
        .store
        .write(move |tx| {
            let t = tablet::by_id(tx, id)?;
            let u = unit::by_id(tx, t.unit_id)?;
            let code = tablet::issue_device_code(tx, id, actor, now, &rng)?;
            Ok::<_, DomainError>((t, u, code))
        })
        .await?;
    tracing::info!(tablet = id, staff = user.id, "device link issued");
    let link = format!("{}/t/{}", state.config.server.public_url, code.expose());
    let qr = qr::svg(&link).map_err(Error::Conflict)?;
    let issued = DeviceLink {
        tablet_id: t.id,
        unit_name: u.name,
        label: t.label,
        link,
        qr,
    };
    tablets_page(state, &user, None, Some(issued), None).await
}

// ---------------------------------------------------------------------------
// Staff accounts

/// The fields of an account's edit form.
pub struct StaffEdit {
    pub role: String,
    pub units: Vec<i64>,
    pub active: bool,
    pub errors: FieldErrors,
}

pub struct StaffView {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    pub locked_until: Option<String>,
    pub unit_names: String,
    pub is_self: bool,
    pub edit: StaffEdit,
    pub unit_choices: Vec<Choice>,
    pub password_errors: FieldErrors,
}

pub struct NewStaff {
    pub username: String,
    pub name: String,
    pub role: String,
    pub unit_choices: Vec<Choice>,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin_staff.html")]
pub struct StaffPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub failed: bool,
    pub people: Vec<StaffView>,
    pub new: NewStaff,
}

enum StaffRejected {
    New {
        username: String,
        name: String,
        role: String,
        units: Vec<i64>,
        errors: FieldErrors,
    },
    Edit(i64, StaffEdit),
    Password(i64, FieldErrors),
}

async fn staff_page(
    state: &State,
    user: &StaffUser,
    rejected: Option<StaffRejected>,
    notice: Option<String>,
) -> Result<Response> {
    let units = units_all(state).await?;
    let accounts = state.store.read(staff::list).await?;
    let now = state.clock.now().as_second();
    let mut people: Vec<StaffView> = accounts
        .into_iter()
        .map(|(s, unit_ids)| {
            let unit_names = units
                .iter()
                .filter(|u| unit_ids.contains(&u.id))
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            StaffView {
                id: s.id,
                is_self: s.id == user.id,
                username: s.username,
                name: s.display_name,
                role: s.role.clone(),
                active: s.active,
                locked_until: s.locked_until.filter(|t| *t > now).map(utc),
                unit_names,
                unit_choices: Vec::new(),
                edit: StaffEdit {
                    role: s.role,
                    units: unit_ids,
                    active: s.active,
                    errors: FieldErrors::default(),
                },
                password_errors: FieldErrors::default(),
            }
        })
        .collect();
    let failed = rejected.is_some();
    let mut new = NewStaff {
        username: String::new(),
        name: String::new(),
        role: "operator".into(),
        unit_choices: Vec::new(),
        errors: FieldErrors::default(),
    };
    let mut new_units = Vec::new();
    match rejected {
        Some(StaffRejected::New {
            username,
            name,
            role,
            units,
            errors,
        }) => {
            new = NewStaff {
                username,
                name,
                role,
                unit_choices: Vec::new(),
                errors,
            };
            new_units = units;
        }
        Some(StaffRejected::Edit(id, edit)) => {
            if let Some(p) = people.iter_mut().find(|p| p.id == id) {
                p.edit = edit;
            }
        }
        Some(StaffRejected::Password(id, errors)) => {
            if let Some(p) = people.iter_mut().find(|p| p.id == id) {
                p.password_errors = errors;
            }
        }
        None => {}
    }
    for p in &mut people {
        p.unit_choices = unit_choices(&units, &p.edit.units);
    }
    new.unit_choices = unit_choices(&units, &new_units);
    render(
        status_of(failed),
        &StaffPage {
            nav: Nav::of(user),
            notice,
            failed,
            people,
            new,
        },
    )
}

/// `GET /staff/admin/staff`
pub async fn staff_list(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    staff_page(state, &user, None, notice(request)).await
}

/// Reads the role field.
fn role_of(value: &str, errors: &mut FieldErrors) -> Option<Role> {
    let role = Role::parse(value.trim());
    if role.is_none() {
        errors.push("role", "choose admin or operator");
    }
    role
}

/// Reads the multi-select of units: ids, each once.
fn unit_ids_of(fields: &Fields, errors: &mut FieldErrors) -> Vec<i64> {
    let mut ids = Vec::new();
    for v in field_all(fields, "units") {
        match v.trim().parse::<i64>() {
            Ok(id) => ids.push(id),
            Err(_) => errors.push("units", "choose units from the list"),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The names of the units with these ids; an unknown id is a problem with
/// the field `units`.
fn unit_names(conn: &rusqlite::Connection, ids: &[i64]) -> Result<Vec<String>, DomainError> {
    ids.iter()
        .map(|id| {
            unit::by_id(conn, *id).map(|u| u.name).map_err(|e| match e {
                DomainError::NotFound => DomainError::Invalid {
                    field: "units",
                    message: "a chosen unit no longer exists; reload the page".into(),
                },
                e => e,
            })
        })
        .collect()
}

/// Hashes a password on the blocking pool: Argon2 is slow on purpose and
/// must hold neither an async worker nor the database writer.
async fn hash_off_thread(state: &State, password: String) -> Result<String, DomainError> {
    let rng = state.rng.clone();
    tokio::task::spawn_blocking(move || staff::hash_password(&password, &rng))
        .await
        .unwrap_or_else(|_| {
            Err(DomainError::Conflict(
                "the password could not be set; try again".into(),
            ))
        })
}

/// `POST /staff/admin/staff`: creates an account.
pub async fn staff_create(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let fields: Fields = parse_form(request)?;
    let mut errors = FieldErrors::default();
    let username = field(&fields, "username").to_string();
    let name = field(&fields, "name").to_string();
    let role_text = field(&fields, "role").to_string();
    let role = role_of(&role_text, &mut errors);
    let units = unit_ids_of(&fields, &mut errors);
    let password = field(&fields, "password").to_string();
    if let Err(e) = staff::check_password(&password) {
        errors.absorb(e)?;
    }
    if let (true, Some(role)) = (errors.is_empty(), role) {
        let result = match hash_off_thread(state, password).await {
            Ok(hash) => {
                let now = state.clock.now().as_second();
                let actor = Actor::Staff(user.id);
                let (u, n, ids) = (username.clone(), name.clone(), units.clone());
                state
                    .store
                    .write(move |tx| {
                        let names = unit_names(tx, &ids)?;
                        let account = staff::add(tx, &u, &n, role, &hash, actor, now)?;
                        if !names.is_empty() {
                            staff::set_units(tx, account.id, &names, actor, now)?;
                        }
                        Ok::<_, DomainError>(account.id)
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(id) => {
                tracing::info!(account = id, staff = user.id, "staff account created");
                return Ok(see_other(&format!(
                    "/staff/admin/staff?done=staff-added#staff-{id}"
                )));
            }
            Err(e) => errors.absorb(e)?,
        }
    }
    let rejected = StaffRejected::New {
        username,
        name,
        role: role_text,
        units,
        errors,
    };
    staff_page(state, &user, Some(rejected), None).await
}

/// `POST /staff/admin/staff/{id}`: changes an account's role, units and
/// whether it is active. Only what differs is written (and audited). An
/// admin cannot disable or demote themself, so a hospital always keeps at
/// least the admin who is acting.
pub async fn staff_update(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let fields: Fields = parse_form(request)?;
    let current = state
        .store
        .read(move |c| Ok::<_, DomainError>(staff_q::staff_by_id(c, id)?))
        .await?
        .ok_or(Error::NotFound)?;
    let mut errors = FieldErrors::default();
    let role_text = field(&fields, "role").to_string();
    let role = role_of(&role_text, &mut errors);
    let units = unit_ids_of(&fields, &mut errors);
    let active = match field(&fields, "active").trim() {
        "1" => true,
        "0" => false,
        "" => current.active,
        _ => {
            errors.push("active", "choose active or disabled");
            current.active
        }
    };
    if id == user.id {
        if role.is_some_and(|r| r != Role::Admin) {
            errors.push(
                "role",
                "you cannot take away your own admin role; ask another admin to do it",
            );
        }
        if !active {
            errors.push(
                "active",
                "you cannot disable your own account; ask another admin to do it",
            );
        }
    }
    if let (true, Some(role)) = (errors.is_empty(), role) {
        let now = state.clock.now().as_second();
        let actor = Actor::Staff(user.id);
        let ids = units.clone();
        let result = state
            .store
            .write(move |tx| {
                let Some(before) = staff_q::staff_by_id(tx, id)? else {
                    return Err(DomainError::NotFound);
                };
                if before.role != role.as_str() {
                    staff::set_role(tx, id, role, actor, now)?;
                }
                if staff_q::staff_units(tx, id)? != ids {
                    let names = unit_names(tx, &ids)?;
                    staff::set_units(tx, id, &names, actor, now)?;
                }
                if before.active != active {
                    staff::set_active(tx, id, active, actor, now)?;
                }
                Ok(())
            })
            .await;
        match result {
            Ok(()) => {
                tracing::info!(account = id, staff = user.id, "staff account changed");
                return Ok(see_other(&format!(
                    "/staff/admin/staff?done=staff-saved#staff-{id}"
                )));
            }
            Err(e) => errors.absorb(e)?,
        }
    }
    let edit = StaffEdit {
        role: role_text,
        units,
        active,
        errors,
    };
    staff_page(state, &user, Some(StaffRejected::Edit(id, edit)), None).await
}

/// `POST /staff/admin/staff/{id}/password`: sets a new password, which
/// unlocks the account and ends its sessions.
pub async fn staff_password(state: &State, request: &Request, id: i64) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let fields: Fields = parse_form(request)?;
    state
        .store
        .read(move |c| Ok::<_, DomainError>(staff_q::staff_by_id(c, id)?))
        .await?
        .ok_or(Error::NotFound)?;
    let password = field(&fields, "password").to_string();
    let mut errors = FieldErrors::default();
    let result = match staff::check_password(&password) {
        Ok(()) => match hash_off_thread(state, password).await {
            Ok(hash) => {
                let now = state.clock.now().as_second();
                let actor = Actor::Staff(user.id);
                state
                    .store
                    .write(move |tx| staff::set_password(tx, id, &hash, actor, now))
                    .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            tracing::info!(account = id, staff = user.id, "staff password set");
            // A new password ends the account's sessions: one's own too.
            return Ok(if id == user.id {
                see_other("/staff/login")
            } else {
                see_other(&format!("/staff/admin/staff?done=password-set#staff-{id}"))
            });
        }
        Err(e) => errors.absorb(e)?,
    }
    staff_page(
        state,
        &user,
        Some(StaffRejected::Password(id, errors)),
        None,
    )
    .await
}

// ---------------------------------------------------------------------------
// API keys

pub struct KeyView {
    pub name: String,
    pub created: String,
    pub revoked: Option<String>,
}

/// A key just created, shown this once.
pub struct NewKey {
    pub name: String,
    pub key: String,
}

#[derive(Template)]
#[template(path = "admin_apikeys.html")]
pub struct ApiKeysPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub failed: bool,
    pub created: Option<NewKey>,
    pub keys: Vec<KeyView>,
    pub name: String,
    pub errors: FieldErrors,
    pub revoke_errors: FieldErrors,
}

enum KeyRejected {
    New(String, FieldErrors),
    Revoke(FieldErrors),
}

async fn apikeys_page(
    state: &State,
    user: &StaffUser,
    rejected: Option<KeyRejected>,
    created: Option<NewKey>,
    notice: Option<String>,
) -> Result<Response> {
    let keys = state
        .store
        .read(apikey::list)
        .await?
        .into_iter()
        .map(|(name, created, revoked)| KeyView {
            name,
            created: utc(created),
            revoked: revoked.map(utc),
        })
        .collect();
    let failed = rejected.is_some();
    let (mut name, mut errors, mut revoke_errors) = (
        String::new(),
        FieldErrors::default(),
        FieldErrors::default(),
    );
    match rejected {
        Some(KeyRejected::New(n, e)) => (name, errors) = (n, e),
        Some(KeyRejected::Revoke(e)) => revoke_errors = e,
        None => {}
    }
    render(
        status_of(failed),
        &ApiKeysPage {
            nav: Nav::of(user),
            notice,
            failed,
            created,
            keys,
            name,
            errors,
            revoke_errors,
        },
    )
}

/// `GET /staff/admin/apikeys`
pub async fn apikeys_list(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    apikeys_page(state, &user, None, None, notice(request)).await
}

#[derive(Debug, Deserialize)]
struct NameField {
    name: Option<String>,
}

/// `POST /staff/admin/apikeys`: creates a key and shows it once.
pub async fn apikey_create(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: NameField = parse_form(request)?;
    let name = form.name.unwrap_or_default();
    let now = state.clock.now().as_second();
    let actor = Actor::Staff(user.id);
    let rng = state.rng.clone();
    let n = name.clone();
    let result = state
        .store
        .write(move |tx| apikey::create_audited(tx, &n, actor, now, &rng))
        .await;
    match result {
        Ok((id, key)) => {
            tracing::info!(apikey = id, staff = user.id, "API key created");
            let created = NewKey {
                name: name.trim().to_string(),
                key,
            };
            apikeys_page(state, &user, None, Some(created), None).await
        }
        Err(e) => {
            let mut errors = FieldErrors::default();
            errors.absorb(e)?;
            apikeys_page(
                state,
                &user,
                Some(KeyRejected::New(name, errors)),
                None,
                None,
            )
            .await
        }
    }
}

/// `POST /staff/admin/apikeys/revoke`: revokes the key called `name`.
pub async fn apikey_revoke(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: NameField = parse_form(request)?;
    let name = form.name.unwrap_or_default();
    let now = state.clock.now().as_second();
    let actor = Actor::Staff(user.id);
    let result = state
        .store
        .write(move |tx| apikey::revoke_audited(tx, &name, actor, now))
        .await;
    match result {
        Ok(id) => {
            tracing::info!(apikey = id, staff = user.id, "API key revoked");
            Ok(see_other("/staff/admin/apikeys?done=apikey-revoked"))
        }
        Err(e) => {
            let mut errors = FieldErrors::default();
            errors.absorb(e)?;
            apikeys_page(state, &user, Some(KeyRejected::Revoke(errors)), None, None).await
        }
    }
}

// ---------------------------------------------------------------------------
// Audit trail

pub struct AuditRow {
    pub when: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    pub nav: Nav,
    pub from: String,
    pub to: String,
    pub action: String,
    pub errors: FieldErrors,
    pub rows: Vec<AuditRow>,
    pub limit: i64,
    pub truncated: bool,
}

/// A date field of the filter, or `default` when empty.
fn date_of(value: &str, field: &'static str, default: Date, errors: &mut FieldErrors) -> Date {
    let v = value.trim();
    if v.is_empty() {
        return default;
    }
    v.parse::<Date>().unwrap_or_else(|_| {
        errors.push(
            field,
            format!("'{v}' is not a date; write YYYY-MM-DD, e.g. 2026-11-23"),
        );
        default
    })
}

/// Midnight UTC at the start of `day`, in seconds.
fn utc_midnight(day: Date) -> Option<i64> {
    day.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// `GET /staff/admin/audit?from=YYYY-MM-DD&to=YYYY-MM-DD&action=login`:
/// entries of whole UTC days `from..=to`, newest first.
pub async fn audit_list(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    let q = query(request);
    let today = state.clock.now().to_zoned(TimeZone::UTC).date();
    let week_ago = today
        .checked_sub((AUDIT_DEFAULT_DAYS - 1).days())
        .unwrap_or(today);
    let mut errors = FieldErrors::default();
    let from = date_of(field(&q, "from"), "from", week_ago, &mut errors);
    let to = date_of(field(&q, "to"), "to", today, &mut errors);
    if errors.is_empty() && from > to {
        errors.push("to", "must be on or after the first day");
    }
    let action = field(&q, "action").trim().to_string();
    let bounds = utc_midnight(from).zip(to.tomorrow().ok().and_then(utc_midnight));
    let mut rows = Vec::new();
    match bounds {
        Some((start, end)) if errors.is_empty() => {
            let filter = (!action.is_empty()).then(|| action.clone());
            let entries = state
                .store
                .read(move |c| {
                    Ok::<_, DomainError>(audit::list(
                        c,
                        start,
                        end,
                        filter.as_deref(),
                        AUDIT_LIMIT,
                    )?)
                })
                .await?;
            rows = entries
                .into_iter()
                .map(|e| AuditRow {
                    when: Timestamp::from_second(e.at)
                        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    actor: e.actor,
                    action: e.action,
                    object: e.object.unwrap_or_default(),
                    outcome: e.outcome,
                })
                .collect();
        }
        Some(_) => {}
        None => errors.push("from", "the dates are out of range"),
    }
    let truncated = rows.len() as i64 >= AUDIT_LIMIT;
    render(
        status_of(!errors.is_empty()),
        &AuditPage {
            nav: Nav::of(&user),
            from: if errors.get("from").is_some() {
                field(&q, "from").to_string()
            } else {
                from.to_string()
            },
            to: if errors.get("to").is_some() {
                field(&q, "to").to_string()
            } else {
                to.to_string()
            },
            action,
            errors,
            rows,
            limit: AUDIT_LIMIT,
            truncated,
        },
    )
}

// ---------------------------------------------------------------------------
// Statistics

/// One day's counts as shown.
pub struct DayRow {
    pub day: String,
    pub booked: i64,
    pub done: i64,
    pub no_show: i64,
    pub cancelled: i64,
}

/// One coloured part of a day's bar.
pub struct Segment {
    pub y: i64,
    pub height: i64,
    pub fill: &'static str,
}

/// A day's bar in the chart: its parts stacked from the bottom.
pub struct Bar {
    pub x: i64,
    pub title: String,
    pub segments: Vec<Segment>,
}

/// A date under the chart's x axis.
pub struct Tick {
    pub x: i64,
    pub text: String,
}

/// The bar chart's geometry, in SVG user units; the template draws it.
pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub left: i64,
    pub top: i64,
    pub bottom: i64,
    pub right: i64,
    pub middle: i64,
    pub bar_width: i64,
    pub max: i64,
    pub half: String,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub legend: Vec<(i64, &'static str, &'static str)>,
}

/// Colours, as SVG presentation attributes (the CSP forbids inline styles).
const DONE_FILL: &str = "#0b6e6e";
const NO_SHOW_FILL: &str = "#d9a400";
const CANCELLED_FILL: &str = "#9aa5b1";
const BOOKED_FILL: &str = "#8cc7c7";

impl Chart {
    /// One stacked bar per day, oldest on the left: done, no-show,
    /// cancelled, and the rest of the booked visits (still to come, or not
    /// marked) on top. A bar's height is the day's booked count.
    fn of(days: &[DayRow]) -> Chart {
        const LEFT: i64 = 36;
        const TOP: i64 = 12;
        const PLOT: i64 = 160;
        const STEP: i64 = 12;
        let max = days.iter().map(|d| d.booked).max().unwrap_or(0).max(1);
        let bottom = TOP + PLOT;
        let right = LEFT + STEP * days.len() as i64;
        let y_of = |count: i64| bottom - count * PLOT / max;
        let bars = days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let rest = (d.booked - d.done - d.no_show - d.cancelled).max(0);
                let mut below = 0;
                let mut segments = Vec::new();
                for (count, fill) in [
                    (d.done, DONE_FILL),
                    (d.no_show, NO_SHOW_FILL),
                    (d.cancelled, CANCELLED_FILL),
                    (rest, BOOKED_FILL),
                ] {
                    if count > 0 {
                        let (y0, y1) = (y_of(below), y_of(below + count));
                        segments.push(Segment {
                            y: y1,
                            height: y0 - y1,
                            fill,
                        });
                        below += count;
                    }
                }
                Bar {
                    x: LEFT + STEP * i as i64 + 1,
                    title: format!(
                        "{}: {} booked, {} done, {} no-show, {} cancelled",
                        d.day, d.booked, d.done, d.no_show, d.cancelled
                    ),
                    segments,
                }
            })
            .collect();
        let ticks = days
            .iter()
            .enumerate()
            .step_by(7)
            .map(|(i, d)| Tick {
                x: LEFT + STEP * i as i64,
                text: d.day.get(5..).unwrap_or(&d.day).to_string(),
            })
            .collect();
        let legend_y = bottom + 34;
        Chart {
            width: right + 8,
            height: legend_y + 8,
            left: LEFT,
            top: TOP,
            bottom,
            right,
            middle: TOP + PLOT / 2,
            bar_width: STEP - 3,
            max,
            half: if max % 2 == 0 {
                (max / 2).to_string()
            } else {
                format!("{:.1}", max as f64 / 2.0)
            },
            bars,
            ticks,
            legend: vec![
                (LEFT, DONE_FILL, "done"),
                (LEFT + 90, NO_SHOW_FILL, "no-show"),
                (LEFT + 190, CANCELLED_FILL, "cancelled"),
                (LEFT + 300, BOOKED_FILL, "booked, not (yet) done"),
            ],
        }
    }
}

#[derive(Template)]
#[template(path = "admin_stats.html")]
pub struct StatsPage {
    pub nav: Nav,
    pub units: Vec<Choice>,
    /// `None` while there are no units.
    pub shown: Option<UnitStats>,
}

/// One unit's statistics.
pub struct UnitStats {
    pub unit_name: String,
    pub time_zone: String,
    pub first: String,
    pub last: String,
    /// Newest first.
    pub days: Vec<DayRow>,
    pub total: DayRow,
    pub chart: Chart,
}

/// The unit's counts for each of `first..first + STATS_DAYS`, zeros where
/// no row exists, oldest first.
fn fill_days(first: Date, counts: &[DailyCount]) -> Vec<DayRow> {
    first
        .series(1.day())
        .take(STATS_DAYS as usize)
        .map(|date| {
            let day = date.to_string();
            let c = counts.iter().find(|c| c.day == day);
            DayRow {
                booked: c.map_or(0, |c| c.booked),
                done: c.map_or(0, |c| c.done),
                no_show: c.map_or(0, |c| c.no_show),
                cancelled: c.map_or(0, |c| c.cancelled),
                day,
            }
        })
        .collect()
}

/// `GET /staff/admin/stats?unit=<id>`: a unit's daily counts over the last
/// eight weeks (local days, today included). Counts only: no persons.
pub async fn stats_show(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    let units = units_all(state).await?;
    let q = query(request);
    let chosen = match field(&q, "unit").trim() {
        "" => units.first(),
        id => {
            let id: i64 = id.parse().map_err(|_| Error::NotFound)?;
            Some(units.iter().find(|u| u.id == id).ok_or(Error::NotFound)?)
        }
    };
    let Some(u) = chosen else {
        let page = StatsPage {
            nav: Nav::of(&user),
            units: Vec::new(),
            shown: None,
        };
        return render(Status::OK, &page);
    };
    let today = state.clock.now().to_zoned(u.time_zone.clone()).date();
    let first = today
        .checked_sub((STATS_DAYS - 1).days())
        .map_err(|_| Error::BadRequest("the date is out of range".into()))?;
    let (unit_id, from, to) = (u.id, first.to_string(), today.to_string());
    let counts = state
        .store
        .read(move |c| Ok::<_, DomainError>(units_q::daily_counts(c, unit_id, &from, &to)?))
        .await?;
    let days = fill_days(first, &counts);
    let chart = Chart::of(&days);
    let total = DayRow {
        day: "Total".into(),
        booked: days.iter().map(|d| d.booked).sum(),
        done: days.iter().map(|d| d.done).sum(),
        no_show: days.iter().map(|d| d.no_show).sum(),
        cancelled: days.iter().map(|d| d.cancelled).sum(),
    };
    render(
        Status::OK,
        &StatsPage {
            nav: Nav::of(&user),
            units: unit_choices(&units, &[u.id]),
            shown: Some(UnitStats {
                unit_name: u.name.clone(),
                time_zone: u.time_zone_name.clone(),
                first: first.to_string(),
                last: today.to_string(),
                days: days.into_iter().rev().collect(),
                total,
                chart,
            }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, booked: i64, done: i64, no_show: i64, cancelled: i64) -> DailyCount {
        DailyCount {
            day: day.into(),
            booked,
            done,
            no_show,
            cancelled,
        }
    }

    #[test]
    fn missing_days_are_zeros_and_the_range_is_eight_weeks() {
        let first: Date = "2026-09-29".parse().unwrap();
        let days = fill_days(first, &[day("2026-11-23", 4, 2, 1, 1)]);
        assert_eq!(days.len(), 56);
        assert_eq!(days[0].day, "2026-09-29");
        assert_eq!(days[55].day, "2026-11-23");
        assert_eq!(
            (days[55].booked, days[55].done, days[55].no_show),
            (4, 2, 1)
        );
        assert!(days[..55].iter().all(|d| d.booked == 0 && d.done == 0));
    }

    #[test]
    fn bars_stack_to_the_booked_count_inside_the_plot() {
        let first: Date = "2026-09-29".parse().unwrap();
        let days = fill_days(
            first,
            &[day("2026-11-22", 2, 2, 0, 0), day("2026-11-23", 4, 1, 1, 1)],
        );
        let chart = Chart::of(&days);
        assert_eq!(chart.max, 4);
        let last = &chart.bars[55];
        let stacked: i64 = last.segments.iter().map(|s| s.height).sum();
        assert_eq!(stacked, chart.bottom - chart.top, "4 of 4 fills the plot");
        assert_eq!(last.segments.len(), 4);
        assert!(last.segments.iter().all(|s| s.y >= chart.top));
        let half: i64 = chart.bars[54].segments.iter().map(|s| s.height).sum();
        assert_eq!(half, (chart.bottom - chart.top) / 2);
        assert!(chart.bars[0].segments.is_empty());
        assert_eq!(chart.ticks.len(), 8);
    }

    #[test]
    fn visiting_hours_are_shown_compactly_and_read_back_the_same() {
        for (written, shown) in [
            (
                "mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00",
                "mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00",
            ),
            ("wed 09:00-10:00", "wed 09:00-10:00"),
            (
                "mon,tue,thu 14:00-15:00; sun 10:00-11:00",
                "mon,tue 14:00-15:00; thu 14:00-15:00; sun 10:00-11:00",
            ),
            ("mon-sun 08:00-20:00", "mon-sun 08:00-20:00"),
        ] {
            let hours = VisitingHours::parse(written).unwrap();
            assert_eq!(compact_hours(&hours), shown);
            assert_eq!(VisitingHours::parse(shown).unwrap(), hours);
        }
    }

    #[test]
    fn errors_keep_the_first_message_per_field() {
        let mut e = FieldErrors::default();
        e.push("name", "first");
        e.push("name", "second");
        assert_eq!(e.get("name"), Some("first"));
        assert_eq!(e.get("other"), None);
        assert!(e.absorb(DomainError::NotFound).is_err());
    }
}

// ---------------------------------------------------------------------------
// Data subject requests (GDPR Art. 15 and 17)
//
// The address travels only in POST bodies — never in a URL, where logs and
// browser history would keep it — and is never logged: the log and the
// audit trail name the contact by id.

/// What an erasure would remove, shown before it is confirmed.
pub struct ErasePreview {
    pub email: String,
    pub contact: bool,
    pub bookings: usize,
    pub future: usize,
    pub mail: usize,
    pub mail_files: usize,
    pub errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "admin_subjects.html")]
pub struct SubjectsPage {
    pub nav: Nav,
    pub export_email: String,
    pub export_errors: FieldErrors,
    pub erase_email: String,
    pub erase_errors: FieldErrors,
    pub preview: Option<ErasePreview>,
    /// What an erasure just removed, counts only.
    pub erased: Option<String>,
}

impl SubjectsPage {
    fn blank(user: &StaffUser) -> SubjectsPage {
        SubjectsPage {
            nav: Nav::of(user),
            export_email: String::new(),
            export_errors: FieldErrors::default(),
            erase_email: String::new(),
            erase_errors: FieldErrors::default(),
            preview: None,
            erased: None,
        }
    }
}

/// The longest address RFC 5321 allows.
const EMAIL_MAX: usize = 254;

/// What is said when an address finds nothing.
const NOBODY: &str = "Nothing is stored about this address: no family contact, queued mail or \
                      mail file has it. Check the spelling; bedside may also have deleted it already.";

#[derive(Debug, Deserialize)]
struct SubjectFields {
    email: Option<String>,
    email_again: Option<String>,
}

/// The address from the form, or the problem with it.
fn subject_email(value: Option<&str>) -> std::result::Result<String, String> {
    let v = value.unwrap_or_default().trim();
    if v.is_empty() {
        return Err("Enter the person's e-mail address.".into());
    }
    if v.chars().count() > EMAIL_MAX || !v.contains('@') || v.chars().any(char::is_control) {
        return Err(
            "This is not an e-mail address; write it as it was given, e.g. name@example.org."
                .into(),
        );
    }
    Ok(v.to_string())
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// `GET /staff/admin/subjects`
pub async fn subjects_show(state: &State, request: &Request) -> Result<Response> {
    let user = session::require_admin(state, request).await?;
    render(Status::OK, &SubjectsPage::blank(&user))
}

/// `POST /staff/admin/subjects/export`: the same JSON as `bedside subject
/// export`, as a download no cache keeps. Audited (by contact id).
pub async fn subject_export(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: SubjectFields = parse_form(request)?;
    let mut page = SubjectsPage::blank(&user);
    page.export_email = form.email.clone().unwrap_or_default();
    let email = match subject_email(form.email.as_deref()) {
        Ok(e) => e,
        Err(message) => {
            page.export_errors.push("email", message);
            return render(Status::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let retention = state.config.retention.clone();
    let mail_dir = crate::retention::mail_dir(&state.config.db_path());
    let now = state.clock.now().as_second();
    let actor = Actor::Staff(user.id);
    let exported = state
        .store
        .write(move |tx| {
            let export = subject::export(tx, &email, &retention, &mail_dir)?;
            let contacts = crate::store::bookings::contact_ids_by_email(tx, &email)?;
            let object = subject::audit_object(&contacts);
            audit::record(tx, actor, "subject.export", object.as_deref(), "ok", now)?;
            Ok::<_, DomainError>((export, contacts))
        })
        .await;
    let (export, contacts) = match exported {
        Ok(e) => e,
        Err(DomainError::NotFound) => {
            page.export_errors.push("email", NOBODY);
            return render(Status::NOT_FOUND, &page);
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(staff = user.id, contacts = ?contacts, "subject export downloaded");
    let body = serde_json::to_string_pretty(&export).map_err(|e| {
        tracing::error!(error = %e, "could not serialise a subject export");
        Error::Conflict("the export could not be written".into())
    })?;
    let mut response = text(Status::OK, &body);
    with_header(
        &mut response,
        http::header::CONTENT_TYPE,
        "application/json; charset=utf-8",
    );
    with_header(
        &mut response,
        http::header::CONTENT_DISPOSITION,
        "attachment; filename=\"bedside-subject-export.json\"",
    );
    with_header(&mut response, http::header::CACHE_CONTROL, "no-store");
    Ok(response)
}

/// `POST /staff/admin/subjects/erase`: with `email` only, shows what would
/// be erased and asks for the address again; with `email_again` matching,
/// erases through the same domain code as `bedside subject erase` and
/// shows the counts.
pub async fn subject_erase(state: &State, request: &Request) -> Result<Response> {
    let user = admin_change(state, request).await?;
    let form: SubjectFields = parse_form(request)?;
    let mut page = SubjectsPage::blank(&user);
    page.erase_email = form.email.clone().unwrap_or_default();
    let email = match subject_email(form.email.as_deref()) {
        Ok(e) => e,
        Err(message) => {
            page.erase_errors.push("email", message);
            return render(Status::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let mail_dir = crate::retention::mail_dir(&state.config.db_path());
    let now = state.clock.now();

    let confirmed = form.email_again.as_deref().map(|a| same_address(a, &email));
    if confirmed == Some(true) {
        let actor = Actor::Staff(user.id);
        let (e, dir) = (email.clone(), mail_dir.clone());
        let erased = state
            .store
            .write(move |tx| subject::erase(tx, &e, actor, now.as_second(), &dir))
            .await;
        match erased {
            Ok(erased) => {
                // Out of the WAL too, not just unlinked.
                if !state.store.checkpoint().await? {
                    tracing::warn!(
                        "after an erasure a reader kept the WAL from being truncated; the next checkpoint does it"
                    );
                }
                tracing::info!(staff = user.id, contacts = ?erased.contact_ids, "subject erased");
                page.erase_email.clear();
                page.erased = Some(format!(
                    "Erased: {} family contact(s), {} booking(s) ({} still to come, cancelled first without mail), \
                     {} mail(s) and {} mail file(s). The audit trail records the counts, not the address.",
                    erased.contact_ids.len(),
                    erased.bookings,
                    erased.cancelled,
                    erased.mail,
                    erased.mail_files
                ));
                return render(Status::OK, &page);
            }
            Err(DomainError::NotFound) => {
                page.erase_errors.push("email", NOBODY);
                return render(Status::NOT_FOUND, &page);
            }
            Err(e) => return Err(e.into()),
        }
    }

    // The confirmation step: what would go, read without changing anything.
    let retention = state.config.retention.clone();
    let (e, dir) = (email.clone(), mail_dir.clone());
    let found = state
        .store
        .read(move |c| subject::export(c, &e, &retention, &dir))
        .await;
    let export = match found {
        Ok(x) => x,
        Err(DomainError::NotFound) => {
            page.erase_errors.push("email", NOBODY);
            return render(Status::NOT_FOUND, &page);
        }
        Err(e) => return Err(e.into()),
    };
    let future = export
        .bookings
        .iter()
        .filter(|b| {
            b.status == "booked" && b.ends_at.parse::<Timestamp>().is_ok_and(|end| end > now)
        })
        .count();
    let mut errors = FieldErrors::default();
    if confirmed == Some(false) {
        errors.push(
            "email_again",
            "This is not the address above; nothing was erased. Type the same address again.",
        );
    }
    page.preview = Some(ErasePreview {
        email,
        contact: !export.contacts.is_empty(),
        bookings: export.bookings.len(),
        future,
        mail: export.mail.len(),
        mail_files: export.mail_files.len(),
        errors,
    });
    let status = if confirmed == Some(false) {
        Status::UNPROCESSABLE_ENTITY
    } else {
        Status::OK
    };
    render(status, &page)
}
