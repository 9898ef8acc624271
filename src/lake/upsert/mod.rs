//! The ingest transaction: decoded batches in, one lake commit out.
//!
//! 1. **Decode and write.** Decoded batches are split by table and month into buffers, and a
//!    full buffer (or a stale one, or the largest, when all of them together hold too much)
//!    goes to a pool of writer threads as one sorted Parquet file, while decoding goes on.
//!    Next to each file, staging keeps the ordinal of the record copy of every row.
//!    Meanwhile a small index keeps, per conversation id, only the winning copy so far
//!    (freshest; ties to the later copy).
//! 2. **Resolve.** The winners are compared with the lake's own copies, read from
//!    `raw_conversations` of the months the input touches (and, through the Bloom filters of
//!    the other months' files, wherever else a copy is: see `elsewhere`): older or identical
//!    copies lose, fresher ones replace the lake's.
//! 3. **Repair.** Only when some copy lost: the new files holding rows of losing copies are
//!    rewritten without them (or dropped), and lake files holding replaced conversations are
//!    rewritten without those. An export without duplicates skips this step entirely.
//! 4. **Commit.** One plan, one Delta commit per changed table, one lake record (see
//!    [`crate::lake::log`]); then the superseded files go, unless history is kept.
//! 5. **Compact.** Months this ingest touched that now hold too many small files are
//!    compacted (see [`crate::lake::optimize`]), as a commit of their own.
//!
//! This module runs the transaction and owns steps 2 and 4; `write` owns step 1 (with
//! `spill` for rows that come out of start order) and `repair` step 3.
//!
//! Memory is bounded by the decoder's chunks, the write buffers, the files being written and
//! the index (one small entry per conversation), whatever the size of the input and however
//! many months it spans. Nothing before the lake record changes what convlake's readers see;
//! a crash anywhere leaves the previous state, and the next writer finishes or cleans up.

mod elsewhere;
mod repair;
mod spill;
mod write;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, TimestampMicrosecondType};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::{DecoderBuilder, Input};
use crate::lake::files::read_columns;
use crate::lake::layout::{self, month_of_day, Month};
use crate::lake::log::{self, Plan};
use crate::lake::optimize::{self, CompactOptions};
use crate::lake::settings::Settings;
use crate::lake::snapshot::Snapshot;
use crate::lake::{block_on, open_for_writing};
use crate::model::audit::DriftReport;
use crate::schema::{pages_schema, Table, CONVERSATION_DATE, CONVERSATION_ID, CONVERSATION_START};
use crate::storage::{Lake, Sink};
use repair::{drop_losers, group_by_table, remove_new_file, rewrite_replaced, Replaced, Written};
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
    /// Parquet size at which a file being written is closed and the next one started.
    pub target_file_bytes: u64,
    /// Threads writing Parquet files while decoding goes on.
    pub writer_threads: usize,
    /// Called after each decoded chunk with the progress so far.
    pub progress: Option<ProgressFn>,
    /// Compaction of the months an ingest touched (`None`: never).
    pub compact: Option<CompactOptions>,
    /// More to record in the lake record's `operation` beside the summary (a pull's
    /// watermark): committed with the data, or not at all.
    pub record: serde_json::Map<String, serde_json::Value>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            decoder: DecoderBuilder::new(),
            wait_for_lock: false,
            file_bytes: 64 << 20,
            buffer_budget: 128 << 20,
            target_file_bytes: layout::DEFAULT_TARGET_FILE_BYTES,
            writer_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress: None,
            compact: Some(CompactOptions::default()),
            record: serde_json::Map::new(),
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
    /// The lake version committed, if anything changed.
    pub snapshot: Option<u64>,
    /// The lake version of the compaction that followed, if the ingest left months with
    /// too many small files.
    pub compaction: Option<u64>,
    /// Small files merged by that compaction.
    pub files_compacted: u64,
    /// Wall time of the ingest up to its commit, in seconds.
    pub seconds: f64,
    /// Wall time of the compaction that followed, in seconds.
    pub compaction_seconds: f64,
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
    /// The id's hash in Parquet's Bloom filters (see [`elsewhere`]).
    bloom: u64,
}

impl Candidate {
    /// Fresher wins; at equal freshness the later copy wins.
    fn beats(&self, other: &Candidate) -> bool {
        (self.freshness, self.ordinal) > (other.freshness, other.ordinal)
    }
}

/// The lake's copy of a conversation: what resolving needs.
#[derive(Debug, Clone, Copy)]
struct LakeCopy {
    freshness: i64,
    hash: u64,
    month: Month,
    start: i64,
}

/// Ingests `inputs` into the lake at `lake` as one commit.
pub fn ingest(lake: &Lake, inputs: Vec<Input>, options: &IngestOptions) -> Result<IngestSummary> {
    let started = Instant::now();
    let writer = block_on(open_for_writing(lake, options.wait_for_lock))?;
    let (settings, base) = (&writer.settings, &writer.snapshot);
    let txn = layout::new_txn();
    let staging = lake.staging_dir(&txn);
    std::fs::create_dir_all(&staging).map_err(|e| Error::io("cannot create", &staging, e))?;

    let mut summary = IngestSummary {
        files: inputs.len(),
        bytes_in: inputs.iter().map(Input::size).sum(),
        ..IngestSummary::default()
    };

    // 1. Decode and write.
    let mut winners: HashMap<IdKey, Candidate> = HashMap::new();
    let mut copies = 0u64;
    let mut rejects = RejectWriter::new(lake, &txn);
    let mut pages: Vec<RecordBatch> = Vec::new();
    let mut progress = Progress::default();
    let pool = WriterPool::new(lake, &staging, options);
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
                    summary.superseded_in_input +=
                        index_copies(&t.batch, &t.records, &mut winners)?;
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
    let months: HashSet<Month> = winners.values().map(|c| month_of_day(c.date)).collect();
    let mut lake_copies = read_lake_copies(lake, base, &months)?;
    lake_copies.extend(elsewhere::find(lake, base, &months, &winners)?);
    let mut keep: HashSet<u64> = HashSet::with_capacity(winners.len());
    let mut replaced: BTreeMap<Month, Replaced> = BTreeMap::new();
    for (id, candidate) in winners {
        match lake_copies.get(&id) {
            None => {
                keep.insert(candidate.ordinal);
                summary.conversations_new += 1;
            }
            Some(copy) if copy.freshness > candidate.freshness => summary.older_than_lake += 1,
            Some(copy) if copy.freshness == candidate.freshness && copy.hash == candidate.hash => {
                summary.identical_to_lake += 1
            }
            Some(copy) => {
                keep.insert(candidate.ordinal);
                replaced
                    .entry(copy.month)
                    .or_default()
                    .insert(id, copy.start);
                summary.conversations_updated += 1;
            }
        }
    }
    summary.conversations_unchanged = summary.older_than_lake + summary.identical_to_lake;
    summary.stored = keep.len() as u64;
    summary.superseded =
        summary.superseded_in_input + summary.older_than_lake + summary.identical_to_lake;

    // 3. Repair, 4. commit.
    let mut touched: BTreeSet<Month> = BTreeSet::new();
    let mut added: HashSet<String> = HashSet::new();
    if !keep.is_empty() || !replaced.is_empty() || !options.record.is_empty() {
        let written = if keep.len() as u64 == copies {
            new_files
        } else {
            drop_losers(lake, new_files, &keep)?
        };
        let mut written = group_by_table(written);
        for (table, change) in rewrite_replaced(lake, base, &replaced)? {
            let entry = written.entry(table).or_default();
            entry.add.extend(change.add);
            entry.remove.extend(change.remove);
        }
        if !pages.is_empty() {
            write_pages(lake, &txn, &pages)?;
        }
        touched.extend(
            written
                .values()
                .flat_map(|c| c.add.iter().chain(&c.remove).map(|f| f.month)),
        );
        added = written
            .iter()
            .flat_map(|(t, c)| c.add.iter().map(|f| layout::data_file(*t, &f.path)))
            .collect();
        if let Err(e) = commit(
            lake,
            base,
            settings,
            written,
            &mut summary,
            started,
            &options.record,
        ) {
            if matches!(e, Error::Conflict { .. }) {
                // Nothing refers to this ingest's files, rejects or pages: they go (best
                // effort; vacuum removes what remains), and a retry writes its own.
                let own = [layout::rejects_file(&txn), layout::pages_file(&txn)];
                for path in added.iter().chain(&own) {
                    let _ = lake.delete(path);
                }
                let _ = std::fs::remove_dir_all(&staging);
            }
            return Err(e);
        }
    } else {
        // Nothing changes: the files written speculatively go.
        for new in new_files {
            remove_new_file(lake, &new)?;
        }
    }
    std::fs::remove_dir_all(&staging).map_err(|e| Error::io("cannot remove", &staging, e))?;
    // The directories above go too when no other work is under way (a remote lake's sit
    // under `convlake-staging` in the system's temporary directory).
    let root = lake.staging_root();
    let _ = std::fs::remove_dir(&root);
    if lake.remote().is_some() {
        if let Some(parent) = root.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }

    // 5. Compact.
    summary.seconds = started.elapsed().as_secs_f64();
    if let (Some(compact), Some(_)) = (&options.compact, summary.snapshot) {
        let compacting = Instant::now();
        let result = block_on(optimize::compact(
            lake,
            settings,
            compact,
            Some(&touched),
            false,
            &added,
        ))?;
        summary.compaction = result.version;
        summary.files_compacted = result.files_removed;
        summary.compaction_seconds = compacting.elapsed().as_secs_f64();
    }
    drop(writer);
    Ok(summary)
}

/// Commits `written` (new files, and the files they retire) on top of `base` as the next
/// lake version.
fn commit(
    lake: &Lake,
    base: &Snapshot,
    settings: &Settings,
    written: Written,
    summary: &mut IngestSummary,
    started: Instant,
    record: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let base_versions = block_on(base.base_versions(lake))?;
    let mut changes = BTreeMap::new();
    for (table, change) in written {
        summary.bytes_out += change.add.iter().map(|f| f.bytes).sum::<u64>();
        summary.files_written += change.add.len() as u64;
        summary.files_retired += change.remove.len() as u64;
        changes.insert(table.name().to_string(), change);
    }
    let version = base.version + 1;
    summary.snapshot = Some(version);
    summary.seconds = started.elapsed().as_secs_f64();
    let plan = Plan {
        version,
        base: base_versions,
        changes,
        compaction: false,
        operation: {
            let mut operation = record.clone();
            operation.insert("ingest".into(), serde_json::to_value(&*summary)?);
            serde_json::Value::Object(operation)
        },
    };
    block_on(log::commit(lake, &plan, settings))?;
    Ok(())
}

/// A conversation id in the indexes: its 128-bit hash, a fixed 16 bytes instead of a string
/// on the heap, so that the index of an export of millions of conversations stays small.
/// (Two ids meet the same key with odds of about one in 10^19 for ten billion ids.)
type IdKey = u128;

fn id_key(id: &str) -> IdKey {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

/// The content hash of a stored copy (16 hex digits, as the decoder writes it).
fn parse_hash(text: &str) -> Result<u64> {
    u64::from_str_radix(text, 16)
        .map_err(|_| Error::Internal(format!("content hash {text:?} is not 16 hex digits")))
}

/// Adds the copies of a `raw_conversations` batch to the index of winners; returns how many
/// copies lost (to a copy already indexed, or by being replaced).
fn index_copies(
    raw: &RecordBatch,
    records: &arrow::array::UInt64Array,
    winners: &mut HashMap<IdKey, Candidate>,
) -> Result<u64> {
    let column = |name: &str| raw.column_by_name(name).expect("raw_conversations column");
    let ids = column(CONVERSATION_ID).as_string::<i32>();
    let dates = column(CONVERSATION_DATE).as_primitive::<Date32Type>();
    let freshness = column("freshness").as_primitive::<TimestampMicrosecondType>();
    let hashes = column("content_hash").as_string::<i32>();
    let mut lost = 0;
    for i in 0..raw.num_rows() {
        let candidate = Candidate {
            freshness: freshness.value(i),
            ordinal: records.value(i),
            hash: parse_hash(hashes.value(i))?,
            date: dates.value(i),
            bloom: elsewhere::bloom_hash(ids.value(i)),
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
    Ok(lost)
}

/// The lake's copies of the conversations in `months`.
fn read_lake_copies(
    lake: &Lake,
    base: &Snapshot,
    months: &HashSet<Month>,
) -> Result<HashMap<IdKey, LakeCopy>> {
    let mut out = HashMap::new();
    for file in base.files(Table::RawConversations) {
        if !months.contains(&file.month) {
            continue;
        }
        let path = layout::data_file(Table::RawConversations, &file.path);
        for batch in read_columns(
            lake,
            &path,
            &[
                CONVERSATION_ID,
                CONVERSATION_START,
                "freshness",
                "content_hash",
            ],
        )? {
            let ids = batch.column(0).as_string::<i32>();
            let starts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
            let freshness = batch.column(2).as_primitive::<TimestampMicrosecondType>();
            let hashes = batch.column(3).as_string::<i32>();
            for i in 0..batch.num_rows() {
                let copy = LakeCopy {
                    freshness: freshness.value(i),
                    hash: parse_hash(hashes.value(i))?,
                    month: file.month,
                    start: starts.value(i),
                };
                out.insert(id_key(ids.value(i)), copy);
            }
        }
    }
    Ok(out)
}

/// Quarantined records, as NDJSON under `_convlake/rejects/`.
struct RejectWriter {
    lake: Lake,
    path: String,
    out: Option<Sink>,
}

impl RejectWriter {
    fn new(lake: &Lake, txn: &str) -> Self {
        RejectWriter {
            lake: lake.clone(),
            path: layout::rejects_file(txn),
            out: None,
        }
    }

    fn write(&mut self, rejects: &[crate::ingest::Reject]) -> Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        if self.out.is_none() {
            self.out = Some(self.lake.create(&self.path)?);
        }
        let out = self.out.as_mut().expect("just opened");
        for reject in rejects {
            serde_json::to_writer(&mut *out, reject)?;
            out.write_all(b"\n")
                .map_err(|e| Error::io("cannot write", self.lake.describe(&self.path), e))?;
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<String>> {
        match self.out {
            None => Ok(None),
            Some(out) => {
                out.finish()?;
                Ok(Some(self.path))
            }
        }
    }
}

fn write_pages(lake: &Lake, txn: &str, pages: &[RecordBatch]) -> Result<()> {
    let sink = lake.create(&layout::pages_file(txn))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(sink, pages_schema(), None)?;
    for batch in pages {
        writer.write(batch)?;
    }
    writer.into_inner()?.finish()?;
    Ok(())
}
