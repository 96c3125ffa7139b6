//! Room names that Prosody compares exactly as bedside wrote them.
//!
//! Prosody NFKC-normalises, lower-cases and percent-encodes the room name
//! before comparing it with the token's `room` claim (jitsi-meet#16206). A
//! name made only of lower-case ASCII letters, digits, `-` and `_` is left
//! unchanged by all three, so the claim bedside mints is the name Prosody
//! sees.

use std::fmt;

use ring::rand::SecureRandom;

/// Bytes of randomness in a generated room name: 128 bits, so a name cannot
/// be guessed even with every visit of every hospital to aim at.
const ROOM_NAME_BYTES: usize = 16;

/// The longest name accepted from an operator. Prosody's node part allows
/// more, but a name this long is already unwieldy to type.
const MAX_LEN: usize = 64;

/// A Jitsi room name: lower-case ASCII letters, digits, `-` and `_`.
///
/// `Debug` does not print the name: a room name is half of a way in.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RoomName(String);

/// Why a room name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RoomNameError {
    #[error("a room name cannot be empty")]
    Empty,
    #[error("a room name can have at most {MAX_LEN} characters")]
    TooLong,
    #[error(
        "a room name may only hold lower-case letters a-z, digits, '-' and '_', so that the \
         token's room claim is exactly what Prosody compares{}",
        suggestion.as_ref().map(|s| format!("; try '{s}'")).unwrap_or_default()
    )]
    BadCharacter { suggestion: Option<String> },
    #[error("the system random number generator failed")]
    Random,
}

impl RoomName {
    /// A fresh, unguessable name (32 hex digits).
    pub fn generate(rng: &dyn SecureRandom) -> Result<RoomName, RoomNameError> {
        let mut bytes = [0u8; ROOM_NAME_BYTES];
        rng.fill(&mut bytes).map_err(|_| RoomNameError::Random)?;
        Ok(RoomName(data_encoding::HEXLOWER.encode(&bytes)))
    }

    /// Checks a name typed by a person (e.g. `bedside token --room`).
    ///
    /// ```
    /// use bedside::jitsi::RoomName;
    /// assert_eq!(RoomName::parse("ward3-bed12").unwrap().as_str(), "ward3-bed12");
    /// // Prosody would compare "ward3" with a claim of "Ward3": refused, with a hint.
    /// let err = RoomName::parse("Ward3").unwrap_err().to_string();
    /// assert!(err.ends_with("try 'ward3'"));
    /// ```
    pub fn parse(name: &str) -> Result<RoomName, RoomNameError> {
        if name.is_empty() {
            return Err(RoomNameError::Empty);
        }
        if name.chars().count() > MAX_LEN {
            return Err(RoomNameError::TooLong);
        }
        if !name.bytes().all(allowed) {
            let lower = name.to_ascii_lowercase();
            let suggestion = lower.bytes().all(allowed).then_some(lower);
            return Err(RoomNameError::BadCharacter { suggestion });
        }
        Ok(RoomName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn allowed(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomName(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    /// What Prosody does to a room name before comparing it with the claim,
    /// for the ASCII subset: lower-case, then percent-encode everything but
    /// RFC 3986 unreserved characters (NFKC leaves ASCII alone).
    fn as_prosody_sees_it(name: &str) -> String {
        name.to_lowercase()
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    }

    #[test]
    fn generated_names_are_what_prosody_compares_and_never_repeat() {
        let rng = SystemRandom::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let name = RoomName::generate(&rng).unwrap();
            assert_eq!(name.as_str().len(), 32);
            assert_eq!(as_prosody_sees_it(name.as_str()), name.as_str());
            assert!(RoomName::parse(name.as_str()).is_ok());
            assert!(seen.insert(name));
        }
    }

    #[test]
    fn typed_names_must_already_be_in_prosodys_form() {
        assert!(RoomName::parse("ward-3_tablet-1").is_ok());
        assert_eq!(
            RoomName::parse("Ward3"),
            Err(RoomNameError::BadCharacter {
                suggestion: Some("ward3".into())
            })
        );
        for bad in ["*", "café", "a b", "a/b", "a@b", "a%20b", "a.b"] {
            assert!(
                matches!(
                    RoomName::parse(bad),
                    Err(RoomNameError::BadCharacter { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(RoomName::parse(""), Err(RoomNameError::Empty));
        assert_eq!(
            RoomName::parse(&"a".repeat(65)),
            Err(RoomNameError::TooLong)
        );
    }

    #[test]
    fn debug_does_not_show_the_name() {
        let name = RoomName::parse("secretroom").unwrap();
        assert!(!format!("{name:?}").contains("secretroom"));
    }
}
