//! Numbers as people write them, for the table and HTML outputs of reports: durations as
//! `h:mm:ss`, percentages with one decimal, counts with thousands separators, instants in the
//! report's time zone, `-` where there is no data (a null) and `0` where it is a known zero.
//! Which a column is comes from its name, as the reports spell units: `_ms` milliseconds,
//! `_pct` a percentage; the CSV, JSON and Parquet outputs keep the exact numbers.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono_tz::Tz;

/// How a column reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Milliseconds, shown as `h:mm:ss`.
    Duration,
    /// A percentage, one decimal and `%`.
    Percent,
    /// A whole number, with thousands separators.
    Count,
    /// Another number, two decimals.
    Decimal,
    /// An instant, in the report's time zone.
    Instant,
    /// A boolean, as yes or no.
    Flag,
    /// An id nothing names (`edge_id`): a UUID as its first eight characters.
    Id,
    /// Anything else, as Arrow displays it.
    Text,
}

impl Kind {
    /// Whether cells of this kind align right.
    pub fn is_numeric(self) -> bool {
        !matches!(self, Kind::Text | Kind::Instant | Kind::Flag | Kind::Id)
    }
}

/// What kind column `name` of type `data_type` is.
pub fn kind_of(name: &str, data_type: &DataType) -> Kind {
    let numeric = data_type.is_numeric();
    if numeric && name.ends_with("_ms") {
        Kind::Duration
    } else if numeric && name.ends_with("_pct") {
        Kind::Percent
    } else if data_type.is_integer() {
        Kind::Count
    } else if numeric {
        Kind::Decimal
    } else if matches!(data_type, DataType::Timestamp(_, _) | DataType::Date32) {
        Kind::Instant
    } else if data_type == &DataType::Boolean {
        Kind::Flag
    } else if name.ends_with("_id") {
        Kind::Id
    } else {
        Kind::Text
    }
}

/// A column's header as people read it: `asa_ms` → "ASA", `service_level_pct` → "Service
/// level %", `avg_wait_ms` → "Avg wait", `agent_name` → "Agent".
pub fn label(name: &str) -> String {
    let (stem, unit) = if let Some(s) = name.strip_suffix("_pct") {
        (s, " %")
    } else if let Some(s) = name.strip_suffix("_ms") {
        (s, "")
    } else {
        (name.strip_suffix("_name").unwrap_or(name), "")
    };
    let words: Vec<String> = stem
        .split('_')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, w)| match w {
            "asa" | "aht" | "acw" | "mos" | "nps" | "ivr" | "id" | "sl" => w.to_uppercase(),
            _ if i == 0 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_string(),
        })
        .collect();
    format!("{}{unit}", words.join(" "))
}

/// `n` with thousands separators.
pub fn count(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Milliseconds as `h:mm:ss` (rounded to the second).
pub fn duration(ms: f64) -> String {
    let total = (ms / 1000.0).round() as i64;
    let sign = if total < 0 { "-" } else { "" };
    let total = total.abs();
    format!(
        "{sign}{}:{:02}:{:02}",
        total / 3600,
        total / 60 % 60,
        total % 60
    )
}

/// A percentage with one decimal.
pub fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

/// Formats the cells of one column.
pub struct Cells<'a> {
    kind: Kind,
    array: &'a dyn Array,
    tz: Tz,
    fallback: ArrayFormatter<'a>,
}

impl<'a> Cells<'a> {
    /// The cells of `array`, named `name`, with instants shown in `tz`.
    pub fn new(name: &str, array: &'a dyn Array, tz: Tz) -> anyhow::Result<Cells<'a>> {
        static OPTIONS: std::sync::LazyLock<FormatOptions<'static>> =
            std::sync::LazyLock::new(FormatOptions::default);
        Ok(Cells {
            kind: kind_of(name, array.data_type()),
            array,
            tz,
            fallback: ArrayFormatter::try_new(array, &OPTIONS)?,
        })
    }

    /// How the column reads.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The number in row `row`, if the column is numeric and the cell not null.
    pub fn number(&self, row: usize) -> Option<f64> {
        if self.array.is_null(row) {
            return None;
        }
        let a = self.array;
        Some(match a.data_type() {
            DataType::Int8 => a.as_primitive::<Int8Type>().value(row) as f64,
            DataType::Int16 => a.as_primitive::<Int16Type>().value(row) as f64,
            DataType::Int32 => a.as_primitive::<Int32Type>().value(row) as f64,
            DataType::Int64 => a.as_primitive::<Int64Type>().value(row) as f64,
            DataType::UInt8 => a.as_primitive::<UInt8Type>().value(row) as f64,
            DataType::UInt16 => a.as_primitive::<UInt16Type>().value(row) as f64,
            DataType::UInt32 => a.as_primitive::<UInt32Type>().value(row) as f64,
            DataType::UInt64 => a.as_primitive::<UInt64Type>().value(row) as f64,
            DataType::Float32 => a.as_primitive::<Float32Type>().value(row) as f64,
            DataType::Float64 => a.as_primitive::<Float64Type>().value(row),
            _ => return None,
        })
    }

    /// The instant (ms since the epoch) in row `row`, for timestamp and date columns.
    pub fn instant(&self, row: usize) -> Option<i64> {
        if self.array.is_null(row) {
            return None;
        }
        match self.array.data_type() {
            DataType::Timestamp(unit, _) => {
                let raw = arrow::compute::cast(self.array, &DataType::Int64).ok()?;
                let raw = raw.as_primitive::<Int64Type>().value(row);
                Some(match unit {
                    TimeUnit::Second => raw * 1000,
                    TimeUnit::Millisecond => raw,
                    TimeUnit::Microsecond => raw.div_euclid(1000),
                    TimeUnit::Nanosecond => raw.div_euclid(1_000_000),
                })
            }
            DataType::Date32 => {
                let days = self
                    .array
                    .as_primitive::<arrow::datatypes::Date32Type>()
                    .value(row);
                Some(i64::from(days) * 86_400_000)
            }
            _ => None,
        }
    }

    /// Row `row` as people read it.
    pub fn text(&self, row: usize) -> String {
        if self.array.is_null(row) {
            return "-".into();
        }
        match self.kind {
            Kind::Duration => self.number(row).map(duration),
            Kind::Percent => self.number(row).map(percent),
            Kind::Count => self.number(row).map(|n| count(n as i128)),
            Kind::Decimal => self.number(row).map(|n| format!("{n:.2}")),
            Kind::Instant => self.instant(row).map(|ms| {
                let date_only = matches!(self.array.data_type(), DataType::Date32);
                local_time(ms, self.tz, date_only)
            }),
            Kind::Flag => Some(
                if self.array.as_boolean_opt().is_some_and(|b| b.value(row)) {
                    "yes".into()
                } else {
                    "no".into()
                },
            ),
            Kind::Id => Some(super::names::readable_id(
                &self.fallback.value(row).to_string(),
            )),
            Kind::Text => None,
        }
        .unwrap_or_else(|| self.fallback.value(row).to_string())
    }
}

/// An instant in `tz`: `2026-11-03 06:30` (or the date alone when it is midnight there and
/// `date_only`).
pub fn local_time(ms: i64, tz: Tz, date_only: bool) -> String {
    use chrono::TimeZone;
    let utc = chrono::Utc.timestamp_millis_opt(ms).single();
    match utc {
        Some(t) if date_only => t.format("%Y-%m-%d").to_string(),
        Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        None => ms.to_string(),
    }
}

/// A text table of `batches` for a terminal: headers as [`label`] gives them, cells as
/// [`Cells::text`] writes them, numbers aligned right.
pub fn text_table(batches: &[RecordBatch], tz: Tz) -> anyhow::Result<String> {
    let Some(first) = batches.first() else {
        return Ok("(no rows)\n".into());
    };
    let schema = first.schema();
    let headers: Vec<String> = schema.fields().iter().map(|f| label(f.name())).collect();
    let mut right = vec![false; headers.len()];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        let cells = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| Cells::new(f.name(), c.as_ref(), tz))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (i, c) in cells.iter().enumerate() {
            right[i] = c.kind().is_numeric();
        }
        for row in 0..batch.num_rows() {
            rows.push(cells.iter().map(|c| c.text(row)).collect());
        }
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(widths[i] - c.chars().count());
                if right[i] {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let rule: String = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let mut out = rule.clone();
    out.push_str(&line(&headers));
    out.push_str(&rule);
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str(&rule);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(duration(727_441.333), "0:12:07");
        assert_eq!(duration(3_600_000.0 * 26.0 + 61_000.0), "26:01:01");
        assert_eq!(percent(33.333_333_333_333), "33.3%");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(count(0), "0");
        assert_eq!(label("asa_ms"), "ASA");
        assert_eq!(label("service_level_pct"), "Service level %");
        assert_eq!(label("avg_wait_ms"), "Avg wait");
        assert_eq!(label("queue_name"), "Queue");
        assert_eq!(label("from_queue_name"), "From queue");
    }

    #[test]
    fn a_table_shows_no_data_as_a_dash_and_a_zero_as_a_zero() {
        let batch = RecordBatch::try_from_iter([
            (
                "queue_name",
                Arc::new(arrow::array::StringArray::from(vec!["Sales", "Support"]))
                    as arrow::array::ArrayRef,
            ),
            (
                "offered",
                Arc::new(arrow::array::Int64Array::from(vec![12_345, 0])) as _,
            ),
            (
                "asa_ms",
                Arc::new(arrow::array::Float64Array::from(vec![
                    Some(727_441.33),
                    None,
                ])) as _,
            ),
            (
                "interval_start",
                Arc::new(
                    arrow::array::TimestampMicrosecondArray::from(vec![
                        1_793_491_200_000_000,
                        1_793_493_000_000_000,
                    ])
                    .with_timezone("UTC"),
                ) as _,
            ),
        ])
        .unwrap();
        let table = text_table(&[batch], "Europe/Berlin".parse().unwrap()).unwrap();
        assert!(
            table.contains("| Sales   |  12,345 | 0:12:07 | 2026-11-01 01:00 |"),
            "{table}"
        );
        assert!(
            table.contains("| Support |       0 |       - | 2026-11-01 01:30 |"),
            "{table}"
        );
    }
}
