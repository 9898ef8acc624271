//! `convlake serve --pg` tried as an attacker on the network would, against the real binary:
//! psql's simple protocol with quoted and odd spellings, cursors and multi-statement strings
//! (no relation appears for another session, no limit is lifted); connections that never log
//! in (a real user still gets in); the SCRAM challenge of unknown users (it cannot be told
//! from a real user's); and what the refusals leave working (cursors, COPY).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::pg::{pg_client, psql, psql_binary, psql_rows, serve_pg, PASSWORD, USER};
use crate::slt::fixture_lake;
use crate::util::{connect_from, sql_rows};

/// Runs each of `statements` in one psql session, going on after errors: (stdout, stderr).
fn psql_session(dsn: &str, statements: &[&str]) -> (String, String) {
    let mut command = Command::new(psql_binary());
    command.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=0", "-d", dsn]);
    for s in statements {
        command.args(["-c", s]);
    }
    let out = command.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn simple_protocol_probes_change_nothing_and_lift_no_limit() {
    let lake = fixture_lake();
    let server = serve_pg(
        lake,
        &["--pg-statement-timeout", "3", "--pg-session-memory", "16M"],
    );
    let dsn = server.dsn(USER, PASSWORD, "disable");
    let probes = [
        ("BEGIN; DECLARE c CURSOR FOR SELECT conversation_id INTO stolen FROM raw_conversations; FETCH 1 FROM c; COMMIT;", "read-only"),
        ("SELECT conversation_id INTO stolen FROM raw_conversations", "read-only"),
        ("select conversation_id into STOLEN from raw_conversations", "read-only"),
        ("SELECT 1; CREATE TABLE stolen AS SELECT 1", "read-only"),
        ("CREATE VIEW stolen AS SELECT 1", "read-only"),
        ("WITH s AS (SELECT 1 AS a INTO stolen) SELECT * FROM s", "read-only"),
        ("SELECT * FROM (SELECT 1 AS a) s UNION SELECT 2 INTO stolen", "read-only"),
        ("EXPLAIN ANALYZE CREATE TABLE stolen AS SELECT 1", "read-only"),
        ("COPY (SELECT 1) TO '/tmp/stolen'", "read-only"),
        ("COPY participants FROM STDIN", "read-only"),
        ("SET \"datafusion.runtime.memory_limit\" = '1000G'", "permission denied"),
        ("SET \"datafusion\".\"runtime\".\"temp_directory\" = '/'", "permission denied"),
        ("SET SESSION datafusion.runtime.memory_limit = '1000G'", "permission denied"),
        ("SET LOCAL \"DataFusion.Runtime.Memory_Limit\" TO '1000G'", "permission denied"),
        ("SET datafusion.execution.target_partitions = 100000", "permission denied"),
        ("SET ROLE postgres", "permission denied"),
    ];
    for (probe, want) in probes {
        let (ok, _, err) = psql(&dsn, &["-c", probe]);
        assert!(!ok && err.contains(want), "{probe} was not refused: {err}");
    }
    // A chain of 5,000 ORs (20 KB of SQL) is refused before planning, and the server lives.
    let terms: Vec<String> = (0..5000).map(|i| format!("value = {i}")).collect();
    let chain = format!("SELECT count(*) FROM metrics WHERE {}", terms.join(" OR "));
    let (ok, _, err) = psql(&dsn, &["-c", &chain]);
    assert!(!ok && err.contains("statement too complex"), "{err}");
    // Another session sees no relation the probes tried to make.
    let stolen =
        "SELECT count(*) FROM information_schema.tables WHERE lower(table_name) = 'stolen'";
    assert_eq!(psql_rows(&dsn, stolen), vec!["0"]);

    // In one session, the refused settings leave its limits where they were: the memory
    // limit still stops a query over it, the statement timeout still stops a long one.
    let (out, err) = psql_session(
        &dsn,
        &[
            "SET \"datafusion.runtime.memory_limit\" = '1000G'",
            "SET SESSION datafusion.runtime.memory_limit = '1000G'",
            "SET statement_timeout = 0",
            "SELECT cardinality(array_agg(v)) FROM generate_series(1, 20000000) t(v)",
            "SELECT count(*) FROM generate_series(1, 20000000000)",
            stolen,
        ],
    );
    assert!(
        err.contains("--pg-session-memory"),
        "memory limit lifted: {err}"
    );
    assert!(err.contains("statement timeout"), "timeout lifted: {err}");
    assert_eq!(out.trim(), "0", "{out}");
}

#[test]
fn cursors_and_copy_run_as_bounded_queries() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &["--pg-statement-timeout", "3"]);
    let dsn = server.dsn(USER, PASSWORD, "disable");
    let query =
        "SELECT conversation_id, purpose FROM participants ORDER BY conversation_id, purpose";
    let want = sql_rows(lake, query);
    assert!(want.len() > 3);

    // A cursor over a query: FETCH pages through the same rows convlake sql gives.
    let (ok, out, err) = psql(
        &dsn,
        &[
            "-A",
            "-t",
            "-F",
            ",",
            "-c",
            &format!("BEGIN; DECLARE c CURSOR FOR {query}; FETCH 2 FROM c; FETCH 1 FROM c; CLOSE c; COMMIT;"),
        ],
    );
    assert!(ok, "{err}");
    let fetched: Vec<&str> = out.lines().filter(|l| l.contains(',')).collect();
    assert_eq!(
        fetched,
        want[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // A session holds at most 8 open cursors; closing one makes room.
    let declares: String = (0..9)
        .map(|i| format!("DECLARE c{i} CURSOR FOR {query}; "))
        .collect();
    let (ok, _, err) = psql(&dsn, &["-c", &format!("BEGIN; {declares}COMMIT;")]);
    assert!(!ok && err.contains("too many open cursors"), "{err}");
    let (ok, _, err) = psql(
        &dsn,
        &[
            "-c",
            &format!(
                "BEGIN; {}CLOSE c0; DECLARE c8 CURSOR FOR {query}; FETCH 1 FROM c8; COMMIT;",
                &declares[..declares.rfind("DECLARE c8").unwrap()]
            ),
        ],
    );
    assert!(ok, "{err}");

    // A cursor's query is under the statement timeout too.
    let (ok, _, err) = psql(
        &dsn,
        &[
            "-c",
            "BEGIN; DECLARE slow CURSOR FOR SELECT count(*) FROM generate_series(1, 20000000000); FETCH 1 FROM slow; COMMIT;",
        ],
    );
    assert!(!ok && err.contains("statement timeout"), "{err}");

    // COPY (query) TO STDOUT as psql's \copy and scripts use it, CSV with a header.
    let (ok, out, err) = psql(
        &dsn,
        &["-c", &format!("COPY ({query}) TO STDOUT WITH CSV HEADER")],
    );
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("conversation_id,purpose"));
    assert_eq!(lines.map(str::to_string).collect::<Vec<_>>(), want);

    // Binary and text COPY through psycopg, in the formats connectorx, Polars and ADBC
    // read: the same rows.
    let copied = pg_client("copy", &dsn);
    let rows: Vec<String> = copied["binary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{},{}", r[0].as_str().unwrap(), r[1].as_str().unwrap()))
        .collect();
    assert_eq!(rows, want, "binary COPY");
    assert_eq!(copied["text_rows"], want.len(), "text COPY");
    assert_eq!(copied["empty_binary_rows"], 0, "{copied}");
}

/// A PostgreSQL startup message for `user` (protocol 3.0).
pub(crate) fn startup_message(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "convlake")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

/// Reads one backend message: (type, body).
pub(crate) fn read_message(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).unwrap();
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).unwrap();
    (head[0], body)
}

/// The salt the server's SCRAM challenge gives `user` (the first step of a login, which
/// needs no password).
fn scram_salt(port: u16, user: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&startup_message(user)).unwrap();
    let (kind, body) = read_message(&mut stream);
    assert_eq!(kind, b'R');
    assert_eq!(&body[..4], &10u32.to_be_bytes(), "SASL is offered");
    let first = b"n,,n=,r=clientnonce0123456789";
    let mut message = b"SCRAM-SHA-256\0".to_vec();
    message.extend_from_slice(&(first.len() as u32).to_be_bytes());
    message.extend_from_slice(first);
    let mut framed = vec![b'p'];
    framed.extend_from_slice(&((message.len() + 4) as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    stream.write_all(&framed).unwrap();
    let (kind, body) = read_message(&mut stream);
    assert_eq!(kind, b'R');
    assert_eq!(&body[..4], &11u32.to_be_bytes(), "SASL continue");
    let text = String::from_utf8(body[4..].to_vec()).unwrap();
    text.split(',')
        .find_map(|p| p.strip_prefix("s="))
        .unwrap_or_else(|| panic!("no salt in {text}"))
        .to_string()
}

#[test]
fn unknown_users_cannot_be_told_from_real_ones_by_their_salt() {
    let server = serve_pg(fixture_lake(), &[]);
    let real = scram_salt(server.port, USER);
    assert_eq!(real, scram_salt(server.port, USER));
    let nobody = scram_salt(server.port, "nobody");
    assert_eq!(
        nobody,
        scram_salt(server.port, "nobody"),
        "stable, as a real one"
    );
    assert_ne!(
        nobody,
        scram_salt(server.port, "somebody"),
        "each name its own"
    );
    assert_eq!(nobody.len(), real.len());
}

#[test]
fn connections_that_never_log_in_keep_no_one_out() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &["--pg-max-sessions", "24"]);
    let dsn = server.dsn(USER, PASSWORD, "disable");
    let count = sql_rows(lake, "SELECT count(*) FROM conversations");
    // More silent connections than the server lets wait at once, from three other
    // addresses, and some that started a login and stopped half-way; the real user connects
    // from 127.0.0.1.
    let silent: Vec<TcpStream> = (2..5)
        .flat_map(|host| {
            (0..60).map(move |_| connect_from(&format!("127.0.0.{host}"), server.port))
        })
        .collect();
    let half: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect_from("127.0.0.20", server.port);
            s.write_all(&startup_message(USER)).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A real user logs in, and so does a BI tool opening a pool of 20 connections at once from
    // one address (more than the 16 of an address that may log in at a time: the rest wait).
    let started = Instant::now();
    assert_eq!(psql_rows(&dsn, "SELECT count(*) FROM conversations"), count);
    let pool: Vec<Vec<String>> = std::thread::scope(|scope| {
        let logins: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| psql_rows(&dsn, "SELECT count(*) FROM conversations")))
            .collect();
        logins.into_iter().map(|l| l.join().unwrap()).collect()
    });
    assert!(pool.iter().all(|rows| rows == &count), "{pool:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The server drops what did not log in within its login timeout (10 s).
    for mut s in half.into_iter().chain(silent.into_iter().take(20)) {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 512];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break started.elapsed(),
                Ok(_) => continue,
            }
        };
        assert!(closed < Duration::from_secs(18), "kept open for {closed:?}");
    }
}
