//! Injected storage faults, for the tests of the lake under failed requests.
//!
//! Off unless the environment asks: `CONVLAKE_TEST_FAIL_REQUEST=N` fails the N-th storage
//! request of the process (counted from 1, after the store's own retries, so as a request
//! that failed for good), `CONVLAKE_TEST_SLOW_REQUESTS=K:MS` delays every K-th request by MS
//! milliseconds, and `CONVLAKE_TEST_COUNT_REQUESTS=FILE` keeps the count so far in FILE.
//! A request is one call of the lake's storage ([`super::Lake`]'s reads, writes, lists,
//! deletes; each object-store call of delta-rs, through [`FaultStore`]).

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

struct Plan {
    fail: Option<u64>,
    slow: Option<(u64, u64)>,
    count_file: Option<String>,
}

fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Plan {
            fail: var("CONVLAKE_TEST_FAIL_REQUEST").and_then(|v| v.parse().ok()),
            slow: var("CONVLAKE_TEST_SLOW_REQUESTS").and_then(|v| {
                let (every, ms) = v.split_once(':')?;
                Some((every.parse().ok()?, ms.parse().ok()?))
            }),
            count_file: var("CONVLAKE_TEST_COUNT_REQUESTS"),
        }
    })
}

/// Whether any fault or count was asked for.
pub fn enabled() -> bool {
    let plan = plan();
    plan.fail.is_some() || plan.slow.is_some() || plan.count_file.is_some()
}

/// Counts one storage request (`what` on `path`); fails it when it is the one to fail.
pub fn request(what: &str, path: &str) -> std::result::Result<(), String> {
    let plan = plan();
    if !enabled() {
        return Ok(());
    }
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let n = REQUESTS.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(file) = &plan.count_file {
        let _ = std::fs::write(file, n.to_string());
    }
    if let Some((every, ms)) = plan.slow {
        if every > 0 && n % every == 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    if plan.fail == Some(n) {
        return Err(format!(
            "injected fault: storage request {n} ({what} {path}) failed"
        ));
    }
    Ok(())
}

/// The injected fault as an I/O error.
pub fn io_request(what: &str, path: &std::path::Path) -> std::io::Result<()> {
    request(what, &path.display().to_string()).map_err(std::io::Error::other)
}

/// An object store whose requests go through [`request`].
#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
}

impl FaultStore {
    /// `inner`, with faults injected when the environment asks for them (else `inner`).
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        if enabled() {
            Arc::new(FaultStore { inner })
        } else {
            inner
        }
    }
}

fn check(what: &str, path: &ObjectPath) -> object_store::Result<()> {
    request(what, path.as_ref()).map_err(|e| object_store::Error::Generic {
        store: "convlake-faults",
        source: e.into(),
    })
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        check("put", location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        check("upload", location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        check("get", location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &ObjectPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        check("get", location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        let checked = locations
            .map(|l| l.and_then(|l| check("delete", &l).map(|()| l)))
            .boxed();
        self.inner.delete_stream(checked)
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match check("list", prefix.unwrap_or(&ObjectPath::default())) {
            Ok(()) => self.inner.list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        check("list", prefix.unwrap_or(&ObjectPath::default()))?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        check("copy", from)?;
        self.inner.copy_opts(from, to, options).await
    }
}
