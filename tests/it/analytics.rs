//! The Genesys Analytics API over the lake: aggregate and detail queries worked out by hand
//! on small lakes, invariants over generated data, and the CLI's error contract (the HTTP
//! server is `serve.rs`).
//!
//! Lake 1 is the reports fixture (`tests/fixtures/reports`, hand-worked in `reports.rs`):
//! queue q1-0000-sales on 2026-11-02 UTC, five conversations A–E:
//!
//! | conv | nOffered at | outcome, emitted at         | agent | tHandle (at)        |
//! | ---- | ----------- | --------------------------- | ----- | ------------------- |
//! | A    | 10:00:20    | tAnswered 10 s at 10:00:30  | u1    | 150 s (10:03:00)    |
//! | B    | 11:00:00    | tAnswered 30 s at 11:00:30  | u2    | 60 s (11:01:30)     |
//! | C    | 12:00:00    | tAbandon 5 s (short) 12:00:05 |     |                     |
//! | D    | 13:00:00    | tAbandon 40 s at 13:00:40   |       |                     |
//! | E    | 14:00:00    | tFlowOut 60 s at 14:01:00   |       |                     |
//!
//! tAcd: 10, 30, 5, 40, 60 s. A's IVR session (no queue) emits tIvr 20 s. Every customer
//! session's segment names the queue, so nConnected groups under it.
//!
//! Lake 2 (literal JSON below) is two conversations around the end of summer time in
//! Europe/Berlin (2026-10-25, a 25-hour day), both in queue q2, one in divisions d1 and d2.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use convlake::analytics::aggregate::{self, AggregateBody, Settings};
use convlake::analytics::details::{self, DetailBody};
use convlake::ingest::discover;
use convlake::lake::upsert::{ingest, IngestOptions};
use serde_json::{json, Value};

use crate::util::{binary, fixture};

pub(crate) fn lake_from(dir: &Path, inputs: Vec<PathBuf>, expect: u64) -> PathBuf {
    let lake = dir.join("lake");
    let summary = ingest(
        &convlake::Lake::local(&lake),
        discover(&inputs).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!((summary.stored, summary.rejected), (expect, 0));
    lake
}

/// Lake 2: conv-x offered 2026-10-25T22:30Z (23:30 local, the 25-hour day), in divisions
/// d1 and d2; conv-y offered 2026-10-24T10:00Z (12:00 local), in division d1.
pub(crate) fn dst_lake(dir: &Path) -> PathBuf {
    let conv = |id: &str, start: &str, offered: &str, divisions: Value| {
        json!({
            "conversationId": id, "conversationStart": start, "divisionIds": divisions,
            "originatingDirection": "inbound",
            "participants": [{
                "participantId": format!("{id}-p1"), "purpose": "acd",
                "sessions": [{
                    "sessionId": format!("{id}-s1"), "mediaType": "voice", "direction": "inbound",
                    "segments": [{"segmentType": "interact", "queueId": "q2", "segmentStart": offered, "segmentEnd": offered}],
                    "metrics": [{"name": "nOffered", "value": 1, "emitDate": offered}]
                }]
            }]
        })
    };
    let records = [
        conv(
            "conv-x",
            "2026-10-25T22:29:00.000Z",
            "2026-10-25T22:30:00.000Z",
            json!(["d1", "d2"]),
        ),
        conv(
            "conv-y",
            "2026-10-24T09:59:00.000Z",
            "2026-10-24T10:00:00.000Z",
            json!(["d1"]),
        ),
    ];
    let path = dir.join("dst.ndjson");
    let text: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    lake_from(dir, vec![path], 2)
}

async fn aggregate_json(lake: &Path, body: Value, settings: &Settings) -> Value {
    let ctx = convlake::catalog::open(&convlake::Lake::local(lake))
        .await
        .unwrap();
    let body: AggregateBody = serde_json::from_value(body).unwrap();
    let answer = aggregate::answer(&ctx, &body, settings).await.unwrap();
    serde_json::from_str(&answer.body).unwrap()
}

/// (group, count of the first metric of the first bucket) of every result.
fn first_counts(answer: &Value) -> Vec<(Value, Value)> {
    let results = answer["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| {
            (
                r["group"].clone(),
                r["data"][0]["metrics"][0]["stats"]["count"].clone(),
            )
        })
        .collect()
}

pub(crate) const DAY: &str = "2026-11-02T00:00:00.000Z/2026-11-03T00:00:00.000Z";

fn timer(max: i64, min: i64, count: i64, sum: i64) -> Value {
    json!({"max": max, "min": min, "count": count, "sum": sum})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_worked_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let settings = Settings {
        sl_target_ms: Some(20_000),
        sl_goal: Some(0.8),
        ..Settings::default()
    };
    let metrics = [
        "nOffered",
        "tAnswered",
        "tAbandon",
        "tFlowOut",
        "tWait",
        "oServiceLevel",
        "tHandle",
        "tShortAbandon",
    ];

    // One day by queue: offered 5 = answered 2 + abandoned 2 + flow-outs 1; B answered over
    // the 20 s target; SL = (2 - 1) / (2 answered + 2 abandoned) = 0.25 (flow-outs out,
    // short abandons in, as Genesys counts by default).
    let day = aggregate_json(
        &lake,
        json!({"interval": DAY, "granularity": "P1D", "groupBy": ["queueId"], "metrics": metrics}),
        &settings,
    )
    .await;
    assert_eq!(
        day,
        json!({"results": [{"group": {"queueId": "q1-0000-sales"}, "data": [{"interval": DAY, "metrics": [
            {"metric": "nOffered", "stats": {"count": 5}},
            {"metric": "tAnswered", "stats": timer(30000, 10000, 2, 40000)},
            {"metric": "tAbandon", "stats": timer(40000, 5000, 2, 45000)},
            {"metric": "tFlowOut", "stats": timer(60000, 60000, 1, 60000)},
            {"metric": "tWait", "stats": timer(60000, 5000, 5, 145000)},
            {"metric": "oServiceLevel", "stats": {"ratio": 0.25, "numerator": 1, "denominator": 4, "target": 0.8}},
            {"metric": "tHandle", "stats": timer(150000, 60000, 2, 210000)},
            {"metric": "tShortAbandon", "stats": timer(5000, 5000, 1, 5000)},
        ]}]}]})
    );

    // By hour: each metric in the bucket of its own emit date; empty hours are left out, and
    // the 14:00 hour has no oServiceLevel (its only outcome is a flow-out: denominator 0).
    let hours = aggregate_json(&lake, json!({"interval": DAY, "granularity": "PT1H", "groupBy": ["queueId"], "metrics": ["nOffered", "tAnswered", "oServiceLevel"]}), &settings).await;
    let data = hours["results"][0]["data"].as_array().unwrap();
    let shown: Vec<(String, Vec<String>)> = data
        .iter()
        .map(|d| {
            (
                d["interval"].as_str().unwrap()[11..16].to_string(),
                d["metrics"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["metric"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let want = |h: &str, m: &[&str]| {
        (
            h.to_string(),
            m.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        shown,
        vec![
            want("10:00", &["nOffered", "tAnswered", "oServiceLevel"]),
            want("11:00", &["nOffered", "tAnswered", "oServiceLevel"]),
            want("12:00", &["nOffered", "oServiceLevel"]),
            want("13:00", &["nOffered", "oServiceLevel"]),
            want("14:00", &["nOffered"]),
        ]
    );
    assert_eq!(
        data[0]["interval"],
        "2026-11-02T10:00:00.000Z/2026-11-02T11:00:00.000Z"
    );
    assert_eq!(
        data[1]["metrics"][2]["stats"],
        json!({"ratio": 0.0, "numerator": 0, "denominator": 1, "target": 0.8})
    );

    // Groups without a key: nOffered sits on the ACD session, which has no user; tIvr on the
    // IVR session, which has no queue.
    let by_user = aggregate_json(&lake, json!({"interval": DAY, "groupBy": ["queueId", "userId"], "metrics": ["nOffered", "tHandle", "tIvr"]}), &Settings::default()).await;
    let groups: Vec<(Value, Vec<Value>)> = by_user["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["group"].clone(),
                r["data"][0]["metrics"].as_array().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            (
                json!({}),
                vec![json!({"metric": "tIvr", "stats": timer(20000, 20000, 1, 20000)})]
            ),
            (
                json!({"queueId": "q1-0000-sales"}),
                vec![json!({"metric": "nOffered", "stats": {"count": 5}})]
            ),
            (
                json!({"queueId": "q1-0000-sales", "userId": "u1-0000-ana"}),
                vec![json!({"metric": "tHandle", "stats": timer(150000, 150000, 1, 150000)})]
            ),
            (
                json!({"queueId": "q1-0000-sales", "userId": "u2-0000-ben"}),
                vec![json!({"metric": "tHandle", "stats": timer(60000, 60000, 1, 60000)})]
            ),
        ]
    );

    // A userId filter removes nOffered (no user on its record) and keeps u1's tHandle.
    let filtered = aggregate_json(&lake, json!({"interval": DAY, "metrics": ["nOffered", "tHandle"],
        "filter": {"type": "and", "predicates": [{"dimension": "userId", "value": "u1-0000-ana"}]}}), &Settings::default()).await;
    assert_eq!(
        filtered,
        json!({"results": [{"group": {}, "data": [{"interval": DAY, "metrics": [{"metric": "tHandle", "stats": timer(150000, 150000, 1, 150000)}]}]}]})
    );
    // An or-clause, exists and notExists.
    let clause = aggregate_json(&lake, json!({"interval": DAY, "metrics": ["nOffered", "tHandle"],
        "filter": {"type": "and", "clauses": [{"type": "or", "predicates": [{"dimension": "userId", "value": "u2-0000-ben"}, {"dimension": "purpose", "value": "acd"}]}],
                   "predicates": [{"dimension": "queueId", "operator": "exists"}]}}), &Settings::default()).await;
    assert_eq!(
        clause["results"][0]["data"][0]["metrics"],
        json!([{"metric": "nOffered", "stats": {"count": 5}}, {"metric": "tHandle", "stats": timer(60000, 60000, 1, 60000)}])
    );
    let no_queue = aggregate_json(&lake, json!({"interval": DAY, "metrics": ["tIvr", "nOffered"],
        "filter": {"type": "and", "predicates": [{"dimension": "queueId", "operator": "notExists"}]}}), &Settings::default()).await;
    assert_eq!(
        no_queue["results"][0]["data"][0]["metrics"],
        json!([{"metric": "tIvr", "stats": timer(20000, 20000, 1, 20000)}])
    );

    // topN by handle time keeps u1; bottomN keeps u2.
    for (kind, user) in [("topN", "u1-0000-ana"), ("bottomN", "u2-0000-ben")] {
        let top = aggregate_json(&lake, json!({"interval": DAY, "groupBy": ["userId"], "metrics": ["tHandle", "tAnswered"], "queryType": kind,
            "sortMetric": {"name": "tHandle", "function": "sum"}, "limit": 1}), &Settings::default()).await;
        let results = top["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{kind}: {top}");
        assert_eq!(results[0]["group"], json!({"userId": user}), "{kind}");
    }

    // A view: queue time under 20 s (A 10 s, C 5 s).
    let view = aggregate_json(&lake, json!({"interval": DAY, "metrics": ["tAcd"],
        "views": [{"target": "tAcd", "name": "acdUnder20s", "function": "rangeBound", "range": {"lt": 20000}}]}), &Settings::default()).await;
    assert_eq!(
        view["results"][0]["data"][0]["views"],
        json!([{"name": "acdUnder20s", "stats": timer(10000, 5000, 2, 15000)}])
    );
    assert_eq!(
        view["results"][0]["data"][0]["metrics"][0]["stats"],
        timer(60000, 5000, 5, 145000)
    );

    // Derived thresholds: abandons under 10 s are short (C); SL with short abandons left out
    // = (2 - 1) / (2 + 2 - 1).
    let derived = Settings {
        short_abandon_ms: Some(10_000),
        sl_exclude_short_abandons: true,
        ..settings.clone()
    };
    let sl = aggregate_json(&lake, json!({"interval": DAY, "metrics": ["tShortAbandon", "oServiceLevel", "nOverSla", "oServiceTarget"]}), &derived).await;
    assert_eq!(
        sl["results"][0]["data"][0]["metrics"],
        json!([
            {"metric": "tShortAbandon", "stats": timer(5000, 5000, 1, 5000)},
            {"metric": "oServiceLevel", "stats": {"ratio": 1.0 / 3.0, "numerator": 1, "denominator": 3, "target": 0.8}},
            {"metric": "nOverSla", "stats": {"count": 1}},
            {"metric": "oServiceTarget", "stats": {"target": 0.8}},
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_step_in_civil_time_and_multivalued_dimensions_split_or_flatten() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dst_lake(dir.path());
    let interval = "2026-10-24T00:00:00+02:00/2026-10-27T00:00:00+01:00";
    let days = aggregate_json(&lake, json!({"interval": interval, "granularity": "P1D", "timeZone": "Europe/Berlin", "metrics": ["nOffered"]}), &Settings::default()).await;
    // conv-x at 22:30Z is 23:30 on the 25-hour day: in the second bucket, not the third.
    assert_eq!(
        days,
        json!({"results": [{"group": {}, "data": [
            {"interval": "2026-10-23T22:00:00.000Z/2026-10-24T22:00:00.000Z", "metrics": [{"metric": "nOffered", "stats": {"count": 1}}]},
            {"interval": "2026-10-24T22:00:00.000Z/2026-10-25T23:00:00.000Z", "metrics": [{"metric": "nOffered", "stats": {"count": 1}}]},
        ]}]})
    );
    let split = aggregate_json(
        &lake,
        json!({"interval": interval, "groupBy": ["divisionId"], "metrics": ["nOffered"]}),
        &Settings::default(),
    )
    .await;
    assert_eq!(
        first_counts(&split),
        vec![
            (json!({"divisionId": "d1"}), json!(2)),
            (json!({"divisionId": "d2"}), json!(1))
        ]
    );
    let flat = aggregate_json(&lake, json!({"interval": interval, "groupBy": ["divisionId"], "metrics": ["nOffered"], "flattenMultivaluedDimensions": true}), &Settings::default()).await;
    assert_eq!(
        first_counts(&flat),
        vec![
            (json!({"divisionId": "d1"}), json!(1)),
            (json!({"divisionId": "d1,d2"}), json!(1))
        ]
    );
    // A matches filter on a multivalued dimension succeeds when any value equals it.
    let d2 = aggregate_json(&lake, json!({"interval": interval, "metrics": ["nOffered"], "filter": {"type": "and", "predicates": [{"dimension": "divisionId", "value": "d2"}]}}), &Settings::default()).await;
    assert_eq!(
        d2["results"][0]["data"][0]["metrics"][0]["stats"]["count"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_queries_page_filter_and_return_the_stored_records() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let ctx = convlake::catalog::open(&convlake::Lake::local(&lake))
        .await
        .unwrap();
    let run = |body: Value| {
        let ctx = ctx.clone();
        async move {
            let body: DetailBody = serde_json::from_value(body).unwrap();
            let answer = details::answer(&ctx, &body).await.unwrap();
            serde_json::from_str::<Value>(&answer.body).unwrap()
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["conversations"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["conversationId"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let page =
        run(json!({"interval": DAY, "order": "desc", "paging": {"pageSize": 2, "pageNumber": 2}}))
            .await;
    assert_eq!(
        (ids(&page), page["totalHits"].clone()),
        (vec!["conv-c".to_string(), "conv-b".into()], json!(5))
    );
    // The record comes back whole, fields convlake has no column for included.
    let original: Value = std::fs::read_to_string(fixture("reports/fixture.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|c| c["conversationId"] == "conv-b")
        .unwrap();
    assert_eq!(page["conversations"][1], original);
    // Segment filters: one segment must meet all predicates of a filter.
    let answered_by_u1 = run(json!({"interval": DAY, "segmentFilters": [{"type": "and", "predicates": [
        {"dimension": "userId", "value": "u1-0000-ana"}, {"dimension": "segmentType", "value": "wrapup"}]}]})).await;
    assert_eq!(ids(&answered_by_u1), vec!["conv-a"]);
    let nobody = run(json!({"interval": DAY, "segmentFilters": [{"type": "and", "predicates": [
        {"dimension": "userId", "value": "u1-0000-ana"}, {"dimension": "purpose", "value": "acd"}]}]})).await;
    assert_eq!(nobody, json!({"totalHits": 0}));
    // Conversation metric filters: abandoned conversations; and a segment duration range.
    let abandoned = run(json!({"interval": DAY, "conversationFilters": [{"type": "and", "predicates": [{"type": "metric", "metric": "tAbandon", "range": {"gte": 10000}}]}]})).await;
    assert_eq!(ids(&abandoned), vec!["conv-d"]);
    let long_acd = run(json!({"interval": DAY, "segmentFilters": [{"type": "and", "predicates": [
        {"dimension": "purpose", "value": "acd"}, {"type": "metric", "metric": "tSegmentDuration", "range": {"gt": 35000}}]}]})).await;
    assert_eq!(ids(&long_acd), vec!["conv-d", "conv-e"]);
}

/// Runs the CLI with `args` and `stdin`; returns (exit code, stdout JSON, stderr).
pub(crate) fn cli(lake: &Path, args: &[&str], stdin: &str) -> (i32, Value, String) {
    let mut child = Command::new(binary())
        .arg("--lake")
        .arg(lake)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_bodies_get_a_400_json_and_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_from(dir.path(), vec![fixture("reports")], 5);
    let cases = [
        ("{\"interval\": ", "bad.request"),
        (
            r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOfferd"]}"#,
            "invalid.metric",
        ),
        (
            r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOffered"], "groupBy": ["stationId"]}"#,
            "dimension.not.supported",
        ),
        (
            r#"{"interval": "2026-11-03T00:00:00Z/2026-11-02T00:00:00Z", "metrics": ["nOffered"]}"#,
            "invalid.interval",
        ),
        (
            r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "granularity": "PT30S", "metrics": ["nOffered"]}"#,
            "invalid.granularity",
        ),
        (
            r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": "nOffered"}"#,
            "invalid.value",
        ),
        (
            r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOffered"], "filter": {"type": "and", "clauses": [{"type": "or", "clauses": []}]}}"#,
            "invalid.value",
        ),
        (
            r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOffered"], "timeZone": "Mars/Olympus"}"#,
            "invalid.time.zone",
        ),
        (
            r#"{"interval": "2020-01-01T00:00:00Z/2026-11-03T00:00:00Z", "granularity": "PT1M", "metrics": ["nOffered"]}"#,
            "too.many.buckets",
        ),
    ];
    for (body, code) in cases {
        let (status, json, stderr) = cli(&lake, &["aggregate", "-"], body);
        assert_eq!(status, 2, "{body}: {json} {stderr}");
        assert_eq!(json["code"], code, "{body}: {json}");
        assert!(json["status"] == 400 || json["status"] == 413, "{json}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (status, json, _) = cli(
        &lake,
        &["details", "-"],
        r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "paging": {"pageSize": 1000}}"#,
    );
    assert_eq!((status, json["code"].as_str()), (2, Some("invalid.paging")));
    // More (bucket, group) cells than allowed: a 413, not a partial answer.
    let (status, json, _) = cli(
        &lake,
        &["aggregate", "-", "--max-cells", "3"],
        r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "granularity": "PT1H", "metrics": ["nOffered"]}"#,
    );
    assert_eq!(
        (status, json["status"].as_u64(), json["code"].as_str()),
        (2, Some(413), Some("too.many.results"))
    );
    // A good body prints the answer, and a note when the interval reaches before the lake.
    let (status, json, stderr) = cli(
        &lake,
        &["aggregate", "-"],
        r#"{"interval": "2026-11-02T00:00:00Z/2026-11-03T00:00:00Z", "metrics": ["nOffered"]}"#,
    );
    assert_eq!(
        (
            status,
            json["results"][0]["data"][0]["metrics"][0]["stats"]["count"].clone()
        ),
        (0, json!(5))
    );
    assert!(
        stderr.contains("first conversation started 2026-11-02T10:00:00.000Z"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_over_generated_data() {
    use convlake::generate::{write_export, ExportFormat, GenerateOptions};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gen.ndjson");
    let options = GenerateOptions {
        conversations: 1500,
        seed: 7,
        days: 3,
        in_progress_share: 0.0,
        ..Default::default()
    };
    write_export(&options, ExportFormat::Ndjson, 100, false, &input).unwrap();
    let lake = lake_from(dir.path(), vec![input], 1500);
    let month = "2026-11-01T00:00:00Z/2026-12-01T00:00:00Z";
    let s = Settings::default();
    let by_queue = aggregate_json(&lake, json!({"interval": month, "groupBy": ["queueId"], "metrics": ["nOffered", "tAnswered", "tAbandon", "tFlowOut"]}), &s).await;
    let count = |metrics: &Value, name: &str| -> i64 {
        metrics
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .map_or(0, |m| m["stats"]["count"].as_i64().unwrap())
    };
    let mut queues = 0;
    for r in by_queue["results"].as_array().unwrap() {
        let m = &r["data"][0]["metrics"];
        if r["group"].get("queueId").is_none() {
            continue;
        }
        queues += 1;
        assert_eq!(
            count(m, "nOffered"),
            count(m, "tAnswered") + count(m, "tAbandon") + count(m, "tFlowOut"),
            "{r}"
        );
    }
    assert!(queues >= 3, "{by_queue}");
    // The sums of a P1D query equal those of the same query by PT30M.
    let totals = |v: &Value| -> std::collections::BTreeMap<(String, String), (i64, i64)> {
        let mut out = std::collections::BTreeMap::new();
        for r in v["results"].as_array().unwrap() {
            for d in r["data"].as_array().unwrap() {
                for m in d["metrics"].as_array().unwrap() {
                    let e = out
                        .entry((
                            r["group"].to_string(),
                            m["metric"].as_str().unwrap().to_string(),
                        ))
                        .or_insert((0, 0));
                    e.0 += m["stats"]["count"].as_i64().unwrap_or(0);
                    e.1 += m["stats"]["sum"].as_i64().unwrap_or(0);
                }
            }
        }
        out
    };
    let interval = "2026-11-02T00:00:00Z/2026-11-06T00:00:00Z";
    let body = |g: &str| json!({"interval": interval, "granularity": g, "groupBy": ["queueId", "mediaType"], "metrics": ["nOffered", "tHandle", "tTalk", "tWait"]});
    let daily = aggregate_json(&lake, body("P1D"), &s).await;
    let half_hours = aggregate_json(&lake, body("PT30M"), &s).await;
    assert!(!totals(&daily).is_empty());
    assert_eq!(totals(&daily), totals(&half_hours));
    // Grouping by queue and user gives nOffered only in groups without a user.
    let by_user = aggregate_json(&lake, json!({"interval": interval, "groupBy": ["queueId", "userId"], "metrics": ["nOffered", "tHandle"]}), &s).await;
    let mut with_user = 0;
    for r in by_user["results"].as_array().unwrap() {
        let has_offered = r["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| count(&d["metrics"], "nOffered") > 0);
        if r["group"].get("userId").is_some() {
            with_user += 1;
            assert!(!has_offered, "{r}");
        }
    }
    assert!(with_user > 0);
}
