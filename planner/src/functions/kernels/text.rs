//! Row kernels for ksqlDB's string functions `ENCODE`, `INSTR`, `CHR`, `ELT`, `FIELD`,
//! `SUBSTRING`, `LPAD`, `RPAD`, `SPLIT` and `INITCAP`.
//!
//! Lengths, positions and padding count Unicode scalar values. ksqlDB (Java) counts UTF-16
//! units, which differs only for characters outside the Basic Multilingual Plane (emoji),
//! where Java can split a surrogate pair and these kernels do not.

use std::borrow::Cow;

use base64::Engine as _;

use super::mask::decimal_digit_value;

/// An encoding `ENCODE` converts from or to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Hexadecimal digits (input may be written `0x...` or `X'...'`).
    Hex,
    /// The string's own characters, as UTF-8.
    Utf8,
    /// US-ASCII (unmappable characters become `?`; bytes above 127 become U+FFFD).
    Ascii,
    /// Standard base64 with padding (input decoded leniently, as Apache Commons Codec does).
    Base64,
}

/// A resolved `ENCODE(s, input_encoding, output_encoding)` conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Encoder {
    /// The encoding the input is in.
    pub(crate) from: Encoding,
    /// The encoding to produce.
    pub(crate) to: Encoding,
}

impl Encoder {
    /// Resolves the encoding names (case-insensitive). Like ksqlDB, only conversions between
    /// two different encodings exist (`utf8` to `utf8` is an error), and the names are
    /// matched after concatenation (ksqlDB looks up `lower(input) || lower(output)`).
    pub(crate) fn new(input_encoding: &str, output_encoding: &str) -> Result<Self, String> {
        let key = format!(
            "{}{}",
            input_encoding.to_lowercase(),
            output_encoding.to_lowercase()
        );
        use Encoding::{Ascii, Base64, Hex, Utf8};
        let (from, to) = match key.as_str() {
            "hexascii" => (Hex, Ascii),
            "hexutf8" => (Hex, Utf8),
            "hexbase64" => (Hex, Base64),
            "utf8ascii" => (Utf8, Ascii),
            "utf8hex" => (Utf8, Hex),
            "utf8base64" => (Utf8, Base64),
            "asciiutf8" => (Ascii, Utf8),
            "asciihex" => (Ascii, Hex),
            "asciibase64" => (Ascii, Base64),
            "base64ascii" => (Base64, Ascii),
            "base64utf8" => (Base64, Utf8),
            "base64hex" => (Base64, Hex),
            _ => {
                return Err(
                    "Supported input and output encodings are: hex, utf8, ascii and base64"
                        .to_owned(),
                )
            }
        };
        Ok(Self { from, to })
    }

    /// Converts one value; `None` when the input is not valid hex (an error, hence NULL, in
    /// ksqlDB).
    pub(crate) fn encode(&self, s: &str) -> Option<String> {
        let bytes: Cow<'_, [u8]> = match self.from {
            Encoding::Hex => Cow::Owned(decode_hex(s)?),
            Encoding::Utf8 => Cow::Borrowed(s.as_bytes()),
            Encoding::Ascii => {
                if s.is_ascii() {
                    Cow::Borrowed(s.as_bytes())
                } else {
                    Cow::Owned(
                        s.chars()
                            .map(|c| u8::try_from(c).ok().filter(u8::is_ascii).unwrap_or(b'?'))
                            .collect(),
                    )
                }
            }
            Encoding::Base64 => Cow::Owned(decode_base64_lenient(s)),
        };
        Some(match self.to {
            Encoding::Hex => {
                const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
                let mut out = String::with_capacity(bytes.len() * 2);
                for b in bytes.iter() {
                    out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
                    out.push(char::from(HEX_LOWER[usize::from(b & 0xF)]));
                }
                out
            }
            Encoding::Utf8 => String::from_utf8_lossy(&bytes).into_owned(),
            Encoding::Ascii => bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        '\u{FFFD}'
                    }
                })
                .collect(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&bytes),
        })
    }
}

#[cfg(test)]
/// `ENCODE(s, input_encoding, output_encoding)`. `Err` for unsupported encodings, `Ok(None)`
/// for input that is not valid hex; ksqlDB turns both into NULL (logging the error).
pub(crate) fn encode(
    s: &str,
    input_encoding: &str,
    output_encoding: &str,
) -> Result<Option<String>, String> {
    Ok(Encoder::new(input_encoding, output_encoding)?.encode(s))
}

/// Hex input as ksqlDB reads it: `0x` + digits (an odd count gets a leading zero), `X'..'`
/// or `x'..'`, or bare digits (an even count). Digits are Java's `Character.digit(c, 16)`.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let (digits, pad) = if let Some(rest) = s.strip_prefix("0x") {
        (rest, rest.chars().count() % 2 == 1)
    } else if s.len() >= 3 && (s.starts_with("x'") || s.starts_with("X'")) && s.ends_with('\'') {
        (s.get(2..s.len() - 1)?, false)
    } else {
        (s, false)
    };
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    let mut high: Option<u8> = if pad { Some(0) } else { None };
    for c in digits.chars() {
        let d = java_hex_digit(c)?;
        match high.take() {
            Some(h) => out.push(h << 4 | d),
            None => high = Some(d),
        }
    }
    // An odd number of digits is an error.
    high.is_none().then_some(out)
}

/// Java's `Character.digit(c, 16)`: ASCII hex digits, other decimal digits of the Basic
/// Multilingual Plane, and full-width `A`-`F` / `a`-`f`.
fn java_hex_digit(c: char) -> Option<u8> {
    let value = match c {
        '\u{FF21}'..='\u{FF26}' => u32::from(c) - 0xFF21 + 10,
        '\u{FF41}'..='\u{FF46}' => u32::from(c) - 0xFF41 + 10,
        _ if c.is_ascii() => c.to_digit(16)?,
        _ if u32::from(c) <= 0xFFFF => decimal_digit_value(c)?,
        _ => return None,
    };
    u8::try_from(value).ok()
}

/// Apache Commons Codec's lenient base64 decoding: both alphabets, characters outside them
/// skipped, decoding stops at the first `=`, and leftover bits are dropped.
fn decode_base64_lenient(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut count = 0;
    for b in s.bytes() {
        let sextet = match b {
            b'=' => break,
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(sextet);
        count += 1;
        if count == 4 {
            out.extend(acc.to_be_bytes().get(1..).unwrap_or(&[]));
            acc = 0;
            count = 0;
        }
    }
    match count {
        2 => out.extend((acc >> 4).to_be_bytes().get(3..).unwrap_or(&[])),
        3 => out.extend((acc >> 2).to_be_bytes().get(2..).unwrap_or(&[])),
        _ => {}
    }
    out
}

/// `INSTR(s, sub, position, occurrence)`: the 1-based position of the `occurrence`-th match
/// of `sub` (matches may overlap), or 0. A positive `position` searches forwards from that
/// character; a negative one searches backwards from that many characters before the end.
/// `position` 0, `|position|` beyond the string, or `occurrence` < 1 give 0. As in ksqlDB,
/// an empty `sub` "matches" at `position` (or at `len - |position| + 2` backwards).
pub(crate) fn instr(s: &str, sub: &str, position: i64, occurrence: i64) -> i32 {
    let len = s.chars().count();
    let Ok(magnitude) = usize::try_from(position.unsigned_abs()) else {
        return 0;
    };
    if magnitude > len || position == 0 || occurrence < 1 {
        return 0;
    }
    let found = if position > 0 {
        if sub.is_empty() {
            return i32::try_from(position).unwrap_or(0);
        }
        let start = byte_offset(s, magnitude - 1);
        let haystack = s.get(start..).unwrap_or("");
        let mut from = 0;
        let mut at = None;
        for _ in 0..occurrence {
            let Some(i) = haystack.get(from..).and_then(|h| h.find(sub)) else {
                return 0;
            };
            let index = from + i;
            at = Some(index);
            from = index + haystack.get(index..).map_or(1, first_char_len);
        }
        at.map(|index| magnitude + haystack.get(..index).map_or(0, |h| h.chars().count()))
    } else {
        if sub.is_empty() {
            return i32::try_from(len - magnitude + 2).unwrap_or(0);
        }
        let mut end = byte_offset(s, len - magnitude + 1);
        let mut at = None;
        for _ in 0..occurrence {
            let Some(index) = s.get(..end).and_then(|h| h.rfind(sub)) else {
                return 0;
            };
            at = Some(index);
            let match_end = index + sub.len();
            end = match_end - s.get(..match_end).map_or(1, last_char_len);
        }
        at.map(|index| 1 + s.get(..index).map_or(0, |h| h.chars().count()))
    };
    found.and_then(|p| i32::try_from(p).ok()).unwrap_or(0)
}

/// The byte offset of character `index` (or the end).
fn byte_offset(s: &str, index: usize) -> usize {
    s.char_indices().nth(index).map_or(s.len(), |(i, _)| i)
}

/// The UTF-8 length of the first character (1 if none).
fn first_char_len(s: &str) -> usize {
    s.chars().next().map_or(1, char::len_utf8)
}

/// The UTF-8 length of the last character (1 if none).
fn last_char_len(s: &str) -> usize {
    s.chars().next_back().map_or(1, char::len_utf8)
}

/// `CHR(code)`: the character with that code point; `None` outside 0..=0x10FFFF and for
/// surrogates (Java would return a lone surrogate).
pub(crate) fn chr_from_code(code: i64) -> Option<String> {
    let c = char::from_u32(u32::try_from(code).ok()?)?;
    Some(c.to_string())
}

/// `CHR(text)`: text of at least 6 UTF-16 units starting with `\u` (e.g. `\u004b`, or a
/// surrogate pair `\ud820\udeb8`), unescaped as Java source (Apache Commons Lang's
/// `unescapeJava`, so other escapes and trailing text are processed too). `None` otherwise,
/// for malformed escapes, and when the result would contain a lone surrogate.
pub(crate) fn chr_from_text(text: &str) -> Option<String> {
    if !text.starts_with("\\u") || text.encode_utf16().take(6).count() < 6 {
        return None;
    }
    unescape_java(text)
}

/// Apache Commons Lang's `StringEscapeUtils.unescapeJava`: octal escapes (`\101`), unicode
/// escapes (`\u0041`, `\uu0041`, `\u+0041`), `\b \n \t \f \r \\ \" \'`, and a backslash
/// before anything else is dropped. `None` where it throws or for lone surrogates.
fn unescape_java(text: &str) -> Option<String> {
    let mut units: Vec<u16> = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c != '\\' {
            let mut buf = [0_u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            rest = rest.get(c.len_utf8()..)?;
            continue;
        }
        let after = rest.get(1..)?;
        let bytes = after.as_bytes();
        let is_octal = |i: usize| bytes.get(i).is_some_and(|b| (b'0'..=b'7').contains(b));
        if is_octal(0) {
            let mut len = 1;
            if is_octal(1) {
                len = 2;
                if is_octal(2) && bytes.first().is_some_and(|&b| b <= b'3') {
                    len = 3;
                }
            }
            units.push(u16::from_str_radix(after.get(..len)?, 8).ok()?);
            rest = after.get(len..)?;
        } else if after.starts_with('u') {
            let body = after.trim_start_matches('u');
            let body = body.strip_prefix('+').unwrap_or(body);
            let end = body.char_indices().nth(4).map_or(body.len(), |(i, _)| i);
            let digits = body.get(..end)?;
            if digits.chars().count() < 4 {
                return None; // fewer than 4 characters left
            }
            // Java casts the `int` to a `char`, keeping the low 16 bits.
            units.push((java_parse_hex(digits)? & 0xFFFF) as u16);
            rest = body.get(end..)?;
        } else {
            let (unit, consumed) = match after.chars().next() {
                Some('b') => (Some(0x08), 1),
                Some('n') => (Some(u16::from(b'\n')), 1),
                Some('t') => (Some(u16::from(b'\t')), 1),
                Some('f') => (Some(0x0C), 1),
                Some('r') => (Some(u16::from(b'\r')), 1),
                Some('\\') => (Some(u16::from(b'\\')), 1),
                Some('"') => (Some(u16::from(b'"')), 1),
                Some('\'') => (Some(u16::from(b'\'')), 1),
                _ => (None, 0),
            };
            units.extend(unit);
            rest = after.get(consumed..)?;
        }
    }
    String::from_utf16(&units).ok()
}

/// Java's `Integer.parseInt(s, 16)`: an optional sign and at least one hex digit.
fn java_parse_hex(s: &str) -> Option<i32> {
    let (negative, digits) = match s.chars().next()? {
        '-' => (true, s.get(1..)?),
        '+' => (false, s.get(1..)?),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for c in digits.chars() {
        value = value * 16 + i64::from(java_hex_digit(c)?);
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    i32::try_from(if negative { -value } else { value }).ok()
}

/// `ELT(n, args...)`: the `n`-th argument (1-based), or `None` if `n` is out of range.
pub(crate) fn elt<'a>(n: i64, args: &[Option<&'a str>]) -> Option<&'a str> {
    let index = usize::try_from(n.checked_sub(1)?).ok()?;
    *args.get(index)?
}

/// `FIELD(s, args...)`: the 1-based position of the first argument equal to `s`, or 0.
/// NULL arguments never match (and a NULL `s` gives 0).
pub(crate) fn field(s: &str, args: &[Option<&str>]) -> i32 {
    args.iter()
        .position(|arg| *arg == Some(s))
        .and_then(|i| i32::try_from(i + 1).ok())
        .unwrap_or(0)
}

/// `SUBSTRING(s, pos[, len])` (ksqlDB's current, non-legacy semantics): `pos` is 1-based,
/// negative counts from the end, 0 acts like 1, and out-of-range values are clamped;
/// a negative `len` gives `""`. Arithmetic is Java `int` arithmetic, so, as in ksqlDB,
/// `pos + len` overflowing (e.g. `len` = 2147483647 with `pos` > 1) also gives `""`.
pub(crate) fn substring(s: &str, pos: i64, len: Option<i64>) -> &str {
    let to_int = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX });
    let length = i32::try_from(s.chars().count()).unwrap_or(i32::MAX);
    let pos = to_int(pos);
    let start = if pos < 0 {
        (length + pos).max(0)
    } else {
        (pos - 1).min(length).max(0)
    };
    let end = match len {
        None => length,
        Some(len) => start.wrapping_add(to_int(len)).min(length).max(start),
    };
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return "";
    };
    let from = byte_offset(s, start);
    let rest = s.get(from..).unwrap_or("");
    rest.get(..byte_offset(rest, end - start)).unwrap_or("")
}

/// `LPAD(s, len, pad)`: `s` left-padded with repetitions of `pad` to `len` characters, or
/// truncated to its first `len` characters. `None` if `pad` is empty or `len` is negative
/// (or so large that Java's buffer size overflows).
pub(crate) fn lpad(s: &str, len: i64, pad: &str) -> Option<String> {
    let (target, fill) = pad_sizes(s, len, pad)?;
    let mut out = String::with_capacity(s.len().saturating_add(fill));
    out.extend(pad.chars().cycle().take(fill));
    out.extend(s.chars().take(target - fill));
    Some(out)
}

/// `RPAD(s, len, pad)`: `s` right-padded with repetitions of `pad` to `len` characters, or
/// truncated to its first `len` characters. `None` if `pad` is empty or `len` is negative
/// (or so large that Java's buffer size overflows).
pub(crate) fn rpad(s: &str, len: i64, pad: &str) -> Option<String> {
    let (target, fill) = pad_sizes(s, len, pad)?;
    let mut out = String::with_capacity(s.len().saturating_add(fill));
    out.extend(s.chars().take(target - fill));
    out.extend(pad.chars().cycle().take(fill));
    Some(out)
}

/// The target length in characters and how many of them are padding.
fn pad_sizes(s: &str, len: i64, pad: &str) -> Option<(usize, usize)> {
    let pad_units = i64::try_from(pad.encode_utf16().count()).ok()?;
    if pad.is_empty() || len < 0 || len.checked_add(pad_units)? > i64::from(i32::MAX) {
        return None;
    }
    let target = usize::try_from(len).ok()?;
    let fill = target.saturating_sub(s.chars().count());
    Some((target, fill))
}

/// `SPLIT(s, delim)`: the pieces between occurrences of the literal `delim` (leading,
/// trailing and adjacent delimiters give empty pieces; `""` gives `[""]`). An empty
/// delimiter splits into single characters.
pub(crate) fn split<'a>(s: &'a str, delim: &str) -> Vec<&'a str> {
    if s.is_empty() {
        vec![""]
    } else if delim.is_empty() {
        s.char_indices()
            .map(|(i, c)| s.get(i..i + c.len_utf8()).unwrap_or(""))
            .collect()
    } else {
        s.split(delim).collect()
    }
}

/// `INITCAP(s)`: lower-cases `s`, then upper-cases the first character of each word, words
/// being separated by ASCII whitespace (Java's `\s`: space, `\t`, `\n`, `\x0B`, `\f`, `\r`).
/// As in ksqlDB, leading whitespace is dropped, other whitespace is kept, and a first
/// character outside the Basic Multilingual Plane is not upper-cased.
pub(crate) fn initcap(s: &str) -> String {
    let lower = s.to_lowercase();
    let words = lower.trim_start_matches(is_java_regex_space);
    let mut out = String::with_capacity(words.len());
    let mut word_start = true;
    for c in words.chars() {
        if is_java_regex_space(c) {
            word_start = true;
            out.push(c);
        } else if std::mem::take(&mut word_start) && u32::from(c) <= 0xFFFF {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Java regex `\s` (without the Unicode flag).
fn is_java_regex_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{B}' | '\u{C}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str, from: &str, to: &str) -> Option<String> {
        encode(s, from, to).unwrap()
    }

    // encode.json
    #[test]
    fn encode_hex_corpus() {
        let cases: [(&str, Option<[&str; 3]>); 16] = [
            ("4578616d706C6521", Some(["Example!", "Example!", "RXhhbXBsZSE="])),
            (
                "ce95cebbcebbceacceb4ceb1",
                Some([
                    "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}",
                    "Ελλάδα",
                    "zpXOu867zqzOtM6x",
                ]),
            ),
            (
                "c39c6265726d656e736368",
                Some(["\u{FFFD}\u{FFFD}bermensch", "Übermensch", "w5xiZXJtZW5zY2g="]),
            ),
            ("0x4578616d706C6521", Some(["Example!", "Example!", "RXhhbXBsZSE="])),
            ("X'4578616d706C6521'", Some(["Example!", "Example!", "RXhhbXBsZSE="])),
            ("x'4578616d706C6521'", Some(["Example!", "Example!", "RXhhbXBsZSE="])),
            ("0x", Some(["", "", ""])),
            ("X''", Some(["", "", ""])),
            ("x''", Some(["", "", ""])),
            ("0x0x", None),
            ("X'", None),
            ("x'4578616d706C6521", None),
            ("x'578616d706C6521'", None),
            ("0x578616d706C6521", Some(["\u{5}xample!", "\u{5}xample!", "BXhhbXBsZSE="])),
            ("578616d706C6521", None),
            ("", Some(["", "", ""])),
        ];
        for (input, expected) in cases {
            let got = ["ascii", "utf8", "base64"].map(|to| enc(input, "hex", to));
            match expected {
                Some(e) => assert_eq!(got, e.map(|s| Some(s.to_owned())), "{input}"),
                None => assert_eq!(got, [None, None, None], "{input}"),
            }
        }
    }

    // encode.json
    #[test]
    fn encode_ascii_corpus() {
        assert_eq!(
            enc("Example!", "ascii", "hex").as_deref(),
            Some("4578616d706c6521")
        );
        assert_eq!(
            enc("Example!", "ascii", "utf8").as_deref(),
            Some("Example!")
        );
        assert_eq!(
            enc("Example!", "ascii", "base64").as_deref(),
            Some("RXhhbXBsZSE=")
        );
        assert_eq!(
            enc("Ελλάδα", "ascii", "hex").as_deref(),
            Some("3f3f3f3f3f3f")
        );
        assert_eq!(enc("Ελλάδα", "ascii", "utf8").as_deref(), Some("??????"));
        assert_eq!(
            enc("Ελλάδα", "ascii", "base64").as_deref(),
            Some("Pz8/Pz8/")
        );
        assert_eq!(enc("a😀", "ascii", "hex").as_deref(), Some("613f"));
    }

    // encode.json ("encode null": unknown names are errors, NULL in ksqlDB).
    #[test]
    fn encode_names() {
        assert!(encode("RXhhbXBsZSE=", "base64", "null").is_err());
        assert!(encode("RXhhbXBsZSE=", "null", "utf8").is_err());
        assert!(encode("x", "utf8", "utf8").is_err());
        assert_eq!(
            encode("x", "hex", "bogus").unwrap_err(),
            "Supported input and output encodings are: hex, utf8, ascii and base64"
        );
        assert_eq!(
            enc("RXhhbXBsZSE=", "BASE64", "Utf8").as_deref(),
            Some("Example!")
        );
        // ksqlDB matches the concatenated names.
        assert_eq!(enc("41", "hexa", "scii").as_deref(), Some("A"));
        assert_eq!(
            Encoder::new("UTF8", "hex"),
            Ok(Encoder {
                from: Encoding::Utf8,
                to: Encoding::Hex
            })
        );
    }

    #[test]
    fn encode_other_directions() {
        assert_eq!(
            enc("Übermensch", "utf8", "hex").as_deref(),
            Some("c39c6265726d656e736368")
        );
        assert_eq!(
            enc("Übermensch", "utf8", "base64").as_deref(),
            Some("w5xiZXJtZW5zY2g=")
        );
        assert_eq!(
            enc("Übermensch", "utf8", "ascii").as_deref(),
            Some("\u{FFFD}\u{FFFD}bermensch")
        );
        assert_eq!(
            enc("w5xiZXJtZW5zY2g=", "base64", "utf8").as_deref(),
            Some("Übermensch")
        );
        assert_eq!(
            enc("w5xiZXJtZW5zY2g=", "base64", "hex").as_deref(),
            Some("c39c6265726d656e736368")
        );
        assert_eq!(
            enc("RXhhbXBsZSE=", "base64", "ascii").as_deref(),
            Some("Example!")
        );
        // Lenient base64: no padding, junk skipped, URL-safe alphabet, stop at '='.
        assert_eq!(
            enc("RXhhbXBsZSE", "base64", "utf8").as_deref(),
            Some("Example!")
        );
        assert_eq!(
            enc("RX hh\nbX*BsZSE=", "base64", "utf8").as_deref(),
            Some("Example!")
        );
        assert_eq!(enc("-_-_", "base64", "hex").as_deref(), Some("fbffbf"));
        assert_eq!(enc("+/+/", "base64", "hex"), enc("-_-_", "base64", "hex"));
        assert_eq!(enc("QQ==QUJD", "base64", "utf8").as_deref(), Some("A"));
        assert_eq!(enc("Q", "base64", "hex").as_deref(), Some(""));
        assert_eq!(enc("", "base64", "hex").as_deref(), Some(""));
        // Java's Character.digit accepts full-width and other decimal digits.
        assert_eq!(enc("４１", "hex", "utf8").as_deref(), Some("A"));
        assert_eq!(enc("ＦＦ", "hex", "base64").as_deref(), Some("/w=="));
        assert_eq!(enc("٤١", "hex", "utf8").as_deref(), Some("A"));
        assert_eq!(enc("4g", "hex", "utf8"), None);
    }

    // instr.json
    #[test]
    fn instr_corpus() {
        assert_eq!(instr("corporate floor", "or", 4, 1), 5);
        assert_eq!(instr("short", "or", 4, 1), 0);
        assert_eq!(instr("corporate floor", "or", 4, 2), 14);
        assert_eq!(instr("short", "or", 4, 2), 0);
        assert_eq!(instr("corporate floor", "or", -4, 2), 2);
        assert_eq!(instr("short", "or", -4, 2), 0);
    }

    #[test]
    fn instr_edges() {
        assert_eq!(instr("corporate floor", "or", 1, 1), 2);
        assert_eq!(instr("corporate floor", "or", 1, 3), 14);
        assert_eq!(instr("corporate floor", "or", 1, 4), 0);
        assert_eq!(instr("corporate floor", "or", -1, 1), 14);
        assert_eq!(instr("corporate floor", "or", -3, 1), 5);
        assert_eq!(instr("corporate floor", "or", -3, 3), 0);
        assert_eq!(instr("corporate floor", "or", 0, 1), 0);
        assert_eq!(instr("corporate floor", "or", 16, 1), 0);
        assert_eq!(instr("corporate floor", "or", 15, 1), 0);
        assert_eq!(instr("corporate floor", "r", 15, 1), 15);
        assert_eq!(instr("corporate floor", "or", -15, 1), 0);
        // Backwards from -15 only the first character is left to search.
        assert_eq!(instr("corporate floor", "co", -15, 1), 0);
        assert_eq!(instr("corporate floor", "c", -15, 1), 1);
        assert_eq!(instr("corporate floor", "or", 1, 0), 0);
        assert_eq!(instr("aaa", "aa", 1, 2), 2);
        assert_eq!(instr("aaa", "aa", -1, 2), 1);
        assert_eq!(instr("abc", "", 2, 1), 2);
        assert_eq!(instr("abc", "", -1, 5), 4);
        assert_eq!(instr("", "", 0, 1), 0);
        assert_eq!(instr("", "a", 1, 1), 0);
        assert_eq!(instr("héllo wörld", "ö", 1, 1), 8);
        assert_eq!(instr("héllo wörld", "l", -2, 2), 4);
        assert_eq!(instr("abc", "b", i64::MIN, 1), 0);
    }

    // chr.json
    #[test]
    fn chr_corpus() {
        assert_eq!(chr_from_code(75).as_deref(), Some("K"));
        assert_eq!(chr_from_code(22909).as_deref(), Some("好"));
        assert_eq!(chr_from_code(99000).as_deref(), Some("\u{182B8}"));
        assert_eq!(chr_from_code(-1), None);
        assert_eq!(chr_from_text("\\u004b").as_deref(), Some("K"));
        assert_eq!(chr_from_text("\\u597d").as_deref(), Some("好"));
        assert_eq!(
            chr_from_text("\\ud820\\udeb8").as_deref(),
            Some("\u{182B8}")
        );
        assert_eq!(chr_from_text("75"), None);
        assert_eq!(chr_from_text("004b"), None);
        assert_eq!(chr_from_text("bogus"), None);
        assert_eq!(chr_from_text(""), None);
        let ksql: String = [
            chr_from_text("\\u004b"),
            chr_from_text("\\u0053"),
            chr_from_code(81),
            chr_from_code(76),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(ksql, "KSQL");
    }

    #[test]
    fn chr_edges() {
        assert_eq!(chr_from_code(0).as_deref(), Some("\0"));
        assert_eq!(chr_from_code(0x10FFFF).as_deref(), Some("\u{10FFFF}"));
        assert_eq!(chr_from_code(0x110000), None);
        assert_eq!(chr_from_code(0xD800), None);
        assert_eq!(chr_from_text("\\ud820"), None);
        assert_eq!(chr_from_text("\\u004"), None);
        assert_eq!(chr_from_text("\\u004g"), None);
        assert_eq!(
            chr_from_text("\\u004bxyz\\n\\q\\101\\0").as_deref(),
            Some("Kxyz\nqA\0")
        );
        assert_eq!(chr_from_text("\\uu004b").as_deref(), Some("K"));
        assert_eq!(chr_from_text("\\u+004b").as_deref(), Some("K"));
        assert_eq!(chr_from_text("\\u-001").as_deref(), Some("\u{FFFF}"));
        assert_eq!(chr_from_text("\\u004b\\").as_deref(), Some("K"));
        assert_eq!(
            chr_from_text("\\u004b\\\\\\\"\\'\\t").as_deref(),
            Some("K\\\"'\t")
        );
        assert_eq!(chr_from_text("\\u004b\\477").as_deref(), Some("K'7"));
        assert_eq!(chr_from_text("\\U004b"), None);
    }

    // elt-field.json: ELT(FIELD('hello', a, b), a, b)
    #[test]
    fn elt_field_corpus() {
        let hello = |a: Option<&str>, b: Option<&str>| {
            let args = [a, b];
            elt(i64::from(field("hello", &args)), &args).map(str::to_owned)
        };
        assert_eq!(
            hello(Some("hello"), Some("world")).as_deref(),
            Some("hello")
        );
        assert_eq!(hello(None, Some("world")), None);
        assert_eq!(
            hello(Some("world"), Some("hello")).as_deref(),
            Some("hello")
        );
        assert_eq!(hello(None, None), None);
    }

    #[test]
    fn elt_field_edges() {
        let args = [Some("a"), None, Some("c"), Some("a")];
        assert_eq!(elt(1, &args), Some("a"));
        assert_eq!(elt(2, &args), None);
        assert_eq!(elt(3, &args), Some("c"));
        assert_eq!(elt(0, &args), None);
        assert_eq!(elt(5, &args), None);
        assert_eq!(elt(-1, &args), None);
        assert_eq!(elt(i64::MIN, &args), None);
        assert_eq!(field("a", &args), 1);
        assert_eq!(field("c", &args), 3);
        assert_eq!(field("z", &args), 0);
        assert_eq!(field("", &[]), 0);
    }

    // substring.json
    #[test]
    fn substring_corpus() {
        assert_eq!(substring("some_string", 6, None), "string");
        assert_eq!(substring("another", 6, None), "er");
        assert_eq!(substring("short", 6, None), "");
        assert_eq!(substring("some_string", 6, Some(3)), "str");
        assert_eq!(substring("another", 6, Some(3)), "er");
        assert_eq!(substring("short", 6, Some(3)), "");
        assert_eq!(substring("some string", 0, Some(2)), "so");
        assert_eq!(substring("another string", 0, Some(2)), "an");
        assert_eq!(substring("the final string", 0, Some(2)), "th");
    }

    #[test]
    fn substring_edges() {
        assert_eq!(substring("abcdef", -2, None), "ef");
        assert_eq!(substring("abcdef", -10, None), "abcdef");
        assert_eq!(substring("abcdef", -3, Some(2)), "de");
        assert_eq!(substring("abcdef", 1, Some(-1)), "");
        assert_eq!(substring("abcdef", 3, Some(100)), "cdef");
        assert_eq!(substring("abcdef", 100, Some(2)), "");
        assert_eq!(substring("", 1, Some(2)), "");
        assert_eq!(substring("héllo", 2, Some(3)), "éll");
        // Java int overflow of pos + len.
        assert_eq!(substring("abc", 2, Some(2_147_483_647)), "");
        assert_eq!(substring("abc", 1, Some(2_147_483_647)), "abc");
    }

    // string-lpad-rpad.json
    #[test]
    fn pad_corpus() {
        assert_eq!(rpad("foo", 7, "Bar").as_deref(), Some("fooBarB"));
    }

    #[test]
    fn pad_edges() {
        assert_eq!(lpad("foo", 7, "Bar").as_deref(), Some("BarBfoo"));
        assert_eq!(lpad("foo", 2, "Bar").as_deref(), Some("fo"));
        assert_eq!(rpad("foo", 2, "Bar").as_deref(), Some("fo"));
        assert_eq!(lpad("foo", 3, "x").as_deref(), Some("foo"));
        assert_eq!(lpad("foo", 0, "x").as_deref(), Some(""));
        assert_eq!(rpad("", 3, "ab").as_deref(), Some("aba"));
        assert_eq!(lpad("foo", -1, "x"), None);
        assert_eq!(rpad("foo", 5, ""), None);
        assert_eq!(lpad("é", 3, "ü").as_deref(), Some("üüé"));
        assert_eq!(rpad("a", 2_147_483_647, "xy"), None);
    }

    // split.json
    #[test]
    fn split_corpus() {
        assert_eq!(split("a.b.c", "."), ["a", "b", "c"]);
        assert_eq!(split(".abc.", "."), ["", "abc", ""]);
        assert_eq!(split("..a..", "."), ["", "", "a", "", ""]);
        assert_eq!(split("abc", "."), ["abc"]);
        assert_eq!(split("", "."), [""]);
        assert_eq!(split("a$$b.c", "$$"), ["a", "b.c"]);
        assert_eq!(split(".abc$$", "$$"), [".abc", ""]);
        assert_eq!(split(".$$a..", "$$"), [".", "a.."]);
        assert_eq!(split("abc", "$$"), ["abc"]);
        assert_eq!(split("", "$$"), [""]);
        let s = split("a,b,c", ",");
        assert_eq!(
            (s.first().copied(), s.get(2).copied()),
            (Some("a"), Some("c"))
        );
        assert_eq!(split(",A,", ","), ["", "A", ""]);
        assert_eq!(split("A,,A", ","), ["A", "", "A"]);
        assert_eq!(split("1,2,3,4,5", ","), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn split_edges() {
        assert_eq!(split("abc", ""), ["a", "b", "c"]);
        assert_eq!(split("hé😀", ""), ["h", "é", "😀"]);
        assert_eq!(split("", ""), [""]);
        assert_eq!(split("aaa", "aa"), ["", "a"]);
    }

    // initcap.json
    #[test]
    fn initcap_corpus() {
        assert_eq!(initcap("some_string"), "Some_string");
        assert_eq!(initcap("the   Quick br0wn fOx"), "The   Quick Br0wn Fox");
    }

    #[test]
    fn initcap_edges() {
        assert_eq!(initcap(""), "");
        assert_eq!(
            initcap("  leading and trailing  "),
            "Leading And Trailing  "
        );
        assert_eq!(initcap("tab\tsep\nline\u{B}vt"), "Tab\tSep\nLine\u{B}Vt");
        assert_eq!(initcap("non\u{A0}breaking"), "Non\u{A0}breaking");
        assert_eq!(initcap("ßtraße ÉCOLE"), "SStraße École");
        assert_eq!(initcap("ΟΔΟΣ ΟΔΟΣ"), "Οδος Οδος");
        assert_eq!(initcap("1st 2ND"), "1st 2nd");
        assert_eq!(initcap("\u{10428}x"), "\u{10428}x");
    }
}
