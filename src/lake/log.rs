//! The cross-table commit protocol. Delta commits are per table; convlake's readers must see
//! all six tables at the versions of one completed ingest, so a lake-level log sits on top:
//!
//! 1. every data file is written first (nothing refers to them yet);
//! 2. the writer **claims** version `v` (`_convlake/claims/<v>.json`, put only if absent, and
//!    kept: of two writers that started from the same state, only one claims it, even after
//!    the other's commit is long finished and its plan gone); then the **plan** of lake
//!    version `v` (per table: the files to add and to remove, and the
//!    table version it starts from) is put at `_convlake/plans/<v>.json`, only if absent;
//! 3. each table gets one Delta commit carrying a `txn` action `(convlake, v)`;
//! 4. the **lake record** `_convlake/log/<v>.json` names the table versions that belong
//!    together, put only if absent: this is the commit point for convlake's readers;
//! 5. the files the commit superseded are retired (unless history is kept): moved out of the
//!    table directories to where statements still running on the version before find them
//!    (see [`crate::storage::retired`]); and the plan goes.
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

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::delta::{self, LakeFile};
use crate::lake::layout;
use crate::lake::settings::Settings;
use crate::model::format_timestamp;
use crate::schema::Table;
use crate::storage::Lake;

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
pub fn record_versions(lake: &Lake) -> Result<Vec<u64>> {
    versions_in(lake, layout::LOG_DIR)
}

fn versions_in(lake: &Lake, dir: &str) -> Result<Vec<u64>> {
    let mut versions: Vec<u64> = lake
        .list(dir)?
        .iter()
        .filter_map(|e| layout::parse_version_file(e.path.rsplit('/').next()?))
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

/// Reads lake record `version`.
pub fn read_record(lake: &Lake, version: u64) -> Result<LakeRecord> {
    read_json(lake, &layout::record_file(version))
}

/// The newest lake record, if any commit was completed.
pub fn latest_record(lake: &Lake) -> Result<Option<LakeRecord>> {
    match record_versions(lake)?.last() {
        Some(&v) => read_record(lake, v).map(Some),
        None => Ok(None),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(lake: &Lake, path: &str) -> Result<T> {
    let text = lake.read(path)?.ok_or_else(|| Error::Lake {
        path: lake.describe(path),
        reason: "the record is missing".into(),
        hint: "another writer may have just finished it; run the command again".into(),
    })?;
    serde_json::from_slice(&text).map_err(|e| Error::Lake {
        path: lake.describe(path),
        reason: format!("not a valid convlake record: {e}"),
        hint: "records are only ever put whole; restore the file from a backup".into(),
    })
}

/// Puts `value` at `path` only if nothing is there (see [`Lake::put_if_absent`]).
fn put_if_absent(lake: &Lake, path: &str, value: &impl Serialize) -> Result<bool> {
    lake.put_if_absent(path, serde_json::to_vec_pretty(value)?)
}

/// Commits `plan`: puts it, commits its tables, puts the lake record, removes what it
/// superseded (unless `settings` keep history). Fails without changing anything readers see
/// when another writer put a plan of the same version first.
pub async fn commit(lake: &Lake, plan: &Plan, settings: &Settings) -> Result<LakeRecord> {
    let claim = serde_json::json!({
        "claimed_at": format_timestamp(chrono::Utc::now().timestamp_millis()),
        "operation": plan.operation.as_object().and_then(|o| o.keys().next().cloned()),
    });
    crate::lake::writers::test_hold();
    crate::lake::writers::check_alive(lake)?;
    let conflict = || Error::Conflict {
        lake: lake.to_string(),
        version: plan.version,
    };
    if !put_if_absent(lake, &layout::claim_file(plan.version), &claim)? {
        return Err(conflict());
    }
    match put_if_absent(lake, &layout::plan_file(plan.version), plan) {
        Ok(true) => finish(lake, plan, settings).await,
        Ok(false) => Err(conflict()),
        // No plan, so nothing will ever finish this version: the claim goes, or the next
        // writer would wait for it to be taken for abandoned.
        Err(e) => {
            let _ = lake.delete(&layout::claim_file(plan.version));
            Err(e)
        }
    }
}

/// Steps 3 to 5 of a commit whose plan is in place; safe to repeat after a crash.
async fn finish(lake: &Lake, plan: &Plan, settings: &Settings) -> Result<LakeRecord> {
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
                path: lake.describe(layout::table_dir(table)),
                reason: format!(
                    "table {name} is at version {current}, but lake version {} was planned on version {}: something other than convlake wrote to it",
                    plan.version,
                    plan.base.get(name).copied().unwrap_or_default()
                ),
                hint: "convlake must be the only writer of its tables; restore the table's _delta_log from a backup or re-ingest into a new lake".into(),
            });
        } else {
            let committed = delta::commit(
                lake,
                &delta_table,
                table,
                plan.version,
                &change.add,
                &change.remove,
                plan.compaction,
            )
            .await;
            match committed {
                Ok(version) => version,
                // Another process finishing the same plan (a recovery racing the writer on
                // object storage) committed it first: the same actions, so it is done.
                Err(e) => {
                    let now = delta::open_or_create(lake, table).await?;
                    if delta::committed_txn(&now).await? >= Some(plan.version) {
                        now.version().unwrap_or_default() as u64
                    } else {
                        return Err(e);
                    }
                }
            }
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
    let record = if put_if_absent(lake, &layout::record_file(plan.version), &record)? {
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

/// After the record: retires the files the plan superseded (unless history is kept; see
/// [`crate::storage::retired`]), then deletes the plan itself.
fn settle(lake: &Lake, plan: &Plan, settings: &Settings) -> Result<()> {
    if !settings.keeps_history() {
        for (name, change) in &plan.changes {
            let Some(table) = Table::from_name(name) else {
                continue;
            };
            for file in &change.remove {
                lake.retire(&layout::data_file(table, &file.path))?;
            }
        }
    }
    lake.delete(&layout::plan_file(plan.version))
}

/// A claim without a plan this old on object storage is taken for one whose writer died.
pub const ABANDONED_CLAIM_MS: i64 = 10 * 60 * 1000;

/// A claim without a plan this old on object storage is taken for one whose writer died when
/// no other writer's heartbeat is fresh (a writer puts its plan right after its claim).
pub const UNWATCHED_CLAIM_MS: i64 = 30 * 1000;

/// Finishes every commit a crash interrupted (call it as the lake's writer, before anything
/// else). A claim with neither plan nor record older than `abandoned_after_ms` at `now_ms`
/// (0 when holding a local lake's lock) is removed. Returns the lake versions it completed.
pub async fn recover(
    lake: &Lake,
    settings: &Settings,
    now_ms: i64,
    abandoned_after_ms: i64,
) -> Result<Vec<u64>> {
    let latest = record_versions(lake)?.last().copied().unwrap_or(0);
    let plans = versions_in(lake, layout::PLANS_DIR)?;
    // A claim with no plan and no record: its writer died between the two puts (a local
    // lake's lock says no one else writes; on object storage, only once it is old enough
    // that no live writer can still be putting its plan).
    for claim in lake.list(layout::CLAIMS_DIR)? {
        let Some(version) = claim
            .path
            .rsplit('/')
            .next()
            .and_then(layout::parse_version_file)
        else {
            continue;
        };
        let stale = now_ms - claim.modified_ms >= abandoned_after_ms;
        if version > latest && !plans.contains(&version) && stale {
            lake.delete(&claim.path)?;
        }
    }
    let mut finished = Vec::new();
    for version in plans {
        let plan: Plan = match lake.read(&layout::plan_file(version))? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            // Settled by another process meanwhile.
            None => continue,
        };
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
