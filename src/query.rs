//! Running SQL text against a session: splitting it into statements with DataFusion's own
//! parser (never on `;` at line ends), binding named parameters as values (never spliced into
//! the text), and making planning errors say what to try instead.

use datafusion::common::ParamValues;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::DFParser;

use crate::error::{Error, Result};

/// Splits `sql` into statements, each as SQL text.
pub fn split_statements(sql: &str) -> Result<Vec<String>> {
    let statements =
        DFParser::parse_sql(sql).map_err(|e| Error::Usage(format!("SQL does not parse: {e}")))?;
    Ok(statements.into_iter().map(|s| s.to_string()).collect())
}

/// A parameter value from the command line: integers, decimals and booleans are typed,
/// anything else is a string (which SQL can cast).
pub fn parse_param(text: &str) -> ScalarValue {
    if let Ok(i) = text.parse::<i64>() {
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = text.parse::<f64>() {
        ScalarValue::Float64(Some(f))
    } else if let Ok(b) = text.parse::<bool>() {
        ScalarValue::Boolean(Some(b))
    } else {
        ScalarValue::Utf8(Some(text.to_string()))
    }
}

/// What a server plans with: queries only (no DDL, no DML, no other statements), so that
/// nothing a request makes a server plan can create, change or drop anything.
pub fn read_only() -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plans one statement with `params` bound to its `$name` placeholders.
pub async fn plan(
    ctx: &SessionContext,
    sql: &str,
    params: &[(String, ScalarValue)],
) -> Result<DataFrame> {
    let df = ctx.sql(sql).await.map_err(|e| explain(ctx, e))?;
    if params.is_empty() {
        return Ok(df);
    }
    let values = ParamValues::Map(
        params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect(),
    );
    df.with_param_values(values).map_err(|e| explain(ctx, e))
}

/// Adds a hint to a planning error: the closest table name for an unknown table.
pub fn explain(ctx: &SessionContext, err: datafusion::error::DataFusionError) -> Error {
    let text = err.to_string();
    if let Some(missing) = text
        .split("table '")
        .nth(1)
        .and_then(|t| t.split('\'').next())
    {
        let missing = missing.rsplit('.').next().unwrap_or(missing);
        let names = ctx
            .catalog(crate::catalog::CATALOG)
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        if let Some(best) = closest(missing, &names) {
            return Error::Usage(format!("{text}\n  hint: did you mean the table {best:?}? `convlake schema` lists the tables"));
        }
        return Error::Usage(format!(
            "{text}\n  hint: `convlake schema` lists the tables"
        ));
    }
    Error::DataFusion(err)
}

/// The name in `names` closest to `word` by edit distance, if close enough to be a typo.
pub fn closest<'n>(word: &str, names: &'n [String]) -> Option<&'n str> {
    if let Some(prefixed) = names
        .iter()
        .find(|n| word.len() >= 3 && n.starts_with(word))
    {
        return Some(prefixed);
    }
    // A name whose length differs by more than the distance allowed cannot be close, and is
    // not measured: a word of a megabyte costs a length comparison per name, not an edit
    // distance over a million characters.
    let length = word.chars().count();
    names
        .iter()
        .filter_map(|n| {
            let allowed = 2.max(n.len() / 4);
            (length.abs_diff(n.chars().count()) <= allowed)
                .then(|| (edit_distance(word, n), n))
                .filter(|(d, _)| *d <= allowed)
        })
        .min()
        .map(|(_, n)| n.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_by_the_parser_not_by_lines() {
        let sql = "select ';' as a;\nselect 1\n  + 2; -- done;\n";
        assert_eq!(
            split_statements(sql).unwrap(),
            vec!["SELECT ';' AS a", "SELECT 1 + 2"]
        );
    }

    #[test]
    fn typos_find_their_table() {
        let names = vec![
            "conversations".to_string(),
            "segments".to_string(),
            "sessions".to_string(),
        ];
        assert_eq!(closest("converstions", &names), Some("conversations"));
        assert_eq!(closest("segment", &names), Some("segments"));
        assert_eq!(closest("agents", &names), None);
        let long = "x".repeat(1 << 20);
        assert_eq!(closest(&long, &names), None);
    }
}
