//! SQL as other engines write it over nested columns: `FROM t, unnest(t.list) AS u`,
//! `CROSS JOIN LATERAL unnest(t.list) u`, `JOIN LATERAL unnest(...) u ON ...` and
//! `LEFT JOIN LATERAL unnest(...) u ON true` (PostgreSQL, DuckDB, Trino, Spark), which
//! DataFusion 55 plans as a correlated subquery it cannot run.
//!
//! Two pieces, registered in every convlake session by [`register`]:
//!
//! - [`LateralUnnestPlanner`], a SQL relation planner, plans an `unnest` whose argument refers
//!   to an earlier table of the `FROM` clause as a small subquery: the list, unnested, with
//!   the columns PostgreSQL gives it (a list of structs exposes each field as a column of the
//!   alias, plus the whole element under the alias's own name; a list of scalars exposes one
//!   column named after the alias, or after `AS u(name)`);
//! - [`DecorrelateLateralUnnest`], an analyzer rule, turns the join of a table with such a
//!   subquery into DataFusion's own `Unnest` over that table: the same rows as
//!   `SELECT t.*, unnest(t.list) FROM t`, with the element's columns under the alias. A left
//!   join keeps the rows whose list is empty or null, with nulls for the element.
//!
//! [`describe`] turns DataFusion errors for what it does not support into one line that names
//! the construct and shows a form that works, never a dump of plan structures.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{
    plan_err, Column, DFSchema, DataFusionError, Result, TableReference, UnnestOptions,
};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{
    lit, when, Expr, ExprSchemable, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, TableAlias, TableFactor};

/// The column that carries the list between the planner and the analyzer rule; the rule
/// recognises its own subqueries by it, and drops it from the result.
const LIST_COLUMN: &str = "__convlake_lateral_list";

/// Registers the relation planner and the analyzer rule in `ctx`.
pub fn register(ctx: &SessionContext) -> datafusion::error::Result<()> {
    ctx.register_relation_planner(Arc::new(LateralUnnestPlanner))?;
    ctx.add_analyzer_rule(Arc::new(DecorrelateLateralUnnest));
    Ok(())
}

/// Plans `unnest(expr)` in `FROM` when `expr` refers to an earlier table (see the module
/// documentation); anything else is left to DataFusion.
#[derive(Debug, Default)]
pub struct LateralUnnestPlanner;

impl RelationPlanner for LateralUnnestPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let (args, alias, ordinality) = match &relation {
            TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset,
                with_ordinality,
                ..
            } => (
                array_exprs.clone(),
                alias.clone(),
                *with_ordinality || *with_offset,
            ),
            TableFactor::Function {
                lateral: true,
                name,
                args,
                alias,
                with_ordinality,
            } if name.to_string().eq_ignore_ascii_case("unnest") => {
                let mut exprs = Vec::with_capacity(args.len());
                for arg in args {
                    match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e.clone()),
                        other => return plan_err!("unnest({other}): give the list as a plain argument, as in unnest(p.sessions)"),
                    }
                }
                (exprs, alias.clone(), *with_ordinality)
            }
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let mut planned = Vec::with_capacity(args.len());
        for arg in args {
            planned.push(context.sql_to_expr(arg, &DFSchema::empty())?);
        }
        let correlated = planned.iter().any(|e| e.contains_outer());
        if !correlated {
            // `FROM unnest([1, 2])` and friends: DataFusion's own planning.
            return Ok(RelationPlanning::Original(Box::new(relation)));
        }
        if ordinality {
            return plan_err!("UNNEST ... WITH ORDINALITY is not supported; number the elements with row_number() OVER (PARTITION BY <the row's key>) over the unnested rows instead");
        }
        let [arg] = <[Expr; 1]>::try_from(planned).map_err(|args| {
            DataFusionError::Plan(format!(
                "unnest with {} lists in FROM is not supported; unnest one list per join: FROM t, unnest(t.a) AS a, unnest(t.b) AS b",
                args.len()
            ))
        })?;
        let plan = element_plan(arg, alias.as_ref(), context)?;
        let alias = alias.map(|a| TableAlias {
            columns: Vec::new(),
            ..a
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// `SELECT <element columns> FROM unnest((SELECT arg))`: the subquery the planner joins to the
/// earlier tables, and which [`DecorrelateLateralUnnest`] takes apart again.
fn element_plan(
    arg: Expr,
    alias: Option<&TableAlias>,
    context: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let element = match arg.get_type(&DFSchema::empty())? {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().clone()
        }
        DataType::Null => DataType::Null,
        other => {
            return plan_err!(
                "unnest({arg}) needs a list, and this is {other}; a map's entries are read with map_keys / map_values, or attributes['key']"
            )
        }
    };
    let alias_name = alias.map(|a| context.normalize_ident(a.name.clone()));
    let mut renames: Vec<String> = alias
        .map(|a| {
            a.columns
                .iter()
                .map(|c| context.normalize_ident(c.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    let list = Expr::Column(Column::from_name(LIST_COLUMN));
    let mut columns: Vec<(Expr, String)> = Vec::new();
    match &element {
        DataType::Struct(fields) => {
            for field in fields {
                columns.push((
                    datafusion::functions::core::expr_fn::get_field(
                        list.clone(),
                        field.name().as_str(),
                    ),
                    field.name().clone(),
                ));
            }
            let whole = alias_name.clone().unwrap_or_else(|| "unnest".to_string());
            if !fields.iter().any(|f| f.name() == &whole) {
                columns.push((list.clone(), whole));
            }
        }
        _ => {
            let name = alias_name.clone().unwrap_or_else(|| "unnest".to_string());
            columns.push((list.clone(), name));
        }
    }
    if renames.len() > columns.len() {
        return plan_err!(
            "the alias names {} columns, and unnest gives {}: {}",
            renames.len(),
            columns.len(),
            columns
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (slot, name) in columns.iter_mut().zip(renames.drain(..)) {
        slot.1 = name;
    }
    LogicalPlanBuilder::empty(true)
        .project(vec![arg.alias(LIST_COLUMN)])?
        .unnest_column_with_options(LIST_COLUMN, UnnestOptions::new().with_preserve_nulls(false))?
        .project(columns.into_iter().map(|(e, n)| e.alias(n)))?
        .build()
}

/// Rewrites the joins [`LateralUnnestPlanner`] makes into an `Unnest` of the left input (see
/// the module documentation).
#[derive(Debug, Default)]
pub struct DecorrelateLateralUnnest;

impl AnalyzerRule for DecorrelateLateralUnnest {
    fn name(&self) -> &str {
        "convlake_decorrelate_lateral_unnest"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match &node {
            LogicalPlan::Join(join) => match rewrite_join(join)? {
                Some(rewritten) => Ok(Transformed::yes(rewritten)),
                None => Ok(Transformed::no(node)),
            },
            _ => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }
}

/// The parts of a planner-made element subquery: its alias, the correlated list expression,
/// and the element columns (expressions over [`LIST_COLUMN`] with their names).
struct ElementSubquery {
    alias: TableReference,
    list: Expr,
    columns: Vec<(Expr, String)>,
}

fn element_subquery(plan: &LogicalPlan) -> Option<ElementSubquery> {
    let LogicalPlan::SubqueryAlias(aliased) = plan else {
        return None;
    };
    let LogicalPlan::Subquery(subquery) = aliased.input.as_ref() else {
        return None;
    };
    let LogicalPlan::Projection(top) = subquery.subquery.as_ref() else {
        return None;
    };
    let LogicalPlan::Unnest(unnest) = top.input.as_ref() else {
        return None;
    };
    let LogicalPlan::Projection(bottom) = unnest.input.as_ref() else {
        return None;
    };
    if !matches!(bottom.input.as_ref(), LogicalPlan::EmptyRelation(_)) {
        return None;
    }
    let [Expr::Alias(list)] = bottom.expr.as_slice() else {
        return None;
    };
    if list.name != LIST_COLUMN {
        return None;
    }
    let columns = top
        .expr
        .iter()
        .zip(top.schema.fields())
        .map(|(e, f)| (e.clone().unalias(), f.name().clone()))
        .collect();
    Some(ElementSubquery {
        alias: aliased.alias.clone(),
        list: list.expr.as_ref().clone(),
        columns,
    })
}

fn rewrite_join(join: &datafusion::logical_expr::Join) -> Result<Option<LogicalPlan>> {
    let Some(element) = element_subquery(&join.right) else {
        return Ok(None);
    };
    let outer = match join.join_type {
        JoinType::Inner => false,
        JoinType::Left => true,
        other => {
            return plan_err!("{other} JOIN LATERAL unnest(...) is not supported; use CROSS JOIN LATERAL or LEFT JOIN LATERAL ... ON true")
        }
    };
    let filter = join
        .filter
        .clone()
        .filter(|f| !matches!(f, Expr::Literal(v, _) if v == &datafusion::scalar::ScalarValue::Boolean(Some(true))));
    if !join.on.is_empty() || (outer && filter.is_some()) {
        return plan_err!("LEFT JOIN LATERAL unnest(...) supports only ON true; filter the element in WHERE, or in a subquery over the unnested rows");
    }
    let list = element
        .list
        .transform(|e| match e {
            Expr::OuterReferenceColumn(_, column) => Ok(Transformed::yes(Expr::Column(column))),
            other => Ok(Transformed::no(other)),
        })?
        .data;
    // A left join keeps the rows without elements: an empty list becomes a null one, which
    // the unnest below keeps as one row of nulls.
    let list = if outer {
        when(
            datafusion::functions_nested::expr_fn::cardinality(list.clone()).gt(lit(0u64)),
            list,
        )
        .end()?
    } else {
        list
    };
    let left = join.left.as_ref().clone();
    let carried: Vec<Expr> = left
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let mut below = carried.clone();
    below.push(list.alias(LIST_COLUMN));
    let mut above = carried;
    above.extend(
        element
            .columns
            .into_iter()
            .map(|(e, name)| e.alias_qualified(Some(element.alias.clone()), name)),
    );
    let mut builder = LogicalPlanBuilder::from(left)
        .project(below)?
        .unnest_column_with_options(LIST_COLUMN, UnnestOptions::new().with_preserve_nulls(outer))?
        .project(above)?;
    if let Some(filter) = filter {
        builder = builder.filter(filter)?;
    }
    builder.build().map(Some)
}

/// A one-line explanation of a DataFusion error: for the SQL constructs DataFusion does not
/// support, what to write instead; for anything else the error's text, with any dump of
/// internal structures (schemas, fields, plans) cut out.
pub fn describe(err: &DataFusionError) -> String {
    let text = err.to_string();
    if text.contains("OuterReferenceColumn")
        || (text.contains("correlated") && text.contains("LATERAL"))
    {
        return "a LATERAL subquery that refers to an earlier table is not supported; for nested lists write FROM t, unnest(t.list) AS u (or CROSS JOIN LATERAL unnest(t.list) u, or LEFT JOIN LATERAL unnest(t.list) u ON true), and for anything else join on a key".to_string();
    }
    if let Some(name) = text
        .split("table function '")
        .nth(1)
        .and_then(|t| t.split('\'').next())
    {
        return format!("table function '{name}' not found: in FROM, convlake knows unnest(list) (also as LATERAL unnest(...)), generate_series and range; a scalar function goes in the select list");
    }
    strip_dumps(&text)
}

/// An error and its causes for a person: `error` first, then each cause on a line of its own
/// after `  caused by: `; a DataFusion error is said with [`describe`] and ends the chain
/// (what it wraps is in its one line already).
pub fn report(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for (i, cause) in error.chain().enumerate() {
        if i > 0 {
            out.push_str("\n  caused by: ");
        }
        if let Some(df) = cause.downcast_ref::<DataFusionError>() {
            out.push_str(&describe(df));
            break;
        }
        out.push_str(&cause.to_string());
        if matches!(
            cause.downcast_ref::<crate::Error>(),
            Some(crate::Error::DataFusion(_))
        ) {
            break;
        }
    }
    out
}

/// Cuts `Field { … }`, `Struct(…)` and similar dumps out of `text`, and caps it at 600
/// characters.
fn strip_dumps(text: &str) -> String {
    const MARKERS: [&str; 4] = ["Field {", "Struct(", "List(", "DFSchema {"];
    let mut out = String::with_capacity(text.len().min(700));
    let mut rest = text;
    while let Some((at, marker)) = MARKERS
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, *m)))
        .min_by_key(|(i, _)| *i)
    {
        out.push_str(&rest[..at]);
        let open = at + marker.len() - 1;
        let close = matching_close(rest, open).unwrap_or(rest.len());
        let inner = &rest[open + 1..close.min(rest.len())];
        if inner.len() > 80 {
            out.push_str(&marker[..marker.len() - 1]);
            out.push_str(if marker.ends_with('{') {
                "{ … }"
            } else {
                "(…)"
            });
        } else {
            out.push_str(&rest[at..(close + 1).min(rest.len())]);
        }
        rest = rest.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    if out.chars().count() > 600 {
        let cut: String = out.chars().take(600).collect();
        return format!("{cut} …");
    }
    out
}

/// The index of the bracket closing the one at `open`.
fn matching_close(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_are_cut_and_short_text_kept() {
        let long = format!(
            "This feature is not implemented: Physical plan does not support X(Field {{ name: \"sessions\", data_type: {} }})",
            "a".repeat(500)
        );
        let short = strip_dumps(&long);
        assert!(short.len() < 120, "{short}");
        assert!(short.contains("Field { … }"), "{short}");
        assert_eq!(strip_dumps("column x not found"), "column x not found");
        assert_eq!(strip_dumps("List(Int64) is fine"), "List(Int64) is fine");
    }
}
