//! Finding inputs and opening them: files, directories (recursively, in name order) and `-`
//! for stdin; gzip is recognised by its magic bytes, not by the file name.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One input stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file on disk.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// How the input is named in summaries, rejects and `raw_conversations.source_file`.
    pub fn display_name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
        }
    }

    /// Whether the name says NDJSON (`.ndjson`, `.jsonl`, optionally `.gz`).
    pub fn is_named_ndjson(&self) -> bool {
        let Input::File(path) = self else {
            return false;
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        name.ends_with(".ndjson") || name.ends_with(".jsonl")
    }

    /// Opens the input, decompressing gzip transparently.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        let raw: Box<dyn Read + Send> = match self {
            Input::File(path) => {
                Box::new(File::open(path).map_err(|e| Error::io("cannot open", path, e))?)
            }
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
/// names only, sorted), `-` as stdin.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
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
