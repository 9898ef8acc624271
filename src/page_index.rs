//! The Parquet readers of lake scans: DataFusion's cached readers (footers kept in the
//! session's file metadata cache), asked for the page index with the footer, so that the
//! cache keeps both.
//!
//! DataFusion's Parquet opener asks for the footer alone and loads the page index afterwards
//! when a predicate can use it, from the file, without caching it: every query with a filter
//! read and parsed the page index of every file again (a read per file; a request per file on
//! object storage). The index sits just before the footer, usually inside the tail that the
//! first read fetches anyway (512 KiB), and it is what prunes pages of the sorted columns;
//! asked for with the footer, it is cached with it, and the opener finds it there. One-shot
//! commands without a filter pay its parsing once per file (not measurable against a
//! command's start: 10 runs of an unfiltered query over the year's 78 files took the same
//! time either way).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::catalog::Session;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

/// Creates [`PageIndexed`] readers over the session's object store and metadata cache.
#[derive(Debug)]
pub struct PageIndexedReaders(CachedParquetFileReaderFactory);

impl PageIndexedReaders {
    /// Readers of the files under `url`, with `state`'s object store and metadata cache.
    pub fn new(state: &dyn Session, url: &ObjectStoreUrl) -> DfResult<Self> {
        let runtime = state.runtime_env();
        let cache = runtime.cache_manager.get_file_metadata_cache();
        Ok(PageIndexedReaders(CachedParquetFileReaderFactory::new(
            runtime.object_store(url)?,
            cache,
        )))
    }
}

impl ParquetFileReaderFactory for PageIndexedReaders {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Box<dyn AsyncFileReader + Send>> {
        let inner = self
            .0
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(PageIndexed {
            inner,
            options: None,
        }))
    }
}

/// A cached Parquet reader whose metadata always comes with the page index (when the file
/// has one).
pub struct PageIndexed {
    inner: Box<dyn AsyncFileReader + Send>,
    /// The options of the last metadata request, with the page index asked for.
    options: Option<ArrowReaderOptions>,
}

impl AsyncFileReader for PageIndexed {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.inner.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let wanted = options
            .cloned()
            .unwrap_or_default()
            .with_page_index_policy(PageIndexPolicy::Optional);
        let PageIndexed { inner, options } = self;
        inner.get_metadata(Some(options.insert(wanted)))
    }
}
