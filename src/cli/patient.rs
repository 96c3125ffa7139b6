//! `bedside patient add|list|discharge`: register a patient under a label
//! and hand the family an invite (link and QR code).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use ring::rand::SystemRandom;

use super::db;
use crate::domain::{DomainError, patient, unit};

#[derive(Debug, Subcommand)]
pub enum PatientCommand {
    /// Register a patient and print the family's invite link; writes its QR code as SVG.
    Add {
        #[arg(long)]
        unit: String,
        /// A pseudonymous label such as "Bed 12" — never the patient's name.
        #[arg(long)]
        label: String,
        /// Where to write the QR code (default: invite-<patient id>.svg).
        #[arg(long, value_name = "FILE")]
        qr: Option<PathBuf>,
    },
    /// List a ward's patients (id and label).
    List {
        #[arg(long)]
        unit: String,
    },
    /// Discharge a patient: the invite stops working and visits still to come are cancelled.
    Discharge {
        /// The patient's id, from `bedside patient list`.
        id: i64,
    },
}

pub fn run(config_file: Option<&Path>, command: PatientCommand) -> ExitCode {
    match command {
        PatientCommand::Add { unit, label, qr } => {
            let missing = format!("no unit called '{unit}'; see `bedside unit list`");
            let rng = SystemRandom::new();
            let result = db::write(config_file, &missing, |_, tx| {
                let u = unit::by_name(tx, &unit)?;
                let registered = patient::add(tx, &u, &label, db::now(), &rng)?;
                db::audit(
                    tx,
                    "patient.add",
                    &format!("patient:{}", registered.patient.id),
                )?;
                Ok(registered)
            });
            let (config, registered) = match result {
                Ok(r) => r,
                Err(code) => return code,
            };
            let link = format!(
                "{}/b/{}",
                config.server.public_url,
                registered.invite.expose()
            );
            println!(
                "patient {} registered on {unit} (id {})",
                registered.patient.label, registered.patient.id
            );
            println!("invite link for the family (shown only now; keep it with the printed card):");
            println!("{link}");
            let path = qr
                .unwrap_or_else(|| PathBuf::from(format!("invite-{}.svg", registered.patient.id)));
            match crate::http::qr::svg(&link).map(|svg| std::fs::write(&path, svg)) {
                Ok(Ok(())) => {
                    println!("QR code written to {}", path.display());
                    ExitCode::SUCCESS
                }
                Ok(Err(e)) => {
                    eprintln!(
                        "error: cannot write {}: {e}; the invite link above still works",
                        path.display()
                    );
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("error: {e}; the invite link above still works");
                    ExitCode::FAILURE
                }
            }
        }
        PatientCommand::List { unit } => {
            let missing = format!("no unit called '{unit}'; see `bedside unit list`");
            match db::write(config_file, &missing, |_, tx| {
                let u = unit::by_name(tx, &unit)?;
                patient::list(tx, &u)
            }) {
                Ok((_, patients)) => {
                    for p in &patients {
                        println!("{}\t{}", p.id, p.label);
                    }
                    if patients.is_empty() {
                        println!("no patients registered on {unit}");
                    }
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        PatientCommand::Discharge { id } => {
            let missing =
                format!("no patient with id {id}; see `bedside patient list --unit <unit>`");
            match db::write(config_file, &missing, |config, tx| {
                // Families are told by mail; the running server sends it.
                let mailer = crate::mail::Mailer::new(config).map_err(DomainError::Conflict)?;
                let cancelled = patient::discharge(tx, id, db::now(), Some(&mailer))?;
                db::audit(tx, "patient.discharge", &format!("patient:{id}"))?;
                Ok(cancelled)
            }) {
                Ok((_, cancelled)) => {
                    println!(
                        "patient {id} discharged; the invite no longer works; {cancelled} visit(s) still to come were cancelled"
                    );
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
    }
}
