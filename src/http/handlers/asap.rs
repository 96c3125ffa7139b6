//! `GET /asap/<sha256(kid)>.pem`: the public keys Prosody fetches to check
//! RS* tokens (`asap_key_server`, docker-jitsi-meet `JWT_ASAP_KEYSERVER`).
//!
//! Prosody asks for `<asap_key_server>/<lower-case hex sha256(kid)>.pem`
//! and caches the answer by `kid` for as long as it runs. The current key
//! and retired keys whose tokens may still be valid are served; anything
//! else is 404, the answer Prosody turns into "token rejected".

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body_util::Full;

use crate::State;
use crate::error::{Error, Result};
use crate::http::response::Response;

pub async fn public_key_show(state: &State, file: &str) -> Result<Response> {
    let Some(ring) = state.minter.key_ring().cloned() else {
        // HS* mode: there are no public keys.
        return Err(Error::NotFound);
    };
    let Some(hash) = file.strip_suffix(".pem").map(str::to_string) else {
        return Err(Error::NotFound);
    };
    let now = state.clock.now();
    // The key directory is read off the async workers.
    let found = tokio::task::spawn_blocking(move || ring.public_pem(&hash, now))
        .await
        .map_err(|_| Error::Db(crate::store::StoreError::Closed))?;
    let pem = match found {
        Ok(Some(pem)) => pem,
        Ok(None) => return Err(Error::NotFound),
        Err(e) => return Err(Error::Mint(e.into())),
    };
    let mut response = http::Response::new(Full::new(Bytes::from(pem)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    // A key never changes under its kid; Prosody caches it anyway.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}
