//! Where a lake lives, and every read and write of its files: a local directory, or a prefix
//! of an object store (`s3://`, `gs://`, `az://` / `abfss://`), through one handle, [`Lake`].
//!
//! Lake code names files by their path relative to the lake root (`orders/part-1.parquet`,
//! `_convlake/log/…`) and never touches `std::fs` or a store itself. The local backend keeps
//! the guarantees local disks give (fsync, hard-link put-if-absent, an OS lock for one writer);
//! the object-store backend uses the store's conditional put (`If-None-Match: *` on S3) for
//! the commit points, so two writers never both commit the same version.
//!
//! All object-store I/O runs on one process-wide I/O runtime (delta-rs's), whatever runtime
//! or thread asks for it: connection pools stay alive across the short-lived runtimes of
//! synchronous callers.

pub mod faults;
mod options;
mod remote;
pub mod retired;
pub mod retries;

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use url::Url;

pub use options::StorageOptions;
pub use remote::{transient_hint, Remote, MAX_RETRIES};

use crate::error::{Error, Result};

/// A lake's location and the means to read and write it. Cheap to clone.
#[derive(Clone)]
pub struct Lake {
    inner: Arc<Inner>,
}

struct Inner {
    /// What users see: the path, or the URL without credentials or query.
    display: String,
    backend: Backend,
}

enum Backend {
    Local(PathBuf),
    Remote(Remote),
}

/// One file found by [`Lake::list`].
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its path relative to the lake root, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (milliseconds since the epoch).
    pub modified_ms: i64,
}

impl fmt::Display for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.display)
    }
}

impl fmt::Debug for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lake({})", self.inner.display)
    }
}

impl Lake {
    /// The lake at `location`: a directory path, a `file://` URL, or an object-store URL
    /// (`s3://bucket/prefix`, `gs://…`, `az://…`, `abfss://…`), configured by the cloud's usual
    /// environment variables and `options`.
    pub fn open(location: &str, options: &StorageOptions) -> Result<Lake> {
        let location = location.trim();
        if location.is_empty() {
            return Err(Error::Usage(
                "the lake location is empty: give --lake a directory or a URL such as s3://bucket/lake".into(),
            ));
        }
        match Url::parse(location) {
            Ok(url) if url.scheme() == "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| Error::Usage(format!("{location} is not a local file URL")))?;
                Ok(Lake::local(&path))
            }
            // One letter is a Windows drive, not a scheme.
            Ok(url) if url.scheme().len() > 1 => {
                let remote = Remote::open(&url, options)?;
                Ok(Lake {
                    inner: Arc::new(Inner {
                        display: remote.display(),
                        backend: Backend::Remote(remote),
                    }),
                })
            }
            _ => Ok(Lake::local(Path::new(location))),
        }
    }

    /// The lake in the local directory `dir`.
    pub fn local(dir: &Path) -> Lake {
        let root = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        Lake {
            inner: Arc::new(Inner {
                display: dir.display().to_string(),
                backend: Backend::Local(root),
            }),
        }
    }

    /// The directory of a local lake; `None` on object storage.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Local(root) => Some(root),
            Backend::Remote(_) => None,
        }
    }

    fn local_path(root: &Path, path: &str) -> PathBuf {
        path.split('/')
            .filter(|p| !p.is_empty())
            .fold(root.to_path_buf(), |p, c| p.join(c))
    }

    /// The path a user should see for `path` (relative to the lake): a local path, or a URL.
    pub fn describe(&self, path: &str) -> PathBuf {
        match &self.inner.backend {
            Backend::Local(root) => Lake::local_path(root, path),
            Backend::Remote(_) => PathBuf::from(format!(
                "{}/{}",
                self.inner.display.trim_end_matches('/'),
                path
            )),
        }
    }

    /// The URL of the directory `path` (relative to the lake), ending in `/`.
    pub fn url_of(&self, path: &str) -> Result<Url> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let dir = Lake::local_path(root, path);
                Url::from_directory_path(&dir).map_err(|()| Error::Lake {
                    path: dir,
                    reason: "not an absolute path".into(),
                    hint: "give --lake as a directory path".into(),
                })
            }
            Backend::Remote(remote) => Ok(remote.url_of(path)),
        }
    }

    /// The object store of a lake on object storage (`None` for a local lake), with the URL
    /// it is registered under.
    pub fn remote(&self) -> Option<&Remote> {
        match &self.inner.backend {
            Backend::Remote(remote) => Some(remote),
            Backend::Local(_) => None,
        }
    }

    /// Registers the lake's object store with `ctx`, so that scans of [`Self::scan_location`]s
    /// work, and find the files a commit superseded while the statement ran (see
    /// [`retired`]).
    pub fn register(&self, ctx: &SessionContext) {
        match &self.inner.backend {
            Backend::Remote(remote) => {
                let store = retired::ReadersStore::new(remote.store(), remote.key(""));
                ctx.register_object_store(remote.store_url(), Arc::new(store));
            }
            Backend::Local(root) => {
                let local = Arc::new(object_store::local::LocalFileSystem::new());
                let root = object_store::path::Path::from(root.to_string_lossy().as_ref());
                let store = retired::ReadersStore::new(local, root);
                let url = Url::parse("file://").expect("a valid URL");
                ctx.register_object_store(&url, Arc::new(store));
            }
        }
    }

    /// The object store URL DataFusion scans the lake's files through.
    pub fn object_store_url(&self) -> ObjectStoreUrl {
        match &self.inner.backend {
            Backend::Local(_) => ObjectStoreUrl::local_filesystem(),
            Backend::Remote(remote) => ObjectStoreUrl::parse(remote.store_url().as_str())
                .expect("a store URL is scheme and authority"),
        }
    }

    /// Where DataFusion finds the file `path` (relative to the lake) in
    /// [`Self::object_store_url`].
    pub fn scan_location(&self, path: &str) -> String {
        match &self.inner.backend {
            Backend::Local(root) => Lake::local_path(root, path).to_string_lossy().into_owned(),
            Backend::Remote(remote) => remote.key(path).to_string(),
        }
    }

    /// The bytes of the file `path`; `None` when there is none.
    pub fn read(&self, path: &str) -> Result<Option<Bytes>> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                match std::fs::read(&file) {
                    Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io("cannot read", file, e)),
                }
            }
            Backend::Remote(remote) => remote.read(path),
        }
    }

    /// The bytes `range` of the file `path`.
    pub fn read_range(&self, path: &str, range: std::ops::Range<u64>) -> Result<Bytes> {
        match &self.inner.backend {
            Backend::Local(root) => {
                use std::io::{Read, Seek, SeekFrom};
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                let mut bytes = vec![0; (range.end - range.start) as usize];
                File::open(&file)
                    .and_then(|mut f| {
                        f.seek(SeekFrom::Start(range.start))?;
                        f.read_exact(&mut bytes)
                    })
                    .map_err(|e| Error::io("cannot read", file, e))?;
                Ok(Bytes::from(bytes))
            }
            Backend::Remote(remote) => remote.read_range(path, range),
        }
    }

    /// Writes the file `path` whole, replacing it.
    pub fn put(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                let temp = stage_beside(&file, &bytes)?;
                std::fs::rename(&temp, &file).map_err(|e| Error::io("cannot write", &file, e))?;
                sync_dir(file.parent().expect("a file sits in a directory"))
            }
            Backend::Remote(remote) => remote.put(path, bytes),
        }
    }

    /// Writes the file `path` only if there is none: it appears whole or not at all, and of
    /// two writers only one succeeds. Returns false when `path` existed.
    pub fn put_if_absent(&self, path: &str, bytes: Vec<u8>) -> Result<bool> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                // A durable temporary file hard-linked into place: the link fails when the
                // target exists.
                let temp = stage_beside(&file, &bytes)?;
                let linked = std::fs::hard_link(&temp, &file);
                let _ = std::fs::remove_file(&temp);
                match linked {
                    Ok(()) => {
                        sync_dir(file.parent().expect("a file sits in a directory"))?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(Error::io("cannot commit", &file, e)),
                }
            }
            Backend::Remote(remote) => remote.put_if_absent(path, bytes),
        }
    }

    /// Removes the file `path`; one that is gone already is fine.
    pub fn delete(&self, path: &str) -> Result<()> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                match std::fs::remove_file(&file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(Error::io("cannot remove", file, e))
                    }
                    _ => Ok(()),
                }
            }
            Backend::Remote(remote) => remote.delete(path),
        }
    }

    /// Moves the data file `path` out of its table directory to its retired place (see
    /// [`retired`]), where statements that started before the commit that superseded it
    /// still find it; one that is gone already is fine.
    pub fn retire(&self, path: &str) -> Result<()> {
        let to = retired::retired_path(path);
        match &self.inner.backend {
            Backend::Local(root) => {
                let (from, to) = (Lake::local_path(root, path), Lake::local_path(root, &to));
                fault(from.as_path())?;
                create_dir(to.parent().expect("a file sits in a directory"))?;
                match std::fs::rename(&from, &to) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    done => done.map_err(|e| Error::io("cannot move", &from, e))?,
                }
                // Its age counts from now: the later writer that removes retired files
                // judges by it.
                File::options()
                    .write(true)
                    .open(&to)
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()))
                    .map_err(|e| Error::io("cannot write", &to, e))?;
                sync_dir(from.parent().expect("a file sits in a directory"))
            }
            Backend::Remote(remote) => remote.retire(path, &to),
        }
    }

    /// Makes the files `paths` (relative to the lake) and their directories durable on a
    /// local disk, for files written by others (delta-rs's store never syncs); those missing
    /// are skipped. Object stores are durable once a put returns: nothing to do there.
    pub fn make_durable(&self, paths: &[String]) -> Result<()> {
        let Backend::Local(root) = &self.inner.backend else {
            return Ok(());
        };
        let mut dirs = std::collections::BTreeSet::new();
        for path in paths {
            let file = Lake::local_path(root, path);
            match File::open(&file) {
                Ok(f) => f
                    .sync_all()
                    .map_err(|e| Error::io("cannot sync", &file, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("cannot sync", &file, e)),
            }
            let mut dir = file.parent();
            // The directories up to the lake root, which a new table or partition created.
            while let Some(d) = dir {
                dirs.insert(d.to_path_buf());
                if d == root.as_path() {
                    break;
                }
                dir = d.parent();
            }
        }
        dirs.iter().try_for_each(|d| sync_dir(d))
    }

    /// Every file under the directory `dir` (relative to the lake), recursively, sorted by
    /// path; none when it does not exist.
    pub fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let mut entries = match &self.inner.backend {
            Backend::Local(root) => list_local(root, dir)?,
            Backend::Remote(remote) => remote.list(dir)?,
        };
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Whether anything is stored under the directory `dir`.
    pub fn has_dir(&self, dir: &str) -> Result<bool> {
        match &self.inner.backend {
            Backend::Local(root) => Ok(Lake::local_path(root, dir).is_dir()),
            Backend::Remote(remote) => remote.has_any(dir),
        }
    }

    /// Starts writing the new file `path`: written in place on a local disk, staged in a
    /// local temporary file and uploaded by [`Sink::finish`] on object storage.
    pub fn create(&self, path: &str) -> Result<Sink> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                create_dir(file.parent().expect("a file sits in a directory"))?;
                let out =
                    File::create_new(&file).map_err(|e| Error::io("cannot create", &file, e))?;
                Ok(Sink {
                    out: BufWriter::with_capacity(1 << 20, out),
                    local: file,
                    upload: None,
                })
            }
            Backend::Remote(remote) => {
                let temp = tempfile::Builder::new()
                    .prefix("convlake-upload-")
                    .tempfile()
                    .map_err(|e| Error::io("cannot create", std::env::temp_dir(), e))?;
                let (out, temp_path) = temp.into_parts();
                Ok(Sink {
                    out: BufWriter::with_capacity(1 << 20, out),
                    local: temp_path.to_path_buf(),
                    upload: Some((remote.clone(), path.to_string(), temp_path)),
                })
            }
        }
    }

    /// The file `path`, for reading Parquet from (downloaded whole from object storage).
    pub fn open_file(&self, path: &str) -> Result<Source> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                Ok(Source::File(
                    File::open(&file).map_err(|e| Error::io("cannot open", &file, e))?,
                ))
            }
            Backend::Remote(remote) => match remote.read(path)? {
                Some(bytes) => Ok(Source::Bytes(bytes)),
                None => Err(Error::Lake {
                    path: self.describe(path),
                    reason: "the file is missing".into(),
                    hint: "something other than convlake removed it; run convlake vacuum, or re-ingest the exports".into(),
                }),
            },
        }
    }

    /// The file `path`, streamed (from object storage, a few chunks ahead of the reader).
    pub fn stream(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>> {
        match &self.inner.backend {
            Backend::Local(root) => {
                let file = Lake::local_path(root, path);
                fault(file.as_path())?;
                Ok(Box::new(
                    File::open(&file).map_err(|e| Error::io("cannot open", &file, e))?,
                ))
            }
            Backend::Remote(remote) => Ok(remote.stream(path)),
        }
    }

    /// A local directory for the work files of the ingest `txn`, under
    /// [`Lake::staging_root`].
    pub fn staging_dir(&self, txn: &str) -> PathBuf {
        self.staging_root().join(txn)
    }

    /// Where this lake's ingests keep their local work files: inside a local lake, so they are
    /// on the same disk; for a lake on object storage, in the system's temporary directory,
    /// under a name of the lake's own, so that its next writer can clear what a killed ingest
    /// left there.
    pub fn staging_root(&self) -> PathBuf {
        match &self.inner.backend {
            Backend::Local(root) => root.join("_convlake").join("staging"),
            Backend::Remote(remote) => {
                let lake = xxhash_rust::xxh3::xxh3_64(remote.display().as_bytes());
                std::env::temp_dir()
                    .join("convlake-staging")
                    .join(format!("{lake:016x}"))
            }
        }
    }
}

/// A file being written (see [`Lake::create`]).
pub struct Sink {
    out: BufWriter<File>,
    local: PathBuf,
    upload: Option<(Remote, String, tempfile::TempPath)>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Sink {
    /// Makes the file durable (uploads it to object storage); returns its size in bytes.
    pub fn finish(self) -> Result<u64> {
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io("cannot write", &self.local, e.into_error()))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("cannot read", &self.local, e))?
            .len();
        match self.upload {
            None => {
                file.sync_all()
                    .map_err(|e| Error::io("cannot write", &self.local, e))?;
                sync_dir(self.local.parent().expect("a file sits in a directory"))?;
            }
            Some((remote, path, temp)) => {
                drop(file);
                remote.upload(&temp, &path, size)?;
            }
        }
        Ok(size)
    }
}

/// A file opened for reading Parquet (see [`Lake::open_file`]).
pub enum Source {
    /// A local file.
    File(File),
    /// A downloaded object.
    Bytes(Bytes),
}

/// Creates `dir` and the directories above it that are missing, durably: each new one's
/// entry is synced in the directory that holds it.
fn create_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.exists()) {
        missing.push(d);
        at = d.parent();
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    for created in missing {
        if let Some(parent) = created.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Writes `bytes` durably to a new temporary file in `file`'s directory (created if need
/// be), to be moved or linked into place; returns its path.
fn stage_beside(file: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let dir = file.parent().expect("a file sits in a directory");
    create_dir(dir)?;
    let temp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    (|| {
        let mut out = File::create_new(&temp)?;
        out.write_all(bytes)?;
        out.sync_all()
    })()
    .map_err(|e| Error::io("cannot write", &temp, e))?;
    Ok(temp)
}

/// Counts a storage request on a local lake, failing it when the tests ask (see [`faults`]).
fn fault(file: &Path) -> Result<()> {
    faults::io_request("use", file).map_err(|e| Error::io("cannot reach", file, e))
}

/// Makes a creation in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot sync", dir, e))
}

fn list_local(root: &Path, dir: &str) -> Result<Vec<Entry>> {
    fault(&Lake::local_path(root, dir))?;
    let mut out = Vec::new();
    let mut stack = vec![Lake::local_path(root, dir)];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("cannot list", &d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", &d, e))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(|e| Error::io("cannot list", &path, e))?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let modified_ms = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_millis() as i64);
                out.push(Entry {
                    path: relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                    size: meta.len(),
                    modified_ms,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap(), &StorageOptions::default()).unwrap();
        assert!(lake.read("a/b.json").unwrap().is_none());
        assert!(lake.put_if_absent("a/b.json", b"one".to_vec()).unwrap());
        assert!(!lake.put_if_absent("a/b.json", b"two".to_vec()).unwrap());
        assert_eq!(&lake.read("a/b.json").unwrap().unwrap()[..], b"one");
        lake.put("a/c/d.json", b"x".to_vec()).unwrap();
        let listed: Vec<String> = lake
            .list("a")
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(listed, ["a/b.json", "a/c/d.json"]);
        lake.delete("a/b.json").unwrap();
        lake.delete("a/b.json").unwrap();
        assert!(lake.has_dir("a/c").unwrap());
        lake.delete("a/c/d.json").unwrap();
        assert!(lake.list("a").unwrap().is_empty());
        let mut sink = lake.create("t/x.bin").unwrap();
        sink.write_all(b"12345").unwrap();
        assert_eq!(sink.finish().unwrap(), 5);
        assert!(lake.create("t/x.bin").is_err(), "create never overwrites");
    }

    #[test]
    fn file_urls_are_local() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        let lake = Lake::open(url.as_str(), &StorageOptions::default()).unwrap();
        assert_eq!(lake.local_root(), Some(dir.path()));
    }
}
