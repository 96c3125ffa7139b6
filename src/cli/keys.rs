//! `bedside keys rotate-data-key`: a new data key for the contacts.
//!
//! Every contact (and the content of mail still queued) is re-encrypted, and its lookup key recomputed, in one
//! `BEGIN IMMEDIATE` transaction. The key files change around it so that at
//! every moment one of them opens the data: the new key is written to
//! `data-key.new` before the commit, the old one is kept as `data-key.old`
//! until the new one is in place.
//!
//! It refuses to run while a server uses the data directory: a running
//! server keeps the key it started with in memory and would go on sealing
//! new contacts under the old one. The server holds the directory's lock
//! file for its lifetime ([`crate::lock`]); this command needs it alone.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use rusqlite::TransactionBehavior;

use super::load_config;
use crate::crypto::DataKey;
use crate::lock::DataLock;
use crate::store::{self, bookings};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-encrypt every contact under a fresh data key. Refused while
    /// `bedside serve` runs on the same data directory: stop it first.
    RotateDataKey,
    /// RS* tokens: make a new RSA signing key (with a new kid) and sign with
    /// it from now on; the old key's public half stays served until its
    /// tokens have expired.
    Generate {
        /// The time of the switch (RFC 3339); default now.
        #[arg(long)]
        now: Option<String>,
    },
    /// RS* tokens: list the signing keys, their state and their public URL.
    List {
        #[arg(long)]
        now: Option<String>,
    },
    /// RS* tokens: remove retired public keys whose every token has expired.
    Prune {
        #[arg(long)]
        now: Option<String>,
    },
}

pub fn run(config_file: Option<&Path>, command: KeysCommand) -> ExitCode {
    match command {
        KeysCommand::Generate { now } => super::jitsi::generate(config_file, now.as_deref()),
        KeysCommand::List { now } => super::jitsi::list(config_file, now.as_deref()),
        KeysCommand::Prune { now } => super::jitsi::prune(config_file, now.as_deref()),
        KeysCommand::RotateDataKey => {
            let config = match load_config(config_file) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match rotate(&config.db_path()) {
                Ok(count) => {
                    println!("data key rotated; {count} contacts re-encrypted");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Rotates the data key of the database at `db_path`; returns how many
/// contacts were re-encrypted.
pub fn rotate(db_path: &Path) -> Result<usize, String> {
    // Held to the end, so no server starts in the middle either.
    let _alone = DataLock::alone(db_path).map_err(|e| format!("nothing changed: {e}"))?;
    let key_path = store::key_path(db_path);
    let new_path = key_path.with_extension("new");
    let old_path = key_path.with_extension("old");
    let mut conn = store::open_for_command(db_path).map_err(|e| format!("server.data_dir: {e}"))?;
    let new = DataKey::generate().map_err(|e| e.to_string())?;
    new.write_to(&new_path).map_err(|e| e.to_string())?;
    std::fs::copy(&key_path, &old_path)
        .map_err(|e| format!("cannot keep the old key as {}: {e}", old_path.display()))?;
    let resealed = (|| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Opened with the old key, registered on the connection.
        let all = bookings::contacts_all(&tx)?;
        for (id, name, email) in &all {
            bookings::reseal_contact(&tx, &new, *id, name, email)?;
        }
        // Queued mail holds an address and an invitation too.
        crate::mail::outbox::reseal_all(&tx, &new)?;
        tx.commit()?;
        Ok::<_, rusqlite::Error>(all.len())
    })();
    let count = match resealed {
        Ok(count) => count,
        Err(e) => {
            let _ = std::fs::remove_file(&new_path);
            let _ = std::fs::remove_file(&old_path);
            return Err(format!(
                "nothing changed: cannot re-encrypt the contacts: {e}"
            ));
        }
    };
    std::fs::rename(&new_path, &key_path).map_err(|e| {
        format!(
            "the contacts are encrypted under the new key in {}, but it could not replace {}: {e}; \
             move it there by hand before starting bedside",
            new_path.display(),
            key_path.display()
        )
    })?;
    let _ = std::fs::remove_file(&old_path);
    Ok(count)
}
