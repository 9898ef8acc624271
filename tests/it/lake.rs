//! The lake: upsert by conversation with freshness, idempotent and atomic commits, files that
//! other engines can read, and records that reconcile.

use std::path::Path;

use arrow::array::{Array, AsArray};
use convlake::generate::{write_export, ExportFormat, GenerateOptions};
use convlake::ingest::{discover, DecoderBuilder, Input};
use convlake::lake::snapshot;
use convlake::lake::upsert::{ingest, IngestOptions, IngestSummary};
use convlake::schema::Table;
use parquet::file::reader::{FileReader, SerializedFileReader};

#[allow(unused_imports)]
use crate::util::binary;
use crate::util::*;

fn ingest_paths(lake: &Path, paths: &[&Path]) -> IngestSummary {
    let inputs = discover(&paths.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>()).unwrap();
    let summary = ingest(
        &convlake::Lake::local(lake),
        inputs,
        &IngestOptions::default(),
    )
    .unwrap();
    assert!(summary.reconciles(), "{summary:?}");
    summary
}

/// A lake holding an export of `conversations` and then its re-export, which updates 30 % of them.
fn updated_lake(dir: &Path, conversations: u64, seed: u64) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let options = GenerateOptions {
        conversations,
        seed,
        reexport_share: 0.3,
        ..Default::default()
    };
    let early = generate(dir, &options);
    ingest_paths(&lake, &[&early]);
    ingest_paths(&lake, &[&dir.join("export.reexport.ndjson")]);
    lake
}

fn generate(dir: &Path, options: &GenerateOptions) -> std::path::PathBuf {
    let out = dir.join("export.ndjson");
    write_export(options, ExportFormat::Ndjson, 100, false, &out).unwrap();
    out
}

/// A lake (in `dir`) holding one generated export of `conversations`.
fn generated_lake(dir: &Path, conversations: u64, seed: u64) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let input = generate(
        dir,
        &GenerateOptions {
            conversations,
            seed,
            ..Default::default()
        },
    );
    ingest_paths(&lake, &[&input]);
    lake
}

/// The Parquet encodings of column `column` in the first row group of the file at `path`.
fn column_encodings(path: &Path, column: &str) -> String {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let row_group = reader.metadata().row_group(0);
    let chunk = row_group
        .columns()
        .iter()
        .find(|c| c.column_path().string() == column)
        .unwrap_or_else(|| panic!("no column {column} in {}", path.display()));
    format!("{:?}", chunk.encodings().collect::<Vec<_>>())
}

/// Rows per page and whether a column index (page minimums and maximums) was written, for
/// column `column` of the first row group of the file at `path`.
fn pages(path: &Path, column: &str) -> (Vec<i64>, bool) {
    use parquet::file::page_index::column_index::ColumnIndexMetaData;
    use parquet::file::serialized_reader::ReadOptionsBuilder;
    let options = ReadOptionsBuilder::new().with_page_index().build();
    let reader =
        SerializedFileReader::new_with_options(std::fs::File::open(path).unwrap(), options)
            .unwrap();
    let metadata = reader.metadata();
    let index = metadata
        .row_group(0)
        .columns()
        .iter()
        .position(|c| c.column_path().string() == column)
        .unwrap_or_else(|| panic!("no column {column} in {}", path.display()));
    let rows = metadata.row_group(0).num_rows();
    let firsts: Vec<i64> = metadata.offset_index().unwrap()[0][index]
        .page_locations()
        .iter()
        .map(|p| p.first_row_index)
        .chain([rows])
        .collect();
    let has_index = metadata
        .column_index()
        .is_some_and(|c| !matches!(c[0][index], ColumnIndexMetaData::NONE));
    (firsts.windows(2).map(|w| w[1] - w[0]).collect(), has_index)
}

#[test]
fn page_statistics_where_rows_are_in_order_and_small_pages_where_metrics_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path(), 3_000, 4);
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    let metrics = file_path(&lake, Table::Metrics, &snap.files(Table::Metrics)[0]);
    // Sorted by name: pages of a few thousand rows, each with its minimum and maximum, so
    // that a filter on one name reads a few pages of the file, not all of it.
    let (name_pages, name_index) = pages(&metrics, "name");
    let rows: i64 = name_pages.iter().sum();
    assert!(rows > 16_384, "{rows} metric rows: too few to split");
    assert!(name_index);
    assert!(name_pages.len() as i64 >= rows / 8_192, "{name_pages:?}");
    assert!(name_pages.iter().all(|&p| p <= 8_192), "{name_pages:?}");
    assert!(pages(&metrics, "conversation_start").1);
    // Values in no order (ids, numbers) keep row-group statistics only.
    for column in ["user_id", "queue_id", "value"] {
        assert!(!pages(&metrics, column).1, "{column} has a column index");
    }
    let sessions = file_path(&lake, Table::Sessions, &snap.files(Table::Sessions)[0]);
    assert!(pages(&sessions, "conversation_start").1);
    assert!(pages(&sessions, "conversation_date").1);
    assert!(!pages(&sessions, "session_id").1);
    // Whole records: no statistics at all.
    let raw = file_path(
        &lake,
        Table::RawConversations,
        &snap.files(Table::RawConversations)[0],
    );
    let reader = SerializedFileReader::new(std::fs::File::open(&raw).unwrap()).unwrap();
    let json = reader
        .metadata()
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "json")
        .unwrap()
        .statistics()
        .cloned();
    assert!(json.is_none(), "{json:?}");
}

#[test]
fn upsert_follows_freshness_and_commits_nothing_when_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let options = GenerateOptions {
        conversations: 300,
        seed: 5,
        reexport_share: 0.2,
        ..Default::default()
    };
    let early = generate(dir.path(), &options);
    let later = dir.path().join("export.reexport.ndjson");

    let first = ingest_paths(&lake, &[&early]);
    assert_eq!(first.conversations_new, 300);
    assert_eq!(first.snapshot, Some(1));
    let after_first = content(&lake);
    assert_eq!(after_first["conversations"].len(), 300);

    // The same input again: identical copies, nothing committed, content unchanged.
    let again = ingest_paths(&lake, &[&early]);
    assert_eq!((again.identical_to_lake, again.snapshot), (300, None));
    assert_same(&content(&lake), &after_first);

    // The re-export completes some conversations: they are replaced in every table.
    let update = ingest_paths(&lake, &[&later]);
    assert!(update.conversations_updated > 20, "{update:?}");
    assert_eq!(update.conversations_new, 0);
    let after_update = content(&lake);
    assert_eq!(after_update["conversations"].len(), 300);
    assert_ne!(after_update["metrics"], after_first["metrics"]);

    // The older export after the newer one changes nothing.
    let stale = ingest_paths(&lake, &[&early]);
    assert_eq!(stale.older_than_lake, update.conversations_updated);
    assert_eq!(stale.snapshot, None);
    assert_same(&content(&lake), &after_update);

    // Both exports at once into a fresh lake, in either order: the same lake as in steps.
    for order in [[&early, &later], [&later, &early]] {
        let other = dir.path().join(format!(
            "lake-{}",
            order[0].file_name().unwrap().to_str().unwrap()
        ));
        let both = ingest_paths(&other, &[order[0].as_path(), order[1].as_path()]);
        assert_eq!(both.superseded_in_input, update.conversations_updated);
        assert_same(&content(&other), &after_update);
    }
}

/// `conversation_start` of every row of `batches` (one file), in row order.
fn starts_in_file_order(batches: &[arrow::array::RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("conversation_start")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Data files of the latest snapshot and `.parquet` files in the table directories, sorted:
/// equal when no file leaked.
fn listed_and_on_disk(lake: &Path) -> (Vec<String>, Vec<String>) {
    let snap = snapshot::latest(&convlake::Lake::local(lake)).unwrap();
    let mut listed: Vec<String> = Table::ALL
        .iter()
        .flat_map(|&t| {
            snap.files(t)
                .iter()
                .map(move |f| format!("{}/{}", t.name(), f.path))
        })
        .collect();
    listed.sort();
    let mut on_disk: Vec<String> = Table::ALL
        .iter()
        .flat_map(|t| convlake::lake::data_files_under(&convlake::Lake::local(lake), *t).unwrap())
        .map(|e| e.path)
        .collect();
    on_disk.sort();
    (listed, on_disk)
}

#[test]
fn small_write_buffers_give_the_same_lake() {
    // Tiny chunks, files and budget, input out of start order (merged from sorted runs) and
    // a tiny target size: every partition gets several files, copies of one conversation
    // land in different files, and the losers are cut out of files already written.
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        conversations: 400,
        seed: 11,
        reexport_share: 0.3,
        ..Default::default()
    };
    let early = generate(dir.path(), &options);
    let later = dir.path().join("export.reexport.ndjson");
    // The later export first: buffers that span both inputs hold rows out of start order.
    let inputs = || discover(&[later.clone(), early.clone()]).unwrap();

    let reference = dir.path().join("reference");
    ingest(
        &convlake::Lake::local(&reference),
        inputs(),
        &IngestOptions::default(),
    )
    .unwrap();

    let small = IngestOptions {
        decoder: DecoderBuilder::new().with_chunk_bytes(48 << 10),
        file_bytes: 24 << 10,
        buffer_budget: 96 << 10,
        target_file_bytes: 16 << 10,
        writer_threads: 3,
        // Kept apart here: this test is about the files ingest writes.
        compact: None,
        ..IngestOptions::default()
    };
    let lake = dir.path().join("lake");
    let summary = ingest(&convlake::Lake::local(&lake), inputs(), &small).unwrap();
    assert!(summary.reconciles(), "{summary:?}");
    assert!(summary.superseded_in_input > 50, "{summary:?}");
    assert_eq!(summary.conversations_new, 400);
    assert_same(&content(&lake), &content(&reference));

    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    let participants = snap.files(Table::Participants);
    let months: std::collections::BTreeSet<_> = participants.iter().map(|f| f.month).collect();
    assert!(
        participants.len() >= 2 * months.len(),
        "expected several files per partition, got {} files for {} months",
        participants.len(),
        months.len()
    );
    for file in participants {
        let batches = read_parquet(&file_path(&lake, Table::Participants, file));
        let starts = starts_in_file_order(&batches);
        assert!(
            starts.windows(2).all(|w| w[0] <= w[1]),
            "{} unsorted",
            file.path
        );
    }
    let (listed, on_disk) = listed_and_on_disk(&lake);
    assert_eq!(listed, on_disk);

    // The same inputs again: nothing is committed and nothing is left behind.
    let again = ingest(&convlake::Lake::local(&lake), inputs(), &small).unwrap();
    assert_eq!((again.snapshot, again.identical_to_lake), (None, 400));
    assert_eq!(listed_and_on_disk(&lake), (listed.clone(), listed));
    assert!(!lake.join("_convlake/staging").exists());
}

#[test]
fn table_directories_hold_exactly_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let lake = updated_lake(dir.path(), 200, 9);
    let (listed, on_disk) = listed_and_on_disk(&lake);
    assert_eq!(listed, on_disk);
    assert!(!lake.join("_convlake/staging").exists());
}

#[test]
fn files_are_readable_without_arrow_hints() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path(), 150, 3);
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    let participants = &snap.files(Table::Participants)[0];
    assert!(
        participants
            .path
            .starts_with("conversation_month=2026-11/part-"),
        "{}",
        participants.path
    );
    let participants_path = file_path(&lake, Table::Participants, participants);
    let file = std::fs::File::open(&participants_path).unwrap();
    let reader = SerializedFileReader::new(file).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr();
    let paths: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
    // Spec-compliant LIST and MAP layouts.
    assert!(
        paths.contains(&"attributes.key_value.key".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"attributes.key_value.value".to_string()));
    assert!(
        paths.contains(&"sessions.list.element.segments.list.element.segment_start".to_string())
    );
    assert!(paths.contains(&"sessions.list.element.metrics.list.element.value".to_string()));
    let start = schema
        .columns()
        .iter()
        .find(|c| c.path().string() == "conversation_start")
        .unwrap();
    let logical = format!("{:?}", start.logical_type_ref());
    assert!(
        logical.contains("is_adjusted_to_u_t_c: true") && logical.contains("MICROS"),
        "{logical}"
    );
    // The partition column lives in the path and the Delta log only; the date is stored.
    assert!(!paths.iter().any(|p| p == "conversation_month"));
    assert!(paths.iter().any(|p| p == "conversation_date"));
    // zstd, statistics, sorted rows.
    let row_group = reader.metadata().row_group(0);
    assert!(format!("{:?}", row_group.column(0).compression()).contains("ZSTD"));
    assert!(row_group.column(0).statistics().is_some());
    assert!(row_group.sorting_columns().is_some());
    let batches = read_parquet(&participants_path);
    let starts = starts_in_file_order(&batches);
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    // Encodings by column: deltas for 64-bit numbers, no dictionary for unique ids, a
    // dictionary for the low-cardinality strings that queries filter and group on.
    let metrics = file_path(&lake, Table::Metrics, &snap.files(Table::Metrics)[0]);
    let encodings = |name: &str| column_encodings(&metrics, name);
    assert!(
        encodings("value").contains("DELTA_BINARY_PACKED"),
        "{}",
        encodings("value")
    );
    assert!(
        !encodings("emit_date").contains("DICTIONARY"),
        "{}",
        encodings("emit_date")
    );
    // Clustered by name, a metrics file lists each session far apart: a dictionary there.
    assert!(
        encodings("session_id").contains("RLE_DICTIONARY"),
        "{}",
        encodings("session_id")
    );
    assert!(
        encodings("queue_id").contains("RLE_DICTIONARY"),
        "{}",
        encodings("queue_id")
    );
    assert!(
        encodings("name").contains("RLE_DICTIONARY"),
        "{}",
        encodings("name")
    );
    // Unique ids elsewhere go without one.
    let session_ids = column_encodings(
        &file_path(&lake, Table::Sessions, &snap.files(Table::Sessions)[0]),
        "session_id",
    );
    assert!(!session_ids.contains("DICTIONARY"), "{session_ids}");
    // Dictionary and map types come back as written, through the embedded Arrow schema.
    let schema = batches[0].schema();
    assert_eq!(
        schema.field_with_name("purpose").unwrap().data_type(),
        &convlake::columnar::dictionary_type()
    );
    assert_eq!(
        schema.field_with_name("attributes").unwrap().data_type(),
        &convlake::columnar::map_type()
    );
}

#[test]
fn rejects_are_kept_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let good =
        std::fs::read_to_string(fixture("genesys/blueprint-sql-conversation1.json")).unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let text = format!(
        "{}\n{{\"conversationId\": 5}}\nnot json\n",
        serde_json::to_string(&good).unwrap()
    );
    let path = dir.path().join("bad.ndjson");
    std::fs::write(&path, text).unwrap();
    let summary = ingest(
        &convlake::Lake::local(&lake),
        vec![Input::File(path)],
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (summary.records_read, summary.stored, summary.rejected),
        (3, 1, 2)
    );
    let rejects = std::fs::read_to_string(lake.join(summary.rejects_file.unwrap())).unwrap();
    let rejects: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0]["record_index"], 1);
    assert_eq!(rejects[0]["path"], "conversationId");
    assert_eq!(rejects[1]["text"], "not json");
}

#[test]
fn a_second_writer_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = generate(
        dir.path(),
        &GenerateOptions {
            conversations: 20,
            seed: 4,
            ..Default::default()
        },
    );
    let held = convlake::lake::LakeLock::acquire(&convlake::Lake::local(&lake), false).unwrap();
    let out = std::process::Command::new(binary())
        .arg("--lake")
        .arg(&lake)
        .arg("ingest")
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another convlake process is changing this lake"),
        "{stderr}"
    );
    assert!(stderr.contains("--wait"), "{stderr}");
    drop(held);
    let out = std::process::Command::new(binary())
        .arg("--lake")
        .arg(&lake)
        .arg("ingest")
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn vacuum_removes_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = updated_lake(dir.path(), 100, 8);
    let before = content(&lake);
    // What a killed ingest leaves: a data file no table lists, and staging files.
    let stray = lake.join("metrics/conversation_month=2026-11/part-dead.parquet");
    std::fs::write(&stray, b"half a file").unwrap();
    std::fs::create_dir_all(lake.join("_convlake/staging/dead")).unwrap();
    let summary = convlake::lake::vacuum::vacuum(&convlake::Lake::local(&lake), false).unwrap();
    assert_eq!((summary.files_removed, summary.version), (2, 2));
    assert!(!stray.exists());
    assert_same(&content(&lake), &before);
}

/// Each row group of a metrics file holds its rows by metric name, then start, and says so in
/// its sorting columns: a filter on a name reads that name's pages only, through the page
/// index. (Here every file is one row group.)
#[test]
fn metrics_files_are_clustered_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let lake = generated_lake(dir.path(), 400, 5);
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    let metrics = snap.files(Table::Metrics);
    assert!(!metrics.is_empty());
    for file in metrics {
        let path = file_path(&lake, Table::Metrics, file);
        let batches = read_parquet(&path);
        let starts = starts_in_file_order(&batches);
        let names: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                let column = arrow::compute::cast(
                    b.column_by_name("name").unwrap(),
                    &arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                let names = column.as_string::<i32>();
                (0..names.len())
                    .map(|i| names.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let keys: Vec<(&str, i64)> = names.iter().map(String::as_str).zip(starts).collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "{} not ordered by (name, conversation_start)",
            file.path
        );
        assert!(
            keys.first().unwrap().0 < keys.last().unwrap().0,
            "one name only?"
        );
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let schema = reader.metadata().file_metadata().schema_descr();
        let declared: Vec<String> = reader
            .metadata()
            .row_group(0)
            .sorting_columns()
            .unwrap()
            .iter()
            .map(|c| schema.column(c.column_idx as usize).path().string())
            .collect();
        assert_eq!(declared, ["name", "conversation_start"]);
    }
}
