//! Who may connect to `convlake serve --pg`, and how they prove it.
//!
//! - Users and passwords come from `--pg-users-file` (`USER:PASSWORD` lines) or
//!   `CONVLAKE_PG_USERS` (`user:password,user2:password2`); clients log in with
//!   SCRAM-SHA-256, so passwords never cross the wire, TLS or not. The server keeps only the
//!   salted passwords SCRAM needs (one random salt per user, drawn at start).
//! - An unknown user gets the same challenge as a known one, and fails the same way
//!   (`28P01`): the server does not tell which user names exist.
//! - With a certificate (`--pg-tls-cert`, `--pg-tls-key`), every connection must use TLS;
//!   a client that does not is refused (`28000`) before it can send a password.
//! - `--pg-trust-local` lets connections from the loopback interface in without a password
//!   (PostgreSQL's `trust`); it has to be asked for.
//!
//! Nothing here logs or echoes a password.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::Sink;
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, SCRAM_ITERATIONS};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, AuthSource,
    DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::{
    ClientInfo, ConnectionManager, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

/// The accepted users, with SCRAM's salted form of each password.
pub struct Users {
    salted: HashMap<String, (Vec<u8>, Vec<u8>)>,
    /// A salt for user names that do not exist, so their challenge looks like any other.
    decoy_salt: Vec<u8>,
}

impl Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("names", &self.salted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Reads `USER:PASSWORD` entries (lines of a file, or comma-separated in the environment);
    /// `source` names where they came from for errors, which never quote a password.
    pub fn parse(entries: &[(String, String)]) -> anyhow::Result<Users> {
        let mut salted = HashMap::new();
        for (i, (source, entry)) in entries.iter().enumerate() {
            let (user, password) = entry.split_once(':').ok_or_else(|| {
                anyhow::anyhow!(
                    "PostgreSQL user entry {} ({source}) is not USER:PASSWORD",
                    i + 1
                )
            })?;
            let (user, password) = (user.trim(), password.trim());
            anyhow::ensure!(
                !user.is_empty() && !password.is_empty(),
                "PostgreSQL user entry {} ({source}) has an empty user name or password",
                i + 1
            );
            let salt = random_bytes();
            let hash = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
            salted.insert(user.to_string(), (salt, hash));
        }
        Ok(Users {
            salted,
            decoy_salt: random_bytes(),
        })
    }

    /// Whether no user is configured.
    pub fn is_empty(&self) -> bool {
        self.salted.is_empty()
    }
}

fn random_bytes() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        Ok(match self.salted.get(user) {
            Some((salt, hash)) => Password::new(Some(salt.clone()), hash.clone()),
            // No password hashes to this: the proof fails as for a wrong password.
            None => Password::new(Some(self.decoy_salt.clone()), random_bytes()),
        })
    }
}

/// What a connection must show before it gets a session.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The accepted users.
    pub users: Arc<Users>,
    /// Refuse connections without TLS.
    pub require_tls: bool,
    /// Let loopback connections in without a password.
    pub trust_local: bool,
}

/// The startup handler of one connection: the policy's checks, then SCRAM (or trust).
pub struct Startup {
    policy: Policy,
    params: Arc<DefaultServerParameterProvider>,
    sasl: SASLAuthStartupHandler<DefaultServerParameterProvider>,
}

/// The parameters the server reports on login: a PostgreSQL 16 version string (clients
/// parse it), UTF-8, and `default_transaction_read_only = on`.
pub fn server_parameters() -> DefaultServerParameterProvider {
    let mut params = DefaultServerParameterProvider::default();
    params.server_version = format!("16.6 (convlake {})", env!("CARGO_PKG_VERSION"));
    params.default_transaction_read_only = true;
    params.is_superuser = false;
    params
}

impl Startup {
    /// A handler for one new connection.
    pub fn new(policy: Policy, connections: Arc<ConnectionManager>) -> Startup {
        let params = Arc::new(server_parameters());
        let users: Arc<dyn AuthSource> = policy.users.clone();
        let sasl = SASLAuthStartupHandler::new(params.clone())
            .with_scram(ScramAuth::new(users))
            .with_connection_manager(connections);
        Startup {
            policy,
            params,
            sasl,
        }
    }
}

/// A fatal login error with `code` (SQLSTATE).
pub fn refuse(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message.into(),
    )))
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let PgWireFrontendMessage::Startup(startup) = &message {
            if self.policy.require_tls && !client.is_secure() {
                return Err(refuse(
                    "28000",
                    "this server accepts TLS connections only: connect with sslmode=require",
                ));
            }
            if self.policy.trust_local && client.socket_addr().ip().is_loopback() {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let (pid, key) = RandomPidSecretKeyGenerator::default().generate(client);
                client.set_pid_and_secret_key(pid, key);
                return finish_authentication(client, self.params.as_ref()).await;
            }
            if self.policy.users.is_empty() {
                return Err(refuse(
                    "28000",
                    "no PostgreSQL users are configured on this server",
                ));
            }
        }
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        self.sasl
            .on_startup(client, message)
            .await
            .map_err(|e| match e {
                // pgwire names SCRAM's user, which clients leave empty: name the login's.
                PgWireError::InvalidPassword(_) => refuse(
                    "28P01",
                    format!("password authentication failed for user \"{user}\""),
                ),
                other => other,
            })
    }
}
