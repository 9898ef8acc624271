//! Each table's Delta Lake face: creating a table at the lowest protocol (reader 1, writer 2),
//! opening it at a version, listing its live files with their statistics, and committing
//! `add`/`remove` actions tagged with convlake's transaction version.
//!
//! It does not decide what to commit or in what order (that is [`super::log`]'s job), and it
//! writes no data files.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, StructField, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::lake::files::KeyStats;
use crate::lake::layout::{self, Month, PARTITION_COLUMN};
use crate::schema::{Table, CONVERSATION_DATE, CONVERSATION_START};
use crate::storage::Lake;

/// The application id of convlake's `txn` actions: their version is the lake version that
/// the commit belongs to, so an interrupted commit can tell which tables it reached.
pub const APP_ID: &str = "convlake";

/// One live data file of a table, with what pruning needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LakeFile {
    /// Path relative to the table directory, `/`-separated (as the Delta log has it).
    pub path: String,
    /// The partition.
    pub month: Month,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Smallest and largest `conversation_start` (UTC microseconds).
    pub start: Option<(i64, i64)>,
    /// Smallest and largest `conversation_date` (days since 1970-01-01).
    pub date: Option<(i32, i32)>,
}

impl LakeFile {
    /// A file just written at `path` (relative to its table), of `bytes`, holding rows with
    /// the statistics `stats`.
    pub fn written(path: String, month: Month, bytes: u64, stats: &KeyStats) -> LakeFile {
        LakeFile {
            path,
            month,
            rows: stats.rows,
            bytes,
            start: stats.start,
            date: stats.date,
        }
    }

    /// The Delta `add` action of this file.
    pub fn add(&self) -> Add {
        Add {
            path: self.path.clone(),
            partition_values: self.partition_values(),
            size: self.bytes as i64,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(self.stats_json()),
            ..Default::default()
        }
    }

    /// The Delta `remove` action of this file.
    pub fn remove(&self, data_change: bool) -> Remove {
        Remove {
            path: self.path.clone(),
            data_change,
            deletion_timestamp: Some(chrono::Utc::now().timestamp_millis()),
            extended_file_metadata: Some(true),
            partition_values: Some(self.partition_values()),
            size: Some(self.bytes as i64),
            ..Default::default()
        }
    }

    fn partition_values(&self) -> HashMap<String, Option<String>> {
        HashMap::from([(
            PARTITION_COLUMN.to_string(),
            Some(layout::month_string(self.month)),
        )])
    }

    /// Delta statistics: row count, and min/max/null counts of the two key columns that
    /// pruning uses (a reader treats columns without statistics as unknown).
    fn stats_json(&self) -> String {
        let mut min = serde_json::Map::new();
        let mut max = serde_json::Map::new();
        let mut nulls = serde_json::Map::new();
        if let Some((lo, hi)) = self.start {
            min.insert(CONVERSATION_START.into(), micros_text(lo).into());
            max.insert(CONVERSATION_START.into(), micros_text(hi).into());
            nulls.insert(CONVERSATION_START.into(), 0.into());
        }
        if let Some((lo, hi)) = self.date {
            min.insert(CONVERSATION_DATE.into(), layout::date_string(lo).into());
            max.insert(CONVERSATION_DATE.into(), layout::date_string(hi).into());
            nulls.insert(CONVERSATION_DATE.into(), 0.into());
        }
        serde_json::json!({
            "numRecords": self.rows,
            "minValues": min,
            "maxValues": max,
            "nullCount": nulls,
        })
        .to_string()
    }

    /// Reads the fields back from the log's view of a file.
    fn from_view(view: &deltalake::kernel::LogicalFileView) -> Result<LakeFile> {
        let path = view.path().to_string();
        let partitions = view.partition_values_map();
        let month = partitions
            .get(PARTITION_COLUMN)
            .and_then(|m| m.as_deref())
            .and_then(layout::parse_month)
            .ok_or_else(|| {
                Error::Internal(format!(
                    "data file {path} has no valid {PARTITION_COLUMN} partition value"
                ))
            })?;
        let stats: serde_json::Value = view
            .stats()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let bound = |side: &str, column: &str| stats[side][column].as_str().map(str::to_string);
        let start = match (
            bound("minValues", CONVERSATION_START).and_then(|t| parse_micros(&t)),
            bound("maxValues", CONVERSATION_START).and_then(|t| parse_micros(&t)),
        ) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        let date = match (
            bound("minValues", CONVERSATION_DATE).and_then(|t| parse_day(&t)),
            bound("maxValues", CONVERSATION_DATE).and_then(|t| parse_day(&t)),
        ) {
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => None,
        };
        Ok(LakeFile {
            path,
            month,
            rows: view
                .num_records()
                .or_else(|| stats["numRecords"].as_u64().map(|n| n as usize))
                .unwrap_or_default() as u64,
            bytes: view.size() as u64,
            start,
            date,
        })
    }
}

/// `2026-11-29T10:00:00.123Z` of UTC microseconds (Delta statistics keep milliseconds).
fn micros_text(micros: i64) -> String {
    crate::model::format_timestamp(micros.div_euclid(1000))
}

fn parse_micros(text: &str) -> Option<i64> {
    crate::model::parse_timestamp(text).map(|t| t.millis * 1000)
}

fn parse_day(text: &str) -> Option<i32> {
    crate::model::parse_timestamp(text).map(|t| t.millis.div_euclid(86_400_000) as i32)
}

/// The URL of the table `table` of `lake`.
pub fn table_url(lake: &Lake, table: Table) -> Result<Url> {
    lake.url_of(layout::table_dir(table))
}

/// A builder of `table`'s Delta table on `lake`'s storage.
fn builder(lake: &Lake, table: Table) -> Result<DeltaTableBuilder> {
    let url = table_url(lake, table)?;
    let builder = DeltaTableBuilder::from_url(url.clone()).map_err(|e| delta_error(table, e))?;
    Ok(match lake.remote() {
        Some(remote) => builder.with_storage_backend(remote.store(), url),
        // The tests of failed requests count and fail delta-rs's requests too.
        None if crate::storage::faults::enabled() => {
            let local = Arc::new(object_store::local::LocalFileSystem::new());
            builder.with_storage_backend(crate::storage::faults::FaultStore::wrap(local), url)
        }
        None => builder,
    })
}

/// The Delta schema of `table`: its file columns (enums as strings, timestamps as Delta
/// `timestamp`) and the partition column.
pub fn delta_schema(table: Table) -> Result<StructType> {
    use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
    let schema = StructType::try_from_arrow(table.file_schema().as_ref())?;
    let mut fields: Vec<StructField> = schema.fields().cloned().collect();
    fields.push(StructField::new(
        PARTITION_COLUMN,
        deltalake::kernel::DataType::STRING,
        false,
    ));
    StructType::try_new(fields)
        .map_err(|e| Error::Internal(format!("Delta schema of {}: {e}", table.name())))
}

/// Opens `table` of the lake at `lake` at `version` (the latest without one); `None` when
/// the table does not exist yet.
pub async fn open(lake: &Lake, table: Table, version: Option<u64>) -> Result<Option<DeltaTable>> {
    // A version given comes from a lake record, which only names tables that exist.
    if version.is_none() && !lake.has_dir(&layout::delta_log_dir(table))? {
        return Ok(None);
    }
    let mut builder = builder(lake, table)?;
    if let Some(v) = version {
        builder = builder.with_version(v);
    }
    match builder.load().await {
        Ok(t) => Ok(Some(t)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(delta_error(table, e)),
    }
}

/// Opens `table` at its latest version, creating it (version 0, no files) if it is missing.
pub async fn open_or_create(lake: &Lake, table: Table) -> Result<DeltaTable> {
    if let Some(t) = open(lake, table, None).await? {
        return Ok(t);
    }
    if let Some(dir) = lake.local_root() {
        let dir = dir.join(layout::table_dir(table));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    }
    let schema = delta_schema(table)?;
    let created = builder(lake, table)?
        .build()
        .map_err(|e| delta_error(table, e))?
        .create()
        .with_table_name(table.name())
        .with_comment(format!(
            "convlake table {}: one row per {}",
            table.name(),
            table.grain()
        ))
        .with_columns(schema.fields().cloned())
        .with_partition_columns([PARTITION_COLUMN])
        // A checkpoint every ten commits, as Spark does (delta-rs defaults to 100): a lake
        // under nightly ingests and compactions opens from a checkpoint and a few commits.
        .with_configuration_property(TableProperty::CheckpointInterval, Some("10"))
        .with_save_mode(SaveMode::ErrorIfExists)
        // Exactly version 0: with retries, a writer racing another's create would commit its
        // create again on top (version 1, no data), moving the table under a planned commit.
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(t) => {
            make_durable(lake, table, 0)?;
            Ok(t)
        }
        // Another writer created it meanwhile (delta-rs reports that in several ways):
        // use theirs.
        Err(e) => match open(lake, table, None).await? {
            Some(theirs) => Ok(theirs),
            None => Err(delta_error(table, e)),
        },
    }
}

/// The live files of an opened table.
pub fn live_files(table: &DeltaTable) -> Result<Vec<LakeFile>> {
    let snapshot = table.snapshot().map_err(Error::from)?;
    let mut files: Vec<LakeFile> = snapshot
        .log_data()
        .iter()
        .map(|view| LakeFile::from_view(&view))
        .collect::<Result<_>>()?;
    files.sort_by(|a, b| (a.month, a.start, &a.path).cmp(&(b.month, b.start, &b.path)));
    Ok(files)
}

/// The lake version of the last convlake commit that reached `table`, if any.
pub async fn committed_txn(table: &DeltaTable) -> Result<Option<u64>> {
    let snapshot = table.snapshot().map_err(Error::from)?;
    let version = snapshot
        .snapshot()
        .transaction_version(table.log_store().as_ref(), APP_ID)
        .await?;
    Ok(version.map(|v| v as u64))
}

/// Commits `remove` and `add` to `table` (of `lake`) as lake version `txn`, failing (no
/// retries) when another writer committed to the table first, and makes the commit durable.
/// Returns the table's new version.
pub async fn commit(
    lake: &Lake,
    table: &DeltaTable,
    which: Table,
    txn: u64,
    add: &[LakeFile],
    remove: &[LakeFile],
    compaction: bool,
) -> Result<u64> {
    let mut actions: Vec<Action> = remove
        .iter()
        .map(|f| Action::Remove(f.remove(!compaction)))
        .collect();
    actions.extend(add.iter().map(|f| {
        let mut add = f.add();
        add.data_change = !compaction;
        Action::Add(add)
    }));
    let operation = if compaction {
        DeltaOperation::Optimize {
            predicate: None,
            target_size: layout::DEFAULT_TARGET_FILE_BYTES as i64,
        }
    } else {
        DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
            predicate: None,
        }
    };
    let snapshot = table.snapshot().map_err(Error::from)?;
    let properties = CommitProperties::default()
        .with_application_transaction(Transaction::new_with_last_update(
            APP_ID,
            txn as i64,
            Some(chrono::Utc::now().timestamp_millis()),
        ))
        .with_max_retries(0);
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(|e| match e {
            DeltaTableError::VersionAlreadyExists(v) => Error::Lake {
                path: layout::table_dir(which).into(),
                reason: format!(
                    "another writer committed version {v} of table {} first",
                    which.name()
                ),
                hint:
                    "run the command again; convlake finishes or undoes its own interrupted commits"
                        .into(),
            },
            e => delta_error(which, e),
        })?;
    make_durable(lake, which, done.version())?;
    Ok(done.version())
}

/// Syncs, on a local disk, the commit `version` of `table` and a checkpoint its commit may
/// have written, with their directories: before a lake record names the version, a power
/// cut must not be able to lose it.
fn make_durable(lake: &Lake, table: Table, version: u64) -> Result<()> {
    let log = layout::delta_log_dir(table);
    lake.make_durable(&[
        format!("{log}/{version:020}.json"),
        format!("{log}/{version:020}.checkpoint.parquet"),
        format!("{log}/_last_checkpoint"),
    ])
}

/// A delta-rs error on `table`.
pub fn delta_error(table: Table, source: DeltaTableError) -> Error {
    let text = source.to_string();
    if text.contains("object store") {
        if let Some(hint) = crate::storage::transient_hint(&text) {
            return Error::Storage {
                action: "cannot read or commit",
                location: format!("{}/_delta_log", table.name()),
                reason: text,
                hint,
            };
        }
    }
    Error::Delta {
        table: table.name(),
        source: Box::new(source),
    }
}
