//! Every sentence a family reads, in one place per language, so adding a
//! language is adding one file: English, Dutch, Swedish and German. Also
//! the choice of language from the browser's `Accept-Language`, and dates
//! written the way each language writes them (jiff only knows English
//! names).

mod de;
mod en;
mod nl;
mod sv;

/// A language bedside speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Nl,
    Sv,
    De,
}

impl Lang {
    /// Every language offered, in the order shown.
    pub const ALL: &'static [Lang] = &[Lang::En, Lang::Nl, Lang::Sv, Lang::De];

    /// The BCP 47 tag, as stored and used in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
            Lang::Sv => "sv",
            Lang::De => "de",
        }
    }

    /// The language's own name for itself.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Nl => "Nederlands",
            Lang::Sv => "Svenska",
            Lang::De => "Deutsch",
        }
    }

    /// The offered language with this code ("nl"), as a form sends it.
    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.iter().copied().find(|l| l.code() == code)
    }

    /// The texts of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &en::TEXT,
            Lang::Nl => &nl::TEXT,
            Lang::Sv => &sv::TEXT,
            Lang::De => &de::TEXT,
        }
    }

    /// The texts of this language's mails.
    pub fn mail(self) -> &'static MailText {
        match self {
            Lang::En => &en::MAIL,
            Lang::Nl => &nl::MAIL,
            Lang::Sv => &sv::MAIL,
            Lang::De => &de::MAIL,
        }
    }

    /// The language to show a browser that sent this `Accept-Language`
    /// value: the offered language with the highest q-value, the first
    /// listed on a tie. Region subtags do not matter ("de-CH" is German),
    /// `q=0` means "not this one", and a wildcard stands for the default.
    /// English when nothing offered matches or the header is unreadable:
    /// a family must always get a page, never an error about a header.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for entry in header.split(',') {
            let Some((lang, q)) = accept_entry(entry) else {
                continue;
            };
            if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// [`Lang::from_accept_language`] of every `Accept-Language` header a
    /// request carries (a client may split the list over several).
    pub fn of_browser(headers: &http::HeaderMap) -> Lang {
        let values: Vec<&str> = headers
            .get_all(http::header::ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Lang::from_accept_language(&values.join(","))
    }
}

/// One `Accept-Language` entry ("nl-BE;q=0.9"): the offered language it
/// names and its weight in thousandths. `None` for languages not offered
/// and for malformed entries, which are skipped rather than failing the
/// whole header.
fn accept_entry(entry: &str) -> Option<(Lang, u16)> {
    let mut parts = entry.split(';');
    let tag = parts.next()?.trim();
    let mut q = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    if tag == "*" {
        return Some((Lang::En, q));
    }
    let primary = tag.split('-').next()?;
    if primary.is_empty() || primary.len() > 8 || !primary.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    Lang::parse(&primary.to_ascii_lowercase()).map(|lang| (lang, q))
}

/// An RFC 9110 qvalue ("0", "0.5", "1.000") in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if fraction.len() > 3 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The names of the weekdays, Monday first, and of the months, January
/// first, in each language.
fn names(lang: Lang) -> (&'static [&'static str; 7], &'static [&'static str; 12]) {
    match lang {
        Lang::En => (
            &[
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
            &[
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ],
        ),
        Lang::Nl => (
            &[
                "maandag",
                "dinsdag",
                "woensdag",
                "donderdag",
                "vrijdag",
                "zaterdag",
                "zondag",
            ],
            &[
                "januari",
                "februari",
                "maart",
                "april",
                "mei",
                "juni",
                "juli",
                "augustus",
                "september",
                "oktober",
                "november",
                "december",
            ],
        ),
        Lang::Sv => (
            &[
                "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
            ],
            &[
                "januari",
                "februari",
                "mars",
                "april",
                "maj",
                "juni",
                "juli",
                "augusti",
                "september",
                "oktober",
                "november",
                "december",
            ],
        ),
        Lang::De => (
            &[
                "Montag",
                "Dienstag",
                "Mittwoch",
                "Donnerstag",
                "Freitag",
                "Samstag",
                "Sonntag",
            ],
            &[
                "Januar",
                "Februar",
                "März",
                "April",
                "Mai",
                "Juni",
                "Juli",
                "August",
                "September",
                "Oktober",
                "November",
                "Dezember",
            ],
        ),
    }
}

/// The day of `t` as the language writes it: "Monday 23 November",
/// "maandag 23 november", "måndag 23 november", "Montag, 23. November".
pub fn format_day(lang: Lang, t: &jiff::Zoned) -> String {
    let (weekdays, months) = names(lang);
    let weekday = weekdays[usize::from(t.weekday().to_monday_zero_offset().unsigned_abs())];
    let month = months[usize::from(t.month().unsigned_abs()).clamp(1, 12) - 1];
    let day = t.day();
    match lang {
        Lang::De => format!("{weekday}, {day}. {month}"),
        Lang::En | Lang::Nl | Lang::Sv => format!("{weekday} {day} {month}"),
    }
}

/// The date and 24-hour time of `t` as the language writes them:
/// "Monday 23 November 2026, 14:00", "maandag 23 november 2026, 14:00",
/// "måndag 23 november 2026 kl. 14:00", "Montag, 23. November 2026, 14:00".
pub fn format_when(lang: Lang, t: &jiff::Zoned) -> String {
    let day = format_day(lang, t);
    let (year, hour, minute) = (t.year(), t.hour(), t.minute());
    match lang {
        Lang::Sv => format!("{day} {year} kl. {hour:02}:{minute:02}"),
        Lang::En | Lang::Nl | Lang::De => format!("{day} {year}, {hour:02}:{minute:02}"),
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
    /// The label of the HTML mail's button that opens the visit link.
    pub join_button: &'static str,
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
    pub privacy_intro_fmt: &'static str,
    pub privacy_stored_heading: &'static str,
    pub privacy_stored_patients: &'static str,
    pub privacy_stored_family: &'static str,
    pub privacy_stored_bookings: &'static str,
    pub privacy_stored_staff: &'static str,
    pub privacy_stored_tablets: &'static str,
    pub privacy_why_heading: &'static str,
    pub privacy_why: &'static str,
    pub privacy_who_heading: &'static str,
    pub privacy_who_ward: &'static str,
    pub privacy_who_admin: &'static str,
    pub privacy_keep_heading: &'static str,
    pub privacy_keep_bookings_fmt: &'static str,
    pub privacy_keep_family: &'static str,
    pub privacy_keep_patients_fmt: &'static str,
    pub privacy_keep_meetings_fmt: &'static str,
    pub privacy_keep_mail_fmt: &'static str,
    pub privacy_keep_audit_fmt: &'static str,
    pub privacy_keep_sessions_fmt: &'static str,
    pub privacy_keep_counts: &'static str,
    pub privacy_purge_fmt: &'static str,
    pub privacy_calls_heading: &'static str,
    pub privacy_calls: &'static str,
    pub privacy_contact_fmt: &'static str,
    pub privacy_version_fmt: &'static str,
    pub ics_summary_fmt: &'static str,
    pub ics_description_fmt: &'static str,
    pub minutes_fmt: &'static str,
    pub time_zone_fmt: &'static str,
    pub family_of_fmt: &'static str,
    pub form_expired: &'static str,
    pub cancelled_already: &'static str,
    pub guest_name: &'static str,
    // What is wrong with a field of the booking form, on pages in a
    // language other than English. The booking rules explain problems in
    // English (they serve the API too); English pages show that message,
    // which names the exact problem, and other pages show these instead.
    /// No time chosen, or one that cannot be booked.
    pub slot_problem: &'static str,
    /// The time was taken meanwhile, or the patient's day is full.
    pub slot_taken: &'static str,
    pub name_problem: &'static str,
    pub email_problem: &'static str,
    pub language_problem: &'static str,
    pub consent_problem: &'static str,
}

/// Lists a text struct's fields by name, destructuring without `..` so
/// that a field added to the struct but not here does not compile.
macro_rules! entries {
    ($value:expr, $ty:ident { $($field:ident),* $(,)? }) => {{
        let $ty { $($field),* } = $value;
        vec![$((stringify!($field), *$field)),*]
    }};
}

impl Text {
    /// Every text with its field name, for checks that each language is
    /// complete.
    pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
        entries!(
            self,
            Text {
                site_title,
                book_heading_fmt,
                book_intro,
                no_slots,
                choose_time,
                free_one,
                free_many_fmt,
                your_details,
                name_label,
                name_hint,
                email_label,
                email_hint,
                language_label,
                consent_label,
                privacy_link,
                book_button,
                fix_errors,
                booked_heading,
                booked_when_fmt,
                booked_link_intro,
                booked_keep_link,
                add_to_calendar,
                how_to_cancel,
                waiting_heading,
                waiting_when_fmt,
                waiting_opens_fmt,
                waiting_auto,
                ended_heading,
                ended_body,
                cancelled_heading,
                cancelled_body,
                cancelled_unavailable,
                cancel_heading,
                cancel_button,
                cancel_done,
                not_found_heading,
                not_found_body,
                too_many_heading,
                too_many_body,
                error_heading,
                error_body,
                privacy_heading,
                privacy_intro_fmt,
                privacy_stored_heading,
                privacy_stored_patients,
                privacy_stored_family,
                privacy_stored_bookings,
                privacy_stored_staff,
                privacy_stored_tablets,
                privacy_why_heading,
                privacy_why,
                privacy_who_heading,
                privacy_who_ward,
                privacy_who_admin,
                privacy_keep_heading,
                privacy_keep_bookings_fmt,
                privacy_keep_family,
                privacy_keep_patients_fmt,
                privacy_keep_meetings_fmt,
                privacy_keep_mail_fmt,
                privacy_keep_audit_fmt,
                privacy_keep_sessions_fmt,
                privacy_keep_counts,
                privacy_purge_fmt,
                privacy_calls_heading,
                privacy_calls,
                privacy_contact_fmt,
                privacy_version_fmt,
                ics_summary_fmt,
                ics_description_fmt,
                minutes_fmt,
                time_zone_fmt,
                family_of_fmt,
                form_expired,
                cancelled_already,
                guest_name,
                slot_problem,
                slot_taken,
                name_problem,
                email_problem,
                language_problem,
                consent_problem,
            }
        )
    }
}

impl MailText {
    /// Every text with its field name, for checks that each language is
    /// complete.
    pub fn entries(&self) -> Vec<(&'static str, &'static str)> {
        entries!(
            self,
            MailText {
                confirmation_subject_fmt,
                confirmation_intro_fmt,
                join_heading,
                join_how,
                cancel_how,
                reminder_subject_fmt,
                reminder_intro_fmt,
                cancelled_subject_fmt,
                cancelled_by_family_fmt,
                cancelled_by_staff_fmt,
                cancelled_unavailable_fmt,
                cancelled_discharge_fmt,
                rebook,
                guest_subject_fmt,
                guest_intro_fmt,
                contact_fmt,
                privacy_fmt,
                regards,
                calendar_note,
                join_button,
            }
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_offered_language() {
        for (header, want) in [
            ("nl-BE,nl;q=0.9,en;q=0.8", Lang::Nl),
            ("de-CH", Lang::De),
            ("fr,sv;q=0.5", Lang::Sv),
            ("sv-FI", Lang::Sv),
            ("en-GB,en;q=0.9,de;q=0.8", Lang::En),
            ("fr;q=0.9, de;q=0.4, nl;q=0.7", Lang::Nl),
            ("NL-nl", Lang::Nl),
            (" de ; q=1.0 , sv ; q=1", Lang::De),
            ("de;q=0.5,nl;q=0.5", Lang::De),
            ("fr,*;q=0.5,de;q=0.1", Lang::En),
            ("de;q=0,nl;q=0.001", Lang::Nl),
        ] {
            assert_eq!(Lang::from_accept_language(header), want, "{header}");
        }
    }

    #[test]
    fn accept_language_falls_back_to_english() {
        for header in [
            "",
            "fr",
            "fr-FR,fr;q=0.9,es;q=0.8",
            "nb-NO,no;q=0.9",
            "de;q=0",
            ";;;,,,",
            "de;q=abc",
            "de;q=1.5",
            "de;q=0.5000",
            "nl;q",
            "n1,d e",
            "dutch",
            "\u{1F600}",
        ] {
            assert_eq!(Lang::from_accept_language(header), Lang::En, "{header:?}");
        }
    }

    #[test]
    fn a_malformed_entry_does_not_spoil_the_rest() {
        assert_eq!(Lang::from_accept_language("de;q=2,sv;q=0.3"), Lang::Sv);
        assert_eq!(Lang::from_accept_language("x-;;,nl"), Lang::Nl);
    }

    #[test]
    fn several_headers_are_one_list() {
        let mut headers = http::HeaderMap::new();
        headers.append(http::header::ACCEPT_LANGUAGE, "fr".parse().unwrap());
        headers.append(http::header::ACCEPT_LANGUAGE, "de;q=0.2".parse().unwrap());
        assert_eq!(Lang::of_browser(&headers), Lang::De);
        assert_eq!(Lang::of_browser(&http::HeaderMap::new()), Lang::En);
    }

    fn monday_afternoon() -> jiff::Zoned {
        "2026-11-23T14:00:00[Europe/Amsterdam]".parse().unwrap()
    }

    #[test]
    fn dates_are_written_the_way_each_language_writes_them() {
        let t = monday_afternoon();
        let expected = [
            (
                Lang::En,
                "Monday 23 November 2026, 14:00",
                "Monday 23 November",
            ),
            (
                Lang::Nl,
                "maandag 23 november 2026, 14:00",
                "maandag 23 november",
            ),
            (
                Lang::Sv,
                "måndag 23 november 2026 kl. 14:00",
                "måndag 23 november",
            ),
            (
                Lang::De,
                "Montag, 23. November 2026, 14:00",
                "Montag, 23. November",
            ),
        ];
        for (lang, when, day) in expected {
            assert_eq!(format_when(lang, &t), when);
            assert_eq!(format_day(lang, &t), day);
        }
    }

    #[test]
    fn every_weekday_and_month_has_its_own_name() {
        let sunday: jiff::Zoned = "2027-03-07T09:05:00[Europe/Stockholm]".parse().unwrap();
        assert_eq!(
            format_when(Lang::Sv, &sunday),
            "söndag 7 mars 2027 kl. 09:05"
        );
        assert_eq!(
            format_when(Lang::De, &sunday),
            "Sonntag, 7. März 2027, 09:05"
        );
        for lang in Lang::ALL.iter().copied() {
            let (weekdays, months) = names(lang);
            let mut all: Vec<&str> = weekdays.iter().chain(months.iter()).copied().collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 19, "{lang:?}");
        }
    }

    #[test]
    fn english_dates_match_what_jiff_prints() {
        let t = monday_afternoon();
        for offset in 0..400 {
            let t = t.checked_add(jiff::Span::new().days(offset)).unwrap();
            assert_eq!(
                format_when(Lang::En, &t),
                t.strftime("%A %-d %B %Y, %H:%M").to_string()
            );
        }
    }

    #[test]
    fn codes_round_trip() {
        for lang in Lang::ALL.iter().copied() {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
        }
        let codes: Vec<&str> = Lang::ALL.iter().map(|l| l.code()).collect();
        assert_eq!(codes, ["en", "nl", "sv", "de"]);
    }

    fn placeholders(s: &str) -> usize {
        s.matches("{}").count()
    }

    #[test]
    fn every_language_has_every_text_with_the_same_placeholders() {
        let en_text = Lang::En.text().entries();
        let en_mail = Lang::En.mail().entries();
        for lang in Lang::ALL.iter().copied() {
            let text = lang.text().entries();
            let mail = lang.mail().entries();
            for (en, ours) in en_text.iter().zip(&text).chain(en_mail.iter().zip(&mail)) {
                assert_eq!(en.0, ours.0);
                assert!(!ours.1.trim().is_empty(), "{lang:?} {} is empty", ours.0);
                assert_eq!(
                    placeholders(en.1),
                    placeholders(ours.1),
                    "{lang:?} {}: {:?}",
                    ours.0,
                    ours.1
                );
            }
        }
    }
}
