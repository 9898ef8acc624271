//! Decoding: the two real records with their values checked exactly, every export shape
//! detected from the bytes, and drift (unknown fields and enum values, lenient dates) counted.

use std::io::Write;

use arrow::array::{Array, AsArray, MapArray};
use convlake::ingest::Input;
use convlake::schema::Table;

use crate::util::*;

fn example(n: u8) -> Vec<u8> {
    std::fs::read(fixture(&format!(
        "genesys/blueprint-sql-conversation{n}.json"
    )))
    .unwrap()
}

#[test]
fn real_record_one_decodes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "c1.json", &example(1));
    assert_eq!(out.records, 1);
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);

    let c = out.table(Table::Conversations);
    assert_eq!(c.num_rows(), 1);
    assert_eq!(
        strings(c, "conversation_id"),
        [Some("1bc96a39-6725-40c4-9345-db72aa67b8c6".into())]
    );
    // 2021-04-01T12:27:53.386Z and 2021-04-01T12:43:23.306Z.
    assert_eq!(ints(c, "conversation_start"), [Some(1_617_280_073_386_000)]);
    assert_eq!(ints(c, "conversation_end"), [Some(1_617_281_003_306_000)]);
    assert_eq!(ints(c, "conversation_date"), [Some(18_718)]);
    assert_eq!(
        strings(c, "originating_direction"),
        [Some("inbound".into())]
    );
    let mos = c
        .column_by_name("media_stats_min_conversation_mos")
        .unwrap()
        .as_primitive::<arrow::datatypes::Float64Type>();
    assert_eq!(mos.value(0), 4.882874965667725);
    assert_eq!(ints(c, "participant_count"), [Some(3)]);
    assert_eq!(ints(c, "session_count"), [Some(3)]);
    let divisions = c.column_by_name("division_ids").unwrap().as_list::<i32>();
    assert_eq!(
        divisions.value(0).as_string::<i32>().value(0),
        "1b6b98a6-3d70-47be-9406-61a5aa8cc570"
    );
    assert_eq!(c.column_by_name("external_tag").unwrap().null_count(), 1);

    let p = out.table(Table::Participants);
    assert_eq!(
        strings(p, "purpose"),
        [
            Some("customer".into()),
            Some("acd".into()),
            Some("agent".into())
        ]
    );
    assert_eq!(
        strings(p, "participant_name"),
        [Some("John Doe".into()), Some("Yuri".into()), None]
    );
    assert_eq!(
        strings(p, "user_id")[2].as_deref(),
        Some("50fcd33c-f432-4726-abc9-979f3ca01555")
    );
    // The sync-style record has no attributes: the map is null, not empty.
    assert_eq!(p.column_by_name("attributes").unwrap().null_count(), 3);

    let s = out.table(Table::Sessions);
    assert_eq!(s.num_rows(), 3);
    assert_eq!(strings(s, "media_type"), vec![Some("chat".to_string()); 3]);
    assert_eq!(
        strings(s, "queue_id"),
        vec![Some("a623d83c-96d7-4baa-af1f-d46ad6700d8b".to_string()); 3]
    );
    assert_eq!(ints(s, "session_start")[2], Some(1_617_280_073_519_000));
    assert_eq!(ints(s, "session_end")[2], Some(1_617_281_003_306_000));
    assert_eq!(
        strings(s, "used_routing"),
        [Some("Standard".into()), None, Some("Standard".into())]
    );
    assert_eq!(
        strings(s, "peer_id")[1].as_deref(),
        Some("4d3a7227-6fdc-4d60-97fe-99db88e00b51")
    );

    let g = out.table(Table::Segments);
    assert_eq!(g.num_rows(), 5);
    assert_eq!(
        ints(g, "segment_index"),
        [Some(0), Some(0), Some(0), Some(1), Some(2)]
    );
    assert_eq!(
        strings(g, "segment_type"),
        ["interact", "interact", "alert", "interact", "hold"].map(|s| Some(s.to_string()))
    );
    assert_eq!(
        strings(g, "disconnect_type"),
        [
            Some("timeout".into()),
            Some("transfer".into()),
            None,
            None,
            Some("peer".into())
        ]
    );
    assert_eq!(strings(g, "purpose")[4].as_deref(), Some("agent"));

    let m = out.table(Table::Metrics);
    assert_eq!(m.num_rows(), 11);
    let names = strings(m, "name");
    let values = ints(m, "value");
    let handle = names
        .iter()
        .position(|n| n.as_deref() == Some("tHandle"))
        .unwrap();
    assert_eq!(values[handle], Some(918_737));
    assert_eq!(strings(m, "purpose")[handle].as_deref(), Some("agent"));
    assert_eq!(ints(m, "emit_date")[handle], Some(1_617_281_003_306_000));
    assert_eq!(m.column_by_name("value").unwrap().null_count(), 0);

    let raw = out.table(Table::RawConversations);
    assert_eq!(
        strings(raw, "json")[0].as_deref().map(str::as_bytes),
        Some(example(1).as_slice())
    );
    assert_eq!(ints(raw, "source_offset"), [Some(0)]);
    assert_eq!(ints(raw, "freshness"), [Some(1_617_281_003_306_000)]);
    assert!(out.drift.is_empty(), "{:?}", out.drift);
}

#[test]
fn real_record_two_parses_malformed_dates_leniently() {
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "c2.json", &example(2));
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let g = out.table(Table::Segments);
    // "2021-04-2T15:30:51.418Z" is 2021-04-02T15:30:51.418Z.
    assert_eq!(ints(g, "segment_start")[0], Some(1_617_377_451_418_000));
    let lenient = &out.drift.lenient_timestamps;
    assert_eq!(
        lenient["participants[].sessions[].segments[].segmentStart"],
        4
    );
    assert_eq!(
        lenient["participants[].sessions[].segments[].segmentEnd"],
        4
    );
    assert_eq!(lenient["participants[].sessions[].metrics[].emitDate"], 6);
    // conversationStart itself is canonical.
    assert!(!lenient.contains_key("conversationStart"));
}

fn two_records() -> (String, String) {
    let a = String::from_utf8(example(1)).unwrap();
    let b = String::from_utf8(example(2)).unwrap();
    (a, b)
}

fn compact(json: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<serde_json::Value>(json).unwrap()).unwrap()
}

#[test]
fn every_export_shape_is_detected() {
    let (a, b) = two_records();
    let (ca, cb) = (compact(&a), compact(&b));
    let shapes: Vec<(&str, String, u64)> = vec![
        ("single.json", a.clone(), 0),
        ("array.json", format!("[\n{a},\n{b}\n]"), 0),
        ("ndjson.txt", format!("{ca}\n{cb}\n"), 0),
        ("query.json", format!("{{\"conversations\": [{a}, {b}], \"totalHits\": 2}}"), 1),
        ("job.json", format!("{{\"cursor\": \"abc\", \"conversations\": [{a},{b}], \"dataAvailabilityDate\": \"2021-04-03T00:00:00.000Z\"}}"), 1),
        ("pages.ndjson", format!("{{\"conversations\":[{ca}],\"totalHits\":1}}\n{{\"conversations\":[{cb}],\"totalHits\":1}}\n"), 2),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text, pages) in shapes {
        let out = decode_bytes(dir.path(), name, text.as_bytes());
        assert!(out.rejects.is_empty(), "{name}: {:?}", out.rejects);
        let expected = if name == "single.json" { 1 } else { 2 };
        assert_eq!(
            out.table(Table::Conversations).num_rows(),
            expected,
            "{name}"
        );
        assert_eq!(out.pages.num_rows() as u64, pages, "{name}");
        // The stored raw text is the record's own text, wherever it sat.
        let raw = strings(out.table(Table::RawConversations), "json");
        let first: serde_json::Value = serde_json::from_str(raw[0].as_deref().unwrap()).unwrap();
        assert_eq!(
            first,
            serde_json::from_str::<serde_json::Value>(&a).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn page_wrapper_data_is_kept() {
    let (a, _) = two_records();
    let text = format!(
        "{{\"totalHits\": 7, \"aggregations\": [{{\"type\": \"termFrequency\", \"dimension\": \"queueId\", \"count\": 3, \"results\": [{{\"value\": \"q1\", \"count\": 2}}]}}], \"conversations\": [{a}]}}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "q.json", text.as_bytes());
    assert_eq!(ints(&out.pages, "total_hits"), [Some(7)]);
    let aggregations = out
        .pages
        .column_by_name("aggregations")
        .unwrap()
        .as_list::<i32>();
    let first = aggregations.value(0);
    let first = first.as_struct();
    assert_eq!(
        first
            .column_by_name("dimension")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "queueId"
    );
    assert_eq!(out.table(Table::Conversations).num_rows(), 1);
}

#[test]
fn gzip_and_directories_and_positions() {
    let (a, b) = two_records();
    let (ca, cb) = (compact(&a), compact(&b));
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("exports/2021");
    std::fs::create_dir_all(&nested).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("{ca}\n{cb}\n").as_bytes()).unwrap();
    std::fs::write(nested.join("part.ndjson.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(nested.join("notes.txt"), "not an export").unwrap();
    let inputs = convlake::ingest::discover(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(inputs, vec![Input::File(nested.join("part.ndjson.gz"))]);
    let out = decode_inputs(inputs);
    let raw = out.table(Table::RawConversations);
    assert_eq!(raw.num_rows(), 2);
    // Offsets are in the decompressed stream.
    assert_eq!(
        ints(raw, "source_offset"),
        [Some(0), Some(ca.len() as i64 + 1)]
    );
    assert_eq!(ints(raw, "source_index"), [Some(0), Some(1)]);
}

#[test]
fn drift_is_counted_and_kept() {
    let (a, _) = two_records();
    let mut v: serde_json::Value = serde_json::from_str(&a).unwrap();
    v["brandNewField"] = serde_json::json!({"x": 1});
    v["participants"][0]["sessions"][0]["mediaType"] = "hologram".into();
    v["participants"][2]["sessions"][0]["segments"][0]["futureFlag"] = true.into();
    v["participants"][0]["attributes"] =
        serde_json::json!({"Language": "en-us", "Score": 7, "Empty": null});
    let text = serde_json::to_string(&v).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = decode_bytes(dir.path(), "drift.json", text.as_bytes());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(out.drift.unknown_fields["brandNewField"], 1);
    assert_eq!(
        out.drift.unknown_fields["participants[].sessions[].segments[].futureFlag"],
        1
    );
    assert_eq!(
        out.drift.unknown_enum_values["participants[].sessions[].mediaType"]["hologram"],
        1
    );
    // The unknown value is stored as it came; the unknown field lives on in the raw JSON.
    assert_eq!(
        strings(out.table(Table::Sessions), "media_type")[0].as_deref(),
        Some("hologram")
    );
    assert!(strings(out.table(Table::RawConversations), "json")[0]
        .as_deref()
        .unwrap()
        .contains("brandNewField"));
    // Attribute values that are not strings are kept as their JSON text; null stays null.
    let attributes = out
        .table(Table::Participants)
        .column_by_name("attributes")
        .unwrap();
    let map = attributes.as_any().downcast_ref::<MapArray>().unwrap();
    let entries = map.value(0);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    let got: Vec<(String, Option<String>)> = (0..keys.len())
        .map(|i| {
            (
                keys.value(i).to_string(),
                values.is_valid(i).then(|| values.value(i).to_string()),
            )
        })
        .collect();
    assert_eq!(
        got,
        // serde_json writes object keys sorted, and the map keeps the order of the text.
        [
            ("Empty".into(), None),
            ("Language".into(), Some("en-us".into())),
            ("Score".into(), Some("7".into()))
        ]
    );
}

#[test]
fn a_chunk_of_many_months_comes_out_as_one_batch_per_table_and_month_in_input_order() {
    use convlake::generate::{write_export, ExportFormat, GenerateOptions, Order};
    use convlake::ingest::DecoderBuilder;
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interleaved.ndjson");
    write_export(
        &GenerateOptions {
            conversations: 400,
            days: 120,
            seed: 9,
            reexport_share: 0.0,
            order: Order::Interleaved,
            ..Default::default()
        },
        ExportFormat::Ndjson,
        100,
        false,
        &path,
    )
    .unwrap();
    let input_order: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["conversationId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let month = |day: i32| convlake::lake::layout::month_of_day(day);
    let mut seen: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut multi_month_chunks = 0;
    // Chunks arrive as their decoders finish them: put them back in input order.
    let mut chunks: Vec<_> = DecoderBuilder::new()
        .with_chunk_bytes(256 * 1024)
        .decode(vec![Input::File(path.clone())])
        .map(Result::unwrap)
        .collect();
    chunks.sort_by_key(|d| d.seq);
    for decoded in chunks {
        let mut months = Vec::new();
        for t in &decoded.tables.0 {
            if t.batch.num_rows() == 0 {
                continue;
            }
            let days = t.batch.column_by_name("conversation_date").unwrap();
            let days = days.as_primitive::<arrow::datatypes::Date32Type>();
            let first = month(days.value(0));
            assert!(
                days.values().iter().all(|&d| month(d) == first),
                "{:?}: a batch of one month",
                t.table
            );
            if t.table == Table::Conversations {
                months.push(first);
                seen.entry(first)
                    .or_default()
                    .extend(strings(&t.batch, "conversation_id").into_iter().flatten());
            }
        }
        assert!(
            months.windows(2).all(|w| w[0] < w[1]),
            "months in order: {months:?}"
        );
        multi_month_chunks += usize::from(months.len() > 1);
    }
    assert!(
        multi_month_chunks > 0,
        "the input put many months in a chunk"
    );
    // Within each month, rows come in input order; together, every record once.
    let mut total = 0;
    for ids in seen.values() {
        let positions: Vec<usize> = ids
            .iter()
            .map(|id| input_order.iter().position(|x| x == id).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
        total += ids.len();
    }
    assert_eq!(total, input_order.len());
}
