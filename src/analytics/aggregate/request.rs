//! The conversation aggregate query body (`ConversationAggregationQuery`) as the Genesys SDKs
//! send it, and its validation into a [`Query`]: every name checked against the Genesys enums,
//! every filter compiled to a SQL predicate over one metric record.

use std::collections::HashSet;

use chrono_tz::Tz;
use serde::Deserialize;

use super::dims::{self, Dimension, Kind};
use crate::analytics::buckets::{Granularity, Interval};
use crate::analytics::{buckets, sql_string, suggest, vocab, ApiError};

/// A conversation aggregate query body. Unknown fields are refused (a misspelt field would
/// otherwise be ignored and the answer silently differ).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AggregateBody {
    /// `start/end`, ISO-8601, each with its own offset (required).
    pub interval: Option<String>,
    /// Bucket size (ISO-8601 duration); the whole interval when absent.
    pub granularity: Option<String>,
    /// IANA time zone that day, week and month buckets step in; UTC when absent.
    pub time_zone: Option<String>,
    /// Dimensions to group by.
    pub group_by: Option<Vec<String>>,
    /// Which metric records count.
    pub filter: Option<Filter>,
    /// The metrics to answer (required).
    pub metrics: Option<Vec<String>>,
    /// Join multivalued dimension values with `,` instead of counting in each value's group.
    pub flatten_multivalued_dimensions: Option<bool>,
    /// Range-bound views of metrics.
    pub views: Option<Vec<View>>,
    /// Only `eventTime`, which is what convlake buckets by anyway (the metric's emit date).
    pub alternate_time_dimension: Option<String>,
    /// `groupBy` (default), `topN` or `bottomN`.
    pub query_type: Option<String>,
    /// The metric topN/bottomN order by.
    pub sort_metric: Option<SortMetric>,
    /// How many groups topN/bottomN keep.
    pub limit: Option<i64>,
    /// The async job body's page size (accepted, not used: the answer is one page).
    pub page_size: Option<i64>,
}

/// `ConversationAggregateQueryFilter`: predicates and clauses combined with `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// `and` or `or`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Nested clauses (one level).
    pub clauses: Option<Vec<Clause>>,
    /// Predicates.
    pub predicates: Option<Vec<Predicate>>,
}

/// `ConversationAggregateQueryClause`: predicates combined with `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// `and` or `or`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Predicates.
    pub predicates: Option<Vec<Predicate>>,
}

/// `ConversationAggregateQueryPredicate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// Absent or `dimension`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The dimension tested.
    pub dimension: Option<String>,
    /// `matches` (default), `exists` or `notExists`.
    pub operator: Option<String>,
    /// The value `matches` compares with.
    pub value: Option<String>,
    /// A numeric range (numeric dimensions).
    pub range: Option<NumericRange>,
}

/// `NumericRange`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumericRange {
    /// Greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
}

/// `ConversationAggregationView`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// The metric the view narrows.
    pub target: String,
    /// The view's name in the response.
    pub name: String,
    /// Only `rangeBound`.
    pub function: String,
    /// `[gte, lt)` of the metric's values.
    pub range: Option<AggregationRange>,
}

/// `AggregationRange`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationRange {
    /// Lower bound, inclusive.
    pub gte: Option<f64>,
    /// Upper bound, exclusive.
    pub lt: Option<f64>,
}

/// `ConversationAggregationSort`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortMetric {
    /// The metric.
    pub name: String,
    /// `average`, `count`, `max`, `min` or `sum` (default `sum`).
    pub function: Option<String>,
}

/// How topN / bottomN rank groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Largest first (topN) or smallest first (bottomN).
    pub descending: bool,
    /// The metric ranked by.
    pub metric: String,
    /// The statistic of it over the whole interval.
    pub function: String,
    /// Groups kept.
    pub limit: usize,
}

/// A view, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedView {
    /// The metric.
    pub target: String,
    /// Its name in the response.
    pub name: String,
    /// Lower bound, inclusive.
    pub gte: Option<f64>,
    /// Upper bound, exclusive.
    pub lt: Option<f64>,
}

/// A validated aggregate query.
#[derive(Debug, Clone)]
pub struct Query {
    /// The interval.
    pub interval: Interval,
    /// Bucket starts followed by the interval's end (UTC ms).
    pub bounds: Vec<i64>,
    /// Group-by dimensions, in request order.
    pub group_by: Vec<&'static Dimension>,
    /// The filter as a SQL predicate over one metric record, if any.
    pub filter_sql: Option<String>,
    /// Dimensions the filter reads (for joins).
    pub filter_dims: Vec<&'static Dimension>,
    /// Requested metrics, in request order, without repeats.
    pub metrics: Vec<String>,
    /// Join multivalued dimensions with `,`.
    pub flatten: bool,
    /// Views.
    pub views: Vec<CheckedView>,
    /// topN / bottomN.
    pub ranking: Option<Ranking>,
}

/// Most predicates a filter may hold.
const MAX_PREDICATES: usize = 200;

/// Most views a query may hold: each adds four statistics to the one SQL statement, whose
/// planning is not interruptible, so the count is bounded before anything is planned.
const MAX_VIEWS: usize = 50;

/// Metrics that the notification stream of raw metric records does not carry and convlake
/// cannot derive from an export (callback service levels need callback SL settings).
const UNSUPPORTED_METRICS: &[&str] = &["oCallbackServiceLevel"];

impl AggregateBody {
    /// Checks the body and turns it into a [`Query`]; a 400 (or a 413 for too many buckets)
    /// names what is wrong.
    pub fn validate(&self, max_buckets: usize) -> Result<Query, ApiError> {
        let interval = Interval::parse(self.interval.as_deref().ok_or_else(|| {
            ApiError::bad_request(
                "missing.interval",
                "the query has no interval: add \"interval\": \"START/END\" (ISO-8601)",
            )
        })?)?;
        let granularity = self
            .granularity
            .as_deref()
            .map(Granularity::parse)
            .transpose()?;
        let tz: Tz = buckets::parse_zone(self.time_zone.as_deref())?;
        let bounds = buckets::boundaries(interval, granularity, tz, max_buckets)?;
        let metrics = check_metrics(self.metrics.as_deref().unwrap_or_default())?;
        let mut group_by = Vec::new();
        for name in self.group_by.iter().flatten() {
            let dim = dims::lookup(name, false)?;
            if group_by.contains(&dim) {
                return Err(ApiError::bad_request(
                    "invalid.group.by",
                    format!("groupBy names {name:?} twice"),
                ));
            }
            group_by.push(dim);
        }
        let mut filter_dims = Vec::new();
        let filter_sql = self
            .filter
            .as_ref()
            .map(|f| compile_filter(f, &mut filter_dims))
            .transpose()?;
        if let Some(t) = self
            .alternate_time_dimension
            .as_deref()
            .filter(|t| *t != "eventTime")
        {
            return Err(ApiError::bad_request(
                "invalid.value",
                format!("alternateTimeDimension {t:?} is not one of [\"eventTime\"]"),
            ));
        }
        let views = self.check_views()?;
        let ranking = self.check_ranking(&metrics)?;
        Ok(Query {
            interval,
            bounds,
            group_by,
            filter_sql,
            filter_dims,
            metrics,
            flatten: self.flatten_multivalued_dimensions.unwrap_or(false),
            views,
            ranking,
        })
    }

    fn check_views(&self) -> Result<Vec<CheckedView>, ApiError> {
        let mut names = HashSet::new();
        let mut views = Vec::new();
        let count = self.views.as_ref().map_or(0, Vec::len);
        if count > MAX_VIEWS {
            return Err(ApiError::bad_request(
                "invalid.view",
                format!("the query has {count} views; at most {MAX_VIEWS} are answered"),
            ));
        }
        for view in self.views.iter().flatten() {
            check_metric_name(&view.target)?;
            if view.function != "rangeBound" {
                return Err(ApiError::bad_request(
                    "invalid.view",
                    format!(
                        "view {:?}: function {:?} is not one of [\"rangeBound\"]",
                        view.name, view.function
                    ),
                ));
            }
            if vocab::AGGREGATE_METRICS.contains(&view.name.as_str())
                || !names.insert(view.name.clone())
            {
                return Err(ApiError::bad_request("invalid.view", format!("view name {:?} is a metric name or used twice: give each view its own name", view.name)));
            }
            if !view.target.starts_with('t') {
                return Err(ApiError::bad_request(
                    "invalid.view",
                    format!(
                        "view {:?}: rangeBound views narrow timer metrics (t…), not {:?}",
                        view.name, view.target
                    ),
                ));
            }
            let range = view.range.unwrap_or_default();
            views.push(CheckedView {
                target: view.target.clone(),
                name: view.name.clone(),
                gte: range.gte,
                lt: range.lt,
            });
        }
        Ok(views)
    }

    fn check_ranking(&self, metrics: &[String]) -> Result<Option<Ranking>, ApiError> {
        let descending = match self.query_type.as_deref().unwrap_or("groupBy") {
            "groupBy" => return Ok(None),
            "topN" => true,
            "bottomN" => false,
            other => {
                return Err(ApiError::bad_request(
                    "invalid.value",
                    format!(
                        "queryType {other:?} is not one of [\"groupBy\", \"topN\", \"bottomN\"]"
                    ),
                ))
            }
        };
        let (metric, function) = match (&self.sort_metric, metrics) {
            (Some(sort), _) => (sort.name.clone(), sort.function.clone().unwrap_or_else(|| "sum".into())),
            (None, [only]) => (only.clone(), "sum".to_string()),
            (None, _) => return Err(ApiError::bad_request("missing.sort.metric", "a topN or bottomN query over several metrics needs a sortMetric {\"name\": …, \"function\": …}")),
        };
        if !vocab::SORT_METRICS.contains(&metric.as_str()) {
            return Err(ApiError::bad_request(
                "invalid.sort.metric",
                format!(
                    "{metric:?} cannot be a sort metric{}",
                    suggest(&metric, vocab::SORT_METRICS)
                ),
            ));
        }
        if !["average", "count", "max", "min", "sum"].contains(&function.as_str()) {
            return Err(ApiError::bad_request(
                "invalid.sort.metric",
                format!(
                    "sortMetric function {function:?} is not one of average, count, max, min, sum"
                ),
            ));
        }
        let limit = match self.limit {
            None => 10,
            Some(n) if n >= 1 => n as usize,
            Some(n) => {
                return Err(ApiError::bad_request(
                    "invalid.value",
                    format!("limit {n} must be at least 1"),
                ))
            }
        };
        Ok(Some(Ranking {
            descending,
            metric,
            function,
            limit,
        }))
    }
}

fn check_metric_name(name: &str) -> Result<(), ApiError> {
    if !vocab::AGGREGATE_METRICS.contains(&name) {
        return Err(ApiError::bad_request(
            "invalid.metric",
            format!(
                "{name:?} is not a conversation aggregate metric{}",
                suggest(name, vocab::AGGREGATE_METRICS)
            ),
        ));
    }
    if UNSUPPORTED_METRICS.contains(&name) {
        return Err(ApiError::bad_request("metric.not.supported", format!("{name:?} depends on callback service-level settings that exports do not hold; leave it out of the query")));
    }
    Ok(())
}

fn check_metrics(names: &[String]) -> Result<Vec<String>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "missing.metrics",
            "the query names no metrics: add \"metrics\": [\"nOffered\", …]",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for name in names {
        check_metric_name(name)?;
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// The SQL junction of a filter or clause `type`.
pub(crate) fn junction(kind: &str) -> Result<&'static str, ApiError> {
    match kind {
        "and" => Ok(" AND "),
        "or" => Ok(" OR "),
        other => Err(ApiError::bad_request(
            "invalid.filter",
            format!("filter type {other:?} is not one of [\"and\", \"or\"]"),
        )),
    }
}

fn compile_filter(filter: &Filter, used: &mut Vec<&'static Dimension>) -> Result<String, ApiError> {
    let join = junction(&filter.kind)?;
    // Counted before anything is compiled, so an oversized filter costs no more than this.
    let count = filter.predicates.as_ref().map_or(0, Vec::len)
        + filter
            .clauses
            .iter()
            .flatten()
            .map(|c| c.predicates.as_ref().map_or(1, |p| p.len().max(1)))
            .sum::<usize>();
    if count > MAX_PREDICATES {
        return Err(ApiError::bad_request(
            "invalid.filter",
            format!("the filter has {count} predicates; at most {MAX_PREDICATES} are answered"),
        ));
    }
    let mut parts = Vec::new();
    for p in filter.predicates.iter().flatten() {
        parts.push(compile_predicate(p, used)?);
    }
    for clause in filter.clauses.iter().flatten() {
        let inner = junction(&clause.kind)?;
        let mut terms = Vec::new();
        for p in clause.predicates.iter().flatten() {
            terms.push(compile_predicate(p, used)?);
        }
        if terms.is_empty() {
            return Err(ApiError::bad_request(
                "invalid.filter",
                "a filter clause has no predicates",
            ));
        }
        parts.push(format!("({})", terms.join(inner)));
    }
    if parts.is_empty() {
        return Err(ApiError::bad_request(
            "invalid.filter",
            "the filter has no predicates and no clauses",
        ));
    }
    Ok(format!("({})", parts.join(join)))
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NULL".into()
    }
}

fn compile_predicate(
    p: &Predicate,
    used: &mut Vec<&'static Dimension>,
) -> Result<String, ApiError> {
    if let Some(kind) = p.kind.as_deref().filter(|k| *k != "dimension") {
        return Err(ApiError::bad_request("invalid.predicate", format!("predicate type {kind:?}: conversation aggregate filters test dimensions only (type \"dimension\" or no type)")));
    }
    let name = p.dimension.as_deref().ok_or_else(|| {
        ApiError::bad_request("invalid.predicate", "a predicate has no dimension")
    })?;
    let dim = dims::lookup(name, true)?;
    if !used.contains(&dim) {
        used.push(dim);
    }
    let col = dim.expr();
    let exists = match dim.kind {
        Kind::List => format!("coalesce(cardinality({col}), 0) > 0"),
        _ => format!("{col} IS NOT NULL"),
    };
    match p.operator.as_deref().unwrap_or("matches") {
        "exists" => Ok(exists),
        "notExists" => Ok(format!("NOT ({exists})")),
        "matches" => {
            if let Some(range) = p.range {
                if dim.kind != Kind::Number {
                    return Err(ApiError::bad_request("invalid.predicate", format!("{name:?} is not numeric: a range applies to numeric dimensions such as mediaCount or routingRing")));
                }
                let mut terms = vec![exists];
                for (op, v) in [
                    (">", range.gt),
                    (">=", range.gte),
                    ("<", range.lt),
                    ("<=", range.lte),
                ] {
                    if let Some(v) = v {
                        terms.push(format!("{col} {op} {}", number(v)));
                    }
                }
                return Ok(format!("({})", terms.join(" AND ")));
            }
            let value = p.value.as_deref().ok_or_else(|| {
                ApiError::bad_request(
                    "invalid.predicate",
                    format!("the predicate on {name:?} has neither a value nor a range"),
                )
            })?;
            Ok(match dim.kind {
                Kind::Text => format!("{col} = {}", sql_string(value)),
                Kind::Flag => match value {
                    "true" | "false" => format!("{col} = {value}"),
                    _ => "FALSE".into(),
                },
                Kind::Number => match value.parse::<i64>() {
                    Ok(n) => format!("{col} = {n}"),
                    Err(_) => "FALSE".into(),
                },
                Kind::List => format!("array_has(CAST({col} AS VARCHAR[]), {})", sql_string(value)),
            })
        }
        other => Err(ApiError::bad_request(
            "invalid.predicate",
            format!("operator {other:?} is not one of [\"matches\", \"exists\", \"notExists\"]"),
        )),
    }
}
