//! Statements across machines: two `convlake worker` processes on 127.0.0.1 over a lake on
//! the local S3 server, and the real CLI as coordinator with `--workers` (every scan forced
//! to distribute: one byte per partition). The five questions of `benches/queries`, every
//! report, a Genesys aggregate and a detail query give what one machine gives; `EXPLAIN`
//! shows the stages and the workers; a worker refuses a client without the shared secret;
//! with the workers stopped the same statement fails clearly.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use convlake::generate::{write_export, ExportFormat, GenerateOptions, Order};

use crate::s3::{bucket, convlake, ok, SECRET};
use crate::util::repo;

/// The workers' shared secret in these tests.
const WORKER_SECRET: &str = "worker-secret-for-tests-4b9c1e";

/// A `convlake worker` child process; killed when dropped.
struct WorkerProcess {
    child: Child,
    addr: String,
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a worker over `lake` on a free port of 127.0.0.1.
fn start_worker(lake: &str) -> WorkerProcess {
    let mut command = convlake(lake, &["worker", "--listen", "127.0.0.1:0"]);
    command
        .env("CONVLAKE_WORKER_SECRET", WORKER_SECRET)
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let addr = crate::util::announced_address(&mut child, "127.0.0.1:");
    WorkerProcess { child, addr }
}

/// `convlake --lake LAKE ARGS…` run across the workers at `addrs`, every scan split as
/// finely as it goes.
fn across(lake: &str, addrs: &[&str], args: &[&str]) -> Command {
    let mut command = convlake(lake, args);
    command
        .env("CONVLAKE_WORKERS", addrs.join(","))
        .env("CONVLAKE_WORKER_SECRET", WORKER_SECRET)
        .env("CONVLAKE_WORKER_PARTITION_BYTES", "1");
    command
}

/// Two CSV texts are the same table: the same rows in any order, numbers equal to 1e-9 of
/// their size (a sum split over tasks adds in another order).
fn assert_same_table(one: &str, many: &str, what: &str) {
    let (mut a, mut b): (Vec<&str>, Vec<&str>) = (one.lines().collect(), many.lines().collect());
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: row counts differ\n{one}\n---\n{many}"
    );
    for (x, y) in a.iter().zip(&b) {
        let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
        let same = xs.len() == ys.len()
            && xs.iter().zip(&ys).all(|(p, q)| {
                p == q
                    || matches!((p.parse::<f64>(), q.parse::<f64>()), (Ok(p), Ok(q))
                        if (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0))
            });
        assert!(
            same,
            "{what}: {x} on one machine, {y} across workers\n{one}\n---\n{many}"
        );
    }
}

/// A lake of 60 days (three months) of a real export's shape: agents without names, in the
/// order overlapping exports give.
fn lake_of_two_months(dir: &Path, name: &str) -> String {
    let input = dir.join("export.ndjson");
    write_export(
        &GenerateOptions {
            conversations: 1500,
            days: 60,
            seed: 61,
            reexport_share: 0.2,
            order: Order::Interleaved,
            ..Default::default()
        },
        ExportFormat::Ndjson,
        100,
        false,
        &input,
    )
    .unwrap();
    let lake = bucket(name);
    ok(convlake(&lake, &["ingest", &input.to_string_lossy()]));
    lake
}

#[test]
fn statements_reports_and_analytics_across_two_workers_answer_as_one_machine() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_of_two_months(dir.path(), "distributed");
    let (w1, w2) = (start_worker(&lake), start_worker(&lake));
    let workers = [w1.addr.as_str(), w2.addr.as_str()];

    for n in 1..=5 {
        let file = repo().join(format!("benches/queries/q{n}.sql"));
        let args = ["sql", "--format", "csv", "-f", file.to_str().unwrap()];
        let (one, _) = ok(convlake(&lake, &args));
        let (many, _) = ok(across(&lake, &workers, &args));
        assert!(one.lines().count() > 1, "q{n} answers rows: {one}");
        assert_same_table(&one, &many, &format!("q{n}"));
    }
    // EXPLAIN shows the stages, and the workers they run on.
    let q1 = std::fs::read_to_string(repo().join("benches/queries/q1.sql")).unwrap();
    let (explained, _) = ok(across(&lake, &workers, &["sql", &format!("EXPLAIN {q1}")]));
    assert!(
        explained.contains("Stage") && explained.contains("DistributedExec"),
        "{explained}"
    );
    assert!(
        explained.contains(&w1.addr) && explained.contains(&w2.addr),
        "{explained}"
    );

    // Every report, over the lake's whole span.
    let interval = "2026-10-01T00:00:00Z/2027-02-01T00:00:00Z";
    let (one_dir, many_dir) = (dir.path().join("one"), dir.path().join("many"));
    let report = |out: &Path| {
        vec![
            "report".to_string(),
            "run".into(),
            "--all".into(),
            "--interval".into(),
            interval.into(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ]
    };
    let args = report(&one_dir);
    ok(convlake(
        &lake,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let args = report(&many_dir);
    ok(across(
        &lake,
        &workers,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    let mut reports = 0;
    for entry in std::fs::read_dir(&one_dir).unwrap().flatten() {
        let name = entry.file_name();
        let one = std::fs::read_to_string(entry.path()).unwrap();
        let many = std::fs::read_to_string(many_dir.join(&name)).unwrap();
        assert_same_table(&one, &many, &name.to_string_lossy());
        reports += 1;
    }
    assert!(reports >= 10, "{reports} reports ran");

    // A Genesys aggregate and a detail query.
    let bodies = [
        (
            "aggregate",
            r#"{"interval": "2026-11-01T00:00:00Z/2026-12-01T00:00:00Z", "granularity": "P1D", "groupBy": ["queueId"], "metrics": ["nOffered", "tHandle", "tTalk", "nTransferred"]}"#,
        ),
        (
            "details",
            r#"{"interval": "2026-11-01T00:00:00Z/2026-11-08T00:00:00Z", "paging": {"pageSize": 50, "pageNumber": 2}}"#,
        ),
    ];
    for (command, body) in bodies {
        let path = dir.path().join(format!("{command}-{}.json", body.len()));
        std::fs::write(&path, body).unwrap();
        let path = path.to_string_lossy().into_owned();
        let (one, _) = ok(convlake(&lake, &[command, &path]));
        let (many, _) = ok(across(&lake, &workers, &[command, &path]));
        let (one, many): (serde_json::Value, serde_json::Value) = (
            serde_json::from_str(&one).unwrap(),
            serde_json::from_str(&many).unwrap(),
        );
        assert!(one.to_string().len() > 200, "{command}: {one}");
        assert_eq!(normalised(&one), normalised(&many), "{command}");
    }

    // With the workers stopped, the same statement fails and says why.
    let addrs = [w1.addr.clone(), w2.addr.clone()];
    drop((w1, w2));
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let out = across(
        &lake,
        &addrs,
        &["sql", &format!("SELECT 1 AS n FROM ({q1})")],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot be reached") && stderr.contains("convlake worker"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains(SECRET) && !stderr.contains(WORKER_SECRET)
    );
}

/// `value` with its numbers rounded to 9 significant digits (sums split over tasks).
fn normalised(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap();
            serde_json::json!(format!("{f:.9e}"))
        }
        serde_json::Value::Array(items) => items.iter().map(normalised).collect(),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), normalised(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

#[test]
fn a_worker_runs_nothing_for_a_client_without_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_of_two_months(dir.path(), "distributed-secret");
    let worker = start_worker(&lake);
    let sql = "SELECT count(DISTINCT conversation_id) FROM sessions";
    // The wrong secret: refused by the worker.
    let mut wrong = across(
        &lake,
        &[worker.addr.as_str(), worker.addr.as_str()],
        &["sql", sql],
    );
    wrong.env("CONVLAKE_WORKER_SECRET", "not-the-worker-secret-at-all");
    let out = wrong.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("shared secret"), "{stderr}");
    assert!(
        !stderr.contains(WORKER_SECRET) && !stderr.contains("not-the-worker-secret"),
        "{stderr}"
    );
    // No secret, or one too short to be one: the coordinator says what to set.
    for secret in [None, Some("short")] {
        let mut command = across(
            &lake,
            &[worker.addr.as_str(), worker.addr.as_str()],
            &["sql", sql],
        );
        match secret {
            None => command.env_remove("CONVLAKE_WORKER_SECRET"),
            Some(s) => command.env("CONVLAKE_WORKER_SECRET", s),
        };
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("CONVLAKE_WORKER_SECRET"),
            "{stderr}"
        );
    }
    // And the right secret works.
    let (answer, _) = ok(across(
        &lake,
        &[worker.addr.as_str(), worker.addr.as_str()],
        &["sql", "--format", "csv", sql],
    ));
    assert!(answer.lines().count() == 2, "{answer}");
}

#[test]
fn a_worker_killed_mid_statement_fails_the_statement_and_says_so() {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let lake = lake_of_two_months(dir.path(), "distributed-killed");
    // The second worker reads the lake through a proxy that holds every read of a data file
    // for a while: the statement is certainly running on it when it is killed.
    let (port, seen) = crate::throttled::throttling_proxy(crate::throttled::Throttle {
        stall: Duration::from_secs(3),
        ..Default::default()
    });
    let w1 = start_worker(&lake);
    let mut command = convlake(&lake, &["worker", "--listen", "127.0.0.1:0"]);
    command
        .env("CONVLAKE_WORKER_SECRET", WORKER_SECRET)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let addr = crate::util::announced_address(&mut child, "127.0.0.1:");
    let mut w2 = WorkerProcess { child, addr };

    let q3 = repo().join("benches/queries/q3.sql");
    let started = Instant::now();
    let statement = across(
        &lake,
        &[w1.addr.as_str(), w2.addr.as_str()],
        &["sql", "--format", "csv", "-f", q3.to_str().unwrap()],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    while seen.stalled.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the second worker never read a data file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    w2.child.kill().unwrap();
    w2.child.wait().unwrap();
    let out = statement.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a statement whose worker died answered:\n{stdout}"
    );
    assert!(stdout.trim().is_empty(), "no partial answer: {stdout}");
    assert!(
        stderr.contains(&w2.addr) && stderr.contains("run the statement again"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains(SECRET) && !stderr.contains(WORKER_SECRET),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the failure took {:?}",
        started.elapsed()
    );
}
