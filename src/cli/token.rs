//! `bedside token`: a join link for one room, to test a Jitsi set-up or let
//! IT open a room by hand. Prints the link on stdout and nothing else there,
//! so scripts can use it.

use std::path::Path;
use std::process::ExitCode;

use jiff::{SignedDuration, Timestamp};
use ring::rand::{SecureRandom, SystemRandom};

use super::load_config;
use crate::jitsi::{Grant, Minter, Role, RoomName, TokenUser, token::MAX_VALIDITY};

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Room name: lower-case letters, digits, '-' and '_'. Without it, a new
    /// unguessable room is made up.
    #[arg(long, value_parser = parse_room)]
    pub room: Option<RoomName>,
    /// Display name shown to the others in the call, e.g. "Tablet 3".
    #[arg(long)]
    pub name: String,
    /// Stable id for the participant (not personal); random when not given.
    #[arg(long)]
    pub id: Option<String>,
    /// Join as moderator (tablets and staff); families join as guests.
    #[arg(long)]
    pub moderator: bool,
    /// How long from now the link works, e.g. 30m, 2h (at most 24h).
    #[arg(long, default_value = "30m", value_parser = parse_validity)]
    pub valid_for: SignedDuration,
}

fn parse_room(s: &str) -> Result<RoomName, String> {
    RoomName::parse(s).map_err(|e| e.to_string())
}

fn parse_validity(s: &str) -> Result<SignedDuration, String> {
    let d: SignedDuration = s
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; write e.g. 30m, 90m or 2h (1m to 24h)"))?;
    if d < SignedDuration::from_mins(1) || d > MAX_VALIDITY {
        return Err(format!("'{s}' is out of range; use between 1m and 24h"));
    }
    Ok(d)
}

pub fn run(config_file: Option<&Path>, args: &TokenArgs) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rng = SystemRandom::new();
    let id = match &args.id {
        Some(id) => id.clone(),
        None => {
            let mut bytes = [0u8; 8];
            if rng.fill(&mut bytes).is_err() {
                eprintln!("error: the system random number generator failed");
                return ExitCode::FAILURE;
            }
            format!("cli-{}", data_encoding::HEXLOWER.encode(&bytes))
        }
    };
    let user = match TokenUser::new(&id, &args.name) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --name/--id: {e}");
            return ExitCode::FAILURE;
        }
    };
    let room = match &args.room {
        Some(r) => r.clone(),
        None => match RoomName::generate(&rng) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Err(e) = crate::create_data_dir(&config) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let minter = match Minter::load(&config.jitsi, true) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let now = Timestamp::now();
    let grant = Grant {
        room: &room,
        user: &user,
        role: if args.moderator {
            Role::Moderator
        } else {
            Role::Guest
        },
        not_before: now,
        expires: now + args.valid_for,
    };
    match minter.join_url(&grant, now) {
        Ok(url) => {
            println!("{url}");
            eprintln!(
                "valid from {} until {} (UTC) as {}; secret from {}",
                whole_seconds(grant.not_before),
                whole_seconds(grant.expires),
                if args.moderator { "moderator" } else { "guest" },
                config.jitsi.app_secret_file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The instant as the token states it: JWT times are whole seconds.
fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
