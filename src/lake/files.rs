//! Parquet files of the lake: the writer settings (in one place), row order, and writing and
//! reading files.
//!
//! Every file is zstd-compressed with statistics (per page for the sort columns, per row group
//! for the rest) and a page index, holds rows sorted by `conversation_start` (metrics: row
//! groups in start order, each sorted by name, then `conversation_start`; see [`FileWriter`])
//! and declares each row group's order in its sorting columns, keeps microsecond
//! UTC timestamps (Delta's `timestamp`) and spec-compliant list and map names, and embeds the
//! Arrow schema so that dictionary and map columns read back exactly as written (other
//! engines read plain strings).

use std::sync::OnceLock;

use arrow::array::{Array, AsArray, DictionaryArray, RecordBatch};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{Date32Type, Int32Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, Type as PhysicalType, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::ChunkReader;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::lake::delta::LakeFile;
use crate::lake::layout::{self, Month};
use crate::schema::{Table, CONVERSATION_DATE, CONVERSATION_ID, CONVERSATION_START};
use crate::storage::{Lake, Sink, Source};

/// Rows per row group: small enough for statistics to prune, large enough to scan fast.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows per data page in clustered files (metrics, sorted by name): a name's rows then fill a
/// few pages of their own, and a filter on the name reads only those (measured in
/// `benches/compare`). Parquet's default of 20,000 rows is counted in steps of whole writes,
/// which gave pages of up to 40,000 rows: a name's rows shared their page with most others.
const CLUSTERED_PAGE_ROWS: usize = 4096;

/// String columns (at any depth) holding an id that is unique per participant or session.
/// Low-cardinality ids (`user_id`, `queue_id`, ...) keep their dictionary: queries filter
/// and group on them, and dictionary pages decode to cheap string views.
const UNIQUE_IDS: [&str; 4] = [
    "participant_id",
    "session_id",
    "peer_id",
    "protocol_call_id",
];

/// Dictionary page limit for unique ids in clustered files: a row group's distinct sessions
/// (up to one per row) at 36-character ids.
const CLUSTERED_ID_DICTIONARY_BYTES: usize = 8 << 20;

/// The writer settings of every data file of `table` (worked out once per table).
pub fn writer_properties(table: Table) -> WriterProperties {
    static PROPERTIES: OnceLock<Vec<WriterProperties>> = OnceLock::new();
    PROPERTIES.get_or_init(|| Table::ALL.iter().map(|t| build_properties(*t)).collect())
        [table as usize]
        .clone()
}

fn build_properties(table: Table) -> WriterProperties {
    let schema = table.file_schema();
    let sorting_columns = table
        .sort_columns()
        .into_iter()
        .map(|name| SortingColumn {
            column_idx: schema
                .index_of(name)
                .expect("sort columns are file columns") as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid zstd level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(sorting_columns))
        .set_created_by(format!("convlake {}", env!("CARGO_PKG_VERSION")));
    if table.cluster_column().is_some() {
        builder = builder.set_data_page_row_count_limit(CLUSTERED_PAGE_ROWS);
    }
    // Nearly every value of 64-bit number columns and unique ids is distinct, so a dictionary
    // only costs hashing at write time (and overflows into plain pages anyway); zstd packs
    // them as well without one. On 1 GB of export: ingest about 8% faster, files 8% smaller,
    // the same query times.
    let parquet_schema = ArrowSchemaConverter::new()
        .convert(&schema)
        .expect("the table schemas convert to Parquet");
    // Page statistics (the column index) prune pages only where rows are in order: the sort
    // columns. Elsewhere values are spread over every page, so row-group statistics are all
    // a reader can use, and per-page minimums and maximums only cost comparisons at write.
    // `conversation_date` follows `conversation_start`, so it is in order too.
    let mut in_order = table.sort_columns();
    in_order.push(CONVERSATION_DATE);
    for column in parquet_schema.columns() {
        let top_level = column.path().parts().len() == 1;
        if !(top_level && in_order.contains(&column.name())) {
            builder = builder
                .set_column_statistics_enabled(column.path().clone(), EnabledStatistics::Chunk);
        }
        let wide_number = matches!(
            column.physical_type(),
            PhysicalType::INT64 | PhysicalType::DOUBLE
        );
        let unique = UNIQUE_IDS.contains(&column.name());
        if unique && table.cluster_column().is_some() {
            // Clustered files list each session once per cluster (metric name), far apart,
            // where zstd finds no repeats: a dictionary (room for a row group's ids) keeps
            // them small.
            builder = builder.set_column_dictionary_page_size_limit(
                column.path().clone(),
                CLUSTERED_ID_DICTIONARY_BYTES,
            );
        } else if wide_number || unique {
            builder = builder.set_column_dictionary_enabled(column.path().clone(), false);
        }
        if column.physical_type() == PhysicalType::INT64 {
            // Time stamps close to each other and durations of similar size: deltas pack
            // into few bits, so zstd has less to do both ways (the query "average tHandle
            // per queue" over 1 GB of export: 37 ms with plain pages, 27 ms with deltas).
            builder =
                builder.set_column_encoding(column.path().clone(), Encoding::DELTA_BINARY_PACKED);
        }
    }
    if table == Table::RawConversations {
        // Whole records never repeat: a dictionary would only cost time. zstd level 1, like
        // the rest: on 1 GB of export, level 3 took about twice the compression time and its
        // files were no smaller (151 MB against 142 MB at level 1).
        // No statistics either: the minimum of whole records prunes nothing.
        // A Bloom filter of the ids per row group: an upsert finds the earlier copy of a
        // conversation whose start moved to another month without reading that month
        // (one in a million false positives: about 460 KB per 128 Ki rows of whole records).
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(CONVERSATION_ID), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(CONVERSATION_ID), 1e-6)
            .set_column_dictionary_enabled(ColumnPath::from("json"), false)
            .set_column_statistics_enabled(ColumnPath::from("json"), EnabledStatistics::None);
    }
    builder.build()
}

/// What the statistics of a file's key columns say: rows, and the smallest and largest
/// `conversation_start` (UTC microseconds) and `conversation_date` (days).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Rows.
    pub rows: u64,
    /// Smallest and largest `conversation_start`.
    pub start: Option<(i64, i64)>,
    /// Smallest and largest `conversation_date`.
    pub date: Option<(i32, i32)>,
}

impl KeyStats {
    /// The statistics of both `self`'s rows and `other`'s.
    pub fn merge(&self, other: &KeyStats) -> KeyStats {
        let both =
            |a: Option<(i64, i64)>, b: Option<(i64, i64)>| widen(a, b.map(|b| b.0), b.map(|b| b.1));
        KeyStats {
            rows: self.rows + other.rows,
            start: both(self.start, other.start),
            date: widen(self.date, other.date.map(|d| d.0), other.date.map(|d| d.1)),
        }
    }

    /// The statistics of the rows of `batches`.
    pub fn of(batches: &[RecordBatch]) -> KeyStats {
        let mut stats = KeyStats::default();
        for batch in batches {
            stats.rows += batch.num_rows() as u64;
            let starts = batch
                .column_by_name(CONVERSATION_START)
                .expect("key column")
                .as_primitive::<TimestampMicrosecondType>();
            let dates = batch
                .column_by_name(CONVERSATION_DATE)
                .expect("key column")
                .as_primitive::<Date32Type>();
            stats.start = widen(
                stats.start,
                arrow::compute::min(starts),
                arrow::compute::max(starts),
            );
            stats.date = widen(
                stats.date,
                arrow::compute::min(dates),
                arrow::compute::max(dates),
            );
        }
        stats
    }
}

/// The order that sorts the rows of `batches` of `table` by its cluster column, if it has one,
/// then `conversation_start` (stable: rows with equal keys keep their order), as `(batch, row)`
/// pairs; `None` when the rows are in order already. The order of every row group of a file.
pub fn sort_order(table: Table, batches: &[RecordBatch]) -> Option<Vec<(usize, usize)>> {
    let ranks = table
        .cluster_column()
        .map(|name| cluster_ranks(batches, name));
    order_by(batches, ranks.as_deref())
}

/// The order that sorts the rows of `batches` by `conversation_start` (stable), as
/// `(batch, row)` pairs; `None` when they are in order already, as exports usually are. The
/// order of the rows of a file from one row group to the next.
pub fn start_order(batches: &[RecordBatch]) -> Option<Vec<(usize, usize)>> {
    order_by(batches, None)
}

/// The `(rank, conversation_start)` order of the rows of `batches` (rank 0 without `ranks`).
fn order_by(batches: &[RecordBatch], ranks: Option<&[Vec<u32>]>) -> Option<Vec<(usize, usize)>> {
    let key = |b: usize, r: usize, start: i64| (ranks.map_or(0, |ranks| ranks[b][r]), start);
    let mut previous = (0, i64::MIN);
    let in_order = batches.iter().enumerate().all(|(b, batch)| {
        starts(batch).iter().enumerate().all(|(r, &start)| {
            let next = key(b, r, start);
            let ok = next >= previous;
            previous = next;
            ok
        })
    });
    if in_order {
        return None;
    }
    let mut keys: Vec<((u32, i64), usize, usize)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        keys.extend(
            starts(batch)
                .iter()
                .enumerate()
                .map(|(r, &s)| (key(b, r, s), b, r)),
        );
    }
    keys.sort_by_key(|&(key, _, _)| key);
    Some(keys.into_iter().map(|(_, b, r)| (b, r)).collect())
}

/// The `conversation_start` values of a batch of any table.
pub(crate) fn starts(batch: &RecordBatch) -> &[i64] {
    batch
        .column_by_name(CONVERSATION_START)
        .expect("sort key")
        .as_primitive::<TimestampMicrosecondType>()
        .values()
}

/// For every row of `batches`, the rank of its value of the dictionary column `name` among
/// all values of the column (nulls last).
fn cluster_ranks(batches: &[RecordBatch], name: &str) -> Vec<Vec<u32>> {
    let dictionaries: Vec<_> = batches
        .iter()
        .map(|b| {
            b.column_by_name(name)
                .expect("cluster column")
                .as_dictionary::<Int32Type>()
        })
        .collect();
    let values = |d: &DictionaryArray<Int32Type>| d.values().as_string::<i32>().clone();
    let mut sorted: Vec<String> = dictionaries
        .iter()
        .flat_map(|d| {
            let values = values(d);
            (0..values.len())
                .filter(|&i| values.is_valid(i))
                .map(|i| values.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    dictionaries
        .iter()
        .map(|d| {
            let values = values(d);
            let rank_of_key: Vec<u32> = (0..values.len())
                .map(|i| {
                    sorted
                        .binary_search_by(|v| v.as_str().cmp(values.value(i)))
                        .map_or(u32::MAX, |rank| rank as u32)
                })
                .collect();
            d.keys()
                .iter()
                .map(|k| k.map_or(u32::MAX, |k| rank_of_key[k as usize]))
                .collect()
        })
        .collect()
}

/// `range` widened to take in `lo..=hi` (when the batch had values).
fn widen<T: Ord + Copy>(range: Option<(T, T)>, lo: Option<T>, hi: Option<T>) -> Option<(T, T)> {
    match (range, lo, hi) {
        (None, Some(lo), Some(hi)) => Some((lo, hi)),
        (Some((a, b)), Some(lo), Some(hi)) => Some((a.min(lo), b.max(hi))),
        (range, _, _) => range,
    }
}

/// Bytes per batch handed to the Parquet writer when rows are written in a new order: the
/// reordered copy never holds much more than this at once.
const REORDER_BYTES: usize = 4 << 20;

/// A data file being written: rows are appended in `conversation_start` order, a row group
/// (or several) per append, until [`FileWriter::finish`].
///
/// The order of a file's rows is the order of its table (see [`Table::sort_columns`]) within
/// each row group, and `conversation_start` from one row group to the next. For tables
/// without a cluster column that is simply start order; metrics are grouped by name inside
/// each row group (so that the page index finds a name's pages) while row groups follow each
/// other in time (so that a metric's ids repeat within a row group and compress, and a file
/// can grow by appending, with no sort of the whole file).
pub struct FileWriter {
    table: Table,
    month: Month,
    relative: String,
    writer: ArrowWriter<Sink>,
    stats: KeyStats,
}

impl FileWriter {
    /// Starts a new data file of `table` in `month` of `lake`.
    pub fn create(lake: &Lake, table: Table, month: Month) -> Result<FileWriter> {
        let relative = layout::new_data_file(month);
        let sink = lake.create(&layout::data_file(table, &relative))?;
        let writer =
            ArrowWriter::try_new(sink, table.file_schema(), Some(writer_properties(table)))?;
        Ok(FileWriter {
            table,
            month,
            relative,
            writer,
            stats: KeyStats::default(),
        })
    }

    /// The latest `conversation_start` written so far: rows appended later must not start
    /// before it.
    pub fn last_start(&self) -> Option<i64> {
        self.stats.start.map(|(_, last)| last)
    }

    /// Bytes of Parquet written so far.
    pub fn bytes(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Where the file is, relative to its table.
    pub fn path(&self) -> &str {
        &self.relative
    }

    /// Appends the rows of `batches` (file schema), in `conversation_start` order: in `order`
    /// when given (see [`start_order`]), else as they are. Calls `written(batch, row)` for
    /// every row, in the order the rows land in the file. Ends with a closed row group, so an
    /// open file holds nothing in memory between appends.
    pub fn append(
        &mut self,
        batches: &[RecordBatch],
        order: Option<&[(usize, usize)]>,
        mut written: impl FnMut(usize, usize),
    ) -> Result<()> {
        self.stats = self.stats.merge(&KeyStats::of(batches));
        match (self.table.cluster_column(), order) {
            (None, None) => {
                for batch in batches {
                    self.writer.write(batch)?;
                }
                for (b, batch) in batches.iter().enumerate() {
                    (0..batch.num_rows()).for_each(|r| written(b, r));
                }
            }
            (None, Some(order)) => {
                write_in_order(&mut self.writer, batches, order)?;
                order.iter().for_each(|&(b, r)| written(b, r));
            }
            (Some(column), order) => {
                let rows: Vec<(usize, usize)> = match order {
                    Some(order) => order.to_vec(),
                    None => batches
                        .iter()
                        .enumerate()
                        .flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r)))
                        .collect(),
                };
                let ranks = cluster_ranks(batches, column);
                let starts: Vec<&[i64]> = batches.iter().map(starts).collect();
                for group in rows.chunks(ROW_GROUP_ROWS) {
                    let mut group = group.to_vec();
                    group.sort_by_key(|&(b, r)| (ranks[b][r], starts[b][r]));
                    write_in_order(&mut self.writer, batches, &group)?;
                    self.writer.flush()?;
                    group.iter().for_each(|&(b, r)| written(b, r));
                }
            }
        }
        self.writer.flush()?;
        Ok(())
    }

    /// Closes the file (uploads it, on object storage); what the lake's log says of it.
    pub fn finish(self) -> Result<LakeFile> {
        let bytes = self.writer.into_inner()?.finish()?;
        Ok(LakeFile::written(
            self.relative,
            self.month,
            bytes,
            &self.stats,
        ))
    }
}

/// Writes the rows of `batches` in `order`, a few MB at a time.
fn write_in_order(
    writer: &mut ArrowWriter<Sink>,
    batches: &[RecordBatch],
    order: &[(usize, usize)],
) -> Result<()> {
    let sources: Vec<&RecordBatch> = batches.iter().collect();
    let bytes: usize = batches.iter().map(batch_bytes).sum();
    let rows = batches.iter().map(|b| b.num_rows()).sum::<usize>().max(1);
    let slice_rows =
        (REORDER_BYTES as u128 * rows as u128 / bytes.max(1) as u128).clamp(64, 64 * 1024) as usize;
    for slice in order.chunks(slice_rows) {
        writer.write(&interleave_record_batch(&sources, slice)?)?;
    }
    Ok(())
}

/// Reads the file `path` of `lake` one row group at a time, each as one batch: the unit in
/// which a file's rows are in its table's order (see [`FileWriter`]).
pub fn read_row_groups(
    lake: &Lake,
    path: &str,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + 'static> {
    let source = lake.open_file(path)?;
    let metadata = match &source {
        Source::File(file) => ArrowReaderMetadata::load(file, Default::default())?,
        Source::Bytes(bytes) => ArrowReaderMetadata::load(bytes, Default::default())?,
    };
    let groups = metadata.metadata().num_row_groups();
    let path = lake.describe(path);
    Ok((0..groups).map(move |i| {
        let rows = metadata.metadata().row_group(i).num_rows().max(1) as usize;
        let batches = match &source {
            Source::File(file) => {
                let file = file
                    .try_clone()
                    .map_err(|e| Error::io("cannot read", &path, e))?;
                read_group(file, &metadata, i, rows)?
            }
            Source::Bytes(bytes) => read_group(bytes.clone(), &metadata, i, rows)?,
        };
        Ok(arrow::compute::concat_batches(metadata.schema(), &batches)?)
    }))
}

/// The batches of row group `i` of a Parquet file.
fn read_group<R: ChunkReader + 'static>(
    source: R,
    metadata: &ArrowReaderMetadata,
    i: usize,
    rows: usize,
) -> Result<Vec<RecordBatch>> {
    ParquetRecordBatchReaderBuilder::new_with_metadata(source, metadata.clone())
        .with_row_groups(vec![i])
        .with_batch_size(rows)
        .build()?
        .map(|b| b.map_err(Error::from))
        .collect()
}

/// Reads the columns `names` (top-level) of the file `path` of `lake`.
pub fn read_columns(lake: &Lake, path: &str, names: &[&str]) -> Result<Vec<RecordBatch>> {
    fn read<R: ChunkReader + 'static>(source: R, names: &[&str]) -> Result<Vec<RecordBatch>> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(source)?;
        let arrow_schema = builder.schema().clone();
        let roots: Vec<usize> = names
            .iter()
            .filter_map(|n| arrow_schema.index_of(n).ok())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()?;
        reader.map(|b| b.map_err(Error::from)).collect()
    }
    match lake.open_file(path)? {
        Source::File(file) => read(file, names),
        Source::Bytes(bytes) => read(bytes, names),
    }
}

/// The bytes the rows of a batch take. Counted by slice, not by buffer: batches read from
/// Arrow IPC share one message buffer between all their columns, which buffer-based counting
/// would count once per column and so flush files far too early.
pub fn batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}
