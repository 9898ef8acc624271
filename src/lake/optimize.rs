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

use arrow::array::RecordBatch;
use serde::Serialize;

use crate::error::Result;
use crate::lake::delta::LakeFile;
use crate::lake::files::{batch_bytes, read_row_groups, FileWriter, ROW_GROUP_ROWS};
use crate::lake::layout::{self, Month};
use crate::lake::log::{self, Change, Plan};
use crate::lake::merge::{in_start_order, merge_by_start, SortedRun};
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
    // Each file read a row group at a time, each row group put in start order (its rows are
    // in the table's order, which for metrics groups them by name first).
    let mut runs: Vec<SortedRun> = Vec::new();
    for file in files {
        let groups = read_row_groups(lake, &layout::data_file(table, &file.path))?;
        runs.push(Box::new(groups.map(|g| g.and_then(in_start_order))));
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
    merge_by_start(runs, |batch| out.take(batch))?;
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
    /// Takes the next merged rows.
    fn take(&mut self, batch: RecordBatch) -> Result<()> {
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
