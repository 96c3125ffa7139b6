//! Secret codes in URLs (patient invites, visit links) and API keys.
//!
//! A code is 128 random bits from ring, written as 26 characters of
//! lower-case base32 (digits and a–v): URL-safe, unambiguous when read
//! aloud from a printed card, and case-insensitive when typed. Only its
//! SHA-256 is stored, so a copy of the database opens no visit.
//!
//! A visit code carries, before its 128 random bits, the visit's start (32
//! bits of seconds; 32 characters in all). The start is no secret — the
//! family is told it with the link — and lets the database find the visit
//! by an index in the order visits end: one kept in hash order had every
//! purged visit rewrite a page of its own.

use std::fmt;

use data_encoding::BASE32_DNSSEC;
use ring::rand::SecureRandom;

/// Random bytes in a code: 128 bits, beyond guessing even at a high rate.
const CODE_BYTES: usize = 16;
/// Characters in the written form of [`CODE_BYTES`].
pub const CODE_LEN: usize = 26;
/// Bytes of a visit code: the visit's start, then [`CODE_BYTES`].
const VISIT_BYTES: usize = 4 + CODE_BYTES;
/// Characters in the written form of a visit code.
pub const VISIT_CODE_LEN: usize = 32;

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

    /// A fresh visit code for a visit starting at `starts_at` (seconds
    /// since the epoch; `None` outside 1970–2106).
    pub fn generate_for_visit(rng: &dyn SecureRandom, starts_at: i64) -> Option<Code> {
        let start = u32::try_from(starts_at).ok()?;
        let mut bytes = [0u8; VISIT_BYTES];
        bytes[..4].copy_from_slice(&start.to_be_bytes());
        rng.fill(&mut bytes[4..])
            .expect("the operating system's random number generator failed");
        Some(Code(BASE32_DNSSEC.encode(&bytes)))
    }

    /// Reads a code from a URL or a person; `None` if it cannot be one.
    /// Visit codes are not accepted here (see [`Code::parse_link`]).
    pub fn parse(text: &str) -> Option<Code> {
        Code::parse_as(text, CODE_LEN, CODE_BYTES)
    }

    /// Reads a visit link's code: a visit code, or a code without a start
    /// (an instant meeting's guest link, a visit booked before schema 8).
    pub fn parse_link(text: &str) -> Option<Code> {
        Code::parse_as(text, VISIT_CODE_LEN, VISIT_BYTES).or_else(|| Code::parse(text))
    }

    fn parse_as(text: &str, chars: usize, bytes: usize) -> Option<Code> {
        let lower = text.trim().to_ascii_lowercase();
        if lower.len() != chars {
            return None;
        }
        let decoded = BASE32_DNSSEC.decode(lower.as_bytes()).ok()?;
        (decoded.len() == bytes).then_some(Code(lower))
    }

    /// A visit code's visit start (seconds since the epoch); `None` for
    /// other codes.
    pub fn visit_start(&self) -> Option<i64> {
        if self.0.len() != VISIT_CODE_LEN {
            return None;
        }
        let bytes = BASE32_DNSSEC.decode(self.0.as_bytes()).ok()?;
        let start: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(i64::from(u32::from_be_bytes(start)))
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
    fn visit_codes_carry_their_start_and_parse_only_as_links() {
        let rng = SystemRandom::new();
        let start = 1_795_435_200; // 2026-11-22T12:00:00Z
        let a = Code::generate_for_visit(&rng, start).unwrap();
        let b = Code::generate_for_visit(&rng, start).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), VISIT_CODE_LEN);
        assert_eq!(
            Code::parse_link(&a.expose().to_uppercase()),
            Some(a.clone())
        );
        assert_eq!(a.visit_start(), Some(start));
        assert_eq!(Code::parse(a.expose()), None, "not an invite or a key");
        // Other codes are links too, without a start.
        let plain = Code::generate(&rng);
        assert_eq!(Code::parse_link(plain.expose()), Some(plain.clone()));
        assert_eq!(plain.visit_start(), None);
        assert_eq!(Code::generate_for_visit(&rng, -1), None);
        assert_eq!(Code::generate_for_visit(&rng, 1 << 32), None);
        for bad in ["", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", &a.expose()[1..]] {
            assert_eq!(Code::parse_link(bad), None, "{bad}");
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
