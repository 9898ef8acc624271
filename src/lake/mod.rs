//! The lake: one Delta Lake table per table of the SQL contract under one directory,
//! partitioned by month, with a lake-level log that keeps the six tables moving together.
//!
//! [`layout`] says where everything sits, [`files`] owns the Parquet settings and row order,
//! [`delta`] each table's Delta face, [`log`] the cross-table commit protocol and recovery,
//! [`snapshot`] the read side, [`upsert`] the ingest transaction, [`optimize`] compaction,
//! [`vacuum`] the removal of what nothing needs any more.

pub mod delta;
pub mod files;
pub mod layout;
pub mod log;
pub mod optimize;
pub mod settings;
pub mod snapshot;
pub mod upsert;
pub mod vacuum;

use std::collections::HashSet;
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::Table;

pub use delta::LakeFile;
pub use snapshot::{AsOf, Snapshot};
pub use upsert::{ingest, IngestOptions, IngestSummary};

/// Whether `path` looks like a lake (it has convlake's bookkeeping directory).
pub fn is_lake(path: &Path) -> bool {
    layout::meta_dir(path).is_dir()
}

/// Fails with what to do when `lake` holds a lake of the first layout (daily partitions and
/// convlake's own snapshots), which this version neither reads nor changes.
pub fn check_layout(lake: &Path) -> Result<()> {
    if layout::meta_dir(lake).join("snapshots").is_dir() && !layout::log_dir(lake).is_dir() {
        return Err(Error::Lake {
            path: lake.to_path_buf(),
            reason: "this lake has the first layout (daily partitions, _convlake/snapshots), which this version of convlake does not read or change".into(),
            hint: "ingest the original exports into a new lake (convlake ingest --lake NEW EXPORTS...); this lake is left as it is".into(),
        });
    }
    Ok(())
}

/// Runs `future` to completion from synchronous code, on a runtime of its own in a thread of
/// its own (so that it works inside another runtime's thread as well).
pub fn block_on<T: Send>(future: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime")
                    .block_on(future)
            })
            .join()
            .expect("the lake's I/O thread panicked")
    })
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
        check_layout(lake)?;
        let meta = layout::meta_dir(lake);
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
                        reason: "another convlake process is changing this lake (ingest, optimize or vacuum)"
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

/// A lake opened for writing (see [`open_for_writing`]).
#[derive(Debug)]
pub struct Writer {
    /// The lock, held until this is dropped.
    pub lock: LakeLock,
    /// The lake's settings.
    pub settings: settings::Settings,
    /// The latest state, after recovery.
    pub snapshot: Snapshot,
    /// Leftovers of interrupted work removed on the way.
    pub leftovers_removed: usize,
}

/// Opens the lake for writing: takes the lock, finishes any commit a crash interrupted, and
/// (when no history is kept) removes what interrupted work left behind.
pub async fn open_for_writing(lake: &Path, wait: bool) -> Result<Writer> {
    let lock = LakeLock::acquire(lake, wait)?;
    let settings = settings::Settings::load(lake)?;
    log::recover(lake, &settings).await?;
    let snapshot = snapshot::load(lake, AsOf::Latest).await?;
    let leftovers_removed = if settings.keeps_history() {
        0
    } else {
        remove_leftovers(lake, &lock).await?.len()
    };
    Ok(Writer {
        lock,
        settings,
        snapshot,
        leftovers_removed,
    })
}

/// Removes data files that no table's latest version lists (left by an interrupted ingest,
/// or superseded ones when history stopped being kept) and staging files. Only call it
/// holding the lock, with no commit under way. Returns the paths removed.
pub async fn remove_leftovers(lake: &Path, _lock: &LakeLock) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for table in Table::ALL {
        let Some(opened) = delta::open(lake, table, None).await? else {
            continue;
        };
        let live: HashSet<String> = delta::live_files(&opened)?
            .into_iter()
            .map(|f| f.path)
            .collect();
        let dir = layout::table_dir(lake, table);
        for path in parquet_files_under(&dir)? {
            let relative = relative_path(&dir, &path);
            if !live.contains(&relative) {
                log::remove_if_present(&path)?;
                removed.push(path);
            }
        }
    }
    let staging = layout::meta_dir(lake).join("staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| Error::io("cannot remove", &staging, e))?;
        removed.push(staging);
    }
    Ok(removed)
}

/// `path` relative to `dir`, `/`-separated.
pub fn relative_path(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `.parquet` file under `dir`, recursively (none if it does not exist), leaving out
/// the Delta log (its checkpoints are Parquet too).
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
                if path.file_name().is_some_and(|n| n != "_delta_log") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
