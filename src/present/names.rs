//! Names beside ids: what a report's `queue_id`, `user_id`, `wrap_up_code`, `flow_id` and
//! `division_id` columns are called, from the lake's directory (what `convlake pull` keeps),
//! else a names file (`--names FILE`, CSV `kind,id,name`, for sites without API access), else
//! the exports themselves (the `names` view: an ACD participant's `participantName` is its
//! queue's, a flow session's `flowName` its flow's), else a readable form of the id (Genesys's
//! system wrap-up codes such as `ININ-WRAP-UP-TIMEOUT` read as "Wrap-up timeout", a UUID as
//! its first eight characters).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

/// The kinds of names a names file and the directory hold.
pub const KINDS: &[&str] = &[
    "user", "queue", "wrapup", "flow", "division", "skill", "language", "team",
];

/// Names by kind and id, with the fallbacks of the module's order already applied.
#[derive(Debug, Default, Clone)]
pub struct Names {
    by_id: HashMap<(String, String), String>,
}

impl Names {
    /// The names of the session's lake (its `names` view: directory, else export), with those
    /// of `file` between the two.
    pub async fn load(ctx: &SessionContext, file: Option<&Path>) -> Result<Names> {
        let mut names = Names::default();
        let mut directory = Vec::new();
        let rows = ctx
            .sql("SELECT kind, id, name, source FROM names")
            .await?
            .collect()
            .await?;
        for batch in &rows {
            let text = |i: usize| arrow::compute::cast(batch.column(i), &DataType::Utf8);
            let (kind, id, name, source) = (text(0)?, text(1)?, text(2)?, text(3)?);
            let (kind, id, name, source) = (
                kind.as_string::<i32>(),
                id.as_string::<i32>(),
                name.as_string::<i32>(),
                source.as_string::<i32>(),
            );
            for row in 0..batch.num_rows() {
                if kind.is_null(row) || id.is_null(row) || name.is_null(row) {
                    continue;
                }
                let key = (kind.value(row).to_string(), id.value(row).to_string());
                let value = name.value(row).to_string();
                if source.value(row) == "directory" {
                    directory.push((key, value));
                } else {
                    names.by_id.insert(key, value);
                }
            }
        }
        if let Some(path) = file {
            for (kind, id, name) in read_names_file(path)? {
                names.by_id.insert((kind, id), name);
            }
        }
        names.by_id.extend(directory);
        Ok(names)
    }

    /// Names from `(kind, id, name)` triples (tests, and callers without a lake).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Names {
        Names {
            by_id: entries
                .into_iter()
                .map(|(k, i, n)| ((k.to_string(), i.to_string()), n.to_string()))
                .collect(),
        }
    }

    /// The name of `id` of `kind`, else a readable form of the id.
    pub fn name(&self, kind: &str, id: &str) -> String {
        self.by_id
            .get(&(kind.to_string(), id.to_string()))
            .cloned()
            .unwrap_or_else(|| readable_id(id))
    }

    /// `batch` with a name column after each id column it has (`queue_id` → `queue_name`,
    /// `from_queue_id` → `from_queue_name`, `user_id` → `agent_name`, `wrap_up_code` →
    /// `wrap_up_name`, `flow_id` → `flow_name`, `division_id` → `division_name`), unless the
    /// batch already has that column. A null id has a null name.
    pub fn decorate(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = batch.schema();
        let mut fields: Vec<Field> = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
            let Some((kind, name_column)) = name_column_of(field.name()) else {
                continue;
            };
            if schema.field_with_name(&name_column).is_ok() {
                continue;
            }
            let ids = arrow::compute::cast(column, &DataType::Utf8)?;
            let ids = ids.as_string::<i32>();
            let named: StringArray = (0..ids.len())
                .map(|i| ids.is_valid(i).then(|| self.name(kind, ids.value(i))))
                .collect();
            fields.push(Field::new(name_column, DataType::Utf8, true));
            columns.push(Arc::new(named));
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
            columns,
        )?)
    }
}

/// The columns of `schema` a person reads: all but the id columns whose name column is there
/// too (the machine outputs keep both).
pub fn readable_columns(schema: &Schema) -> Vec<usize> {
    (0..schema.fields().len())
        .filter(|&i| {
            name_column_of(schema.field(i).name())
                .is_none_or(|(_, named)| schema.field_with_name(&named).is_err())
        })
        .collect()
}

/// The kind of names an id column holds and the name column that goes beside it.
pub fn name_column_of(column: &str) -> Option<(&'static str, String)> {
    let pairs: [(&str, &str, &str); 6] = [
        ("queue_id", "queue", "queue_name"),
        ("user_id", "user", "agent_name"),
        ("wrap_up_code", "wrapup", "wrap_up_name"),
        ("flow_id", "flow", "flow_name"),
        ("division_id", "division", "division_name"),
        ("skill_id", "skill", "skill_name"),
    ];
    pairs.iter().find_map(|(suffix, kind, name)| {
        let prefix = column.strip_suffix(suffix)?;
        (prefix.is_empty() || prefix.ends_with('_')).then(|| (*kind, format!("{prefix}{name}")))
    })
}

/// An id as a person can read it when nothing names it: Genesys's system codes in words
/// (`ININ-WRAP-UP-TIMEOUT` → "Wrap-up timeout", `ININ-OUTBOUND-NO-ANSWER` → "Outbound no
/// answer"), a UUID as its first eight characters and an ellipsis, anything else as it is.
pub fn readable_id(id: &str) -> String {
    if let Some(code) = id.strip_prefix("ININ-") {
        let words = code.to_ascii_lowercase().replace("wrap-up", "wrap\u{1}up");
        let words = words.replace('-', " ").replace('\u{1}', "-");
        let mut chars = words.chars();
        return match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => id.to_string(),
        };
    }
    let is_uuid = id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if is_uuid {
        format!("{}…", &id[..8])
    } else {
        id.to_string()
    }
}

/// Reads a names file: CSV `kind,id,name` (a header line optional; fields may be quoted as
/// RFC 4180 says), kinds as in [`KINDS`] (`agent` for `user`, `wrap_up` for `wrapup` too).
pub fn read_names_file(path: &Path) -> Result<Vec<(String, String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    // Excel's "CSV UTF-8" starts with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let bad = |line: usize, what: String| {
        Error::Usage(format!(
            "{} line {line}: {what} (a names file is CSV kind,id,name with kind one of {})",
            path.display(),
            KINDS.join(", ")
        ))
    };
    let mut out = Vec::new();
    for (i, record) in csv_records(text).into_iter().enumerate() {
        let line = record.0;
        let fields = record.1;
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if i == 0
            && fields
                .first()
                .is_some_and(|f| f.trim().eq_ignore_ascii_case("kind"))
        {
            continue;
        }
        let [kind, id, name] = fields.as_slice() else {
            return Err(bad(line, format!("{} fields, not 3", fields.len())));
        };
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            "agent" => "user".to_string(),
            "wrap_up" | "wrap-up" | "wrapupcode" => "wrapup".to_string(),
            k if KINDS.contains(&k) => k.to_string(),
            other => return Err(bad(line, format!("unknown kind {other:?}"))),
        };
        if id.trim().is_empty() {
            return Err(bad(line, "an empty id".into()));
        }
        out.push((kind, id.trim().to_string(), name.trim().to_string()));
    }
    Ok(out)
}

/// The records of CSV `text` with the line each starts on (quoted fields may hold commas,
/// doubled quotes and line breaks).
fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut line, mut start) = (false, 1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start, fields));
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_nobody_named_read_as_words_or_short_ids() {
        assert_eq!(readable_id("ININ-WRAP-UP-TIMEOUT"), "Wrap-up timeout");
        assert_eq!(readable_id("ININ-OUTBOUND-NO-ANSWER"), "Outbound no answer");
        assert_eq!(
            readable_id("0449c127-e5a6-4aba-94bc-fda37b5cfdc2"),
            "0449c127…"
        );
        assert_eq!(readable_id("q1-0000-sales"), "q1-0000-sales");
    }

    #[test]
    fn id_columns_get_their_name_columns() {
        assert_eq!(
            name_column_of("queue_id"),
            Some(("queue", "queue_name".into()))
        );
        assert_eq!(
            name_column_of("from_queue_id"),
            Some(("queue", "from_queue_name".into()))
        );
        assert_eq!(
            name_column_of("user_id"),
            Some(("user", "agent_name".into()))
        );
        assert_eq!(
            name_column_of("wrap_up_code"),
            Some(("wrapup", "wrap_up_name".into()))
        );
        assert_eq!(name_column_of("subqueue_id"), None);
        assert_eq!(name_column_of("edge_id"), None);
    }

    #[test]
    fn a_names_file_is_read_with_quotes_and_its_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("names.csv");
        std::fs::write(
            &path,
            "kind,id,name\nuser,u1,\"Smith, Ana\"\nagent,u2,Ben \"B\" Ode\nwrap_up,w1,\"Sale \"\"made\"\"\"\n\nqueue,q1,Sales\r\n",
        )
        .unwrap();
        let names = read_names_file(&path).unwrap();
        assert_eq!(
            names,
            [
                ("user".into(), "u1".into(), "Smith, Ana".into()),
                ("user".into(), "u2".into(), "Ben \"B\" Ode".into()),
                ("wrapup".into(), "w1".into(), "Sale \"made\"".into()),
                ("queue".into(), "q1".into(), "Sales".into()),
            ]
        );
        std::fs::write(&path, "kind,id,name\nuser,u1,Ana\nteam-lead,u2,Ben\n").unwrap();
        let error = read_names_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("line 3") && error.contains("team-lead"),
            "{error}"
        );
    }

    #[test]
    fn decorated_batches_keep_their_ids_and_add_names_after_them() {
        let names = Names::from_entries([("queue", "q1", "Sales"), ("user", "u1", "Ana")]);
        let batch = RecordBatch::try_from_iter([
            (
                "queue_id",
                Arc::new(StringArray::from(vec![Some("q1"), None, Some("ININ-X")])) as ArrayRef,
            ),
            (
                "offered",
                Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])) as ArrayRef,
            ),
        ])
        .unwrap();
        let out = names.decorate(&batch).unwrap();
        let columns: Vec<String> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(columns, ["queue_id", "queue_name", "offered"]);
        let named = out.column(1).as_string::<i32>();
        assert_eq!(named.value(0), "Sales");
        assert!(named.is_null(1));
        assert_eq!(named.value(2), "X");
    }
}
