//! `convlake demo`: the main job end to end on the sample exports: ingest into a lake, answer
//! a few questions in SQL, run every report, and print it all.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::output::{self, Format};
use crate::cli::report_cmd::execute;
use crate::ingest::discover;
use crate::lake::upsert::{ingest, IngestOptions};
use crate::reports::{discover as discover_reports, ReportParams};

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// The exports to ingest.
    #[arg(long, default_value = "data/sample")]
    input: PathBuf,
    /// The report interval.
    #[arg(long, default_value = "2026-11-02T00:00:00Z/2026-11-09T00:00:00Z")]
    interval: String,
    /// Time zone of the report buckets.
    #[arg(long, default_value = "America/New_York")]
    tz: String,
    /// The names of the sample org's directory (CSV kind,id,name; default: `names.csv` in
    /// the input directory, when there is one).
    #[arg(long, value_name = "FILE")]
    names: Option<PathBuf>,
    /// Where the reports also go as one HTML file with charts.
    #[arg(long, default_value = "demo-report.html", value_name = "FILE")]
    html: PathBuf,
}

const QUESTIONS: &[(&str, &str)] = &[
    (
        "Conversations per day and media type",
        "SELECT conversation_date, media_type, count(*) AS conversations FROM conversation_summary GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 12",
    ),
    (
        "Average handle time per queue (tHandle)",
        "SELECT queue_id, count(*) AS handled, format_duration(CAST(avg(value) AS BIGINT)) AS aht FROM metrics WHERE name = 'tHandle' GROUP BY 1 ORDER BY 2 DESC LIMIT 5",
    ),
    (
        "Customers by segment attribute (map access)",
        "SELECT attributes['CustomerSegment'] AS segment, count(*) AS customers FROM participants WHERE purpose = 'customer' GROUP BY 1 ORDER BY 2 DESC",
    ),
    (
        "Segments per session, read from the nested participants table",
        "SELECT purpose, avg(array_length(s['segments'])) AS segments_per_session FROM (SELECT purpose, unnest(sessions) AS s FROM participants) GROUP BY 1 ORDER BY 1",
    ),
];

pub(crate) async fn run(lake: &crate::storage::Lake, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    outln!("# 1. ingest {} into {}", args.input.display(), lake)?;
    let summary = ingest(
        lake,
        discover(std::slice::from_ref(&args.input))?,
        &IngestOptions::default(),
    )?;
    outln!(
        "{} records: {} stored, {} superseded, {} rejected; {} new, {} updated conversations; {}",
        summary.records_read,
        summary.stored,
        summary.superseded,
        summary.rejected,
        summary.conversations_new,
        summary.conversations_updated,
        match summary.snapshot {
            Some(v) => format!("committed lake version {v}"),
            None => "nothing changed (the sample is in the lake already)".to_string(),
        }
    )?;
    outln!("\n# 2. SQL")?;
    let ctx = crate::catalog::open(lake).await?;
    for (title, sql) in QUESTIONS {
        outln!("\n-- {title}\n{sql}")?;
        let df = ctx.sql(sql).await?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        output::write(
            Format::Table,
            &schema,
            &batches,
            &mut std::io::stdout().lock(),
        )?;
    }
    outln!(
        "\n# 3. reports over {} in {}, by day",
        args.interval,
        args.tz
    )?;
    let params = ReportParams {
        tz: args.tz.clone(),
        granularity: "P1D".into(),
        ..ReportParams::for_interval(&args.interval)
    };
    let names = args
        .names
        .clone()
        .or_else(|| Some(args.input.join("names.csv")).filter(|p| p.is_file()));
    let all = discover_reports(None)?;
    let mut outcomes = execute(
        lake,
        &all,
        &params,
        None,
        Format::Table,
        Some(8),
        names.as_deref(),
    )
    .await?;
    outln!("\n# 4. the same reports as one HTML file, hourly")?;
    let hourly = ReportParams {
        granularity: "PT1H".into(),
        ..params
    };
    let html = execute(
        lake,
        &all,
        &hourly,
        Some(&args.html),
        Format::Html,
        None,
        names.as_deref(),
    )
    .await?;
    if html.iter().all(|o| o.error.is_none()) {
        outln!(
            "open {} in a browser (it needs no network)",
            args.html.display()
        )?;
    }
    outcomes.extend(html);
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    for o in outcomes.iter().filter(|o| o.error.is_some()) {
        eprintln!(
            "report {} failed: {}",
            o.report,
            o.error.as_deref().unwrap_or_default()
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
