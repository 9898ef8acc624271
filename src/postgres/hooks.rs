//! convlake's hooks in front of and behind `datafusion-postgres`'s: [`Guard`] first (the
//! policy), then, after the library's `SET`/`SHOW` and transaction hooks, [`Cursors`]
//! (`DECLARE`), the library's `FETCH`/`CLOSE`, [`Copies`] (`COPY … TO STDOUT`) and [`Queries`]
//! last. Each of convlake's runs its statements through the session's [`Runner`]: planned
//! read-only over the latest lake state, under the statement timeout and the memory pool.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{DeclareType, Statement};
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::{pgwire, QueryHook};
use pgwire::api::portal::Portal;
use pgwire::api::results::{Response, Tag};
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::PortalStore;
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};

use super::copy::CopyOut;
use super::policy;
use super::session::{is_query, user_error, Runner};

/// Refuses what a read-only session may not run ([`policy::check`]), first of the hooks.
#[derive(Debug)]
pub(super) struct Guard;

fn refusal(statement: &Statement) -> Option<PgWireError> {
    policy::check(statement)
        .err()
        .map(|r| user_error(r.code, r.message))
}

#[async_trait]
impl QueryHook for Guard {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        refusal(statement).map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        refusal(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        refusal(statement).map(Err)
    }
}

/// The plan handed to the extended protocol for statements a hook answers itself at
/// execution (cursors, COPY): no columns, so `Describe` says `NoData`.
fn no_rows() -> LogicalPlan {
    LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(datafusion::common::DFSchema::empty()),
    })
}

/// A hook that answers some statements itself, at execution, on both protocols (at the
/// extended protocol's parse it hands over a plan without columns).
#[async_trait]
pub(super) trait Answers: Send + Sync {
    /// Whether `statement` is one this hook answers.
    fn takes(&self, statement: &Statement) -> bool;

    /// The response to `statement`.
    async fn answer(
        &self,
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response>;
}

/// The [`QueryHook`] of an [`Answers`].
pub(super) struct Answering<T>(pub(super) T);

#[async_trait]
impl<T: Answers> QueryHook for Answering<T> {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if !self.0.takes(statement) {
            return None;
        }
        Some(self.0.answer(statement, client).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        self.0.takes(statement).then(|| Ok(no_rows()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if !self.0.takes(statement) {
            return None;
        }
        Some(self.0.answer(statement, client).await)
    }
}

/// Cursors one session may hold open at once: each holds a running query and the batches it
/// has produced, which the session's memory pool does not count once they are out.
pub const MAX_CURSORS: usize = 8;

/// `DECLARE name CURSOR FOR query`: the query planned, checked and bounded as any query (its
/// rows then pulled by `FETCH`, which `datafusion-postgres` answers from the portal), at
/// most [`MAX_CURSORS`] open in a session.
pub(super) struct Cursors {
    runner: Arc<Runner>,
    /// The names of the cursors this session declared (closed ones are forgotten lazily).
    open: std::sync::Mutex<Vec<String>>,
}

impl Cursors {
    /// The cursor hook of a session.
    pub(super) fn new(runner: Arc<Runner>) -> Cursors {
        Cursors {
            runner,
            open: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Makes room for one more cursor named `name`, or refuses (`53000`).
    fn admit(&self, name: &str, client: &dyn HookClient) -> PgWireResult<()> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| user_error("XX000", "the cursor table is poisoned"))?;
        let store = client.portal_store();
        open.retain(|n| n != name && store.get_portal(n).is_some());
        if open.len() >= MAX_CURSORS {
            return Err(user_error(
                "53000",
                format!(
                    "too many open cursors: a session holds at most {MAX_CURSORS}; CLOSE one first"
                ),
            ));
        }
        open.push(name.to_string());
        Ok(())
    }
}

#[async_trait]
impl Answers for Cursors {
    fn takes(&self, statement: &Statement) -> bool {
        matches!(statement, Statement::Declare { .. })
    }

    async fn answer(
        &self,
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        let Statement::Declare { stmts } = statement else {
            return Err(user_error("42601", "not a DECLARE"));
        };
        for declare in stmts {
            let (Some(name), Some(query), Some(DeclareType::Cursor)) = (
                declare.names.first(),
                declare.for_query.as_ref(),
                declare.declare_type.as_ref(),
            ) else {
                return Err(user_error(
                    "42601",
                    "DECLARE needs a cursor name and a query: DECLARE name CURSOR FOR query",
                ));
            };
            self.admit(&name.value, &*client)?;
            let response = self
                .runner
                .answer(&Statement::Query(query.clone()), &*client)
                .await?;
            let stored = Arc::new(StoredStatement::new(
                name.value.clone(),
                (query.to_string(), None),
                vec![],
            ));
            let portal = Portal::new_cursor(name.value.clone(), stored);
            portal.start(response).await;
            client.portal_store().put_portal(Arc::new(portal));
        }
        Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
    }
}

/// `COPY (query) TO STDOUT`: the query planned, checked and bounded as any query, its rows
/// sent as COPY data ([`super::copy`]).
pub(super) struct Copies(pub(super) Arc<Runner>);

#[async_trait]
impl Answers for Copies {
    fn takes(&self, statement: &Statement) -> bool {
        CopyOut::of(statement).is_some()
    }

    async fn answer(
        &self,
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> PgWireResult<Response> {
        let copy = CopyOut::of(statement)
            .ok_or_else(|| user_error("0A000", "only COPY … TO STDOUT is answered here"))?;
        let runner = &self.0;
        let (deadline, limit) = runner.deadline(&*client);
        let plan = runner.plan(&copy.query, deadline, limit).await?;
        let schema = Arc::new(plan.schema().as_arrow().clone());
        let batches = runner.batches(plan, deadline, limit).await?;
        Ok(Response::CopyOut(copy.response(schema, batches)?))
    }
}

/// Plans and runs queries under the limits (the last hook).
pub(super) struct Queries(pub(super) Arc<Runner>);

#[async_trait]
impl QueryHook for Queries {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if !is_query(statement) {
            return None;
        }
        Some(
            self.0
                .answer(statement, &*client)
                .await
                .map(Response::Query),
        )
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if !is_query(statement) {
            return None;
        }
        let (deadline, limit) = self.0.deadline(client);
        Some(self.0.plan(statement, deadline, limit).await)
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // Queries of the extended protocol run in `Service::do_query`, which has the portal's
        // result formats.
        None
    }
}
