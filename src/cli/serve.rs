//! `bedside serve`: bind, run, and stop cleanly on SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::load_config;

/// Time left for blocking work (database close) after the server stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);

pub fn run(config_file: Option<&Path>) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        let listen = config.server.listen;
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "error: server.listen: cannot listen on {listen}: {e}; is another bedside \
                     running, or choose another address with BEDSIDE_LISTEN"
                );
                return ExitCode::FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        match crate::run(config, listener, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

/// Cancels `shutdown` at the first SIGTERM (systemd, docker stop) or Ctrl-C.
async fn stop_on_signal(shutdown: CancellationToken) {
    // Whatever happens in this task, its end means shutdown.
    let _cancel_on_exit = shutdown.drop_guard();
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                let which = tokio::select! {
                    _ = ctrl_c => "Ctrl-C",
                    _ = term.recv() => "SIGTERM",
                };
                tracing::info!("{which} received");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops bedside");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
