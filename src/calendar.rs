//! Calendar entries (RFC 5545 iCalendar) for a booked visit.
//!
//! Times are written in UTC (`…Z`), which every calendar shows in the
//! reader's own zone. Text is escaped and long lines are folded at 75
//! octets without splitting a UTF-8 character.

use jiff::Timestamp;

/// One visit as a calendar event.
#[derive(Debug)]
pub struct Event<'a> {
    /// Stable across updates and cancellation of the same booking.
    pub uid: &'a str,
    pub stamp: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    pub summary: &'a str,
    pub description: &'a str,
    pub url: &'a str,
}

/// A complete `VCALENDAR` with one `VEVENT`, for download (`METHOD:PUBLISH`).
pub fn ics(event: &Event<'_>) -> String {
    let lines = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//bedside//video visits//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:PUBLISH".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", escape(event.uid)),
        format!("DTSTAMP:{}", utc(event.stamp)),
        format!("DTSTART:{}", utc(event.start)),
        format!("DTEND:{}", utc(event.end)),
        format!("SUMMARY:{}", escape(event.summary)),
        format!("DESCRIPTION:{}", escape(event.description)),
        format!("URL:{}", event.url),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    let mut out = String::new();
    for line in lines {
        fold(&line, &mut out);
    }
    out
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 5545 §3.3.11: backslash, semicolon, comma and newline are escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// RFC 5545 §3.1: lines end in CRLF; longer than 75 octets, they continue
/// on the next line after a single space.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_valid_folded_escaped_event() {
        let text = ics(&Event {
            uid: "booking-7@visits.example.org",
            stamp: "2026-11-22T10:00:00Z".parse().unwrap(),
            start: "2026-11-23T13:00:00Z".parse().unwrap(),
            end: "2026-11-23T13:30:00Z".parse().unwrap(),
            summary: "Video visit with Bed 12, Ward 3; see you",
            description: &format!("Join: https://visits.example.org/v/{}\nÄÖÜ", "x".repeat(80)),
            url: "https://visits.example.org/v/abc",
        });
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(text.contains("DTSTART:20261123T130000Z\r\n"));
        assert!(text.contains("DTEND:20261123T133000Z\r\n"));
        assert!(text.contains("SUMMARY:Video visit with Bed 12\\, Ward 3\\; see you\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        // Unfolding gives back the escaped description.
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("{}\\nÄÖÜ", "x".repeat(80))));
    }
}
