//! `bedside backup <FILE> [--force]`: a consistent copy of the database,
//! safe to take while `bedside serve` runs.
//!
//! SQLite's `VACUUM INTO` writes a snapshot of the database as of one read
//! transaction: in WAL mode that never blocks the server's writer, and the
//! copy holds everything committed before it began and nothing after —
//! never a torn mix, which copying `bedside.db` (without its `-wal`) can
//! give. It also leaves out free pages, so deleted personal data does not
//! travel into the backup. The copy goes to a temporary name next to FILE
//! (mode 0600 from the first byte), is checked with `PRAGMA
//! integrity_check`, flushed to disk, and only then renamed to FILE: a
//! crash or a full disk never leaves a half-written FILE behind.
//!
//! The data key (`<data_dir>/data-key`) is deliberately not in the copy:
//! without it the names and e-mail addresses in a stolen backup stay
//! sealed. It must be backed up too, separately.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rusqlite::{Connection, OpenFlags};

use super::load_config;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy, e.g. /var/backups/bedside/bedside-2026-11-23.db.
    /// Its directory must exist.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// How long the backup waits for a lock the server holds. `VACUUM INTO`
/// only reads, so in WAL mode it waits only for a checkpoint in progress.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A finished backup.
#[derive(Debug)]
pub struct Backup {
    /// The file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Why no backup was written. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("there is no database at {0}; check server.data_dir (or --config / BEDSIDE_DATA_DIR)")]
    NoDatabase(PathBuf),
    #[error("{0} exists; choose another name, or pass --force to replace it")]
    Exists(PathBuf),
    #[error("{0} is a directory; name the backup file, e.g. {0}/bedside.db")]
    IsDirectory(PathBuf),
    #[error("{0} is one of bedside's own files; write the backup somewhere else")]
    OwnFile(PathBuf),
    #[error("the directory {0} does not exist; create it first")]
    NoDirectory(PathBuf),
    #[error("{0} is not valid UTF-8; choose a plain path for the backup")]
    NotUtf8(PathBuf),
    #[error(
        "{db} belongs to user id {owner}, but this command runs as user id {me}, and SQLite would \
         create {db}-wal and -shm owned by user id {me} (bedside could then not open them); run \
         it as the owner, e.g. `sudo -u <bedside user> bedside backup …`"
    )]
    WrongUser { db: PathBuf, owner: u32, me: u32 },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "the copy failed SQLite's integrity check ({0}); nothing was written. Run \
         `bedside check`: the database itself may be damaged"
    )]
    Integrity(String),
}

pub fn run(config_file: Option<&Path>, args: &BackupArgs) -> ExitCode {
    let config = match load_config(config_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match backup(&config.db_path(), &args.file, args.force) {
        Ok(done) => {
            println!(
                "backup written: {} ({} bytes, integrity check ok)",
                done.path.display(),
                done.bytes
            );
            println!(
                "The names and e-mail addresses in it are encrypted with the data key {}, which \
                 is NOT in the backup. Back up that file too, separately (without it they cannot \
                 be read; with it, anyone holding the backup can read them). The backup holds \
                 personal data: keep it safe and no longer than your retention rules allow.",
                crate::store::key_path(&config.db_path()).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a consistent, integrity-checked copy of the database at `db` to
/// `target` (mode 0600). Refuses to replace an existing `target` unless
/// `force`. Blocking.
pub fn backup(db: &Path, target: &Path, force: bool) -> Result<Backup, BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.to_path_buf()));
    }
    if target.is_dir() {
        return Err(BackupError::IsDirectory(target.to_path_buf()));
    }
    let name = target
        .file_name()
        .ok_or_else(|| BackupError::IsDirectory(target.to_path_buf()))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&dir).map_err(|_| BackupError::NoDirectory(dir.clone()))?;
    if !dir.is_dir() {
        return Err(BackupError::NoDirectory(dir));
    }
    let target = dir.join(name);
    refuse_own_files(db, &target)?;
    if target.exists() && !force {
        return Err(BackupError::Exists(target));
    }

    let mut partial = name.to_os_string();
    partial.push(format!(".partial-{}", std::process::id()));
    let temp = Partial::create(dir.join(format!(".{}", partial.to_string_lossy())))?;
    check_owner(db, &temp.path)?;
    let temp_text = temp
        .path
        .to_str()
        .ok_or_else(|| BackupError::NotUtf8(target.clone()))?
        .to_string();

    {
        let source = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        source.busy_timeout(BUSY_TIMEOUT)?;
        // One read transaction: the snapshot as of its start.
        source.execute("VACUUM INTO ?1", [&temp_text])?;
    }
    {
        let copy = Connection::open_with_flags(
            &temp.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let answers: Vec<String> = copy
            .prepare("PRAGMA integrity_check")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if answers != ["ok"] {
            return Err(BackupError::Integrity(answers.join("; ")));
        }
    }
    // VACUUM INTO does not sync what it wrote; the rename must not land
    // on disk before the data does.
    File::open(&temp.path)
        .and_then(|f| f.sync_all())
        .map_err(|source| BackupError::Io {
            what: "cannot flush",
            path: temp.path.clone(),
            source,
        })?;
    if target.exists() && !force {
        return Err(BackupError::Exists(target));
    }
    temp.rename_to(&target)?;
    sync_dir(&dir);
    let bytes = std::fs::metadata(&target)
        .map_err(|source| BackupError::Io {
            what: "cannot read",
            path: target.clone(),
            source,
        })?
        .len();
    Ok(Backup {
        path: target,
        bytes,
    })
}

/// Refuses a target that is the database, its WAL or shared memory, or
/// the data key: replacing one of those would destroy what is backed up.
fn refuse_own_files(db: &Path, target: &Path) -> Result<(), BackupError> {
    let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    let mut own = vec![db.clone(), crate::store::key_path(&db)];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        own.push(PathBuf::from(name));
    }
    let target_real = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
    if own.contains(&target_real) {
        return Err(BackupError::OwnFile(target.to_path_buf()));
    }
    Ok(())
}

/// Reading a WAL database creates its `-wal` and `-shm` files when they
/// are missing (the server is stopped), owned by whoever reads. Refuses
/// when that would be another user than the database's owner — the file
/// just created tells who this process runs as.
#[cfg(unix)]
fn check_owner(db: &Path, ours: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::MetadataExt;
    let meta = |p: &Path| {
        std::fs::metadata(p).map_err(|source| BackupError::Io {
            what: "cannot read",
            path: p.to_path_buf(),
            source,
        })
    };
    let owner = meta(db)?.uid();
    let me = meta(ours)?.uid();
    let sidecar = |suffix: &str| {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name).exists()
    };
    if owner != me && !(sidecar("-wal") && sidecar("-shm")) {
        return Err(BackupError::WrongUser {
            db: db.to_path_buf(),
            owner,
            me,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner(_db: &Path, _ours: &Path) -> Result<(), BackupError> {
    Ok(())
}

/// Makes the rename itself durable. Best effort: not every file system
/// lets a directory be opened for syncing.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The temporary file, removed again unless it was renamed into place.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Partial {
    /// Creates the empty file `VACUUM INTO` writes into (it accepts an
    /// empty file), readable by this user only from the start.
    fn create(path: PathBuf) -> Result<Partial, BackupError> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&path).map_err(|source| BackupError::Io {
            what: "cannot create",
            path: path.clone(),
            source,
        })?;
        Ok(Partial { path, kept: false })
    }

    fn rename_to(mut self, target: &Path) -> Result<(), BackupError> {
        std::fs::rename(&self.path, target).map_err(|source| BackupError::Io {
            what: "cannot rename the finished copy to",
            path: target.to_path_buf(),
            source,
        })?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path) -> PathBuf {
        let db = dir.join("bedside.db");
        let conn = Connection::open(&db).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
            .unwrap();
        db
    }

    #[test]
    fn a_backup_is_a_private_checked_copy_and_is_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        let target = dir.path().join("copy.db");
        let done = backup(&db, &target, false).unwrap();
        assert_eq!(done.path, std::fs::canonicalize(&target).unwrap());
        assert!(done.bytes > 0);
        let copy = Connection::open(&target).unwrap();
        let n: i64 = copy
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = backup(&db, &target, false).unwrap_err();
        assert!(again.to_string().contains("--force"), "{again}");
        backup(&db, &target, true).unwrap();
        // No temporary file is left behind either way.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn the_database_its_wal_and_the_data_key_are_never_targets() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path());
        for name in ["bedside.db", "bedside.db-wal", "data-key"] {
            let e = backup(&db, &dir.path().join(name), true).unwrap_err();
            assert!(matches!(e, BackupError::OwnFile(_)), "{name}: {e}");
        }
        let e = backup(&db, dir.path(), true).unwrap_err();
        assert!(matches!(e, BackupError::IsDirectory(_)), "{e}");
        let e = backup(&db, &dir.path().join("nowhere/copy.db"), false).unwrap_err();
        assert!(matches!(e, BackupError::NoDirectory(_)), "{e}");
        let e = backup(&dir.path().join("none.db"), &dir.path().join("c.db"), false).unwrap_err();
        assert!(matches!(e, BackupError::NoDatabase(_)), "{e}");
    }
}
