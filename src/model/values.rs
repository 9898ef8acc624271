//! Leaf values of the Genesys model as they come off the wire: borrowed text, ISO-8601
//! timestamps (strict fast path, counted lenient path), open-ended enum strings and the
//! participant `attributes` map.
//!
//! Every type here borrows from the record's JSON text where it can, so decoding a record
//! allocates only for strings with escapes. Turning these values into Arrow is the job of
//! [`crate::columnar`]; spotting drift in them is the job of [`crate::model::audit`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::schema::vocab::Vocabulary;

/// A JSON string, borrowed from the record text unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Text<'_> {
    /// The string itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

/// An enum-typed property: kept as the wire string, whatever it is, and checked against the
/// vocabulary `V` of known values only when auditing (Genesys adds values between releases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enum<'a, V> {
    /// The value exactly as sent.
    pub value: Text<'a>,
    vocabulary: PhantomData<V>,
}

impl<'a, V: Vocabulary> Enum<'a, V> {
    /// Wraps a wire value.
    pub fn new(value: Text<'a>) -> Self {
        Enum {
            value,
            vocabulary: PhantomData,
        }
    }

    /// The value exactly as sent.
    pub fn as_str(&self) -> &str {
        self.value.as_str()
    }

    /// Whether the value is one the reference model lists.
    pub fn is_known(&self) -> bool {
        V::contains(self.as_str())
    }
}

impl<'de: 'a, 'a, V: Vocabulary> Deserialize<'de> for Enum<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Text::deserialize(deserializer).map(Enum::new)
    }
}

/// A date-time in milliseconds since the Unix epoch (UTC).
///
/// `lenient` is set when the wire text was not the canonical `YYYY-MM-DDTHH:MM:SS.mmmZ` but
/// still unambiguous (single-digit fields, missing or longer fractions, explicit offsets), as
/// real exports contain; the audit counts those as warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub millis: i64,
    /// The text needed the lenient parser.
    pub lenient: bool,
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TsVisitor;
        impl Visitor<'_> for TsVisitor {
            type Value = Ts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an ISO-8601 date-time string such as 2021-04-01T12:27:53.386Z")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ts, E> {
                parse_timestamp(v).ok_or_else(|| {
                    E::custom(format!(
                        "invalid date-time {v:?}: expected ISO-8601 UTC such as 2021-04-01T12:27:53.386Z"
                    ))
                })
            }
        }
        deserializer.deserialize_str(TsVisitor)
    }
}

/// Parses a Genesys date-time. The canonical form takes a fixed-offset fast path; anything
/// else goes through [`parse_lenient`] and comes back marked `lenient`.
pub fn parse_timestamp(text: &str) -> Option<Ts> {
    let b = text.as_bytes();
    if b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
    {
        let n = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let millis = civil_millis(
            n(0..4)? as i32,
            n(5..7)?,
            n(8..10)?,
            n(11..13)?,
            n(14..16)?,
            n(17..19)?,
            n(20..23)?,
        )?;
        return Some(Ts {
            millis,
            lenient: false,
        });
    }
    parse_lenient(text).map(|millis| Ts {
        millis,
        lenient: true,
    })
}

/// Accepts `Y-M-D[T| ]h:m[:s[.fff…]][Z|±hh:mm|±hhmm]` with one- or two-digit fields, and a
/// bare `Y-M-D`. A missing zone means UTC (the API only ever sends UTC).
fn parse_lenient(text: &str) -> Option<i64> {
    let mut s = Scanner {
        b: text.trim().as_bytes(),
        i: 0,
    };
    let year = s.number(4, 4)? as i32;
    s.expect(b'-')?;
    let month = s.number(1, 2)?;
    s.expect(b'-')?;
    let day = s.number(1, 2)?;
    if s.done() {
        return civil_millis(year, month, day, 0, 0, 0, 0);
    }
    if !(s.eat(b'T') || s.eat(b't') || s.eat(b' ')) {
        return None;
    }
    let hour = s.number(1, 2)?;
    s.expect(b':')?;
    let minute = s.number(1, 2)?;
    let second = if s.eat(b':') { s.number(1, 2)? } else { 0 };
    let mut millis = 0;
    if s.eat(b'.') || s.eat(b',') {
        let start = s.i;
        let mut digits = 0;
        while let Some(c) = s.peek().filter(u8::is_ascii_digit) {
            if digits < 3 {
                millis = millis * 10 + u32::from(c - b'0');
            }
            digits += 1;
            s.i += 1;
        }
        if s.i == start {
            return None;
        }
        for _ in digits..3 {
            millis *= 10;
        }
    }
    let mut offset_minutes = 0i64;
    if s.eat(b'Z') || s.eat(b'z') {
    } else if let Some(sign) = s.peek().filter(|c| *c == b'+' || *c == b'-') {
        s.i += 1;
        let hours = s.number(2, 2)?;
        s.eat(b':');
        let minutes = s.number(2, 2)?;
        offset_minutes = i64::from(hours * 60 + minutes) * if sign == b'-' { -1 } else { 1 };
    }
    if !s.done() {
        return None;
    }
    let local = civil_millis(year, month, day, hour, minute, second.min(59), millis)?;
    Some(local - offset_minutes * 60_000)
}

struct Scanner<'s> {
    b: &'s [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v = 0u32;
        while self.i - start < max {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + u32::from(c - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }
}

/// Milliseconds since the epoch of a UTC civil date-time, or `None` if a field is out of range.
pub fn civil_millis(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: u32,
) -> Option<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
        || millis > 999
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(
        ((days * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60_000
            + i64::from(second) * 1000
            + i64::from(millis),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((yoe + era * 400 + i64::from(month <= 2)) as i32, month, day)
}

/// Formats epoch milliseconds the way Genesys writes date-times: `2021-04-01T12:27:53.386Z`.
pub fn format_timestamp(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let ms = millis.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Participant data: `map<string, string>` in declaration order. Non-string scalar values,
/// which hand-made exports sometimes carry, are kept as their JSON text; `null` stays null.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes<'a>(pub Vec<(Text<'a>, Option<Text<'a>>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Attributes<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttributesVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for AttributesVisitor<'a> {
            type Value = Attributes<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Text<'a>>()? {
                    entries.push((key, map.next_value::<AttributeValue<'a>>()?.0));
                }
                Ok(Attributes(entries))
            }
        }
        deserializer.deserialize_map(AttributesVisitor(PhantomData))
    }
}

struct AttributeValue<'a>(Option<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for AttributeValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
            type Value = AttributeValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or null attribute value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(AttributeValue(Some(Text(Cow::Borrowed(v)))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AttributeValue(Some(Text(Cow::Owned(v.to_owned())))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(AttributeValue(Some(Text(Cow::Owned(v.to_string())))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AttributeValue(Some(Text(Cow::Owned(v.to_string())))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AttributeValue(Some(Text(Cow::Owned(v.to_string())))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(AttributeValue(Some(Text(Cow::Owned(v.to_string())))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AttributeValue(None))
            }
        }
        deserializer.deserialize_any(ValueVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_timestamps_take_the_fast_path() {
        let ts = parse_timestamp("2021-04-01T12:27:53.386Z").unwrap();
        assert_eq!(
            ts,
            Ts {
                millis: 1_617_280_073_386,
                lenient: false
            }
        );
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00.000Z").unwrap().millis,
            0
        );
    }

    #[test]
    fn real_malformed_dates_parse_leniently() {
        // From reference/examples/blueprint-sql-conversation2.json.
        let ts = parse_timestamp("2021-04-2T15:30:51.418Z").unwrap();
        assert!(ts.lenient);
        assert_eq!(
            ts.millis,
            parse_timestamp("2021-04-02T15:30:51.418Z").unwrap().millis
        );
        assert_eq!(
            parse_timestamp("2021-04-02T15:30:51Z").unwrap().millis,
            1_617_377_451_000
        );
        assert_eq!(
            parse_timestamp("2021-04-02T17:30:51.4+02:00")
                .unwrap()
                .millis,
            1_617_377_451_400
        );
        assert_eq!(
            parse_timestamp("2021-04-02").unwrap().millis,
            1_617_321_600_000
        );
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [
            0,
            1_617_280_073_386,
            951_782_400_000,
            -86_400_001,
            4_102_444_799_999,
        ] {
            assert_eq!(
                parse_timestamp(&format_timestamp(ms)),
                Some(Ts {
                    millis: ms,
                    lenient: false
                })
            );
        }
    }

    #[test]
    fn impossible_dates_are_errors() {
        for bad in [
            "2021-02-30T00:00:00.000Z",
            "2021-13-01T00:00:00.000Z",
            "yesterday",
            "",
            "2021-04-01T25:00:00Z",
            "2021-04-01T10:00:00.Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
