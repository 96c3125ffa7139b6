//! Encryption at rest of personal data: the data key, AES-256-GCM for
//! values and an HMAC for lookups by e-mail address.
//!
//! A database copy (a backup, a stolen disk) without the key file reveals no
//! family name or address. Each value is sealed with a fresh random nonce and
//! the column and row it belongs to as associated data, so a value moved to
//! another column or row fails to open instead of showing the wrong person.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The file in the data directory that holds the data key.
pub const DATA_KEY_FILE: &str = "data-key";

/// Bytes in a data key: AES-256 needs 256 bits.
const KEY_LEN: usize = 32;

/// Derives the lookup key from the data key, so the sealing key itself never
/// doubles as an HMAC key.
const LOOKUP_LABEL: &[u8] = b"bedside contacts.email_key v1";

/// Why a value could not be sealed or opened, or the key not had.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a stored value could not be decrypted: wrong data key, or the value was altered")]
    Open,
    #[error("the system random number generator failed")]
    Random,
    #[error(
        "data key {path}: {source}; the data directory must be readable and writable by bedside"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data key {path} is not {KEY_LEN} bytes written as 64 hex digits; restore it from a backup"
    )]
    Malformed { path: PathBuf },
}

/// The key that seals personal data. `Debug` prints `***`.
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; KEY_LEN],
    seal: std::sync::Arc<LessSafeKey>,
    lookup: hmac::Key,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

impl DataKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key");
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &bytes), LOOKUP_LABEL);
        DataKey {
            bytes,
            seal: std::sync::Arc::new(LessSafeKey::new(unbound)),
            lookup: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Result<DataKey, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CryptoError::Random)?;
        Ok(DataKey::from_bytes(bytes))
    }

    /// Reads `<data_dir>/data-key`, generating it (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<DataKey, CryptoError> {
        let path = data_dir.join(DATA_KEY_FILE);
        if !path.exists() {
            DataKey::generate()?.write_to(&path)?;
        }
        DataKey::load(&path)
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<DataKey, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|source| CryptoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let malformed = || CryptoError::Malformed {
            path: path.to_path_buf(),
        };
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| malformed())?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| malformed())?;
        Ok(DataKey::from_bytes(bytes))
    }

    /// Writes the key with mode 0600: to a temporary name first, then
    /// renamed, so a crash never leaves a half-written key behind.
    pub fn write_to(&self, path: &Path) -> Result<(), CryptoError> {
        let failed = |source| CryptoError::Io {
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
        let mut file = options.open(&tmp).map_err(failed)?;
        let text = data_encoding::HEXLOWER.encode(&self.bytes);
        file.write_all(text.as_bytes())
            .and_then(|_| file.write_all(b"\n"))
            .and_then(|_| file.sync_all())
            .map_err(failed)?;
        std::fs::rename(&tmp, path).map_err(failed)
    }

    /// Encrypts `plain`; `context` names the column and row it belongs to.
    /// Returns nonce || ciphertext || tag.
    pub fn seal(&self, context: &str, plain: &str) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let mut sealed = plain.as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| CryptoError::Random)?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    /// Decrypts what [`DataKey::seal`] made under the same `context`. An
    /// altered value, another context or another key is an error.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<String, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = rest.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(plain.to_vec()).map_err(|_| CryptoError::Open)
    }

    /// The lookup key of an e-mail address: hex HMAC of the trimmed,
    /// lower-cased address, so equal addresses match without storing one.
    pub fn email_key(&self, email: &str) -> String {
        let normal = email.trim().to_lowercase();
        data_encoding::HEXLOWER.encode(hmac::sign(&self.lookup, normal.as_bytes()).as_ref())
    }
}

/// The associated data of a sealed column value: the column and the row's
/// lookup key (which changes only together with the key, at rotation).
pub fn context(column: &str, row: &str) -> String {
    format!("{column}:{row}")
}

/// Marks a sealed value kept in a TEXT column (base64 of nonce||ciphertext).
const TEXT_PREFIX: &str = "sealed1:";

impl DataKey {
    /// [`DataKey::seal`] for TEXT columns: `sealed1:<base64>`.
    pub fn seal_text(&self, context: &str, plain: &str) -> Result<String, CryptoError> {
        let sealed = self.seal(context, plain)?;
        Ok(format!(
            "{TEXT_PREFIX}{}",
            data_encoding::BASE64.encode(&sealed)
        ))
    }

    /// Opens what [`DataKey::seal_text`] made; text without the marker was
    /// written before encryption at rest (mail queued by an older bedside)
    /// and is returned as it is.
    pub fn open_text(&self, context: &str, stored: &str) -> Result<String, CryptoError> {
        let Some(encoded) = stored.strip_prefix(TEXT_PREFIX) else {
            return Ok(stored.to_string());
        };
        let sealed = data_encoding::BASE64
            .decode(encoded.as_bytes())
            .map_err(|_| CryptoError::Open)?;
        self.open(context, &sealed)
    }
}

/// Makes the key usable from SQL on `conn`:
/// `bedside_seal(column, row, text) -> blob`,
/// `bedside_open(column, row, blob) -> text` (NULL stays NULL; a value that
/// does not open is an error, never garbage) and
/// `bedside_email_key(address) -> text`.
pub fn register(conn: &rusqlite::Connection, key: &DataKey) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let user = |e: CryptoError| rusqlite::Error::UserFunctionError(Box::new(e));
    let k = key.clone();
    conn.create_scalar_function("bedside_seal", 3, FunctionFlags::SQLITE_UTF8, move |ctx| {
        let column: String = ctx.get(0)?;
        let row: String = ctx.get(1)?;
        let plain: String = ctx.get(2)?;
        k.seal(&context(&column, &row), &plain).map_err(user)
    })?;
    let k = key.clone();
    conn.create_scalar_function(
        "bedside_open",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let column: String = ctx.get(0)?;
            let row: String = ctx.get(1)?;
            let Some(sealed) = ctx.get::<Option<Vec<u8>>>(2)? else {
                return Ok(None);
            };
            k.open(&context(&column, &row), &sealed)
                .map(Some)
                .map_err(user)
        },
    )?;
    let k = key.clone();
    conn.create_scalar_function(
        "bedside_seal_text",
        3,
        FunctionFlags::SQLITE_UTF8,
        move |ctx| {
            let column: String = ctx.get(0)?;
            let row: String = ctx.get(1)?;
            let Some(plain) = ctx.get::<Option<String>>(2)? else {
                return Ok(None);
            };
            k.seal_text(&context(&column, &row), &plain)
                .map(Some)
                .map_err(user)
        },
    )?;
    let k = key.clone();
    conn.create_scalar_function(
        "bedside_open_text",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let column: String = ctx.get(0)?;
            let row: String = ctx.get(1)?;
            let Some(stored) = ctx.get::<Option<String>>(2)? else {
                return Ok(None);
            };
            k.open_text(&context(&column, &row), &stored)
                .map(Some)
                .map_err(user)
        },
    )?;
    let k = key.clone();
    conn.create_scalar_function(
        "bedside_email_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| Ok(k.email_key(&ctx.get::<String>(0)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_tampering_fails() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal("contacts.name:1", "Quentin").unwrap();
        assert_eq!(key.open("contacts.name:1", &sealed).unwrap(), "Quentin");
        // Fresh nonce each time.
        assert_ne!(sealed, key.seal("contacts.name:1", "Quentin").unwrap());
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            key.open("contacts.name:1", &bad),
            Err(CryptoError::Open)
        ));
        // Moved to another column or row: refused.
        assert!(key.open("contacts.email:1", &sealed).is_err());
        assert!(key.open("contacts.name:2", &sealed).is_err());
        assert!(
            DataKey::generate()
                .unwrap()
                .open("contacts.name:1", &sealed)
                .is_err()
        );
        assert!(key.open("contacts.name:1", &sealed[..5]).is_err());
    }

    #[test]
    fn text_values_round_trip_and_old_plain_text_passes() {
        let key = DataKey::generate().unwrap();
        let stored = key
            .seal_text("outbox.recipient:m1", "a@example.org")
            .unwrap();
        assert!(stored.starts_with(TEXT_PREFIX) && !stored.contains("example"));
        assert_eq!(
            key.open_text("outbox.recipient:m1", &stored).unwrap(),
            "a@example.org"
        );
        assert!(key.open_text("outbox.recipient:m2", &stored).is_err());
        assert_eq!(key.open_text("x", "plain").unwrap(), "plain");
    }

    #[test]
    fn email_keys_ignore_case_and_space_and_depend_on_the_key() {
        let key = DataKey::generate().unwrap();
        let a = key.email_key(" Ann@Example.org ");
        assert_eq!(a, key.email_key("ann@example.org"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, key.email_key("bob@example.org"));
        assert_ne!(a, DataKey::generate().unwrap().email_key("ann@example.org"));
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataKey::load_or_create(dir.path()).unwrap();
        let second = DataKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.bytes, second.bytes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DATA_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{first:?}"), "DataKey(***)");
    }
}
