//! `bedside check`: validate the configuration, the Jitsi secret and the
//! database without changing anything, and list every problem.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{self, Config};
use crate::jitsi::keys::{self, SecretError};
use crate::store::{self, SCHEMA_VERSION};

pub fn run(config_file: Option<&Path>) -> ExitCode {
    let mut problems: Vec<String> = Vec::new();
    let config = match Config::load(config_file, &config::process_env()) {
        Ok(c) => {
            println!(
                "ok       configuration ({})",
                config_file.map_or("defaults and environment".into(), |p| p
                    .display()
                    .to_string())
            );
            Some(c)
        }
        Err(p) => {
            problems.extend(p.0.iter().map(ToString::to_string));
            None
        }
    };
    if let Some(config) = &config {
        check_secret(config, &mut problems);
        check_database(config, &mut problems);
    }
    for p in &problems {
        println!("problem  {p}");
    }
    if problems.is_empty() {
        println!("no problems found");
        ExitCode::SUCCESS
    } else {
        println!("{} problem(s) found", problems.len());
        ExitCode::FAILURE
    }
}

fn check_secret(config: &Config, problems: &mut Vec<String>) {
    match keys::load(&config.jitsi, false) {
        Ok(_) => println!(
            "ok       jitsi.app_secret_file ({})",
            config.jitsi.app_secret_file.display()
        ),
        Err(SecretError::NotGenerated { path }) => println!(
            "note     jitsi.app_secret_file: {} will be generated at first start",
            path.display()
        ),
        Err(e) => problems.push(e.to_string()),
    }
}

fn check_database(config: &Config, problems: &mut Vec<String>) {
    let dir = &config.server.data_dir;
    if dir.exists() && !dir.is_dir() {
        problems.push(format!(
            "server.data_dir: {} exists but is not a directory; choose another path",
            dir.display()
        ));
        return;
    }
    let path = config.db_path();
    if !path.exists() {
        println!(
            "note     server.data_dir: {} will be created at first start",
            path.display()
        );
        return;
    }
    match store::inspect(&path) {
        Ok(db) if db.quick_check != "ok" => problems.push(format!(
            "server.data_dir: {} failed SQLite's quick_check ({}); stop bedside and restore \
             the latest backup",
            path.display(),
            db.quick_check
        )),
        Ok(db) if db.version < SCHEMA_VERSION => println!(
            "ok       database {} (schema {}; {} migration(s) will run at next start)",
            path.display(),
            db.version,
            SCHEMA_VERSION - db.version
        ),
        Ok(db) => println!(
            "ok       database {} (schema {})",
            path.display(),
            db.version
        ),
        Err(e) => problems.push(format!("server.data_dir: {e}")),
    }
}
