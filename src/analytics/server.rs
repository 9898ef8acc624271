//! `convlake serve`: the Analytics API over HTTP (axum on tokio), read-only.
//!
//! - `POST /api/v2/analytics/conversations/aggregates/query` and `.../details/query` answer
//!   with the same engine as `convlake aggregate` / `convlake details`;
//! - `POST /oauth/token` is the client-credentials login the Genesys SDKs make (HTTP Basic
//!   client id and secret, `grant_type=client_credentials`); it returns a bearer token the
//!   server then accepts for a day;
//! - every API request needs `Authorization: Bearer …`: a configured token or an issued one;
//! - each request is bounded: its head must arrive within 10 s, its body's size (413) and
//!   the time to read the body and answer (408), memory (its own DataFusion memory pool), a
//!   cap on queries running at once (others wait within their time limit), and a cap on
//!   connections open at once; query bodies are bounded in views, predicates and groups
//!   when validated, since planning cannot be interrupted;
//! - `DELETE /api/v2/tokens/me` revokes the token it carries;
//! - each request sees the latest committed state of the lake: the lake's record versions are
//!   listed per request, and the session is reopened when a commit has landed.
//!
//! Nothing served can change the lake: the handlers only plan SELECT statements of their own,
//! with DDL and DML refused by the planner ([`crate::query::read_only`]).
//! Tokens and secrets are never logged or echoed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;
use tokio::sync::Semaphore;

use super::aggregate::{self, AggregateBody, Settings};
use super::details::{self, DetailBody};
use super::tokens::Tokens;
use super::{parse_body, Answer, ApiError};
use crate::storage::Lake;

/// How long an issued token is accepted.
const TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// What `convlake serve` is configured with.
#[derive(Clone)]
pub struct ServeConfig {
    /// Where to listen (127.0.0.1 by default).
    pub addr: SocketAddr,
    /// Bearer tokens accepted as they are.
    pub tokens: Vec<String>,
    /// Client id → secret, for `POST /oauth/token`.
    pub clients: HashMap<String, String>,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take (waiting for a slot included).
    pub timeout: Duration,
    /// Memory pool of each query, bytes.
    pub query_memory_bytes: usize,
    /// Queries running at once.
    pub max_concurrent: usize,
    /// Connections open at once (more wait to be accepted).
    pub max_connections: usize,
    /// The aggregate settings (service level, thresholds, guard rails).
    pub settings: Settings,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("addr", &self.addr)
            .field("tokens", &format_args!("{} configured", self.tokens.len()))
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

struct AppState {
    lake: Lake,
    config: ServeConfig,
    follower: crate::catalog::Follower,
    tokens: Mutex<Tokens>,
    slots: Semaphore,
}

/// Serves the API on `config.addr` until the process is stopped; `ready` is called with the
/// bound address once the socket listens (port 0 picks a free port).
pub async fn serve(
    lake: Lake,
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.tokens.is_empty() || !config.clients.is_empty(),
        "no credentials configured: every client must authenticate. Give bearer tokens (--token-file FILE, or CONVLAKE_API_TOKENS=t1,t2) or client credentials for /oauth/token (--clients-file FILE with id:secret lines, or CONVLAKE_API_CLIENTS=id:secret)"
    );
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (is the port in use? choose another with --http)",
                config.addr
            )
        })?;
    let addr = listener.local_addr()?;
    let state = Arc::new(AppState {
        follower: crate::catalog::Follower::new(lake.clone(), None),
        lake,
        slots: Semaphore::new(config.max_concurrent.max(1)),
        tokens: Mutex::new(Tokens::new(&config.tokens)),
        config,
    });
    let app = Router::new()
        .route(
            "/api/v2/analytics/conversations/aggregates/query",
            post(aggregates),
        )
        .route(
            "/api/v2/analytics/conversations/details/query",
            post(details_query),
        )
        .route("/oauth/token", post(token))
        .route("/api/v2/tokens/me", axum::routing::delete(revoke))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state.clone());
    ready(addr);
    accept_loop(listener, app, state.config.max_connections).await
}

/// Longest a client may take to send a request's head (and longest an idle keep-alive
/// connection stays open): a client that sends its headers a line at a time is cut off.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections one peer address may hold open at once (of `--max-connections`).
const PER_PEER: usize = 32;

/// Serves `app` on each accepted connection with hyper's HTTP/1.1, at most `max` at once
/// (past that, new connections wait in the listen backlog) and [`PER_PEER`] from one address
/// (past that, its new connections are closed), each under [`HEADER_TIMEOUT`].
/// axum's own `serve` sets no header timeout, so a slow client could hold a connection
/// forever.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    max: usize,
) -> anyhow::Result<()> {
    let open = Arc::new(Semaphore::new(max.max(1)));
    let peers = crate::peers::Peers::new(PER_PEER.min(max.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    loop {
        let permit = open.clone().acquire_owned().await?;
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) {
                    eprintln!("convlake serve: accepting an HTTP connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        // Past its share, an address's new connection is closed at once (its permit goes
        // back to the next in the backlog).
        let Some(slot) = peers.enter(peer.ip()) else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let connection = http.serve_connection(
            hyper_util::rt::TokioIo::new(socket),
            hyper_util::service::TowerToHyperService::new(app.clone()),
        );
        tokio::spawn(async move {
            let _held = (permit, slot);
            // Header timeouts and clients that went away end here; nothing to report.
            let _ = connection.await;
        });
    }
}

fn error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        err.to_json(),
    )
        .into_response()
}

fn answer_response(answer: Answer) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.body,
    )
        .into_response();
    for notice in answer.notices {
        let clean: String = notice
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&clean) {
            response.headers_mut().append("x-convlake-notice", value);
        }
    }
    response
}

async fn not_found() -> Response {
    error_response(&ApiError::new(404, "not.found", "convlake serves POST /api/v2/analytics/conversations/aggregates/query, POST /api/v2/analytics/conversations/details/query and POST /oauth/token"))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AppState {
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let unauthorized = |why: &str| {
            ApiError::new(401, "bad.credentials", format!("{why}: send Authorization: Bearer TOKEN (a configured token, or one from POST /oauth/token)"))
        };
        let token = bearer(headers).ok_or_else(|| unauthorized("no bearer token"))?;
        let tokens = self
            .tokens
            .lock()
            .map_err(|_| ApiError::internal("token table poisoned"))?;
        if tokens.accepts(token, Instant::now()) {
            return Ok(());
        }
        Err(unauthorized(
            "the token is not valid, has expired or was revoked",
        ))
    }

    /// A session over the latest committed state, with its own memory pool.
    async fn session(&self) -> Result<SessionContext, ApiError> {
        let (_, base) = self.follower.latest().await.map_err(ApiError::internal)?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.config.query_memory_bytes, 1.0)
            .build_arc()
            .map_err(ApiError::internal)?;
        let state = SessionStateBuilder::new_from_existing(base)
            .with_runtime_env(runtime)
            .build();
        let ctx = SessionContext::new_with_state(state);
        self.lake.register(&ctx);
        Ok(ctx)
    }

    /// Runs `work` under the request's limits: authorized, then within the time limit the
    /// body read (within the size limit), a query slot, the work.
    async fn bounded<F, Fut>(self: &Arc<Self>, headers: HeaderMap, body: Body, work: F) -> Response
    where
        F: FnOnce(SessionContext, Bytes) -> Fut,
        Fut: std::future::Future<Output = Result<Answer, ApiError>>,
    {
        if let Err(e) = self.authorize(&headers) {
            return error_response(&e);
        }
        let limit = self.config.max_body_bytes;
        let run = async {
            let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
                ApiError::new(
                    413,
                    "request.entity.too.large",
                    format!("the request body is larger than {limit} bytes"),
                )
            })?;
            let _slot = self.slots.acquire().await.map_err(ApiError::internal)?;
            let ctx = self.session().await?;
            work(ctx, bytes).await
        };
        match tokio::time::timeout(self.config.timeout, run).await {
            Ok(Ok(answer)) => answer_response(answer),
            Ok(Err(e)) => error_response(&e),
            Err(_) => error_response(&ApiError::new(
                408,
                "request.timeout",
                format!("the request took longer than {} s: narrow the interval, the groups or the filter", self.config.timeout.as_secs()),
            )),
        }
    }
}

/// The bearer token of a request, if it carries one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then_some(token)
}

async fn aggregates(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let settings = state.config.settings.clone();
    state
        .bounded(headers, body, |ctx, bytes| async move {
            let body: AggregateBody = parse_body(&bytes)?;
            aggregate::answer(&ctx, &body, &settings).await
        })
        .await
}

async fn details_query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    state
        .bounded(headers, body, |ctx, bytes| async move {
            let body: DetailBody = parse_body(&bytes)?;
            details::answer(&ctx, &body).await
        })
        .await
}

/// `POST /oauth/token`: client credentials (HTTP Basic, or `client_id` / `client_secret` in
/// the form) for a bearer token.
async fn token(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let denied = |why: &str| {
        let body = serde_json::json!({"error": "invalid_client", "description": why, "error_description": why});
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    let read = tokio::time::timeout(state.config.timeout, axum::body::to_bytes(body, 16 * 1024));
    let Ok(Ok(bytes)) = read.await else {
        return denied("the token request is too large or too slow");
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        let body = serde_json::json!({"error": "unsupported_grant_type", "description": "only grant_type=client_credentials is supported"});
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(i, s)| (i.to_string(), s.to_string()))
        });
    let (id, secret) = match basic {
        Some(pair) => pair,
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(i), Some(s)) => (i.clone(), s.clone()),
            _ => return denied("no client credentials: send HTTP Basic client_id:client_secret"),
        },
    };
    let known = !secret.is_empty()
        && state
            .config
            .clients
            .get(&id)
            .is_some_and(|s| same_secret(s, &secret));
    if !known {
        // As a failed PostgreSQL login does: guessing costs time per connection.
        tokio::time::sleep(crate::postgres::auth::FAILED_LOGIN_DELAY).await;
        return denied("unknown client or wrong secret");
    }
    let Ok(mut tokens) = state.tokens.lock() else {
        return error_response(&ApiError::internal("token table poisoned"));
    };
    let token = tokens.issue(&id, TOKEN_LIFETIME, Instant::now());
    drop(tokens);
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `DELETE /api/v2/tokens/me`: revokes the token the request carries (as Genesys Cloud's
/// endpoint of that name does); 204 when it was live.
async fn revoke(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(e) = state.authorize(&headers) {
        return error_response(&e);
    }
    let Some(token) = bearer(&headers) else {
        return error_response(&ApiError::new(401, "bad.credentials", "no bearer token"));
    };
    let Ok(mut tokens) = state.tokens.lock() else {
        return error_response(&ApiError::internal("token table poisoned"));
    };
    if tokens.revoke(token) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error_response(&ApiError::bad_request(
            "bad.request",
            "this token was configured on the server, not issued by POST /oauth/token: it cannot be revoked over the API",
        ))
    }
}
