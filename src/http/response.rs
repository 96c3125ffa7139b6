//! Building responses: bodies, the error mapping, and the headers every
//! response carries.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body_util::Full;

use crate::error::Error;

/// The response type of every handler.
pub type Response = http::Response<Full<Bytes>>;

/// No scripts or styles inline, nothing from elsewhere, no framing. Pages add
/// their own scripts and styles as files from `'self'`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A JSON response.
pub fn json<T: serde::Serialize>(status: http::StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_type(status, "application/json", bytes),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a response");
            text(http::StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// A plain-text response.
pub fn text(status: http::StatusCode, body: &str) -> Response {
    with_type(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn with_type(status: http::StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The answer to a failed request. 4xx errors explain themselves; 5xx errors
/// are logged with their cause and answered with a generic message, so no
/// internal detail (or personal data inside it) reaches the client.
pub fn from_error(error: &Error) -> Response {
    let status = error.status();
    let mut response = if status.is_server_error() {
        tracing::error!(error = %error, source = ?std::error::Error::source(error), "request failed");
        text(
            status,
            "Something went wrong on our side. Please try again in a minute; \
             if it keeps happening, tell the ward or the hospital's IT service desk.\n",
        )
    } else {
        text(status, &format!("{error}\n"))
    };
    if let Error::MethodNotAllowed { allow, .. } = error {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    response
}

/// Adds the headers every response carries. `hsts` is true when bedside is
/// reached over https, where telling browsers to stay on https is safe.
pub fn add_security_headers(response: &mut Response, hsts: bool) {
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages carry codes and personal data: no cache may keep them.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}
