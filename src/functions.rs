//! SQL helper functions that queries over these exports keep needing, registered in every
//! session by [`crate::catalog`]:
//!
//! | function | result |
//! | --- | --- |
//! | `interval_start('2026-11-01T00:00:00Z/2026-11-08T00:00:00Z')` | start of a Genesys ISO-8601 interval |
//! | `interval_end(interval)` | its end |
//! | `iso_duration_ms('PT30M')` | milliseconds of an ISO-8601 duration (`PnW`, `PnD`, `PTnHnMnS`) |
//! | `tz_bucket(ts, 'PT15M', 'Europe/Berlin')` | start (UTC instant) of the local bucket holding `ts` |
//! | `format_duration(ms)` | `H:MM:SS` |
//! | `json_text(json, 'participants[0].purpose')` | a value out of JSON text (`raw_conversations.json`) |
//! | `kv_lookup('q1=30000,q2=15000', 'q2')` | the integer for a key in a `key=value` list (per-queue targets) |
//!
//! Parsing lives in plain functions ([`parse_interval`], [`parse_duration`], [`bucket_start`])
//! that the report runner uses too, to reject bad parameters before any query runs.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Int64Type, TimeUnit, TimestampMillisecondType};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::prelude::SessionContext;

use crate::model::parse_timestamp;

/// A calendar-aware bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// A fixed length in milliseconds (seconds, minutes, hours, days, weeks).
    Fixed(i64),
    /// Whole calendar months.
    Months(u32),
}

/// Parses an ISO-8601 duration: `PT15M`, `PT1H30M`, `P1D`, `P1W`, `P1M` (months), `PT30S`.
pub fn parse_duration(text: &str) -> Option<Granularity> {
    let t = text.trim().to_ascii_uppercase();
    let rest = t.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        // A `T` must be followed by at least one time component.
        Some((_, "")) => return None,
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms: i64 = 0;
    let mut months = 0u32;
    let mut any = false;
    for (part, in_time) in [(date, false), (time.unwrap_or(""), true)] {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let n: i64 = number.parse().ok()?;
            number.clear();
            any = true;
            match (c, in_time) {
                ('W', false) => ms += n * 7 * 86_400_000,
                ('D', false) => ms += n * 86_400_000,
                ('M', false) => months += u32::try_from(n).ok()?,
                ('H', true) => ms += n * 3_600_000,
                ('M', true) => ms += n * 60_000,
                ('S', true) => ms += n * 1000,
                _ => return None,
            }
        }
        if !number.is_empty() {
            return None;
        }
    }
    match (any, months, ms) {
        (false, _, _) => None,
        (true, 0, ms) if ms > 0 => Some(Granularity::Fixed(ms)),
        (true, m, 0) if m > 0 => Some(Granularity::Months(m)),
        _ => None,
    }
}

/// Parses a Genesys interval `start/end` (both ISO-8601 date-times) into epoch milliseconds.
pub fn parse_interval(text: &str) -> Option<(i64, i64)> {
    let (a, b) = text.split_once('/')?;
    Some((
        parse_timestamp(a.trim())?.millis,
        parse_timestamp(b.trim())?.millis,
    ))
}

/// The UTC instant where the local (`tz`) bucket of `granularity` holding `ms` starts.
/// Buckets of a day or less start at local midnight plus whole multiples; weeks start on
/// Monday; months on the first.
pub fn bucket_start(ms: i64, granularity: Granularity, tz: Tz) -> Option<i64> {
    let local = tz.timestamp_millis_opt(ms).single()?.naive_local();
    let midnight = local.date().and_hms_opt(0, 0, 0)?;
    let start: NaiveDateTime = match granularity {
        Granularity::Fixed(step) if step <= 86_400_000 => {
            let since = (local - midnight).num_milliseconds();
            midnight + chrono::Duration::milliseconds(since - since.rem_euclid(step))
        }
        Granularity::Fixed(step) if step % (7 * 86_400_000) == 0 => {
            midnight - chrono::Duration::days(i64::from(local.weekday().num_days_from_monday()))
        }
        Granularity::Fixed(_) => midnight,
        Granularity::Months(m) => {
            let index = local.year() * 12 + local.month0() as i32;
            let index = index - index.rem_euclid(m as i32);
            NaiveDate::from_ymd_opt(index.div_euclid(12), (index.rem_euclid(12) + 1) as u32, 1)?
                .and_hms_opt(0, 0, 0)?
        }
    };
    // A bucket starting in a DST gap starts at the first instant after it.
    let resolved = tz.from_local_datetime(&start);
    let instant = resolved.earliest().or_else(|| {
        tz.from_local_datetime(&(start + chrono::Duration::hours(1)))
            .earliest()
    })?;
    Some(instant.timestamp_millis())
}

/// A quarter of an hour in milliseconds: every UTC offset in use is a whole number of them.
const QUARTER_HOUR_MS: i64 = 900_000;

/// [`bucket_start`] for one granularity and time zone, remembering answers per quarter hour of
/// UTC time.
///
/// When every bucket boundary falls on a local quarter hour (granularities of whole quarter
/// hours, days, weeks and months), no boundary lies inside a UTC quarter hour either, so all
/// of its instants share one bucket; a quarter hour whose two ends disagree on the offset or
/// the bucket (a DST change inside it, historic offsets in odd minutes) is worked out instant
/// by instant. Over metrics this turns 85 ns of time-zone arithmetic per row into a lookup.
pub struct Bucketer {
    granularity: Granularity,
    tz: Tz,
    /// Direct-mapped memo: quarter-hour index → the bucket of all of it, or None when it must
    /// be worked out per instant. Empty when boundaries may fall inside quarter hours.
    memo: Vec<(i64, Option<i64>)>,
}

impl Bucketer {
    const SLOTS: usize = 256;

    /// A bucketer for `granularity` in `tz`.
    pub fn new(granularity: Granularity, tz: Tz) -> Self {
        let aligned = match granularity {
            Granularity::Fixed(step) => step % QUARTER_HOUR_MS == 0,
            Granularity::Months(_) => true,
        };
        let memo = if aligned {
            vec![(i64::MIN, None); Self::SLOTS]
        } else {
            Vec::new()
        };
        Bucketer {
            granularity,
            tz,
            memo,
        }
    }

    /// The UTC instant where the bucket holding `ms` starts, as [`bucket_start`] finds it.
    pub fn start(&mut self, ms: i64) -> Option<i64> {
        if self.memo.is_empty() {
            return bucket_start(ms, self.granularity, self.tz);
        }
        let quarter = ms.div_euclid(QUARTER_HOUR_MS);
        let slot = quarter.rem_euclid(Self::SLOTS as i64) as usize;
        let (key, whole) = self.memo[slot];
        let whole = if key == quarter {
            whole
        } else {
            let whole = self.whole_quarter(quarter);
            self.memo[slot] = (quarter, whole);
            whole
        };
        whole.or_else(|| bucket_start(ms, self.granularity, self.tz))
    }

    /// The bucket of every instant of quarter hour `quarter`, if they all share one.
    fn whole_quarter(&self, quarter: i64) -> Option<i64> {
        let first = quarter * QUARTER_HOUR_MS;
        let last = first + QUARTER_HOUR_MS - 1;
        let offset = |ms: i64| {
            self.tz
                .timestamp_millis_opt(ms)
                .single()
                .map(|t| t.offset().fix())
        };
        if offset(first)? != offset(last)? {
            return None;
        }
        let bucket = bucket_start(first, self.granularity, self.tz)?;
        (bucket_start(last, self.granularity, self.tz)? == bucket).then_some(bucket)
    }
}

/// Formats milliseconds as `H:MM:SS`.
pub fn format_duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let s = ms.unsigned_abs() / 1000;
    format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The type the functions return: the lake's `Timestamp(Microsecond, "UTC")`.
fn utc_ts() -> DataType {
    crate::columnar::timestamp_type()
}

/// Time stamps of any unit as UTC milliseconds, the unit the bucketing works in.
fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Microseconds of a millisecond value, for results.
fn micros(ms: i64) -> i64 {
    ms * 1000
}

fn strings(arg: &ArrayRef) -> datafusion::error::Result<StringArray> {
    let casted = arrow::compute::cast(arg, &DataType::Utf8)?;
    Ok(casted.as_string::<i32>().clone())
}

/// The text of a string scalar (of any string type); None for a null.
fn scalar_text(value: &ScalarValue) -> datafusion::error::Result<Option<String>> {
    match value.cast_to(&DataType::Utf8)? {
        ScalarValue::Utf8(text) => Ok(text),
        other => Err(exec_err(format!("expected text, got {other:?}"))),
    }
}

fn exec_err(text: String) -> DataFusionError {
    DataFusionError::Execution(text)
}

/// Registers every function of this module in `ctx`.
pub fn register(ctx: &SessionContext) {
    for (name, start) in [("interval_start", true), ("interval_end", false)] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8],
            utc_ts(),
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let texts = strings(&arrays[0])?;
                let out: TimestampMicrosecondArray = texts
                    .iter()
                    .map(|t| match t {
                        None => Ok(None),
                        Some(t) => parse_interval(t).map(|(a, b)| Some(micros(if start { a } else { b }))).ok_or_else(|| {
                            exec_err(format!("{t:?} is not an ISO-8601 interval such as 2026-11-01T00:00:00Z/2026-11-08T00:00:00Z"))
                        }),
                    })
                    .collect::<datafusion::error::Result<Vec<_>>>()?
                    .into();
                Ok(ColumnarValue::Array(Arc::new(out.with_timezone("UTC"))))
            }),
        ));
    }
    ctx.register_udf(create_udf(
        "iso_duration_ms",
        vec![DataType::Utf8],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let texts = strings(&arrays[0])?;
            let out: Int64Array = texts
                .iter()
                .map(|t| match t.map(parse_duration) {
                    None => Ok(None),
                    Some(Some(Granularity::Fixed(ms))) => Ok(Some(ms)),
                    Some(_) => Err(exec_err(format!(
                        "{t:?} is not a fixed ISO-8601 duration such as PT30M or P1D"
                    ))),
                })
                .collect::<datafusion::error::Result<_>>()?;
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    ctx.register_udf(create_udf(
        "tz_bucket",
        vec![utc_ts(), DataType::Utf8, DataType::Utf8],
        utc_ts(),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let utc_millis = |array: &ArrayRef| -> datafusion::error::Result<_> {
                let ts = arrow::compute::cast(array, &utc_ms())?;
                Ok(ts.as_primitive::<TimestampMillisecondType>().clone())
            };
            let bucketer = |g: &str, z: &str| -> datafusion::error::Result<Bucketer> {
                let granularity = parse_duration(g).ok_or_else(|| {
                    exec_err(format!(
                        "{g:?} is not an ISO-8601 duration such as PT15M or P1D"
                    ))
                })?;
                let tz: Tz = z.parse().map_err(|_| {
                    exec_err(format!(
                        "{z:?} is not an IANA time zone such as Europe/Berlin"
                    ))
                })?;
                Ok(Bucketer::new(granularity, tz))
            };
            let out: TimestampMicrosecondArray = match (&args[1], &args[2]) {
                // The usual call: one granularity and zone for the whole column.
                (ColumnarValue::Scalar(g), ColumnarValue::Scalar(z)) => {
                    // A scalar time stamp too makes all three scalars: one row.
                    let ts = utc_millis(&args[0].clone().into_array(1)?)?;
                    let (g, z) = (scalar_text(g)?, scalar_text(z)?);
                    let (Some(g), Some(z)) = (g, z) else {
                        return Ok(ColumnarValue::Array(arrow::array::new_null_array(
                            &utc_ts(),
                            ts.len(),
                        )));
                    };
                    let mut bucketer = bucketer(&g, &z)?;
                    ts.iter()
                        .map(|t| t.and_then(|ms| bucketer.start(ms)).map(micros))
                        .collect()
                }
                _ => {
                    // Scalars among arrays stand for every row.
                    let arrays = ColumnarValue::values_to_arrays(args)?;
                    let ts = utc_millis(&arrays[0])?;
                    let (granularities, zones) = (strings(&arrays[1])?, strings(&arrays[2])?);
                    let mut cache: Option<(String, String, Bucketer)> = None;
                    let mut out = Vec::with_capacity(ts.len());
                    for i in 0..ts.len() {
                        if ts.is_null(i) || granularities.is_null(i) || zones.is_null(i) {
                            out.push(None);
                            continue;
                        }
                        let (g, z) = (granularities.value(i), zones.value(i));
                        if cache.as_ref().is_none_or(|(cg, cz, _)| cg != g || cz != z) {
                            cache = Some((g.to_string(), z.to_string(), bucketer(g, z)?));
                        }
                        let (_, _, b) = cache.as_mut().expect("just set");
                        out.push(b.start(ts.value(i)).map(micros));
                    }
                    out.into()
                }
            };
            Ok(ColumnarValue::Array(Arc::new(out.with_timezone("UTC"))))
        }),
    ));
    ctx.register_udf(create_udf(
        "format_duration",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ms = arrow::compute::cast(&arrays[0], &DataType::Int64)?;
            let out: StringArray = ms
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(format_duration))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    ctx.register_udf(create_udf(
        "kv_lookup",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (lists, keys) = (strings(&arrays[0])?, strings(&arrays[1])?);
            let out: Int64Array = lists
                .iter()
                .zip(keys.iter())
                .map(|(l, k)| kv_lookup(l?, k?))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
    ctx.register_udf(create_udf(
        "json_text",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (docs, paths) = (strings(&arrays[0])?, strings(&arrays[1])?);
            let out: StringArray = docs
                .iter()
                .zip(paths.iter())
                .map(|(doc, path)| json_text(doc?, path?))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));
}

/// The integer for `key` in a `k1=v1,k2=v2` list, if there.
pub fn kv_lookup(list: &str, key: &str) -> Option<i64> {
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// The value at `path` (`a.b[0].c`, optionally starting with `$.`) in the JSON text `doc`:
/// strings as they are, other values as JSON text; `None` when absent or not JSON.
pub fn json_text(doc: &str, path: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(doc).ok()?;
    let path = path.trim().trim_start_matches('$').trim_start_matches('.');
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            value = value.get_mut(key)?.take();
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            value = value.get_mut(i)?.take();
        }
    }
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT15M"), Some(Granularity::Fixed(900_000)));
        assert_eq!(
            parse_duration("PT1H30M"),
            Some(Granularity::Fixed(5_400_000))
        );
        assert_eq!(parse_duration("P1D"), Some(Granularity::Fixed(86_400_000)));
        assert_eq!(parse_duration("P1W"), Some(Granularity::Fixed(604_800_000)));
        assert_eq!(parse_duration("P1M"), Some(Granularity::Months(1)));
        for bad in ["15m", "PT", "P", "PT15X", "P1DT", "PT-5M", ""] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn buckets_follow_the_local_clock() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-11-02T08:07:00Z is 09:07 in Berlin (CET, UTC+1): the 09:00 local quarter hour.
        let ms = parse_timestamp("2026-11-02T08:07:00.000Z").unwrap().millis;
        let quarter = bucket_start(ms, Granularity::Fixed(900_000), berlin).unwrap();
        assert_eq!(
            quarter,
            parse_timestamp("2026-11-02T08:00:00.000Z").unwrap().millis
        );
        // Its local day starts at 2026-11-01T23:00:00Z.
        let day = bucket_start(ms, Granularity::Fixed(86_400_000), berlin).unwrap();
        assert_eq!(
            day,
            parse_timestamp("2026-11-01T23:00:00.000Z").unwrap().millis
        );
        // The week starts on Monday 2026-11-02 local.
        let week = bucket_start(ms, Granularity::Fixed(604_800_000), berlin).unwrap();
        assert_eq!(week, day);
        // The month starts on 2026-11-01 local = 2026-10-31T23:00:00Z.
        let month = bucket_start(ms, Granularity::Months(1), berlin).unwrap();
        assert_eq!(
            month,
            parse_timestamp("2026-10-31T23:00:00.000Z").unwrap().millis
        );
        // Across the spring-forward day the local day is 23 hours long.
        let ny: Tz = "America/New_York".parse().unwrap();
        let ms = parse_timestamp("2026-03-08T12:00:00.000Z").unwrap().millis;
        assert_eq!(
            bucket_start(ms, Granularity::Fixed(86_400_000), ny).unwrap(),
            parse_timestamp("2026-03-08T05:00:00.000Z").unwrap().millis
        );
    }

    #[test]
    fn the_bucketer_agrees_with_bucket_start_across_clock_changes() {
        // Zones with DST changes of an hour and of half an hour, odd offsets (+5:45, +5:30),
        // and instants every 7 minutes 13 seconds across a year: spring-forward and fall-back
        // nights included, in every granularity the reports use and a few they don't.
        // Historic offsets in odd minutes and seconds (Dublin +0:25:21 until October 1916,
        // Monrovia -0:44:30 until January 1972) put bucket boundaries and clock changes inside UTC
        // quarter hours, where the memo must step aside.
        let year = 366;
        let windows = [
            ("America/New_York", "2026-01-01T00:00:00.000Z", year),
            ("Europe/Berlin", "2026-01-01T00:00:00.000Z", year),
            ("Australia/Lord_Howe", "2026-01-01T00:00:00.000Z", year),
            ("Asia/Kathmandu", "2026-01-01T00:00:00.000Z", year),
            ("Asia/Kolkata", "2026-01-01T00:00:00.000Z", year),
            ("UTC", "2026-01-01T00:00:00.000Z", year),
            ("Europe/Dublin", "1916-09-01T00:00:00.000Z", 60),
            ("Africa/Monrovia", "1971-12-01T00:00:00.000Z", 60),
        ];
        let granularities = [
            "PT5M", "PT15M", "PT30M", "PT1H", "PT2H", "P1D", "P1W", "P1M",
        ];
        let mut checked = 0;
        for (zone, from, days) in windows {
            let tz: Tz = zone.parse().unwrap();
            let from = parse_timestamp(from).unwrap().millis;
            for g in granularities {
                let granularity = parse_duration(g).unwrap();
                let mut bucketer = Bucketer::new(granularity, tz);
                let mut ms = from;
                while ms < from + days * 86_400_000 {
                    assert_eq!(
                        bucketer.start(ms),
                        bucket_start(ms, granularity, tz),
                        "{zone} {g} at {ms}"
                    );
                    // Back and forth too, so that the memo is read out of order.
                    let back = ms - 3 * 3_600_000;
                    assert_eq!(bucketer.start(back), bucket_start(back, granularity, tz));
                    ms += if days == year { 1_733_000 } else { 97_000 };
                    checked += 1;
                }
            }
        }
        assert!(checked > 1_000_000);
    }

    #[test]
    fn intervals_and_formatting() {
        let (a, b) = parse_interval("2026-11-01T00:00:00Z/2026-11-08T00:00:00Z").unwrap();
        assert_eq!(b - a, 7 * 86_400_000);
        assert_eq!(parse_interval("2026-11-01"), None);
        assert_eq!(format_duration(3_723_000), "1:02:03");
        assert_eq!(
            json_text(r#"{"a":[{"b":"x"},{"b":2}]}"#, "$.a[1].b").as_deref(),
            Some("2")
        );
        assert_eq!(
            json_text(r#"{"a":[{"b":"x"}]}"#, "a[0].b").as_deref(),
            Some("x")
        );
        assert_eq!(json_text(r#"{"a":1}"#, "missing"), None);
        assert_eq!(kv_lookup("q1=30000, q2 = 15000", "q2"), Some(15_000));
        assert_eq!(kv_lookup("q1=30000", "q3"), None);
        assert_eq!(kv_lookup("", "q3"), None);
    }
}
