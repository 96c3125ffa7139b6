//! The `bedside` binary: parse arguments, set up logging, hand over to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = bedside::cli::Cli::parse();
    init_logging();
    bedside::cli::run(cli)
}

/// Logs go to stderr (stdout is for command output such as `bedside token`).
/// `BEDSIDE_LOG` filters (default `info`); `BEDSIDE_LOG_FORMAT=json` gives
/// one JSON object per line for log collectors.
fn init_logging() {
    // The scheduler crate narrates its own start-up at info; bedside logs
    // what its purges did.
    let filter = EnvFilter::try_from_env("BEDSIDE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        // When stderr is gone (a closed pipe), reporting the failed write
        // with eprintln! would panic the task that logged: drop logs instead.
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    if std::env::var("BEDSIDE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mimalloc rather than glibc's malloc: a connection's buffers are often
/// freed on another tokio worker than the one that allocated them, and
/// glibc then takes the other thread's arena lock — under load a futex
/// call for every few requests (`bench/run`, the visit link: 93 000 → 101 000
/// requests/s, futex calls 147 000 → 9 000 in 4 s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
