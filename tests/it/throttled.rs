//! Transient errors of object storage: a proxy in front of the local S3 server answers some
//! requests `503 Slow Down`, as a throttled bucket does. convlake retries them (bounded, with
//! backoff), says on stderr that it did, and ends with the same lake as without the proxy; a
//! store that never recovers fails the command after the bounded retries with the old state
//! intact. The same proxy stalls reads of data files for the test of a worker killed
//! mid-statement.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::s3::{bucket, convlake, export, moto, ok, rows, SECRET};

/// How a proxy throttles.
#[derive(Clone, Copy, Default)]
pub(crate) struct Throttle {
    /// Every `every`-th request is answered `503` (every one for 1; none for 0)...
    pub every: u64,
    /// ... unless the same request (method and path) was refused this many times already.
    pub at_most: u32,
    /// Reads of Parquet data files wait this long before they are forwarded.
    pub stall: std::time::Duration,
}

/// What a proxy saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub requests: AtomicU64,
    pub refused: AtomicU64,
    /// Reads of data files held back by [`Throttle::stall`].
    pub stalled: AtomicU64,
    refusals: Mutex<HashMap<String, u32>>,
}

/// A proxy on 127.0.0.1 that forwards each request to the local S3 server on a connection of
/// its own, or refuses it as `throttle` says. Returns its port and what it saw.
pub(crate) fn throttling_proxy(throttle: Throttle) -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let shared = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let seen = shared.clone();
            std::thread::spawn(move || {
                let _ = serve(client, throttle, &seen);
            });
        }
    });
    (port, seen)
}

/// One client connection: one request, answered with `Connection: close`.
fn serve(client: TcpStream, throttle: Throttle, seen: &Seen) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let (head, length) = request_head(&mut reader)?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let nth = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let line = head.lines().next().unwrap_or_default().to_string();
    if !throttle.stall.is_zero() && line.starts_with("GET ") && line.contains(".parquet") {
        seen.stalled.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(throttle.stall);
    }
    let refuse = throttle.every > 0 && nth % throttle.every == 0 && {
        let mut refusals = seen.refusals.lock().unwrap();
        let count = refusals.entry(line).or_default();
        *count += 1;
        *count <= throttle.at_most
    };
    if refuse {
        seen.refused.fetch_add(1, Ordering::SeqCst);
        let message = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
        write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
            message.len()
        )?;
        return Ok(());
    }
    let mut server = TcpStream::connect(("127.0.0.1", moto().port))?;
    server.write_all(head.as_bytes())?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)?;
    Ok(())
}

/// A request's head with its `Connection` header set to `close`, and its body's length.
fn request_head(reader: &mut impl BufRead) -> std::io::Result<(String, usize)> {
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            head.push_str("Connection: close\r\n\r\n");
            return Ok((head, length));
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push_str(&line);
        }
    }
}

#[test]
fn throttled_requests_are_retried_and_reported_and_the_lake_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(dir.path(), 150, 41, 0.3);
    let direct = bucket("throttle-direct");
    ok(convlake(&direct, &["ingest", &input]));

    let (port, seen) = throttling_proxy(Throttle {
        every: 4,
        at_most: 3,
        ..Default::default()
    });
    let through = bucket("throttle-proxied");
    let mut command = convlake(&through, &["ingest", &input]);
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let (_, stderr) = ok(command);
    let refused = seen.refused.load(Ordering::SeqCst);
    assert!(refused > 5, "the proxy refused {refused} requests");
    let reported = stderr.matches("storage request").count() as u64;
    assert!(
        reported >= refused.min(10) && stderr.contains("retry 1 of"),
        "{refused} refused requests, {reported} reported:\n{stderr}"
    );
    assert!(
        stderr.contains("storage requests were retried"),
        "no summary:\n{stderr}"
    );
    assert_eq!(rows(&through), rows(&direct));
}

#[test]
fn a_store_that_stays_unavailable_fails_after_bounded_retries_and_keeps_the_old_state() {
    let dir = tempfile::tempdir().unwrap();
    let first = export(dir.path(), 60, 42, 0.0);
    let second = export(dir.path(), 60, 43, 0.0);
    let lake = bucket("throttle-down");
    ok(convlake(&lake, &["ingest", &first]));
    let before = rows(&lake);

    let (port, _) = throttling_proxy(Throttle {
        every: 1,
        at_most: u32::MAX,
        ..Default::default()
    });
    let mut command = convlake(&lake, &["ingest", &second]);
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let started = std::time::Instant::now();
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(90),
        "retries are bounded"
    );
    let last = format!("retry {0} of {0}", convlake::storage::MAX_RETRIES);
    assert!(stderr.contains(&last), "{stderr}");
    assert!(
        stderr.contains("run the command again") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET));
    assert_eq!(rows(&lake), before);
}
