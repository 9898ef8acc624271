//! Decode and flatten throughput: generated NDJSON through the whole decode pipeline (framing,
//! parsing, Arrow building for every table), with one and with two decoder threads, in MB/s
//! of JSON and in conversations/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use convlake::generate::{ndjson_string, GenerateOptions};
use convlake::ingest::{DecoderBuilder, Input};

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
                        rows += decoded.unwrap().tables.0[0].batch.num_rows();
                    }
                    assert_eq!(rows, 5_000);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
