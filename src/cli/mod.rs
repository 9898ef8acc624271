//! The command line: clap definitions and the glue from each command to the library.
//! Everything but parsing arguments and printing is library code.

/// `println!` that returns the write error instead of panicking, so that a closed pipe
/// (`convlake schema | head`) ends the command quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod api_cmd;
mod demo_cmd;
mod ingest_cmd;
pub mod output;
mod pg_cmd;
mod pull_cmd;
mod report_cmd;
mod schema_cmd;
mod shell_cmd;
mod sql_cmd;
#[cfg(feature = "distributed")]
mod worker_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::generate::{write_export, ExportFormat, GenerateOptions};
use crate::model::parse_timestamp;
use crate::storage::{Lake, StorageOptions};

/// convlake: SQL and contact-center KPIs over Genesys Cloud conversation-details exports.
#[derive(Debug, Parser)]
#[command(name = "convlake", version, about, long_about = None)]
pub struct Cli {
    /// The lake: a directory, or an object-store URL (s3://bucket/lake, gs://bucket/lake,
    /// az://container/lake, abfss://container@account.dfs.core.windows.net/lake).
    #[arg(long, global = true, env = "CONVLAKE_LAKE", default_value = "./lake")]
    lake: String,
    /// An object-store setting, KEY=VALUE (repeatable), on top of the cloud's environment
    /// variables: aws_region=eu-west-1, aws_endpoint=http://127.0.0.1:9000, allow_http=true, …
    #[arg(long = "storage-option", global = true, value_name = "KEY=VALUE")]
    storage_options: Vec<String>,
    /// Run statements across these `convlake worker`s (host:port, comma-separated): sql,
    /// report, aggregate, details and serve plan here and run their stages there.
    #[cfg(feature = "distributed")]
    #[arg(
        long,
        global = true,
        env = "CONVLAKE_WORKERS",
        value_delimiter = ',',
        value_name = "HOST:PORT,..."
    )]
    workers: Vec<String>,
    /// The file whose first line is the workers' shared secret (else
    /// `$CONVLAKE_WORKER_SECRET`), for `worker` and `--workers`.
    #[cfg(feature = "distributed")]
    #[arg(long, global = true, value_name = "FILE")]
    worker_secret_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read exports into the lake (upsert by conversation, one atomic commit).
    Ingest(ingest_cmd::IngestArgs),
    /// Pull conversation details from a Genesys Cloud org into the lake, from where the last
    /// pull left off (OAuth client credentials; detail jobs; rate limits honoured).
    Pull(pull_cmd::PullArgs),
    /// The main job on the sample exports: ingest, SQL, reports, all printed.
    Demo(demo_cmd::DemoArgs),
    /// Batch reports: list, run, or run a job file.
    #[command(subcommand)]
    Report(report_cmd::ReportCommand),
    /// Run SQL over the latest snapshot of the lake.
    Sql(sql_cmd::SqlArgs),
    /// Interactive SQL over the latest snapshot of the lake.
    Shell(shell_cmd::ShellArgs),
    /// Merge the small files of each month into sorted files of the target size.
    Optimize(ingest_cmd::OptimizeArgs),
    /// Remove files that nothing needs any more (and, with history kept, expired history).
    Vacuum(ingest_cmd::VacuumArgs),
    /// Print the tables and their columns (the SQL contract).
    Schema(schema_cmd::SchemaArgs),
    /// Write a realistic synthetic export (for trying things out, tests and benchmarks).
    Generate(GenerateArgs),
    /// Answer a Genesys conversation aggregate query body (JSON) from the lake.
    Aggregate(api_cmd::AggregateArgs),
    /// Answer a Genesys conversation detail query body (JSON) from the lake.
    Details(api_cmd::DetailsArgs),
    /// Serve the lake: the Genesys Analytics API over HTTP (--http), and SQL over the
    /// PostgreSQL wire protocol for BI tools (--pg).
    Serve(Box<api_cmd::ServeArgs>),
    /// Run parts of convlake's statements for coordinators started with --workers (the lake
    /// at the same --lake location; the shared secret in $CONVLAKE_WORKER_SECRET).
    #[cfg(feature = "distributed")]
    Worker(worker_cmd::WorkerArgs),
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// How many conversations.
    #[arg(long, default_value_t = 1000)]
    conversations: u64,
    /// Seed: the same seed writes the same export.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Export shape.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: ExportFormat,
    /// Gzip-compress the output files.
    #[arg(long)]
    gzip: bool,
    /// Output: a file for ndjson, a directory for pages.
    #[arg(long)]
    out: PathBuf,
    /// First instant of the period, ISO-8601 UTC.
    #[arg(long, default_value = "2026-11-02T00:00:00.000Z")]
    start: String,
    /// Length of the period in days.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Share (0 to 1) of conversations exported early, in progress, and again complete in a
    /// later export written beside the main one (`reexport`).
    #[arg(long, default_value_t = 0.0)]
    reexport_share: f64,
    /// Share (0 to 1) of conversations still in progress at export time.
    #[arg(long, default_value_t = 0.02)]
    in_progress_share: f64,
    /// Also write the synthetic org's names (users, queues, wrap-up codes, flows, divisions)
    /// to this CSV file (`kind,id,name`), as an org's directory would give them.
    #[arg(long, value_name = "FILE")]
    names: Option<std::path::PathBuf>,
    /// Conversations per page (page formats).
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// Queues of the synthetic center.
    #[arg(long, default_value_t = 12)]
    queues: usize,
    /// Agents of the synthetic center.
    #[arg(long, default_value_t = 60)]
    agents: usize,
    /// The order of the main export: `start` (by conversationStart) or `interleaved` (the
    /// whole period mixed through the file, as concatenated overlapping exports are).
    #[arg(long, value_enum, default_value = "start")]
    order: crate::generate::Order,
    /// How much each conversation holds: `standard` (about 5 KB of JSON) or `rich` (about
    /// 9 KB: more attributes, holds and transfers).
    #[arg(long, value_enum, default_value = "standard")]
    detail: crate::generate::Detail,
}

/// Runs the command line; the exit code says whether everything went well.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    crate::storage::retries::install();
    let result = run(cli);
    let retried = crate::storage::retries::count();
    if retried > 0 {
        eprintln!(
            "convlake: {retried} storage requests were retried (the store was throttled or failing); see the lines above"
        );
    }
    result
}

/// Runs the parsed command.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let options = StorageOptions::parse(&cli.storage_options)?;
    let lake = || Lake::open(&cli.lake, &options);
    #[cfg(feature = "distributed")]
    if !matches!(cli.command, Command::Worker(_)) {
        worker_cmd::configure(&cli.workers, cli.worker_secret_file.as_ref())?;
    }
    match cli.command {
        Command::Ingest(args) => ingest_cmd::run_ingest(&lake()?, &options, &args),
        Command::Pull(args) => pull_cmd::run_pull(&lake()?, &args),
        Command::Optimize(args) => ingest_cmd::run_optimize(&lake()?, &args),
        Command::Vacuum(args) => ingest_cmd::run_vacuum(&lake()?, &args),
        Command::Sql(args) => runtime()?.block_on(sql_cmd::run(&lake()?, &args)),
        Command::Report(command) => {
            runtime()?.block_on(report_cmd::run(&cli.lake, &options, &command))
        }
        Command::Shell(args) => runtime()?.block_on(shell_cmd::run(&lake()?, &args)),
        Command::Demo(args) => runtime()?.block_on(demo_cmd::run(&lake()?, &args)),
        Command::Schema(args) => schema_cmd::run(&args),
        Command::Generate(args) => generate(args),
        Command::Aggregate(args) => runtime()?.block_on(api_cmd::run_aggregate(&lake()?, &args)),
        Command::Details(args) => runtime()?.block_on(api_cmd::run_details(&lake()?, &args)),
        Command::Serve(args) => runtime()?.block_on(api_cmd::run_serve(lake()?, &args)),
        #[cfg(feature = "distributed")]
        Command::Worker(args) => runtime()?.block_on(worker_cmd::run(
            &lake()?,
            cli.worker_secret_file.as_ref(),
            &args,
        )),
    }
}

/// The async runtime of the query commands: one worker per core, each with a stack of 16 MiB
/// (reserved, not committed) instead of tokio's 2 MiB: planning and rewriting a statement
/// recurse once per level of its expressions, and a server must not fall over on a long `OR`
/// chain (the policy also refuses statements nested deeper than it allows).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()?)
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let start = parse_timestamp(&args.start).ok_or_else(|| {
        anyhow::anyhow!(
            "--start {:?} is not an ISO-8601 date-time such as 2026-11-02T00:00:00Z",
            args.start
        )
    })?;
    for (name, share) in [
        ("--reexport-share", args.reexport_share),
        ("--in-progress-share", args.in_progress_share),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&share),
            "{name} must be between 0 and 1, not {share}"
        );
    }
    let options = GenerateOptions {
        conversations: args.conversations,
        seed: args.seed,
        start_ms: start.millis,
        days: args.days,
        reexport_share: args.reexport_share,
        in_progress_share: args.in_progress_share,
        queues: args.queues,
        agents: args.agents,
        order: args.order,
        detail: args.detail,
    };
    let summary = write_export(&options, args.format, args.page_size, args.gzip, &args.out)?;
    if let Some(path) = &args.names {
        let names = crate::generate::Center::sized(args.seed, args.queues, args.agents).names_csv();
        std::fs::write(path, names)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    eprintln!(
        "wrote {} conversations ({} re-exported) in {} file(s), {:.1} MB of JSON, under {}",
        summary.conversations,
        summary.reexported,
        summary.files.len(),
        summary.json_bytes as f64 / 1e6,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
