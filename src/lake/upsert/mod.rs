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
//! This module runs the transaction and owns steps 2 and 4; `write` owns step 1 and
//! `repair` step 3.
//!
//! Memory is bounded by the decoder's chunks, the write buffers, the files being written and
//! the index (one small entry per conversation), whatever the size of the input. Nothing
//! before the commit changes what readers see; a crash anywhere leaves the previous snapshot,
//! and leftovers (files no snapshot lists, staging) are removed by the next ingest.

mod repair;
mod write;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, TimestampMillisecondType};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::{DecoderBuilder, Input};
use crate::lake::files::{date_string, read_columns};
use crate::lake::snapshot::{self, DataFile, Snapshot};
use crate::lake::{meta_dir, remove_leftovers, LakeLock};
use crate::model::audit::DriftReport;
use crate::model::format_timestamp;
use crate::schema::{pages_schema, Table, CONVERSATION_DATE, CONVERSATION_ID};
use repair::{drop_losers, group_by_table, remove_new_file, rewrite_replaced, Written};
use write::{InOrder, WriterPool};

/// Called with the progress of an ingest (from the thread that runs it).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

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
    pub progress: Option<ProgressFn>,
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
        if !pages.is_empty() {
            write_pages(lake, &txn, &pages)?;
        }
        commit(lake, &base, written, &mut summary, started)?;
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

/// Commits the snapshot after `base` with `written` (new files, and the files they retire),
/// then deletes the retired files from the table directories.
fn commit(
    lake: &Path,
    base: &Snapshot,
    mut written: Written,
    summary: &mut IngestSummary,
    started: Instant,
) -> Result<()> {
    let mut next = Snapshot {
        version: base.version + 1,
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
    summary.snapshot = Some(next.version);
    summary.seconds = started.elapsed().as_secs_f64();
    next.operation = serde_json::json!({ "ingest": &*summary });
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
    Ok(())
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
