//! The lake: partitioned Parquet tables under one directory, changed only by commits.
//!
//! ```text
//! <lake>/<table>/conversation_date=YYYY-MM-DD/<file>.parquet
//! <lake>/_convlake/snapshots/     the commit log (see [`snapshot`])
//! <lake>/_convlake/rejects/       quarantined records of each ingest (NDJSON)
//! <lake>/_convlake/pages/         page wrapper data of each ingest (Parquet)
//! <lake>/_convlake/staging/       work files of the ingest under way
//! <lake>/_convlake/lock           held by the one process changing the lake
//! ```
//!
//! [`files`] owns the Parquet settings, [`snapshot`] the commit log, [`upsert`] the ingest
//! transaction, [`vacuum`] the removal of what no snapshot needs.

pub mod files;
pub mod snapshot;
pub mod upsert;
pub mod vacuum;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::Table;

pub use snapshot::{DataFile, Snapshot};
pub use upsert::{ingest, IngestOptions, IngestSummary};

/// The bookkeeping directory of a lake.
pub fn meta_dir(lake: &Path) -> PathBuf {
    lake.join("_convlake")
}

/// Whether `path` looks like a lake (it has a commit log or table directories).
pub fn is_lake(path: &Path) -> bool {
    meta_dir(path).is_dir()
}

/// The exclusive right to change a lake, released when dropped (or when the process dies:
/// it is an OS file lock, so a killed ingest never leaves the lake locked).
#[derive(Debug)]
pub struct LakeLock {
    _file: File,
}

impl LakeLock {
    /// Takes the lock of `lake`, creating the lake's directories if needed. With `wait`,
    /// blocks until another process lets go; without, fails at once.
    pub fn acquire(lake: &Path, wait: bool) -> Result<LakeLock> {
        let meta = meta_dir(lake);
        std::fs::create_dir_all(&meta).map_err(|e| Error::io("cannot create", &meta, e))?;
        let path = meta.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        if wait {
            file.lock()
                .map_err(|e| Error::io("cannot lock", &path, e))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::Lake {
                        path: lake.to_path_buf(),
                        reason: "another convlake process is changing this lake (ingest or vacuum)"
                            .into(),
                        hint: "wait for it to finish, or pass --wait to queue behind it".into(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("cannot lock", &path, e))
                }
            }
        }
        Ok(LakeLock { _file: file })
    }
}

/// Removes what an interrupted ingest left behind: data files that the latest snapshot does
/// not list, staging files, unfinished snapshot files. Only call it holding the lock.
/// Returns the paths removed.
pub fn remove_leftovers(
    lake: &Path,
    snapshot: &Snapshot,
    _lock: &LakeLock,
) -> Result<Vec<PathBuf>> {
    let live: HashSet<&str> = snapshot.all_files().map(|f| f.path.as_str()).collect();
    let mut removed = Vec::new();
    for table in Table::ALL {
        let dir = lake.join(table.name());
        for path in parquet_files_under(&dir)? {
            let relative = relative_path(lake, &path);
            if !live.contains(relative.as_str()) {
                std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
                removed.push(path);
            }
        }
    }
    let staging = meta_dir(lake).join("staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io("cannot remove", &staging, e))?;
        removed.push(staging);
    }
    let snapshots = snapshot::snapshot_dir(lake);
    if let Ok(entries) = std::fs::read_dir(&snapshots) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
            {
                let _ = std::fs::remove_file(entry.path());
                removed.push(entry.path());
            }
        }
    }
    Ok(removed)
}

/// `path` relative to `lake`, `/`-separated, as snapshots store it.
pub fn relative_path(lake: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(lake).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `.parquet` file under `dir`, recursively (none if it does not exist).
pub fn parquet_files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("cannot list", &d, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| Error::io("cannot list", &d, e))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
