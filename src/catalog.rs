//! The `SessionContext` factory: every table of one lake version (the latest, or the one
//! `--as-of` names) registered under its name, with `conversation_month` as a partition
//! column, plus the views of `sql/views/`.
//!
//! Tables are served by [`SnapshotTable`], which scans exactly the files the Delta log lists
//! at the version the lake record names: a reader never sees the files of an ingest under
//! way, nor half of one. Before anything is opened, files are pruned with DataFusion's
//! `PruningPredicate` over the log's statistics (the month, and min/max of
//! `conversation_date` and `conversation_start`); other filters reach the Parquet reader
//! (row group statistics, page index) through DataFusion's filter pushdown. Files are read
//! with [`crate::page_index`]'s readers, which keep each file's page index in the session's
//! metadata cache along with its footer.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::lake::layout::{self, PARTITION_COLUMN};
use crate::lake::snapshot::{self, AsOf, Snapshot};
use crate::lake::LakeFile;
use crate::page_index::PageIndexedReaders;
use crate::schema::{Table, CONVERSATION_DATE, CONVERSATION_START};
use crate::storage::Lake;

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
    ("names", include_str!("../sql/views/names.sql")),
    ("queue_names", include_str!("../sql/views/queue_names.sql")),
    ("agent_names", include_str!("../sql/views/agent_names.sql")),
    (
        "wrap_up_names",
        include_str!("../sql/views/wrap_up_names.sql"),
    ),
    (
        "division_names",
        include_str!("../sql/views/division_names.sql"),
    ),
    ("flow_names", include_str!("../sql/views/flow_names.sql")),
];

/// The name of the catalog that holds the lake's tables and views (schema `public`): what
/// fully qualified names start with, and the database PostgreSQL clients see
/// (`current_database()`, `pg_database`), so it matches the `dbname=convlake` they connect to.
pub const CATALOG: &str = "convlake";

/// Opens a session over the latest snapshot of the lake at `lake`.
pub async fn open(lake: &Lake) -> Result<SessionContext> {
    open_with(lake, SessionConfig::new()).await
}

/// Opens a session over the latest snapshot of `lake`, with `config`.
pub async fn open_with(lake: &Lake, config: SessionConfig) -> Result<SessionContext> {
    open_in(lake, SessionContext::new_with_config(config)).await
}

/// Turns `ctx` (for instance one with a memory-limited runtime) into a session over the latest
/// snapshot of `lake`: tables, functions, views, and the information schema.
pub async fn open_in(lake: &Lake, ctx: SessionContext) -> Result<SessionContext> {
    open_as_of(lake, AsOf::Latest, ctx).await
}

/// Turns `ctx` into a session over the lake at `lake` as of `as_of`.
pub async fn open_as_of(lake: &Lake, as_of: AsOf, ctx: SessionContext) -> Result<SessionContext> {
    crate::lake::check_layout(lake)?;
    if !crate::lake::is_lake(lake)? {
        return Err(Error::Lake {
            path: lake.describe(""),
            reason: "no lake here".into(),
            hint: "ingest exports first (convlake ingest --lake DIR FILES...), or point --lake / CONVLAKE_LAKE at a lake".into(),
        });
    }
    let snapshot = snapshot::load(lake, as_of).await?;
    let mut config = ctx
        .copied_config()
        .with_information_schema(true)
        .with_default_catalog_and_schema(CATALOG, "public")
        .with_create_default_catalog_and_schema(true);
    // Questions over conversation data often group by ids of high cardinality (distinct
    // conversations per agent, per queue): a partial aggregation that reduces nothing is
    // given up after 8,192 rows instead of DataFusion's 100,000, which a day's partition
    // split over two cores never reaches (12-17% off "top agents" and "per day and media").
    config
        .options_mut()
        .execution
        .skip_partial_aggregation_probe_rows_threshold = 8192;
    // convlake's only Bloom filters are those of `raw_conversations.conversation_id`, for
    // its upserts: looking for filters in every row group a predicate reaches prunes nothing
    // elsewhere and still costs its bookkeeping (0.9 ms of the 20 ms of "top agents" over a
    // year of a small center).
    config.options_mut().execution.parquet.bloom_filter_on_read = false;
    let ctx = SessionContext::new_with_config_rt(config, ctx.runtime_env());
    #[cfg(feature = "distributed")]
    let ctx = crate::distributed::distribute(ctx)?;
    let mut ctx = ctx;
    lake.register(&ctx);
    ctx.add_optimizer_rule(Arc::new(crate::optimizer::GroupByDictionaryValues));
    crate::lateral::register(&ctx)?;
    register_snapshot(&ctx, lake, &snapshot)?;
    ctx.register_table(
        crate::lake::directory::TABLE,
        crate::lake::directory::provider(lake).await?,
    )?;
    load_views(&mut ctx).await?;
    Ok(ctx)
}

/// Registers the helper functions (ours, and the JSON functions and `->`/`->>` operators of
/// `datafusion-functions-json`) and creates the views of `sql/views/` in `ctx`, whose tables
/// must be registered already.
pub async fn load_views(ctx: &mut SessionContext) -> Result<()> {
    register_functions(ctx)?;
    for (name, sql) in VIEWS {
        ctx.sql(sql).await.map_err(|e| {
            Error::Usage(format!(
                "view {name} (sql/views/{name}.sql) does not plan: {e}"
            ))
        })?;
    }
    Ok(())
}

/// Registers convlake's functions in `ctx`: its own, the JSON functions and `->`/`->>`
/// operators of `datafusion-functions-json`, and the bounded aggregates (what a worker's
/// sessions need to run any part of a plan).
pub fn register_functions(ctx: &mut SessionContext) -> Result<()> {
    crate::functions::register(ctx);
    ctx.register_udf(crate::postgres::json::udf());
    datafusion_functions_json::register_all(ctx)?;
    crate::bounded::register(ctx);
    Ok(())
}

/// Registers every table of `snapshot` in `ctx`.
pub fn register_snapshot(ctx: &SessionContext, lake: &Lake, snapshot: &Snapshot) -> Result<()> {
    for table in Table::ALL {
        let provider = SnapshotTable::new(lake, table, snapshot.files(table).to_vec());
        ctx.register_table(table.name(), Arc::new(provider))?;
    }
    Ok(())
}

/// Makes a freshly opened session ready for a server (functions, catalogs of its own).
pub type Prepare = Box<dyn Fn(&SessionContext) -> Result<()> + Send + Sync>;

/// The latest committed state of a lake as a session, for servers that run for days: each
/// call lists the lake's record versions (one listing) and reopens the session when a commit
/// has landed since; otherwise the open session is shared.
pub struct Follower {
    lake: Lake,
    prepare: Option<Prepare>,
    current: tokio::sync::Mutex<Option<(u64, SessionContext)>>,
}

impl Follower {
    /// Follows `lake`; `prepare` runs on each session it opens.
    pub fn new(lake: Lake, prepare: Option<Prepare>) -> Follower {
        Follower {
            lake,
            prepare,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The lake followed.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The latest lake version and the state of a session over it (to derive sessions from,
    /// with a runtime of their own).
    pub async fn latest(&self) -> Result<(u64, datafusion::execution::SessionState)> {
        let lake = self.lake.clone();
        let versions =
            tokio::task::spawn_blocking(move || crate::lake::log::record_versions(&lake))
                .await
                .map_err(|e| Error::Internal(format!("listing the lake's versions: {e}")))??;
        let latest = versions.last().copied().unwrap_or(0);
        let mut current = self.current.lock().await;
        match current.as_ref() {
            Some((version, ctx)) if *version == latest => Ok((latest, ctx.state())),
            _ => {
                let ctx = open(&self.lake).await?;
                if let Some(prepare) = &self.prepare {
                    prepare(&ctx)?;
                }
                let state = ctx.state();
                *current = Some((latest, ctx));
                Ok((latest, state))
            }
        }
    }
}

/// The partition column as the tables expose it.
pub fn partition_field() -> FieldRef {
    Arc::new(Field::new(PARTITION_COLUMN, DataType::Utf8, false))
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
    /// The lake.
    lake: Lake,
    table: Table,
    files: Vec<LakeFile>,
    /// The columns read from the files ([`scan_schema`]).
    file_columns: SchemaRef,
    /// Those and the partition column.
    schema: SchemaRef,
}

impl SnapshotTable {
    /// The `files` of `table` in the lake at `lake`.
    pub fn new(lake: &Lake, table: Table, files: Vec<LakeFile>) -> Self {
        let file_columns = scan_schema(table);
        let mut fields: Vec<FieldRef> = file_columns.fields().iter().cloned().collect();
        fields.push(partition_field());
        SnapshotTable {
            lake: lake.clone(),
            table,
            files,
            file_columns,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// Keeps the files that the filters may match, by the log's statistics.
    fn prune(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<bool>> {
        let all = vec![true; self.files.len()];
        let Some(filter) = conjunction(filters.iter().cloned()) else {
            return Ok(all);
        };
        if self.files.is_empty() {
            return Ok(all);
        }
        let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
        let expr = state.create_physical_expr(filter, &df_schema)?;
        // A predicate the pruner cannot take (a volatile function, say) prunes nothing.
        match PruningPredicateBuilder::new()
            .with_file_schema(self.schema.clone())
            .try_build(expr)
        {
            Ok(predicate) => Ok(predicate.prune(&FileStatistics(&self.files)).unwrap_or(all)),
            Err(_) => Ok(all),
        }
    }
}

/// Whether `filter` reads the partition column and nothing else.
fn is_partition_filter(filter: &Expr) -> bool {
    let columns = filter.column_refs();
    !columns.is_empty() && columns.iter().all(|c| c.name == PARTITION_COLUMN)
}

/// The log's statistics of a table's files, for `PruningPredicate`: the month as min = max,
/// min/max of the two key columns, exact row counts.
struct FileStatistics<'a>(&'a [LakeFile]);

impl FileStatistics<'_> {
    fn bound(&self, column: &Column, max: bool) -> Option<ArrayRef> {
        fn pick<T>(range: Option<(T, T)>, max: bool) -> Option<T> {
            range.map(|(lo, hi)| if max { hi } else { lo })
        }
        match column.name.as_str() {
            PARTITION_COLUMN => Some(Arc::new(StringArray::from_iter_values(
                self.0.iter().map(|f| layout::month_string(f.month)),
            ))),
            CONVERSATION_DATE => Some(Arc::new(Date32Array::from_iter(
                self.0.iter().map(|f| pick(f.date, max)),
            ))),
            CONVERSATION_START => Some(Arc::new(
                TimestampMicrosecondArray::from_iter(self.0.iter().map(|f| pick(f.start, max)))
                    .with_timezone("UTC"),
            )),
            _ => None,
        }
    }
}

impl PruningStatistics for FileStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, false)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, true)
    }

    fn num_containers(&self) -> usize {
        self.0.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        // The key columns are never null: every row has a start.
        [PARTITION_COLUMN, CONVERSATION_DATE, CONVERSATION_START]
            .contains(&column.name.as_str())
            .then(|| Arc::new(UInt64Array::from(vec![0; self.0.len()])) as ArrayRef)
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(UInt64Array::from_iter_values(
            self.0.iter().map(|f| f.rows),
        )))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
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
        // row of a file has its partition's month: exact, so no filter runs above the scan.
        // Other filters only prune by statistics: inexact.
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
        let mut files: Vec<&LakeFile> = self
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
        files.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        let rows: u64 = files.iter().map(|f| f.rows).sum();
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        let groups_wanted = state.config().target_partitions().max(1).min(files.len());
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups_wanted];
        let file_schema = self.table.file_schema();
        for file in files {
            let location = self
                .lake
                .scan_location(&layout::data_file(self.table, &file.path));
            let mut partitioned = PartitionedFile::new(location, file.bytes);
            partitioned.partition_values =
                vec![ScalarValue::Utf8(Some(layout::month_string(file.month)))];
            // Every data file is written with its table's schema: the reader need not decode
            // the copy in each file's footer (`ARROW:schema`) on every open.
            partitioned.arrow_schema = Some(file_schema.clone());
            let smallest = groups
                .iter_mut()
                .min_by_key(|(size, _)| *size)
                .expect("at least one group");
            smallest.0 += file.bytes;
            smallest.1.push(partitioned);
        }
        let table_schema = TableSchema::builder(self.file_columns.clone())
            .with_table_partition_cols(vec![partition_field()])
            .build();
        // DataFusion's Parquet source, as `ParquetFormat` would make it, with readers that
        // cache each file's page index along with its footer (see `page_index`).
        let url = self.lake.object_store_url();
        let options = state.table_options().parquet.clone();
        let hint = options.global.metadata_size_hint;
        let mut source = ParquetSource::new(table_schema)
            .with_table_parquet_options(options)
            .with_parquet_file_reader_factory(Arc::new(PageIndexedReaders::new(state, &url)?));
        if let Some(hint) = hint {
            source = source.with_metadata_size_hint(hint);
        }
        // Row counts from the log: exact for the files chosen, so `count(*)` needs no scan;
        // DataFusion marks them inexact itself when a filter applies.
        let mut statistics = Statistics::new_unknown(&self.schema);
        statistics.num_rows = Precision::Exact(rows as usize);
        statistics.total_byte_size = Precision::Inexact(bytes as usize);
        let config = FileScanConfigBuilder::new(url, Arc::new(source))
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
        Ok(DataSourceExec::from_data_source(config))
    }
}
