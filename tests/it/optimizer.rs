//! Grouping by dictionary columns (`GroupByDictionaryValues`): the same rows and the same
//! types as DataFusion's own plan, with the aggregations grouped by the dictionaries' values.

use arrow::datatypes::Schema;
use arrow::util::pretty::pretty_format_batches;
use datafusion::physical_plan::displayable;
use datafusion::prelude::SessionContext;

use crate::slt::fixture_lake;

const RULE: &str = "convlake_group_by_dictionary_values";

/// What one session answers to a query: the rows as text, the result's types, the plan.
struct Answer {
    rows: String,
    schema: Schema,
    plan: String,
}

async fn answer(ctx: &SessionContext, sql: &str) -> Answer {
    let df = ctx.sql(sql).await.unwrap();
    let plan = df.clone().create_physical_plan().await.unwrap();
    let plan = displayable(plan.as_ref()).indent(true).to_string();
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await.unwrap();
    Answer {
        rows: pretty_format_batches(&batches).unwrap().to_string(),
        schema,
        plan,
    }
}

/// `sql` asked of a session with the rule and of one without it.
async fn with_and_without(sql: &str) -> (Answer, Answer) {
    let with = convlake::catalog::open(&convlake::Lake::local(fixture_lake()))
        .await
        .unwrap();
    let without = convlake::catalog::open(&convlake::Lake::local(fixture_lake()))
        .await
        .unwrap();
    assert!(
        without.remove_optimizer_rule(RULE),
        "the rule is registered"
    );
    let ours = answer(&with, sql).await;
    let theirs = answer(&without, sql).await;
    assert_eq!(ours.rows, theirs.rows, "{sql}");
    assert_eq!(ours.schema, theirs.schema, "{sql}");
    assert!(ours.rows.lines().count() > 5, "{sql} answers something");
    (ours, theirs)
}

/// The aggregation lines of a physical plan.
fn aggregations(plan: &str) -> Vec<&str> {
    plan.lines()
        .filter(|l| l.contains("AggregateExec"))
        .collect()
}

#[tokio::test]
async fn dictionary_keys_are_grouped_by_value_and_cast_back_once() {
    // count(DISTINCT) becomes two aggregations: the inner one groups by the values, the
    // outer one takes them as they are, and only the result is cast back.
    let (ours, theirs) = with_and_without(
        "SELECT conversation_date, media_type, count(DISTINCT conversation_id) AS conversations
         FROM sessions WHERE purpose IN ('customer', 'external') GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await;
    assert!(
        aggregations(&ours.plan)
            .iter()
            .any(|l| l.contains("CAST(media_type@") && l.contains(" AS Utf8View)")),
        "{}",
        ours.plan
    );
    assert_eq!(
        ours.plan.matches("AS Dictionary(").count(),
        1,
        "{}",
        ours.plan
    );
    assert!(!theirs.plan.contains("Utf8View)"), "{}", theirs.plan);
    assert!(
        format!("{:?}", ours.schema.field(1).data_type()).starts_with("Dictionary"),
        "media_type keeps its type: {:?}",
        ours.schema
    );
}

#[tokio::test]
async fn dictionary_keys_of_every_shape_answer_as_before() {
    for sql in [
        // Two dictionary keys, and a filter on one of them above the aggregation.
        "SELECT purpose, media_type, count(*) AS n FROM sessions GROUP BY 1, 2
         HAVING purpose <> 'agent' ORDER BY 1, 2",
        // A dictionary in the arguments of the outer aggregation: no shortcut through the
        // cast-back projection.
        "SELECT media_type, count(DISTINCT purpose) AS purposes, count(DISTINCT conversation_id) AS c
         FROM sessions GROUP BY 1 ORDER BY 1",
        "SELECT media_type, count(DISTINCT purpose) AS purposes FROM sessions GROUP BY 1 ORDER BY 1",
        "SELECT purpose, first_value(media_type ORDER BY media_type) AS m FROM (SELECT media_type, purpose FROM sessions GROUP BY 1, 2)
         GROUP BY 1 ORDER BY 1",
        // Grouping sets are left alone.
        "SELECT purpose, media_type, count(*) AS n FROM sessions
         GROUP BY ROLLUP(purpose, media_type) ORDER BY 1, 2",
        // A dictionary key next to a string one, in a join's input.
        "SELECT m.name, s.media_type, count(*) AS n
         FROM metrics m JOIN (SELECT DISTINCT session_id, media_type FROM sessions) s
           ON m.session_id = s.session_id
         GROUP BY 1, 2 ORDER BY 1, 2",
    ] {
        with_and_without(sql).await;
    }
}
