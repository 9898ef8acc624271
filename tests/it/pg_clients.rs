//! The clients BI and data tools are built on, against `convlake serve --pg` with a password
//! login (pinned in `tests/python/requirements.txt`): SQLAlchemy's inspector over psycopg2
//! (Superset, `pandas.read_sql`), connectorx and Polars (which read with
//! `COPY (…) TO STDOUT WITH BINARY`), the ADBC PostgreSQL driver and asyncpg. Each lists the
//! tables, reads `participants`' columns, and gets the rows `convlake sql` gives for a
//! parameterised query.

use std::process::Command;

use serde_json::Value;

use crate::engines::python;
use crate::pg::{serve_pg, PASSWORD, USER};
use crate::slt::fixture_lake;
use crate::util::{repo, sql_rows};

/// Runs `tests/python/bi_clients.py CLIENT URI`: what it printed.
fn client(name: &str, uri: &str) -> Value {
    let out = Command::new(python())
        .arg(repo().join("tests/python/bi_clients.py"))
        .args([name, uri])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows the clients should get, as `[id, purpose]` pairs sorted.
fn expected() -> Value {
    let mut rows: Vec<Vec<String>> = sql_rows(
        fixture_lake(),
        "SELECT conversation_id, purpose FROM participants WHERE purpose = 'agent'",
    )
    .iter()
    .map(|l| l.split(',').map(str::to_string).collect())
    .collect();
    rows.sort();
    assert!(rows.len() > 3, "the fixture has agents");
    serde_json::to_value(rows).unwrap()
}

fn uri(port: u16) -> String {
    format!("postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/convlake?sslmode=disable")
}

fn names(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn sqlalchemy_and_pandas_over_psycopg2() {
    let server = serve_pg(fixture_lake(), &[]);
    let out = client("sqlalchemy", &uri(server.port));
    assert_eq!(out["rows"], expected());
    let tables = names(&out["tables"]);
    assert!(
        tables.contains(&"participants") && tables.contains(&"metrics"),
        "{out}"
    );
    assert!(
        names(&out["views"]).contains(&"conversation_summary"),
        "{out}"
    );
    assert_eq!(out["tables"], out["default_tables"]);
    let columns = names(&out["columns"]);
    assert!(
        columns.starts_with(&["conversation_id"]) && columns.contains(&"attributes"),
        "{out}"
    );
    assert_eq!(out["has_table"], true);
}

#[test]
fn connectorx_and_polars_read_with_copy() {
    let server = serve_pg(fixture_lake(), &[]);
    let out = client("connectorx", &uri(server.port));
    let want = expected();
    for protocol in ["binary", "csv", "cursor", "polars"] {
        assert_eq!(out[protocol], want, "{protocol}");
    }
}

#[test]
fn adbc_lists_tables_and_reads_arrow() {
    let lake = fixture_lake();
    let server = serve_pg(lake, &[]);
    let out = client("adbc", &uri(server.port));
    assert_eq!(out["rows"], expected());
    assert_eq!(
        out["count"].to_string(),
        sql_rows(lake, "SELECT count(*) FROM conversations")[0]
    );
    assert!(names(&out["tables"]).contains(&"participants"), "{out}");
    assert!(names(&out["columns"]).contains(&"attributes"), "{out}");
}

#[test]
fn asyncpg_binary_protocol() {
    let server = serve_pg(fixture_lake(), &[]);
    let out = client("asyncpg", &uri(server.port));
    assert_eq!(out["rows"], expected());
}
