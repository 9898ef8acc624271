//! Helpers shared by the integration tests: decoding text through the real pipeline, paths of
//! fixtures and of the built binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::concat_batches;
use convlake::ingest::{DecoderBuilder, Input, Reject};
use convlake::lake::snapshot;
use convlake::model::audit::DriftReport;
use convlake::schema::{pages_schema, Table};

/// Everything the decode pipeline produced for some input, batches concatenated per table.
pub struct Output {
    pub tables: BTreeMap<Table, RecordBatch>,
    pub pages: RecordBatch,
    pub rejects: Vec<Reject>,
    pub drift: DriftReport,
    pub records: u64,
}

impl Output {
    pub fn table(&self, table: Table) -> &RecordBatch {
        &self.tables[&table]
    }
}

/// Decodes `inputs` with the real pipeline (two threads, small chunks to exercise ordering).
pub fn decode_inputs(inputs: Vec<Input>) -> Output {
    let mut per_table: BTreeMap<Table, Vec<(u64, RecordBatch)>> = BTreeMap::new();
    let mut pages = Vec::new();
    let mut rejects = Vec::new();
    let mut drift = DriftReport::default();
    let mut records = 0;
    let stream = DecoderBuilder::new()
        .with_threads(2)
        .with_chunk_bytes(64 * 1024)
        .decode(inputs);
    for decoded in stream {
        let decoded = decoded.expect("decoding does not fail on readable inputs");
        let order = (decoded.input as u64) << 32 | decoded.seq;
        for t in decoded.tables.0 {
            per_table.entry(t.table).or_default().push((order, t.batch));
        }
        pages.push((order, decoded.pages));
        rejects.extend(decoded.rejects);
        drift.merge(&decoded.drift);
        records += decoded.records;
    }
    let concat = |mut parts: Vec<(u64, RecordBatch)>, schema| {
        parts.sort_by_key(|(o, _)| *o);
        let batches: Vec<RecordBatch> = parts.into_iter().map(|(_, b)| b).collect();
        concat_batches(&schema, &batches).unwrap()
    };
    let tables = Table::ALL
        .into_iter()
        .map(|t| {
            (
                t,
                concat(per_table.remove(&t).unwrap_or_default(), t.schema()),
            )
        })
        .collect();
    rejects.sort_by(|a, b| (&a.source_file, a.record_index).cmp(&(&b.source_file, b.record_index)));
    Output {
        tables,
        pages: concat(pages, pages_schema()),
        rejects,
        drift,
        records,
    }
}

/// Writes `bytes` to `dir/name` and decodes that file.
pub fn decode_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    decode_inputs(vec![Input::File(path)])
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture file under `tests/fixtures`.
pub fn fixture(relative: &str) -> PathBuf {
    repo().join("tests/fixtures").join(relative)
}

/// The `convlake` binary built for these tests.
#[allow(dead_code)] // used by the CLI tests
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_convlake"))
}

/// Runs `command` to its end and returns its output; fails the test with its stderr when it
/// does not succeed.
pub fn run_ok(command: &mut std::process::Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The string values of column `name`, dictionary or plain.
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).unwrap();
    let column = column
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    column.iter().map(|v| v.map(str::to_string)).collect()
}

/// The i64 values of column `name` (integers and timestamps).
pub fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Int64).unwrap();
    let column = column
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    column.iter().collect()
}

/// Where the data file `file` of `table` is.
pub fn file_path(lake: &Path, table: Table, file: &convlake::lake::LakeFile) -> PathBuf {
    lake.join(convlake::lake::layout::data_file(table, &file.path))
}

/// Asserts that the rows of the data file `file` of `table` are in the lake's file order:
/// each row group in the table's sort order, row groups following each other by
/// `conversation_start`. Returns the number of row groups.
pub fn assert_file_order(lake: &Path, table: Table, file: &convlake::lake::LakeFile) -> usize {
    let local = convlake::Lake::local(lake);
    let path = convlake::lake::layout::data_file(table, &file.path);
    let mut previous = i64::MIN;
    let mut groups = 0;
    for group in convlake::lake::files::read_row_groups(&local, &path).unwrap() {
        let group = group.unwrap();
        groups += 1;
        assert_eq!(
            convlake::lake::files::sort_order(table, std::slice::from_ref(&group)),
            None,
            "row group {groups} of {} ({path}) is not in order",
            table.name()
        );
        let starts = group
            .column_by_name("conversation_start")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let (first, last) = (
            arrow::compute::min(starts).unwrap(),
            arrow::compute::max(starts).unwrap(),
        );
        assert!(
            first >= previous,
            "row group {groups} of {} ({path}) starts before the one ahead of it ends",
            table.name()
        );
        previous = last;
    }
    groups
}

/// Every row of the Parquet file at `path`, read with the parquet crate.
pub fn read_parquet(path: &Path) -> Vec<arrow::array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Every row of every table of the latest snapshot, read with the parquet crate, as text
/// sorted: the content of the lake, whatever the file names.
pub fn content(lake: &Path) -> BTreeMap<String, Vec<String>> {
    content_except(lake, &["ingested_at"])
}

/// [`content`] without the columns `skip` of `raw_conversations`.
pub fn content_except(lake: &Path, skip: &[&str]) -> BTreeMap<String, Vec<String>> {
    let snap = snapshot::latest(&convlake::Lake::local(lake)).unwrap();
    let mut out = BTreeMap::new();
    for table in Table::ALL {
        let mut rows = Vec::new();
        for file in snap.files(table) {
            for batch in read_parquet(&file_path(lake, table, file)) {
                let batch = if table == Table::RawConversations {
                    // Ingest time is the one column that differs between runs by design.
                    let keep: Vec<usize> = (0..batch.num_columns())
                        .filter(|&i| !skip.contains(&batch.schema().field(i).name().as_str()))
                        .collect();
                    batch.project(&keep).unwrap()
                } else {
                    batch
                };
                rows.extend(render(&batch));
            }
        }
        rows.sort();
        out.insert(table.name().to_string(), rows);
    }
    out
}

/// Equal lake contents, or a message naming the first table and row that differ.
pub fn assert_same(got: &BTreeMap<String, Vec<String>>, want: &BTreeMap<String, Vec<String>>) {
    for (table, rows) in want {
        let other = &got[table];
        let first = rows.iter().zip(other).position(|(a, b)| a != b);
        assert!(
            first.is_none() && rows.len() == other.len(),
            "{table} differs ({} vs {} rows) at row {first:?}:\n want {}\n got  {}",
            rows.len(),
            other.len(),
            first.map_or("", |i| &rows[i][..rows[i].len().min(400)]),
            first.map_or("", |i| &other[i][..other[i].len().min(400)])
        );
    }
}

fn render(batch: &RecordBatch) -> Vec<String> {
    let formatted = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(batch))
        .unwrap()
        .to_string();
    // Cells are padded to the widths of their batch: trim them so rows compare across files.
    formatted
        .lines()
        .skip(3)
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join("|"))
        .collect()
}

/// The column name of a wire name: `mediaStatsMinConversationRFactor` →
/// `media_stats_min_conversation_r_factor`.
pub fn snake(wire: &str) -> String {
    let mut out = String::new();
    for c in wire.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The rows of `query` from `convlake sql --format csv` over `lake`, the header left out.
pub fn sql_rows(lake: &Path, query: &str) -> Vec<String> {
    let out = run_ok(
        std::process::Command::new(binary())
            .arg("--lake")
            .arg(lake)
            .args(["sql", "--format", "csv", query]),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// A TCP connection to `127.0.0.1:port` from the loopback address `source` (127.0.0.2, …):
/// what an attacker on another machine looks like to a server's per-address caps.
pub fn connect_from(source: &str, port: u16) -> std::net::TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(format!("{source}:0").parse().unwrap())?;
        socket
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await
    });
    let stream = stream.unwrap().into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// The address a server child process (spawned with stderr piped) says it listens on in its
/// first line on stderr: the first word starting with `prefix`. Its stderr is drained from
/// then on, so that the child never blocks on a full pipe.
pub fn announced_address(child: &mut std::process::Child, prefix: &str) -> String {
    use std::io::BufRead;
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} address in {line:?}"))
        .to_string();
    std::thread::spawn(move || for _ in stderr.lines() {});
    addr
}
