//! Every sentence a family reads, in one place per language, so adding a
//! language is adding one file. English now; Dutch, Swedish and German come
//! with the mail work.

mod en;

/// A language bedside speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
}

impl Lang {
    /// Every language offered, in the order shown.
    pub const ALL: &'static [Lang] = &[Lang::En];

    /// The BCP 47 tag, as stored and used in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
        }
    }

    /// The language's own name for itself.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.iter().copied().find(|l| l.code() == code)
    }

    /// The texts of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &en::TEXT,
        }
    }

    /// The texts of this language's mails.
    pub fn mail(self) -> &'static MailText {
        match self {
            Lang::En => &en::MAIL,
        }
    }
}

/// The texts of the mails. `{}` placeholders are filled in order; the
/// comment on each field says with what.
#[derive(Debug)]
pub struct MailText {
    /// patient label, local date and time
    pub confirmation_subject_fmt: &'static str,
    /// patient label, ward name, local date and time, time zone
    pub confirmation_intro_fmt: &'static str,
    pub join_heading: &'static str,
    /// How to join from a phone, tablet or computer (no placeholder).
    pub join_how: &'static str,
    pub cancel_how: &'static str,
    /// patient label, local time
    pub reminder_subject_fmt: &'static str,
    /// patient label, local time, time zone
    pub reminder_intro_fmt: &'static str,
    /// patient label, local date and time
    pub cancelled_subject_fmt: &'static str,
    /// patient label, local date and time — cancelled by the family itself
    pub cancelled_by_family_fmt: &'static str,
    /// patient label, local date and time — cancelled by ward staff
    pub cancelled_by_staff_fmt: &'static str,
    /// patient label, local date and time — the patient cannot take the call
    pub cancelled_unavailable_fmt: &'static str,
    /// patient label, local date and time — the patient was discharged
    pub cancelled_discharge_fmt: &'static str,
    pub rebook: &'static str,
    /// ward name
    pub guest_subject_fmt: &'static str,
    /// ward name, local end time
    pub guest_intro_fmt: &'static str,
    /// the hospital's contact line
    pub contact_fmt: &'static str,
    /// the privacy page's address
    pub privacy_fmt: &'static str,
    /// Above the hospital's name at the end of every mail.
    pub regards: &'static str,
    /// The note that the calendar file is attached.
    pub calendar_note: &'static str,
}

/// The texts of the family pages. Fields ending in `_fmt` hold `{}`
/// placeholders filled in order.
#[derive(Debug)]
pub struct Text {
    pub site_title: &'static str,
    pub book_heading_fmt: &'static str,
    pub book_intro: &'static str,
    pub no_slots: &'static str,
    pub choose_time: &'static str,
    pub free_one: &'static str,
    pub free_many_fmt: &'static str,
    pub your_details: &'static str,
    pub name_label: &'static str,
    pub name_hint: &'static str,
    pub email_label: &'static str,
    pub email_hint: &'static str,
    pub language_label: &'static str,
    pub consent_label: &'static str,
    pub privacy_link: &'static str,
    pub book_button: &'static str,
    pub fix_errors: &'static str,
    pub booked_heading: &'static str,
    pub booked_when_fmt: &'static str,
    pub booked_link_intro: &'static str,
    pub booked_keep_link: &'static str,
    pub add_to_calendar: &'static str,
    pub how_to_cancel: &'static str,
    pub waiting_heading: &'static str,
    pub waiting_when_fmt: &'static str,
    pub waiting_opens_fmt: &'static str,
    pub waiting_auto: &'static str,
    pub ended_heading: &'static str,
    pub ended_body: &'static str,
    pub cancelled_heading: &'static str,
    pub cancelled_body: &'static str,
    pub cancelled_unavailable: &'static str,
    pub cancel_heading: &'static str,
    pub cancel_button: &'static str,
    pub cancel_done: &'static str,
    pub not_found_heading: &'static str,
    pub not_found_body: &'static str,
    pub too_many_heading: &'static str,
    pub too_many_body: &'static str,
    pub error_heading: &'static str,
    pub error_body: &'static str,
    pub privacy_heading: &'static str,
    pub privacy_body: &'static str,
    pub ics_summary_fmt: &'static str,
    pub ics_description_fmt: &'static str,
    pub minutes_fmt: &'static str,
    pub time_zone_fmt: &'static str,
    pub family_of_fmt: &'static str,
    pub form_expired: &'static str,
    pub cancelled_already: &'static str,
    pub guest_name: &'static str,
}

/// Fills `{}` placeholders in order.
pub fn fill(template: &str, args: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut args = args.iter();
    let mut rest = template;
    while let Some(at) = rest.find("{}") {
        out.push_str(&rest[..at]);
        out.push_str(args.next().copied().unwrap_or(""));
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}
