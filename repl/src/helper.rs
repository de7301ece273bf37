//! Line-editor help for the REPL: completion of keywords, stream and column names, functions
//! and WITH properties; keyword highlighting on a terminal.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// Words of the dialect offered for completion and highlighted.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "PARTITION",
    "EMIT",
    "CHANGES",
    "FINAL",
    "LIMIT",
    "CREATE",
    "OR",
    "REPLACE",
    "STREAM",
    "TABLE",
    "AS",
    "WITH",
    "INSERT",
    "INTO",
    "VALUES",
    "DROP",
    "IF",
    "EXISTS",
    "NOT",
    "SHOW",
    "STREAMS",
    "TABLES",
    "QUERIES",
    "PROPERTIES",
    "FUNCTIONS",
    "DESCRIBE",
    "EXTENDED",
    "FUNCTION",
    "EXPLAIN",
    "SET",
    "UNSET",
    "TERMINATE",
    "WINDOW",
    "TUMBLING",
    "HOPPING",
    "SESSION",
    "SIZE",
    "ADVANCE",
    "GRACE",
    "PERIOD",
    "JOIN",
    "LEFT",
    "INNER",
    "ON",
    "AND",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "KEY",
    "PRIMARY",
    "DISTINCT",
    "TRUE",
    "FALSE",
    "SECONDS",
    "MINUTES",
    "HOURS",
    "DAYS",
    "PATH",
    "VALUE_FORMAT",
    "PARTITIONS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "KAFKA_TOPIC",
    "HEADER",
    "VALUE_DELIMITER",
    "BOOLEAN",
    "INT",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "DECIMAL",
    "STRING",
    "VARCHAR",
    "DATE",
    "TIME",
    "BYTES",
    "ARRAY",
    "MAP",
    "STRUCT",
];

/// Names the session knows (streams, their columns, functions), refreshed after each statement.
#[derive(Default)]
pub struct Names {
    pub words: Vec<String>,
    /// Stream and table names (what follows FROM, JOIN, INTO, DESCRIBE).
    pub streams: Vec<String>,
}

/// More keywords (the list above is the common ones).
const MORE_KEYWORDS: &[&str] = &[
    "WITHIN",
    "FORMAT",
    "KEY_FORMAT",
    "WRAP_SINGLE_VALUE",
    "REPLICAS",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
    "TOPICS",
    "RETENTION",
    "TYPE",
    "TYPES",
    "SPLIT",
    "ASSIGNMENTS",
    "RIGHT",
    "FULL",
    "OUTER",
    "KEY",
    "PRIMARY",
    "ALTER",
    "ADD",
    "COLUMN",
    "RUN",
    "SCRIPT",
    "CAST",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "STRUCT",
    "ARRAY",
    "MAP",
];

/// Whether the word before the one being completed asks for a stream or table name.
fn wants_stream(before: &str) -> bool {
    let previous = before
        .trim_end()
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == ',')
        .next()
        .unwrap_or("")
        .to_uppercase();
    matches!(
        previous.as_str(),
        "FROM" | "JOIN" | "INTO" | "DESCRIBE" | "EXTENDED" | "STREAM" | "TABLE" | "EXPLAIN"
    )
}

pub struct WeirHelper {
    names: Arc<Mutex<Names>>,
    color: bool,
}

impl WeirHelper {
    pub fn new(names: Arc<Mutex<Names>>, color: bool) -> Self {
        Self { names, color }
    }
}

/// The candidates for the word `prefix` (case-insensitive), sorted and de-duplicated.
pub fn candidates(prefix: &str, names: &[String]) -> Vec<String> {
    let upper = prefix.to_uppercase();
    let mut out: Vec<String> = KEYWORDS
        .iter()
        .chain(MORE_KEYWORDS)
        .map(|k| k.to_string())
        .chain(names.iter().cloned())
        .filter(|w| w.to_uppercase().starts_with(&upper) && w.len() > prefix.len())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Completer for WeirHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let prefix = &before[start..];
        if prefix.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let (names, streams) = self
            .names
            .lock()
            .map(|n| (n.words.clone(), n.streams.clone()))
            .unwrap_or_default();
        let lower = prefix.chars().all(|c| !c.is_uppercase());
        let found = if wants_stream(&before[..start]) {
            let upper = prefix.to_uppercase();
            streams
                .into_iter()
                .filter(|s| s.to_uppercase().starts_with(&upper) && s.len() > prefix.len())
                .collect()
        } else {
            candidates(prefix, &names)
        };
        let pairs = found
            .into_iter()
            .map(|w| {
                // Follow the case the user types in.
                let replacement = if lower { w.to_lowercase() } else { w.clone() };
                Pair {
                    display: w,
                    replacement,
                }
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for WeirHelper {
    type Hint = String;
}

impl Validator for WeirHelper {}

impl Highlighter for WeirHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if !self.color {
            return Cow::Borrowed(line);
        }
        let mut out = String::with_capacity(line.len() + 16);
        let mut word = String::new();
        let mut in_string = false;
        let flush = |word: &mut String, out: &mut String| {
            if KEYWORDS.contains(&word.to_uppercase().as_str()) {
                out.push_str("\x1b[1;34m");
                out.push_str(word);
                out.push_str("\x1b[0m");
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in line.chars() {
            if in_string {
                out.push(c);
                if c == '\'' {
                    in_string = false;
                    out.push_str("\x1b[0m");
                }
            } else if c == '\'' {
                flush(&mut word, &mut out);
                out.push_str("\x1b[32m'");
                in_string = true;
            } else if c.is_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        if in_string {
            out.push_str("\x1b[0m");
        }
        Cow::Owned(out)
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Helper for WeirHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_keywords_and_session_names() {
        let names = vec![
            "TRIPS".to_string(),
            "TRIP_ID".to_string(),
            "UCASE".to_string(),
        ];
        assert_eq!(candidates("tri", &names), ["TRIPS", "TRIP_ID"]);
        assert_eq!(candidates("SEL", &names), ["SELECT"]);
        assert!(candidates("x", &names).is_empty());
        assert!(candidates("WITH", &names).contains(&"WITHIN".to_string()));
        assert!(wants_stream("SELECT * FROM "));
        assert!(wants_stream("select a from trips t join "));
        assert!(!wants_stream("SELECT * FROM trips WHERE "));
    }
}
