//! Request handlers: `async fn(&State, ..) -> Result<Response>`. They call the
//! domain and the store; they never write SQL or parse paths.

pub mod admin;
pub mod api;
pub mod asap;
pub mod assets;
pub mod family;
pub mod health;
pub mod kiosk;
pub mod staff;

use bytes::Bytes;

use crate::State;
use crate::domain::DomainError;
use crate::error::{Error, Result};
use crate::http::forms::client_ip;

/// Looks a code up under the per-address guessing limit: refuses when this
/// client has failed too many lookups, and counts a failure when the code
/// finds nothing. Every kind of "nothing" is the same `NotFound`.
pub async fn throttled<T>(
    state: &State,
    request: &http::Request<Bytes>,
    lookup: impl Future<Output = Result<T, DomainError>>,
) -> Result<T> {
    let ip = client_ip(&state.config, request);
    state
        .throttle
        .check(ip, state.clock.now())
        .map_err(|retry_after| Error::TooManyRequests { retry_after })?;
    match lookup.await {
        Err(DomainError::NotFound) => {
            state.throttle.fail(ip, state.clock.now());
            Err(Error::NotFound)
        }
        other => Ok(other?),
    }
}
