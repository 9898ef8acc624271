//! The SQL contract: one Arrow schema per table, declared once and built once.
//!
//! Table schemas are composed from the model's own field lists ([`crate::model`]), so a
//! property added to a model shows up in every table that holds it. Every table starts with
//! the conversation keys: `conversation_id`, `conversation_date` (the UTC date of
//! `conversation_start`) and `conversation_start` (the sort key of every file).
//! [`Table::schema`] is the schema of decoded batches and of the Parquet files; the lake's
//! partition column, `conversation_month`, lives in the directory names and the Delta log
//! only (see [`crate::lake::layout`]).

pub mod vocab;

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::columnar::{dictionary_type, list_type, timestamp_type};
use crate::model::{Conversation, Flow, FlowOutcome, Participant, Segment, Session, SessionMetric};

/// `conversation_id`: the key of every table.
pub const CONVERSATION_ID: &str = "conversation_id";
/// `conversation_date`: the UTC date of `conversation_start`.
pub const CONVERSATION_DATE: &str = "conversation_date";
/// `conversation_start`: the sort key inside every file.
pub const CONVERSATION_START: &str = "conversation_start";

/// Conversation properties that the key columns already hold.
pub const CONVERSATION_KEY_PROPERTIES: &[&str] = &[CONVERSATION_ID, CONVERSATION_START];

/// A table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// One row per conversation.
    Conversations,
    /// One row per participant, sessions nested.
    Participants,
    /// One row per session.
    Sessions,
    /// One row per segment.
    Segments,
    /// One row per session metric.
    Metrics,
    /// One row per stored version of a conversation: its original JSON.
    RawConversations,
}

impl Table {
    /// Every table, in the order they are written and listed.
    pub const ALL: [Table; 6] = [
        Table::Conversations,
        Table::Participants,
        Table::Sessions,
        Table::Segments,
        Table::Metrics,
        Table::RawConversations,
    ];

    /// The SQL name of the table (and its directory in the lake).
    pub fn name(self) -> &'static str {
        match self {
            Table::Conversations => "conversations",
            Table::Participants => "participants",
            Table::Sessions => "sessions",
            Table::Segments => "segments",
            Table::Metrics => "metrics",
            Table::RawConversations => "raw_conversations",
        }
    }

    /// What one row is, for `convlake schema`.
    pub fn grain(self) -> &'static str {
        match self {
            Table::Conversations => "conversation",
            Table::Participants => "participant",
            Table::Sessions => "session",
            Table::Segments => "segment",
            Table::Metrics => "session metric",
            Table::RawConversations => "stored version of a conversation",
        }
    }

    /// The column whose values group the rows of each data file ahead of
    /// `conversation_start`, if any: metrics by name, so that a filter on a metric name reads
    /// only that metric's pages (the page index gives each page's range of names).
    pub fn cluster_column(self) -> Option<&'static str> {
        match self {
            Table::Metrics => Some(METRIC_NAME),
            _ => None,
        }
    }

    /// The columns every data file of the table is sorted by, in order: the cluster column
    /// (if any), then `conversation_start`.
    pub fn sort_columns(self) -> Vec<&'static str> {
        self.cluster_column()
            .into_iter()
            .chain([CONVERSATION_START])
            .collect()
    }

    /// The table named `name`, if any.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The schema of decoded batches (partition column included).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            Table::ALL
                .iter()
                .map(|t| Arc::new(Schema::new(t.build_fields())))
                .collect()
        });
        all[self as usize].clone()
    }

    /// The schema of the table's Parquet files: the same as [`schema`](Self::schema).
    pub fn file_schema(self) -> SchemaRef {
        self.schema()
    }

    fn build_fields(self) -> Vec<Field> {
        let mut fields = key_fields();
        match self {
            Table::Conversations => {
                fields.extend(without(
                    Conversation::scalar_fields(),
                    CONVERSATION_KEY_PROPERTIES,
                ));
                fields.push(Field::new("participant_count", DataType::Int32, false));
                fields.push(Field::new("session_count", DataType::Int32, false));
                fields.extend(Conversation::fields().into_iter().filter(|f| {
                    ["evaluations", "surveys", "resolutions"].contains(&f.name().as_str())
                }));
            }
            Table::Participants => {
                fields.push(utf8("participant_id"));
                fields.extend(hot_conversation_fields());
                fields.extend(without(Participant::fields(), &["participant_id"]));
            }
            Table::Sessions => {
                fields.extend(participant_context_fields());
                fields.push(utf8("session_id"));
                fields.push(Field::new("session_start", timestamp_type(), true));
                fields.push(Field::new("session_end", timestamp_type(), true));
                fields.push(utf8("queue_id"));
                fields.extend(without(Session::scalar_fields(), &["session_id"]));
                fields.extend(flow_fields());
            }
            Table::Segments => {
                fields.extend(participant_context_fields());
                fields.push(utf8("session_id"));
                fields.push(Field::new("segment_index", DataType::Int32, false));
                fields.push(Field::new("media_type", dictionary_type(), true));
                fields.extend(Segment::fields());
            }
            Table::Metrics => {
                fields.extend(participant_context_fields());
                fields.push(utf8("session_id"));
                fields.push(Field::new("media_type", dictionary_type(), true));
                fields.push(utf8("queue_id"));
                // Metric names are an open set of a few dozen values: dictionary-encoded like
                // the enums, so filters and pivots on them compare each name once per batch.
                fields.extend(SessionMetric::fields().into_iter().map(|f| {
                    if f.name() == METRIC_NAME {
                        f.with_data_type(dictionary_type())
                    } else {
                        f
                    }
                }));
            }
            Table::RawConversations => {
                fields.push(utf8("source_file"));
                fields.push(Field::new("source_offset", DataType::Int64, false));
                fields.push(Field::new("source_index", DataType::Int64, false));
                fields.push(Field::new("ingested_at", timestamp_type(), false));
                fields.push(Field::new("freshness", timestamp_type(), false));
                fields.push(Field::new("content_hash", DataType::Utf8, false));
                fields.push(Field::new("json", DataType::Utf8, false));
            }
        }
        fields
    }
}

/// The metric name column of the `metrics` table.
pub const METRIC_NAME: &str = "name";

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// `conversation_id`, `conversation_date`, `conversation_start`.
pub fn key_fields() -> Vec<Field> {
    vec![
        Field::new(CONVERSATION_ID, DataType::Utf8, false),
        Field::new(CONVERSATION_DATE, DataType::Date32, false),
        Field::new(CONVERSATION_START, timestamp_type(), false),
    ]
}

/// Conversation fields repeated on every participant row for join-free queries.
pub fn hot_conversation_fields() -> Vec<Field> {
    vec![
        Field::new("conversation_end", timestamp_type(), true),
        Field::new("originating_direction", dictionary_type(), true),
        Field::new("conversation_initiator", dictionary_type(), true),
    ]
}

/// `participant_id`, `purpose`, `user_id`: the participant context of flat child tables.
pub fn participant_context_fields() -> Vec<Field> {
    vec![
        utf8("participant_id"),
        Field::new("purpose", dictionary_type(), true),
        utf8("user_id"),
    ]
}

/// The session's flow as `flow_…` columns of the `sessions` table, outcomes as a list.
pub fn flow_fields() -> Vec<Field> {
    let mut fields: Vec<Field> = Flow::scalar_fields()
        .into_iter()
        .map(|f| {
            let name = flow_column_name(f.name());
            f.with_name(name)
        })
        .collect();
    fields.push(Field::new(
        "flow_outcomes",
        list_type(<FlowOutcome as crate::columnar::Column>::data_type()),
        true,
    ));
    fields
}

/// `flow_id` stays `flow_id`; `entry_reason` becomes `flow_entry_reason`.
pub fn flow_column_name(property: &str) -> String {
    if property.starts_with("flow_") {
        property.to_string()
    } else {
        format!("flow_{property}")
    }
}

fn without(fields: Vec<Field>, names: &[&str]) -> Vec<Field> {
    fields
        .into_iter()
        .filter(|f| !names.contains(&f.name().as_str()))
        .collect()
}

/// The schema of the `pages` bookkeeping table: one row per query or job page read, with the
/// wrapper data (`totalHits`, `aggregations`, `cursor`, `dataAvailabilityDate`).
pub fn pages_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new("source_file", DataType::Utf8, false),
                Field::new("page_index", DataType::Int64, false),
                Field::new("source_offset", DataType::Int64, false),
                Field::new("total_hits", DataType::Int32, true),
                Field::new("cursor", DataType::Utf8, true),
                Field::new("data_availability_date", timestamp_type(), true),
                Field::new(
                    "aggregations",
                    list_type(
                        <crate::model::AggregationResult as crate::columnar::Column>::data_type(),
                    ),
                    true,
                ),
            ]))
        })
        .clone()
}
