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
//! - this module: the listener, which caps the sessions open at once (a client over the cap
//!   gets `53300 too many connections`, as from PostgreSQL) and runs each connection as its
//!   own task, so one client's heavy query does not hold up the others' connections.

pub mod auth;
pub mod json;
pub mod session;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion_postgres::pgwire;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{ConnectionManager, PgWireServerHandlers};
use pgwire::error::PgWireResult;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Semaphore;
use tokio_rustls::rustls;

use crate::catalog::Follower;
use crate::storage::Lake;
use auth::{Policy, Startup};
use session::{Limits, Service};

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
    ready(listener.local_addr()?);
    loop {
        let (socket, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("convlake serve: accepting a PostgreSQL connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let slots = slots.clone();
        tokio::spawn(async move {
            let outcome = match slots.try_acquire_owned() {
                Ok(_permit) => match Connection::open(&shared).await {
                    Ok(connection) => pgwire::tokio::process_socket(socket, tls, connection).await,
                    Err(e) => {
                        let message = format!("the lake cannot be opened: {e}");
                        pgwire::tokio::process_socket(socket, tls, Refusal::new("58000", message))
                            .await
                    }
                },
                Err(_) => {
                    let message = "too many connections: this server takes --pg-max-sessions at once; close idle connections or raise the limit";
                    pgwire::tokio::process_socket(socket, tls, Refusal::new("53300", message)).await
                }
            };
            if let Err(e) = outcome {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    eprintln!("convlake serve: a PostgreSQL connection ended with an error: {e}");
                }
            }
        });
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
    async fn open(shared: &Arc<Shared>) -> crate::error::Result<Connection> {
        let service = Service::open(&shared.follower, shared.limits.clone()).await?;
        Ok(Connection {
            service: Arc::new(service),
            startup: Arc::new(Startup::new(
                shared.policy.clone(),
                shared.connections.clone(),
            )),
            cancel: Arc::new(DefaultCancelHandler::new(shared.connections.clone())),
        })
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

/// A connection turned away at login with a fatal error.
struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Arc<Refusal> {
        Arc::new(Refusal {
            code,
            message: message.into(),
        })
    }
}

impl PgWireServerHandlers for Refusal {
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(RefuseStartup {
            code: self.code,
            message: self.message.clone(),
        })
    }
}

struct RefuseStartup {
    code: &'static str,
    message: String,
}

#[async_trait::async_trait]
impl StartupHandler for RefuseStartup {
    async fn on_startup<C>(
        &self,
        _client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: pgwire::api::ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        pgwire::error::PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        Err(auth::refuse(self.code, self.message.clone()))
    }
}
