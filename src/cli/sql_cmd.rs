//! `convlake sql`: one query, or the statements of a file, over the latest state of the lake
//! (or, with `--as-of`, an earlier one).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::collect;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::cli::output::{self, Format};
use crate::lake::AsOf;
use crate::query::{parse_param, plan, split_statements};

#[derive(Debug, clap::Args)]
pub(crate) struct SqlArgs {
    /// The query (or several, separated by `;`).
    #[arg(conflicts_with = "file")]
    query: Option<String>,
    /// Read the statements from this file.
    #[arg(short, long)]
    file: Option<PathBuf>,
    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the result of the last statement to this file (atomically).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// A named parameter for `$name` placeholders: `--param queue=Sales` (repeatable).
    #[arg(long = "param", value_parser = parse_key_value)]
    params: Vec<(String, String)>,
    /// Cap on query memory, e.g. `2G` or `512M`; sorts and aggregations spill to disk beyond it.
    #[arg(long)]
    memory_limit: Option<String>,
    /// Print the time each statement took to stderr.
    #[arg(long)]
    timing: bool,
    /// Run each statement this many times (benchmarks); with --timing, the median is printed.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Read the lake as it was: a lake version (as ingest prints it) or a UTC time such as
    /// 2026-11-01T00:00:00Z. Needs history kept (`ingest --keep-history`) for versions whose
    /// files were superseded since.
    #[arg(long, value_name = "VERSION|TIME")]
    as_of: Option<String>,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("expected name=value, got {text:?}"))
}

/// Bytes of a size like `2G`, `512M`, `1048576`.
pub(crate) fn parse_size(text: &str) -> anyhow::Result<usize> {
    let t = text.trim().to_ascii_uppercase();
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a size such as 2G or 512M"))?;
    let scale = match unit.trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        _ => anyhow::bail!("{text:?} is not a size such as 2G or 512M"),
    };
    Ok((n * scale) as usize)
}

/// A session over `lake` as of `as_of`, with a memory cap if asked for.
pub(crate) async fn session(
    lake: &crate::storage::Lake,
    memory_limit: Option<&str>,
    as_of: AsOf,
) -> anyhow::Result<SessionContext> {
    let config = SessionConfig::new();
    let ctx = match memory_limit {
        None => {
            crate::catalog::open_as_of(lake, as_of, SessionContext::new_with_config(config)).await?
        }
        Some(limit) => {
            let runtime = RuntimeEnvBuilder::new()
                .with_memory_pool(std::sync::Arc::new(FairSpillPool::new(parse_size(limit)?)))
                .build_arc()?;
            // A sort reserves memory for its merge up front (10 MiB by default); under a small
            // cap that reservation alone fails the query, so it shrinks with the cap.
            let mut config = config;
            let reservation = &mut config.options_mut().execution.sort_spill_reservation_bytes;
            *reservation = (*reservation).min(parse_size(limit)? / 16);
            let ctx = SessionContext::new_with_config_rt(config, runtime);
            crate::catalog::open_as_of(lake, as_of, ctx).await?
        }
    };
    Ok(ctx)
}

pub(crate) async fn run(lake: &crate::storage::Lake, args: &SqlArgs) -> anyhow::Result<ExitCode> {
    let text = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
        (None, None) => anyhow::bail!("give a query, or -f FILE with statements"),
    };
    if args.format == Format::Parquet && args.output.is_none() {
        anyhow::bail!("--format parquet writes a file: add --output FILE");
    }
    let as_of = match &args.as_of {
        Some(text) => AsOf::parse(text)?,
        None => AsOf::Latest,
    };
    let ctx = session(lake, args.memory_limit.as_deref(), as_of).await?;
    let params: Vec<_> = args
        .params
        .iter()
        .map(|(k, v)| (k.clone(), parse_param(v)))
        .collect();
    let statements = split_statements(&text)?;
    let stdout = std::io::stdout();
    for (i, statement) in statements.iter().enumerate() {
        #[cfg(feature = "distributed")]
        if let Some(stages) = distributed_explain(&ctx, statement, &params).await? {
            println!("{stages}");
            continue;
        }
        let mut times = Vec::new();
        let mut planning = Vec::new();
        let mut result = None;
        for _ in 0..args.repeat.max(1) {
            let started = Instant::now();
            let df = plan(&ctx, statement, &params).await?;
            let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
            let task = df.task_ctx();
            let physical = df.create_physical_plan().await?;
            planning.push(started.elapsed().as_secs_f64());
            result = Some((schema, collect(physical, task.into()).await?));
            times.push(started.elapsed().as_secs_f64());
        }
        let (schema, batches) = result.expect("ran at least once");
        times.sort_by(f64::total_cmp);
        planning.sort_by(f64::total_cmp);
        let last = i + 1 == statements.len();
        match (&args.output, last) {
            (Some(path), true) => output::write_file(args.format, &schema, &batches, path)?,
            _ => {
                let mut out = stdout.lock();
                output::write(args.format, &schema, &batches, &mut out)?;
                out.flush()?;
            }
        }
        if args.timing {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            let median = times[times.len() / 2];
            let planned = planning[planning.len() / 2];
            let runs = match times.len() {
                1 => String::new(),
                n => format!(", medians of {n} runs"),
            };
            eprintln!("{rows} row(s) in {median:.4}s (planning {planned:.4}s{runs})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `EXPLAIN statement` with workers configured: the stages of the distributed plan and the
/// workers they run on (DataFusion's own `EXPLAIN` shows the plan of one machine). `None`
/// for any other statement, or without workers.
#[cfg(feature = "distributed")]
async fn distributed_explain(
    ctx: &SessionContext,
    statement: &str,
    params: &[(String, datafusion::scalar::ScalarValue)],
) -> anyhow::Result<Option<String>> {
    if crate::distributed::cluster().is_none() {
        return Ok(None);
    }
    let trimmed = statement.trim_start();
    let Some(head) = trimmed.get(..8) else {
        return Ok(None);
    };
    let rest = &trimmed[8..];
    let analyze = rest
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("ANALYZE");
    if !head.eq_ignore_ascii_case("EXPLAIN ") || analyze {
        return Ok(None);
    }
    let physical = plan(ctx, rest, params)
        .await?
        .create_physical_plan()
        .await?;
    Ok(crate::distributed::explain(physical.as_ref()))
}
