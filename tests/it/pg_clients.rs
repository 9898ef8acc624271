//! The clients BI and data tools are built on, against `convlake serve --pg` with a password
//! login (pinned in `tests/python/requirements.txt`): SQLAlchemy's inspector over psycopg2
//! (Superset, `pandas.read_sql`), connectorx and Polars (which read with
//! `COPY (…) TO STDOUT WITH BINARY`), the ADBC PostgreSQL driver, asyncpg, pgjdbc (DBeaver,
//! Metabase, Tableau; Debian's `libpostgresql-jdbc-java` run with the JDK's single-file
//! launcher) and node-postgres (from the npm registry). Each lists the tables, reads
//! `participants`' columns, and gets the rows `convlake sql` gives for a parameterised query.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::engines::python;
use crate::pg::{serve_pg, PASSWORD, USER};
use crate::slt::fixture_lake;
use crate::util::{repo, sql_rows};

/// What a client program printed (JSON), or the test fails with its output.
fn printed(name: &str, command: &mut Command) -> Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Serialises the installs of the tests in this file (they run in parallel).
fn install_lock() -> std::fs::File {
    let lock =
        std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("apt.lock")).unwrap();
    lock.lock().unwrap();
    lock
}

/// Whether `program` runs on this machine.
fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// pgjdbc's jar, installed from Debian's `libpostgresql-jdbc-java` (with a JDK) when missing.
fn pgjdbc() -> PathBuf {
    let jar = PathBuf::from("/usr/share/java/postgresql.jar");
    let ready = || jar.exists() && has("java");
    if !ready() {
        let _lock = install_lock();
        if !ready() {
            let installed = Command::new("sh")
                .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless libpostgresql-jdbc-java"])
                .status()
                .expect("apt-get is needed to install pgjdbc (libpostgresql-jdbc-java) and a JDK");
            assert!(
                installed.success(),
                "apt-get install libpostgresql-jdbc-java failed"
            );
        }
    }
    jar
}

/// node-postgres, pinned, installed from the npm registry under the target directory.
const NODE_PG: &str = "pg@8.16.3";

fn node_modules() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("convlake-node");
    let stamp = root.join("installed.txt");
    let _lock = install_lock();
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(NODE_PG) {
        if !has("npm") {
            let installed = Command::new("sh")
                .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm"])
                .status()
                .expect("apt-get is needed to install Node.js and npm");
            assert!(installed.success(), "apt-get install nodejs npm failed");
        }
        std::fs::create_dir_all(&root).unwrap();
        let installed = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&root)
            .arg(NODE_PG)
            .status()
            .expect("npm (Node.js) is needed to install node-postgres");
        assert!(installed.success(), "npm install {NODE_PG} failed");
        std::fs::write(&stamp, NODE_PG).unwrap();
    }
    root.join("node_modules")
}

/// Runs `tests/python/bi_clients.py CLIENT URI`: what it printed.
fn client(name: &str, uri: &str) -> Value {
    printed(
        name,
        Command::new(python())
            .arg(repo().join("tests/python/bi_clients.py"))
            .args([name, uri]),
    )
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
    assert_lists(&out);
    assert_eq!(out["tables"], out["default_tables"]);
    assert_eq!(out["has_table"], true);
    assert_eq!(
        out["keys"],
        serde_json::json!({"pk": [], "fk": [], "indexes": [], "unique": [], "check": [], "comment": null})
    );
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

/// Tables, views and `participants`' columns as every client should list them.
fn assert_lists(out: &Value) {
    let tables = names(&out["tables"]);
    assert!(
        tables.contains(&"participants") && tables.contains(&"metrics"),
        "{out}"
    );
    assert!(
        names(&out["views"]).contains(&"conversation_summary"),
        "{out}"
    );
    let columns = names(&out["columns"]);
    assert!(
        columns.starts_with(&["conversation_id"]) && columns.contains(&"attributes"),
        "{out}"
    );
}

/// What a client listed, and the rows as `id,purpose` lines.
fn assert_lists_and_reads(out: &Value) {
    assert_lists(out);
    let mut want: Vec<String> = expected()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{},{}", r[0].as_str().unwrap(), r[1].as_str().unwrap()))
        .collect();
    want.sort();
    assert_eq!(out["rows"], serde_json::to_value(want).unwrap());
}

#[test]
fn pgjdbc_metadata_and_prepared_statements() {
    let jar = pgjdbc();
    let server = serve_pg(fixture_lake(), &[]);
    let url = format!(
        "jdbc:postgresql://127.0.0.1:{}/convlake?sslmode=disable",
        server.port
    );
    let out = printed(
        "pgjdbc",
        Command::new("java")
            .arg("-cp")
            .arg(&jar)
            .arg(repo().join("tests/java/PgJdbcClient.java"))
            .args([&url, USER, PASSWORD]),
    );
    assert_lists_and_reads(&out);
    assert!(out["version"].as_str().unwrap().starts_with("16."), "{out}");
}

#[test]
fn node_postgres_information_schema_and_parameters() {
    let modules = node_modules();
    let server = serve_pg(fixture_lake(), &[]);
    let out = printed(
        "node-postgres",
        Command::new("node")
            .arg(repo().join("tests/node/pg_client.js"))
            .arg(uri(server.port))
            .env("NODE_PATH", &modules),
    );
    assert_lists_and_reads(&out);
}
