//! Snapshots: the commit log of a lake. Each snapshot is a JSON file listing every live data
//! file of every table; the one with the highest version is the lake's state.
//!
//! A snapshot is written to a temporary name and renamed into place, so it either exists
//! whole or not at all: that rename is the commit. Data files that no snapshot lists are
//! leftovers of an interrupted ingest and are removed by the next ingest or `vacuum`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One data file of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the lake root, `/`-separated.
    pub path: String,
    /// The partition: `conversation_date` as `YYYY-MM-DD`.
    pub date: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// The state of a lake after one commit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Commit number, from 1; 0 is the empty lake that no file describes.
    pub version: u64,
    /// When the commit was made (ISO-8601 UTC).
    pub committed_at: String,
    /// Live data files by table name.
    pub tables: BTreeMap<String, Vec<DataFile>>,
    /// What the commit did (the ingest summary), for `convlake` to show and people to read.
    #[serde(default)]
    pub operation: serde_json::Value,
}

impl Snapshot {
    /// The live files of `table`.
    pub fn files(&self, table: &str) -> &[DataFile] {
        self.tables.get(table).map_or(&[], Vec::as_slice)
    }

    /// Every live file of every table.
    pub fn all_files(&self) -> impl Iterator<Item = &DataFile> {
        self.tables.values().flatten()
    }
}

/// The snapshot directory of a lake.
pub fn snapshot_dir(lake: &Path) -> PathBuf {
    lake.join("_convlake").join("snapshots")
}

fn snapshot_name(version: u64) -> String {
    format!("{version:020}.json")
}

/// Versions of the snapshots present, ascending.
pub fn list_versions(lake: &Path) -> Result<Vec<u64>> {
    let dir = snapshot_dir(lake);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", &dir, e)),
    };
    let mut versions: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// Reads snapshot `version`.
pub fn read(lake: &Path, version: u64) -> Result<Snapshot> {
    let path = snapshot_dir(lake).join(snapshot_name(version));
    let text = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::Lake {
        path: path.clone(),
        reason: format!("snapshot is not valid: {e}"),
        hint: "a snapshot is only ever renamed into place whole; restore it from a backup, or remove it to fall back to the previous one".into(),
    })
}

/// The latest committed snapshot, or the empty snapshot of a new lake.
pub fn latest(lake: &Path) -> Result<Snapshot> {
    match list_versions(lake)?.last() {
        Some(&v) => read(lake, v),
        None => Ok(Snapshot::default()),
    }
}

/// Writes `snapshot` durably and atomically: temporary file, fsync, rename, fsync of the
/// directory. Fails if a snapshot of that version exists already.
pub fn commit(lake: &Path, snapshot: &Snapshot) -> Result<()> {
    let dir = snapshot_dir(lake);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let target = dir.join(snapshot_name(snapshot.version));
    if target.exists() {
        return Err(Error::Lake {
            path: target,
            reason: "a snapshot of this version exists already".into(),
            hint: "another process committed meanwhile; run the ingest again".into(),
        });
    }
    let temp = dir.join(format!(".{}.tmp", snapshot_name(snapshot.version)));
    let mut file =
        std::fs::File::create(&temp).map_err(|e| Error::io("cannot create", &temp, e))?;
    let text = serde_json::to_vec_pretty(snapshot)?;
    file.write_all(&text)
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io("cannot write", &temp, e))?;
    drop(file);
    std::fs::rename(&temp, &target).map_err(|e| Error::io("cannot commit", &target, e))?;
    sync_dir(&dir)
}

/// Makes a rename or creation in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot sync", dir, e))
}
