//! The real binary, end to end: generate → ingest (files and stdin) → sql → reports, and the
//! errors users see.

use std::process::{Command, Stdio};

use convlake::schema::Table;

use crate::util::{assert_file_order, binary};

fn convlake(lake: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("--lake")
        .arg(lake)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn generate_ingest_query_report() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let pages = dir.path().join("pages");
    let out = convlake(
        &lake,
        &[
            "generate",
            "--conversations",
            "300",
            "--format",
            "query-pages",
            "--gzip",
            "--out",
            pages.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = convlake(&lake, &["ingest", "--json", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["conversations_new"], 300);
    assert_eq!(summary["rejected"], 0);

    let out = convlake(&lake, &["sql", "--format", "csv", "SELECT count(*) AS n FROM conversations; SELECT count(DISTINCT conversation_id) AS n FROM raw_conversations"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "n\n300\nn\n300\n");

    // --timing with --repeat: the result once, the median time and its planning part on stderr.
    let out = convlake(
        &lake,
        &[
            "sql",
            "--timing",
            "--repeat",
            "3",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM metrics WHERE name = 'tHandle' AND value > 0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );
    let timing = text(&out.stderr);
    let seconds = |label: &str| -> f64 {
        let at = timing
            .find(label)
            .unwrap_or_else(|| panic!("no {label:?} in {timing:?}"));
        timing[at + label.len()..]
            .split('s')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        timing.contains("1 row(s) in ") && timing.contains("medians of 3 runs"),
        "{timing}"
    );
    assert!(seconds("planning ") <= seconds("row(s) in "), "{timing}");

    // A memory-capped session has the same tables, views and functions.
    let out = convlake(&lake, &["sql", "--memory-limit", "256M", "--format", "csv",
        "SELECT count(*) AS n FROM conversation_summary WHERE tz_bucket(conversation_start, 'P1D', 'UTC') IS NOT NULL"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "n\n300\n");
    // A sort under a small cap: failed before the sort's merge reservation followed the cap.
    let out = convlake(
        &lake,
        &[
            "sql",
            "--memory-limit",
            "16M",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM (SELECT json FROM raw_conversations ORDER BY json DESC)",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "n\n300\n");
    let out = convlake(&lake, &["sql", "--memory-limit", "lots", "SELECT 1"]);
    assert!(
        text(&out.stderr).contains("is not a size such as 2G or 512M"),
        "{}",
        text(&out.stderr)
    );

    // CSV has no nested values: lists and maps are written as text, nulls as empty cells.
    let out = convlake(
        &lake,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT [1, 2] AS ids, map(['k'], ['v']) AS m, CAST(NULL AS INT[]) AS none, queues \
         FROM conversation_summary WHERE cardinality(queues) > 1 LIMIT 1",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(
        csv.starts_with("ids,m,none,queues\n\"[1, 2]\",{k: v},,\"["),
        "{csv}"
    );

    // JSON results, empty or not, are one valid array.
    for (query, expected) in [
        ("SELECT 1 AS a WHERE false", "[]\n"),
        ("SELECT 1 AS a", "[{\"a\":1}]\n"),
    ] {
        let out = convlake(&lake, &["sql", "--format", "json", query]);
        assert_eq!(text(&out.stdout), expected, "{query}");
    }

    let reports = dir.path().join("reports");
    let out = convlake(
        &lake,
        &[
            "report",
            "run",
            "--all",
            "--interval",
            "2026-11-02T00:00:00Z/2026-11-09T00:00:00Z",
            "--tz",
            "Europe/Berlin",
            "--granularity",
            "PT1H",
            "--out",
            reports.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let queue = std::fs::read_to_string(reports.join("queue_performance.csv")).unwrap();
    assert!(
        queue.starts_with("queue_id,queue_name,interval_start,offered,answered,abandoned"),
        "{queue}"
    );
    assert!(queue.lines().count() > 10);
    assert_eq!(
        std::fs::read_dir(&reports).unwrap().count(),
        convlake::reports::BUILT_IN.len()
    );
}

#[test]
fn the_default_lake_is_relative_to_the_working_directory() {
    // `--lake` defaults to `./lake`: scans must find its files whatever the working directory.
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(binary())
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    run(&[
        "generate",
        "--conversations",
        "50",
        "--format",
        "ndjson",
        "--out",
        "export.ndjson",
    ]);
    run(&["ingest", "export.ndjson"]);
    let sql = "SELECT count(*) AS n FROM participants WHERE purpose = 'customer'";
    let default = run(&["sql", "--format", "csv", sql]);
    assert!(
        default.starts_with("n\n") && default != "n\n0\n",
        "{default}"
    );
    assert_eq!(
        run(&["--lake", "./lake", "sql", "--format", "csv", sql]),
        default
    );
    assert_eq!(
        run(&["--lake", "lake/", "sql", "--format", "csv", sql]),
        default
    );
}

#[test]
fn write_memory_trades_memory_for_larger_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let out = convlake(
        &dir.path().join("unused"),
        &[
            "generate",
            "--conversations",
            "3000",
            "--format",
            "ndjson",
            "--out",
            export.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ingest = |name: &str, extra: &[&str]| {
        let lake = dir.path().join(name);
        let mut args = vec!["ingest", "--json"];
        args.extend_from_slice(extra);
        args.push(export.to_str().unwrap());
        let out = convlake(&lake, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sql = "SELECT count(*) AS n, sum(value) AS total FROM metrics";
        let out = convlake(&lake, &["sql", "--format", "csv", sql]);
        let snap = convlake::lake::snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
        let groups: usize = Table::ALL
            .iter()
            .flat_map(|&t| snap.files(t).iter().map(move |f| (t, f)))
            .map(|(t, f)| assert_file_order(&lake, t, f))
            .sum();
        (
            summary["files_written"].as_u64().unwrap(),
            groups,
            text(&out.stdout),
        )
    };
    let (files_default, groups_default, content_default) = ingest("default", &[]);
    let (files_small, groups_small, content_small) = ingest("small", &["--write-memory", "1M"]);
    // Flushes of 512 KB are appended to the same files: more row groups, no more files.
    assert!(
        groups_small > groups_default && files_small == files_default,
        "{files_small} files, {groups_small} row groups vs {files_default}, {groups_default}"
    );
    assert_eq!(content_small, content_default);

    let out = convlake(
        &dir.path().join("bad"),
        &["ingest", "--write-memory", "lots", export.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--write-memory: \"lots\" is not a size such as 2G or 512M"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stdin_and_strict() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let record = std::fs::read_to_string(crate::util::fixture(
        "genesys/blueprint-sql-conversation2.json",
    ))
    .unwrap();
    let compact =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&record).unwrap())
            .unwrap();
    let mut child = Command::new(binary())
        .args(["--lake", lake.to_str().unwrap(), "ingest", "--strict", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{compact}\n{{broken\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // One stored, one rejected: --strict makes that a failure, and says where the reject went.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2 read = 1 stored + 0 superseded + 1 rejected"),
        "{stderr}"
    );
    assert!(stderr.contains("rejected records are in"), "{stderr}");
    assert!(
        stderr
            .contains("lenient date-times at participants[].sessions[].segments[].segmentStart: 4"),
        "{stderr}"
    );
}

#[test]
fn user_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("nowhere");
    let out = convlake(&lake, &["sql", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("hint: ingest exports first"),
        "{}",
        text(&out.stderr)
    );

    let out = convlake(
        &lake,
        &["ingest", dir.path().join("missing.json").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.json: cannot be read"),
        "{}",
        text(&out.stderr)
    );

    for (args, expected) in [
        (
            vec!["--interval", "2026-11-09T00:00:00Z/2026-11-02T00:00:00Z"],
            "ends before it starts",
        ),
        (
            vec!["--interval", "last week"],
            "is not an ISO-8601 interval",
        ),
        (
            vec![
                "--interval",
                "2026-11-02T00:00:00Z/2026-11-09T00:00:00Z",
                "--tz",
                "Mars/Olympus",
            ],
            "is not an IANA time zone",
        ),
        (
            vec![
                "--interval",
                "2026-11-02T00:00:00Z/2026-11-09T00:00:00Z",
                "--granularity",
                "15 minutes",
            ],
            "is not an ISO-8601 duration",
        ),
    ] {
        let mut all = vec!["report", "run", "queue_performance"];
        all.extend(args);
        let out = convlake(&lake, &all);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains(expected),
            "{}",
            text(&out.stderr)
        );
    }
    let out = convlake(
        &lake,
        &[
            "report",
            "run",
            "queue_perf",
            "--interval",
            "2026-11-02T00:00:00Z/2026-11-09T00:00:00Z",
        ],
    );
    assert!(
        text(&out.stderr).contains("did you mean \"queue_performance\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn shell_reads_statements_and_commands() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let sample = crate::util::repo().join("data/sample");
    assert!(convlake(&lake, &["ingest", sample.to_str().unwrap()])
        .status
        .success());
    let mut child = Command::new(binary())
        .args(["--lake", lake.to_str().unwrap(), "shell"])
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let script = "\\d\n\\format csv\nSELECT count(*) AS n\n  FROM conversations;\nSELECT nope FROM nowhere;\n\\d queue_legs\n\\q\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("conversation_summary | VIEW"), "{stdout}");
    // A statement over two lines, printed as CSV after \format.
    assert!(stdout.contains("n\n600\n"), "{stdout}");
    assert!(
        stdout.contains("entered_queue,\"Timestamp(µs, \"\"UTC\"\")\",YES"),
        "{stdout}"
    );
    // An error does not end the shell.
    assert!(
        text(&out.stderr).contains("table 'convlake.public.nowhere' not found"),
        "{}",
        text(&out.stderr)
    );
    assert!(dir.path().join(".convlake_history").exists());
}

/// Output into a pipe closed early (`convlake schema | head -1`) ends the command quietly:
/// no panic, no error, exit 0. Every printing command writes through `outln!`.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    for args in [
        &["schema"][..],
        &["schema", "--format", "json"],
        &["report", "list"],
    ] {
        let mut child = Command::new(binary())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the program has started: its first line meets a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn lateral_unnest_as_other_engines_write_it() {
    let lake = crate::slt::fixture_lake();
    let native = crate::util::sql_rows(
        lake,
        "SELECT participant_id, u['session_id'] AS session_id FROM (SELECT participant_id, unnest(sessions) AS u FROM participants) ORDER BY 1, 2",
    );
    assert!(native.len() > 100, "{}", native.len());
    for from in [
        "participants p, unnest(p.sessions) AS s",
        "participants p CROSS JOIN LATERAL unnest(p.sessions) s",
        "participants p JOIN LATERAL unnest(p.sessions) AS s ON true",
    ] {
        let query = format!("SELECT p.participant_id, s.session_id FROM {from} ORDER BY 1, 2");
        assert_eq!(crate::util::sql_rows(lake, &query), native, "{from}");
    }
    // What DataFusion cannot run is one line that says what to write instead.
    let out = convlake(
        lake,
        &[
            "sql",
            "SELECT count(*) FROM participants p, LATERAL (SELECT s FROM unnest(p.sessions) AS s LIMIT 1) x",
        ],
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("CROSS JOIN LATERAL unnest"), "{err}");
    assert!(err.len() < 500 && !err.contains("Field {"), "{err}");
}
