//! What the domain tells the outside world about visits, inside the same
//! transaction as the change (the mail outbox implements it). The domain
//! does not know how families are told; it only says what happened.

use rusqlite::Connection;

use super::DomainError;
use super::codes::Code;

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

/// Receives visit events in the transaction that causes them; an error
/// rolls the whole change back.
pub trait Notifier: Send + Sync {
    /// A visit was booked; `visit` is its link code, known only now.
    fn visit_booked(
        &self,
        conn: &Connection,
        booking_id: i64,
        visit: &Code,
        now: i64,
    ) -> Result<(), DomainError>;
    /// A booked visit was cancelled.
    fn visit_cancelled(
        &self,
        conn: &Connection,
        booking_id: i64,
        reason: CancelReason,
        now: i64,
    ) -> Result<(), DomainError>;
}
