//! Queries over a generated lake: each built-in report (one week, PT30M buckets, New York
//! time) and the five comparison questions of `benches/queries/`, through a real DataFusion
//! session over real Parquet files. Throughput is conversations in the lake per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use convlake::generate::{ndjson_string, GenerateOptions};
use convlake::ingest::Input;
use convlake::lake::upsert::{ingest, IngestOptions};
use convlake::reports::{discover, run_one, ReportParams};

const CONVERSATIONS: u64 = 20_000;

/// The five questions asked of both convlake and DuckDB by `benches/compare/run.sh`.
const QUESTIONS: [(&str, &str); 5] = [
    ("q1_per_day_media", include_str!("queries/q1.sql")),
    ("q2_aht_per_queue", include_str!("queries/q2.sql")),
    ("q3_abandon_rate_queue_hour", include_str!("queries/q3.sql")),
    ("q4_top_agents", include_str!("queries/q4.sql")),
    ("q5_attribute_filter", include_str!("queries/q5.sql")),
];

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    std::fs::write(
        &export,
        ndjson_string(&GenerateOptions {
            conversations: CONVERSATIONS,
            seed: 1,
            ..Default::default()
        }),
    )
    .unwrap();
    let lake = dir.path().join("lake");
    ingest(
        &convlake::Lake::local(&lake),
        vec![Input::File(export)],
        &IngestOptions::default(),
    )
    .unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = runtime
        .block_on(convlake::catalog::open(&convlake::Lake::local(&lake)))
        .unwrap();

    let mut group = c.benchmark_group("questions");
    group.sample_size(20);
    group.throughput(Throughput::Elements(CONVERSATIONS));
    for (name, sql) in QUESTIONS {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                    assert!(batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
                })
            })
        });
    }
    group.finish();

    let params = ReportParams {
        tz: "America/New_York".into(),
        ..ReportParams::for_interval("2026-11-02T00:00:00Z/2026-11-09T00:00:00Z")
    }
    .bind()
    .unwrap();
    let mut group = c.benchmark_group("reports");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CONVERSATIONS));
    for report in discover(None).unwrap() {
        group.bench_function(BenchmarkId::from_parameter(&report.name), |b| {
            b.iter(|| {
                let rows = runtime.block_on(run_one(&ctx, &report, &params)).unwrap();
                assert!(!rows.is_empty(), "{} returned nothing", report.name);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
