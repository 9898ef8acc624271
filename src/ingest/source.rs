//! Finding inputs and opening them: files, directories (recursively, in name order), objects
//! and prefixes of object stores (`s3://bucket/exports/2026/11/`, streamed), and `-` for
//! stdin; gzip is recognised by its magic bytes, not by the file name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::{Lake, StorageOptions};

/// One input stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file on disk.
    File(PathBuf),
    /// An object in an object store.
    Object(ObjectInput),
    /// Standard input.
    Stdin,
    /// A local file known by another name (a pull's spooled pages, named by the API and
    /// interval they came from).
    Named {
        /// Where the bytes are.
        path: PathBuf,
        /// What summaries, rejects and `raw_conversations.source_file` call it.
        name: String,
    },
}

/// An export stored as an object (see [`discover_with`]).
#[derive(Clone)]
pub struct ObjectInput {
    /// Its URL, as summaries and rejects name it.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// The store prefix it was found under, and its path below it.
    store: Lake,
    path: String,
}

impl std::fmt::Debug for ObjectInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectInput({})", self.url)
    }
}

impl PartialEq for ObjectInput {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for ObjectInput {}

impl Input {
    /// How the input is named in summaries, rejects and `raw_conversations.source_file`.
    pub fn display_name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Object(o) => o.url.clone(),
            Input::Stdin => "-".to_string(),
            Input::Named { name, .. } => name.clone(),
        }
    }

    /// Whether the name says NDJSON (`.ndjson`, `.jsonl`, optionally `.gz`).
    pub fn is_named_ndjson(&self) -> bool {
        let name = match self {
            Input::File(path) | Input::Named { path, .. } => {
                path.file_name().and_then(|n| n.to_str()).unwrap_or("")
            }
            Input::Object(o) => o.path.rsplit('/').next().unwrap_or(""),
            Input::Stdin => return false,
        }
        .to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        name.ends_with(".ndjson") || name.ends_with(".jsonl")
    }

    /// Opens the input, decompressing gzip transparently.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        let raw: Box<dyn Read + Send> = match self {
            Input::File(path) | Input::Named { path, .. } => {
                Box::new(File::open(path).map_err(|e| Error::io("cannot open", path, e))?)
            }
            Input::Object(o) => o.store.stream(&o.path)?,
            Input::Stdin => Box::new(io::stdin()),
        };
        let mut reader = BufReader::with_capacity(256 * 1024, raw);
        let head = reader
            .fill_buf()
            .map_err(|e| Error::io("cannot read", self.display_name(), e))?;
        if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)))
        } else {
            Ok(Box::new(reader))
        }
    }

    /// Its size in bytes, when known.
    pub fn size(&self) -> u64 {
        match self {
            Input::File(p) | Input::Named { path: p, .. } => {
                std::fs::metadata(p).map_or(0, |m| m.len())
            }
            Input::Object(o) => o.size,
            Input::Stdin => 0,
        }
    }
}

/// File names taken from directories: JSON exports, optionally gzip-compressed.
fn is_export_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if name.starts_with('.') {
        return false;
    }
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".json") || name.ends_with(".ndjson") || name.ends_with(".jsonl")
}

/// Expands the user's paths into inputs: files as given, directories recursively (export
/// names only, sorted), `-` as stdin. Object-store URLs need [`discover_with`].
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Input>> {
    discover_with(paths, &StorageOptions::default())
}

/// [`discover`], with object-store URLs too: an object URL as given, a prefix (ending in `/`,
/// or naming no export file) as every export below it, sorted; configured from the cloud's
/// environment variables and `options`.
pub fn discover_with(paths: &[PathBuf], options: &StorageOptions) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        if let Some(url) = object_url(path) {
            let before = inputs.len();
            discover_objects(&url, options, &mut inputs)?;
            if inputs.len() == before {
                return Err(Error::Input {
                    path: path.clone(),
                    reason: "no .json, .ndjson or .jsonl objects (optionally .gz) there".into(),
                    hint: "give the prefix the exports were written under (ending in /), or an object's URL",
                });
            }
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::Input {
            path: path.clone(),
            reason: format!("cannot be read ({e})"),
            hint: "pass export files, directories of them, or - for stdin",
        })?;
        if meta.is_dir() {
            let before = inputs.len();
            walk(path, &mut inputs)?;
            if inputs.len() == before {
                return Err(Error::Input {
                    path: path.clone(),
                    reason: "directory holds no .json, .ndjson or .jsonl files (optionally .gz)"
                        .into(),
                    hint: "point at the folder the exports were saved in, or name the files",
                });
            }
        } else {
            inputs.push(Input::File(path.clone()));
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("cannot list", dir, e))?
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|err| Error::io("cannot list", dir, err))
        })
        .collect::<Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                walk(&path, out)?;
            }
        } else if is_export_name(&path) {
            out.push(Input::File(path));
        }
    }
    Ok(())
}

/// `path` as an object-store URL (`s3://…`, `gs://…`, `az://…`), if it is one.
fn object_url(path: &Path) -> Option<url::Url> {
    let text = path.to_str()?;
    let url = url::Url::parse(text).ok()?;
    (url.scheme().len() > 1 && url.scheme() != "file").then_some(url)
}

/// The exports at `url`: the object itself when it names an export file, else every export
/// below it.
fn discover_objects(url: &url::Url, options: &StorageOptions, out: &mut Vec<Input>) -> Result<()> {
    let text = url.as_str();
    let single = !text.ends_with('/') && is_export_name(Path::new(url.path()));
    let (prefix, only) = match (single, text.rsplit_once('/')) {
        (true, Some((parent, name))) => (parent.to_string(), Some(name.to_string())),
        _ => (text.trim_end_matches('/').to_string(), None),
    };
    let store = Lake::open(&prefix, options)?;
    let mut entries = store.list("")?;
    entries.retain(|e| match &only {
        Some(name) => &e.path == name,
        None => is_export_name(Path::new(&e.path)),
    });
    for entry in entries {
        out.push(Input::Object(ObjectInput {
            url: format!("{prefix}/{}", entry.path),
            size: entry.size,
            store: store.clone(),
            path: entry.path,
        }));
    }
    Ok(())
}
