//! Weekly visiting hours: when a ward receives video visits.
//!
//! Written the way a ward manager would say it, and stored in the same
//! canonical form:
//!
//! ```text
//! mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00
//! ```
//!
//! Times are wall-clock times in the ward's own time zone; converting them
//! to instants (and across daylight-saving changes) is done by
//! [`crate::domain::slots`].

use jiff::civil::{Time, Weekday};

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// One visiting window on a day: from `start` until `end` (wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Time,
    pub end: Time,
}

/// The windows of each weekday, Monday first, each day's sorted and
/// non-overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VisitingHours {
    days: [Vec<Window>; 7],
}

impl VisitingHours {
    /// The windows on `day`.
    pub fn on(&self, day: Weekday) -> &[Window] {
        &self.days[day.to_monday_zero_offset() as usize]
    }

    /// True when no day has a window.
    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// Parses the written form; the error says what to write instead.
    pub fn parse(text: &str) -> Result<VisitingHours, String> {
        let mut hours = VisitingHours::default();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (days, ranges) = entry.split_once(char::is_whitespace).ok_or_else(|| {
                format!("'{entry}' needs days and times, e.g. \"mon-fri 14:00-16:00\"")
            })?;
            let days = parse_days(days)?;
            let mut windows = Vec::new();
            for range in ranges.split(',').map(str::trim) {
                windows.push(parse_window(range)?);
            }
            for day in days {
                hours.days[day].extend(windows.iter().copied());
            }
        }
        for (i, windows) in hours.days.iter_mut().enumerate() {
            windows.sort_by_key(|w| w.start);
            if let Some(pair) = windows.windows(2).find(|p| p[1].start < p[0].end) {
                return Err(format!(
                    "on {} the times {} and {} overlap; merge them or move one",
                    DAYS[i].0,
                    fmt_window(pair[0]),
                    fmt_window(pair[1])
                ));
            }
        }
        if hours.is_empty() {
            return Err(
                "no visiting hours given; write e.g. \"mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00\""
                    .into(),
            );
        }
        Ok(hours)
    }
}

impl std::fmt::Display for VisitingHours {
    /// The canonical form: one entry per day that has windows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (i, windows) in self.days.iter().enumerate() {
            if windows.is_empty() {
                continue;
            }
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            let list: Vec<String> = windows.iter().map(|w| fmt_window(*w)).collect();
            write!(f, "{} {}", DAYS[i].0, list.join(", "))?;
        }
        Ok(())
    }
}

fn fmt_window(w: Window) -> String {
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        w.start.hour(),
        w.start.minute(),
        w.end.hour(),
        w.end.minute()
    )
}

fn day_index(name: &str) -> Result<usize, String> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = name.to_ascii_lowercase();
    DAYS.iter()
        .zip(FULL)
        .position(|((short, _), full)| lower == *short || lower == full)
        .ok_or_else(|| format!("'{name}' is not a day; use mon, tue, wed, thu, fri, sat or sun"))
}

fn parse_days(spec: &str) -> Result<Vec<usize>, String> {
    let mut days = Vec::new();
    for part in spec.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day_index(from)?, day_index(to)?);
                if from > to {
                    return Err(format!(
                        "'{part}' runs backwards; write the days Monday first, e.g. mon-fri"
                    ));
                }
                days.extend(from..=to);
            }
            None => days.push(day_index(part)?),
        }
    }
    Ok(days)
}

fn parse_window(range: &str) -> Result<Window, String> {
    let bad = || format!("'{range}' is not a time range; write e.g. 14:00-16:00");
    let (start, end) = range.split_once('-').ok_or_else(bad)?;
    let time = |t: &str| -> Result<Time, String> {
        let (h, m) = t.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        Time::new(h, m, 0, 0).map_err(|_| bad())
    };
    let window = Window {
        start: time(start)?,
        end: time(end)?,
    };
    if window.end <= window.start {
        return Err(format!(
            "'{range}' ends before it starts; visiting hours cannot cross midnight"
        ));
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_lists_and_several_windows() {
        let h =
            VisitingHours::parse("mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00").unwrap();
        assert_eq!(h.on(Weekday::Wednesday).len(), 2);
        assert_eq!(h.on(Weekday::Sunday)[0].start, Time::constant(10, 0, 0, 0));
        assert_eq!(
            h.to_string(),
            "mon 14:00-16:00, 18:00-19:30; tue 14:00-16:00, 18:00-19:30; \
             wed 14:00-16:00, 18:00-19:30; thu 14:00-16:00, 18:00-19:30; \
             fri 14:00-16:00, 18:00-19:30; sat 10:00-12:00; sun 10:00-12:00"
        );
        // The canonical form reads back the same.
        assert_eq!(VisitingHours::parse(&h.to_string()).unwrap(), h);
    }

    #[test]
    fn refuses_what_a_ward_could_not_mean() {
        for (bad, hint) in [
            ("", "no visiting hours"),
            ("mon", "needs days and times"),
            ("funday 10:00-11:00", "not a day"),
            ("fri-mon 10:00-11:00", "runs backwards"),
            ("mon 16:00-14:00", "ends before it starts"),
            ("mon 22:00-02:00", "cannot cross midnight"),
            ("mon 25:00-26:00", "not a time range"),
            ("mon 10-11", "not a time range"),
            ("mon 10:00-12:00; mon 11:00-13:00", "overlap"),
        ] {
            let err = VisitingHours::parse(bad).unwrap_err();
            assert!(err.contains(hint), "{bad}: {err}");
        }
    }
}
