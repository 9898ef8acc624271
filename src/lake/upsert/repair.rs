//! Step 3 of an ingest, repair, done only when some record copy lost: the new files holding
//! rows of losing copies are rewritten without them (or dropped), and the lake files holding
//! conversations this ingest replaces are rewritten without those, in parallel.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use super::write::NewFile;
use super::{id_key, IdKey};
use crate::error::{Error, Result};
use crate::lake::delta::LakeFile;
use crate::lake::files::{read_columns, read_row_groups, FileWriter};
use crate::lake::in_parallel;
use crate::lake::layout::{self, Month};
use crate::lake::log::Change;
use crate::lake::snapshot::Snapshot;
use crate::schema::{Table, CONVERSATION_ID};
use crate::storage::Lake;

/// Per table: the files written, and the lake files they supersede.
pub(super) type Written = BTreeMap<Table, Change>;

/// Writes the rows of the file `path` of `table` that `mask` (called on each row group in
/// order) keeps as a new file of `month`, one row group at a time; `None` when none are kept.
fn rewrite_filtered(
    lake: &Lake,
    table: Table,
    month: Month,
    path: &str,
    mut mask: impl FnMut(&RecordBatch) -> BooleanArray,
) -> Result<Option<LakeFile>> {
    let mut out: Option<FileWriter> = None;
    for group in read_row_groups(lake, path)? {
        let group = group?;
        let kept = filter_record_batch(&group, &mask(&group))?;
        if kept.num_rows() == 0 {
            continue;
        }
        let writer = match &mut out {
            Some(writer) => writer,
            None => out.insert(FileWriter::create(lake, table, month)?),
        };
        // Rows stay in the order they had: the file's order, row group by row group.
        writer.append(&[kept], None, |_, _| {})?;
    }
    out.map(FileWriter::finish).transpose()
}

/// Removes a file of this transaction's (no table lists it).
pub(super) fn remove_new_file(lake: &Lake, new: &NewFile) -> Result<()> {
    lake.delete(&layout::data_file(new.table, &new.file.path))
}

/// Reads the ordinals staged next to a new file.
pub(super) fn read_ordinals(path: &Path) -> Result<Vec<u64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// Rewrites the new files that hold rows of copies not in `keep` without those rows; a file
/// left with no rows is removed.
pub(super) fn drop_losers(
    lake: &Lake,
    files: Vec<NewFile>,
    keep: &HashSet<u64>,
) -> Result<Vec<NewFile>> {
    let kept = in_parallel(files, |new| -> Result<Option<NewFile>> {
        let ordinals = read_ordinals(&new.ordinals)?;
        let mask: Vec<bool> = ordinals.iter().map(|o| keep.contains(o)).collect();
        if mask.iter().all(|&k| k) {
            return Ok(Some(new));
        }
        if !mask.iter().any(|&k| k) {
            remove_new_file(lake, &new)?;
            return Ok(None);
        }
        let path = layout::data_file(new.table, &new.file.path);
        let mut offset = 0;
        let file = rewrite_filtered(lake, new.table, new.file.month, &path, |batch| {
            let n = batch.num_rows();
            offset += n;
            BooleanArray::from(mask[offset - n..offset].to_vec())
        })?
        .expect("some rows are kept");
        lake.delete(&path)?;
        Ok(Some(NewFile { file, ..new }))
    })?;
    Ok(kept.into_iter().flatten().collect())
}

/// The new files by table (they supersede nothing).
pub(super) fn group_by_table(files: Vec<NewFile>) -> Written {
    let mut written = Written::new();
    for new in files {
        written.entry(new.table).or_default().add.push(new.file);
    }
    written
}

/// Rewrites the lake files that hold replaced conversations without them, every table in
/// parallel; per table, the files written and the files they supersede. Only files whose
/// `conversation_start` range takes in a replaced conversation's start are read.
pub(super) fn rewrite_replaced(
    lake: &Lake,
    base: &Snapshot,
    replaced: &BTreeMap<Month, Replaced>,
) -> Result<Written> {
    if replaced.is_empty() {
        return Ok(Written::new());
    }
    let candidates: Vec<(Table, &LakeFile, &Replaced)> = Table::ALL
        .iter()
        .flat_map(|&table| {
            base.files(table).iter().filter_map(move |f| {
                let month = replaced.get(&f.month)?;
                month.may_hold(f).then_some((table, f, month))
            })
        })
        .collect();
    let results = in_parallel(candidates, |(table, file, replaced)| -> Result<_> {
        let ids = &replaced.ids;
        let path = layout::data_file(table, &file.path);
        let hit = read_columns(lake, &path, &[CONVERSATION_ID])?
            .iter()
            .any(|b| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .any(|id| ids.contains(&id_key(id)))
            });
        if !hit {
            return Ok(None);
        }
        let written = rewrite_filtered(lake, table, file.month, &path, |batch| {
            batch
                .column_by_name(CONVERSATION_ID)
                .expect("key")
                .as_string::<i32>()
                .iter()
                .map(|id| Some(!id.is_some_and(|id| ids.contains(&id_key(id)))))
                .collect()
        })?;
        Ok(Some((table, written, file.clone())))
    })?;
    let mut written = Written::new();
    for (table, file, retired) in results.into_iter().flatten() {
        let entry = written.entry(table).or_default();
        entry.add.extend(file);
        entry.remove.push(retired);
    }
    Ok(written)
}

/// The conversations of one month that an ingest replaces.
#[derive(Debug, Default)]
pub(super) struct Replaced {
    /// Their ids.
    pub(super) ids: HashSet<IdKey>,
    /// The smallest and largest of their starts (UTC microseconds).
    pub(super) starts: Option<(i64, i64)>,
}

impl Replaced {
    /// Adds a conversation that started at `start`.
    pub(super) fn insert(&mut self, id: IdKey, start: i64) {
        self.ids.insert(id);
        self.starts = Some(
            self.starts
                .map_or((start, start), |(lo, hi)| (lo.min(start), hi.max(start))),
        );
    }

    /// Whether `file` may hold one of the conversations, by its statistics.
    fn may_hold(&self, file: &LakeFile) -> bool {
        match (self.starts, file.start) {
            (Some((lo, hi)), Some((file_lo, file_hi))) => lo <= file_hi && file_lo <= hi,
            _ => true,
        }
    }
}
