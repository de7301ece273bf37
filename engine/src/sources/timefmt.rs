//! Java `DateTimeFormatter` patterns (as ksqlDB's `TIMESTAMP_FORMAT` uses them) translated to
//! chrono, and parsing of string timestamps into epoch milliseconds (UTC unless the pattern
//! carries a zone).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::error::{Error, Result};

/// A compiled timestamp pattern.
#[derive(Debug, Clone)]
pub(crate) struct TimestampFormat {
    chrono: String,
    has_zone: bool,
    has_time: bool,
}

impl TimestampFormat {
    /// Translates a Java pattern such as `yyyy-MM-dd HH:mm:ss.SSS` or `yyyy-MM-dd'T'HH:mm:ssXXX`.
    pub(crate) fn new(java: &str) -> Result<Self> {
        let mut out = String::new();
        let chars: Vec<char> = java.chars().collect();
        let mut i = 0;
        let (mut has_zone, mut has_time) = (false, false);
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a single quote.
                i += 1;
                if chars.get(i) == Some(&'\'') {
                    out.push('\'');
                    i += 1;
                    continue;
                }
                while i < chars.len() && chars[i] != '\'' {
                    push_literal(&mut out, chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < chars.len() && chars[i + n] == c {
                n += 1;
            }
            let piece = match (c, n) {
                ('y', 2) | ('u', 2) => "%y",
                ('y', _) | ('u', _) => "%Y",
                ('M', 1) => "%-m",
                ('M', 2) => "%m",
                ('M', 3) => "%b",
                ('M', _) => "%B",
                ('d', 1) => "%-d",
                ('d', _) => "%d",
                ('D', _) => "%j",
                ('E', 1..=3) => "%a",
                ('E', _) => "%A",
                ('H', 1) => "%-H",
                ('H', _) => "%H",
                ('h', _) => "%I",
                ('a', _) => "%p",
                ('m', 1) => "%-M",
                ('m', _) => "%M",
                ('s', 1) => "%-S",
                ('s', _) => "%S",
                ('S', 1..=3) => "%3f",
                ('S', 4..=6) => "%6f",
                ('S', _) => "%9f",
                ('X', 1) | ('x', 1) | ('Z', 1..=3) | ('x', 2) | ('X', 2) => "%z",
                ('X', _) | ('x', _) | ('Z', _) => "%:z",
                (ch, _) if ch.is_ascii_alphabetic() => {
                    return Err(Error::Config(format!(
                        "TIMESTAMP_FORMAT '{java}': pattern letter '{ch}' is not supported"
                    )))
                }
                (ch, _) => {
                    for _ in 0..n {
                        push_literal(&mut out, ch);
                    }
                    i += n;
                    continue;
                }
            };
            has_zone |= matches!(c, 'X' | 'x' | 'Z');
            has_time |= matches!(c, 'H' | 'h' | 'm' | 's');
            if c == 'S' {
                // chrono's %3f expects the dot before it; Java writes it explicitly.
                if out.ends_with('.') {
                    out.pop();
                    out.push_str(&piece.replace('%', "%."));
                    i += n;
                    continue;
                }
            }
            out.push_str(piece);
            i += n;
        }
        Ok(Self {
            chrono: out,
            has_zone,
            has_time,
        })
    }

    /// Epoch milliseconds of `text`, or `None` when it does not match the pattern.
    pub(crate) fn parse_millis(&self, text: &str) -> Option<i64> {
        if self.has_zone {
            return DateTime::parse_from_str(text, &self.chrono)
                .ok()
                .map(|d| d.timestamp_millis());
        }
        if self.has_time {
            return NaiveDateTime::parse_from_str(text, &self.chrono)
                .ok()
                .map(|d| d.and_utc().timestamp_millis());
        }
        NaiveDate::parse_from_str(text, &self.chrono)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp_millis())
    }
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
        let f = TimestampFormat::new("dd/MM/yyyy").unwrap();
        assert_eq!(f.parse_millis("02/01/1970"), Some(86_400_000));
        assert_eq!(f.parse_millis("not a date"), None);
        assert!(TimestampFormat::new("yyyy-QQ").is_err());
    }
}
