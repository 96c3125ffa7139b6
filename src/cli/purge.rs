//! `bedside purge [--dry-run] [--now TIME]`: delete what is past retention
//! now, without waiting for the schedule — or only count it.
//!
//! It runs the server's own purge (batches, lease, audit entry), so it is
//! safe beside a running server: whichever comes second is told that a
//! purge is running elsewhere.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::load_config;
use crate::domain::audit::Actor;
use crate::retention::{self, Counts, Cutoffs, PurgeError};

/// The exit code when another process is purging: EX_TEMPFAIL, "try again
/// later", so a wrapper script can tell it from a failure.
const BUSY: u8 = 75;

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Count what would be deleted, per category, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Purge as if it were this moment (RFC 3339, e.g. 2026-12-01T09:00:00Z)
    /// instead of now. Such a run is audited but not recorded as the
    /// scheduled purge.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    now: Option<Timestamp>,
}

fn parse_time(v: &str) -> Result<Timestamp, String> {
    v.parse().map_err(|_| {
        format!("'{v}' is not an RFC 3339 time; write e.g. 2026-12-01T09:00:00Z or 2026-12-01T10:00:00+01:00")
    })
}

pub fn run(config_file: Option<&Path>, args: &PurgeArgs) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    };
    if let Err(e) = crate::create_data_dir(&config) {
        return fail(e.to_string());
    }
    let now = args.now.unwrap_or_else(|| {
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_default()
    });
    let cut = Cutoffs::at(now, &config);
    if args.dry_run {
        let conn = match crate::store::open_for_command(&config.db_path()) {
            Ok(c) => c,
            Err(e) => return fail(format!("server.data_dir: {e}")),
        };
        return match retention::plan(&conn, &cut) {
            Ok(counts) => {
                eprintln!("dry run: nothing deleted; a purge at {now} would delete:");
                print(&counts);
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("cannot read the database: {e}")),
        };
    }
    let store = match crate::store::Store::open(&config.db_path()) {
        Ok(s) => s,
        Err(e) => return fail(format!("server.data_dir: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let record = args.now.is_none();
    let result = runtime.block_on(retention::purge(
        &store,
        cut,
        Actor::Cli,
        record,
        &CancellationToken::new(),
    ));
    store.close();
    match result {
        Ok(report) => {
            eprintln!("purged what was past retention at {now}:");
            print(&report.counts);
            if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                fail(format!(
                    "the purge did not finish ({}); the log above says why, and the next purge goes on",
                    report.outcome()
                ))
            }
        }
        Err(e @ PurgeError::Busy { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(BUSY)
        }
        Err(e) => fail(format!("the purge failed: {e}")),
    }
}

/// One line per category: `bookings        3`.
fn print(counts: &Counts) {
    for (name, n) in counts.categories() {
        println!("{name:<15} {n}");
    }
}
