//! Minting the JWTs that Jitsi's Prosody accepts.
//!
//! The rules, from Prosody's `token/util.lib.lua` and `luajwtjitsi.lib.lua`:
//! header `typ` exactly `"JWT"` and `alg` the one Prosody is configured
//! with; `iss` = app id, `aud` a *string*, `sub` = XMPP domain or tenant,
//! `room` = the room name as Prosody sees it, `nbf`/`exp` JSON numbers
//! checked with no leeway (and a token without `exp` never expires, so it is
//! always set). `context.user` fields are all strings and never carry an
//! e-mail address: they are shown to everyone in the call.
//!
//! Moderation is stated twice because the community plugins read different
//! places: `token_moderation` reads the top-level boolean `moderator`,
//! `token_affiliation` reads `context.user.affiliation` / `.moderator`.

use std::sync::{Arc, Mutex};

use data_encoding::BASE64URL_NOPAD;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::Header;
use serde::Serialize;

use super::keyring::{KeyError, KeyRing, SigningKey};
use super::keys::{self, AppSecret, SecretError};
use super::room::RoomName;
use crate::config::{Algorithm, JitsiConfig};

/// The longest a token may be valid. A visit or instant meeting lasts hours
/// at most; Prosody has no revocation and no replay check, so a longer token
/// would be a standing key to the room.
pub const MAX_VALIDITY: SignedDuration = SignedDuration::from_hours(24);

/// Longest display name; Jitsi shows it on a tile.
const MAX_NAME_CHARS: usize = 100;

/// Who is joining, as other participants will see them.
#[derive(Debug, Clone)]
pub struct TokenUser {
    id: String,
    name: String,
}

/// Why a user could not be put in a token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("the display name is empty; give the name people in the call should see")]
    EmptyName,
    #[error("the display name is longer than {MAX_NAME_CHARS} characters")]
    LongName,
    #[error("the display name contains control characters or line breaks")]
    ControlInName,
    #[error(
        "the display name looks like an e-mail address; tokens are shown to everyone in the call, so use a name or a label such as \"Tablet 3\""
    )]
    EmailAsName,
    #[error("the user id must be 1 to 64 printable ASCII characters")]
    BadId,
}

impl TokenUser {
    /// A user with a stable `id` (not personal: e.g. `tablet-3`) and a
    /// display `name`.
    pub fn new(id: &str, name: &str) -> Result<TokenUser, UserError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(UserError::EmptyName);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(UserError::LongName);
        }
        if name.chars().any(char::is_control) {
            return Err(UserError::ControlInName);
        }
        if looks_like_email(name) {
            return Err(UserError::EmailAsName);
        }
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(UserError::BadId);
        }
        Ok(TokenUser {
            id: id.to_string(),
            name: name.to_string(),
        })
    }
}

fn looks_like_email(s: &str) -> bool {
    s.split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

/// What the holder may do in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Tablets and staff: may moderate.
    Moderator,
    /// Families and instant-meeting guests.
    Guest,
}

/// One permission to enter one room during one window.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub room: &'a RoomName,
    pub user: &'a TokenUser,
    pub role: Role,
    /// The first instant the token is accepted.
    pub not_before: Timestamp,
    /// The first instant the token is refused again.
    pub expires: Timestamp,
}

/// Why a token was not minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("the token would expire before it becomes valid")]
    EmptyWindow,
    #[error("a token may be valid for at most {MAX_VALIDITY:#}, counted from when it is signed")]
    TooLong,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signing the token failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    room: &'a str,
    /// Not checked by Prosody; kept for the hospital's own audit of tokens.
    iat: i64,
    nbf: i64,
    exp: i64,
    moderator: bool,
    context: Context<'a>,
}

#[derive(Serialize)]
struct Context<'a> {
    user: ContextUser<'a>,
}

#[derive(Serialize)]
struct ContextUser<'a> {
    id: &'a str,
    name: &'a str,
    /// A string, like every `context.user` field ("true"/"false").
    moderator: &'static str,
    /// Read by the `token_affiliation` plugin.
    affiliation: &'static str,
}

/// Holds the prepared key and the fixed claims; shared by everything that
/// mints, so every token in the system is made the same way.
pub struct Minter {
    header: Header,
    signer: Signer,
    issuer: String,
    audience: String,
    subject: String,
    join_base: String,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("alg", &self.header.alg)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What signs: the shared secret (HS*), or the key ring's current RSA key
/// (RS*), re-read when `bedside keys generate` made a new one current.
enum Signer {
    /// Signed with ring directly. The header and the claims that never
    /// change (`iss`, `aud`, `sub`) are encoded once, into `prefix`
    /// (`<header>.<start of payload>`), and the HMAC has taken them in
    /// already: a token costs its own claims, their base64url and the rest
    /// of the HMAC.
    Secret {
        prefix: String,
        hmac: Box<ring::hmac::Context>,
    },
    Rsa {
        ring: KeyRing,
        loaded: Mutex<Option<Arc<SigningKey>>>,
    },
}

/// Why the key material for minting could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl Minter {
    /// The minter for the configured algorithm: the shared secret for HS*,
    /// the key directory for RS*. With `create`, a first start makes the
    /// missing secret or key (that is what `serve` does).
    pub fn load(config: &JitsiConfig, create: bool) -> Result<Minter, LoadError> {
        if !config.algorithm.is_public_key() {
            let secret = keys::load(config, create)?;
            return Ok(Minter::new(config, &secret));
        }
        let ring = KeyRing::new(&config.key_dir);
        let current = match ring.current() {
            Ok(key) => key,
            Err(KeyError::NoKey(_)) if create => {
                let kid = ring.generate(Timestamp::now())?;
                tracing::info!(
                    kid = %kid,
                    dir = %config.key_dir.display(),
                    "generated an RSA signing key; Prosody fetches its public key from <server.public_url>/asap"
                );
                ring.current()?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Minter::with_header(
            config,
            Signer::Rsa {
                ring,
                loaded: Mutex::new(Some(Arc::new(current))),
            },
        ))
    }

    /// An HS* minter with this secret.
    pub fn new(config: &JitsiConfig, secret: &AppSecret) -> Minter {
        let hmac = match config.algorithm {
            Algorithm::HS384 | Algorithm::RS384 => ring::hmac::HMAC_SHA384,
            Algorithm::HS512 | Algorithm::RS512 => ring::hmac::HMAC_SHA512,
            Algorithm::HS256 | Algorithm::RS256 => ring::hmac::HMAC_SHA256,
        };
        // Exactly what jsonwebtoken writes for `Header::new(alg)`.
        let header = format!(r#"{{"typ":"JWT","alg":"{}"}}"#, config.algorithm.as_str());
        let mut minter = Minter::with_header(
            config,
            Signer::Secret {
                prefix: String::new(),
                hmac: Box::new(ring::hmac::Context::with_key(&ring::hmac::Key::new(
                    hmac,
                    secret.expose(),
                ))),
            },
        );
        let fixed = fixed_claims_json(&minter.issuer, &minter.audience, &minter.subject);
        if let Signer::Secret { prefix, hmac } = &mut minter.signer {
            *prefix = BASE64URL_NOPAD.encode(header.as_bytes());
            prefix.push('.');
            BASE64URL_NOPAD.encode_append(&fixed, prefix);
            hmac.update(prefix.as_bytes());
        }
        minter
    }

    /// The RS* key ring, when tokens are signed with public keys.
    pub fn key_ring(&self) -> Option<&KeyRing> {
        match &self.signer {
            Signer::Rsa { ring, .. } => Some(ring),
            Signer::Secret { .. } => None,
        }
    }

    /// The current RSA key, reloaded when the directory names a new one.
    fn rsa_key(
        ring: &KeyRing,
        loaded: &Mutex<Option<Arc<SigningKey>>>,
    ) -> Result<Arc<SigningKey>, KeyError> {
        let kid = ring
            .current_kid()?
            .ok_or_else(|| KeyError::NoKey(ring.dir().to_path_buf()))?;
        let mut slot = loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = slot.as_ref()
            && key.kid == kid
        {
            return Ok(key.clone());
        }
        let key = Arc::new(ring.load(&kid)?);
        tracing::info!(kid = %kid, "signing tokens with a new RSA key");
        *slot = Some(key.clone());
        Ok(key)
    }

    fn with_header(config: &JitsiConfig, signer: Signer) -> Minter {
        let alg = match config.algorithm {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::HS384 => jsonwebtoken::Algorithm::HS384,
            Algorithm::HS512 => jsonwebtoken::Algorithm::HS512,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::RS384 => jsonwebtoken::Algorithm::RS384,
            Algorithm::RS512 => jsonwebtoken::Algorithm::RS512,
        };
        // Header::new sets typ "JWT", the exact string Prosody requires.
        let header = Header::new(alg);
        let subject = config
            .tenant
            .clone()
            .unwrap_or_else(|| config.xmpp_domain.clone());
        let join_base = match &config.tenant {
            Some(t) => format!("{}/{t}", config.public_url),
            None => config.public_url.clone(),
        };
        Minter {
            header,
            signer,
            issuer: config.app_id.clone(),
            audience: config.audience.clone(),
            subject,
            join_base,
        }
    }

    /// Signs a token for exactly this grant. `now` is the issue time.
    pub fn mint(&self, grant: &Grant<'_>, now: Timestamp) -> Result<String, MintError> {
        let mut token = String::with_capacity(512);
        self.mint_into(grant, now, &mut token)?;
        Ok(token)
    }

    /// [`Minter::mint`], appending the token to `out`.
    fn mint_into(
        &self,
        grant: &Grant<'_>,
        now: Timestamp,
        out: &mut String,
    ) -> Result<(), MintError> {
        if grant.expires <= grant.not_before {
            return Err(MintError::EmptyWindow);
        }
        if grant.expires.duration_since(grant.not_before) > MAX_VALIDITY
            || grant.expires.duration_since(now) > MAX_VALIDITY
        {
            // The second rule bounds every token by its signing time, so a
            // retired RSA key's tokens are all expired MAX_VALIDITY after it
            // stopped signing.
            return Err(MintError::TooLong);
        }
        let moderator = grant.role == Role::Moderator;
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &self.subject,
            room: grant.room.as_str(),
            iat: now.as_second(),
            nbf: grant.not_before.as_second(),
            exp: grant.expires.as_second(),
            moderator,
            context: Context {
                user: ContextUser {
                    id: &grant.user.id,
                    name: &grant.user.name,
                    moderator: if moderator { "true" } else { "false" },
                    affiliation: if moderator { "owner" } else { "member" },
                },
            },
        };
        match &self.signer {
            Signer::Secret { prefix, hmac } => {
                let mut json = Vec::with_capacity(256);
                variable_claims_json(&mut json, &claims)?;
                let start = out.len() + prefix.len();
                out.push_str(prefix);
                BASE64URL_NOPAD.encode_append(&json, out);
                let mut hmac = ring::hmac::Context::clone(hmac);
                hmac.update(&out.as_bytes()[start..]);
                let signature = hmac.sign();
                out.push('.');
                BASE64URL_NOPAD.encode_append(signature.as_ref(), out);
                Ok(())
            }
            Signer::Rsa { ring, loaded } => {
                let key = Minter::rsa_key(ring, loaded)?;
                let mut header = self.header.clone();
                header.kid = Some(key.kid.clone());
                out.push_str(&jsonwebtoken::encode(&header, &claims, &key.key)?);
                Ok(())
            }
        }
    }

    /// The address that takes the holder straight into the room:
    /// `https://<jitsi>[/<tenant>]/<room>#jwt=<token>`. The token rides in the
    /// fragment, which browsers never send to a server or in a Referer.
    pub fn join_url(&self, grant: &Grant<'_>, now: Timestamp) -> Result<String, MintError> {
        let room = grant.room.as_str();
        let mut url = String::with_capacity(self.join_base.len() + room.len() + 512);
        url.push_str(&self.join_base);
        url.push('/');
        url.push_str(room);
        url.push_str("#jwt=");
        self.mint_into(grant, now, &mut url)?;
        Ok(url)
    }
}

/// The claims that are the same in every token of a minter, as the start of
/// the payload's JSON: `{"iss":…,"aud":…,"sub":…,` padded with spaces (JSON
/// whitespace) to a multiple of three bytes, so its base64url is a prefix of
/// every payload's and is encoded once.
fn fixed_claims_json(iss: &str, aud: &str, sub: &str) -> Vec<u8> {
    let mut json = Vec::with_capacity(128);
    for (name, value) in [("{\"iss\":", iss), (",\"aud\":", aud), (",\"sub\":", sub)] {
        json.extend_from_slice(name.as_bytes());
        // A &str always serializes.
        let _ = serde_json::to_writer(&mut json, value);
    }
    json.push(b',');
    while json.len() % 3 != 0 {
        json.push(b' ');
    }
    json
}

/// The rest of the payload after [`fixed_claims_json`]: the same members, in
/// the same order and with the same escaping, as serde writes for
/// [`Claims`] (a test compares the two).
fn variable_claims_json(out: &mut Vec<u8>, c: &Claims<'_>) -> Result<(), MintError> {
    let to_json = |e: serde_json::Error| MintError::Sign(e.into());
    out.extend_from_slice(b"\"room\":");
    serde_json::to_writer(&mut *out, c.room).map_err(to_json)?;
    for (name, value) in [
        (",\"iat\":", c.iat),
        (",\"nbf\":", c.nbf),
        (",\"exp\":", c.exp),
    ] {
        out.extend_from_slice(name.as_bytes());
        serde_json::to_writer(&mut *out, &value).map_err(to_json)?;
    }
    out.extend_from_slice(if c.moderator {
        b",\"moderator\":true,\"context\":{\"user\":{\"id\":"
    } else {
        b",\"moderator\":false,\"context\":{\"user\":{\"id\":"
    });
    let user = &c.context.user;
    serde_json::to_writer(&mut *out, user.id).map_err(to_json)?;
    out.extend_from_slice(b",\"name\":");
    serde_json::to_writer(&mut *out, user.name).map_err(to_json)?;
    out.extend_from_slice(b",\"moderator\":\"");
    out.extend_from_slice(user.moderator.as_bytes());
    out.extend_from_slice(b"\",\"affiliation\":\"");
    out.extend_from_slice(user.affiliation.as_bytes());
    out.extend_from_slice(b"\"}}}");
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Each test decodes the token by hand and checks the signature with ring
    //! directly, independent of jsonwebtoken, the way Prosody would.

    use super::*;
    use crate::config::{Config, Env};
    use data_encoding::BASE64URL_NOPAD;
    use serde_json::Value;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn minter(vars: &[(&str, &str)]) -> Minter {
        let env: Env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::load(None, &env).unwrap();
        Minter::new(&config.jitsi, &AppSecret::from_bytes(SECRET.to_vec()))
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    struct Decoded {
        header: Value,
        claims: Value,
    }

    /// Splits, decodes and verifies a token with ring's HMAC; None if the
    /// signature does not verify.
    fn verify(token: &str, alg: ring::hmac::Algorithm, secret: &[u8]) -> Option<Decoded> {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWS compact token has three parts");
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        let signature = BASE64URL_NOPAD.decode(parts[2].as_bytes()).ok()?;
        let key = ring::hmac::Key::new(alg, secret);
        ring::hmac::verify(&key, signing_input.as_bytes(), &signature).ok()?;
        let json = |p: &str| -> Value {
            serde_json::from_slice(&BASE64URL_NOPAD.decode(p.as_bytes()).unwrap()).unwrap()
        };
        Some(Decoded {
            header: json(parts[0]),
            claims: json(parts[1]),
        })
    }

    fn grant<'a>(room: &'a RoomName, user: &'a TokenUser, role: Role) -> Grant<'a> {
        Grant {
            room,
            user,
            role,
            not_before: t("2026-11-22T14:00:00Z"),
            expires: t("2026-11-22T14:30:00Z"),
        }
    }

    fn mint_default(role: Role) -> (String, RoomName) {
        let room = RoomName::parse("abc123").unwrap();
        let user = TokenUser::new("tablet-3", "Tablet 3").unwrap();
        let token = minter(&[])
            .mint(&grant(&room, &user, role), t("2026-11-22T13:55:00Z"))
            .unwrap();
        (token, room)
    }

    #[test]
    fn header_is_typ_jwt_and_the_configured_alg() {
        let (token, _) = mint_default(Role::Guest);
        let d = verify(&token, ring::hmac::HMAC_SHA256, SECRET).expect("signature");
        assert_eq!(d.header["typ"], "JWT");
        assert_eq!(d.header["alg"], "HS256");

        let room = RoomName::parse("abc123").unwrap();
        let user = TokenUser::new("x", "Tablet 3").unwrap();
        for (alg, ring_alg) in [
            ("HS384", ring::hmac::HMAC_SHA384),
            ("HS512", ring::hmac::HMAC_SHA512),
        ] {
            let m = minter(&[("BEDSIDE_JITSI_ALGORITHM", alg)]);
            let token = m
                .mint(&grant(&room, &user, Role::Guest), t("2026-11-22T14:00:00Z"))
                .unwrap();
            let d = verify(&token, ring_alg, SECRET).expect(alg);
            assert_eq!(d.header["alg"], alg);
            assert_eq!(d.header["typ"], "JWT");
        }
    }

    #[test]
    fn the_payload_is_what_serde_writes_for_the_claims() {
        // Names that need escaping, odd lengths of the fixed claims (each
        // padding length), both roles.
        let names = ["Family of Bed 12", "Zoë \"Mum\" <O'Brien> \\ ☺", "Tablet 3"];
        let apps = ["bedside", "app12", "hospital-app"];
        for (i, (name, app)) in names.iter().zip(apps).enumerate() {
            let m = minter(&[("BEDSIDE_JITSI_APP_ID", app)]);
            let room = RoomName::parse("abc123").unwrap();
            let user = TokenUser::new(&format!("visit-{i}"), name).unwrap();
            for role in [Role::Guest, Role::Moderator] {
                let g = grant(&room, &user, role);
                let now = t("2026-11-22T13:55:00Z");
                let token = m.mint(&g, now).unwrap();
                assert!(verify(&token, ring::hmac::HMAC_SHA256, SECRET).is_some());
                let payload = token.split('.').nth(1).unwrap();
                let payload = BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap();
                let payload = String::from_utf8(payload).unwrap();
                // The padding is whitespace after the fixed claims' comma.
                let (fixed, rest) = payload.split_once("\"room\"").unwrap();
                let fixed = fixed.trim_end();
                let moderator = role == Role::Moderator;
                let expected = serde_json::to_string(&Claims {
                    iss: &m.issuer,
                    aud: &m.audience,
                    sub: &m.subject,
                    room: room.as_str(),
                    iat: now.as_second(),
                    nbf: g.not_before.as_second(),
                    exp: g.expires.as_second(),
                    moderator,
                    context: Context {
                        user: ContextUser {
                            id: &user.id,
                            name: &user.name,
                            moderator: if moderator { "true" } else { "false" },
                            affiliation: if moderator { "owner" } else { "member" },
                        },
                    },
                })
                .unwrap();
                assert_eq!(format!("{fixed}\"room\"{rest}"), expected);
                let value: Value = serde_json::from_str(&payload).unwrap();
                assert_eq!(value["context"]["user"]["name"], *name);
            }
        }
    }

    #[test]
    fn claims_follow_prosodys_rules() {
        let (token, room) = mint_default(Role::Guest);
        let c = verify(&token, ring::hmac::HMAC_SHA256, SECRET)
            .unwrap()
            .claims;
        assert_eq!(c["iss"], "bedside");
        assert!(c["aud"].is_string(), "aud must be a string, not an array");
        assert_eq!(c["aud"], "jitsi");
        assert_eq!(c["sub"], "meet.jitsi");
        assert_eq!(c["room"], room.as_str());
        assert!(
            c["nbf"].is_i64() && c["exp"].is_i64(),
            "nbf/exp are numbers"
        );
        assert_eq!(c["nbf"], t("2026-11-22T14:00:00Z").as_second());
        assert_eq!(c["exp"], t("2026-11-22T14:30:00Z").as_second());
        assert_eq!(c["iat"], t("2026-11-22T13:55:00Z").as_second());
    }

    #[test]
    fn the_room_claim_is_the_lower_case_room_and_never_a_wildcard() {
        let rng = ring::rand::SystemRandom::new();
        let m = minter(&[]);
        let user = TokenUser::new("x", "Tablet 3").unwrap();
        for _ in 0..50 {
            let room = RoomName::generate(&rng).unwrap();
            let token = m
                .mint(&grant(&room, &user, Role::Guest), t("2026-11-22T14:00:00Z"))
                .unwrap();
            let c = verify(&token, ring::hmac::HMAC_SHA256, SECRET)
                .unwrap()
                .claims;
            let claim = c["room"].as_str().unwrap();
            assert_eq!(claim, room.as_str());
            assert_eq!(claim, claim.to_lowercase());
            assert_ne!(claim, "*");
            assert!(c["context"].get("room").is_none(), "no regex rooms");
        }
        // `*` cannot even be expressed as a room name.
        assert!(RoomName::parse("*").is_err());
    }

    #[test]
    fn sub_is_the_tenant_when_one_is_set_and_the_url_has_it() {
        let m = minter(&[
            ("BEDSIDE_JITSI_TENANT", "hospital"),
            ("BEDSIDE_JITSI_PUBLIC_URL", "https://meet.example.org/"),
        ]);
        let room = RoomName::parse("abc123").unwrap();
        let user = TokenUser::new("x", "Tablet 3").unwrap();
        let g = grant(&room, &user, Role::Guest);
        let url = m.join_url(&g, t("2026-11-22T14:00:00Z")).unwrap();
        let (base, token) = url.split_once("#jwt=").unwrap();
        assert_eq!(base, "https://meet.example.org/hospital/abc123");
        let c = verify(token, ring::hmac::HMAC_SHA256, SECRET)
            .unwrap()
            .claims;
        assert_eq!(c["sub"], "hospital");
    }

    #[test]
    fn join_url_carries_the_token_in_the_fragment_only() {
        let m = minter(&[]);
        let room = RoomName::parse("abc123").unwrap();
        let user = TokenUser::new("x", "Tablet 3").unwrap();
        let url = m
            .join_url(&grant(&room, &user, Role::Guest), t("2026-11-22T14:00:00Z"))
            .unwrap();
        assert!(
            url.starts_with("https://localhost:8443/abc123#jwt=ey"),
            "{url}"
        );
        assert!(!url.contains('?'));
    }

    #[test]
    fn moderator_is_stated_consistently_in_both_places() {
        for (role, top, user, affiliation) in [
            (Role::Moderator, true, "true", "owner"),
            (Role::Guest, false, "false", "member"),
        ] {
            let (token, _) = mint_default(role);
            let c = verify(&token, ring::hmac::HMAC_SHA256, SECRET)
                .unwrap()
                .claims;
            assert_eq!(c["moderator"], top);
            assert_eq!(c["context"]["user"]["moderator"], user);
            assert_eq!(c["context"]["user"]["affiliation"], affiliation);
        }
    }

    #[test]
    fn context_user_holds_only_strings_and_no_email() {
        let (token, _) = mint_default(Role::Guest);
        let c = verify(&token, ring::hmac::HMAC_SHA256, SECRET)
            .unwrap()
            .claims;
        let user = c["context"]["user"].as_object().unwrap();
        assert!(user.values().all(Value::is_string), "{user:?}");
        assert!(!user.contains_key("email"));
        assert_eq!(user["name"], "Tablet 3");
        assert_eq!(user["id"], "tablet-3");
        assert_eq!(
            TokenUser::new("x", "anna.example@example.org").unwrap_err(),
            UserError::EmailAsName
        );
        assert!(!token.contains("@"));
    }

    #[test]
    fn a_tampered_token_or_wrong_secret_fails_verification() {
        let (token, _) = mint_default(Role::Guest);
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap()).unwrap();
        claims["room"] = "otherroom".into();
        claims["exp"] = (claims["exp"].as_i64().unwrap() + 3600).into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            BASE64URL_NOPAD.encode(claims.to_string().as_bytes()),
            parts[2]
        );
        assert!(verify(&forged, ring::hmac::HMAC_SHA256, SECRET).is_none());
        assert!(
            verify(
                &token,
                ring::hmac::HMAC_SHA256,
                b"another secret of at least 32 bytes!"
            )
            .is_none()
        );
        assert!(verify(&token, ring::hmac::HMAC_SHA256, SECRET).is_some());
    }

    #[test]
    fn windows_must_be_non_empty_and_bounded() {
        let m = minter(&[]);
        let room = RoomName::parse("abc123").unwrap();
        let user = TokenUser::new("x", "Tablet 3").unwrap();
        let mut g = grant(&room, &user, Role::Guest);
        g.expires = g.not_before;
        assert!(matches!(
            m.mint(&g, g.not_before),
            Err(MintError::EmptyWindow)
        ));
        g.expires = g.not_before + SignedDuration::from_hours(25);
        assert!(matches!(m.mint(&g, g.not_before), Err(MintError::TooLong)));
    }

    #[test]
    fn display_names_are_checked() {
        assert_eq!(TokenUser::new("x", "  ").unwrap_err(), UserError::EmptyName);
        assert_eq!(
            TokenUser::new("x", "a\nb").unwrap_err(),
            UserError::ControlInName
        );
        assert_eq!(
            TokenUser::new("x", &"n".repeat(101)).unwrap_err(),
            UserError::LongName
        );
        assert_eq!(TokenUser::new("", "Ok").unwrap_err(), UserError::BadId);
        assert_eq!(TokenUser::new("x", " Bed 12 ").unwrap().name, "Bed 12");
    }
}
