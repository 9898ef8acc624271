//! Step 3 of an ingest, repair, done only when some record copy lost: the new files holding
//! rows of losing copies are rewritten without them (or dropped), and the lake files holding
//! conversations this ingest replaces are rewritten without those, in parallel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use super::write::NewFile;
use super::{id_key, IdKey};
use crate::error::{Error, Result};
use crate::lake::files::{date_string, partition_dir, read_all, read_columns, write_file};
use crate::lake::snapshot::{DataFile, Snapshot};
use crate::schema::{Table, CONVERSATION_ID};

/// Per table: the files written, and the paths of lake files they supersede.
pub(super) type Written = BTreeMap<Table, (Vec<DataFile>, Vec<String>)>;

/// Runs `work` on every item, on one thread per core; returns the results in no order.
fn in_parallel<T: Send, R: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(items.len())
        .max(1);
    let queue = Mutex::new(items);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let Some(item) = queue.lock().expect("queue").pop() else {
                            return Ok(());
                        };
                        let result = work(item)?;
                        results.lock().expect("results").push(result);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| Error::Usage("a writer thread panicked; this is a bug".into()))??;
        }
        Ok(())
    })?;
    Ok(results.into_inner().expect("results"))
}

/// The rows of the file at `path` that `mask` (called on each batch in order) keeps; batches
/// left empty are dropped.
fn read_filtered(
    path: &Path,
    mut mask: impl FnMut(&RecordBatch) -> BooleanArray,
) -> Result<Vec<RecordBatch>> {
    let mut kept = Vec::new();
    for batch in read_all(path)? {
        let batch = filter_record_batch(&batch, &mask(&batch))?;
        if batch.num_rows() > 0 {
            kept.push(batch);
        }
    }
    Ok(kept)
}

/// Removes a file of this transaction's (it is in no snapshot).
pub(super) fn remove_new_file(lake: &Path, new: &NewFile) -> Result<()> {
    let path = lake.join(&new.file.path);
    std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))
}

/// Reads the ordinals staged next to a new file.
fn read_ordinals(path: &Path) -> Result<Vec<u64>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// Rewrites the new files that hold rows of copies not in `keep` without those rows; a file
/// left with no rows is removed.
pub(super) fn drop_losers(
    lake: &Path,
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
        let path = lake.join(&new.file.path);
        let mut offset = 0;
        let rows = read_filtered(&path, |batch| {
            let n = batch.num_rows();
            offset += n;
            BooleanArray::from(mask[offset - n..offset].to_vec())
        })?;
        let relative = new.file.path.replace(".parquet", "-k.parquet");
        let bytes = write_file(new.table, &rows, None, &lake.join(&relative))?;
        std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
        Ok(Some(NewFile {
            file: DataFile {
                path: relative,
                rows: rows.iter().map(|b| b.num_rows() as u64).sum(),
                bytes,
                ..new.file
            },
            ..new
        }))
    })?;
    Ok(kept.into_iter().flatten().collect())
}

/// The new files by table (they supersede nothing).
pub(super) fn group_by_table(files: Vec<NewFile>) -> Written {
    let mut written = Written::new();
    for new in files {
        written.entry(new.table).or_default().0.push(new.file);
    }
    written
}

/// Rewrites the lake files that hold replaced conversations without them, every table in
/// parallel; per table, the files written and the paths of the files they supersede.
pub(super) fn rewrite_replaced(
    lake: &Path,
    base: &Snapshot,
    txn: &str,
    replaced: &BTreeMap<i32, HashSet<IdKey>>,
) -> Result<Written> {
    if replaced.is_empty() {
        return Ok(Written::new());
    }
    let by_date: HashMap<String, &HashSet<IdKey>> = replaced
        .iter()
        .map(|(d, ids)| (date_string(*d), ids))
        .collect();
    let candidates: Vec<(Table, usize, &DataFile)> = Table::ALL
        .iter()
        .flat_map(|&table| {
            base.files(table.name())
                .iter()
                .filter(|f| by_date.contains_key(&f.date))
                .enumerate()
                .map(move |(n, f)| (table, n, f))
        })
        .collect();
    let results = in_parallel(candidates, |(table, n, file)| -> Result<_> {
        let ids = by_date[&file.date];
        let path = lake.join(&file.path);
        let hit = read_columns(&path, &[CONVERSATION_ID])?.iter().any(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .flatten()
                .any(|id| ids.contains(&id_key(id)))
        });
        if !hit {
            return Ok(None);
        }
        let kept = read_filtered(&path, |batch| {
            batch
                .column_by_name(CONVERSATION_ID)
                .expect("key")
                .as_string::<i32>()
                .iter()
                .map(|id| Some(!id.is_some_and(|id| ids.contains(&id_key(id)))))
                .collect()
        })?;
        if kept.is_empty() {
            return Ok(Some((table, None, file.path.clone())));
        }
        let relative = format!(
            "{}/part-{}-r{n:04}.parquet",
            partition_dir(table, &file.date),
            txn,
        );
        let bytes = write_file(table, &kept, None, &lake.join(&relative))?;
        let written = DataFile {
            path: relative,
            date: file.date.clone(),
            rows: kept.iter().map(|b| b.num_rows() as u64).sum(),
            bytes,
        };
        Ok(Some((table, Some(written), file.path.clone())))
    })?;
    let mut written = Written::new();
    for (table, file, retired) in results.into_iter().flatten() {
        let entry = written.entry(table).or_default();
        entry.0.extend(file);
        entry.1.push(retired);
    }
    Ok(written)
}
