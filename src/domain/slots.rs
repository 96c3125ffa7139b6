//! Which visit times a ward offers, and how many tablets are free for each.
//!
//! Visiting hours are wall-clock times in the ward's zone. Each day's
//! windows are turned into instants with that day's UTC offset (so 14:00 in
//! Amsterdam is 13:00 UTC in winter and 12:00 in summer), and slots are laid
//! out from each window's start in real elapsed time: slot, buffer, slot, …
//! as long as a whole slot fits before the window ends. A window that spans
//! a daylight-saving change therefore holds exactly as many slots as real
//! minutes allow; a wall-clock time that does not exist (the skipped hour)
//! is read as the first instant after the gap.
//!
//! A tablet is free for a slot when none of its live bookings comes within
//! the unit's buffer of it — overlap-based, so bookings made under an older
//! slot length still block correctly.

use jiff::{Timestamp, ToSpan, Zoned};

use super::unit::Unit;

/// One bookable time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A live booking occupying a tablet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub tablet_id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Every slot of `unit` that starts after `now` and on a local day from
/// today up to `horizon_days` ahead, in time order.
pub fn grid(unit: &Unit, now: Timestamp) -> Vec<Slot> {
    let today = now.to_zoned(unit.time_zone.clone()).date();
    let step = unit.slot + unit.buffer;
    let mut slots = Vec::new();
    for offset in 0..=unit.horizon_days {
        let Ok(date) = today.checked_add(offset.days()) else {
            break;
        };
        for (open, close) in windows(unit, date) {
            let mut start = open;
            while let Ok(end) = start.checked_add(unit.slot) {
                if end > close {
                    break;
                }
                if start > now {
                    slots.push(Slot { start, end });
                }
                let Ok(next) = start.checked_add(step) else {
                    break;
                };
                start = next;
            }
        }
    }
    slots
}

/// The active tablets (by id, in the order given) with no live booking
/// within `unit.buffer` of `slot`.
pub fn free_tablets(unit: &Unit, active: &[i64], busy: &[Busy], slot: Slot) -> Vec<i64> {
    let (from, until) = (slot.start - unit.buffer, slot.end + unit.buffer);
    active
        .iter()
        .copied()
        .filter(|t| {
            !busy
                .iter()
                .any(|b| b.tablet_id == *t && b.start < until && from < b.end)
        })
        .collect()
}

/// The slot of `unit` that starts at `start`, if [`grid`] at `now` has
/// it — worked out for that one day instead of building the whole grid.
pub fn slot_at(unit: &Unit, now: Timestamp, start: Timestamp) -> Option<Slot> {
    if start <= now {
        return None;
    }
    let today = now.to_zoned(unit.time_zone.clone()).date();
    let date = start.to_zoned(unit.time_zone.clone()).date();
    let last = today.checked_add(unit.horizon_days.days()).ok()?;
    if date < today || date > last {
        return None;
    }
    let step = (unit.slot + unit.buffer).as_secs();
    if step <= 0 {
        return None;
    }
    for (open, close) in windows(unit, date) {
        let Ok(end) = start.checked_add(unit.slot) else {
            continue;
        };
        let offset = start.duration_since(open).as_secs();
        if start >= open && end <= close && offset % step == 0 {
            return Some(Slot { start, end });
        }
    }
    None
}

/// The visiting-hours windows of `unit` on local `date`, as instants
/// (opening, closing); a window that cannot be placed in the zone is left out.
fn windows(
    unit: &Unit,
    date: jiff::civil::Date,
) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
    unit.hours
        .on(date.weekday())
        .iter()
        .filter_map(move |window| {
            let open = date
                .to_datetime(window.start)
                .to_zoned(unit.time_zone.clone())
                .ok()?;
            let close = date
                .to_datetime(window.end)
                .to_zoned(unit.time_zone.clone())
                .ok()?;
            Some((open.timestamp(), close.timestamp()))
        })
}

/// The local calendar day a slot is on, in the unit's zone.
pub fn local(unit: &Unit, t: Timestamp) -> Zoned {
    t.to_zoned(unit.time_zone.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hours::VisitingHours;
    use crate::domain::unit::FamilyDisplay;
    use jiff::SignedDuration;
    use jiff::tz::TimeZone;

    fn unit(zone: &str, hours: &str, slot: i64, buffer: i64, horizon: i64) -> Unit {
        Unit {
            id: 1,
            name: "Ward 3".into(),
            time_zone_name: zone.into(),
            time_zone: TimeZone::get(zone).unwrap(),
            hours: VisitingHours::parse(hours).unwrap(),
            slot: SignedDuration::from_mins(slot),
            buffer: SignedDuration::from_mins(buffer),
            horizon_days: horizon,
            max_visits_per_day: 2,
            early_join: SignedDuration::from_mins(10),
            grace: SignedDuration::from_mins(5),
            family_display: FamilyDisplay::Name,
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn local_times(u: &Unit, slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| local(u, s.start).strftime("%a %H:%M %Z").to_string())
            .collect()
    }

    /// `slot_at` answers for one start exactly what `grid` offers, minute by
    /// minute from a day before `now` to past the horizon, across both
    /// clock changes, with buffers, several windows a day and a window
    /// spanning the change.
    #[test]
    fn slot_at_agrees_with_the_grid_at_every_minute() {
        let cases = [
            (
                unit("Europe/Amsterdam", "sat,sun 14:00-15:00", 20, 10, 1),
                "2026-03-28T00:00:00Z",
            ),
            (
                unit("Europe/Stockholm", "mon-sun 01:00-04:00", 30, 0, 2),
                "2026-10-24T12:00:00Z",
            ),
            (
                unit("Europe/Amsterdam", "mon-sun 01:30-03:30", 25, 5, 2),
                "2026-03-28T09:17:00Z",
            ),
            (
                unit(
                    "Europe/Amsterdam",
                    "mon-fri 10:00-12:00, 14:00-16:30; sat 09:00-09:40",
                    15,
                    10,
                    7,
                ),
                "2026-11-23T10:05:00Z",
            ),
            (
                unit("UTC", "mon-sun 00:00-23:59", 5, 0, 7),
                "2026-11-23T03:00:00Z",
            ),
        ];
        for (u, now) in cases {
            let now = ts(now);
            let offered = grid(&u, now);
            let mut t = now - SignedDuration::from_hours(24);
            let end = now + SignedDuration::from_hours(24 * (u.horizon_days + 2));
            let mut found = 0;
            while t < end {
                let expected = offered.iter().find(|s| s.start == t).copied();
                assert_eq!(slot_at(&u, now, t), expected, "{} at {t}", u.time_zone_name);
                found += usize::from(expected.is_some());
                t += SignedDuration::from_mins(1);
            }
            assert_eq!(found, offered.len(), "{}", u.time_zone_name);
            assert!(found > 0);
        }
    }

    #[test]
    fn slots_follow_wall_clock_across_the_spring_change_in_amsterdam() {
        // 2026-03-29: clocks go from 02:00 CET to 03:00 CEST.
        let u = unit("Europe/Amsterdam", "sat,sun 14:00-15:00", 20, 10, 1);
        let slots = grid(&u, ts("2026-03-28T00:00:00Z"));
        assert_eq!(
            local_times(&u, &slots),
            [
                "Sat 14:00 CET",
                "Sat 14:30 CET",
                "Sun 14:00 CEST",
                "Sun 14:30 CEST"
            ]
        );
        // The same wall-clock time is an hour earlier in UTC after the change.
        assert_eq!(slots[0].start, ts("2026-03-28T13:00:00Z"));
        assert_eq!(slots[2].start, ts("2026-03-29T12:00:00Z"));
        assert_eq!(
            slots[0].end.duration_since(slots[0].start),
            SignedDuration::from_mins(20)
        );
    }

    #[test]
    fn slots_follow_wall_clock_across_the_autumn_change_in_stockholm() {
        // 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET.
        let u = unit(
            "Europe/Stockholm",
            "sat,sun 10:00-11:00, 18:00-19:00",
            30,
            0,
            1,
        );
        let slots = grid(&u, ts("2026-10-24T00:00:00Z"));
        assert_eq!(
            local_times(&u, &slots),
            [
                "Sat 10:00 CEST",
                "Sat 10:30 CEST",
                "Sat 18:00 CEST",
                "Sat 18:30 CEST",
                "Sun 10:00 CET",
                "Sun 10:30 CET",
                "Sun 18:00 CET",
                "Sun 18:30 CET"
            ]
        );
        assert_eq!(slots[0].start, ts("2026-10-24T08:00:00Z"));
        assert_eq!(slots[4].start, ts("2026-10-25T09:00:00Z"));
    }

    #[test]
    fn a_window_spanning_the_change_holds_the_real_minutes() {
        // 01:00–04:00 local on the spring night is two real hours.
        let u = unit("Europe/Amsterdam", "sun 01:00-04:00", 60, 0, 0);
        let slots = grid(&u, ts("2026-03-28T23:30:00Z"));
        assert_eq!(local_times(&u, &slots), ["Sun 01:00 CET", "Sun 03:00 CEST"]);
        // On the autumn night the same window is four real hours.
        let slots = grid(&u, ts("2026-10-24T22:30:00Z"));
        assert_eq!(
            local_times(&u, &slots),
            [
                "Sun 01:00 CEST",
                "Sun 02:00 CEST",
                "Sun 02:00 CET",
                "Sun 03:00 CET"
            ]
        );
    }

    #[test]
    fn a_skipped_wall_clock_time_opens_after_the_gap() {
        let u = unit("Europe/Amsterdam", "sun 02:30-04:00", 30, 0, 0);
        let slots = grid(&u, ts("2026-03-28T23:30:00Z"));
        assert_eq!(slots[0].start, ts("2026-03-29T01:30:00Z")); // 03:30 CEST
    }

    #[test]
    fn buffers_space_slots_and_several_windows_a_day_are_used() {
        let u = unit(
            "Europe/Amsterdam",
            "mon 14:00-16:00, 18:00-19:00",
            30,
            10,
            0,
        );
        // Monday 2026-11-23, before visiting hours.
        let slots = grid(&u, ts("2026-11-23T08:00:00Z"));
        assert_eq!(
            local_times(&u, &slots),
            [
                "Mon 14:00 CET",
                "Mon 14:40 CET",
                "Mon 15:20 CET", // 16:00 would end at 16:30
                "Mon 18:00 CET"
            ]
        );
    }

    #[test]
    fn past_slots_and_slots_beyond_the_horizon_are_never_offered() {
        let u = unit("Europe/Amsterdam", "mon-sun 14:00-15:00", 30, 0, 2);
        let now = ts("2026-11-23T13:15:00Z"); // Monday 14:15 local
        let slots = grid(&u, now);
        assert!(slots.iter().all(|s| s.start > now));
        assert_eq!(
            local_times(&u, &slots),
            [
                "Mon 14:30 CET",
                "Tue 14:00 CET",
                "Tue 14:30 CET",
                "Wed 14:00 CET",
                "Wed 14:30 CET"
            ]
        );
    }

    #[test]
    fn free_tablets_skip_booked_buffered_and_deactivated_ones() {
        let u = unit("Europe/Amsterdam", "mon 14:00-16:00", 30, 10, 0);
        let slots = grid(&u, ts("2026-11-23T08:00:00Z"));
        let (first, second) = (slots[0], slots[1]);
        // Tablet 3 is deactivated: simply not in the active list.
        let active = [1, 2];
        let busy = [Busy {
            tablet_id: 1,
            start: first.start,
            end: first.end,
        }];
        assert_eq!(free_tablets(&u, &active, &busy, first), [2]);
        assert_eq!(free_tablets(&u, &active, &busy, second), [1, 2]);
        // A booking that ran late into the buffer blocks the next slot.
        let late = [Busy {
            tablet_id: 2,
            start: first.start,
            end: first.end + SignedDuration::from_mins(5),
        }];
        assert_eq!(free_tablets(&u, &active, &late, second), [1]);
    }
}
