//! Other engines read convlake lakes: the `deltalake` Python package (delta-rs), Polars, and
//! pyarrow reading the table directories as plain hive-partitioned Parquet. They are
//! installed on first use into a virtual environment under the build's target directory,
//! from the pinned `tests/python/requirements.txt`.

use std::path::{Path, PathBuf};
use std::process::Command;

use convlake::generate::{write_export, ExportFormat, GenerateOptions};
use convlake::ingest::discover;
use convlake::lake::upsert::{ingest, IngestOptions};

use crate::util::*;

/// The Python of a virtual environment holding the pinned requirements, made once per
/// target directory (and again when the requirements change).
pub fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("convlake-pyenv");
    let requirements = repo().join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    // Tests run in parallel: one of them installs, the others wait.
    let lock = std::fs::File::create(root.join(".lock")).unwrap();
    lock.lock().unwrap();
    let python = root.join("venv/bin/python");
    let stamp = root.join("installed.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let made = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(root.join("venv"))
            .status()
            .expect("python3 is needed for the tests with other engines (apt-get install python3 python3-venv)");
        assert!(
            made.success(),
            "python3 -m venv failed: install python3-venv"
        );
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements)
            .status()
            .unwrap();
        assert!(
            installed.success(),
            "pip install -r {} failed",
            requirements.display()
        );
        std::fs::write(&stamp, &wanted).unwrap();
    }
    python
}

/// One number out of `convlake sql` (CSV, one row, one column).
fn sql_number(lake: &Path, query: &str) -> String {
    sql_rows(lake, query).swap_remove(0)
}

#[test]
fn delta_readers_and_plain_parquet_readers_see_what_convlake_sees() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    write_export(
        &GenerateOptions {
            conversations: 400,
            seed: 61,
            // Across a month boundary, and updated by a re-export: removes in the log.
            start_ms: 1_793_232_000_000,
            days: 10,
            reexport_share: 0.3,
            ..Default::default()
        },
        ExportFormat::Ndjson,
        100,
        false,
        &export,
    )
    .unwrap();
    let lake = dir.path().join("lake");
    for input in [
        export.clone(),
        dir.path().join("export.reexport.ndjson"),
        fixture("genesys"),
    ] {
        let summary = ingest(
            &convlake::Lake::local(&lake),
            discover(&[input]).unwrap(),
            &IngestOptions::default(),
        )
        .unwrap();
        assert!(summary.snapshot.is_some(), "{summary:?}");
    }
    let out = run_ok(
        Command::new(python())
            .arg(repo().join("tests/python/read_lake.py"))
            .arg(&lake),
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for table in convlake::schema::Table::ALL {
        let name = table.name();
        let t = &seen[name];
        let rows: u64 = sql_number(&lake, &format!("SELECT count(*) FROM {name}"))
            .parse()
            .unwrap();
        assert_eq!(t["delta_rows"], rows, "{name}: {t}");
        assert_eq!(t["polars_rows"], rows, "{name}: {t}");
        assert_eq!(t["parquet_rows"], rows, "{name}: {t}");
        assert_eq!(t["protocol"], serde_json::json!([1, 2]), "{name}");
        assert_eq!(
            t["partition_columns"],
            serde_json::json!(["conversation_month"])
        );
        assert_eq!(t["start_type"], "timestamp[us, tz=UTC]", "{name}");
        assert_eq!(
            t["conversations"].to_string(),
            sql_number(
                &lake,
                &format!("SELECT count(DISTINCT conversation_id) FROM {name}")
            )
        );
        let months = sql_number(
            &lake,
            &format!("SELECT string_agg(DISTINCT conversation_month, '|' ORDER BY conversation_month) FROM {name}"),
        );
        let theirs: Vec<&str> = t["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(theirs.join("|"), months, "{name}");
        // Microseconds in UTC, at the millisecond of the export.
        let min = sql_number(
            &lake,
            &format!("SELECT to_char(min(conversation_start), '%Y-%m-%dT%H:%M:%S%.6f+00:00') FROM {name}"),
        );
        assert_eq!(t["min_start"], min.as_str(), "{name}");
    }
    assert_eq!(
        seen["metrics"]["tHandle_sum"].to_string(),
        sql_number(
            &lake,
            "SELECT sum(value) FROM metrics WHERE name = 'tHandle'"
        )
    );
    assert_eq!(
        seen["participants"]["agents"].to_string(),
        sql_number(
            &lake,
            "SELECT count(*) FROM participants WHERE purpose = 'agent'"
        )
    );
    // Three ingests: the log moved past its first versions. Months: 2021-04 (the fixture),
    // 2026-10 and 2026-11.
    assert!(seen["metrics"]["version"].as_u64().unwrap() >= 3, "{seen}");
    assert_eq!(seen["metrics"]["months"].as_array().unwrap().len(), 3);
}
