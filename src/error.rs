//! The one error type of request handling, named by cause.
//!
//! Handlers return `Result<Response, Error>`; [`crate::http::response`] turns
//! an `Err` into the answer the client sees, in one place. Messages of 4xx
//! errors are written for the person who sent the request and must say what
//! to do; 5xx details go to the log, never to the client.

use crate::domain::DomainError;
use crate::jitsi::MintError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("there is nothing at this address; check the link")]
    NotFound,
    #[error("this address does not accept {method} requests; use {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {limit} bytes; send less")]
    PayloadTooLarge { limit: usize },
    #[error("you may not do this")]
    Forbidden,
    /// A form whose token is missing or wrong: cross-site, forged, or very old.
    #[error("this form has expired; go back, reload the page and try again")]
    FormExpired,
    /// A staff page without a live session: answered with the login page.
    #[error("please log in")]
    LoginRequired,
    /// A field of a form or JSON body that cannot be accepted.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("this request needs a valid API key in `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("too many attempts; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("send this as {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] StoreError),
    #[error(transparent)]
    Mint(#[from] MintError),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Error::NotFound => S::NOT_FOUND,
            Error::MethodNotAllowed { .. } => S::METHOD_NOT_ALLOWED,
            Error::BadRequest(_) => S::BAD_REQUEST,
            Error::PayloadTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            Error::Forbidden => S::FORBIDDEN,
            Error::LoginRequired => S::SEE_OTHER,
            Error::FormExpired => S::FORBIDDEN,
            Error::Invalid { .. } => S::UNPROCESSABLE_ENTITY,
            Error::Unauthorized => S::UNAUTHORIZED,
            Error::TooManyRequests { .. } => S::TOO_MANY_REQUESTS,
            Error::UnsupportedMediaType { .. } => S::UNSUPPORTED_MEDIA_TYPE,
            Error::Conflict(_) => S::CONFLICT,
            Error::Db(StoreError::Closed) => S::SERVICE_UNAVAILABLE,
            Error::Db(_) | Error::Mint(_) => S::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => Error::Invalid { field, message },
            DomainError::NotFound => Error::NotFound,
            DomainError::Conflict(m) => Error::Conflict(m),
            DomainError::Store(s) => Error::Db(s),
        }
    }
}

/// The result of a handler.
pub type Result<T, E = Error> = std::result::Result<T, E>;
