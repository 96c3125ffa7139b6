//! The tablet kiosk's rules: which tablet a device link belongs to, what
//! the tablet shows next today, and whether it is inside a visit's join
//! window right now.
//!
//! A tablet sees its own bookings only, as labels and times. The family's
//! contact row is never loaded here, so no name or address can reach the
//! ward's screen or the tablet's token.

use jiff::{Timestamp, ToSpan};
use rusqlite::Connection;

use super::DomainError;
use super::booking::{Phase, Visit};
use super::codes::Code;
use super::slots;
use super::unit::{self, Unit};
use crate::jitsi::TokenUser;
use crate::store::bookings::{self as bq, BookingRow};
use crate::store::units::{self as uq, TabletRow};

/// The longest name the tablet gets in a call: Jitsi shows it on a tile,
/// and [`TokenUser`] refuses longer ones.
const MAX_CALL_NAME_CHARS: usize = 100;

/// What the tablet is called in a call when its own name cannot be used
/// (a label that looks like an e-mail address, which tokens refuse).
const FALLBACK_CALL_NAME: &str = "Ward tablet";

/// A tablet opened through its device link, with its unit.
#[derive(Debug, Clone)]
pub struct Kiosk {
    pub tablet: TabletRow,
    pub unit: Unit,
}

/// The tablet behind a device code. Unknown, malformed and replaced codes
/// are the same `NotFound`.
pub fn by_device_code(conn: &Connection, code: &str) -> Result<Kiosk, DomainError> {
    let code = Code::parse(code).ok_or(DomainError::NotFound)?;
    let tablet = uq::tablet_by_device(conn, &code.hash())?.ok_or(DomainError::NotFound)?;
    let unit = unit::by_id(conn, tablet.unit_id)?;
    Ok(Kiosk { tablet, unit })
}

/// When a token minted for the open visit is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindow {
    /// The window's start (start − early join).
    pub not_before: Timestamp,
    /// End + grace: the tablet stays this long, so a family is not cut
    /// off mid-sentence when the slot ends.
    pub expires: Timestamp,
}

/// What the tablet shows at one moment.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The visit whose window is open now; otherwise the next booked visit
    /// today; `None` when the tablet is done for the day.
    pub next: Option<Visit>,
    /// Set when `next` is inside its join window.
    pub open: Option<JoinWindow>,
}

/// The tablet's schedule at `now`: its live bookings from yesterday (a
/// visit may run across midnight) to the end of today, plus those whose
/// window opens before midnight.
pub fn schedule(conn: &Connection, kiosk: &Kiosk, now: Timestamp) -> Result<Schedule, DomainError> {
    let unit = &kiosk.unit;
    let out_of_range = || DomainError::Conflict("the date is out of range".into());
    let today = slots::local(unit, now)
        .start_of_day()
        .map_err(|_| out_of_range())?;
    let yesterday = today.checked_sub(1.day()).map_err(|_| out_of_range())?;
    let tomorrow = today.checked_add(1.day()).map_err(|_| out_of_range())?;
    let tomorrow = tomorrow.timestamp();
    let bookings = bq::unit_bookings_between(
        conn,
        unit.id,
        yesterday.timestamp().as_second(),
        (tomorrow + unit.early_join).as_second(),
    )?;
    Ok(plan(unit, kiosk.tablet.id, bookings, now, tomorrow))
}

/// [`schedule`] without the database: of `bookings` (any tablet, any
/// status), the open visit of `tablet_id`, or else its next visit that
/// starts before `day_end`. When windows overlap (no buffer between
/// visits), the earlier visit goes first.
pub fn plan(
    unit: &Unit,
    tablet_id: i64,
    mut bookings: Vec<BookingRow>,
    now: Timestamp,
    day_end: Timestamp,
) -> Schedule {
    bookings.retain(|b| b.tablet_id == tablet_id);
    bookings.sort_by_key(|b| (b.starts_at, b.id));
    let mut upcoming = None;
    for booking in bookings {
        let visit = Visit::new(booking, unit.clone(), None);
        match visit.phase(now) {
            Phase::Open {
                not_before,
                expires,
            } => {
                return Schedule {
                    next: Some(visit),
                    open: Some(JoinWindow {
                        not_before,
                        expires,
                    }),
                };
            }
            Phase::Waiting { .. } if upcoming.is_none() && visit.start() < day_end => {
                upcoming = Some(visit);
            }
            _ => {}
        }
    }
    Schedule {
        next: upcoming,
        open: None,
    }
}

/// The tablet as participants see it in a call, "<tablet> · <unit>",
/// with the token user that carries that name. The unit's name is
/// shortened when both do not fit on a tile.
pub fn call_identity(kiosk: &Kiosk) -> (String, TokenUser) {
    let id = format!("tablet-{}", kiosk.tablet.id);
    let name = call_name(&kiosk.tablet.label, &kiosk.unit.name);
    match TokenUser::new(&id, &name) {
        Ok(user) => (name, user),
        Err(_) => {
            let user = TokenUser::new(&id, FALLBACK_CALL_NAME)
                .expect("the fallback name is a valid token user");
            (FALLBACK_CALL_NAME.to_string(), user)
        }
    }
}

/// "Tablet 1 · Ward 3", at most [`MAX_CALL_NAME_CHARS`] characters.
pub fn call_name(tablet: &str, unit: &str) -> String {
    const SEPARATOR: &str = " · ";
    let room_for_unit =
        MAX_CALL_NAME_CHARS.saturating_sub(tablet.chars().count() + SEPARATOR.chars().count());
    let unit = if unit.chars().count() <= room_for_unit {
        unit.to_string()
    } else {
        let kept: String = unit.chars().take(room_for_unit.saturating_sub(1)).collect();
        format!("{}…", kept.trim_end())
    };
    format!("{tablet}{SEPARATOR}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hours::VisitingHours;
    use crate::domain::unit::FamilyDisplay;
    use jiff::SignedDuration;
    use jiff::tz::TimeZone;

    fn ward() -> Unit {
        Unit {
            id: 1,
            name: "Ward 3".into(),
            time_zone_name: "Europe/Amsterdam".into(),
            time_zone: TimeZone::get("Europe/Amsterdam").unwrap(),
            hours: VisitingHours::parse("mon-sun 14:00-16:00").unwrap(),
            slot: SignedDuration::from_mins(30),
            buffer: SignedDuration::from_mins(0),
            horizon_days: 7,
            max_visits_per_day: 2,
            early_join: SignedDuration::from_mins(10),
            grace: SignedDuration::from_mins(5),
            family_display: FamilyDisplay::Name,
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn booking(id: i64, tablet_id: i64, start: &str, status: &str) -> BookingRow {
        let start = ts(start);
        BookingRow {
            id,
            patient_id: 1,
            patient_label: format!("Bed {id}"),
            unit_id: 1,
            tablet_id,
            tablet_label: format!("Tablet {tablet_id}"),
            contact_id: Some(1),
            starts_at: start.as_second(),
            ends_at: (start + SignedDuration::from_mins(30)).as_second(),
            room: format!("room{id}"),
            status: status.into(),
            cancelled_by: None,
        }
    }

    /// Monday 23 November 2026 ends at 23:00 UTC in Amsterdam.
    const DAY_END: &str = "2026-11-23T23:00:00Z";

    fn ids(s: &Schedule) -> (Option<i64>, bool) {
        (s.next.as_ref().map(|v| v.booking.id), s.open.is_some())
    }

    #[test]
    fn the_next_visit_is_the_earliest_booked_one_of_this_tablet() {
        let bookings = vec![
            booking(3, 1, "2026-11-23T14:00:00Z", "booked"),
            booking(2, 2, "2026-11-23T12:00:00Z", "booked"),
            booking(1, 1, "2026-11-23T13:00:00Z", "cancelled"),
            booking(4, 1, "2026-11-23T13:30:00Z", "booked"),
        ];
        let s = plan(
            &ward(),
            1,
            bookings,
            ts("2026-11-23T08:00:00Z"),
            ts(DAY_END),
        );
        assert_eq!(ids(&s), (Some(4), false));
    }

    #[test]
    fn inside_the_window_the_visit_is_open_from_early_join_to_end_plus_grace() {
        let bookings = vec![booking(1, 1, "2026-11-23T13:00:00Z", "booked")];
        let unit = ward();
        let at = |t| plan(&unit, 1, bookings.clone(), ts(t), ts(DAY_END));
        assert_eq!(ids(&at("2026-11-23T12:49:59Z")), (Some(1), false));
        let open = at("2026-11-23T12:50:00Z");
        assert_eq!(
            open.open,
            Some(JoinWindow {
                not_before: ts("2026-11-23T12:50:00Z"),
                expires: ts("2026-11-23T13:35:00Z"),
            })
        );
        assert_eq!(ids(&at("2026-11-23T13:29:59Z")), (Some(1), true));
        // The slot's end closes the window; nothing else is on today.
        assert_eq!(ids(&at("2026-11-23T13:30:00Z")), (None, false));
    }

    #[test]
    fn done_cancelled_and_other_tablets_visits_never_open() {
        for status in ["cancelled", "patient-unavailable", "done", "no-show"] {
            let bookings = vec![booking(1, 1, "2026-11-23T13:00:00Z", status)];
            let s = plan(
                &ward(),
                1,
                bookings,
                ts("2026-11-23T13:10:00Z"),
                ts(DAY_END),
            );
            assert_eq!(ids(&s), (None, false), "{status}");
        }
        let bookings = vec![booking(1, 2, "2026-11-23T13:00:00Z", "booked")];
        let s = plan(
            &ward(),
            1,
            bookings,
            ts("2026-11-23T13:10:00Z"),
            ts(DAY_END),
        );
        assert_eq!(ids(&s), (None, false));
    }

    #[test]
    fn overlapping_windows_keep_the_earlier_visit_until_its_end() {
        // No buffer: the 13:30 visit's window opens at 13:20, inside the
        // 13:00 visit.
        let bookings = vec![
            booking(2, 1, "2026-11-23T13:30:00Z", "booked"),
            booking(1, 1, "2026-11-23T13:00:00Z", "booked"),
        ];
        let unit = ward();
        let at = |t| plan(&unit, 1, bookings.clone(), ts(t), ts(DAY_END));
        assert_eq!(ids(&at("2026-11-23T13:25:00Z")), (Some(1), true));
        assert_eq!(ids(&at("2026-11-23T13:30:00Z")), (Some(2), true));
    }

    #[test]
    fn tomorrows_visits_are_not_next_but_one_opening_before_midnight_is() {
        let bookings = vec![booking(1, 1, "2026-11-24T13:00:00Z", "booked")];
        let s = plan(
            &ward(),
            1,
            bookings,
            ts("2026-11-23T20:00:00Z"),
            ts(DAY_END),
        );
        assert_eq!(ids(&s), (None, false));
        // 00:05 local tomorrow opens at 23:55 local today.
        let bookings = vec![booking(1, 1, "2026-11-23T23:05:00Z", "booked")];
        let s = plan(
            &ward(),
            1,
            bookings,
            ts("2026-11-23T22:56:00Z"),
            ts(DAY_END),
        );
        assert_eq!(ids(&s), (Some(1), true));
    }

    #[test]
    fn the_call_name_is_tablet_and_unit_and_fits_a_tile() {
        assert_eq!(call_name("Tablet 1", "Ward 3"), "Tablet 1 · Ward 3");
        let long_unit = "Intensive care and high dependency unit, east wing, floor 3";
        let name = call_name(&"T".repeat(40), long_unit);
        assert_eq!(name.chars().count(), MAX_CALL_NAME_CHARS);
        assert!(name.ends_with('…'), "{name}");
        assert!(TokenUser::new("tablet-1", &name).is_ok());
    }

    #[test]
    fn a_label_a_token_refuses_falls_back_to_a_plain_name() {
        let kiosk = Kiosk {
            tablet: TabletRow {
                id: 7,
                unit_id: 1,
                label: "tablet@ward3.example".into(),
                active: true,
            },
            unit: ward(),
        };
        let (name, _) = call_identity(&kiosk);
        assert_eq!(name, FALLBACK_CALL_NAME);
    }
}
