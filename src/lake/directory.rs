//! The lake's `directory` table: the names of an org's users, queues, wrap-up codes,
//! divisions, flows, skills, languages and teams, as `convlake pull` last read them, one Delta
//! table (`<lake>/directory`) beside the six of the SQL contract.
//!
//! One row per `(kind, id)`: the name, the fields people filter by (`state`, `division_id`,
//! `email`), when convlake first and last saw it, whether it is gone from the org
//! (`deleted`: not listed any more, or a user in state `deleted`; the row stays, so history
//! keeps its names) and the entity's original JSON. Each pull rewrites the table whole in
//! one Delta commit (an overwrite: the directory of even a large org is a few thousand
//! rows), merging what it read into what the table held; a kind the pull could not read
//! keeps its rows as they were.
//!
//! Sessions see the table as `directory` (empty, with its columns, when no pull has run), and
//! the views of `sql/views/` build the names on it (`names`, `queue_names`, …).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::storage::Lake;

/// The table's directory under the lake.
pub const DIR: &str = "directory";

/// The SQL name of the table.
pub const TABLE: &str = "directory";

/// The table's columns.
pub fn schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("state", DataType::Utf8, true),
        Field::new("division_id", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("deleted", DataType::Boolean, false),
        Field::new("first_seen", ts(), false),
        Field::new("last_seen", ts(), false),
        Field::new("json", DataType::Utf8, false),
    ]))
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What it is (`user`, `queue`, …).
    pub kind: String,
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its state as Genesys gives it (users: active, inactive, deleted).
    pub state: Option<String>,
    /// Its division.
    pub division_id: Option<String>,
    /// A user's email.
    pub email: Option<String>,
    /// Gone from the org.
    pub deleted: bool,
    /// First seen by a pull (ms).
    pub first_seen: i64,
    /// Last seen by a pull (ms).
    pub last_seen: i64,
    /// The entity as Genesys gave it.
    pub json: String,
}

impl Entry {
    /// The entry of an entity of `kind` seen at `now`.
    pub fn of(kind: &str, entity: &Value, now: i64) -> Option<Entry> {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let state = text(&entity["state"]);
        Some(Entry {
            kind: kind.to_string(),
            id: text(&entity["id"])?,
            name: text(&entity["name"]),
            deleted: state.as_deref() == Some("deleted") || entity["deleted"] == Value::Bool(true),
            state,
            division_id: text(&entity["division"]["id"]),
            email: text(&entity["email"]),
            first_seen: now,
            last_seen: now,
            json: entity.to_string(),
        })
    }
}

/// Opens the table, creating it (version 0, no files) when it is missing.
async fn open(lake: &Lake) -> Result<DeltaTable> {
    let url = lake.url_of(DIR)?;
    if let Some(root) = lake.local_root() {
        let dir = root.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    }
    let builder = || -> Result<DeltaTableBuilder> {
        let builder = DeltaTableBuilder::from_url(url.clone()).map_err(delta)?;
        Ok(match lake.remote() {
            Some(remote) => builder.with_storage_backend(remote.store(), url.clone()),
            None => builder,
        })
    };
    if lake.has_dir(&format!("{DIR}/_delta_log"))? {
        match builder()?.load().await {
            Ok(table) => return Ok(table),
            Err(DeltaTableError::NotATable(_)) => {}
            Err(e) => return Err(delta(e)),
        }
    }
    use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
    let columns = deltalake::kernel::StructType::try_from_arrow(schema().as_ref())?;
    let created = builder()?
        .build()
        .map_err(delta)?
        .create()
        .with_table_name(TABLE)
        .with_comment(
            "convlake directory: the names of an org's users, queues, codes, flows, divisions",
        )
        .with_columns(columns.fields().cloned())
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(table) => Ok(table),
        // Another pull created it meanwhile: use theirs.
        Err(e) => builder()?.load().await.map_err(|_| delta(e)),
    }
}

fn delta(e: DeltaTableError) -> Error {
    Error::Internal(format!("the directory table: {e}"))
}

/// The live files of the table: (path below it, size).
fn live(table: &DeltaTable) -> Result<Vec<(String, i64)>> {
    let snapshot = table.snapshot().map_err(Error::from)?;
    Ok(snapshot
        .log_data()
        .iter()
        .map(|view| (view.path().to_string(), view.size()))
        .collect())
}

/// The table's rows (none when no pull has written it).
pub async fn read(lake: &Lake) -> Result<Vec<Entry>> {
    if !lake.has_dir(&format!("{DIR}/_delta_log"))? {
        return Ok(Vec::new());
    }
    let table = open(lake).await?;
    let mut out = Vec::new();
    for (path, _) in live(&table)? {
        let full = format!("{DIR}/{path}");
        let bytes = lake.read(&full)?.ok_or_else(|| Error::Lake {
            path: lake.describe(&full),
            reason: "a file of the directory table is missing".into(),
            hint: "run convlake pull again: it rewrites the directory".into(),
        })?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .map_err(|e| Error::Internal(format!("reading {full}: {e}")))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::Internal(format!("reading {full}: {e}")))?;
            entries_of(&batch, &mut out)?;
        }
    }
    Ok(out)
}

/// The entries of a batch of [`schema`].
fn entries_of(batch: &RecordBatch, out: &mut Vec<Entry>) -> Result<()> {
    let missing = || Error::Internal("the directory table lacks columns".into());
    let text = |name: &str| -> Result<StringArray> {
        let c = batch.column_by_name(name).ok_or_else(missing)?;
        let c = arrow::compute::cast(c, &DataType::Utf8)?;
        Ok(c.as_string::<i32>().clone())
    };
    let ms = |name: &str| -> Result<TimestampMillisecondArray> {
        let c = batch.column_by_name(name).ok_or_else(missing)?;
        let c = arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
        Ok(c.as_primitive().clone())
    };
    let (kind, id, name, state) = (text("kind")?, text("id")?, text("name")?, text("state")?);
    let (division, email, json) = (text("division_id")?, text("email")?, text("json")?);
    let (first, last) = (ms("first_seen")?, ms("last_seen")?);
    let deleted = batch
        .column_by_name("deleted")
        .ok_or_else(missing)?
        .as_boolean()
        .clone();
    let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    for i in 0..batch.num_rows() {
        out.push(Entry {
            kind: kind.value(i).to_string(),
            id: id.value(i).to_string(),
            name: opt(&name, i),
            state: opt(&state, i),
            division_id: opt(&division, i),
            email: opt(&email, i),
            deleted: deleted.value(i),
            first_seen: first.value(i),
            last_seen: last.value(i),
            json: json.value(i).to_string(),
        });
    }
    Ok(())
}

/// Merges `seen` (per kind read: every entity it lists now) into `held`: seen entries take
/// their new values and keep their first sighting; held entries of a kind read but not seen
/// are marked deleted; kinds not read stay as they were.
pub fn merge(held: Vec<Entry>, seen: &BTreeMap<String, Vec<Entry>>) -> Vec<Entry> {
    let mut rows: BTreeMap<(String, String), Entry> = held
        .into_iter()
        .map(|e| ((e.kind.clone(), e.id.clone()), e))
        .collect();
    for entry in rows.values_mut() {
        if seen.contains_key(&entry.kind) {
            entry.deleted = true;
        }
    }
    for entries in seen.values() {
        for new in entries {
            let key = (new.kind.clone(), new.id.clone());
            let first_seen = rows.get(&key).map_or(new.first_seen, |old| old.first_seen);
            rows.insert(
                key,
                Entry {
                    first_seen,
                    ..new.clone()
                },
            );
        }
    }
    rows.into_values().collect()
}

/// Rewrites the table with `entries`: one new Parquet file, and one Delta commit that adds
/// it and removes the files it replaces.
pub async fn write(lake: &Lake, entries: &[Entry]) -> Result<()> {
    let table = open(lake).await?;
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema(), None)
        .map_err(|e| Error::Internal(format!("the directory file: {e}")))?;
    writer
        .write(&batch(entries)?)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| Error::Internal(format!("the directory file: {e}")))?;
    let name = format!("part-{}.parquet", crate::lake::layout::new_txn());
    let size = bytes.len() as i64;
    lake.put(&format!("{DIR}/{name}"), bytes)?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut actions: Vec<Action> = live(&table)?
        .into_iter()
        .map(|(path, size)| {
            Action::Remove(Remove {
                path,
                data_change: true,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                partition_values: Some(Default::default()),
                size: Some(size),
                ..Default::default()
            })
        })
        .collect();
    actions.push(Action::Add(Add {
        path: name,
        partition_values: Default::default(),
        size,
        modification_time: now,
        data_change: true,
        stats: Some(serde_json::json!({"numRecords": entries.len()}).to_string()),
        ..Default::default()
    }));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: None,
    };
    let snapshot = table.snapshot().map_err(Error::from)?;
    CommitBuilder::from(CommitProperties::default())
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await
        .map_err(delta)?;
    Ok(())
}

/// `entries` as one batch of [`schema`].
pub fn batch(entries: &[Entry]) -> Result<RecordBatch> {
    let strings = |f: &dyn Fn(&Entry) -> Option<&str>| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<StringArray>())
    };
    let times = |f: &dyn Fn(&Entry) -> i64| -> ArrayRef {
        Arc::new(
            TimestampMillisecondArray::from(entries.iter().map(f).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    RecordBatch::try_new(
        schema(),
        vec![
            strings(&|e| Some(e.kind.as_str())),
            strings(&|e| Some(e.id.as_str())),
            strings(&|e| e.name.as_deref()),
            strings(&|e| e.state.as_deref()),
            strings(&|e| e.division_id.as_deref()),
            strings(&|e| e.email.as_deref()),
            Arc::new(
                entries
                    .iter()
                    .map(|e| Some(e.deleted))
                    .collect::<BooleanArray>(),
            ),
            times(&|e| e.first_seen),
            times(&|e| e.last_seen),
            strings(&|e| Some(e.json.as_str())),
        ],
    )
    .map_err(|e| Error::Internal(format!("the directory batch: {e}")))
}

/// The table for a session: its rows (as an in-memory table; the directory is small), or
/// an empty table with its columns.
pub async fn provider(lake: &Lake) -> Result<Arc<datafusion::datasource::MemTable>> {
    let entries = read(lake).await?;
    let table = datafusion::datasource::MemTable::try_new(schema(), vec![vec![batch(&entries)?]])
        .map_err(|e| Error::Internal(format!("the directory table: {e}")))?;
    Ok(Arc::new(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, id: &str, name: &str, at: i64) -> Entry {
        Entry::of(kind, &serde_json::json!({"id": id, "name": name}), at).unwrap()
    }

    #[test]
    fn a_merge_keeps_first_sightings_marks_what_is_gone_and_leaves_kinds_not_read() {
        let held = vec![
            entry("queue", "q1", "Sales", 1),
            entry("queue", "q2", "Old", 1),
            entry("user", "u1", "Ana", 1),
        ];
        let mut seen = BTreeMap::new();
        seen.insert(
            "queue".to_string(),
            vec![entry("queue", "q1", "Sales EMEA", 5)],
        );
        let merged = merge(held, &seen);
        let get = |id: &str| merged.iter().find(|e| e.id == id).unwrap();
        assert_eq!(
            (
                get("q1").name.as_deref(),
                get("q1").first_seen,
                get("q1").last_seen
            ),
            (Some("Sales EMEA"), 1, 5)
        );
        assert!(get("q2").deleted && get("q2").name.as_deref() == Some("Old"));
        assert!(!get("u1").deleted, "users were not read: as they were");
        assert!(
            Entry::of(
                "user",
                &serde_json::json!({"id": "u", "state": "deleted"}),
                0
            )
            .unwrap()
            .deleted
        );
    }
}
