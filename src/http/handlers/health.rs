//! `GET /healthz`: is the process up and the database usable?

use serde::Serialize;

use crate::State;
use crate::error::Result;
use crate::http::response::{Response, json};
use crate::store::{SCHEMA_VERSION, StoreError};

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    database: &'static str,
}

/// 200 with `status: ok` when the database answers at the expected schema
/// version; 503 with `status: error` otherwise, so a load balancer or
/// monitoring check can act on the status code alone.
pub async fn health_show(state: &State) -> Result<Response> {
    let version = state
        .store
        .read(|c| {
            Ok::<_, StoreError>(c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?)
        })
        .await;
    let database_ok = match version {
        Ok(v) => v == SCHEMA_VERSION,
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            false
        }
    };
    let body = Health {
        status: if database_ok { "ok" } else { "error" },
        version: env!("CARGO_PKG_VERSION"),
        database: if database_ok { "ok" } else { "error" },
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
