//! `convlake serve`: tokens and the client-credentials login, request limits and refusals, a
//! new commit seen by the next request, and the official Genesys Python SDK as a client, over
//! the lakes of `analytics.rs`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use convlake::ingest::discover;
use convlake::lake::upsert::{ingest, IngestOptions};
use serde_json::{json, Value};

use crate::analytics::{cli, dst_lake, lake_from, DAY};
use crate::util::{binary, fixture};

/// A `convlake serve` child process; killed when dropped.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `convlake serve` on a free port over `lake` with token `t0k3n` and client
/// `reporting:s3cret`.
pub fn serve(lake: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(binary())
        .arg("--lake")
        .arg(lake)
        .args(["serve", "--http", "127.0.0.1:0"])
        .args(extra)
        .env("CONVLAKE_API_TOKENS", "t0k3n")
        .env("CONVLAKE_API_CLIENTS", "reporting:s3cret")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = crate::util::announced_address(&mut child, "http://");
    Server { child, url }
}

/// A minimal HTTP/1.1 client: (status, body) of a POST.
pub fn post(url: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    request(url, "POST", path, headers, body)
}

/// A minimal HTTP/1.1 client for any method: (status, body).
pub fn request(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use std::io::Read;
    let host = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_server_authenticates_bounds_requests_and_follows_commits() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let server = serve(&lake, &["--max-body", "4K"]);
    let path = "/api/v2/analytics/conversations/aggregates/query";
    let body =
        br#"{"interval": "2026-10-20T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOffered"]}"#;
    let auth = [
        ("Authorization", "Bearer t0k3n"),
        ("Content-Type", "application/json"),
    ];
    let (status, text) = post(&server.url, path, &auth, body);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["results"][0]["data"][0]["metrics"][0]["stats"]["count"],
        5
    );

    let refusals: Vec<(Vec<(&str, &str)>, Vec<u8>, u16, &str)> = vec![
        (vec![], body.to_vec(), 401, "bad.credentials"),
        (
            vec![("Authorization", "Bearer wrong")],
            body.to_vec(),
            401,
            "bad.credentials",
        ),
        (auth.to_vec(), b"{not json".to_vec(), 400, "bad.request"),
        (
            auth.to_vec(),
            br#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["tHandel"]}"#
                .to_vec(),
            400,
            "invalid.metric",
        ),
        (
            auth.to_vec(),
            br#"{"interval": 5, "metrics": ["nOffered"]}"#.to_vec(),
            400,
            "invalid.value",
        ),
        (
            auth.to_vec(),
            vec![b' '; 10_000],
            413,
            "request.entity.too.large",
        ),
    ];
    for (headers, body, want, code) in refusals {
        let (status, text) = post(&server.url, path, &headers, &body);
        assert_eq!(status, want, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(
            (v["status"].as_u64(), v["code"].as_str()),
            (Some(u64::from(want)), Some(code)),
            "{text}"
        );
        assert!(!text.contains("t0k3n") && !text.contains("s3cret"));
    }
    // Concurrent clients all get the same, full answer.
    let url = server.url.clone();
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| post(&url, path, &auth, body)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        answers.iter().all(|a| a == &(200, text.clone())),
        "{answers:?}"
    );
    // Client credentials for a token, then the token works; a wrong secret gets nothing.
    let basic =
        |id: &str, secret: &str| format!("Basic {}", base64_encode(&format!("{id}:{secret}")));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let good = basic("reporting", "s3cret");
    let (status, text) = post(
        &server.url,
        "/oauth/token",
        &[form[0], ("Authorization", &good)],
        b"grant_type=client_credentials",
    );
    assert_eq!(status, 200, "{text}");
    let token = serde_json::from_str::<Value>(&text).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        post(&server.url, path, &[("Authorization", &bearer)], body).0,
        200
    );
    let bad = basic("reporting", "guess");
    assert_eq!(
        post(
            &server.url,
            "/oauth/token",
            &[form[0], ("Authorization", &bad)],
            b"grant_type=client_credentials"
        )
        .0,
        401
    );
    // Nothing else is served.
    assert_eq!(
        post(
            &server.url,
            "/api/v2/analytics/conversations/aggregates/jobs",
            &auth,
            body
        )
        .0,
        404
    );

    // A new commit is seen by the next request: lake 2's conversations land in the same lake.
    let more = tempfile::tempdir().unwrap();
    let dst = dst_lake(more.path());
    let _ = dst;
    ingest(
        &convlake::Lake::local(&lake),
        discover(&[more.path().join("dst.ndjson")]).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    let (status, text) = post(&server.url, path, &auth, body);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["results"][0]["data"][0]["metrics"][0]["stats"]["count"], 7,
        "{text}"
    );
}

/// `value` with every number as a float.
fn as_floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(as_floats).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), as_floats(v))).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn a_query_over_its_memory_gets_a_413_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let server = serve(&lake, &["--query-memory", "1K"]);
    let auth = [("Authorization", "Bearer t0k3n")];
    let body = br#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "granularity": "PT1H", "groupBy": ["queueId", "userId"], "metrics": ["nOffered", "tHandle"]}"#;
    for _ in 0..2 {
        let (status, text) = post(
            &server.url,
            "/api/v2/analytics/conversations/aggregates/query",
            &auth,
            body,
        );
        assert_eq!(status, 413, "{text}");
        assert!(text.contains("query.too.large"), "{text}");
    }
    let roomy = serve(&lake, &["--query-memory", "64M"]);
    assert_eq!(
        post(
            &roomy.url,
            "/api/v2/analytics/conversations/aggregates/query",
            &auth,
            body
        )
        .0,
        200
    );
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn the_genesys_python_sdk_reads_what_the_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let server = serve(&lake, &["--sl-target", "20", "--sl-goal", "0.8"]);
    let aggregate_body = json!({"interval": DAY, "granularity": "PT1H", "groupBy": ["queueId", "userId"],
        "metrics": ["nOffered", "tAnswered", "tHandle", "oServiceLevel", "tWait"],
        "filter": {"type": "or", "predicates": [{"dimension": "mediaType", "value": "voice"}]}});
    let detail_body = json!({"interval": DAY, "order": "asc", "orderBy": "conversationStart", "paging": {"pageSize": 3, "pageNumber": 1},
        "segmentFilters": [{"type": "or", "predicates": [{"dimension": "queueId", "value": "q1-0000-sales"}]}]});
    let bodies = dir.path().join("bodies.json");
    std::fs::write(
        &bodies,
        json!({"aggregate": aggregate_body, "details": detail_body}).to_string(),
    )
    .unwrap();
    let python = crate::engines::python();
    let out = Command::new(python)
        .arg(crate::util::repo().join("tests/python/genesys_sdk.py"))
        .arg(&server.url)
        .arg(&bodies)
        .env("GENESYS_CLIENT_ID", "reporting")
        .env("GENESYS_CLIENT_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the SDK script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sdk: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The SDK's typed models, turned back into dicts, hold the numbers `convlake aggregate`
    // prints for the same body.
    let (status, cli_aggregate, _) = cli(
        &lake,
        &["aggregate", "-", "--sl-target", "20", "--sl-goal", "0.8"],
        &aggregate_body.to_string(),
    );
    assert_eq!(status, 0);
    // The SDK's StatisticalSummary holds max, min, sum and the ratio parts as floats.
    assert_eq!(as_floats(&sdk["aggregate"]), as_floats(&cli_aggregate));
    assert!(
        cli_aggregate["results"]
            .as_array()
            .is_some_and(|r| r.len() == 3),
        "{cli_aggregate}"
    );
    let (status, cli_details, _) = cli(&lake, &["details", "-"], &detail_body.to_string());
    assert_eq!(status, 0);
    let ids = |v: &Value| -> Vec<Value> {
        v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversationId"].clone())
            .collect()
    };
    assert_eq!(ids(&sdk["details"]), ids(&cli_details));
    assert_eq!(sdk["details"]["totalHits"], 5);
    assert_eq!(
        sdk["details"]["conversations"][0]["participants"][2]["sessions"][0]["metrics"][0]["name"],
        "nOffered"
    );
}
