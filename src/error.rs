//! The one error type of the library. Every variant names what it was working on (file,
//! record, JSON path, column, lake path) and says what to do next; the binary prints the whole
//! cause chain.
//!
//! Bad *records* are not errors: they are quarantined as [`crate::ingest::Reject`]s and the
//! ingest goes on. Errors are for what stops a piece of work: unreadable inputs, a lake that
//! cannot be written, a query that does not plan.

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a convlake operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input or lake file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An input path that does not exist or holds no export files.
    #[error("{path}: {reason}\n  hint: {hint}")]
    Input {
        /// The path given by the user.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// What to do about it.
        hint: &'static str,
    },

    /// The lake is not in a state this operation can work with.
    #[error("lake {path}: {reason}\n  hint: {hint}")]
    Lake {
        /// The lake directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// What to do about it.
        hint: String,
    },

    /// Another writer committed the lake version this command was making; nothing of this
    /// command is visible.
    #[error("lake {lake}: another writer committed lake version {version} while this command ran; nothing of this command was committed\n  hint: run it again (it starts from the new state), or pass --wait to retry by itself")]
    Conflict {
        /// The lake.
        lake: String,
        /// The version both wanted to commit.
        version: u64,
    },

    /// Object storage refused or failed an operation.
    #[error("{action} {location}: {reason}\n  hint: {hint}")]
    Storage {
        /// What was being done ("cannot read", "cannot commit", ...).
        action: &'static str,
        /// The object's URL (never with credentials).
        location: String,
        /// What the store said.
        reason: String,
        /// What to do about it.
        hint: String,
    },

    /// A command-line or report parameter that cannot be used.
    #[error("{0}")]
    Usage(String),

    /// Building Arrow data failed (a bug if it ever happens on decoded input).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// Reading or writing Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// Planning or running a query failed (said in one line: dumps of plan structures are cut,
    /// and SQL constructs DataFusion lacks come with a form that works).
    #[error("{}", crate::lateral::describe(.0))]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// The Delta log of a table could not be read or written.
    #[error("table {table}: {source}\n  hint: check that the lake was written by convlake and that no other tool changed {table}/_delta_log")]
    Delta {
        /// The table.
        table: &'static str,
        /// What delta-rs said.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    /// A state that convlake itself should have prevented: a bug, to be reported.
    #[error("internal error: {0}; this is a bug, please report it")]
    Internal(String),

    /// JSON that convlake writes itself (summaries, snapshots) could not be encoded or decoded.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<deltalake::DeltaTableError> for Error {
    fn from(source: deltalake::DeltaTableError) -> Self {
        Error::Delta {
            table: "(lake)",
            source: Box::new(source),
        }
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
