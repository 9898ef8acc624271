//! `convlake ingest`, `convlake optimize` and `convlake vacuum`: argument handling, the
//! progress bar, and the summary a person (or, with `--json`, a batch job) reads at the end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::ingest::{discover_with, DecoderBuilder};
use crate::lake::layout::{parse_month, DEFAULT_COMPACT_AFTER};
use crate::lake::optimize::{optimize, CompactOptions};
use crate::lake::settings::Settings;
use crate::lake::upsert::{ingest, IngestOptions, IngestSummary, Progress, ProgressFn};
use crate::lake::vacuum::vacuum;
use crate::lake::LakeLock;
use crate::storage::{Lake, StorageOptions};

#[derive(Debug, clap::Args)]
pub(crate) struct IngestArgs {
    /// Export files, directories of them (searched recursively), object-store URLs of exports
    /// or of prefixes holding them (s3://bucket/exports/2026/11/), or - for stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Fail (exit 1) if any record was rejected.
    #[arg(long)]
    strict: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Wait for another process changing the lake instead of failing (on object storage:
    /// ingest again on top of a commit that won the race).
    #[arg(long)]
    wait: bool,
    /// Decoder threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Memory for rows waiting to be written, e.g. `512M` (default 128M). More memory gives
    /// larger row groups (and, for inputs out of start order, fewer files per month); peak
    /// memory is about 400 MB plus 2.5 times this.
    #[arg(long, value_name = "SIZE")]
    write_memory: Option<String>,
    #[command(flatten)]
    compact: CompactArgs,
    /// Never compact after this ingest (`convlake optimize` does it later).
    #[arg(long)]
    no_compact: bool,
    #[command(flatten)]
    history: HistoryArgs,
}

/// Compaction settings shared by `ingest` and `optimize`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompactArgs {
    /// Parquet size of the files ingest and compaction write, e.g. `128M`: a file being
    /// written is closed there and the next one started.
    #[arg(long, value_name = "SIZE", default_value = "128M")]
    target_file_size: String,
    /// An ingest compacts a month it touched once the month holds more than this many small
    /// files (under an eighth of the target size; `convlake optimize` merges those under half).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_COMPACT_AFTER)]
    compact_after: usize,
}

impl CompactArgs {
    fn options(&self) -> anyhow::Result<CompactOptions> {
        let target = super::sql_cmd::parse_size(&self.target_file_size)
            .map_err(|e| anyhow::anyhow!("--target-file-size: {e}"))?;
        anyhow::ensure!(target >= 1 << 20, "--target-file-size must be at least 1M");
        Ok(CompactOptions {
            target_file_bytes: target as u64,
            small_files_over: self.compact_after,
        })
    }
}

/// The history setting of a lake.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// Keep superseded files this long for time travel (`sql --as-of`), as an ISO-8601
    /// duration (`P7D`, `PT12H`) or seconds; `0` removes them right after each commit (the
    /// default), so that plain Parquet readers see only the latest state. Saved in the lake.
    #[arg(long, value_name = "DURATION")]
    keep_history: Option<String>,
}

impl HistoryArgs {
    /// Saves the setting, if one was given.
    fn apply(&self, lake: &Lake, wait: bool) -> anyhow::Result<()> {
        let Some(text) = &self.keep_history else {
            return Ok(());
        };
        let seconds = match text.parse::<u64>() {
            Ok(s) => s,
            Err(_) => match crate::functions::parse_duration(text) {
                Some(crate::functions::Granularity::Fixed(ms)) if ms >= 0 => (ms / 1000) as u64,
                _ => anyhow::bail!(
                    "--keep-history {text:?} is not a duration such as P7D, PT12H or 3600"
                ),
            },
        };
        let _lock = LakeLock::acquire(lake, wait)?;
        let mut settings = Settings::load(lake)?;
        settings.keep_history_seconds = seconds;
        settings.save(lake)?;
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct VacuumArgs {
    /// Wait for another process changing the lake instead of failing.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    history: HistoryArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct OptimizeArgs {
    /// Only this month (`YYYY-MM`); repeat for several. Default: every month.
    #[arg(long, value_name = "YYYY-MM")]
    month: Vec<String>,
    #[command(flatten)]
    compact: CompactArgs,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Wait for another process changing the lake instead of failing.
    #[arg(long)]
    wait: bool,
}

pub(crate) fn run_ingest(
    lake: &Lake,
    storage: &StorageOptions,
    args: &IngestArgs,
) -> anyhow::Result<ExitCode> {
    args.history.apply(lake, args.wait)?;
    let inputs = discover_with(&args.inputs, storage)?;
    let total: u64 = args
        .inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let bar = progress_bar(total);
    let mut decoder = DecoderBuilder::new();
    if let Some(threads) = args.threads {
        decoder = decoder.with_threads(threads);
    }
    let mut options = IngestOptions {
        decoder,
        wait_for_lock: args.wait,
        progress: bar.clone().map(|bar| {
            Arc::new(move |p: &Progress| {
                bar.set_position(p.json_bytes);
                bar.set_message(format!("{} records, {} rejected", p.records, p.rejected));
            }) as ProgressFn
        }),
        target_file_bytes: args.compact.options()?.target_file_bytes,
        compact: if args.no_compact {
            None
        } else {
            Some(args.compact.options()?)
        },
        ..IngestOptions::default()
    };
    if let Some(text) = &args.write_memory {
        let budget = super::sql_cmd::parse_size(text)
            .map_err(|e| anyhow::anyhow!("--write-memory: {e}"))?
            .max(1 << 20);
        options.buffer_budget = budget;
        options.file_bytes = budget / 2;
    }
    // A lake on object storage has no lock to queue behind: with --wait, an ingest that lost
    // the race for a lake version (nothing of it was committed) runs again on the new state.
    let mut inputs = Some(inputs);
    let mut attempt = 0u32;
    // Standard input cannot be read twice.
    let rereadable = !args.inputs.iter().any(|p| p.as_os_str() == "-");
    let summary = loop {
        let batch = match inputs.take() {
            Some(first) => first,
            None => discover_with(&args.inputs, storage)?,
        };
        match ingest(lake, batch, &options) {
            Err(crate::Error::Conflict { version, .. })
                if args.wait && rereadable && attempt < 20 =>
            {
                attempt += 1;
                eprintln!("lake version {version} was committed by another writer meanwhile; ingesting again on top of it (attempt {})", attempt + 1);
                std::thread::sleep(std::time::Duration::from_millis(
                    200 * u64::from(attempt.min(10)),
                ));
            }
            result => break result?,
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        print_summary(lake, &summary);
    }
    let failed = !summary.input_errors.is_empty() || (args.strict && summary.rejected > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = if total > 0 {
        ProgressBar::new(total)
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} JSON ({bytes_per_sec}) {msg}")
            .expect("valid template"),
    );
    Some(bar)
}

fn print_summary(lake: &Lake, s: &IngestSummary) {
    let mb = |b: u64| b as f64 / 1e6;
    eprintln!(
        "ingested {} file(s), {:.1} MB ({:.1} MB of JSON) into {}",
        s.files,
        mb(s.bytes_in),
        mb(s.json_bytes),
        lake
    );
    eprintln!(
        "  records: {} read = {} stored + {} superseded + {} rejected{}",
        s.records_read,
        s.stored,
        s.superseded,
        s.rejected,
        if s.reconciles() {
            ""
        } else {
            "  (DOES NOT RECONCILE: please report this)"
        }
    );
    if s.superseded > 0 {
        eprintln!(
            "  superseded: {} by a fresher copy in the input, {} older than the lake's, {} identical to the lake's",
            s.superseded_in_input, s.older_than_lake, s.identical_to_lake
        );
    }
    eprintln!(
        "  conversations: {} new, {} updated, {} unchanged",
        s.conversations_new, s.conversations_updated, s.conversations_unchanged
    );
    if let Some(rejects) = &s.rejects_file {
        eprintln!(
            "  rejected records are in {}",
            lake.describe(rejects).display()
        );
    }
    let (fields, values, dates) = s.drift.totals();
    if fields + values + dates > 0 {
        eprintln!("  drift: {fields} unknown field(s), {values} unknown enum value(s), {dates} lenient date-time(s)");
        for (path, n) in s.drift.unknown_fields.iter().take(10) {
            eprintln!("    unknown field {path}: {n}");
        }
        for (path, values) in s.drift.unknown_enum_values.iter().take(10) {
            let list: Vec<String> = values.iter().map(|(v, n)| format!("{v:?} ×{n}")).collect();
            eprintln!("    unknown values of {path}: {}", list.join(", "));
        }
        for (path, n) in s.drift.lenient_timestamps.iter().take(10) {
            eprintln!("    lenient date-times at {path}: {n}");
        }
    }
    for e in &s.input_errors {
        eprintln!("  input error: {e}");
    }
    match s.snapshot {
        Some(v) => eprintln!(
            "  committed lake version {v}: {} file(s) written ({:.1} MB), {} retired, in {:.2}s ({:.1} MB/s of JSON)",
            s.files_written,
            mb(s.bytes_out),
            s.files_retired,
            s.seconds,
            mb(s.json_bytes) / s.seconds.max(1e-9)
        ),
        None => eprintln!("  nothing changed: no commit ({:.2}s)", s.seconds),
    }
    if let Some(v) = s.compaction {
        eprintln!(
            "  compacted {} small file(s) as lake version {v} in {:.2}s",
            s.files_compacted, s.compaction_seconds
        );
    }
}

pub(crate) fn run_optimize(lake: &Lake, args: &OptimizeArgs) -> anyhow::Result<ExitCode> {
    let months = args
        .month
        .iter()
        .map(|m| {
            parse_month(m)
                .ok_or_else(|| anyhow::anyhow!("--month {m:?} is not a month such as 2026-11"))
        })
        .collect::<anyhow::Result<std::collections::BTreeSet<_>>>()?;
    let summary = optimize(
        lake,
        &args.compact.options()?,
        (!months.is_empty()).then_some(&months),
        args.wait,
    )?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        match summary.version {
            Some(v) => eprintln!(
                "optimized {}: {} small file(s) ({:.1} MB) merged into {} ({:.1} MB) in {}; lake version {v}",
                lake,
                summary.files_removed,
                summary.bytes_removed as f64 / 1e6,
                summary.files_added,
                summary.bytes_added as f64 / 1e6,
                summary.months.join(", ")
            ),
            None => eprintln!("optimized {}: nothing to compact", lake),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_vacuum(lake: &Lake, args: &VacuumArgs) -> anyhow::Result<ExitCode> {
    args.history.apply(lake, args.wait)?;
    let summary = vacuum(lake, args.wait)?;
    eprintln!(
        "vacuumed {}: {} file(s) removed; at lake version {}",
        lake, summary.files_removed, summary.version
    );
    Ok(ExitCode::SUCCESS)
}
