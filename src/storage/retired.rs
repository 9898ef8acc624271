//! Superseded data files for the statements that still read them.
//!
//! A commit that keeps no history does not delete the data files it superseded: it moves
//! them to `_convlake/retired/` (same relative path), so that the table directories hold
//! exactly the latest state for plain Parquet readers, while a statement planned on the
//! version before still finds every file it names. [`ReadersStore`] is the object store
//! DataFusion scans through: a read of a data file that is gone from its table directory is
//! answered from the retired copy. A later writer removes retired files once they are older
//! than [`READER_GRACE_MS`]; a statement that outlives that fails with a message that says so.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// Where superseded data files wait for the statements that may still read them.
pub const RETIRED_DIR: &str = "_convlake/retired";

/// How long retired files stay (one hour): the longest a statement that started before a
/// commit can still read the files that commit superseded.
pub const READER_GRACE_MS: i64 = 3_600_000;

/// The path of the retired copy of the lake file `path` (both relative to the lake).
pub fn retired_path(path: &str) -> String {
    format!("{RETIRED_DIR}/{path}")
}

/// An object store that reads a missing data file of the lake at `root` from its retired
/// copy; everything else goes to the store it wraps.
#[derive(Debug)]
pub struct ReadersStore {
    inner: Arc<dyn ObjectStore>,
    root: ObjectPath,
}

impl ReadersStore {
    /// `inner`, for the lake whose files sit under the key `root`.
    pub fn new(inner: Arc<dyn ObjectStore>, root: ObjectPath) -> ReadersStore {
        ReadersStore { inner, root }
    }

    /// The key of the retired copy of `location`, if it is a data file of the lake (not one
    /// of its own bookkeeping files).
    fn retired(&self, location: &ObjectPath) -> Option<ObjectPath> {
        let parts: Vec<_> = location.prefix_match(&self.root)?.collect();
        if parts.len() < 2 || parts[0].as_ref().starts_with('_') {
            return None;
        }
        let relative = parts
            .iter()
            .map(|p| p.as_ref())
            .collect::<Vec<_>>()
            .join("/");
        Some(
            retired_path(&relative)
                .split('/')
                .fold(self.root.clone(), |key, part| key.join(part)),
        )
    }

    /// The error of a data file gone from both places.
    fn gone(location: &ObjectPath) -> object_store::Error {
        object_store::Error::NotFound {
            path: location.to_string(),
            source: "the file was superseded by a later commit and has been removed since: this statement ran longer than the hour the lake keeps superseded files for readers; run it again (or keep history, so that superseded files stay where they are: convlake ingest --keep-history P1D)".into(),
        }
    }
}

impl fmt::Display for ReadersStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadersStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for ReadersStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        match self.inner.get_opts(location, options.clone()).await {
            Err(object_store::Error::NotFound { .. }) if self.retired(location).is_some() => {
                let retired = self.retired(location).expect("checked");
                match self.inner.get_opts(&retired, options).await {
                    Err(object_store::Error::NotFound { .. }) => Err(Self::gone(location)),
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        match self.inner.get_ranges(location, ranges).await {
            Err(object_store::Error::NotFound { .. }) if self.retired(location).is_some() => {
                let retired = self.retired(location).expect("checked");
                match self.inner.get_ranges(&retired, ranges).await {
                    Err(object_store::Error::NotFound { .. }) => Err(Self::gone(location)),
                    other => other,
                }
            }
            other => other,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn a_missing_data_file_is_read_from_its_retired_copy_and_then_fails_clearly() {
        let memory = Arc::new(InMemory::new());
        let store = ReadersStore::new(memory.clone(), ObjectPath::from("lake"));
        let file = ObjectPath::from("lake/conversations/conversation_month=2026-01/a.parquet");
        let retired = ObjectPath::from(
            "lake/_convlake/retired/conversations/conversation_month=2026-01/a.parquet",
        );
        memory
            .put(&retired, PutPayload::from_static(b"old"))
            .await
            .unwrap();
        let read = store.get(&file).await.unwrap().bytes().await.unwrap();
        assert_eq!(&read[..], b"old");
        assert_eq!(store.get_range(&file, 1..3).await.unwrap(), &b"ld"[..]);
        assert_eq!(store.head(&file).await.unwrap().size, 3);

        memory
            .put(&file, PutPayload::from_static(b"new"))
            .await
            .unwrap();
        let read = store.get(&file).await.unwrap().bytes().await.unwrap();
        assert_eq!(&read[..], b"new", "the table's own file comes first");

        let other = ObjectPath::from("lake/conversations/conversation_month=2026-01/b.parquet");
        let err = store.get(&other).await.unwrap_err().to_string();
        assert!(
            err.contains("superseded") && err.contains("run it again"),
            "{err}"
        );
        // Bookkeeping files and files outside the lake are not looked for elsewhere.
        let log = ObjectPath::from("lake/_convlake/log/1.json");
        assert!(!store
            .get(&log)
            .await
            .unwrap_err()
            .to_string()
            .contains("superseded"));
        let outside = ObjectPath::from("other/conversations/x/a.parquet");
        assert!(!store
            .get(&outside)
            .await
            .unwrap_err()
            .to_string()
            .contains("superseded"));
    }
}
