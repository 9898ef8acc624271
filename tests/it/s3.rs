//! Lakes on object storage: the real CLI against a local S3 server (moto's server mode, from
//! the pinned `tests/python/requirements.txt`), started once on 127.0.0.1 and a free port and
//! stopped when the tests end; each test has a bucket of its own. The same commands run on a
//! local directory beside, and both lakes must hold the same rows at every step.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use convlake::generate::{write_export, ExportFormat, GenerateOptions};
use convlake::schema::Table;

use crate::util::*;

/// The secret key the tests give convlake: it must never show in any output.
pub(crate) const SECRET: &str = "test-secret-never-printed-7f3a";

pub(crate) struct Moto {
    pub(crate) port: u16,
    // Held open for the life of the test process: the server stops when it closes.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// The local S3 server shared by the tests of this process.
pub(crate) fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let mut child = Command::new(crate::engines::python())
            .arg(repo().join("tests/python/moto_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the local S3 server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto printed {line:?}, not a port"));
        Moto {
            port,
            _stdin: Mutex::new(child.stdin.take().unwrap()),
            _child: Mutex::new(child),
        }
    })
}

/// A new empty bucket named `name` on the local server.
pub(crate) fn bucket(name: &str) -> String {
    let port = moto().port;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    format!("s3://{name}/lake")
}

/// Stores `bytes` as the object `key` of `bucket` on the local server.
fn put_object(bucket: &str, key: &str, bytes: &[u8]) {
    let port = moto().port;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{bucket}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .unwrap();
    stream.write_all(bytes).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

/// `convlake --lake LAKE ARGS…` with the S3 settings of the local server in its environment.
pub(crate) fn convlake(lake: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", moto().port),
        )
        .env("AWS_ALLOW_HTTP", "true")
        .env_remove("CONVLAKE_LAKE")
        .args(["--lake", lake])
        .args(args);
    command
}

/// Runs a command that must succeed; returns its stdout and stderr, checked for the secret.
pub(crate) fn ok(mut command: Command) -> (String, String) {
    let out = run_ok(&mut command);
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    (stdout, stderr)
}

/// Every row of every table, as sorted JSON lines (ingest time left out: it differs between
/// runs by design; and with `without_source`, the name of the input each record came from).
pub(crate) fn rows(lake: &str) -> BTreeMap<&'static str, Vec<String>> {
    rows_but(lake, false)
}

fn rows_but(lake: &str, without_source: bool) -> BTreeMap<&'static str, Vec<String>> {
    Table::ALL
        .iter()
        .map(|t| {
            let query = if *t == Table::RawConversations && without_source {
                format!(
                    "SELECT * EXCLUDE (ingested_at, source_file) FROM {}",
                    t.name()
                )
            } else if *t == Table::RawConversations {
                format!("SELECT * EXCLUDE (ingested_at) FROM {}", t.name())
            } else {
                format!("SELECT * FROM {}", t.name())
            };
            let (out, _) = ok(convlake(lake, &["sql", "--format", "ndjson", &query]));
            let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
            lines.sort();
            (t.name(), lines)
        })
        .collect()
}

pub(crate) fn assert_same_rows(
    got: &BTreeMap<&str, Vec<String>>,
    want: &BTreeMap<&str, Vec<String>>,
) {
    for (table, rows) in want {
        assert_eq!(got[table].len(), rows.len(), "rows of {table}");
        assert!(got[table] == *rows, "{table} differs");
    }
}

/// An export of `n` conversations from `seed`, some re-exported later (`reexport` beside it).
pub(crate) fn export(dir: &Path, n: u64, seed: u64, reexport_share: f64) -> String {
    let out = dir.join(format!("export-{seed}.ndjson"));
    write_export(
        &GenerateOptions {
            conversations: n,
            seed,
            reexport_share,
            ..Default::default()
        },
        ExportFormat::Ndjson,
        100,
        false,
        &out,
    )
    .unwrap();
    out.to_string_lossy().into_owned()
}

#[test]
fn a_lake_on_s3_answers_like_a_local_one_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("round-trip");
    let local = dir.path().join("lake").to_string_lossy().into_owned();
    let first = export(dir.path(), 400, 31, 0.3);
    let reexport = dir.path().join("export-31.reexport.ndjson");
    let reexport = if reexport.exists() {
        reexport.to_string_lossy().into_owned()
    } else {
        export(dir.path(), 200, 32, 0.0)
    };
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"conversationId\": 7}\nnot json\n").unwrap();
    let bad = bad.to_string_lossy().into_owned();

    let steps: Vec<Vec<&str>> = vec![
        vec!["ingest", "--keep-history", "P1D", "--no-compact", &first],
        vec!["ingest", "--no-compact", &reexport, &bad],
        vec!["ingest", &first],
        vec!["optimize"],
        vec!["vacuum"],
    ];
    for step in &steps {
        let (_, on_s3) = ok(convlake(&s3, step));
        ok(convlake(&local, step));
        assert_same_rows(&rows(&s3), &rows(&local));
        if step[0] == "ingest" && step.contains(&bad.as_str()) {
            assert!(
                on_s3.contains("rejected records are in s3://round-trip/lake/_convlake/rejects/"),
                "{on_s3}"
            );
        }
        if step == &steps[2] {
            assert!(
                on_s3.contains("nothing changed"),
                "the same export twice: {on_s3}"
            );
        }
    }
    // Time travel: version 1 is the first ingest alone.
    let all = "SELECT * FROM conversations ORDER BY conversation_id";
    let (then_s3, _) = ok(convlake(
        &s3,
        &["sql", "--format", "ndjson", "--as-of", "1", all],
    ));
    let (then_local, _) = ok(convlake(
        &local,
        &["sql", "--format", "ndjson", "--as-of", "1", all],
    ));
    let (now_s3, _) = ok(convlake(&s3, &["sql", "--format", "ndjson", all]));
    assert!(
        then_s3 == then_local,
        "version 1 differs between S3 and local"
    );
    assert!(then_s3 != now_s3, "the re-export changed nothing");
    // Reports read the same.
    let interval = "2026-11-02T00:00:00Z/2026-11-09T00:00:00Z";
    for (lake, out) in [(&s3, "s3-reports"), (&local, "local-reports")] {
        let out = dir.path().join(out).to_string_lossy().into_owned();
        ok(convlake(
            lake,
            &[
                "report",
                "run",
                "--all",
                "--interval",
                interval,
                "--out",
                &out,
            ],
        ));
    }
    for entry in std::fs::read_dir(dir.path().join("local-reports")).unwrap() {
        let entry = entry.unwrap();
        let theirs = std::fs::read(dir.path().join("s3-reports").join(entry.file_name())).unwrap();
        assert!(
            std::fs::read(entry.path()).unwrap() == theirs,
            "{:?}",
            entry.file_name()
        );
    }
}

/// Runs one `convlake ingest ARGS… INPUT` per input, all at once, the first held for a few
/// seconds right before its commit (so that the others commit first from the same state);
/// returns their outputs.
fn ingest_at_once(lake: &str, args: &[&str], inputs: &[&str]) -> Vec<std::process::Output> {
    let children: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let mut command = convlake(lake, &["ingest", "--no-compact"]);
            if i == 0 {
                command.env("CONVLAKE_TEST_HOLD_BEFORE_COMMIT_MS", "6000");
            }
            command
                .args(args)
                .arg(input)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

#[test]
fn concurrent_ingests_on_s3_end_as_if_run_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("concurrent");
    let a = export(dir.path(), 300, 41, 0.0);
    let b = export(dir.path(), 300, 42, 0.0);
    // Without --wait, one may lose: it must say so and leave nothing of its own.
    let outputs = ingest_at_once(&s3, &[], &[&a, &b]);
    let mut succeeded = Vec::new();
    for (input, out) in [&a, &b].iter().zip(&outputs) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            succeeded.push(*input);
        } else {
            assert!(
                stderr.contains("another writer committed lake version"),
                "{stderr}"
            );
        }
    }
    // The first was held before its commit while the second committed from the same state:
    // a conflict happened, and the first, not the second, lost it.
    assert_eq!(succeeded, [&b], "the held writer loses, the other commits");
    // The lake equals the successful ingests run one after the other on a local lake.
    let local = dir.path().join("serial").to_string_lossy().into_owned();
    for input in &succeeded {
        ok(convlake(&local, &["ingest", "--no-compact", input]));
    }
    assert_same_rows(&rows(&s3), &rows(&local));
    // With --wait, both commit, whatever the order.
    let s3 = bucket("concurrent-wait");
    for out in ingest_at_once(&s3, &["--wait"], &[&a, &b]) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let local = dir.path().join("both").to_string_lossy().into_owned();
    ok(convlake(&local, &["ingest", "--no-compact", &a]));
    ok(convlake(&local, &["ingest", "--no-compact", &b]));
    assert_same_rows(&rows(&s3), &rows(&local));
}

#[test]
fn a_killed_ingest_on_s3_leaves_the_old_state_and_the_next_one_converges() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket("killed");
    let early = export(dir.path(), 300, 51, 0.5);
    let later = export(dir.path(), 300, 52, 0.0);
    ok(convlake(&s3, &["ingest", &early]));
    let before = rows(&s3);
    for after_commits in ["1", "3"] {
        // A killed ingest on object storage leaves its local work files in the system's
        // temporary directory (nothing names them for the next writer): keep them here.
        let status = convlake(&s3, &["ingest", &later])
            .env("CONVLAKE_TEST_CRASH_AFTER_COMMITS", after_commits)
            .env("TMPDIR", dir.path())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "no crash after {after_commits} commits");
        assert_same_rows(&rows(&s3), &before);
    }
    ok(convlake(&s3, &["ingest", &later]));
    let local = dir.path().join("reference").to_string_lossy().into_owned();
    ok(convlake(&local, &["ingest", &early]));
    ok(convlake(&local, &["ingest", &later]));
    assert_same_rows(&rows(&s3), &rows(&local));
}

#[test]
fn bad_storage_configuration_says_what_to_fix_without_showing_secrets() {
    let s3 = bucket("config");
    let fails = |mut command: Command| -> String {
        let out = command.output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains(SECRET), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    let query = ["sql", "SELECT 1"];
    // A bucket that does not exist.
    let stderr = fails(convlake("s3://no-such-bucket/lake", &query));
    assert!(stderr.contains("the bucket does not exist"), "{stderr}");
    // A server that does not run.
    let mut command = convlake(&s3, &query);
    command.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let stderr = fails(command);
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    // Plain http without allowing it.
    let mut command = convlake(&s3, &query);
    command.env_remove("AWS_ALLOW_HTTP");
    let stderr = fails(command);
    assert!(stderr.contains("AWS_ALLOW_HTTP=true"), "{stderr}");
    // No credentials.
    let mut command = convlake(&s3, &query);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let stderr = fails(command);
    assert!(stderr.contains("AWS_ACCESS_KEY_ID"), "{stderr}");
    // A setting that does not exist.
    let stderr = fails(convlake(
        &s3,
        &["--storage-option", "aws_no_such_thing=1", "sql", "SELECT 1"],
    ));
    assert!(stderr.contains("aws_no_such_thing"), "{stderr}");
    // Settings on the command line work like the environment.
    let mut command = convlake(
        &s3,
        &[
            "--storage-option",
            "allow_http=true",
            "ingest",
            "--no-compact",
        ],
    );
    command.env_remove("AWS_ALLOW_HTTP");
    let dir = tempfile::tempdir().unwrap();
    command.arg(export(dir.path(), 50, 61, 0.0));
    ok(command);
}

#[test]
fn exports_stored_under_a_prefix_are_ingested_like_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = bucket("exports").replace("/lake", "");
    let plain = export(dir.path(), 200, 71, 0.0);
    let other = export(dir.path(), 200, 72, 0.0);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"conversationId\": \"x\", \"participants\": 7}]").unwrap();
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzipped.write_all(&std::fs::read(&other).unwrap()).unwrap();
    put_object(
        "exports",
        "exports/2026/11/a.ndjson",
        &std::fs::read(&plain).unwrap(),
    );
    put_object(
        "exports",
        "exports/2026/11/b.ndjson.gz",
        &gzipped.finish().unwrap(),
    );
    put_object(
        "exports",
        "exports/2026/11/c.json",
        &std::fs::read(&bad).unwrap(),
    );
    put_object("exports", "exports/2026/11/notes.txt", b"not an export");
    put_object(
        "exports",
        "exports/2026/12/later.ndjson",
        &std::fs::read(&other).unwrap(),
    );

    let from_s3 = dir.path().join("from-s3").to_string_lossy().into_owned();
    let (_, summary) = ok(convlake(
        &from_s3,
        &["ingest", &format!("{lake}/exports/2026/11/")],
    ));
    assert!(summary.contains("ingested 3 file(s)"), "{summary}");
    let local = dir.path().join("local").to_string_lossy().into_owned();
    ok(convlake(
        &local,
        &["ingest", &plain, &other, bad.to_str().unwrap()],
    ));
    assert_same_rows(&rows_but(&from_s3, true), &rows_but(&local, true));
    // Records and rejects name the object they came from.
    let (sources, _) = ok(convlake(
        &from_s3,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT DISTINCT source_file FROM raw_conversations ORDER BY 1",
        ],
    ));
    assert_eq!(
        sources,
        "source_file\ns3://exports/exports/2026/11/a.ndjson\ns3://exports/exports/2026/11/b.ndjson.gz\n"
    );
    let rejects = std::fs::read_dir(Path::new(&from_s3).join("_convlake/rejects"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(
        rejects.contains("s3://exports/exports/2026/11/c.json"),
        "{rejects}"
    );
    // One object by its URL; a prefix with no exports is an error that says so.
    let one = dir.path().join("one").to_string_lossy().into_owned();
    let (_, summary) = ok(convlake(
        &one,
        &["ingest", &format!("{lake}/exports/2026/12/later.ndjson")],
    ));
    assert!(summary.contains("200 new"), "{summary}");
    let out = convlake(&one, &["ingest", &format!("{lake}/nothing/here/")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no .json, .ndjson or .jsonl objects"));
}
