//! Ingest in any order: the same conversations written in start order and interleaved (every
//! month of the period mixed through the file, as a concatenation of overlapping exports
//! gives them) make the same lake: the same rows, as many files, every file sorted, and no
//! more files of a month overlapping in time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use convlake::generate::{write_export, Detail, ExportFormat, GenerateOptions, Order};
use convlake::ingest::discover;
use convlake::lake::optimize::CompactOptions;
use convlake::lake::snapshot;
use convlake::lake::upsert::{ingest, IngestOptions, IngestSummary};
use convlake::schema::Table;

use crate::util::*;

/// Writes the export (and its re-export, when `options` has one) under `dir`; its files.
fn export(dir: &Path, name: &str, options: &GenerateOptions) -> Vec<PathBuf> {
    let out = dir.join(format!("{name}.ndjson"));
    let summary = write_export(options, ExportFormat::Ndjson, 100, false, &out).unwrap();
    summary.files
}

/// Ingests `paths` into a new lake at `lake` with buffers so small that every month of
/// every table is flushed many times.
fn ingest_small_buffers(lake: &Path, paths: &[PathBuf], target: u64) -> IngestSummary {
    let options = IngestOptions {
        decoder: convlake::ingest::DecoderBuilder::new().with_chunk_bytes(128 << 10),
        file_bytes: 128 << 10,
        buffer_budget: 512 << 10,
        target_file_bytes: target,
        compact: Some(CompactOptions {
            target_file_bytes: target,
            ..CompactOptions::default()
        }),
        ..IngestOptions::default()
    };
    let summary = ingest(
        &convlake::Lake::local(lake),
        discover(paths).unwrap(),
        &options,
    )
    .unwrap();
    assert!(summary.reconciles(), "{summary:?}");
    summary
}

/// Per table: its files, and how many of them overlap in time the file of their month before
/// them; checks that every file is in order.
fn files_in_order(lake: &Path) -> BTreeMap<Table, (usize, usize)> {
    let snap = snapshot::latest(&convlake::Lake::local(lake)).unwrap();
    let mut counts = BTreeMap::new();
    for table in Table::ALL {
        let mut files: Vec<_> = snap.files(table).to_vec();
        for file in &files {
            assert_file_order(lake, table, file);
        }
        files.sort_by_key(|f| (f.month, f.start));
        let overlaps = files
            .windows(2)
            .filter(|pair| pair[0].month == pair[1].month)
            .filter(|pair| pair[0].start.unwrap().1 > pair[1].start.unwrap().0)
            .count();
        counts.insert(table, (files.len(), overlaps));
    }
    counts
}

/// Runs both orders of `options` (plus its re-export, ingested in the same command) and
/// compares the lakes.
fn same_lake_whatever_the_order(options: GenerateOptions, target: u64) {
    let dir = tempfile::tempdir().unwrap();
    let sorted = export(dir.path(), "sorted", &options);
    let mixed = export(
        dir.path(),
        "mixed",
        &GenerateOptions {
            order: Order::Interleaved,
            ..options
        },
    );
    assert_eq!(sorted.len(), mixed.len());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let one = ingest_small_buffers(&a, &sorted, target);
    let other = ingest_small_buffers(&b, &mixed, target);
    assert_eq!(
        (one.stored, one.superseded),
        (other.stored, other.superseded)
    );
    let (want, got) = (files_in_order(&a), files_in_order(&b));
    for table in Table::ALL {
        let ((want, want_overlaps), (got, got_overlaps)) = (want[&table], got[&table]);
        assert!(
            got as f64 <= (want as f64 * 1.2).max(want as f64 + 1.0)
                && got_overlaps <= want_overlaps,
            "{}: interleaved input wrote {got} files ({got_overlaps} overlapping the one before), \
             sorted input {want} ({want_overlaps})",
            table.name()
        );
    }
    // The same rows, but for where each raw record came from (the two input files).
    let skip = [
        "ingested_at",
        "source_file",
        "source_offset",
        "source_index",
    ];
    assert_same(&content_except(&b, &skip), &content_except(&a, &skip));
}

/// A year of a small center's rich records (about 9 KB each): a dozen months filled side by
/// side, each flushed many times out of order, with re-exported copies among them (so the repair step drops rows of
/// merged files by their ordinals).
#[test]
fn a_year_interleaved_makes_the_lake_of_a_year_in_start_order() {
    same_lake_whatever_the_order(
        GenerateOptions {
            conversations: 1_500,
            seed: 5,
            // 2025-12-01: twelve whole months and a day of the next.
            start_ms: 1_764_547_200_000,
            days: 366,
            reexport_share: 0.1,
            detail: Detail::Rich,
            ..Default::default()
        },
        64 << 20,
    );
}

/// A large center's week: one month flushed in well over a hundred runs per table (so runs
/// are merged a level up before the last merge), into files that roll over at the target.
#[test]
fn a_large_week_interleaved_makes_the_files_of_the_week_in_start_order() {
    same_lake_whatever_the_order(
        GenerateOptions {
            conversations: 3_000,
            seed: 11,
            days: 7,
            reexport_share: 0.05,
            ..Default::default()
        },
        512 << 10,
    );
}
