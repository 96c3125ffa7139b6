//! bedside: booked video visits on hospital wards, beside the hospital's own
//! Jitsi Meet.
//!
//! [`run`] is the whole service: production binds the configured address
//! and passes the listener in; tests bind `127.0.0.1:0` and do the same.

#![forbid(unsafe_code)]

pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod i18n;
pub mod jitsi;
pub mod lock;
pub mod mail;
pub mod metrics;
pub mod privacy;
pub mod retention;
pub mod store;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::jitsi::Minter;
use crate::jitsi::keys::{self, SecretError};
use crate::store::{Store, StoreError};

/// What every request handler can reach.
pub struct State {
    pub config: Config,
    pub store: Store,
    pub minter: Minter,
    pub clock: Arc<dyn Clock>,
    pub rng: ring::rand::SystemRandom,
    /// Seals family contact details at rest (see [`crypto`]).
    pub data_key: crypto::DataKey,
    /// Signs the CSRF tokens of family forms.
    pub form_key: http::forms::FormKey,
    /// Limits code guessing per client address.
    pub throttle: http::throttle::Throttle,
    /// Limits failed staff logins per client address.
    pub login_throttle: http::throttle::Throttle,
    /// Counters for `/metrics` (failed staff logins among them).
    pub metrics: metrics::Metrics,
    /// The headers every response carries.
    pub security_headers: http::response::SecurityHeaders,
    /// Composes mail into the outbox; the sender hands it over.
    pub mailer: Arc<mail::Mailer>,
    /// The version of the privacy statement this configuration produces,
    /// recorded with every family's consent.
    pub privacy_version: String,
    /// Whether a purge is running, and since when the server is up.
    pub purge: retention::Monitor,
    /// Visits recently opened by their link (`/v/<code>`).
    pub visits: domain::booking::VisitCache,
    /// API keys recently found valid (by hash).
    pub api_keys: store::cache::ReadCache<()>,
    /// Active patients (by id) with their unit, as the booking API read
    /// them to compose a booking's mail before its transaction (which reads
    /// the patient again).
    pub patients: store::cache::ReadCache<Arc<(store::patients::PatientRow, domain::unit::Unit)>>,
}

/// Most patients [`State::patients`] keeps: more than a big hospital's
/// beds; a full cache starts over.
const PATIENT_CACHE_ENTRIES: usize = 4096;

/// Why bedside could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "server.data_dir: cannot create {path}: {source}; create it yourself or choose a \
         writable directory"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Keys(#[from] jitsi::LoadError),
    #[error("server.data_dir: {0}")]
    Store(#[from] StoreError),
    #[error("startup was interrupted")]
    Interrupted,
    #[error("{0}")]
    Mail(String),
    #[error(transparent)]
    Locked(#[from] lock::LockError),
}

/// Creates the data directory, the secret (first start only) and the
/// migrated database. Blocking.
pub fn prepare(config: &Config) -> Result<(Store, Minter, Vec<u8>, mail::Mailer), StartError> {
    create_data_dir(config)?;
    let mut mailer = mail::Mailer::new(config).map_err(StartError::Mail)?;
    let minter = Minter::load(&config.jitsi, true)?;
    let form_key = keys::load_form_key(&config.server.data_dir)?;
    let store = Store::open(&config.db_path())?;
    mailer.seal_with(store.data_key().clone());
    Ok((store, minter, form_key, mailer))
}

/// Creates the data directory readable by bedside's user only (mode 0700),
/// and the database file with mode 0600 before SQLite first opens it:
/// SQLite gives its `-wal` and `-shm` files the database file's mode.
pub fn create_data_dir(config: &Config) -> Result<(), StartError> {
    let dir = &config.server.data_dir;
    let failed = |source| StartError::DataDir {
        path: dir.clone(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(failed)?;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(config.db_path())
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(e)),
        }
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(failed)?;
    Ok(())
}

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// [`run`] with a chosen clock, so tests can move time.
pub async fn run_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    clock: Arc<dyn Clock>,
) -> Result<(), StartError> {
    let (data_lock, prepared) = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the server stops: `keys rotate-data-key` refuses
            // to run meanwhile.
            create_data_dir(&config)?;
            let data_lock = lock::DataLock::server(&config.db_path())?;
            Ok::<_, StartError>((data_lock, prepare(&config)?))
        })
        .await
        .map_err(|_| StartError::Interrupted)??
    };
    let (store, minter, form_key, mailer) = prepared;
    let data_dir = std::fs::canonicalize(&config.server.data_dir)
        .unwrap_or_else(|_| config.server.data_dir.clone());
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| config.server.listen.to_string());
    tracing::info!(
        listen = %address,
        data_dir = %data_dir.display(),
        "bedside is listening on http://{address} with its data in {}",
        data_dir.display()
    );
    let grace = config.server.shutdown_grace;
    let rng = ring::rand::SystemRandom::new();
    let state = Arc::new(State {
        visits: domain::booking::VisitCache::new(),
        api_keys: store::cache::ReadCache::new(64),
        patients: store::cache::ReadCache::new(PATIENT_CACHE_ENTRIES),
        security_headers: http::response::SecurityHeaders::new(&config),
        mailer: Arc::new(mailer),
        privacy_version: privacy::privacy_version(&config),
        metrics: metrics::Metrics::new(config.retention.purge_interval),
        config,
        data_key: store.data_key().clone(),
        store: store.clone(),
        minter,
        form_key: http::forms::FormKey::from_bytes(&form_key),
        rng,
        throttle: http::throttle::Throttle::default(),
        login_throttle: http::throttle::Throttle::default(),
        purge: retention::Monitor::new(clock.now()),
        clock,
    });
    let sender = tokio::spawn(mail::sender::run(state.clone(), shutdown.clone()));
    // A purge missed while bedside was down runs now, not an interval later.
    let catch_up = retention::due_at_start(&state).await;
    let purger = tokio::spawn(retention::run(state.clone(), shutdown.clone(), catch_up));
    http::serve(listener, state, shutdown, grace).await;
    // The sender stops at the shutdown signal, after the mail in hand; the
    // purge after the batch in hand.
    let _ = tokio::time::timeout(grace, async {
        let _ = sender.await;
        let _ = purger.await;
    })
    .await;
    // Let queued writes finish and checkpoint the WAL before returning.
    let _ = tokio::task::spawn_blocking(move || store.close()).await;
    drop(data_lock);
    tracing::info!("bedside stopped");
    Ok(())
}
