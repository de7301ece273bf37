//! String functions with ksqlDB's semantics: regular expressions (Java-style, all matches
//! replaced), hashing for pseudonymisation.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion_common::{plan_err, Result, ScalarValue};
use datafusion_expr::ScalarUDF;
use regex::Regex;

use super::{function, literal_str, Args, Col, Ret, P};

/// `ARRAY<STRING>`.
pub(crate) fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// Compiled regular expressions of a pattern argument (once per distinct pattern).
struct Regexes<'a> {
    col: Col<&'a StringArray>,
    cache: HashMap<&'a str, Option<Regex>>,
}

impl<'a> Regexes<'a> {
    fn new(col: Col<&'a StringArray>) -> Self {
        Self {
            col,
            cache: HashMap::new(),
        }
    }

    fn at(&mut self, row: usize) -> Option<&Regex> {
        let p = self.col.get(row)?;
        self.cache
            .entry(p)
            .or_insert_with(|| Regex::new(p).ok())
            .as_ref()
    }
}

fn check_regex_at(args: &[Option<&ScalarValue>], i: usize) -> Result<()> {
    if let Some(p) = literal_str(args, i) {
        if let Err(e) = Regex::new(p) {
            return plan_err!("invalid regular expression '{p}': {e}");
        }
    }
    Ok(())
}

fn check_regex_0(args: &[Option<&ScalarValue>]) -> Result<()> {
    check_regex_at(args, 0)
}

fn check_regex_1(args: &[Option<&ScalarValue>]) -> Result<()> {
    check_regex_at(args, 1)
}

/// The capture group to extract (argument 2, default 0) for `row`.
fn group_at(args: &Args, row: usize) -> Result<Option<usize>> {
    if args.len() < 3 {
        return Ok(Some(0));
    }
    Ok(args.int(2)?.get(row).and_then(|g| usize::try_from(g).ok()))
}

fn regexp_extract(args: &Args) -> Result<ArrayRef> {
    let mut re = Regexes::new(args.str(0)?);
    let text = args.str(1)?;
    let mut out = StringBuilder::new();
    for r in 0..args.rows {
        let group = group_at(args, r)?;
        let value = match (re.at(r), text.get(r), group) {
            (Some(re), Some(t), Some(g)) => {
                re.captures(t).and_then(|c| c.get(g)).map(|m| m.as_str())
            }
            _ => None,
        };
        out.append_option(value);
    }
    Ok(Arc::new(out.finish()))
}

fn regexp_extract_all(args: &Args) -> Result<ArrayRef> {
    let mut re = Regexes::new(args.str(0)?);
    let text = args.str(1)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for r in 0..args.rows {
        let group = group_at(args, r)?;
        match (re.at(r), text.get(r), group) {
            (Some(re), Some(t), Some(g)) => {
                for c in re.captures_iter(t) {
                    out.values().append_option(c.get(g).map(|m| m.as_str()));
                }
                out.append(true);
            }
            _ => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Java's `$1` group references work as they are; a Java `\$` (a literal dollar) becomes
/// the regex crate's `$$`.
fn java_replacement(r: &str) -> String {
    r.replace("\\$", "$$")
}

fn regexp_replace(args: &Args) -> Result<ArrayRef> {
    let text = args.str(0)?;
    let mut re = Regexes::new(args.str(1)?);
    let replacement = args.str(2)?;
    let out: StringArray = (0..args.rows)
        .map(|r| {
            let (t, rep) = (text.get(r)?, replacement.get(r)?);
            let re = re.at(r)?;
            Some(
                re.replace_all(t, java_replacement(rep).as_str())
                    .into_owned(),
            )
        })
        .collect();
    Ok(Arc::new(out))
}

fn regexp_split_to_array(args: &Args) -> Result<ArrayRef> {
    let text = args.str(0)?;
    let mut re = Regexes::new(args.str(1)?);
    let mut out = ListBuilder::new(StringBuilder::new());
    for r in 0..args.rows {
        match (text.get(r), re.at(r)) {
            (Some(t), Some(re)) => {
                for part in re.split(t) {
                    out.values().append_value(part);
                }
                out.append(true);
            }
            _ => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The string functions.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    vec![
        function(
            "regexp_extract",
            "The first substring matching a (Java-style) regular expression, or the given \
             capture group of it; NULL when nothing matches.",
            Ret::Fixed(DataType::Utf8),
            regexp_extract,
        )
        .overload(&[Str, Str])
        .overload(&[Str, Str, Int])
        .check(check_regex_0)
        .syntax("REGEXP_EXTRACT(pattern, string [, group])")
        .build(),
        function(
            "regexp_extract_all",
            "Every substring matching a regular expression (or the given capture group).",
            Ret::Fixed(string_list()),
            regexp_extract_all,
        )
        .overload(&[Str, Str])
        .overload(&[Str, Str, Int])
        .check(check_regex_0)
        .syntax("REGEXP_EXTRACT_ALL(pattern, string [, group])")
        .build(),
        function(
            "regexp_replace",
            "Replaces every match of a regular expression; `$1` in the replacement is group 1.",
            Ret::Fixed(DataType::Utf8),
            regexp_replace,
        )
        .overload(&[Str, Str, Str])
        .check(check_regex_1)
        .syntax("REGEXP_REPLACE(string, pattern, replacement)")
        .build(),
        function(
            "regexp_split_to_array",
            "Splits a string at every match of a regular expression.",
            Ret::Fixed(string_list()),
            regexp_split_to_array,
        )
        .overload(&[Str, Str])
        .check(check_regex_1)
        .syntax("REGEXP_SPLIT_TO_ARRAY(string, pattern)")
        .build(),
    ]
}
