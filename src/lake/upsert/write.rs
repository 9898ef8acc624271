//! Step 1 of an ingest, decode and write: decoded chunks put back in input order, split by
//! table and month into write buffers under one memory budget, and appended to sorted
//! Parquet files (one growing file per month and table while rows come in order) by a pool
//! of threads while decoding goes on. Next to each file, staging keeps the record ordinal of
//! every row, for the repair step. A month whose rows stop coming in start order is kept as
//! sorted runs from then on and merged into its files at the end of the input (see
//! [`super::spill`]), so that the order of the input changes neither the files nor the order
//! of their rows.
//!
//! However many days or months the input spans, memory is the budget: a buffer that no
//! recent chunk added to is written first when the budget is exceeded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use arrow::array::{AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{take, take_record_batch};
use arrow::datatypes::Date32Type;

use super::spill::Runs;
use super::IngestOptions;
use crate::columnar::tables::TableBatch;
use crate::error::{Error, Result};
use crate::ingest::Decoded;
use crate::lake::delta::LakeFile;
use crate::lake::files::{batch_bytes, start_order, starts, FileWriter, KeyStats, ROW_GROUP_ROWS};
use crate::lake::layout::{month_of_day, Month};
use crate::schema::{Table, CONVERSATION_DATE};
use crate::storage::Lake;

/// Decoded chunks back in input order. Decoder threads finish chunks out of order; put back
/// in order, an export sorted by start (as exports usually are) reaches each file sorted, and
/// files are written without reordering rows. Holds at most the few chunks that overtook
/// one still being decoded.
pub(super) struct InOrder<I> {
    decoded: I,
    next: u64,
    waiting: BTreeMap<u64, Decoded>,
}

impl<I: Iterator<Item = Result<Decoded>>> InOrder<I> {
    pub(super) fn new(decoded: I) -> Self {
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

/// A data file written by this transaction (not yet in any snapshot).
pub(super) struct NewFile {
    /// The table it belongs to.
    pub(super) table: Table,
    /// Where it is (relative to its table) and what it holds.
    pub(super) file: LakeFile,
    /// The staging file with the record ordinal of each of its rows, in row order.
    pub(super) ordinals: PathBuf,
}

/// The rows buffered for one month of one table.
#[derive(Default)]
struct Buffer {
    batches: Vec<RecordBatch>,
    ordinals: Vec<UInt64Array>,
    bytes: usize,
    /// The chunk that last added rows.
    touched: u64,
}

/// One flush of a write buffer: rows of one month of one table, to append to the file that
/// month is being written to.
struct FileTask {
    table: Table,
    month: Month,
    /// Its place among the flushes of its table and month, from 0: flushes are appended in
    /// this order.
    seq: u64,
    buffer: Buffer,
    /// No more rows are expected for the month (it went stale): its file is closed after
    /// this flush.
    last: bool,
    /// The input is over: everything of the month is written after this flush.
    end: bool,
    /// The input has come out of start order already (see [`Router::route`]): a month's
    /// first flush starts its sorted runs instead of a file, so that no file is written
    /// only to be read back and merged.
    disordered: bool,
}

/// The file that one month of one table is being written to, and its staged ordinals.
struct OpenFile {
    writer: FileWriter,
    ordinals: BufWriter<File>,
    ordinals_path: PathBuf,
}

/// The writing state of one month of one table, shared by the writer threads: flushes run
/// one at a time and in order, whichever thread receives them.
#[derive(Default)]
struct Slot {
    /// The `seq` of the next flush to append.
    next: u64,
    /// A thread is appending a flush.
    busy: bool,
    /// Flushes received ahead of their turn.
    waiting: BTreeMap<u64, FileTask>,
    files: MonthFiles,
}

/// What one month of one table has in progress between its flushes.
#[derive(Default)]
struct MonthFiles {
    /// The file rows are appended to while they come in start order.
    open: Option<OpenFile>,
    /// The latest start written to the month's files so far.
    last_start: Option<i64>,
    /// Once rows came out of order: the sorted runs merged at the end of the input.
    runs: Option<Runs>,
    /// Files closed under half the target when the month went stale: if its rows come
    /// again out of order, they are merged with them; else they are written as they are.
    parked: Vec<NewFile>,
}

/// What the writer threads share.
#[derive(Default)]
struct Shared {
    slots: Mutex<HashMap<(Table, Month), Slot>>,
    written: Mutex<Vec<NewFile>>,
    failure: Mutex<Option<Error>>,
}

/// Writer threads that append [`FileTask`]s to sorted Parquet files while decoding goes on.
///
/// Each month of each table has at most one open file: a flush whose rows start no earlier
/// than the month's last row is appended to it as new row groups (an export in start order
/// gives one growing file per month). The first flush that starts earlier turns the month
/// into sorted runs (its small files so far become the first runs; one of half the target
/// size or more stays as it is), merged at the end of the input. A file is closed at the
/// target size, when its month goes stale, or at the end, so a large center's month comes
/// out as files of the target size with no compaction to follow, whatever the order of the
/// input.
pub(super) struct WriterPool<'a> {
    lake: &'a Lake,
    staging: &'a Path,
    options: &'a IngestOptions,
    files: AtomicUsize,
}

impl<'a> WriterPool<'a> {
    pub(super) fn new(lake: &'a Lake, staging: &'a Path, options: &'a IngestOptions) -> Self {
        WriterPool {
            lake,
            staging,
            options,
            files: AtomicUsize::new(0),
        }
    }

    /// Runs `feed` with a [`Router`] whose full buffers are written by the pool; returns
    /// every file written once `feed` is done and the last buffers are flushed.
    pub(super) fn run(&self, feed: impl FnOnce(&mut Router) -> Result<()>) -> Result<Vec<NewFile>> {
        let threads = self.options.writer_threads.max(1);
        let (tasks, queue) = crossbeam_channel::unbounded::<FileTask>();
        // Flushes in the pool (queued, waiting for their turn or being written) hold a
        // token each: memory stays bounded however slow one table's file is.
        let (give_back, tokens) = crossbeam_channel::bounded::<()>(threads + 1);
        for _ in 0..=threads {
            give_back.send(()).expect("room for every token");
        }
        let shared = Shared::default();
        let fed = std::thread::scope(|scope| {
            for n in 0..threads {
                let queue = queue.clone();
                let give_back = give_back.clone();
                let shared = &shared;
                std::thread::Builder::new()
                    .name(format!("convlake-write-{n}"))
                    .spawn_scoped(scope, move || {
                        for task in queue {
                            self.take_turn(shared, task, &give_back);
                        }
                    })
                    .expect("spawning a thread");
            }
            drop(queue);
            let mut router = Router {
                options: self.options,
                buffers: BTreeMap::new(),
                flushed: BTreeMap::new(),
                buffered: 0,
                chunk: 0,
                tasks,
                tokens,
                latest: HashMap::new(),
                disordered: false,
            };
            feed(&mut router).and_then(|()| router.finish())
            // The router, and with it the queue's sender, is dropped here: writers end.
        });
        if let Some(e) = shared.failure.into_inner().expect("failure") {
            return Err(e);
        }
        fed?;
        let mut files = shared.written.into_inner().expect("written");
        files.sort_by(|a, b| a.file.path.cmp(&b.file.path));
        Ok(files)
    }

    /// Runs `task` now if it is its month's turn, and then every flush of the month that
    /// waited for it; else leaves it to the thread whose turn it is.
    fn take_turn(
        &self,
        shared: &Shared,
        task: FileTask,
        give_back: &crossbeam_channel::Sender<()>,
    ) {
        let key = (task.table, task.month);
        let mut turn = {
            let mut slots = shared.slots.lock().expect("slots");
            let slot = slots.entry(key).or_default();
            if slot.busy || task.seq != slot.next {
                slot.waiting.insert(task.seq, task);
                None
            } else {
                slot.busy = true;
                Some((task, std::mem::take(&mut slot.files)))
            }
        };
        while let Some((task, files)) = turn {
            // After a failure the remaining flushes are dropped unwritten, so that the feeder
            // never blocks; the first error is what the ingest reports.
            let failed = shared.failure.lock().expect("failure").is_some();
            let mut done = Vec::new();
            let result = if failed {
                Ok(MonthFiles::default())
            } else {
                self.write(task, files, &mut done)
            };
            // Files closed before a failure are still listed, for the clean-up to remove.
            shared.written.lock().expect("written").extend(done);
            let files = result.unwrap_or_else(|e| {
                shared.failure.lock().expect("failure").get_or_insert(e);
                MonthFiles::default()
            });
            let _ = give_back.send(());
            let mut slots = shared.slots.lock().expect("slots");
            let slot = slots.get_mut(&key).expect("slot of a flush");
            slot.next += 1;
            slot.files = files;
            turn = match slot.waiting.remove(&slot.next) {
                Some(next) => Some((next, std::mem::take(&mut slot.files))),
                None => {
                    slot.busy = false;
                    None
                }
            };
        }
    }

    /// Writes one flush: appended to its month's open file (or a new one) while rows come in
    /// start order, else added to the month's runs; at the end of the input the runs are
    /// merged and the open file closed. Returns what the month has in progress; the files
    /// closed go to `done`.
    fn write(
        &self,
        task: FileTask,
        mut month: MonthFiles,
        done: &mut Vec<NewFile>,
    ) -> Result<MonthFiles> {
        let target = self.options.target_file_bytes;
        let (table, key) = (task.table, (task.table, task.month));
        let Buffer {
            batches, ordinals, ..
        } = task.buffer;
        if !batches.is_empty() {
            let stats = KeyStats::of(&batches);
            let first = stats.start.map(|(first, _)| first);
            let fresh = month.last_start.is_none() && month.open.is_none();
            let spill_first = task.disordered && fresh && !task.end && month.parked.is_empty();
            if month.runs.is_none() && (month.last_start > first || spill_first) {
                let mut runs = Runs::new(self.lake, self.staging);
                for file in month.parked.drain(..) {
                    runs.adopt(file);
                }
                if let Some(file) = month.open.take() {
                    let file = self.close(table, file)?;
                    if file.file.bytes >= target / 2 {
                        done.push(file);
                    } else {
                        runs.adopt(file);
                    }
                }
                month.runs = Some(runs);
            }
            match &mut month.runs {
                // The month's last rows are merged from memory, not staged first.
                Some(_) if task.end => {}
                Some(runs) => {
                    let number = self.files.fetch_add(1, Ordering::Relaxed);
                    runs.add(number, &batches, &ordinals)?;
                }
                None => {
                    let order = start_order(&batches);
                    self.append(key, &mut month.open, (&batches, &ordinals), order, done)?;
                    let last = stats.start.map(|(_, last)| last);
                    month.last_start = month.last_start.max(last);
                }
            }
        }
        if task.end {
            if let Some(runs) = month.runs.take() {
                let mut merged = Merged::default();
                runs.merge((&batches, &ordinals), |batch, ordinals| {
                    if merged.add(batch, ordinals) {
                        let (batches, ordinals) = merged.take();
                        self.append(key, &mut month.open, (&batches, &ordinals), None, done)?;
                    }
                    Ok(())
                })?;
                let (batches, ordinals) = merged.take();
                self.append(key, &mut month.open, (&batches, &ordinals), None, done)?;
            }
            if let Some(file) = month.open.take() {
                done.push(self.close(table, file)?);
            }
            done.append(&mut month.parked);
            return Ok(MonthFiles::default());
        }
        // A month kept as runs waits for the end however stale: its rows came out of order
        // once, and may again.
        if task.last && month.runs.is_none() {
            if let Some(file) = month.open.take() {
                let file = self.close(table, file)?;
                if file.file.bytes >= target / 2 {
                    done.push(file);
                } else {
                    month.parked.push(file);
                }
            }
        }
        Ok(month)
    }

    /// Appends rows in start order (in `order`, when given) to the month's open file, or a new
    /// one when there is none or it reached the target size (closed to `done`).
    fn append(
        &self,
        (table, month): (Table, Month),
        open: &mut Option<OpenFile>,
        (batches, ordinals): (&[RecordBatch], &[UInt64Array]),
        order: Option<Vec<(usize, usize)>>,
        done: &mut Vec<NewFile>,
    ) -> Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let target = self.options.target_file_bytes;
        if let Some(file) = open.take_if(|file| file.writer.bytes() >= target) {
            done.push(self.close(table, file)?);
        }
        let file = match open {
            Some(file) => file,
            None => open.insert(self.open(table, month)?),
        };
        let mut failed = None;
        let out = &mut file.ordinals;
        file.writer.append(batches, order.as_deref(), |b, r| {
            if let Err(e) = out.write_all(&ordinals[b].value(r).to_le_bytes()) {
                failed.get_or_insert(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(Error::io("cannot write", &file.ordinals_path, e));
        }
        if let Some(file) = open.take_if(|file| file.writer.bytes() >= target) {
            done.push(self.close(table, file)?);
        }
        Ok(())
    }

    /// Starts a new file for a month of `table`, and the staging file of its ordinals.
    fn open(&self, table: Table, month: Month) -> Result<OpenFile> {
        let number = self.files.fetch_add(1, Ordering::Relaxed);
        let ordinals_path = self.staging.join(format!("{number:06}.ordinals"));
        let ordinals = BufWriter::new(
            File::create(&ordinals_path)
                .map_err(|e| Error::io("cannot create", &ordinals_path, e))?,
        );
        Ok(OpenFile {
            writer: FileWriter::create(self.lake, table, month)?,
            ordinals,
            ordinals_path,
        })
    }

    fn close(&self, table: Table, file: OpenFile) -> Result<NewFile> {
        let OpenFile {
            writer,
            mut ordinals,
            ordinals_path,
        } = file;
        ordinals
            .flush()
            .map_err(|e| Error::io("cannot write", &ordinals_path, e))?;
        Ok(NewFile {
            table,
            file: writer.finish()?,
            ordinals: ordinals_path,
        })
    }
}

/// Merged rows gathered into one append: a row group's worth (see [`FileWriter::append`],
/// which closes a row group per call).
#[derive(Default)]
struct Merged {
    batches: Vec<RecordBatch>,
    ordinals: Vec<UInt64Array>,
    rows: usize,
    bytes: usize,
}

impl Merged {
    /// Adds merged rows; `true` once there is a row group's worth.
    fn add(&mut self, batch: RecordBatch, ordinals: UInt64Array) -> bool {
        self.rows += batch.num_rows();
        self.bytes += batch_bytes(&batch);
        self.batches.push(batch);
        self.ordinals.push(ordinals);
        self.rows >= ROW_GROUP_ROWS || self.bytes >= MERGED_BYTES
    }

    /// What was gathered, leaving nothing.
    fn take(&mut self) -> (Vec<RecordBatch>, Vec<UInt64Array>) {
        (self.rows, self.bytes) = (0, 0);
        (
            std::mem::take(&mut self.batches),
            std::mem::take(&mut self.ordinals),
        )
    }
}

/// Bytes of merged rows gathered into one append at most (raw records are large).
const MERGED_BYTES: usize = 64 << 20;

/// Splits decoded batches by table and month into buffers; hands a buffer to the writer
/// pool when it is full, or when all buffers together exceed the budget. Over budget, stale
/// buffers go first (those no recent chunk added to: with an export in start order, the
/// partitions already passed, which will not grow any more), then the largest. Flushing
/// stale buffers first keeps the budget for the partitions being filled, so their files come
/// out full-sized instead of shrinking as finished partitions pile up.
pub(super) struct Router<'a> {
    options: &'a IngestOptions,
    buffers: BTreeMap<(Table, Month), Buffer>,
    /// Per month of a table: flushes sent so far.
    flushed: BTreeMap<(Table, Month), u64>,
    buffered: usize,
    /// Chunks routed so far.
    chunk: u64,
    tasks: crossbeam_channel::Sender<FileTask>,
    /// One per flush the pool may hold (see [`WriterPool::run`]).
    tokens: crossbeam_channel::Receiver<()>,
    /// Per table, the latest start routed, while the input is in start order.
    latest: HashMap<Table, i64>,
    /// A row came earlier than one routed before it.
    disordered: bool,
}

impl Router<'_> {
    /// Buffers the rows of one decoded table batch.
    pub(super) fn route(&mut self, decoded: &TableBatch) -> Result<()> {
        let batch = &decoded.batch;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if !self.disordered {
            let latest = self.latest.entry(decoded.table).or_insert(i64::MIN);
            for &start in starts(batch) {
                if start < *latest {
                    self.disordered = true;
                    break;
                }
                *latest = start;
            }
        }
        let dates = batch
            .column_by_name(CONVERSATION_DATE)
            .expect("key column")
            .as_primitive::<Date32Type>()
            .values();
        // Day numbers of one month are a contiguous range: a chunk whose first and last day
        // fall in one month (the usual case: exports are in start order) is one buffer.
        let (lo, hi) = dates
            .iter()
            .fold((i32::MAX, i32::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
        let first = month_of_day(lo);
        if first == month_of_day(hi) {
            return self.buffer(decoded.table, first, batch.clone(), decoded.records.clone());
        }
        let mut by_month: BTreeMap<Month, Vec<u32>> = BTreeMap::new();
        for (i, d) in dates.iter().enumerate() {
            by_month.entry(month_of_day(*d)).or_default().push(i as u32);
        }
        for (month, rows) in by_month {
            let rows = UInt32Array::from(rows);
            let part = take_record_batch(batch, &rows)?;
            let ordinals = take(&decoded.records, &rows, None)?.as_primitive().clone();
            self.buffer(decoded.table, month, part, ordinals)?;
        }
        Ok(())
    }

    fn buffer(
        &mut self,
        table: Table,
        month: Month,
        batch: RecordBatch,
        ordinals: UInt64Array,
    ) -> Result<()> {
        let size = batch_bytes(&batch);
        let entry = self.buffers.entry((table, month)).or_default();
        entry.touched = self.chunk;
        entry.batches.push(batch);
        entry.ordinals.push(ordinals);
        entry.bytes += size;
        self.buffered += size;
        if entry.bytes >= self.options.file_bytes {
            self.flush((table, month), false, false)?;
        }
        while self.buffered > self.options.buffer_budget {
            // Stale: untouched by this chunk and the one before (a chunk adds to its tables
            // one after the other, so "this chunk" alone would count partitions still
            // being filled as stale). A stale month of an export in start order is over:
            // its file is closed.
            let stalest = self
                .buffers
                .iter()
                .filter(|(_, b)| b.touched + 1 < self.chunk)
                .min_by_key(|(_, b)| b.touched)
                .map(|(key, _)| *key);
            match stalest {
                Some(key) => self.flush(key, true, false)?,
                None => {
                    let largest = *self
                        .buffers
                        .iter()
                        .max_by_key(|(_, b)| b.bytes)
                        .map(|(key, _)| key)
                        .expect("buffers hold what is counted");
                    self.flush(largest, false, false)?;
                }
            }
        }
        Ok(())
    }

    /// Marks the end of one decoded chunk (see [`Router`] on stale buffers).
    pub(super) fn chunk_done(&mut self) {
        self.chunk += 1;
    }

    /// Hands the buffer of `key` to the writers; `last` closes the month's file after it,
    /// `end` writes everything of the month.
    fn flush(&mut self, key: (Table, Month), last: bool, end: bool) -> Result<()> {
        let buffer = self.buffers.remove(&key).unwrap_or_default();
        self.buffered -= buffer.bytes;
        let sent = self.flushed.entry(key).or_default();
        let task = FileTask {
            table: key.0,
            month: key.1,
            seq: *sent,
            buffer,
            last,
            end,
            disordered: self.disordered,
        };
        *sent += 1;
        let stopped = || Error::Internal("the Parquet writers stopped".into());
        self.tokens.recv().map_err(|_| stopped())?;
        self.tasks.send(task).map_err(|_| stopped())
    }

    /// Flushes every buffer, and ends every month written to.
    fn finish(mut self) -> Result<()> {
        let keys: BTreeSet<(Table, Month)> = self
            .buffers
            .keys()
            .chain(self.flushed.keys())
            .copied()
            .collect();
        for key in keys {
            self.flush(key, true, true)?;
        }
        Ok(())
    }
}
