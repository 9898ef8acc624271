//! The flat `sessions`, `segments` and `metrics` tables of a chunk, cut out of the
//! participants' nested `sessions` column instead of being built a second time.
//!
//! The nested column is a list of session structs whose children are the session's
//! properties, with lists of segment and metric structs inside. A flat table's own columns
//! are those children as they are (no copy); what each flat row repeats (the conversation's
//! keys, the participant's context, the session's id, media type and queue) is gathered from
//! the row above it with `take`, through the list offsets. Rows come out in the order the
//! builders used to append them: participant by participant, session by session.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, ListArray, RecordBatch, StructArray,
    TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::{cast, take, take_arrays};
use arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
use arrow::error::ArrowError;

use crate::columnar::tables::TableBatch;
use crate::columnar::{dictionary_type, timestamp_type};
use crate::model::{Flow, Session};
use crate::schema::{Table, CONVERSATION_DATE, CONVERSATION_ID, CONVERSATION_START, METRIC_NAME};

/// Participant columns repeated on every session, segment and metric row, in schema order:
/// the keys, then the participant context.
const REPEATED: [&str; 6] = [
    CONVERSATION_ID,
    CONVERSATION_DATE,
    CONVERSATION_START,
    "participant_id",
    "purpose",
    "user_id",
];

/// The `sessions`, `segments` and `metrics` batches of the chunk whose `participants` batch
/// is `participants`.
pub fn flat_tables(participants: &TableBatch) -> Result<[TableBatch; 3], ArrowError> {
    let batch = &participants.batch;
    let repeated: Vec<ArrayRef> = REPEATED
        .iter()
        .map(|name| column(batch, name))
        .collect::<Result<_, _>>()?;
    let (sessions, session_participant) = elements(column(batch, "sessions")?.as_list())?;
    let (segments, segment_session) = elements(child(&sessions, "segments")?.as_list())?;
    let (metrics, metric_session) = elements(child(&sessions, "metrics")?.as_list())?;
    let queue_id = session_queues(&sessions, &segments, &segment_session)?;
    let session_id = child(&sessions, "session_id")?;
    let media_type = child(&sessions, "media_type")?;

    // A flat row's participant, through its session.
    let participant_of = |of_session: &UInt32Array| {
        take(&session_participant, of_session, None).map(|a| a.as_primitive().clone())
    };
    let segment_participant: UInt32Array = participant_of(&segment_session)?;
    let metric_participant: UInt32Array = participant_of(&metric_session)?;
    let rows = |table: Table, participant: &UInt32Array, own: Vec<ArrayRef>| {
        let mut columns = take_arrays(&repeated, participant, None)?;
        columns.extend(own);
        let records = take(&participants.records, participant, None)?;
        Ok::<_, ArrowError>(TableBatch {
            table,
            batch: RecordBatch::try_new(table.schema(), columns)?,
            records: records.as_primitive::<UInt64Type>().clone(),
        })
    };

    let (session_start, session_end) = session_bounds(&segments, &segment_session, sessions.len())?;
    let flow = child(&sessions, "flow")?;
    let flow = flow.as_struct();
    let mut session_columns = vec![
        session_id.clone(),
        Arc::new(session_start) as ArrayRef,
        Arc::new(session_end),
        queue_id.clone(),
    ];
    for field in Session::scalar_fields() {
        if field.name() != "session_id" {
            session_columns.push(child(&sessions, field.name())?);
        }
    }
    for field in Flow::scalar_fields() {
        session_columns.push(child(flow, field.name())?);
    }
    session_columns.push(child(flow, "outcomes")?);

    let segment_index = segment_indexes(&segment_session);
    let mut segment_columns = vec![
        take(&session_id, &segment_session, None)?,
        Arc::new(segment_index) as ArrayRef,
        take(&media_type, &segment_session, None)?,
    ];
    segment_columns.extend(segments.columns().iter().cloned());

    let mut metric_columns =
        take_arrays(&[session_id, media_type, queue_id], &metric_session, None)?;
    for (field, values) in metrics.fields().iter().zip(metrics.columns()) {
        // Nested metric names are strings; the flat table dictionary-encodes them.
        metric_columns.push(if field.name() == METRIC_NAME {
            cast(values, &dictionary_type())?
        } else {
            values.clone()
        });
    }

    Ok([
        rows(Table::Sessions, &session_participant, session_columns)?,
        rows(Table::Segments, &segment_participant, segment_columns)?,
        rows(Table::Metrics, &metric_participant, metric_columns)?,
    ])
}

/// The column `name` of `batch`.
fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, ArrowError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name} to flatten")))
}

/// The child `name` of the struct array `parent`.
fn child(parent: &StructArray, name: &str) -> Result<ArrayRef, ArrowError> {
    parent
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| ArrowError::SchemaError(format!("no field {name} to flatten")))
}

/// The struct elements of every list of `lists` (null lists have none), and for each element
/// the index of its list.
fn elements(lists: &ListArray) -> Result<(StructArray, UInt32Array), ArrowError> {
    let offsets = lists.value_offsets();
    let first = offsets[0] as usize;
    let last = offsets[offsets.len() - 1] as usize;
    let values = lists.values().slice(first, last - first);
    let mut parents = Vec::with_capacity(last - first);
    for (list, bounds) in offsets.windows(2).enumerate() {
        let list = u32::try_from(list)
            .map_err(|_| ArrowError::ComputeError("too many rows in a chunk".into()))?;
        parents.extend(std::iter::repeat_n(list, (bounds[1] - bounds[0]) as usize));
    }
    let values = values
        .as_struct_opt()
        .ok_or_else(|| ArrowError::SchemaError("list elements are not structs".into()))?
        .clone();
    Ok((values, UInt32Array::from(parents)))
}

/// For each segment, its position in its session (`segment_session` is non-decreasing).
fn segment_indexes(segment_session: &UInt32Array) -> Int32Array {
    let mut previous = None;
    let mut index = 0;
    segment_session
        .values()
        .iter()
        .map(|&session| {
            index = if previous == Some(session) {
                index + 1
            } else {
                0
            };
            previous = Some(session);
            index
        })
        .collect()
}

/// Each session's queue: that of its first segment with one (the ACD segment for queue
/// sessions, the routed queue for agent sessions).
fn session_queues(
    sessions: &StructArray,
    segments: &StructArray,
    segment_session: &UInt32Array,
) -> Result<ArrayRef, ArrowError> {
    let queues = child(segments, "queue_id")?;
    let mut first = vec![None; sessions.len()];
    for (segment, &session) in segment_session.values().iter().enumerate() {
        let slot = &mut first[session as usize];
        if slot.is_none() && queues.is_valid(segment) {
            *slot = Some(segment as u32);
        }
    }
    take(&queues, &UInt32Array::from(first), None)
}

/// Each session's first segment start and last segment end.
fn session_bounds(
    segments: &StructArray,
    segment_session: &UInt32Array,
    sessions: usize,
) -> Result<(TimestampMicrosecondArray, TimestampMicrosecondArray), ArrowError> {
    let starts = child(segments, "segment_start")?;
    let ends = child(segments, "segment_end")?;
    let starts = starts.as_primitive::<TimestampMicrosecondType>();
    let ends = ends.as_primitive::<TimestampMicrosecondType>();
    let mut start: Vec<Option<i64>> = vec![None; sessions];
    let mut end: Vec<Option<i64>> = vec![None; sessions];
    for (segment, &session) in segment_session.values().iter().enumerate() {
        let session = session as usize;
        if starts.is_valid(segment) {
            let value = starts.value(segment);
            start[session] = Some(start[session].map_or(value, |s| s.min(value)));
        }
        if ends.is_valid(segment) {
            let value = ends.value(segment);
            end[session] = Some(end[session].map_or(value, |e| e.max(value)));
        }
    }
    let typed = |values: Vec<Option<i64>>| {
        TimestampMicrosecondArray::from(values).with_data_type(timestamp_type())
    };
    Ok((typed(start), typed(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_positions_restart_with_each_session() {
        let sessions = UInt32Array::from(vec![0, 0, 0, 2, 2, 5]);
        assert_eq!(
            segment_indexes(&sessions).values().to_vec(),
            vec![0, 1, 2, 0, 1, 0]
        );
    }
}
