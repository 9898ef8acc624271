//! The `SessionContext` factory: every table of the latest committed snapshot registered
//! under its name, with `conversation_date` as a partition column, plus the views of
//! `sql/views/`.
//!
//! Tables are served by [`SnapshotTable`], which scans exactly the files the snapshot lists:
//! a reader never sees the files of an ingest under way, nor leftovers of an interrupted one.
//! Filters on `conversation_date` prune files before anything is opened; other filters reach
//! the Parquet reader (statistics, page index) through DataFusion's filter pushdown.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::lake::snapshot::{self, DataFile, Snapshot};
use crate::model::parse_timestamp;
use crate::schema::{Table, CONVERSATION_DATE};

/// The views loaded into every session, in dependency order: `(name, SQL text)`.
pub const VIEWS: &[(&str, &str)] = &[
    (
        "metrics_pivot",
        include_str!("../sql/views/metrics_pivot.sql"),
    ),
    ("queue_legs", include_str!("../sql/views/queue_legs.sql")),
    ("agent_legs", include_str!("../sql/views/agent_legs.sql")),
    (
        "conversation_summary",
        include_str!("../sql/views/conversation_summary.sql"),
    ),
];

/// Opens a session over the latest snapshot of the lake at `lake`.
pub async fn open(lake: &Path) -> Result<SessionContext> {
    open_with(lake, SessionConfig::new()).await
}

/// Opens a session over the latest snapshot of `lake`, with `config`.
pub async fn open_with(lake: &Path, config: SessionConfig) -> Result<SessionContext> {
    open_in(lake, SessionContext::new_with_config(config)).await
}

/// Turns `ctx` (for instance one with a memory-limited runtime) into a session over the latest
/// snapshot of `lake`: tables, functions, views, and the information schema.
pub async fn open_in(lake: &Path, ctx: SessionContext) -> Result<SessionContext> {
    if !crate::lake::is_lake(lake) {
        return Err(Error::Lake {
            path: lake.to_path_buf(),
            reason: "no lake here".into(),
            hint: "ingest exports first (convlake ingest --lake DIR FILES...), or point --lake / CONVLAKE_LAKE at a lake".into(),
        });
    }
    let snapshot = snapshot::latest(lake)?;
    let mut config = ctx.copied_config().with_information_schema(true);
    // Questions over conversation data often group by ids of high cardinality (distinct
    // conversations per agent, per queue): a partial aggregation that reduces nothing is
    // given up after 8,192 rows instead of DataFusion's 100,000, which a day's partition
    // split over two cores never reaches (12-17% off "top agents" and "per day and media").
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_rows_threshold = 8192;
    let mut ctx = SessionContext::new_with_config_rt(config, ctx.runtime_env());
    ctx.add_optimizer_rule(Arc::new(crate::optimizer::GroupByDictionaryValues));
    register_snapshot(&ctx, lake, &snapshot)?;
    load_views(&mut ctx).await?;
    Ok(ctx)
}

/// Registers the helper functions (ours, and the JSON functions and `->`/`->>` operators of
/// `datafusion-functions-json`) and creates the views of `sql/views/` in `ctx`, whose tables
/// must be registered already.
pub async fn load_views(ctx: &mut SessionContext) -> Result<()> {
    crate::functions::register(ctx);
    datafusion_functions_json::register_all(ctx)?;
    for (name, sql) in VIEWS {
        ctx.sql(sql).await.map_err(|e| {
            Error::Usage(format!(
                "view {name} (sql/views/{name}.sql) does not plan: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Registers every table of `snapshot` in `ctx`.
pub fn register_snapshot(ctx: &SessionContext, lake: &Path, snapshot: &Snapshot) -> Result<()> {
    for table in Table::ALL {
        let provider = SnapshotTable::new(lake, table, snapshot.files(table.name()).to_vec());
        ctx.register_table(table.name(), Arc::new(provider))?;
    }
    Ok(())
}

/// The partition column as the tables expose it.
pub fn partition_field() -> FieldRef {
    Arc::new(Field::new(CONVERSATION_DATE, DataType::Date32, false))
}

/// The columns of `table` as queries see them: the file schema, with top-level strings read
/// as `Utf8View`. Views point into the decoded Parquet pages (for dictionary-encoded pages,
/// into the dictionary) instead of copying every value into a new buffer, and DataFusion
/// groups, compares and counts distinct view strings with specialised code; ids are most of
/// what the tables hold, so scans and aggregations over them get much cheaper.
pub fn scan_schema(table: Table) -> SchemaRef {
    let fields: Vec<FieldRef> = table
        .file_schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View)),
            _ => f.clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(
        fields,
        table.file_schema().metadata().clone(),
    ))
}

/// One table of one snapshot.
#[derive(Debug)]
pub struct SnapshotTable {
    lake: PathBuf,
    files: Vec<(DataFile, i32)>,
    /// The columns read from the files ([`scan_schema`]).
    file_columns: SchemaRef,
    /// Those and the partition column.
    schema: SchemaRef,
}

impl SnapshotTable {
    /// The `files` of `table` in the lake at `lake`.
    pub fn new(lake: &Path, table: Table, files: Vec<DataFile>) -> Self {
        let file_columns = scan_schema(table);
        let mut fields: Vec<FieldRef> = file_columns.fields().iter().cloned().collect();
        fields.push(partition_field());
        let files = files
            .into_iter()
            .filter_map(|f| {
                let day = parse_timestamp(&f.date)?.millis.div_euclid(86_400_000) as i32;
                Some((f, day))
            })
            .collect();
        // File paths reach DataFusion's object store, which only takes absolute ones: a
        // relative lake (the default `./lake`) is resolved here, once.
        let lake = lake
            .canonicalize()
            .or_else(|_| std::path::absolute(lake))
            .unwrap_or_else(|_| lake.to_path_buf());
        SnapshotTable {
            lake,
            files,
            file_columns,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// Keeps the days for which every partition-only filter holds.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<bool>> {
        let partition_filters: Vec<&Expr> =
            filters.iter().filter(|f| is_partition_filter(f)).collect();
        if partition_filters.is_empty() || self.files.is_empty() {
            return Ok(vec![true; self.files.len()]);
        }
        let schema = Arc::new(Schema::new(vec![partition_field()]));
        let days = Date32Array::from(self.files.iter().map(|(_, d)| *d).collect::<Vec<_>>());
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(days)])?;
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let mut keep = vec![true; self.files.len()];
        for filter in partition_filters {
            let expr = state.create_physical_expr(filter.clone(), &df_schema)?;
            let result = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
            let Some(result) = result.as_any().downcast_ref::<BooleanArray>() else {
                continue;
            };
            for (i, k) in keep.iter_mut().enumerate() {
                *k &= result.is_valid(i) && result.value(i);
            }
        }
        Ok(keep)
    }
}

/// Whether `filter` reads the partition column and nothing else.
fn is_partition_filter(filter: &Expr) -> bool {
    let columns = filter.column_refs();
    !columns.is_empty() && columns.iter().all(|c| c.name == CONVERSATION_DATE)
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // A filter on the partition column alone is decided per file by `prune`, and every
        // row of a file has its partition's date: exact, so no filter runs above the scan
        // (and DataFusion can push projections, such as narrowing casts of nested columns,
        // into the Parquet reader). Other filters only prune by statistics: inexact.
        Ok(filters
            .iter()
            .map(|f| {
                if is_partition_filter(f) && !f.is_volatile() {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let keep = self.prune(state, filters)?;
        let mut files: Vec<&(DataFile, i32)> = self
            .files
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(f, _)| f)
            .collect();
        if files.is_empty() {
            let schema = datafusion::physical_plan::project_schema(&self.schema, projection)?;
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        // Spread files over the target partitions, largest first, to balance the work.
        files.sort_by_key(|(f, _)| std::cmp::Reverse(f.bytes));
        let rows: u64 = files.iter().map(|(f, _)| f.rows).sum();
        let bytes: u64 = files.iter().map(|(f, _)| f.bytes).sum();
        let groups_wanted = state.config().target_partitions().max(1).min(files.len());
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups_wanted];
        for (file, day) in files {
            let path = self.lake.join(&file.path);
            let mut partitioned =
                PartitionedFile::new(path.to_string_lossy().to_string(), file.bytes);
            partitioned.partition_values = vec![ScalarValue::Date32(Some(*day))];
            let smallest = groups
                .iter_mut()
                .min_by_key(|(size, _)| *size)
                .expect("at least one group");
            smallest.0 += file.bytes;
            smallest.1.push(partitioned);
        }
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let table_schema = TableSchema::builder(self.file_columns.clone())
            .with_table_partition_cols(vec![partition_field()])
            .build();
        let source = format.file_source(table_schema);
        // Row counts from the snapshot: exact for the files chosen, so `count(*)` needs no
        // scan; DataFusion marks them inexact itself when a filter applies.
        let mut statistics = Statistics::new_unknown(&self.schema);
        statistics.num_rows = Precision::Exact(rows as usize);
        statistics.total_byte_size = Precision::Inexact(bytes as usize);
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), source)
            .with_statistics(statistics)
            .with_file_groups(
                groups
                    .into_iter()
                    .map(|(_, files)| FileGroup::new(files))
                    .collect(),
            )
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}
