//! The cross-table commit protocol. Delta commits are per table; convlake's readers must see
//! all six tables at the versions of one completed ingest, so a lake-level log sits on top:
//!
//! 1. every data file is written first (nothing refers to them yet);
//! 2. the **plan** of lake version `v` (per table: the files to add and to remove, and the
//!    table version it starts from) is put at `_convlake/plans/<v>.json`, only if absent;
//! 3. each table gets one Delta commit carrying a `txn` action `(convlake, v)`;
//! 4. the **lake record** `_convlake/log/<v>.json` names the table versions that belong
//!    together, put only if absent: this is the commit point for convlake's readers;
//! 5. the files the commit superseded are deleted (unless history is kept), and the plan goes.
//!
//! A crash before 4 leaves readers at record `v - 1`. The next command that opens the lake
//! for writing calls [`recover`], which finishes every plan newer than the last record: a
//! table whose log already holds `txn (convlake, v)` is not committed again, the others are.
//! Rolling forward is always possible, because a plan is written only once all its files are.
//!
//! Delta readers other than convlake see each table's commits atomically, table by table:
//! between steps 3 and 4 (and after a crash there, until the next convlake write) some tables
//! may show the new ingest and others not yet.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::delta::{self, LakeFile};
use crate::lake::layout;
use crate::lake::settings::Settings;
use crate::model::format_timestamp;
use crate::schema::Table;

/// Which table versions belong together: one per completed commit of the lake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LakeRecord {
    /// The lake version, from 1.
    pub version: u64,
    /// When it was committed (ISO-8601 UTC).
    pub committed_at: String,
    /// The Delta version of every table.
    pub tables: BTreeMap<String, u64>,
    /// What the commit did (an ingest summary, a compaction), for people to read.
    #[serde(default)]
    pub operation: serde_json::Value,
}

/// The changes of one table in a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Files to add.
    pub add: Vec<LakeFile>,
    /// Live files to remove.
    pub remove: Vec<LakeFile>,
}

/// A commit of the lake under way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The lake version it makes.
    pub version: u64,
    /// The Delta version of every table when the plan was made.
    pub base: BTreeMap<String, u64>,
    /// The tables it changes.
    pub changes: BTreeMap<String, Change>,
    /// A compaction: rows unchanged (Delta `dataChange: false`).
    pub compaction: bool,
    /// What the commit does, copied into the lake record.
    pub operation: serde_json::Value,
}

/// Versions of the lake records present, ascending.
pub fn record_versions(lake: &Path) -> Result<Vec<u64>> {
    versions_in(&layout::log_dir(lake))
}

fn versions_in(dir: &Path) -> Result<Vec<u64>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    let mut versions: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| layout::parse_version_file(e.file_name().to_str()?))
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// Reads lake record `version`.
pub fn read_record(lake: &Path, version: u64) -> Result<LakeRecord> {
    read_json(&layout::log_dir(lake).join(layout::version_file(version)))
}

/// The newest lake record, if any commit was completed.
pub fn latest_record(lake: &Path) -> Result<Option<LakeRecord>> {
    match record_versions(lake)?.last() {
        Some(&v) => read_record(lake, v).map(Some),
        None => Ok(None),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&text).map_err(|e| Error::Lake {
        path: path.to_path_buf(),
        reason: format!("not a valid convlake record: {e}"),
        hint: "records are only ever put whole; restore the file from a backup".into(),
    })
}

/// Puts `value` at `path` only if nothing is there: a durable temporary file hard-linked into
/// place (the link fails when the target exists), so the file appears whole or not at all.
/// Returns false when `path` existed.
fn put_if_absent(path: &Path, value: &impl Serialize) -> Result<bool> {
    let dir = path.parent().expect("records sit in a directory");
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let temp = dir.join(format!(".{}.tmp", layout::new_txn()));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temp)?;
        file.write_all(&serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?)?;
        file.sync_all()
    })();
    written.map_err(|e| Error::io("cannot write", &temp, e))?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io("cannot commit", path, e)),
    }
}

/// Makes a creation in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot sync", dir, e))
}

fn plan_path(lake: &Path, version: u64) -> PathBuf {
    layout::plans_dir(lake).join(layout::version_file(version))
}

/// Commits `plan`: puts it, commits its tables, puts the lake record, removes what it
/// superseded (unless `settings` keep history). Fails without changing anything readers see
/// when another writer put a plan of the same version first.
pub async fn commit(lake: &Path, plan: &Plan, settings: &Settings) -> Result<LakeRecord> {
    if !put_if_absent(&plan_path(lake, plan.version), plan)? {
        return Err(Error::Lake {
            path: lake.to_path_buf(),
            reason: format!("another writer is committing lake version {}", plan.version),
            hint: "run the command again once it is done (or pass --wait)".into(),
        });
    }
    finish(lake, plan, settings).await
}

/// Steps 3 to 5 of a commit whose plan is in place; safe to repeat after a crash.
async fn finish(lake: &Path, plan: &Plan, settings: &Settings) -> Result<LakeRecord> {
    let mut versions = plan.base.clone();
    for (name, change) in &plan.changes {
        let table = Table::from_name(name)
            .ok_or_else(|| Error::Internal(format!("plan names an unknown table {name}")))?;
        let delta_table = delta::open_or_create(lake, table).await?;
        let current = delta_table.version().unwrap_or_default() as u64;
        let reached = delta::committed_txn(&delta_table).await?;
        let version = if reached.is_some_and(|v| v >= plan.version) {
            current
        } else if Some(&current) != plan.base.get(name) {
            return Err(Error::Lake {
                path: layout::table_dir(lake, table),
                reason: format!(
                    "table {name} is at version {current}, but lake version {} was planned on version {}: something other than convlake wrote to it",
                    plan.version,
                    plan.base.get(name).copied().unwrap_or_default()
                ),
                hint: "convlake must be the only writer of its tables; restore the table's _delta_log from a backup or re-ingest into a new lake".into(),
            });
        } else {
            delta::commit(
                &delta_table,
                table,
                plan.version,
                &change.add,
                &change.remove,
                plan.compaction,
            )
            .await?
        };
        versions.insert(name.clone(), version);
        crash_point();
    }
    let record = LakeRecord {
        version: plan.version,
        committed_at: format_timestamp(chrono::Utc::now().timestamp_millis()),
        tables: versions,
        operation: plan.operation.clone(),
    };
    let path = layout::log_dir(lake).join(layout::version_file(plan.version));
    let record = if put_if_absent(&path, &record)? {
        record
    } else {
        read_record(lake, plan.version)?
    };
    settle(lake, plan, settings)?;
    Ok(record)
}

/// A crash at a chosen instant, for the crash tests: with `CONVLAKE_TEST_CRASH_AFTER_COMMITS=N`
/// in its environment, the process aborts right after its N-th table commit (so between two
/// table commits, or after the last one and before the lake record).
fn crash_point() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COMMITS: AtomicU32 = AtomicU32::new(0);
    let done = COMMITS.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var("CONVLAKE_TEST_CRASH_AFTER_COMMITS").is_ok_and(|n| n.parse() == Ok(done)) {
        std::process::abort();
    }
}

/// After the record: deletes the files the plan superseded (unless history is kept), then
/// the plan itself.
fn settle(lake: &Path, plan: &Plan, settings: &Settings) -> Result<()> {
    if !settings.keeps_history() {
        for (name, change) in &plan.changes {
            let Some(table) = Table::from_name(name) else {
                continue;
            };
            for file in &change.remove {
                remove_if_present(&layout::data_file(lake, table, &file.path))?;
            }
        }
    }
    remove_if_present(&plan_path(lake, plan.version))
}

/// Removes a file; one that is gone already is fine.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

/// Finishes every commit a crash interrupted (call it holding the writer's lock, before
/// anything else). Returns the lake versions it completed.
pub async fn recover(lake: &Path, settings: &Settings) -> Result<Vec<u64>> {
    let latest = record_versions(lake)?.last().copied().unwrap_or(0);
    let mut finished = Vec::new();
    for version in versions_in(&layout::plans_dir(lake))? {
        let plan: Plan = read_json(&plan_path(lake, version))?;
        if version <= latest {
            // Committed; only the clean-up was cut short.
            settle(lake, &plan, settings)?;
        } else {
            finish(lake, &plan, settings).await?;
            finished.push(version);
        }
    }
    Ok(finished)
}
