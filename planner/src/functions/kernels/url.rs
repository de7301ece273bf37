//! Row kernels for ksqlDB's URL functions: `URL_ENCODE_PARAM`, `URL_DECODE_PARAM` and the
//! `URL_EXTRACT_*` family.
//!
//! ksqlDB parses URLs with `java.net.URI` (RFC 2396 plus Java's deviations), so [`JavaUri`]
//! reimplements that parser: a string `java.net.URI` rejects gives NULL for every
//! extractor. Host and protocol are returned raw; path, query and fragment are
//! percent-decoded (as UTF-8), exactly like `URI.getPath()`, `getQuery()` and
//! `getFragment()`. A host that is not a valid server name (underscores, non-ASCII letters,
//! a label ending in `-`) makes Java fall back to a "registry" authority, so host and port
//! are NULL for it.

use std::borrow::Cow;

/// An ASCII character class of `java.net.URI`'s parser.
#[derive(Clone, Copy)]
struct Class {
    /// Bits for characters 0..64.
    low: u64,
    /// Bits for characters 64..128.
    high: u64,
    /// Whether `%XX` escapes and visible non-ASCII characters are also allowed.
    escaped: bool,
}

impl Class {
    /// The class of the given ASCII characters.
    const fn of(chars: &[u8]) -> Self {
        let mut low = 0;
        let mut high = 0;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c < 64 {
                low |= 1 << c;
            } else if c < 128 {
                high |= 1 << (c - 64);
            }
            i += 1;
        }
        Self {
            low,
            high,
            escaped: false,
        }
    }

    /// The union of two classes.
    const fn or(self, other: Self) -> Self {
        Self {
            low: self.low | other.low,
            high: self.high | other.high,
            escaped: self.escaped || other.escaped,
        }
    }

    /// This class, also allowing escapes.
    const fn with_escapes(self) -> Self {
        Self {
            escaped: true,
            ..self
        }
    }

    /// Whether the ASCII byte `c` is in the class (NUL never is).
    fn contains(self, c: u8) -> bool {
        match c {
            0 => false,
            1..=63 => self.low & (1 << c) != 0,
            64..=127 => self.high & (1 << (c - 64)) != 0,
            _ => false,
        }
    }
}

/// ASCII decimal digits.
const DIGIT: Class = Class::of(b"0123456789");
/// ASCII letters.
const ALPHA: Class = Class::of(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
/// ASCII letters and digits.
const ALPHANUM: Class = DIGIT.or(ALPHA);
/// ASCII hexadecimal digits.
const HEX: Class = DIGIT.or(Class::of(b"abcdefABCDEF"));
/// RFC 2396 `unreserved`: letters, digits and marks.
const UNRESERVED: Class = ALPHANUM.or(Class::of(b"-_.!~*'()"));
/// RFC 2396 `reserved`, plus the brackets of RFC 2732.
const RESERVED: Class = Class::of(b";/?:@&=+$,[]");
/// RFC 2396 `uric`: characters of queries, fragments and opaque parts.
const URIC: Class = RESERVED.or(UNRESERVED).with_escapes();
/// RFC 2396 `pchar`: characters of a path segment.
const PCHAR: Class = UNRESERVED.or(Class::of(b":@&=+$,")).with_escapes();
/// Characters of a path.
const PATH: Class = PCHAR.or(Class::of(b";/"));
/// The dash.
const DASH: Class = Class::of(b"-");
/// The dot.
const DOT: Class = Class::of(b".");
/// Characters of user information.
const USERINFO: Class = UNRESERVED.or(Class::of(b";:&=+$,")).with_escapes();
/// Characters of a registry-based authority.
const REG_NAME: Class = UNRESERVED.or(Class::of(b"$,;:@&=+")).with_escapes();
/// Characters of a server-based authority.
const SERVER: Class = USERINFO.or(ALPHANUM).or(DASH).or(Class::of(b".:@[]"));
/// Characters of a server-based authority, with `%` (IPv6 scope ids).
const SERVER_PERCENT: Class = SERVER.or(Class::of(b"%"));
/// Characters of a scheme after its first letter.
const SCHEME: Class = ALPHA.or(DIGIT).or(Class::of(b"+-."));
/// Characters of an IPv6 scope id.
const SCOPE_ID: Class = ALPHANUM.or(Class::of(b"_."));

/// A URI's components as `java.net.URI` parses them, raw (not yet percent-decoded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct JavaUri<'a> {
    /// The scheme (`getScheme()`).
    pub(crate) scheme: Option<&'a str>,
    /// The host of a server-based authority (`getHost()`; IPv6 literals keep brackets).
    pub(crate) host: Option<&'a str>,
    /// The port (`getPort()`, where -1 means none).
    pub(crate) port: Option<i32>,
    /// The raw path (`getRawPath()`); `None` for opaque URIs such as `mailto:x@y`.
    pub(crate) path: Option<&'a str>,
    /// The raw query (`getRawQuery()`).
    pub(crate) query: Option<&'a str>,
    /// The raw fragment (`getRawFragment()`).
    pub(crate) fragment: Option<&'a str>,
}

/// The failure of a parse step (`URISyntaxException` in Java).
#[derive(Debug)]
struct Invalid;

/// The result of a parse step.
type Step<T> = Result<T, Invalid>;

impl<'a> JavaUri<'a> {
    /// Parses `input` as `new java.net.URI(input)` does; `None` where Java throws.
    pub(crate) fn parse(input: &'a str) -> Option<Self> {
        let mut parser = Parser {
            text: input,
            bytes: input.as_bytes(),
            uri: Self::default(),
            ipv6_bytes: 0,
        };
        parser.parse().ok()?;
        Some(parser.uri)
    }

    /// The decoded path (`getPath()`).
    pub(crate) fn decoded_path(&self) -> Option<Cow<'a, str>> {
        self.path.map(percent_decode)
    }

    /// The decoded query (`getQuery()`).
    pub(crate) fn decoded_query(&self) -> Option<Cow<'a, str>> {
        self.query.map(percent_decode)
    }

    /// The decoded fragment (`getFragment()`).
    pub(crate) fn decoded_fragment(&self) -> Option<Cow<'a, str>> {
        self.fragment.map(percent_decode)
    }
}

/// `java.net.URI`'s parser (positions are byte offsets, always on character boundaries).
struct Parser<'a> {
    /// The input.
    text: &'a str,
    /// The input's bytes.
    bytes: &'a [u8],
    /// The components found so far.
    uri: JavaUri<'a>,
    /// Bytes of IPv6 address seen (Java's `ipv6byteCount`).
    ipv6_bytes: usize,
}

impl<'a> Parser<'a> {
    /// `input[start..end]`.
    fn slice(&self, start: usize, end: usize) -> Step<&'a str> {
        self.text.get(start..end).ok_or(Invalid)
    }

    /// Whether the byte at `p` (before `end`) is `c`.
    fn at(&self, p: usize, end: usize, c: u8) -> bool {
        p < end && self.bytes.get(p) == Some(&c)
    }

    /// The first position in `start..end` holding one of `stop`, or `end`.
    fn scan_to(&self, start: usize, end: usize, stop: &[u8]) -> usize {
        let mut p = start;
        while p < end && !self.bytes.get(p).is_some_and(|b| stop.contains(b)) {
            p += 1;
        }
        p
    }

    /// Like [`Self::scan_to`], but `None` if one of `err` comes first.
    fn scan_to_unless(&self, start: usize, end: usize, err: &[u8], stop: &[u8]) -> Option<usize> {
        let p = self.scan_to(start, end, stop);
        let hit_err = self
            .bytes
            .get(start..p)
            .is_some_and(|skipped| skipped.iter().any(|b| err.contains(b)));
        (!hit_err).then_some(p)
    }

    /// The end of the run of characters of `class` starting at `start` (up to `end`). A
    /// malformed `%` escape in a class that allows escapes is an error.
    fn scan_class(&self, start: usize, end: usize, class: Class) -> Step<usize> {
        let mut p = start;
        while p < end {
            let Some(&c) = self.bytes.get(p) else { break };
            if class.contains(c) {
                p += 1;
            } else if class.escaped && c == b'%' {
                let pair = self.bytes.get(p + 1..p + 3).ok_or(Invalid)?;
                if p + 3 > end || !pair.iter().all(|&h| HEX.contains(h)) {
                    return Err(Invalid);
                }
                p += 3;
            } else if class.escaped && c >= 0x80 {
                let ch = self
                    .text
                    .get(p..)
                    .and_then(|r| r.chars().next())
                    .ok_or(Invalid)?;
                if is_space_char(ch) || ('\u{80}'..='\u{9F}').contains(&ch) {
                    break;
                }
                p += ch.len_utf8();
            } else {
                break;
            }
        }
        Ok(p)
    }

    /// Fails unless all of `start..end` is in `class`.
    fn check(&self, start: usize, end: usize, class: Class) -> Step<()> {
        if self.scan_class(start, end, class)? < end {
            Err(Invalid)
        } else {
            Ok(())
        }
    }

    /// `[scheme:]scheme-specific-part[#fragment]`.
    fn parse(&mut self) -> Step<()> {
        let n = self.bytes.len();
        let mut p = match self.scan_to_unless(0, n, b"/?#", b":") {
            Some(colon) if self.at(colon, n, b':') => {
                if colon == 0 {
                    return Err(Invalid);
                }
                self.check(0, 1, ALPHA)?;
                self.check(1, colon, SCHEME)?;
                self.uri.scheme = Some(self.slice(0, colon)?);
                let p = colon + 1;
                if self.at(p, n, b'/') {
                    self.hierarchical(p, n)?
                } else {
                    // Opaque: `mailto:a@b`; no path, query or authority.
                    let q = self.scan_to(p, n, b"#");
                    if q <= p {
                        return Err(Invalid);
                    }
                    self.check(p, q, URIC)?;
                    q
                }
            }
            _ => self.hierarchical(0, n)?,
        };
        if self.at(p, n, b'#') {
            self.check(p + 1, n, URIC)?;
            self.uri.fragment = Some(self.slice(p + 1, n)?);
            p = n;
        }
        if p < n {
            return Err(Invalid);
        }
        Ok(())
    }

    /// `[//authority]path[?query]`; returns the position after it.
    fn hierarchical(&mut self, start: usize, n: usize) -> Step<usize> {
        let mut p = start;
        if self.at(p, n, b'/') && self.at(p + 1, n, b'/') {
            p += 2;
            let q = self.scan_to(p, n, b"/?#");
            if q > p {
                p = self.authority(p, q)?;
            } else if q >= n {
                return Err(Invalid); // `scheme://` with nothing after it
            }
        }
        let q = self.scan_to(p, n, b"?#");
        self.check(p, q, PATH)?;
        self.uri.path = Some(self.slice(p, q)?);
        p = q;
        if self.at(p, n, b'?') {
            p += 1;
            let q = self.scan_to(p, n, b"#");
            self.check(p, q, URIC)?;
            self.uri.query = Some(self.slice(p, q)?);
            p = q;
        }
        Ok(p)
    }

    /// A server-based (`user@host:port`) or else registry-based authority in `start..n`.
    fn authority(&mut self, start: usize, n: usize) -> Step<usize> {
        // Java's test for "contains an IPv6 literal" is true unless the authority starts
        // with `]`; either way `%` is then allowed.
        let server_chars = if self.scan_to(start, n, b"]") > start {
            self.scan_class(start, n, SERVER_PERCENT)? == n
        } else {
            self.scan_class(start, n, SERVER)? == n
        };
        let reg_chars = self.scan_class(start, n, REG_NAME)? == n;
        if reg_chars && !server_chars {
            return Ok(n);
        }
        let mut q = start;
        if server_chars {
            match self.server(start, n, reg_chars) {
                Ok(end) if end >= n => q = end,
                Ok(_) if reg_chars => self.forget_server(),
                Ok(_) => return Err(Invalid),
                Err(Invalid) => self.forget_server(),
            }
        }
        if q < n && !reg_chars {
            return Err(Invalid);
        }
        Ok(n)
    }

    /// Undoes a failed server-based parse (the authority is registry-based).
    fn forget_server(&mut self) {
        self.uri.host = None;
        self.uri.port = None;
    }

    /// `[userinfo@]host[:port]`; with `lenient`, stops early instead of failing on a host
    /// that is not a valid server name.
    fn server(&mut self, start: usize, n: usize, lenient: bool) -> Step<usize> {
        let mut p = start;
        if let Some(q) = self.scan_to_unless(p, n, b"/?#", b"@") {
            if self.at(q, n, b'@') {
                self.check(p, q, USERINFO)?;
                p = q + 1;
            }
        }
        if self.at(p, n, b'[') {
            p += 1;
            let q = self.scan_to_unless(p, n, b"/?#", b"]").ok_or(Invalid)?;
            if q <= p || !self.at(q, n, b']') {
                return Err(Invalid);
            }
            let r = self.scan_to(p, q, b"%");
            if r > p {
                self.ipv6_reference(p, r)?;
                if r + 1 == q {
                    return Err(Invalid); // `%` without a scope id
                }
                if r < q {
                    self.check(r + 1, q, SCOPE_ID)?;
                }
            } else {
                self.ipv6_reference(p, q)?;
            }
            self.uri.host = Some(self.slice(p - 1, q + 1)?);
            p = q + 1;
        } else {
            p = match self.ipv4_host(p, n) {
                Some(q) => q,
                None => self.hostname(p, n, lenient)?,
            };
        }
        if self.at(p, n, b':') {
            p += 1;
            let q = self.scan_to(p, n, b"/");
            if q > p {
                self.check(p, q, DIGIT)?;
                let port = self.slice(p, q)?.parse::<i32>().map_err(|_| Invalid)?;
                self.uri.port = Some(port);
                p = q;
            }
        } else if p < n && lenient {
            return Ok(p);
        }
        if p < n {
            return Err(Invalid);
        }
        Ok(p)
    }

    /// An IPv4 host (followed by nothing or `:`); sets the host. `None` if there is none.
    fn ipv4_host(&mut self, start: usize, n: usize) -> Option<usize> {
        let p = self.ipv4_address(start, n, false).ok()??;
        if p < n && !self.at(p, n, b':') {
            return None;
        }
        self.uri.host = Some(self.slice(start, p).ok()?);
        Some(p)
    }

    /// `d.d.d.d` with each part at most 255, ending exactly where the run of digits and dots
    /// ends (or at `n` when `strict`). `Ok(None)` if there are no digits or dots (or, when
    /// `strict`, they do not reach `n`); an error if they do not form an address.
    fn ipv4_address(&self, start: usize, n: usize, strict: bool) -> Step<Option<usize>> {
        let m = self.scan_class(start, n, DIGIT.or(DOT))?;
        if m <= start || (strict && m != n) {
            return Ok(None);
        }
        let mut p = start;
        for part in 0..4 {
            if part > 0 {
                if !self.at(p, m, b'.') {
                    return Err(Invalid);
                }
                p += 1;
            }
            let q = self.ipv4_byte(p, m)?;
            if q <= p {
                return Err(Invalid);
            }
            p = q;
        }
        if p < m {
            return Err(Invalid);
        }
        Ok(Some(p))
    }

    /// The end of a decimal byte (0..=255) at `start`, or `start` if there is none.
    fn ipv4_byte(&self, start: usize, n: usize) -> Step<usize> {
        let q = self.scan_class(start, n, DIGIT)?;
        if q <= start {
            return Ok(q);
        }
        // Java's `Integer.parseInt` throws beyond `int`, which fails the whole address.
        let value = self.slice(start, q)?.parse::<i32>().map_err(|_| Invalid)?;
        Ok(if value > 255 { start } else { q })
    }

    /// A strict IPv4 address filling `start..n` (inside an IPv6 literal).
    fn take_ipv4(&self, start: usize, n: usize) -> Step<usize> {
        match self.ipv4_address(start, n, true)? {
            Some(p) if p > start => Ok(p),
            _ => Err(Invalid),
        }
    }

    /// A host name: dot-separated labels of letters, digits and inner `-`, the last one
    /// starting with a letter (unless it is the only label). Sets the host.
    fn hostname(&mut self, start: usize, n: usize, lenient: bool) -> Step<usize> {
        let mut p = start;
        let mut last_label = None;
        loop {
            let q = self.scan_class(p, n, ALPHANUM)?;
            if q <= p {
                break;
            }
            last_label = Some(p);
            p = q;
            let q = self.scan_class(p, n, ALPHANUM.or(DASH))?;
            if q > p {
                if self.bytes.get(q - 1) == Some(&b'-') {
                    return Err(Invalid);
                }
                p = q;
            }
            if !self.at(p, n, b'.') {
                break;
            }
            p += 1;
            if p >= n {
                break;
            }
        }
        if p < n && !self.at(p, n, b':') {
            return if lenient { Ok(p) } else { Err(Invalid) };
        }
        let label = last_label.ok_or(Invalid)?;
        if label > start && !self.bytes.get(label).is_some_and(|&c| ALPHA.contains(c)) {
            return Err(Invalid);
        }
        self.uri.host = Some(self.slice(start, p)?);
        Ok(p)
    }

    /// An IPv6 address filling `start..n` (RFC 2373 forms, with `::` and embedded IPv4).
    fn ipv6_reference(&mut self, start: usize, n: usize) -> Step<usize> {
        let mut p = start;
        let mut compressed = false;
        if let Some(q) = self.hex_seq(p, n)? {
            p = q;
            if self.at(p, n, b':') && self.at(p + 1, n, b':') {
                compressed = true;
                p = self.hex_post(p + 2, n)?;
            } else if self.at(p, n, b':') {
                p = self.take_ipv4(p + 1, n)?;
                self.ipv6_bytes += 4;
            }
        } else if self.at(p, n, b':') && self.at(p + 1, n, b':') {
            compressed = true;
            p = self.hex_post(p + 2, n)?;
        }
        let bytes = self.ipv6_bytes;
        if p < n || bytes > 16 || (!compressed && bytes < 16) || (compressed && bytes == 16) {
            return Err(Invalid);
        }
        Ok(p)
    }

    /// What follows `::` in an IPv6 address.
    fn hex_post(&mut self, start: usize, n: usize) -> Step<usize> {
        if start == n {
            return Ok(start);
        }
        match self.hex_seq(start, n)? {
            Some(q) if q > start => {
                if self.at(q, n, b':') {
                    let p = self.take_ipv4(q + 1, n)?;
                    self.ipv6_bytes += 4;
                    Ok(p)
                } else {
                    Ok(q)
                }
            }
            _ => {
                let p = self.take_ipv4(start, n)?;
                self.ipv6_bytes += 4;
                Ok(p)
            }
        }
    }

    /// `hex4 *( ":" hex4 )`, stopping before `::` or an embedded IPv4 address. `None` if it
    /// does not start with one.
    fn hex_seq(&mut self, start: usize, n: usize) -> Step<Option<usize>> {
        let q = self.scan_class(start, n, HEX)?;
        if q <= start || self.at(q, n, b'.') {
            return Ok(None);
        }
        if q > start + 4 {
            return Err(Invalid);
        }
        self.ipv6_bytes += 2;
        let mut p = q;
        while p < n {
            if !self.at(p, n, b':') || self.at(p + 1, n, b':') {
                break;
            }
            p += 1;
            let q = self.scan_class(p, n, HEX)?;
            if q <= p {
                return Err(Invalid);
            }
            if self.at(q, n, b'.') {
                p -= 1;
                break;
            }
            if q > p + 4 {
                return Err(Invalid);
            }
            self.ipv6_bytes += 2;
            p = q;
        }
        Ok(Some(p))
    }
}

/// Java's `Character.isSpaceChar` (general categories `Zs`, `Zl`, `Zp`).
fn is_space_char(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// `java.net.URI`'s decoding of a (validated) component: runs of `%XX` are decoded as UTF-8,
/// malformed sequences becoming U+FFFD.
fn percent_decode(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut bytes = Vec::new();
    let mut rest = raw;
    while let Some(i) = rest.find('%') {
        out.push_str(rest.get(..i).unwrap_or(""));
        rest = rest.get(i..).unwrap_or("");
        bytes.clear();
        while let Some(b) = rest
            .strip_prefix('%')
            .and_then(|r| r.get(..2))
            .and_then(hex_byte)
        {
            bytes.push(b);
            rest = rest.get(3..).unwrap_or("");
        }
        if bytes.is_empty() {
            // Not an escape (cannot happen after validation): keep the `%`.
            out.push('%');
            rest = rest.get(1..).unwrap_or("");
        } else {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Two ASCII hex digits.
fn hex_byte(pair: &str) -> Option<u8> {
    if pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(pair, 16).ok()
    } else {
        None
    }
}

/// `URL_ENCODE_PARAM(s)`: `application/x-www-form-urlencoded` encoding (Guava's form
/// parameter escaper): ASCII letters, digits and `-_.*` are kept, space becomes `+`, every
/// other byte of the UTF-8 encoding becomes `%XX` (upper-case hex).
pub(crate) fn url_encode_param(s: &str) -> String {
    const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
                out.push(char::from(HEX_UPPER[usize::from(b & 0xF)]));
            }
        }
    }
    out
}

/// `URL_DECODE_PARAM(s)`: Java's `URLDecoder.decode(s, "UTF-8")`: `+` becomes a space and
/// runs of `%XX` are decoded as UTF-8 (malformed sequences become U+FFFD). `None` where Java
/// throws: a `%` without two following characters, or with two that are not a
/// non-negative hexadecimal number (Java's `Integer.parseInt` also takes `%+F` and `%-0`).
pub(crate) fn url_decode_param(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bytes = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(['%', '+']) {
        out.push_str(rest.get(..i)?);
        rest = rest.get(i..)?;
        if let Some(after) = rest.strip_prefix('+') {
            out.push(' ');
            rest = after;
            continue;
        }
        bytes.clear();
        while let Some(after) = rest.strip_prefix('%') {
            let mut chars = after.chars();
            let (Some(a), Some(b)) = (chars.next(), chars.next()) else {
                return None; // incomplete trailing escape
            };
            let mut digits = [0_u8; 8];
            let len_a = a.encode_utf8(&mut digits).len();
            let len_b = b.encode_utf8(&mut digits[len_a..]).len();
            let text = std::str::from_utf8(digits.get(..len_a + len_b)?).ok()?;
            let value = i32::from_str_radix(text, 16).ok()?;
            if value < 0 {
                return None;
            }
            bytes.push(u8::try_from(value).ok()?);
            rest = chars.as_str();
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
    out.push_str(rest);
    Some(out)
}

/// `URL_EXTRACT_PROTOCOL(url)`: the scheme.
pub(crate) fn url_extract_protocol(url: &str) -> Option<&str> {
    JavaUri::parse(url)?.scheme
}

/// `URL_EXTRACT_HOST(url)`: the host of a server-based authority.
pub(crate) fn url_extract_host(url: &str) -> Option<&str> {
    JavaUri::parse(url)?.host
}

/// `URL_EXTRACT_PORT(url)`: the port, if the URL has one.
pub(crate) fn url_extract_port(url: &str) -> Option<i32> {
    JavaUri::parse(url)?.port
}

/// `URL_EXTRACT_PATH(url)`: the decoded path (empty for `http://host`; NULL for opaque URIs).
pub(crate) fn url_extract_path(url: &str) -> Option<Cow<'_, str>> {
    JavaUri::parse(url)?.decoded_path()
}

/// `URL_EXTRACT_QUERY(url)`: the decoded query.
pub(crate) fn url_extract_query(url: &str) -> Option<Cow<'_, str>> {
    JavaUri::parse(url)?.decoded_query()
}

/// `URL_EXTRACT_FRAGMENT(url)`: the decoded fragment.
pub(crate) fn url_extract_fragment(url: &str) -> Option<Cow<'_, str>> {
    JavaUri::parse(url)?.decoded_fragment()
}

/// `URL_EXTRACT_PARAMETER(url, name)`: the value of the first `name=value` (or bare `name`,
/// giving `""`) in the *decoded* query, split on `&` and then the first `=`. The value is
/// not decoded again (it already was).
pub(crate) fn url_extract_parameter(url: &str, name: &str) -> Option<String> {
    let query = JavaUri::parse(url)?.decoded_query()?;
    query
        .split('&')
        .find_map(|param| match param.split_once('=') {
            Some((key, value)) if key == name => Some(value.to_owned()),
            None if param == name => Some(String::new()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // url.json
    #[test]
    fn encode_decode_corpus() {
        assert_eq!(url_encode_param("?foo $bar"), "%3Ffoo+%24bar");
        assert_eq!(url_encode_param("hello&world"), "hello%26world");
        assert_eq!(url_encode_param("nothing"), "nothing");
        assert_eq!(
            url_decode_param("%3Ffoo+%24bar").as_deref(),
            Some("?foo $bar")
        );
        assert_eq!(
            url_decode_param("hello%26world").as_deref(),
            Some("hello&world")
        );
        assert_eq!(url_decode_param("nothing").as_deref(), Some("nothing"));
    }

    #[test]
    fn encode_decode_edges() {
        assert_eq!(url_encode_param(""), "");
        assert_eq!(url_encode_param("a-_.*~!'()b"), "a-_.*%7E%21%27%28%29b");
        assert_eq!(
            url_encode_param("é/€ 😀"),
            "%C3%A9%2F%E2%82%AC+%F0%9F%98%80"
        );
        assert_eq!(
            url_decode_param("%C3%A9%2F%E2%82%AC+%F0%9F%98%80").as_deref(),
            Some("é/€ 😀")
        );
        assert_eq!(url_decode_param("a%e9b").as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(url_decode_param("%41%42c%2b").as_deref(), Some("ABc+"));
        assert_eq!(url_decode_param("é+ü").as_deref(), Some("é ü"));
        assert_eq!(url_decode_param("%+1").as_deref(), Some("\u{1}"));
        assert_eq!(url_decode_param("%-0").as_deref(), Some("\u{0}"));
        assert_eq!(url_decode_param("%-1"), None);
        assert_eq!(url_decode_param("%"), None);
        assert_eq!(url_decode_param("abc%4"), None);
        assert_eq!(url_decode_param("%zz"), None);
        assert_eq!(url_decode_param("%é1"), None);
        assert_eq!(url_decode_param("").as_deref(), Some(""));
    }

    // url.json
    #[test]
    fn extract_corpus() {
        assert_eq!(
            url_extract_fragment("http://www.test.com/?query#fragment").as_deref(),
            Some("fragment")
        );
        assert_eq!(url_extract_fragment("http://www.nofragment.com"), None);
        assert_eq!(
            url_extract_parameter("http://www.test.com/?one=a&two=url%20encoded", "two").as_deref(),
            Some("url encoded")
        );
        assert_eq!(
            url_extract_path("http://www.test.com?query#fragment").as_deref(),
            Some("")
        );
        assert_eq!(
            url_extract_path("http://www.test.com/path?query").as_deref(),
            Some("/path")
        );
        assert_eq!(
            url_extract_path("http://test@confluent.io:8080/nested/path?query&jobs").as_deref(),
            Some("/nested/path")
        );
        assert_eq!(url_extract_port("http://test@confluent.io"), None);
        assert_eq!(
            url_extract_port("http://test@confluent.io:8080/nested/path?query&jobs"),
            Some(8080)
        );
        assert_eq!(
            url_extract_protocol("http://test@confluent.io"),
            Some("http")
        );
        assert_eq!(
            url_extract_protocol("https://test@confluent.io:8080/nested/path?query&jobs"),
            Some("https")
        );
        assert_eq!(url_extract_protocol("www.confluent.io"), None);
        assert_eq!(
            url_extract_query("http://www.test.com?query#fragment").as_deref(),
            Some("query")
        );
        assert_eq!(
            url_extract_query("http://www.test.com/path?q1&q2").as_deref(),
            Some("q1&q2")
        );
        assert_eq!(
            url_extract_query("http://test@confluent.io:8080/nested/path?q=2").as_deref(),
            Some("q=2")
        );
        assert_eq!(
            url_extract_query("http://test@confluent.io:8080/path"),
            None
        );
    }

    #[test]
    fn extract_host_and_parameters() {
        assert_eq!(
            url_extract_host("http://test@confluent.io:8080/x"),
            Some("confluent.io")
        );
        assert_eq!(
            url_extract_host("https://www.test.com"),
            Some("www.test.com")
        );
        assert_eq!(url_extract_host("http://127.0.0.1:80/"), Some("127.0.0.1"));
        assert_eq!(url_extract_host("http://[::1]:8080/"), Some("[::1]"));
        assert_eq!(url_extract_port("http://[::1]:8080/"), Some(8080));
        assert_eq!(
            url_extract_host("http://[fe80::1%25eth0]/"),
            Some("[fe80::1%25eth0]")
        );
        assert_eq!(
            url_extract_host("http://[1:2:3:4:5:6:1.2.3.4]/"),
            Some("[1:2:3:4:5:6:1.2.3.4]")
        );
        assert_eq!(url_extract_host("http://[1:2]/"), None);
        assert_eq!(url_extract_host("http://[::1/"), None);
        assert_eq!(url_extract_host("www.confluent.io"), None);
        assert_eq!(url_extract_host("file:///etc/hosts"), None);
        assert_eq!(
            url_extract_path("file:///etc/hosts").as_deref(),
            Some("/etc/hosts")
        );
        // Not a valid server name: Java falls back to a registry authority (no host/port).
        assert_eq!(url_extract_host("http://my_host:8080/"), None);
        assert_eq!(url_extract_port("http://my_host:8080/"), None);
        assert_eq!(
            url_extract_path("http://my_host:8080/p").as_deref(),
            Some("/p")
        );
        assert_eq!(url_extract_host("http://bücher.de/"), None);
        assert_eq!(url_extract_host("http://a-.com/"), None);
        assert_eq!(url_extract_host("http://1.2.3/"), None);
        assert_eq!(url_extract_host("http://123/"), Some("123"));
        assert_eq!(
            url_extract_host("http://www.test.com./"),
            Some("www.test.com.")
        );
        assert_eq!(url_extract_port("http://host:99999999999/"), None);
        assert_eq!(url_extract_host("http://host:99999999999/"), None);
        assert_eq!(url_extract_port("http://host:/"), None);
        assert_eq!(url_extract_host("http://host:/"), Some("host"));
        // Invalid URIs.
        for bad in [
            "http://",
            "http://host/a b",
            "http://host/%zz",
            ":x",
            "1http://x",
            "a:",
            "http://x#a#b",
        ] {
            assert_eq!(JavaUri::parse(bad), None, "{bad}");
        }
        // A bad port also makes the authority registry-based rather than the URI invalid.
        assert_eq!(url_extract_host("http://h:8x/"), None);
        assert_eq!(url_extract_path("http://h:8x/p").as_deref(), Some("/p"));
        // Opaque URIs have a scheme and fragment only.
        let m = JavaUri::parse("mailto:someone@example.com#top").unwrap();
        assert_eq!(
            (m.scheme, m.path, m.host, m.fragment),
            (Some("mailto"), None, None, Some("top"))
        );
        assert_eq!(
            url_extract_protocol("www.confluent.io:8080"),
            Some("www.confluent.io")
        );
        assert_eq!(url_extract_path("").as_deref(), Some(""));
        // Decoding.
        assert_eq!(
            url_extract_path("http://h/a%20b/%C3%A9").as_deref(),
            Some("/a b/é")
        );
        assert_eq!(
            url_extract_query("http://h/?a=%26&b=%3D").as_deref(),
            Some("a=&&b==")
        );
        assert_eq!(
            url_extract_fragment("http://h/#%E2%82%AC").as_deref(),
            Some("€")
        );
        assert_eq!(url_extract_path("http://h/é").as_deref(), Some("/é"));
        assert_eq!(url_extract_path("http://h/\u{A0}"), None);
        // Parameters.
        let u = "http://h/?a=1&b&c=&d=x=y&a=2";
        assert_eq!(url_extract_parameter(u, "a").as_deref(), Some("1"));
        assert_eq!(url_extract_parameter(u, "b").as_deref(), Some(""));
        assert_eq!(url_extract_parameter(u, "c").as_deref(), Some(""));
        assert_eq!(url_extract_parameter(u, "d").as_deref(), Some("x=y"));
        assert_eq!(url_extract_parameter(u, "e"), None);
        assert_eq!(url_extract_parameter("http://h/", "a"), None);
        assert_eq!(
            url_extract_parameter("http://h/?a=%26b=2", "b").as_deref(),
            Some("2")
        );
    }
}
