//! `GET /healthz`: is the process up, the database usable, the purge on time?

use serde::Serialize;

use crate::State;
use crate::error::Result;
use crate::http::response::{Response, json};
use crate::retention;
use crate::store::{SCHEMA_VERSION, StoreError};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    database: &'static str,
    /// `ok`, `running`, or `overdue` (the last successful purge is older
    /// than twice the schedule's interval).
    purge: &'static str,
    /// When the last successful purge ran (RFC 3339), if ever.
    last_purge: Option<String>,
}

/// 200 with `status: ok` when the database answers at the expected schema
/// version; 503 with `status: error` otherwise, so a load balancer or
/// monitoring check can act on the status code alone. 200 with
/// `status: degraded` when the purge is overdue: bedside still serves
/// visits, but personal data is outliving its retention, and someone
/// should look at the log.
pub async fn health_show(state: &State) -> Result<Response> {
    let read = state
        .store
        .read(|c| {
            let version = c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
            Ok::<_, StoreError>((version, retention::last_success(c)?))
        })
        .await;
    let (database_ok, last_success) = match read {
        Ok((v, last)) => (v == SCHEMA_VERSION, last),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (false, None)
        }
    };
    let overdue = database_ok
        && retention::overdue(
            last_success,
            state.clock.now(),
            state.config.retention.purge_interval,
            state.purge.up_since,
        );
    if overdue {
        tracing::warn!(
            last_success = ?last_success.map(|t| t.to_string()),
            "health check: the purge is overdue; see earlier purge log lines"
        );
    }
    let body = Health {
        status: match (database_ok, overdue) {
            (false, _) => "error",
            (true, true) => "degraded",
            (true, false) => "ok",
        },
        version: env!("CARGO_PKG_VERSION"),
        database: if database_ok { "ok" } else { "error" },
        purge: if state.purge.running() {
            "running"
        } else if overdue {
            "overdue"
        } else {
            "ok"
        },
        last_purge: last_success.map(|t| t.to_string()),
    };
    let status = if database_ok {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json(status, &body))
}

/// `GET /metrics`: counters in the Prometheus text format, for the
/// hospital's monitoring. Counts only — nothing about any person. Keep it
/// off the public reverse proxy (it needs no secret to read).
pub fn metrics_show(state: &State) -> Response {
    use std::sync::atomic::Ordering;
    let failed = state.failed_logins.load(Ordering::Relaxed);
    let body = format!(
        "# HELP bedside_failed_logins_total Failed staff logins since bedside started.\n\
         # TYPE bedside_failed_logins_total counter\n\
         bedside_failed_logins_total {failed}\n"
    );
    let mut response = crate::http::response::text(http::StatusCode::OK, &body);
    crate::http::response::with_header(
        &mut response,
        http::header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    );
    response
}
