//! `convlake worker`, and the `--workers` every session-opening command takes: the command
//! line of the distributed engine (see [`crate::distributed`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::distributed::{Secret, WorkerOptions};
use crate::storage::Lake;

/// `convlake worker`: runs parts of convlake's statements for coordinators.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Where to listen: 127.0.0.1 by default (port 0 picks a free one); give 0.0.0.0:PORT
    /// only behind a network that keeps strangers out (the secret is sent in clear over
    /// plain gRPC).
    #[arg(long, default_value = "127.0.0.1:7100")]
    listen: SocketAddr,
    /// Memory the worker's tasks may hold together (sorts and joins spill or fail beyond it).
    #[arg(long, default_value = "4G")]
    memory_limit: String,
}

/// Runs the worker until it is stopped.
pub async fn run(
    lake: &Lake,
    secret_file: Option<&PathBuf>,
    args: &WorkerArgs,
) -> anyhow::Result<ExitCode> {
    let options = WorkerOptions {
        listen: args.listen,
        secret: Secret::load(secret_file.map(PathBuf::as_path))?,
        memory_bytes: super::sql_cmd::parse_size(&args.memory_limit)?,
    };
    crate::distributed::serve_worker(lake, options).await?;
    Ok(ExitCode::SUCCESS)
}

/// Points this process at `workers` (from `--workers` / `$CONVLAKE_WORKERS`) when any are
/// given.
pub fn configure(workers: &[String], secret_file: Option<&PathBuf>) -> anyhow::Result<()> {
    if workers.iter().all(|w| w.trim().is_empty()) {
        return Ok(());
    }
    let secret = Secret::load(secret_file.map(PathBuf::as_path))?;
    crate::distributed::configure(workers, secret)?;
    Ok(())
}
