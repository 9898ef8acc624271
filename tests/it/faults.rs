//! The lake under faults: statements that run while commits supersede their files (planned
//! in process, and over the wire from `serve --pg`), writers held past the age of leftovers
//! on object storage (alive, and taken for dead), and a re-export whose start moved to
//! another month.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use convlake::schema::Table;
use convlake::storage::StorageOptions;
use convlake::Lake;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::SessionContext;

use crate::pg::{psql, psql_rows, start_pg, PASSWORD, USER};
use crate::s3::{bucket, convlake, export, moto, ok, rows, SECRET};
use crate::util::*;

/// A statement over every table that reads every file (no answer from statistics alone).
pub(crate) fn every_table() -> String {
    Table::ALL
        .iter()
        .map(|t| {
            format!(
                "SELECT '{0}' AS t, count(*) AS n, sum(length(conversation_id)) AS ids, max(conversation_start) AS last FROM {0}",
                t.name()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY t"
}

/// The S3 settings of the local server, for a lake opened in this process.
pub(crate) fn s3_options() -> StorageOptions {
    StorageOptions::parse(&[
        "aws_access_key_id=test".to_string(),
        format!("aws_secret_access_key={SECRET}"),
        "aws_region=us-east-1".to_string(),
        format!("aws_endpoint=http://127.0.0.1:{}", moto().port),
        "aws_allow_http=true".to_string(),
    ])
    .unwrap()
}

/// A context on the lake's latest version and the plan of `sql` in it, not yet run.
pub(crate) fn planned(lake: &Lake, sql: &str) -> (SessionContext, Arc<dyn ExecutionPlan>) {
    convlake::lake::block_on(async {
        let ctx = convlake::catalog::open(lake).await.unwrap();
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        (ctx, plan)
    })
}

/// Runs `plan`: its rows as text, or the error.
pub(crate) fn run(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> Result<String, String> {
    convlake::lake::block_on(async {
        let batches = collect(plan, ctx.task_ctx())
            .await
            .map_err(|e| e.to_string())?;
        Ok(arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string())
    })
}

/// Statements planned on the first ingest answer its version after a re-export, a second
/// ingest and a compaction committed beside them (every file they name superseded); a
/// statement planned then and run after the superseded files are gone says what happened.
fn statements_outlive_commits(lake_location: &str, options: &StorageOptions, dir: &Path) {
    let first = export(dir, 300, 71, 0.5);
    let reexport = first.replace(".ndjson", ".reexport.ndjson");
    let other = export(dir, 200, 72, 0.0);
    ok(convlake(lake_location, &["ingest", "--no-compact", &first]));
    let lake = Lake::open(lake_location, options).unwrap();
    let sql = every_table();
    let (ctx, plan) = planned(&lake, &sql);
    let want = run(&ctx, plan.clone()).unwrap();
    let (held_ctx, held) = planned(&lake, &sql);
    let (late_ctx, late) = planned(&lake, &sql);

    ok(convlake(
        lake_location,
        &["ingest", "--no-compact", &reexport],
    ));
    ok(convlake(lake_location, &["ingest", "--no-compact", &other]));
    ok(convlake(lake_location, &["optimize"]));
    let (now_ctx, now) = planned(&lake, &sql);
    let latest = run(&now_ctx, now).unwrap();
    assert_ne!(latest, want, "the commits changed the answer");
    assert_eq!(
        run(&held_ctx, held).unwrap(),
        want,
        "a statement planned before the commits answers its version"
    );

    // Once the superseded files are removed (a later writer does so after the readers'
    // grace), a statement that was still running says what happened and what to do.
    let retired = lake.list("_convlake/retired").unwrap();
    assert!(
        !retired.is_empty(),
        "the commits retired the files they superseded"
    );
    for entry in &retired {
        lake.delete(&entry.path).unwrap();
    }
    let err = run(&late_ctx, late).unwrap_err();
    assert!(
        err.contains("superseded by a later commit") && err.contains("run it again"),
        "{err}"
    );
    assert_eq!(
        run(&planned(&lake, &sql).0, planned(&lake, &sql).1).unwrap(),
        latest
    );
}

#[test]
fn statements_started_before_commits_answer_their_version_on_a_local_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").to_string_lossy().into_owned();
    statements_outlive_commits(&lake, &StorageOptions::default(), dir.path());
    // Plain Parquet readers of the table directories see exactly the latest state: the
    // retired files sit under _convlake, outside every table directory.
    let listed = sql_rows(Path::new(&lake), "SELECT count(*) FROM raw_conversations");
    let files = std::fs::read_dir(Path::new(&lake).join("raw_conversations"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("conversation_month=")
        })
        .flat_map(|m| std::fs::read_dir(m.path()).unwrap().flatten())
        .map(|f| {
            read_parquet(&f.path())
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum::<usize>();
    assert_eq!(listed, [files.to_string()]);
}

#[test]
fn statements_started_before_commits_answer_their_version_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("readers");
    statements_outlive_commits(&s3, &s3_options(), dir.path());
}

/// Statements over the wire, run one after another by a client of `serve --pg` on an S3 lake
/// whose every third request is slowed (so each statement reads its files long after it was
/// planned), while re-exports, ingests, compactions and a vacuum commit beside them: every
/// answer is the answer of one of the lake's versions, or an error that says the statement's
/// files were superseded.
#[test]
fn statements_over_the_wire_answer_their_version_while_commits_run_beside_them_on_s3() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("wire-readers");
    let first = export(dir.path(), 300, 91, 0.5);
    let reexport = first.replace(".ndjson", ".reexport.ndjson");
    let (second, third) = (
        export(dir.path(), 150, 92, 0.0),
        export(dir.path(), 150, 93, 0.0),
    );
    ok(convlake(&s3, &["ingest", "--no-compact", &first]));
    let mut command = convlake(&s3, &[]);
    command.env("CONVLAKE_TEST_SLOW_REQUESTS", "3:120");
    let server = start_pg(command, &[]);
    let dsn = server.dsn(USER, PASSWORD, "disable");
    let sql = every_table();
    let mut versions = vec![psql_rows(&dsn, &sql)];

    let stop = AtomicBool::new(false);
    let answers = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(psql(&dsn, &["-A", "-t", "-F", ",", "-c", &sql]));
            }
            answers
        });
        let steps: [&[&str]; 6] = [
            &["ingest", "--no-compact", &reexport],
            &["ingest", "--no-compact", &second],
            &["optimize"],
            &["ingest", &third],
            &["optimize"],
            &["vacuum"],
        ];
        for step in steps {
            ok(convlake(&s3, step));
            versions.push(psql_rows(&dsn, &sql));
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap()
    });
    assert!(
        versions.first() != versions.last(),
        "the commits changed the answer"
    );
    assert!(answers.len() >= 6, "only {} statements ran", answers.len());
    for (ok, out, err) in &answers {
        if *ok {
            let rows: Vec<String> = out.lines().map(str::to_string).collect();
            assert!(versions.contains(&rows), "an answer of no version:\n{out}");
        } else {
            assert!(err.contains("superseded by a later commit"), "{err}");
        }
    }
    let distinct: std::collections::BTreeSet<&String> = answers
        .iter()
        .filter(|(ok, ..)| *ok)
        .map(|(_, out, _)| out)
        .collect();
    assert!(distinct.len() > 1, "every statement saw the same version");
    println!(
        "{} statements over the wire beside {} commits",
        answers.len(),
        versions.len() - 1
    );
}

/// Starts `convlake ingest INPUT` on `lake` with `env`, held right before its commit.
fn held_ingest(lake: &str, input: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut command = convlake(lake, &["ingest", "--no-compact", input]);
    command.env("CONVLAKE_TEST_HOLD_BEFORE_COMMIT_MS", "8000");
    for (key, value) in env {
        command.env(key, value);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().unwrap()
}

/// Every file the lake's latest state names exists: a statement over every table reads
/// them all.
fn assert_readable(lake: &str) {
    ok(convlake(lake, &["sql", &every_table()]));
}

#[test]
fn a_writer_held_past_the_leftover_age_keeps_its_files_while_its_heartbeat_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("held-writer");
    let input = export(dir.path(), 300, 81, 0.0);
    let held = held_ingest(&s3, &input, &[("CONVLAKE_TEST_HEARTBEAT_MS", "300")]);
    std::thread::sleep(Duration::from_secs(4));
    // A vacuum beside it that takes every unlisted file for a leftover, however young.
    let mut vacuum = convlake(&s3, &["vacuum"]);
    vacuum.env("CONVLAKE_TEST_LEFTOVER_AGE_MS", "0");
    ok(vacuum);
    let out = held.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_readable(&s3);
    let local = dir.path().join("serial").to_string_lossy().into_owned();
    ok(convlake(&local, &["ingest", "--no-compact", &input]));
    assert_eq!(rows(&s3), rows(&local));
}

#[test]
fn a_writer_taken_for_dead_fails_cleanly_and_the_next_run_converges() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("stalled-writer");
    let base = export(dir.path(), 150, 83, 0.0);
    let input = export(dir.path(), 300, 82, 0.0);
    ok(convlake(&s3, &["ingest", "--no-compact", &base]));
    let before = rows(&s3);
    // It puts its heartbeat once and then stalls, as a process stopped by its machine does.
    let held = held_ingest(&s3, &input, &[("CONVLAKE_TEST_HEARTBEAT_MS", "600000")]);
    std::thread::sleep(Duration::from_secs(4));
    let mut vacuum = convlake(&s3, &["vacuum"]);
    vacuum
        .env("CONVLAKE_TEST_LEFTOVER_AGE_MS", "0")
        .env("CONVLAKE_TEST_STALE_MS", "1000");
    ok(vacuum);
    let out = held.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a revoked writer must not commit");
    assert!(
        stderr.contains("took it for dead") && stderr.contains("run the command again"),
        "{stderr}"
    );
    assert_readable(&s3);
    assert_eq!(rows(&s3), before, "the revoked writer left the old state");
    ok(convlake(&s3, &["ingest", "--no-compact", &input]));
    assert_readable(&s3);
    let local = dir.path().join("serial").to_string_lossy().into_owned();
    ok(convlake(&local, &["ingest", "--no-compact", &base]));
    ok(convlake(&local, &["ingest", "--no-compact", &input]));
    assert_eq!(rows(&s3), rows(&local));
}

#[test]
fn a_reexport_whose_start_moved_to_another_month_replaces_the_earlier_copy() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let first = export(dir.path(), 200, 91, 0.0);
    run_ok(Command::new(binary()).arg("--lake").arg(&lake).args([
        "ingest",
        "--no-compact",
        &first,
    ]));
    // One conversation again, its start 45 days earlier and its end an hour later.
    let line = std::fs::read_to_string(&first)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let mut record: serde_json::Value = serde_json::from_str(&line).unwrap();
    let id = record["conversationId"].as_str().unwrap().to_string();
    let shift = |field: &str, millis: i64, record: &mut serde_json::Value| {
        let at = convlake::model::parse_timestamp(record[field].as_str().unwrap()).unwrap();
        record[field] = convlake::model::format_timestamp(at.millis + millis).into();
    };
    shift("conversationStart", -45 * 86_400_000, &mut record);
    shift("conversationEnd", 3_600_000, &mut record);
    let moved = dir.path().join("moved.ndjson");
    std::fs::write(&moved, format!("{record}\n")).unwrap();
    run_ok(
        Command::new(binary())
            .arg("--lake")
            .arg(&lake)
            .args(["ingest", "--no-compact"])
            .arg(&moved),
    );
    for table in Table::ALL {
        let months = sql_rows(
            &lake,
            &format!(
                "SELECT DISTINCT conversation_month FROM {} WHERE conversation_id = '{id}'",
                table.name()
            ),
        );
        assert!(months.len() <= 1, "{}: {months:?}", table.name());
    }
    assert_eq!(
        sql_rows(
            &lake,
            &format!("SELECT count(*) FROM raw_conversations WHERE conversation_id = '{id}'")
        ),
        ["1"]
    );
    let start = sql_rows(
        &lake,
        &format!("SELECT conversation_start FROM conversations WHERE conversation_id = '{id}'"),
    );
    let want = record["conversationStart"].as_str().unwrap();
    assert_eq!(start.len(), 1, "{start:?}");
    assert!(
        start[0].starts_with(&want[..16]),
        "{start:?} against {want}"
    );
    // Every raw_conversations file carries the Bloom filter of ids the upsert probed.
    let snapshot = convlake::lake::snapshot::latest(&Lake::local(&lake)).unwrap();
    for file in snapshot.files(Table::RawConversations) {
        let path = file_path(&lake, Table::RawConversations, file);
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap())
                .unwrap();
        use parquet::file::reader::FileReader;
        let metadata = reader.metadata();
        let id_column = metadata
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "conversation_id")
            .unwrap();
        for group in metadata.row_groups() {
            assert!(
                group.column(id_column).bloom_filter_offset().is_some(),
                "{}",
                path.display()
            );
        }
    }
}
