//! `convlake serve --pg`: real PostgreSQL clients against the real binary over the fixture
//! lake. psql lists the tables and columns and answers as `convlake sql` does; psycopg and
//! pandas read every table and view with their types; refusals (wrong password, no TLS
//! where TLS is required, writes, the statement timeout, too many sessions) leave the server
//! serving; concurrent clients agree; a long-lived session sees a new commit.
//!
//! psql comes from Debian's `postgresql-client`, installed on first use when missing; psycopg
//! and pandas from the pinned `tests/python/requirements.txt`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use convlake::ingest::discover;
use convlake::lake::upsert::{ingest, IngestOptions};
use serde_json::Value;

use crate::engines::python;
use crate::slt::fixture_lake;
use crate::util::{binary, fixture, repo, sql_rows};

pub(crate) const USER: &str = "analyst";
pub(crate) const PASSWORD: &str = "pg-s3cret";

/// A `convlake serve --pg` child process; killed when dropped.
pub(crate) struct PgServer {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PgServer {
    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A libpq connection string for `user` / `password`.
    pub(crate) fn dsn(&self, user: &str, password: &str, sslmode: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname=convlake user={user} password={password} sslmode={sslmode} connect_timeout=10",
            self.port
        )
    }
}

/// Starts `convlake serve --pg` on a free port over `lake`, with the user `analyst`.
pub(crate) fn serve_pg(lake: &Path, extra: &[&str]) -> PgServer {
    let mut command = Command::new(binary());
    command.arg("--lake").arg(lake);
    start_pg(command, extra)
}

/// Starts `command` (`convlake --lake …` with its environment) as `serve --pg` on a free
/// port, with the user `analyst`.
pub(crate) fn start_pg(mut command: Command, extra: &[&str]) -> PgServer {
    let mut child = command
        .args(["serve", "--pg", "127.0.0.1:0"])
        .args(extra)
        .env("CONVLAKE_PG_USERS", format!("{USER}:{PASSWORD}"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = crate::util::announced_address(&mut child, "127.0.0.1:");
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    PgServer { child, port }
}

/// psql, installed from Debian's postgresql-client when the machine has none.
pub(crate) fn psql_binary() -> PathBuf {
    let found = Command::new("psql").arg("--version").output();
    if !matches!(found, Ok(ref o) if o.status.success()) {
        let lock =
            std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("apt.lock")).unwrap();
        lock.lock().unwrap();
        if !Command::new("psql")
            .arg("--version")
            .status()
            .is_ok_and(|s| s.success())
        {
            let installed = Command::new("sh")
                .args([
                    "-c",
                    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client",
                ])
                .status()
                .expect("apt-get is needed to install psql (postgresql-client)");
            assert!(
                installed.success(),
                "apt-get install postgresql-client failed"
            );
        }
    }
    PathBuf::from("psql")
}

/// Runs psql with `args` against `dsn`: (success, stdout, stderr).
pub(crate) fn psql(dsn: &str, args: &[&str]) -> (bool, String, String) {
    let out: Output = Command::new(psql_binary())
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", dsn])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rows of `query` from psql, unaligned with commas.
pub(crate) fn psql_rows(dsn: &str, query: &str) -> Vec<String> {
    let (ok, out, err) = psql(dsn, &["-A", "-t", "-F", ",", "-c", query]);
    assert!(ok, "psql failed on {query}: {err}");
    out.lines().map(str::to_string).collect()
}

/// Runs `tests/python/pg_client.py MODE DSN` and returns what it printed.
pub(crate) fn pg_client(mode: &str, dsn: &str) -> Value {
    let out = Command::new(python())
        .arg(repo().join("tests/python/pg_client.py"))
        .args([mode, dsn])
        .arg(fixture("pg/bi_startup.sql"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_client.py {mode} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn psql_lists_tables_and_columns_and_answers_as_convlake_sql_does() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &[]);
    let dsn = server.dsn(USER, PASSWORD, "disable");

    let (ok, listing, err) = psql(&dsn, &["-c", "\\d"]);
    assert!(ok, "\\d failed: {err}");
    for name in [
        "conversations",
        "participants",
        "sessions",
        "segments",
        "metrics",
        "conversation_summary",
        "queue_legs",
    ] {
        assert!(
            listing.contains(name),
            "\\d does not list {name}:\n{listing}"
        );
    }
    let (ok, columns, err) = psql(&dsn, &["-c", "\\d participants"]);
    assert!(ok, "\\d participants failed: {err}");
    for column in [
        "conversation_id",
        "purpose",
        "sessions",
        "attributes",
        "conversation_month",
    ] {
        assert!(
            columns.contains(column),
            "\\d participants lacks {column}:\n{columns}"
        );
    }

    // What Metabase, DBeaver and Grafana send on connect and to list tables and columns.
    let startup = fixture("pg/bi_startup.sql");
    let (ok, _, err) = psql(
        &dsn,
        &["-q", "-o", "/dev/null", "-f", startup.to_str().unwrap()],
    );
    assert!(ok, "a BI tool's startup query failed: {err}");

    let queries = [
        "SELECT count(*) FROM conversations",
        "SELECT purpose, count(*) FROM participants GROUP BY purpose ORDER BY purpose",
        "SELECT count(*), sum(duration_ms) FROM conversation_summary",
        "SELECT queue_id, count(*) FROM queue_legs GROUP BY queue_id ORDER BY 2 DESC, 1 LIMIT 3",
        "SELECT format_duration(sum(value)) FROM metrics WHERE name = 'tHandle'",
        "SELECT p.purpose, count(*) FROM participants p CROSS JOIN LATERAL unnest(p.sessions) s GROUP BY p.purpose ORDER BY 1",
        "SELECT version() LIKE '%convlake%'",
    ];
    for query in queries {
        let want = if query.starts_with("SELECT version()") {
            vec!["t".to_string()]
        } else {
            sql_rows(lake, query)
        };
        assert!(!want.is_empty(), "{query}: convlake sql gave nothing");
        assert_eq!(psql_rows(&dsn, query), want, "{query}");
    }

    // The server's own errors are short and say what to do.
    let (ok, _, err) = psql(&dsn, &["-c", "SELECT * FROM converstions"]);
    assert!(!ok && err.contains("converstions"), "{err}");
    assert!(err.len() < 600, "a long error: {err}");
}

#[test]
fn psycopg_and_pandas_read_every_table_and_view_with_their_types() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &[]);
    let read = pg_client("read", &server.dsn(USER, PASSWORD, "disable"));

    let relations = read["relations"].as_object().unwrap();
    for table in [
        "conversations",
        "participants",
        "sessions",
        "segments",
        "metrics",
    ] {
        assert!(
            relations.contains_key(table),
            "{table} missing: {relations:?}"
        );
    }
    assert!(relations.len() >= 9, "{relations:?}");
    for (name, info) in relations {
        let want = sql_rows(lake, &format!("SELECT count(*) FROM \"{name}\""));
        assert_eq!(info["rows"].to_string(), want[0], "rows of {name}");
    }
    let conversations = &relations["conversations"]["types"];
    assert_eq!(conversations["conversation_start"], "timestamptz");
    assert_eq!(
        conversations["originating_direction"], "text",
        "enums are text"
    );
    assert_eq!(conversations["conversation_id"], "text");
    let participants = &relations["participants"]["types"];
    assert_eq!(participants["attributes"], "text", "maps are JSON text");
    assert_eq!(
        participants["sessions"], "text",
        "nested lists are JSON text"
    );

    let values = &read["values"];
    let conv = "'1bc96a39-6725-40c4-9345-db72aa67b8c6'";
    let start = sql_rows(
        lake,
        &format!("SELECT to_char(conversation_start, '%Y-%m-%dT%H:%M:%S%.f') FROM conversations WHERE conversation_id = {conv}"),
    );
    let got = values["conversation_start"].as_str().unwrap();
    assert!(
        got.starts_with(start[0].trim_end_matches('0').trim_end_matches('.')),
        "{got} vs {start:?}"
    );
    let direction = sql_rows(
        lake,
        &format!("SELECT originating_direction FROM conversations WHERE conversation_id = {conv}"),
    );
    assert_eq!(values["originating_direction"], direction[0].as_str());
    let media = sql_rows(
        lake,
        &format!("SELECT purpose, sessions[1]['media_type'] FROM participants WHERE conversation_id = {conv} ORDER BY purpose"),
    );
    let got: Vec<String> = values["session_media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            format!(
                "{},{}",
                pair[0].as_str().unwrap(),
                pair[1].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(got, media);
    let count = sql_rows(lake, "SELECT count(*) FROM conversations");
    assert_eq!(values["binary_count"].to_string(), count[0]);
    assert!(
        values["startup_statements"].as_u64().unwrap() > 25,
        "{values}"
    );
}

#[test]
fn refusals_leave_the_server_serving() {
    let lake = fixture_lake();
    let server = serve_pg(
        lake,
        &["--pg-statement-timeout", "2", "--pg-session-memory", "16M"],
    );
    let refused = pg_client("refusals", &server.dsn(USER, PASSWORD, "disable"));
    let count = sql_rows(lake, "SELECT count(*) FROM conversations");
    assert_eq!(refused["after_writes"].to_string(), count[0]);
    assert_eq!(refused["stolen"], 0, "{refused}");
    assert_eq!(refused["after_timeout"].to_string(), count[0]);
    assert_eq!(refused["after_memory"].to_string(), count[0]);
    assert_eq!(refused["spilled_sort"], 3_000_000);
    assert!(
        refused["memory"]
            .as_str()
            .unwrap()
            .contains("--pg-session-memory"),
        "{refused}"
    );
    assert!(
        refused["DROP TABLE metrics"]
            .as_str()
            .unwrap()
            .contains("cannot execute DROP TABLE"),
        "{refused}"
    );
    assert!(
        refused["wrong_password"]
            .as_str()
            .unwrap()
            .contains("password authentication failed"),
        "{refused}"
    );
    for key in [
        "INSERT INTO conversations (conversation_id) VALUES ('x')",
        "DROP TABLE metrics",
    ] {
        assert!(
            refused[key].as_str().unwrap().contains("read-only"),
            "{refused}"
        );
    }
    assert!(
        refused["timeout"]
            .as_str()
            .unwrap()
            .contains("statement timeout"),
        "{refused}"
    );
    // The server is alive for a new client.
    assert_eq!(
        psql_rows(
            &server.dsn(USER, PASSWORD, "disable"),
            "SELECT count(*) FROM conversations"
        ),
        count
    );
}

#[test]
fn concurrent_clients_get_the_answers_of_a_lone_client() {
    let server = serve_pg(fixture_lake(), &["--pg-max-sessions", "16"]);
    let out = pg_client("concurrent", &server.dsn(USER, PASSWORD, "disable"));
    assert_eq!(out["answers"], 18);
}

#[test]
fn tls_is_required_when_a_certificate_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes the test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let lake = fixture_lake();
    let server = serve_pg(
        lake,
        &[
            "--pg-tls-cert",
            cert.to_str().unwrap(),
            "--pg-tls-key",
            key.to_str().unwrap(),
        ],
    );
    let count = sql_rows(lake, "SELECT count(*) FROM conversations");
    assert_eq!(
        psql_rows(
            &server.dsn(USER, PASSWORD, "require"),
            "SELECT count(*) FROM conversations"
        ),
        count
    );
    let (ok, _, err) = psql(&server.dsn(USER, PASSWORD, "disable"), &["-c", "SELECT 1"]);
    assert!(
        !ok && err.contains("TLS"),
        "a plain connection got in: {err}"
    );
    assert_eq!(
        psql_rows(
            &server.dsn(USER, PASSWORD, "require"),
            "SELECT count(*) FROM conversations"
        ),
        count,
        "the server stops serving after a refusal"
    );
}

#[test]
fn trust_local_and_the_session_cap() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &["--pg-trust-local", "--pg-max-sessions", "1"]);
    let count = sql_rows(lake, "SELECT count(*) FROM conversations");
    let trusted = format!(
        "host=127.0.0.1 port={} dbname=convlake user=anyone sslmode=disable",
        server.port
    );
    assert_eq!(
        psql_rows(&trusted, "SELECT count(*) FROM conversations"),
        count
    );

    // One session held open; a second is refused, and gets in once the first has gone.
    let mut held = Interactive::start(&trusted);
    assert_eq!(held.query("SELECT count(*) FROM conversations;"), count[0]);
    let (ok, _, err) = psql(&trusted, &["-c", "SELECT 1"]);
    assert!(!ok && err.contains("too many connections"), "{err}");
    drop(held);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        psql_rows(&trusted, "SELECT count(*) FROM conversations"),
        count
    );
}

#[test]
fn a_long_lived_session_sees_new_commits() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let first = ingest(
        &convlake::Lake::local(&lake),
        discover(&[fixture("genesys")]).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    let server = serve_pg(&lake, &[]);
    let dsn = server.dsn(USER, PASSWORD, "disable");
    let mut session = Interactive::start(&dsn);
    let before = session.query("SELECT count(*) FROM conversations;");
    assert_eq!(before, first.stored.to_string());
    // A prepared statement (extended protocol) of a psycopg connection, prepared before.
    let mut prepared = Command::new(python())
        .arg(repo().join("tests/python/pg_client.py"))
        .args(["prepared", &dsn])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut prepared_out = BufReader::new(prepared.stdout.take().unwrap());
    let mut line = String::new();
    prepared_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), before, "prepared statement before the commit");
    let second = ingest(
        &convlake::Lake::local(&lake),
        discover(&[fixture("slt")]).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    assert!(second.stored > 0);
    let after = session.query("SELECT count(*) FROM conversations;");
    assert_eq!(
        after,
        sql_rows(&lake, "SELECT count(*) FROM conversations")[0]
    );
    assert_ne!(after, before);
    let stdin = prepared.stdin.as_mut().unwrap();
    writeln!(stdin).unwrap();
    stdin.flush().unwrap();
    line.clear();
    prepared_out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        after,
        "the prepared statement after the commit"
    );
    writeln!(prepared.stdin.as_mut().unwrap()).unwrap();
    assert!(prepared.wait().unwrap().success());
    let view = session.query("SELECT count(*) FROM conversation_summary;");
    assert_eq!(view, after, "views follow the commit too");
}

/// psql in one long session, fed statements on stdin.
struct Interactive {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Interactive {
    fn start(dsn: &str) -> Interactive {
        let mut child = Command::new(psql_binary())
            .args(["-X", "-A", "-t", "-q", "-d", dsn])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Interactive { child, out }
    }

    /// The first line `statement` prints.
    fn query(&mut self, statement: &str) -> String {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{statement}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_string()
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
