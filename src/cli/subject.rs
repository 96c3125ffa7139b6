//! `bedside subject export|erase --email ADDRESS`: a family member's right
//! of access (GDPR Art. 15) and to erasure (Art. 17). The admin pages
//! (`/staff/admin/subjects`) run the same domain code.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::db;
use crate::domain::audit::Actor;
use crate::domain::subject;
use crate::retention::mail_dir;

#[derive(Debug, Subcommand)]
pub enum SubjectCommand {
    /// Print, as JSON, everything stored about the person with this e-mail
    /// address: contact, bookings, mail still addressed to them (guest links
    /// of instant meetings included) and `.eml` files.
    Export {
        #[arg(long, value_name = "ADDRESS")]
        email: String,
    },
    /// Delete the person with this e-mail address: contact, bookings (future
    /// ones cancelled first, without mail), every mail and `.eml` file still
    /// addressed to them, in one transaction.
    Erase {
        #[arg(long, value_name = "ADDRESS")]
        email: String,
    },
}

/// What a `NotFound` means here.
pub const MISSING: &str = "no family contact, queued mail or mail file with that e-mail address: nothing is stored about it";

pub fn run(config_file: Option<&Path>, command: SubjectCommand) -> ExitCode {
    match command {
        SubjectCommand::Export { email } => {
            match db::write(config_file, MISSING, |config, conn| {
                subject::export(
                    conn,
                    &email,
                    &config.retention,
                    &mail_dir(&config.db_path()),
                )
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
        SubjectCommand::Erase { email } => match db::write(config_file, MISSING, |config, conn| {
            subject::erase(
                conn,
                &email,
                Actor::Cli,
                db::now(),
                &mail_dir(&config.db_path()),
            )
        }) {
            Ok((_, erased)) => {
                let who = match erased.contact_ids.len() {
                    0 => "no family contact".to_string(),
                    1 => "1 family contact".to_string(),
                    n => format!("{n} family contacts (one per booking)"),
                };
                println!(
                    "erased {who}: {} bookings ({} future ones cancelled), {} mails, {} mail files",
                    erased.bookings, erased.cancelled, erased.mail, erased.mail_files
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}
