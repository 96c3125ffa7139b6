//! The data directory's lock file: who is using the database right now.
//!
//! `bedside serve` holds a shared advisory lock on `bedside.lock` (next to
//! the database) for as long as it runs; commands that must not run beside
//! a server — `bedside keys rotate-data-key`, which swaps the key a running
//! server keeps in memory — take it exclusively, and refuse when they
//! cannot. The operating system drops the lock when the process ends, even
//! when it crashes, so a stale lock never blocks anyone. Other commands
//! (`purge`, `subject`, …) are safe beside a server and take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "bedside.lock";

/// The lock file of the database at `db_path`.
pub fn lock_path(db_path: &Path) -> PathBuf {
    crate::store::key_dir(db_path).join(LOCK_FILE)
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A server holds the lock: it must be stopped first.
    #[error(
        "a bedside server is running on this data directory ({path}); stop the server first \
         (e.g. systemctl stop bedside), then run this command again"
    )]
    ServerRunning { path: PathBuf },
    /// A command that must run alone holds it.
    #[error(
        "another bedside command that must run alone (bedside keys rotate-data-key) is using \
         this data directory ({path}); wait until it has finished, then start bedside again"
    )]
    CommandRunning { path: PathBuf },
    #[error("cannot open the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn open(path: &Path) -> Result<File, LockError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| LockError::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl DataLock {
    /// For a server: a shared lock, so that two servers on one directory
    /// (a mistake the purge lease copes with) still start, but no command
    /// that must run alone runs beside them.
    pub fn server(db_path: &Path) -> Result<DataLock, LockError> {
        let path = lock_path(db_path);
        let file = open(&path)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::CommandRunning { path }),
            Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }

    /// For a command that must run alone: an exclusive lock, refused while
    /// a server (or another such command) holds the lock.
    pub fn alone(db_path: &Path) -> Result<DataLock, LockError> {
        let path = lock_path(db_path);
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(LockError::ServerRunning { path }),
            Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_lock_and_a_command_alone_is_refused_beside_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bedside.db");
        let first = DataLock::server(&db).unwrap();
        let second = DataLock::server(&db).unwrap();
        assert!(matches!(
            DataLock::alone(&db),
            Err(LockError::ServerRunning { .. })
        ));
        drop(first);
        assert!(DataLock::alone(&db).is_err());
        drop(second);
        let alone = DataLock::alone(&db).unwrap();
        assert!(matches!(
            DataLock::server(&db),
            Err(LockError::CommandRunning { .. })
        ));
        drop(alone);
        DataLock::server(&db).unwrap();
    }
}
