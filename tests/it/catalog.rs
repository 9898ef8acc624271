//! The catalog: sessions see the latest snapshot, and date predicates prune files before
//! anything is read (checked through the files named in the physical plan).

use arrow::array::AsArray;
use convlake::lake::snapshot;
use datafusion::physical_plan::displayable;

use crate::slt::fixture_lake;

async fn plan_text(sql: &str) -> String {
    let ctx = convlake::catalog::open(fixture_lake()).await.unwrap();
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
    let ctx = convlake::catalog::open(fixture_lake()).await.unwrap();
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
async fn date_predicates_prune_partitions() {
    let snap = snapshot::latest(fixture_lake()).unwrap();
    let all = snap.files("segments").len();
    let on_day = snap
        .files("segments")
        .iter()
        .filter(|f| f.date == "2021-04-01")
        .count();
    assert!(
        all > on_day && on_day == 1,
        "{all} files, {on_day} on the day"
    );
    assert_eq!(
        files_scanned("SELECT segment_type FROM segments").await,
        all
    );
    // A bare count comes from the snapshot's row counts: no file is opened.
    assert_eq!(files_scanned("SELECT count(*) FROM segments").await, 0);
    // A filter on the date alone is exact (decided per file): no filter runs above the scan,
    // and a count on a day comes from the row counts of that day's files.
    assert_eq!(
        files_scanned("SELECT count(*) FROM segments WHERE conversation_date = DATE '2021-04-01'")
            .await,
        0
    );
    let plan =
        plan_text("SELECT segment_type FROM segments WHERE conversation_date = DATE '2021-04-01'")
            .await;
    assert_eq!(plan.matches(".parquet").count(), on_day);
    assert!(!plan.contains("FilterExec"), "{plan}");
    let on_day_rows: u64 = snap
        .files("segments")
        .iter()
        .filter(|f| f.date == "2021-04-01")
        .map(|f| f.rows)
        .sum();
    // The same number from statistics and from rows read.
    assert_eq!(
        single_count("SELECT count(*) FROM segments WHERE conversation_date = DATE '2021-04-01'")
            .await,
        on_day_rows as i64
    );
    assert_eq!(
        single_count(
            "SELECT count(segment_type IS NULL) FROM segments WHERE conversation_date = DATE '2021-04-01'"
        )
        .await,
        on_day_rows as i64
    );
    assert_eq!(
        files_scanned("SELECT count(*) FROM segments WHERE conversation_date < DATE '2021-01-01'")
            .await,
        0
    );
    let in_2026 = snap
        .files("segments")
        .iter()
        .filter(|f| f.date.starts_with("2026"))
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
    convlake::lake::ingest(&lake, inputs, &Default::default()).unwrap();
    let snap = snapshot::latest(&lake).unwrap();
    let first = &snap.files("conversations")[0];
    let stray = lake.join(first.path.replace(".parquet", "-stray.parquet"));
    std::fs::copy(lake.join(&first.path), &stray).unwrap();
    let ctx = convlake::catalog::open(&lake).await.unwrap();
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
