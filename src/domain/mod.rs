//! bedside's own rules: wards and their visiting hours, slots, patients and
//! invites, bookings and visit links. No HTTP types here; the functions take
//! a database connection or transaction and `now`, so the CLI, the pages and
//! the API share one implementation and tests can move time.

pub mod apikey;
pub mod audit;
pub mod booking;
pub mod codes;
pub mod hours;
pub mod kiosk;
pub mod meeting;
pub mod notify;
pub mod patient;
pub mod slots;
pub mod staff;
pub mod subject;
pub mod tablet;
pub mod unit;

use crate::store::StoreError;

/// Why a domain operation did not happen. Nothing was written when one of
/// these is returned.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input that cannot be accepted; `field` names the form or JSON field.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Nothing by that name, code or id — or it is no longer visible.
    #[error("not found")]
    NotFound,
    /// The request is valid but the state does not allow it (a full slot).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for DomainError {
    fn from(e: rusqlite::Error) -> Self {
        DomainError::Store(StoreError::Sqlite(e))
    }
}

impl DomainError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Checks a short human-entered text (label, name): trimmed, 1..=`max`
/// characters, no control characters.
pub(crate) fn short_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::invalid(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("is too long; use at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(v.to_string())
}
