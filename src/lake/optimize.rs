//! Compaction: the small files of a month are merged into sorted files of the target size,
//! one commit for the whole lake, rows unchanged (Delta `dataChange: false`).
//!
//! A plan is made per table and month from the snapshot's statistics, as delta-rs's
//! optimizer does (files at or above half the target are left alone, an eighth after an
//! ingest; a month with a single small file is left alone), but the merge keeps the order every file promises: the small
//! files are read a row group at a time, each put in `conversation_start` order, and merged
//! by start; the output is appended to a [`FileWriter`] a row group at a time (which groups
//! metrics by name inside each) and rolls over to a new file at the target size. Memory
//! holds one row group per file merged; months and tables are merged on every core.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::{interleave_record_batch, take_record_batch};
use serde::Serialize;

use crate::error::Result;
use crate::lake::delta::LakeFile;
use crate::lake::files::{
    batch_bytes, read_row_groups, start_order, starts, FileWriter, ROW_GROUP_ROWS,
};
use crate::lake::layout::{self, Month};
use crate::lake::log::{self, Change, Plan};
use crate::lake::settings::Settings;
use crate::lake::snapshot::{self, AsOf};
use crate::lake::{block_on, in_parallel, open_for_writing};
use crate::schema::Table;
use crate::storage::Lake;

/// When and how to compact.
#[derive(Debug, Clone, Copy)]
pub struct CompactOptions {
    /// The Parquet size of the files written.
    pub target_file_bytes: u64,
    /// A month is compacted once it holds more than this many small files (an explicit
    /// `convlake optimize` compacts any month with two or more).
    pub small_files_over: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            target_file_bytes: layout::DEFAULT_TARGET_FILE_BYTES,
            small_files_over: layout::DEFAULT_COMPACT_AFTER,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    /// The lake version committed, if anything was compacted.
    pub version: Option<u64>,
    /// Small files merged (and removed).
    pub files_removed: u64,
    /// Files written.
    pub files_added: u64,
    /// Bytes of the files merged, and of the files written.
    pub bytes_removed: u64,
    /// Bytes written.
    pub bytes_added: u64,
    /// The months compacted (`YYYY-MM`).
    pub months: Vec<String>,
}

/// `convlake optimize`: takes the lake for writing and compacts every month (or `months`)
/// with two or more small files.
pub fn optimize(
    lake: &Lake,
    options: &CompactOptions,
    months: Option<&BTreeSet<Month>>,
    wait: bool,
) -> Result<CompactSummary> {
    let writer = block_on(open_for_writing(lake, wait))?;
    let summary = block_on(compact(
        lake,
        &writer.settings,
        options,
        months,
        true,
        &HashSet::new(),
    ))?;
    drop(writer);
    Ok(summary)
}

/// Compacts the months (all, or `months`) whose small files number more than
/// `options.small_files_over` (with `explicit`, two or more), leaving the files `spare`
/// (paths in the lake) alone. Call it as the lake's writer (see [`open_for_writing`]).
///
/// An ingest spares the files it just wrote: tomorrow's re-export of today's conversations
/// then rewrites today's small files, not the month's merged one (measured on 30 nights of
/// 3,000 conversations: the night after a compaction took 3.6-7.3 s instead of about 1 s).
pub async fn compact(
    lake: &Lake,
    settings: &Settings,
    options: &CompactOptions,
    months: Option<&BTreeSet<Month>>,
    explicit: bool,
    spare: &HashSet<String>,
) -> Result<CompactSummary> {
    let base = snapshot::load(lake, AsOf::Latest).await?;
    // After an ingest, only files under an eighth of the target are merged: a month of a
    // large center then keeps its merged files of 16-64 MiB instead of rewriting all of them
    // every few nights (cost grew with the month), and still holds at most eight files per
    // target size of data, plus the few small ones.
    let small = if explicit {
        options.target_file_bytes / 2
    } else {
        options.target_file_bytes / 8
    };
    let threshold = if explicit {
        1
    } else {
        options.small_files_over
    };
    let mut bins: Vec<(Table, Month, Vec<LakeFile>)> = Vec::new();
    for table in Table::ALL {
        let mut by_month: BTreeMap<Month, Vec<LakeFile>> = BTreeMap::new();
        for file in base.files(table) {
            if file.bytes < small
                && months.is_none_or(|m| m.contains(&file.month))
                && !spare.contains(&layout::data_file(table, &file.path))
            {
                by_month.entry(file.month).or_default().push(file.clone());
            }
        }
        bins.extend(
            by_month
                .into_iter()
                .filter(|(_, files)| files.len() > threshold)
                .map(|(month, files)| (table, month, files)),
        );
    }
    let mut summary = CompactSummary::default();
    if bins.is_empty() {
        return Ok(summary);
    }
    // Bins are merged in parallel, one per core, the largest first.
    bins.sort_by_key(|(_, _, files)| std::cmp::Reverse(files.iter().map(|f| f.bytes).sum::<u64>()));
    let merged = in_parallel(bins, |(table, month, files)| {
        let added = merge(lake, table, month, &files, options.target_file_bytes)?;
        Ok((table, month, files, added))
    })?;
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    let mut months_done = BTreeSet::new();
    for (table, month, files, added) in merged {
        summary.files_removed += files.len() as u64;
        summary.bytes_removed += files.iter().map(|f| f.bytes).sum::<u64>();
        summary.files_added += added.len() as u64;
        summary.bytes_added += added.iter().map(|f| f.bytes).sum::<u64>();
        months_done.insert(month);
        let change = changes.entry(table.name().to_string()).or_default();
        change.add.extend(added);
        change.remove.extend(files);
    }
    summary.months = months_done.into_iter().map(layout::month_string).collect();
    let version = base.version + 1;
    summary.version = Some(version);
    let plan = Plan {
        version,
        base: base.base_versions(lake).await?,
        changes,
        compaction: true,
        operation: serde_json::json!({ "optimize": &summary }),
    };
    log::commit(lake, &plan, settings).await?;
    Ok(summary)
}

/// Rows merged before they are handed to the file being written: a row group at most.
const MERGE_ROWS: usize = ROW_GROUP_ROWS;

/// Bytes merged before they are handed to the file being written (raw records are large).
const MERGE_BYTES: usize = 64 << 20;

/// Rows of one input file in `conversation_start` order, a batch at a time: the file read
/// one row group at a time, each row group put in start order (its rows are in the table's
/// order, which for metrics groups them by name first).
struct Run {
    groups: Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
    /// Where the current batch is among the merge's sources.
    source: usize,
    starts: Vec<i64>,
    next: usize,
}

impl Run {
    /// The next row group of the run, in start order, or `None` at the end.
    fn next_group(&mut self) -> Result<Option<RecordBatch>> {
        for group in self.groups.by_ref() {
            let group = group?;
            if group.num_rows() == 0 {
                continue;
            }
            let group = match start_order(std::slice::from_ref(&group)) {
                None => group,
                Some(order) => {
                    let rows = UInt32Array::from_iter_values(order.iter().map(|&(_, r)| r as u32));
                    take_record_batch(&group, &rows)?
                }
            };
            self.starts = starts(&group).to_vec();
            self.next = 0;
            return Ok(Some(group));
        }
        Ok(None)
    }
}

/// Merges the `files` of one month of `table` by `conversation_start` (ties: earlier file
/// first) into new files of about `target` bytes each. Memory holds one row group of every
/// file and one row group of output.
fn merge(
    lake: &Lake,
    table: Table,
    month: Month,
    files: &[LakeFile],
    target: u64,
) -> Result<Vec<LakeFile>> {
    let mut sources: Vec<RecordBatch> = Vec::new();
    let mut runs = Vec::new();
    let mut heap = BinaryHeap::new();
    for file in files {
        let mut run = Run {
            groups: Box::new(read_row_groups(
                lake,
                &layout::data_file(table, &file.path),
            )?),
            source: 0,
            starts: Vec::new(),
            next: 0,
        };
        if let Some(group) = run.next_group()? {
            run.source = sources.len();
            sources.push(group);
            heap.push(Reverse((run.starts[0], runs.len())));
            runs.push(run);
        }
    }
    let mut out = Output {
        lake,
        table,
        month,
        target,
        file: None,
        merged: Vec::new(),
        rows: 0,
        bytes: 0,
        written: Vec::new(),
    };
    let mut picked: Vec<(usize, usize)> = Vec::new();
    while let Some(Reverse((_, r))) = heap.pop() {
        let run = &mut runs[r];
        picked.push((run.source, run.next));
        run.next += 1;
        if run.next < run.starts.len() {
            heap.push(Reverse((run.starts[run.next], r)));
        } else {
            // The run's batch is done: take what was picked from it before it goes.
            out.take(&sources, &mut picked)?;
            let schema = sources[run.source].schema();
            sources[run.source] = RecordBatch::new_empty(schema);
            if let Some(group) = run.next_group()? {
                run.source = sources.len();
                sources.push(group);
                heap.push(Reverse((run.starts[0], r)));
            }
        }
        if picked.len() >= 8192 {
            out.take(&sources, &mut picked)?;
        }
    }
    out.take(&sources, &mut picked)?;
    out.finish()
}

/// The files a merge writes.
struct Output<'a> {
    lake: &'a Lake,
    table: Table,
    month: Month,
    target: u64,
    file: Option<FileWriter>,
    /// Merged rows not yet appended.
    merged: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    written: Vec<LakeFile>,
}

impl Output<'_> {
    /// Copies the rows `picked` (in merge order) out of `sources`.
    fn take(&mut self, sources: &[RecordBatch], picked: &mut Vec<(usize, usize)>) -> Result<()> {
        if picked.is_empty() {
            return Ok(());
        }
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        let batch = interleave_record_batch(&refs, picked)?;
        picked.clear();
        self.rows += batch.num_rows();
        self.bytes += batch_bytes(&batch);
        self.merged.push(batch);
        if self.rows >= MERGE_ROWS || self.bytes >= MERGE_BYTES {
            self.append()?;
        }
        Ok(())
    }

    /// Appends the merged rows to the file being written, as a row group.
    fn append(&mut self) -> Result<()> {
        if self.merged.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self
                .file
                .insert(FileWriter::create(self.lake, self.table, self.month)?),
        };
        file.append(&std::mem::take(&mut self.merged), None, |_, _| {})?;
        (self.rows, self.bytes) = (0, 0);
        if file.bytes() >= self.target {
            let file = self.file.take().expect("open");
            self.written.push(file.finish()?);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<LakeFile>> {
        self.append()?;
        if let Some(file) = self.file.take() {
            self.written.push(file.finish()?);
        }
        Ok(self.written)
    }
}
