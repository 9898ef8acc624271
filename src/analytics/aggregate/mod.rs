//! Conversation aggregate queries answered from the lake.
//!
//! One SQL statement over `metrics` (joined to `sessions`, `participants`, `conversations` and
//! a per-session segment summary only when a dimension needs them) counts, sums, and takes the
//! minimum and maximum of the metric records per bucket of their `emit_date`, per group-by
//! key and per metric name, with filtered statistics beside them for views and thresholds.
//! Everything per metric record: a filter or a group removes or splits records, never whole
//! conversations. The few result rows are then shaped in Rust: multivalued keys exploded or
//! joined, records without a group-by value put in a group without that key, the derived
//! metrics (`tWait`, `oServiceLevel`, `oServiceTarget`, and `nOverSla` / `tShortAbandon` from
//! thresholds when asked) computed per bucket, empty metrics, buckets and groups left out,
//! and topN / bottomN applied.

pub mod dims;
pub mod request;
mod response;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

pub use request::{AggregateBody, Query};
pub use response::Stats;

use self::dims::{Kind, Source};
use super::buckets::format_utc;
pub(crate) use super::ints;
use super::{sql_string, Answer, ApiError};

/// The settings an aggregate is answered with: what exports do not say (service-level
/// targets, the short-abandon threshold) and the guard rails.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How long before the interval a conversation may have started and still emit metrics
    /// inside it (widens the scan; default 7 days, as the reports).
    pub lookback_ms: i64,
    /// Answered later than this is over the service level: `nOverSla` is derived from
    /// `tAnswered` instead of read from the export's records.
    pub sl_target_ms: Option<i64>,
    /// Per-queue targets over `sl_target_ms` (which defaults to 20 s when only these are given).
    pub sl_queue_targets_ms: BTreeMap<String, i64>,
    /// The service-level goal (`target` of `oServiceLevel`, and `oServiceTarget`), e.g. 0.8.
    pub sl_goal: Option<f64>,
    /// Count flow-outs in the service level's denominator.
    pub sl_include_flow_outs: bool,
    /// Leave short abandons out of the service level's denominator.
    pub sl_exclude_short_abandons: bool,
    /// Abandons shorter than this are short abandons (`tShortAbandon` derived from
    /// `tAbandon` instead of read from the export's records).
    pub short_abandon_ms: Option<i64>,
    /// Most buckets one query may ask for (413 above).
    pub max_buckets: usize,
    /// Most (bucket, group) cells one answer may hold (413 above).
    pub max_cells: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lookback_ms: 7 * 86_400_000,
            sl_target_ms: None,
            sl_queue_targets_ms: BTreeMap::new(),
            sl_goal: None,
            sl_include_flow_outs: false,
            sl_exclude_short_abandons: false,
            short_abandon_ms: None,
            max_buckets: 10_000,
            max_cells: 100_000,
        }
    }
}

impl Settings {
    /// Whether `nOverSla` is derived from a target rather than read from the records.
    fn derives_over_sla(&self) -> bool {
        self.sl_target_ms.is_some() || !self.sl_queue_targets_ms.is_empty()
    }
}

/// Statistics computed over a subset of the records of some metrics (views, thresholds).
#[derive(Debug, Clone)]
struct Filtered {
    condition: String,
}

/// What the SQL statement computes beyond plain per-name statistics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extras {
    filtered: Vec<Filtered>,
    /// Index of the over-target `tAnswered` statistics.
    pub(crate) over_sla: Option<usize>,
    /// Index of the short `tAbandon` statistics.
    pub(crate) short: Option<usize>,
    /// Index of each view's statistics, in view order.
    pub(crate) views: Vec<usize>,
}

impl Extras {
    fn add(&mut self, condition: String) -> usize {
        self.filtered.push(Filtered { condition });
        self.filtered.len() - 1
    }
}

/// The stored metric names an answer needs for `metric`.
fn components(metric: &str, settings: &Settings) -> Vec<&'static str> {
    let over = if settings.derives_over_sla() {
        "tAnswered"
    } else {
        "nOverSla"
    };
    let short = if settings.short_abandon_ms.is_some() {
        "tAbandon"
    } else {
        "tShortAbandon"
    };
    match metric {
        "tWait" => vec!["tAnswered", "tAbandon", "tFlowOut"],
        "nOverSla" => vec![over],
        "tShortAbandon" => vec![short],
        "oServiceTarget" => vec![],
        "oServiceLevel" => {
            let mut names = vec!["tAnswered", over, "tAbandon"];
            if settings.sl_include_flow_outs {
                names.push("tFlowOut");
            }
            if settings.sl_exclude_short_abandons {
                names.push(short);
            }
            names
        }
        _ => vec![],
    }
}

fn date_literal(ms: i64) -> String {
    let day = ms.div_euclid(86_400_000);
    let date = chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!("DATE '{date}'")
}

/// The SQL statement of `query`, and what its filtered columns mean.
pub(crate) fn statement(query: &Query, settings: &Settings, bucket: &str) -> (String, Extras) {
    let min_date = date_literal(query.interval.start - settings.lookback_ms);
    let max_date = date_literal(query.interval.end);
    let mut names: Vec<String> = Vec::new();
    let mut want = |n: &str| {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    };
    for metric in &query.metrics {
        let parts = components(metric, settings);
        if parts.is_empty() && !["oServiceTarget"].contains(&metric.as_str()) {
            want(metric);
        }
        parts.iter().for_each(|p| want(p));
    }
    let mut extras = Extras::default();
    if settings.derives_over_sla() {
        let global = settings.sl_target_ms.unwrap_or(20_000);
        let target = if settings.sl_queue_targets_ms.is_empty() {
            global.to_string()
        } else {
            let arms: String = settings
                .sl_queue_targets_ms
                .iter()
                .map(|(q, ms)| format!(" WHEN {} THEN {ms}", sql_string(q)))
                .collect();
            format!("(CASE m.queue_id{arms} ELSE {global} END)")
        };
        extras.over_sla = Some(extras.add(format!("m.name = 'tAnswered' AND m.value > {target}")));
    }
    if let Some(ms) = settings.short_abandon_ms {
        extras.short = Some(extras.add(format!("m.name = 'tAbandon' AND m.value < {ms}")));
    }
    for view in &query.views {
        let targets: Vec<String> = match components(&view.target, settings).as_slice() {
            [] => vec![view.target.clone()],
            parts => parts.iter().map(|p| p.to_string()).collect(),
        };
        targets.iter().for_each(|t| want(t));
        let mut condition = format!(
            "m.name IN ({})",
            targets
                .iter()
                .map(|t| sql_string(t))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(gte) = view.gte {
            condition.push_str(&format!(" AND m.value >= {gte}"));
        }
        if let Some(lt) = view.lt {
            condition.push_str(&format!(" AND m.value < {lt}"));
        }
        let index = extras.add(condition);
        extras.views.push(index);
    }
    let mut select = vec![format!("{bucket} AS b")];
    for (i, dim) in query.group_by.iter().enumerate() {
        let expr = match dim.kind {
            Kind::List => format!("CAST({} AS VARCHAR[])", dim.expr()),
            _ => dim.expr(),
        };
        select.push(format!("{expr} AS k{i}"));
    }
    select.push("m.name AS name".into());
    select.push("count(*) AS n, sum(m.value) AS s, min(m.value) AS lo, max(m.value) AS hi".into());
    for (i, f) in extras.filtered.iter().enumerate() {
        let c = &f.condition;
        select.push(format!(
            "count(*) FILTER (WHERE {c}) AS f{i}n, sum(m.value) FILTER (WHERE {c}) AS f{i}s, \
             min(m.value) FILTER (WHERE {c}) AS f{i}lo, max(m.value) FILTER (WHERE {c}) AS f{i}hi"
        ));
    }
    let mut sources: Vec<Source> = query
        .group_by
        .iter()
        .chain(&query.filter_dims)
        .map(|d| d.source)
        .filter(|s| *s != Source::Metric)
        .collect();
    sources.sort();
    sources.dedup();
    let dates =
        |alias: &str| format!("{alias}.conversation_date BETWEEN {min_date} AND {max_date}");
    let mut from = "metrics m".to_string();
    for source in sources {
        let join = match source {
            Source::Session => format!(
                "sessions s ON s.conversation_id = m.conversation_id AND s.session_id = m.session_id AND {}",
                dates("s")
            ),
            Source::Participant => format!(
                "participants p ON p.conversation_id = m.conversation_id AND p.participant_id = m.participant_id AND {}",
                dates("p")
            ),
            Source::Conversation => format!(
                "conversations c ON c.conversation_id = m.conversation_id AND {}",
                dates("c")
            ),
            Source::Segment => format!(
                "{} g ON g.conversation_id = m.conversation_id AND g.session_id = m.session_id",
                dims::segment_summary(&min_date, &max_date)
            ),
            Source::Metric => continue,
        };
        from.push_str(&format!(" LEFT JOIN {join}"));
    }
    let mut filter = vec![
        dates("m"),
        format!(
            "m.emit_date >= {}",
            sql_string(&format_utc(query.interval.start))
        ),
        format!(
            "m.emit_date < {}",
            sql_string(&format_utc(query.interval.end))
        ),
    ];
    if names.is_empty() {
        filter.push("FALSE".into());
    } else {
        filter.push(format!(
            "m.name IN ({})",
            names
                .iter()
                .map(|n| sql_string(n))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(f) = &query.filter_sql {
        filter.push(f.clone());
    }
    let keys = query.group_by.len() + 2;
    let group: Vec<String> = (1..=keys).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {} FROM {from} WHERE {} GROUP BY {}",
        select.join(", "),
        filter.join(" AND "),
        group.join(", ")
    );
    (sql, extras)
}

/// The bucket function of `bounds` (UTC ms: bucket starts, then the end): the index of the
/// bucket holding a timestamp, NULL outside.
fn bucket_udf(name: &str, bounds: &[i64]) -> datafusion::logical_expr::ScalarUDF {
    datafusion::logical_expr::ScalarUDF::new_from_impl(BucketFn::new(name, bounds))
}

/// Whether `ctx` runs its statements across workers, which find functions by name: the
/// per-query bucket function is then spelled out in SQL ([`bucket_sql`]).
fn distributed(ctx: &SessionContext) -> bool {
    #[cfg(feature = "distributed")]
    {
        let _ = ctx;
        crate::distributed::cluster().is_some()
    }
    #[cfg(not(feature = "distributed"))]
    {
        let _ = ctx;
        false
    }
}

/// What [`bucket_udf`] computes, as a SQL expression of the timestamp column `column`:
/// arithmetic when every bucket is as long (minutes, hours, days without a DST change), else
/// a `CASE` over the bounds.
fn bucket_sql(bounds: &[i64], column: &str) -> String {
    let micros: Vec<i64> = bounds.iter().map(|ms| ms * 1000).collect();
    let t = format!("CAST({column} AS BIGINT)");
    let (first, end) = (micros[0], micros[micros.len() - 1]);
    let widths: Vec<i64> = micros.windows(2).map(|w| w[1] - w[0]).collect();
    if widths.iter().all(|w| *w == widths[0] && *w > 0) {
        let width = widths[0];
        return format!(
            "CASE WHEN {t} >= {first} AND {t} < {end} THEN CAST(({t} - {first}) / {width} AS INT) END"
        );
    }
    let branches: String = micros[1..]
        .iter()
        .enumerate()
        .map(|(i, bound)| format!(" WHEN {t} < {bound} THEN {i}"))
        .collect();
    format!("CASE WHEN {t} < {first} THEN NULL{branches} END")
}

/// The per-query bucket function (see [`bucket_udf`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct BucketFn {
    name: String,
    /// Bucket starts then the end, UTC microseconds (the unit of the timestamps it gets).
    micros: Vec<i64>,
    signature: Signature,
}

impl BucketFn {
    /// The function `name` over `bounds` (UTC ms: bucket starts, then the end).
    fn new(name: &str, bounds: &[i64]) -> Self {
        BucketFn {
            name: name.to_string(),
            micros: bounds.iter().map(|ms| ms * 1000).collect(),
            signature: Signature::exact(
                vec![DataType::Timestamp(
                    TimeUnit::Microsecond,
                    Some("UTC".into()),
                )],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for BucketFn {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let ts = arrays[0].as_primitive::<TimestampMicrosecondType>();
        let last = self.micros.len() - 1;
        let out: Int32Array = ts
            .iter()
            .map(|t| {
                let t = t?;
                let i = self.micros.partition_point(|b| *b <= t);
                (i >= 1 && i <= last).then(|| (i - 1) as i32)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Answers `body` over the session `ctx` (a lake session, see [`crate::catalog`]). The
/// session gets a per-query bucket function registered; give each query its own session
/// state when queries run at once (the server does).
pub async fn answer(
    ctx: &SessionContext,
    body: &AggregateBody,
    settings: &Settings,
) -> Result<Answer, ApiError> {
    answer_query(ctx, &body.validate(settings.max_buckets)?, settings).await
}

/// Answers an already validated `query` (see [`AggregateBody::validate`]).
pub async fn answer_query(
    ctx: &SessionContext,
    query: &Query,
    settings: &Settings,
) -> Result<Answer, ApiError> {
    let bucket_fn = "convlake_aggregate_bucket";
    let bucket = if distributed(ctx) {
        bucket_sql(&query.bounds, "m.emit_date")
    } else {
        ctx.register_udf(bucket_udf(bucket_fn, &query.bounds));
        format!("{bucket_fn}(m.emit_date)")
    };
    let (sql, extras) = statement(query, settings, &bucket);
    let df = ctx
        .sql_with_options(&sql, crate::query::read_only())
        .await
        .map_err(ApiError::engine)?;
    let mut stream = df.execute_stream().await.map_err(ApiError::engine)?;
    let mut cells = response::Cells::new(query, &extras, settings.max_cells);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(ApiError::engine)?;
        cells.add(&batch)?;
        if cells.len() > settings.max_cells {
            return Err(too_many_cells(settings.max_cells));
        }
    }
    let mut notices = coverage(ctx, query, settings).await;
    if query.metrics.iter().any(|m| m == "oServiceTarget") && settings.sl_goal.is_none() {
        notices.push("oServiceTarget needs the queues' service-level goal, which exports do not hold: pass --sl-goal (e.g. 0.8)".into());
    }
    let body = response::render(query, &extras, settings, cells)?;
    Ok(Answer { body, notices })
}

pub(crate) fn too_many_cells(max: usize) -> ApiError {
    ApiError::new(
        413,
        "too.many.results",
        format!("the answer holds more than {max} buckets × groups: use a coarser granularity, fewer groupBy dimensions or a filter"),
    )
}

/// Notes on how far the lake covers the interval: conversations are stored by their start,
/// so a metric emitted in the interval may belong to a conversation that started before the
/// lake's first day.
async fn coverage(ctx: &SessionContext, query: &Query, settings: &Settings) -> Vec<String> {
    let first = async {
        let batches = ctx
            .sql_with_options(
                "SELECT min(conversation_start) AS first, max(conversation_start) AS last FROM conversations",
                crate::query::read_only(),
            )
            .await?
            .collect()
            .await?;
        let column = |i: usize| -> Option<i64> {
            let batch = batches.first()?;
            let array = arrow::compute::cast(batch.column(i), &DataType::Int64).ok()?;
            let values = array.as_primitive::<arrow::datatypes::Int64Type>();
            (!values.is_null(0)).then(|| values.value(0) / 1000)
        };
        Ok::<_, datafusion::error::DataFusionError>((column(0), column(1)))
    };
    let mut notes = Vec::new();
    match first.await {
        Ok((Some(first), Some(_))) => {
            let first_day = first.div_euclid(86_400_000) * 86_400_000;
            if query.interval.start - settings.lookback_ms < first_day {
                notes.push(format!(
                    "the lake's first conversation started {}: metrics emitted in the interval by conversations that started earlier are not counted (the interval starts {}, the lookback reaches {})",
                    format_utc(first),
                    format_utc(query.interval.start),
                    format_utc(query.interval.start - settings.lookback_ms)
                ));
            }
        }
        Ok(_) => notes.push("the lake holds no conversations".into()),
        Err(e) => notes.push(format!("the lake's coverage could not be read: {e}")),
    }
    notes
}

/// Per-name statistics of one (group, bucket).
pub(crate) type Cell = (HashMap<String, Stats>, Vec<Option<Stats>>);
