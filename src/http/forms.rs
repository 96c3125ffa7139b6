//! Form plumbing: reading urlencoded bodies, CSRF tokens, origin checks,
//! and where a request comes from.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use data_encoding::BASE64URL_NOPAD;
use ring::hmac;
use ring::rand::SecureRandom;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::error::Error;

/// The connection's peer, put in every request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client's address: the connection's, or — behind a proxy that sets
/// `server.client_ip_header` — the last address in that header.
pub fn client_ip(config: &Config, request: &http::Request<Bytes>) -> IpAddr {
    let peer = request
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let Some(header) = &config.server.client_ip_header else {
        return peer;
    };
    request
        .headers()
        .get_all(header)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// Signs form tokens (CSRF protection for forms without a session).
pub struct FormKey(hmac::Key);

impl FormKey {
    /// A key from stored bytes (see `jitsi::keys::load_form_key`).
    pub fn from_bytes(bytes: &[u8]) -> FormKey {
        FormKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// A fresh random key (tests).
    pub fn generate(rng: &dyn SecureRandom) -> FormKey {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes)
            .expect("the operating system's random number generator failed");
        FormKey::from_bytes(&bytes)
    }

    /// A token binding a form to what it acts on (`purpose`, e.g. "cancel",
    /// and the code in its URL), so it cannot be replayed elsewhere.
    pub fn token(&self, purpose: &str, subject: &str) -> String {
        let tag = hmac::sign(&self.0, format!("{purpose}\n{subject}").as_bytes());
        BASE64URL_NOPAD.encode(tag.as_ref())
    }

    /// Constant-time check of a token from a form.
    pub fn verify(&self, purpose: &str, subject: &str, token: Option<&str>) -> bool {
        let Some(tag) = token.and_then(|t| BASE64URL_NOPAD.decode(t.as_bytes()).ok()) else {
            return false;
        };
        hmac::verify(&self.0, format!("{purpose}\n{subject}").as_bytes(), &tag).is_ok()
    }
}

/// Refuses a state-changing request made from another site: browsers send
/// `Sec-Fetch-Site` and `Origin`, and both must point at bedside itself.
///
/// Every page is served with `Referrer-Policy: no-referrer`, under which
/// browsers send `Origin: null` even on same-origin form posts (Fetch
/// standard, "serializing a request origin"). So `null` is accepted; a
/// cross-site post still says so in `Sec-Fetch-Site`, and the form's token
/// is required in any case.
pub fn check_same_origin(config: &Config, request: &http::Request<Bytes>) -> Result<(), Error> {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(Error::Forbidden);
    }
    if let Some(origin) = headers.get(http::header::ORIGIN)
        && origin.as_bytes() != b"null"
        && origin.as_bytes() != origin_of(&config.server.public_url).as_bytes()
    {
        return Err(Error::Forbidden);
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn parse_form<T: DeserializeOwned>(request: &http::Request<Bytes>) -> Result<T, Error> {
    require_type(request, "application/x-www-form-urlencoded")?;
    serde_urlencoded::from_bytes(request.body()).map_err(|_| {
        Error::BadRequest("the form could not be read; please reload the page and try again".into())
    })
}

/// Parses a JSON body; the message names what is wrong.
pub fn parse_json<T: DeserializeOwned>(request: &http::Request<Bytes>) -> Result<T, Error> {
    require_type(request, "application/json")?;
    serde_json::from_slice(request.body())
        .map_err(|e| Error::BadRequest(format!("the JSON body could not be read: {e}")))
}

fn require_type(request: &http::Request<Bytes>, expected: &'static str) -> Result<(), Error> {
    let given = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if given.as_deref() == Some(expected) {
        Ok(())
    } else {
        Err(Error::UnsupportedMediaType { expected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_purpose_and_subject() {
        let key = FormKey::generate(&ring::rand::SystemRandom::new());
        let t = key.token("cancel", "abc");
        assert!(key.verify("cancel", "abc", Some(&t)));
        assert!(!key.verify("cancel", "abd", Some(&t)));
        assert!(!key.verify("book", "abc", Some(&t)));
        assert!(!key.verify("cancel", "abc", None));
        assert!(!key.verify("cancel", "abc", Some("!!")));
        let other = FormKey::generate(&ring::rand::SystemRandom::new());
        assert!(!other.verify("cancel", "abc", Some(&t)));
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            origin_of("https://visits.example.org"),
            "https://visits.example.org"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080"
        );
    }
}
