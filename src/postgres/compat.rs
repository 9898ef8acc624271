//! What PostgreSQL clients send on connect and for introspection that `datafusion-pg-catalog`
//! does not answer as PostgreSQL does: the catalog functions it lacks, and rewrites of a
//! statement before it is planned.
//!
//! - `pg_get_serial_sequence(table, column)`: NULL (the lake has no sequences). SQLAlchemy's
//!   inspector calls it in `get_columns`, which Superset and `pandas.read_sql` use.
//! - `pg_type`'s function columns (`typreceive`, `typsend`, `typinput`, `typoutput`) are
//!   `regproc` in PostgreSQL, text here (function names, `-` for none). The ADBC driver asks
//!   `typreceive != 0 OR typsend != 0`; a comparison of one of them with the number 0 is
//!   rewritten to a comparison with `'-'`, which means the same.

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, BinaryOperator, Expr, Statement, Value,
};

/// The functions `datafusion-pg-catalog` lacks.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    )]
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

/// `statement` with PostgreSQL's catalog idioms in the forms DataFusion plans.
pub fn rewrite(statement: &Statement) -> Statement {
    let mut statement = statement.clone();
    let _ = visit_expressions_mut(&mut statement, |expr| {
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
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

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
}
