//! What monitoring asks: `GET /healthz` (is the process up, the database
//! usable, the purge on time?), `GET /readyz` (should it get traffic?) and
//! `GET /metrics` (the counters, for Prometheus).

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::State;
use crate::error::Result;
use crate::http::response::{Response, json, with_header};
use crate::jitsi::{Grant, RoomName, TokenUser, token::Role};
use crate::metrics::Snapshot;
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

/// How long `/readyz` waits for its test write. Longer means the writer is
/// stuck behind a lock (another process holding a write transaction, a
/// stalled disk): requests that write would stall just the same. Shorter
/// than the store's busy timeout, and within a typical probe timeout.
const READY_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The `meta` row `/readyz` rewrites to prove a write reaches the disk.
/// It holds only the time of the last check.
const READY_KEY: &str = "readyz.last_write";

#[derive(Serialize)]
struct Readiness {
    /// `ready`, or `not ready`.
    status: &'static str,
    /// The names of the checks that failed, e.g. `["purge"]`.
    failed: Vec<&'static str>,
    /// Each check: `ok`, or what is wrong and what to do.
    checks: Checks,
}

#[derive(Serialize)]
struct Checks {
    database: String,
    purge: String,
    keys: String,
}

/// `GET /readyz`: 200 when this instance can do its job — a write through
/// the database writer commits, the purge is not overdue (the `/healthz`
/// rule: last success older than twice the schedule's interval), and the
/// key material works (the Jitsi minter signs, the data key seals and
/// opens, and the `data-key` file still holds the key in use). 503
/// otherwise, with a JSON body naming each failed check. `/healthz` stays
/// the liveness check: a failed readiness check is fixed by an operator,
/// not by restarting the process.
pub async fn ready_show(state: &State) -> Result<Response> {
    let mut failed = Vec::new();

    let database = match database_writable(state).await {
        Ok(()) => "ok".to_string(),
        Err(problem) => {
            failed.push("database");
            problem
        }
    };

    let last = state
        .store
        .read(|c| Ok::<_, StoreError>(retention::last_success(c)?))
        .await;
    let purge = match last {
        Ok(last) => {
            let now = state.clock.now();
            let interval = state.config.retention.purge_interval;
            if retention::overdue(last, now, interval, state.purge.up_since) {
                failed.push("purge");
                match last {
                    Some(t) => format!(
                        "overdue: the last successful purge was at {t}, more than twice the \
                         purge interval ({}s) ago; see the purge lines in the log",
                        interval.as_secs()
                    ),
                    None => format!(
                        "overdue: no purge has succeeded in the {}s since start; see the purge \
                         lines in the log",
                        now.as_second() - state.purge.up_since.as_second()
                    ),
                }
            } else {
                "ok".to_string()
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check: cannot read when the last purge ran");
            failed.push("purge");
            "unknown: the database could not be read".to_string()
        }
    };

    let keys = match keys_usable(state).await {
        Ok(()) => "ok".to_string(),
        Err(problem) => {
            failed.push("keys");
            problem
        }
    };

    if !failed.is_empty() {
        tracing::warn!(failed = ?failed, "readiness check failed");
    }
    let status = if failed.is_empty() {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if failed.is_empty() {
            "ready"
        } else {
            "not ready"
        },
        failed,
        checks: Checks {
            database,
            purge,
            keys,
        },
    };
    Ok(json(status, &body))
}

/// A real write through the store's writer: one `meta` row upserted and
/// committed (`BEGIN IMMEDIATE`, fsync), within [`READY_WRITE_TIMEOUT`].
async fn database_writable(state: &State) -> std::result::Result<(), String> {
    let now = state.clock.now().to_string();
    let write = state.store.write(move |tx| {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            rusqlite::params![READY_KEY, now],
        )?;
        Ok::<_, StoreError>(())
    });
    match tokio::time::timeout(READY_WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "readiness check: the database refused a write");
            Err(format!(
                "not writable: {e}; check the disk space and permissions of the data directory"
            ))
        }
        Err(_) => {
            tracing::error!(
                timeout_secs = READY_WRITE_TIMEOUT.as_secs(),
                "readiness check: a write did not finish in time"
            );
            Err(format!(
                "not writable: a write did not finish within {}s; is another process (a stuck \
                 bedside command, a sqlite3 shell) holding a write transaction?",
                READY_WRITE_TIMEOUT.as_secs()
            ))
        }
    }
}

/// The Jitsi minter signs a throw-away token, and the data key seals and
/// opens a value and is still the one in the `data-key` file (rotating it
/// under a running server, or losing the file, would leave contacts that
/// no future start can read).
async fn keys_usable(state: &State) -> std::result::Result<(), String> {
    let now = state.clock.now();
    let minted = RoomName::generate(&state.rng)
        .map_err(|e| e.to_string())
        .and_then(|room| {
            let user = TokenUser::new("readyz", "readiness check").map_err(|e| e.to_string())?;
            let grant = Grant {
                room: &room,
                user: &user,
                role: Role::Guest,
                not_before: now,
                expires: now + jiff::SignedDuration::from_secs(1),
            };
            // Never handed out: it only proves the signing key works.
            state
                .minter
                .mint(&grant, now)
                .map(drop)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = minted {
        tracing::error!(error = %e, "readiness check: the Jitsi minter cannot sign");
        return Err(format!("the Jitsi signing key does not work: {e}"));
    }

    let key = &state.data_key;
    let round_trip = key
        .seal("readyz", "probe")
        .and_then(|sealed| key.open("readyz", &sealed));
    if !matches!(round_trip.as_deref(), Ok("probe")) {
        tracing::error!("readiness check: the data key cannot seal and open");
        return Err("the data key cannot seal and open data".into());
    }
    let path = crate::store::key_path(state.store.path());
    let on_disk = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || crate::crypto::DataKey::load(&path))
            .await
            .map_err(|_| "the data-key file could not be checked".to_string())?
    };
    match on_disk {
        Ok(file) if file.email_key("readyz") == key.email_key("readyz") => Ok(()),
        Ok(_) => {
            tracing::error!(path = %path.display(), "readiness check: the data-key file holds another key than the running server");
            Err(format!(
                "{} holds another key than the one this server started with (rotated while \
                 bedside ran?); restart bedside so it uses the key in the file",
                path.display()
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "readiness check: the data-key file cannot be read");
            Err(format!(
                "{e}; without that file the contacts cannot be read after a restart"
            ))
        }
    }
}

/// `GET /metrics`: every series of [`crate::metrics`], with the outbox and
/// the purge's age read from the database now. OpenMetrics text when the
/// scraper asks for it (Prometheus does), otherwise the same text as
/// `text/plain` (the Prometheus 0.0.4 type, which browsers and `curl`
/// show). Counts only — nothing about any person. It needs no secret to
/// read: keep it off the public reverse proxy, or restrict it there.
pub async fn metrics_show(state: &State, request: &http::Request<bytes::Bytes>) -> Response {
    let snapshot = scrape(state).await;
    let body = state.metrics.render(snapshot.as_ref());
    let openmetrics = request
        .headers()
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    let mut response = crate::http::response::text(http::StatusCode::OK, &body);
    with_header(&mut response, http::header::CONTENT_TYPE, content_type);
    response
}

/// The gauges that come from the database; `None` (and the last values
/// kept) when it cannot be read.
async fn scrape(state: &State) -> Option<Snapshot> {
    let read = state
        .store
        .read(|c| {
            Ok::<_, StoreError>((crate::mail::outbox::counts(c)?, retention::last_success(c)?))
        })
        .await;
    match read {
        Ok((outbox, last)) => {
            let since: Timestamp = last.unwrap_or(state.purge.up_since);
            Some(Snapshot {
                outbox,
                purge_age_secs: state.clock.now().as_second() - since.as_second(),
            })
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot read the outbox and purge state");
            None
        }
    }
}
