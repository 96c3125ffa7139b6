//! The family pages: templates (askama, HTML auto-escaped) and the values
//! they show. All wording comes from [`crate::i18n`].

use askama::Template;
use jiff::{SignedDuration, Timestamp};

use super::response::{Response, html};
use crate::domain::booking::Offer;
use crate::domain::slots;
use crate::domain::unit::Unit;
use crate::error::Error;
use crate::i18n::{self, Lang, Text, fill};

/// Renders a template into a response with `status`.
pub fn render<T: Template>(status: http::StatusCode, page: &T) -> Result<Response, Error> {
    match page.render() {
        Ok(body) => Ok(html(status, body)),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            Err(Error::Conflict("page could not be shown".into()))
        }
    }
}

/// "Monday 23 November 2026, 14:00" in the unit's zone, written the way
/// `lang` writes dates.
pub fn when(lang: Lang, unit: &Unit, t: Timestamp) -> String {
    i18n::format_when(lang, &slots::local(unit, t))
}

/// "14:00"
fn clock(unit: &Unit, t: Timestamp) -> String {
    slots::local(unit, t).strftime("%H:%M").to_string()
}

/// "2 h 05 min" / "12 min" / "1 min"
pub fn duration(t: &Text, d: SignedDuration) -> String {
    let mins = (d.as_secs() + 59) / 60;
    if mins >= 60 {
        format!("{} h {:02} min", mins / 60, mins % 60)
    } else {
        fill(t.minutes_fmt, &[&mins.max(1).to_string()])
    }
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub lang: &'static str,
    pub t: &'static Text,
    pub heading: String,
    pub unit_name: String,
    pub invite: String,
    pub csrf: String,
    pub zone_note: String,
    pub days: Vec<Day>,
    pub name: String,
    pub email: String,
    pub language: String,
    pub languages: Vec<(&'static str, &'static str)>,
    pub consent: bool,
    pub errors: Vec<(&'static str, String)>,
}

impl InvitePage {
    /// The on-page name of a form field, for the error summary.
    pub fn label(&self, field: &str) -> &'static str {
        match field {
            "slot" => self.t.choose_time,
            "name" => self.t.name_label,
            "email" => self.t.email_label,
            "language" => self.t.language_label,
            "consent" => self.t.privacy_link,
            _ => self.t.book_button,
        }
    }

    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// A day of offered slots.
pub struct Day {
    pub label: String,
    pub slots: Vec<SlotChoice>,
}

pub struct SlotChoice {
    pub value: i64,
    pub time: String,
    pub free: String,
    pub checked: bool,
}

/// What the family typed, kept when the form comes back with errors.
#[derive(Debug, Default, Clone)]
pub struct Entered {
    pub slot: Option<i64>,
    pub name: String,
    pub email: String,
    pub language: String,
    pub consent: bool,
}

impl InvitePage {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lang: Lang,
        patient_label: &str,
        unit: &Unit,
        invite: &str,
        csrf: String,
        offers: &[Offer],
        entered: &Entered,
        errors: Vec<(&'static str, String)>,
    ) -> InvitePage {
        let t = lang.text();
        let mut days: Vec<Day> = Vec::new();
        for offer in offers {
            let label = i18n::format_day(lang, &slots::local(unit, offer.slot.start));
            let choice = SlotChoice {
                value: offer.slot.start.as_second(),
                time: format!(
                    "{}–{}",
                    clock(unit, offer.slot.start),
                    clock(unit, offer.slot.end)
                ),
                free: if offer.free == 1 {
                    t.free_one.to_string()
                } else {
                    fill(t.free_many_fmt, &[&offer.free.to_string()])
                },
                checked: entered.slot == Some(offer.slot.start.as_second()),
            };
            match days.last_mut() {
                Some(day) if day.label == label => day.slots.push(choice),
                _ => days.push(Day {
                    label,
                    slots: vec![choice],
                }),
            }
        }
        InvitePage {
            lang: lang.code(),
            t,
            heading: fill(t.book_heading_fmt, &[patient_label]),
            unit_name: unit.name.clone(),
            invite: invite.to_string(),
            csrf,
            zone_note: fill(t.time_zone_fmt, &[&unit.time_zone_name]),
            days,
            name: entered.name.clone(),
            email: entered.email.clone(),
            language: if entered.language.is_empty() {
                lang.code().to_string()
            } else {
                entered.language.clone()
            },
            languages: Lang::ALL
                .iter()
                .map(|l| (l.code(), l.native_name()))
                .collect(),
            consent: entered.consent,
            errors,
        }
    }
}

#[derive(Template)]
#[template(path = "booked.html")]
pub struct BookedPage {
    pub lang: &'static str,
    pub t: &'static Text,
    pub when: String,
    pub visit_url: String,
    pub code: String,
}

#[derive(Template)]
#[template(path = "waiting.html")]
pub struct WaitingPage {
    pub lang: &'static str,
    pub t: &'static Text,
    pub when: String,
    pub opens_text: String,
    /// Seconds until the window opens, by the server's clock.
    pub wait_secs: i64,
    pub refresh_secs: i64,
    pub code: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub lang: &'static str,
    pub t: &'static Text,
    pub heading: String,
    pub paragraphs: Vec<String>,
}

impl MessagePage {
    pub fn new(lang: Lang, heading: &str, paragraphs: &[&str]) -> MessagePage {
        MessagePage {
            lang: lang.code(),
            t: lang.text(),
            heading: heading.to_string(),
            paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// `/privacy`: the statement written from the running configuration.
#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub lang: &'static str,
    pub t: &'static Text,
    pub statement: crate::privacy::Statement,
    /// "Version 1a2b3c4d5e6f of this statement."
    pub version_line: String,
}

impl PrivacyPage {
    pub fn new(config: &crate::config::Config, lang: Lang) -> PrivacyPage {
        PrivacyPage {
            lang: lang.code(),
            t: lang.text(),
            statement: crate::privacy::statement(config, lang),
            version_line: fill(
                lang.text().privacy_version_fmt,
                &[&crate::privacy::privacy_version(config)],
            ),
        }
    }
}

/// What every staff page's navigation bar needs.
pub struct Nav {
    pub name: String,
    pub csrf: String,
    pub admin: bool,
}

impl Nav {
    pub fn of(user: &crate::domain::staff::StaffUser) -> Nav {
        Nav {
            name: user.display_name.clone(),
            csrf: user.csrf.clone(),
            admin: user.is_admin(),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub username: String,
    pub error: Option<String>,
}

/// One visit on the run-sheet.
pub struct RunRow {
    pub id: i64,
    pub time: String,
    pub patient: String,
    pub tablet: String,
    /// The family member's name when the unit shows names, else "—".
    pub family: String,
    pub status: String,
    pub next: bool,
    pub actionable: bool,
    pub move_to: Vec<(i64, String)>,
}

/// One unit on the run-sheet.
pub struct RunUnit {
    pub id: i64,
    pub name: String,
    pub date: String,
    pub zone: String,
    pub rows: Vec<RunRow>,
    /// (meeting id, "14:05–14:35", still running)
    pub meetings: Vec<(i64, String, bool)>,
}

#[derive(Template)]
#[template(path = "staff_today.html")]
pub struct TodayPage {
    pub nav: Nav,
    pub units: Vec<RunUnit>,
}

#[derive(Template)]
#[template(path = "staff_patients.html")]
pub struct PatientsPage {
    pub nav: Nav,
    /// Units the user may register patients on: (id, name).
    pub units: Vec<(i64, String)>,
    /// Per unit: (name, [(patient id, label)]).
    pub lists: Vec<(String, Vec<(i64, String)>)>,
    pub label: String,
    pub error: Option<String>,
}

/// A link shown once with its QR code: a patient's invite card, or an
/// instant meeting's guest link.
#[derive(Template)]
#[template(path = "staff_link.html")]
pub struct LinkPage {
    pub nav: Nav,
    pub heading: String,
    pub notice: String,
    pub title: String,
    pub subtitle: String,
    pub qr_svg: String,
    pub link: String,
    pub instructions: String,
    pub meeting_id: Option<i64>,
    /// The guest code, so "send by e-mail" can name the link it sends
    /// (checked against the meeting's hash; never stored).
    pub guest_code: String,
    pub mail_error: Option<String>,
    pub languages: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "staff_meeting.html")]
pub struct MeetingPage {
    pub nav: Nav,
    pub units: Vec<(i64, String)>,
    pub error: Option<String>,
}
