//! Drift audit: what a decoded record holds that the reference model does not know.
//!
//! Three things are counted by JSON path (`participants[].sessions[].segments[].x`): keys the
//! model does not list, enum values outside their vocabulary, and date-times that needed the
//! lenient parser. None of them stops a record; the values themselves are stored (unknown
//! keys in `raw_conversations`), and the counts reach the user through the ingest summary.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Attributes, Enum, Text, Ts};
use crate::schema::vocab::Vocabulary;

/// A JSON path under construction while walking a record.
#[derive(Debug, Default)]
pub struct JsonPath(Vec<&'static str>);

impl JsonPath {
    /// Enters a property.
    pub fn push(&mut self, segment: &'static str) {
        self.0.push(segment);
    }

    /// Leaves the property entered last.
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// The path with `leaf` appended, as `a[].b.leaf`.
    pub fn render(&self, leaf: Option<&str>) -> String {
        let mut out = String::new();
        for segment in self.0.iter().copied().chain(leaf) {
            if segment != "[]" && !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
        out
    }
}

/// Counts of drift seen in decoded records.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    /// Occurrences of keys the model does not list, by JSON path.
    pub unknown_fields: BTreeMap<String, u64>,
    /// Occurrences of enum values outside the vocabulary, by JSON path, then value.
    pub unknown_enum_values: BTreeMap<String, BTreeMap<String, u64>>,
    /// Date-times that were not canonical ISO-8601 but parsed leniently, by JSON path.
    pub lenient_timestamps: BTreeMap<String, u64>,
}

impl DriftReport {
    /// Counts an unknown key at `path`.
    pub fn unknown_field(&mut self, path: &JsonPath, key: &str) {
        *self
            .unknown_fields
            .entry(path.render(Some(key)))
            .or_default() += 1;
    }

    /// Adds every count of `other` to this report.
    pub fn merge(&mut self, other: &DriftReport) {
        for (k, v) in &other.unknown_fields {
            *self.unknown_fields.entry(k.clone()).or_default() += v;
        }
        for (k, values) in &other.unknown_enum_values {
            let entry = self.unknown_enum_values.entry(k.clone()).or_default();
            for (value, n) in values {
                *entry.entry(value.clone()).or_default() += n;
            }
        }
        for (k, v) in &other.lenient_timestamps {
            *self.lenient_timestamps.entry(k.clone()).or_default() += v;
        }
    }

    /// Whether nothing was seen.
    pub fn is_empty(&self) -> bool {
        self.unknown_fields.is_empty()
            && self.unknown_enum_values.is_empty()
            && self.lenient_timestamps.is_empty()
    }

    /// Total occurrences of unknown keys, unknown enum values and lenient date-times.
    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.unknown_fields.values().sum(),
            self.unknown_enum_values
                .values()
                .flat_map(|v| v.values())
                .sum(),
            self.lenient_timestamps.values().sum(),
        )
    }
}

/// A decoded value that can be checked for drift.
pub trait Audit {
    /// Adds what this value holds that the model does not know to `report`.
    fn audit(&self, path: &mut JsonPath, report: &mut DriftReport);
}

macro_rules! nothing_to_audit {
    ($($ty:ty),*) => {$(
        impl Audit for $ty {
            fn audit(&self, _: &mut JsonPath, _: &mut DriftReport) {}
        }
    )*};
}

nothing_to_audit!(Text<'_>, i32, i64, f64, bool, Attributes<'_>);

impl Audit for Ts {
    fn audit(&self, path: &mut JsonPath, report: &mut DriftReport) {
        if self.lenient {
            *report
                .lenient_timestamps
                .entry(path.render(None))
                .or_default() += 1;
        }
    }
}

impl<V: Vocabulary> Audit for Enum<'_, V> {
    fn audit(&self, path: &mut JsonPath, report: &mut DriftReport) {
        if !self.is_known() {
            let values = report
                .unknown_enum_values
                .entry(path.render(None))
                .or_default();
            *values.entry(self.as_str().to_owned()).or_default() += 1;
        }
    }
}

impl<T: Audit> Audit for Vec<T> {
    fn audit(&self, path: &mut JsonPath, report: &mut DriftReport) {
        path.push("[]");
        for item in self {
            item.audit(path, report);
        }
        path.pop();
    }
}
