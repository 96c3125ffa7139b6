//! Everything bedside says to Jitsi: room names, tokens, join URLs and the
//! shared secret. The rules come from Prosody's own token checks (see
//! `JITSI-TOKENS.md`); each is pinned by a test in [`token`].

pub mod keyring;
pub mod keys;
pub mod room;
pub mod token;

pub use keyring::{KeyError, KeyRing};
pub use keys::AppSecret;
pub use room::RoomName;
pub use token::{Grant, LoadError, MintError, Minter, Role, TokenUser};
