//! `bedside apikey create|revoke|list`: keys for hospital systems using
//! the JSON API.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use ring::rand::SystemRandom;

use super::db;
use crate::domain::apikey;
use crate::domain::audit::Actor;
use crate::store::apikeys;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; it is printed once and only its hash is kept.
    Create {
        /// What the key is for, e.g. "patient administration system".
        name: String,
    },
    /// Revoke a key: requests with it are refused from now on.
    Revoke { name: String },
    /// List keys (names and dates, never the keys).
    List,
}

pub fn run(config_file: Option<&Path>, command: ApiKeyCommand) -> ExitCode {
    match command {
        ApiKeyCommand::Create { name } => {
            let rng = SystemRandom::new();
            match db::write(config_file, "", |_, tx| {
                apikey::create_audited(tx, &name, Actor::Cli, db::now(), &rng)
            }) {
                Ok((_, (_, key))) => {
                    eprintln!(
                        "API key '{name}' created. It is shown only now; send it as `Authorization: Bearer <key>`:"
                    );
                    println!("{key}");
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        ApiKeyCommand::Revoke { name } => {
            let missing = format!("no live API key called '{name}'; see `bedside apikey list`");
            match db::write(config_file, &missing, |_, tx| {
                apikey::revoke_audited(tx, &name, Actor::Cli, db::now())
            }) {
                Ok(_) => {
                    println!("API key '{name}' revoked");
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        ApiKeyCommand::List => match db::write(config_file, "", |_, tx| {
            Ok(apikeys::apikey_list(tx)?)
        }) {
            Ok((_, keys)) => {
                for (name, created, revoked) in keys {
                    let day = |s: i64| {
                        jiff::Timestamp::from_second(s)
                            .map(|t| t.strftime("%Y-%m-%d").to_string())
                            .unwrap_or_default()
                    };
                    match revoked {
                        Some(r) => println!("{name}\tcreated {}\trevoked {}", day(created), day(r)),
                        None => println!("{name}\tcreated {}\tlive", day(created)),
                    }
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}
