//! One PostgreSQL connection's session: what it may run, under which limits, over which
//! lake version.
//!
//! - **Opened at login**: a connection gets its session (and holds a session slot) only once
//!   its user has proven who it is ([`super::auth`]); before that it has a parser and
//!   nothing else.
//! - **State**: a DataFusion session derived from the [`Follower`]'s latest lake state (which
//!   carries the `pg_catalog`, `information_schema` and PostgreSQL functions, set up once per
//!   lake version), with a runtime of its own: a [`FairSpillPool`] of the session's memory
//!   limit and a spill directory, and read-only catalogs ([`crate::read_only`]). Before each
//!   statement the lake's versions are listed; when a commit has landed, the session moves to
//!   the new state and keeps its `SET` options.
//! - **Read-only**: what may run is [`super::policy`]'s allow-list, checked on the statement
//!   tree before planning; every plan is checked again to hold no DDL or DML.
//! - **Limits**: a statement has `--pg-statement-timeout` (or the client's lower
//!   `statement_timeout`) from parse to its last row, planning included; past it the query
//!   is dropped, which stops its execution, and the client gets `57014`. Memory beyond the
//!   session's pool is `53200`. A cursor's query (`DECLARE … CURSOR FOR`) and a
//!   `COPY (query) TO STDOUT` are planned, checked and bounded as any query: a cursor's
//!   timeout runs from its `DECLARE` to its last row.
//! - **Types**: maps, structs and lists of them leave as JSON text ([`super::json`]);
//!   dictionary-encoded enums as text, timestamps as `timestamptz`.
//! - **Errors**: DataFusion's errors get a SQLSTATE and one readable line
//!   ([`crate::lateral::describe`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::datatypes::DataType;
use async_trait::async_trait;
use datafusion::common::{Column, DataFusionError, ParamValues};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::{pgwire, DfSessionService, Parser, QueryHook};
use futures::{Sink, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::hooks::{Answering, Copies, Cursors, Guard, Queries};
use super::{json, policy};
use crate::catalog::Follower;

/// The limits of each session.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest a statement may take, parse to last row (a client may set less).
    pub statement_timeout: Duration,
    /// Memory pool of the session, bytes.
    pub memory_bytes: usize,
}

/// Readies a freshly opened lake session for PostgreSQL clients: `pg_catalog`, PostgreSQL's
/// functions and type names, `to_json`. Runs once per lake version.
pub fn prepare(ctx: &SessionContext) -> crate::error::Result<()> {
    datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog(
        ctx,
        crate::catalog::CATALOG,
        datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
    )
    .map_err(|e| crate::error::Error::DataFusion(*e))?;
    datafusion_postgres::datafusion_pg_functions::register_all(&mut ctx.clone());
    ctx.register_udf(version_udf());
    for udf in super::compat::udfs() {
        ctx.register_udf(udf);
    }
    // Over PostgreSQL's functions too (their `repeat`, `lpad`, … are bounded as well).
    crate::bounded::register(ctx);
    Ok(())
}

/// `version()` as PostgreSQL words it (tools read the version number from it).
fn version_udf() -> datafusion::logical_expr::ScalarUDF {
    let text = format!(
        "PostgreSQL 16.6 (convlake {} on Apache DataFusion {}), {} {}",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    datafusion::logical_expr::create_udf(
        "version",
        vec![],
        DataType::Utf8,
        datafusion::logical_expr::Volatility::Immutable,
        Arc::new(move |_| {
            Ok(datafusion::logical_expr::ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::Utf8(Some(text.clone())),
            ))
        }),
    )
}

/// The query handlers of one connection: `datafusion-postgres`'s session service for what
/// PostgreSQL clients say around their queries (`SET`, `SHOW`, transactions, `FETCH`, the
/// extended protocol's parsing), with convlake's own hooks in front (the policy) and behind
/// (queries, cursors and COPY under the limits). Empty until the connection has logged in.
pub struct Service {
    open: OnceLock<Session>,
    /// The parser handed to pgwire before the login (it routes nothing to it then).
    idle: Arc<Parser>,
}

/// A logged-in connection's session.
struct Session {
    inner: DfSessionService,
    runner: Arc<Runner>,
}

/// The SQL error of a statement on a connection that has not logged in (pgwire routes none
/// there; this is the floor under that).
fn not_logged_in() -> PgWireError {
    user_error("08P01", "log in before sending statements")
}

impl Service {
    /// The handlers of a connection that has not logged in yet; `idle` is a parser shared by
    /// all such connections ([`Service::idle_parser`]).
    pub fn new(idle: Arc<Parser>) -> Service {
        Service {
            open: OnceLock::new(),
            idle,
        }
    }

    /// A parser over an empty session, for connections that have not logged in.
    pub fn idle_parser() -> Arc<Parser> {
        DfSessionService::new_with_hooks(Arc::new(SessionContext::new()), Vec::new()).query_parser()
    }

    /// Opens the session over the latest lake state, with a runtime of its own: done once,
    /// when the connection has logged in.
    pub async fn open(&self, follower: &Arc<Follower>, limits: Limits) -> crate::error::Result<()> {
        if self.open.get().is_some() {
            return Ok(());
        }
        let (version, base) = follower.latest().await?;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_bytes)))
            .build_arc()?;
        let state = SessionStateBuilder::new_from_existing(crate::read_only::read_only_state(base))
            .with_runtime_env(runtime)
            .build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        follower.lake().register(&ctx);
        let runner = Arc::new(Runner {
            ctx: ctx.clone(),
            version: Mutex::new(version),
            follower: follower.clone(),
            limits,
        });
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(Guard),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
            Arc::new(Answering(Cursors::new(runner.clone()))),
            Arc::new(CursorStatementHook),
            Arc::new(Answering(Copies(runner.clone()))),
            Arc::new(Queries(runner.clone())),
        ];
        let _ = self.open.set(Session {
            inner: DfSessionService::new_with_hooks(ctx, hooks),
            runner,
        });
        Ok(())
    }

    fn session(&self) -> PgWireResult<&Session> {
        self.open.get().ok_or_else(not_logged_in)
    }
}

/// Runs a connection's queries: follows the lake, plans, executes under the limits.
pub(super) struct Runner {
    ctx: Arc<SessionContext>,
    /// The lake version the session reads.
    version: Mutex<u64>,
    follower: Arc<Follower>,
    limits: Limits,
}

impl Runner {
    /// Moves the session to the latest lake version if a commit has landed, keeping the
    /// session's options (`SET`) and runtime.
    async fn follow(&self) -> PgWireResult<()> {
        let mut version = self.version.lock().await;
        let (latest, base) = self
            .follower
            .latest()
            .await
            .map_err(|e| user_error("58000", format!("the lake cannot be read: {e}")))?;
        if latest != *version {
            let current = self.ctx.state();
            let state =
                SessionStateBuilder::new_from_existing(crate::read_only::read_only_state(base))
                    .with_config(current.config().clone())
                    .with_runtime_env(current.runtime_env().clone())
                    .build();
            *self.ctx.state_ref().write() = state;
            *version = latest;
        }
        Ok(())
    }

    /// The statement's deadline: the server's limit, or the client's `statement_timeout`
    /// when it is lower.
    pub(super) fn deadline(&self, client: &(dyn ClientInfo + Send + Sync)) -> (Instant, Duration) {
        let server = self.limits.statement_timeout;
        let limit = client
            .metadata()
            .get(STATEMENT_TIMEOUT_KEY)
            .and_then(|ms| ms.parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .map_or(server, |client| client.min(server));
        (Instant::now() + limit, limit)
    }

    /// Plans a query statement: the latest lake state, checked read-only, nested columns as
    /// JSON text.
    pub(super) async fn plan(
        &self,
        statement: &Statement,
        deadline: Instant,
        limit: Duration,
    ) -> PgWireResult<LogicalPlan> {
        self.follow().await?;
        let state = self.ctx.state();
        let plan = tokio::time::timeout_at(
            deadline,
            state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                super::compat::rewrite(statement),
            ))),
        )
        .await
        .map_err(|_| timed_out(limit))?
        .map_err(pg_error)?;
        crate::query::read_only()
            .verify_plan(&plan)
            .map_err(|_| {
                user_error(
                    "25006",
                    "cannot execute this statement: this server is read-only (the lake changes only through convlake ingest, optimize and vacuum)",
                )
            })?;
        wire_columns(plan).map_err(pg_error)
    }

    /// Executes `plan` (parameters bound): its batches until the deadline, which ends the
    /// stream with `57014` (dropping the stream stops the execution).
    pub(super) async fn batches(
        &self,
        plan: LogicalPlan,
        deadline: Instant,
        limit: Duration,
    ) -> PgWireResult<
        impl futures::Stream<Item = PgWireResult<arrow::array::RecordBatch>> + Send + 'static,
    > {
        let df = tokio::time::timeout_at(deadline, self.ctx.execute_logical_plan(plan))
            .await
            .map_err(|_| timed_out(limit))?
            .map_err(pg_error)?;
        let stream = tokio::time::timeout_at(deadline, df.execute_stream())
            .await
            .map_err(|_| timed_out(limit))?
            .map_err(pg_error)?;
        Ok(futures::stream::unfold(
            Some(stream),
            move |stream| async move {
                let mut stream = stream?;
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Err(_) => Some((Err(timed_out(limit)), None)),
                    Ok(None) => None,
                    Ok(Some(Err(e))) => Some((Err(pg_error(e)), None)),
                    Ok(Some(Ok(batch))) => Some((Ok(batch), Some(stream))),
                }
            },
        ))
    }

    /// Runs `plan` (parameters bound) and streams its rows in `format` until the deadline.
    pub(super) async fn run(
        &self,
        plan: LogicalPlan,
        format: &Format,
        options: Arc<FormatOptions>,
        deadline: Instant,
        limit: Duration,
    ) -> PgWireResult<QueryResponse> {
        let fields = Arc::new(arrow_schema_to_pg_fields(
            plan.schema().as_arrow(),
            format,
            Some(options),
        )?);
        let batches = self.batches(plan, deadline, limit).await?;
        let row_fields = fields.clone();
        let rows = batches.flat_map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => encode_recordbatch(row_fields.clone(), batch),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
            futures::stream::iter(rows)
        });
        Ok(QueryResponse::new(fields, rows))
    }

    /// Plans and runs `statement` (a query) from its start to a response.
    pub(super) async fn answer(
        &self,
        statement: &Statement,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> PgWireResult<QueryResponse> {
        let (deadline, limit) = self.deadline(client);
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let plan = self.plan(statement, deadline, limit).await?;
        self.run(plan, &Format::UnifiedText, options, deadline, limit)
            .await
    }
}

/// Where `datafusion-postgres` keeps the client's `SET statement_timeout`, in milliseconds.
const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// Whether `statement` is a query convlake runs itself (the rest goes to the hooks of
/// `datafusion-postgres`).
pub(super) fn is_query(statement: &Statement) -> bool {
    matches!(statement, Statement::Query(_) | Statement::Explain { .. })
}

/// Wraps `plan` so that every column has a PostgreSQL type: maps, structs and lists of
/// them come out as JSON text, lists of enums as `text[]`.
fn wire_columns(plan: LogicalPlan) -> datafusion::error::Result<LogicalPlan> {
    let schema = plan.schema().clone();
    let wire: Vec<Option<Expr>> = schema
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::from((qualifier, field)));
            let converted = if json::needs_json(field.data_type()) {
                json::udf().call(vec![column])
            } else if let Some(list) = list_of_values(field.data_type()) {
                Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(column), list))
            } else {
                return None;
            };
            Some(converted.alias_qualified(qualifier.cloned(), field.name()))
        })
        .collect();
    if wire.iter().all(Option::is_none) {
        return Ok(plan);
    }
    let exprs: Vec<Expr> = schema
        .iter()
        .zip(wire)
        .map(|((qualifier, field), wire)| {
            wire.unwrap_or_else(|| Expr::Column(Column::from((qualifier, field))))
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// For a list of dictionary-encoded values, the list of the plain values.
fn list_of_values(data_type: &DataType) -> Option<DataType> {
    let DataType::List(element) = data_type else {
        return None;
    };
    let DataType::Dictionary(_, value) = element.data_type() else {
        return None;
    };
    Some(DataType::List(Arc::new(
        element
            .as_ref()
            .clone()
            .with_data_type(value.as_ref().clone()),
    )))
}

#[async_trait]
impl SimpleQueryHandler for Service {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        SimpleQueryHandler::do_query(&self.session()?.inner, client, query)
            .await
            .map_err(readable)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Service {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        match self.open.get() {
            Some(session) => session.inner.query_parser(),
            None => self.idle.clone(),
        }
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session()?;
        if let (_, Some((statement, _))) = &portal.statement.statement {
            if is_query(statement) && policy::check(statement).is_ok() {
                let runner = &session.runner;
                let (deadline, limit) = runner.deadline(client);
                // Planned again, over the latest lake state: drivers keep prepared statements
                // for the life of a connection, and their results must not stay at the
                // version of the first parse.
                let plan = runner.plan(statement, deadline, limit).await?;
                let params = parameters(&plan, portal)?;
                let plan = plan.replace_params_with_values(&params).map_err(pg_error)?;
                let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
                return runner
                    .run(plan, &portal.result_column_format, options, deadline, limit)
                    .await
                    .map(Response::Query);
            }
        }
        ExtendedQueryHandler::do_query(&session.inner, client, portal, max_rows)
            .await
            .map_err(readable)
    }
}

/// The portal's parameter values, typed as the plan infers them.
fn parameters<S: Clone>(plan: &LogicalPlan, portal: &Portal<S>) -> PgWireResult<ParamValues> {
    let types = plan.get_parameter_types().map_err(pg_error)?;
    let mut ordered: Vec<(u32, Option<DataType>)> = types
        .into_iter()
        .map(|(name, t)| {
            (
                name.trim_start_matches('$')
                    .parse::<u32>()
                    .unwrap_or(u32::MAX),
                t,
            )
        })
        .collect();
    ordered.sort_by_key(|(i, _)| *i);
    let refs: Vec<Option<&DataType>> = ordered.iter().map(|(_, t)| t.as_ref()).collect();
    datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters(portal, &refs)
}

pub(super) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

fn timed_out(limit: Duration) -> PgWireError {
    user_error(
        "57014",
        format!(
            "canceling statement due to statement timeout ({} s): narrow the query (a date range on conversation_date), or ask for a longer --pg-statement-timeout",
            limit.as_secs_f64()
        ),
    )
}

/// A DataFusion error as PostgreSQL reports its kind (SQLSTATE), in one readable line.
fn pg_error(err: DataFusionError) -> PgWireError {
    let root = err.find_root();
    let code = match root {
        DataFusionError::ResourcesExhausted(text) if crate::bounded::is_call_limit(text) => "54000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::SQL(..) => "42601",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::SchemaError(..) => "42703",
        DataFusionError::Plan(text) if text.contains("not found") => "42P01",
        DataFusionError::Plan(_) => "42000",
        DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => "22000",
        _ => "XX000",
    };
    let mut message = crate::lateral::describe(&err);
    if code == "53200" {
        message.push_str(
            " (the session's memory limit is --pg-session-memory; narrow the query or raise it)",
        );
    }
    user_error(code, message)
}

/// `datafusion-postgres` reports DataFusion's errors as internal errors with their debug
/// text; this gives them their SQLSTATE and a readable line.
fn readable(err: PgWireError) -> PgWireError {
    match err {
        PgWireError::ApiError(inner) => match inner.downcast::<DataFusionError>() {
            Ok(df) => pg_error(*df),
            Err(other) => user_error(
                "XX000",
                crate::lateral::describe(&DataFusionError::External(other)),
            ),
        },
        other => other,
    }
}
