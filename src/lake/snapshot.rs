//! Read-only state: the lake as of one lake record, every table opened at the Delta version
//! the record names, with its live files.
//!
//! It never repairs, commits or deletes; an interrupted commit is invisible here (its record
//! does not exist yet) until a writer finishes it.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::lake::delta::{self, LakeFile};
use crate::lake::layout;
use crate::lake::log::{self, LakeRecord};
use crate::model::parse_timestamp;
use crate::schema::Table;
use crate::storage::Lake;

/// Which state of the lake to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOf {
    /// The latest completed commit.
    #[default]
    Latest,
    /// Lake version `n` (as `convlake` prints it after a commit).
    Version(u64),
    /// The state at an instant (UTC milliseconds): the last commit made at or before it.
    Time(i64),
}

impl AsOf {
    /// Parses `--as-of`: a lake version number or an ISO-8601 UTC time stamp.
    pub fn parse(text: &str) -> Result<AsOf> {
        if let Ok(v) = text.parse::<u64>() {
            return Ok(AsOf::Version(v));
        }
        parse_timestamp(text)
            .map(|t| AsOf::Time(t.millis))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--as-of {text:?} is neither a lake version (a number such as 3) nor a UTC time such as 2026-11-01T00:00:00Z"
                ))
            })
    }
}

/// The state of a lake after one commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The lake version, from 1; 0 is the empty lake that no record describes.
    pub version: u64,
    /// The record of this version (none for the empty lake).
    pub record: Option<LakeRecord>,
    /// Live files by table.
    pub tables: BTreeMap<Table, Vec<LakeFile>>,
}

impl Snapshot {
    /// The live files of `table`.
    pub fn files(&self, table: Table) -> &[LakeFile] {
        self.tables.get(&table).map_or(&[], Vec::as_slice)
    }

    /// The Delta version of `table` in this state (`None` before its first commit).
    pub fn table_version(&self, table: Table) -> Option<u64> {
        self.record
            .as_ref()
            .and_then(|r| r.tables.get(table.name()).copied())
    }

    /// The Delta version of every table that a commit on top of this (latest, recovered)
    /// state starts from: the record's, without opening the tables again; a table the record
    /// does not name (a new lake) is opened, or created at version 0.
    pub async fn base_versions(&self, lake: &Lake) -> Result<BTreeMap<String, u64>> {
        let mut versions = BTreeMap::new();
        for table in Table::ALL {
            let version = match self.table_version(table) {
                Some(v) => v,
                None => delta::open_or_create(lake, table)
                    .await?
                    .version()
                    .unwrap_or_default() as u64,
            };
            versions.insert(table.name().to_string(), version);
        }
        Ok(versions)
    }
}

/// Reads the lake at `lake` as of `as_of`.
pub async fn load(lake: &Lake, as_of: AsOf) -> Result<Snapshot> {
    let versions = log::record_versions(lake)?;
    let version = match as_of {
        AsOf::Latest => versions.last().copied(),
        AsOf::Version(v) if versions.contains(&v) => Some(v),
        AsOf::Version(v) => {
            return Err(Error::Lake {
                path: lake.describe(""),
                reason: format!("the lake has no version {v}"),
                hint: format!("versions present: {}", describe_versions(&versions)),
            })
        }
        AsOf::Time(ms) => {
            let mut found = None;
            for &v in &versions {
                let record = log::read_record(lake, v)?;
                match parse_timestamp(&record.committed_at) {
                    Some(t) if t.millis <= ms => found = Some(v),
                    _ => break,
                }
            }
            if found.is_none() {
                return Err(Error::Lake {
                    path: lake.describe(""),
                    reason: "the lake holds no commit made at or before that time".into(),
                    hint: format!("versions present: {}", describe_versions(&versions)),
                });
            }
            found
        }
    };
    let Some(version) = version else {
        return Ok(Snapshot::default());
    };
    let record = log::read_record(lake, version)?;
    // The tables' logs are read at once: on object storage, each is a few round trips.
    let opened = futures::future::try_join_all(Table::ALL.iter().filter_map(|&table| {
        let table_version = *record.tables.get(table.name())?;
        Some(async move {
            let opened = delta::open(lake, table, Some(table_version))
                .await?
                .ok_or_else(|| Error::Lake {
                    path: lake.describe(layout::table_dir(table)),
                    reason: format!(
                        "lake version {version} names table {} but it has no Delta log",
                        table.name()
                    ),
                    hint: "the table directory was removed or moved; restore it from a backup"
                        .into(),
                })?;
            Ok::<_, Error>((table, delta::live_files(&opened)?))
        })
    }))
    .await?;
    let mut tables = BTreeMap::new();
    for (table, files) in opened {
        if as_of != AsOf::Latest {
            // Superseded files go right after a commit unless history is kept: say so
            // instead of failing on the first missing file.
            let present: HashSet<String> = lake
                .list(layout::table_dir(table))?
                .into_iter()
                .map(|e| e.path)
                .collect();
            if let Some(gone) = files
                .iter()
                .find(|f| !present.contains(&layout::data_file(table, &f.path)))
            {
                return Err(Error::Lake {
                    path: lake.describe(&layout::data_file(table, &gone.path)),
                    reason: format!(
                        "lake version {version} is no longer readable: its files were removed after later commits"
                    ),
                    hint: "keep history to read earlier versions (convlake ingest --keep-history P7D: from then on, superseded files stay for that long)".into(),
                });
            }
        }
        tables.insert(table, files);
    }
    Ok(Snapshot {
        version,
        record: Some(record),
        tables,
    })
}

fn describe_versions(versions: &[u64]) -> String {
    match (versions.first(), versions.last()) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "none (nothing was ingested yet)".into(),
    }
}

/// The latest state of the lake at `lake`, from synchronous code.
pub fn latest(lake: &Lake) -> Result<Snapshot> {
    crate::lake::block_on(load(lake, AsOf::Latest))
}
