//! Shaping the aggregated rows into `ConversationAggregateQueryResponse`: groups (without
//! the keys a record lacks), buckets in ascending order, `StatisticalSummary` per metric in
//! Genesys's field order, derived metrics, views, topN / bottomN.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use serde::Serialize;

use super::dims::Kind;
use super::request::Query;
use super::{ints, Cell, Extras, Settings};
use crate::analytics::buckets::format_utc;
use crate::analytics::{text, ApiError};

/// Count, sum, minimum and maximum of some metric records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Records.
    pub count: i64,
    /// Sum of their values.
    pub sum: i64,
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
}

impl Stats {
    fn merge(into: &mut Option<Stats>, other: Stats) {
        *into = Some(match *into {
            None => other,
            Some(s) => Stats {
                count: s.count + other.count,
                sum: s.sum + other.sum,
                min: s.min.min(other.min),
                max: s.max.max(other.max),
            },
        });
    }
}

/// `StatisticalSummary`, with the fields Genesys sends for conversation metrics, in its order.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    numerator: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    denominator: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<f64>,
}

impl Summary {
    fn timer(s: Stats) -> Summary {
        Summary {
            max: Some(s.max),
            min: Some(s.min),
            count: Some(s.count),
            sum: Some(s.sum),
            ..Summary::default()
        }
    }

    fn counter(s: Stats) -> Summary {
        Summary {
            count: Some(s.count),
            ..Summary::default()
        }
    }

    /// The value `function` ranks by.
    fn rank_value(&self, function: &str) -> Option<f64> {
        let f = |v: Option<i64>| v.map(|v| v as f64);
        match function {
            "count" => f(self.count),
            "sum" => f(self.sum.or(self.count)).or(self.target),
            "max" => f(self.max),
            "min" => f(self.min),
            _ => match (self.sum, self.count) {
                (Some(s), Some(c)) if c > 0 => Some(s as f64 / c as f64),
                (None, Some(_)) => Some(1.0),
                _ => self.target,
            },
        }
    }
}

#[derive(Serialize)]
struct MetricData<'a> {
    metric: &'a str,
    stats: Summary,
}

#[derive(Serialize)]
struct ViewData<'a> {
    name: &'a str,
    stats: Summary,
}

#[derive(Serialize)]
struct Data<'a> {
    interval: String,
    metrics: Vec<MetricData<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    views: Vec<ViewData<'a>>,
}

#[derive(Serialize)]
struct Container<'a> {
    group: BTreeMap<&'static str, String>,
    data: Vec<Data<'a>>,
}

#[derive(Serialize)]
struct Response<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<Container<'a>>,
}

/// A group key: one optional value per group-by dimension, in request order.
type Key = Vec<Option<String>>;

/// The aggregated rows, by group and bucket.
pub(crate) struct Cells {
    kinds: Vec<Kind>,
    flatten: bool,
    filtered: usize,
    groups: BTreeMap<Key, BTreeMap<usize, Cell>>,
    count: usize,
    /// Most cells the answer may hold (`--max-cells`), checked as rows are expanded.
    max: usize,
}

impl Cells {
    /// Empty cells for `query`.
    pub(crate) fn new(query: &Query, extras: &Extras, max: usize) -> Cells {
        Cells {
            kinds: query.group_by.iter().map(|d| d.kind).collect(),
            flatten: query.flatten,
            filtered: extras.filtered.len(),
            groups: BTreeMap::new(),
            count: 0,
            max,
        }
    }

    /// How many (group, bucket) cells there are.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Adds the rows of one result batch.
    pub(crate) fn add(&mut self, batch: &RecordBatch) -> Result<(), ApiError> {
        let buckets = ints(batch.column(0))?;
        let dims = self.kinds.len();
        let mut keys: Vec<KeyColumn> = Vec::with_capacity(dims);
        for (i, kind) in self.kinds.iter().enumerate() {
            keys.push(KeyColumn::new(batch.column(1 + i), *kind)?);
        }
        let names = text(batch.column(dims + 1))?;
        let stats_at = |first: usize| -> Result<[arrow::array::Int64Array; 4], ApiError> {
            Ok([
                ints(batch.column(first))?,
                ints(batch.column(first + 1))?,
                ints(batch.column(first + 2))?,
                ints(batch.column(first + 3))?,
            ])
        };
        let plain = stats_at(dims + 2)?;
        let filtered: Vec<_> = (0..self.filtered)
            .map(|i| stats_at(dims + 6 + 4 * i))
            .collect::<Result<_, _>>()?;
        let read = |cols: &[arrow::array::Int64Array; 4], row: usize| -> Option<Stats> {
            let count = cols[0].value(row);
            (count > 0).then(|| Stats {
                count,
                sum: if cols[1].is_null(row) {
                    0
                } else {
                    cols[1].value(row)
                },
                min: cols[2].value(row),
                max: cols[3].value(row),
            })
        };
        for row in 0..batch.num_rows() {
            if buckets.is_null(row) || names.is_null(row) {
                continue;
            }
            let bucket = buckets.value(row) as usize;
            let name = names.value(row);
            let Some(stats) = read(&plain, row) else {
                continue;
            };
            let extra: Vec<Option<Stats>> = filtered.iter().map(|f| read(f, row)).collect();
            for key in self.expand(&keys, row)? {
                let cells = self.groups.entry(key).or_default();
                let before = cells.len();
                let cell = cells
                    .entry(bucket)
                    .or_insert_with(|| (HashMap::new(), vec![None; extra.len()]));
                let mut slot = cell.0.get(name).copied();
                Stats::merge(&mut slot, stats);
                if let Some(s) = slot {
                    cell.0.insert(name.to_string(), s);
                }
                for (into, add) in cell.1.iter_mut().zip(&extra) {
                    if let Some(add) = add {
                        Stats::merge(into, *add);
                    }
                }
                self.count += cells.len() - before;
                if self.count > self.max {
                    return Err(super::too_many_cells(self.max));
                }
            }
        }
        Ok(())
    }

    /// The group keys one row counts in: a multivalued dimension puts the record in the group
    /// of each distinct value (or joins them with `,` when flattening); a missing or empty
    /// value leaves the key out. A row whose keys alone would make more than `--max-cells`
    /// groups is refused before they are made.
    fn expand(&self, keys: &[KeyColumn], row: usize) -> Result<Vec<Key>, ApiError> {
        let mut out: Vec<Key> = vec![Vec::with_capacity(keys.len())];
        for column in keys {
            let values: Vec<Option<String>> = match column {
                KeyColumn::Scalar(a) => vec![(!a.is_null(row)).then(|| a.value(row).to_string())],
                KeyColumn::List(lists) => {
                    let mut items = lists[row].clone();
                    if self.flatten {
                        vec![(!items.is_empty()).then(|| items.join(","))]
                    } else {
                        items.sort();
                        items.dedup();
                        if items.is_empty() {
                            vec![None]
                        } else {
                            items.into_iter().map(Some).collect()
                        }
                    }
                }
            };
            if out.len().saturating_mul(values.len()) > self.max {
                return Err(super::too_many_cells(self.max));
            }
            out = out
                .into_iter()
                .flat_map(|key| {
                    values.iter().map(move |v| {
                        let mut k = key.clone();
                        k.push(v.clone());
                        k
                    })
                })
                .collect();
        }
        Ok(out)
    }
}

/// A group-by column of a result batch, as text.
enum KeyColumn {
    Scalar(StringArray),
    List(Vec<Vec<String>>),
}

impl KeyColumn {
    fn new(array: &arrow::array::ArrayRef, kind: Kind) -> Result<KeyColumn, ApiError> {
        if kind != Kind::List {
            return Ok(KeyColumn::Scalar(text(array)?));
        }
        let lists = array.as_list_opt::<i32>().ok_or_else(|| {
            ApiError::internal("a multivalued dimension did not come back as a list")
        })?;
        let mut out = Vec::with_capacity(lists.len());
        for i in 0..lists.len() {
            if lists.is_null(i) {
                out.push(Vec::new());
                continue;
            }
            let values = text(&lists.value(i))?;
            out.push(values.iter().flatten().map(str::to_string).collect());
        }
        Ok(KeyColumn::List(out))
    }
}

/// The summary of `metric` in `cell`, if it has any observations.
fn summary(metric: &str, cell: &Cell, extras: &Extras, settings: &Settings) -> Option<Summary> {
    let stored = |name: &str| cell.0.get(name).copied();
    let filtered = |i: Option<usize>| i.and_then(|i| cell.1[i]);
    let over_sla = || {
        if settings.derives_over_sla() {
            filtered(extras.over_sla)
        } else {
            stored("nOverSla")
        }
    };
    let short = || {
        if settings.short_abandon_ms.is_some() {
            filtered(extras.short)
        } else {
            stored("tShortAbandon")
        }
    };
    let count = |s: Option<Stats>| s.map_or(0, |s| s.count);
    match metric {
        "tWait" => {
            let mut all = None;
            for part in ["tAnswered", "tAbandon", "tFlowOut"] {
                if let Some(s) = stored(part) {
                    Stats::merge(&mut all, s);
                }
            }
            all.map(Summary::timer)
        }
        "nOverSla" => over_sla().map(Summary::counter),
        "tShortAbandon" => short().map(Summary::timer),
        "oServiceTarget" => settings.sl_goal.map(|goal| Summary {
            target: Some(goal),
            ..Summary::default()
        }),
        "oServiceLevel" => {
            let answered = count(stored("tAnswered"));
            let mut denominator = answered + count(stored("tAbandon"));
            if settings.sl_include_flow_outs {
                denominator += count(stored("tFlowOut"));
            }
            if settings.sl_exclude_short_abandons {
                denominator -= count(short());
            }
            (denominator > 0).then(|| {
                let numerator = answered - count(over_sla());
                Summary {
                    ratio: Some(numerator as f64 / denominator as f64),
                    numerator: Some(numerator),
                    denominator: Some(denominator),
                    target: settings.sl_goal,
                    ..Summary::default()
                }
            })
        }
        name if name.starts_with('n') => stored(name).map(Summary::counter),
        name => stored(name).map(Summary::timer),
    }
}

/// All buckets of a group merged: what topN / bottomN rank by.
fn total(cells: &BTreeMap<usize, Cell>) -> Cell {
    let mut names: HashMap<String, Stats> = HashMap::new();
    let mut filtered: Vec<Option<Stats>> = Vec::new();
    for (by_name, extra) in cells.values() {
        for (name, stats) in by_name {
            let mut slot = names.get(name).copied();
            Stats::merge(&mut slot, *stats);
            names.insert(name.clone(), slot.unwrap_or(*stats));
        }
        filtered.resize(extra.len(), None);
        for (into, add) in filtered.iter_mut().zip(extra) {
            if let Some(add) = add {
                Stats::merge(into, *add);
            }
        }
    }
    (names, filtered)
}

/// The response JSON of `query` from its aggregated `cells`.
pub(crate) fn render(
    query: &Query,
    extras: &Extras,
    settings: &Settings,
    cells: Cells,
) -> Result<String, ApiError> {
    let mut groups: Vec<(Key, BTreeMap<usize, Cell>)> = cells.groups.into_iter().collect();
    if let Some(ranking) = &query.ranking {
        let mut ranked: Vec<(Option<f64>, (Key, BTreeMap<usize, Cell>))> = groups
            .into_iter()
            .map(|g| {
                let value = summary(&ranking.metric, &total(&g.1), extras, settings)
                    .and_then(|s| s.rank_value(&ranking.function));
                (value, g)
            })
            .collect();
        // Groups without the sort metric come last either way; ties keep the key order.
        ranked.sort_by(|(a, ka), (b, kb)| {
            let order = match (a, b) {
                (Some(a), Some(b)) if ranking.descending => b.total_cmp(a),
                (Some(a), Some(b)) => a.total_cmp(b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            order.then_with(|| ka.0.cmp(&kb.0))
        });
        groups = ranked
            .into_iter()
            .take(ranking.limit)
            .map(|(_, g)| g)
            .collect();
    }
    let mut results = Vec::new();
    for (key, buckets) in &groups {
        let mut data = Vec::new();
        for (bucket, cell) in buckets {
            let metrics: Vec<MetricData> = query
                .metrics
                .iter()
                .filter_map(|m| {
                    summary(m, cell, extras, settings).map(|stats| MetricData { metric: m, stats })
                })
                .collect();
            let views: Vec<ViewData> = query
                .views
                .iter()
                .zip(&extras.views)
                .filter_map(|(view, i)| {
                    cell.1[*i].map(|s| ViewData {
                        name: &view.name,
                        stats: Summary::timer(s),
                    })
                })
                .collect();
            if metrics.is_empty() && views.is_empty() {
                continue;
            }
            data.push(Data {
                interval: format!(
                    "{}/{}",
                    format_utc(query.bounds[*bucket]),
                    format_utc(query.bounds[*bucket + 1])
                ),
                metrics,
                views,
            });
        }
        if data.is_empty() {
            continue;
        }
        let group = query
            .group_by
            .iter()
            .zip(key)
            .filter_map(|(dim, value)| value.clone().map(|v| (dim.name, v)))
            .collect();
        results.push(Container { group, data });
    }
    serde_json::to_string(&Response { results }).map_err(ApiError::internal)
}
