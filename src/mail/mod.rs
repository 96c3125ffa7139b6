//! Mail that never gets lost: every mail is an outbox row written in the
//! same transaction as the booking, cancellation or status change that
//! causes it ([`Mailer`] implements the domain's [`Notifier`]); the
//! [`sender`] hands rows to the SMTP relay (or writes `.eml` files when no
//! relay is configured) and retries until they are accepted, refused for
//! good, or their visit is over.

pub mod compose;
pub mod outbox;
pub mod sender;
pub mod transport;

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use minijinja::context;
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::Connection;

use self::compose::{Composed, Templates};
use self::outbox::NewMail;
use self::transport::Transport;
use crate::calendar::{self, Method, WithoutUid};
use crate::config::Config;
use crate::crypto::{self, DataKey};
use crate::domain::booking::Visit;
use crate::domain::notify::{BookedNotice, CancelReason, NewVisit, Notifier};
use crate::domain::unit::Unit;
use crate::domain::{DomainError, booking, unit};
use crate::i18n::{Lang, fill};
use crate::store::bookings as bq;
use crate::store::meetings::MeetingRow;

/// Composes mail and puts it in the outbox; holds how mail leaves.
pub struct Mailer {
    pub transport: Transport,
    templates: Templates,
    public_url: String,
    /// The host part of ids (`Message-ID`, calendar `UID`).
    host: String,
    from_address: String,
    hospital_name: String,
    contact_line: String,
    reminder_before: SignedDuration,
    /// Seals the content of a booking's mail as it is composed, before the
    /// transaction; without it ([`Mailer::seal_with`] not called) the
    /// outbox seals it in the transaction with the connection's key.
    data_key: Option<DataKey>,
    /// Woken whenever a mail is queued. All writes go through one writer
    /// thread, so the sender's next claim runs after the queuing
    /// transaction has committed.
    pub wakeup: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// The words of one mail before templating.
struct Words {
    kind: &'static str,
    lang: Lang,
    subject: String,
    paragraphs: Vec<String>,
    link: Option<String>,
    after: Vec<String>,
}

impl Mailer {
    pub fn new(config: &Config) -> Result<Mailer, String> {
        let transport = match &config.mail.smtp {
            Some(smtp) => Transport::Smtp(smtp.clone()),
            None => Transport::Files(config.server.data_dir.join("mail")),
        };
        let host = config
            .server
            .public_url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_string))
            .unwrap_or_else(|| "bedside".into());
        Ok(Mailer {
            transport,
            templates: Templates::load(config.mail.template_dir.as_deref())?,
            public_url: config.server.public_url.clone(),
            host,
            from_address: config.mail.from_address.clone(),
            hospital_name: config.mail.hospital_name.clone(),
            contact_line: config.mail.contact_line.clone(),
            reminder_before: SignedDuration::try_from(config.mail.reminder_before)
                .unwrap_or_default(),
            data_key: None,
            wakeup: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Seals a booking's mail with `key` (the database's data key) as soon
    /// as it is composed, off the writer thread.
    pub fn seal_with(&mut self, key: DataKey) {
        self.data_key = Some(key);
    }

    /// The calendar `UID` of a booking: the same in every file about it.
    pub fn calendar_uid(&self, booking_id: i64) -> String {
        calendar_uid(&self.host, booking_id)
    }

    /// A visit as a calendar file. A cancellation carries no link (the
    /// code is not kept), so its description is its summary.
    pub fn calendar(
        &self,
        visit: &Visit,
        visit_url: &str,
        method: Method,
        now: Timestamp,
    ) -> String {
        let occasion = Occasion {
            patient_label: &visit.booking.patient_label,
            unit: &visit.unit,
            start: visit.start(),
            end: visit.end(),
            lang: lang_of(visit),
            email: visit.contact.as_ref().map(|c| c.email.as_str()),
        };
        self.calendar_without_uid(&occasion, visit_url, method, now)
            .with_uid(&self.calendar_uid(visit.booking.id))
    }

    /// [`Mailer::calendar`] but the `UID`, for a visit that has no id yet.
    fn calendar_without_uid(
        &self,
        o: &Occasion<'_>,
        visit_url: &str,
        method: Method,
        now: Timestamp,
    ) -> WithoutUid {
        let t = o.lang.text();
        let summary = fill(t.ics_summary_fmt, &[o.patient_label]);
        let description = match method {
            Method::Cancel => summary.clone(),
            _ => fill(t.ics_description_fmt, &[visit_url]),
        };
        calendar::ics_without_uid(
            &calendar::Event {
                // Written by `WithoutUid::with_uid`.
                uid: "",
                sequence: if method == Method::Cancel { 1 } else { 0 },
                stamp: now,
                start: o.start,
                end: o.end,
                zone_name: &o.unit.time_zone_name,
                zone: &o.unit.time_zone,
                summary: &summary,
                description: &description,
                url: visit_url,
                organizer: (method != Method::Publish).then_some(self.from_address.as_str()),
                attendee: match method {
                    Method::Publish => None,
                    _ => o.email,
                },
            },
            method,
        )
    }

    fn compose(&self, w: &Words) -> Result<Composed, DomainError> {
        let m = w.lang.mail();
        let contact = if self.contact_line.is_empty() {
            String::new()
        } else {
            fill(m.contact_fmt, &[&self.contact_line])
        };
        let values = context! {
            lang => w.lang.code(),
            subject => &w.subject,
            paragraphs => &w.paragraphs,
            link => &w.link,
            link_heading => m.join_heading,
            link_how => m.join_how,
            link_label => m.join_button,
            after => &w.after,
            contact => contact,
            privacy => fill(m.privacy_fmt, &[&format!("{}/privacy", self.public_url)]),
            regards => m.regards,
            hospital => &self.hospital_name,
        };
        self.templates
            .render(w.kind, &w.subject, values)
            .map_err(DomainError::Conflict)
    }

    /// Sends one test mail straight away (not through the outbox), for
    /// `bedside mail test`: the relay's answer or its error, as is.
    pub async fn send_test(
        &self,
        to: &str,
        from_name: &str,
    ) -> Result<String, transport::SendError> {
        let m = Lang::En.mail();
        let words = Words {
            kind: "test",
            lang: Lang::En,
            subject: format!("bedside test mail from {}", self.hospital_name),
            paragraphs: vec![format!(
                "This is a test mail from bedside at {}. If you can read it, mail from bedside reaches you.",
                self.public_url
            )],
            link: None,
            after: vec![m.calendar_note.to_string()],
        };
        let composed = self
            .compose(&words)
            .map_err(|e| transport::SendError::Permanent(e.to_string()))?;
        let mail = outbox::Claimed {
            id: 0,
            kind: "test".into(),
            message_id: self.message_id("test"),
            recipient: to.to_string(),
            subject: composed.subject,
            text: composed.text,
            html: composed.html,
            ics: None,
            attempts: 0,
            created_at: 0,
        };
        self.transport
            .send(&mail, from_name, &self.from_address)
            .await
    }

    fn message_id(&self, kind: &str) -> String {
        let mut bytes = [0u8; 12];
        let _ = SystemRandom::new().fill(&mut bytes);
        format!(
            "{}.{kind}@{}",
            data_encoding::HEXLOWER.encode(&bytes),
            self.host
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &self,
        conn: &Connection,
        w: &Words,
        recipient: &str,
        booking_id: Option<i64>,
        meeting_id: Option<i64>,
        ics: Option<(&str, &str)>,
        due_at: i64,
        stale_at: i64,
        now: i64,
    ) -> Result<(), DomainError> {
        let composed = self.compose(w)?;
        let message_id = self.message_id(w.kind);
        outbox::enqueue(
            conn,
            &NewMail {
                kind: w.kind,
                booking_id,
                meeting_id,
                message_id: &message_id,
                recipient,
                subject: &composed.subject,
                text: &composed.text,
                html: &composed.html,
                ics,
                due_at,
                stale_at,
            },
            now,
        )?;
        self.wakeup.notify_one();
        Ok(())
    }

    /// Composes a booking's mail for the outbox, sealed when the mailer
    /// has the data key; its calendar file waits for the booking's id.
    fn ready(
        &self,
        w: &Words,
        recipient: &str,
        ics: Option<(WithoutUid, &'static str)>,
        due_at: i64,
        stale_at: i64,
    ) -> Result<ReadyMail, DomainError> {
        let composed = self.compose(w)?;
        let message_id = self.message_id(w.kind);
        let (recipient, subject, text, html) = match &self.data_key {
            Some(key) => {
                let seal = |column: &str, plain: &str| {
                    key.seal_text(&crypto::context(column, &message_id), plain)
                        .map_err(|e| DomainError::Store(e.into()))
                };
                (
                    seal("outbox.recipient", recipient)?,
                    seal("outbox.subject", &composed.subject)?,
                    seal("outbox.body_text", &composed.text)?,
                    seal("outbox.body_html", &composed.html)?,
                )
            }
            None => (
                recipient.to_string(),
                composed.subject,
                composed.text,
                composed.html,
            ),
        };
        Ok(ReadyMail {
            kind: w.kind,
            sealed: self.data_key.is_some(),
            message_id,
            recipient,
            subject,
            text,
            html,
            ics,
            due_at,
            stale_at,
        })
    }

    /// Queues an instant meeting's guest link for `address`.
    pub fn guest_invite(
        &self,
        conn: &Connection,
        meeting: &MeetingRow,
        guest_link: &str,
        address: &str,
        lang: Lang,
        now: i64,
    ) -> Result<(), DomainError> {
        let unit = unit::by_id(conn, meeting.unit_id)?;
        let m = lang.mail();
        let end = Timestamp::from_second(meeting.ends_at).unwrap_or_default();
        let words = Words {
            kind: "guest-invite",
            lang,
            subject: fill(m.guest_subject_fmt, &[&unit.name]),
            paragraphs: vec![fill(m.guest_intro_fmt, &[&unit.name, &clock(&unit, end)])],
            link: Some(guest_link.to_string()),
            after: Vec::new(),
        };
        self.enqueue(
            conn,
            &words,
            address,
            None,
            Some(meeting.id),
            None,
            now,
            meeting.ends_at,
            now,
        )
    }
}

/// The calendar `UID` of booking `booking_id` on `host`. Bookings made by
/// every version of bedside have had this one, so a cancellation finds
/// the event its invitation added.
fn calendar_uid(host: &str, booking_id: i64) -> String {
    format!("booking-{booking_id}@{host}")
}

/// What a calendar file says about a visit.
struct Occasion<'a> {
    patient_label: &'a str,
    unit: &'a Unit,
    start: Timestamp,
    end: Timestamp,
    lang: Lang,
    /// The family's address (the invitation's attendee).
    email: Option<&'a str>,
}

/// A mail composed before its booking's transaction.
struct ReadyMail {
    kind: &'static str,
    message_id: String,
    /// Whether the next four are sealed already (else the outbox seals them).
    sealed: bool,
    recipient: String,
    subject: String,
    text: String,
    html: String,
    ics: Option<(WithoutUid, &'static str)>,
    due_at: i64,
    stale_at: i64,
}

/// A booking's confirmation and reminder, waiting for its id.
struct BookedMail {
    mails: Vec<ReadyMail>,
    host: String,
    now: i64,
    wakeup: Arc<tokio::sync::Notify>,
}

impl BookedNotice for BookedMail {
    /// Only the calendar file's `UID` line is written here (and the file
    /// sealed with it, by the outbox): the rest was composed and sealed
    /// before the transaction.
    fn queue(self: Box<Self>, conn: &Connection, booking_id: i64) -> Result<(), DomainError> {
        let uid = calendar_uid(&self.host, booking_id);
        for mail in &self.mails {
            let ics = mail
                .ics
                .as_ref()
                .map(|(file, method)| (file.with_uid(&uid), *method));
            let row = NewMail {
                kind: mail.kind,
                booking_id: Some(booking_id),
                meeting_id: None,
                message_id: &mail.message_id,
                recipient: &mail.recipient,
                subject: &mail.subject,
                text: &mail.text,
                html: &mail.html,
                ics: ics.as_ref().map(|(file, method)| (file.as_str(), *method)),
                due_at: mail.due_at,
                stale_at: mail.stale_at,
            };
            if mail.sealed {
                outbox::enqueue_sealed(conn, &row, self.now)?;
            } else {
                outbox::enqueue(conn, &row, self.now)?;
            }
        }
        self.wakeup.notify_one();
        Ok(())
    }
}

fn lang_of(visit: &Visit) -> Lang {
    visit
        .contact
        .as_ref()
        .and_then(|c| Lang::parse(&c.language))
        .unwrap_or(Lang::En)
}

/// "Monday 23 November 2026, 14:00" in the ward's zone, in `lang`.
fn when(lang: Lang, unit: &Unit, t: Timestamp) -> String {
    crate::i18n::format_when(lang, &t.to_zoned(unit.time_zone.clone()))
}

/// "14:00" in the ward's zone.
fn clock(unit: &Unit, t: Timestamp) -> String {
    t.to_zoned(unit.time_zone.clone())
        .strftime("%H:%M")
        .to_string()
}

impl Notifier for Mailer {
    /// The confirmation (with a calendar invitation) now, and the reminder
    /// at `mail.reminder_before` before the start — both written in the
    /// booking's transaction, because the visit link's code exists only in
    /// this moment.
    fn compose_booked(
        &self,
        v: &NewVisit<'_>,
        now: i64,
    ) -> Result<Box<dyn BookedNotice>, DomainError> {
        let lang = v.lang;
        let m = lang.mail();
        let label = v.patient_label;
        let at = when(lang, v.unit, v.start);
        let link = format!("{}/v/{}", self.public_url, v.visit.expose());
        let occasion = Occasion {
            patient_label: label,
            unit: v.unit,
            start: v.start,
            end: v.end,
            lang,
            email: Some(v.email),
        };
        let ics = self.calendar_without_uid(
            &occasion,
            &link,
            Method::Request,
            Timestamp::from_second(now).unwrap_or_default(),
        );
        let confirmation = Words {
            kind: "confirmation",
            lang,
            subject: fill(m.confirmation_subject_fmt, &[label, &at]),
            paragraphs: vec![fill(
                m.confirmation_intro_fmt,
                &[label, &v.unit.name, &at, &v.unit.time_zone_name],
            )],
            link: Some(link.clone()),
            after: vec![m.cancel_how.to_string(), m.calendar_note.to_string()],
        };
        let end = v.end.as_second();
        let mut mails =
            vec![self.ready(&confirmation, v.email, Some((ics, "REQUEST")), now, end)?];
        let remind_at = (v.start - self.reminder_before).as_second();
        if remind_at > now {
            let reminder = Words {
                kind: "reminder",
                lang,
                subject: fill(m.reminder_subject_fmt, &[label, &clock(v.unit, v.start)]),
                paragraphs: vec![fill(
                    m.reminder_intro_fmt,
                    &[label, &clock(v.unit, v.start), &v.unit.time_zone_name],
                )],
                link: Some(link),
                after: vec![m.cancel_how.to_string()],
            };
            mails.push(self.ready(&reminder, v.email, None, remind_at, end)?);
        }
        Ok(Box::new(BookedMail {
            mails,
            host: self.host.clone(),
            now,
            wakeup: self.wakeup.clone(),
        }))
    }

    /// The cancellation, saying kindly who cancelled, with the calendar
    /// cancel for the same event; the reminder will not go.
    fn visit_cancelled(
        &self,
        conn: &Connection,
        booking_id: i64,
        reason: CancelReason,
        now: i64,
    ) -> Result<(), DomainError> {
        // Not yet sent: neither a reminder nor a confirmation of a visit that
        // no longer exists (the relay may have been down since the booking).
        outbox::drop_pending(
            conn,
            booking_id,
            &["reminder", "confirmation"],
            "the visit was cancelled",
            now,
        )?;
        let visit = visit_of(conn, booking_id)?;
        let Some(contact) = visit.contact.clone() else {
            return Ok(());
        };
        let lang = lang_of(&visit);
        let m = lang.mail();
        let label = &visit.booking.patient_label;
        let at = when(lang, &visit.unit, visit.start());
        let why = match reason {
            CancelReason::Family => m.cancelled_by_family_fmt,
            CancelReason::Staff => m.cancelled_by_staff_fmt,
            CancelReason::PatientUnavailable => m.cancelled_unavailable_fmt,
            CancelReason::Discharge => m.cancelled_discharge_fmt,
        };
        let words = Words {
            kind: "cancellation",
            lang,
            subject: fill(m.cancelled_subject_fmt, &[label, &at]),
            paragraphs: vec![fill(why, &[label, &at])],
            link: None,
            after: vec![m.rebook.to_string()],
        };
        let ics = self.calendar(
            &visit,
            &self.public_url,
            Method::Cancel,
            Timestamp::from_second(now).unwrap_or_default(),
        );
        self.enqueue(
            conn,
            &words,
            &contact.email,
            Some(booking_id),
            None,
            Some((&ics, "CANCEL")),
            now,
            visit.booking.ends_at,
            now,
        )
    }
}

/// A booking with its unit and contact, by id.
fn visit_of(conn: &Connection, booking_id: i64) -> Result<Visit, DomainError> {
    let (booking, unit) = booking::by_id(conn, booking_id)?;
    let contact = match booking.contact_id {
        Some(id) => bq::contact_by_id(conn, id)?,
        None => None,
    };
    Ok(Visit::new(booking, unit, contact))
}
