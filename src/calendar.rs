//! Calendar entries (RFC 5545 iCalendar, RFC 5546 iTIP) for a visit.
//!
//! Times are written in the ward's zone (`DTSTART;TZID=Europe/Amsterdam:…`)
//! with a `VTIMEZONE` giving that zone's offset at the visit, so every
//! calendar places the visit right whatever zone the reader is in. Text is
//! escaped and long lines are folded at 75 octets without splitting a
//! UTF-8 character.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// What the calendar file asks of the reader's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A file to download and add.
    Publish,
    /// An invitation sent by mail (the booking confirmation).
    Request,
    /// The same event, cancelled.
    Cancel,
}

/// One visit as a calendar event.
#[derive(Debug)]
pub struct Event<'a> {
    /// Stable across updates and cancellation of the same booking.
    pub uid: &'a str,
    /// Bumped on every change of the same event (0 first, 1 for a cancel).
    pub sequence: u32,
    pub stamp: Timestamp,
    pub start: Timestamp,
    pub end: Timestamp,
    pub zone_name: &'a str,
    pub zone: &'a TimeZone,
    pub summary: &'a str,
    pub description: &'a str,
    pub url: &'a str,
    /// The sender (`ORGANIZER`) and the family (`ATTENDEE`), for mailed invitations.
    pub organizer: Option<&'a str>,
    pub attendee: Option<&'a str>,
}

/// A complete `VCALENDAR` with one `VEVENT`.
pub fn ics(event: &Event<'_>, method: Method) -> String {
    ics_without_uid(event, method).with_uid(event.uid)
}

/// A calendar file whose `UID` line is written last. A booking's `UID`
/// names its id, which exists only once its row is inserted; everything
/// else is known before. Composing the rest ahead keeps that work out of
/// the one write transaction all bookings share.
#[derive(Debug, Clone)]
pub struct WithoutUid {
    /// The folded lines before the `UID` line, and those after it.
    head: String,
    tail: String,
}

impl WithoutUid {
    /// The complete file, with `uid` in its place. Each content line is
    /// folded on its own, so the result is exactly what [`ics`] writes.
    pub fn with_uid(&self, uid: &str) -> String {
        let mut out = String::with_capacity(self.head.len() + self.tail.len() + uid.len() + 8);
        out.push_str(&self.head);
        fold(&format!("UID:{}", escape(uid)), &mut out);
        out.push_str(&self.tail);
        out
    }
}

/// [`ics`] but the `UID` line (`event.uid` is not read).
pub fn ics_without_uid(event: &Event<'_>, method: Method) -> WithoutUid {
    let local = |t: Timestamp| {
        t.to_zoned(event.zone.clone())
            .strftime("%Y%m%dT%H%M%S")
            .to_string()
    };
    let info = event.zone.to_offset_info(event.start);
    let offset = info.offset();
    let secs = offset.seconds();
    let sign = if secs < 0 { '-' } else { '+' };
    let offset_text = format!(
        "{sign}{:02}{:02}",
        secs.abs() / 3600,
        (secs.abs() % 3600) / 60
    );
    let observance = if info.dst().is_dst() {
        "DAYLIGHT"
    } else {
        "STANDARD"
    };
    let abbreviation = info.abbreviation().to_string();
    let lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//bedside//video visits//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        format!(
            "METHOD:{}",
            match method {
                Method::Publish => "PUBLISH",
                Method::Request => "REQUEST",
                Method::Cancel => "CANCEL",
            }
        ),
        "BEGIN:VTIMEZONE".into(),
        format!("TZID:{}", escape(event.zone_name)),
        format!("BEGIN:{observance}"),
        "DTSTART:19700101T000000".into(),
        format!("TZOFFSETFROM:{offset_text}"),
        format!("TZOFFSETTO:{offset_text}"),
        format!("TZNAME:{}", escape(&abbreviation)),
        format!("END:{observance}"),
        "END:VTIMEZONE".into(),
        "BEGIN:VEVENT".into(),
    ];
    let mut head = String::new();
    for line in lines {
        fold(&line, &mut head);
    }
    let mut lines = vec![
        format!("SEQUENCE:{}", event.sequence),
        format!("DTSTAMP:{}", event.stamp.strftime("%Y%m%dT%H%M%SZ")),
        format!("DTSTART;TZID={}:{}", event.zone_name, local(event.start)),
        format!("DTEND;TZID={}:{}", event.zone_name, local(event.end)),
        format!("SUMMARY:{}", escape(event.summary)),
        format!("DESCRIPTION:{}", escape(event.description)),
        format!("URL:{}", event.url),
    ];
    if let Some(organizer) = event.organizer {
        lines.push(format!("ORGANIZER:mailto:{organizer}"));
    }
    if let Some(attendee) = event.attendee {
        lines.push(format!("ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:{attendee}"));
    }
    lines.push(format!(
        "STATUS:{}",
        if method == Method::Cancel {
            "CANCELLED"
        } else {
            "CONFIRMED"
        }
    ));
    lines.push("END:VEVENT".into());
    lines.push("END:VCALENDAR".into());
    let mut tail = String::new();
    for line in lines {
        fold(&line, &mut tail);
    }
    WithoutUid { head, tail }
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

    fn event<'a>(zone: &'a TimeZone, description: &'a str) -> Event<'a> {
        Event {
            uid: "booking-7@visits.example.org",
            sequence: 0,
            stamp: "2026-11-22T10:00:00Z".parse().unwrap(),
            start: "2026-11-23T13:00:00Z".parse().unwrap(),
            end: "2026-11-23T13:30:00Z".parse().unwrap(),
            zone_name: "Europe/Amsterdam",
            zone,
            summary: "Video visit with Bed 12, Ward 3; see you",
            description,
            url: "https://visits.example.org/v/abc",
            organizer: Some("videovisits@example.org"),
            attendee: Some("anna@example.org"),
        }
    }

    #[test]
    fn writes_a_valid_folded_escaped_event_in_the_wards_zone() {
        let zone = TimeZone::get("Europe/Amsterdam").unwrap();
        let description = format!("Join: https://visits.example.org/v/{}\nÄÖÜ", "x".repeat(80));
        let text = ics(&event(&zone, &description), Method::Request);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(text.contains("METHOD:REQUEST\r\n"));
        assert!(text.contains("DTSTART;TZID=Europe/Amsterdam:20261123T140000\r\n"));
        assert!(text.contains("DTEND;TZID=Europe/Amsterdam:20261123T143000\r\n"));
        assert!(text.contains("TZOFFSETTO:+0100\r\n"));
        assert!(text.contains("SUMMARY:Video visit with Bed 12\\, Ward 3\\; see you\r\n"));
        assert!(text.contains("ORGANIZER:mailto:videovisits@example.org\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("{}\\nÄÖÜ", "x".repeat(80))));
    }

    /// The `UID` goes in last, where [`ics`] always put it, folded like any
    /// other line however long the host.
    #[test]
    fn the_uid_written_last_lands_in_its_place() {
        let zone = TimeZone::get("Europe/Amsterdam").unwrap();
        let e = event(&zone, "x");
        let text = ics(&e, Method::Request);
        assert!(
            text.contains("BEGIN:VEVENT\r\nUID:booking-7@visits.example.org\r\nSEQUENCE:0\r\n")
        );
        let uid = format!("booking-123456@{}.example.org", "h".repeat(80));
        let later = ics_without_uid(&e, Method::Request).with_uid(&uid);
        assert_eq!(later, ics(&Event { uid: &uid, ..e }, Method::Request));
        assert!(later.split("\r\n").all(|line| line.len() <= 75));
        assert!(
            later
                .replace("\r\n ", "")
                .contains(&format!("\r\nUID:{uid}\r\nSEQUENCE:0\r\n"))
        );
    }

    #[test]
    fn summer_visits_get_the_summer_offset_and_cancels_say_so() {
        let zone = TimeZone::get("Europe/Stockholm").unwrap();
        let mut e = event(&zone, "x");
        e.zone_name = "Europe/Stockholm";
        e.start = "2026-07-01T12:00:00Z".parse().unwrap();
        e.end = "2026-07-01T12:30:00Z".parse().unwrap();
        e.sequence = 1;
        let text = ics(&e, Method::Cancel);
        assert!(text.contains("BEGIN:DAYLIGHT\r\n"));
        assert!(text.contains("TZOFFSETTO:+0200\r\n"));
        assert!(text.contains("DTSTART;TZID=Europe/Stockholm:20260701T140000\r\n"));
        assert!(text.contains("METHOD:CANCEL\r\nBEGIN:VTIMEZONE"));
        assert!(text.contains("SEQUENCE:1\r\n") && text.contains("STATUS:CANCELLED\r\n"));
    }
}
