//! The ingest transaction: decoded batches in, one commit out.
//!
//! 1. **Stage.** Batches stream from the decoder into one Arrow IPC file per table, each row
//!    tagged with the ordinal of the record copy it came from, while a small index keeps, per
//!    conversation id, only the winning copy so far (freshest; ties to the later copy).
//! 2. **Resolve.** The winners are compared with the lake's own copies, read from
//!    `raw_conversations` of the partitions the input touches: older or identical copies are
//!    dropped, fresher ones replace the lake's.
//! 3. **Write.** Staged rows of winning copies are split by partition and written as sorted
//!    Parquet files, flushed on size; lake files holding replaced conversations are rewritten
//!    without them.
//! 4. **Commit.** A new snapshot lists the result; then the files it superseded are deleted.
//!
//! Memory is bounded by the decoder's chunks, the index (one small entry per conversation)
//! and the write buffers, whatever the size of the input. Nothing before the commit changes
//! what readers see; a crash anywhere leaves the previous snapshot, and leftovers are removed
//! by the next ingest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{
    DataType, Date32Type, Field, Schema, SchemaRef, TimestampMillisecondType, UInt64Type,
};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::{DecoderBuilder, Input};
use crate::lake::files::{
    batch_bytes, date_string, partition_dir, read_all, read_columns, to_file_batch, write_file,
    write_sorted,
};
use crate::lake::snapshot::{self, DataFile, Snapshot};
use crate::lake::{meta_dir, remove_leftovers, LakeLock};
use crate::model::audit::DriftReport;
use crate::model::format_timestamp;
use crate::schema::{pages_schema, Table, CONVERSATION_DATE, CONVERSATION_ID};

const RECORD_COLUMN: &str = "_record";

/// How to ingest.
#[derive(Clone)]
pub struct IngestOptions {
    /// The decoder settings (threads, chunk size).
    pub decoder: DecoderBuilder,
    /// Wait for another process holding the lake instead of failing.
    pub wait_for_lock: bool,
    /// In-memory size of the rows buffered for one file before it is written.
    pub file_bytes: usize,
    /// In-memory size of all write buffers of one table; the largest is flushed beyond it.
    pub buffer_budget: usize,
    /// Called after each decoded chunk with the progress so far.
    pub progress: Option<Arc<dyn Fn(&Progress) + Send + Sync>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            decoder: DecoderBuilder::new(),
            wait_for_lock: false,
            file_bytes: 64 << 20,
            buffer_budget: 160 << 20,
            progress: None,
        }
    }
}

/// Progress of the decode phase.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Bytes of record text decoded.
    pub json_bytes: u64,
    /// Records read.
    pub records: u64,
    /// Records rejected.
    pub rejected: u64,
}

/// What an ingest did. Records reconcile: `records_read = stored + superseded + rejected`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Input files read.
    pub files: usize,
    /// Size of the input files (as stored, compressed or not).
    pub bytes_in: u64,
    /// Bytes of record JSON decoded.
    pub json_bytes: u64,
    /// Records read, good or bad.
    pub records_read: u64,
    /// Record copies stored in this commit.
    pub stored: u64,
    /// Record copies not stored because another copy of the same conversation wins.
    pub superseded: u64,
    /// Of those: beaten by a fresher (or later) copy in the same input.
    pub superseded_in_input: u64,
    /// Of those: older than the lake's copy.
    pub older_than_lake: u64,
    /// Of those: identical to the lake's copy.
    pub identical_to_lake: u64,
    /// Records quarantined.
    pub rejected: u64,
    /// Where the quarantined records are (relative to the lake).
    pub rejects_file: Option<String>,
    /// Conversations the lake did not have.
    pub conversations_new: u64,
    /// Conversations whose lake copy was replaced.
    pub conversations_updated: u64,
    /// Conversations in the input that the lake already had as fresh or fresher.
    pub conversations_unchanged: u64,
    /// Unknown fields, unknown enum values, lenient date-times.
    pub drift: DriftReport,
    /// Inputs that could not be read, with why.
    pub input_errors: Vec<String>,
    /// Parquet bytes written.
    pub bytes_out: u64,
    /// Data files written and retired.
    pub files_written: u64,
    /// Data files retired (rewritten or replaced).
    pub files_retired: u64,
    /// The snapshot committed, if anything changed.
    pub snapshot: Option<u64>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl IngestSummary {
    /// Whether records reconcile: read = stored + superseded + rejected.
    pub fn reconciles(&self) -> bool {
        self.records_read == self.stored + self.superseded + self.rejected
    }
}

/// The winning copy of one conversation so far.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    freshness: i64,
    ordinal: u64,
    hash: u64,
    date: i32,
}

impl Candidate {
    /// Fresher wins; at equal freshness the later copy wins.
    fn beats(&self, other: &Candidate) -> bool {
        (self.freshness, self.ordinal) > (other.freshness, other.ordinal)
    }
}

/// Ingests `inputs` into the lake at `lake` as one commit.
pub fn ingest(lake: &Path, inputs: Vec<Input>, options: &IngestOptions) -> Result<IngestSummary> {
    let started = Instant::now();
    let lock = LakeLock::acquire(lake, options.wait_for_lock)?;
    let base = snapshot::latest(lake)?;
    remove_leftovers(lake, &base, &lock)?;
    let version = base.version + 1;
    let txn = format!(
        "{version:06}-{:08x}",
        (started.elapsed().as_nanos() as u64 ^ std::process::id() as u64 ^ now_ms() as u64) as u32
    );
    let staging = meta_dir(lake).join("staging").join(&txn);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io("cannot create", &staging, e))?;

    let mut summary = IngestSummary {
        files: inputs.len(),
        bytes_in: inputs
            .iter()
            .map(|i| match i {
                Input::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
                Input::Stdin => 0,
            })
            .sum(),
        ..IngestSummary::default()
    };

    // 1. Stage.
    let mut stage = Stage::create(&staging)?;
    let mut winners: HashMap<String, Candidate> = HashMap::new();
    let mut rejects = RejectWriter::new(lake, &txn);
    let mut pages: Vec<RecordBatch> = Vec::new();
    let mut progress = Progress::default();
    for decoded in options.decoder.clone().decode(inputs) {
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                summary.input_errors.push(e.to_string());
                continue;
            }
        };
        summary.records_read += decoded.records;
        summary.json_bytes += decoded.bytes;
        summary.drift.merge(&decoded.drift);
        summary.rejected += decoded.rejects.len() as u64;
        rejects.write(&decoded.rejects)?;
        if decoded.pages.num_rows() > 0 {
            pages.push(decoded.pages);
        }
        for t in &decoded.tables.0 {
            stage.write(t.table, &t.batch, &t.records)?;
            if t.table == Table::RawConversations {
                summary.superseded_in_input += index_copies(&t.batch, &t.records, &mut winners);
            }
        }
        progress.json_bytes = summary.json_bytes;
        progress.records = summary.records_read;
        progress.rejected = summary.rejected;
        if let Some(report) = &options.progress {
            report(&progress);
        }
    }
    stage.finish()?;
    summary.rejects_file = rejects.finish()?;

    // 2. Resolve against the lake.
    let lake_copies = read_lake_copies(lake, &base, winners.values().map(|c| c.date).collect())?;
    let mut keep: HashSet<u64> = HashSet::with_capacity(winners.len());
    let mut replaced: BTreeMap<i32, HashSet<String>> = BTreeMap::new();
    for (id, candidate) in winners {
        match lake_copies.get(&id) {
            None => {
                keep.insert(candidate.ordinal);
                summary.conversations_new += 1;
            }
            Some(&(freshness, _, _)) if freshness > candidate.freshness => {
                summary.older_than_lake += 1
            }
            Some(&(freshness, hash, _))
                if freshness == candidate.freshness && hash == candidate.hash =>
            {
                summary.identical_to_lake += 1
            }
            Some(&(_, _, date)) => {
                keep.insert(candidate.ordinal);
                replaced.entry(date).or_default().insert(id);
                summary.conversations_updated += 1;
            }
        }
    }
    summary.conversations_unchanged = summary.older_than_lake + summary.identical_to_lake;
    summary.stored = keep.len() as u64;
    summary.superseded =
        summary.superseded_in_input + summary.older_than_lake + summary.identical_to_lake;

    // 3. Write, 4. commit.
    if !keep.is_empty() || !replaced.is_empty() {
        let written = write_tables(lake, &base, &staging, &txn, &keep, &replaced, options)?;
        let mut next = Snapshot {
            version,
            committed_at: format_timestamp(now_ms()),
            tables: BTreeMap::new(),
            operation: serde_json::Value::Null,
        };
        let mut retired = Vec::new();
        for table in Table::ALL {
            let (new_files, retired_here) = &written[&table];
            let retired_set: HashSet<&str> = retired_here.iter().map(String::as_str).collect();
            let mut files: Vec<DataFile> = base
                .files(table.name())
                .iter()
                .filter(|f| !retired_set.contains(f.path.as_str()))
                .cloned()
                .collect();
            files.extend(new_files.iter().cloned());
            files.sort_by(|a, b| (&a.date, &a.path).cmp(&(&b.date, &b.path)));
            summary.bytes_out += new_files.iter().map(|f| f.bytes).sum::<u64>();
            summary.files_written += new_files.len() as u64;
            summary.files_retired += retired_here.len() as u64;
            retired.extend(retired_here.iter().cloned());
            next.tables.insert(table.name().to_string(), files);
        }
        if !pages.is_empty() {
            write_pages(lake, &txn, &pages)?;
        }
        summary.snapshot = Some(version);
        summary.seconds = started.elapsed().as_secs_f64();
        next.operation = serde_json::json!({ "ingest": &summary });
        snapshot::commit(lake, &next)?;
        // The commit is done: superseded files leave the table directories.
        for path in retired {
            let full = lake.join(&path);
            if let Err(e) = std::fs::remove_file(&full) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(Error::io("cannot remove superseded file", full, e));
                }
            }
        }
    }
    std::fs::remove_dir_all(&staging).map_err(|e| Error::io("cannot remove", &staging, e))?;
    // The parent goes too when no other work is under way (it never is: we hold the lock).
    let _ = std::fs::remove_dir(meta_dir(lake).join("staging"));
    summary.seconds = started.elapsed().as_secs_f64();
    drop(lock);
    Ok(summary)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Adds the copies of a `raw_conversations` batch to the index of winners; returns how many
/// copies lost (to a copy already indexed, or by being replaced).
fn index_copies(
    raw: &RecordBatch,
    records: &arrow::array::UInt64Array,
    winners: &mut HashMap<String, Candidate>,
) -> u64 {
    let ids = raw
        .column_by_name(CONVERSATION_ID)
        .expect("key")
        .as_string::<i32>();
    let dates = raw
        .column_by_name(CONVERSATION_DATE)
        .expect("key")
        .as_primitive::<Date32Type>();
    let freshness = raw
        .column_by_name("freshness")
        .expect("freshness")
        .as_primitive::<TimestampMillisecondType>();
    let hashes = raw
        .column_by_name("content_hash")
        .expect("hash")
        .as_string::<i32>();
    let mut lost = 0;
    for i in 0..raw.num_rows() {
        let candidate = Candidate {
            freshness: freshness.value(i),
            ordinal: records.value(i),
            hash: u64::from_str_radix(hashes.value(i), 16).unwrap_or_default(),
            date: dates.value(i),
        };
        match winners.get_mut(ids.value(i)) {
            Some(current) => {
                lost += 1;
                if candidate.beats(current) {
                    *current = candidate;
                }
            }
            None => {
                winners.insert(ids.value(i).to_string(), candidate);
            }
        }
    }
    lost
}

/// The lake's copies of the conversations in partitions `dates`: id → (freshness, hash, date).
fn read_lake_copies(
    lake: &Path,
    base: &Snapshot,
    dates: HashSet<i32>,
) -> Result<HashMap<String, (i64, u64, i32)>> {
    let wanted: HashMap<String, i32> = dates.into_iter().map(|d| (date_string(d), d)).collect();
    let mut out = HashMap::new();
    for file in base.files(Table::RawConversations.name()) {
        let Some(&date) = wanted.get(&file.date) else {
            continue;
        };
        for batch in read_columns(
            &lake.join(&file.path),
            &[CONVERSATION_ID, "freshness", "content_hash"],
        )? {
            let ids = batch.column(0).as_string::<i32>();
            let freshness = batch.column(1).as_primitive::<TimestampMillisecondType>();
            let hashes = batch.column(2).as_string::<i32>();
            for i in 0..batch.num_rows() {
                let hash = u64::from_str_radix(hashes.value(i), 16).unwrap_or_default();
                out.insert(ids.value(i).to_string(), (freshness.value(i), hash, date));
            }
        }
    }
    Ok(out)
}

/// Per table: the files written, and the paths of lake files they supersede.
type Written = BTreeMap<Table, (Vec<DataFile>, Vec<String>)>;

fn write_tables(
    lake: &Path,
    base: &Snapshot,
    staging: &Path,
    txn: &str,
    keep: &HashSet<u64>,
    replaced: &BTreeMap<i32, HashSet<String>>,
    options: &IngestOptions,
) -> Result<Written> {
    let queue = std::sync::Mutex::new(Table::ALL.to_vec());
    let results = std::sync::Mutex::new(Written::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(Table::ALL.len());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let Some(table) = queue.lock().expect("queue").pop() else {
                            return Ok(());
                        };
                        let mut writer = TableWriter::new(lake, table, txn, options);
                        writer.write_staged(&staging.join(stage_name(table)), keep)?;
                        let retired = writer.rewrite_replaced(base, replaced)?;
                        writer.flush_all()?;
                        results
                            .lock()
                            .expect("results")
                            .insert(table, (writer.files, retired));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| Error::Usage("a writer thread panicked; this is a bug".into()))??;
        }
        Ok(())
    })?;
    Ok(results.into_inner().expect("results"))
}

/// Writes one table's new files: buffers by partition, flushed on size.
struct TableWriter<'a> {
    lake: &'a Path,
    table: Table,
    txn: &'a str,
    options: &'a IngestOptions,
    buffers: BTreeMap<i32, (Vec<RecordBatch>, usize)>,
    buffered: usize,
    files: Vec<DataFile>,
}

impl<'a> TableWriter<'a> {
    fn new(lake: &'a Path, table: Table, txn: &'a str, options: &'a IngestOptions) -> Self {
        TableWriter {
            lake,
            table,
            txn,
            options,
            buffers: BTreeMap::new(),
            buffered: 0,
            files: Vec::new(),
        }
    }

    /// Routes the staged rows of winning copies into partition buffers.
    fn write_staged(&mut self, path: &Path, keep: &HashSet<u64>) -> Result<()> {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let reader = StreamReader::try_new(BufReader::with_capacity(1 << 20, file), None)?;
        for batch in reader {
            let batch = batch?;
            let records = batch
                .column_by_name(RECORD_COLUMN)
                .expect("staged ordinal")
                .as_primitive::<UInt64Type>();
            let mask: BooleanArray = records
                .values()
                .iter()
                .map(|r| Some(keep.contains(r)))
                .collect();
            let batch = filter_record_batch(&batch, &mask)?;
            if batch.num_rows() == 0 {
                continue;
            }
            let dates = batch
                .column_by_name(CONVERSATION_DATE)
                .expect("partition")
                .as_primitive::<Date32Type>()
                .clone();
            let batch = to_file_batch(self.table, &batch)?;
            let mut by_date: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
            for (i, d) in dates.values().iter().enumerate() {
                by_date.entry(*d).or_default().push(i as u32);
            }
            for (date, rows) in by_date {
                let part = if rows.len() == batch.num_rows() {
                    batch.clone()
                } else {
                    take_record_batch(&batch, &UInt32Array::from(rows))?
                };
                self.buffer(date, part)?;
            }
        }
        Ok(())
    }

    fn buffer(&mut self, date: i32, batch: RecordBatch) -> Result<()> {
        let size = batch_bytes(&batch);
        let entry = self.buffers.entry(date).or_default();
        entry.0.push(batch);
        entry.1 += size;
        self.buffered += size;
        if entry.1 >= self.options.file_bytes {
            self.flush(date)?;
        }
        while self.buffered > self.options.buffer_budget {
            let largest = self
                .buffers
                .iter()
                .max_by_key(|(_, (_, s))| *s)
                .map(|(d, _)| *d)
                .expect("buffers");
            self.flush(largest)?;
        }
        Ok(())
    }

    fn flush(&mut self, date: i32) -> Result<()> {
        let Some((batches, size)) = self.buffers.remove(&date) else {
            return Ok(());
        };
        self.buffered -= size;
        if batches.is_empty() {
            return Ok(());
        }
        let date = date_string(date);
        let relative = format!(
            "{}/part-{}-{:04}.parquet",
            partition_dir(self.table, &date),
            self.txn,
            self.files.len()
        );
        let bytes = write_sorted(self.table, &batches, &self.lake.join(&relative))?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        self.files.push(DataFile {
            path: relative,
            date,
            rows,
            bytes,
        });
        Ok(())
    }

    fn flush_all(&mut self) -> Result<()> {
        let dates: Vec<i32> = self.buffers.keys().copied().collect();
        for date in dates {
            self.flush(date)?;
        }
        Ok(())
    }

    /// Rewrites the lake files of this table that hold replaced conversations; returns the
    /// paths of the files they supersede.
    fn rewrite_replaced(
        &mut self,
        base: &Snapshot,
        replaced: &BTreeMap<i32, HashSet<String>>,
    ) -> Result<Vec<String>> {
        let mut retired = Vec::new();
        let by_date: HashMap<String, &HashSet<String>> = replaced
            .iter()
            .map(|(d, ids)| (date_string(*d), ids))
            .collect();
        for file in base.files(self.table.name()) {
            let Some(ids) = by_date.get(&file.date) else {
                continue;
            };
            let path = self.lake.join(&file.path);
            let hit = read_columns(&path, &[CONVERSATION_ID])?.iter().any(|b| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .any(|id| ids.contains(id))
            });
            if !hit {
                continue;
            }
            let mut kept = Vec::new();
            for batch in read_all(&path)? {
                let column = batch
                    .column_by_name(CONVERSATION_ID)
                    .expect("key")
                    .as_string::<i32>();
                let mask: BooleanArray = column
                    .iter()
                    .map(|id| Some(!id.is_some_and(|id| ids.contains(id))))
                    .collect();
                let batch = filter_record_batch(&batch, &mask)?;
                if batch.num_rows() > 0 {
                    kept.push(batch);
                }
            }
            retired.push(file.path.clone());
            if kept.is_empty() {
                continue;
            }
            let relative = format!(
                "{}/part-{}-r{:04}.parquet",
                partition_dir(self.table, &file.date),
                self.txn,
                self.files.len()
            );
            let bytes = write_file(
                self.table,
                self.table.file_schema(),
                &kept,
                &self.lake.join(&relative),
            )?;
            let rows = kept.iter().map(|b| b.num_rows() as u64).sum();
            self.files.push(DataFile {
                path: relative,
                date: file.date.clone(),
                rows,
                bytes,
            });
        }
        Ok(retired)
    }
}

fn stage_name(table: Table) -> String {
    format!("{}.arrows", table.name())
}

/// One Arrow IPC stream per table, rows tagged with their record ordinal.
struct Stage {
    writers: Vec<(Table, StreamWriter<BufWriter<File>>, SchemaRef)>,
}

impl Stage {
    fn create(dir: &Path) -> Result<Stage> {
        let mut writers = Vec::new();
        for table in Table::ALL {
            let mut fields: Vec<Field> = table
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new(RECORD_COLUMN, DataType::UInt64, false));
            let schema = Arc::new(Schema::new(fields));
            let path = dir.join(stage_name(table));
            let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
            let writer = StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), &schema)?;
            writers.push((table, writer, schema));
        }
        Ok(Stage { writers })
    }

    fn write(
        &mut self,
        table: Table,
        batch: &RecordBatch,
        records: &arrow::array::UInt64Array,
    ) -> Result<()> {
        let (_, writer, schema) = self
            .writers
            .iter_mut()
            .find(|(t, _, _)| *t == table)
            .expect("a writer per table");
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(records.clone()));
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        for (_, mut writer, _) in self.writers {
            writer.finish()?;
            writer
                .into_inner()?
                .flush()
                .map_err(|e| Error::io("cannot write", "staging", e))?;
        }
        Ok(())
    }
}

/// Quarantined records, as NDJSON under `_convlake/rejects/`.
struct RejectWriter {
    path: PathBuf,
    relative: String,
    out: Option<BufWriter<File>>,
}

impl RejectWriter {
    fn new(lake: &Path, txn: &str) -> Self {
        let relative = format!("_convlake/rejects/{txn}.ndjson");
        RejectWriter {
            path: lake.join(&relative),
            relative,
            out: None,
        }
    }

    fn write(&mut self, rejects: &[crate::ingest::Reject]) -> Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        if self.out.is_none() {
            let dir = self.path.parent().expect("rejects dir");
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
            let file =
                File::create(&self.path).map_err(|e| Error::io("cannot create", &self.path, e))?;
            self.out = Some(BufWriter::new(file));
        }
        let out = self.out.as_mut().expect("just opened");
        for reject in rejects {
            serde_json::to_writer(&mut *out, reject)?;
            out.write_all(b"\n")
                .map_err(|e| Error::io("cannot write", &self.path, e))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<String>> {
        match self.out {
            None => Ok(None),
            Some(mut out) => {
                out.flush()
                    .map_err(|e| Error::io("cannot write", &self.path, e))?;
                out.get_ref()
                    .sync_all()
                    .map_err(|e| Error::io("cannot write", &self.path, e))?;
                Ok(Some(self.relative))
            }
        }
    }
}

fn write_pages(lake: &Path, txn: &str, pages: &[RecordBatch]) -> Result<()> {
    let path = meta_dir(lake).join("pages").join(format!("{txn}.parquet"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, pages_schema(), None)?;
    for batch in pages {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(())
}
