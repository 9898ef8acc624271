//! `convlake vacuum`: removes what no kept snapshot needs: leftovers of interrupted ingests
//! (data files no snapshot lists, staging files) and snapshots older than the ones kept.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::lake::snapshot::{self, list_versions};
use crate::lake::{remove_leftovers, LakeLock};

/// What a vacuum removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VacuumSummary {
    /// Data and staging files removed.
    pub files_removed: usize,
    /// Old snapshots removed.
    pub snapshots_removed: usize,
    /// The snapshot the lake is at.
    pub version: u64,
}

/// Vacuums the lake at `lake`, keeping the newest `keep_snapshots` snapshots (at least one).
pub fn vacuum(lake: &Path, keep_snapshots: usize, wait: bool) -> Result<VacuumSummary> {
    let lock = LakeLock::acquire(lake, wait)?;
    let latest = snapshot::latest(lake)?;
    let removed = remove_leftovers(lake, &latest, &lock)?;
    let versions = list_versions(lake)?;
    let keep = keep_snapshots.max(1);
    let mut snapshots_removed = 0;
    if versions.len() > keep {
        for version in &versions[..versions.len() - keep] {
            let path = snapshot::snapshot_dir(lake).join(format!("{version:020}.json"));
            std::fs::remove_file(&path).map_err(|e| crate::Error::io("cannot remove", &path, e))?;
            snapshots_removed += 1;
        }
    }
    Ok(VacuumSummary {
        files_removed: removed.len(),
        snapshots_removed,
        version: latest.version,
    })
}
