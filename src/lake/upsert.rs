//! The ingest transaction: decoded batches in, one commit out.
//!
//! 1. **Decode and write.** Decoded batches are split by table and partition into buffers,
//!    and a full buffer (or the largest, when all of them together hold too much) goes to a
//!    pool of writer threads as one sorted Parquet file, while decoding goes on. Next to each
//!    file, staging keeps the ordinal of the record copy of every row. Meanwhile a small index
//!    keeps, per conversation id, only the winning copy so far (freshest; ties to the later
//!    copy).
//! 2. **Resolve.** The winners are compared with the lake's own copies, read from
//!    `raw_conversations` of the partitions the input touches: older or identical copies lose,
//!    fresher ones replace the lake's.
//! 3. **Repair.** Only when some copy lost: the new files holding rows of losing copies are
//!    rewritten without them (or dropped), and lake files holding replaced conversations are
//!    rewritten without those. An export without duplicates skips this step entirely.
//! 4. **Commit.** A new snapshot lists the result; then the files it superseded are deleted.
//!
//! Memory is bounded by the decoder's chunks, the write buffers, the files being written and
//! the index (one small entry per conversation), whatever the size of the input. Nothing
//! before the commit changes what readers see; a crash anywhere leaves the previous snapshot,
//! and leftovers (files no snapshot lists, staging) are removed by the next ingest.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{AsArray, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{filter_record_batch, take, take_record_batch};
use arrow::datatypes::{Date32Type, TimestampMillisecondType};
use serde::Serialize;

use crate::columnar::tables::TableBatch;
use crate::error::{Error, Result};
use crate::ingest::{Decoded, DecoderBuilder, Input};
use crate::lake::files::{
    batch_bytes, date_string, partition_dir, read_all, read_columns, sort_order, to_file_batch,
    write_file,
};
use crate::lake::snapshot::{self, DataFile, Snapshot};
use crate::lake::{meta_dir, remove_leftovers, LakeLock};
use crate::model::audit::DriftReport;
use crate::model::format_timestamp;
use crate::schema::{pages_schema, Table, CONVERSATION_DATE, CONVERSATION_ID};

/// How to ingest.
#[derive(Clone)]
pub struct IngestOptions {
    /// The decoder settings (threads, chunk size).
    pub decoder: DecoderBuilder,
    /// Wait for another process holding the lake instead of failing.
    pub wait_for_lock: bool,
    /// In-memory size of the rows buffered for one file before it is written.
    pub file_bytes: usize,
    /// In-memory size of all write buffers together; the largest is flushed beyond it.
    pub buffer_budget: usize,
    /// Threads writing Parquet files while decoding goes on.
    pub writer_threads: usize,
    /// Called after each decoded chunk with the progress so far.
    pub progress: Option<Arc<dyn Fn(&Progress) + Send + Sync>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            decoder: DecoderBuilder::new(),
            wait_for_lock: false,
            file_bytes: 64 << 20,
            buffer_budget: 128 << 20,
            writer_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
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

    // 1. Decode and write.
    let mut winners: HashMap<IdKey, Candidate> = HashMap::new();
    let mut copies = 0u64;
    let mut rejects = RejectWriter::new(lake, &txn);
    let mut pages: Vec<RecordBatch> = Vec::new();
    let mut progress = Progress::default();
    let pool = WriterPool::new(lake, &staging, &txn, options);
    let new_files = pool.run(|router| {
        for decoded in InOrder::new(options.decoder.clone().decode(inputs)) {
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
                if t.table == Table::RawConversations {
                    copies += t.batch.num_rows() as u64;
                    summary.superseded_in_input += index_copies(&t.batch, &t.records, &mut winners);
                }
                router.route(t)?;
            }
            router.chunk_done();
            progress.json_bytes = summary.json_bytes;
            progress.records = summary.records_read;
            progress.rejected = summary.rejected;
            if let Some(report) = &options.progress {
                report(&progress);
            }
        }
        Ok(())
    })?;
    summary.rejects_file = rejects.finish()?;

    // 2. Resolve against the lake.
    let lake_copies = read_lake_copies(lake, &base, winners.values().map(|c| c.date).collect())?;
    let mut keep: HashSet<u64> = HashSet::with_capacity(winners.len());
    let mut replaced: BTreeMap<i32, HashSet<IdKey>> = BTreeMap::new();
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

    // 3. Repair, 4. commit.
    if !keep.is_empty() || !replaced.is_empty() {
        let written = if keep.len() as u64 == copies {
            new_files
        } else {
            drop_losers(lake, new_files, &keep)?
        };
        let mut written = group_by_table(written);
        for (table, retired) in rewrite_replaced(lake, &base, &txn, &replaced)? {
            let entry = written.entry(table).or_default();
            entry.0.extend(retired.0);
            entry.1.extend(retired.1);
        }
        let mut next = Snapshot {
            version,
            committed_at: format_timestamp(now_ms()),
            tables: BTreeMap::new(),
            operation: serde_json::Value::Null,
        };
        let mut retired = Vec::new();
        for table in Table::ALL {
            let (new_files, retired_here) = written.remove(&table).unwrap_or_default();
            let retired_set: HashSet<&str> = retired_here.iter().map(String::as_str).collect();
            let mut files: Vec<DataFile> = base
                .files(table.name())
                .iter()
                .filter(|f| !retired_set.contains(f.path.as_str()))
                .cloned()
                .collect();
            summary.bytes_out += new_files.iter().map(|f| f.bytes).sum::<u64>();
            summary.files_written += new_files.len() as u64;
            summary.files_retired += retired_here.len() as u64;
            files.extend(new_files);
            files.sort_by(|a, b| (&a.date, &a.path).cmp(&(&b.date, &b.path)));
            retired.extend(retired_here);
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
    } else {
        // Nothing changes: the files written speculatively go.
        for new in new_files {
            remove_new_file(lake, &new)?;
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

/// A conversation id in the indexes: its 128-bit hash, a fixed 16 bytes instead of a string
/// on the heap, so that the index of an export of millions of conversations stays small.
/// (Two ids meet the same key with odds of about one in 10^19 for ten billion ids.)
type IdKey = u128;

fn id_key(id: &str) -> IdKey {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

/// Adds the copies of a `raw_conversations` batch to the index of winners; returns how many
/// copies lost (to a copy already indexed, or by being replaced).
fn index_copies(
    raw: &RecordBatch,
    records: &arrow::array::UInt64Array,
    winners: &mut HashMap<IdKey, Candidate>,
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
        match winners.entry(id_key(ids.value(i))) {
            Entry::Occupied(mut current) => {
                lost += 1;
                if candidate.beats(current.get()) {
                    current.insert(candidate);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(candidate);
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
) -> Result<HashMap<IdKey, (i64, u64, i32)>> {
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
                out.insert(id_key(ids.value(i)), (freshness.value(i), hash, date));
            }
        }
    }
    Ok(out)
}

/// Decoded chunks back in input order. Decoder threads finish chunks out of order; put back
/// in order, an export sorted by start (as exports usually are) reaches each file sorted, and
/// files are written without reordering rows. Holds at most the few chunks that overtook
/// one still being decoded.
struct InOrder<I> {
    decoded: I,
    next: u64,
    waiting: BTreeMap<u64, Decoded>,
}

impl<I: Iterator<Item = Result<Decoded>>> InOrder<I> {
    fn new(decoded: I) -> Self {
        InOrder {
            decoded,
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<I: Iterator<Item = Result<Decoded>>> Iterator for InOrder<I> {
    type Item = Result<Decoded>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(ready) = self.waiting.remove(&self.next) {
                self.next += 1;
                return Some(Ok(ready));
            }
            match self.decoded.next() {
                Some(Ok(d)) => {
                    self.waiting.insert(d.seq, d);
                }
                Some(Err(e)) => return Some(Err(e)),
                // Sequence numbers have no gaps; this only drains after a decoder failed.
                None => return self.waiting.pop_first().map(|(_, d)| Ok(d)),
            }
        }
    }
}

/// Per table: the files written, and the paths of lake files they supersede.
type Written = BTreeMap<Table, (Vec<DataFile>, Vec<String>)>;

/// A data file written by this transaction (not yet in any snapshot).
struct NewFile {
    table: Table,
    file: DataFile,
    /// The staging file with the record ordinal of each of its rows, in row order.
    ordinals: PathBuf,
}

/// The rows buffered for one partition of one table.
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    ordinals: Vec<UInt64Array>,
    bytes: usize,
    /// The chunk that last added rows.
    touched: u64,
}

/// One file to write: the buffered rows of one partition of one table.
struct FileTask {
    table: Table,
    date: i32,
    number: usize,
    buffer: Buffer,
}

/// Writer threads that turn [`FileTask`]s into sorted Parquet files while decoding goes on.
struct WriterPool<'a> {
    lake: &'a Path,
    staging: &'a Path,
    txn: &'a str,
    options: &'a IngestOptions,
}

impl<'a> WriterPool<'a> {
    fn new(lake: &'a Path, staging: &'a Path, txn: &'a str, options: &'a IngestOptions) -> Self {
        WriterPool {
            lake,
            staging,
            txn,
            options,
        }
    }

    /// Runs `feed` with a [`Router`] whose full buffers are written by the pool; returns
    /// every file written once `feed` is done and the last buffers are flushed.
    fn run(&self, feed: impl FnOnce(&mut Router) -> Result<()>) -> Result<Vec<NewFile>> {
        let threads = self.options.writer_threads.max(1);
        let (tasks, queue) = crossbeam_channel::bounded::<FileTask>(0);
        let written = Mutex::new(Vec::new());
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        let fed = std::thread::scope(|scope| {
            for n in 0..threads {
                let queue = queue.clone();
                let (written, failure) = (&written, &failure);
                std::thread::Builder::new()
                    .name(format!("convlake-write-{n}"))
                    .spawn_scoped(scope, move || {
                        for task in queue {
                            // After a failure the queue is drained so that the feeder never
                            // blocks; the first error is what the ingest reports.
                            if failure.lock().expect("failure").is_some() {
                                continue;
                            }
                            match self.write(task) {
                                Ok(file) => written.lock().expect("written").push(file),
                                Err(e) => {
                                    failure.lock().expect("failure").get_or_insert(e);
                                }
                            }
                        }
                    })
                    .expect("spawning a thread");
            }
            drop(queue);
            let mut router = Router {
                options: self.options,
                buffers: BTreeMap::new(),
                buffered: 0,
                files: 0,
                chunk: 0,
                tasks,
            };
            feed(&mut router).and_then(|()| router.finish())
            // The router, and with it the queue's sender, is dropped here: writers end.
        });
        if let Some(e) = failure.into_inner().expect("failure") {
            return Err(e);
        }
        fed?;
        let mut files = written.into_inner().expect("written");
        files.sort_by(|a, b| a.file.path.cmp(&b.file.path));
        Ok(files)
    }

    fn write(&self, task: FileTask) -> Result<NewFile> {
        let date = date_string(task.date);
        let relative = format!(
            "{}/part-{}-{:04}.parquet",
            partition_dir(task.table, &date),
            self.txn,
            task.number
        );
        let Buffer {
            batches, ordinals, ..
        } = task.buffer;
        let order = sort_order(&batches);
        let bytes = write_file(
            task.table,
            &batches,
            order.as_deref(),
            &self.lake.join(&relative),
        )?;
        let ordinals_path = self.staging.join(format!("{:06}.ordinals", task.number));
        let mut out = BufWriter::new(
            File::create(&ordinals_path)
                .map_err(|e| Error::io("cannot create", &ordinals_path, e))?,
        );
        let mut put = |o: u64| out.write_all(&o.to_le_bytes());
        match &order {
            None => ordinals
                .iter()
                .flat_map(|o| o.values().iter())
                .try_for_each(|&o| put(o)),
            Some(order) => order
                .iter()
                .try_for_each(|&(b, r)| put(ordinals[b].value(r))),
        }
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write", &ordinals_path, e))?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        Ok(NewFile {
            table: task.table,
            file: DataFile {
                path: relative,
                date,
                rows,
                bytes,
            },
            ordinals: ordinals_path,
        })
    }
}

/// Splits decoded batches by table and partition into buffers; hands a buffer to the writer
/// pool when it is full, or when all buffers together exceed the budget. Over budget, stale
/// buffers go first (those no recent chunk added to: with an export in start order, the
/// partitions already passed, which will not grow any more), then the largest. Flushing
/// stale buffers first keeps the budget for the partitions being filled, so their files come
/// out full-sized instead of shrinking as finished partitions pile up.
struct Router<'a> {
    options: &'a IngestOptions,
    buffers: BTreeMap<(Table, i32), Buffer>,
    buffered: usize,
    files: usize,
    /// Chunks routed so far.
    chunk: u64,
    tasks: crossbeam_channel::Sender<FileTask>,
}

impl Router<'_> {
    /// Buffers the rows of one decoded table batch.
    fn route(&mut self, decoded: &TableBatch) -> Result<()> {
        let batch = &decoded.batch;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let dates = batch
            .column_by_name(CONVERSATION_DATE)
            .expect("partition")
            .as_primitive::<Date32Type>()
            .values()
            .clone();
        let file_batch = to_file_batch(decoded.table, batch)?;
        let first = dates[0];
        if dates.iter().all(|d| *d == first) {
            return self.buffer(decoded.table, first, file_batch, decoded.records.clone());
        }
        let mut by_date: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for (i, d) in dates.iter().enumerate() {
            by_date.entry(*d).or_default().push(i as u32);
        }
        for (date, rows) in by_date {
            let rows = UInt32Array::from(rows);
            let part = take_record_batch(&file_batch, &rows)?;
            let ordinals = take(&decoded.records, &rows, None)?.as_primitive().clone();
            self.buffer(decoded.table, date, part, ordinals)?;
        }
        Ok(())
    }

    fn buffer(
        &mut self,
        table: Table,
        date: i32,
        batch: RecordBatch,
        ordinals: UInt64Array,
    ) -> Result<()> {
        let size = batch_bytes(&batch);
        let entry = self.buffers.entry((table, date)).or_default();
        entry.touched = self.chunk;
        entry.batches.push(batch);
        entry.ordinals.push(ordinals);
        entry.bytes += size;
        self.buffered += size;
        if entry.bytes >= self.options.file_bytes {
            self.flush((table, date))?;
        }
        while self.buffered > self.options.buffer_budget {
            // Stale: untouched by this chunk and the one before (a chunk adds to its tables
            // one after the other, so "this chunk" alone would count partitions still
            // being filled as stale).
            let stalest = self
                .buffers
                .iter()
                .filter(|(_, b)| b.touched + 1 < self.chunk)
                .min_by_key(|(_, b)| b.touched)
                .map(|(key, _)| *key);
            let victim = stalest.unwrap_or_else(|| {
                *self
                    .buffers
                    .iter()
                    .max_by_key(|(_, b)| b.bytes)
                    .map(|(key, _)| key)
                    .expect("buffers hold what is counted")
            });
            self.flush(victim)?;
        }
        Ok(())
    }

    /// Marks the end of one decoded chunk (see [`Router`] on stale buffers).
    fn chunk_done(&mut self) {
        self.chunk += 1;
    }

    fn flush(&mut self, key: (Table, i32)) -> Result<()> {
        let Some(buffer) = self.buffers.remove(&key) else {
            return Ok(());
        };
        self.buffered -= buffer.bytes;
        let task = FileTask {
            table: key.0,
            date: key.1,
            number: self.files,
            buffer,
        };
        self.files += 1;
        self.tasks
            .send(task)
            .map_err(|_| Error::Usage("the Parquet writers stopped".into()))
    }

    fn finish(mut self) -> Result<()> {
        let keys: Vec<(Table, i32)> = self.buffers.keys().copied().collect();
        for key in keys {
            self.flush(key)?;
        }
        Ok(())
    }
}

/// Runs `work` on every item, on one thread per core; returns the results in no order.
fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(items.len())
        .max(1);
    let queue = Mutex::new(items);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let Some(item) = queue.lock().expect("queue").pop() else {
                            return Ok(());
                        };
                        let result = work(item)?;
                        results.lock().expect("results").push(result);
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

/// Removes a file of this transaction's (it is in no snapshot).
fn remove_new_file(lake: &Path, new: &NewFile) -> Result<()> {
    let path = lake.join(&new.file.path);
    std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))
}

/// Reads the ordinals staged next to a new file.
fn read_ordinals(path: &Path) -> Result<Vec<u64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// Rewrites the new files that hold rows of copies not in `keep` without those rows; a file
/// left with no rows is removed.
fn drop_losers(lake: &Path, files: Vec<NewFile>, keep: &HashSet<u64>) -> Result<Vec<NewFile>> {
    let kept = in_parallel(files, |new| -> Result<Option<NewFile>> {
        let ordinals = read_ordinals(&new.ordinals)?;
        let mask: Vec<bool> = ordinals.iter().map(|o| keep.contains(o)).collect();
        if mask.iter().all(|&k| k) {
            return Ok(Some(new));
        }
        if !mask.iter().any(|&k| k) {
            remove_new_file(lake, &new)?;
            return Ok(None);
        }
        let path = lake.join(&new.file.path);
        let mut rows = Vec::new();
        let mut offset = 0;
        for batch in read_all(&path)? {
            let n = batch.num_rows();
            let mask = BooleanArray::from(mask[offset..offset + n].to_vec());
            offset += n;
            let batch = filter_record_batch(&batch, &mask)?;
            if batch.num_rows() > 0 {
                rows.push(batch);
            }
        }
        let relative = new.file.path.replace(".parquet", "-k.parquet");
        let bytes = write_file(new.table, &rows, None, &lake.join(&relative))?;
        std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
        Ok(Some(NewFile {
            file: DataFile {
                path: relative,
                rows: rows.iter().map(|b| b.num_rows() as u64).sum(),
                bytes,
                ..new.file
            },
            ..new
        }))
    })?;
    Ok(kept.into_iter().flatten().collect())
}

fn group_by_table(files: Vec<NewFile>) -> Written {
    let mut written = Written::new();
    for new in files {
        written.entry(new.table).or_default().0.push(new.file);
    }
    written
}

/// Rewrites the lake files that hold replaced conversations without them, every table in
/// parallel; per table, the files written and the paths of the files they supersede.
fn rewrite_replaced(
    lake: &Path,
    base: &Snapshot,
    txn: &str,
    replaced: &BTreeMap<i32, HashSet<IdKey>>,
) -> Result<Written> {
    if replaced.is_empty() {
        return Ok(Written::new());
    }
    let by_date: HashMap<String, &HashSet<IdKey>> = replaced
        .iter()
        .map(|(d, ids)| (date_string(*d), ids))
        .collect();
    let candidates: Vec<(Table, usize, &DataFile)> = Table::ALL
        .iter()
        .flat_map(|&table| {
            base.files(table.name())
                .iter()
                .filter(|f| by_date.contains_key(&f.date))
                .enumerate()
                .map(move |(n, f)| (table, n, f))
        })
        .collect();
    let results = in_parallel(candidates, |(table, n, file)| -> Result<_> {
        let ids = by_date[&file.date];
        let path = lake.join(&file.path);
        let hit = read_columns(&path, &[CONVERSATION_ID])?.iter().any(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .any(|id| ids.contains(&id_key(id)))
        });
        if !hit {
            return Ok(None);
        }
        let mut kept = Vec::new();
        for batch in read_all(&path)? {
            let column = batch
                .column_by_name(CONVERSATION_ID)
                .expect("key")
                .as_string::<i32>();
            let mask: BooleanArray = column
                .iter()
                .map(|id| Some(!id.is_some_and(|id| ids.contains(&id_key(id)))))
                .collect();
            let batch = filter_record_batch(&batch, &mask)?;
            if batch.num_rows() > 0 {
                kept.push(batch);
            }
        }
        if kept.is_empty() {
            return Ok(Some((table, None, file.path.clone())));
        }
        let relative = format!(
            "{}/part-{}-r{n:04}.parquet",
            partition_dir(table, &file.date),
            txn,
        );
        let bytes = write_file(table, &kept, None, &lake.join(&relative))?;
        let written = DataFile {
            path: relative,
            date: file.date.clone(),
            rows: kept.iter().map(|b| b.num_rows() as u64).sum(),
            bytes,
        };
        Ok(Some((table, Some(written), file.path.clone())))
    })?;
    let mut written = Written::new();
    for (table, file, retired) in results.into_iter().flatten() {
        let entry = written.entry(table).or_default();
        entry.0.extend(file);
        entry.1.push(retired);
    }
    Ok(written)
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
