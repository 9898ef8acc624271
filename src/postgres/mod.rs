//! `convlake serve --pg`: the lake over the PostgreSQL wire protocol, for BI tools (Grafana,
//! Metabase, Power BI, Tableau, Superset, DBeaver, psql, psycopg, JDBC/ODBC drivers).
//!
//! Built on `datafusion-postgres` (pgwire 0.41 and a `pg_catalog` over DataFusion 55):
//!
//! - [`auth`]: who may connect (SCRAM-SHA-256 users, TLS required when a certificate is
//!   given, loopback trust only when asked for);
//! - [`session`]: one DataFusion session per connection, derived from the latest committed
//!   lake state and moved to a newer one when a commit lands; read-only; every statement
//!   under a time limit and the session under a memory limit (spilling where DataFusion can);
//!   maps, structs and lists of them sent as JSON text;
//! - [`policy`]: what a session may run (the allow-list of statements, the rules of `SET`);
//! - [`copy`]: `COPY (query) TO STDOUT` in text, CSV and binary;
//! - `hooks`: convlake's statement hooks around `datafusion-postgres`'s (policy, cursors,
//!   COPY, queries);
//! - [`compat`]: catalog functions and idioms of PostgreSQL clients that `pg_catalog` lacks;
//! - [`wire`]: a connection's byte stream and message loop (message sizes bounded before they
//!   are buffered, stalled writes and idle sessions closed);
//! - this module: the listener. Each connection runs as its own task, so one client's heavy
//!   query does not hold up the others. A connection must log in within [`LOGIN_TIMEOUT`];
//!   connections still logging in are capped at [`MAX_LOGGING_IN`] (past it the oldest of the
//!   address that has the most is dropped, so a flood of connections that never log in cannot
//!   keep a real user out), and [`LOGGING_IN_PER_PEER`] of one address log in at a time (the
//!   rest wait); session slots (`--pg-max-sessions`) are taken at login, not at connect.

pub mod auth;
pub mod compat;
pub mod copy;
mod hooks;
pub mod json;
pub mod policy;
pub mod session;
pub mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion_postgres::pgwire;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ConnectionManager, PgWireServerHandlers};
use tokio::sync::Semaphore;
use tokio_rustls::rustls;

use crate::catalog::Follower;
use crate::storage::Lake;
use auth::{Admission, Policy, Startup};
use session::{Limits, Service};

/// How long a connection may take from connect to logged in.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections that may be logging in at once; past it the oldest of them is dropped.
pub const MAX_LOGGING_IN: usize = 128;

/// Connections one peer address may have logging in at once; past it, its new connections
/// wait, unread, for one of them to finish (a BI tool opening its pool of connections at once
/// gets them all; a flood from one address holds no more than this in pgwire's buffers).
pub const LOGGING_IN_PER_PEER: usize = 16;

/// What `convlake serve --pg` is configured with.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// Where to listen (127.0.0.1:5432 by default).
    pub addr: SocketAddr,
    /// Who may connect.
    pub policy: Policy,
    /// The TLS certificate chain and private key (PEM); when set, TLS is required.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Time and memory limits of each session.
    pub limits: Limits,
    /// Sessions open at once.
    pub max_sessions: usize,
    /// How long a logged-in session may send nothing before it is closed.
    pub idle_timeout: Duration,
}

/// What every connection shares.
struct Shared {
    follower: Arc<Follower>,
    limits: Limits,
    policy: Policy,
    connections: Arc<ConnectionManager>,
}

/// Serves the lake on `config.addr` until the process stops; `ready` is called with the
/// bound address once the socket listens (port 0 picks a free port).
pub async fn serve(
    lake: Lake,
    config: PgConfig,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let tls = match &config.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    anyhow::ensure!(
        !config.policy.users.is_empty() || config.policy.trust_local,
        "no PostgreSQL users configured: every client must log in. Give users with --pg-users-file FILE (USER:PASSWORD lines) or CONVLAKE_PG_USERS=user:password, or let local clients in without a password with --pg-trust-local"
    );
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (is the port in use? choose another with --pg)",
                config.addr
            )
        })?;
    let shared = Arc::new(Shared {
        follower: Arc::new(Follower::new(lake, Some(Box::new(session::prepare)))),
        limits: config.limits.clone(),
        policy: config.policy.clone(),
        connections: Arc::new(ConnectionManager::new()),
    });
    // Open the first session now: a missing or unreadable lake fails the start (with the
    // catalog's hint), not a client.
    shared.follower.latest().await?;
    let slots = Arc::new(Semaphore::new(config.max_sessions.max(1)));
    let idle = Service::idle_parser();
    let waiting = Arc::new(LoggingIn::default());
    let peers = crate::peers::Peers::new(LOGGING_IN_PER_PEER);
    let idle_timeout = config.idle_timeout;
    let stall = wire::WRITE_STALL.min(config.limits.statement_timeout);
    ready(listener.local_addr()?);
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("convlake serve: accepting a PostgreSQL connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let (logged_in, mut login) = tokio::sync::watch::channel(false);
        let signal = login.clone();
        let signal_login = login.clone();
        let connection = Connection::new(&shared, &slots, idle.clone(), logged_in);
        let tls = tls.clone();
        let peers = peers.clone();
        let serve = async move {
            // Past its address's share of logins, a connection waits (unread) for one of
            // them to finish; the wait counts in its login time.
            let started = tokio::time::Instant::now();
            let Ok(slot) = tokio::time::timeout(LOGIN_TIMEOUT, peers.wait(peer.ip())).await else {
                return;
            };
            let outcome = tokio::select! {
                outcome = wire::serve_connection(socket, tls, connection, signal_login, idle_timeout, stall) => outcome,
                // Not logged in in time: the connection is dropped (as PostgreSQL's
                // authentication_timeout does); once logged in, this branch never ends.
                () = async {
                    if tokio::time::timeout_at(started + LOGIN_TIMEOUT, login.wait_for(|done| *done)).await.is_ok() {
                        // Logged in: the address's slot for logins is free again.
                        drop(slot);
                        std::future::pending::<()>().await;
                    }
                } => Ok(()),
            };
            if let Err(e) = outcome {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    eprintln!("convlake serve: a PostgreSQL connection ended with an error: {e}");
                }
            }
        };
        let task = tokio::spawn(serve);
        waiting.add(task.abort_handle(), signal, peer.ip());
    }
}

/// A connection that has not logged in: its task, its login signal, its address.
type Waiting = (
    tokio::task::AbortHandle,
    tokio::sync::watch::Receiver<bool>,
    std::net::IpAddr,
);

/// The connections that have not logged in, oldest first: at most [`MAX_LOGGING_IN`].
#[derive(Default)]
struct LoggingIn(Mutex<VecDeque<Waiting>>);

impl LoggingIn {
    /// Adds a new connection's task; forgets the connections that have ended or logged in,
    /// and at the cap drops the oldest connection of the address that has the most (so a
    /// flood from a few addresses cannot push out a real user's login, however slow).
    fn add(
        &self,
        task: tokio::task::AbortHandle,
        login: tokio::sync::watch::Receiver<bool>,
        ip: std::net::IpAddr,
    ) {
        let Ok(mut queue) = self.0.lock() else {
            return;
        };
        queue.retain(|(task, login, _)| !task.is_finished() && !*login.borrow());
        queue.push_back((task, login, ip));
        while queue.len() > MAX_LOGGING_IN {
            // Those that logged in since the last look are not dropped, only forgotten.
            queue.retain(|(task, login, _)| !task.is_finished() && !*login.borrow());
            if queue.len() <= MAX_LOGGING_IN {
                break;
            }
            let mut counts: std::collections::HashMap<std::net::IpAddr, usize> =
                std::collections::HashMap::new();
            for (_, _, ip) in queue.iter() {
                *counts.entry(*ip).or_default() += 1;
            }
            let busiest = counts.into_iter().max_by_key(|(_, n)| *n).map(|(ip, _)| ip);
            let Some(at) = queue.iter().position(|(_, _, ip)| Some(*ip) == busiest) else {
                break;
            };
            if let Some((oldest, _, _)) = queue.remove(at) {
                oldest.abort();
            }
        }
    }
}

/// Reads a PEM certificate chain and private key into a TLS acceptor; a certificate that
/// cannot be used stops the server (it never falls back to plain connections).
fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
    };
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificate in it (expected PEM)",
        cert.display()
    );
    let key_der = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| anyhow::anyhow!("{}: not a PEM private key: {e}", key.display()))?
        .ok_or_else(|| anyhow::anyhow!("{}: no private key in it (expected PEM)", key.display()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| anyhow::anyhow!("the TLS certificate and key do not work together: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The handlers of one accepted connection.
struct Connection {
    service: Arc<Service>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl Connection {
    /// The handlers of a connection that has not logged in: its session opens at login.
    fn new(
        shared: &Arc<Shared>,
        slots: &Arc<Semaphore>,
        idle: Arc<datafusion_postgres::Parser>,
        logged_in: tokio::sync::watch::Sender<bool>,
    ) -> Connection {
        let service = Arc::new(Service::new(idle));
        let admission = Admission {
            slots: slots.clone(),
            service: service.clone(),
            follower: shared.follower.clone(),
            limits: shared.limits.clone(),
            logged_in,
            permit: std::sync::Mutex::new(None),
        };
        Connection {
            service,
            startup: Arc::new(Startup::new(
                shared.policy.clone(),
                shared.connections.clone(),
                admission,
            )),
            cancel: Arc::new(DefaultCancelHandler::new(shared.connections.clone())),
        }
    }
}

impl PgWireServerHandlers for Connection {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}
