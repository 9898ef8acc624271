//! Batch reports: discovering the report files of `sql/reports/`, checking and binding their
//! parameters, running them and writing their outputs atomically.
//!
//! Each report is one SQL file whose opening comment states what it measures, its grain, its
//! parameters and the definition it follows. Parameters are bound as values to `$name`
//! placeholders, never spliced into the text, and are all checked before any query runs: an
//! interval that ends before it starts, an unknown time zone, a granularity that is not an
//! ISO-8601 duration or a report name that does not exist is an error up front.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono_tz::Tz;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::functions::{parse_duration, parse_interval};
use crate::query::{closest, plan};

/// A report: its name, what its header says, and its SQL.
#[derive(Debug, Clone)]
pub struct Report {
    /// The file name without `.sql`.
    pub name: String,
    /// The opening comment, without the `-- ` markers.
    pub header: String,
    /// The query.
    pub sql: String,
}

impl Report {
    /// The `measures:` line of the header (its first sentence), for listings.
    pub fn summary(&self) -> String {
        let mut lines = self
            .header
            .lines()
            .skip_while(|l| !l.starts_with("measures:"));
        let mut text = lines
            .next()
            .unwrap_or("")
            .trim_start_matches("measures:")
            .trim()
            .to_string();
        for line in lines.take_while(|l| l.starts_with("  ")) {
            text.push(' ');
            text.push_str(line.trim());
        }
        text
    }
}

/// The reports shipped with convlake, built in so the binary works anywhere.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "queue_performance",
        include_str!("../sql/reports/queue_performance.sql"),
    ),
    (
        "agent_performance",
        include_str!("../sql/reports/agent_performance.sql"),
    ),
    (
        "handle_time",
        include_str!("../sql/reports/handle_time.sql"),
    ),
    (
        "wrap_up_codes",
        include_str!("../sql/reports/wrap_up_codes.sql"),
    ),
    ("ivr_flows", include_str!("../sql/reports/ivr_flows.sql")),
    ("transfers", include_str!("../sql/reports/transfers.sql")),
    ("abandons", include_str!("../sql/reports/abandons.sql")),
    (
        "voice_quality",
        include_str!("../sql/reports/voice_quality.sql"),
    ),
    (
        "surveys_evaluations",
        include_str!("../sql/reports/surveys_evaluations.sql"),
    ),
    (
        "daily_volume",
        include_str!("../sql/reports/daily_volume.sql"),
    ),
];

fn parse_report(name: &str, text: &str) -> Report {
    let header = text
        .lines()
        .take_while(|l| l.starts_with("--"))
        .map(|l| {
            l.trim_start_matches("--")
                .strip_prefix(' ')
                .unwrap_or(l.trim_start_matches("--"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    Report {
        name: name.to_string(),
        header,
        sql: text.to_string(),
    }
}

/// The built-in reports, or those of `dir` (every `*.sql`, by name) when given.
pub fn discover(dir: Option<&Path>) -> Result<Vec<Report>> {
    let Some(dir) = dir else {
        return Ok(BUILT_IN.iter().map(|(n, t)| parse_report(n, t)).collect());
    };
    let mut reports = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        reports.push(parse_report(&name, &text));
    }
    Ok(reports)
}

/// Picks reports by name; an unknown name is an error that suggests the closest one.
pub fn select(all: &[Report], names: &[String]) -> Result<Vec<Report>> {
    let known: Vec<String> = all.iter().map(|r| r.name.clone()).collect();
    names
        .iter()
        .map(|n| {
            all.iter().find(|r| &r.name == n).cloned().ok_or_else(|| {
                let hint = closest(n, &known)
                    .map(|c| format!(" (did you mean {c:?}?)"))
                    .unwrap_or_default();
                Error::Usage(format!(
                    "no report named {n:?}{hint}; `convlake report list` shows them all"
                ))
            })
        })
        .collect()
}

/// The parameters of a report run, as given (strings) and checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// The ISO-8601 interval `start/end`.
    pub interval: String,
    /// IANA time zone for bucketing.
    #[serde(default = "default_tz")]
    pub tz: String,
    /// ISO-8601 duration of the buckets (`PT15M`, `PT30M`, `PT1H`, `P1D`, `P1W`, `P1M`).
    #[serde(default = "default_granularity")]
    pub granularity: String,
    /// Only these queues (ids); empty for all.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Only these media types; empty for all.
    #[serde(default)]
    pub media_types: Vec<String>,
    /// Only these agents (user ids); empty for all.
    #[serde(default)]
    pub users: Vec<String>,
    /// Service level target: answered within this many seconds.
    #[serde(default = "default_sl_target")]
    pub service_level_seconds: u32,
    /// The share of contacts that should meet the service level target, in % (the line a
    /// report's charts draw the service level against: 80 for "80/20").
    #[serde(default = "default_sl_goal")]
    pub service_level_goal_pct: f64,
    /// Per-queue service level targets in seconds (queue id → seconds), over the global one.
    #[serde(default)]
    pub service_level_queue_seconds: std::collections::BTreeMap<String, u32>,
    /// Count flow-outs in the service level's denominator.
    #[serde(default)]
    pub service_level_include_flow_outs: bool,
    /// Leave short abandons out of the service level's denominator.
    #[serde(default = "default_true")]
    pub service_level_exclude_short_abandons: bool,
    /// How many days before the interval a conversation may have started and still emit
    /// metrics inside it (bounds the partitions read).
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
}

fn default_tz() -> String {
    "UTC".into()
}
fn default_granularity() -> String {
    "PT30M".into()
}
fn default_sl_target() -> u32 {
    20
}
fn default_sl_goal() -> f64 {
    80.0
}
fn default_true() -> bool {
    true
}
fn default_lookback() -> u32 {
    7
}

impl ReportParams {
    /// Parameters for `interval` with every other setting at its default.
    pub fn for_interval(interval: &str) -> Self {
        ReportParams {
            interval: interval.to_string(),
            tz: default_tz(),
            granularity: default_granularity(),
            queues: Vec::new(),
            media_types: Vec::new(),
            users: Vec::new(),
            service_level_seconds: default_sl_target(),
            service_level_goal_pct: default_sl_goal(),
            service_level_queue_seconds: Default::default(),
            service_level_include_flow_outs: false,
            service_level_exclude_short_abandons: true,
            lookback_days: default_lookback(),
        }
    }

    /// Checks every parameter and turns them into the values bound to `$name` placeholders.
    pub fn bind(&self) -> Result<Vec<(String, ScalarValue)>> {
        let (start, end) = parse_interval(&self.interval).ok_or_else(|| {
            Error::Usage(format!(
                "--interval {:?} is not an ISO-8601 interval such as 2026-11-01T00:00:00Z/2026-11-08T00:00:00Z",
                self.interval
            ))
        })?;
        if end <= start {
            return Err(Error::Usage(format!(
                "--interval {:?} ends before it starts",
                self.interval
            )));
        }
        self.tz.parse::<Tz>().map_err(|_| {
            Error::Usage(format!(
                "--tz {:?} is not an IANA time zone such as Europe/Berlin or America/New_York",
                self.tz
            ))
        })?;
        parse_duration(&self.granularity).ok_or_else(|| {
            Error::Usage(format!(
                "--granularity {:?} is not an ISO-8601 duration such as PT15M, PT1H or P1D",
                self.granularity
            ))
        })?;
        let ts = |ms: i64| ScalarValue::TimestampMicrosecond(Some(ms * 1000), Some("UTC".into()));
        let day = |ms: i64| ScalarValue::Date32(Some(ms.div_euclid(86_400_000) as i32));
        let list = |v: &[String]| ScalarValue::Utf8(Some(v.join(",")));
        Ok(vec![
            ("interval_start".into(), ts(start)),
            ("interval_end".into(), ts(end)),
            (
                "min_date".into(),
                day(start - i64::from(self.lookback_days) * 86_400_000),
            ),
            ("max_date".into(), day(end)),
            ("tz".into(), ScalarValue::Utf8(Some(self.tz.clone()))),
            (
                "granularity".into(),
                ScalarValue::Utf8(Some(self.granularity.clone())),
            ),
            ("queues".into(), list(&self.queues)),
            ("media_types".into(), list(&self.media_types)),
            ("users".into(), list(&self.users)),
            (
                "sl_target_ms".into(),
                ScalarValue::Int64(Some(i64::from(self.service_level_seconds) * 1000)),
            ),
            (
                "sl_queue_targets_ms".into(),
                ScalarValue::Utf8(Some(
                    self.service_level_queue_seconds
                        .iter()
                        .map(|(q, s)| format!("{q}={}", i64::from(*s) * 1000))
                        .collect::<Vec<_>>()
                        .join(","),
                )),
            ),
            (
                "sl_include_flow_outs".into(),
                ScalarValue::Boolean(Some(self.service_level_include_flow_outs)),
            ),
            (
                "sl_exclude_short_abandons".into(),
                ScalarValue::Boolean(Some(self.service_level_exclude_short_abandons)),
            ),
        ])
    }
}

/// The outcome of one report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ReportOutcome {
    /// The report.
    pub report: String,
    /// Rows produced.
    pub rows: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The file written, if any.
    pub output: Option<PathBuf>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Runs one report with already-bound parameters and returns its rows.
pub async fn run_one(
    ctx: &SessionContext,
    report: &Report,
    params: &[(String, ScalarValue)],
) -> Result<Vec<arrow::array::RecordBatch>> {
    let df = plan(ctx, &report.sql, params).await?;
    Ok(df.collect().await?)
}

/// Runs `reports` in turn; a failing report is recorded and the others still run. `write`
/// receives each result (e.g. to write it to a file) and returns where it went.
pub async fn run_all<F>(
    ctx: &SessionContext,
    reports: &[Report],
    params: &ReportParams,
    mut write: F,
) -> Result<Vec<ReportOutcome>>
where
    F: FnMut(
        &Report,
        &[arrow::array::RecordBatch],
        arrow::datatypes::SchemaRef,
    ) -> anyhow::Result<Option<PathBuf>>,
{
    let bound = params.bind()?;
    let mut outcomes = Vec::new();
    for report in reports {
        let started = Instant::now();
        let result = async {
            let df = plan(ctx, &report.sql, &bound).await?;
            let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok::<_, Error>((schema, batches))
        }
        .await;
        let outcome = match result {
            Ok((schema, batches)) => {
                let rows = batches.iter().map(|b| b.num_rows()).sum();
                match write(report, &batches, schema) {
                    Ok(output) => ReportOutcome {
                        report: report.name.clone(),
                        rows,
                        seconds: started.elapsed().as_secs_f64(),
                        output,
                        error: None,
                    },
                    Err(e) => ReportOutcome {
                        report: report.name.clone(),
                        rows,
                        seconds: started.elapsed().as_secs_f64(),
                        output: None,
                        error: Some(format!("{e:#}")),
                    },
                }
            }
            Err(e) => ReportOutcome {
                report: report.name.clone(),
                rows: 0,
                seconds: started.elapsed().as_secs_f64(),
                output: None,
                error: Some(e.to_string()),
            },
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// A batch of reports for a scheduler: which reports, with which parameters, written where.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The lake, a directory or a URL (overrides `--lake`).
    pub lake: Option<String>,
    /// Object-store settings (`aws_region = "eu-west-1"`, …), on top of `--storage-option`.
    #[serde(default)]
    pub storage_options: std::collections::BTreeMap<String, String>,
    /// The output directory.
    pub out: PathBuf,
    /// Output format: `csv`, `parquet`, `json`, `table` or `html` (one file of the run).
    #[serde(default = "default_format")]
    pub format: String,
    /// A names file (CSV `kind,id,name`; relative to the job file) for names the lake's
    /// directory lacks.
    #[serde(default)]
    pub names: Option<PathBuf>,
    /// The runs of the job.
    #[serde(rename = "run")]
    pub runs: Vec<JobRun>,
}

fn default_format() -> String {
    "csv".into()
}

/// One run of a job: reports and their parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRun {
    /// Report names, or `["all"]`.
    pub reports: Vec<String>,
    /// A sub-directory of the job's `out` for this run's files.
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// The parameters.
    #[serde(flatten)]
    pub params: ReportParams,
}

/// Reads a job file (TOML).
pub fn read_job(path: &Path) -> Result<Job> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    toml::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a valid job file: {e}", path.display())))
}
