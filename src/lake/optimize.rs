//! Compaction: the small files of a month are merged into sorted files of the target size,
//! one commit for the whole lake, rows unchanged (Delta `dataChange: false`).
//!
//! A plan is made per table and month from the snapshot's statistics, as delta-rs's
//! optimizer does (files at or above half the target are left alone; a month with a single
//! small file is left alone), but the merge keeps the order every file promises: the small
//! files are read as sorted streams and merged by `conversation_start` (metrics: name, then
//! start) with DataFusion's sort-preserving merge, so memory holds one batch per file, and
//! the output rolls over to a new file at the target size.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::compute::SortOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_expr::expressions::col;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lake::delta::LakeFile;
use crate::lake::files::{writer_properties, KeyStats};
use crate::lake::layout::{self, Month};
use crate::lake::log::{self, Change, Plan};
use crate::lake::settings::Settings;
use crate::lake::snapshot::{self, AsOf};
use crate::lake::{block_on, open_for_writing};
use crate::schema::Table;
use crate::storage::{Lake, Sink};

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
    let summary = block_on(compact(lake, &writer.settings, options, months, true))?;
    drop(writer);
    Ok(summary)
}

/// Compacts the months (all, or `months`) whose small files number more than
/// `options.small_files_over` (with `explicit`, two or more). Call it as the lake's writer
/// (see [`open_for_writing`]).
pub async fn compact(
    lake: &Lake,
    settings: &Settings,
    options: &CompactOptions,
    months: Option<&BTreeSet<Month>>,
    explicit: bool,
) -> Result<CompactSummary> {
    let base = snapshot::load(lake, AsOf::Latest).await?;
    let small = options.target_file_bytes / 2;
    let threshold = if explicit {
        1
    } else {
        options.small_files_over
    };
    let mut bins: Vec<(Table, Month, Vec<LakeFile>)> = Vec::new();
    for table in Table::ALL {
        let mut by_month: BTreeMap<Month, Vec<LakeFile>> = BTreeMap::new();
        for file in base.files(table) {
            if file.bytes < small && months.is_none_or(|m| m.contains(&file.month)) {
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
    // Small batches: the merge holds one batch of every file it merges at once.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_batch_size(2048));
    lake.register(&ctx);
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    let mut months_done = BTreeSet::new();
    for (table, month, files) in bins {
        let added = merge(&ctx, lake, table, month, &files, options.target_file_bytes).await?;
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

/// The sort order of `table`'s files, as DataFusion sort expressions over `schema`.
fn ordering(table: Table, schema: &arrow::datatypes::Schema) -> Result<LexOrdering> {
    let options = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let exprs = table
        .sort_columns()
        .into_iter()
        .map(|name| Ok(PhysicalSortExpr::new(col(name, schema)?, options)))
        .collect::<Result<Vec<_>>>()?;
    LexOrdering::new(exprs).ok_or_else(|| Error::Internal("empty sort order".into()))
}

/// Merges the sorted `files` of one month of `table` into new sorted files of about
/// `target` bytes each.
async fn merge(
    ctx: &SessionContext,
    lake: &Lake,
    table: Table,
    month: Month,
    files: &[LakeFile],
    target: u64,
) -> Result<Vec<LakeFile>> {
    let schema = table.file_schema();
    let format = ParquetFormat::default();
    let source = format.file_source(TableSchema::builder(schema.clone()).build());
    let groups = files
        .iter()
        .map(|f| {
            FileGroup::new(vec![PartitionedFile::new(
                lake.scan_location(&layout::data_file(table, &f.path)),
                f.bytes,
            )])
        })
        .collect::<Vec<_>>();
    let order = ordering(table, &schema)?;
    let config = FileScanConfigBuilder::new(lake.object_store_url(), source)
        .with_file_groups(groups)
        .with_output_ordering(vec![order.clone()])
        .build();
    let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    let merged = SortPreservingMergeExec::new(order, scan);
    let mut stream = merged.execute(0, ctx.task_ctx())?;

    let mut written = Vec::new();
    let mut out: Option<(String, ArrowWriter<Sink>, KeyStats)> = None;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let (_, writer, stats) = match &mut out {
            Some(open) => open,
            None => {
                let relative = layout::new_data_file(month);
                let sink = lake.create(&layout::data_file(table, &relative))?;
                let writer =
                    ArrowWriter::try_new(sink, schema.clone(), Some(writer_properties(table)))?;
                out.insert((relative, writer, KeyStats::default()))
            }
        };
        writer.write(&batch)?;
        *stats = stats.merge(&KeyStats::of(std::slice::from_ref(&batch)));
        if writer.bytes_written() as u64 + writer.in_progress_size() as u64 >= target {
            written.push(finish(month, out.take().expect("open"))?);
        }
    }
    if let Some(open) = out.take() {
        written.push(finish(month, open)?);
    }
    Ok(written)
}

/// Closes a file written by [`merge`].
fn finish(
    month: Month,
    (relative, writer, stats): (String, ArrowWriter<Sink>, KeyStats),
) -> Result<LakeFile> {
    let bytes = writer.into_inner()?.finish()?;
    Ok(LakeFile::written(relative, month, bytes, &stats))
}
