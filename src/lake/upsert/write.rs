//! Step 1 of an ingest, decode and write: decoded chunks put back in input order, split by
//! table and month into write buffers under one memory budget, and written as sorted
//! Parquet files by a pool of threads while decoding goes on. Next to each file, staging
//! keeps the record ordinal of every row, for the repair step.
//!
//! However many days or months the input spans, memory is the budget: a buffer that no
//! recent chunk added to is written first when the budget is exceeded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::array::{AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::{take, take_record_batch};
use arrow::datatypes::Date32Type;

use super::IngestOptions;
use crate::columnar::tables::TableBatch;
use crate::error::{Error, Result};
use crate::ingest::Decoded;
use crate::lake::delta::LakeFile;
use crate::lake::files::{batch_bytes, sort_order, write_file, KeyStats};
use crate::lake::layout::{self, month_of_day, Month};
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

/// One file to write: the buffered rows of one month of one table.
struct FileTask {
    table: Table,
    month: Month,
    number: usize,
    buffer: Buffer,
}

/// Writer threads that turn [`FileTask`]s into sorted Parquet files while decoding goes on.
pub(super) struct WriterPool<'a> {
    lake: &'a Lake,
    staging: &'a Path,
    options: &'a IngestOptions,
}

impl<'a> WriterPool<'a> {
    pub(super) fn new(lake: &'a Lake, staging: &'a Path, options: &'a IngestOptions) -> Self {
        WriterPool {
            lake,
            staging,
            options,
        }
    }

    /// Runs `feed` with a [`Router`] whose full buffers are written by the pool; returns
    /// every file written once `feed` is done and the last buffers are flushed.
    pub(super) fn run(&self, feed: impl FnOnce(&mut Router) -> Result<()>) -> Result<Vec<NewFile>> {
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
        let relative = layout::new_data_file(task.month);
        let Buffer {
            batches, ordinals, ..
        } = task.buffer;
        let order = sort_order(task.table, &batches);
        let bytes = write_file(
            task.table,
            &batches,
            order.as_deref(),
            self.lake,
            &layout::data_file(task.table, &relative),
        )?;
        let stats = KeyStats::of(&batches);
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
        Ok(NewFile {
            table: task.table,
            file: LakeFile::written(relative, task.month, bytes, &stats),
            ordinals: ordinals_path,
        })
    }
}

/// Splits decoded batches by table and month into buffers; hands a buffer to the writer
/// pool when it is full, or when all buffers together exceed the budget. Over budget, stale
/// buffers go first (those no recent chunk added to: with an export in start order, the
/// partitions already passed, which will not grow any more), then the largest. Flushing
/// stale buffers first keeps the budget for the partitions being filled, so their files come
/// out full-sized instead of shrinking as finished partitions pile up.
pub(super) struct Router<'a> {
    options: &'a IngestOptions,
    buffers: BTreeMap<(Table, Month), Buffer>,
    buffered: usize,
    files: usize,
    /// Chunks routed so far.
    chunk: u64,
    tasks: crossbeam_channel::Sender<FileTask>,
}

impl Router<'_> {
    /// Buffers the rows of one decoded table batch.
    pub(super) fn route(&mut self, decoded: &TableBatch) -> Result<()> {
        let batch = &decoded.batch;
        if batch.num_rows() == 0 {
            return Ok(());
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
            self.flush((table, month))?;
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
    pub(super) fn chunk_done(&mut self) {
        self.chunk += 1;
    }

    fn flush(&mut self, key: (Table, Month)) -> Result<()> {
        let Some(buffer) = self.buffers.remove(&key) else {
            return Ok(());
        };
        self.buffered -= buffer.bytes;
        let task = FileTask {
            table: key.0,
            month: key.1,
            number: self.files,
            buffer,
        };
        self.files += 1;
        self.tasks
            .send(task)
            .map_err(|_| Error::Internal("the Parquet writers stopped".into()))
    }

    fn finish(mut self) -> Result<()> {
        let keys: Vec<(Table, Month)> = self.buffers.keys().copied().collect();
        for key in keys {
            self.flush(key)?;
        }
        Ok(())
    }
}
