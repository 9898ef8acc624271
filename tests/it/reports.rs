//! Reports: KPIs over a hand-made fixture, worked out by hand below; golden results for every
//! report; and the invariants of DESIGN.md ("Metrics") over generated data.
//!
//! The fixture (`tests/fixtures/reports/fixture.ndjson`), queue q1-0000-sales, 2026-11-02 UTC:
//!
//! | conv | queue wait | outcome                         | agent | talk      | hold | acw | handle |
//! | ---- | ---------- | ------------------------------- | ----- | --------- | ---- | --- | ------ |
//! | A    | 10 s       | answered (after an IVR)         | u1    | 60 s+40 s | 20 s | 30 s| 150 s  |
//! | B    | 30 s       | answered, over the 20 s target  | u2    | 50 s      | -    | 10 s| 60 s   |
//! | C    | 5 s        | abandoned, short (< 10 s)       |       |           |      |     |        |
//! | D    | 40 s       | abandoned                       |       |           |      |     |        |
//! | E    | 60 s       | flowed out                      |       |           |      |     |        |
//!
//! Queue, by day: offered 5 = answered 2 + abandoned 2 + flow-outs 1; ASA = (10 + 30) / 2 = 20 s;
//! average wait = (10 + 30 + 5 + 40 + 60) / 5 = 29 s, longest 60 s; answered over target 1 (B);
//! service level (short abandons left out, flow-outs not counted) = (2 - 1) / (2 + 2 - 1) =
//! 33.33 %; abandon % = 2 / 5 = 40 %; answer % = 2 / 5 = 40 %.
//! Agents: u1 answered 1, handled 1, talk 100 s in 2 talk segments (average 50 s), hold 20 s,
//! acw 30 s, AHT 150 s; u2 answered 1, handled 1, talk 50 s, acw 10 s, AHT 60 s.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use convlake::generate::{write_export, ExportFormat, GenerateOptions};
use convlake::ingest::discover;
use convlake::lake::upsert::{ingest, IngestOptions};
use convlake::reports::{discover as reports, run_one, ReportParams};

use crate::util::{fixture, repo};

/// Rows of `batches` as maps column → displayed value.
fn rows(batches: &[RecordBatch]) -> Vec<BTreeMap<String, String>> {
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(&formatters)
                    .map(|(f, fmt)| (f.name().clone(), fmt.value(row).to_string()))
                    .collect(),
            );
        }
    }
    out
}

fn csv(batches: &[RecordBatch]) -> String {
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buffer);
        for b in batches {
            writer.write(b).unwrap();
        }
    }
    String::from_utf8(buffer).unwrap()
}

fn fixture_lake(dir: &Path) -> std::path::PathBuf {
    let lake = dir.join("lake");
    let summary = ingest(
        &convlake::Lake::local(&lake),
        discover(&[fixture("reports")]).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!((summary.stored, summary.rejected), (5, 0));
    lake
}

/// A session over the fixture's lake, made under `dir`.
async fn fixture_session(dir: &Path) -> datafusion::prelude::SessionContext {
    convlake::catalog::open(&convlake::Lake::local(&fixture_lake(dir)))
        .await
        .unwrap()
}

fn day_params() -> ReportParams {
    ReportParams {
        granularity: "P1D".into(),
        ..ReportParams::for_interval("2026-11-02T00:00:00Z/2026-11-03T00:00:00Z")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_match_the_hand_worked_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = fixture_session(dir.path()).await;
    let all = reports(None).unwrap();
    let bound = day_params().bind().unwrap();
    let find = |name: &str| all.iter().find(|r| r.name == name).unwrap().clone();

    let queue = rows(
        &run_one(&ctx, &find("queue_performance"), &bound)
            .await
            .unwrap(),
    );
    assert_eq!(queue.len(), 1);
    let q = &queue[0];
    let expect = [
        ("queue_id", "q1-0000-sales"),
        ("interval_start", "2026-11-02T00:00:00Z"),
        ("offered", "5"),
        ("answered", "2"),
        ("abandoned", "2"),
        ("short_abandoned", "1"),
        ("flow_outs", "1"),
        ("asa_ms", "20000.0"),
        ("avg_wait_ms", "29000.0"),
        ("max_wait_ms", "60000"),
        ("answered_over_target", "1"),
        ("abandon_pct", "40.0"),
        ("answer_pct", "40.0"),
    ];
    for (column, value) in expect {
        assert_eq!(q[column], value, "queue_performance.{column}");
    }
    assert!(
        q["service_level_pct"].starts_with("33.33"),
        "{}",
        q["service_level_pct"]
    );

    // With flow-outs counted and short abandons kept: (2 - 1) / (2 + 2 + 1) = 20 %.
    let other = ReportParams {
        service_level_include_flow_outs: true,
        service_level_exclude_short_abandons: false,
        ..day_params()
    };
    let q = &rows(
        &run_one(&ctx, &find("queue_performance"), &other.bind().unwrap())
            .await
            .unwrap(),
    )[0];
    assert_eq!(q["service_level_pct"], "20.0");

    let agents = rows(
        &run_one(&ctx, &find("agent_performance"), &bound)
            .await
            .unwrap(),
    );
    let by_user: BTreeMap<&str, &BTreeMap<String, String>> =
        agents.iter().map(|r| (r["user_id"].as_str(), r)).collect();
    for (user, expect) in [
        (
            "u1-0000-ana",
            [
                ("answered", "1"),
                ("handled", "1"),
                ("talk_ms", "100000"),
                ("avg_talk_ms", "50000.0"),
                ("hold_ms", "20000"),
                ("acw_ms", "30000"),
                ("aht_ms", "150000.0"),
            ],
        ),
        (
            "u2-0000-ben",
            [
                ("answered", "1"),
                ("handled", "1"),
                ("talk_ms", "50000"),
                ("avg_talk_ms", "50000.0"),
                ("hold_ms", "0"),
                ("acw_ms", "10000"),
                ("aht_ms", "60000.0"),
            ],
        ),
    ] {
        for (column, value) in expect {
            assert_eq!(
                by_user[user][column], value,
                "agent_performance.{column} of {user}"
            );
        }
    }

    // Hourly buckets in New York: A's metrics fall in 05:00 local = 10:00Z.
    let hourly = ReportParams {
        tz: "America/New_York".into(),
        granularity: "PT1H".into(),
        ..day_params()
    };
    let q = rows(
        &run_one(&ctx, &find("queue_performance"), &hourly.bind().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(q.len(), 5);
    assert_eq!(
        (
            q[0]["interval_start"].as_str(),
            q[0]["offered"].as_str(),
            q[0]["answered"].as_str()
        ),
        ("2026-11-02T10:00:00Z", "1", "1")
    );
}

/// The other eight reports against values worked out by hand from the fixture's records (the
/// table at the top of this file, and the IVR, quality, survey and evaluation parts of A and B):
///
/// - handle_time (q1, voice, the day): handled 2 (A, B); AHT (150 + 60) / 2 = 105 s; talk
///   (60 + 40 + 50) / 3 talk segments = 50 s; hold 20 s / 1 = 20 s; ACW (30 + 10) / 2 = 20 s.
/// - wrap_up_codes: wrap-sale twice (A's and B's wrap-up segments), by 2 agents.
/// - ivr_flows: Main IVR (INBOUNDCALL) entered once (A), left by a transfer (tFlowExit, not a
///   disconnect: containment 0 %), 20 s in the flow, one outcome, SUCCESS.
/// - transfers: each of the 5 conversations has one ACD leg in q1 and no queue after it; no
///   agent transferred or consulted.
/// - abandons: C after 5 s (band 5-10s, short: tShortAbandon), D after 40 s (band 30-60s).
/// - voice_quality: A's agent session on edge-1: MOS 4.1, R-factor 85, 3 packets discarded,
///   not under 3.5.
/// - surveys_evaluations: u1 (A) an evaluation of 80; u2 (B) a survey of 9, a promoter: NPS
///   (1 − 0) / 1 = 100.
/// - daily_volume: 5 voice inbound conversations on 2026-11-02: 2 answered (A, B), 2
///   abandoned (C, D), none self-served or in progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_eight_reports_match_values_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = fixture_session(dir.path()).await;
    let all = reports(None).unwrap();
    let bound = day_params().bind().unwrap();
    let mut checked = std::collections::BTreeSet::new();
    let expect: &[(&str, &[&[(&str, &str)]])] = &[
        (
            "handle_time",
            &[&[
                ("queue_id", "q1-0000-sales"),
                ("media_type", "voice"),
                ("handled", "2"),
                ("aht_ms", "105000.0"),
                ("avg_talk_ms", "50000.0"),
                ("avg_hold_ms", "20000.0"),
                ("avg_acw_ms", "20000.0"),
            ]],
        ),
        (
            "wrap_up_codes",
            &[&[
                ("wrap_up_code", "wrap-sale"),
                ("wrap_ups", "2"),
                ("agents", "2"),
            ]],
        ),
        (
            "ivr_flows",
            &[&[
                ("flow_name", "Main IVR"),
                ("flow_type", "INBOUNDCALL"),
                ("entries", "1"),
                ("contained", "0"),
                ("exits", "1"),
                ("containment_pct", "0.0"),
                ("avg_flow_ms", "20000.0"),
                ("outcomes_succeeded", "1"),
                ("outcomes_failed", "0"),
            ]],
        ),
        (
            "transfers",
            &[&[
                ("from_queue_id", "q1-0000-sales"),
                ("to_queue_id", ""),
                ("legs", "5"),
                ("conversations", "5"),
                ("agent_blind_transfers", "0"),
                ("agent_consult_transfers", "0"),
            ]],
        ),
        (
            "abandons",
            &[
                &[
                    ("wait_band", "5-10s"),
                    ("short", "true"),
                    ("abandons", "1"),
                    ("avg_wait_ms", "5000.0"),
                ],
                &[
                    ("wait_band", "30-60s"),
                    ("short", "false"),
                    ("abandons", "1"),
                    ("avg_wait_ms", "40000.0"),
                ],
            ],
        ),
        (
            "voice_quality",
            &[&[
                ("edge_id", "edge-1"),
                ("sessions_measured", "1"),
                ("min_mos", "4.1"),
                ("min_r_factor", "85.0"),
                ("pct_under_3_5", "0.0"),
                ("discarded_packets", "3"),
            ]],
        ),
        (
            "surveys_evaluations",
            &[
                &[
                    ("user_id", "u1-0000-ana"),
                    ("surveys", "0"),
                    ("evaluations", "1"),
                    ("avg_evaluation_score", "80.0"),
                ],
                &[
                    ("user_id", "u2-0000-ben"),
                    ("surveys", "1"),
                    ("avg_promoter_score", "9.0"),
                    ("nps", "100.0"),
                    ("evaluations", "0"),
                ],
            ],
        ),
        (
            "daily_volume",
            &[&[
                ("day_start", "2026-11-02T00:00:00Z"),
                ("media_type", "voice"),
                ("direction", "inbound"),
                ("conversations", "5"),
                ("answered", "2"),
                ("abandoned", "2"),
                ("self_served", "0"),
                ("in_progress", "0"),
            ]],
        ),
    ];
    for (name, want) in expect {
        let report = all.iter().find(|r| r.name == *name).unwrap();
        let got = rows(&run_one(&ctx, report, &bound).await.unwrap());
        assert_eq!(got.len(), want.len(), "{name}: {got:?}");
        for (row, want) in got.iter().zip(want.iter()) {
            for (column, value) in want.iter() {
                assert_eq!(row[*column], *value, "{name}.{column}");
            }
        }
        checked.insert(*name);
    }
    // With the two of kpis_match_the_hand_worked_fixture, every report has an oracle.
    let every: std::collections::BTreeSet<&str> = all.iter().map(|r| r.name.as_str()).collect();
    let by_hand: std::collections::BTreeSet<&str> = checked
        .iter()
        .copied()
        .chain(["queue_performance", "agent_performance"])
        .collect();
    assert_eq!(by_hand, every);
}

/// The HTML report of the fixture, byte for byte (the lake's commit time and path fixed):
/// a change to what it shows or how is seen in review, and blessed with CONVLAKE_BLESS=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_of_the_fixture_matches_its_golden_file() {
    use convlake::present::html::{document, Provenance, Section};
    let dir = tempfile::tempdir().unwrap();
    let ctx = fixture_session(dir.path()).await;
    let names = convlake::present::names::Names::load(&ctx, None)
        .await
        .unwrap();
    let params = ReportParams {
        tz: "America/New_York".into(),
        granularity: "PT1H".into(),
        ..day_params()
    };
    let bound = params.bind().unwrap();
    let mut sections = Vec::new();
    for report in reports(None).unwrap() {
        let batches = run_one(&ctx, &report, &bound).await.unwrap();
        let schema = batches[0].schema();
        let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
        sections.push(Section {
            report: report.name.clone(),
            summary: report.summary(),
            batch: names.decorate(&batch).unwrap(),
        });
    }
    let provenance = Provenance {
        lake: "tests/fixtures/reports".into(),
        version: Some(1),
        committed_at: Some("2026-11-03T06:00:00.000Z".into()),
        watermark: None,
    };
    let got = document(&params, &provenance, &sections).unwrap();
    let path = repo().join("tests/golden/reports/report.html");
    if std::env::var_os("CONVLAKE_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: bless with CONVLAKE_BLESS=1", path.display()));
    assert!(
        got == want,
        "the HTML report differs from {}",
        path.display()
    );
    // What the fixture's hand-worked values look like on the page.
    for shown in [
        "<figcaption>Sales</figcaption>",
        r#"data-tile="Offered">5<"#,
        r#"data-tile="Service level">33.3%<"#,
        r#"data-tile="ASA">0:00:20<"#,
        r#"data-tile="AHT">0:01:45<"#,
    ] {
        assert!(got.contains(shown), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_matches_its_golden_result() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = fixture_session(dir.path()).await;
    let bound = day_params().bind().unwrap();
    let golden = repo().join("tests/golden/reports");
    let bless = std::env::var_os("CONVLAKE_BLESS").is_some();
    for report in reports(None).unwrap() {
        let got = csv(&run_one(&ctx, &report, &bound)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", report.name)));
        let path = golden.join(format!("{}.csv", report.name));
        if bless {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing: bless with CONVLAKE_BLESS=1", path.display()));
        assert_eq!(got, want, "{} differs from its golden result", report.name);
        assert!(
            got.lines().count() > 1,
            "{} is empty on the fixture",
            report.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_hold_over_generated_data() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gen.ndjson");
    let options = GenerateOptions {
        conversations: 800,
        seed: 99,
        days: 2,
        in_progress_share: 0.0,
        ..Default::default()
    };
    write_export(&options, ExportFormat::Ndjson, 100, false, &input).unwrap();
    let lake = dir.path().join("lake");
    ingest(
        &convlake::Lake::local(&lake),
        discover(&[input]).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    let ctx = convlake::catalog::open(&convlake::Lake::local(&lake))
        .await
        .unwrap();
    let all = reports(None).unwrap();
    // One bucket covering everything the two days emitted (the month).
    let params = ReportParams {
        granularity: "P1M".into(),
        ..ReportParams::for_interval("2026-11-01T00:00:00Z/2026-11-30T00:00:00Z")
    };
    let queue = all.iter().find(|r| r.name == "queue_performance").unwrap();
    let q = rows(&run_one(&ctx, queue, &params.bind().unwrap()).await.unwrap());
    assert!(q.len() >= 10);
    for row in &q {
        let n = |c: &str| row[c].parse::<i64>().unwrap();
        assert_eq!(
            n("offered"),
            n("answered") + n("abandoned") + n("flow_outs"),
            "{row:?}"
        );
    }
    // ASA = sum(tAnswered) / count(tAnswered), against the metrics table directly.
    let direct = ctx
        .sql("SELECT queue_id, CAST(sum(value) AS DOUBLE) / count(*) AS asa FROM metrics WHERE name = 'tAnswered' AND purpose = 'agent' GROUP BY queue_id")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let direct: BTreeMap<String, String> = rows(&direct)
        .into_iter()
        .map(|r| (r["queue_id"].clone(), r["asa"].clone()))
        .collect();
    for row in &q {
        assert_eq!(
            row["asa_ms"], direct[&row["queue_id"]],
            "ASA of {}",
            row["queue_id"]
        );
    }
    // tHandle = tTalkComplete + tHeldComplete + tAcw on every agent session.
    let broken = ctx
        .sql("SELECT count(*) AS n FROM metrics_pivot WHERE purpose = 'agent' AND t_handle IS NOT NULL AND t_handle <> coalesce(t_talk_complete, 0) + coalesce(t_held_complete, 0) + coalesce(t_acw, 0)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows(&broken)[0]["n"], "0");
}

#[test]
fn a_job_file_runs_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let lake = fixture_lake(dir.path());
    let job = dir.path().join("nightly.toml");
    let out = dir.path().join("out");
    std::fs::write(
        &job,
        format!(
            "lake = {lake:?}\nout = {out:?}\nformat = \"json\"\n\n[[run]]\nreports = [\"queue_performance\", \"agent_performance\"]\nout = \"daily\"\ninterval = \"2026-11-02T00:00:00Z/2026-11-03T00:00:00Z\"\ngranularity = \"P1D\"\n\n[[run]]\nreports = [\"all\"]\nout = \"hourly\"\ninterval = \"2026-11-02T00:00:00Z/2026-11-03T00:00:00Z\"\ngranularity = \"PT1H\"\ntz = \"Europe/Berlin\"\n"
        ),
    )
    .unwrap();
    let output = std::process::Command::new(crate::util::binary())
        .args(["report", "job"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let daily: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("daily/queue_performance.json")).unwrap())
            .unwrap();
    assert_eq!(daily[0]["offered"], 5);
    assert_eq!(
        std::fs::read_dir(out.join("hourly")).unwrap().count(),
        convlake::reports::BUILT_IN.len()
    );
    // A bad parameter anywhere stops the job before anything runs.
    std::fs::write(&job, format!("lake = {lake:?}\nout = {:?}\n[[run]]\nreports = [\"all\"]\ninterval = \"2026-11-03T00:00:00Z/2026-11-02T00:00:00Z\"\n", dir.path().join("bad"))).unwrap();
    let output = std::process::Command::new(crate::util::binary())
        .args(["report", "job"])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn every_report_file_is_built_in_and_documented() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("sql/reports"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = convlake::reports::BUILT_IN
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    built_in.sort();
    assert_eq!(on_disk, built_in);
    for report in reports(None).unwrap() {
        for part in [
            "report:",
            "measures:",
            "grain:",
            "parameters:",
            "definition",
        ] {
            assert!(
                report.header.contains(part),
                "{} lacks `{part}` in its opening comment",
                report.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_without_a_queue_stay_in_a_row_with_an_empty_queue() {
    // The fixture, plus conv-f: an ACD session whose segment names no queue, abandoned after
    // 15 s. Genesys keeps such metrics in a group without the queue key; so do the reports.
    let dir = tempfile::tempdir().unwrap();
    let lake = fixture_lake(dir.path());
    let extra = dir.path().join("no-queue.ndjson");
    let record = serde_json::json!({
        "conversationId": "conv-f", "conversationStart": "2026-11-02T15:00:00.000Z",
        "participants": [{"participantId": "f-acd", "purpose": "acd", "sessions": [{
            "sessionId": "f-s", "mediaType": "voice", "direction": "inbound",
            "segments": [{"segmentType": "interact", "segmentStart": "2026-11-02T15:00:00.000Z", "segmentEnd": "2026-11-02T15:00:15.000Z"}],
            "metrics": [
                {"name": "nOffered", "value": 1, "emitDate": "2026-11-02T15:00:00.000Z"},
                {"name": "tAcd", "value": 15000, "emitDate": "2026-11-02T15:00:15.000Z"},
                {"name": "tAbandon", "value": 15000, "emitDate": "2026-11-02T15:00:15.000Z"}]}]}]
    });
    std::fs::write(&extra, record.to_string()).unwrap();
    ingest(
        &convlake::Lake::local(&lake),
        discover(&[extra]).unwrap(),
        &IngestOptions::default(),
    )
    .unwrap();
    let ctx = convlake::catalog::open(&convlake::Lake::local(&lake))
        .await
        .unwrap();
    let all = reports(None).unwrap();
    let bound = day_params().bind().unwrap();
    let run = |name: &str| {
        let report = all.iter().find(|r| r.name == name).unwrap().clone();
        let ctx = ctx.clone();
        let bound = bound.clone();
        async move { rows(&run_one(&ctx, &report, &bound).await.unwrap()) }
    };
    let queue = run("queue_performance").await;
    let offered: Vec<(String, String, String)> = queue
        .iter()
        .map(|r| {
            (
                r["queue_id"].clone(),
                r["offered"].clone(),
                r["abandoned"].clone(),
            )
        })
        .collect();
    assert_eq!(
        offered,
        vec![
            (
                "q1-0000-sales".to_string(),
                "5".to_string(),
                "2".to_string()
            ),
            (String::new(), "1".into(), "1".into()),
        ]
    );
    let abandons = run("abandons").await;
    assert!(
        abandons.iter().any(|r| r["queue_id"].is_empty()),
        "{abandons:?}"
    );
}
