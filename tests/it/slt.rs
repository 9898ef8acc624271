//! SQL behaviour as sqllogictest files (`tests/slt/*.slt`), each run against a fresh session
//! over one fixture lake built from committed inputs (`tests/fixtures`). Regenerate expected
//! results with `CONVLAKE_BLESS=1 cargo test slt`, then review the diff.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use convlake::ingest::discover;
use convlake::lake::upsert::{ingest, IngestOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::{
    default_column_validator, default_normalizer, default_validator, DBOutput, DefaultColumnType,
};

use crate::util::{fixture, repo};

/// The fixture lake: the two real records and a small generated export with its re-export.
pub fn fixture_lake() -> &'static Path {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let inputs = discover(&[fixture("genesys"), fixture("slt")]).unwrap();
        let summary = ingest(
            &convlake::Lake::local(&lake),
            inputs,
            &IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(summary.rejected, 0);
        (dir, lake)
    });
    path
}

struct Db {
    ctx: SessionContext,
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = convlake::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let df = convlake::query::plan(&self.ctx, sql, &[]).await?;
        let columns = df.schema().fields().len();
        let batches = df.collect().await?;
        if columns == 0 {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "convlake"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_logic_tests() {
    let lake = fixture_lake().to_path_buf();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/slt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the slt files are missing");
    let bless = std::env::var_os("CONVLAKE_BLESS").is_some();
    for file in files {
        let lake = lake.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let lake = lake.clone();
            async move {
                Ok(Db {
                    ctx: convlake::catalog::open(&convlake::Lake::local(&lake)).await?,
                })
            }
        });
        if bless {
            runner
                .update_test_file(
                    &file,
                    " ",
                    default_validator,
                    default_normalizer,
                    default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        } else {
            runner
                .run_file_async(&file)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
}
