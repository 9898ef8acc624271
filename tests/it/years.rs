//! Lake v2 over time: a year of history in a few files per table, months of nightly ingests
//! kept compact, time travel with history kept, and lakes of the first layout refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use convlake::generate::{write_export, ExportFormat, GenerateOptions};
use convlake::ingest::discover;
use convlake::lake::optimize::CompactOptions;
use convlake::lake::snapshot;
use convlake::lake::upsert::{ingest, IngestOptions, IngestSummary};
use convlake::schema::Table;

use crate::util::*;

const DAY_MS: i64 = 86_400_000;

fn export(dir: &Path, name: &str, options: &GenerateOptions) -> PathBuf {
    let out = dir.join(format!("{name}.ndjson"));
    write_export(options, ExportFormat::Ndjson, 100, false, &out).unwrap();
    out
}

fn ingest_with(lake: &Path, paths: &[PathBuf], options: &IngestOptions) -> IngestSummary {
    let summary = ingest(
        &convlake::Lake::local(lake),
        discover(paths).unwrap(),
        options,
    )
    .unwrap();
    assert!(summary.reconciles(), "{summary:?}");
    summary
}

/// Files per table of the latest state.
fn files_per_table(lake: &Path) -> BTreeMap<Table, usize> {
    let snap = snapshot::latest(&convlake::Lake::local(lake)).unwrap();
    Table::ALL
        .iter()
        .map(|&t| (t, snap.files(t).len()))
        .collect()
}

#[test]
fn a_year_of_a_small_center_is_a_dozen_files_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(
        dir.path(),
        "year",
        &GenerateOptions {
            conversations: 2_000,
            seed: 31,
            // 2025-12-01: twelve whole months and a day of the next.
            start_ms: 1_764_547_200_000,
            days: 366,
            ..Default::default()
        },
    );
    let lake = dir.path().join("lake");
    ingest_with(&lake, &[input], &IngestOptions::default());
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    for table in Table::ALL {
        let files = snap.files(table);
        let months: std::collections::BTreeSet<_> = files.iter().map(|f| f.month).collect();
        assert!(
            (12..=13).contains(&months.len()) && files.len() == months.len(),
            "{}: {} files over {} months",
            table.name(),
            files.len(),
            months.len()
        );
        for file in files {
            let (lo, hi) = file.date.unwrap();
            assert_eq!(
                convlake::lake::layout::month_of_day(lo),
                convlake::lake::layout::month_of_day(hi),
                "{} spans months",
                file.path
            );
        }
    }
    let rows: u64 = snap
        .files(Table::Conversations)
        .iter()
        .map(|f| f.rows)
        .sum();
    assert_eq!(rows, 2_000);
}

/// A large center's month arrives in many write buffers: each is appended to the month's
/// open file (rows arrive in start order), which rolls over at the target size, so the
/// ingest writes a few large files per table and leaves nothing to compact. Rows are those
/// of the export, in file order (metrics: by name inside each row group).
#[test]
fn a_large_month_grows_files_to_the_target_size_instead_of_compacting() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(
        dir.path(),
        "month",
        &GenerateOptions {
            conversations: 3_000,
            seed: 77,
            // 2026-11-02: one week, one month.
            start_ms: 1_793_577_600_000,
            days: 7,
            ..Default::default()
        },
    );
    let lake = dir.path().join("lake");
    let target = 512 << 10;
    let options = IngestOptions {
        // Chunks of 256 KB of JSON, buffers of 256 KB: dozens of flushes per table.
        decoder: convlake::ingest::DecoderBuilder::new().with_chunk_bytes(256 << 10),
        file_bytes: 256 << 10,
        buffer_budget: 1 << 20,
        target_file_bytes: target,
        compact: Some(CompactOptions {
            target_file_bytes: target,
            small_files_over: 1,
        }),
        ..IngestOptions::default()
    };
    let summary = ingest_with(&lake, std::slice::from_ref(&input), &options);
    assert_eq!(summary.compaction, None, "{summary:?}");
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    let mut several = 0;
    for table in Table::ALL {
        let files = snap.files(table);
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        // Every file but the last of a table reached the target.
        let small = files.iter().filter(|f| f.bytes < target).count();
        assert!(
            small <= 1,
            "{}: {} files ({bytes} bytes), {small} under the target",
            table.name(),
            files.len()
        );
        let mut groups = 0;
        for file in files {
            groups += assert_file_order(&lake, table, file);
        }
        several += usize::from(files.len() > 1);
        assert!(
            groups > files.len(),
            "{}: {groups} row groups",
            table.name()
        );
    }
    assert!(several >= 4, "too few tables rolled over to a second file");
    // The same rows as an ingest with the default settings.
    let whole = dir.path().join("whole");
    ingest_with(&whole, &[input], &IngestOptions::default());
    assert_same(&content(&lake), &content(&whole));
}

/// Forty nights: each brings one day of conversations, and the re-export of the day before
/// (some conversations completed late). With compaction, every month keeps a few files per
/// table; the rows are those of one ingest of everything.
#[test]
fn nightly_ingests_stay_compact_and_equal_one_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let options = IngestOptions {
        compact: Some(CompactOptions {
            small_files_over: 4,
            ..CompactOptions::default()
        }),
        ..IngestOptions::default()
    };
    let mut all = Vec::new();
    let mut compactions = 0;
    let mut previous_reexport: Option<PathBuf> = None;
    for night in 0..40u64 {
        let day = export(
            dir.path(),
            &format!("night-{night:02}"),
            &GenerateOptions {
                conversations: 15,
                seed: 1000 + night,
                // From 2026-10-20: the nights cross a month boundary.
                start_ms: 1_792_454_400_000 + night as i64 * DAY_MS,
                days: 1,
                reexport_share: 0.3,
                ..Default::default()
            },
        );
        let mut inputs = vec![day.clone()];
        inputs.extend(previous_reexport.take());
        let summary = ingest_with(&lake, &inputs, &options);
        compactions += usize::from(summary.compaction.is_some());
        all.extend(inputs);
        previous_reexport = Some(dir.path().join(format!("night-{night:02}.reexport.ndjson")));
        let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
        for table in Table::ALL {
            let mut per_month: BTreeMap<_, usize> = BTreeMap::new();
            for f in snap.files(table) {
                *per_month.entry(f.month).or_default() += 1;
            }
            // At most 4 older small files, and the two an ingest spares: the night's new
            // file and the rewrite of the night before (its conversations re-exported).
            assert!(
                per_month.values().all(|&n| n <= 6),
                "night {night}: {} has {per_month:?} files per month",
                table.name()
            );
        }
    }
    assert!(compactions >= 5, "only {compactions} compactions");
    let whole = dir.path().join("whole");
    ingest_with(&whole, &all, &IngestOptions::default());
    assert_same(&content(&lake), &content(&whole));
    let files = files_per_table(&lake);
    assert!(files.values().all(|&n| n <= 10), "{files:?}");
    // Over forty commits per table: the log has checkpoints (one every ten commits).
    for table in Table::ALL {
        let log = lake.join(table.name()).join("_delta_log");
        let checkpoints = std::fs::read_dir(&log)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".checkpoint.parquet")
            })
            .count();
        assert!(
            checkpoints >= 3,
            "{}: {checkpoints} checkpoints",
            table.name()
        );
    }
}

#[test]
fn optimize_merges_small_files_into_sorted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let no_compaction = IngestOptions {
        compact: None,
        ..IngestOptions::default()
    };
    for night in 0..6u64 {
        let day = export(
            dir.path(),
            &format!("day-{night}"),
            &GenerateOptions {
                conversations: 40,
                seed: 500 + night,
                start_ms: 1_793_577_600_000 + night as i64 * DAY_MS,
                days: 1,
                ..Default::default()
            },
        );
        ingest_with(&lake, &[day], &no_compaction);
    }
    let before = content(&lake);
    assert!(files_per_table(&lake).values().all(|&n| n == 6));
    let out = run_ok(
        std::process::Command::new(binary())
            .arg("--lake")
            .arg(&lake)
            .args(["optimize", "--json"]),
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["files_removed"], 36);
    assert_eq!(summary["files_added"], 6);
    assert_eq!(summary["months"], serde_json::json!(["2026-11"]));
    assert!(files_per_table(&lake).values().all(|&n| n == 1));
    assert_same(&content(&lake), &before);
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    for table in Table::ALL {
        assert_file_order(&lake, table, &snap.files(table)[0]);
    }
    // Nothing left to do the second time.
    let again = std::process::Command::new(binary())
        .arg("--lake")
        .arg(&lake)
        .args(["optimize", "--json"])
        .output()
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["version"], serde_json::Value::Null);
}

fn sql(lake: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary())
        .arg("--lake")
        .arg(lake)
        .arg("sql")
        .args(["--format", "csv"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn as_of_reads_earlier_versions_when_history_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let early = export(
        dir.path(),
        "early",
        &GenerateOptions {
            conversations: 120,
            seed: 77,
            reexport_share: 0.4,
            ..Default::default()
        },
    );
    let later = dir.path().join("early.reexport.ndjson");
    let count = "SELECT count(*) AS n, sum(CASE WHEN conversation_end IS NULL THEN 1 ELSE 0 END) AS open FROM conversations";
    for keep in [true, false] {
        let lake = dir.path().join(format!("lake-{keep}"));
        let mut first = std::process::Command::new(binary());
        first.arg("--lake").arg(&lake).arg("ingest");
        if keep {
            first.args(["--keep-history", "P7D"]);
        }
        assert!(first.arg(&early).output().unwrap().status.success());
        let v1 = sql(&lake, &[count]);
        let v1 = String::from_utf8(v1.stdout).unwrap();
        let update = std::process::Command::new(binary())
            .arg("--lake")
            .arg(&lake)
            .arg("ingest")
            .arg(&later)
            .output()
            .unwrap();
        assert!(update.status.success());
        let v2 = String::from_utf8(sql(&lake, &[count]).stdout).unwrap();
        assert_ne!(v1, v2, "the re-export completes conversations");
        let old = sql(&lake, &["--as-of", "1", count]);
        if keep {
            assert!(
                old.status.success(),
                "{}",
                String::from_utf8_lossy(&old.stderr)
            );
            assert_eq!(String::from_utf8(old.stdout).unwrap(), v1);
            assert_eq!(
                String::from_utf8(sql(&lake, &["--as-of", "2", count]).stdout).unwrap(),
                v2
            );
        } else {
            // Superseded files went right after the commit: a clear error, not wrong rows.
            assert!(!old.status.success());
            let stderr = String::from_utf8_lossy(&old.stderr);
            assert!(stderr.contains("--keep-history"), "{stderr}");
        }
    }
}

#[test]
fn lakes_of_the_first_layout_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("old");
    std::fs::create_dir_all(lake.join("_convlake/snapshots")).unwrap();
    std::fs::write(
        lake.join("_convlake/snapshots/00000000000000000001.json"),
        "{}",
    )
    .unwrap();
    for args in [vec!["sql", "SELECT 1"], vec!["ingest", "-"], vec!["vacuum"]] {
        let out = std::process::Command::new(binary())
            .arg("--lake")
            .arg(&lake)
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("first layout"), "{args:?}: {stderr}");
        assert!(stderr.contains("new lake"), "{args:?}: {stderr}");
    }
    // Nothing was changed.
    let entries: Vec<_> = std::fs::read_dir(lake.join("_convlake")).unwrap().collect();
    assert_eq!(entries.len(), 1);
}
