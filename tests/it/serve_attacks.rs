//! `convlake serve` (HTTP) tried as an attacker would, against the real binary: headers sent
//! a line at a time, connections held open, bodies that never arrive, logins in a loop, and
//! bodies that are cheap to send and costly to plan. During each, a real client still gets
//! its answer within its deadline.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::analytics::lake_from;
use crate::serve::{post, request, serve};
use crate::util::{binary, connect_from, fixture};

const AGGREGATES: &str = "/api/v2/analytics/conversations/aggregates/query";
const DETAILS: &str = "/api/v2/analytics/conversations/details/query";
const BODY: &[u8] =
    br#"{"interval": "2026-10-20T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOffered"]}"#;
const AUTH: (&str, &str) = ("Authorization", "Bearer t0k3n");

/// How long until the server closes `stream` (reading whatever it sends).
fn closed_after(mut stream: TcpStream, started: Instant, limit: Duration) -> Duration {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

/// A real client's aggregate query: answered, and how long it took.
fn answered(url: &str) -> Duration {
    let started = Instant::now();
    let (status, text) = post(url, AGGREGATES, &[AUTH], BODY);
    assert_eq!(status, 200, "{text}");
    started.elapsed()
}

#[test]
fn slow_and_idle_connections_are_cut_off_and_keep_no_one_out() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let server = serve(&lake, &["--timeout", "3", "--max-connections", "64"]);
    let host = server.url.trim_start_matches("http://").to_string();
    let port: u16 = host.rsplit(':').next().unwrap().parse().unwrap();
    let started = Instant::now();
    // Slowloris: a header line every two seconds.
    let slow = std::thread::spawn({
        move || {
            let mut stream = connect_from("127.0.0.3", port);
            let _ = stream.write_all(b"POST /oauth/token HTTP/1.1\r\n");
            let mut buf = [0u8; 256];
            for i in 0..20 {
                std::thread::sleep(Duration::from_secs(2));
                stream.set_nonblocking(true).unwrap();
                match stream.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => return started.elapsed(),
                }
                stream.set_nonblocking(false).unwrap();
                if stream
                    .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                    .is_err()
                {
                    return started.elapsed();
                }
            }
            started.elapsed()
        }
    });
    // Connections that say nothing (from one other address, past its share of 32), and a
    // body announced and never sent.
    let idle: Vec<TcpStream> = (0..40).map(|_| connect_from("127.0.0.2", port)).collect();
    let mut unsent = TcpStream::connect(&host).unwrap();
    unsent
        .write_all(format!("POST {AGGREGATES} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k3n\r\nContent-Length: 100\r\n\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A real client gets its answer meanwhile, at once.
    assert!(answered(&server.url) < Duration::from_secs(3));
    // The body that never came gets a 408 within the request's deadline (3 s).
    unsent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = String::new();
    let _ = unsent.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(8));
    // Idle connections and the slow headers are closed by the header timeout (10 s).
    for stream in idle.into_iter().take(5) {
        let closed = closed_after(stream, started, Duration::from_secs(20));
        assert!(closed < Duration::from_secs(15), "idle for {closed:?}");
    }
    let closed = slow.join().unwrap();
    assert!(
        closed < Duration::from_secs(14),
        "slowloris kept for {closed:?}"
    );
    assert!(answered(&server.url) < Duration::from_secs(3));
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A token for the test's client.
fn login(url: &str) -> String {
    let auth = basic("reporting", "s3cret");
    let (status, text) = post(
        url,
        "/oauth/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &auth),
        ],
        b"grant_type=client_credentials",
    );
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn token_floods_are_bounded_and_tokens_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let server = serve(&lake, &[]);
    let first = login(&server.url);
    let tokens: Vec<String> = (0..300).map(|_| login(&server.url)).collect();
    let last = tokens.last().unwrap();
    let bearer = |t: &str| format!("Bearer {t}");
    // A client holds a bounded number of live tokens: the oldest were retired.
    assert_eq!(
        post(
            &server.url,
            AGGREGATES,
            &[("Authorization", &bearer(&first))],
            BODY
        )
        .0,
        401
    );
    let (status, text) = post(
        &server.url,
        AGGREGATES,
        &[("Authorization", &bearer(last))],
        BODY,
    );
    assert_eq!(status, 200, "{text}");
    // Revoked, a token is refused; a configured token cannot be revoked over the API.
    let (status, _) = request(
        &server.url,
        "DELETE",
        "/api/v2/tokens/me",
        &[("Authorization", &bearer(last))],
        b"",
    );
    assert_eq!(status, 204);
    assert_eq!(
        post(
            &server.url,
            AGGREGATES,
            &[("Authorization", &bearer(last))],
            BODY
        )
        .0,
        401
    );
    let (status, _) = request(&server.url, "DELETE", "/api/v2/tokens/me", &[AUTH], b"");
    assert_eq!(status, 400);
    assert!(answered(&server.url) < Duration::from_secs(3));
}

#[test]
fn empty_secrets_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    for clients in ["reporting:", ":s3cret", "reporting:   "] {
        let out = Command::new(binary())
            .arg("--lake")
            .arg(&lake)
            .args(["serve", "--http", "127.0.0.1:0"])
            .env("CONVLAKE_API_CLIENTS", clients)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{clients}: started");
        assert!(err.contains("empty client id or secret"), "{err}");
        assert!(!err.contains("s3cret"), "the secret is echoed: {err}");
    }
}

#[test]
fn costly_bodies_are_refused_before_they_are_planned() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let server = serve(&lake, &["--timeout", "10"]);
    let interval = "2026-10-20T00:00:00Z/2026-11-03T00:00:00Z";
    let views: Vec<Value> = (0..5000)
        .map(|i| json!({"target": "tHandle", "name": format!("v{i}"), "function": "rangeBound", "range": {"gte": i, "lt": i + 1}}))
        .collect();
    let predicates: Vec<Value> = (0..5000)
        .map(|i| json!({"type": "metric", "metric": "tHandle", "range": {"gte": i}}))
        .collect();
    let long_name = "x".repeat(900_000);
    let cases = [
        (
            AGGREGATES,
            json!({"interval": interval, "metrics": ["tHandle"], "views": views}),
            "invalid.view",
        ),
        (
            AGGREGATES,
            json!({"interval": interval, "metrics": ["nOffered"], "groupBy": [long_name]}),
            "invalid.dimension",
        ),
        (
            AGGREGATES,
            json!({"interval": interval, "metrics": [long_name]}),
            "invalid.metric",
        ),
        (
            DETAILS,
            json!({"interval": interval, "conversationFilters": [{"type": "and", "predicates": predicates}]}),
            "invalid.filter",
        ),
    ];
    for (path, body, code) in cases {
        let started = Instant::now();
        let (status, text) = post(&server.url, path, &[AUTH], body.to_string().as_bytes());
        assert_eq!(status, 400, "{}", &text[..text.len().min(300)]);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], code, "{}", &text[..text.len().min(300)]);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{code}: {:?}",
            started.elapsed()
        );
    }
    assert!(answered(&server.url) < Duration::from_secs(3));
}
