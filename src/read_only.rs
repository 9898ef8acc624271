//! Catalogs that no statement can change, for the sessions of the servers.
//!
//! Every session of `convlake serve` (HTTP and PostgreSQL) derives from one shared state per
//! lake version, and so shares its catalog: a table registered by one session (`CREATE VIEW`,
//! `SELECT ... INTO`, a cursor over either) would appear in every other session, held in
//! memory outside any session's pool. The servers refuse such statements before planning and
//! check each plan; these wrappers are the floor under those checks: registering or dropping
//! a catalog, schema or table through them fails, whatever path asked for it.
//!
//! Reading passes straight through (the wrapped providers answer `table`, `table_type` and
//! the name listings), so scans, `information_schema` and `pg_catalog` see what they saw.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SessionState, SessionStateBuilder};

/// `state` with its catalogs wrapped read-only.
pub fn read_only_state(state: SessionState) -> SessionState {
    let catalogs: Arc<dyn CatalogProviderList> =
        Arc::new(ReadOnlyCatalogs(state.catalog_list().clone()));
    SessionStateBuilder::new_from_existing(state)
        .with_catalog_list(catalogs)
        .build()
}

fn refused(what: &str) -> DataFusionError {
    DataFusionError::Plan(format!(
        "cannot {what}: this server is read-only (the lake changes only through convlake ingest, optimize and vacuum)"
    ))
}

/// A catalog list that lists and hands out read-only catalogs.
#[derive(Debug)]
pub struct ReadOnlyCatalogs(Arc<dyn CatalogProviderList>);

impl CatalogProviderList for ReadOnlyCatalogs {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // The trait gives no way to fail; nothing is registered.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.0.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        self.0
            .catalog(name)
            .map(|c| Arc::new(ReadOnlyCatalog(c)) as Arc<dyn CatalogProvider>)
    }
}

/// A catalog whose schemas are read-only and cannot be added or dropped.
#[derive(Debug)]
struct ReadOnlyCatalog(Arc<dyn CatalogProvider>);

impl CatalogProvider for ReadOnlyCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.0.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.0
            .schema(name)
            .map(|s| Arc::new(ReadOnlySchema(s)) as Arc<dyn SchemaProvider>)
    }

    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refused(&format!("create the schema {name}")))
    }

    fn deregister_schema(
        &self,
        name: &str,
        _cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refused(&format!("drop the schema {name}")))
    }
}

/// A schema whose tables cannot be registered or dropped.
#[derive(Debug)]
struct ReadOnlySchema(Arc<dyn SchemaProvider>);

#[async_trait]
impl SchemaProvider for ReadOnlySchema {
    fn owner_name(&self) -> Option<&str> {
        self.0.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.0.table(name).await
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        self.0.table_type(name).await
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refused(&format!("create the table {name}")))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refused(&format!("drop the table {name}")))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn no_statement_registers_anything_through_a_read_only_state() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE VIEW base AS SELECT 1 AS one")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let guarded = SessionContext::new_with_state(read_only_state(ctx.state()));
        for statement in [
            "CREATE VIEW stolen AS SELECT 1",
            "CREATE TABLE stolen AS SELECT 1",
            "SELECT 1 AS x INTO stolen",
            "CREATE SCHEMA stolen",
        ] {
            let outcome = async { guarded.sql(statement).await?.collect().await }.await;
            let err = outcome.expect_err(statement).to_string();
            assert!(err.contains("read-only"), "{statement}: {err}");
        }
        let dropped = async { guarded.sql("DROP VIEW base").await?.collect().await }.await;
        assert!(dropped.is_err(), "DROP VIEW went through");
        // Reads still pass, and neither the guarded nor the shared catalog gained a table.
        let rows = guarded.sql("SELECT one FROM base").await.unwrap();
        assert_eq!(rows.collect().await.unwrap()[0].num_rows(), 1);
        let names = ctx
            .catalog("datafusion")
            .unwrap()
            .schema("public")
            .unwrap()
            .table_names();
        assert_eq!(names, vec!["base".to_string()]);
    }
}
