//! The secret Prosody and bedside share for HS* tokens.
//!
//! Prosody uses the raw bytes of its `app_secret` string as the HMAC key (it
//! does not base64-decode it), so bedside does the same with the bytes of the
//! secret file. A generated secret is 32 random bytes written as 64 hex
//! digits: 256 bits of entropy, and text that pastes cleanly into
//! `JWT_APP_SECRET`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};

use crate::config::{Algorithm, JitsiConfig};

/// Random bytes in a generated secret.
const GENERATED_BYTES: usize = 32;

/// The shared secret. `Debug` prints `***`.
#[derive(Clone)]
pub struct AppSecret(Vec<u8>);

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret(***)")
    }
}

impl AppSecret {
    /// A secret from bytes already at hand (tests, or a secret store).
    pub fn from_bytes(bytes: Vec<u8>) -> AppSecret {
        AppSecret(bytes)
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// Why the secret could not be had; every message names the key.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "jitsi.app_secret_file: {path} does not exist; create it with at least {min} random \
         bytes (e.g. `openssl rand -hex 32 > {path}`) and give Jitsi the same value as \
         JWT_APP_SECRET, or remove the key to let bedside generate one in its data directory"
    )]
    Missing { path: PathBuf, min: usize },
    #[error(
        "jitsi.app_secret_file: no secret yet at {path}; start `bedside serve` once to generate it, \
         or point jitsi.app_secret_file at your own"
    )]
    NotGenerated { path: PathBuf },
    #[error("jitsi.app_secret_file: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "jitsi.app_secret_file: cannot create {path}: {source}; check the data directory is writable"
    )]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "jitsi.app_secret_file: the secret in {path} is {len} bytes, but {alg} needs at least \
         {min} (RFC 7518 §3.2); generate a longer one, e.g. `openssl rand -hex 32`, and give Jitsi \
         the same value"
    )]
    TooShort {
        path: PathBuf,
        len: usize,
        alg: &'static str,
        min: usize,
    },
    #[error("the system random number generator failed")]
    Random,
}

/// Reads the configured secret. Under the default path, a missing secret is
/// generated when `create` is true (that is what `serve` does on first start).
pub fn load(config: &JitsiConfig, create: bool) -> Result<AppSecret, SecretError> {
    let path = &config.app_secret_file;
    if !path.exists() {
        if !config.app_secret_generated {
            return Err(SecretError::Missing {
                path: path.clone(),
                min: config.algorithm.min_secret_len(),
            });
        }
        if !create {
            return Err(SecretError::NotGenerated { path: path.clone() });
        }
        generate(path)?;
        tracing::info!(path = %path.display(), "generated a new Jitsi app secret; give Jitsi the same value as JWT_APP_SECRET");
    }
    read(path, config.algorithm)
}

fn read(path: &Path, alg: Algorithm) -> Result<AppSecret, SecretError> {
    let mut bytes = std::fs::read(path).map_err(|source| SecretError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Editors and `echo` add a newline that is not part of the secret.
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    let min = alg.min_secret_len();
    if bytes.len() < min {
        return Err(SecretError::TooShort {
            path: path.to_path_buf(),
            len: bytes.len(),
            alg: alg.as_str(),
            min,
        });
    }
    warn_if_readable_by_others(path);
    Ok(AppSecret(bytes))
}

/// The file in the data directory that holds the key of form tokens.
pub const FORM_KEY_FILE: &str = "form-key";

/// The key that signs the tokens of family and login forms, kept in
/// `<data_dir>/form-key` (generated on first start, mode 0600) so a form
/// opened before a restart still works after it.
pub fn load_form_key(data_dir: &Path) -> Result<Vec<u8>, SecretError> {
    let path = data_dir.join(FORM_KEY_FILE);
    if !path.exists() {
        generate(&path)?;
    }
    read(&path, Algorithm::HS256).map(|secret| secret.0)
}

/// Writes a fresh secret with mode 0600: to a temporary name first, then
/// renamed, so a crash never leaves a half-written secret behind.
fn generate(path: &Path) -> Result<(), SecretError> {
    let mut bytes = [0u8; GENERATED_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SecretError::Random)?;
    let text = data_encoding::HEXLOWER.encode(&bytes);
    let create = |source| SecretError::Create {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(create)?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .map_err(create)?;
    std::fs::rename(&tmp, path).map_err(create)?;
    Ok(())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the Jitsi app secret file can be read by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Env};

    fn config_in(dir: &Path, extra: &[(&str, String)]) -> JitsiConfig {
        let mut env = Env::new();
        env.insert("BEDSIDE_DATA_DIR".into(), dir.display().to_string());
        for (k, v) in extra {
            env.insert(k.to_string(), v.clone());
        }
        Config::load(None, &env).unwrap().jitsi
    }

    #[test]
    fn generates_once_with_mode_0600_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), &[]);
        assert!(matches!(
            load(&config, false),
            Err(SecretError::NotGenerated { .. })
        ));
        let first = load(&config, true).unwrap();
        assert_eq!(first.expose().len(), 64);
        assert!(first.expose().iter().all(u8::is_ascii_hexdigit));
        let second = load(&config, true).unwrap();
        assert_eq!(first.expose(), second.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.app_secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_secret_is_never_generated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine");
        let config = config_in(
            dir.path(),
            &[("BEDSIDE_JITSI_APP_SECRET_FILE", path.display().to_string())],
        );
        let err = load(&config, true).unwrap_err().to_string();
        assert!(err.starts_with("jitsi.app_secret_file"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn short_secrets_are_refused_and_a_trailing_newline_is_not_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine");
        let config = config_in(
            dir.path(),
            &[("BEDSIDE_JITSI_APP_SECRET_FILE", path.display().to_string())],
        );
        std::fs::write(&path, format!("{}\n", "x".repeat(31))).unwrap();
        let err = load(&config, false).unwrap_err().to_string();
        assert!(err.contains("31 bytes"), "{err}");
        assert!(err.contains("jitsi.app_secret_file"), "{err}");
        std::fs::write(&path, format!("{}\r\n", "x".repeat(32))).unwrap();
        assert_eq!(
            load(&config, false).unwrap().expose(),
            "x".repeat(32).as_bytes()
        );
    }

    #[test]
    fn hs512_needs_a_64_byte_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine");
        std::fs::write(&path, "y".repeat(48)).unwrap();
        let config = config_in(
            dir.path(),
            &[
                ("BEDSIDE_JITSI_APP_SECRET_FILE", path.display().to_string()),
                ("BEDSIDE_JITSI_ALGORITHM", "HS512".into()),
            ],
        );
        let err = load(&config, false).unwrap_err().to_string();
        assert!(err.contains("HS512 needs at least 64"), "{err}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = AppSecret(b"supersecretsupersecretsupersecret".to_vec());
        assert_eq!(format!("{s:?}"), "AppSecret(***)");
    }
}
