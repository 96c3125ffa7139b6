//! `bedside unit add|set|list`: wards, their time zone and visiting hours.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::db;
use crate::domain::unit::{self, Unit, UnitSettings};

#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Add a ward: bedside unit add "Ward 3" --time-zone Europe/Amsterdam --hours "mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00"
    Add {
        /// The ward's name as staff and families know it.
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change a ward's settings; bookings already made keep their times.
    Set {
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List the wards with their settings.
    List,
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// IANA time zone of the ward, e.g. Europe/Amsterdam (required for add).
    #[arg(long)]
    time_zone: Option<String>,
    /// Weekly visiting hours, e.g. "mon-fri 14:00-16:00, 18:00-19:30; sat,sun 10:00-12:00" (required for add).
    #[arg(long)]
    hours: Option<String>,
    /// Length of one visit in minutes (default 30).
    #[arg(long)]
    slot_minutes: Option<i64>,
    /// Minutes between visits on the same tablet, to wipe it and walk to the next bed (default 10).
    #[arg(long)]
    buffer_minutes: Option<i64>,
    /// How many days ahead families can book (default 7).
    #[arg(long)]
    horizon_days: Option<i64>,
    /// Most visits one patient can have per day (default 2).
    #[arg(long)]
    max_visits_per_day: Option<i64>,
    /// Minutes before the start a family can join (default 10).
    #[arg(long)]
    early_join_minutes: Option<i64>,
    /// Minutes after the end before the family's token expires (default 5).
    #[arg(long)]
    grace_minutes: Option<i64>,
    /// How families are named in the call: "name" (their name) or "label" ("Family of Bed 12").
    #[arg(long)]
    family_display: Option<String>,
}

impl From<SettingsArgs> for UnitSettings {
    fn from(a: SettingsArgs) -> Self {
        UnitSettings {
            time_zone: a.time_zone,
            visiting_hours: a.hours,
            slot_minutes: a.slot_minutes,
            buffer_minutes: a.buffer_minutes,
            horizon_days: a.horizon_days,
            max_visits_per_day: a.max_visits_per_day,
            early_join_minutes: a.early_join_minutes,
            grace_minutes: a.grace_minutes,
            family_display: a.family_display,
        }
    }
}

pub fn run(config_file: Option<&Path>, command: UnitCommand) -> ExitCode {
    match command {
        UnitCommand::Add { name, settings } => {
            let settings = settings.into();
            match db::write(config_file, "", |_, tx| {
                let u = unit::add(tx, &name, &settings, db::now())?;
                db::audit(tx, "unit.add", &format!("unit:{}", u.id))?;
                Ok(u)
            }) {
                Ok((_, u)) => {
                    println!("added unit {}", u.name);
                    print_unit(&u);
                    println!(
                        "next: add its tablets with `bedside tablet add --unit \"{}\" <label>`",
                        u.name
                    );
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        UnitCommand::Set { name, settings } => {
            let settings = settings.into();
            let missing = format!("no unit called '{name}'; see `bedside unit list`");
            match db::write(config_file, &missing, |_, tx| {
                let u = unit::set(tx, &name, &settings)?;
                db::audit(tx, "unit.update", &format!("unit:{}", u.id))?;
                Ok(u)
            }) {
                Ok((_, u)) => {
                    print_unit(&u);
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        UnitCommand::List => match db::write(config_file, "", |_, tx| unit::list(tx)) {
            Ok((_, units)) if units.is_empty() => {
                println!("no units yet; add one with `bedside unit add`");
                ExitCode::SUCCESS
            }
            Ok((_, units)) => {
                for u in &units {
                    print_unit(u);
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
    }
}

fn print_unit(u: &Unit) {
    println!(
        "{} (id {})\n  time zone      {}\n  visiting hours {}\n  slots          {} min, {} min between, booking {} days ahead, at most {} a day per patient\n  joining        {} min early, token {} min past the end; families shown by {}",
        u.name,
        u.id,
        u.time_zone_name,
        u.hours,
        u.slot.as_mins(),
        u.buffer.as_mins(),
        u.horizon_days,
        u.max_visits_per_day,
        u.early_join.as_mins(),
        u.grace.as_mins(),
        match u.family_display {
            unit::FamilyDisplay::Name => "name",
            unit::FamilyDisplay::Label => "label",
        }
    );
}
