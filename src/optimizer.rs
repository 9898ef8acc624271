//! Logical optimizer rules that every convlake session adds to DataFusion's own.
//!
//! [`GroupByDictionaryValues`]: the lake's enum columns (`media_type`, `purpose`,
//! `direction`, ...) are dictionary-encoded, and DataFusion 55 has no column-wise group
//! storage for dictionaries. One dictionary key among several sends the whole key to the
//! row-encoded fallback (`GroupValuesRows`), which converts every row of every key column to
//! bytes; "conversations per day and media type" spent two thirds of its time there. The rule
//! groups by the dictionaries' values instead (a cast to `Utf8View` that copies no string)
//! and casts the keys back to their dictionary type above the aggregation, so a plan's
//! schema, and what users see, stays the same.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::expr::Alias;
use datafusion::logical_expr::{cast, Aggregate, Expr, ExprSchemable, LogicalPlan, Projection};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// Groups by the values of dictionary-encoded string keys instead of the dictionaries: an
/// aggregation grouped by a dictionary column becomes one grouped by `CAST(key AS
/// Utf8View)`, under a projection that casts the key back to its dictionary type.
///
/// Aggregations stacked on each other (DataFusion turns `count(DISTINCT x)` into two) do not
/// cast back and forth between them: an aggregation over a cast-back projection groups by the
/// values underneath it directly, when it uses those columns only as plain keys.
#[derive(Debug, Default)]
pub struct GroupByDictionaryValues;

impl OptimizerRule for GroupByDictionaryValues {
    fn name(&self) -> &str {
        "convlake_group_by_dictionary_values"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        match plan {
            LogicalPlan::Aggregate(aggregate) => group_by_values(aggregate),
            plan => Ok(Transformed::no(plan)),
        }
    }
}

/// The rewrite of one aggregation (see [`GroupByDictionaryValues`]).
fn group_by_values(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    if aggregate
        .group_expr
        .iter()
        .any(|e| matches!(e, Expr::GroupingSet(_)))
    {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let input = beneath_cast_back(&aggregate).unwrap_or_else(|| Arc::clone(&aggregate.input));
    let bypassed = !Arc::ptr_eq(&input, &aggregate.input);
    let mut cast_any = false;
    let mut group_expr = Vec::with_capacity(aggregate.group_expr.len());
    for (i, expr) in aggregate.group_expr.iter().enumerate() {
        let (qualifier, field) = aggregate.schema.qualified_field(i);
        if is_string_dictionary(&expr.get_type(input.schema())?) {
            cast_any = true;
            group_expr.push(
                cast(expr.clone().unalias(), DataType::Utf8View)
                    .alias_qualified(qualifier.cloned(), field.name()),
            );
        } else {
            group_expr.push(expr.clone());
        }
    }
    if !cast_any && !bypassed {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let grouped = Aggregate::try_new(input, group_expr, aggregate.aggr_expr.clone())?;
    // Every output column by name, the keys that changed type cast back to what they were.
    let columns = grouped
        .schema
        .iter()
        .zip(aggregate.schema.fields())
        .map(|((qualifier, field), before)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            if field.data_type() == before.data_type() {
                column
            } else {
                cast(column, before.data_type().clone())
                    .alias_qualified(qualifier.cloned(), field.name())
            }
        })
        .collect();
    let projection = Projection::try_new(columns, Arc::new(LogicalPlan::Aggregate(grouped)))?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

/// The aggregation underneath `aggregate`'s input when that input only casts some of its
/// columns back to dictionaries (what this rule puts above an aggregation) and `aggregate`
/// uses those columns as plain group keys only, so that it can group by the values as they
/// are underneath, under the same names.
fn beneath_cast_back(aggregate: &Aggregate) -> Option<Arc<LogicalPlan>> {
    let LogicalPlan::Projection(projection) = aggregate.input.as_ref() else {
        return None;
    };
    if !matches!(projection.input.as_ref(), LogicalPlan::Aggregate(_)) {
        return None;
    }
    let mut cast_back: Vec<Column> = Vec::new();
    for (expr, (qualifier, field)) in projection.expr.iter().zip(projection.schema.iter()) {
        match expr {
            Expr::Column(_) => {}
            Expr::Alias(Alias { expr, .. }) => match expr.as_ref() {
                Expr::Cast(c)
                    if matches!(c.expr.as_ref(), Expr::Column(_))
                        && is_string_dictionary(c.field.data_type()) =>
                {
                    cast_back.push(Column::new(qualifier.cloned(), field.name()));
                }
                _ => return None,
            },
            _ => return None,
        }
    }
    if cast_back.is_empty() {
        return None;
    }
    let plain_key = |e: &Expr| matches!(e, Expr::Column(c) if cast_back.contains(c));
    let used_otherwise = aggregate
        .group_expr
        .iter()
        .filter(|e| !plain_key(e))
        .chain(&aggregate.aggr_expr)
        .any(|e| e.column_refs().iter().any(|c| cast_back.contains(c)));
    (!used_otherwise).then(|| Arc::clone(&projection.input))
}

/// Whether `data_type` is a dictionary of strings.
fn is_string_dictionary(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Dictionary(_, value)
            if matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
    )
}
