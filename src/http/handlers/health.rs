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
