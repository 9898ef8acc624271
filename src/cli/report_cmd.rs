//! `convlake report list | run | job`: the batch reporting commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::output::{self, Format};
use crate::present::format::text_table;
use crate::present::html::{self, Section};
use crate::present::names::Names;
use crate::reports::{discover, read_job, run_all, select, Report, ReportOutcome, ReportParams};
use crate::storage::{Lake, StorageOptions};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ReportCommand {
    /// List the reports with what each measures.
    List {
        /// Use the report files of this directory instead of the built-in ones.
        #[arg(long)]
        reports_dir: Option<PathBuf>,
    },
    /// Run reports over the lake and write one file per report.
    Run(Box<RunArgs>),
    /// Run the batch a job file describes (reports, parameters, output paths).
    Job {
        /// The job file (TOML).
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Report names (see `convlake report list`).
    #[arg(required_unless_present = "all")]
    names: Vec<String>,
    /// Run every report.
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// The ISO-8601 interval, as Genesys writes it: 2026-11-01T00:00:00Z/2026-11-08T00:00:00Z.
    #[arg(long)]
    interval: String,
    /// IANA time zone for bucketing.
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// Bucket size, an ISO-8601 duration: PT15M, PT30M, PT1H, P1D, P1W, P1M.
    #[arg(long, default_value = "PT30M")]
    granularity: String,
    /// Only these queue ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    queues: Vec<String>,
    /// Only these media types (comma-separated).
    #[arg(long, value_delimiter = ',')]
    media_types: Vec<String>,
    /// Only these agents' user ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    users: Vec<String>,
    /// Service level target in seconds.
    #[arg(long, default_value_t = 20)]
    service_level_seconds: u32,
    /// A per-queue service level target, `QUEUE_ID=SECONDS` (repeatable).
    #[arg(long = "service-level-queue", value_parser = parse_queue_target)]
    service_level_queue: Vec<(String, u32)>,
    /// Count flow-outs in the service level's denominator.
    #[arg(long)]
    service_level_include_flow_outs: bool,
    /// Keep short abandons in the service level's denominator (left out by default).
    #[arg(long)]
    service_level_keep_short_abandons: bool,
    /// Output directory (one file per report). Without it, results are printed.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format of the files.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Use the report files of this directory instead of the built-in ones.
    #[arg(long)]
    reports_dir: Option<PathBuf>,
    /// A names file, CSV `kind,id,name` (kind user, queue, wrapup, flow, division, skill),
    /// for the names the lake's directory lacks (sites without API access).
    #[arg(long = "names", value_name = "FILE")]
    names_file: Option<PathBuf>,
    /// The share of contacts that should meet the service level target, in % (the line of
    /// the HTML charts).
    #[arg(long, default_value_t = 80.0, value_name = "PCT")]
    service_level_goal: f64,
}

/// Parses `QUEUE_ID=SECONDS` (per-queue service-level targets).
pub(crate) fn parse_queue_target(text: &str) -> Result<(String, u32), String> {
    let (queue, seconds) = text
        .split_once('=')
        .ok_or_else(|| format!("expected QUEUE_ID=SECONDS, got {text:?}"))?;
    let seconds = seconds
        .trim()
        .parse()
        .map_err(|_| format!("{seconds:?} is not a whole number of seconds"))?;
    Ok((queue.trim().to_string(), seconds))
}

pub(crate) async fn run(
    location: &str,
    options: &StorageOptions,
    command: &ReportCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ReportCommand::List { reports_dir } => {
            for report in discover(reports_dir.as_deref())? {
                outln!("{:<22} {}", report.name, report.summary())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::Run(args) => {
            let all = discover(args.reports_dir.as_deref())?;
            let reports = if args.all {
                all
            } else {
                select(&all, &args.names)?
            };
            let params = ReportParams {
                interval: args.interval.clone(),
                tz: args.tz.clone(),
                granularity: args.granularity.clone(),
                queues: args.queues.clone(),
                media_types: args.media_types.clone(),
                users: args.users.clone(),
                service_level_seconds: args.service_level_seconds,
                service_level_queue_seconds: args.service_level_queue.iter().cloned().collect(),
                service_level_include_flow_outs: args.service_level_include_flow_outs,
                service_level_exclude_short_abandons: !args.service_level_keep_short_abandons,
                service_level_goal_pct: args.service_level_goal,
                ..ReportParams::for_interval(&args.interval)
            };
            params.bind()?;
            let lake = Lake::open(location, options)?;
            let outcomes = execute(
                &lake,
                &reports,
                &params,
                args.out.as_deref(),
                args.format,
                None,
                args.names_file.as_deref(),
            )
            .await?;
            Ok(finish(&outcomes))
        }
        ReportCommand::Job { file } => {
            let job = read_job(file)?;
            let format = match job.format.as_str() {
                "csv" => Format::Csv,
                "parquet" => Format::Parquet,
                "json" => Format::Json,
                "html" => Format::Html,
                "table" | "txt" => Format::Table,
                other => anyhow::bail!(
                    "{}: format {other:?} is not one of csv, parquet, json, html, table",
                    file.display()
                ),
            };
            let options = options.merged(&StorageOptions::parse(
                &job.storage_options
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>(),
            )?);
            let lake = Lake::open(job.lake.as_deref().unwrap_or(location), &options)?;
            let all = discover(None)?;
            // Check every run before running any.
            let mut plans = Vec::new();
            for run in &job.runs {
                let reports = if run.reports == ["all"] {
                    all.clone()
                } else {
                    select(&all, &run.reports)?
                };
                run.params.bind()?;
                let out = run
                    .out
                    .as_ref()
                    .map_or(job.out.clone(), |o| job.out.join(o));
                plans.push((reports, run.params.clone(), out));
            }
            let mut outcomes = Vec::new();
            for (reports, params, out) in plans {
                let names = job.names.as_ref().map(|n| {
                    file.parent()
                        .filter(|_| n.is_relative())
                        .map_or(n.clone(), |dir| dir.join(n))
                });
                outcomes.extend(
                    execute(
                        &lake,
                        &reports,
                        &params,
                        Some(&out),
                        format,
                        None,
                        names.as_deref(),
                    )
                    .await?,
                );
            }
            Ok(finish(&outcomes))
        }
    }
}

/// Runs `reports`, writing files under `out` or printing them; prints a summary line each.
/// Printed results show at most `print_rows` rows each. Every result gains the names of the
/// ids it shows (the lake's directory, else `names_file`, else the exports); the table and
/// HTML outputs write numbers as people do, and HTML makes one file of the whole run
/// (`report.html` under `out`, or `out` itself when it ends in `.html`; stdout without it).
pub(crate) async fn execute(
    lake: &Lake,
    reports: &[Report],
    params: &ReportParams,
    out: Option<&Path>,
    format: Format,
    print_rows: Option<usize>,
    names_file: Option<&Path>,
) -> anyhow::Result<Vec<ReportOutcome>> {
    let ctx = crate::catalog::open(lake).await?;
    let names = Names::load(&ctx, names_file).await?;
    let tz: chrono_tz::Tz = params.tz.parse().unwrap_or(chrono_tz::Tz::UTC);
    let extension = match format {
        Format::Table => "txt",
        Format::Csv => "csv",
        Format::Json => "json",
        Format::Ndjson => "ndjson",
        Format::Parquet => "parquet",
        Format::Html => "html",
    };
    let mut sections = Vec::new();
    let mut outcomes = run_all(&ctx, reports, params, |report, batches, schema| {
        let batch = names.decorate(&arrow::compute::concat_batches(&schema, batches)?)?;
        match (format, out) {
            (Format::Html, _) => {
                sections.push(Section {
                    report: report.name.clone(),
                    summary: report.summary(),
                    batch,
                });
                Ok(None)
            }
            (Format::Table, Some(dir)) => {
                let path = dir.join(format!("{}.txt", report.name));
                let text = text_table(&[readable(&batch)?], tz)?;
                output::write_bytes(&path, text.as_bytes())?;
                Ok(Some(path))
            }
            (_, Some(dir)) => {
                let path = dir.join(format!("{}.{extension}", report.name));
                output::write_file(format, &batch.schema(), &[batch], &path)?;
                Ok(Some(path))
            }
            (_, None) => {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "== {}: {}", report.name, report.summary())?;
                let total = batch.num_rows();
                let shown_rows = print_rows.map_or(total, |limit| limit.min(total));
                let shown = readable(&batch.slice(0, shown_rows))?;
                write!(stdout, "{}", text_table(&[shown], tz)?)?;
                if shown_rows < total {
                    writeln!(stdout, "({total} rows, {shown_rows} shown)")?;
                }
                Ok(None)
            }
        }
    })
    .await?;
    if format == Format::Html {
        let document = html::document(params, &provenance(lake)?, &sections)?;
        match out {
            Some(out) => {
                let path = if out.extension().is_some_and(|e| e == "html") {
                    out.to_path_buf()
                } else {
                    out.join("report.html")
                };
                output::write_bytes(&path, document.as_bytes())?;
                for o in outcomes.iter_mut().filter(|o| o.error.is_none()) {
                    o.output = Some(path.clone());
                }
            }
            None => std::io::stdout().lock().write_all(document.as_bytes())?,
        }
    }
    Ok(outcomes)
}

/// `batch` without the id columns whose names it shows (people read the names; the machine
/// outputs keep both).
fn readable(batch: &arrow::array::RecordBatch) -> anyhow::Result<arrow::array::RecordBatch> {
    Ok(batch.project(&crate::present::names::readable_columns(&batch.schema()))?)
}

/// What the HTML header says about the lake: its version, when it was committed, and how far
/// `convlake pull` brought Genesys's data.
fn provenance(lake: &Lake) -> anyhow::Result<html::Provenance> {
    let latest = crate::lake::log::latest_record(lake)?;
    Ok(html::Provenance {
        lake: lake.describe("").display().to_string(),
        version: latest.as_ref().map(|r| r.version),
        committed_at: latest.map(|r| r.committed_at),
        watermark: crate::cli::pull_cmd::stored_watermark(lake)?
            .map(crate::model::format_timestamp),
    })
}

fn finish(outcomes: &[ReportOutcome]) -> ExitCode {
    let mut failed = 0;
    eprintln!("{:<22} {:>8} {:>9}  result", "report", "rows", "seconds");
    for o in outcomes {
        let result = match (&o.error, &o.output) {
            (Some(e), _) => {
                failed += 1;
                format!("FAILED: {e}")
            }
            (None, Some(p)) => p.display().to_string(),
            (None, None) => "printed".into(),
        };
        eprintln!(
            "{:<22} {:>8} {:>9.3}  {result}",
            o.report, o.rows, o.seconds
        );
    }
    if failed > 0 {
        eprintln!("{failed} of {} report(s) failed", outcomes.len());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
