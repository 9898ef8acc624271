//! `convlake pull` (the real binary) against a mock Genesys Cloud org on 127.0.0.1
//! (`tests/python/genesys_mock.py`, whose every answer is checked against the official SDK's
//! models): jobs through QUEUED and PENDING, results over pages by cursor, 429s with
//! `Retry-After`, a revoked token, an availability date behind the data, a failed and an
//! expired job, a pull killed mid-paging, failed storage requests at its commit, and what the
//! refetch window brings back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::engines::python;
use crate::util::{assert_same, binary, content, repo, run_ok, sql_rows};

const CLIENT_ID: &str = "convlake-test-client";
const SECRET: &str = "pull-s3cret-7f1e";

/// A running mock org; killed when dropped.
struct Mock {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mock {
    /// Starts the mock with `scenario` (the credentials and the log are added).
    fn start(dir: &Path, mut scenario: Value) -> Mock {
        let log = dir.join(format!("requests-{}.ndjson", std::process::id()));
        let _ = std::fs::remove_file(&log);
        scenario["client_id"] = json!(CLIENT_ID);
        scenario["client_secret"] = json!(SECRET);
        scenario["log"] = json!(log);
        let path = dir.join("scenario.json");
        std::fs::write(&path, scenario.to_string()).unwrap();
        let mut child = Command::new(python())
            .arg(repo().join("tests/python/genesys_mock.py"))
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = serde_json::from_str::<Value>(&line).unwrap_or_else(|_| panic!("mock: {line}"))
            ["port"]
            .as_u64()
            .unwrap() as u16;
        Mock { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests it got, in order.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// What a job of `interval` returns now, as an NDJSON file.
    fn window(&self, interval: &str, out: &Path) -> PathBuf {
        let body = http_get(self.port, &format!("/_mock/window?interval={interval}"));
        std::fs::write(out, body).unwrap();
        out.to_path_buf()
    }

    /// Swaps the org's data.
    fn set(&self, change: Value) {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let body = change.to_string();
        use std::io::{Read, Write};
        write!(
            stream,
            "POST /_mock/state HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

/// The body of a GET to the mock.
fn http_get(port: u16, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    answer[split + 4..].to_vec()
}

/// `convlake pull` into `lake` from `mock` with `args`.
fn pull_command(lake: &Path, mock: &Mock, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("--lake")
        .arg(lake)
        .args([
            "pull",
            "--api-url",
            &mock.url(),
            "--json",
            "--page-size",
            "40",
        ])
        .args(args)
        .env("GENESYSCLOUD_OAUTHCLIENT_ID", CLIENT_ID)
        .env("GENESYSCLOUD_OAUTHCLIENT_SECRET", SECRET)
        .env_remove("GENESYSCLOUD_REGION");
    command
}

fn pull(lake: &Path, mock: &Mock, args: &[&str]) -> (Value, Output) {
    let out = pull_command(lake, mock, args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains(SECRET) && !stderr.contains(SECRET),
        "the secret was printed"
    );
    let summary = serde_json::from_str(&text).unwrap_or(Value::Null);
    (summary, out)
}

/// An org of 300 conversations over four days (from 2026-11-02), agents without names.
fn org(dir: &Path) -> PathBuf {
    let path = dir.join("org.ndjson");
    run_ok(
        Command::new(binary())
            .args(["generate", "--conversations", "300", "--days", "4"])
            .args(["--start", "2026-11-02T00:00:00.000Z", "--out"])
            .arg(&path),
    );
    path
}

/// The lake a plain ingest of `file` makes.
fn ingested(file: &Path, lake: &Path) -> PathBuf {
    run_ok(
        Command::new(binary())
            .arg("--lake")
            .arg(lake)
            .arg("ingest")
            .arg(file),
    );
    lake.to_path_buf()
}

/// The flat tables of two lakes are equal, and no conversation is stored twice.
fn assert_same_flat(got: &Path, want: &Path) {
    let strip = |mut c: std::collections::BTreeMap<String, Vec<String>>| {
        c.remove("raw_conversations");
        c
    };
    assert_same(&strip(content(got)), &strip(content(want)));
    let twice = "SELECT count(*) - count(DISTINCT conversation_id) FROM raw_conversations";
    assert_eq!(sql_rows(got, twice), ["0"]);
    let ids = "SELECT conversation_id FROM raw_conversations ORDER BY 1";
    assert_eq!(sql_rows(got, ids), sql_rows(want, ids));
}

#[test]
fn a_pull_fills_the_lake_as_an_ingest_of_the_window_through_throttling_and_a_revoked_token() {
    let dir = tempfile::tempdir().unwrap();
    let org = org(dir.path());
    let mock = Mock::start(
        dir.path(),
        json!({
            "conversations": org,
            "availability": "2026-11-05T00:00:00.000Z",
            "job_states": ["QUEUED", "PENDING"],
            "throttle_every": 7,
            "revoke_after": 12,
        }),
    );
    let lake = dir.path().join("lake");
    let (summary, out) = pull(&lake, &mock, &["--since", "2026-11-02"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["watermark_after"], "2026-11-05T00:00:00.000Z");
    assert_eq!(summary["slices"], 3);
    assert_eq!(
        summary["commits"], 1,
        "slices are committed together: {summary}"
    );
    assert!(summary["throttled"].as_u64().unwrap() >= 2, "{summary}");
    assert!(summary["pages"].as_u64().unwrap() > 3, "{summary}");

    let requests = mock.requests();
    let logins: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == "/oauth/token")
        .collect();
    assert_eq!(
        logins.len(),
        2,
        "one login, and one after the revoked token"
    );
    for login in logins {
        assert_eq!(login["form"], json!({"grant_type": "client_credentials"}));
        assert_eq!(login["basic"], true);
    }
    let jobs = "/api/v2/analytics/conversations/details/jobs";
    let submitted: Vec<String> = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == jobs)
        .map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["interval"].as_str().unwrap().to_string()
        })
        .collect();
    for interval in &submitted {
        let end = interval.split('/').nth(1).unwrap();
        assert!(
            end <= "2026-11-05T00:00:00.000Z",
            "{interval} passes the availability"
        );
    }
    // Two jobs at once (--jobs 2, the default): the second is submitted before the first is
    // deleted, and the revoked token meant one new login, not one per job in flight.
    let at = |method: &str, nth: usize| {
        requests
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r["method"] == method && r["path"].as_str().unwrap().contains("/details/jobs")
            })
            .filter(|(_, r)| method != "POST" || r["path"] == jobs)
            .nth(nth)
            .map(|(i, _)| i)
            .unwrap()
    };
    assert!(at("POST", 1) < at("DELETE", 0), "jobs ran one at a time");
    // A throttled DELETE is logged again when it is retried: jobs are counted by path.
    let deleted: std::collections::BTreeSet<&str> = requests
        .iter()
        .filter(|r| r["method"] == "DELETE")
        .filter_map(|r| r["path"].as_str())
        .collect();
    assert_eq!(deleted.len(), 3, "every job is deleted");

    let window = mock.window(
        "2026-11-02T00:00:00.000Z/2026-11-05T00:00:00.000Z",
        &dir.path().join("window.ndjson"),
    );
    let want = ingested(&window, &dir.path().join("want"));
    assert_same_flat(&lake, &want);
    // Conversations that start after the availability date are not in the lake.
    let late = "SELECT count(*) FROM conversations WHERE conversation_start >= TIMESTAMP '2026-11-05T00:00:00Z'";
    assert_eq!(sql_rows(&lake, late), ["0"]);
    assert_ne!(sql_rows(&want, "SELECT count(*) FROM conversations"), ["0"]);
    // Each record names the job it came from, not the spool file it passed through.
    let sources = sql_rows(
        &lake,
        "SELECT DISTINCT source_file FROM raw_conversations ORDER BY 1",
    );
    let day = |d: &str| format!("{}{jobs}?interval=2026-11-{d}T00:00:00.000Z/", mock.url());
    assert_eq!(sources.len(), 3, "{sources:?}");
    for (source, d) in sources.iter().zip(["02", "03", "04"]) {
        assert!(source.starts_with(&day(d)), "{source}");
    }
}

#[test]
fn a_pull_killed_mid_paging_and_run_again_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let org = org(dir.path());
    let mock = Mock::start(
        dir.path(),
        json!({
            "conversations": org,
            "availability": "2026-11-06T00:00:00.000Z",
            "page_delay": 0.25,
        }),
    );
    let lake = dir.path().join("lake");
    // A commit per slice (--commit-size 1), so there is a commit to resume from.
    let mut child = pull_command(
        &lake,
        &mock,
        &["--since", "2026-11-02", "--commit-size", "1"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Killed once the first slice is committed, while the second is being paged.
    let started = Instant::now();
    while !lake
        .join("_convlake/log")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some())
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no commit");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(400));
    child.kill().unwrap();
    child.wait().unwrap();
    let committed = sql_rows(&lake, "SELECT count(*) FROM conversations");
    let (summary, out) = pull(&lake, &mock, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary["watermark_before"].is_string(),
        "resumed from the watermark: {summary}"
    );
    assert_eq!(summary["watermark_after"], "2026-11-06T00:00:00.000Z");
    assert_ne!(
        committed,
        sql_rows(&lake, "SELECT count(*) FROM conversations")
    );

    let window = mock.window(
        "2026-11-02T00:00:00.000Z/2026-11-06T00:00:00.000Z",
        &dir.path().join("window.ndjson"),
    );
    assert_same_flat(&lake, &ingested(&window, &dir.path().join("want")));
}

#[test]
fn the_refetch_window_brings_back_what_changed_after_the_end_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let org = org(dir.path());
    let mock = Mock::start(
        dir.path(),
        json!({"conversations": org, "availability": "2026-11-04T00:00:00.000Z", "expire_first": true}),
    );
    let lake = dir.path().join("lake");
    let (summary, out) = pull(&lake, &mock, &["--since", "2026-11-02"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        summary["jobs"], 3,
        "the expired job was submitted again: {summary}"
    );

    // Genesys changes two ended conversations: one of 2026-11-03 (inside a one-day refetch
    // window before the watermark 2026-11-04), one of 2026-11-02 (outside it).
    let text = std::fs::read_to_string(&org).unwrap();
    let mut conversations: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut changed = Vec::new();
    for day in ["2026-11-03", "2026-11-02"] {
        let pick = conversations.iter_mut().find(|c| {
            let start = c["conversationStart"].as_str().unwrap_or("");
            let end = c["conversationEnd"].as_str().unwrap_or("");
            start.starts_with(day) && end.starts_with(day)
        });
        let c = pick.expect("an ended conversation of the day");
        c["conversationEnd"] = json!(bump(c["conversationEnd"].as_str().unwrap()));
        changed.push(c["conversationId"].as_str().unwrap().to_string());
    }
    let lines: Vec<String> = conversations.iter().map(Value::to_string).collect();
    assert_eq!(changed.len(), 2);
    let org2 = dir.path().join("org2.ndjson");
    std::fs::write(&org2, lines.join("\n") + "\n").unwrap();
    mock.set(json!({"conversations": org2, "availability": "2026-11-05T00:00:00.000Z"}));
    let (summary, out) = pull(&lake, &mock, &["--refetch", "P1D"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary["watermark_before"], "2026-11-04T00:00:00.000Z");
    assert!(
        summary["conversations_updated"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    let end = |id: &str| {
        sql_rows(
            &lake,
            &format!("SELECT CAST(conversation_end AS VARCHAR) FROM conversations WHERE conversation_id = '{id}'"),
        )
    };
    let original = ingested(&org, &dir.path().join("original"));
    let original_end = |id: &str| {
        sql_rows(
            &original,
            &format!("SELECT CAST(conversation_end AS VARCHAR) FROM conversations WHERE conversation_id = '{id}'"),
        )
    };
    assert_ne!(
        end(&changed[0]),
        original_end(&changed[0]),
        "refetched inside the window"
    );
    assert_eq!(
        end(&changed[1]),
        original_end(&changed[1]),
        "outside the window: as it was"
    );
}

/// An ISO-8601 instant one second later.
fn bump(instant: &str) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(instant).unwrap() + chrono::Duration::seconds(1);
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[test]
fn a_failed_job_stops_the_pull_with_what_genesys_said_and_keeps_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let org = org(dir.path());
    let mock = Mock::start(
        dir.path(),
        json!({
            "conversations": org,
            "availability": "2026-11-05T00:00:00.000Z",
            "fail_interval": "2026-11-03T00:00:00.000Z",
        }),
    );
    let lake = dir.path().join("lake");
    let (summary, out) = pull(&lake, &mock, &["--since", "2026-11-02"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("exceeded its allotted resources"),
        "{stderr}"
    );
    assert!(stderr.contains("run the same command again"), "{stderr}");
    assert_eq!(
        summary["watermark_after"], "2026-11-03T00:00:00.000Z",
        "{summary}"
    );
    assert_ne!(sql_rows(&lake, "SELECT count(*) FROM conversations"), ["0"]);
    // Without credentials, the pull says what to give.
    let out = Command::new(binary())
        .arg("--lake")
        .arg(&lake)
        .args(["pull", "--api-url", &mock.url()])
        .env_remove("GENESYSCLOUD_OAUTHCLIENT_ID")
        .env_remove("GENESYSCLOUD_OAUTHCLIENT_SECRET")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("GENESYSCLOUD_OAUTHCLIENT_ID"));
}

#[test]
fn names_come_from_the_directory_else_the_export_and_what_the_org_deleted_stays_marked() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org.ndjson");
    let names = dir.path().join("names.csv");
    run_ok(
        Command::new(binary())
            .args(["generate", "--conversations", "200", "--days", "2"])
            .args(["--start", "2026-11-02T00:00:00.000Z", "--out"])
            .arg(&org)
            .arg("--names")
            .arg(&names),
    );
    let csv = std::fs::read_to_string(&names).unwrap();
    let first = |kind: &str| {
        csv.lines()
            .find_map(|l| l.strip_prefix(&format!("{kind},")))
            .map(|rest| rest.split(',').collect::<Vec<_>>())
            .unwrap()
    };
    let (departed, queue) = (first("user"), first("queue"));
    let mock = Mock::start(
        dir.path(),
        json!({
            "conversations": org,
            "availability": "2026-11-04T00:00:00.000Z",
            "names": names,
            "deleted_users": [departed[0]],
            "forbidden": ["skill", "language", "team"],
        }),
    );
    let lake = dir.path().join("lake");
    let (summary, out) = pull(&lake, &mock, &["--since", "2026-11-02"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let listed = |kind: &str| {
        csv.lines()
            .filter(|l| l.starts_with(&format!("{kind},")))
            .count()
    };
    assert_eq!(
        summary["directory"],
        json!({"user": listed("user"), "queue": listed("queue"), "wrapup": listed("wrapup"), "flow": listed("flow"), "division": listed("division")}),
        "{summary}"
    );
    assert_eq!(listed("user"), 60);
    assert!(
        stderr.contains("routing:skill:manage"),
        "the warning names the permission: {stderr}"
    );
    // Paged: users by nextUri and the others by pageCount, 100 a page asked, 25 served.
    let user_pages = mock
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/api/v2/users"))
        .count();
    assert!(user_pages >= 3, "{user_pages}");

    assert_eq!(sql_rows(&lake, "SELECT count(*) FROM agent_names"), ["60"]);
    assert_eq!(
        sql_rows(
            &lake,
            &format!(
                "SELECT agent_name, deleted FROM agent_names WHERE user_id = '{}'",
                departed[0]
            )
        ),
        [format!("{},true", departed[1])]
    );
    let named = "SELECT count(*), count(a.agent_name) FROM sessions s LEFT JOIN agent_names a USING (user_id) WHERE s.purpose = 'agent'";
    let counts = sql_rows(&lake, named);
    let parts: Vec<&str> = counts[0].split(',').collect();
    assert_eq!(
        parts[0], parts[1],
        "every agent session has its agent's name: {counts:?}"
    );
    let codes = "SELECT count(*) FROM segments g JOIN wrap_up_names w USING (wrap_up_code)";
    assert_ne!(sql_rows(&lake, codes), ["0"]);

    // The org deletes a queue: the next pull keeps its name, marked deleted.
    mock.set(json!({"removed": [queue[0]]}));
    let (_, out) = pull(&lake, &mock, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sql_rows(
            &lake,
            &format!(
                "SELECT queue_name, deleted FROM queue_names WHERE queue_id = '{}'",
                queue[0]
            )
        ),
        [format!("{},true", queue[1])]
    );

    // A lake never pulled names its queues and flows from the export, and no agent.
    let plain = ingested(&org, &dir.path().join("plain"));
    assert_eq!(sql_rows(&plain, "SELECT count(*) FROM queue_names"), ["12"]);
    assert_eq!(
        sql_rows(
            &plain,
            &format!(
                "SELECT queue_name FROM queue_names WHERE queue_id = '{}'",
                queue[0]
            )
        ),
        [queue[1].to_string()]
    );
    assert_eq!(sql_rows(&plain, "SELECT count(*) FROM agent_names"), ["0"]);
    assert_ne!(sql_rows(&plain, "SELECT count(*) FROM flow_names"), ["0"]);
}

/// `conversations` (one JSON a line) written to `path`.
fn write_org(path: &Path, conversations: &[Value]) -> PathBuf {
    let lines: Vec<String> = conversations.iter().map(Value::to_string).collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    path.to_path_buf()
}

#[test]
fn a_conversation_still_open_is_asked_for_by_id_after_the_window_passes_it_until_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let org = org(dir.path());
    let mut conversations: Vec<Value> = std::fs::read_to_string(&org)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // An email of 2026-11-02 that is still open when the first pulls run.
    let open = conversations
        .iter_mut()
        .find(|c| {
            c["conversationStart"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-02")
        })
        .unwrap();
    let id = open["conversationId"].as_str().unwrap().to_string();
    open.as_object_mut().unwrap().remove("conversationEnd");
    let opened = write_org(&dir.path().join("open.ndjson"), &conversations);
    let mock = Mock::start(
        dir.path(),
        json!({"conversations": opened, "availability": "2026-11-06T00:00:00.000Z"}),
    );
    let lake = dir.path().join("lake");
    let end_in_lake = || {
        sql_rows(
            &lake,
            &format!("SELECT coalesce(CAST(conversation_end AS VARCHAR), 'open') FROM conversations WHERE conversation_id = '{id}'"),
        )
    };
    let asked_by_id = |mock: &Mock| -> Vec<String> {
        mock.requests()
            .iter()
            .filter(|r| r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/jobs"))
            .filter_map(|r| serde_json::from_str::<Value>(r["body"].as_str()?).ok())
            .filter(|q| q.get("conversationFilters").is_some())
            .map(|q| {
                let ids: Vec<&str> = q["conversationFilters"][0]["predicates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["value"].as_str().unwrap())
                    .collect();
                format!("{} {}", q["interval"].as_str().unwrap(), ids.join(","))
            })
            .collect()
    };
    let pull_ok = |args: &[&str]| {
        let (summary, out) = pull(&lake, &mock, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        summary
    };
    pull_ok(&["--since", "2026-11-02"]);
    assert_eq!(end_in_lake(), ["open"]);
    assert!(asked_by_id(&mock).is_empty(), "nothing to follow yet");

    // The window moves past 2026-11-02: the jobs of [11-05, 11-09) do not search it, so
    // it is asked for by id, over the day it started, while it stays open.
    // (The generator leaves some conversations open too: they are followed the same way.)
    let open_before = sql_rows(
        &lake,
        "SELECT count(*) FROM conversations WHERE conversation_end IS NULL \
         AND conversation_start < TIMESTAMP '2026-11-05T00:00:00Z'",
    );
    mock.set(json!({"availability": "2026-11-09T00:00:00.000Z"}));
    let summary = pull_ok(&["--refetch", "P1D"]);
    assert_eq!(
        summary["conversations_open_refetched"].to_string(),
        open_before[0],
        "{summary}"
    );
    let asked = asked_by_id(&mock);
    let day = "2026-11-02T00:00:00.000Z/2026-11-03T00:00:00.000Z ";
    assert!(
        asked
            .iter()
            .any(|a| a.starts_with(day) && a[day.len()..].split(',').any(|i| i == id)),
        "{asked:?}"
    );
    for a in &asked {
        let (interval, _) = a.split_once(' ').unwrap();
        assert!(interval.split('/').nth(1).unwrap() <= "2026-11-09T00:00:00.000Z");
    }
    assert_eq!(end_in_lake(), ["open"]);

    // It closes in Genesys: the next pull brings its end, and the one after asks no more.
    let closed = conversations
        .iter_mut()
        .find(|c| c["conversationId"] == id.as_str())
        .unwrap();
    closed["conversationEnd"] = json!("2026-11-09T10:00:00.000Z");
    let closed = write_org(&dir.path().join("closed.ndjson"), &conversations);
    mock.set(json!({"conversations": closed, "availability": "2026-11-10T00:00:00.000Z"}));
    let summary = pull_ok(&["--refetch", "P1D"]);
    assert!(
        summary["conversations_updated"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    assert_eq!(end_in_lake(), ["2026-11-09T10:00:00Z"]);
    let before = asked_by_id(&mock).len();
    mock.set(json!({"availability": "2026-11-11T00:00:00.000Z"}));
    pull_ok(&["--refetch", "P1D"]);
    let later = asked_by_id(&mock);
    assert!(
        later[before..].iter().all(|a| !a.contains(&id)),
        "a closed conversation is not followed: {later:?}"
    );
    let twice = "SELECT count(*) - count(DISTINCT conversation_id) FROM raw_conversations";
    assert_eq!(sql_rows(&lake, twice), ["0"]);
}

/// `pull`'s commit under failed storage requests: the N-th request of the lake's storage
/// fails, for every request of the commit (the last 25) and a spread of those before; each
/// failed pull leaves a readable lake (or none yet), and the pull run again ends as an
/// uninterrupted one.
#[test]
fn a_pull_whose_storage_request_fails_leaves_a_readable_lake_and_the_next_pull_converges() {
    let dir = tempfile::tempdir().unwrap();
    let org = org(dir.path());
    let mock = Mock::start(
        dir.path(),
        json!({"conversations": org, "availability": "2026-11-05T00:00:00.000Z"}),
    );
    let window = mock.window(
        "2026-11-02T00:00:00.000Z/2026-11-05T00:00:00.000Z",
        &dir.path().join("window.ndjson"),
    );
    let want = ingested(&window, &dir.path().join("want"));
    let counter = dir.path().join("requests");
    let clean = dir.path().join("clean");
    let mut counted = pull_command(&clean, &mock, &["--since", "2026-11-02"]);
    counted.env("CONVLAKE_TEST_COUNT_REQUESTS", &counter);
    run_ok(&mut counted);
    let requests: u64 = std::fs::read_to_string(&counter).unwrap().parse().unwrap();
    assert!(requests > 20, "pull made {requests} storage requests");
    let every = crate::faults::every_table();
    let stride = crate::failed_requests::Stride::Sampled {
        tail: 25,
        spread: 8,
    };
    for n in stride.requests(requests) {
        let lake = dir.path().join(format!("lake-{n}"));
        let mut failing = pull_command(&lake, &mock, &["--since", "2026-11-02"]);
        let out = failing
            .env("CONVLAKE_TEST_FAIL_REQUEST", n.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "request {n}: {stderr}");
        if !out.status.success() {
            assert!(stderr.contains("injected fault"), "request {n}: {stderr}");
        }
        if lake.join("_convlake/log").exists() {
            let read = Command::new(binary())
                .arg("--lake")
                .arg(&lake)
                .args(["sql", &every])
                .output()
                .unwrap();
            assert!(
                read.status.success(),
                "request {n}: the lake is unreadable: {}",
                String::from_utf8_lossy(&read.stderr)
            );
        }
        let (_, again) = pull(&lake, &mock, &["--since", "2026-11-02"]);
        assert!(
            again.status.success(),
            "request {n}, run again: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_same_flat(&lake, &want);
        std::fs::remove_dir_all(&lake).unwrap();
    }
    println!("pull: {requests} storage requests");
}
