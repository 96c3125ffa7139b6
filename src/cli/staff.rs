//! `bedside staff add|list|passwd|disable|enable|role|units`: staff
//! accounts. The first admin is made here:
//!
//! ```text
//! bedside staff add admin --name "IT service desk" --role admin
//! ```
//!
//! Passwords are asked for at the terminal (twice, not echoed), or read as
//! one line from standard input when it is not a terminal (scripts).

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use ring::rand::SystemRandom;

use super::db;
use crate::domain::audit::Actor;
use crate::domain::staff::{self, Role};
use crate::store::units as uq;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create an account; asks for its password.
    Add {
        username: String,
        /// The name shown on staff pages and in calls they open.
        #[arg(long)]
        name: String,
        /// admin (everything) or operator (only their units).
        #[arg(long, default_value = "operator")]
        role: String,
        /// Units an operator works on, comma-separated: "Ward 3,ICU".
        #[arg(long, default_value = "")]
        units: String,
    },
    /// List accounts with role, units and state.
    List,
    /// Set a new password (asks for it); unlocks the account and ends its sessions.
    Passwd { username: String },
    /// Disable an account and end its sessions.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Change an account's role: admin or operator.
    Role { username: String, role: String },
    /// Set exactly which units an operator works on, comma-separated.
    Units { username: String, units: String },
}

fn parse_role(role: &str) -> Result<Role, ExitCode> {
    Role::parse(role).ok_or_else(|| {
        eprintln!("error: role: '{role}' is not a role; use admin or operator");
        ExitCode::FAILURE
    })
}

fn split_units(units: &str) -> Vec<String> {
    units
        .split(',')
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

/// Reads a new password: prompted twice at a terminal, else one stdin line.
fn read_password() -> Result<String, ExitCode> {
    let fail = |m: String| {
        eprintln!("error: {m}");
        ExitCode::FAILURE
    };
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password (at least 12 characters): ")
            .map_err(|e| fail(format!("cannot read the password: {e}")))?;
        let again = rpassword::prompt_password("Once more: ")
            .map_err(|e| fail(format!("cannot read the password: {e}")))?;
        if first != again {
            return Err(fail("the two passwords differ; nothing was changed".into()));
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail(format!("cannot read the password from standard input: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    staff::check_password(&password).map_err(|e| fail(e.to_string()))?;
    Ok(password)
}

fn hash_new_password() -> Result<String, ExitCode> {
    let password = read_password()?;
    staff::hash_password(&password, &SystemRandom::new()).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::FAILURE
    })
}

pub fn run(config_file: Option<&Path>, command: StaffCommand) -> ExitCode {
    let result = match command {
        StaffCommand::Add {
            username,
            name,
            role,
            units,
        } => (|| {
            let role = parse_role(&role)?;
            let hash = hash_new_password()?;
            let units = split_units(&units);
            let (_, s) = db::write(config_file, "", |_, tx| {
                let s = staff::add(tx, &username, &name, role, &hash, Actor::Cli, db::now())?;
                staff::set_units(tx, s.id, &units, Actor::Cli, db::now())?;
                Ok(s)
            })?;
            println!(
                "added {} {} ({}); they can log in at /staff/login",
                s.role, s.username, s.display_name
            );
            Ok(())
        })(),
        StaffCommand::List => (|| {
            let (_, (all, units)) = db::write(config_file, "", |_, tx| {
                Ok((staff::list(tx)?, uq::unit_list(tx)?))
            })?;
            for (s, ids) in all {
                let names: Vec<&str> = units
                    .iter()
                    .filter(|u| ids.contains(&u.id))
                    .map(|u| u.name.as_str())
                    .collect();
                let state = if !s.active {
                    "disabled"
                } else if s.locked_until.is_some_and(|t| t > db::now()) {
                    "locked"
                } else {
                    "active"
                };
                let scope = if s.role == "admin" {
                    "all units".to_string()
                } else {
                    names.join(", ")
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    s.username, s.display_name, s.role, state, scope
                );
            }
            Ok(())
        })(),
        StaffCommand::Passwd { username } => (|| {
            let hash = hash_new_password()?;
            let missing = format!("no account called '{username}'; see `bedside staff list`");
            db::write(config_file, &missing, |_, tx| {
                let s = staff::by_username(tx, &username)?;
                staff::set_password(tx, s.id, &hash, Actor::Cli, db::now())
            })?;
            println!("password of {username} changed; its sessions were ended");
            Ok(())
        })(),
        StaffCommand::Disable { username } => set_active(config_file, &username, false),
        StaffCommand::Enable { username } => set_active(config_file, &username, true),
        StaffCommand::Role { username, role } => (|| {
            let role = parse_role(&role)?;
            let missing = format!("no account called '{username}'; see `bedside staff list`");
            db::write(config_file, &missing, |_, tx| {
                let s = staff::by_username(tx, &username)?;
                staff::set_role(tx, s.id, role, Actor::Cli, db::now())
            })?;
            println!("{username} is now {}", role.as_str());
            Ok(())
        })(),
        StaffCommand::Units { username, units } => (|| {
            let units = split_units(&units);
            let missing = format!("no account called '{username}'; see `bedside staff list`");
            db::write(config_file, &missing, |_, tx| {
                let s = staff::by_username(tx, &username)?;
                staff::set_units(tx, s.id, &units, Actor::Cli, db::now())
            })?;
            println!(
                "{username} works on: {}",
                if units.is_empty() {
                    "no units".into()
                } else {
                    units.join(", ")
                }
            );
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn set_active(config_file: Option<&Path>, username: &str, active: bool) -> Result<(), ExitCode> {
    let missing = format!("no account called '{username}'; see `bedside staff list`");
    db::write(config_file, &missing, |_, tx| {
        let s = staff::by_username(tx, username)?;
        staff::set_active(tx, s.id, active, Actor::Cli, db::now())
    })?;
    println!(
        "{username} is now {}",
        if active {
            "enabled"
        } else {
            "disabled; their sessions were ended"
        }
    );
    Ok(())
}
