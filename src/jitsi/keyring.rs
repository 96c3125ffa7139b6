//! RSA signing keys for public-key ("ASAP") tokens, and the public keys
//! Prosody fetches.
//!
//! Prosody verifies an RS* token with the public key it downloads from
//! `<asap_key_server>/<lower-case hex sha256(kid)>.pem`, and caches it by
//! `kid` for as long as it runs. So a key is never replaced under the same
//! `kid`: rotation means a new key with a new `kid`.
//!
//! The key directory (`jitsi.key_dir`, mode 0700) holds:
//! - `current`: the `kid` that signs from now on;
//! - `<kid>.key.pem`: its private key (PKCS#8, mode 0600) — only the current
//!   key keeps one: a retired key never signs again, so its private half is
//!   deleted the moment it retires;
//! - `<kid>.pub.pem`: the public key (SubjectPublicKeyInfo), served at `/asap/`;
//! - `<kid>.retired`: when a key stopped signing (RFC 3339). Its public key
//!   is served until every token it signed has expired — at most
//!   [`MAX_VALIDITY`] later, because the minter never signs a token that
//!   outlives its issue time by more — and may be removed after that
//!   (`bedside keys prune`).
//!
//! Generating an RSA key is not something ring can do, and bedside keeps ring
//! as its only crypto library, so `bedside keys generate` asks the system's
//! `openssl` command for the key pair; bedside itself only reads PEM files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jiff::Timestamp;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::token::MAX_VALIDITY;

/// The file naming the current key.
const CURRENT: &str = "current";

/// RSA modulus size of generated keys. ring signs with 2048 to 4096 bits.
pub const KEY_BITS: u32 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "jitsi.key_dir: no signing key in {0} yet; run `bedside keys generate` (the server makes one on first start)"
    )]
    NoKey(PathBuf),
    #[error("jitsi.key_dir: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("jitsi.key_dir: {path} is not a usable RSA private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("jitsi.key_dir: {path} names key '{kid}', which has no private key file {kid}.key.pem")]
    Missing { path: PathBuf, kid: String },
    #[error(
        "`openssl` is needed to generate an RSA key and could not be run ({0}); install it \
         (Debian: apt-get install openssl), or create the key pair elsewhere and place it in the \
         key directory as described in the README"
    )]
    NoOpenssl(String),
    #[error("openssl failed: {0}")]
    Openssl(String),
    #[error("the system random number generator failed")]
    Random,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A loaded private key and the `kid` that names it.
pub struct SigningKey {
    pub kid: String,
    pub key: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What one public key in the directory is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens.
    Current,
    /// Stopped signing at this time; served until `until`.
    Retired { since: Timestamp, until: Timestamp },
}

/// One public key and its state.
#[derive(Debug, Clone)]
pub struct PublicKeyInfo {
    pub kid: String,
    /// `sha256(kid)` in lower-case hex: the file name Prosody asks for.
    pub hash: String,
    pub state: KeyState,
}

/// The key directory.
#[derive(Debug, Clone)]
pub struct KeyRing {
    dir: PathBuf,
}

/// `sha256(kid)` in lower-case hex, the name under which Prosody fetches the
/// public key.
pub fn kid_hash(kid: &str) -> String {
    data_encoding::HEXLOWER
        .encode(ring::digest::digest(&ring::digest::SHA256, kid.as_bytes()).as_ref())
}

/// A `kid` bedside generated or accepts: short, and safe as a file name.
fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl KeyRing {
    pub fn new(dir: &Path) -> KeyRing {
        KeyRing {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `kid` that signs now, if there is one.
    pub fn current_kid(&self) -> Result<Option<String>, KeyError> {
        let path = self.dir.join(CURRENT);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let kid = text.trim();
                if valid_kid(kid) {
                    Ok(Some(kid.to_string()))
                } else {
                    Err(KeyError::BadKey {
                        path,
                        reason: "the file must hold one key id (a-z, 0-9, '-', '_')".into(),
                    })
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Loads the private key of `kid`, checking that ring can sign with it.
    pub fn load(&self, kid: &str) -> Result<SigningKey, KeyError> {
        let path = self.dir.join(format!("{kid}.key.pem"));
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing {
                    path: self.dir.join(CURRENT),
                    kid: kid.to_string(),
                });
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| KeyError::BadKey {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        // EncodingKey only parses the PEM; signing once proves ring takes
        // the key (size, format) now rather than on a family's first click.
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &serde_json::json!({}), &key).map_err(|e| {
            KeyError::BadKey {
                path: path.clone(),
                reason: format!("{e} (bedside signs with 2048- to 4096-bit RSA keys)"),
            }
        })?;
        Ok(SigningKey {
            kid: kid.to_string(),
            key,
        })
    }

    /// The current signing key.
    pub fn current(&self) -> Result<SigningKey, KeyError> {
        match self.current_kid()? {
            Some(kid) => self.load(&kid),
            None => Err(KeyError::NoKey(self.dir.clone())),
        }
    }

    /// Every public key in the directory, current first.
    pub fn list(&self) -> Result<Vec<PublicKeyInfo>, KeyError> {
        let current = self.current_kid()?;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            let Some(kid) = name.to_str().and_then(|n| n.strip_suffix(".pub.pem")) else {
                continue;
            };
            if !valid_kid(kid) {
                continue;
            }
            let state = if current.as_deref() == Some(kid) {
                KeyState::Current
            } else {
                let since = self.retired_at(kid)?;
                KeyState::Retired {
                    since,
                    until: retire_deadline(since),
                }
            };
            keys.push(PublicKeyInfo {
                kid: kid.to_string(),
                hash: kid_hash(kid),
                state,
            });
        }
        keys.sort_by(|a, b| match (&a.state, &b.state) {
            (KeyState::Current, _) => std::cmp::Ordering::Less,
            (_, KeyState::Current) => std::cmp::Ordering::Greater,
            (KeyState::Retired { since: x, .. }, KeyState::Retired { since: y, .. }) => y.cmp(x),
        });
        Ok(keys)
    }

    /// When `kid` stopped signing. A public key without a record (placed by
    /// hand, or left by a crash mid-rotation) counts as retired since the
    /// file was last changed, so it is kept long enough either way.
    fn retired_at(&self, kid: &str) -> Result<Timestamp, KeyError> {
        let path = self.dir.join(format!("{kid}.retired"));
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| KeyError::BadKey {
                path,
                reason: "must hold an RFC 3339 time".into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let public = self.dir.join(format!("{kid}.pub.pem"));
                let modified = std::fs::metadata(&public)
                    .and_then(|m| m.modified())
                    .map_err(io(&public))?;
                Timestamp::try_from(modified).map_err(|e| KeyError::BadKey {
                    path: public,
                    reason: e.to_string(),
                })
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The public key Prosody asks for by `sha256(kid)` (64 lower-case hex
    /// digits), if it is still served: the current key, or a retired one
    /// whose tokens may not all have expired at `now`.
    pub fn public_pem(&self, hash: &str, now: Timestamp) -> Result<Option<Vec<u8>>, KeyError> {
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Ok(None);
        }
        for key in self.list()? {
            if key.hash != hash {
                continue;
            }
            if let KeyState::Retired { until, .. } = key.state
                && now >= until
            {
                return Ok(None);
            }
            let path = self.dir.join(format!("{}.pub.pem", key.kid));
            return match std::fs::read(&path) {
                Ok(pem) => Ok(Some(pem)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(&path)(e)),
            };
        }
        Ok(None)
    }

    /// Makes a new key pair and lets it sign from now on; the key that
    /// signed until now retires (its private key is deleted, its public key
    /// stays served). Returns the new `kid`.
    pub fn generate(&self, now: Timestamp) -> Result<String, KeyError> {
        create_dir(&self.dir)?;
        let kid = new_kid(now)?;
        let private = openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{KEY_BITS}"),
            ],
            None,
        )?;
        let public = openssl(&["pkey", "-pubout"], Some(&private))?;
        check_pair(&private, &public)?;

        let key_path = self.dir.join(format!("{kid}.key.pem"));
        let pub_path = self.dir.join(format!("{kid}.pub.pem"));
        write_file(&key_path, &private, 0o600)?;
        write_file(&pub_path, &public, 0o644)?;
        let previous = self.current_kid()?;
        if let Some(old) = &previous {
            write_file(
                &self.dir.join(format!("{old}.retired")),
                format!("{now}\n").as_bytes(),
                0o644,
            )?;
        }
        // The switch: from here on the new key signs.
        write_file(
            &self.dir.join(CURRENT),
            format!("{kid}\n").as_bytes(),
            0o644,
        )?;
        if let Some(old) = previous {
            let old_key = self.dir.join(format!("{old}.key.pem"));
            match std::fs::remove_file(&old_key) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&old_key)(e)),
            }
        }
        Ok(kid)
    }

    /// Removes the public keys of retired keys whose every token has expired
    /// at `now`. Returns their `kid`s.
    pub fn prune(&self, now: Timestamp) -> Result<Vec<String>, KeyError> {
        let mut removed = Vec::new();
        for key in self.list()? {
            let KeyState::Retired { until, .. } = key.state else {
                continue;
            };
            if now < until {
                continue;
            }
            for suffix in ["pub.pem", "retired", "key.pem"] {
                let path = self.dir.join(format!("{}.{suffix}", key.kid));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&path)(e)),
                }
            }
            removed.push(key.kid);
        }
        Ok(removed)
    }
}

/// The last moment a token signed by a key retired at `since` can be valid.
pub fn retire_deadline(since: Timestamp) -> Timestamp {
    since.saturating_add(MAX_VALIDITY).unwrap_or(since)
}

/// `bedside-<yyyymmdd>-<8 random hex digits>`: sortable by eye, unique.
fn new_kid(now: Timestamp) -> Result<String, KeyError> {
    let mut random = [0u8; 4];
    SystemRandom::new()
        .fill(&mut random)
        .map_err(|_| KeyError::Random)?;
    Ok(format!(
        "bedside-{}-{}",
        now.strftime("%Y%m%d"),
        data_encoding::HEXLOWER.encode(&random)
    ))
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, KeyError> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KeyError::NoOpenssl(e.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .map_err(|e| KeyError::Openssl(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| KeyError::Openssl(e.to_string()))?;
    if !out.status.success() {
        return Err(KeyError::Openssl(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(out.stdout)
}

/// Signs with the private key and verifies with the public one, so a pair
/// that does not belong together never reaches the directory.
fn check_pair(private: &[u8], public: &[u8]) -> Result<(), KeyError> {
    let bad =
        |reason: String| KeyError::Openssl(format!("the generated key pair is unusable: {reason}"));
    let key = EncodingKey::from_rsa_pem(private).map_err(|e| bad(e.to_string()))?;
    let check = DecodingKey::from_rsa_pem(public).map_err(|e| bad(e.to_string()))?;
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    let token = jsonwebtoken::encode(&header, &serde_json::json!({"check": true}), &key)
        .map_err(|e| bad(e.to_string()))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<serde_json::Value>(&token, &check, &validation)
        .map_err(|e| bad(e.to_string()))?;
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), KeyError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}

/// Writes through a temporary name and renames, so a reader sees the old
/// file or the new one, never half of one.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn kid_hash_is_lower_hex_sha256() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            kid_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn rotation_retires_the_old_key_and_serves_it_until_its_tokens_expire() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::new(&dir.path().join("keys"));
        assert!(matches!(ring.current(), Err(KeyError::NoKey(_))));

        let t0 = at("2026-11-23T10:00:00Z");
        let first = ring.generate(t0).unwrap();
        assert_eq!(ring.current().unwrap().kid, first);
        let first_hash = kid_hash(&first);
        assert!(ring.public_pem(&first_hash, t0).unwrap().is_some());

        let t1 = at("2026-11-23T12:00:00Z");
        let second = ring.generate(t1).unwrap();
        assert_ne!(first, second);
        assert_eq!(ring.current().unwrap().kid, second);
        // The retired key can no longer sign: its private half is gone.
        assert!(!ring.dir().join(format!("{first}.key.pem")).exists());
        assert!(ring.load(&first).is_err());
        // ...but its public key is served while its tokens may be valid.
        let last = retire_deadline(t1);
        let before = last
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .unwrap();
        assert!(ring.public_pem(&first_hash, before).unwrap().is_some());
        assert!(ring.public_pem(&first_hash, last).unwrap().is_none());
        assert!(ring.prune(before).unwrap().is_empty());
        assert_eq!(ring.prune(last).unwrap(), vec![first.clone()]);
        assert!(!ring.dir().join(format!("{first}.pub.pem")).exists());
        // The current key is never pruned.
        assert!(ring.public_pem(&kid_hash(&second), last).unwrap().is_some());
        let states: Vec<_> = ring.list().unwrap().into_iter().map(|k| k.state).collect();
        assert_eq!(states, vec![KeyState::Current]);
    }

    #[test]
    fn odd_requests_find_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::new(dir.path());
        for hash in ["", "../current", &"A".repeat(64), &"0".repeat(63)] {
            assert!(ring.public_pem(hash, Timestamp::now()).unwrap().is_none());
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_key_is_0600_and_directory_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::new(&dir.path().join("keys"));
        let kid = ring.generate(Timestamp::now()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ring.dir().join(format!("{kid}.key.pem"))), 0o600);
        assert_eq!(mode(ring.dir()), 0o700);
    }
}
