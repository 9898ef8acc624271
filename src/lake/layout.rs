//! Where everything sits in a lake and how large files grow: pure functions, no I/O.
//!
//! ```text
//! <lake>/<table>/_delta_log/                          the table's Delta log
//! <lake>/<table>/conversation_month=YYYY-MM/part-<uuid>.parquet
//! <lake>/_convlake/log/<version>.json                 lake records (see `log`)
//! <lake>/_convlake/claims/<version>.json              which writer makes each version
//! <lake>/_convlake/plans/<version>.json               commits under way
//! <lake>/_convlake/settings.json                      lake settings (history kept)
//! <lake>/_convlake/rejects/<txn>.ndjson               quarantined records
//! <lake>/_convlake/pages/<txn>.parquet                page wrapper data
//! ```
//!
//! Every path of the lake is formatted here, and nowhere else: relative to the lake root,
//! `/`-separated, whatever the storage (see [`crate::storage`]).

use crate::model::civil_from_days;
use crate::schema::Table;

/// The partition column of every table: the UTC month of `conversation_start`, `YYYY-MM`.
pub const PARTITION_COLUMN: &str = "conversation_month";

/// The Parquet size compaction aims at for each file (and ingest, for one month of one
/// table): large enough that a year of a large center is a few dozen files per table.
pub const DEFAULT_TARGET_FILE_BYTES: u64 = 128 << 20;

/// A partition is compacted by an ingest once it holds more than this many small files
/// (files under half the target size).
pub const DEFAULT_COMPACT_AFTER: usize = 8;

/// The bookkeeping directory of a lake.
pub const META_DIR: &str = "_convlake";

/// The directory of the lake records.
pub const LOG_DIR: &str = "_convlake/log";

/// The directory of the plans of commits under way.
pub const PLANS_DIR: &str = "_convlake/plans";

/// The directory of the claims of lake versions.
pub const CLAIMS_DIR: &str = "_convlake/claims";

/// The lake settings file.
pub const SETTINGS_FILE: &str = "_convlake/settings.json";

/// The directory of a lake of the first layout's snapshots.
pub const V1_SNAPSHOTS_DIR: &str = "_convlake/snapshots";

/// The rejects file of the ingest `txn`.
pub fn rejects_file(txn: &str) -> String {
    format!("{META_DIR}/rejects/{txn}.ndjson")
}

/// The page-wrapper file of the ingest `txn`.
pub fn pages_file(txn: &str) -> String {
    format!("{META_DIR}/pages/{txn}.parquet")
}

/// The name of the lake record or plan of `version`: zero-padded, so names sort by version.
pub fn version_file(version: u64) -> String {
    format!("{version:020}.json")
}

/// The version a lake record or plan file name stands for.
pub fn parse_version_file(name: &str) -> Option<u64> {
    name.strip_suffix(".json")?.parse().ok()
}

/// The lake record of `version`.
pub fn record_file(version: u64) -> String {
    format!("{LOG_DIR}/{}", version_file(version))
}

/// The claim of `version`.
pub fn claim_file(version: u64) -> String {
    format!("{CLAIMS_DIR}/{}", version_file(version))
}

/// The plan of `version`.
pub fn plan_file(version: u64) -> String {
    format!("{PLANS_DIR}/{}", version_file(version))
}

/// The directory of the Delta table `table`.
pub fn table_dir(table: Table) -> &'static str {
    table.name()
}

/// The Delta log directory of `table`.
pub fn delta_log_dir(table: Table) -> String {
    format!("{}/_delta_log", table.name())
}

/// The data file `path` (relative to its table, as the Delta log has it) relative to the lake.
pub fn data_file(table: Table, path: &str) -> String {
    format!("{}/{path}", table.name())
}

/// A month as a number: `year * 12 + month - 1`.
pub type Month = i32;

/// The month of a day number (days since 1970-01-01).
pub fn month_of_day(days: i32) -> Month {
    let (y, m, _) = civil_from_days(i64::from(days));
    y * 12 + m as i32 - 1
}

/// `YYYY-MM` of a month.
pub fn month_string(month: Month) -> String {
    format!(
        "{:04}-{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// The month of `YYYY-MM`.
pub fn parse_month(text: &str) -> Option<Month> {
    let (y, m) = text.split_once('-')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    (y.to_string().len() == 4 && m.to_string().len() <= 2 && (1..=12).contains(&m))
        .then_some(y * 12 + m - 1)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_string(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

/// A new data file's path relative to its table: `conversation_month=YYYY-MM/part-<uuid>.parquet`.
/// Unique by construction, whoever writes.
pub fn new_data_file(month: Month) -> String {
    format!(
        "{PARTITION_COLUMN}={}/part-{}.parquet",
        month_string(month),
        uuid::Uuid::new_v4().simple()
    )
}

/// A new transaction id (names staging, rejects and pages of one ingest).
pub fn new_txn() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_round_trip() {
        // 2026-11-29 is day 20,786.
        let m = month_of_day(20_786);
        assert_eq!(month_string(m), "2026-11");
        assert_eq!(parse_month("2026-11"), Some(m));
        assert_eq!(month_string(month_of_day(0)), "1970-01");
        assert_eq!(month_string(month_of_day(-1)), "1969-12");
        assert_eq!(parse_month("2026-13"), None);
        assert_eq!(parse_month("26-01"), None);
        assert!(new_data_file(m).starts_with("conversation_month=2026-11/part-"));
    }
}
