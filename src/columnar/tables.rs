//! Per-table batch assembly: every decoded conversation is appended to the conversations,
//! participants (sessions nested) and raw tables at once, with its keys; the flat sessions,
//! segments and metrics tables, with the denormalized context (participant purpose and
//! user, session media type and queue) that lets reports run without joins, are cut out of
//! the nested sessions when a chunk finishes ([`flatten`](super::flatten)).
//!
//! Column order follows [`crate::schema::Table::schema`]; `finish` checks it through
//! `RecordBatch::try_new`, and a unit test pins it for every table.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder, UInt64Array,
    UInt64Builder,
};
use arrow::error::ArrowError;

use crate::columnar::flatten::flat_tables;
use crate::columnar::{ColumnBuilder, DictionaryColumn, FinishColumn, ListColumn, TimestampColumn};
use crate::model::{
    Conversation, ConversationScalars, EvaluationColumns, Participant, ParticipantScalars,
    ResolutionColumns, SessionColumns, SurveyColumns, Ts,
};
use crate::schema::{Table, CONVERSATION_KEY_PROPERTIES};

/// One decoded conversation with where it came from and where it goes.
#[derive(Debug)]
pub struct ConversationRow<'r, 'a> {
    /// The decoded record.
    pub conversation: &'r Conversation<'a>,
    /// `conversation_id` (present: records without one are rejected before this point).
    pub conversation_id: &'r str,
    /// The UTC start of the conversation, in epoch milliseconds.
    pub start_ms: i64,
    /// The partition: days since 1970-01-01 of `start_ms`.
    pub date_days: i32,
    /// The newest timestamp in the record; decides which copy of a conversation wins.
    pub freshness_ms: i64,
    /// The input the record came from.
    pub source_file: &'r str,
    /// Byte offset of the record in its (decompressed) input.
    pub source_offset: u64,
    /// Index of the record in its input.
    pub source_index: u64,
    /// The record's original JSON text.
    pub json: &'r str,
    /// A hash of `json`: equal copies of a conversation are recognised without comparing text.
    pub content_hash: u64,
    /// Identifies this copy of the conversation within one ingest (input and position), so
    /// that rows of competing copies can be told apart; see [`TableBatch::records`].
    pub ordinal: u64,
}

#[derive(Default)]
struct Keys {
    conversation_id: StringBuilder,
    conversation_date: Date32Builder,
    conversation_start: TimestampColumn,
    ordinal: UInt64Builder,
}

impl Keys {
    fn append(&mut self, row: &ConversationRow) {
        self.ordinal.append_value(row.ordinal);
        self.conversation_id.append_value(row.conversation_id);
        self.conversation_date.append_value(row.date_days);
        self.conversation_start.append(Some(&Ts {
            millis: row.start_ms,
            lenient: false,
        }));
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.conversation_id.finish()),
            Arc::new(self.conversation_date.finish()),
            self.conversation_start.finish(),
        ]
    }
}

/// Builds one batch per table from conversations appended one at a time.
pub struct TableBuilders {
    ingested_at_ms: i64,
    rows: usize,
    conversations: ConversationsTable,
    participants: ParticipantsTable,
    raw: RawTable,
}

/// The rows of one table from one decoded chunk.
#[derive(Debug, Clone)]
pub struct TableBatch {
    /// The table.
    pub table: Table,
    /// The rows, in [`Table::schema`] form.
    pub batch: RecordBatch,
    /// For each row, the [`ConversationRow::ordinal`] of the copy it came from.
    pub records: UInt64Array,
}

/// The batches of one decoded chunk: one per table in [`Table::ALL`] order from one set of
/// builders; a decoder's chunk has such a set per month it holds.
#[derive(Debug, Clone)]
pub struct TableBatches(pub Vec<TableBatch>);

impl TableBatches {
    /// The (first) batch of `table`.
    pub fn get(&self, table: Table) -> &RecordBatch {
        &self
            .0
            .iter()
            .find(|t| t.table == table)
            .expect("every table is built")
            .batch
    }
}

impl TableBuilders {
    /// Builders stamping `ingested_at_ms` on every `raw_conversations` row.
    pub fn new(ingested_at_ms: i64) -> Self {
        TableBuilders {
            ingested_at_ms,
            rows: 0,
            conversations: ConversationsTable::default(),
            participants: ParticipantsTable::default(),
            raw: RawTable::default(),
        }
    }

    /// Conversations appended since the last finish.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether nothing was appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Makes room in the raw JSON column for `bytes` of record text, so that the largest
    /// column of a chunk is allocated once instead of doubling its way up (each doubling a
    /// copy and fresh pages).
    pub fn reserve_json(&mut self, records: usize, bytes: usize) {
        if arrow::array::ArrayBuilder::len(&self.raw.json) == 0 {
            self.raw.json = StringBuilder::with_capacity(records, bytes);
        }
    }

    /// Appends one conversation to every table.
    pub fn append(&mut self, row: &ConversationRow) {
        self.rows += 1;
        self.conversations.append(row);
        self.raw.append(row, self.ingested_at_ms);
        for participant in row.conversation.participants.iter().flatten() {
            self.participants.append(row, participant);
        }
    }

    /// Finishes one batch per table and resets for the next chunk.
    pub fn finish(&mut self) -> Result<TableBatches, ArrowError> {
        self.rows = 0;
        let batch = |table: Table, columns: Vec<ArrayRef>, keys: &mut Keys| {
            let records = keys.ordinal.finish();
            RecordBatch::try_new(table.schema(), columns).map(|batch| TableBatch {
                table,
                batch,
                records,
            })
        };
        let conversations = batch(
            Table::Conversations,
            self.conversations.finish(),
            &mut self.conversations.keys,
        )?;
        let participants = batch(
            Table::Participants,
            self.participants.finish(),
            &mut self.participants.keys,
        )?;
        let [sessions, segments, metrics] = flat_tables(&participants)?;
        let raw = batch(
            Table::RawConversations,
            self.raw.finish(),
            &mut self.raw.keys,
        )?;
        Ok(TableBatches(vec![
            conversations,
            participants,
            sessions,
            segments,
            metrics,
            raw,
        ]))
    }
}

fn text<'s>(t: &'s Option<crate::model::Text<'_>>) -> Option<&'s str> {
    t.as_ref().map(|t| t.as_str())
}

#[derive(Default)]
struct ConversationsTable {
    keys: Keys,
    scalars: ConversationScalars,
    participant_count: Int32Builder,
    session_count: Int32Builder,
    evaluations: ListColumn<EvaluationColumns>,
    surveys: ListColumn<SurveyColumns>,
    resolutions: ListColumn<ResolutionColumns>,
}

impl ConversationsTable {
    fn append(&mut self, row: &ConversationRow) {
        let c = row.conversation;
        self.keys.append(row);
        self.scalars.append(Some(c));
        let participants = c.participants.as_deref().unwrap_or_default();
        let sessions: usize = participants
            .iter()
            .map(|p| p.sessions.as_ref().map_or(0, Vec::len))
            .sum();
        self.participant_count
            .append_value(i32::try_from(participants.len()).unwrap_or(i32::MAX));
        self.session_count
            .append_value(i32::try_from(sessions).unwrap_or(i32::MAX));
        self.evaluations.append(c.evaluations.as_ref());
        self.surveys.append(c.surveys.as_ref());
        self.resolutions.append(c.resolutions.as_ref());
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        let mut columns = self.keys.finish();
        let scalars = self.scalars.finish();
        columns.extend(
            Conversation::scalar_fields()
                .iter()
                .zip(scalars)
                .filter(|(f, _)| !CONVERSATION_KEY_PROPERTIES.contains(&f.name().as_str()))
                .map(|(_, c)| c),
        );
        columns.push(Arc::new(self.participant_count.finish()));
        columns.push(Arc::new(self.session_count.finish()));
        columns.push(self.evaluations.finish());
        columns.push(self.surveys.finish());
        columns.push(self.resolutions.finish());
        columns
    }
}

#[derive(Default)]
struct ParticipantsTable {
    keys: Keys,
    participant_id: StringBuilder,
    conversation_end: TimestampColumn,
    originating_direction: DictionaryColumn,
    conversation_initiator: DictionaryColumn,
    scalars: ParticipantScalars,
    sessions: ListColumn<SessionColumns>,
}

impl ParticipantsTable {
    fn append(&mut self, row: &ConversationRow, p: &Participant) {
        let c = row.conversation;
        self.keys.append(row);
        self.participant_id.append_option(text(&p.participant_id));
        self.conversation_end.append(c.conversation_end.as_ref());
        self.originating_direction
            .append_str(c.originating_direction.as_ref().map(|e| e.as_str()));
        self.conversation_initiator
            .append_str(c.conversation_initiator.as_ref().map(|e| e.as_str()));
        self.scalars.append(Some(p));
        self.sessions.append(p.sessions.as_ref());
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        let mut columns = self.keys.finish();
        columns.push(Arc::new(self.participant_id.finish()));
        columns.push(self.conversation_end.finish());
        columns.push(self.originating_direction.finish());
        columns.push(self.conversation_initiator.finish());
        let scalars = self.scalars.finish();
        columns.extend(
            Participant::scalar_fields()
                .iter()
                .zip(scalars)
                .filter(|(f, _)| f.name() != "participant_id")
                .map(|(_, c)| c),
        );
        columns.push(self.sessions.finish());
        columns
    }
}

#[derive(Default)]
struct RawTable {
    keys: Keys,
    source_file: StringBuilder,
    source_offset: Int64Builder,
    source_index: Int64Builder,
    ingested_at: TimestampColumn,
    freshness: TimestampColumn,
    content_hash: StringBuilder,
    json: StringBuilder,
}

impl RawTable {
    fn append(&mut self, row: &ConversationRow, ingested_at_ms: i64) {
        self.keys.append(row);
        self.source_file.append_value(row.source_file);
        self.source_offset
            .append_value(i64::try_from(row.source_offset).unwrap_or(i64::MAX));
        self.source_index
            .append_value(i64::try_from(row.source_index).unwrap_or(i64::MAX));
        self.ingested_at.append(Some(&Ts {
            millis: ingested_at_ms,
            lenient: false,
        }));
        self.freshness.append(Some(&Ts {
            millis: row.freshness_ms,
            lenient: false,
        }));
        self.content_hash
            .append_value(format!("{:016x}", row.content_hash));
        self.json.append_value(row.json);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        let mut columns = self.keys.finish();
        columns.push(Arc::new(self.source_file.finish()));
        columns.push(Arc::new(self.source_offset.finish()));
        columns.push(Arc::new(self.source_index.finish()));
        columns.push(self.ingested_at.finish());
        columns.push(self.freshness.finish());
        columns.push(Arc::new(self.content_hash.finish()));
        columns.push(Arc::new(self.json.finish()));
        columns
    }
}
