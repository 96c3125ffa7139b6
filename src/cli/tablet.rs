//! `bedside tablet add|list|disable|enable`.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::db;
use crate::domain::tablet;

#[derive(Debug, Subcommand)]
pub enum TabletCommand {
    /// Add a tablet to a ward: bedside tablet add --unit "Ward 3" "Tablet 1"
    Add {
        #[arg(long)]
        unit: String,
        label: String,
    },
    /// List a ward's tablets.
    List {
        #[arg(long)]
        unit: String,
    },
    /// Take a tablet out of service: no new bookings go to it.
    Disable {
        #[arg(long)]
        unit: String,
        label: String,
    },
    /// Put a tablet back into service.
    Enable {
        #[arg(long)]
        unit: String,
        label: String,
    },
}

pub fn run(config_file: Option<&Path>, command: TabletCommand) -> ExitCode {
    match command {
        TabletCommand::Add { unit, label } => {
            let missing = format!("no unit called '{unit}'; see `bedside unit list`");
            match db::write(config_file, &missing, |_, tx| {
                let t = tablet::add(tx, &unit, &label, db::now())?;
                db::audit(tx, "tablet.add", &format!("tablet:{}", t.id))?;
                Ok(t)
            }) {
                Ok((_, t)) => {
                    println!("added tablet {} to {unit}", t.label);
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        TabletCommand::List { unit } => {
            let missing = format!("no unit called '{unit}'; see `bedside unit list`");
            match db::write(config_file, &missing, |_, tx| tablet::list(tx, &unit)) {
                Ok((_, tablets)) => {
                    for t in &tablets {
                        println!(
                            "{}\t{}",
                            t.label,
                            if t.active { "active" } else { "disabled" }
                        );
                    }
                    if tablets.is_empty() {
                        println!("no tablets yet: families cannot book until one is added");
                    }
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        TabletCommand::Disable { unit, label } => set_active(config_file, &unit, &label, false),
        TabletCommand::Enable { unit, label } => set_active(config_file, &unit, &label, true),
    }
}

fn set_active(config_file: Option<&Path>, unit: &str, label: &str, active: bool) -> ExitCode {
    let missing = format!(
        "no tablet '{label}' on unit '{unit}'; see `bedside tablet list --unit \"{unit}\"`"
    );
    match db::write(config_file, &missing, |_, tx| {
        let future = tablet::set_active(tx, unit, label, active, db::now())?;
        let action = if active {
            "tablet.enable"
        } else {
            "tablet.disable"
        };
        let id = tablet::list(tx, unit)?
            .into_iter()
            .find(|t| t.label == label)
            .map_or(0, |t| t.id);
        db::audit(tx, action, &format!("tablet:{id}"))?;
        Ok(future)
    }) {
        Ok((_, future)) => {
            println!(
                "tablet {label} is now {}",
                if active { "active" } else { "disabled" }
            );
            if !active && future > 0 {
                println!(
                    "note: {future} booking(s) still to come are assigned to it; move them to another tablet or bring it back"
                );
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
