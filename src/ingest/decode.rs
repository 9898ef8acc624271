//! Decoding framed records: JSON text → model structs → rows of every table, or a
//! [`Reject`] that says where the record was and what is wrong with it.
//!
//! The fast path parses with plain serde_json; only a record that fails is parsed a second
//! time with path tracking, so errors name the JSON path at no cost to good records.
//!
//! Rows are built per month of conversation start ([`MonthBuilders`]): a chunk comes out as
//! one batch per table and month, which the lake's writers buffer as they are, with no split.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use serde::Serialize;

use crate::columnar::tables::{ConversationRow, TableBatches, TableBuilders};
use crate::columnar::{ColumnBuilder, FinishColumn, ListColumn, TimestampColumn};
use crate::error::Result;
use crate::ingest::framing::{Chunk, ItemKind};
use crate::lake::layout::{month_of_day, Month};
use crate::model::audit::{Audit, DriftReport, JsonPath};
use crate::model::{AggregationResultColumns, Conversation, Page};
use crate::schema::pages_schema;

/// A record that could not be stored, with everything needed to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reject {
    /// The input it came from.
    pub source_file: String,
    /// Its index among the records of that input (0-based).
    pub record_index: u64,
    /// The byte offset of its first byte in the (decompressed) input.
    pub byte_offset: u64,
    /// The page it was in, for page inputs.
    pub page: Option<u64>,
    /// The JSON path of the offending value, when there is one.
    pub path: Option<String>,
    /// What is wrong.
    pub reason: String,
    /// The original text (invalid UTF-8 replaced), so nothing is lost.
    pub text: String,
}

/// What decoding one chunk produced.
#[derive(Debug)]
pub struct Decoded {
    /// The chunk's position in input order.
    pub seq: u64,
    /// Index of the input the chunk came from.
    pub input: usize,
    /// One batch per table and month of conversation start (months in order; within a month
    /// rows in input order), or one empty batch per table.
    pub tables: TableBatches,
    /// One row per page wrapper read (see [`pages_schema`]).
    pub pages: RecordBatch,
    /// Records that could not be decoded.
    pub rejects: Vec<Reject>,
    /// Unknown fields, unknown enum values and lenient date-times seen.
    pub drift: DriftReport,
    /// Records read (stored and rejected; page wrappers are not records).
    pub records: u64,
    /// Bytes of record text decoded.
    pub bytes: u64,
}

/// The table builders of one decoder, one set per month of conversation start.
///
/// An export in start order fills one month per chunk, and its chunk comes out as one batch
/// per table, as from a single set. A chunk of input out of start order (overlapping exports
/// concatenated, jobs ordered by end) holds rows of many months: built apart from the start,
/// they need no split afterwards, which was a copy of every row on the one thread that
/// routes rows to the writers.
pub struct MonthBuilders {
    ingested_at_ms: i64,
    /// Each month's builders, the most recently used first.
    months: Vec<(Month, TableBuilders)>,
    /// The last chunk had rows of one month only (its raw JSON column was allocated whole).
    single: bool,
}

impl MonthBuilders {
    /// Builders stamping `ingested_at_ms` on every `raw_conversations` row.
    pub fn new(ingested_at_ms: i64) -> Self {
        MonthBuilders {
            ingested_at_ms,
            months: Vec::new(),
            single: true,
        }
    }

    /// The builders of the month of day number `day`.
    fn of(&mut self, day: i32) -> &mut TableBuilders {
        let month = month_of_day(day);
        match self.months.iter().position(|(m, _)| *m == month) {
            Some(0) => {}
            Some(at) => self.months[..=at].rotate_right(1),
            None => self
                .months
                .insert(0, (month, TableBuilders::new(self.ingested_at_ms))),
        }
        &mut self.months[0].1
    }

    /// One batch per table and month of the rows appended since the last finish, months in
    /// order; forgets the months that had no rows.
    fn finish(&mut self) -> Result<TableBatches> {
        self.months.retain(|(_, b)| !b.is_empty());
        self.single = self.months.len() <= 1;
        if self.months.is_empty() {
            self.months
                .push((Month::MIN, TableBuilders::new(self.ingested_at_ms)));
        }
        self.months.sort_by_key(|(m, _)| *m);
        let mut tables = Vec::new();
        for (_, builders) in &mut self.months {
            tables.extend(builders.finish()?.0);
        }
        Ok(TableBatches(tables))
    }
}

/// Decodes every item of `chunk`, the `seq`-th chunk overall, from input number `input` named
/// `source`.
pub fn decode_chunk(
    chunk: &Chunk,
    source: &str,
    input: usize,
    seq: u64,
    builders: &mut MonthBuilders,
    pages: &mut PageBuilder,
) -> Result<Decoded> {
    let mut rejects = Vec::new();
    let mut drift = DriftReport::default();
    let mut records = 0u64;
    // Input in start order: the chunk's month gets its JSON column allocated whole.
    let mut reserve = builders.single;
    for item in &chunk.items {
        let bytes = chunk.text(item);
        let reject = |path: Option<String>, reason: String| Reject {
            source_file: source.to_string(),
            record_index: item.index,
            byte_offset: item.offset,
            page: item.page,
            path,
            reason,
            text: String::from_utf8_lossy(bytes).into_owned(),
        };
        match &item.kind {
            ItemKind::Broken(reason) => {
                records += 1;
                rejects.push(reject(None, reason.clone()));
            }
            ItemKind::Page => match std::str::from_utf8(bytes)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Page>(t).map_err(|e| e.to_string()))
            {
                Ok(page) => {
                    let mut path = JsonPath::default();
                    if let Some(aggregations) = &page.aggregations {
                        path.push("aggregations");
                        aggregations.audit(&mut path, &mut drift);
                        path.pop();
                    }
                    for key in &page.unknown_fields {
                        drift.unknown_field(&path, key.as_str());
                    }
                    pages.append(source, item.index, item.offset, &page);
                }
                Err(reason) => rejects.push(reject(None, format!("page wrapper: {reason}"))),
            },
            ItemKind::Record => {
                records += 1;
                match decode_record(bytes) {
                    Ok((text, conversation, placed)) => {
                        let mut path = JsonPath::default();
                        conversation.audit(&mut path, &mut drift);
                        let date_days = placed.start_ms.div_euclid(86_400_000) as i32;
                        let month = builders.of(date_days);
                        if std::mem::take(&mut reserve) {
                            month.reserve_json(chunk.items.len(), chunk.data.len());
                        }
                        month.append(&ConversationRow {
                            conversation: &conversation,
                            conversation_id: conversation
                                .conversation_id
                                .as_ref()
                                .map_or("", |t| t.as_str()),
                            start_ms: placed.start_ms,
                            date_days,
                            freshness_ms: placed.freshness_ms,
                            source_file: source,
                            source_offset: item.offset,
                            source_index: item.index,
                            json: text,
                            content_hash: xxhash_rust::xxh3::xxh3_64(bytes),
                            ordinal: record_ordinal(input, item.index),
                        });
                    }
                    Err((path, reason)) => rejects.push(reject(path, reason)),
                }
            }
        }
    }
    Ok(Decoded {
        seq,
        input,
        tables: builders.finish()?,
        pages: pages.finish()?,
        rejects,
        drift,
        records,
        bytes: chunk.data.len() as u64,
    })
}

/// The ordinal of record `index` of input number `input`: unique within an ingest, and
/// ordered as the records were given (later inputs, later records).
pub fn record_ordinal(input: usize, index: u64) -> u64 {
    ((input as u64) << 40) | (index & ((1 << 40) - 1))
}

/// Where a decoded record goes: its partition and sort key, and how fresh it is.
struct Placement {
    start_ms: i64,
    freshness_ms: i64,
}

type RecordError = (Option<String>, String);

/// Parses one record and places it.
fn decode_record(bytes: &[u8]) -> Result<(&str, Conversation<'_>, Placement), RecordError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        (
            None,
            format!(
                "not valid UTF-8: invalid byte sequence at byte {} of the record",
                e.valid_up_to()
            ),
        )
    })?;
    let conversation: Conversation = serde_json::from_str(text).map_err(|_| explain(text))?;
    let placement = place(&conversation)?;
    Ok((text, conversation, placement))
}

/// Parses a failed record again, this time tracking the path, to say where it failed.
fn explain(text: &str) -> RecordError {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, Conversation>(&mut deserializer) {
        Ok(_) => (
            None,
            "the record parses on its own but not as part of this input".into(),
        ),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let reason = if inner.is_eof() {
                format!("truncated JSON ({inner})")
            } else if inner.is_syntax() {
                format!("invalid JSON ({inner})")
            } else {
                inner.to_string()
            };
            let path = (path != "." && !path.is_empty()).then_some(path);
            (path, reason)
        }
    }
}

/// Checks the key and finds the start (partition, sort key) and freshness of a record.
fn place(c: &Conversation) -> Result<Placement, RecordError> {
    match c.conversation_id.as_ref().map(|t| t.as_str().trim()) {
        Some(id) if !id.is_empty() => {}
        _ => {
            return Err((
                Some("conversationId".into()),
                "missing or empty conversationId: every record needs one to be stored and upserted"
                    .into(),
            ))
        }
    }
    let segments = || {
        c.participants
            .iter()
            .flatten()
            .flat_map(|p| p.sessions.iter().flatten())
            .flat_map(|s| s.segments.iter().flatten())
    };
    let start_ms = match c.conversation_start {
        Some(ts) => ts.millis,
        None => segments().filter_map(|s| s.segment_start).map(|t| t.millis).min().ok_or_else(|| {
            (
                Some("conversationStart".into()),
                "no conversationStart and no segmentStart: the record cannot be placed in a date partition".into(),
            )
        })?,
    };
    let metric_dates = c
        .participants
        .iter()
        .flatten()
        .flat_map(|p| p.sessions.iter().flatten())
        .flat_map(|s| s.metrics.iter().flatten())
        .filter_map(|m| m.emit_date);
    let freshness_ms = segments()
        .flat_map(|s| [s.segment_start, s.segment_end])
        .flatten()
        .chain(metric_dates)
        .chain(c.conversation_end)
        .map(|t| t.millis)
        .fold(start_ms, i64::max);
    Ok(Placement {
        start_ms,
        freshness_ms,
    })
}

/// Builds the `pages` batch.
#[derive(Default)]
pub struct PageBuilder {
    source_file: StringBuilder,
    page_index: Int64Builder,
    source_offset: Int64Builder,
    total_hits: Int32Builder,
    cursor: StringBuilder,
    data_availability_date: TimestampColumn,
    aggregations: ListColumn<AggregationResultColumns>,
}

impl PageBuilder {
    fn append(&mut self, source: &str, index: u64, offset: u64, page: &Page) {
        self.source_file.append_value(source);
        self.page_index.append_value(index as i64);
        self.source_offset.append_value(offset as i64);
        self.total_hits.append_option(page.total_hits);
        self.cursor
            .append_option(page.cursor.as_ref().map(|c| c.as_str()));
        self.data_availability_date
            .append(page.data_availability_date.as_ref());
        self.aggregations.append(page.aggregations.as_ref());
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source_file.finish()),
            Arc::new(self.page_index.finish()),
            Arc::new(self.source_offset.finish()),
            Arc::new(self.total_hits.finish()),
            Arc::new(self.cursor.finish()),
            self.data_availability_date.finish(),
            self.aggregations.finish(),
        ];
        Ok(RecordBatch::try_new(pages_schema(), columns)?)
    }
}
