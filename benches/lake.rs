//! Writing the lake: Parquet files of every table from decoded Arrow batches, and a whole
//! ingest (decode, write, resolve, commit) of a generated export into an empty lake.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use convlake::columnar::tables::TableBatch;
use convlake::generate::{ndjson_string, GenerateOptions};
use convlake::ingest::{DecoderBuilder, Input};
use convlake::lake::files::{batch_bytes, start_order, FileWriter};
use convlake::lake::upsert::{ingest, IngestOptions};
use convlake::schema::Table;

const CONVERSATIONS: u64 = 5_000;

/// A generated export of [`CONVERSATIONS`] in a temporary directory, and its size.
fn export(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let text = ndjson_string(&GenerateOptions {
        conversations: CONVERSATIONS,
        seed: 1,
        ..Default::default()
    });
    let path = dir.join("bench.ndjson");
    std::fs::write(&path, &text).unwrap();
    (path, text.len() as u64)
}

/// Parquet writing alone: the decoded batches of each table written as one file, with the
/// lake's writer settings. Throughput is the in-memory Arrow size of the table.
fn parquet_write(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = export(dir.path());
    let mut per_table: Vec<(Table, Vec<TableBatch>)> =
        Table::ALL.iter().map(|t| (*t, Vec::new())).collect();
    for decoded in DecoderBuilder::new().decode(vec![Input::File(path)]) {
        for t in decoded.unwrap().tables.0 {
            let slot = per_table.iter_mut().find(|(table, _)| *table == t.table);
            slot.unwrap().1.push(t);
        }
    }
    let mut group = c.benchmark_group("parquet_write");
    group.sample_size(10);
    let lake = convlake::Lake::local(dir.path());
    for (table, decoded) in per_table {
        let batches: Vec<_> = decoded.iter().map(|t| t.batch.clone()).collect();
        let bytes: usize = batches.iter().map(batch_bytes).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let month = convlake::lake::layout::month_of_day(20_000);
        group.bench_function(BenchmarkId::new("table", table.name()), |b| {
            b.iter(|| {
                let order = start_order(&batches);
                let mut file = FileWriter::create(&lake, table, month).unwrap();
                file.append(&batches, order.as_deref(), |_, _| {}).unwrap();
                let written = file.finish().unwrap();
                let path = convlake::lake::layout::data_file(table, &written.path);
                std::fs::remove_file(dir.path().join(path)).unwrap();
                written
            })
        });
    }
    group.finish();
}

/// A whole ingest into an empty lake: MB/s of export and conversations/s.
fn whole_ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = export(dir.path());
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    let mut n = 0;
    for (unit, throughput) in [
        ("bytes", Throughput::Bytes(bytes)),
        ("conversations", Throughput::Elements(CONVERSATIONS)),
    ] {
        group.throughput(throughput);
        group.bench_function(BenchmarkId::new("ndjson_to_lake", unit), |b| {
            b.iter(|| {
                n += 1;
                let lake = dir.path().join(format!("lake-{n}"));
                let summary = ingest(
                    &convlake::Lake::local(&lake),
                    vec![Input::File(path.clone())],
                    &IngestOptions::default(),
                )
                .unwrap();
                assert_eq!(summary.conversations_new, CONVERSATIONS);
                std::fs::remove_dir_all(&lake).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parquet_write, whole_ingest);
criterion_main!(benches);
