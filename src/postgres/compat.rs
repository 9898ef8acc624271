//! What PostgreSQL clients send on connect and for introspection that `datafusion-pg-catalog`
//! does not answer as PostgreSQL does: the catalog functions it lacks, and rewrites of a
//! statement before it is planned.
//!
//! - `pg_get_serial_sequence(table, column)`: NULL (the lake has no sequences). SQLAlchemy's
//!   inspector calls it in `get_columns`, which Superset and `pandas.read_sql` use.
//! - `pg_collation_is_visible(oid)`: true; `pg_get_indexdef(…)`: NULL (the lake has no index).
//! - `json_build_object(key, value, …)`: a JSON object, as PostgreSQL builds it (SQLAlchemy's
//!   `get_columns` plans it for identity columns and collations, which the lake has none of).
//! - `x = ANY($1)` with a parameter: PostgreSQL reads the parameter as an array (the ADBC
//!   driver sends `{p,f,t,m,v,r}`, as text or as `text[]`, to list tables); DataFusion would
//!   take text as a string, so the parameter goes through `convlake_pg_array`, which reads
//!   PostgreSQL's array literal and passes a list through.
//! - A scalar subquery over the catalog alone (`(SELECT pg_get_expr(adbin, adrelid) FROM
//!   pg_attrdef WHERE …)`, as SQLAlchemy writes its column introspection) returns its one row
//!   through `max(…)`: DataFusion plans correlated scalar subqueries only when aggregated.
//!   Catalog lookups by key give at most one row, so the answer is the same; subqueries over
//!   the lake's tables are left as written.
//!   A `CASE WHEN cond THEN (such a subquery) [ELSE NULL] END` becomes
//!   `convlake_when(cond, (subquery))`, the same value: DataFusion decorrelates no subquery
//!   inside `CASE` (its branches are evaluated conditionally), but does in a function's
//!   arguments.
//!   A scalar subquery over `pg_attrdef` or `pg_sequence` is NULL: the lake has no column
//!   defaults and no sequences, so those tables hold no rows here (and their subqueries refer
//!   to outer columns in ways DataFusion cannot decorrelate).
//! - `pg_my_temp_schema()`: 0 (no session has a temporary schema).
//! - `pg_type`'s function columns (`typreceive`, `typsend`, `typinput`, `typoutput`) are
//!   `regproc` in PostgreSQL, text here (function names, `-` for none). The ADBC driver asks
//!   `typreceive != 0 OR typsend != 0`; a comparison of one of them with the number 0 is
//!   rewritten to a comparison with `'-'`, which means the same.
//! - `unnest(indkey)`, `generate_subscripts(indkey, 1)` over the `int2vector` and `oidvector`
//!   columns of `pg_index` and `pg_constraint` (text here): an empty set. The lake has no
//!   index and no constraint, so those tables hold no rows; SQLAlchemy's `get_pk_constraint`,
//!   `get_indexes` and `get_unique_constraints` (Superset's dataset page) plan them.
//! - `pg_class.reloptions`, which `pg_catalog` lacks: NULL (no table has storage options),
//!   named `reloptions` where it is a result column.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, Query, SelectItem, SetExpr, Statement, TableFactor, Value, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The functions `datafusion-pg-catalog` lacks.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        create_udf(
            "pg_get_serial_sequence",
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ),
        ScalarUDF::from(JsonBuildObject::new()),
        ScalarUDF::from(PgArray {
            signature: datafusion::logical_expr::Signature::any(1, Volatility::Immutable),
        }),
        ScalarUDF::from(When {
            signature: datafusion::logical_expr::Signature::any(2, Volatility::Immutable),
        }),
        create_udf(
            "pg_my_temp_schema",
            vec![],
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(0))))),
        ),
        // The lake has no index: each index's definition is NULL (PostgreSQL's answer for an
        // oid that is no index); 1- and 3-argument forms.
        ScalarUDF::from(NullText {
            name: "pg_get_indexdef",
            signature: datafusion::logical_expr::Signature::variadic_any(Volatility::Immutable),
        }),
        // Every collation is visible: the lake's columns have none of their own.
        create_udf(
            "pg_collation_is_visible",
            vec![DataType::Int64],
            DataType::Boolean,
            Volatility::Immutable,
            Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
        ),
    ]
}

/// `json_build_object(key, value, …)`: one JSON object per row; keys as text, values as JSON
/// numbers, booleans, null or strings.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: datafusion::logical_expr::Signature,
}

impl JsonBuildObject {
    fn new() -> Self {
        JsonBuildObject {
            signature: datafusion::logical_expr::Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        use arrow::array::{Array, AsArray, StringBuilder};
        if !args.args.len().is_multiple_of(2) {
            return datafusion::common::plan_err!(
                "json_build_object takes key, value pairs (an even number of arguments)"
            );
        }
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text: Vec<arrow::array::ArrayRef> = arrays
            .iter()
            .map(|a| arrow::compute::cast(a, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let mut out = StringBuilder::new();
        for row in 0..rows {
            // Written by hand: PostgreSQL keeps the keys in the order given.
            let mut object = String::from("{");
            for pair in 0..arrays.len() / 2 {
                let (key, value) = (&text[2 * pair], &arrays[2 * pair + 1]);
                let key = key.as_string::<i32>();
                let key = if key.logical_nulls().is_some_and(|n| n.is_null(row)) {
                    ""
                } else {
                    key.value(row)
                };
                let shown = text[2 * pair + 1].as_string::<i32>();
                let json = if value.logical_nulls().is_some_and(|n| n.is_null(row)) {
                    serde_json::Value::Null
                } else if value.data_type() == &DataType::Boolean {
                    serde_json::Value::Bool(value.as_boolean().value(row))
                } else if value.data_type().is_numeric() {
                    serde_json::from_str(shown.value(row))
                        .unwrap_or_else(|_| serde_json::Value::String(shown.value(row).into()))
                } else {
                    serde_json::Value::String(shown.value(row).into())
                };
                if pair > 0 {
                    object.push(',');
                }
                object.push_str(&serde_json::Value::String(key.to_string()).to_string());
                object.push(':');
                object.push_str(&json.to_string());
            }
            object.push('}');
            out.append_value(object);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `pg_type`'s columns that name functions (`regproc` in PostgreSQL).
const REGPROC_COLUMNS: &[&str] = &["typreceive", "typsend", "typinput", "typoutput"];

fn is_regproc_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(ident) => &ident.value,
            None => return false,
        },
        _ => return false,
    };
    REGPROC_COLUMNS.contains(&name.to_lowercase().as_str())
}

fn is_zero(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n == "0"))
}

/// `$n` read as an array: `convlake_pg_array($n || '')` (the concatenation makes DataFusion
/// type the parameter as text when the client left its type open, as the ADBC driver does;
/// a function argument alone would leave it untyped, and its value unread).
fn parameter_array(placeholder: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("convlake_pg_array({placeholder} || '')"))
        .ok()?
        .parse_expr()
        .ok()
}

/// `convlake_pg_array(x)`: a list as it is, or text in PostgreSQL's array literal form
/// (`{a,b,"c d"}`) as a list of text; what a parameter compared with `ANY` is, however the
/// client sent it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgArray {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for PgArray {
    fn name(&self) -> &str {
        "convlake_pg_array"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(match args.first() {
            Some(list @ (DataType::List(_) | DataType::LargeList(_))) => list.clone(),
            _ => DataType::new_list(DataType::Utf8, true),
        })
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        use arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let input = &arrays[0];
        if matches!(
            input.data_type(),
            DataType::List(_) | DataType::LargeList(_)
        ) {
            return Ok(ColumnarValue::Array(input.clone()));
        }
        let text = arrow::compute::cast(input, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut out = ListBuilder::new(StringBuilder::new());
        for row in 0..text.len() {
            if text.is_null(row) {
                out.append_null();
                continue;
            }
            let literal = text.value(row).trim();
            let inner = literal
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or(literal);
            for item in inner.split(',').filter(|i| !i.trim().is_empty()) {
                out.values().append_value(item.trim().trim_matches('"'));
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Aggregates a scalar subquery may already end in.
const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
];

/// Whether `factor` is a table of the PostgreSQL catalog.
fn in_catalog(factor: &TableFactor) -> bool {
    match factor {
        TableFactor::Table { name, .. } => {
            let name = name.to_string().to_lowercase();
            name.starts_with("pg_catalog.") || name.starts_with("pg_")
        }
        _ => false,
    }
}

/// Catalog tables that hold no rows on this server.
const EMPTY_CATALOG: &[&str] = &["pg_attrdef", "pg_sequence"];

/// Whether `query` is a `SELECT` reading one of [`EMPTY_CATALOG`] (joined or alone).
fn reads_empty_catalog(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => {
            let name = name.to_string().to_lowercase();
            EMPTY_CATALOG.contains(&name.trim_start_matches("pg_catalog."))
        }
        _ => false,
    };
    select
        .from
        .iter()
        .any(|t| empty(&t.relation) || t.joins.iter().any(|j| empty(&j.relation)))
}

/// A one-column scalar subquery over catalog tables only, its column wrapped in `max(…)`.
fn aggregate_catalog_subquery(query: &mut Query) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let catalog_only = !select.from.is_empty()
        && select
            .from
            .iter()
            .all(|t| in_catalog(&t.relation) && t.joins.iter().all(|j| in_catalog(&j.relation)));
    let plain_group = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !catalog_only || !plain_group || select.projection.len() != 1 {
        return;
    }
    let expr = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return,
    };
    if let Expr::Function(f) = &*expr {
        let name = f.name.to_string().to_lowercase();
        if AGGREGATES.contains(&name.trim_start_matches("pg_catalog.")) {
            return;
        }
    }
    let wrapped = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("max({expr})"))
        .and_then(|mut p| p.parse_expr());
    if let Ok(wrapped) = wrapped {
        *expr = wrapped;
    }
}

/// `CASE WHEN cond THEN (catalog subquery) [ELSE NULL] END` as
/// `convlake_when(cond, (subquery))`.
fn case_into_subquery(expr: &Expr) -> Option<Expr> {
    let Expr::Case {
        operand: None,
        conditions,
        else_result,
        ..
    } = expr
    else {
        return None;
    };
    let no_else = match else_result.as_deref() {
        None => true,
        Some(Expr::Value(v)) => matches!(v.value, Value::Null),
        Some(_) => false,
    };
    let [when] = conditions.as_slice() else {
        return None;
    };
    let Expr::Subquery(query) = &when.result else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let catalog_only = select
        .from
        .iter()
        .all(|t| in_catalog(&t.relation) && t.joins.iter().all(|j| in_catalog(&j.relation)));
    if !no_else || !catalog_only {
        return None;
    }
    let sql = format!("convlake_when({}, ({}))", when.condition, query);
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&sql)
        .ok()?
        .parse_expr()
        .ok()
}

/// `convlake_when(cond, value)`: `value` where `cond` is true, else NULL (`CASE WHEN cond
/// THEN value END` as a plain function, whose arguments DataFusion may decorrelate).
#[derive(Debug, PartialEq, Eq, Hash)]
struct When {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for When {
    fn name(&self) -> &str {
        "convlake_when"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(args.get(1).cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        use arrow::array::{AsArray, BooleanArray};
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let cond = arrow::compute::cast(&arrays[0], &DataType::Boolean)?;
        let hide: BooleanArray = cond
            .as_boolean()
            .iter()
            .map(|c| Some(c != Some(true)))
            .collect();
        Ok(ColumnarValue::Array(arrow::compute::nullif(
            &arrays[1], &hide,
        )?))
    }
}

/// A catalog function that is NULL for whatever it is given (the lake has none of what it
/// describes).
#[derive(Debug, PartialEq, Eq, Hash)]
struct NullText {
    name: &'static str,
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for NullText {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        _: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
    }
}

/// Catalog columns of PostgreSQL that `pg_catalog` lacks and that are NULL for every table
/// of the lake.
const MISSING_COLUMNS: &[&str] = &["reloptions"];

/// The name of the [`MISSING_COLUMNS`] column `expr` refers to.
fn missing_column(expr: &Expr) -> Option<&'static str> {
    let name = match expr {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => &parts.last()?.value,
        _ => return None,
    };
    MISSING_COLUMNS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(name))
        .copied()
}

/// Gives a [`MISSING_COLUMNS`] column that is a result column its name, before it becomes
/// NULL.
struct NameMissingColumns;

impl VisitorMut for NameMissingColumns {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) = item {
                    if let Some(name) = missing_column(expr) {
                        *item = SelectItem::ExprWithAlias {
                            expr: Expr::Value(Value::Null.into()),
                            alias: Ident::new(name),
                        };
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The vector columns of `pg_index` and `pg_constraint` (`int2vector`, `oidvector`, arrays).
const VECTOR_COLUMNS: &[&str] = &[
    "indkey",
    "indclass",
    "indcollation",
    "indoption",
    "conkey",
    "confkey",
    "conpfeqop",
    "conppeqop",
    "conffeqop",
    "conexclop",
];

/// `unnest(v)` or `generate_subscripts(v, d)` of a [`VECTOR_COLUMNS`] column, as the empty set
/// it is on this server (an `unnest` of a typed NULL array).
fn empty_vector_set(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.to_string().to_lowercase();
    let name = name.trim_start_matches("pg_catalog.");
    if name != "unnest" && name != "generate_subscripts" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let column = match list.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(i))) => i.value.clone(),
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(parts))) => {
            parts.last()?.value.clone()
        }
        _ => return None,
    };
    if !VECTOR_COLUMNS.contains(&column.to_lowercase().as_str()) {
        return None;
    }
    let sql = if name == "unnest" {
        "unnest(CAST(NULL AS SMALLINT[]))"
    } else {
        "unnest(CAST(NULL AS INT[]))"
    };
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// The name of the parameter `expr` is (in parentheses or not).
fn placeholder(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Nested(inner) => placeholder(inner),
        Expr::Value(v) => match &v.value {
            Value::Placeholder(name) => Some(name.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `statement` with PostgreSQL's catalog idioms in the forms DataFusion plans.
pub fn rewrite(statement: &Statement) -> Statement {
    let mut statement = statement.clone();
    let _ = statement.visit(&mut NameMissingColumns);
    let _ = visit_expressions_mut(&mut statement, |expr| {
        // `x = ANY(arr)` reaches here as `array_contains(arr, x)` (datafusion-pg-catalog's
        // rewrite), or as it was written.
        let array = match expr {
            Expr::AnyOp { right, .. } => Some(&mut **right),
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("array_contains") => {
                match &mut f.args {
                    FunctionArguments::List(list) => match list.args.first_mut() {
                        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) => Some(e),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(array) = array {
            if let Some(name) = placeholder(array) {
                if let Some(split) = parameter_array(&name) {
                    *array = split;
                }
            }
        }
        if let Expr::Subquery(query) = expr {
            if reads_empty_catalog(query) {
                *expr = Expr::Value(Value::Null.into());
            } else {
                aggregate_catalog_subquery(query);
            }
        }
        if missing_column(expr).is_some() {
            *expr = Expr::Value(Value::Null.into());
        }
        if let Some(empty) = empty_vector_set(expr) {
            *expr = empty;
        }
        if let Some(pushed) = case_into_subquery(expr) {
            *expr = pushed;
        }
        if let Expr::BinaryOp { left, op, right } = expr {
            if matches!(op, BinaryOperator::NotEq | BinaryOperator::Eq) {
                let dash = || Expr::Value(Value::SingleQuotedString("-".into()).into());
                if is_regproc_column(left) && is_zero(right) {
                    **right = dash();
                } else if is_regproc_column(right) && is_zero(left) {
                    **left = dash();
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regproc_comparisons_with_zero_compare_with_the_dash() {
        let sql = "SELECT oid, typname, typreceive FROM pg_catalog.pg_type WHERE (typreceive != 0 OR t.typsend != 0) AND typtype != 'r' AND typreceive::TEXT != 'array_recv' AND typlen != 0";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let text = rewrite(&statement).to_string();
        assert!(text.contains("typreceive <> '-'"), "{text}");
        assert!(text.contains("t.typsend <> '-'"), "{text}");
        assert!(text.contains("typlen <> 0"), "other columns stay: {text}");
        assert!(text.contains("'array_recv'"), "{text}");
    }

    #[test]
    fn index_vectors_unnest_to_nothing_and_missing_columns_are_null_by_name() {
        let sql = "SELECT c.relname, c.reloptions, x.a FROM pg_catalog.pg_class c JOIN (SELECT unnest(pg_catalog.pg_index.indkey) AS a, generate_subscripts(i.indkey, 1) AS o, unnest(ARRAY[1]) AS keep FROM pg_catalog.pg_index i) x ON true WHERE c.reloptions IS NULL";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let text = rewrite(&statement).to_string();
        assert!(
            text.contains("unnest(CAST(NULL AS SMALLINT[])) AS a"),
            "{text}"
        );
        assert!(text.contains("unnest(CAST(NULL AS INT[])) AS o"), "{text}");
        assert!(text.contains("unnest(ARRAY[1]) AS keep"), "{text}");
        assert!(text.contains("c.relname, NULL AS reloptions"), "{text}");
        assert!(text.contains("WHERE NULL IS NULL"), "{text}");
    }

    #[test]
    fn any_of_a_parameter_splits_it_as_an_array() {
        let sql = "SELECT relname FROM pg_class c WHERE c.relkind = ANY($2) AND c.relname = ANY(ARRAY['a']) AND array_contains($3, c.relname)";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let text = rewrite(&statement).to_string();
        assert!(
            text.contains("c.relkind = ANY(convlake_pg_array($2 || ''))"),
            "{text}"
        );
        assert!(
            text.contains("ANY(ARRAY['a'])"),
            "literal arrays stay: {text}"
        );
        assert!(
            text.contains("array_contains(convlake_pg_array($3 || ''), c.relname)"),
            "{text}"
        );
    }

    #[test]
    fn scalar_subqueries_over_the_catalog_are_aggregated_and_others_are_not() {
        let sql = "SELECT a.attname, (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) AS def, (SELECT c.collname FROM pg_catalog.pg_collation c WHERE c.oid = a.attcollation) AS coll, (SELECT count(*) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS n, (SELECT m.value FROM metrics m WHERE m.conversation_id = a.attname) AS v, CASE WHEN a.attcollation <> 0 THEN (SELECT c.collname FROM pg_catalog.pg_collation c WHERE c.oid = a.attcollation) END AS w FROM pg_catalog.pg_attribute a";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let text = rewrite(&statement).to_string();
        assert!(text.contains("a.attname, NULL AS def"), "{text}");
        assert!(
            text.contains("(SELECT max(c.collname) FROM pg_catalog.pg_collation c WHERE c.oid = a.attcollation) AS coll"),
            "{text}"
        );
        assert!(
            text.contains("convlake_when(a.attcollation <> 0, (SELECT max(c.collname) FROM pg_catalog.pg_collation c WHERE c.oid = a.attcollation)) AS w"),
            "{text}"
        );
        assert!(
            text.contains("(SELECT count(*) FROM pg_catalog.pg_type"),
            "{text}"
        );
        assert!(
            text.contains("(SELECT m.value FROM metrics"),
            "the lake's stay: {text}"
        );
    }

    #[tokio::test]
    async fn json_build_object_builds_objects_of_typed_values() {
        let ctx = datafusion::prelude::SessionContext::new();
        for udf in udfs() {
            ctx.register_udf(udf);
        }
        let batches = ctx
            .sql("SELECT json_build_object('always', true, 'start', 1, 'name', 'x', 'none', NULL) AS j")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let j = arrow::compute::cast(batches[0].column(0), &DataType::Utf8).unwrap();
        use arrow::array::AsArray;
        assert_eq!(
            j.as_string::<i32>().value(0),
            r#"{"always":true,"start":1,"name":"x","none":null}"#
        );
    }
}
