//! `convlake schema`: the tables and their columns, as text or as JSON (table → fields, with
//! nested children and types).

use std::process::ExitCode;

use arrow::datatypes::{DataType, Field};
use serde_json::{json, Value};

use crate::schema::{pages_schema, Table};

#[derive(Debug, clap::Args)]
pub(crate) struct SchemaArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: SchemaFormat,
    /// Only this table.
    #[arg(long)]
    table: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaFormat {
    Text,
    Json,
}

pub(crate) fn run(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let tables: Vec<Table> = match &args.table {
        Some(name) => vec![Table::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Table::ALL.iter().map(|t| t.name()).collect();
            anyhow::anyhow!(
                "no table named {name:?}; the tables are: {}",
                names.join(", ")
            )
        })?],
        None => Table::ALL.to_vec(),
    };
    match args.format {
        SchemaFormat::Json => {
            let mut out = serde_json::Map::new();
            for t in &tables {
                let fields: Vec<Value> = columns(*t).iter().map(|f| field_json(f)).collect();
                out.insert(
                    t.name().to_string(),
                    json!({ "grain": t.grain(), "fields": fields }),
                );
            }
            if args.table.is_none() {
                let fields: Vec<Value> = pages_schema()
                    .fields()
                    .iter()
                    .map(|f| field_json(f))
                    .collect();
                out.insert(
                    "_convlake.pages".into(),
                    json!({ "grain": "page of an export", "fields": fields }),
                );
            }
            outln!("{}", serde_json::to_string_pretty(&Value::Object(out))?)?;
        }
        SchemaFormat::Text => {
            for t in &tables {
                outln!("{} (one row per {})", t.name(), t.grain())?;
                for f in columns(*t) {
                    print_field(&f, 1)?;
                }
                outln!()?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns of `table` as SQL sees them: the file columns, then the partition column.
fn columns(table: Table) -> Vec<arrow::datatypes::FieldRef> {
    let mut fields: Vec<_> = table.schema().fields().iter().cloned().collect();
    fields.push(crate::catalog::partition_field());
    fields
}

/// A field as JSON: name, type, nullability, and its children for nested types.
pub(crate) fn field_json(field: &Field) -> Value {
    let mut v = json!({ "name": field.name(), "type": type_name(field.data_type()), "nullable": field.is_nullable() });
    if let Some(children) = children(field.data_type()) {
        v["children"] = Value::Array(children.iter().map(field_json).collect());
    }
    v
}

fn children(data_type: &DataType) -> Option<Vec<Field>> {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) | DataType::Map(item, _) => match item
            .data_type()
        {
            DataType::Struct(fields) => Some(fields.iter().map(|f| f.as_ref().clone()).collect()),
            other => children(other),
        },
        DataType::Struct(fields) => Some(fields.iter().map(|f| f.as_ref().clone()).collect()),
        _ => None,
    }
}

/// A short, SQL-ish type name: `List<Struct>`, `Dictionary<Int32, Utf8>`, `Map<Utf8, Utf8>`.
pub(crate) fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::List(item) => format!("List<{}>", type_name(item.data_type())),
        DataType::Struct(_) => "Struct".into(),
        DataType::Map(_, _) => "Map<Utf8, Utf8>".into(),
        DataType::Dictionary(k, v) => format!("Dictionary<{k}, {v}>"),
        DataType::Timestamp(unit, tz) => {
            format!("Timestamp({unit:?}, {})", tz.as_deref().unwrap_or("none"))
        }
        other => other.to_string(),
    }
}

fn print_field(field: &Field, depth: usize) -> std::io::Result<()> {
    outln!(
        "{}{}: {}",
        "  ".repeat(depth),
        field.name(),
        type_name(field.data_type())
    )?;
    if let Some(children) = children(field.data_type()) {
        for child in &children {
            print_field(child, depth + 1)?;
        }
    }
    Ok(())
}
