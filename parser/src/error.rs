//! Parse errors with source positions, and rendering of a caret excerpt.

use std::fmt;

/// A 1-based line and column in the SQL text that was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: u64,
    /// 1-based column number (in characters).
    pub column: u64,
}

impl Position {
    /// A position from a line and a column (both 1-based).
    pub fn new(line: u64, column: u64) -> Self {
        Self { line, column }
    }

    /// The position of a sqlparser span's start, if the span is known.
    pub fn from_span(span: sqlparser::tokenizer::Span) -> Option<Self> {
        (span.start.line > 0).then(|| Self::new(span.start.line, span.start.column))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A syntax error: what was wrong, where, and possibly how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}", position.map(|p| format!("line {p}: ")).unwrap_or_default(), suggestion.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
pub struct ParseError {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where it is wrong, when known.
    pub position: Option<Position>,
    /// A hint for fixing it, when one exists.
    pub suggestion: Option<String>,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>, position: Option<Position>) -> Self {
        Self {
            message: message.into(),
            position,
            suggestion: None,
        }
    }

    pub(crate) fn or_position(mut self, position: Option<Position>) -> Self {
        if self.position.is_none() {
            self.position = position;
        }
        self
    }

    pub(crate) fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// Converts a sqlparser error, lifting its "at Line: l, Column: c" suffix into a position.
    pub(crate) fn from_sqlparser(err: sqlparser::parser::ParserError) -> Self {
        use sqlparser::parser::ParserError as E;
        let text = match err {
            E::TokenizerError(s) | E::ParserError(s) => s,
            E::RecursionLimitExceeded => {
                return Self::new("statement is nested too deeply", None);
            }
        };
        let (message, position) = split_location(&text);
        Self::new(tidy_message(message), position)
    }
}

/// Splits sqlparser's trailing " at Line: 3, Column: 7" off a message.
fn split_location(text: &str) -> (&str, Option<Position>) {
    let Some(idx) = text.rfind(" at Line: ") else {
        return (text, None);
    };
    let tail = &text[idx + " at Line: ".len()..];
    let mut parts = tail.split(", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse().ok());
    let column = parts.next().and_then(|c| c.trim().parse().ok());
    match (line, column) {
        (Some(line), Some(column)) => (&text[..idx], Some(Position::new(line, column))),
        _ => (text, None),
    }
}

fn tidy_message(message: &str) -> String {
    let m = message.trim();
    let m = m.strip_prefix("sql parser error: ").unwrap_or(m);
    m.replace("Expected: ", "expected ")
}

/// Renders `line L:C: message`, the offending source line, and a caret under the column.
///
/// ```
/// use weir_parser::{render_excerpt, Position};
/// let text = render_excerpt("SELECT * FORM s;", Some(Position::new(1, 10)), "expected FROM");
/// assert!(text.contains("SELECT * FORM s;"));
/// assert!(text.contains("         ^"));
/// ```
pub fn render_excerpt(source: &str, position: Option<Position>, message: &str) -> String {
    let Some(pos) = position else {
        return message.to_string();
    };
    let mut out = format!("line {pos}: {message}");
    if let Some(line) = source.lines().nth((pos.line.max(1) - 1) as usize) {
        let gutter = format!("{} | ", pos.line);
        let caret_offset: usize = line
            .chars()
            .take(pos.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        let shown = line.replace('\t', "    ");
        out.push('\n');
        out.push_str(&gutter);
        out.push_str(&shown);
        out.push('\n');
        out.push_str(&" ".repeat(gutter.len() + caret_offset));
        out.push('^');
    }
    out
}

/// Edit distance with adjacent transpositions (optimal string alignment), for "did you mean"
/// suggestions: `FORM` is one edit from `FROM`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `name` (case-insensitive), if it is close enough to be a likely typo.
///
/// ```
/// use weir_parser::closest_match;
/// assert_eq!(closest_match("FARE_AMONT", ["FARE_AMOUNT", "TIP_AMOUNT"]), Some("FARE_AMOUNT".to_string()));
/// assert_eq!(closest_match("XYZ", ["FARE_AMOUNT"]), None);
/// ```
pub fn closest_match<I, S>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let upper = name.to_uppercase();
    candidates
        .into_iter()
        .map(|c| {
            let c = c.as_ref().to_string();
            (edit_distance(&upper, &c.to_uppercase()), c)
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(upper.chars().count()) / 3).max(1))
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sqlparser_location() {
        let (m, p) = split_location("Expected: FROM, found: FORM at Line: 2, Column: 10");
        assert_eq!(m, "Expected: FROM, found: FORM");
        assert_eq!(p, Some(Position::new(2, 10)));
    }

    #[test]
    fn caret_points_at_column() {
        let text = render_excerpt("a\nSELECT x FORM s", Some(Position::new(2, 10)), "bad");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "line 2:10: bad");
        assert_eq!(lines[1], "2 | SELECT x FORM s");
        assert_eq!(lines[2], "             ^");
    }

    #[test]
    fn suggestions_need_to_be_close() {
        assert_eq!(
            closest_match("trips", ["TRIPS", "ZONES"]),
            Some("TRIPS".to_string())
        );
        assert_eq!(closest_match("TRPS", ["TRIPS"]), Some("TRIPS".to_string()));
        assert_eq!(closest_match("ORDERS", ["TRIPS"]), None);
        assert_eq!(
            closest_match("FORM", ["FROM", "FULL"]),
            Some("FROM".to_string())
        );
        assert_eq!(closest_match("GRUOP", ["GROUP"]), Some("GROUP".to_string()));
    }
}
