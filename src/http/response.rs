//! Building responses: bodies, the error mapping, and the headers every
//! response carries.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body_util::Full;

use crate::error::Error;
use crate::http::router::Flavour;
use crate::i18n::Lang;

/// The response type of every handler.
pub type Response = http::Response<Full<Bytes>>;

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

/// As [`with_header`], taking the value without copying it (a long
/// `Location`, say).
pub fn with_header_owned(response: &mut Response, name: http::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(value)) {
        response.headers_mut().insert(name, v);
    }
}

/// Sets a header from a static name and a value known to be valid text.
pub fn with_header(response: &mut Response, name: http::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// An HTML page.
pub fn html(status: http::StatusCode, body: String) -> Response {
    with_type(status, "text/html; charset=utf-8", body.into_bytes())
}

/// A plain-text response.
pub fn text(status: http::StatusCode, body: &str) -> Response {
    with_type(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

/// Headers a response usually ends up with: its own few and
/// [`SecurityHeaders`]. Room for them up front spares the map regrowing.
const USUAL_HEADERS: usize = 12;

fn with_type(status: http::StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.reserve(USUAL_HEADERS);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The answer to a failed request, in the route's flavour. 4xx errors
/// explain themselves; 5xx errors are logged with their cause and answered
/// with a generic message, so no internal detail (or personal data inside
/// it) reaches the client. Pages are in `lang` (see [`error_lang`]).
pub fn from_error(error: &Error, flavour: Flavour, lang: Lang) -> Response {
    let status = error.status();
    if status.is_server_error() {
        tracing::error!(error = %error, source = ?std::error::Error::source(error), "request failed");
    }
    let mut response = match flavour {
        Flavour::Json => {
            let message = if status.is_server_error() {
                "internal error; try again later".to_string()
            } else if let Error::Invalid { message, .. } = error {
                message.clone()
            } else {
                error.to_string()
            };
            let mut body = serde_json::json!({ "error": message });
            if let Error::Invalid { field, .. } = error {
                body["field"] = (*field).into();
            }
            json(status, &body)
        }
        Flavour::Page => page_for(error, status, lang),
        Flavour::Text if status.is_server_error() => text(
            status,
            "Something went wrong on our side. Please try again in a minute; \
             if it keeps happening, tell the ward or the hospital's IT service desk.\n",
        ),
        Flavour::Text => text(status, &format!("{error}\n")),
    };
    match error {
        Error::MethodNotAllowed { allow, .. } => {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        Error::TooManyRequests { retry_after } => {
            with_header(&mut response, header::RETRY_AFTER, &retry_after.to_string());
        }
        Error::Unauthorized => {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Error::LoginRequired => {
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/staff/login"));
        }
        _ => {}
    }
    response
}

/// The language of an error page on the route `pattern`: the browser's on
/// the family's pages ("this link does not work" must reach a family in a
/// language it reads), English on the staff pages, which are English.
pub fn error_lang(pattern: &str, headers: &http::HeaderMap) -> Lang {
    let family = pattern == "/privacy" || pattern.starts_with("/b/") || pattern.starts_with("/v/");
    if family {
        Lang::of_browser(headers)
    } else {
        Lang::En
    }
}

/// A family-facing HTML page for an error.
fn page_for(error: &Error, status: http::StatusCode, lang: Lang) -> Response {
    use crate::http::pages::{MessagePage, render};
    let t = lang.text();
    let detail = error.to_string();
    let page = match error {
        Error::NotFound => MessagePage::new(lang, t.not_found_heading, &[t.not_found_body]),
        Error::FormExpired => MessagePage::new(lang, t.error_heading, &[t.form_expired]),
        Error::TooManyRequests { .. } => {
            MessagePage::new(lang, t.too_many_heading, &[t.too_many_body])
        }
        _ if status.is_server_error() => MessagePage::new(lang, t.error_heading, &[t.error_body]),
        // The detail is English; a family reading another language gets
        // the general advice instead of a sentence it may not read.
        _ if lang != Lang::En => MessagePage::new(lang, t.error_heading, &[t.error_body]),
        _ => MessagePage::new(lang, t.error_heading, &[&detail]),
    };
    match render(status, &page) {
        Ok(mut r) => {
            *r.status_mut() = status;
            r
        }
        Err(_) => text(status, &detail),
    }
}

/// The headers every response carries, prepared once from the
/// configuration.
pub struct SecurityHeaders {
    csp: HeaderValue,
    hsts: bool,
}

impl SecurityHeaders {
    /// No scripts or styles inline, nothing from elsewhere, no framing.
    /// Pages load their scripts and styles as files from `'self'`. Forms
    /// may lead to the hospital's own Jitsi as well: "open meeting" is a
    /// form whose answer redirects there, and Chrome applies `form-action`
    /// to that redirect. HSTS only when bedside is reached over https.
    pub fn new(config: &crate::config::Config) -> SecurityHeaders {
        let jitsi = crate::http::forms::origin_of(&config.jitsi.public_url);
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self' {jitsi}; frame-ancestors 'none'; base-uri 'none'"
        );
        SecurityHeaders {
            csp: HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(
                "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            )),
            hsts: config.server.public_url.starts_with("https://"),
        }
    }

    /// Adds the headers; a CSP or Cache-Control the handler set stays.
    pub fn apply(&self, response: &mut Response) {
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
            .or_insert(self.csp.clone());
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        // Pages carry codes and personal data: no cache may keep them.
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        if self.hsts {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            );
        }
    }
}
