//! Minting a Jitsi token with bedside's library, the way the server does.
//!
//! ```sh
//! cargo run --example mint_token -- ward3-bed12 "Tablet 3" [bedside.toml]
//! ```
//!
//! It reads the same configuration as `bedside serve` (file and `BEDSIDE_*`
//! variables), so the token carries the same `iss`, `aud`, `sub` and
//! algorithm, and is signed with the same shared secret or RSA key. It prints
//! a join link valid for the next 30 minutes, as a moderator.

use std::path::PathBuf;

use bedside::config::{Config, process_env};
use bedside::jitsi::{Grant, Minter, Role, RoomName, TokenUser};
use jiff::{SignedDuration, Timestamp};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: mint_token <room> <display name> [config file]";
    let room = RoomName::parse(&args.next().ok_or(usage)?)?;
    let name = args.next().ok_or(usage)?;
    let file = args.next().map(PathBuf::from);

    let config = Config::load(file.as_deref(), &process_env())?;
    // `false`: use the secret or key that `bedside serve` made; never make one here.
    let minter = Minter::load(&config.jitsi, false)?;

    let user = TokenUser::new("example-tablet", &name)?;
    let now = Timestamp::now();
    let grant = Grant {
        room: &room,
        user: &user,
        role: Role::Moderator,
        not_before: now,
        expires: now + SignedDuration::from_mins(30),
    };
    println!("{}", minter.join_url(&grant, now)?);
    Ok(())
}
