//! Property test over generated exports: every leaf value of every generated record shows up,
//! at the same path, in the Arrow output (the `conversations` row plus the `participants`
//! rows with their nested sessions), and nothing shows up that was not in the record.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::RecordBatch;
use convlake::generate::{ndjson_string, GenerateOptions};
use convlake::model::parse_timestamp;
use convlake::schema::Table;
use serde_json::{Map, Value};

use crate::util::*;

/// Columns the tables add around the model's own properties.
const ADDED: &[&str] = &[
    "conversation_date",
    "participant_count",
    "session_count",
    "conversation_end_hot",
];

fn normalize(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() >= 20 && s.as_bytes()[4] == b'-' && s.contains('T') => {
            match parse_timestamp(s) {
                Some(ts) => format!("ts:{}", ts.millis),
                None => format!("s:{s}"),
            }
        }
        Value::String(s) => format!("s:{s}"),
        Value::Number(n) => format!("n:{}", n.as_f64().unwrap()),
        Value::Bool(b) => format!("b:{b}"),
        other => format!("?:{other}"),
    }
}

/// `(path, value)` of every leaf; keys snake-cased except inside `attributes`.
fn leaves(v: &Value, path: &str, raw_keys: bool, out: &mut BTreeSet<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let key = if raw_keys { k.clone() } else { snake(k) };
                leaves(x, &format!("{path}.{key}"), key == "attributes", out);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                leaves(x, &format!("{path}[{i}]"), false, out);
            }
        }
        Value::Null => {}
        leaf => {
            out.insert((path.to_string(), normalize(leaf)));
        }
    }
}

fn rows(batch: &RecordBatch) -> Vec<Map<String, Value>> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice::<Vec<Map<String, Value>>>(&bytes).unwrap()
}

#[test]
fn every_generated_leaf_reaches_arrow() {
    let options = GenerateOptions {
        conversations: 400,
        seed: 7,
        reexport_share: 0.1,
        in_progress_share: 0.05,
        ..Default::default()
    };
    let text = ndjson_string(&options);
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "gen.ndjson", text.as_bytes());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects.first());
    assert!(
        out.drift.is_empty(),
        "generated data has drift: {:?}",
        out.drift
    );

    let mut participants: BTreeMap<String, Vec<Map<String, Value>>> = BTreeMap::new();
    for mut row in rows(out.table(Table::Participants)) {
        let id = row["conversation_id"].as_str().unwrap().to_string();
        for key in [
            "conversation_id",
            "conversation_date",
            "conversation_start",
            "conversation_end",
            "originating_direction",
            "conversation_initiator",
        ] {
            row.remove(key);
        }
        participants.entry(id).or_default().push(row);
    }
    let conversations = rows(out.table(Table::Conversations));
    assert_eq!(conversations.len(), 400);
    let mut by_id: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for mut row in conversations {
        for key in ADDED {
            row.remove(*key);
        }
        let id = row["conversation_id"].as_str().unwrap().to_string();
        let parts = participants.remove(&id).unwrap_or_default();
        if !parts.is_empty() {
            row.insert(
                "participants".into(),
                Value::Array(parts.into_iter().map(Value::Object).collect()),
            );
        }
        by_id.insert(id, row);
    }

    let mut leaf_count = 0;
    for line in text.lines() {
        let original: Value = serde_json::from_str(line).unwrap();
        let id = original["conversationId"].as_str().unwrap();
        let mut expected = BTreeSet::new();
        leaves(&original, "", false, &mut expected);
        let mut got = BTreeSet::new();
        leaves(&Value::Object(by_id[id].clone()), "", false, &mut got);
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{id}: missing {missing:?}, extra {extra:?}"
        );
        leaf_count += expected.len();
    }
    assert!(leaf_count > 400 * 100, "only {leaf_count} leaves checked");
}

#[test]
fn generated_metrics_are_consistent() {
    // tHandle = tTalkComplete + tHeldComplete + tAcw on every agent session with a tHandle.
    let options = GenerateOptions {
        conversations: 300,
        seed: 11,
        ..Default::default()
    };
    for line in ndjson_string(&options).lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        for p in c["participants"].as_array().unwrap() {
            for s in p["sessions"].as_array().unwrap() {
                let mut m: BTreeMap<&str, i64> = BTreeMap::new();
                for x in s["metrics"].as_array().unwrap() {
                    *m.entry(x["name"].as_str().unwrap()).or_default() +=
                        x["value"].as_i64().unwrap();
                }
                if let Some(handle) = m.get("tHandle") {
                    let parts = m.get("tTalkComplete").unwrap_or(&0)
                        + m.get("tHeldComplete").unwrap_or(&0)
                        + m.get("tAcw").unwrap_or(&0);
                    assert_eq!(*handle, parts, "{}", c["conversationId"]);
                }
                if let Some(talk) = m.get("tTalkComplete") {
                    assert_eq!(m.get("tTalk"), Some(talk));
                }
            }
        }
    }
}
