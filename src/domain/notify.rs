//! What the domain tells the outside world about visits, inside the same
//! transaction as the change (the mail outbox implements it). The domain
//! does not know how families are told; it only says what happened.

use jiff::Timestamp;
use rusqlite::Connection;

use super::DomainError;
use super::codes::Code;
use super::unit::Unit;
use crate::i18n::Lang;

/// Why a visit was cancelled, as the family should be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The family cancelled it themselves.
    Family,
    /// Ward staff or a hospital system cancelled it.
    Staff,
    /// The patient cannot take the call.
    PatientUnavailable,
    /// The patient left the ward.
    Discharge,
}

/// A visit about to be booked, as its family will be told about it: all of
/// it is known before the booking's write transaction, but the booking's id.
#[derive(Debug, Clone, Copy)]
pub struct NewVisit<'a> {
    pub patient_label: &'a str,
    pub unit: &'a Unit,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The family's address and language, as the booking stores them.
    pub email: &'a str,
    pub lang: Lang,
    /// Its link code, known only now.
    pub visit: &'a Code,
}

/// Receives visit events; what it writes goes into the transaction of the
/// change, and an error there rolls the whole change back.
pub trait Notifier: Send + Sync {
    /// Composes what the family is told about a visit about to be booked.
    /// It runs before the booking's write transaction where it can (see
    /// [`super::booking::prepare`]), so that the one writer thread, which
    /// every booking waits for, only inserts what is ready; the notice is
    /// queued in the transaction once the booking has its id.
    fn compose_booked(
        &self,
        visit: &NewVisit<'_>,
        now: i64,
    ) -> Result<Box<dyn BookedNotice>, DomainError>;
    /// A booked visit was cancelled.
    fn visit_cancelled(
        &self,
        conn: &Connection,
        booking_id: i64,
        reason: CancelReason,
        now: i64,
    ) -> Result<(), DomainError>;
}

/// What [`Notifier::compose_booked`] made, waiting for the booking's id.
pub trait BookedNotice: Send {
    /// Queues it in the booking's transaction.
    fn queue(self: Box<Self>, conn: &Connection, booking_id: i64) -> Result<(), DomainError>;
}
