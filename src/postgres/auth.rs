//! Who may connect to `convlake serve --pg`, and how they prove it.
//!
//! - Users and passwords come from `--pg-users-file` (`USER:PASSWORD` lines) or
//!   `CONVLAKE_PG_USERS` (`user:password,user2:password2`); clients log in with
//!   SCRAM-SHA-256, so passwords never cross the wire, TLS or not. The server keeps only the
//!   salted passwords SCRAM needs (one random salt per user, drawn at start).
//! - An unknown user gets the same challenge as a known one, and fails the same way
//!   (`28P01`): the server does not tell which user names exist. Its salt is derived from
//!   the name with a key drawn at start (as PostgreSQL's mock salt is), so asking twice gives
//!   the same salt, as for a real user.
//! - A connection takes one of the `--pg-max-sessions` slots only when it proves its
//!   password (or is trusted), and opens its session then: connections that never log in
//!   hold no slot (the listener bounds them and their time, see [`super`]). At the cap, a
//!   login gets `53300 too many connections`.
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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::session::{Limits, Service};
use crate::catalog::Follower;

/// The accepted users, with SCRAM's salted form of each password.
pub struct Users {
    salted: HashMap<String, (Vec<u8>, Vec<u8>)>,
    /// The key that derives a salt for each user name that does not exist, so that its
    /// challenge looks like a real user's: random, and the same for the same name.
    decoy: ring::hmac::Key,
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
            decoy: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &random_bytes()),
        })
    }

    /// Whether no user is configured.
    pub fn is_empty(&self) -> bool {
        self.salted.is_empty()
    }

    /// The salt of `user`: its own, or for a name that does not exist, one derived from the
    /// name (16 bytes, as the real ones).
    fn salt(&self, user: &str) -> Vec<u8> {
        match self.salted.get(user) {
            Some((salt, _)) => salt.clone(),
            None => ring::hmac::sign(&self.decoy, user.as_bytes()).as_ref()[..16].to_vec(),
        }
    }
}

fn random_bytes() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let salt = self.salt(user);
        Ok(match self.salted.get(user) {
            Some((_, hash)) => Password::new(Some(salt), hash.clone()),
            // No password hashes to this: the proof fails as for a wrong password.
            None => Password::new(Some(salt), random_bytes()),
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

/// The startup handler of one connection: the policy's checks, then SCRAM (or trust), then
/// a session slot and the session.
pub struct Startup {
    policy: Policy,
    params: Arc<DefaultServerParameterProvider>,
    sasl: SASLAuthStartupHandler<DefaultServerParameterProvider>,
    admission: Admission,
}

/// What a connection gets when its login succeeds: a slot and its session.
pub struct Admission {
    /// The session slots (`--pg-max-sessions`).
    pub slots: Arc<Semaphore>,
    /// The connection's query handlers, opened at login.
    pub service: Arc<Service>,
    /// Where the sessions come from.
    pub follower: Arc<Follower>,
    /// The session's limits.
    pub limits: Limits,
    /// Told `true` once the connection has logged in (the listener's login clock stops).
    pub logged_in: tokio::sync::watch::Sender<bool>,
    /// The slot, held for the life of the connection once logged in.
    pub permit: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
}

impl Admission {
    /// A slot for a login about to be checked, or `53300`.
    fn slot(&self) -> PgWireResult<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            refuse(
                "53300",
                "too many connections: this server takes --pg-max-sessions at once; close idle connections or raise the limit",
            )
        })
    }

    /// Admits the logged-in connection: keeps its slot and opens its session.
    async fn admit(&self, permit: OwnedSemaphorePermit) -> PgWireResult<()> {
        self.service
            .open(&self.follower, self.limits.clone())
            .await
            .map_err(|e| refuse("58000", format!("the lake cannot be opened: {e}")))?;
        if let Ok(mut held) = self.permit.lock() {
            *held = Some(permit);
        }
        let _ = self.logged_in.send(true);
        Ok(())
    }
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
    pub fn new(
        policy: Policy,
        connections: Arc<ConnectionManager>,
        admission: Admission,
    ) -> Startup {
        let params = Arc::new(server_parameters());
        let users: Arc<dyn AuthSource> = policy.users.clone();
        let sasl = SASLAuthStartupHandler::new(params.clone())
            .with_scram(ScramAuth::new(users))
            .with_connection_manager(connections);
        Startup {
            policy,
            params,
            sasl,
            admission,
        }
    }
}

/// How long a failed password waits before its answer.
pub const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

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
                let permit = self.admission.slot()?;
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let (pid, key) = RandomPidSecretKeyGenerator::default().generate(client);
                client.set_pid_and_secret_key(pid, key);
                finish_authentication(client, self.params.as_ref()).await?;
                return self.admission.admit(permit).await;
            }
            if self.policy.users.is_empty() {
                return Err(refuse(
                    "28000",
                    "no PostgreSQL users are configured on this server",
                ));
            }
        }
        let user = client.metadata().get("user").cloned().unwrap_or_default();
        // A password message may complete the login: it needs a free slot, held only if it
        // does (a wrong password gives it back at once).
        let permit = match message {
            PgWireFrontendMessage::PasswordMessageFamily(_) => Some(self.admission.slot()?),
            _ => None,
        };
        let outcome = self.sasl.on_startup(client, message).await;
        if let (Ok(()), Some(permit)) = (&outcome, permit) {
            if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
                self.admission.admit(permit).await?;
            }
        }
        match outcome {
            // pgwire names SCRAM's user, which clients leave empty: name the login's. A
            // failed proof is answered after a pause, as PostgreSQL's auth_delay does, so
            // that guessing costs time per connection.
            Err(PgWireError::InvalidPassword(_)) => {
                tokio::time::sleep(FAILED_LOGIN_DELAY).await;
                Err(refuse(
                    "28P01",
                    format!("password authentication failed for user \"{user}\""),
                ))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_get_a_salt_of_their_own_that_does_not_change() {
        let users = Users::parse(&[("test".into(), "analyst:s3cret".into())]).unwrap();
        let real = users.salt("analyst");
        assert_eq!(real, users.salt("analyst"));
        let (a, b) = (users.salt("nobody"), users.salt("someone"));
        assert_eq!(a, users.salt("nobody"), "asking twice gives the same salt");
        assert_ne!(a, b, "each name its own");
        assert_eq!((a.len(), real.len()), (16, 16), "as long as a real salt");
        let other = Users::parse(&[("test".into(), "analyst:s3cret".into())]).unwrap();
        assert_ne!(a, other.salt("nobody"), "derived with a key of each start");
    }
}
