//! Booking a visit, cancelling it, and where a visit link stands in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jiff::{SignedDuration, Timestamp, ToSpan};
use ring::rand::SecureRandom;
use rusqlite::Connection;

use super::codes::Code;
use super::notify::{BookedNotice, CancelReason, NewVisit, Notifier};
use super::slots::{self, Busy, Slot};
use super::unit::{self, Unit};
use super::{DomainError, short_text};
use crate::i18n::Lang;
use crate::jitsi::RoomName;
use crate::jitsi::token::TokenUser;
use crate::retention::Horizon;
use crate::store::bookings::{self as q, BookingRow, ContactRow, NewBookingRow};
use crate::store::cache::ReadCache;
use crate::store::patients::PatientRow;
use crate::store::units as uq;

/// The longest e-mail address SMTP can carry (RFC 5321 §4.5.3.1: 254 in a path).
const MAX_EMAIL: usize = 254;

/// What a family (or a hospital system on their behalf) gives to book.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    /// The chosen slot's start, seconds since the epoch (as offered).
    pub slot_start: i64,
    pub name: String,
    pub email: String,
    pub language: String,
    pub consent: bool,
    /// The version of the privacy statement shown when consenting
    /// (`crate::privacy::privacy_version`), recorded with the contact.
    pub privacy_version: String,
}

/// A booking just made. The visit code is shown this once; only its hash is kept.
#[derive(Debug)]
pub struct Booked {
    pub id: i64,
    pub visit: Code,
    pub start: Timestamp,
    pub end: Timestamp,
    pub tablet_label: String,
}

/// One slot as offered, with how many tablets are still free.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    pub slot: Slot,
    pub free: usize,
}

/// Active tablets and live bookings around the unit's slots.
fn occupancy(
    conn: &Connection,
    unit: &Unit,
    from: Timestamp,
    until: Timestamp,
) -> Result<(Vec<i64>, Vec<Busy>), DomainError> {
    let active: Vec<i64> = uq::tablets_of_unit(conn, unit.id)?
        .into_iter()
        .filter(|t| t.active)
        .map(|t| t.id)
        .collect();
    let margin = unit.buffer;
    let busy = q::busy_between(
        conn,
        unit.id,
        (from - margin).as_second(),
        (until + margin).as_second(),
    )?
    .into_iter()
    .filter_map(|(tablet_id, s, e)| {
        Some(Busy {
            tablet_id,
            start: Timestamp::from_second(s).ok()?,
            end: Timestamp::from_second(e).ok()?,
        })
    })
    .collect();
    Ok((active, busy))
}

/// The unit's slots from now to the horizon that still have a free tablet.
pub fn free_slots(
    conn: &Connection,
    unit: &Unit,
    now: Timestamp,
) -> Result<Vec<Offer>, DomainError> {
    let grid = slots::grid(unit, now);
    let (Some(first), Some(last)) = (grid.first(), grid.last()) else {
        return Ok(Vec::new());
    };
    let (active, busy) = occupancy(conn, unit, first.start, last.end)?;
    Ok(grid
        .into_iter()
        .map(|slot| Offer {
            slot,
            free: slots::free_tablets(unit, &active, &busy, slot).len(),
        })
        .filter(|o| o.free > 0)
        .collect())
}

/// Every problem with the family's entries at once, field by field, so a
/// form can mark them all in one go. Empty when `book` would accept them.
pub fn problems(req: &BookingRequest) -> Vec<(&'static str, String)> {
    [
        check_name(req).err(),
        check_email(req).err(),
        check_language(req).err(),
        check_consent(req).err(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|e| match e {
        DomainError::Invalid { field, message } => Some((field, message)),
        _ => None,
    })
    .collect()
}

fn check_name(req: &BookingRequest) -> Result<String, DomainError> {
    short_text("name", &req.name, 100)
}

fn check_email(req: &BookingRequest) -> Result<String, DomainError> {
    let email = req.email.trim();
    let options = email_address::Options::default()
        .with_required_tld()
        .without_domain_literal()
        .without_display_text();
    if email.is_empty() {
        return Err(DomainError::invalid(
            "email",
            "is required: the visit link is sent there",
        ));
    }
    if email.len() > MAX_EMAIL
        || email_address::EmailAddress::parse_with_options(email, options).is_err()
    {
        return Err(DomainError::invalid(
            "email",
            "does not look like an e-mail address; check it, e.g. name@example.org",
        ));
    }
    Ok(email.to_string())
}

fn check_language(req: &BookingRequest) -> Result<Lang, DomainError> {
    Lang::parse(&req.language).ok_or_else(|| {
        DomainError::invalid(
            "language",
            format!(
                "is not offered; choose one of: {}",
                Lang::ALL
                    .iter()
                    .map(|l| l.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn check_consent(req: &BookingRequest) -> Result<(), DomainError> {
    if req.consent {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "consent",
            "please read the privacy statement and tick the box to agree",
        ))
    }
}

fn check_request(req: &BookingRequest) -> Result<(String, String, Lang), DomainError> {
    let name = check_name(req)?;
    let email = check_email(req)?;
    let lang = check_language(req)?;
    check_consent(req)?;
    Ok((name, email, lang))
}

/// Books `req.slot_start` for `patient` on `unit`, composing the family's
/// mail inside the transaction: [`prepare`] and [`book_prepared`] in one
/// go, for callers outside the server (tests, seeding tools).
pub fn book(
    conn: &Connection,
    patient: &PatientRow,
    unit: &Unit,
    req: &BookingRequest,
    now: Timestamp,
    rng: &dyn SecureRandom,
    notify: Option<&dyn Notifier>,
) -> Result<Booked, DomainError> {
    let prepared = prepare(patient, unit, req, now, rng, None)?;
    book_prepared(conn, patient, unit, prepared, now, notify)
}

/// A booking checked, given its codes and its family's mail composed
/// before its write transaction; what is left is the part that must be
/// inside it ([`book_prepared`]). The server prepares on the request's own
/// task, so this work does not queue every other booking behind it on the
/// one writer thread.
pub struct Prepared {
    req: BookingRequest,
    name: String,
    email: String,
    lang: Lang,
    room: RoomName,
    visit: Code,
    /// The mail, and what it was composed from: it is used only if the
    /// transaction finds the same patient label, ward and slot.
    notice: Option<(Basis, Box<dyn BookedNotice>)>,
}

/// What a family's mail says about a visit besides the family's own entries.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Basis {
    patient_id: i64,
    patient_label: String,
    unit_id: i64,
    unit_name: String,
    time_zone: String,
    slot: (i64, i64),
}

impl Basis {
    fn of(patient: &PatientRow, unit: &Unit, slot: Slot) -> Basis {
        Basis {
            patient_id: patient.id,
            patient_label: patient.label.clone(),
            unit_id: unit.id,
            unit_name: unit.name.clone(),
            time_zone: unit.time_zone_name.clone(),
            slot: (slot.start.as_second(), slot.end.as_second()),
        }
    }
}

/// Checks `req` for `patient` on `unit` as they were read before the
/// transaction, makes the visit's room and code, and has `notify` compose
/// the family's mail. Nothing is written.
pub fn prepare(
    patient: &PatientRow,
    unit: &Unit,
    req: &BookingRequest,
    now: Timestamp,
    rng: &dyn SecureRandom,
    notify: Option<&dyn Notifier>,
) -> Result<Prepared, DomainError> {
    let slot = slot_of(unit, req, now)?;
    let (name, email, lang) = check_request(req)?;
    let room =
        RoomName::generate(rng).map_err(|_| DomainError::Conflict("no randomness".into()))?;
    let visit = Code::generate_for_visit(rng, slot.start.as_second()).ok_or_else(|| {
        DomainError::invalid(
            "slot",
            "that time cannot be booked; choose one of the times shown",
        )
    })?;
    let notice = match notify {
        Some(n) => Some((
            Basis::of(patient, unit, slot),
            compose(n, patient, unit, slot, &email, lang, &visit, now)?,
        )),
        None => None,
    };
    Ok(Prepared {
        req: req.clone(),
        name,
        email,
        lang,
        room,
        visit,
        notice,
    })
}

#[allow(clippy::too_many_arguments)]
fn compose(
    notify: &dyn Notifier,
    patient: &PatientRow,
    unit: &Unit,
    slot: Slot,
    email: &str,
    lang: Lang,
    visit: &Code,
    now: Timestamp,
) -> Result<Box<dyn BookedNotice>, DomainError> {
    notify.compose_booked(
        &NewVisit {
            patient_label: &patient.label,
            unit,
            start: slot.start,
            end: slot.end,
            email,
            lang,
            visit,
        },
        now.as_second(),
    )
}

/// The slot `req` asks for, if `unit` offers it at `now`.
fn slot_of(unit: &Unit, req: &BookingRequest, now: Timestamp) -> Result<Slot, DomainError> {
    Timestamp::from_second(req.slot_start)
        .ok()
        .and_then(|start| slots::slot_at(unit, now, start))
        .ok_or_else(|| {
            DomainError::invalid(
                "slot",
                "that time cannot be booked (it has passed, is outside visiting hours or too far ahead); choose one of the times shown",
            )
        })
}

/// Books a [`prepare`]d visit for `patient` on `unit` as this transaction
/// reads them. Run it inside one `BEGIN IMMEDIATE` transaction: capacity is
/// re-checked there and a free tablet assigned, so two families can never
/// get the same tablet; the unique index on (tablet, start) is the last
/// guard. Mail composed from another label, ward or slot than the
/// transaction's (changed since it was read) is composed again here, with
/// `notify`.
pub fn book_prepared(
    conn: &Connection,
    patient: &PatientRow,
    unit: &Unit,
    prepared: Prepared,
    now: Timestamp,
    notify: Option<&dyn Notifier>,
) -> Result<Booked, DomainError> {
    let Prepared {
        req,
        name,
        email,
        lang,
        room,
        visit,
        notice,
    } = prepared;
    let req = &req;
    let slot = slot_of(unit, req, now)?;
    // The code carries the visit's start, which finds it (`codes`).
    if visit.visit_start() != Some(slot.start.as_second()) {
        return Err(DomainError::Conflict(
            "the ward's visiting times changed meanwhile; please choose a time again".into(),
        ));
    }
    let notice = match (notice, notify) {
        (Some((basis, notice)), _) if basis == Basis::of(patient, unit, slot) => Some(notice),
        (_, Some(n)) => Some(compose(n, patient, unit, slot, &email, lang, &visit, now)?),
        (_, None) => None,
    };

    let day = slots::local(unit, slot.start)
        .start_of_day()
        .map_err(|_| DomainError::NotFound)?;
    let next_day = day
        .checked_add(1.day())
        .map_err(|_| DomainError::NotFound)?;
    let that_day = q::patient_bookings_between(
        conn,
        patient.id,
        day.timestamp().as_second(),
        next_day.timestamp().as_second(),
    )?;
    if that_day >= unit.max_visits_per_day {
        return Err(DomainError::Conflict(format!(
            "{} already has {that_day} visit(s) on that day, the most this ward allows; choose another day",
            patient.label
        )));
    }

    // The first active tablet free for the slot and its buffers, as
    // `slots::free_tablets` would pick it.
    let (from, until) = (
        (slot.start - unit.buffer).as_second(),
        (slot.end + unit.buffer).as_second(),
    );
    let Some((tablet_id, tablet_label)) = q::first_free_tablet(conn, unit.id, from, until)? else {
        return Err(slot_full());
    };

    let now_s = now.as_second();
    let contact_id = q::contact_insert(
        conn,
        &name,
        &email,
        lang.code(),
        &req.privacy_version,
        now_s,
    )?;
    let local_day = slots::local(unit, slot.start).date().to_string();
    let id = q::booking_insert(
        conn,
        &NewBookingRow {
            patient_id: patient.id,
            contact_id: Some(contact_id),
            tablet_id,
            starts_at: slot.start.as_second(),
            ends_at: slot.end.as_second(),
            room: room.as_str(),
            visit_hash: &visit.hash(),
            local_day: &local_day,
        },
        now_s,
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            slot_full()
        }
        e => e.into(),
    })?;
    if let Some(notice) = notice {
        notice.queue(conn, id)?;
    }
    Ok(Booked {
        id,
        visit,
        start: slot.start,
        end: slot.end,
        tablet_label,
    })
}

fn slot_full() -> DomainError {
    DomainError::Conflict("that time has just been taken (slot full); please choose another".into())
}

/// A visit as its link sees it.
#[derive(Debug, Clone)]
pub struct Visit {
    pub booking: BookingRow,
    pub unit: Unit,
    pub contact: Option<ContactRow>,
    /// The room and the family's name in the meeting, worked out (and
    /// checked) from the rows above the first time the link is opened;
    /// `None` if they do not pass. A visit is kept in memory only while
    /// none of its rows has changed, and this with it.
    pub joins_as: OnceLock<Option<(RoomName, TokenUser)>>,
}

impl Visit {
    pub fn new(booking: BookingRow, unit: Unit, contact: Option<ContactRow>) -> Visit {
        Visit {
            booking,
            unit,
            contact,
            joins_as: OnceLock::new(),
        }
    }
}

/// The visit behind a code. Unknown and malformed codes, and visits past
/// retention (`horizon`), are the same `NotFound`.
pub fn visit_by_code(
    conn: &Connection,
    code: &str,
    horizon: Horizon,
) -> Result<Visit, DomainError> {
    let code = Code::parse_link(code).ok_or(DomainError::NotFound)?;
    let booking = q::booking_by_visit(conn, code.visit_start(), &code.hash())?
        .filter(|b| horizon.keeps(b.ends_at))
        .ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, booking.unit_id)?;
    let contact = match booking.contact_id {
        Some(id) => q::contact_by_id(conn, id)?,
        None => None,
    };
    Ok(Visit::new(booking, unit, contact))
}

/// Visits recently opened by their link, kept in memory so a family that
/// reloads, or a whole ward's families at the top of the hour, cost no
/// database read. An entry is used only while the store's generation is the
/// one read *before* the rows were ([`ReadCache`]): any committed change to a
/// booking, unit, contact, patient or tablet (a cancellation, a status, a
/// moved tablet, an erasure, a purge) makes every entry stale at once.
/// Retention and the join window are judged from the clock at each
/// request, as without it.
pub struct VisitCache {
    /// Code hash → the visit.
    pub visits: ReadCache<Arc<Visit>>,
    /// When each visit's last join was logged (booking id → second).
    joins: Mutex<HashMap<i64, i64>>,
}

/// A family that joins the same visit again within this long (a reload, a
/// dropped connection) is not logged again at `info`.
pub const JOIN_LOG_QUIET: SignedDuration = SignedDuration::from_mins(10);

/// Most visits kept; a full cache starts over (a day's visits on a big
/// hospital's wards fit many times).
const VISIT_CACHE_ENTRIES: usize = 4096;

impl VisitCache {
    pub fn new() -> VisitCache {
        VisitCache {
            visits: ReadCache::new(VISIT_CACHE_ENTRIES),
            joins: Mutex::new(HashMap::new()),
        }
    }

    /// True when a join of visit `booking` at `now` is the first in
    /// [`JOIN_LOG_QUIET`], so worth a log line for the ward's support.
    pub fn join_worth_logging(&self, booking: i64, now: Timestamp) -> bool {
        let now = now.as_second();
        let mut joins = self.joins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&last) = joins.get(&booking)
            && (0..JOIN_LOG_QUIET.as_secs()).contains(&(now - last))
        {
            return false;
        }
        if joins.len() >= VISIT_CACHE_ENTRIES {
            joins.retain(|_, last| now - *last < JOIN_LOG_QUIET.as_secs());
            if joins.len() >= VISIT_CACHE_ENTRIES {
                joins.clear();
            }
        }
        joins.insert(booking, now);
        true
    }
}

impl Default for VisitCache {
    fn default() -> Self {
        VisitCache::new()
    }
}

/// Where a visit stands at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the join window; it opens at `opens`.
    Waiting { opens: Timestamp },
    /// Inside the window: a token may be minted, valid from `not_before`
    /// to `expires`.
    Open {
        not_before: Timestamp,
        expires: Timestamp,
    },
    /// Over, or marked done / no-show.
    Ended,
    /// Cancelled, by the family, staff, discharge or "patient unavailable".
    Cancelled,
}

impl Visit {
    pub fn start(&self) -> Timestamp {
        Timestamp::from_second(self.booking.starts_at).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    pub fn end(&self) -> Timestamp {
        Timestamp::from_second(self.booking.ends_at).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The join window is [start − early join, end); the token it mints is
    /// valid from the window's start until end + grace, so a family that
    /// joined late is not cut off mid-sentence when the slot ends.
    pub fn phase(&self, now: Timestamp) -> Phase {
        match self.booking.status.as_str() {
            "cancelled" | "patient-unavailable" => return Phase::Cancelled,
            "done" | "no-show" => return Phase::Ended,
            _ => {}
        }
        let opens = self.start() - self.unit.early_join;
        if now < opens {
            Phase::Waiting { opens }
        } else if now < self.end() {
            Phase::Open {
                not_before: opens,
                expires: self.end() + self.unit.grace,
            }
        } else {
            Phase::Ended
        }
    }
}

/// Cancels the visit behind `code` on the family's request.
pub fn cancel_by_code(
    conn: &Connection,
    code: &str,
    now: Timestamp,
    horizon: Horizon,
    notify: Option<&dyn Notifier>,
) -> Result<Visit, DomainError> {
    let visit = visit_by_code(conn, code, horizon)?;
    cancel(conn, &visit, "family", now)?;
    if let Some(n) = notify {
        n.visit_cancelled(
            conn,
            visit.booking.id,
            CancelReason::Family,
            now.as_second(),
        )?;
    }
    visit_by_code(conn, code, horizon)
}

/// Cancels a booking by id (hospital systems, staff).
pub fn cancel_by_id(
    conn: &Connection,
    id: i64,
    by: &str,
    now: Timestamp,
    notify: Option<&dyn Notifier>,
) -> Result<BookingRow, DomainError> {
    let booking = q::booking_by_id(conn, id)?.ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, booking.unit_id)?;
    let visit = Visit::new(booking, unit, None);
    cancel(conn, &visit, by, now)?;
    if let Some(n) = notify {
        n.visit_cancelled(conn, id, CancelReason::Staff, now.as_second())?;
    }
    q::booking_by_id(conn, id)?.ok_or(DomainError::NotFound)
}

fn cancel(conn: &Connection, visit: &Visit, by: &str, now: Timestamp) -> Result<(), DomainError> {
    match visit.phase(now) {
        Phase::Cancelled => Err(DomainError::Conflict(
            "this visit was cancelled already".into(),
        )),
        Phase::Ended => Err(DomainError::Conflict("this visit has already ended".into())),
        Phase::Waiting { .. } | Phase::Open { .. } => {
            q::booking_cancel(conn, visit.booking.id, "cancelled", by, now.as_second())?;
            Ok(())
        }
    }
}

/// A unit's bookings on the local day of `date` (every status), but those
/// past retention (`horizon`).
pub fn day_of_unit(
    conn: &Connection,
    unit: &Unit,
    date: jiff::civil::Date,
    horizon: Horizon,
) -> Result<Vec<BookingRow>, DomainError> {
    let start = date
        .to_zoned(unit.time_zone.clone())
        .map_err(|_| DomainError::invalid("date", "is not a day in this unit's time zone"))?;
    let end = start
        .checked_add(1.day())
        .map_err(|_| DomainError::invalid("date", "is out of range"))?;
    let mut rows = q::unit_bookings_between(
        conn,
        unit.id,
        start.timestamp().as_second(),
        end.timestamp().as_second(),
    )?;
    rows.retain(|b| horizon.keeps(b.ends_at));
    Ok(rows)
}

/// How long before `opens` a waiting page should reload itself: at most a
/// minute, and exactly when the window opens.
pub fn refresh_after(opens: Timestamp, now: Timestamp) -> SignedDuration {
    (opens.duration_since(now)).clamp(SignedDuration::from_secs(1), SignedDuration::from_secs(60))
}

/// What staff may set a booked visit to.
pub const STAFF_STATUSES: &[&str] = &["done", "no-show", "patient-unavailable"];

/// Staff mark a booked visit done, no-show, or "patient unavailable" (which
/// cancels it; the family is told by mail once mail exists).
pub fn set_status(
    conn: &Connection,
    booking_id: i64,
    status: &str,
    actor: super::audit::Actor,
    now: Timestamp,
    notify: Option<&dyn Notifier>,
) -> Result<BookingRow, DomainError> {
    if !STAFF_STATUSES.contains(&status) {
        return Err(DomainError::invalid(
            "status",
            format!("use one of: {}", STAFF_STATUSES.join(", ")),
        ));
    }
    let booking = q::booking_by_id(conn, booking_id)?.ok_or(DomainError::NotFound)?;
    if booking.status != "booked" {
        return Err(DomainError::Conflict(format!(
            "this visit is {} already",
            booking.status
        )));
    }
    if status == "patient-unavailable" {
        q::booking_cancel(
            conn,
            booking_id,
            "patient-unavailable",
            "staff",
            now.as_second(),
        )?;
        if let Some(n) = notify {
            n.visit_cancelled(
                conn,
                booking_id,
                CancelReason::PatientUnavailable,
                now.as_second(),
            )?;
        }
    } else {
        q::booking_set_status(conn, booking_id, status)?;
    }
    super::audit::record(
        conn,
        actor,
        &format!("visit.{status}"),
        Some(&format!("booking:{booking_id}")),
        "ok",
        now.as_second(),
    )?;
    q::booking_by_id(conn, booking_id)?.ok_or(DomainError::NotFound)
}

/// The unit's other active tablets that are free for this booking's time.
pub fn free_tablets_for(
    conn: &Connection,
    booking: &BookingRow,
    unit: &Unit,
) -> Result<Vec<(i64, String)>, DomainError> {
    let (start, end) = (
        Timestamp::from_second(booking.starts_at).map_err(|_| DomainError::NotFound)?,
        Timestamp::from_second(booking.ends_at).map_err(|_| DomainError::NotFound)?,
    );
    let (active, busy) = occupancy(conn, unit, start, end)?;
    let busy: Vec<Busy> = busy
        .into_iter()
        .filter(|b| !(b.tablet_id == booking.tablet_id && b.start.as_second() == booking.starts_at))
        .collect();
    let free = slots::free_tablets(unit, &active, &busy, Slot { start, end });
    Ok(uq::tablets_of_unit(conn, unit.id)?
        .into_iter()
        .filter(|t| free.contains(&t.id) && t.id != booking.tablet_id)
        .map(|t| (t.id, t.label))
        .collect())
}

/// Moves a booked visit to another free tablet of its unit.
pub fn move_tablet(
    conn: &Connection,
    booking_id: i64,
    tablet_id: i64,
    actor: super::audit::Actor,
    now: Timestamp,
) -> Result<BookingRow, DomainError> {
    let booking = q::booking_by_id(conn, booking_id)?.ok_or(DomainError::NotFound)?;
    if booking.status != "booked" {
        return Err(DomainError::Conflict(format!(
            "this visit is {}; it cannot be moved",
            booking.status
        )));
    }
    let unit = unit::by_id(conn, booking.unit_id)?;
    if !free_tablets_for(conn, &booking, &unit)?
        .iter()
        .any(|(id, _)| *id == tablet_id)
    {
        return Err(DomainError::invalid(
            "tablet_id",
            "that tablet is not free at this time (or not active, or on another ward)",
        ));
    }
    q::booking_set_tablet(conn, booking_id, tablet_id)?;
    super::audit::record(
        conn,
        actor,
        "visit.move",
        Some(&format!("booking:{booking_id}")),
        "ok",
        now.as_second(),
    )?;
    q::booking_by_id(conn, booking_id)?.ok_or(DomainError::NotFound)
}

/// A booking by id with its unit, whether past retention or not: for work
/// inside the write that made or changed it (the mail it sends). Pages and
/// the API use [`by_id_shown`].
pub fn by_id(conn: &Connection, booking_id: i64) -> Result<(BookingRow, Unit), DomainError> {
    let booking = q::booking_by_id(conn, booking_id)?.ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, booking.unit_id)?;
    Ok((booking, unit))
}

/// A booking by id with its unit (for staff pages and the API); one past
/// retention (`horizon`) is `NotFound`.
pub fn by_id_shown(
    conn: &Connection,
    booking_id: i64,
    horizon: Horizon,
) -> Result<(BookingRow, Unit), DomainError> {
    let (booking, unit) = by_id(conn, booking_id)?;
    if horizon.keeps(booking.ends_at) {
        Ok((booking, unit))
    } else {
        Err(DomainError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it was asked to compose, and what got queued.
    #[derive(Default)]
    struct Recorder {
        log: Arc<Mutex<Vec<String>>>,
    }

    struct Notice {
        label: String,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Notifier for Recorder {
        fn compose_booked(
            &self,
            visit: &NewVisit<'_>,
            _now: i64,
        ) -> Result<Box<dyn BookedNotice>, DomainError> {
            let label = format!("{} on {}", visit.patient_label, visit.unit.name);
            self.log.lock().unwrap().push(format!("composed {label}"));
            Ok(Box::new(Notice {
                label,
                log: self.log.clone(),
            }))
        }

        fn visit_cancelled(
            &self,
            _: &Connection,
            _: i64,
            _: CancelReason,
            _: i64,
        ) -> Result<(), DomainError> {
            Ok(())
        }
    }

    impl BookedNotice for Notice {
        fn queue(self: Box<Self>, _: &Connection, id: i64) -> Result<(), DomainError> {
            self.log
                .lock()
                .unwrap()
                .push(format!("queued {} for {id}", self.label));
            Ok(())
        }
    }

    /// Mail composed before the transaction is queued as it is when the
    /// transaction reads the same patient and ward; composed again when
    /// they changed in between (a relabelled patient, a renamed ward), so
    /// a family is never told what the booking does not say.
    #[test]
    fn mail_composed_ahead_is_used_only_for_the_patient_and_ward_it_was_composed_for() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_for_command(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO units VALUES
                 (1, 'Ward 3', 'UTC', 'mon-sun 00:00-23:59', 30, 0, 7, 20, 10, 5, 'name', 0);
             INSERT INTO tablets (id, unit_id, label, created_at) VALUES (1, 1, 'T1', 0), (2, 1, 'T2', 0);
             INSERT INTO patients (id, unit_id, label, status, invite_hash, created_at)
                 VALUES (1, 1, 'Bed 1', 'active', x'01', 0);",
        )
        .unwrap();
        let (patient, ward) = super::super::patient::active_by_id(&conn, 1).unwrap();
        let now: Timestamp = "2026-11-23T08:00:00Z".parse().unwrap();
        let req = |hour: i64| BookingRequest {
            slot_start: now.as_second() + hour * 3600,
            name: "Anna".into(),
            email: "anna@example.org".into(),
            language: "en".into(),
            consent: true,
            privacy_version: "v1".into(),
        };
        let rng = ring::rand::SystemRandom::new();
        let notify = Recorder::default();
        let log = || std::mem::take(&mut *notify.log.lock().unwrap());

        let prepared = prepare(&patient, &ward, &req(1), now, &rng, Some(&notify)).unwrap();
        let booked = book_prepared(&conn, &patient, &ward, prepared, now, Some(&notify)).unwrap();
        assert_eq!(
            log(),
            [
                "composed Bed 1 on Ward 3".to_string(),
                format!("queued Bed 1 on Ward 3 for {}", booked.id)
            ]
        );

        let prepared = prepare(&patient, &ward, &req(2), now, &rng, Some(&notify)).unwrap();
        let relabelled = PatientRow {
            label: "Bed 1 window".into(),
            ..patient.clone()
        };
        let renamed = Unit {
            name: "Ward 3 east".into(),
            ..ward.clone()
        };
        let booked =
            book_prepared(&conn, &relabelled, &renamed, prepared, now, Some(&notify)).unwrap();
        assert_eq!(
            log(),
            [
                "composed Bed 1 on Ward 3".to_string(),
                "composed Bed 1 window on Ward 3 east".to_string(),
                format!("queued Bed 1 window on Ward 3 east for {}", booked.id)
            ]
        );

        // Without a notifier at preparation, the transaction composes.
        let booked = book(&conn, &patient, &ward, &req(3), now, &rng, Some(&notify)).unwrap();
        assert_eq!(
            log(),
            [
                "composed Bed 1 on Ward 3".to_string(),
                format!("queued Bed 1 on Ward 3 for {}", booked.id)
            ]
        );
    }

    #[test]
    fn a_visit_join_is_logged_once_per_quiet_period() {
        let cache = VisitCache::new();
        let t0: Timestamp = "2026-11-23T14:00:00Z".parse().unwrap();
        assert!(cache.join_worth_logging(1, t0));
        assert!(!cache.join_worth_logging(1, t0 + SignedDuration::from_secs(5)));
        assert!(cache.join_worth_logging(2, t0), "another visit is logged");
        assert!(!cache.join_worth_logging(1, t0 + JOIN_LOG_QUIET - SignedDuration::from_secs(1)));
        assert!(cache.join_worth_logging(1, t0 + JOIN_LOG_QUIET));
        // A clock set back (an operator fixing the time) logs again.
        assert!(cache.join_worth_logging(1, t0 - SignedDuration::from_mins(1)));
    }
}
