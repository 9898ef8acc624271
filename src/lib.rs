//! convlake: a columnar analytics engine for Genesys Cloud conversation-details exports.
//!
//! Exports (sync query pages, async job pages, NDJSON, arrays; optionally gzip) are decoded
//! into Arrow batches for every table of the SQL contract, kept as Delta Lake tables of
//! month-partitioned Parquet in a lake (a directory or an object-store prefix), and queried with DataFusion.
//!
//! The modules follow the data's trip: [`ingest`] (inputs → framing → decoding), [`model`]
//! (the Genesys data model), [`columnar`] (Arrow builders), [`schema`] (the tables),
//! [`lake`] (Delta tables, commits across tables, compaction), [`storage`] (where a lake lives:
//! local disk or object storage), [`catalog`] (the SQL session), [`analytics`] (the Genesys
//! Analytics API's aggregate and detail queries over the lake, offline and over HTTP).
//!
//! ```no_run
//! use convlake::ingest::{discover, DecoderBuilder};
//!
//! let inputs = discover(&["data/sample".into()])?;
//! for decoded in DecoderBuilder::new().decode(inputs) {
//!     let decoded = decoded?;
//!     println!("{} records, {} rejected", decoded.records, decoded.rejects.len());
//! }
//! # Ok::<(), convlake::Error>(())
//! ```

pub mod analytics;
pub mod bounded;
pub mod catalog;
pub mod cli;
pub mod columnar;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod error;
pub mod functions;
pub mod generate;
pub mod genesys;
pub mod ingest;
pub mod lake;
pub mod lateral;
pub mod model;
pub mod optimizer;
pub mod page_index;
pub mod peers;
pub mod postgres;
pub mod present;
pub mod query;
pub mod read_only;
pub mod reports;
pub mod schema;
pub mod storage;

pub use error::{Error, Result};
pub use storage::Lake;
