//! The privacy statement and the record of processing, both written from
//! the running configuration so that the retention times they name are
//! the ones the purge applies.
//!
//! The statement's version is derived from its English text: change a
//! retention time (or the hospital's name or privacy contact) and the
//! version changes with it, so a family's consent names the statement it
//! actually read.

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::Config;
use crate::i18n::{Lang, fill};

/// One part of the statement: a heading and its paragraphs.
#[derive(Debug, Clone)]
pub struct Section {
    pub heading: &'static str,
    pub paragraphs: Vec<String>,
}

/// The statement in one language, without its version line.
#[derive(Debug, Clone)]
pub struct Statement {
    pub heading: &'static str,
    pub intro: String,
    pub sections: Vec<Section>,
    /// The sentence naming the hospital's privacy contact, if one is set.
    pub contact: Option<String>,
}

impl Statement {
    /// The statement as plain text, one paragraph a line: what the version
    /// is computed over.
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n{}\n", self.heading, self.intro);
        for s in &self.sections {
            out.push_str(s.heading);
            out.push('\n');
            for p in &s.paragraphs {
                out.push_str(p);
                out.push('\n');
            }
        }
        if let Some(c) = &self.contact {
            out.push_str(c);
            out.push('\n');
        }
        out
    }
}

/// "30 min", "12 h", "1 h 30 min": durations the way every offered
/// language can read them.
pub fn span(d: Duration) -> String {
    let mins = d.as_secs().div_ceil(60);
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The privacy statement in `lang`, with the configured numbers.
pub fn statement(config: &Config, lang: Lang) -> Statement {
    let t = lang.text();
    let r = &config.retention;
    let days = |n: u32| n.to_string();
    Statement {
        heading: t.privacy_heading,
        intro: fill(t.privacy_intro_fmt, &[&config.mail.hospital_name]),
        sections: vec![
            Section {
                heading: t.privacy_stored_heading,
                paragraphs: [
                    t.privacy_stored_patients,
                    t.privacy_stored_family,
                    t.privacy_stored_bookings,
                    t.privacy_stored_staff,
                    t.privacy_stored_tablets,
                ]
                .map(String::from)
                .to_vec(),
            },
            Section {
                heading: t.privacy_why_heading,
                paragraphs: vec![t.privacy_why.into()],
            },
            Section {
                heading: t.privacy_who_heading,
                paragraphs: vec![t.privacy_who_ward.into(), t.privacy_who_admin.into()],
            },
            Section {
                heading: t.privacy_keep_heading,
                paragraphs: vec![
                    fill(t.privacy_keep_bookings_fmt, &[&days(r.booking_days)]),
                    t.privacy_keep_family.into(),
                    fill(t.privacy_keep_patients_fmt, &[&days(r.patient_days)]),
                    fill(t.privacy_keep_meetings_fmt, &[&days(r.booking_days)]),
                    fill(t.privacy_keep_mail_fmt, &[&days(r.mail_days)]),
                    fill(t.privacy_keep_audit_fmt, &[&days(r.audit_days)]),
                    fill(
                        t.privacy_keep_sessions_fmt,
                        &[
                            &span(config.staff.session_idle),
                            &span(config.staff.session_max),
                        ],
                    ),
                    t.privacy_keep_counts.into(),
                    fill(
                        t.privacy_purge_fmt,
                        &[&span(r.purge_interval), &r.purge_schedule],
                    ),
                ],
            },
            Section {
                heading: t.privacy_calls_heading,
                paragraphs: vec![t.privacy_calls.into()],
            },
        ],
        contact: (!config.privacy.contact.is_empty())
            .then(|| fill(t.privacy_contact_fmt, &[&config.privacy.contact])),
    }
}

/// The version of the statement this configuration produces: the first 12
/// hex digits of the SHA-256 of its English text. What a family's consent
/// records.
pub fn privacy_version(config: &Config) -> String {
    let text = statement(config, Lang::En).plain_text();
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..6]
        .iter()
        .fold(String::with_capacity(12), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The GDPR Art. 30 record of processing, in Markdown, from `config`.
pub fn record(config: &Config) -> String {
    let r = &config.retention;
    let contact = if config.privacy.contact.is_empty() {
        "(not configured: set `privacy.contact` / BEDSIDE_PRIVACY_CONTACT)".to_string()
    } else {
        config.privacy.contact.clone()
    };
    let relay = match &config.mail.smtp {
        Some(s) => format!(
            "- The hospital's SMTP relay ({}:{}, TLS: {:?}): recipient address and mail content.",
            s.host, s.port, s.tls
        ),
        None => format!(
            "- No SMTP relay configured: mails are written as `.eml` files into the data directory \
             (`mail/`), deleted {} days after they were written.",
            config.retention.mail_days
        ),
    };
    let mut md = String::new();
    let mut line = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
    line("# Record of processing activities (GDPR Art. 30): bedside video visits");
    line("");
    line(&format!(
        "Privacy statement version: `{}` (published at {}/privacy)",
        privacy_version(config),
        config.server.public_url
    ));
    line("");
    line("## Controller");
    line("");
    line(&format!("- Controller: {}", config.mail.hospital_name));
    line(&format!("- Privacy contact: {contact}"));
    line("");
    line("## Purposes");
    line("");
    line(
        "- Arranging and holding video visits between hospitalised patients and their families: offering times, sending the visit link, reminders and cancellations, bringing a tablet to the bed.",
    );
    line("- Accountability: an audit trail of staff and administrator actions.");
    line("");
    line("## Categories of data subjects and personal data");
    line("");
    line("| Data subjects | Personal data |");
    line("|---|---|");
    line("| Patients | pseudonymous label chosen by staff, ward, discharge time |");
    line(
        "| Family members | name, e-mail address (encrypted at rest), language, time of consent and privacy statement version |",
    );
    line("| Bookings | times, tablet, video room name, visit status |");
    line(
        "| Guests of instant meetings | the e-mail address a guest link was sent to (only while the mail is queued) |",
    );
    line("| Staff | account name, role, wards, login times; audit trail of actions |");
    line("| Tablets (devices) | label, ward |");
    line("");
    line(
        "No health data beyond presence on a ward; no call content: audio and video go through the hospital's Jitsi Meet and are not recorded or stored by bedside.",
    );
    line("");
    line("## Recipients");
    line("");
    line(
        "- The hospital's ward staff: labels, times and tablets of their own wards; the family member's name only where the ward shows names; never the e-mail address.",
    );
    line("- The hospital's IT administrators: all data; every administrator action is audited.");
    line(&format!(
        "- The hospital's Jitsi Meet ({}): the room name and the display name of who joins.",
        config.jitsi.public_url
    ));
    line(&relay);
    line("- No transfers outside the hospital or to third countries by bedside.");
    line("");
    line("## Retention");
    line("");
    line("| Data | Kept until | Setting |");
    line("|---|---|---|");
    line(&format!(
        "| Booking, visit link, room | visit end + {} days | `retention.booking_days` = {} |",
        r.booking_days, r.booking_days
    ));
    line(
        "| Family member's name, e-mail, language, consent | their last booking is deleted | follows bookings |",
    );
    line(&format!(
        "| Instant meeting, its guest invitation and address | meeting end + {} days (the address: once the mail is sent) | `retention.booking_days` = {} |",
        r.booking_days, r.booking_days
    ));
    line(&format!(
        "| Patient label and invite | discharge + {} days | `retention.patient_days` = {} |",
        r.patient_days, r.patient_days
    ));
    line(&format!(
        "| Record of a sent mail; a mail written as a file (no relay) | {} days after sending or writing | `retention.mail_days` = {} |",
        r.mail_days, r.mail_days
    ));
    line(&format!(
        "| Audit trail | {} days | `retention.audit_days` = {} |",
        r.audit_days, r.audit_days
    ));
    line(&format!(
        "| Staff sessions | {} unused, {} at most | `staff.session_idle`, `staff.session_max` |",
        span(config.staff.session_idle),
        span(config.staff.session_max)
    ));
    line("| Per-ward daily counts (no persons) | kept | — |");
    line("");
    line(&format!(
        "Deletion is automatic: the purge runs on the schedule `{}` (UTC), at least every {}.",
        r.purge_schedule,
        span(r.purge_interval)
    ));
    line("");
    line("## Technical and organisational measures");
    line("");
    line(
        "- Data minimisation: a patient is a pseudonymous label; a family member is a name, an e-mail address and a language.",
    );
    line("- Contact data encrypted at rest; no personal data, code or token in log lines.");
    line("- Invite and visit codes: at least 128 bits of randomness, stored only as hashes.");
    line("- Staff passwords hashed with Argon2id.");
    line(
        "- Staff sessions in `__Host-` cookies (Secure, HttpOnly, SameSite), CSRF protection on every form.",
    );
    line("- SQLite `secure_delete`: deleted data is overwritten, not left in free pages.");
    line(
        "- Requests from data subjects: export and erasure by e-mail address (admin pages, `bedside subject`); staff can delete one visit's data at once.",
    );
    line(
        "- TLS to the mail relay (implicit or STARTTLS; plain text only to a relay on the same machine).",
    );
    line("- Login and code guessing throttled per client address.");
    line("- Role-based access per ward; every administrator action audited.");
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_every_language() {
        assert_eq!(span(Duration::from_secs(30 * 60)), "30 min");
        assert_eq!(span(Duration::from_secs(12 * 3600)), "12 h");
        assert_eq!(span(Duration::from_secs(5400)), "1 h 30 min");
    }
}
