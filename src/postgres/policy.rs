//! What a PostgreSQL session may run: the allow-list of statements and the rules of `SET`.
//!
//! Checked on the parsed statement before anything is planned, on both protocols and for
//! every statement of a multi-statement string (the hooks see each one):
//!
//! - **Statements**: queries, `EXPLAIN` of them, `SHOW`, transaction control, `SET`, cursors
//!   over queries (`DECLARE … CURSOR FOR`, `FETCH`, `CLOSE`), `DISCARD`, `DEALLOCATE` and
//!   `COPY (query) TO STDOUT`. Anything else is `25006` (read-only).
//! - **Everywhere inside them**: the whole statement tree is walked, so a `SELECT … INTO`, an
//!   `INSERT … RETURNING` in a CTE, or a write inside `EXPLAIN ANALYZE` or behind a cursor is
//!   refused wherever it sits.
//! - **Depth**: expressions may nest at most [`MAX_DEPTH`] deep (`54001` past it), so what a
//!   statement costs the planner in stack and time is bounded before planning starts.
//! - **`SET`**: the name is compared in its normalised form (quotes removed, lower case, parts
//!   joined with `.`, as DataFusion itself resolves it), so no spelling reaches a setting that
//!   is not on the list. PostgreSQL's client settings are accepted (they only shape the
//!   session's output); of DataFusion's, only those that cannot lift a limit, within bounds.
//!   `datafusion.runtime.*` (memory limit, spill directory) is the server's (`42501`).
//!
//! The plan of every query is checked again after planning (no DDL, DML or statements), and
//! the sessions' catalogs are read-only ([`crate::read_only`]): three floors, one under the
//! other.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CopySource, CopyTarget, DeclareType, Expr, ObjectName, Set, SetExpr, Statement, Value, Visit,
    Visitor,
};

/// Why a statement may not run, as the SQLSTATE and message sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The SQLSTATE: `25006` for a write, `42501` for a setting that is the server's,
    /// `22023` for a value out of bounds, `0A000` for a form convlake does not run.
    pub code: &'static str,
    /// What is refused and what to do instead.
    pub message: String,
}

impl Refusal {
    fn read_only(what: &str) -> Refusal {
        Refusal {
            code: "25006",
            message: format!("cannot execute {what}: this server is read-only (the lake changes only through convlake ingest, optimize and vacuum)"),
        }
    }
}

/// PostgreSQL settings that clients send on connect or while they work; they change only
/// how this session's results are formatted or named, never a limit.
const CLIENT_SETTINGS: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "intervalstyle",
    "jit",
    "lc_messages",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "lock_timeout",
    "names",
    "search_path",
    "standard_conforming_strings",
    "statement_timeout",
    "timezone",
    "transaction_isolation",
    "transaction_read_only",
];

/// DataFusion settings a session may change: what it shows (`EXPLAIN`, display formats),
/// its time zone, and its batch size within [`MAX_BATCH_SIZE`]. Prefixes end with `.`.
const ENGINE_SETTINGS: &[&str] = &[
    "datafusion.execution.time_zone",
    "datafusion.execution.batch_size",
    "datafusion.explain.",
    "datafusion.format.",
];

/// Largest `datafusion.execution.batch_size` a session may ask for.
pub const MAX_BATCH_SIZE: u64 = 65_536;

/// A setting's name as DataFusion resolves it: each part unquoted, lower case, joined by `.`.
pub fn setting_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => ident.value.to_lowercase(),
            None => part.to_string().to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `SET name = values` may run.
fn check_setting(name: &ObjectName, values: &[&Expr]) -> Result<(), Refusal> {
    let name = setting_name(name);
    if CLIENT_SETTINGS.contains(&name.as_str()) {
        return Ok(());
    }
    let allowed = ENGINE_SETTINGS.iter().any(|s| {
        if s.ends_with('.') {
            name.starts_with(s)
        } else {
            name == *s
        }
    });
    if !allowed {
        let why = if name.starts_with("datafusion.runtime.") {
            "the server sets each session's memory and spill directory (--pg-session-memory)"
        } else {
            "this server lets sessions change PostgreSQL's client settings and DataFusion's display settings only"
        };
        return Err(Refusal {
            code: "42501",
            message: format!("permission denied to set {name}: {why}"),
        });
    }
    if name == "datafusion.execution.batch_size" {
        let size = match values {
            [Expr::Value(v)] => match &v.value {
                Value::Number(n, _) => n.parse::<u64>().ok(),
                Value::SingleQuotedString(s) => s.parse::<u64>().ok(),
                _ => None,
            },
            _ => None,
        };
        if !size.is_some_and(|s| (1..=MAX_BATCH_SIZE).contains(&s)) {
            return Err(Refusal {
                code: "22023",
                message: format!("{name} must be a number from 1 to {MAX_BATCH_SIZE}"),
            });
        }
    }
    Ok(())
}

/// Whether a `SET` statement may run.
fn check_set(set: &Set) -> Result<(), Refusal> {
    match set {
        Set::SingleAssignment {
            hivevar: false,
            variable,
            values,
            ..
        } => check_setting(variable, &values.iter().collect::<Vec<_>>()),
        Set::MultipleAssignments { assignments } => assignments
            .iter()
            .try_for_each(|a| check_setting(&a.name, &[&a.value])),
        Set::SetTimeZone { .. }
        | Set::SetNames { .. }
        | Set::SetNamesDefault {}
        | Set::SetTransaction { .. } => Ok(()),
        other => Err(Refusal {
            code: "42501",
            message: format!(
                "permission denied: {} is not allowed on this server",
                first_words(&other.to_string(), 2)
            ),
        }),
    }
}

/// The first `n` words of `text`, upper case: the verb of a statement for messages.
fn first_words(text: &str, n: usize) -> String {
    text.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The verb of a refused statement for its message (`CREATE TABLE`, `INSERT`, …).
fn verb(statement: &Statement) -> String {
    let text = statement.to_string();
    let first = first_words(&text, 1);
    match first.as_str() {
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" => first_words(&text, 2),
        _ => first,
    }
}

/// Whether `statement` itself (not what it holds) is of a kind a read-only session runs.
fn allowed_kind(statement: &Statement) -> Result<(), Refusal> {
    match statement {
        Statement::Query(_)
        | Statement::Explain { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ExplainTable { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Discard { .. }
        | Statement::Deallocate { .. } => Ok(()),
        Statement::Set(set) => check_set(set),
        Statement::Declare { stmts } => {
            if stmts
                .iter()
                .all(|d| d.declare_type == Some(DeclareType::Cursor) && d.for_query.is_some())
            {
                Ok(())
            } else {
                Err(Refusal {
                    code: "0A000",
                    message: "DECLARE declares cursors only here: DECLARE name CURSOR FOR query"
                        .into(),
                })
            }
        }
        Statement::Copy { .. } if copy_query(statement).is_some() => Ok(()),
        Statement::Copy { .. } => Err(Refusal::read_only(
            "COPY: this server copies query results to the client only: COPY (SELECT …) TO STDOUT",
        )),
        other => Err(Refusal::read_only(&verb(other))),
    }
}

/// For `COPY (query) TO STDOUT` (or `COPY table TO STDOUT`), whether it is one: the only COPY
/// a read-only server runs, as a query.
pub fn copy_query(statement: &Statement) -> Option<()> {
    match statement {
        Statement::Copy {
            source: CopySource::Query(_) | CopySource::Table { .. },
            to: true,
            target: CopyTarget::Stdout,
            ..
        } => Some(()),
        _ => None,
    }
}

/// Deepest nesting of expressions a statement may have (a chain of 1,000 `OR`s is 1,000
/// deep): what planning it costs in stack and time is bounded before it starts. PostgreSQL
/// refuses such statements too (`54001`, stack depth limit exceeded).
pub const MAX_DEPTH: usize = 1_000;

/// Walks a statement tree and stops at the first thing a read-only session may not run.
#[derive(Default)]
struct Walk {
    /// How deep the walk is in expressions now.
    depth: usize,
}

impl Visitor for Walk {
    type Break = Refusal;

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Refusal> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return ControlFlow::Break(Refusal {
                code: "54001",
                message: format!("statement too complex: its expressions nest more than {MAX_DEPTH} deep (a long chain of OR or AND); use IN (…) for a list of values"),
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<Refusal> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Refusal> {
        match allowed_kind(statement) {
            Ok(()) => ControlFlow::Continue(()),
            Err(refusal) => ControlFlow::Break(refusal),
        }
    }

    fn pre_visit_query(
        &mut self,
        query: &datafusion::sql::sqlparser::ast::Query,
    ) -> ControlFlow<Refusal> {
        fn writes(body: &SetExpr) -> Option<&'static str> {
            match body {
                SetExpr::Insert(_) => Some("INSERT"),
                SetExpr::Update(_) => Some("UPDATE"),
                SetExpr::Delete(_) => Some("DELETE"),
                SetExpr::Merge(_) => Some("MERGE"),
                SetExpr::SetOperation { left, right, .. } => writes(left).or(writes(right)),
                _ => None,
            }
        }
        match writes(&query.body) {
            Some(verb) => ControlFlow::Break(Refusal::read_only(verb)),
            None => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_select(
        &mut self,
        select: &datafusion::sql::sqlparser::ast::Select,
    ) -> ControlFlow<Refusal> {
        if select.into.is_some() {
            return ControlFlow::Break(Refusal::read_only("SELECT INTO"));
        }
        ControlFlow::Continue(())
    }
}

/// Why `statement` may not run on this server, if it may not.
pub fn check(statement: &Statement) -> Result<(), Refusal> {
    match statement.visit(&mut Walk::default()) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(refusal) => Err(refusal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    /// The refusal of each statement of `sql` (`None` where it may run).
    fn verdicts(sql: &str) -> Vec<Option<&'static str>> {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|s| check(s).err().map(|r| r.code))
            .collect()
    }

    fn code(sql: &str) -> Option<&'static str> {
        let v = verdicts(sql);
        assert_eq!(v.len(), 1, "{sql}");
        v[0]
    }

    #[test]
    fn queries_and_what_clients_say_around_them_run() {
        for sql in [
            "SELECT conversation_id FROM participants WHERE purpose = 'agent'",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT 2",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT count(*) FROM metrics",
            "SHOW transaction isolation level",
            "SHOW standard_conforming_strings",
            "BEGIN",
            "BEGIN TRANSACTION",
            "COMMIT",
            "ROLLBACK",
            "DECLARE c CURSOR FOR SELECT conversation_id FROM raw_conversations",
            "FETCH 10 FROM c",
            "CLOSE c",
            "DISCARD ALL",
            "COPY (SELECT 1) TO STDOUT WITH BINARY",
            "COPY (SELECT 1) TO STDOUT (FORMAT binary)",
            "COPY (SELECT 1) TO STDOUT WITH CSV",
            "COPY participants TO STDOUT",
            "SET extra_float_digits = 3",
            "SET application_name = 'PostgreSQL JDBC Driver'",
            "SET statement_timeout = '5s'",
            "SET SESSION statement_timeout = 1000",
            "SET TIME ZONE 'Europe/Berlin'",
            "SET search_path = public",
            "SET datafusion.explain.physical_plan_only = true",
            "SET datafusion.execution.batch_size = 4096",
            "SET \"DateStyle\" = 'ISO, MDY'",
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ] {
            assert_eq!(code(sql), None, "{sql}");
        }
    }

    #[test]
    fn writes_are_refused_wherever_they_sit() {
        for sql in [
            "CREATE TABLE t (a INT)",
            "CREATE VIEW v AS SELECT 1",
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'",
            "DROP TABLE participants",
            "INSERT INTO participants VALUES (1)",
            "SELECT conversation_id INTO stolen FROM raw_conversations",
            "SELECT * FROM (SELECT 1 AS a) s WHERE a IN (SELECT 1 INTO stolen)",
            "SELECT 1 UNION SELECT 2 INTO stolen",
            "WITH s AS (SELECT 1 INTO stolen) SELECT * FROM s",
            "WITH w AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM w",
            "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
            "EXPLAIN SELECT 1 INTO stolen",
            "DECLARE c CURSOR FOR SELECT conversation_id INTO stolen FROM raw_conversations",
            "COPY participants FROM STDIN",
            "COPY (SELECT 1) TO '/tmp/x'",
            "COPY participants TO PROGRAM 'sh'",
        ] {
            assert_eq!(code(sql), Some("25006"), "{sql}");
        }
    }

    #[test]
    fn no_spelling_of_a_runtime_setting_gets_through() {
        for sql in [
            "SET datafusion.runtime.memory_limit = '1000G'",
            "SET \"datafusion.runtime.memory_limit\" = '1000G'",
            "SET \"datafusion\".\"runtime\".\"temp_directory\" = '/'",
            "SET DataFusion.Runtime.Memory_Limit = '1000G'",
            "SET \"DATAFUSION.RUNTIME.TEMP_DIRECTORY\" = '/'",
            "SET SESSION datafusion.runtime.memory_limit = '1000G'",
            "SET LOCAL \"datafusion.runtime.memory_limit\" TO '1000G'",
            "SET datafusion.execution.target_partitions = 100000",
            "SET datafusion.optimizer.max_passes = 100000000",
            "SET myapp.anything = 1",
            "SET ROLE postgres",
            "SET SESSION AUTHORIZATION postgres",
        ] {
            assert_eq!(code(sql), Some("42501"), "{sql}");
        }
        assert_eq!(
            code("SET datafusion.execution.batch_size = 100000000"),
            Some("22023")
        );
        assert_eq!(
            code("SET datafusion.execution.batch_size = 0"),
            Some("22023")
        );
    }

    #[test]
    fn statements_nested_too_deep_are_refused_before_planning() {
        let chain = |n: usize| {
            let terms: Vec<String> = (0..n).map(|i| format!("value = {i}")).collect();
            format!("SELECT count(*) FROM metrics WHERE {}", terms.join(" OR "))
        };
        assert_eq!(code(&chain(500)), None);
        assert_eq!(code(&chain(MAX_DEPTH + 10)), Some("54001"));
        let list: Vec<String> = (0..20_000).map(|i| i.to_string()).collect();
        assert_eq!(
            code(&format!(
                "SELECT 1 FROM metrics WHERE value IN ({})",
                list.join(", ")
            )),
            None,
            "a long IN list is flat"
        );
    }

    #[test]
    fn every_statement_of_a_multi_statement_string_is_checked() {
        assert_eq!(
            verdicts("SELECT 1; SET \"datafusion.runtime.memory_limit\" = '1G'; SELECT 2"),
            vec![None, Some("42501"), None]
        );
        assert_eq!(
            verdicts("BEGIN; DECLARE c CURSOR FOR SELECT conversation_id INTO stolen FROM raw_conversations; FETCH 1 FROM c; COMMIT"),
            vec![None, Some("25006"), None, None]
        );
    }
}
