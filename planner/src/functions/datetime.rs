//! Date and time functions with ksqlDB's names and Java-style patterns, in any IANA zone.
//!
//! Converting a local timestamp to UTC is one call:
//! `PARSE_TIMESTAMP(pickup, 'yyyy-MM-dd HH:mm:ss', 'America/New_York')` reads the text as
//! New York local time and gives the instant; `CONVERT_TZ(ts, 'America/New_York', 'UTC')`
//! does the same for a TIMESTAMP that holds local wall-clock time.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Int32Array, Int64Array, StringArray, Time32MillisecondArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion_common::{plan_err, Result, ScalarValue};
use datafusion_expr::ScalarUDF;

use super::timefmt::{self, TimestampFormat};
use super::{function, literal_str, Args, Col, Ret, P};

const MS_PER_DAY: i64 = 86_400_000;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Compiled patterns of a pattern argument: once for a literal, once per distinct value
/// otherwise. A pattern that does not compile gives NULL for its rows.
struct Patterns<'a> {
    col: Col<&'a StringArray>,
    cache: HashMap<&'a str, Option<TimestampFormat>>,
}

impl<'a> Patterns<'a> {
    fn new(col: Col<&'a StringArray>) -> Self {
        Self {
            col,
            cache: HashMap::new(),
        }
    }

    fn at(&mut self, row: usize) -> Option<&TimestampFormat> {
        let text = self.col.get(row)?;
        self.cache
            .entry(text)
            .or_insert_with(|| TimestampFormat::new(text).ok())
            .as_ref()
    }
}

/// Time zones of a zone argument (UTC when the function was called without one).
struct Zones<'a> {
    col: Option<Col<&'a StringArray>>,
    cache: HashMap<&'a str, Option<timefmt::Zone>>,
}

impl<'a> Zones<'a> {
    fn new(args: &'a Args, i: usize) -> Result<Self> {
        let col = if args.len() > i {
            Some(args.str(i)?)
        } else {
            None
        };
        Ok(Self {
            col,
            cache: HashMap::new(),
        })
    }

    fn at(&mut self, row: usize) -> Option<timefmt::Zone> {
        let Some(col) = &self.col else {
            return Some(timefmt::Zone::UTC);
        };
        let name = col.get(row)?;
        *self
            .cache
            .entry(name)
            .or_insert_with(|| timefmt::zone(name).ok())
    }
}

/// Plan-time check: literal patterns compile and literal zones exist.
fn check_patterns_and_zones(
    pattern_args: &'static [usize],
    zone_args: &'static [usize],
) -> impl Fn(&[Option<&ScalarValue>]) -> Result<()> {
    move |args| {
        for &i in pattern_args {
            if let Some(p) = literal_str(args, i) {
                if let Err(e) = TimestampFormat::new(p) {
                    return plan_err!("{e}");
                }
            }
        }
        for &i in zone_args {
            if let Some(z) = literal_str(args, i) {
                if let Err(e) = timefmt::zone(z) {
                    return plan_err!("{e}");
                }
            }
        }
        Ok(())
    }
}

fn check_p1(args: &[Option<&ScalarValue>]) -> Result<()> {
    check_patterns_and_zones(&[1], &[2])(args)
}

/// As [`check_p1`], for functions that parse text with the pattern.
fn check_parse(args: &[Option<&ScalarValue>]) -> Result<()> {
    check_p1(args)?;
    if let Some(p) = literal_str(args, 1) {
        if TimestampFormat::new(p).is_ok_and(|f| !f.can_parse()) {
            return plan_err!(
                "date/time pattern '{p}': zone names (z) can be formatted but not parsed; use an offset (X, Z) or pass the zone as an argument"
            );
        }
    }
    Ok(())
}

fn check_convert_tz(args: &[Option<&ScalarValue>]) -> Result<()> {
    check_patterns_and_zones(&[], &[1, 2])(args)
}

fn check_unit(args: &[Option<&ScalarValue>]) -> Result<()> {
    if let Some(u) = literal_str(args, 0) {
        if unit_millis(u).is_none() {
            return plan_err!(
                "unknown time unit '{u}': use MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS"
            );
        }
    }
    Ok(())
}

/// Milliseconds in one `unit` (`DAYS`, `HOUR`, ...); sub-millisecond units count as 0.
fn unit_millis(unit: &str) -> Option<i64> {
    Some(match unit.to_ascii_uppercase().trim_end_matches('S') {
        "NANOSECOND" | "MICROSECOND" => 0,
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => MS_PER_DAY,
        _ => return None,
    })
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

fn unix_timestamp(args: &Args) -> Result<ArrayRef> {
    if args.len() == 0 {
        let now = now_millis();
        return Ok(Arc::new(Int64Array::from(vec![now; args.rows])));
    }
    let ts = args.ts(0)?;
    Ok(Arc::new(
        (0..args.rows).map(|r| ts.get(r)).collect::<Int64Array>(),
    ))
}

fn unix_date(args: &Args) -> Result<ArrayRef> {
    if args.len() == 0 {
        let today = now_millis().div_euclid(MS_PER_DAY) as i32;
        return Ok(Arc::new(Int32Array::from(vec![today; args.rows])));
    }
    let d = args.date(0)?;
    Ok(Arc::new(
        (0..args.rows).map(|r| d.get(r)).collect::<Int32Array>(),
    ))
}

/// `ms` when it is a time chrono (and every printer) can represent, else `None` (NULL).
fn in_range(ms: i64) -> Option<i64> {
    DateTime::from_timestamp_millis(ms).map(|_| ms)
}

fn from_unixtime(args: &Args) -> Result<ArrayRef> {
    let ms = args.long(0)?;
    Ok(Arc::new(
        (0..args.rows)
            .map(|r| ms.get(r).and_then(in_range))
            .collect::<TimestampMillisecondArray>(),
    ))
}

fn from_days(args: &Args) -> Result<ArrayRef> {
    let d = args.int(0)?;
    Ok(Arc::new(
        (0..args.rows)
            .map(|r| {
                d.get(r)
                    .filter(|days| in_range(i64::from(*days) * MS_PER_DAY).is_some())
            })
            .collect::<Date32Array>(),
    ))
}

/// Epoch millis of argument 0, whether it is a BIGINT or a TIMESTAMP.
fn millis_arg(args: &Args) -> Result<Vec<Option<i64>>> {
    let (array, _) = args.raw(0)?;
    Ok(if matches!(array.data_type(), DataType::Int64) {
        let c = args.long(0)?;
        (0..args.rows).map(|r| c.get(r)).collect()
    } else {
        let c = args.ts(0)?;
        (0..args.rows).map(|r| c.get(r)).collect()
    })
}

fn format_timestamp(args: &Args) -> Result<ArrayRef> {
    let millis = millis_arg(args)?;
    let mut patterns = Patterns::new(args.str(1)?);
    let mut zones = Zones::new(args, 2)?;
    let out: StringArray = millis
        .iter()
        .enumerate()
        .map(|(r, ms)| {
            let ms = (*ms)?;
            let zone = zones.at(r)?;
            patterns.at(r)?.format_millis(ms, &zone)
        })
        .collect();
    Ok(Arc::new(out))
}

fn parse_millis(args: &Args) -> Result<Vec<Option<i64>>> {
    let text = args.str(0)?;
    let mut patterns = Patterns::new(args.str(1)?);
    let mut zones = Zones::new(args, 2)?;
    Ok((0..args.rows)
        .map(|r| {
            let t = text.get(r)?;
            let zone = zones.at(r)?;
            patterns.at(r)?.parse_millis_in(t, &zone)
        })
        .collect())
}

fn string_to_timestamp(args: &Args) -> Result<ArrayRef> {
    Ok(Arc::new(Int64Array::from(parse_millis(args)?)))
}

fn parse_timestamp(args: &Args) -> Result<ArrayRef> {
    Ok(Arc::new(TimestampMillisecondArray::from(parse_millis(
        args,
    )?)))
}

fn days_arg(args: &Args) -> Result<Vec<Option<i32>>> {
    let (array, _) = args.raw(0)?;
    Ok(if matches!(array.data_type(), DataType::Int32) {
        let c = args.int(0)?;
        (0..args.rows).map(|r| c.get(r)).collect()
    } else {
        let c = args.date(0)?;
        (0..args.rows).map(|r| c.get(r)).collect()
    })
}

fn format_date(args: &Args) -> Result<ArrayRef> {
    let days = days_arg(args)?;
    let mut patterns = Patterns::new(args.str(1)?);
    let out: StringArray = days
        .iter()
        .enumerate()
        .map(|(r, d)| patterns.at(r)?.format_days((*d)?))
        .collect();
    Ok(Arc::new(out))
}

fn parse_days(args: &Args) -> Result<Vec<Option<i32>>> {
    let text = args.str(0)?;
    let mut patterns = Patterns::new(args.str(1)?);
    Ok((0..args.rows)
        .map(|r| patterns.at(r)?.parse_days(text.get(r)?))
        .collect())
}

fn parse_date(args: &Args) -> Result<ArrayRef> {
    Ok(Arc::new(Date32Array::from(parse_days(args)?)))
}

fn string_to_date(args: &Args) -> Result<ArrayRef> {
    Ok(Arc::new(Int32Array::from(parse_days(args)?)))
}

fn format_time(args: &Args) -> Result<ArrayRef> {
    let time = args.time(0)?;
    let mut patterns = Patterns::new(args.str(1)?);
    let out: StringArray = (0..args.rows)
        .map(|r| patterns.at(r)?.format_time_millis(time.get(r)?))
        .collect();
    Ok(Arc::new(out))
}

fn parse_time(args: &Args) -> Result<ArrayRef> {
    let text = args.str(0)?;
    let mut patterns = Patterns::new(args.str(1)?);
    let out: Time32MillisecondArray = (0..args.rows)
        .map(|r| patterns.at(r)?.parse_time_millis(text.get(r)?))
        .collect();
    Ok(Arc::new(out))
}

fn convert_tz(args: &Args) -> Result<ArrayRef> {
    let ts = args.ts(0)?;
    let mut from = Zones::new(args, 1)?;
    let mut to = Zones::new(args, 2)?;
    let out: TimestampMillisecondArray = (0..args.rows)
        .map(|r| {
            let local = DateTime::from_timestamp_millis(ts.get(r)?)?.naive_utc();
            let utc = timefmt::local_to_utc(local, &from.at(r)?);
            let there = to.at(r)?.local(utc);
            Some(there.and_utc().timestamp_millis())
        })
        .collect();
    Ok(Arc::new(out))
}

/// `n` units as milliseconds, per row (`None` when null or out of range).
fn shift_millis(args: &Args, r: usize, negate: bool) -> Result<Option<i64>> {
    let unit = args.str(0)?;
    let (amount, _) = args.raw(1)?;
    let n = if matches!(amount.data_type(), DataType::Int64) {
        args.long(1)?.get(r)
    } else {
        args.int(1)?.get(r).map(i64::from)
    };
    let (Some(u), Some(n)) = (unit.get(r), n) else {
        return Ok(None);
    };
    let Some(per) = unit_millis(u) else {
        return Ok(None);
    };
    let ms = n.checked_mul(per);
    Ok(if negate {
        ms.and_then(i64::checked_neg)
    } else {
        ms
    })
}

fn timestamp_shift(args: &Args, negate: bool) -> Result<ArrayRef> {
    let ts = args.ts(2)?;
    let out = (0..args.rows)
        .map(|r| {
            Ok(ts
                .get(r)
                .zip(shift_millis(args, r, negate)?)
                .and_then(|(t, d)| t.checked_add(d)))
        })
        .collect::<Result<TimestampMillisecondArray>>()?;
    Ok(Arc::new(out))
}

fn timestamp_add(args: &Args) -> Result<ArrayRef> {
    timestamp_shift(args, false)
}

fn timestamp_sub(args: &Args) -> Result<ArrayRef> {
    timestamp_shift(args, true)
}

fn date_shift(args: &Args, negate: bool) -> Result<ArrayRef> {
    let d = args.date(2)?;
    let out = (0..args.rows)
        .map(|r| {
            Ok(d.get(r)
                .zip(shift_millis(args, r, negate)?)
                .and_then(|(d, ms)| i32::try_from(i64::from(d) + ms.div_euclid(MS_PER_DAY)).ok()))
        })
        .collect::<Result<Date32Array>>()?;
    Ok(Arc::new(out))
}

fn date_add(args: &Args) -> Result<ArrayRef> {
    date_shift(args, false)
}

fn date_sub(args: &Args) -> Result<ArrayRef> {
    date_shift(args, true)
}

fn time_shift(args: &Args, negate: bool) -> Result<ArrayRef> {
    let t = args.time(2)?;
    let out = (0..args.rows)
        .map(|r| {
            Ok(t.get(r).zip(shift_millis(args, r, negate)?).map(|(t, ms)| {
                // A time of day wraps around midnight.
                (i64::from(t) + ms).rem_euclid(MS_PER_DAY) as i32
            }))
        })
        .collect::<Result<Time32MillisecondArray>>()?;
    Ok(Arc::new(out))
}

fn time_add(args: &Args) -> Result<ArrayRef> {
    time_shift(args, false)
}

fn time_sub(args: &Args) -> Result<ArrayRef> {
    time_shift(args, true)
}

/// The date and time functions.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    vec![
        function(
            "unix_timestamp",
            "Epoch milliseconds of a TIMESTAMP; with no argument, of the current time.",
            Ret::Fixed(DataType::Int64),
            unix_timestamp,
        )
        .overload(&[])
        .overload(&[Ts])
        .volatile()
        .build(),
        function(
            "unix_date",
            "Days since 1970-01-01 of a DATE; with no argument, of the current date (UTC).",
            Ret::Fixed(DataType::Int32),
            unix_date,
        )
        .overload(&[])
        .overload(&[Date])
        .volatile()
        .build(),
        function(
            "from_unixtime",
            "The TIMESTAMP at the given epoch milliseconds.",
            Ret::Fixed(ts_type()),
            from_unixtime,
        )
        .overload(&[Long])
        .build(),
        function(
            "from_days",
            "The DATE the given number of days after 1970-01-01.",
            Ret::Fixed(DataType::Date32),
            from_days,
        )
        .overload(&[Int])
        .build(),
        function(
            "timestamptostring",
            "Formats epoch milliseconds with a Java pattern, in UTC or the given IANA zone.",
            Ret::Fixed(DataType::Utf8),
            format_timestamp,
        )
        .overload(&[Long, Str])
        .overload(&[Long, Str, Str])
        .check(check_p1)
        .example("TIMESTAMPTOSTRING(ROWTIME, 'yyyy-MM-dd HH:mm:ss zzz', 'Europe/London')")
        .build(),
        function(
            "format_timestamp",
            "Formats a TIMESTAMP with a Java pattern, in UTC or the given IANA zone.",
            Ret::Fixed(DataType::Utf8),
            format_timestamp,
        )
        .overload(&[Ts, Str])
        .overload(&[Ts, Str, Str])
        .check(check_p1)
        .example("FORMAT_TIMESTAMP(pickup, 'yyyy-MM-dd''T''HH:mm:ssXXX', 'America/New_York')")
        .build(),
        function(
            "stringtotimestamp",
            "Parses text with a Java pattern into epoch milliseconds; the text is local time in \
             the given IANA zone (UTC by default) unless the pattern has an offset. NULL when \
             the text does not match.",
            Ret::Fixed(DataType::Int64),
            string_to_timestamp,
        )
        .overload(&[Str, Str])
        .overload(&[Str, Str, Str])
        .check(check_parse)
        .build(),
        function(
            "parse_timestamp",
            "Parses text with a Java pattern into a TIMESTAMP; the text is local time in the \
             given IANA zone (UTC by default) unless the pattern has an offset. NULL when the \
             text does not match. Skipped local times (DST gaps) move later by the gap; \
             repeated ones take the earlier instant.",
            Ret::Fixed(ts_type()),
            parse_timestamp,
        )
        .overload(&[Str, Str])
        .overload(&[Str, Str, Str])
        .check(check_parse)
        .example(
            "PARSE_TIMESTAMP('2019-03-10 01:30:00', 'yyyy-MM-dd HH:mm:ss', 'America/New_York')",
        )
        .build(),
        function(
            "format_date",
            "Formats a DATE with a Java pattern.",
            Ret::Fixed(DataType::Utf8),
            format_date,
        )
        .overload(&[Date, Str])
        .check(check_p1)
        .build(),
        function(
            "datetostring",
            "Formats days since 1970-01-01 with a Java pattern.",
            Ret::Fixed(DataType::Utf8),
            format_date,
        )
        .overload(&[Int, Str])
        .check(check_p1)
        .build(),
        function(
            "parse_date",
            "Parses text with a Java pattern into a DATE (NULL when it does not match).",
            Ret::Fixed(DataType::Date32),
            parse_date,
        )
        .overload(&[Str, Str])
        .check(check_parse)
        .build(),
        function(
            "stringtodate",
            "Parses text with a Java pattern into days since 1970-01-01.",
            Ret::Fixed(DataType::Int32),
            string_to_date,
        )
        .overload(&[Str, Str])
        .check(check_parse)
        .build(),
        function(
            "format_time",
            "Formats a TIME with a Java pattern.",
            Ret::Fixed(DataType::Utf8),
            format_time,
        )
        .overload(&[Time, Str])
        .check(check_p1)
        .build(),
        function(
            "parse_time",
            "Parses text with a Java pattern into a TIME (NULL when it does not match).",
            Ret::Fixed(DataType::Time32(TimeUnit::Millisecond)),
            parse_time,
        )
        .overload(&[Str, Str])
        .check(check_parse)
        .build(),
        function(
            "convert_tz",
            "Reads a TIMESTAMP as wall-clock time in one IANA zone and gives the wall-clock \
             time in another.",
            Ret::Fixed(ts_type()),
            convert_tz,
        )
        .overload(&[Ts, Str, Str])
        .check(check_convert_tz)
        .example("CONVERT_TZ(local_ts, 'America/New_York', 'UTC')")
        .build(),
        function(
            "timestampadd",
            "Adds an interval (unit, count) to a TIMESTAMP.",
            Ret::Fixed(ts_type()),
            timestamp_add,
        )
        .overload(&[Str, Long, Ts])
        .check(check_unit)
        .syntax("TIMESTAMPADD(unit, interval, timestamp)")
        .build(),
        function(
            "timestampsub",
            "Subtracts an interval (unit, count) from a TIMESTAMP.",
            Ret::Fixed(ts_type()),
            timestamp_sub,
        )
        .overload(&[Str, Long, Ts])
        .check(check_unit)
        .syntax("TIMESTAMPSUB(unit, interval, timestamp)")
        .build(),
        function(
            "dateadd",
            "Adds an interval (unit, count) to a DATE.",
            Ret::Fixed(DataType::Date32),
            date_add,
        )
        .overload(&[Str, Long, Date])
        .check(check_unit)
        .syntax("DATEADD(unit, interval, date)")
        .build(),
        function(
            "datesub",
            "Subtracts an interval (unit, count) from a DATE.",
            Ret::Fixed(DataType::Date32),
            date_sub,
        )
        .overload(&[Str, Long, Date])
        .check(check_unit)
        .syntax("DATESUB(unit, interval, date)")
        .build(),
        function(
            "timeadd",
            "Adds an interval (unit, count) to a TIME, wrapping around midnight.",
            Ret::Fixed(DataType::Time32(TimeUnit::Millisecond)),
            time_add,
        )
        .overload(&[Str, Long, Time])
        .check(check_unit)
        .syntax("TIMEADD(unit, interval, time)")
        .build(),
        function(
            "timesub",
            "Subtracts an interval (unit, count) from a TIME, wrapping around midnight.",
            Ret::Fixed(DataType::Time32(TimeUnit::Millisecond)),
            time_sub,
        )
        .overload(&[Str, Long, Time])
        .check(check_unit)
        .syntax("TIMESUB(unit, interval, time)")
        .build(),
    ]
}
