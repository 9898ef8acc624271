//! Hostile inputs: every one ends in quarantined records with file, position, path and
//! reason, the good records around them still decoded, and never a panic.

use convlake::schema::Table;

use crate::util::*;

fn good() -> String {
    let text =
        std::fs::read_to_string(fixture("genesys/blueprint-sql-conversation1.json")).unwrap();
    serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).unwrap()).unwrap()
}

fn with_id(id: &str) -> String {
    good().replace("1bc96a39-6725-40c4-9345-db72aa67b8c6", id)
}

#[test]
fn wrong_types_name_the_path_and_the_rest_goes_on() {
    let bad_value = with_id("bad-1").replace("\"value\":11179", "\"value\":\"eleven\"");
    let bad_date = with_id("bad-2").replace("2021-04-01T12:28:04.567Z", "yesterday at noon");
    let text = format!(
        "{}\n{bad_value}\n{}\n{bad_date}\n",
        with_id("ok-1"),
        with_id("ok-2")
    );
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "mixed.ndjson", text.as_bytes());
    assert_eq!(out.records, 4);
    assert_eq!(
        strings(out.table(Table::Conversations), "conversation_id"),
        [Some("ok-1".into()), Some("ok-2".into())]
    );
    assert_eq!(out.rejects.len(), 2);
    let r = &out.rejects[0];
    assert_eq!(r.record_index, 1);
    assert_eq!(r.byte_offset, with_id("ok-1").len() as u64 + 1);
    assert_eq!(
        r.path.as_deref(),
        Some("participants[1].sessions[0].metrics[1].value")
    );
    assert!(r.reason.contains("invalid type"), "{}", r.reason);
    assert_eq!(r.text, bad_value);
    assert!(r.source_file.ends_with("mixed.ndjson"));
    let r = &out.rejects[1];
    assert_eq!(r.record_index, 3);
    // The date occurs twice; the first in the text (keys are sorted) is the metric's.
    assert_eq!(
        r.path.as_deref(),
        Some("participants[1].sessions[0].metrics[1].emitDate")
    );
    assert!(
        r.reason.contains("invalid date-time \"yesterday at noon\""),
        "{}",
        r.reason
    );
}

#[test]
fn truncated_records_and_files() {
    let g = good();
    let dir = tempfile::tempdir().unwrap();
    // A truncated line in NDJSON: the next line still decodes.
    let text = format!(
        "{}\n{}\n{}\n",
        with_id("a"),
        &g[..g.len() / 2],
        with_id("c")
    );
    let out = decode_bytes(dir.path(), "t.ndjson", text.as_bytes());
    assert_eq!(
        strings(out.table(Table::Conversations), "conversation_id"),
        [Some("a".into()), Some("c".into())]
    );
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].record_index, 1);
    assert!(
        out.rejects[0].reason.contains("truncated"),
        "{}",
        out.rejects[0].reason
    );
    // A page cut off in the middle of its second record: the first is kept.
    let page = format!("{{\"conversations\": [{}, {}", with_id("p1"), &g[..100]);
    let out = decode_bytes(dir.path(), "page.json", page.as_bytes());
    assert_eq!(
        strings(out.table(Table::Conversations), "conversation_id"),
        [Some("p1".into())]
    );
    assert!(
        out.rejects
            .iter()
            .any(|r| r.record_index == 1 && r.reason.contains("truncated")),
        "{:?}",
        out.rejects
    );
    assert_eq!(out.records, 2);
}

#[test]
fn empty_and_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("empty.json", ""), ("blank.json", "  \n\n ")] {
        let out = decode_bytes(dir.path(), name, text.as_bytes());
        assert_eq!(out.records, 0, "{name}");
        assert!(out.rejects.is_empty(), "{name}");
    }
    let text = format!("this is not json\n{}\n", with_id("after"));
    let out = decode_bytes(dir.path(), "garbage.ndjson", text.as_bytes());
    assert_eq!(
        strings(out.table(Table::Conversations), "conversation_id"),
        [Some("after".into())]
    );
    assert_eq!(out.rejects.len(), 1);
    assert!(
        out.rejects[0]
            .reason
            .contains("expected a JSON object or array but found 't'"),
        "{}",
        out.rejects[0].reason
    );
    assert_eq!(out.rejects[0].text, "this is not json");
}

#[test]
fn non_utf8_bytes_are_quarantined() {
    let mut bytes = with_id("x").into_bytes();
    let at = bytes.windows(8).position(|w| w == b"John Doe").unwrap();
    bytes[at] = 0xff;
    bytes.push(b'\n');
    bytes.extend_from_slice(with_id("y").as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "latin1.ndjson", &bytes);
    assert_eq!(
        strings(out.table(Table::Conversations), "conversation_id"),
        [Some("y".into())]
    );
    assert_eq!(out.rejects.len(), 1);
    assert!(
        out.rejects[0].reason.contains("UTF-8"),
        "{}",
        out.rejects[0].reason
    );
    assert!(out.rejects[0].text.contains('\u{fffd}'));
}

#[test]
fn deep_nesting_and_huge_values() {
    // Deep nesting under an unknown key is skipped without recursion; under a known key it is
    // a type error. Either way: quarantined, no stack overflow.
    let deep = format!(
        "{{\"conversationId\":\"deep\",\"x\":{}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let deeper = format!(
        "{{\"conversationId\":\"deeper\",\"participants\":{}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let huge = with_id("huge").replace(
        "\"participantName\":\"John Doe\"",
        &format!("\"participantName\":\"{}\"", "J".repeat(3_000_000)),
    );
    let text = format!("{deep}\n{deeper}\n{huge}\n{}\n", with_id("z"));
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "deep.ndjson", text.as_bytes());
    assert_eq!(
        strings(out.table(Table::Conversations), "conversation_id"),
        [Some("huge".into()), Some("z".into())]
    );
    assert_eq!(out.rejects.len(), 2);
    assert_eq!(out.rejects[0].path.as_deref(), Some("conversationStart"));
    assert_eq!(out.rejects[1].path.as_deref(), Some("participants[0]"));
    assert!(
        out.rejects[1].reason.contains("invalid type: sequence"),
        "{}",
        out.rejects[1].reason
    );
    let names = strings(out.table(Table::Participants), "participant_name");
    assert_eq!(names[0].as_ref().map(String::len), Some(3_000_000));
}

#[test]
fn records_without_key_or_start_are_rejected_with_reason() {
    let no_id = good().replace(
        "\"conversationId\":\"1bc96a39-6725-40c4-9345-db72aa67b8c6\",",
        "",
    );
    let text = format!("{no_id}\n{{\"conversationId\":\"bare\"}}\n[1,2]\n");
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "keys.ndjson", text.as_bytes());
    assert_eq!(out.table(Table::Conversations).num_rows(), 0);
    let reasons: Vec<(Option<&str>, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.path.as_deref(), r.reason.as_str()))
        .collect();
    // `[1,2]` is an array of two records, neither of them an object.
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[0].0, Some("conversationId"));
    assert_eq!(reasons[1].0, Some("conversationStart"));
    assert!(
        reasons[2].1.contains("invalid type: integer `1`"),
        "{reasons:?}"
    );
    assert_eq!(out.records, 4);
}
