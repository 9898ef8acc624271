//! The object-store backend of [`super::Lake`]: building the store of an `s3://`, `gs://` or
//! `az://` URL from the environment and options, running its I/O on the process-wide I/O
//! runtime, uploads (multipart for large files), and errors that say what to fix without
//! showing a secret.

use std::future::Future;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use deltalake::logstore::{
    default_logstore, logstore_factories, DeltaIOStorageBackend, IORuntime, LogStore,
    LogStoreFactory, ObjectStoreRef, StorageConfig,
};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
    WriteMultipart,
};
use url::Url;

use super::options::StorageOptions;
use super::Entry;
use crate::error::{Error, Result};

/// Files up to this size are uploaded in one request; larger ones in parts of this size.
const PART_BYTES: usize = 16 << 20;

/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

/// A lake's place in an object store.
#[derive(Clone)]
pub struct Remote {
    /// The store, for callers on any runtime (DataFusion, delta-rs): every call is run on
    /// the I/O runtime.
    shared: Arc<dyn ObjectStore>,
    /// The same store, for [`Remote::run`] (already on the I/O runtime).
    raw: Arc<dyn ObjectStore>,
    /// `scheme://authority/`: what the store is registered under.
    store_url: Url,
    /// The lake's prefix in the store.
    prefix: ObjectPath,
}

/// How many times a request that failed transiently (a 5xx, a 429, a timeout, a refused
/// connection) is sent again, with backoff from 200 ms doubling (jittered) to 8 s: about 6 s
/// of waiting in all, within a minute per request. Each retry is reported
/// (`storage::retries`).
pub const MAX_RETRIES: usize = 5;

/// The URL schemes convlake opens with an object store.
const SCHEMES: [&str; 8] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

impl Remote {
    /// The store of `url`, configured from the environment and `options`.
    pub(super) fn open(url: &Url, options: &StorageOptions) -> Result<Remote> {
        register_delta_schemes();
        let unknown = |key: &str| {
            Error::Usage(format!(
                "--storage-option {key}: not a setting of {}:// stores (see the README's object storage section for the keys)",
                url.scheme()
            ))
        };
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(8),
                base: 2.0,
            },
            max_retries: MAX_RETRIES,
            retry_timeout: Duration::from_secs(60),
        };
        // The three builders share their shape, not a trait.
        macro_rules! build {
            ($builder:expr) => {{
                let mut builder = $builder.with_url(url.as_str()).with_retry(retry);
                for (key, value) in options.iter() {
                    builder = builder.with_config(key.parse().map_err(|_| unknown(key))?, value);
                }
                builder.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }};
        }
        let built = match url.scheme() {
            "s3" | "s3a" => build!(AmazonS3Builder::from_env()),
            "gs" => build!(GoogleCloudStorageBuilder::from_env()),
            scheme if SCHEMES.contains(&scheme) => build!(MicrosoftAzureBuilder::from_env()),
            other => {
                return Err(Error::Usage(format!(
                    "--lake {}: convlake does not know {other}:// locations; give a directory, or an s3://, gs://, az:// or abfss:// URL",
                    redact(url)
                )))
            }
        };
        let raw = built.map_err(|e| Error::Storage {
            action: "cannot open",
            location: redact(url),
            reason: e.to_string(),
            hint: config_hint(url.scheme()).into(),
        })?;
        let raw = super::faults::FaultStore::wrap(raw);
        let shared: Arc<dyn ObjectStore> = Arc::new(DeltaIOStorageBackend::new(
            raw.clone(),
            IORuntime::default(),
        ));
        let store_url = Url::parse(&format!(
            "{}://{}/",
            url.scheme(),
            &url[url::Position::BeforeUsername..url::Position::AfterPort]
        ))
        .map_err(|e| Error::Usage(format!("--lake {}: {e}", redact(url))))?;
        Ok(Remote {
            shared,
            raw,
            store_url,
            prefix: ObjectPath::from_url_path(url.path()).map_err(|e| {
                Error::Usage(format!(
                    "--lake {}: not a valid object path: {e}",
                    redact(url)
                ))
            })?,
        })
    }

    /// The lake's URL as users see it (no credentials, no query).
    pub(super) fn display(&self) -> String {
        format!("{}{}", redact(&self.store_url), self.prefix)
    }

    /// The store, safe to use from any runtime.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.shared.clone()
    }

    /// `scheme://authority/`, under which the store is registered with DataFusion.
    pub fn store_url(&self) -> &Url {
        &self.store_url
    }

    /// The key of `path` (relative to the lake).
    pub fn key(&self, path: &str) -> ObjectPath {
        let mut key = self.prefix.clone();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            key = key.join(part);
        }
        key
    }

    /// The URL of the directory `path` (relative to the lake), ending in `/`.
    pub(super) fn url_of(&self, path: &str) -> Url {
        let mut url = self.store_url.clone();
        url.set_path(&format!("{}/", self.key(path)));
        url
    }

    /// Runs `work` on the I/O runtime and waits for it, from any thread.
    fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        let task = IORuntime::default().get_handle().spawn(work);
        futures::executor::block_on(task).expect("an object-store task panicked")
    }

    fn error(&self, action: &'static str, path: &str, e: object_store::Error) -> Error {
        storage_error(action, format!("{}/{}", self.display(), path), e)
    }

    pub(super) fn read(&self, path: &str) -> Result<Option<Bytes>> {
        let (store, key) = (self.raw.clone(), self.key(path));
        match self.run(async move { store.get(&key).await?.bytes().await }) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("cannot read", path, e)),
        }
    }

    pub(super) fn read_range(&self, path: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        let (store, key) = (self.raw.clone(), self.key(path));
        self.run(async move { store.get_range(&key, range).await })
            .map_err(|e| self.error("cannot read", path, e))
    }

    pub(super) fn put(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let (store, key) = (self.raw.clone(), self.key(path));
        self.run(async move { store.put(&key, PutPayload::from(bytes)).await })
            .map(|_| ())
            .map_err(|e| self.error("cannot write", path, e))
    }

    pub(super) fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool> {
        let (store, key) = (self.raw.clone(), self.key(path));
        let put = self.run(async move {
            let options = PutOptions::from(PutMode::Create);
            store.put_opts(&key, PutPayload::from(bytes), options).await
        });
        match put {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.error("cannot commit", path, e)),
        }
    }

    pub(super) fn delete(&self, path: &str) -> Result<()> {
        let (store, key) = (self.raw.clone(), self.key(path));
        match self.run(async move { store.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("cannot remove", path, e)),
        }
    }

    /// Copies `path` to `to` inside the store, then deletes `path`; nothing to move is fine.
    pub(super) fn retire(&self, path: &str, to: &str) -> Result<()> {
        let (store, from, to) = (self.raw.clone(), self.key(path), self.key(to));
        let moved = self.run(async move {
            store.copy(&from, &to).await?;
            store.delete(&from).await
        });
        match moved {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("cannot move", path, e)),
        }
    }

    pub(super) fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let (store, key) = (self.raw.clone(), self.key(dir));
        let listed = self.run(async move { store.list(Some(&key)).try_collect::<Vec<_>>().await });
        let listed = listed.map_err(|e| self.error("cannot list", dir, e))?;
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<String> = meta
                    .location
                    .prefix_match(&self.prefix)?
                    .map(|p| p.as_ref().to_string())
                    .collect();
                Some(Entry {
                    path: parts.join("/"),
                    size: meta.size,
                    modified_ms: meta.last_modified.timestamp_millis(),
                })
            })
            .collect())
    }

    pub(super) fn has_any(&self, dir: &str) -> Result<bool> {
        let (store, key) = (self.raw.clone(), self.key(dir));
        let first = self.run(async move { store.list(Some(&key)).try_next().await });
        first
            .map(|f| f.is_some())
            .map_err(|e| self.error("cannot list", dir, e))
    }

    /// Streams the object `path`: chunks arrive as the reader asks for them (a few ahead).
    pub(super) fn stream(&self, path: &str) -> Box<dyn Read + Send> {
        let (store, key) = (self.raw.clone(), self.key(path));
        let location = format!("{}/{}", self.display(), path);
        let (chunks, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        IORuntime::default().get_handle().spawn(async move {
            let failed = |e: object_store::Error| {
                std::io::Error::other(storage_error("cannot read", location.clone(), e).to_string())
            };
            match store.get(&key).await {
                Err(e) => {
                    let _ = chunks.send(Err(failed(e))).await;
                }
                Ok(got) => {
                    let mut stream = got.into_stream();
                    while let Some(chunk) = stream.next().await {
                        let end = chunk.is_err();
                        if chunks.send(chunk.map_err(failed)).await.is_err() || end {
                            break;
                        }
                    }
                }
            }
        });
        Box::new(ChunkStream {
            rx,
            current: Bytes::new(),
        })
    }

    /// Uploads the local file `local` of `size` bytes as `path`: in one request when small,
    /// in parts (several in flight) when large.
    pub(super) fn upload(&self, local: &Path, path: &str, size: u64) -> Result<()> {
        let (store, key) = (self.raw.clone(), self.key(path));
        let mut file =
            std::fs::File::open(local).map_err(|e| Error::io("cannot read", local, e))?;
        if size as usize <= PART_BYTES {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| Error::io("cannot read", local, e))?;
            return self.put(path, bytes);
        }
        let local_owned = local.to_path_buf();
        let uploaded = self.run(async move {
            let upload = store.put_multipart(&key).await.map_err(Upload::Store)?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut buffer = vec![0u8; PART_BYTES];
            loop {
                let n = read_full(&mut file, &mut buffer).map_err(Upload::Local)?;
                if n == 0 {
                    break;
                }
                parts
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(Upload::Store)?;
                parts.write(&buffer[..n]);
            }
            parts.finish().await.map_err(Upload::Store)
        });
        match uploaded {
            Ok(_) => Ok(()),
            Err(Upload::Local(e)) => Err(Error::io("cannot read", local_owned, e)),
            Err(Upload::Store(e)) => Err(self.error("cannot upload", path, e)),
        }
    }
}

/// The reading end of [`Remote::stream`].
struct ChunkStream {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

enum Upload {
    Local(std::io::Error),
    Store(object_store::Error),
}

/// Reads until `buffer` is full or the file ends; returns the bytes read.
fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// `url` without user, password or query: safe to print.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// What configures the stores of `scheme`.
fn config_hint(scheme: &str) -> &'static str {
    match scheme {
        "s3" | "s3a" => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_REGION, AWS_ENDPOINT_URL for S3-compatible servers (with AWS_ALLOW_HTTP=true for http://), or the same as --storage-option aws_region=…",
        "gs" => "set GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT), or --storage-option google_service_account=…",
        _ => "set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or AZURE_STORAGE_SAS_KEY, or a service principal: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID), or the same as --storage-option",
    }
}

/// An object-store error on `location`, with what to do about it.
pub fn storage_error(action: &'static str, location: String, e: object_store::Error) -> Error {
    let text = e.to_string();
    let scheme = location.split("://").next().unwrap_or_default().to_string();
    let hint = match &e {
        object_store::Error::NotFound { .. } => "check the URL: nothing is stored there".into(),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            format!("the credentials were refused: {}", config_hint(&scheme))
        }
        _ if text.contains("NoSuchBucket") || text.contains("bucket does not exist") => {
            "the bucket does not exist: create it, or check the bucket name in --lake".into()
        }
        _ if text.contains("URL scheme is not allowed") || text.contains("builder error") => {
            "the endpoint is plain http://: allow it with AWS_ALLOW_HTTP=true (or --storage-option allow_http=true), or use https://".into()
        }
        _ if text.contains("169.254.169.254") => format!(
            "no credentials were found, and this machine has no instance role: {}",
            config_hint(&scheme)
        ),
        _ if text.contains("credential") || text.contains("metadata") || text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") => {
            format!("no usable credentials: {}", config_hint(&scheme))
        }
        _ => transient_hint(&text).unwrap_or_else(|| config_hint(&scheme).into()),
    };
    Error::Storage {
        action,
        location,
        reason: text,
        hint,
    }
}

/// What to do about a store that failed after its retries (throttling, server errors) or
/// cannot be reached, from the error's text (it may come wrapped by delta-rs); `None` for
/// other errors.
pub fn transient_hint(text: &str) -> Option<String> {
    let failing = [
        "Server returned non-2xx status code: 5",
        "SlowDown",
        "status 5",
        "503",
        "500 Internal",
    ];
    if text.contains("retries") && failing.iter().any(|f| text.contains(f)) {
        return Some(format!(
            "the store kept failing or throttling after {MAX_RETRIES} retries: the lake holds its last committed state; run the command again later"
        ));
    }
    (text.contains("error sending request") || text.contains("connect") || text.contains("dns")).then(|| {
        "the storage endpoint cannot be reached: check AWS_ENDPOINT_URL (or the network), and that the server runs".into()
    })
}

/// Lets delta-rs open tables at object-store URLs with the stores convlake builds: its
/// default log store commits with the store's put-if-absent (conditional puts on S3).
fn register_delta_schemes() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        let factories = logstore_factories();
        for scheme in SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("a scheme URL");
            factories.insert(url, Arc::new(DefaultLogStores));
        }
    });
}

struct DefaultLogStores;

impl LogStoreFactory for DefaultLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}
