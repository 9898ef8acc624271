//! The built-in functions whose result can be far larger than their arguments, each with a
//! cap on what one call may produce, registered over DataFusion's in every lake session.
//!
//! `repeat('x', 2000000000)` is 18 bytes of SQL that DataFusion answers by allocating 2 GB
//! outside any memory pool (a function's result is not counted by the pool; constant folding
//! runs it while planning, before any statement timeout); three rows of it took a server to
//! 23 GB. Each function here first computes, from its arguments, an upper bound of what the
//! call will build (bytes, over all rows of the batch) and refuses the call past
//! [`MAX_CALL_BYTES`] (or four times the call's text input, when that is more: a function
//! over large documents of the lake may grow them a little); under it the function runs as
//! DataFusion's own.
//!
//! | function | bound of one row |
//! | --- | --- |
//! | `repeat(s, n)` | `len(s) × n` |
//! | `lpad(s, n, …)`, `rpad(s, n, …)` | `4 × n` (a character is at most 4 bytes) |
//! | `replace(s, from, to)` | `len(s) + len(s) / max(len(from), 1) × len(to)` |
//! | `regexp_replace(s, pattern, to, …)` | `len(s) + (len(s) + 1) × len(to)` (a pattern may match empty) |
//! | `range(a, b, step)`, `generate_series(a, b, step)` | `8 × (|b − a| / |step| + 1)` (integers, dates, timestamps) |
//! | `array_repeat(x, n)`, `array_resize(a, n, …)` | `n × (8 + len(x))` |

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNanoType, TimeUnit};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;

/// Most bytes one call of a function of this module may build, over all rows of its batch.
pub const MAX_CALL_BYTES: u64 = 64 << 20;

/// What the error of a refused call says (and how it is told from the memory pool's).
const CALL_LIMIT: &str = "more than one call of it may build, which is";

/// Whether a "resources exhausted" message is this module's refusal of a call.
pub fn is_call_limit(message: &str) -> bool {
    message.contains(CALL_LIMIT)
}

/// How a function's result grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    Repeat,
    Pad,
    Replace,
    RegexpReplace,
    Series,
    ArrayRepeat,
}

/// The functions bounded, by DataFusion's name.
const BOUNDED: &[(&str, Growth)] = &[
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::RegexpReplace),
    ("range", Growth::Series),
    ("generate_series", Growth::Series),
    ("array_repeat", Growth::ArrayRepeat),
    ("array_resize", Growth::ArrayRepeat),
];

/// Registers the bounded forms over the functions of `ctx` of the same names (aliases too).
pub fn register(ctx: &SessionContext) {
    for (name, growth) in BOUNDED {
        let Some(inner) = ctx.state().scalar_functions().get(*name).cloned() else {
            continue;
        };
        let any: &dyn Any = inner.inner().as_ref();
        if any.is::<Bounded>() {
            continue;
        }
        ctx.register_udf(ScalarUDF::new_from_impl(Bounded {
            inner: inner.inner().clone(),
            growth: *growth,
        }));
    }
}

/// A built-in function, refused when its bound passes [`MAX_CALL_BYTES`].
#[derive(Debug)]
struct Bounded {
    inner: Arc<dyn ScalarUDFImpl>,
    growth: Growth,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name() == other.inner.name() && self.growth == other.growth
    }
}

impl Eq for Bounded {}

impl Hash for Bounded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
        self.growth.hash(state);
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (bound, input) = bound(self.growth, &args.args, args.number_rows)?;
        if bound > limit(input) {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}(…) would build about {} MB here, {CALL_LIMIT} {} MB; ask for less",
                self.inner.name(),
                bound >> 20,
                limit(input) >> 20
            )));
        }
        self.inner.invoke_with_args(args)
    }
}

/// The per-row values of one argument as `i64` (lengths for text and lists, numbers as they
/// are, instants in nanoseconds); a scalar is one value for every row.
struct Column {
    values: Int64Array,
}

impl Column {
    fn at(&self, row: usize) -> u64 {
        let i = if self.values.len() == 1 { 0 } else { row };
        if i >= self.values.len() || self.values.is_null(i) {
            0
        } else {
            self.values.value(i).unsigned_abs()
        }
    }

    fn signed(&self, row: usize) -> Option<i64> {
        let i = if self.values.len() == 1 { 0 } else { row };
        (i < self.values.len() && !self.values.is_null(i)).then(|| self.values.value(i))
    }
}

/// `arg` as a [`Column`]: text and lists by length, numbers and instants by value, intervals
/// in nanoseconds (a month as 30 days).
fn column(arg: &ColumnarValue) -> Result<Column> {
    let array: ArrayRef = match arg {
        ColumnarValue::Array(a) => a.clone(),
        ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
    };
    let values = match array.data_type() {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::List(_)
        | DataType::LargeList(_) => arrow::compute::cast(
            &arrow::compute::kernels::length::length(&array)?,
            &DataType::Int64,
        )?,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
            let nanos =
                arrow::compute::cast(&array, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
            arrow::compute::cast(&nanos, &DataType::Int64)?
        }
        DataType::Interval(_) => {
            let interval = arrow::compute::cast(
                &array,
                &DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
            )?;
            let nanos: Int64Array = interval
                .as_primitive::<IntervalMonthDayNanoType>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let days = i64::from(v.months) * 30 + i64::from(v.days);
                        days.saturating_mul(86_400_000_000_000)
                            .saturating_add(v.nanoseconds)
                    })
                })
                .collect();
            Arc::new(nanos)
        }
        // Anything else counts as 8 bytes a value.
        other if !other.is_numeric() => Arc::new(Int64Array::from(vec![8; array.len()])),
        _ => arrow::compute::cast(&array, &DataType::Int64)?,
    };
    Ok(Column {
        values: values.as_primitive::<arrow::datatypes::Int64Type>().clone(),
    })
}

/// Upper bound of the bytes `growth` builds for `rows` rows of `args`, and the bytes of its
/// text argument (none for series and arrays).
fn bound(growth: Growth, args: &[ColumnarValue], rows: usize) -> Result<(u64, u64)> {
    let columns = args.iter().map(column).collect::<Result<Vec<_>>>()?;
    let arg = |i: usize, row: usize| columns.get(i).map_or(0, |c| c.at(row));
    let mut total: u64 = 0;
    let mut input: u64 = 0;
    let texts = !matches!(growth, Growth::Series | Growth::ArrayRepeat);
    for row in 0..rows.max(1) {
        if texts {
            input = input.saturating_add(arg(0, row));
        }
        let one = match growth {
            Growth::Repeat => arg(0, row).saturating_mul(arg(1, row)),
            Growth::Pad => arg(1, row).saturating_mul(4),
            Growth::Replace => {
                let (s, from, to) = (arg(0, row), arg(1, row).max(1), arg(2, row));
                s.saturating_add((s / from).saturating_mul(to))
            }
            Growth::RegexpReplace => {
                let (s, to) = (arg(0, row), arg(2, row));
                s.saturating_add(s.saturating_add(1).saturating_mul(to))
            }
            Growth::Series => series_elements(&columns, row).saturating_mul(8),
            Growth::ArrayRepeat => arg(1, row).saturating_mul(arg(0, row).saturating_add(8)),
        };
        total = total.saturating_add(one);
    }
    Ok((total, input))
}

/// What one call may build: [`MAX_CALL_BYTES`], or four times its text input when that is
/// more (a `replace` over a batch of large JSON documents grows them a little, not from a
/// few bytes to gigabytes; the bounds of `replace` and `regexp_replace` assume every position
/// matches).
fn limit(input: u64) -> u64 {
    MAX_CALL_BYTES.max(input.saturating_mul(4))
}

/// Elements of `range(stop)`, `range(start, stop)` or `range(start, stop, step)` at `row`.
fn series_elements(columns: &[Column], row: usize) -> u64 {
    let (start, stop, step) = match columns {
        [stop] => (Some(0), stop.signed(row), Some(1)),
        [start, stop] => (start.signed(row), stop.signed(row), Some(1)),
        [start, stop, step, ..] => (start.signed(row), stop.signed(row), step.signed(row)),
        [] => return 0,
    };
    match (start, stop, step) {
        (Some(start), Some(stop), Some(step)) if step != 0 => {
            let span = i128::from(stop) - i128::from(start);
            let n = (span / i128::from(step)).unsigned_abs() + 1;
            u64::try_from(n).unwrap_or(u64::MAX)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<()> {
        ctx.sql(sql).await?.collect().await.map(|_| ())
    }

    #[tokio::test]
    async fn amplifying_calls_past_the_cap_are_refused_and_others_answer() {
        let ctx = SessionContext::new();
        register(&ctx);
        let refused = [
            "SELECT repeat('x', 2000000000)",
            "SELECT length(repeat(x, 30000000)) FROM (VALUES ('aaa'), ('bbb')) t(x)",
            "SELECT lpad('x', 100000000)",
            "SELECT replace(repeat('a', 1000000), 'a', repeat('b', 1000))",
            "SELECT regexp_replace(repeat('a', 100000), '', repeat('b', 1000), 'g')",
            "SELECT cardinality(range(1, 3000000000))",
            "SELECT cardinality(generate_series(DATE '2000-01-01', DATE '2100-01-01', INTERVAL '1 second'))",
            "SELECT cardinality(array_repeat('abc', 100000000))",
        ];
        for sql in refused {
            let error = run(&ctx, sql).await.expect_err(sql).to_string();
            assert!(is_call_limit(&error), "{sql}: {error}");
        }
        for sql in [
            "SELECT repeat('x', 1000), lpad('x', 10), replace('abc', 'b', 'x')",
            "SELECT cardinality(range(1, 100000))",
            "SELECT cardinality(generate_series(DATE '2026-01-01', DATE '2026-12-31', INTERVAL '1 day'))",
            "SELECT * FROM generate_series(1, 100000)",
            // 40 MB of text grown by replace, over the 64 MB cap but within four times the input.
            "SELECT max(length(replace(x, 'a', 'bb'))) FROM (SELECT repeat('a', 50000) || CAST(v AS VARCHAR) AS x FROM generate_series(1, 800) t(v))",
        ] {
            run(&ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
