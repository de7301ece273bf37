//! Row kernels for ksqlDB's `MASK`, `MASK_LEFT`, `MASK_RIGHT`, `MASK_KEEP_LEFT` and
//! `MASK_KEEP_RIGHT`, plus the Java character classes they (and other kernels) rely on.
//!
//! ksqlDB classifies every character with Java's `Character.getType`: upper-case letters
//! (`Lu`), lower-case letters (`Ll`), decimal digits (`Nd`) and everything else (titlecase
//! letters, modifier letters, symbols, punctuation, spaces). Counts and positions are in
//! Unicode scalar values; Java counts UTF-16 units, which only differs for characters outside
//! the Basic Multilingual Plane.

/// The replacement for each character class; `None` leaves that class unmasked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MaskChars {
    /// Replacement for upper-case letters (ksqlDB default `'X'`).
    pub(crate) upper: Option<char>,
    /// Replacement for lower-case letters (ksqlDB default `'x'`).
    pub(crate) lower: Option<char>,
    /// Replacement for decimal digits (ksqlDB default `'n'`).
    pub(crate) digit: Option<char>,
    /// Replacement for every other character (ksqlDB default `'-'`).
    pub(crate) other: Option<char>,
}

impl Default for MaskChars {
    /// ksqlDB's default masking rules, used by the overloads without mask arguments.
    fn default() -> Self {
        Self {
            upper: Some('X'),
            lower: Some('x'),
            digit: Some('n'),
            other: Some('-'),
        }
    }
}

impl MaskChars {
    /// The masks of the overloads that take all four mask arguments.
    ///
    /// As in ksqlDB, a NULL (`None`) argument leaves that class of characters unmasked, and
    /// an argument that is not exactly one (UTF-16) character is an error.
    pub(crate) fn from_args(
        upper: Option<&str>,
        lower: Option<&str>,
        digit: Option<&str>,
        other: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Self {
            upper: mask_char(upper)?,
            lower: mask_char(lower)?,
            digit: mask_char(digit)?,
            other: mask_char(other)?,
        })
    }

    /// The replacement for `c`, or `c` itself when its class is left unmasked.
    fn apply(&self, c: char) -> char {
        let replacement = if is_java_upper(c) {
            self.upper
        } else if is_java_lower(c) {
            self.lower
        } else if decimal_digit_value(c).is_some() {
            self.digit
        } else {
            self.other
        };
        replacement.unwrap_or(c)
    }
}

/// One mask argument: `None` (SQL NULL) means "do not mask"; otherwise exactly one character.
pub(crate) fn mask_char(arg: Option<&str>) -> Result<Option<char>, String> {
    let Some(text) = arg else {
        return Ok(None);
    };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        // Java's `String.length() != 1` also rejects a single supplementary character.
        (Some(c), None) if c.len_utf16() == 1 => Ok(Some(c)),
        _ => Err(format!(
            "Invalid mask character. Must be only single character, but was '{text}'"
        )),
    }
}

/// `MASK(s)`: masks every character of `s`.
pub(crate) fn mask(s: &str, masks: &MaskChars) -> String {
    s.chars().map(|c| masks.apply(c)).collect()
}

/// `MASK_LEFT(s, n)`: masks the first `n` characters; the rest is kept.
pub(crate) fn mask_left(s: &str, n: i64, masks: &MaskChars) -> Result<String, String> {
    check_count("mask_left", n)?;
    Ok(mask_where(s, masks, |i, _| i < n))
}

/// `MASK_RIGHT(s, n)`: masks the last `n` characters; the rest is kept.
pub(crate) fn mask_right(s: &str, n: i64, masks: &MaskChars) -> Result<String, String> {
    check_count("mask_right", n)?;
    Ok(mask_where(s, masks, |i, len| i >= len - n))
}

/// `MASK_KEEP_LEFT(s, n)`: keeps the first `n` characters and masks the rest.
pub(crate) fn mask_keep_left(s: &str, n: i64, masks: &MaskChars) -> Result<String, String> {
    check_count("mask_keep_left", n)?;
    Ok(mask_where(s, masks, |i, _| i >= n))
}

/// `MASK_KEEP_RIGHT(s, n)`: keeps the last `n` characters and masks the rest.
pub(crate) fn mask_keep_right(s: &str, n: i64, masks: &MaskChars) -> Result<String, String> {
    check_count("mask_keep_right", n)?;
    Ok(mask_where(s, masks, |i, len| i < len - n))
}

/// ksqlDB rejects a negative count (before it even looks at the input string).
fn check_count(name: &str, n: i64) -> Result<(), String> {
    if n < 0 {
        Err(format!(
            "function {name} requires a non-negative number of characters to mask or skip"
        ))
    } else {
        Ok(())
    }
}

/// Masks the characters whose index `i` (of `len` characters) satisfies `masked(i, len)`.
fn mask_where(s: &str, masks: &MaskChars, masked: impl Fn(i64, i64) -> bool) -> String {
    let len = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
    let mut out = String::with_capacity(s.len());
    for (i, c) in (0_i64..).zip(s.chars()) {
        out.push(if masked(i, len) { masks.apply(c) } else { c });
    }
    out
}

/// Java's `Character.getType(c) == UPPERCASE_LETTER` (general category `Lu`).
pub(crate) fn is_java_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        // Rust's `Uppercase` property is `Lu` plus `Other_Uppercase` (a few symbols).
        c.is_uppercase() && !in_ranges(c, OTHER_UPPERCASE)
    }
}

/// Java's `Character.getType(c) == LOWERCASE_LETTER` (general category `Ll`).
pub(crate) fn is_java_lower(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_lowercase()
    } else {
        // Rust's `Lowercase` property is `Ll` plus `Other_Lowercase` (mostly modifier letters).
        c.is_lowercase() && !in_ranges(c, OTHER_LOWERCASE)
    }
}

/// The value of a decimal digit (general category `Nd`, Java's `Character.isDigit`), if `c`
/// is one.
pub(crate) fn decimal_digit_value(c: char) -> Option<u32> {
    if c.is_ascii() {
        return c.to_digit(10);
    }
    let cp = u32::from(c);
    let i = DIGIT_RUNS.partition_point(|&(_, end)| end < cp);
    match DIGIT_RUNS.get(i) {
        // Every run is one or more complete 0..9 sequences starting with zero.
        Some(&(start, _)) if start <= cp => Some((cp - start) % 10),
        _ => None,
    }
}

/// Whether `c` lies in one of the sorted, inclusive `ranges`.
fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let cp = u32::from(c);
    let i = ranges.partition_point(|&(_, end)| end < cp);
    matches!(ranges.get(i), Some(&(start, _)) if start <= cp)
}

/// `Other_Uppercase` code points: upper case for Rust, not `Lu` for Java.
const OTHER_UPPERCASE: &[(u32, u32)] = &[
    (0x2160, 0x216F),
    (0x24B6, 0x24CF),
    (0x1F130, 0x1F149),
    (0x1F150, 0x1F169),
    (0x1F170, 0x1F189),
];

/// `Other_Lowercase` code points: lower case for Rust, not `Ll` for Java.
const OTHER_LOWERCASE: &[(u32, u32)] = &[
    (0x00AA, 0x00AA),
    (0x00BA, 0x00BA),
    (0x02B0, 0x02B8),
    (0x02C0, 0x02C1),
    (0x02E0, 0x02E4),
    (0x0345, 0x0345),
    (0x037A, 0x037A),
    (0x10FC, 0x10FC),
    (0x1D2C, 0x1D6A),
    (0x1D78, 0x1D78),
    (0x1D9B, 0x1DBF),
    (0x2071, 0x2071),
    (0x207F, 0x207F),
    (0x2090, 0x209C),
    (0x2170, 0x217F),
    (0x24D0, 0x24E9),
    (0x2C7C, 0x2C7D),
    (0xA69C, 0xA69D),
    (0xA770, 0xA770),
    (0xA7F1, 0xA7F4),
    (0xA7F8, 0xA7F9),
    (0xAB5C, 0xAB5F),
    (0xAB69, 0xAB69),
    (0x10780, 0x10780),
    (0x10783, 0x10785),
    (0x10787, 0x107B0),
    (0x107B2, 0x107BA),
    (0x1E030, 0x1E06D),
];

/// Runs of decimal digits (`Nd`, Unicode 15), each starting at a digit zero.
const DIGIT_RUNS: &[(u32, u32)] = &[
    (0x0030, 0x0039),
    (0x0660, 0x0669),
    (0x06F0, 0x06F9),
    (0x07C0, 0x07C9),
    (0x0966, 0x096F),
    (0x09E6, 0x09EF),
    (0x0A66, 0x0A6F),
    (0x0AE6, 0x0AEF),
    (0x0B66, 0x0B6F),
    (0x0BE6, 0x0BEF),
    (0x0C66, 0x0C6F),
    (0x0CE6, 0x0CEF),
    (0x0D66, 0x0D6F),
    (0x0DE6, 0x0DEF),
    (0x0E50, 0x0E59),
    (0x0ED0, 0x0ED9),
    (0x0F20, 0x0F29),
    (0x1040, 0x1049),
    (0x1090, 0x1099),
    (0x17E0, 0x17E9),
    (0x1810, 0x1819),
    (0x1946, 0x194F),
    (0x19D0, 0x19D9),
    (0x1A80, 0x1A89),
    (0x1A90, 0x1A99),
    (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9),
    (0x1C40, 0x1C49),
    (0x1C50, 0x1C59),
    (0xA620, 0xA629),
    (0xA8D0, 0xA8D9),
    (0xA900, 0xA909),
    (0xA9D0, 0xA9D9),
    (0xA9F0, 0xA9F9),
    (0xAA50, 0xAA59),
    (0xABF0, 0xABF9),
    (0xFF10, 0xFF19),
    (0x104A0, 0x104A9),
    (0x10D30, 0x10D39),
    (0x11066, 0x1106F),
    (0x110F0, 0x110F9),
    (0x11136, 0x1113F),
    (0x111D0, 0x111D9),
    (0x112F0, 0x112F9),
    (0x11450, 0x11459),
    (0x114D0, 0x114D9),
    (0x11650, 0x11659),
    (0x116C0, 0x116C9),
    (0x11730, 0x11739),
    (0x118E0, 0x118E9),
    (0x11950, 0x11959),
    (0x11C50, 0x11C59),
    (0x11D50, 0x11D59),
    (0x11DA0, 0x11DA9),
    (0x11F50, 0x11F59),
    (0x16A60, 0x16A69),
    (0x16AC0, 0x16AC9),
    (0x16B50, 0x16B59),
    (0x1D7CE, 0x1D7FF),
    (0x1E140, 0x1E149),
    (0x1E2F0, 0x1E2F9),
    (0x1E4F0, 0x1E4F9),
    (0x1E950, 0x1E959),
    (0x1FBF0, 0x1FBF9),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(u: Option<char>, l: Option<char>, d: Option<char>, o: Option<char>) -> MaskChars {
        MaskChars {
            upper: u,
            lower: l,
            digit: d,
            other: o,
        }
    }

    #[test]
    fn mask_default_rules() {
        let m = MaskChars::default();
        assert_eq!(mask("AbCd#$123xy Z", &m), "XxXx--nnnxx-X");
        assert_eq!(mask("", &m), "");
        assert_eq!(mask("Ünïcödé ٣", &m), "Xxxxxxx-n");
    }

    #[test]
    fn mask_custom_and_unmasked_classes() {
        let m = custom(Some('Q'), Some('q'), Some('9'), Some('@'));
        assert_eq!(mask("AbCd#$123xy Z", &m), "QqQq@@999qq@Q");
        // NULL for a class keeps those characters.
        let m = custom(None, Some('q'), None, Some('@'));
        assert_eq!(mask("AbCd#$123xy Z", &m), "AqCq@@123qq@Z");
        let none = custom(None, None, None, None);
        assert_eq!(mask("AbC-1", &none), "AbC-1");
    }

    #[test]
    fn mask_args_validation() {
        let m = MaskChars::from_args(Some("Q"), None, Some("9"), Some("@")).unwrap();
        assert_eq!(m, custom(Some('Q'), None, Some('9'), Some('@')));
        assert!(MaskChars::from_args(Some("QQ"), None, None, None).is_err());
        assert!(MaskChars::from_args(None, Some(""), None, None).is_err());
        assert!(MaskChars::from_args(None, None, None, Some("😀")).is_err());
        assert_eq!(mask_char(Some("é")), Ok(Some('é')));
    }

    #[test]
    fn mask_left_right() {
        let m = MaskChars::default();
        assert_eq!(mask_left("AbCd#$123xy Z", 5, &m).unwrap(), "XxXx-$123xy Z");
        assert_eq!(mask_left("AbC", 10, &m).unwrap(), "XxX");
        assert_eq!(mask_left("AbC", 0, &m).unwrap(), "AbC");
        assert_eq!(mask_right("AbCd#$123xy Z", 5, &m).unwrap(), "AbCd#$12nxx-X");
        assert_eq!(mask_right("AbC", 10, &m).unwrap(), "XxX");
        assert_eq!(mask_right("", 3, &m).unwrap(), "");
        assert!(mask_left("abc", -1, &m).is_err());
        assert!(mask_right("abc", -1, &m).is_err());
    }

    #[test]
    fn mask_keep_left_right() {
        let m = MaskChars::default();
        assert_eq!(
            mask_keep_left("AbCd#$123xy Z", 5, &m).unwrap(),
            "AbCd#-nnnxx-X"
        );
        assert_eq!(mask_keep_left("AbC", 10, &m).unwrap(), "AbC");
        assert_eq!(mask_keep_left("AbC", 0, &m).unwrap(), "XxX");
        assert_eq!(
            mask_keep_right("AbCd#$123xy Z", 5, &m).unwrap(),
            "XxXx--nn3xy Z"
        );
        assert_eq!(mask_keep_right("AbC", 10, &m).unwrap(), "AbC");
        let e = mask_keep_right("abc", -2, &m).unwrap_err();
        assert!(e.contains("non-negative"), "{e}");
        assert!(mask_keep_left("abc", -2, &m).is_err());
        let m = custom(Some('Q'), None, Some('9'), None);
        assert_eq!(mask_keep_left("AbCd#$123", 2, &m).unwrap(), "AbQd#$999");
    }

    #[test]
    fn java_character_classes() {
        // Titlecase, modifier and symbol "letters" are neither upper nor lower in Java.
        for c in ['ǅ', 'ª', 'ʰ', 'Ⅻ', 'Ⓐ', 'ⓐ', '½', '²', '_'] {
            assert!(!is_java_upper(c) && !is_java_lower(c), "{c}");
        }
        assert!(is_java_upper('Ω') && is_java_lower('ω') && is_java_lower('ß'));
        assert_eq!(decimal_digit_value('٣'), Some(3));
        assert_eq!(decimal_digit_value('９'), Some(9));
        assert_eq!(decimal_digit_value('𝟘'), Some(0));
        assert_eq!(decimal_digit_value('𝟡'), Some(9));
        assert_eq!(decimal_digit_value('𝟬'), Some(0));
        for c in ['Ⅻ', '½', '²', 'a', '/', ':', '\u{A7F5}'] {
            assert_eq!(decimal_digit_value(c), None, "{c}");
        }
        let m = MaskChars::default();
        assert_eq!(mask("ǅⅫ²٣", &m), "---n");
    }
}
