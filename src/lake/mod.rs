//! The lake: one Delta Lake table per table of the SQL contract under one directory or
//! object-store prefix (see [`crate::storage`]),
//! partitioned by month, with a lake-level log that keeps the six tables moving together.
//!
//! [`layout`] says where everything sits, [`files`] owns the Parquet settings and row order,
//! [`delta`] each table's Delta face, [`log`] the cross-table commit protocol and recovery,
//! [`snapshot`] the read side, [`upsert`] the ingest transaction, [`optimize`] compaction,
//! [`merge`] the merge by start that the two share, [`vacuum`] the removal of what nothing
//! needs any more, [`writers`] the heartbeats of writers at work on object storage;
//! [`directory`] the names of an org's users, queues and codes that
//! `convlake pull` keeps beside the six tables.

pub mod delta;
pub mod directory;
pub mod files;
pub mod layout;
pub mod log;
pub mod merge;
pub mod optimize;
pub mod settings;
pub mod snapshot;
pub mod upsert;
pub mod vacuum;
pub mod writers;

use std::collections::HashSet;
use std::fs::File;
use std::future::Future;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::schema::Table;
use crate::storage::retired::{READER_GRACE_MS, RETIRED_DIR};
use crate::storage::Lake;

pub use delta::LakeFile;
pub use snapshot::{AsOf, Snapshot};
pub use upsert::{ingest, IngestOptions, IngestSummary};

/// Whether `lake` holds a lake (it has convlake's bookkeeping directory).
pub fn is_lake(lake: &Lake) -> Result<bool> {
    lake.has_dir(layout::META_DIR)
}

/// Fails with what to do when `lake` holds a lake of the first layout (daily partitions and
/// convlake's own snapshots), which this version neither reads nor changes.
pub fn check_layout(lake: &Lake) -> Result<()> {
    if lake.local_root().is_some()
        && lake.has_dir(layout::V1_SNAPSHOTS_DIR)?
        && !lake.has_dir(layout::LOG_DIR)?
    {
        return Err(Error::Lake {
            path: lake.describe(""),
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

/// Runs `work` on every item, on one thread per core; returns the results in no order.
pub fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(items.len())
        .max(1);
    let queue = Mutex::new(items);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let Some(item) = queue.lock().expect("queue").pop() else {
                            return Ok(());
                        };
                        let result = work(item)?;
                        results.lock().expect("results").push(result);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| Error::Internal("a writer thread panicked".into()))??;
        }
        Ok(())
    })?;
    Ok(results.into_inner().expect("results"))
}

/// The exclusive right to change a local lake, released when dropped (or when the process
/// dies: it is an OS file lock, so a killed ingest never leaves the lake locked). Lakes on
/// object storage have no lock: their commits are conditional puts, so of two writers one
/// commits and the other fails with [`Error::Conflict`].
#[derive(Debug)]
pub struct LakeLock {
    _file: File,
}

impl LakeLock {
    /// Takes the lock of a local `lake`, creating the lake's directories if needed (`None`
    /// for a lake on object storage). With `wait`, blocks until another process lets go;
    /// without, fails at once.
    pub fn acquire(lake: &Lake, wait: bool) -> Result<Option<LakeLock>> {
        check_layout(lake)?;
        let Some(root) = lake.local_root() else {
            return Ok(None);
        };
        let meta = root.join(layout::META_DIR);
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
                        path: root.to_path_buf(),
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
        Ok(Some(LakeLock { _file: file }))
    }
}

/// A lake opened for writing (see [`open_for_writing`]).
#[derive(Debug)]
pub struct Writer {
    /// The lock of a local lake, held until this is dropped.
    pub lock: Option<LakeLock>,
    /// The heartbeat of a writer of a lake on object storage, put until this is dropped.
    pub heartbeat: Option<writers::Heartbeat>,
    /// The lake's settings.
    pub settings: settings::Settings,
    /// The latest state, after recovery.
    pub snapshot: Snapshot,
    /// Leftovers of interrupted work removed on the way.
    pub leftovers_removed: usize,
    /// Other writers found at work (object storage only): while there are any, no leftovers
    /// are removed, as they may be theirs.
    pub other_writers: usize,
}

/// Files on object storage that no table lists are left alone for this long (by the store's
/// clock), even when no other writer's heartbeat is fresh: a writer that started just after
/// the heartbeats were listed may have written them.
pub const REMOTE_LEFTOVER_AGE_MS: i64 = 15 * 60_000;

/// Opens the lake for writing: takes the lock (local lakes) or starts a heartbeat (object
/// storage; see [`writers`]), finishes any commit a crash interrupted, and removes what
/// interrupted work left behind (data files only when no history is kept, and on object
/// storage only while no other writer is at work) and retired files no reader needs.
pub async fn open_for_writing(lake: &Lake, wait: bool) -> Result<Writer> {
    let lock = LakeLock::acquire(lake, wait)?;
    let heartbeat = writers::Heartbeat::start(lake, "write")?;
    let settings = settings::Settings::load(lake)?;
    let (now, min_age, other_writers) = match &heartbeat {
        None => (chrono::Utc::now().timestamp_millis(), 0, 0),
        Some(own) => {
            let others = writers::others(lake, own)?;
            (others.store_now_ms, writers::leftover_age_ms(), others.live)
        }
    };
    let abandoned_claim_ms = match (&lock, other_writers) {
        (Some(_), _) => 0,
        (None, 0) => log::UNWATCHED_CLAIM_MS,
        (None, _) => log::ABANDONED_CLAIM_MS,
    };
    log::recover(lake, &settings, now, abandoned_claim_ms).await?;
    let snapshot = snapshot::load(lake, AsOf::Latest).await?;
    let mut leftovers_removed = 0;
    if other_writers == 0 {
        leftovers_removed += remove_retired(lake, now, READER_GRACE_MS)?;
        if !settings.keeps_history() {
            leftovers_removed += remove_leftovers(lake, &snapshot, now, min_age)?.len();
        }
    }
    Ok(Writer {
        lock,
        heartbeat,
        settings,
        snapshot,
        leftovers_removed,
        other_writers,
    })
}

/// Removes data files that `latest` (the lake's latest state) does not list and that are at
/// least `min_age_ms` old at `now_ms` (left by an interrupted ingest, or superseded ones when
/// history stopped being kept), and a local lake's staging files. Only call it as the lake's
/// writer, with no commit under way. Returns the paths removed.
pub fn remove_leftovers(
    lake: &Lake,
    latest: &Snapshot,
    now_ms: i64,
    min_age_ms: i64,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for table in Table::ALL {
        let live: HashSet<String> = latest
            .files(table)
            .iter()
            .map(|f| layout::data_file(table, &f.path))
            .collect();
        for entry in data_files_under(lake, table)? {
            if !live.contains(&entry.path) && now_ms - entry.modified_ms >= min_age_ms {
                lake.delete(&entry.path)?;
                removed.push(entry.path);
            }
        }
    }
    // Work files of interrupted ingests: all of a local lake's (its lock says no ingest runs),
    // those of a lake on object storage as old as its leftover files.
    let staging = lake.staging_root();
    let entries = std::fs::read_dir(&staging).into_iter().flatten().flatten();
    for entry in entries {
        let age_ms = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .map_or(i64::MAX, |age| age.as_millis() as i64);
        if lake.local_root().is_some() || age_ms >= min_age_ms {
            let path = entry.path();
            std::fs::remove_dir_all(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
            removed.push(path.display().to_string());
        }
    }
    if lake.local_root().is_some() {
        let _ = std::fs::remove_dir(&staging);
    }
    Ok(removed)
}

/// Removes the retired files (superseded by a commit; see [`crate::storage::retired`]) older
/// than `min_age_ms` at `now_ms`, which no running statement can still read. Returns how
/// many.
pub fn remove_retired(lake: &Lake, now_ms: i64, min_age_ms: i64) -> Result<usize> {
    let mut removed = 0;
    for entry in lake.list(RETIRED_DIR)? {
        if now_ms - entry.modified_ms >= min_age_ms {
            lake.delete(&entry.path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Every data file of `table` (its `.parquet` files outside the Delta log, whose checkpoints
/// are Parquet too), by path relative to the lake.
pub fn data_files_under(lake: &Lake, table: Table) -> Result<Vec<crate::storage::Entry>> {
    let log = format!("{}/", layout::delta_log_dir(table));
    Ok(lake
        .list(layout::table_dir(table))?
        .into_iter()
        .filter(|e| e.path.ends_with(".parquet") && !e.path.starts_with(&log))
        .collect())
}
