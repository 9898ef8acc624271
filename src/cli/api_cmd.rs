//! `convlake aggregate`, `convlake details` and `convlake serve`: the Genesys Analytics API
//! over the lake, offline and over HTTP (see [`crate::analytics`]).

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::analytics::aggregate::{self, AggregateBody, Settings};
use crate::analytics::details::{self, DetailBody};
use crate::analytics::server::{self, ServeConfig};
use crate::analytics::{parse_body, Answer, ApiError};
use crate::cli::report_cmd::parse_queue_target;
use crate::cli::sql_cmd::parse_size;
use crate::functions::{parse_duration, Granularity};
use crate::storage::Lake;

/// What exports do not hold and aggregates need, and the guard rails.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SettingsArgs {
    /// How long before the interval a conversation may have started and still emit metrics
    /// inside it (widens the scan), an ISO-8601 duration.
    #[arg(long, default_value = "P7D")]
    lookback: String,
    /// Service-level target in seconds: nOverSla becomes "tAnswered over the target" instead
    /// of the export's nOverSla records.
    #[arg(long)]
    sl_target: Option<u32>,
    /// A per-queue service-level target, `QUEUE_ID=SECONDS` (repeatable; implies derived nOverSla).
    #[arg(long = "sl-queue-target", value_parser = parse_queue_target)]
    sl_queue_targets: Vec<(String, u32)>,
    /// The service-level goal reported as `target` (oServiceLevel, oServiceTarget), e.g. 0.8.
    #[arg(long)]
    sl_goal: Option<f64>,
    /// Count flow-outs in the service level's denominator.
    #[arg(long)]
    sl_include_flow_outs: bool,
    /// Leave short abandons out of the service level's denominator.
    #[arg(long)]
    sl_exclude_short_abandons: bool,
    /// Abandons shorter than this many seconds are short abandons (tShortAbandon derived
    /// from tAbandon instead of read from the export's records).
    #[arg(long)]
    short_abandon: Option<u32>,
    /// Most (bucket × group) cells in one answer.
    #[arg(long, default_value_t = 100_000)]
    max_cells: usize,
}

impl SettingsArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let lookback_ms = match parse_duration(&self.lookback) {
            Some(Granularity::Fixed(ms)) => ms,
            _ => anyhow::bail!(
                "--lookback {:?} is not a duration of days or hours such as P7D or PT36H",
                self.lookback
            ),
        };
        if let Some(goal) = self.sl_goal {
            anyhow::ensure!(
                (0.0..=1.0).contains(&goal),
                "--sl-goal must be between 0 and 1, such as 0.8"
            );
        }
        Ok(Settings {
            lookback_ms,
            sl_target_ms: self.sl_target.map(|s| i64::from(s) * 1000),
            sl_queue_targets_ms: self
                .sl_queue_targets
                .iter()
                .map(|(q, s)| (q.clone(), i64::from(*s) * 1000))
                .collect(),
            sl_goal: self.sl_goal,
            sl_include_flow_outs: self.sl_include_flow_outs,
            sl_exclude_short_abandons: self.sl_exclude_short_abandons,
            short_abandon_ms: self.short_abandon.map(|s| i64::from(s) * 1000),
            max_cells: self.max_cells,
            ..Settings::default()
        })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct AggregateArgs {
    /// The query body (JSON), or `-` for stdin.
    query: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DetailsArgs {
    /// The query body (JSON), or `-` for stdin.
    query: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address of the HTTP API (the default, 127.0.0.1:8080, when neither --http nor --pg is
    /// given).
    #[arg(long)]
    http: Option<SocketAddr>,
    #[command(flatten)]
    pg: crate::cli::pg_cmd::PgArgs,
    /// A file of accepted bearer tokens, one per line.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// A file of client credentials for POST /oauth/token, `CLIENT_ID:SECRET` per line.
    #[arg(long)]
    clients_file: Option<PathBuf>,
    /// Longest a request may take, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Largest request body, e.g. 1M.
    #[arg(long, default_value = "1M")]
    max_body: String,
    /// Memory of each query, e.g. 512M.
    #[arg(long, default_value = "512M")]
    query_memory: String,
    /// Queries running at once (others wait).
    #[arg(long, default_value_t = 4)]
    max_concurrent: usize,
    /// HTTP connections open at once (more wait to be accepted; each must send its request
    /// head within 10 s).
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    #[command(flatten)]
    settings: SettingsArgs,
}

fn read_body(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read the query body {}: {e}", path.display()))?;
    }
    Ok(bytes)
}

/// Prints an answer (notices on stderr) or the error JSON; exit status 2 for a refused query.
fn print(result: Result<Answer, ApiError>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(answer) => {
            for notice in &answer.notices {
                eprintln!("note: {notice}");
            }
            outln!("{}", answer.body)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            outln!("{}", e.to_json())?;
            eprintln!("error: {}", e.message);
            Ok(ExitCode::from(if e.status >= 500 { 1 } else { 2 }))
        }
    }
}

pub(crate) async fn run_aggregate(lake: &Lake, args: &AggregateArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings.settings()?;
    let bytes = read_body(&args.query)?;
    let body: AggregateBody = match parse_body(&bytes) {
        Ok(b) => b,
        Err(e) => return print(Err(e)),
    };
    // Refuse a bad body before the lake is opened.
    let query = match body.validate(settings.max_buckets) {
        Ok(q) => q,
        Err(e) => return print(Err(e)),
    };
    let ctx = crate::catalog::open(lake).await?;
    print(aggregate::answer_query(&ctx, &query, &settings).await)
}

pub(crate) async fn run_details(lake: &Lake, args: &DetailsArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_body(&args.query)?;
    let body: DetailBody = match parse_body(&bytes) {
        Ok(b) => b,
        Err(e) => return print(Err(e)),
    };
    let ctx = crate::catalog::open(lake).await?;
    print(details::answer(&ctx, &body).await)
}

fn lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Secrets (tokens, `ID:SECRET` or `USER:PASSWORD` entries) from the lines of `file` and
/// the comma-separated list in the environment variable `env`, each with where it came from
/// (for errors, which never quote the secret).
pub(crate) fn secrets(file: Option<&Path>, env: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = match file {
        Some(path) => lines(path)?
            .into_iter()
            .map(|l| (path.display().to_string(), l))
            .collect(),
        None => Vec::new(),
    };
    if let Ok(value) = std::env::var(env) {
        out.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| (env.to_string(), t.to_string())),
        );
    }
    Ok(out)
}

pub(crate) async fn run_serve(lake: Lake, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let pg = args.pg.config()?;
    let http = match (args.http, &pg) {
        (Some(addr), _) => Some(addr),
        (None, None) => Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
        (None, Some(_)) => None,
    };
    let http = match http {
        Some(addr) => Some(http_config(addr, args)?),
        None => None,
    };
    if !crate::lake::is_lake(&lake)? {
        anyhow::bail!(
            "no lake at {}: ingest exports first, or point --lake at a lake",
            lake.describe("").display()
        );
    }
    let http_lake = lake.clone();
    let http_server = async move {
        match http {
            Some(config) => {
                server::serve(http_lake, config, |addr| {
                    eprintln!("convlake serve: Genesys Analytics API on http://{addr} (POST /api/v2/analytics/conversations/aggregates/query, /details/query, /oauth/token)");
                })
                .await
            }
            None => std::future::pending().await,
        }
    };
    let pg_server = async move {
        match pg {
            Some(config) => {
                crate::postgres::serve(lake, config, |addr| {
                    eprintln!("convlake serve: PostgreSQL protocol on {addr} (psql \"host={} port={} dbname=convlake\")", addr.ip(), addr.port());
                })
                .await
            }
            None => std::future::pending().await,
        }
    };
    tokio::try_join!(http_server, pg_server)?;
    Ok(ExitCode::SUCCESS)
}

fn http_config(addr: SocketAddr, args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let tokens: Vec<String> = secrets(args.token_file.as_deref(), "CONVLAKE_API_TOKENS")?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let pairs: Vec<String> = secrets(args.clients_file.as_deref(), "CONVLAKE_API_CLIENTS")?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut clients = HashMap::new();
    for (i, pair) in pairs.iter().enumerate() {
        let (id, secret) = pair.split_once(':').ok_or_else(|| {
            anyhow::anyhow!("client credential {} is not CLIENT_ID:SECRET", i + 1)
        })?;
        let (id, secret) = (id.trim(), secret.trim());
        anyhow::ensure!(
            !id.is_empty() && !secret.is_empty(),
            "client credential {} has an empty client id or secret: give each client a secret (CLIENT_ID:SECRET)",
            i + 1
        );
        clients.insert(id.to_string(), secret.to_string());
    }
    Ok(ServeConfig {
        addr,
        tokens,
        clients,
        max_body_bytes: parse_size(&args.max_body)?,
        timeout: Duration::from_secs(args.timeout.max(1)),
        query_memory_bytes: parse_size(&args.query_memory)?,
        max_concurrent: args.max_concurrent,
        max_connections: args.max_connections,
        settings: args.settings.settings()?,
    })
}
