//! The bounds of one `convlake serve --pg` connection, tried against the real binary: a
//! message announcing a gigabyte (before and after login) is refused from its header, a
//! session that sends nothing is closed at the idle timeout and its slot goes to the next
//! user, and a client that stops reading a result holds its slot no longer than the stall
//! limit; functions that would build gigabytes from a few bytes of SQL are refused before
//! they allocate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::pg::{psql, psql_binary, psql_rows, serve_pg, PASSWORD, USER};
use crate::pg_attacks::{read_message, startup_message};
use crate::slt::fixture_lake;

/// The SQLSTATE of an ErrorResponse body.
fn sqlstate(body: &[u8]) -> String {
    body.split(|b| *b == 0)
        .find_map(|field| field.strip_prefix(b"C"))
        .map(|code| String::from_utf8_lossy(code).into_owned())
        .unwrap_or_default()
}

#[test]
fn a_gigabyte_message_is_refused_from_its_header_before_and_after_login() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &[]);
    let dsn = server.dsn(USER, PASSWORD, "disable");

    // Before login: the SASL offer, then a password message that says it is 1 GB long.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&startup_message(USER)).unwrap();
    assert_eq!(read_message(&mut stream).0, b'R');
    let mut header = vec![b'p'];
    header.extend_from_slice(&(1u32 << 30).to_be_bytes());
    stream.write_all(&header).unwrap();
    let (kind, body) = read_message(&mut stream);
    assert_eq!(kind, b'E', "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        sqlstate(&body),
        "54000",
        "{}",
        String::from_utf8_lossy(&body)
    );
    // And the connection is gone: what follows is not buffered.
    let mut rest = [0u8; 16];
    assert!(matches!(stream.read(&mut rest), Ok(0) | Err(_)));

    // After login: a 17 MB statement ends the session with the same code; a 1 MB one runs.
    let dir = tempfile::tempdir().unwrap();
    let statement = |bytes: usize| {
        let path = dir.path().join(format!("q{bytes}.sql"));
        std::fs::write(&path, format!("SELECT length('{}');", "x".repeat(bytes))).unwrap();
        path
    };
    let (ok, out, err) = psql(
        &dsn,
        &["-A", "-t", "-f", statement(1 << 20).to_str().unwrap()],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), (1 << 20).to_string());
    let (ok, _, err) = psql(
        &dsn,
        &["-A", "-t", "-f", statement(17 << 20).to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("longer than this server takes"), "{err}");
    assert_eq!(
        psql_rows(&dsn, "SELECT 1"),
        ["1"],
        "the server still serves"
    );
}

#[test]
fn an_idle_session_is_closed_and_its_slot_goes_to_the_next_user() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &["--pg-max-sessions", "1", "--pg-idle-timeout", "2"]);
    let dsn = server.dsn(USER, PASSWORD, "disable");
    // One session that runs a statement, then stays silent for 6 s, then tries another.
    let idle = Command::new(psql_binary())
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=0", "-d", &dsn])
        .args([
            "-c",
            "SELECT 'first'",
            "-c",
            "\\! sleep 6",
            "-c",
            "SELECT 'second'",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let (ok, _, err) = psql(&dsn, &["-c", "SELECT 1"]);
    assert!(
        !ok && err.contains("too many"),
        "the slot is held while in use: {err}"
    );
    // Past the idle timeout the slot is free, while the idle client still sleeps.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(psql_rows(&dsn, "SELECT 1"), ["1"]);
    let out = idle.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains("first") && !stdout.contains("second"),
        "{stdout}"
    );
    assert!(
        stderr.contains("idle-session timeout") || stderr.contains("closed the connection"),
        "{stderr}"
    );
}

#[test]
fn a_client_that_stops_reading_holds_its_slot_no_longer_than_the_stall_limit() {
    let lake = fixture_lake();
    let server = serve_pg(
        lake,
        &[
            "--pg-max-sessions",
            "1",
            "--pg-statement-timeout",
            "2",
            "--pg-trust-local",
        ],
    );
    let dsn = server.dsn(USER, PASSWORD, "disable");
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&startup_message(USER)).unwrap();
    while read_message(&mut stream).0 != b'Z' {}
    // A 200 MB result, never read.
    let query = b"SELECT repeat('x', 1000) FROM generate_series(1, 200000)\0";
    let mut message = vec![b'Q'];
    message.extend_from_slice(&((query.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(query);
    stream.write_all(&message).unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(800));
    let (ok, _, err) = psql(&dsn, &["-c", "SELECT 1"]);
    assert!(
        !ok && err.contains("too many"),
        "the slot is held meanwhile: {err}"
    );
    let freed = loop {
        let (ok, _, _) = psql(&dsn, &["-c", "SELECT 1"]);
        if ok {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the slot was never freed"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(freed >= Duration::from_secs(2), "{freed:?}");
    drop(stream);
}

#[test]
fn functions_that_build_gigabytes_from_a_few_bytes_are_refused_before_they_allocate() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &[]);
    let dsn = server.dsn(USER, PASSWORD, "disable");
    // Constant-folded while planning, or run per row; simple and extended protocol alike.
    for probe in [
        "SELECT length(repeat('x', 2000000000))",
        "SELECT length(repeat(x, 200000000)) FROM (VALUES ('aaaaaaaaaa'), ('b')) t(x)",
        "SELECT length(pg_catalog.lpad('x', 1000000000))",
        "SELECT cardinality(range(1, 3000000000))",
        "SELECT max(length(replace(conversation_id, '-', repeat('y', 1000000)))) FROM conversations",
    ] {
        let (ok, _, err) = psql(&dsn, &["-c", probe]);
        assert!(!ok && err.contains("ask for less"), "{probe}: {err}");
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(
        peak_kb < 1 << 20,
        "the server's peak memory reached {peak_kb} kB"
    );
    // Under the cap the same functions answer.
    assert_eq!(
        psql_rows(
            &dsn,
            "SELECT length(repeat('x', 1000000)), cardinality(range(1, 1001))"
        ),
        ["1000000,1000"]
    );
}
