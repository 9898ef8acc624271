//! Intervals and buckets as the Analytics API defines them: a half-open ISO-8601 interval read
//! with its own offsets, cut into buckets of an ISO-8601 granularity that start at the
//! interval's start. Day, week, month and year steps are taken in the query time zone's civil
//! time (a P1D bucket across a DST change is 23 or 25 hours); hour and minute steps are
//! absolute. The last bucket is cut at the interval's end.

use chrono::{DateTime, Days, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::ApiError;
use crate::model::parse_timestamp;

/// An ISO-8601 duration of whole minutes, hours, days, weeks, months or years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granularity {
    /// Calendar months (years are 12).
    pub months: u32,
    /// Calendar days (weeks are 7).
    pub days: u32,
    /// The time part, in milliseconds.
    pub millis: i64,
}

impl Granularity {
    /// Parses `PT30M`, `PT1H`, `P1D`, `P1W`, `P1M`, `P1Y`, `P1DT12H`. Seconds and fractions
    /// are refused (the API has no sub-minute buckets), and so is a zero duration.
    pub fn parse(text: &str) -> Result<Granularity, ApiError> {
        let bad = || {
            ApiError::bad_request(
                "invalid.granularity",
                format!(
                    "granularity {text:?} is not an ISO-8601 duration of whole minutes, hours, days, weeks, months or years, such as PT30M, PT1H, P1D, P1W or P1M"
                ),
            )
        };
        let rest = text.strip_prefix('P').ok_or_else(bad)?;
        let (date, time) = match rest.split_once('T') {
            Some((_, "")) => return Err(bad()),
            Some((d, t)) => (d, t),
            None => (rest, ""),
        };
        let mut g = Granularity {
            months: 0,
            days: 0,
            millis: 0,
        };
        for (part, in_time) in [(date, false), (time, true)] {
            let mut number = String::new();
            for c in part.chars() {
                if c.is_ascii_digit() {
                    number.push(c);
                    continue;
                }
                let n: u32 = number.parse().map_err(|_| bad())?;
                number.clear();
                match (c, in_time) {
                    ('Y', false) => g.months += n.checked_mul(12).ok_or_else(bad)?,
                    ('M', false) => g.months += n,
                    ('W', false) => g.days += n.checked_mul(7).ok_or_else(bad)?,
                    ('D', false) => g.days += n,
                    ('H', true) => g.millis += i64::from(n) * 3_600_000,
                    ('M', true) => g.millis += i64::from(n) * 60_000,
                    _ => return Err(bad()),
                }
            }
            if !number.is_empty() {
                return Err(bad());
            }
        }
        if g.months == 0 && g.days == 0 && g.millis == 0 {
            return Err(bad());
        }
        Ok(g)
    }

    fn is_civil(self) -> bool {
        self.months > 0 || self.days > 0
    }
}

/// A parsed interval: `[start, end)` in UTC milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// First instant, inclusive.
    pub start: i64,
    /// Last instant, exclusive.
    pub end: i64,
}

impl Interval {
    /// Parses `start/end`, each end with its own offset (none means UTC).
    pub fn parse(text: &str) -> Result<Interval, ApiError> {
        let bad = |why: &str| {
            ApiError::bad_request(
                "invalid.interval",
                format!(
                    "interval {text:?} {why}: write two ISO-8601 date-times separated by '/', such as 2026-11-02T00:00:00.000Z/2026-11-09T00:00:00.000Z"
                ),
            )
        };
        let (a, b) = text.split_once('/').ok_or_else(|| bad("has no '/'"))?;
        let start =
            parse_timestamp(a.trim()).ok_or_else(|| bad("does not start with a date-time"))?;
        let end = parse_timestamp(b.trim()).ok_or_else(|| bad("does not end with a date-time"))?;
        if end.millis <= start.millis {
            return Err(bad("ends before it starts"));
        }
        Ok(Interval {
            start: start.millis,
            end: end.millis,
        })
    }

    /// The interval as Genesys echoes it: UTC, milliseconds, `Z`.
    pub fn format(self) -> String {
        format!("{}/{}", format_utc(self.start), format_utc(self.end))
    }
}

/// `2026-11-02T00:00:00.000Z` for UTC milliseconds.
pub fn format_utc(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Parses an IANA zone name (`timeZone`), UTC when absent.
pub fn parse_zone(name: Option<&str>) -> Result<Tz, ApiError> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            ApiError::bad_request(
                "invalid.time.zone",
                format!("timeZone {name:?} is not an IANA time zone such as Europe/Berlin or America/New_York"),
            )
        }),
    }
}

/// The bucket boundaries of `interval` for `granularity` (none: one bucket) in `tz`: the
/// starts of every bucket followed by the interval's end, in UTC milliseconds. Fails with a
/// 413 when there would be more than `max_buckets`.
pub fn boundaries(
    interval: Interval,
    granularity: Option<Granularity>,
    tz: Tz,
    max_buckets: usize,
) -> Result<Vec<i64>, ApiError> {
    let Some(g) = granularity else {
        return Ok(vec![interval.start, interval.end]);
    };
    let too_many = || {
        ApiError::new(
            413,
            "too.many.buckets",
            format!(
                "the interval holds more than {max_buckets} buckets of this granularity: choose a coarser granularity or a shorter interval"
            ),
        )
    };
    let local_start = tz
        .timestamp_millis_opt(interval.start)
        .single()
        .map(|t| t.naive_local());
    let mut bounds = vec![interval.start];
    for k in 1.. {
        let next = if g.is_civil() {
            let local =
                local_start.ok_or_else(|| ApiError::internal("interval start out of range"))?;
            civil_step(local, g, k, tz).ok_or_else(too_many)?
        } else {
            interval.start + g.millis.checked_mul(i64::from(k)).ok_or_else(too_many)?
        };
        if next >= interval.end {
            break;
        }
        // A step that lands on the same instant (a gap swallowed it) adds no bucket.
        if next > *bounds.last().unwrap_or(&i64::MIN) {
            bounds.push(next);
        }
        if bounds.len() > max_buckets {
            return Err(too_many());
        }
    }
    bounds.push(interval.end);
    Ok(bounds)
}

/// The UTC instant of `local + k × g` in `tz`; a local time in a DST gap moves past the gap.
fn civil_step(local: NaiveDateTime, g: Granularity, k: u32, tz: Tz) -> Option<i64> {
    let stepped = local
        .checked_add_months(Months::new(g.months.checked_mul(k)?))?
        .checked_add_days(Days::new(u64::from(g.days) * u64::from(k)))?
        .checked_add_signed(chrono::Duration::milliseconds(
            g.millis.checked_mul(i64::from(k))?,
        ))?;
    let resolved = tz.from_local_datetime(&stepped);
    resolved
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(stepped + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_timestamp(text).unwrap().millis
    }

    #[test]
    fn granularities_parse_and_refuse() {
        assert_eq!(
            Granularity::parse("P1DT12H").unwrap(),
            Granularity {
                months: 0,
                days: 1,
                millis: 12 * 3_600_000
            }
        );
        assert_eq!(Granularity::parse("P1Y").unwrap().months, 12);
        assert_eq!(Granularity::parse("P2W").unwrap().days, 14);
        for bad in ["PT0M", "P", "PT", "PT30S", "1D", "P1.5D", "PT1D"] {
            assert!(Granularity::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_day_across_dst_is_23_hours_and_the_last_bucket_is_cut() {
        let interval =
            Interval::parse("2026-03-28T00:00:00+01:00/2026-03-30T12:00:00+02:00").unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let b = boundaries(interval, Some(Granularity::parse("P1D").unwrap()), tz, 100).unwrap();
        assert_eq!(
            b,
            vec![
                at("2026-03-27T23:00:00Z"),
                at("2026-03-28T23:00:00Z"),
                at("2026-03-29T22:00:00Z"),
                at("2026-03-30T10:00:00Z"),
            ]
        );
        // Minutes step in absolute time: 118 half hours in the 59 hours, whatever the zone.
        let half_hours = boundaries(
            interval,
            Some(Granularity::parse("PT30M").unwrap()),
            tz,
            1000,
        )
        .unwrap();
        assert_eq!(half_hours.len(), 118 + 1);
        assert!(boundaries(interval, Some(Granularity::parse("PT1M").unwrap()), tz, 100).is_err());
    }

    #[test]
    fn months_step_from_the_start_without_drift() {
        let interval = Interval::parse("2026-01-31T00:00:00Z/2026-05-01T00:00:00Z").unwrap();
        let b = boundaries(
            interval,
            Some(Granularity::parse("P1M").unwrap()),
            Tz::UTC,
            100,
        )
        .unwrap();
        let shown: Vec<String> = b.iter().map(|ms| format_utc(*ms)).collect();
        assert_eq!(
            shown,
            [
                "2026-01-31T00:00:00.000Z",
                "2026-02-28T00:00:00.000Z",
                "2026-03-31T00:00:00.000Z",
                "2026-04-30T00:00:00.000Z",
                "2026-05-01T00:00:00.000Z"
            ]
        );
    }
}
