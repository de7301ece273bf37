//! Java `DateTimeFormatter` patterns (as ksqlDB's `TIMESTAMP_FORMAT` and its date/time
//! functions use them) translated to chrono, for parsing and formatting in UTC or any IANA
//! time zone.
//!
//! Local times that do not exist (the hour skipped when clocks go forward) resolve as Java's
//! `ZonedDateTime` does: shifted later by the length of the gap. Local times that occur twice
//! (the hour repeated when clocks go back) resolve to the earlier instant.

use chrono::format::{Item, StrftimeItems};
use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone,
};
use chrono_tz::Tz;

/// A time zone: an IANA zone (`America/New_York`) or a fixed offset from UTC (`+05:30`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// An IANA zone, with its daylight saving rules.
    Named(Tz),
    /// A fixed offset from UTC.
    Fixed(FixedOffset),
}

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone::Named(Tz::UTC);

    /// The local time in this zone of a UTC instant.
    pub fn local(&self, utc: NaiveDateTime) -> NaiveDateTime {
        match self {
            Zone::Named(tz) => tz.from_utc_datetime(&utc).naive_local(),
            Zone::Fixed(f) => f.from_utc_datetime(&utc).naive_local(),
        }
    }
}

/// A compiled Java date/time pattern.
#[derive(Debug, Clone)]
pub struct TimestampFormat {
    java: String,
    parse: String,
    format: String,
    /// `format` for a zero offset: Java writes `X` patterns as `Z` then.
    format_zero: String,
    has_zone: bool,
    has_time: bool,
    has_date: bool,
    zone_name: bool,
}

impl TimestampFormat {
    /// Translates a Java pattern such as `yyyy-MM-dd HH:mm:ss.SSS` or
    /// `yyyy-MM-dd'T'HH:mm:ssXXX`. Unsupported pattern letters are an error naming the letter.
    pub fn new(java: &str) -> Result<Self, String> {
        let mut parse = String::new();
        let mut format = String::new();
        let mut format_zero = String::new();
        let chars: Vec<char> = java.chars().collect();
        let mut i = 0;
        let (mut has_zone, mut has_time, mut has_date, mut zone_name) =
            (false, false, false, false);
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a single quote.
                i += 1;
                if chars.get(i) == Some(&'\'') {
                    parse.push('\'');
                    format.push('\'');
                    format_zero.push('\'');
                    i += 1;
                    continue;
                }
                while i < chars.len() && chars[i] != '\'' {
                    push_literal(&mut parse, chars[i]);
                    push_literal(&mut format, chars[i]);
                    push_literal(&mut format_zero, chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!(
                        "date/time pattern '{java}': a quoted literal is not closed"
                    ));
                }
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < chars.len() && chars[i + n] == c {
                n += 1;
            }
            let (p, f) = match (c, n) {
                ('y', 2) | ('u', 2) => ("%y", "%y"),
                ('y', _) | ('u', _) => ("%Y", "%Y"),
                ('M', 1) | ('L', 1) => ("%m", "%-m"),
                ('M', 2) | ('L', 2) => ("%m", "%m"),
                ('M', 3) | ('L', 3) => ("%b", "%b"),
                ('M', _) | ('L', _) => ("%B", "%B"),
                ('d', 1) => ("%d", "%-d"),
                ('d', _) => ("%d", "%d"),
                ('D', 1 | 2) => ("%j", "%-j"),
                ('D', _) => ("%j", "%j"),
                ('E', 1..=3) => ("%a", "%a"),
                ('E', _) => ("%A", "%A"),
                ('H', 1) => ("%H", "%-H"),
                ('H', _) => ("%H", "%H"),
                ('h', 1) => ("%I", "%-I"),
                ('h', _) => ("%I", "%I"),
                ('a', _) => ("%p", "%p"),
                ('m', 1) => ("%M", "%-M"),
                ('m', _) => ("%M", "%M"),
                ('s', 1) => ("%S", "%-S"),
                ('s', _) => ("%S", "%S"),
                ('S', 1..=3) => ("%3f", "%3f"),
                ('S', 4..=6) => ("%6f", "%6f"),
                ('S', _) => ("%9f", "%9f"),
                ('X', 1) | ('x', 1) | ('x', 2) | ('X', 2) | ('Z', 1..=3) => ("%#z", "%z"),
                ('X', _) | ('x', _) | ('Z', _) => ("%#z", "%:z"),
                ('z', _) => ("%Z", "%Z"),
                ('[' | ']' | '{' | '}' | '#', _) => {
                    return Err(format!(
                        "date/time pattern '{java}': '{c}' (optional sections) is not supported"
                    ))
                }
                (ch, _) if ch.is_ascii_alphabetic() => {
                    return Err(format!(
                        "date/time pattern '{java}': pattern letter '{ch}' is not supported"
                    ))
                }
                (ch, _) => {
                    for _ in 0..n {
                        push_literal(&mut parse, ch);
                        push_literal(&mut format, ch);
                        push_literal(&mut format_zero, ch);
                    }
                    i += n;
                    continue;
                }
            };
            has_zone |= matches!(c, 'X' | 'x' | 'Z');
            zone_name |= c == 'z';
            has_time |= matches!(c, 'H' | 'h' | 'm' | 's' | 'S');
            has_date |= matches!(c, 'y' | 'u' | 'M' | 'L' | 'd' | 'D');
            if c == 'S' {
                // Parsing accepts any number of fraction digits, as Java's lenient `S` does
                // (chrono's fraction specifier consumes the dot Java writes explicitly).
                if parse.ends_with('.') {
                    parse.pop();
                    parse.push_str("%.f");
                } else {
                    parse.push_str(p);
                }
                // Writing gives exactly n digits (`ss.S` is tenths): a marker filled in
                // after chrono has written the rest.
                let marker = fraction_marker(n);
                format.push(marker);
                format_zero.push(marker);
            } else if matches!((c, n), ('X', 1) | ('x', 1)) {
                // One letter: the hours only (`-04`), or hours and minutes when there are
                // minutes; `X` writes `Z` for UTC. Filled in after chrono has written the rest.
                parse.push_str(p);
                let marker = if c == 'X' {
                    HOURS_OFFSET_Z
                } else {
                    HOURS_OFFSET
                };
                format.push(marker);
                format_zero.push(marker);
            } else {
                parse.push_str(p);
                format.push_str(f);
                format_zero.push_str(if c == 'X' { "Z" } else { f });
            }
            i += n;
        }
        for spec in [&parse, &format, &format_zero] {
            if StrftimeItems::new(spec).any(|item| matches!(item, Item::Error)) {
                return Err(format!("date/time pattern '{java}' is not valid"));
            }
        }
        Ok(Self {
            java: java.to_string(),
            parse,
            format,
            format_zero,
            has_zone,
            has_time,
            has_date,
            zone_name,
        })
    }

    /// Whether text can be parsed with this pattern (zone names like `PDT` can be written
    /// but not read back: they are ambiguous).
    pub fn can_parse(&self) -> bool {
        !self.zone_name
    }

    /// The Java pattern this was compiled from.
    pub fn pattern(&self) -> &str {
        &self.java
    }

    /// Epoch milliseconds of `text` read as UTC (unless the pattern carries an offset), or
    /// `None` when it does not match the pattern.
    pub fn parse_millis(&self, text: &str) -> Option<i64> {
        self.parse_millis_in(text, &Zone::UTC)
    }

    /// Epoch milliseconds of `text`, a local time in `zone` unless the pattern carries an
    /// offset; `None` when it does not match the pattern.
    pub fn parse_millis_in(&self, text: &str, zone: &Zone) -> Option<i64> {
        if self.has_zone {
            return DateTime::parse_from_str(text, &self.parse)
                .ok()
                .map(|d| d.timestamp_millis());
        }
        if self.zone_name {
            return None;
        }
        let local = if self.has_time {
            NaiveDateTime::parse_from_str(text, &self.parse).ok()?
        } else {
            NaiveDate::parse_from_str(text, &self.parse)
                .ok()?
                .and_hms_opt(0, 0, 0)?
        };
        Some(local_to_utc(local, zone).and_utc().timestamp_millis())
    }

    /// `millis` (epoch milliseconds) written in `zone`; `None` when out of range.
    pub fn format_millis(&self, millis: i64, zone: &Zone) -> Option<String> {
        let utc = DateTime::from_timestamp_millis(millis)?;
        let mut out = String::new();
        use std::fmt::Write as _;
        let spec = |offset: i32| {
            if offset == 0 {
                &self.format_zero
            } else {
                &self.format
            }
        };
        let offset = match zone {
            Zone::Named(tz) => {
                let local = utc.with_timezone(tz);
                let offset = local.offset().fix().local_minus_utc();
                write!(out, "{}", local.format(spec(offset))).ok()?;
                offset
            }
            Zone::Fixed(f) => {
                let local = utc.with_timezone(f);
                write!(out, "{}", local.format(spec(f.local_minus_utc()))).ok()?;
                f.local_minus_utc()
            }
        };
        Some(fill_offsets(
            fill_fractions(out, millis.rem_euclid(1000) as u32),
            offset,
        ))
    }

    /// Days since the epoch of a date in `text`; `None` when it does not match. As ksqlDB's
    /// PARSE_DATE, a pattern without a day (`MMM-yyyy`) means the first of the month, one
    /// without a month means January, and text after the pattern's end is ignored.
    pub fn parse_days(&self, text: &str) -> Option<i32> {
        let mut parsed = chrono::format::Parsed::new();
        chrono::format::parse_and_remainder(&mut parsed, text, StrftimeItems::new(&self.parse))
            .ok()?;
        if parsed.ordinal().is_none() && parsed.isoweek().is_none() {
            if parsed.month().is_none() {
                parsed.set_month(1).ok()?;
            }
            if parsed.day().is_none() {
                parsed.set_day(1).ok()?;
            }
        }
        let date = parsed.to_naive_date().ok()?;
        i32::try_from(date.signed_duration_since(epoch()).num_days()).ok()
    }

    /// A date (days since the epoch) written with this pattern; `None` when the pattern asks
    /// for a time of day or a zone, which a date does not have.
    pub fn format_days(&self, days: i32) -> Option<String> {
        if self.has_time || self.has_zone || self.zone_name {
            return None;
        }
        let date = epoch().checked_add_signed(Duration::days(i64::from(days)))?;
        let mut out = String::new();
        use std::fmt::Write as _;
        write!(out, "{}", date.format(&self.format)).ok()?;
        Some(out)
    }

    /// Milliseconds since midnight of a time of day in `text`; `None` when it does not match.
    pub fn parse_time_millis(&self, text: &str) -> Option<i32> {
        let time = NaiveTime::parse_from_str(text, &self.parse).ok()?;
        i32::try_from(
            time.signed_duration_since(NaiveTime::MIN)
                .num_milliseconds(),
        )
        .ok()
    }

    /// A time of day (milliseconds since midnight) written with this pattern; `None` when the
    /// pattern asks for a date or a zone.
    pub fn format_time_millis(&self, millis: i32) -> Option<String> {
        if self.has_date || self.has_zone || self.zone_name {
            return None;
        }
        let time = NaiveTime::MIN.overflowing_add_signed(Duration::milliseconds(i64::from(millis)));
        let mut out = String::new();
        use std::fmt::Write as _;
        write!(out, "{}", time.0.format(&self.format)).ok()?;
        Some(fill_fractions(out, millis.rem_euclid(1000) as u32))
    }
}

/// The private-use character standing for `n` fraction digits in a format (see
/// [`fill_fractions`]).
fn fraction_marker(n: usize) -> char {
    char::from_u32(0xE000 + n.min(9) as u32).unwrap_or('\u{E009}')
}

/// `text` with every fraction marker replaced by the digits of `ms` it stands for: Java's `S`
/// is tenths, `SS` hundredths, `SSS` milliseconds, and more `S`s pad with zeros.
fn fill_fractions(text: String, ms: u32) -> String {
    if !text.chars().any(|c| ('\u{E001}'..='\u{E009}').contains(&c)) {
        return text;
    }
    let digits = format!("{ms:03}");
    text.chars()
        .map(|c| match u32::from(c).checked_sub(0xE000) {
            Some(n @ 1..=9) => {
                let n = n as usize;
                if n <= 3 {
                    digits[..n].to_string()
                } else {
                    format!("{digits}{}", "0".repeat(n - 3))
                }
            }
            _ => c.to_string(),
        })
        .collect()
}

/// Java's one-letter `x` (`-04`, `+0530`) and `X` (the same, `Z` for UTC), as markers.
const HOURS_OFFSET: char = '\u{E011}';
const HOURS_OFFSET_Z: char = '\u{E012}';

/// `text` with the one-letter offset markers replaced by the offset `seconds` east of UTC.
fn fill_offsets(text: String, seconds: i32) -> String {
    if !text.contains([HOURS_OFFSET, HOURS_OFFSET_Z]) {
        return text;
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let (h, m) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    let written = if m == 0 {
        format!("{sign}{h:02}")
    } else {
        format!("{sign}{h:02}{m:02}")
    };
    let z = if seconds == 0 {
        "Z".to_string()
    } else {
        written.clone()
    };
    text.replace(HOURS_OFFSET, &written)
        .replace(HOURS_OFFSET_Z, &z)
}

/// 1970-01-01.
fn epoch() -> NaiveDate {
    NaiveDate::default()
}

/// The UTC instant of a local time in `zone`, resolving DST gaps and overlaps as Java does.
pub fn local_to_utc(local: NaiveDateTime, zone: &Zone) -> NaiveDateTime {
    let zone = match zone {
        Zone::Named(tz) => tz,
        Zone::Fixed(f) => return local - Duration::seconds(i64::from(f.local_minus_utc())),
    };
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.naive_utc(),
        LocalResult::Ambiguous(earlier, _) => earlier.naive_utc(),
        LocalResult::None => {
            // In a gap: use the offset in force just before it (the local time moves later by
            // the length of the gap).
            let before = local - Duration::hours(6);
            let offset = zone
                .offset_from_local_datetime(&before)
                .earliest()
                .map(|o| o.fix().local_minus_utc())
                .unwrap_or(0);
            local - Duration::seconds(i64::from(offset))
        }
    }
}

/// An IANA zone by name (`America/New_York`, `UTC`, `Etc/GMT+5`), or a UTC offset as Java
/// writes one (`+05:30`, `-0800`, `+05`, `UTC+1`, `GMT-03:00`, `Z`), or an error naming it.
pub fn zone(name: &str) -> Result<Zone, String> {
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(Zone::Named(tz));
    }
    if matches!(name.trim(), "Z" | "UT") {
        return Ok(Zone::UTC);
    }
    match utc_offset_minutes(name) {
        Some(minutes) => FixedOffset::east_opt(minutes * 60)
            .map(Zone::Fixed)
            .ok_or_else(|| format!("time zone offset '{name}' is out of range")),
        None => Err(format!(
            "unknown time zone '{name}': use an IANA name such as 'Europe/London', or an offset \
             such as '+05:30'"
        )),
    }
}

/// Minutes east of UTC in an offset as Java's `ZoneId` reads it: `+h`, `+hh`, `+hh:mm`,
/// `+hhmm` (at most 18 hours), optionally after `UTC`, `GMT` or `UT`.
fn utc_offset_minutes(text: &str) -> Option<i32> {
    let t = text.trim();
    let t = ["UTC", "GMT", "UT"]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let (h, m) = match rest.len() {
        1 | 2 if digits(rest) => (rest.parse::<i32>().ok()?, 0),
        4 if digits(rest) => (
            rest[..2].parse::<i32>().ok()?,
            rest[2..].parse::<i32>().ok()?,
        ),
        5 if rest.as_bytes()[2] == b':' && digits(&rest[..2]) && digits(&rest[3..]) => (
            rest[..2].parse::<i32>().ok()?,
            rest[3..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    let minutes = h * 60 + m;
    (m < 60 && minutes <= 18 * 60).then_some(sign * minutes)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_digits_and_day_of_year_as_java_writes_them() {
        let t = 1_552_203_005_123; // 2019-03-10T07:30:05.123Z, day 69
        let w = |p: &str| {
            TimestampFormat::new(p)
                .unwrap()
                .format_millis(t, &Zone::UTC)
        };
        assert_eq!(w("ss.S").as_deref(), Some("05.1"));
        assert_eq!(w("ss.SS").as_deref(), Some("05.12"));
        assert_eq!(w("HH:mm:ss.SSS").as_deref(), Some("07:30:05.123"));
        assert_eq!(w("ss.SSSSSS").as_deref(), Some("05.123000"));
        assert_eq!(w("D").as_deref(), Some("69"));
        let ny = zone("America/New_York").unwrap();
        let f = |p: &str, z: &Zone| TimestampFormat::new(p).unwrap().format_millis(t, z);
        assert_eq!(f("HH:mm X", &ny).as_deref(), Some("03:30 -04"));
        assert_eq!(
            f("HH:mm x", &zone("+05:30").unwrap()).as_deref(),
            Some("13:00 +0530")
        );
        assert_eq!(f("HH:mm X", &Zone::UTC).as_deref(), Some("07:30 Z"));
        assert_eq!(f("HH:mm x", &Zone::UTC).as_deref(), Some("07:30 +00"));
        assert_eq!(w("DDD").as_deref(), Some("069"));
    }

    #[test]
    fn zones_by_name_and_by_offset() {
        let fixed = |m: i32| Ok(Zone::Fixed(FixedOffset::east_opt(m * 60).unwrap()));
        assert_eq!(
            zone("America/New_York"),
            Ok(Zone::Named(chrono_tz::America::New_York))
        );
        assert_eq!(zone("+05:00"), fixed(300));
        assert_eq!(zone("+05:30"), fixed(330));
        assert_eq!(zone("-0800"), fixed(-480));
        assert_eq!(zone("UTC+1"), fixed(60));
        assert_eq!(zone("Z"), Ok(Zone::UTC));
        assert!(zone("Mars/Base").unwrap_err().contains("unknown time zone"));
        assert!(zone("+25:00").is_err());
        for bad in ["+1:5", "+05:3", "+123", "UTC+1:", "+18:01"] {
            assert!(zone(bad).is_err(), "{bad}");
        }
        assert_eq!(zone("UT-3"), fixed(-180));
        assert_eq!(zone("UT"), Ok(Zone::UTC));
        // A local time at a half-hour offset.
        let f = TimestampFormat::new("yyyy-MM-dd HH:mm").unwrap();
        let india = zone("+05:30").unwrap();
        assert_eq!(f.parse_millis_in("1970-01-01 05:30", &india), Some(0));
        assert_eq!(
            f.format_millis(0, &india).as_deref(),
            Some("1970-01-01 05:30")
        );
    }

    #[test]
    fn parses_common_patterns() {
        let f = TimestampFormat::new("yyyy-MM-dd HH:mm:ss").unwrap();
        assert_eq!(
            f.parse_millis("2019-01-01 00:00:50"),
            Some(1_546_300_850_000)
        );
        let f = TimestampFormat::new("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").unwrap();
        assert_eq!(
            f.parse_millis("2019-01-01T05:00:50.250+05:00"),
            Some(1_546_300_850_250)
        );
        let f = TimestampFormat::new("yyyy-MM-dd'T'HH:mm:ssX").unwrap();
        assert_eq!(
            f.parse_millis("2018-05-11T21:58:33Z"),
            Some(1_526_075_913_000)
        );
        let f = TimestampFormat::new("yyyy-MM-dd'T'HH:mm:ss.SX").unwrap();
        assert_eq!(
            f.parse_millis("2019-08-27T13:31:09.2+0000"),
            Some(1_566_912_669_200)
        );
        let f = TimestampFormat::new("dd/MM/yyyy").unwrap();
        assert_eq!(f.parse_millis("02/01/1970"), Some(86_400_000));
        assert_eq!(f.parse_millis("not a date"), None);
        assert!(TimestampFormat::new("yyyy-QQ").is_err());
    }

    #[test]
    fn formats_in_a_zone() {
        let f = TimestampFormat::new("yyyy-MM-dd HH:mm:ss zzz").unwrap();
        let la = zone("America/Los_Angeles").unwrap();
        assert_eq!(
            f.format_millis(1_526_075_913_000, &la).as_deref(),
            Some("2018-05-11 14:58:33 PDT")
        );
        let london = zone("Europe/London").unwrap();
        assert_eq!(
            f.format_millis(1_526_075_913_000, &london).as_deref(),
            Some("2018-05-11 22:58:33 BST")
        );
        assert!(zone("Mars/Olympus").is_err());
        // Java writes a zero offset as Z for X patterns.
        let f = TimestampFormat::new("yyyy-MM-dd'T'HH:mm:ssXXX").unwrap();
        assert_eq!(
            f.format_millis(0, &Zone::UTC).as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        let ny = zone("America/New_York").unwrap();
        assert_eq!(
            f.format_millis(0, &ny).as_deref(),
            Some("1969-12-31T19:00:00-05:00")
        );
    }

    #[test]
    fn local_times_around_dst_resolve_like_java() {
        let f = TimestampFormat::new("yyyy-MM-dd HH:mm").unwrap();
        let ny = zone("America/New_York").unwrap();
        // 2019-03-10 02:30 does not exist in New York: it is read as 03:30 EDT (07:30 UTC).
        let gap = f.parse_millis_in("2019-03-10 02:30", &ny).unwrap();
        assert_eq!(gap, f.parse_millis("2019-03-10 07:30").unwrap());
        // 2019-11-03 01:30 happens twice: the earlier one (EDT, 05:30 UTC) wins.
        let overlap = f.parse_millis_in("2019-11-03 01:30", &ny).unwrap();
        assert_eq!(overlap, f.parse_millis("2019-11-03 05:30").unwrap());
        // A normal winter time is UTC-5.
        let winter = f.parse_millis_in("2019-01-15 08:00", &ny).unwrap();
        assert_eq!(winter, f.parse_millis("2019-01-15 13:00").unwrap());
    }

    #[test]
    fn dates_and_times_of_day() {
        let f = TimestampFormat::new("yyyy-MM-dd'Lit'").unwrap();
        assert_eq!(f.parse_days("2018-05-11Lit"), Some(17662));
        let f = TimestampFormat::new("dd/MM/yyyy").unwrap();
        assert_eq!(f.format_days(18027).as_deref(), Some("11/05/2019"));
        let f = TimestampFormat::new("HH:mm:ss.SSS").unwrap();
        assert_eq!(f.parse_time_millis("00:00:01.500"), Some(1500));
        assert_eq!(f.format_time_millis(1500).as_deref(), Some("00:00:01.500"));
        assert_eq!(f.format_days(1), None);
    }
}
