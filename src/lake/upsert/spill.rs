//! Input out of start order: the rows of a month of a table that cannot be appended to its
//! file in order are kept as sorted runs in staging (Arrow IPC streams, each row carrying its
//! record ordinal) and merged by `conversation_start` at the month's last flush into files
//! of the target size, as one sorted stream; so interleaved input gives the files sorted
//! input gives, with each row encoded as Parquet once.
//!
//! Runs are merged a few dozen at a time as they pile up (runs of one level merged into one
//! run of the next), so that the final merge never holds more than [`FAN_IN`] batches of
//! [`RUN_BATCH_BYTES`] however long the input.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use super::write::NewFile;
use crate::error::{Error, Result};
use crate::lake::files::{batch_bytes, read_row_groups, start_order};
use crate::lake::layout;
use crate::lake::merge::{in_start_order, merge_by_start, SortedRun};
use crate::storage::Lake;

/// Runs merged into one once there are this many of a level.
pub(super) const FAN_IN: usize = 32;

/// In-memory size of the batches runs are written in: what a merge holds per run.
const RUN_BATCH_BYTES: usize = 1 << 20;

/// The column of a run's batches that holds each row's record ordinal.
const ORDINAL: &str = "__convlake_ordinal";

/// One sorted run of a month of a table.
enum Run {
    /// An IPC stream in staging.
    Spilled(PathBuf),
    /// A data file this ingest wrote before the month's rows went out of order, small enough
    /// to be merged again rather than kept.
    Written(NewFile),
}

/// The sorted runs of one month of one table, oldest first, each with its level.
pub(super) struct Runs {
    lake: Lake,
    staging: PathBuf,
    runs: Vec<(u32, Run)>,
}

impl Runs {
    /// No runs yet; spilled runs go under `staging`.
    pub(super) fn new(lake: &Lake, staging: &Path) -> Self {
        Runs {
            lake: lake.clone(),
            staging: staging.to_path_buf(),
            runs: Vec::new(),
        }
    }

    /// Takes `file`, written earlier in this ingest, as the oldest run.
    pub(super) fn adopt(&mut self, file: NewFile) {
        self.runs.push((0, Run::Written(file)));
    }

    /// Adds the rows of `batches` (with the record ordinal of each row in `ordinals`) as a
    /// run, sorted by start, named by `number`; merges runs that piled up.
    pub(super) fn add(
        &mut self,
        number: usize,
        batches: &[RecordBatch],
        ordinals: &[UInt64Array],
    ) -> Result<()> {
        let path = self.staging.join(format!("{number:06}.run"));
        let mut out: Option<RunWriter> = None;
        sorted_slices(batches, ordinals, |batch| {
            let writer = match &mut out {
                Some(writer) => writer,
                None => out.insert(RunWriter::create(&path, &batch.schema())?),
            };
            writer.write(&batch)
        })?;
        if let Some(out) = out {
            out.finish()?;
            self.runs.push((0, Run::Spilled(path)));
        }
        self.cascade(number)
    }

    /// While the newest [`FAN_IN`] runs are of one level, merges them into one run of the
    /// next.
    fn cascade(&mut self, number: usize) -> Result<()> {
        let mut round = 0;
        while self.runs.len() >= FAN_IN {
            let tail = &self.runs[self.runs.len() - FAN_IN..];
            let level = tail[0].0;
            if tail.iter().any(|(l, _)| *l != level) {
                break;
            }
            let merging: Vec<Run> = self
                .runs
                .drain(self.runs.len() - FAN_IN..)
                .map(|(_, run)| run)
                .collect();
            let path = self.staging.join(format!("{number:06}-{round}.run"));
            round += 1;
            let mut out: Option<RunWriter> = None;
            let readers = self.readers(&merging)?;
            merge_by_start(readers, |batch| {
                let writer = match &mut out {
                    Some(writer) => writer,
                    None => out.insert(RunWriter::create(&path, &batch.schema())?),
                };
                writer.write(&batch)
            })?;
            self.remove(merging)?;
            if let Some(out) = out {
                out.finish()?;
                self.runs.push((level + 1, Run::Spilled(path)));
            }
        }
        Ok(())
    }

    /// Merges every run by start, handing `emit` each merged batch (file schema) with the
    /// record ordinals of its rows; removes the runs.
    pub(super) fn merge(
        mut self,
        (batches, ordinals): (&[RecordBatch], &[UInt64Array]),
        mut emit: impl FnMut(RecordBatch, UInt64Array) -> Result<()>,
    ) -> Result<()> {
        let runs: Vec<Run> = self.runs.drain(..).map(|(_, run)| run).collect();
        let mut readers = self.readers(&runs)?;
        if !batches.is_empty() {
            let mut last = Vec::new();
            sorted_slices(batches, ordinals, |batch| {
                last.push(Ok(batch));
                Ok(())
            })?;
            readers.push(Box::new(last.into_iter()));
        }
        merge_by_start(readers, |batch| {
            let (batch, ordinals) = without_ordinals(batch)?;
            emit(batch, ordinals)
        })?;
        self.remove(runs)
    }

    /// A reader of every run, each giving its rows in start order with their ordinals.
    fn readers(&self, runs: &[Run]) -> Result<Vec<SortedRun>> {
        runs.iter()
            .map(|run| -> Result<SortedRun> {
                match run {
                    Run::Spilled(path) => {
                        let file =
                            File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
                        let reader = StreamReader::try_new(BufReader::new(file), None)?;
                        Ok(Box::new(reader.map(|b| b.map_err(Error::from))))
                    }
                    Run::Written(new) => {
                        let ordinals = super::repair::read_ordinals(&new.ordinals)?;
                        let path = layout::data_file(new.table, &new.file.path);
                        let mut at = 0;
                        let groups = read_row_groups(&self.lake, &path)?.map(move |group| {
                            let group = group?;
                            let rows = group.num_rows();
                            let these = UInt64Array::from(ordinals[at..at + rows].to_vec());
                            at += rows;
                            in_start_order(with_ordinals(&group, these)?)
                        });
                        Ok(Box::new(groups))
                    }
                }
            })
            .collect()
    }

    /// Removes merged runs: staged streams, and the data files adopted with their ordinals.
    fn remove(&self, runs: Vec<Run>) -> Result<()> {
        for run in runs {
            match run {
                Run::Spilled(path) => {
                    std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?
                }
                Run::Written(new) => {
                    super::repair::remove_new_file(&self.lake, &new)?;
                    let path = &new.ordinals;
                    std::fs::remove_file(path).map_err(|e| Error::io("cannot remove", path, e))?;
                }
            }
        }
        Ok(())
    }
}

/// The rows of `batches` (with their ordinals as the last column) in start order, handed to
/// `out` in batches of about [`RUN_BATCH_BYTES`].
fn sorted_slices(
    batches: &[RecordBatch],
    ordinals: &[UInt64Array],
    mut out: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let with: Vec<RecordBatch> = batches
        .iter()
        .zip(ordinals)
        .map(|(b, o)| with_ordinals(b, o.clone()))
        .collect::<Result<_>>()?;
    match start_order(&with) {
        None => {
            for batch in &with {
                let slice = rows_per_batch(batch.num_rows(), batch_bytes(batch));
                let mut at = 0;
                while at < batch.num_rows() {
                    let len = slice.min(batch.num_rows() - at);
                    out(batch.slice(at, len))?;
                    at += len;
                }
            }
        }
        Some(order) => {
            let refs: Vec<&RecordBatch> = with.iter().collect();
            let bytes: usize = with.iter().map(batch_bytes).sum();
            for part in order.chunks(rows_per_batch(order.len(), bytes)) {
                out(interleave_record_batch(&refs, part)?)?;
            }
        }
    }
    Ok(())
}

/// Rows per batch of a run for rows of `bytes` in all: about [`RUN_BATCH_BYTES`] each.
fn rows_per_batch(rows: usize, bytes: usize) -> usize {
    (RUN_BATCH_BYTES as u128 * rows.max(1) as u128 / bytes.max(1) as u128).clamp(16, 8192) as usize
}

/// `batch` with `ordinals` as its last column.
fn with_ordinals(batch: &RecordBatch, ordinals: UInt64Array) -> Result<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(ORDINAL, DataType::UInt64, false)));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(ordinals));
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        batch.schema().metadata().clone(),
    ));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `batch` without its last column (see [`with_ordinals`]), and that column.
fn without_ordinals(batch: RecordBatch) -> Result<(RecordBatch, UInt64Array)> {
    let last = batch.num_columns() - 1;
    let ordinals = batch.column(last).as_primitive::<UInt64Type>().clone();
    let rest: Vec<usize> = (0..last).collect();
    Ok((batch.project(&rest)?, ordinals))
}

/// An IPC stream being written to staging.
struct RunWriter {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
}

impl RunWriter {
    fn create(path: &Path, schema: &Schema) -> Result<RunWriter> {
        let file = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        Ok(RunWriter {
            path: path.to_path_buf(),
            writer: StreamWriter::try_new(BufWriter::with_capacity(1 << 20, file), schema)?,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.write(batch)?)
    }

    fn finish(mut self) -> Result<()> {
        self.writer.finish()?;
        let mut file = self.writer.into_inner()?;
        std::io::Write::flush(&mut file).map_err(|e| Error::io("cannot write", &self.path, e))
    }
}
