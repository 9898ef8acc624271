//! Reading a report's columns by name, as the presentations need them: text, numbers and
//! arrays, with absent columns read as nulls (a report from `--reports-dir` may lack some).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};

/// The column `name` of `batch`, if it has one.
pub fn column(batch: &RecordBatch, name: &str) -> Option<ArrayRef> {
    batch.column_by_name(name).cloned()
}

/// The column `name` as text, one entry a row (all null when absent or not castable).
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let rows = batch.num_rows();
    let Some(text) =
        column(batch, name).and_then(|c| arrow::compute::cast(&c, &DataType::Utf8).ok())
    else {
        return vec![None; rows];
    };
    let text = text.as_string::<i32>();
    (0..rows)
        .map(|r| text.is_valid(r).then(|| text.value(r).to_string()))
        .collect()
}

/// The column `name` as numbers, one entry a row (all null when absent or not numeric).
pub fn numbers(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let rows = batch.num_rows();
    let Some(values) = column(batch, name)
        .filter(|c| c.data_type().is_numeric() || c.data_type() == &DataType::Boolean)
        .and_then(|c| arrow::compute::cast(&c, &DataType::Float64).ok())
    else {
        return vec![None; rows];
    };
    let values = values.as_primitive::<Float64Type>();
    (0..rows)
        .map(|r| values.is_valid(r).then(|| values.value(r)))
        .collect()
}
