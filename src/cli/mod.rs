//! The command line: `bedside [--config FILE] <command>`. One file per
//! command; each returns the process exit code.

mod apikey;
mod backup;
mod check;
mod db;
mod init;
mod jitsi;
mod keys;
mod mail;
mod patient;
mod privacy;
mod purge;
mod serve;
mod staff;
mod subject;
mod tablet;
mod token;
mod unit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};

/// bedside — booked video visits on hospital wards, beside your own Jitsi Meet.
#[derive(Debug, Parser)]
#[command(name = "bedside", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Without one, the defaults and BEDSIDE_*
    /// environment variables apply.
    #[arg(
        long,
        short,
        env = "BEDSIDE_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (creates the data directory, database and Jitsi secret on first start).
    Serve,
    /// Write a commented example configuration file with every key and its default.
    Init(init::InitArgs),
    /// Check the configuration, the Jitsi secret and the database; list every problem.
    Check,
    /// Print a Jitsi join link with a token for one room (e.g. to test the Jitsi set-up).
    Token(token::TokenArgs),
    /// Wards: time zone, visiting hours, slot length and booking rules.
    #[command(subcommand)]
    Unit(unit::UnitCommand),
    /// Tablets on a ward.
    #[command(subcommand)]
    Tablet(tablet::TabletCommand),
    /// Patients and the invites their families book with.
    #[command(subcommand)]
    Patient(patient::PatientCommand),
    /// API keys for hospital systems.
    #[command(subcommand)]
    Apikey(apikey::ApiKeyCommand),
    /// Staff accounts: the first admin is created here.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// Mail: test the relay, see the outbox.
    #[command(subcommand)]
    Mail(mail::MailCommand),
    /// Delete what is past retention now (the server also does it on its schedule).
    Purge(purge::PurgeArgs),
    /// Privacy: the record of processing (GDPR Art. 30) from the configuration.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
    /// Keys: the data key that encrypts family contact details; RSA signing keys for RS* tokens.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// A family member's data: export it (GDPR Art. 15) or erase it (Art. 17).
    #[command(subcommand)]
    Subject(subject::SubjectCommand),
    /// Print the Jitsi-side settings (docker-jitsi-meet .env or Prosody) that match this configuration.
    JitsiConfig(jitsi::JitsiConfigArgs),
    /// Write a consistent, checked copy of the database (safe while the server runs).
    Backup(backup::BackupArgs),
}

/// Runs the command and returns the exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve => serve::run(cli.config.as_deref()),
        Command::Init(args) => init::run(&args),
        Command::Check => check::run(cli.config.as_deref()),
        Command::Token(args) => token::run(cli.config.as_deref(), &args),
        Command::Unit(c) => unit::run(cli.config.as_deref(), c),
        Command::Tablet(c) => tablet::run(cli.config.as_deref(), c),
        Command::Patient(c) => patient::run(cli.config.as_deref(), c),
        Command::Apikey(c) => apikey::run(cli.config.as_deref(), c),
        Command::Staff(c) => staff::run(cli.config.as_deref(), c),
        Command::Mail(c) => mail::run(cli.config.as_deref(), c),
        Command::Purge(args) => purge::run(cli.config.as_deref(), &args),
        Command::Privacy(c) => privacy::run(cli.config.as_deref(), c),
        Command::Keys(c) => keys::run(cli.config.as_deref(), c),
        Command::JitsiConfig(args) => jitsi::jitsi_config(cli.config.as_deref(), &args),
        Command::Subject(c) => subject::run(cli.config.as_deref(), c),
        Command::Backup(args) => backup::run(cli.config.as_deref(), &args),
    }
}

/// Loads the configuration, or prints every problem and returns the exit code.
fn load_config(file: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    Config::load(file, &config::process_env()).map_err(|problems| {
        eprint!("error: {problems}");
        ExitCode::FAILURE
    })
}
