//! `bedside subject export|erase --email ADDRESS`: a family member's right
//! of access (GDPR Art. 15) and to erasure (Art. 17).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::db;
use crate::domain::audit::Actor;
use crate::domain::subject;

#[derive(Debug, Subcommand)]
pub enum SubjectCommand {
    /// Print, as JSON, everything stored about the person with this e-mail address.
    Export {
        #[arg(long, value_name = "ADDRESS")]
        email: String,
    },
    /// Delete the person with this e-mail address: contact, bookings (future
    /// ones cancelled first, without mail) and their mail, in one transaction.
    Erase {
        #[arg(long, value_name = "ADDRESS")]
        email: String,
    },
}

const MISSING: &str = "no family contact with that e-mail address";

pub fn run(config_file: Option<&Path>, command: SubjectCommand) -> ExitCode {
    match command {
        SubjectCommand::Export { email } => {
            match db::write(config_file, MISSING, |config, conn| {
                subject::export(conn, &email, &config.retention)
            }) {
                Ok((_, export)) => match serde_json::to_string_pretty(&export) {
                    Ok(json) => {
                        println!("{json}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::FAILURE
                    }
                },
                Err(code) => code,
            }
        }
        SubjectCommand::Erase { email } => match db::write(config_file, MISSING, |_, conn| {
            subject::erase(conn, &email, Actor::Cli, db::now())
        }) {
            Ok((_, erased)) => {
                println!(
                    "erased contact {}: {} bookings ({} future ones cancelled), {} mails",
                    erased.contact_id, erased.bookings, erased.cancelled, erased.mail
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}
