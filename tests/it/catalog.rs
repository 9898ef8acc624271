//! The catalog: sessions see the latest snapshot, and date predicates prune files before
//! anything is read (checked through the files named in the physical plan).

use arrow::array::AsArray;
use convlake::lake::{layout, snapshot};
use convlake::schema::Table;
use datafusion::physical_plan::displayable;

use crate::slt::fixture_lake;

async fn plan_text(sql: &str) -> String {
    let ctx = convlake::catalog::open(&convlake::Lake::local(fixture_lake()))
        .await
        .unwrap();
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let text = displayable(plan.as_ref()).indent(true).to_string();
    text
}

async fn single_count(sql: &str) -> i64 {
    let ctx = convlake::catalog::open(&convlake::Lake::local(fixture_lake()))
        .await
        .unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0]
        .column(0)
        .as_primitive::<arrow::datatypes::Int64Type>()
        .value(0)
}

async fn files_scanned(sql: &str) -> usize {
    plan_text(sql).await.matches(".parquet").count()
}

#[tokio::test]
async fn month_and_date_predicates_prune_files() {
    let snap = snapshot::latest(&convlake::Lake::local(fixture_lake())).unwrap();
    let segments = snap.files(Table::Segments);
    let all = segments.len();
    let day = 18_718; // 2021-04-01
    let on_day: Vec<_> = segments
        .iter()
        .filter(|f| f.date.is_some_and(|(lo, hi)| lo <= day && day <= hi))
        .collect();
    assert!(
        all > on_day.len() && !on_day.is_empty(),
        "{all} files, {} holding the day",
        on_day.len()
    );
    assert_eq!(
        files_scanned("SELECT segment_type FROM segments").await,
        all
    );
    // A bare count comes from the log's row counts: no file is opened.
    assert_eq!(files_scanned("SELECT count(*) FROM segments").await, 0);
    // A filter on the date prunes files by their statistics; it runs over the rows read.
    let plan =
        plan_text("SELECT segment_type FROM segments WHERE conversation_date = DATE '2021-04-01'")
            .await;
    assert_eq!(plan.matches(".parquet").count(), on_day.len(), "{plan}");
    // A filter on the month alone is exact: decided per file, no filter above the scan.
    let plan =
        plan_text("SELECT segment_type FROM segments WHERE conversation_month = '2021-04'").await;
    let in_month = segments
        .iter()
        .filter(|f| layout::month_string(f.month) == "2021-04")
        .count();
    assert_eq!(plan.matches(".parquet").count(), in_month, "{plan}");
    assert!(!plan.contains("FilterExec"), "{plan}");
    assert_eq!(
        files_scanned("SELECT count(*) FROM segments WHERE conversation_month = '2021-04'").await,
        0
    );
    let on_day_rows =
        single_count("SELECT count(*) FROM segments WHERE conversation_date = DATE '2021-04-01'")
            .await;
    assert_eq!(
        single_count(
            "SELECT count(*) FROM segments WHERE conversation_start >= TIMESTAMP '2021-04-01T00:00:00Z' AND conversation_start < TIMESTAMP '2021-04-02T00:00:00Z'"
        )
        .await,
        on_day_rows
    );
    assert!(on_day_rows > 0);
    assert_eq!(
        files_scanned("SELECT count(*) FROM segments WHERE conversation_date < DATE '2021-01-01'")
            .await,
        0
    );
    let in_2026 = segments
        .iter()
        .filter(|f| layout::month_string(f.month).starts_with("2026"))
        .count();
    assert_eq!(
        files_scanned("SELECT segment_type FROM segments WHERE conversation_date >= DATE '2026-01-01' AND segment_type = 'hold'").await,
        in_2026
    );
}

#[tokio::test]
async fn sessions_see_the_snapshot_not_the_directory() {
    // A stray file in a table directory (as an ingest under way writes them) is not read.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let inputs = convlake::ingest::discover(&[crate::util::fixture("genesys")]).unwrap();
    convlake::lake::ingest(&convlake::Lake::local(&lake), inputs, &Default::default()).unwrap();
    let snap = snapshot::latest(&convlake::Lake::local(&lake)).unwrap();
    let first = crate::util::file_path(
        &lake,
        Table::Conversations,
        &snap.files(Table::Conversations)[0],
    );
    let stray = first.with_file_name("part-stray.parquet");
    std::fs::copy(&first, &stray).unwrap();
    let ctx = convlake::catalog::open(&convlake::Lake::local(&lake))
        .await
        .unwrap();
    let batches = ctx
        .sql("SELECT count(*) AS n FROM conversations")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 2);
}

/// A filtered query leaves each file's footer in the session's metadata cache with its page
/// index (DataFusion's opener alone caches the footer and reads the index from the file again
/// on every query), and the page index still prunes: same answer as without a filter pushed.
#[tokio::test]
async fn scans_cache_the_page_index_with_the_footer() {
    let ctx = convlake::catalog::open(&convlake::Lake::local(fixture_lake()))
        .await
        .unwrap();
    let sql = "SELECT count(*) FROM metrics WHERE name = 'tHandle'";
    let count = |batches: Vec<arrow::array::RecordBatch>| {
        batches[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0)
    };
    let first = count(ctx.sql(sql).await.unwrap().collect().await.unwrap());
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    let entries = cache.list_entries();
    let metrics_files: Vec<_> = entries
        .iter()
        .filter(|(path, _)| path.as_ref().contains("/metrics/"))
        .collect();
    assert!(!metrics_files.is_empty(), "nothing cached: {entries:?}");
    for (path, entry) in metrics_files {
        let info = entry.value.file_metadata.extra_info();
        assert_eq!(
            info.get("page_index").map(String::as_str),
            Some("true"),
            "{path}: {info:?}"
        );
    }
    // Again from the cache, and against a scan that cannot prune (the filter on a computed value).
    let again = count(ctx.sql(sql).await.unwrap().collect().await.unwrap());
    let unpruned = count(
        ctx.sql("SELECT count(*) FROM metrics WHERE concat(name, '') = 'tHandle'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap(),
    );
    assert!(first > 0);
    assert_eq!((first, again), (unpruned, unpruned));
}
