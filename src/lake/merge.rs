//! The k-way merge by `conversation_start` that compaction and an ingest of input out of
//! start order share: runs of rows, each already in start order, merged into one stream in
//! start order (ties: the earlier run first, so the order of equal starts is the order the
//! runs were made in). Memory holds one batch of every run, the batches finished since the
//! last output, and one batch of output.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::{interleave_record_batch, take_record_batch};

use crate::error::Result;
use crate::lake::files::{start_order, starts};

/// Rows in `conversation_start` order, a batch at a time.
pub type SortedRun = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// Rows of merged output handed on at a time.
const OUTPUT_ROWS: usize = 8192;

/// `batch` with its rows in `conversation_start` order (stable).
pub fn in_start_order(batch: RecordBatch) -> Result<RecordBatch> {
    Ok(match start_order(std::slice::from_ref(&batch)) {
        None => batch,
        Some(order) => {
            let rows = UInt32Array::from_iter_values(order.iter().map(|&(_, r)| r as u32));
            take_record_batch(&batch, &rows)?
        }
    })
}

/// One run being merged: its current batch's place among the sources, and the next row.
struct Cursor {
    run: SortedRun,
    /// Where its current batch is in the sources; `None` once the run is over.
    source: Option<usize>,
    starts: Vec<i64>,
    next: usize,
}

impl Cursor {
    /// Moves to the run's next batch with rows (a new source: the one it leaves may still be
    /// picked from); `false` at the run's end.
    fn advance(&mut self, sources: &mut Vec<RecordBatch>) -> Result<bool> {
        for batch in self.run.by_ref() {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            self.starts = starts(&batch).to_vec();
            self.next = 0;
            self.source = Some(sources.len());
            sources.push(batch);
            return Ok(true);
        }
        self.source = None;
        Ok(false)
    }
}

/// The merge's output being gathered: rows picked from the sources, handed on as one batch
/// of up to [`OUTPUT_ROWS`].
struct Output<F> {
    sources: Vec<RecordBatch>,
    picked: Vec<(usize, usize)>,
    emit: F,
}

impl<F: FnMut(RecordBatch) -> Result<()>> Output<F> {
    /// Hands on the rows picked, and keeps only the sources the cursors are still on (so
    /// that every interleave sees about one batch per run, and memory holds no finished
    /// batch).
    fn take(&mut self, cursors: &mut [Cursor]) -> Result<()> {
        if !self.picked.is_empty() {
            let refs: Vec<&RecordBatch> = self.sources.iter().collect();
            let batch = interleave_record_batch(&refs, &self.picked)?;
            self.picked.clear();
            (self.emit)(batch)?;
        }
        let mut kept = Vec::with_capacity(cursors.len());
        for cursor in cursors.iter_mut() {
            if let Some(source) = cursor.source {
                cursor.source = Some(kept.len());
                kept.push(self.sources[source].clone());
            }
        }
        self.sources = kept;
        Ok(())
    }
}

/// Merges `runs` (every one in start order, all of one schema) by `conversation_start`,
/// handing `emit` the merged rows in order, [`OUTPUT_ROWS`] per batch (the last fewer; a
/// single run's batches as they are).
pub fn merge_by_start(
    runs: Vec<SortedRun>,
    mut emit: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    if runs.len() == 1 {
        // One run is its own merge: its batches as they are, without a copy.
        for batch in runs.into_iter().flatten() {
            let batch = batch?;
            if batch.num_rows() > 0 {
                emit(batch)?;
            }
        }
        return Ok(());
    }
    let mut out = Output {
        sources: Vec::new(),
        picked: Vec::new(),
        emit,
    };
    let mut cursors = Vec::new();
    let mut heap = BinaryHeap::new();
    for run in runs {
        let mut cursor = Cursor {
            run,
            source: None,
            starts: Vec::new(),
            next: 0,
        };
        if cursor.advance(&mut out.sources)? {
            heap.push(Reverse((cursor.starts[0], cursors.len())));
            cursors.push(cursor);
        }
    }
    while let Some(Reverse((_, c))) = heap.pop() {
        let cursor = &mut cursors[c];
        let source = cursor.source.expect("a cursor in the heap is on a batch");
        out.picked.push((source, cursor.next));
        cursor.next += 1;
        if cursor.next < cursor.starts.len() {
            heap.push(Reverse((cursor.starts[cursor.next], c)));
        } else if cursor.advance(&mut out.sources)? {
            heap.push(Reverse((cursor.starts[0], c)));
        }
        // Finished batches wait for the next output batch; runs of tiny batches hand on
        // early rather than pile them up.
        if out.picked.len() >= OUTPUT_ROWS || out.sources.len() > 2 * cursors.len() + 16 {
            out.take(&mut cursors)?;
        }
    }
    out.take(&mut cursors)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::schema::CONVERSATION_START;

    fn batch(starts: &[i64], tags: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                CONVERSATION_START,
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("tag", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(starts.to_vec())),
                Arc::new(Int64Array::from(tags.to_vec())),
            ],
        )
        .unwrap()
    }

    fn run(batches: Vec<RecordBatch>) -> SortedRun {
        Box::new(batches.into_iter().map(Ok))
    }

    #[test]
    fn runs_merge_in_start_order_and_equal_starts_keep_the_order_of_their_runs() {
        let runs = vec![
            run(vec![
                batch(&[1, 5], &[10, 11]),
                batch(&[], &[]),
                batch(&[9], &[12]),
            ]),
            run(vec![batch(&[2, 5, 7], &[20, 21, 22])]),
            run(vec![]),
            run(vec![batch(&[0], &[30]), batch(&[5, 10], &[31, 32])]),
        ];
        let mut out = Vec::new();
        merge_by_start(runs, |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        let all = arrow::compute::concat_batches(&out[0].schema(), &out).unwrap();
        assert_eq!(starts(&all), &[0, 1, 2, 5, 5, 5, 7, 9, 10]);
        let tags = all.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(tags.values(), &[30, 10, 20, 11, 21, 31, 22, 12, 32]);
    }
}
