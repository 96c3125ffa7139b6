//! The tablet kiosk: `/t/<device-code>` shows the tablet's next visit and
//! joins it as moderator through Jitsi's IFrame API when its window opens;
//! `/t/<device-code>/state.json` is what the page polls.

use bytes::Bytes;

use crate::State;
use crate::error::{Error, Result};
use crate::http::response::Response;

type Request = http::Request<Bytes>;

// Placeholders, replaced as the kiosk is written.
pub async fn kiosk_show(_: &State, _: &Request, _code: &str) -> Result<Response> {
    Err(Error::NotFound)
}
pub async fn kiosk_state(_: &State, _: &Request, _code: &str) -> Result<Response> {
    Err(Error::NotFound)
}
