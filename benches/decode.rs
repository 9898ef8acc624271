//! Decode and flatten throughput: generated NDJSON through the whole decode pipeline (framing,
//! parsing, Arrow building for every table), with one and with two decoder threads, in MB/s
//! of JSON and in conversations/s; and parsing alone into the model, serde_json against the
//! SIMD parser sonic-rs (same serde model, one thread; `--features bench-sonic`), to decide
//! whether to switch (2026-11-30: it was not faster, 116-126 ms against 95-111 ms; see the
//! README's performance section).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use convlake::generate::{ndjson_string, GenerateOptions};
use convlake::ingest::{DecoderBuilder, Input};
use convlake::model::Conversation;

fn decode(c: &mut Criterion) {
    let text = ndjson_string(&GenerateOptions {
        conversations: 5_000,
        seed: 1,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.ndjson");
    std::fs::write(&path, &text).unwrap();

    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    for (unit, threads, throughput) in [
        ("bytes", 1, Throughput::Bytes(text.len() as u64)),
        ("bytes", 2, Throughput::Bytes(text.len() as u64)),
        ("conversations", 2, Throughput::Elements(5_000)),
    ] {
        group.throughput(throughput);
        group.bench_with_input(
            BenchmarkId::new(format!("ndjson_to_arrow_{unit}"), threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let mut rows = 0;
                    for decoded in DecoderBuilder::new()
                        .with_threads(threads)
                        .decode(vec![Input::File(path.clone())])
                    {
                        rows += decoded
                            .unwrap()
                            .tables
                            .0
                            .iter()
                            .filter(|t| t.table == convlake::schema::Table::Conversations)
                            .map(|t| t.batch.num_rows())
                            .sum::<usize>();
                    }
                    assert_eq!(rows, 5_000);
                })
            },
        );
    }
    group.finish();
}

/// Parsing alone: every record of the export into the model, with serde_json and (with the
/// `bench-sonic` feature) sonic-rs.
fn parse(c: &mut Criterion) {
    let text = ndjson_string(&GenerateOptions {
        conversations: 5_000,
        seed: 1,
        ..Default::default()
    });
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            for line in &lines {
                let c: Conversation = serde_json::from_str(line).unwrap();
                std::hint::black_box(c);
            }
        })
    });
    #[cfg(feature = "bench-sonic")]
    group.bench_function("sonic_rs", |b| {
        b.iter(|| {
            for line in &lines {
                let c: Conversation = sonic_rs::from_str(line).unwrap();
                std::hint::black_box(c);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decode, parse);
criterion_main!(benches);
