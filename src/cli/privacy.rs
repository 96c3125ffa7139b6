//! `bedside privacy record`: print the GDPR Art. 30 record of processing,
//! in Markdown, from the configuration — the same retention times the
//! privacy page shows and the purge applies.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::load_config;

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Print the record of processing (GDPR Art. 30) in Markdown.
    Record,
}

pub fn run(config: Option<&Path>, command: PrivacyCommand) -> ExitCode {
    let config = match load_config(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match command {
        PrivacyCommand::Record => {
            print!("{}", crate::privacy::record(&config));
            ExitCode::SUCCESS
        }
    }
}
