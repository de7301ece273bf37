//! Row kernels for ksqlDB's JSON functions: `EXTRACTJSONFIELD`, `IS_JSON_STRING`,
//! `JSON_ARRAY_LENGTH`, `JSON_KEYS`, `JSON_RECORDS`, `JSON_ITEMS`, `JSON_CONCAT` and
//! `JSON_ARRAY_CONTAINS`.
//!
//! ksqlDB parses with Jackson (`readTree`, default features, exact `BigDecimal`s), so this
//! module has its own small validating scanner instead of `serde_json::Value`, which would
//! reorder keys and round numbers. What it reproduces:
//!
//! * Only the first value of the input is read; anything after it is ignored (`{"a":1}}` is
//!   valid), except that a top-level number must be followed by whitespace or the end.
//!   Empty or all-whitespace input counts as "no document" (NULL / false).
//! * Strict JSON otherwise: no comments, single quotes, trailing commas, leading zeros,
//!   `NaN`; at most 1000 nested containers and 1000 digits per number; `true`, `false` and
//!   `null` must not run into letters or digits (`truex`).
//! * Objects keep their keys in document order; a repeated key keeps the position of its
//!   first occurrence and the value of its last.
//! * Output is compact JSON with Jackson's escaping (`\"`, `\\`, `\b`, `\t`, `\n`, `\f`,
//!   `\r`, other control characters as `\u00XX`; nothing else escaped). Integers are printed
//!   as parsed (`-0` becomes `0`); other numbers as Java's `BigDecimal.toString()` (`1.50`
//!   stays `1.50`, `1e2` becomes `1E+2`) except in `JSON_CONCAT`, which prints them plain
//!   (`100`).
//! * A `\u` escape holding a lone surrogate (valid in Java strings) decodes to U+FFFD.

use std::borrow::Cow;
use std::collections::HashMap;

use super::mask::decimal_digit_value;

/// Jackson's default maximum nesting depth of arrays and objects.
const MAX_DEPTH: usize = 1000;
/// Jackson's default maximum number of digits in a number.
const MAX_NUMBER_LEN: usize = 1000;
/// Jackson refuses to write a `BigDecimal` in plain notation beyond this scale.
const MAX_PLAIN_SCALE: i64 = 9999;
/// Objects with more members than this look keys up through a hash map while merging.
const LINEAR_LOOKUP_LIMIT: usize = 16;

/// The kind of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `{...}`.
    Object,
    /// `[...]`.
    Array,
    /// `"..."`.
    String,
    /// A number; `float` when it has a fraction or an exponent (Jackson's
    /// `VALUE_NUMBER_FLOAT`).
    Number {
        /// Whether the number has a fraction or an exponent.
        float: bool,
    },
    /// `true`.
    True,
    /// `false`.
    False,
    /// `null`.
    Null,
}

/// A validated JSON value: its kind and its exact source text.
#[derive(Clone, Copy, Debug)]
struct Value<'a> {
    /// What the value is.
    kind: Kind,
    /// The value's source text, from its first to its last character.
    text: &'a str,
}

/// A validating JSON scanner over one input string.
struct Scanner<'a> {
    /// The input.
    text: &'a str,
    /// The input's bytes.
    bytes: &'a [u8],
    /// The current byte offset (always on a character boundary).
    pos: usize,
    /// Whether numbers must also be valid Java `BigDecimal`s (true wherever ksqlDB builds a
    /// tree, whose number nodes are `BigDecimal`s).
    strict_decimals: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    fn new(text: &'a str, strict_decimals: bool) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            strict_decimals,
        }
    }

    /// The byte at the current position.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Skips JSON whitespace (space, tab, line feed, carriage return).
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Scans one value starting exactly at the current position; `depth` is the number of
    /// containers around it. `None` if the text is not valid JSON there.
    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'{' => {
                self.container(depth, b'}')?;
                Kind::Object
            }
            b'[' => {
                self.container(depth, b']')?;
                Kind::Array
            }
            b'"' => {
                self.string()?;
                Kind::String
            }
            b't' => {
                self.literal("true")?;
                Kind::True
            }
            b'f' => {
                self.literal("false")?;
                Kind::False
            }
            b'n' => {
                self.literal("null")?;
                Kind::Null
            }
            b'-' | b'0'..=b'9' => Kind::Number {
                float: self.number()?,
            },
            _ => return None,
        };
        let text = self.text.get(start..self.pos)?;
        Some(Value { kind, text })
    }

    /// Scans an object (`close == b'}'`) or array (`close == b']'`) from its opening bracket.
    fn container(&mut self, depth: usize, close: u8) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_ws();
        if self.eat(close) {
            return Some(());
        }
        loop {
            if close == b'}' {
                if self.peek()? != b'"' {
                    return None;
                }
                self.string()?;
                self.skip_ws();
                if !self.eat(b':') {
                    return None;
                }
                self.skip_ws();
            }
            self.value(depth + 1)?;
            self.skip_ws();
            if self.eat(b',') {
                self.skip_ws();
            } else if self.eat(close) {
                return Some(());
            } else {
                return None;
            }
        }
    }

    /// Scans a string from its opening quote.
    fn string(&mut self) -> Option<()> {
        self.pos += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => match self.bytes.get(self.pos + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
                    b'u' => {
                        let hex = self.bytes.get(self.pos + 2..self.pos + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.pos += 6;
                    }
                    _ => return None,
                },
                0x00..=0x1F => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// Scans `true`, `false` or `null`, which (as in Jackson) must not be followed by a
    /// character that could continue a Java identifier.
    fn literal(&mut self, word: &str) -> Option<()> {
        if !self.bytes.get(self.pos..)?.starts_with(word.as_bytes()) {
            return None;
        }
        self.pos += word.len();
        let next = self
            .text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next());
        match next {
            Some(c) if c >= '0' && c != ']' && c != '}' && is_java_identifier_part(c) => None,
            _ => Some(()),
        }
    }

    /// Scans a number; returns whether it has a fraction or an exponent.
    fn number(&mut self) -> Option<bool> {
        self.eat(b'-');
        let int_start = self.pos;
        match self.peek()? {
            b'0' => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return None; // leading zeros
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let int_len = self.pos - int_start;
        let mut float = false;
        let mut frac_len = 0;
        let mut exp_len = 0;
        if self.eat(b'.') {
            frac_len = self.digits();
            if frac_len == 0 {
                return None;
            }
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let exp_start = self.pos;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            exp_len = self.digits();
            if exp_len == 0 {
                return None;
            }
            float = true;
            if self.strict_decimals {
                // `new BigDecimal(text)` fails when the scale leaves the `int` range.
                let exponent = parse_exponent(self.text.get(exp_start..self.pos)?);
                let scale = i64::try_from(frac_len).ok()?.saturating_sub(exponent);
                i32::try_from(scale).ok()?;
            }
        }
        if int_len + frac_len + exp_len > MAX_NUMBER_LEN {
            return None;
        }
        Some(float)
    }

    /// Consumes ASCII digits; returns how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }
}

/// Java's `Character.isJavaIdentifierPart`, closely enough for the characters that can
/// follow a literal (the code point of a supplementary character is a surrogate to Java).
fn is_java_identifier_part(c: char) -> bool {
    match c {
        '0'..='9' | 'a'..='z' | 'A'..='Z' | '_' | '$' | '\u{7F}'..='\u{9F}' => true,
        _ if c.is_ascii() || u32::from(c) > 0xFFFF => false,
        _ => {
            c.is_alphanumeric()
                || matches!(
                    c,
                    '\u{A2}'..='\u{A5}'
                        | '\u{AD}'
                        | '\u{200B}'..='\u{200F}'
                        | '\u{202A}'..='\u{202E}'
                        | '\u{203F}'
                        | '\u{2040}'
                        | '\u{2054}'
                        | '\u{2060}'..='\u{2064}'
                        | '\u{20A0}'..='\u{20C0}'
                        | '\u{FE33}'
                        | '\u{FE34}'
                        | '\u{FE4D}'..='\u{FE4F}'
                        | '\u{FEFF}'
                        | '\u{FF3F}'
                )
        }
    }
}

/// An exponent's value (optional sign, ASCII digits), saturating.
fn parse_exponent(text: &str) -> i64 {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    };
    let magnitude = digits.bytes().fold(0_i64, |acc, d| {
        acc.saturating_mul(10)
            .saturating_add(i64::from(d.wrapping_sub(b'0')))
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// Parses a document as ksqlDB's `readTree` does: the first value after optional whitespace.
/// `None` for invalid JSON and for input with no value at all.
fn parse_document(text: &str) -> Option<Value<'_>> {
    let mut scanner = Scanner::new(text, true);
    scanner.skip_ws();
    let value = scanner.value(0)?;
    if matches!(value.kind, Kind::Number { .. })
        && !matches!(scanner.peek(), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
    {
        return None; // Jackson wants whitespace after a top-level number
    }
    Some(value)
}

/// The members (with raw, still-escaped keys) or elements of an already validated container.
struct Items<'a> {
    /// A scanner over the container's text.
    scanner: Scanner<'a>,
    /// The closing bracket.
    close: u8,
    /// Whether the end was reached.
    done: bool,
}

impl<'a> Items<'a> {
    /// Iterates over `container`, which must be a validated object or array.
    fn new(container: Value<'a>) -> Self {
        let close = if container.kind == Kind::Object {
            b'}'
        } else {
            b']'
        };
        let mut scanner = Scanner::new(container.text, false);
        scanner.pos = 1;
        Self {
            scanner,
            close,
            done: !matches!(container.kind, Kind::Object | Kind::Array),
        }
    }

    /// The next member or element; `None` at the end.
    fn step(&mut self) -> Option<(Option<&'a str>, Value<'a>)> {
        let sc = &mut self.scanner;
        sc.skip_ws();
        if sc.eat(b',') {
            sc.skip_ws();
        }
        if sc.peek()? == self.close {
            return None;
        }
        let key = if self.close == b'}' {
            let start = sc.pos;
            sc.string()?;
            let key = sc.text.get(start + 1..sc.pos - 1)?;
            sc.skip_ws();
            sc.eat(b':');
            sc.skip_ws();
            Some(key)
        } else {
            None
        };
        Some((key, sc.value(0)?))
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = (Option<&'a str>, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step();
        self.done = item.is_none();
        item
    }
}

/// Object members with Jackson's `ObjectNode` semantics: document order, and a repeated key
/// keeps its first position and takes the new value.
#[derive(Default)]
struct Members<'a> {
    /// Decoded keys and their values, in order.
    list: Vec<(Cow<'a, str>, Value<'a>)>,
    /// Key positions, once the list is too long for linear lookups.
    index: Option<HashMap<Cow<'a, str>, usize>>,
}

impl<'a> Members<'a> {
    /// The deduplicated members of a validated object.
    fn of(object: Value<'a>) -> Self {
        let mut members = Self::default();
        members.extend_from(object);
        members
    }

    /// Adds (or overwrites with) the members of a validated object.
    fn extend_from(&mut self, object: Value<'a>) {
        for (raw_key, value) in Items::new(object) {
            self.insert(decode_string(raw_key.unwrap_or("")), value);
        }
    }

    /// Adds one member, replacing the value of an earlier member with the same key.
    fn insert(&mut self, key: Cow<'a, str>, value: Value<'a>) {
        if self.index.is_none() && self.list.len() >= LINEAR_LOOKUP_LIMIT {
            let index = self
                .list
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(index);
        }
        let existing = match &self.index {
            Some(index) => index.get(key.as_ref()).copied(),
            None => self.list.iter().position(|(k, _)| *k == key),
        };
        match existing.and_then(|i| self.list.get_mut(i)) {
            Some(slot) => slot.1 = value,
            None => {
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), self.list.len());
                }
                self.list.push((key, value));
            }
        }
    }
}

/// The content of a string token, without its quotes.
fn string_content(token: &str) -> &str {
    token.get(1..token.len().saturating_sub(1)).unwrap_or("")
}

/// Decodes the (validated) content of a JSON string.
fn decode_string(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let escape = rest.get(i + 1..).unwrap_or("");
        let consumed = match escape.chars().next() {
            Some('u') => {
                let (c, consumed) = decode_unicode_escape(escape);
                out.push(c);
                consumed
            }
            Some(c) => {
                out.push(match c {
                    'b' => '\u{8}',
                    'f' => '\u{C}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    other => other,
                });
                c.len_utf8()
            }
            None => 0,
        };
        rest = escape.get(consumed..).unwrap_or("");
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Decodes `uXXXX` (or a surrogate pair `uXXXX\uXXXX`) at the start of `escape`; returns the
/// character and the bytes consumed. A lone surrogate becomes U+FFFD.
fn decode_unicode_escape(escape: &str) -> (char, usize) {
    let Some(high) = escape.get(1..5).and_then(hex4) else {
        return ('\u{FFFD}', 1);
    };
    if (0xD800..0xDC00).contains(&high) && escape.get(5..7) == Some("\\u") {
        if let Some(low) = escape.get(7..11).and_then(hex4) {
            if (0xDC00..0xE000).contains(&low) {
                let cp = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                return (char::from_u32(cp).unwrap_or('\u{FFFD}'), 11);
            }
        }
    }
    (char::from_u32(u32::from(high)).unwrap_or('\u{FFFD}'), 5)
}

/// Four ASCII hex digits.
fn hex4(text: &str) -> Option<u16> {
    if text.len() == 4 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        u16::from_str_radix(text, 16).ok()
    } else {
        None
    }
}

/// Writes `s` as a JSON string the way Jackson escapes it.
fn write_escaped(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0A => "\\n",
            0x0C => "\\f",
            0x0D => "\\r",
            0x00..=0x1F => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or(""));
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
    out.push('"');
}

/// Writes a validated value as compact JSON; `plain` prints decimals without exponents
/// (`JSON_CONCAT`'s mapper). `None` if Jackson would refuse to write it.
fn write_value(value: Value<'_>, plain: bool, out: &mut String) -> Option<()> {
    match value.kind {
        Kind::Null | Kind::True | Kind::False => out.push_str(value.text),
        Kind::Number { float } => write_number(value.text, float, plain, out)?,
        Kind::String => {
            let raw = string_content(value.text);
            if raw.contains('\\') {
                write_escaped(&decode_string(raw), out);
            } else {
                // Unescaped JSON string content never needs escaping again.
                out.push_str(value.text);
            }
        }
        Kind::Array => {
            out.push('[');
            for (i, (_, item)) in Items::new(value).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, plain, out)?;
            }
            out.push(']');
        }
        Kind::Object => write_members(&Members::of(value), plain, out)?,
    }
    Some(())
}

/// Writes members as a compact JSON object.
fn write_members(members: &Members<'_>, plain: bool, out: &mut String) -> Option<()> {
    out.push('{');
    for (i, (key, value)) in members.list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_escaped(key, out);
        out.push(':');
        write_value(*value, plain, out)?;
    }
    out.push('}');
    Some(())
}

/// Writes a validated number as Jackson writes its node: integers as parsed, other numbers
/// as Java's `BigDecimal.toString()` or, when `plain`, `toPlainString()`.
fn write_number(text: &str, float: bool, plain: bool, out: &mut String) -> Option<()> {
    if !float {
        out.push_str(if text == "-0" { "0" } else { text });
        return Some(());
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (body.get(..i)?, parse_exponent(body.get(i + 1..)?)),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut coefficient: String = int_part
        .chars()
        .chain(frac_part.chars())
        .skip_while(|&c| c == '0')
        .collect();
    if coefficient.is_empty() {
        coefficient.push('0');
    }
    let scale = i64::try_from(frac_part.len())
        .ok()?
        .saturating_sub(exponent);
    if negative && coefficient != "0" {
        out.push('-');
    }
    let digits = i64::try_from(coefficient.len()).ok()?;
    let adjusted = (digits - 1).saturating_sub(scale);
    if plain {
        if !(-MAX_PLAIN_SCALE..=MAX_PLAIN_SCALE).contains(&scale) {
            return None;
        }
        write_plain_decimal(&coefficient, scale, out);
    } else if scale >= 0 && adjusted >= -6 {
        write_plain_decimal(&coefficient, scale, out);
    } else {
        let mut chars = coefficient.chars();
        out.extend(chars.next());
        let rest = chars.as_str();
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        if adjusted != 0 {
            out.push('E');
            if adjusted > 0 {
                out.push('+');
            }
            out.push_str(&adjusted.to_string());
        }
    }
    Some(())
}

/// Java's `BigDecimal.toPlainString()` for an unsigned coefficient and a scale.
fn write_plain_decimal(coefficient: &str, scale: i64, out: &mut String) {
    if scale <= 0 {
        out.push_str(coefficient);
        if coefficient != "0" {
            out.extend(std::iter::repeat_n(
                '0',
                usize::try_from(-scale).unwrap_or(0),
            ));
        }
        return;
    }
    let len = i64::try_from(coefficient.len()).unwrap_or(i64::MAX);
    let point = len - scale;
    if point > 0 {
        let split = usize::try_from(point).unwrap_or(0);
        out.push_str(coefficient.get(..split).unwrap_or(""));
        out.push('.');
        out.push_str(coefficient.get(split..).unwrap_or(""));
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(-point).unwrap_or(0),
        ));
        out.push_str(coefficient);
    }
}

/// A parsed ksqlDB JSON path (`$`, `.name`, `[0]`, `["quoted \" name"]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonPath {
    /// The path's steps: object keys, or array indexes in decimal.
    tokens: Vec<String>,
}

impl JsonPath {
    /// Parses a path with ksqlDB's tokenizer: `$` followed by `.segment` (letters, digits,
    /// `_`, `:`, `@`), `[subscript]` (letters, digits, `_`) or `["quoted"]` (with `\"` and
    /// `\\` escapes). Anything else, including single quotes and whitespace, is an error.
    pub(crate) fn parse(path: &str) -> Result<Self, String> {
        let invalid = || format!("Invalid JSON path: '{path}'");
        let rest = path.strip_prefix('$').ok_or_else(invalid)?;
        let mut chars = rest.chars().peekable();
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            let token = match c {
                '.' => non_empty(take_while(&mut chars, is_path_char)).ok_or_else(invalid)?,
                '[' => {
                    let token = if chars.next_if_eq(&'"').is_some() {
                        // Only a quoted subscript may be empty.
                        quoted_token(&mut chars).ok_or_else(invalid)?
                    } else {
                        non_empty(take_while(&mut chars, is_subscript_char)).ok_or_else(invalid)?
                    };
                    if chars.next() != Some(']') {
                        return Err(invalid());
                    }
                    token
                }
                _ => return Err(invalid()),
            };
            tokens.push(token);
        }
        Ok(Self { tokens })
    }
}

/// `Some(token)` unless it is empty.
fn non_empty(token: String) -> Option<String> {
    (!token.is_empty()).then_some(token)
}

/// Collects the characters accepted by `accept`.
fn take_while(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    accept: fn(char) -> bool,
) -> String {
    let mut token = String::new();
    while let Some(c) = chars.next_if(|&c| accept(c)) {
        token.push(c);
    }
    token
}

/// The rest of a double-quoted subscript, after its opening quote, through its closing quote.
fn quoted_token(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut token = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(token),
            '\\' => match chars.next()? {
                c @ ('"' | '\\') => token.push(c),
                _ => return None,
            },
            c => token.push(c),
        }
    }
}

/// A character of an unquoted `.segment`.
fn is_path_char(c: char) -> bool {
    c == ':' || c == '@' || is_subscript_char(c)
}

/// A character of an unquoted `[subscript]`: `_` or Java's `Character.isLetterOrDigit`.
fn is_subscript_char(c: char) -> bool {
    if c.is_ascii() {
        c == '_' || c.is_ascii_alphanumeric()
    } else {
        // Java tests UTF-16 units: a supplementary character's surrogates are neither.
        u32::from(c) <= 0xFFFF && c.is_alphanumeric()
    }
}

/// Java's `Integer.parseInt(s)`: optional sign, then (Unicode) decimal digits, within `int`.
fn java_parse_int(s: &str) -> Option<i32> {
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
        if u32::from(c) > 0xFFFF {
            return None;
        }
        value = value * 10 + i64::from(decimal_digit_value(c)?);
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    i32::try_from(if negative { -value } else { value }).ok()
}

#[cfg(test)]
/// `EXTRACTJSONFIELD(json, path)` with the path given as text. `None` when the document is
/// invalid or empty, the path does not exist, or the path is invalid (an error in ksqlDB;
/// use [`JsonPath::parse`] to report it).
pub(crate) fn extract_json_field(json: &str, path: &str) -> Option<String> {
    extract_json_field_with(json, &JsonPath::parse(path).ok()?)
}

/// `EXTRACTJSONFIELD(json, path)`: the value at `path`; strings are returned unquoted, other
/// values (including `null`, which gives the text `null`) as compact JSON. On an array a step
/// must be an integer index (`.1` works as well as `[1]`).
pub(crate) fn extract_json_field_with(json: &str, path: &JsonPath) -> Option<String> {
    let mut current = parse_document(json)?;
    for token in &path.tokens {
        current = match current.kind {
            Kind::Array => {
                let index = usize::try_from(java_parse_int(token)?).ok()?;
                Items::new(current).nth(index)?.1
            }
            Kind::Object => {
                Items::new(current)
                    .filter(|(key, _)| decode_string(key.unwrap_or("")) == token.as_str())
                    .last()?
                    .1
            }
            _ => return None,
        };
    }
    if current.kind == Kind::String {
        return Some(decode_string(string_content(current.text)).into_owned());
    }
    let mut out = String::with_capacity(current.text.len());
    write_value(current, false, &mut out)?;
    Some(out)
}

/// `IS_JSON_STRING(s)`: whether `s` holds a JSON value (see the module notes on what follows
/// it).
pub(crate) fn is_json_string(s: &str) -> bool {
    parse_document(s).is_some()
}

/// `JSON_ARRAY_LENGTH(s)`: the number of elements of a top-level array; `None` otherwise.
pub(crate) fn json_array_length(s: &str) -> Option<i32> {
    let value = parse_document(s)?;
    if value.kind != Kind::Array {
        return None;
    }
    i32::try_from(Items::new(value).count()).ok()
}

/// `JSON_KEYS(s)`: the keys of a top-level object in document order; `None` otherwise.
pub(crate) fn json_keys(s: &str) -> Option<Vec<String>> {
    let value = parse_document(s)?;
    if value.kind != Kind::Object {
        return None;
    }
    let members = Members::of(value);
    Some(
        members
            .list
            .into_iter()
            .map(|(k, _)| k.into_owned())
            .collect(),
    )
}

/// `JSON_RECORDS(s)`: the members of a top-level object, in document order; string values
/// unquoted, other values as compact JSON. `None` if `s` is not an object.
pub(crate) fn json_records(s: &str) -> Option<Vec<(String, String)>> {
    let value = parse_document(s)?;
    if value.kind != Kind::Object {
        return None;
    }
    let members = Members::of(value);
    let mut records = Vec::with_capacity(members.list.len());
    for (key, value) in members.list {
        let text = if value.kind == Kind::String {
            decode_string(string_content(value.text)).into_owned()
        } else {
            let mut out = String::with_capacity(value.text.len());
            write_value(value, false, &mut out)?;
            out
        };
        records.push((key.into_owned(), text));
    }
    Some(records)
}

/// `JSON_ITEMS(s)`: the elements of a top-level array as compact JSON; `None` unless `s` is
/// an array whose elements are all objects.
pub(crate) fn json_items(s: &str) -> Option<Vec<String>> {
    let value = parse_document(s)?;
    if value.kind != Kind::Array {
        return None;
    }
    let mut items = Vec::new();
    for (_, item) in Items::new(value) {
        if item.kind != Kind::Object {
            return None;
        }
        let mut out = String::with_capacity(item.text.len());
        write_value(item, false, &mut out)?;
        items.push(out);
    }
    Some(items)
}

/// `JSON_CONCAT(s1, s2, ...)`, PostgreSQL `||` style: if every argument is an object, their
/// members merged (later keys win); otherwise one array of the arguments' elements, with
/// non-array arguments as single elements. A single argument is returned re-serialized.
/// `None` if there are no arguments or any is NULL, empty or invalid.
pub(crate) fn json_concat(args: &[Option<&str>]) -> Option<String> {
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(parse_document((*arg)?)?);
    }
    let mut out = String::new();
    match values.as_slice() {
        [] => return None,
        [single] => write_value(*single, true, &mut out)?,
        _ if values.iter().all(|v| v.kind == Kind::Object) => {
            let mut members = Members::default();
            for value in &values {
                members.extend_from(*value);
            }
            write_members(&members, true, &mut out)?;
        }
        _ => {
            out.push('[');
            let mut first = true;
            for value in &values {
                let mut push = |item: Value<'_>, out: &mut String| {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    write_value(item, true, out)
                };
                if value.kind == Kind::Array {
                    for (_, item) in Items::new(*value) {
                        push(item, &mut out)?;
                    }
                } else {
                    push(*value, &mut out)?;
                }
            }
            out.push(']');
        }
    }
    Some(out)
}

/// The value `JSON_ARRAY_CONTAINS` looks for, typed as the SQL argument was.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Needle<'a> {
    /// SQL NULL: matches a JSON `null`.
    Null,
    /// BOOLEAN: matches `true` / `false`.
    Bool(bool),
    /// INT: matches an equal JSON integer (no fraction or exponent).
    Int(i32),
    /// BIGINT: matches an equal JSON integer (no fraction or exponent).
    BigInt(i64),
    /// DOUBLE: matches a JSON number with a fraction or exponent and the same `f64` bits.
    Double(f64),
    /// STRING: matches an equal JSON string.
    Str(&'a str),
}

/// `JSON_ARRAY_CONTAINS(json, value)`: whether the top-level array holds `needle` as a
/// direct element (nested arrays and objects never match, and types must agree: `[1]` does
/// not contain `1.0`). Like ksqlDB's streaming parser it reads only as far as the first
/// match, so a later syntax error does not matter; an error before it gives `false`, and so
/// does an integer element out of the needle's range (INT or BIGINT) met before a match. For
/// other SQL types (e.g. DECIMAL) ksqlDB always returns `false`.
pub(crate) fn json_array_contains(json: &str, needle: &Needle<'_>) -> bool {
    let mut scanner = Scanner::new(json, false);
    scanner.skip_ws();
    if !scanner.eat(b'[') {
        return false;
    }
    let mut first = true;
    loop {
        scanner.skip_ws();
        if matches!(scanner.peek(), None | Some(b']')) {
            return false;
        }
        if !std::mem::take(&mut first) {
            if !scanner.eat(b',') {
                return false;
            }
            scanner.skip_ws();
        }
        let Some(item) = scanner.value(1) else {
            return false;
        };
        match element_matches(item, needle) {
            Some(true) => return true,
            Some(false) => {}
            None => return false,
        }
    }
}

/// Whether one array element equals the needle; `None` when ksqlDB's coercion would fail.
fn element_matches(item: Value<'_>, needle: &Needle<'_>) -> Option<bool> {
    let matched = match (item.kind, needle) {
        (Kind::Null, Needle::Null) => true,
        (Kind::True, Needle::Bool(b)) => *b,
        (Kind::False, Needle::Bool(b)) => !*b,
        (Kind::Number { float: false }, Needle::Int(n)) => item.text.parse::<i32>().ok()? == *n,
        (Kind::Number { float: false }, Needle::BigInt(n)) => item.text.parse::<i64>().ok()? == *n,
        (Kind::Number { float: true }, Needle::Double(d)) => {
            item.text.parse::<f64>().ok()?.to_bits() == d.to_bits()
        }
        (Kind::String, Needle::Str(s)) => decode_string(string_content(item.text)) == *s,
        _ => false,
    };
    Some(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    // extract-json-field.json
    #[test]
    fn extract_corpus() {
        let a = r#"{"name": "cdc", "version": "1", "@type": "UDF"}"#;
        assert_eq!(extract_json_field(a, "$.name").as_deref(), Some("cdc"));
        assert_eq!(extract_json_field(a, "$.version").as_deref(), Some("1"));
        assert_eq!(extract_json_field(a, "$.@type").as_deref(), Some("UDF"));
        // Trailing garbage after the document is ignored.
        let b = r#"{"name": "cdd", "version": "2", "@type": "VAL"}}"#;
        assert_eq!(extract_json_field(b, "$.name").as_deref(), Some("cdd"));
        assert_eq!(extract_json_field(b, "$.@type").as_deref(), Some("VAL"));
        // json_items.json: TRANSFORM(JSON_ITEMS(..), obj => EXTRACTJSONFIELD(obj, '$.timestamp'))
        let c = r#"{"type":"A","timestamp":"2022-01-27"}"#;
        assert_eq!(
            extract_json_field(c, "$.timestamp").as_deref(),
            Some("2022-01-27")
        );
    }

    // ksqlDB's JsonExtractStringKudfTest.
    #[test]
    fn extract_unit_cases() {
        let doc = r#"{"thing1":{"thing2":"hello"},"array":[101,102]}"#;
        assert_eq!(
            extract_json_field(doc, "$.thing1.thing2").as_deref(),
            Some("hello")
        );
        assert_eq!(
            extract_json_field(doc, "$.thing1").as_deref(),
            Some(r#"{"thing2":"hello"}"#)
        );
        assert_eq!(extract_json_field(doc, "$").as_deref(), Some(doc));
        assert_eq!(extract_json_field(doc, "$.array.1").as_deref(), Some("102"));
        assert_eq!(
            extract_json_field(doc, "$.array[1]").as_deref(),
            Some("102")
        );
        assert_eq!(extract_json_field(doc, "$.will.not.find.me"), None);
        assert_eq!(
            extract_json_field("this is NOT a JSON doc", "$.thing1"),
            None
        );
    }

    #[test]
    fn extract_edge_cases() {
        let doc = r#" { "a" : [ 1 , { "b" : null } , "x\"y" , 1.50, 1e2, -0, 0.0000001 ],
                       "k\u00e9y": true, "c d": {"e": "f"}, "a": [9] } "#;
        // Duplicate key: last value wins.
        assert_eq!(extract_json_field(doc, "$.a").as_deref(), Some("[9]"));
        let doc2 =
            r#"{"a": [1, {"b": null}, "x\"y", 1.50, 1e2, -0, 0.0000001, -0.0, 1E-7, 12.5e-1]}"#;
        assert_eq!(
            extract_json_field(doc2, "$.a").as_deref(),
            Some(r#"[1,{"b":null},"x\"y",1.50,1E+2,0,1E-7,0.0,1E-7,1.25]"#)
        );
        assert_eq!(
            extract_json_field(doc2, "$.a[1].b").as_deref(),
            Some("null")
        );
        assert_eq!(extract_json_field(doc2, "$.a[2]").as_deref(), Some("x\"y"));
        assert_eq!(
            extract_json_field(doc2, r#"$.a["+0"]"#).as_deref(),
            Some("1")
        );
        assert_eq!(extract_json_field(doc2, r#"$.a["-1"]"#), None);
        assert_eq!(extract_json_field(doc2, r#"$.a["1x"]"#), None);
        assert_eq!(extract_json_field(doc2, "$.a[+0]"), None);
        assert_eq!(extract_json_field(doc2, "$.a[99]"), None);
        assert_eq!(extract_json_field(doc2, "$.a.x"), None);
        assert_eq!(extract_json_field(doc2, "$.a[0].x"), None);
        assert_eq!(extract_json_field(doc, "$.kéy").as_deref(), Some("true"));
        assert_eq!(
            extract_json_field(doc, r#"$["c d"].e"#).as_deref(),
            Some("f")
        );
        assert_eq!(
            extract_json_field(doc, r#"$["c d"]"#).as_deref(),
            Some(r#"{"e":"f"}"#)
        );
        // ksqlDB's tokenizer has no single quotes or spaces.
        assert_eq!(extract_json_field(doc, "$['c d']"), None);
        assert_eq!(extract_json_field(doc, "$. a"), None);
        assert_eq!(extract_json_field("", "$"), None);
        // 1000 nested containers are allowed, 1001 are not.
        let deep = format!("{}1{}", "[{\"a\":".repeat(500), "}]".repeat(500));
        assert_eq!(
            extract_json_field(&deep, "$").as_deref(),
            Some(deep.as_str())
        );
        assert_eq!(json_concat(&[Some(&deep)]).as_deref(), Some(deep.as_str()));
        let too_deep = format!("[{deep}]");
        assert_eq!(extract_json_field(&too_deep, "$"), None);
        assert_eq!(extract_json_field("   ", "$.a"), None);
        assert_eq!(extract_json_field("\"abc\"", "$").as_deref(), Some("abc"));
        assert_eq!(extract_json_field("12", "$").as_deref(), Some("12"));
        assert_eq!(extract_json_field("12x", "$"), None);
        assert_eq!(
            extract_json_field(r#"{"s":"a\u0001\/\n\u00e9\ud83d\ude00\ud800"}"#, "$").as_deref(),
            Some("{\"s\":\"a\\u0001/\\n\u{e9}\u{1F600}\u{FFFD}\"}")
        );
    }

    #[test]
    fn json_path_parsing() {
        let p = |s: &str| JsonPath::parse(s).map(|p| p.tokens);
        assert_eq!(p("$"), Ok(vec![]));
        assert_eq!(
            p("$.logs[0].cloud.region"),
            Ok(strs(&["logs", "0", "cloud", "region"]))
        );
        assert_eq!(p(r#"$["a.b"]["q\"\\"]"#), Ok(strs(&["a.b", "q\"\\"])));
        assert_eq!(p(r#"$[""]"#), Ok(strs(&[""])));
        assert_eq!(p("$.a:b@c_d"), Ok(strs(&["a:b@c_d"])));
        for bad in [
            "",
            "a",
            "$.",
            "$[]",
            "$[0",
            "$['a']",
            "$.a-b",
            "$ .a",
            "$[\"a]",
            "$[\"\\a\"]",
            "$[a:b]",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            JsonPath::parse("x").unwrap_err(),
            "Invalid JSON path: 'x'".to_owned()
        );
    }

    // is_json_string.json plus Jackson's root-value rules.
    #[test]
    fn is_json() {
        assert!(is_json_string("1"));
        assert!(!is_json_string("abc"));
        assert!(is_json_string("[1, 2, 3]"));
        assert!(is_json_string("\"abc\""));
        assert!(!is_json_string(""));
        assert!(!is_json_string("  \n "));
        assert!(is_json_string(" null "));
        assert!(is_json_string("{} garbage"));
        assert!(is_json_string("1 x"));
        assert!(!is_json_string("1x"));
        assert!(!is_json_string("1,"));
        assert!(is_json_string("true,"));
        assert!(!is_json_string("truex"));
        assert!(!is_json_string("01"));
        assert!(!is_json_string("1."));
        assert!(!is_json_string("-"));
        assert!(!is_json_string("[1,]"));
        assert!(!is_json_string("{\"a\":1,}"));
        assert!(!is_json_string("{'a':1}"));
        assert!(!is_json_string("\"a\tb\""));
        assert!(!is_json_string("\"\\x\""));
        assert!(!is_json_string("NaN"));
        // The decimal's scale (fraction digits - exponent) must fit an int.
        assert!(is_json_string("1e2147483648"));
        assert!(!is_json_string("1e2147483649"));
        assert!(!is_json_string("1.5e-2147483647"));
        assert!(!is_json_string("[1e99999999999]"));
        assert!(is_json_string(&format!(
            "{}{}",
            "[".repeat(1000),
            "]".repeat(1000)
        )));
        assert!(!is_json_string(&format!(
            "{}{}",
            "[".repeat(1001),
            "]".repeat(1001)
        )));
        assert!(!is_json_string(&"[".repeat(100_000)));
        assert!(!is_json_string(&"1".repeat(1001)));
    }

    // json_array_length.json
    #[test]
    fn array_length() {
        assert_eq!(json_array_length(r#"["Red", "Green"]"#), Some(2));
        assert_eq!(json_array_length(r#"["Black"]"#), Some(1));
        assert_eq!(json_array_length(r#"["Pink", "Yellow", "Pink"]"#), Some(3));
        assert_eq!(json_array_length("[]"), Some(0));
        assert_eq!(json_array_length(""), None);
        assert_eq!(json_array_length("{}"), None);
        assert_eq!(json_array_length("[[1,2],{\"a\":[3]}, 4] tail"), Some(3));
        assert_eq!(json_array_length("[1,2"), None);
    }

    // json_keys.json
    #[test]
    fn keys() {
        assert_eq!(
            json_keys(r#"{"Red": 3, "Green": 5}"#),
            Some(strs(&["Red", "Green"]))
        );
        assert_eq!(json_keys(r#"{"Black": 2}"#), Some(strs(&["Black"])));
        assert_eq!(
            json_keys(r#"{"White": 7, "Pink": 8}"#),
            Some(strs(&["White", "Pink"]))
        );
        assert_eq!(json_keys("{}"), Some(vec![]));
        assert_eq!(json_keys(""), None);
        assert_eq!(json_keys("[1]"), None);
        assert_eq!(
            json_keys(r#"{"b":1,"a":2,"b":3,"a\u0062":4}"#),
            Some(strs(&["b", "a", "ab"]))
        );
        let many: String = (0..40).map(|i| format!("\"k{}\":{i},", i % 30)).collect();
        let doc = format!("{{{}\"z\":0}}", many);
        let keys = json_keys(&doc).unwrap();
        assert_eq!(keys.len(), 31);
        assert_eq!(keys.first().map(String::as_str), Some("k0"));
        assert_eq!(keys.last().map(String::as_str), Some("z"));
    }

    // json_records.json
    #[test]
    fn records() {
        let r = |s: &str| {
            json_records(s).map(|v| {
                v.into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            r(r#"{"Red": 3, "Green": 5}"#),
            Some(strs(&["Red=3", "Green=5"]))
        );
        assert_eq!(r(r#"{"Black": 2}"#), Some(strs(&["Black=2"])));
        assert_eq!(r(r#"{"White": "Seven"}"#), Some(strs(&["White=Seven"])));
        assert_eq!(r("{}"), Some(vec![]));
        assert_eq!(r(""), None);
        assert_eq!(r("[]"), None);
        assert_eq!(
            r(r#"{"a": {"x": [1, 2.50]}, "b": null, "c": "q\"", "a": true}"#),
            Some(strs(&["a=true", "b=null", "c=q\""]))
        );
    }

    // json_items.json
    #[test]
    fn items() {
        let doc = r#"[{"type": "A", "timestamp": "2022-01-27"}, {"type": "B", "timestamp": "2022-05-18"}]"#;
        assert_eq!(
            json_items(doc),
            Some(strs(&[
                r#"{"type":"A","timestamp":"2022-01-27"}"#,
                r#"{"type":"B","timestamp":"2022-05-18"}"#
            ]))
        );
        assert_eq!(json_items("[]"), Some(vec![]));
        assert_eq!(json_items("[{}, 1]"), None);
        assert_eq!(json_items("[{}, null]"), None);
        assert_eq!(json_items("{}"), None);
        assert_eq!(json_items(""), None);
    }

    // json_concat.json and ksqlDB's JsonConcatTest.
    #[test]
    fn concat() {
        let c = |args: &[Option<&str>]| json_concat(args);
        assert_eq!(
            c(&[
                Some(r#"{"a": 1}"#),
                Some(r#"{"b": 2}"#),
                Some(r#"{"c": 3}"#)
            ])
            .as_deref(),
            Some(r#"{"a":1,"b":2,"c":3}"#)
        );
        assert_eq!(
            c(&[Some("{}"), Some("{}"), Some("{}")]).as_deref(),
            Some("{}")
        );
        assert_eq!(
            c(&[
                Some(r#"{"a": {"5": 6}}"#),
                Some(r#"{"a": {"3": 4}}"#),
                Some(r#"{"a": {"7": 8}}"#)
            ])
            .as_deref(),
            Some(r#"{"a":{"7":8}}"#)
        );
        assert_eq!(
            c(&[Some("[1, 2]"), Some("[3, 4]"), Some("[5, 6]")]).as_deref(),
            Some("[1,2,3,4,5,6]")
        );
        assert_eq!(
            c(&[Some("null"), Some("null"), Some("null")]).as_deref(),
            Some("[null,null,null]")
        );
        assert_eq!(
            c(&[Some("[1, 2]"), Some(r#"{"a": 1}"#), Some("4")]).as_deref(),
            Some(r#"[1,2,{"a":1},4]"#)
        );
        assert_eq!(
            c(&[Some("[]"), Some("[]"), Some("[]")]).as_deref(),
            Some("[]")
        );
        assert_eq!(c(&[Some("1"), Some(""), Some("2")]), None);
        assert_eq!(c(&[Some(""), Some("1"), Some("1")]), None);
        assert_eq!(c(&[Some(""), Some(""), Some("")]), None);
        assert_eq!(c(&[None, None, None]), None);
        assert_eq!(c(&[None, Some("1")]), None);
        assert_eq!(c(&[Some("1"), None]), None);
        assert_eq!(c(&[None]), None);
        assert_eq!(c(&[]), None);
        assert_eq!(
            c(&[Some("[1, [2]]"), Some("[[[3]], [[[4]]]]")]).as_deref(),
            Some("[1,[2],[[3]],[[[4]]]]")
        );
        assert_eq!(
            c(&[Some("1"), Some("2"), Some("3")]).as_deref(),
            Some("[1,2,3]")
        );
        assert_eq!(
            c(&[Some(r#"{"a":1}"#), Some("[2]")]).as_deref(),
            Some(r#"[{"a":1},2]"#)
        );
        // Merged keys keep their first position; numbers are written plain.
        assert_eq!(
            c(&[Some(r#"{"x":1,"y":2}"#), Some(r#"{"z":1e2,"x":1.50E1}"#)]).as_deref(),
            Some(r#"{"x":15.0,"y":2,"z":100}"#)
        );
        assert_eq!(c(&[Some(" 1e-3 ")]).as_deref(), Some("0.001"));
        assert_eq!(c(&[Some("0e5")]).as_deref(), Some("0"));
        assert_eq!(c(&[Some("1e10000"), Some("1")]), None);
        assert_eq!(
            c(&[Some("{\"a\":1}garbage"), Some("{}")]).as_deref(),
            Some(r#"{"a":1}"#)
        );
    }

    #[test]
    fn big_decimal_to_string() {
        let fmt = |s: &str, plain: bool| {
            let mut out = String::new();
            write_number(s, true, plain, &mut out).map(|()| out)
        };
        let cases = [
            ("1.0", "1.0", "1.0"),
            ("1.50", "1.50", "1.50"),
            ("1e2", "1E+2", "100"),
            ("1.5e1", "15", "15"),
            ("1.50E1", "15.0", "15.0"),
            ("-1.5e-1", "-0.15", "-0.15"),
            ("0.000001", "0.000001", "0.000001"),
            ("0.0000001", "1E-7", "0.0000001"),
            ("123.456e-10", "1.23456E-8", "0.0000000123456"),
            ("-0.0", "0.0", "0.0"),
            ("0e2", "0E+2", "0"),
            ("0.0000000000", "0E-10", "0.0000000000"),
            ("12345e3", "1.2345E+7", "12345000"),
            ("100.0e-1", "10.00", "10.00"),
        ];
        for (input, sci, plain) in cases {
            assert_eq!(fmt(input, false).as_deref(), Some(sci), "{input}");
            assert_eq!(fmt(input, true).as_deref(), Some(plain), "{input}");
        }
        assert_eq!(fmt("1e10000", true), None);
        assert_eq!(fmt("1e10000", false).as_deref(), Some("1E+10000"));
    }

    // json_array_contains.json and ksqlDB's JsonArrayContainsTest.
    #[test]
    fn array_contains() {
        let pink = Needle::Str("Pink");
        assert!(!json_array_contains(r#"["Red", "Green"]"#, &pink));
        assert!(!json_array_contains(r#"["Black"]"#, &pink));
        assert!(json_array_contains(r#"["Pink", "Yellow", "Pink"]"#, &pink));
        assert!(json_array_contains(r#"["White", "Pink"]"#, &pink));
        assert!(json_array_contains(r#"["Pink", null]"#, &pink));

        for n in [
            Needle::Bool(true),
            Needle::Bool(false),
            Needle::Null,
            Needle::Double(1.0),
            Needle::Int(100),
            Needle::Str("abc"),
            Needle::Str(""),
        ] {
            assert!(!json_array_contains("[]", &n), "{n:?}");
        }
        assert!(json_array_contains("[null]", &Needle::Null));
        assert!(!json_array_contains("[null]", &Needle::Str("null")));
        assert!(!json_array_contains("[null]", &Needle::Bool(true)));
        assert!(!json_array_contains("[null]", &Needle::Double(1.0)));
        assert!(!json_array_contains("[null]", &Needle::Str("")));

        let ints = r#"[2147483647, {"ab":null }, -2147483648, 1, 2, 3, null, [4], 4]"#;
        for n in [2147483647, -2147483648, 1, 2, 3] {
            assert!(json_array_contains(ints, &Needle::Int(n)), "{n}");
        }
        assert!(!json_array_contains("5", &Needle::Int(5)));
        assert!(!json_array_contains(ints, &Needle::Int(5)));

        assert!(json_array_contains("[1]", &Needle::BigInt(1)));
        assert!(json_array_contains(
            "[1111111111111111]",
            &Needle::BigInt(1111111111111111)
        ));
        assert!(json_array_contains(
            "[[222222222222222], 33333]",
            &Needle::BigInt(33333)
        ));
        assert!(json_array_contains(
            r#"[{}, "abc", null, 1]"#,
            &Needle::BigInt(1)
        ));
        assert!(!json_array_contains(
            "[[222222222222222], 33333]",
            &Needle::BigInt(222222222222222)
        ));
        assert!(!json_array_contains(
            r#"[{}, "abc", null, [1]]"#,
            &Needle::BigInt(1)
        ));
        assert!(!json_array_contains(
            r#"[{}, "abc", null, {"1":1}]"#,
            &Needle::BigInt(1)
        ));
        assert!(!json_array_contains("[1]", &Needle::Double(1.0)));

        assert!(json_array_contains(
            "[-1.0, 2.0, 3.0]",
            &Needle::Double(2.0)
        ));
        assert!(json_array_contains(
            "[1.0, -2.0, 3.0]",
            &Needle::Double(-2.0)
        ));
        assert!(json_array_contains(
            "[1.0, 2.0, 1.6E3]",
            &Needle::Double(1600.0)
        ));
        assert!(json_array_contains(
            "[1.0, 2.0, -1.6E3]",
            &Needle::Double(-1600.0)
        ));
        assert!(json_array_contains(
            r#"[{}, "abc", null, -2.0]"#,
            &Needle::Double(-2.0)
        ));
        assert!(!json_array_contains("[[2.0], 3.0]", &Needle::Double(2.0)));
        assert!(!json_array_contains("[0.0]", &Needle::Double(-0.0)));

        assert!(json_array_contains(r#"["abc"]"#, &Needle::Str("abc")));
        assert!(json_array_contains(
            r#"["cbda", "abc"]"#,
            &Needle::Str("abc")
        ));
        assert!(json_array_contains(
            r#"[{}, "abc", null, 1]"#,
            &Needle::Str("abc")
        ));
        assert!(json_array_contains(r#"[""]"#, &Needle::Str("")));
        assert!(!json_array_contains(r#"[""]"#, &Needle::Null));
        assert!(!json_array_contains("[1,2,3]", &Needle::Str("1")));
        assert!(!json_array_contains(
            r#"["abc", "dba"]"#,
            &Needle::Str("abd")
        ));
        assert!(json_array_contains(r#"["a\u0062c"]"#, &Needle::Str("abc")));

        assert!(json_array_contains(
            "[false, false, true, false]",
            &Needle::Bool(true)
        ));
        assert!(json_array_contains(
            "[true, true, false]",
            &Needle::Bool(false)
        ));
        assert!(!json_array_contains("[true, true]", &Needle::Bool(false)));
        assert!(!json_array_contains("[false, false]", &Needle::Bool(true)));
        assert!(!json_array_contains(
            "[false, false, true, false]",
            &Needle::Null
        ));

        // Streaming: a match before a syntax error counts, an error before it does not.
        assert!(json_array_contains("[1, 2, oops", &Needle::Int(2)));
        assert!(json_array_contains("[1x", &Needle::Int(1)));
        assert!(!json_array_contains("[oops, 2]", &Needle::Int(2)));
        assert!(!json_array_contains("[truex]", &Needle::Bool(true)));
        assert!(!json_array_contains("[1,,2]", &Needle::Int(2)));
        // Out-of-range integers abort the search.
        assert!(!json_array_contains("[3000000000, 1]", &Needle::Int(1)));
        assert!(json_array_contains("[3000000000, 1]", &Needle::BigInt(1)));
        assert!(!json_array_contains(
            "[99999999999999999999, 1]",
            &Needle::BigInt(1)
        ));
        assert!(json_array_contains(
            "[99999999999999999999, 1.5]",
            &Needle::Double(1.5)
        ));
        assert!(!json_array_contains("", &Needle::Null));
        assert!(!json_array_contains("{}", &Needle::Null));
        assert!(json_array_contains("  [ 1 ] trailing", &Needle::BigInt(1)));
    }
}
