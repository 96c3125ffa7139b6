//! The SQLite store: connection setup, migrations, one writer and a few readers.
//!
//! SQLite has exactly one writer at a time. Instead of many connections that
//! race for the write lock (and sleep in the busy handler while readers
//! starve), every write goes to one dedicated thread that owns the only
//! writing connection. Reads run on a small set of read-only connections on
//! tokio's blocking pool. No rusqlite call ever runs on an async worker
//! thread.
//!
//! Durability: WAL with `synchronous=FULL`, so a write acknowledged is a
//! write kept, even across a power cut.
//!
//! Group commit: an fsync costs far more than a booking's few statements, so
//! the writer takes every job already waiting (up to [`MAX_GROUP`]) and runs
//! them in one `BEGIN IMMEDIATE` transaction, each inside its own savepoint.
//! A job that fails rolls back to its savepoint and leaves the others alone.
//! Nobody hears "done" before the `COMMIT` (and its fsync) returned; if the
//! commit fails, every job in the group hears the error, and none of them is
//! stored. Under no load a group is one job, exactly as before.
//!
//! Checkpoints run on a thread of their own ([`Wal`]), not inside the
//! commit that crosses 1 000 WAL pages. Reads that are kept in memory
//! ([`cache::ReadCache`]) are trusted only while [`Store::generation`] has not
//! moved: see [`Changes`].

pub mod apikeys;
pub mod bookings;
pub mod cache;
pub mod meetings;
mod migrations;
pub mod patients;
pub mod staff;
pub mod units;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::crypto::{DATA_KEY_FILE, DataKey};

pub use migrations::{MIGRATIONS, SCHEMA_VERSION};

/// How long a connection waits for a lock before giving up. Only the
/// checkpoint and other processes (CLI commands, backups) contend with the
/// writer thread, so this is a ceiling that is rarely approached.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read connections kept open for reuse; more are opened when needed.
const IDLE_READERS: usize = 4;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the database {path} has schema version {found}, but this bedside knows only up to \
         {known}: it was written by a newer bedside. Run that version, or restore a backup \
         made with this one"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "migrating the database to schema version {version} failed: {problem}; it was left at \
         the version before. Restore a backup made with this bedside, or report it"
    )]
    Migration { version: i64, problem: String },
    #[error(
        "the database could not be put in WAL mode (it reported '{0}'); is it on a network file system?"
    )]
    NoWal(String),
    #[error("the database is closed")]
    Closed,
    #[error("cannot start the database writer thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

/// Most jobs one transaction (and one fsync) carries.
pub const MAX_GROUP: usize = 256;

/// Delivers a job's outcome once its group's commit is known.
type Completion = Box<dyn FnOnce(Result<(), &rusqlite::Error>) + Send>;

/// A job's work: given the group's transaction (or the error that kept the
/// group from getting one), it returns how to tell its caller the outcome.
type TxJob = Box<dyn FnOnce(Result<&Transaction, &rusqlite::Error>) -> Completion + Send>;

enum WriteJob {
    /// Runs inside the group's transaction, in its own savepoint.
    Tx(TxJob),
    /// As `Tx`, for a job that only deletes rows past retention: a group
    /// of nothing else commits without waiting for its fsync (see
    /// [`Store::write_expired`]); at the lowest CPU priority when the
    /// flag says so (see `in_background`).
    Expired(TxJob, bool),
    /// Runs on the connection outside any transaction (checkpoints).
    Raw(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// A handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    key: DataKey,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    /// See [`Store::generation`].
    generation: Arc<AtomicU64>,
    /// Set while a [`Store::write_expired`] job runs.
    expired_only: Arc<AtomicBool>,
    /// Stops the checkpointer thread when the store closes.
    checkpointer: Mutex<Option<(mpsc::SyncSender<()>, JoinHandle<()>)>>,
    /// See [`Store::take_longest_hold`], in microseconds.
    longest_hold: Arc<AtomicU64>,
    /// The same for purge batches alone (see [`Store::write_expired`]).
    longest_expired: Arc<AtomicU64>,
    /// Set between `bulk_deletes(true)` and `(false)`: a purge runs, and
    /// the checkpoints it causes run at the lowest priority.
    bulk: Arc<AtomicBool>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    ///
    /// Blocking: call it before serving, or on the blocking pool.
    /// The data key (`data-key` next to the database, generated on first
    /// start) seals contacts; plain rows left by an older bedside are sealed
    /// here.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let key = data_key_for(path)?;
        let conn = open_for_command(path)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        let generation = Arc::new(AtomicU64::new(0));
        let expired_only = Arc::new(AtomicBool::new(false));
        let changes = Changes::watch(&conn, generation.clone(), expired_only.clone())?;

        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let checkpointer_conn = open_checkpointer(path)?;
        let bulk = Arc::new(AtomicBool::new(false));
        let in_bulk = bulk.clone();
        let checkpointer = std::thread::Builder::new()
            .name("bedside-db-ckpt".into())
            .spawn(move || checkpointer_loop(checkpointer_conn, nudged, in_bulk))
            .map_err(StoreError::Thread)?;
        let wal = Wal::hand_over(&conn, nudge.clone())?;
        let (tx, rx) = mpsc::channel::<WriteJob>();
        let longest_hold = Arc::new(AtomicU64::new(0));
        let longest_expired = Arc::new(AtomicU64::new(0));
        let hold = Hold {
            any: longest_hold.clone(),
            expired: longest_expired.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("bedside-db-writer".into())
            .spawn(move || writer_loop(conn, rx, changes, wal, hold))
            .map_err(StoreError::Thread)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                key,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
                generation,
                expired_only,
                checkpointer: Mutex::new(Some((nudge, checkpointer))),
                longest_hold,
                longest_expired,
                bulk,
            }),
        })
    }

    /// A number that grows after every committed change to a booking, unit,
    /// contact, patient, tablet or API key — by this server's writer at once, by another
    /// process (a CLI command) within [`OUTSIDE_CHANGES_EVERY`]. A value
    /// read *before* reading rows stays equal to the current one only as long
    /// as those rows are unchanged, which is what [`cache::ReadCache`] relies
    /// on.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The longest the writer was held by one transaction (a group of
    /// jobs, BEGIN to COMMIT) or one job outside any (a checkpoint) since
    /// the last call — every other write waited that long at most for it —
    /// and, of those, by a transaction of purge batches
    /// ([`Store::write_expired`]). Told apart, a slow fsync of a booking's
    /// commit is not mistaken for a purge batch that ran long.
    pub fn take_longest_hold(&self) -> LongestHold {
        let take = |a: &AtomicU64| std::time::Duration::from_micros(a.swap(0, Ordering::AcqRel));
        LongestHold {
            any: take(&self.inner.longest_hold),
            purge: take(&self.inner.longest_expired),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The key that seals personal data in this database.
    pub fn data_key(&self) -> &DataKey {
        &self.inner.key
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer thread and
    /// commits it; an `Err` from `f` rolls everything back.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<StoreError> + Send + 'static,
    {
        self.write_as(f, WriteJob::Tx).await
    }

    async fn write_as<T, E, F>(&self, f: F, kind: impl FnOnce(TxJob) -> WriteJob) -> Result<T, E>
    where
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<StoreError> + Send + 'static,
    {
        let (done, result) = oneshot::channel::<Result<T, E>>();
        let job = kind(Box::new(move |tx| {
            let value = match tx {
                Ok(tx) => in_savepoint(tx, f),
                Err(e) => Err(copy_error(e).into()),
            };
            Box::new(move |committed: Result<(), &rusqlite::Error>| {
                let outcome = match (value, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(copy_error(e).into()),
                };
                let _ = done.send(outcome);
            })
        }));
        {
            let writer = lock(&self.inner.writer);
            writer
                .as_ref()
                .ok_or(StoreError::Closed)?
                .send(job)
                .map_err(|_| StoreError::Closed)?;
        }
        result.await.map_err(|_| StoreError::Closed)?
    }

    /// As [`Store::write`], for a job that only deletes rows past
    /// retention (the purge's batches): what it changes does not move
    /// [`Store::generation`]. Nothing a cache serves can depend on those
    /// rows — a visit past retention is refused from the clock at every
    /// request, cached or not — so a purge of a million visits does not
    /// empty the caches hundreds of times while families open their
    /// links. Call [`Store::forget_cached`] when the purge is over.
    ///
    /// A transaction of such jobs alone runs without foreign-key checks
    /// (each purge batch deletes a row's dependents itself, and the purge's
    /// tests check `PRAGMA foreign_key_check` afterwards: SQLite's checks
    /// ran a sub-program for every booking deleted) and commits with
    /// `synchronous=NORMAL`: it does not wait for its fsync. Should the machine lose power before
    /// the next fsync, those deletions are undone — never half done (the
    /// WAL's checksums end it at a whole transaction) — and the rows, still
    /// past retention, are hidden from every page by the clock and deleted
    /// again by the next purge, which is due because this one's end (an
    /// ordinary write, fsync included, which makes every earlier one
    /// durable too) was not recorded. Such a job never shares a
    /// transaction with another write: queued together, the others commit
    /// first, with foreign keys checked and `synchronous=FULL` as always.
    /// And it runs at the lowest CPU priority (`in_background`); see
    /// [`Store::write_expired_now`] for when it cannot wait for a core.
    pub async fn write_expired<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<StoreError> + Send + 'static,
    {
        self.expired_job(f, true).await
    }

    /// As [`Store::write_expired`], at normal CPU priority: on a machine
    /// whose cores are always busy, a job at the lowest priority gets
    /// almost no CPU time, and a purge made only of them might never end
    /// (personal data kept past its retention).
    pub async fn write_expired_now<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<StoreError> + Send + 'static,
    {
        self.expired_job(f, false).await
    }

    async fn expired_job<T, E, F>(&self, f: F, lowest: bool) -> Result<T, E>
    where
        F: FnOnce(&Transaction) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<StoreError> + Send + 'static,
    {
        let expired_only = self.inner.expired_only.clone();
        self.write_as(
            move |tx| {
                expired_only.store(true, Ordering::Relaxed);
                let outcome = f(tx);
                expired_only.store(false, Ordering::Relaxed);
                outcome
            },
            |job| WriteJob::Expired(job, lowest),
        )
        .await
    }

    /// Moves [`Store::generation`] on, so every cache empties at its next
    /// use: after a purge, nothing it deleted stays in memory either.
    pub fn forget_cached(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<rusqlite::Error> + From<StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match lock(&inner.readers).pop() {
                Some(c) => c,
                None => open_reader(&inner.path, Some(&inner.key))?,
            };
            let result = f(&conn);
            let mut idle = lock(&inner.readers);
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Copies the WAL into the database file and truncates it to zero bytes
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), so old page images — deleted
    /// personal data among them — do not linger in the `-wal` file. Runs on
    /// the writer thread, outside any transaction. Returns `false` when a
    /// reader (another process, say) kept it from finishing; the next
    /// checkpoint finishes the job.
    pub async fn checkpoint(&self) -> Result<bool, StoreError> {
        let busy = self
            .raw(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .await?;
        Ok(busy == 0)
    }

    /// Runs `f` on the writer's connection outside any transaction, after
    /// the writes queued before it.
    async fn raw<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, result) = oneshot::channel();
        let job = WriteJob::Raw(Box::new(move |conn| {
            let _ = done.send(f(conn));
        }));
        lock(&self.inner.writer)
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)?;
        Ok(result.await.map_err(|_| StoreError::Closed)??)
    }

    /// Prepares the writer for a long run of large deletes (the purge), or,
    /// with `false`, puts it back as it was: a page cache of
    /// [`BULK_CACHE_KIB`] instead of [`WRITER_CACHE_KIB`], so the index pages a
    /// purge visits again are not read again; the memory is given back
    /// afterwards. (No checkpoint runs inside the writer's commits anyway:
    /// see [`Wal`]; the purge has [`Store::checkpointer`] catch up between
    /// its batches.) Meanwhile the checkpoints the WAL thread runs, like
    /// the purge's batches ([`Store::write_expired`]) and catch-ups, run at
    /// the lowest CPU priority: see `in_background`.
    pub async fn bulk_deletes(&self, on: bool) -> Result<(), StoreError> {
        // Negative: KiB (a positive size counts pages).
        let cache = if on {
            -BULK_CACHE_KIB
        } else {
            -WRITER_CACHE_KIB
        };
        self.inner.bulk.store(on, Ordering::Relaxed);
        self.raw(move |conn| conn.pragma_update(None, "cache_size", cache))
            .await
    }

    /// A connection of its own for copying the WAL into the database
    /// while the writer goes on ([`Checkpointer::catch_up`]), for the purge.
    pub fn checkpointer(&self) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        Ok(Checkpointer {
            conn: Arc::new(Mutex::new(conn)),
            // In WAL mode the file exists while the store is open.
            wal: std::fs::File::open(wal).ok().map(Arc::new),
            writing_back: Mutex::new(None),
        })
    }

    /// Rebuilds the database file (`VACUUM`) and truncates the WAL, on the
    /// writer thread and outside any transaction (`VACUUM` cannot run in
    /// one). Writes queue behind it meanwhile. See [`crate::retention::vacuum`].
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        self.raw(|conn| {
            conn.execute_batch("VACUUM")?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        })
        .await
    }

    /// Finishes queued writes, checkpoints the WAL into the main file and
    /// closes the writer. Later writes fail with [`StoreError::Closed`].
    pub fn close(&self) {
        lock(&self.inner.writer).take();
        lock(&self.inner.readers).clear();
        if let Some(thread) = lock(&self.inner.writer_thread).take() {
            let _ = thread.join();
        }
        // Its last nudge sender (the writer's) is gone with the writer.
        if let Some((nudge, thread)) = lock(&self.inner.checkpointer).take() {
            drop(nudge);
            let _ = thread.join();
        }
    }
}

/// The writer's page cache (KiB) when not purging, instead of SQLite's
/// 2 MiB: the pages of the indexes bookings add to stay in it between
/// groups. (Until 2026-11-23 the writer had about this much only after a
/// first purge, which set 2000 *pages* where it meant SQLite's default.)
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// The writer's page cache during a purge (KiB): the random-keyed indexes a
/// purge walks (visit codes, e-mail keys) are tens of MiB for a million
/// visits; 64 MiB keeps most of them between batches.
pub const BULK_CACHE_KIB: i64 = 64 * 1024;

/// Copies the WAL into the database beside the writer: see
/// [`Store::checkpointer`].
pub struct Checkpointer {
    conn: Arc<Mutex<Connection>>,
    /// The WAL, for [`Checkpointer::write_back`].
    wal: Option<Arc<std::fs::File>>,
    writing_back: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts writing the WAL out to disk (`fdatasync`, on the blocking
    /// pool) unless that is still going on, and returns at once. The
    /// purge's batches commit without waiting for their fsync; the next
    /// booking's fsync would write out everything they left unwritten, and
    /// hold the writer meanwhile. Written out beside the purge instead,
    /// little is left for it. An extra fsync changes nothing about what is
    /// durable when: SQLite's own still come at every commit of a booking.
    pub fn write_back(&self) {
        let Some(wal) = &self.wal else {
            return;
        };
        let mut writing = lock(&self.writing_back);
        if writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return;
        }
        let wal = wal.clone();
        *writing = Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = wal.sync_data() {
                tracing::debug!(error = %e, "writing the WAL out beside the purge failed");
            }
        }));
    }

    /// Passive checkpoints, on the blocking pool, until one has copied the
    /// whole WAL (or [`CATCH_UP_ROUNDS`] have run). A passive checkpoint
    /// never takes the write lock, so bookings are written meanwhile; the
    /// caller (the purge) waits, so that once the copy is complete the next
    /// write starts the WAL from its beginning again. (A checkpoint running
    /// *alongside* the purge's writes never catches up with them, and the
    /// WAL would grow by gigabytes.) Returns whether it caught up.
    pub async fn catch_up(&self) -> Result<bool, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&conn);
            let conn: &mut Connection = &mut conn;
            at_lowest_priority(move || {
                for _ in 0..CATCH_UP_ROUNDS {
                    let (log, copied): (i64, i64) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                            Ok((r.get(1)?, r.get(2)?))
                        })?;
                    if copied >= log {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// Rounds of [`Checkpointer::catch_up`]: the first copies what the purge
/// wrote, the next ones what bookings wrote meanwhile (little).
const CATCH_UP_ROUNDS: usize = 4;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` inside a savepoint of `tx`: its changes stay when it succeeds,
/// and are undone (leaving the rest of the group's) when it fails.
fn in_savepoint<T, E, F>(tx: &Transaction, f: F) -> Result<T, E>
where
    F: FnOnce(&Transaction) -> Result<T, E>,
    E: From<rusqlite::Error>,
{
    tx.execute_cached("SAVEPOINT job", [])?;
    match f(tx) {
        Ok(value) => {
            tx.execute_cached("RELEASE job", [])?;
            Ok(value)
        }
        Err(e) => {
            // If SQLite already rolled the whole transaction back (an I/O
            // error, a full disk), there is no savepoint left; the group
            // notices that and fails as a whole.
            let _ = tx.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

/// `rusqlite::Error` is not `Clone`; one commit failure is told to every job
/// of the group, keeping SQLite's error code.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

/// How often the writer looks for changes another process committed
/// (`PRAGMA data_version`) while it has nothing else to do.
pub const OUTSIDE_CHANGES_EVERY: Duration = Duration::from_millis(200);

/// Tells readers that rows they may have cached changed: TEMP triggers on the
/// writer's connection (so no other connection, the CLI's included, needs
/// the function they call) flag every update or delete of a booking, unit,
/// contact, patient or tablet (what a visit link shows) or API key; after the transaction ends the flag becomes a new
/// [`Store::generation`]. Commits by other processes show in
/// `PRAGMA data_version`, which this connection's own commits never change.
struct Changes {
    flagged: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    data_version: i64,
}

impl Changes {
    fn watch(
        conn: &Connection,
        generation: Arc<AtomicU64>,
        expired_only: Arc<AtomicBool>,
    ) -> rusqlite::Result<Changes> {
        use rusqlite::functions::FunctionFlags;
        let flagged = Arc::new(AtomicBool::new(false));
        let flag = flagged.clone();
        conn.create_scalar_function(
            "bedside_changed",
            0,
            FunctionFlags::SQLITE_UTF8,
            move |_| {
                if !expired_only.load(Ordering::Relaxed) {
                    flag.store(true, Ordering::Relaxed);
                }
                Ok(rusqlite::types::Null)
            },
        )?;
        for table in [
            "bookings", "units", "contacts", "patients", "tablets", "api_keys",
        ] {
            for event in ["UPDATE", "DELETE"] {
                conn.execute_batch(&format!(
                    "CREATE TEMP TRIGGER IF NOT EXISTS changed_{table}_{event} \
                     AFTER {event} ON main.{table} BEGIN SELECT bedside_changed(); END;"
                ))?;
            }
        }
        let data_version = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(Changes {
            flagged,
            generation,
            data_version,
        })
    }

    /// After a transaction (committed or not) or a raw job: publishes a new
    /// generation if this connection or another process changed rows.
    fn settle(&mut self, conn: &Connection) {
        let mut changed = self.flagged.swap(false, Ordering::AcqRel);
        match conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)) {
            Ok(v) if v == self.data_version => {}
            Ok(v) => {
                self.data_version = v;
                changed = true;
            }
            // Not knowing is treated as a change: a cache refill costs little.
            Err(_) => changed = true,
        }
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// WAL frames after which the checkpointer is asked to copy them into the
/// database (SQLite's own automatic checkpoint uses the same number).
const CHECKPOINT_FRAMES: i32 = 1000;

/// WAL frames after which the writer checkpoints itself, between groups:
/// the checkpointer is behind (a long read, a slow disk) and the WAL must
/// not grow without bound.
const WRITER_CHECKPOINT_FRAMES: i32 = 16 * CHECKPOINT_FRAMES;

/// The WAL is truncated to this size when it starts over.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

thread_local! {
    /// Frames in the WAL after the last commit of this thread's writer
    /// connection (its WAL hook, which gets no state of its own, sets it).
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Checkpoints off the writer thread. SQLite's automatic checkpoint runs
/// inside the commit that crosses 1000 WAL frames: that commit — and every
/// write queued behind it — waits while pages are copied into the database
/// and it is fsynced. Instead the writer's WAL hook only counts frames, and
/// past [`CHECKPOINT_FRAMES`] a checkpointer thread with its own connection
/// runs a PASSIVE checkpoint (which never blocks the writer) while the
/// writer goes on. Once the checkpoint has caught up, the next write starts
/// the WAL over; if it falls far behind, the writer checkpoints itself.
struct Wal {
    nudge: mpsc::SyncSender<()>,
}

impl Wal {
    fn hand_over(conn: &Connection, nudge: mpsc::SyncSender<()>) -> rusqlite::Result<Wal> {
        fn count(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
            WAL_FRAMES.with(|f| f.set(frames));
            Ok(())
        }
        // Replaces the automatic checkpoint (which is itself a WAL hook).
        conn.wal_hook(Some(count));
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        Ok(Wal { nudge })
    }

    /// After a commit: asks for a checkpoint when the WAL is long enough.
    fn committed(&self, conn: &Connection) {
        let frames = WAL_FRAMES.with(|f| f.replace(0));
        if frames >= WRITER_CHECKPOINT_FRAMES {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, frames, "WAL checkpoint failed");
            }
        } else if frames >= CHECKPOINT_FRAMES {
            // A full channel means a checkpoint is asked for already.
            let _ = self.nudge.try_send(());
        }
    }
}

fn open_checkpointer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    Ok(conn)
}

fn checkpointer_loop(mut conn: Connection, nudged: mpsc::Receiver<()>, bulk: Arc<AtomicBool>) {
    fn checkpoint(conn: &mut Connection) -> rusqlite::Result<()> {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
    }
    while nudged.recv().is_ok() {
        let done = if bulk.load(Ordering::Relaxed) {
            at_lowest_priority(|| checkpoint(&mut conn))
        } else {
            checkpoint(&mut conn)
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "background WAL checkpoint failed; the writer will do it");
        }
    }
}

/// See [`Store::take_longest_hold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LongestHold {
    /// By any transaction or checkpoint.
    pub any: std::time::Duration,
    /// By a transaction of purge batches.
    pub purge: std::time::Duration,
}

/// Keeps the longest time one group or raw job held the writer, and
/// one group of purge batches.
struct Hold {
    any: Arc<AtomicU64>,
    expired: Arc<AtomicU64>,
}

impl Hold {
    fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        self.time_into(&[&self.any], f)
    }

    fn time_expired<T>(&self, f: impl FnOnce() -> T) -> T {
        self.time_into(&[&self.any, &self.expired], f)
    }

    fn time_into<T>(&self, into: &[&AtomicU64], f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        for longest in into {
            longest.fetch_max(took, Ordering::AcqRel);
        }
        out
    }
}

fn writer_loop(
    mut conn: Connection,
    jobs: mpsc::Receiver<WriteJob>,
    mut changes: Changes,
    wal: Wal,
    hold: Hold,
) {
    // Jobs waiting together, by kind: a purge batch never shares a
    // transaction with another write (see `run_groups`).
    let mut group: Vec<TxJob> = Vec::new();
    let mut expired: Vec<(TxJob, bool)> = Vec::new();
    loop {
        let first = match jobs.recv_timeout(OUTSIDE_CHANGES_EVERY) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                changes.settle(&conn);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                WriteJob::Tx(f) => group.push(f),
                WriteJob::Expired(f, lowest) => expired.push((f, lowest)),
                WriteJob::Raw(f) => {
                    run_groups(&mut conn, &mut group, &mut expired, &mut changes, &hold);
                    hold.time(|| f(&mut conn));
                    changes.settle(&conn);
                    wal.committed(&conn);
                }
            }
            if group.len() + expired.len() < MAX_GROUP {
                next = jobs.try_recv().ok();
            }
        }
        run_groups(&mut conn, &mut group, &mut expired, &mut changes, &hold);
        wal.committed(&conn);
    }
    // All senders are gone: the server is shutting down. Fold the WAL back
    // into the database so the file on disk is complete on its own.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "final WAL checkpoint failed; the WAL is replayed at next start");
    }
}

/// Runs the jobs that queued together: the writes in one transaction
/// (`synchronous=FULL`), then the purge batches in another (`NORMAL`,
/// without foreign-key checks). So a booking waits for the purge batch in
/// progress, never also for one queued beside it; its fsync never holds a
/// batch up; and the longest hold is one or the other, each timed alone.
fn run_groups(
    conn: &mut Connection,
    group: &mut Vec<TxJob>,
    expired: &mut Vec<(TxJob, bool)>,
    changes: &mut Changes,
    hold: &Hold,
) {
    hold.time(|| run_group(conn, std::mem::take(group), changes, true));
    let expired = std::mem::take(expired);
    if !expired.is_empty() {
        let lowest = expired.iter().all(|(_, lowest)| *lowest);
        let jobs = expired.into_iter().map(|(job, _)| job).collect();
        if lowest {
            hold.time_expired(|| in_background(conn, |conn| run_group(conn, jobs, changes, false)));
        } else {
            hold.time_expired(|| run_group(conn, jobs, changes, false));
        }
    }
}

/// Runs `f` on the writer's connection in a thread of its own at the
/// lowest CPU priority there is (Linux's `SCHED_IDLE`), and waits for it.
/// For purge batches: the writer would otherwise keep a core busy for the
/// length of a purge, and requests — a family opening a visit link — wait
/// for it to yield. At `SCHED_IDLE` any other thread that wakes up gets
/// the core at once. The writer's own thread stays at normal priority for
/// bookings (and a lowered priority could not be raised again without
/// privileges, hence a thread per batch, ~50 µs beside a batch of ~25 ms).
///
/// Where the priority cannot be lowered (a seccomp filter, another OS),
/// or no thread can be started, the batch runs as before.
fn in_background<T: Send>(conn: &mut Connection, f: impl FnOnce(&mut Connection) -> T + Send) -> T {
    let (out, frames) = at_lowest_priority(|| {
        let out = f(&mut *conn);
        // The WAL hook counted this thread's commit in its own
        // thread-local: handed to the writer's thread below.
        (out, WAL_FRAMES.with(|w| w.replace(0)))
    });
    WAL_FRAMES.with(|w| w.set(frames));
    out
}

/// Runs `f` in a thread of its own at `SCHED_IDLE` (see [`in_background`])
/// and waits for it; on the calling thread if no thread can be started.
fn at_lowest_priority<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let mut f = Some(f);
    let ran = std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("bedside-db-idle".into())
            .spawn_scoped(scope, || {
                if let Err(e) = set_thread_priority_and_policy(
                    thread_native_id(),
                    ThreadPriority::Min,
                    ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
                ) {
                    log_priority_once(&e);
                }
                f.take().map(|f| f())
            });
        match spawned {
            Ok(thread) => Some(thread.join()),
            Err(e) => {
                tracing::debug!(error = %e, "no thread at the lowest priority; running here");
                None
            }
        }
    });
    match ran {
        Some(Ok(Some(out))) => out,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        // Not started: `f` is still here. (`Some(Ok(None))`, started
        // without it, cannot happen: the thread takes it first thing.)
        _ => match f.take() {
            Some(f) => f(),
            None => unreachable!("a job both run and not run"),
        },
    }
}

/// The first time the purge's priority cannot be lowered, says so once.
fn log_priority_once(e: &thread_priority::Error) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::warn!(
            error = ?e,
            "could not lower the purge's CPU priority (SCHED_IDLE); it runs at normal priority"
        );
    });
}

/// Runs a group of jobs in one transaction and tells each its outcome after
/// the commit — and after a new [`Store::generation`] is published, so a
/// caller that reads again once told sees no stale cached row.
///
/// `full`: the commit waits for its fsync (`synchronous=FULL`) and foreign
/// keys are checked; false only for a group of [`WriteJob::Expired`] jobs
/// alone. (Both settings are no-ops inside a transaction: set around it.)
fn run_group(conn: &mut Connection, group: Vec<TxJob>, changes: &mut Changes, full: bool) {
    if group.is_empty() {
        return;
    }
    if !full {
        set_pragma(conn, "synchronous", "NORMAL");
        set_pragma(conn, "foreign_keys", "OFF");
    }
    run_group_tx(conn, group, changes);
    if !full {
        set_pragma(conn, "foreign_keys", "ON");
        set_pragma(conn, "synchronous", "FULL");
    }
}

fn set_pragma(conn: &Connection, name: &str, value: &str) {
    if let Err(e) = conn.pragma_update(None, name, value) {
        tracing::error!(error = %e, name, value, "could not set a pragma of the writer");
    }
}

fn run_group_tx(conn: &mut Connection, group: Vec<TxJob>, changes: &mut Changes) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            // Each job needs a transaction to run in; none could be had.
            for f in group {
                fail_unrun(f, &e);
            }
            return;
        }
    };
    let mut done: Vec<Completion> = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    let mut lost: Option<rusqlite::Error> = None;
    for f in jobs.by_ref() {
        done.push(f(Ok(&tx)));
        if tx.is_autocommit() {
            // SQLite rolled the transaction back on its own (I/O error, disk
            // full): whatever the group wrote is gone.
            lost = Some(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                Some("the transaction was rolled back by the database".into()),
            ));
            break;
        }
    }
    let committed = match lost {
        Some(e) => {
            drop(tx);
            Err(e)
        }
        None => tx.commit(),
    };
    if let Err(e) = &committed {
        for f in jobs {
            fail_unrun(f, e);
        }
    }
    changes.settle(conn);
    for complete in done {
        complete(committed.as_ref().map(|_| ()));
    }
}

/// Tells a job that never ran that it failed, without running its work.
fn fail_unrun(f: TxJob, e: &rusqlite::Error) {
    f(Err(e))(Err(e));
}

/// `execute` and `query_row` through the connection's statement cache: the
/// statements of the hot paths (a booking, a visit link, the outbox) are
/// parsed once per connection instead of on every call.
pub trait CachedExt {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl CachedExt for Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Statements kept prepared per connection (rusqlite's default is 16; a
/// booking alone runs about a dozen).
const STATEMENT_CACHE: usize = 64;

/// The settings every connection needs. `secure_delete` makes deleted
/// personal data unreadable in free pages, not just unlinked.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    // Savepoints' statement journals (one per write job in a group) and
    // temporary sorts stay in memory instead of spilling to temp files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// `key` is `None` only where no personal data is read (`bedside check`).
fn open_reader(path: &Path, key: Option<&DataKey>) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    if let Some(key) = key {
        crate::crypto::register(&conn, key)?;
    }
    Ok(conn)
}

/// The data key kept next to the database file, created on first use.
pub fn data_key_for(path: &Path) -> Result<DataKey, StoreError> {
    Ok(DataKey::load_or_create(&key_dir(path))?)
}

/// The directory of the data key: the database's directory.
pub fn key_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The data key file of the database at `path`.
pub fn key_path(path: &Path) -> PathBuf {
    key_dir(path).join(DATA_KEY_FILE)
}

/// A connection for one-shot commands (the CLI): configured like the
/// server's, migrated, and written to with `BEGIN IMMEDIATE` by the caller.
/// Blocking; a running server and the CLI can share the file.
pub fn open_for_command(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal(mode));
    }
    let applied = migrations::migrate(&mut conn, path)?;
    if applied > 0 {
        tracing::info!(applied, version = SCHEMA_VERSION, "database migrated");
    }
    let key = data_key_for(path)?;
    crate::crypto::register(&conn, &key)?;
    let sealed = bookings::seal_plain_contacts(&mut conn, &key)?;
    if sealed > 0 {
        tracing::info!(sealed, "contacts encrypted with the data key");
    }
    Ok(conn)
}

/// What `bedside check` reports about a database, without changing it.
#[derive(Debug)]
pub struct Inspection {
    /// The schema version found.
    pub version: i64,
    /// `PRAGMA quick_check`'s answer; `ok` when healthy.
    pub quick_check: String,
}

/// Opens the database read-only and reports its version and health.
pub fn inspect(path: &Path) -> Result<Inspection, StoreError> {
    let conn = open_reader(path, None)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    let quick_check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    Ok(Inspection {
        version,
        quick_check,
    })
}

/// SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`), one step a line: for
/// tests that check a query uses the index meant for it.
#[cfg(test)]
pub(crate) fn query_plan(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> String {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(p, |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generation moves after this writer changes a booking-side row,
    /// not after unrelated writes or inserts, and after another connection
    /// (a CLI command) commits anything, within a few polls.
    #[tokio::test]
    async fn the_generation_follows_changes_from_here_and_elsewhere() {
        async fn exec(store: &Store, sql: &'static str) {
            store
                .write(move |tx| Ok::<_, StoreError>(tx.execute(sql, [])?))
                .await
                .unwrap();
        }
        const WARD: &str =
            "INSERT INTO units VALUES (1, 'Ward 3', 'UTC', '', 30, 10, 7, 2, 10, 5, 'name', 0)";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        let g0 = store.generation();
        exec(&store, WARD).await;
        exec(&store, "INSERT INTO meta VALUES ('a', '1')").await;
        assert_eq!(
            store.generation(),
            g0,
            "inserts change no row a reader kept"
        );
        exec(&store, "UPDATE units SET name = 'Ward 4'").await;
        let g1 = store.generation();
        assert!(g1 > g0, "told after the commit, the generation has moved");
        // The purge's deletes of rows past retention leave it; the purge
        // moves it once when done.
        store
            .write_expired(|tx| {
                tx.execute("UPDATE units SET name = 'Ward 3b'", [])?;
                Ok::<_, StoreError>(tx.execute("DELETE FROM units", [])?)
            })
            .await
            .unwrap();
        assert_eq!(store.generation(), g1);
        store.forget_cached();
        assert!(store.generation() > g1);
        let g1 = store.generation();
        exec(&store, WARD).await;
        exec(&store, "UPDATE units SET name = 'Ward 4'").await;
        assert!(store.generation() > g1, "ordinary writes move it again");
        let g1 = store.generation();
        // A failing job's changes are rolled back; whether that moves the
        // generation does not matter, but it must not go back.
        let _ = store
            .write(|tx| {
                tx.execute("UPDATE units SET name = 'Ward 5'", [])?;
                Err::<(), _>(StoreError::Closed)
            })
            .await;
        let g2 = store.generation();
        assert!(g2 >= g1);

        let other = open_for_command(&path).unwrap();
        other
            .execute("UPDATE meta SET value = '2' WHERE key = 'a'", [])
            .unwrap();
        let started = std::time::Instant::now();
        while store.generation() == g2 {
            assert!(
                started.elapsed() < OUTSIDE_CHANGES_EVERY * 10,
                "another connection's commit was not noticed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        store.close();
    }

    /// 3 000 commits of 4 KB each (12 MB), as writes or as purge batches
    /// (`expired`); then waits (10 s at most) for the database file to grow
    /// by 4 MB: checkpointed, nobody asking.
    async fn write_much_and_see_it_checkpointed(store: &Store, path: &Path, expired: bool) {
        let before = std::fs::metadata(path).unwrap().len();
        for i in 0..3000 {
            let insert = move |tx: &Transaction| {
                Ok::<_, StoreError>(tx.execute(
                    "INSERT INTO meta VALUES (?1, hex(randomblob(2000)))",
                    [format!("k{i}")],
                )?)
            };
            if expired {
                store.write_expired(insert).await.unwrap();
            } else {
                store.write(insert).await.unwrap();
            }
        }
        let started = std::time::Instant::now();
        while std::fs::metadata(path).unwrap().len() < before + 4_000_000 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nothing was checkpointed into the database file (expired: {expired})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Past [`CHECKPOINT_FRAMES`] the WAL is copied into the database file by
    /// the checkpointer, with nobody asking: the main file grows, and the WAL
    /// stays within its limit under a long run of writes.
    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        write_much_and_see_it_checkpointed(&store, &path, false).await;
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        assert!(
            wal <= WAL_SIZE_LIMIT as u64 + 2 * 1024 * 1024,
            "WAL of {wal} bytes"
        );
        store.close();
    }

    /// During a purge its batches and the checkpoints they cause run at
    /// `SCHED_IDLE`, so requests get the CPU first; other writes stay at
    /// normal priority. The batches' WAL frames still reach the
    /// checkpointer (counted on the batch's thread, handed back).
    #[tokio::test]
    async fn purge_batches_run_at_the_lowest_priority_and_are_checkpointed() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        fn policy() -> Result<ThreadSchedulePolicy, StoreError> {
            Ok(thread_priority::thread_schedule_policy().expect("policy"))
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        store.bulk_deletes(true).await.unwrap();
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let normal = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        assert_eq!(store.write_expired(|_| policy()).await.unwrap(), idle);
        assert_eq!(store.write_expired_now(|_| policy()).await.unwrap(), normal);
        assert_eq!(store.write(|_| policy()).await.unwrap(), normal);
        write_much_and_see_it_checkpointed(&store, &path, true).await;
        store.bulk_deletes(false).await.unwrap();
        assert_eq!(store.write(|_| policy()).await.unwrap(), normal);
        store.close();
    }

    #[tokio::test]
    async fn writes_commit_and_errors_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .write(|tx| Ok::<_, StoreError>(tx.execute("INSERT INTO meta VALUES ('a', '1')", [])?))
            .await
            .unwrap();
        let failed = store
            .write(|tx| {
                tx.execute("INSERT INTO meta VALUES ('b', '2')", [])?;
                Ok::<_, StoreError>(tx.execute("INSERT INTO meta VALUES ('a', 'dup')", [])?)
            })
            .await;
        assert!(failed.is_err());
        let keys: Vec<String> = store
            .read(|c| {
                let keys: rusqlite::Result<Vec<String>> = c
                    .prepare("SELECT key FROM meta WHERE key IN ('a','b') ORDER BY key")?
                    .query_map([], |r| r.get(0))?
                    .collect();
                Ok::<_, StoreError>(keys?)
            })
            .await
            .unwrap();
        assert_eq!(keys, ["a"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_jobs_fail_alone_and_succeed_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .write(|tx| {
                Ok::<_, StoreError>(tx.execute("INSERT INTO meta VALUES ('taken', '0')", [])?)
            })
            .await
            .unwrap();
        // Many writers at once, so the writer finds several jobs waiting and
        // groups them; every third job writes a row and then fails.
        let mut tasks = Vec::new();
        for i in 0..300 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |tx| {
                        tx.execute("INSERT INTO meta VALUES (?1, 'x')", [format!("k{i}")])?;
                        if i % 3 == 0 {
                            tx.execute("INSERT INTO meta VALUES ('taken', 'dup')", [])?;
                        }
                        Ok::<_, StoreError>(i)
                    })
                    .await
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(v) => {
                    assert_eq!(v, i);
                    assert_ne!(i % 3, 0);
                    ok += 1;
                }
                Err(_) => assert_eq!(i % 3, 0, "job {i} failed"),
            }
        }
        assert_eq!(ok, 200);
        let keys: Vec<String> = store
            .read(|c| {
                let mut st = c.prepare("SELECT key FROM meta WHERE key LIKE 'k%'")?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok::<_, StoreError>(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(
            keys.len(),
            200,
            "a failed job's first insert must be undone, the others kept"
        );
        assert!(
            keys.iter()
                .all(|k| k[1..].parse::<usize>().unwrap() % 3 != 0)
        );
    }

    /// Purge batches commit without waiting for an fsync, and without
    /// foreign-key checks, in transactions of their own; every other write
    /// with both — even one queued together with a purge batch.
    #[tokio::test]
    async fn only_groups_of_expired_deletions_alone_skip_the_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        // synchronous (FULL 2, NORMAL 1) and foreign_keys, as a number:
        // FULL with checks is 21, NORMAL without them 10.
        let level = |tx: &Transaction| -> Result<i64, StoreError> {
            let sync: i64 = tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
            let fk: i64 = tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            Ok(sync * 10 + fk)
        };
        assert_eq!(store.write(level).await.unwrap(), 21, "FULL");
        assert_eq!(store.write_expired(level).await.unwrap(), 10, "NORMAL");
        assert_eq!(store.write(level).await.unwrap(), 21, "FULL again");
        // While one job holds the writer, a purge batch and a booking queue
        // up together: the booking commits FULL, the batch NORMAL, apart.
        let busy = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(|_| {
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        Ok::<_, StoreError>(())
                    })
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // The purge batch first, so the group's first job is one.
        let (expired, other) = tokio::join!(store.write_expired(level), store.write(level));
        busy.await.unwrap().unwrap();
        assert_eq!((expired.unwrap(), other.unwrap()), (10, 21));
        store.close();
    }

    /// The longest hold is the longest transaction since the last look,
    /// whatever held it, and starts over after each look; purge batches'
    /// own longest is told apart.
    #[tokio::test]
    async fn the_longest_writer_hold_is_measured_and_starts_over() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let sleeps = |ms| {
            move |_: &Transaction| {
                std::thread::sleep(Duration::from_millis(ms));
                Ok::<_, StoreError>(())
            }
        };
        // A job is answered before its hold is recorded; the next write
        // comes after both.
        let settled = || store.write(|_| Ok::<_, StoreError>(()));
        store.take_longest_hold();
        store.write(sleeps(200)).await.unwrap();
        settled().await.unwrap();
        let held = store.take_longest_hold();
        assert!(held.any >= Duration::from_millis(200), "{held:?}");
        // Not a purge batch: that figure stays short.
        assert!(held.purge < Duration::from_millis(200), "{held:?}");
        settled().await.unwrap();
        assert!(store.take_longest_hold().any < Duration::from_millis(200));
        // A purge batch counts in both.
        store.write_expired(sleeps(100)).await.unwrap();
        settled().await.unwrap();
        let held = store.take_longest_hold();
        assert!(held.purge >= Duration::from_millis(100), "{held:?}");
        assert!(held.any >= held.purge, "{held:?}");
        store.close();
    }

    #[tokio::test]
    async fn the_writer_s_page_cache_grows_for_a_purge_and_shrinks_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let cache = || store.raw(|c| c.query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0)));
        let before = cache().await.unwrap();
        assert_eq!(before, -WRITER_CACHE_KIB);
        store.bulk_deletes(true).await.unwrap();
        assert_eq!(cache().await.unwrap(), -BULK_CACHE_KIB);
        store.bulk_deletes(false).await.unwrap();
        assert_eq!(cache().await.unwrap(), before);
        store.close();
    }

    #[tokio::test]
    async fn connections_use_wal_full_sync_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let (mode, sync, fk, sd): (String, i64, i64, i64) = store
            .read(|c| {
                Ok::<_, StoreError>((
                    c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    c.query_row("PRAGMA synchronous", [], |r| r.get(0))?,
                    c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                    c.query_row("PRAGMA secure_delete", [], |r| r.get(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk, sd), ("wal", 2, 1, 1));
    }

    #[tokio::test]
    async fn close_checkpoints_and_refuses_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Store::open(&path).unwrap();
        store
            .write(|tx| Ok::<_, StoreError>(tx.execute("INSERT INTO meta VALUES ('k', 'v')", [])?))
            .await
            .unwrap();
        store.close();
        let wal = std::fs::metadata(dir.path().join("t.db-wal")).map(|m| m.len());
        assert!(matches!(wal, Ok(0) | Err(_)), "WAL left with {wal:?} bytes");
        let again = store
            .write(|tx| Ok::<_, StoreError>(tx.execute("DELETE FROM meta", [])?))
            .await;
        assert!(matches!(again, Err(StoreError::Closed)));
        assert_eq!(inspect(&path).unwrap().quick_check, "ok");
    }
}
