//! The `convlake serve` options of the PostgreSQL server (see [`crate::postgres`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::api_cmd::secrets;
use crate::cli::sql_cmd::parse_size;
use crate::postgres::auth::{Policy, Users};
use crate::postgres::session::Limits;
use crate::postgres::PgConfig;

/// `convlake serve --pg` options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PgArgs {
    /// Serve the lake over the PostgreSQL wire protocol on this address (127.0.0.1:5432 when
    /// given without one).
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:5432", value_name = "ADDR")]
    pg: Option<SocketAddr>,
    /// A file of PostgreSQL users, `USER:PASSWORD` per line (or CONVLAKE_PG_USERS=u:p,u2:p2).
    #[arg(long, value_name = "FILE")]
    pg_users_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --pg-tls-key, every connection must use TLS.
    #[arg(long, value_name = "FILE", requires = "pg_tls_key")]
    pg_tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "pg_tls_cert")]
    pg_tls_key: Option<PathBuf>,
    /// Let connections from this machine's loopback interface in without a password.
    #[arg(long)]
    pg_trust_local: bool,
    /// Longest a statement may take, in seconds (clients may set a lower statement_timeout).
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pg_statement_timeout: u64,
    /// Memory of each session's queries, e.g. 1G (sorts and aggregations spill to disk
    /// beyond it where DataFusion can). Sessions times this is the most the server's queries
    /// hold at once.
    #[arg(long, default_value = "512M", value_name = "SIZE")]
    pg_session_memory: String,
    /// Sessions logged in at once; a login past it is refused with "too many connections"
    /// (connections that have not logged in take no slot).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pg_max_sessions: usize,
    /// Close a logged-in session that sends nothing for this many seconds (as PostgreSQL's
    /// idle_session_timeout; pools of BI tools reconnect), so idle pools do not hold every
    /// session slot; 0 keeps idle sessions open.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pg_idle_timeout: u64,
}

impl PgArgs {
    /// The server's configuration, or `None` when `--pg` was not given.
    pub(crate) fn config(&self) -> anyhow::Result<Option<PgConfig>> {
        let Some(addr) = self.pg else {
            return Ok(None);
        };
        let users = Users::parse(&secrets(
            self.pg_users_file.as_deref(),
            "CONVLAKE_PG_USERS",
        )?)?;
        let tls = match (&self.pg_tls_cert, &self.pg_tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            _ => None,
        };
        Ok(Some(PgConfig {
            addr,
            policy: Policy {
                users: Arc::new(users),
                require_tls: tls.is_some(),
                trust_local: self.pg_trust_local,
            },
            tls,
            limits: Limits {
                statement_timeout: Duration::from_secs(self.pg_statement_timeout.max(1)),
                memory_bytes: parse_size(&self.pg_session_memory)?,
            },
            max_sessions: self.pg_max_sessions,
            idle_timeout: match self.pg_idle_timeout {
                0 => Duration::MAX,
                seconds => Duration::from_secs(seconds),
            },
        }))
    }
}
