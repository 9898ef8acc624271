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

/// `(conversation, participant, session)` ids and the context columns of a flat table's rows.
type Context = (String, String, String, String, String);

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

fn millis(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(parse_timestamp)
        .map(|t| t.millis * 1000)
}

#[test]
fn flat_tables_hold_every_session_segment_and_metric_with_its_context() {
    // Generated conversations, plus shapes the generator does not make: a participant without
    // sessions, a session without segments or metrics, a first segment without a queue.
    let mut text_in = ndjson_string(&GenerateOptions {
        conversations: 300,
        seed: 21,
        reexport_share: 0.1,
        in_progress_share: 0.1,
        ..Default::default()
    });
    text_in.push_str(
        r#"{"conversationId":"c-odd","conversationStart":"2026-11-03T10:00:00.000Z","participants":[{"participantId":"p0","purpose":"customer"},{"participantId":"p1","purpose":"agent","userId":"u1","sessions":[{"sessionId":"s0","mediaType":"voice"},{"sessionId":"s1","mediaType":"chat","segments":[{"segmentType":"alert","segmentStart":"2026-11-03T10:00:05.000Z"},{"segmentType":"interact","queueId":"q9","segmentStart":"2026-11-03T10:00:01.000Z","segmentEnd":"2026-11-03T10:09:00.000Z"}],"metrics":[{"name":"tHandle","value":540000,"emitDate":"2026-11-03T10:09:00.000Z"}]}]}]}"#,
    );
    text_in.push('\n');
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "gen.ndjson", text_in.as_bytes());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects.first());

    // What each table should hold, from the JSON.
    let mut sessions = Vec::new();
    let mut segments = Vec::new();
    let mut metrics = Vec::new();
    for line in text_in.lines() {
        let c: Value = serde_json::from_str(line).unwrap();
        let empty = Vec::new();
        for p in c["participants"].as_array().unwrap_or(&empty) {
            for s in p["sessions"].as_array().unwrap_or(&empty) {
                let context: Context = (
                    text(&c["conversationId"]),
                    text(&p["participantId"]),
                    text(&p["purpose"]),
                    text(&p["userId"]),
                    text(&s["sessionId"]),
                );
                let segs = s["segments"].as_array().unwrap_or(&empty);
                let queue = segs
                    .iter()
                    .find_map(|g| g["queueId"].as_str())
                    .unwrap_or("")
                    .to_string();
                let start = segs.iter().filter_map(|g| millis(&g["segmentStart"])).min();
                let end = segs.iter().filter_map(|g| millis(&g["segmentEnd"])).max();
                let media = text(&s["mediaType"]);
                let flow = text(&s["flow"]["flowId"]);
                sessions.push((
                    context.clone(),
                    media.clone(),
                    queue.clone(),
                    start,
                    end,
                    flow,
                ));
                for (i, g) in segs.iter().enumerate() {
                    let kind = text(&g["segmentType"]);
                    let at = millis(&g["segmentStart"]);
                    segments.push((context.clone(), media.clone(), i as i64, kind, at));
                }
                for m in s["metrics"].as_array().unwrap_or(&empty) {
                    let name = text(&m["name"]);
                    let value = m["value"].as_i64();
                    metrics.push((context.clone(), media.clone(), queue.clone(), name, value));
                }
            }
        }
    }

    // What the tables hold, in their row order (the JSON's order, record by record).
    let context = |b: &RecordBatch| -> Vec<Context> {
        let col = |name| strings(b, name).into_iter().map(Option::unwrap_or_default);
        col("conversation_id")
            .zip(col("participant_id"))
            .zip(col("purpose"))
            .zip(col("user_id"))
            .zip(col("session_id"))
            .map(|((((c, p), r), u), s)| (c, p, r, u, s))
            .collect()
    };
    let or_empty = |b: &RecordBatch, name| -> Vec<String> {
        strings(b, name)
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    };
    let s = out.table(Table::Sessions);
    let got: Vec<_> = context(s)
        .into_iter()
        .zip(or_empty(s, "media_type"))
        .zip(or_empty(s, "queue_id"))
        .zip(ints(s, "session_start"))
        .zip(ints(s, "session_end"))
        .zip(or_empty(s, "flow_id"))
        .map(|(((((c, m), q), a), e), f)| (c, m, q, a, e, f))
        .collect();
    assert_eq!(got, sessions);
    let g = out.table(Table::Segments);
    let got: Vec<_> = context(g)
        .into_iter()
        .zip(or_empty(g, "media_type"))
        .zip(ints(g, "segment_index"))
        .zip(or_empty(g, "segment_type"))
        .zip(ints(g, "segment_start"))
        .map(|((((c, m), i), k), a)| (c, m, i.unwrap(), k, a))
        .collect();
    assert_eq!(got, segments);
    let m = out.table(Table::Metrics);
    let got: Vec<_> = context(m)
        .into_iter()
        .zip(or_empty(m, "media_type"))
        .zip(or_empty(m, "queue_id"))
        .zip(or_empty(m, "name"))
        .zip(ints(m, "value"))
        .map(|((((c, md), q), n), v)| (c, md, q, n, v))
        .collect();
    assert_eq!(got, metrics);
    assert!(sessions.len() > 600 && segments.len() > sessions.len() && metrics.len() > 1000);
}
