//! The code against the reference model: reads
//! `tests/fixtures/reference/genesys-conversation-details.schema.json` (the repository's copy of
//! the reference model; update it there, in a commit) and fails when any
//! property has no column, has the wrong type or enum values, or when the code has properties
//! the reference does not list.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, Field, TimeUnit};
use convlake::model::*;
use convlake::schema::{flow_column_name, pages_schema, Table};
use serde_json::Value;

use crate::util::{repo, snake};

struct Declared {
    properties: Vec<(&'static str, String)>,
    fields: Vec<Field>,
    vocabularies: Vec<(&'static str, &'static [&'static str])>,
}

macro_rules! declared {
    ($($model:ident),*) => {{
        let mut map = BTreeMap::new();
        $(map.insert($model::MODEL, Declared {
            properties: $model::PROPERTIES.iter().map(|(w, c)| (*w, c.trim_start_matches("r#").to_string())).collect(),
            fields: $model::fields(),
            vocabularies: $model::vocabularies(),
        });)*
        map
    }};
}

fn reference() -> Value {
    let path = repo().join("tests/fixtures/reference/genesys-conversation-details.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the reference model is part of the repository",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// The Arrow type a reference property must have (`None`: a nested model, checked by name).
fn expected_type(property: &Value) -> Option<DataType> {
    let ty = property["type"].as_str().unwrap();
    let is_enum = property.get("enum").is_some();
    let scalar = |t: &str| -> Option<DataType> {
        Some(match t {
            "string" if is_enum => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            "string" => DataType::Utf8,
            "integer" if property["itemFormat"] == "int64" => DataType::Int64,
            "integer" => DataType::Int32,
            "long" => DataType::Int64,
            "number" => DataType::Float64,
            "boolean" => DataType::Boolean,
            "date-time" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            _ => return None,
        })
    };
    if let Some(inner) = ty.strip_prefix("array<").and_then(|t| t.strip_suffix('>')) {
        return scalar(inner).map(convlake::columnar::list_type);
    }
    if ty == "map<string,string>" {
        return Some(convlake::columnar::map_type());
    }
    scalar(ty)
}

#[test]
fn model_matches_reference() {
    let declared = declared!(
        Conversation,
        Evaluation,
        Survey,
        Resolution,
        Participant,
        Session,
        AgentGroup,
        ProposedAgent,
        MediaEndpointStat,
        Flow,
        FlowOutcome,
        SessionMetric,
        Segment,
        ScoredAgent,
        Property,
        AggregationResult,
        AggregationResultEntry
    );
    let reference = reference();
    let models = reference["models"].as_object().unwrap();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (name, model) in models {
        let properties = model["properties"].as_array().unwrap();
        // The WithoutAttributes twins are the same models less `attributes`.
        let base = name.replace("WithoutAttributes", "");
        if let Some(d) = declared.get(base.as_str()) {
            let reference_names: Vec<&str> = properties
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            if !name.contains("WithoutAttributes") {
                for (wire, _) in &d.properties {
                    if !reference_names.contains(wire) {
                        problems.push(format!(
                            "{name}.{wire}: declared in code, not in the reference"
                        ));
                    }
                }
            }
            for property in properties {
                checked += 1;
                let wire = property["name"].as_str().unwrap();
                let Some((_, column)) = d.properties.iter().find(|(w, _)| *w == wire) else {
                    problems.push(format!("{name}.{wire}: no column"));
                    continue;
                };
                if *column != snake(wire) {
                    problems.push(format!(
                        "{name}.{wire}: column {column}, expected {}",
                        snake(wire)
                    ));
                }
                let field = d.fields.iter().find(|f| f.name() == column).unwrap();
                match expected_type(property) {
                    Some(expected) if field.data_type() != &expected => problems.push(format!(
                        "{name}.{wire}: type {}, expected {expected}",
                        field.data_type()
                    )),
                    Some(_) => {}
                    None => {
                        // A nested model: its struct must hold exactly that model's fields.
                        let ty = property["type"].as_str().unwrap();
                        let target = ty
                            .trim_start_matches("array<")
                            .trim_end_matches('>')
                            .trim_start_matches("ref:");
                        let target = declared
                            .get(target.replace("WithoutAttributes", "").as_str())
                            .expect("nested model declared");
                        let inner = match field.data_type() {
                            DataType::List(item) if ty.starts_with("array<") => {
                                item.data_type().clone()
                            }
                            other => other.clone(),
                        };
                        if inner != DataType::Struct(target.fields.clone().into()) {
                            problems.push(format!(
                                "{name}.{wire}: nested type {inner} does not match {ty}"
                            ));
                        }
                    }
                }
                if let Some(values) = property.get("enum") {
                    let mut values: Vec<&str> = values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect();
                    values.sort_unstable();
                    match d.vocabularies.iter().find(|(w, _)| *w == wire) {
                        Some((_, known)) if *known == values.as_slice() => {}
                        other => problems.push(format!(
                            "{name}.{wire}: vocabulary {other:?}, expected {values:?}"
                        )),
                    }
                }
            }
        } else {
            // The response wrappers: their conversations are the tables, the rest is `pages`.
            let pages = pages_schema();
            for property in properties {
                checked += 1;
                let wire = property["name"].as_str().unwrap();
                if wire == "conversations" {
                    continue;
                }
                if pages.field_with_name(&snake(wire)).is_err() {
                    problems.push(format!("{name}.{wire}: no column in _convlake pages"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(
        checked,
        reference["stats"]["properties"].as_u64().unwrap() as usize
    );
}

#[test]
fn tables_hold_every_property_of_their_grain() {
    let has = |table: Table, column: &str| table.schema().field_with_name(column).is_ok();
    for (wire, column) in Conversation::PROPERTIES {
        if !["participants", "conversation_id", "conversation_start"].contains(column) {
            assert!(
                has(Table::Conversations, column),
                "conversations lacks {wire}"
            );
        }
    }
    for (wire, column) in Participant::PROPERTIES {
        assert!(
            has(Table::Participants, column),
            "participants lacks {wire}"
        );
    }
    for (wire, column) in Session::PROPERTIES {
        let nested = [
            "agent_groups",
            "proposed_agents",
            "media_endpoint_stats",
            "flow",
            "metrics",
            "segments",
        ];
        if !nested.contains(column) {
            assert!(has(Table::Sessions, column), "sessions lacks {wire}");
        }
    }
    for (wire, column) in Flow::PROPERTIES {
        assert!(
            has(Table::Sessions, &flow_column_name(column)),
            "sessions lacks flow.{wire}"
        );
    }
    for (wire, column) in Segment::PROPERTIES {
        assert!(has(Table::Segments, column), "segments lacks {wire}");
    }
    for (wire, column) in SessionMetric::PROPERTIES {
        assert!(has(Table::Metrics, column), "metrics lacks {wire}");
    }
    let sessions = Table::Participants
        .schema()
        .field_with_name("sessions")
        .unwrap()
        .data_type()
        .clone();
    assert_eq!(
        sessions,
        convlake::columnar::list_type(<Session as convlake::columnar::Column>::data_type())
    );
}

/// The printed form of every table schema, pinned: a change to the SQL contract shows up here.
#[test]
fn schemas_are_pinned() {
    let mut printed = String::new();
    for table in Table::ALL {
        printed.push_str(&format!("{}\n", table.name()));
        for f in table.schema().fields() {
            printed.push_str(&format!("  {}: {}\n", f.name(), f.data_type()));
        }
    }
    let golden_path = repo().join("tests/golden/schemas.txt");
    if std::env::var_os("CONVLAKE_BLESS").is_some() {
        std::fs::create_dir_all(golden_path.parent().unwrap()).unwrap();
        std::fs::write(&golden_path, &printed).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path)
        .expect("tests/golden/schemas.txt missing: run the tests once with CONVLAKE_BLESS=1");
    assert_eq!(
        printed, golden,
        "the table schemas changed: review, then re-bless with CONVLAKE_BLESS=1"
    );
}
