//! Secret codes in URLs (patient invites, visit links) and API keys.
//!
//! A code is 128 random bits from ring, written as 26 characters of
//! lower-case base32 (digits and a–v): URL-safe, unambiguous when read
//! aloud from a printed card, and case-insensitive when typed. Only its
//! SHA-256 is stored, so a copy of the database opens no visit.

use std::fmt;

use data_encoding::BASE32_DNSSEC;
use ring::rand::SecureRandom;

/// Random bytes in a code: 128 bits, beyond guessing even at a high rate.
const CODE_BYTES: usize = 16;
/// Characters in the written form of [`CODE_BYTES`].
pub const CODE_LEN: usize = 26;

/// A secret code. `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl Code {
    /// A fresh code.
    pub fn generate(rng: &dyn SecureRandom) -> Code {
        let mut bytes = [0u8; CODE_BYTES];
        // ring's SystemRandom reads getrandom(2); a failure means the kernel
        // has no entropy source at all, and nothing secure can go on.
        rng.fill(&mut bytes)
            .expect("the operating system's random number generator failed");
        Code(BASE32_DNSSEC.encode(&bytes))
    }

    /// Reads a code from a URL or a person; `None` if it cannot be one.
    pub fn parse(text: &str) -> Option<Code> {
        let lower = text.trim().to_ascii_lowercase();
        if lower.len() != CODE_LEN {
            return None;
        }
        let bytes = BASE32_DNSSEC.decode(lower.as_bytes()).ok()?;
        (bytes.len() == CODE_BYTES).then_some(Code(lower))
    }

    /// The SHA-256 of the code: what the database keeps.
    pub fn hash(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// The code itself, for the one place it is shown (a link, a card).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn codes_are_128_bit_url_safe_and_parse_back() {
        let rng = SystemRandom::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let code = Code::generate(&rng);
            assert_eq!(code.expose().len(), CODE_LEN);
            assert!(
                code.expose()
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
            );
            assert_eq!(Code::parse(code.expose()), Some(code.clone()));
            assert_eq!(
                Code::parse(&code.expose().to_uppercase()),
                Some(code.clone())
            );
            assert!(seen.insert(code.hash()));
        }
    }

    #[test]
    fn anything_else_is_not_a_code() {
        for bad in [
            "",
            "abc",
            "zzzzzzzzzzzzzzzzzzzzzzzzzz",
            "../../etc/passwd",
            "0123456789abcdefghijklmnopq",
        ] {
            assert_eq!(Code::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_code() {
        let code = Code::generate(&SystemRandom::new());
        assert!(!format!("{code:?}").contains(code.expose()));
    }
}
