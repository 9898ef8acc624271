//! `convlake vacuum`: removes what nothing needs any more. It finishes an interrupted commit
//! first, then removes leftovers of interrupted ingests (data files no table lists, staging).
//! With history kept (see [`crate::lake::settings`]), files superseded longer ago than the
//! retention (never less than the hour running statements are given) go too, through
//! delta-rs's vacuum (which also drops orphans that old, unless other writers are at work).

use deltalake::operations::vacuum::VacuumMode;
use serde::Serialize;

use crate::error::Result;
use crate::lake::{block_on, delta, open_for_writing};
use crate::schema::Table;
use crate::storage::retired::READER_GRACE_MS;
use crate::storage::Lake;

/// What a vacuum removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VacuumSummary {
    /// Data and staging files removed.
    pub files_removed: usize,
    /// The lake version the lake is at.
    pub version: u64,
}

/// Vacuums the lake at `lake`.
pub fn vacuum(lake: &Lake, wait: bool) -> Result<VacuumSummary> {
    block_on(async {
        let writer = open_for_writing(lake, wait).await?;
        let mut files_removed = writer.leftovers_removed;
        let keep = writer.settings.keep_history_seconds;
        if keep > 0 {
            // Never below the readers' grace: a statement that started before a commit
            // still reads the files it superseded. And while other writers are at work,
            // only files the logs removed go (their unlisted files may be theirs).
            let keep = keep.max((READER_GRACE_MS / 1000) as u64);
            let mode = if writer.other_writers > 0 {
                VacuumMode::Lite
            } else {
                VacuumMode::Full
            };
            for table in Table::ALL {
                let Some(opened) = delta::open(lake, table, None).await? else {
                    continue;
                };
                let (_, metrics) = opened
                    .vacuum()
                    .with_retention_period(chrono::Duration::seconds(keep as i64))
                    .with_enforce_retention_duration(false)
                    .with_mode(mode.clone())
                    .await
                    .map_err(|e| delta::delta_error(table, e))?;
                files_removed += metrics.files_deleted.len();
            }
        }
        Ok(VacuumSummary {
            files_removed,
            version: writer.snapshot.version,
        })
    })
}
