//! `weir test`: runs pipeline test cases — the ksqlDB conformance corpus format (statements,
//! input records per topic, expected output records or an expected error) — and reports
//! passes, failures (with a short diff) and skips (with the reason, counted by kind).
//!
//! Cases run in isolation (a fresh session each) in per-record mode (`batch.max.rows` = 1),
//! so every intermediate update is observable, as the corpus expects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{Map, Value};
use weir::{Config, Outcome, Session};

/// What happened to one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

/// Counts per category, skip reasons, and the failures.
#[derive(Debug, Default)]
pub struct Report {
    pub by_category: BTreeMap<String, [usize; 3]>,
    pub skip_reasons: BTreeMap<String, usize>,
    pub failures: Vec<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.by_category.values().map(|c| c[0]).sum()
    }
    pub fn failed(&self) -> usize {
        self.by_category.values().map(|c| c[1]).sum()
    }
    pub fn skipped(&self) -> usize {
        self.by_category.values().map(|c| c[2]).sum()
    }

    fn add(&mut self, id: &str, category: &str, verdict: Verdict) {
        let counts = self.by_category.entry(category.to_string()).or_default();
        match verdict {
            Verdict::Pass => counts[0] += 1,
            Verdict::Fail(why) => {
                counts[1] += 1;
                self.failures.push((id.to_string(), why));
            }
            Verdict::Skip(why) => {
                counts[2] += 1;
                *self.skip_reasons.entry(why).or_default() += 1;
            }
        }
    }

    /// Per-category table, skip reasons, and the closing `N passed, M failed, K skipped` line.
    /// `closing_line`: end with the `N passed, M failed, K skipped` line (`weir test`); the
    /// corpus test target words it differently so CI does not read corpus cases as its tests.
    pub fn print(&self, show_failures: bool, closing_line: bool) {
        if show_failures {
            for (id, why) in &self.failures {
                println!("FAIL {id}: {why}");
            }
        }
        println!(
            "\n{:<22} {:>7} {:>7} {:>8} {:>6}",
            "category", "passed", "failed", "skipped", "rate"
        );
        for (cat, [p, f, s]) in &self.by_category {
            let run = p + f;
            let rate = if run + s == 0 {
                0.0
            } else {
                100.0 * *p as f64 / (run + s) as f64
            };
            println!("{cat:<22} {p:>7} {f:>7} {s:>8} {rate:>5.1}%");
        }
        if !self.skip_reasons.is_empty() {
            println!("\nskipped, by reason:");
            for (why, n) in &self.skip_reasons {
                println!("  {n:>5}  {why}");
            }
        }
        if closing_line {
            println!(
                "\n{} passed, {} failed, {} skipped",
                self.passed(),
                self.failed(),
                self.skipped()
            );
        } else {
            println!(
                "\ncorpus: {} cases pass ({} not yet, {} skipped)",
                self.passed(),
                self.failed(),
                self.skipped()
            );
        }
    }
}

/// Runs every case of the given files (or of every `.json` file in the given folders).
/// `batch_rows`: records per micro-batch (1 = per-record mode, every update observable).
pub fn run(paths: &[PathBuf], filter: Option<&str>, batch_rows: usize) -> anyhow::Result<Report> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|e| e == "json" || e == "sql"))
                .collect();
            inner.sort();
            files.extend(inner);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("no such test file or folder: {}", p.display());
        }
    }
    let mut report = Report::default();
    let single = files.len() == 1;
    for file in files {
        let cases = match load(&file) {
            Ok(cases) => cases,
            // One unreadable file among several is a failure of its own; the rest still run.
            Err(e) if !single => {
                let id = file.display().to_string();
                report.add(&id, "unreadable", Verdict::Fail(format!("{e:#}")));
                continue;
            }
            Err(e) => return Err(e),
        };
        for case in cases {
            let id = case
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            if filter.is_some_and(|f| !id.to_lowercase().contains(&f.to_lowercase())) {
                continue;
            }
            let category = case
                .get("category")
                .and_then(Value::as_str)
                .unwrap_or("other")
                .to_string();
            let verdict = run_isolated(case, batch_rows);
            report.add(&id, &category, verdict);
        }
    }
    Ok(report)
}

fn load(file: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if file.extension().is_some_and(|e| e == "sql") {
        return Ok(vec![sql_case(file, &text)?]);
    }
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    match doc.get("cases").and_then(Value::as_array) {
        Some(cases) => Ok(cases.clone()),
        None => bail!("{} has no \"cases\" array", file.display()),
    }
}

/// Weir's own test format: a `.sql` file whose statements set up the pipeline, with records in
/// comments — `--@input STREAM {json}` feeds a record (all columns by name, keys included),
/// `--@expect STREAM {json}` is the next row expected on that stream (all its columns, and
/// `WINDOWSTART`/`WINDOWEND` for a windowed result),
/// `--@error substring` expects a statement to fail. `--@timestamp ms` before an input sets
/// its event time.
fn sql_case(file: &Path, text: &str) -> anyhow::Result<Value> {
    let mut statements = String::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut error = None;
    let mut timestamp = 0i64;
    for (n, line) in text.lines().enumerate() {
        let Some(directive) = line.trim().strip_prefix("--@") else {
            statements.push_str(line);
            statements.push('\n');
            continue;
        };
        let (word, rest) = directive
            .split_once(char::is_whitespace)
            .unwrap_or((directive, ""));
        let at = || format!("{}:{}", file.display(), n + 1);
        match word {
            "input" | "expect" => {
                let (stream, json) = rest
                    .trim()
                    .split_once(char::is_whitespace)
                    .with_context(|| format!("{}: --@{word} STREAM {{json}}", at()))?;
                let value: Value = serde_json::from_str(json.trim())
                    .with_context(|| format!("{}: not JSON", at()))?;
                let record = serde_json::json!({"topic": stream.to_uppercase(), "value": value, "timestamp": timestamp});
                if word == "input" {
                    inputs.push(record)
                } else {
                    outputs
                        .push(serde_json::json!({"topic": stream.to_uppercase(), "value": value}))
                }
            }
            "timestamp" => {
                timestamp = rest
                    .trim()
                    .parse()
                    .with_context(|| format!("{}: --@timestamp needs milliseconds", at()))?
            }
            "error" => error = Some(serde_json::json!({"message": rest.trim()})),
            other => bail!(
                "{}: unknown directive --@{other} (input, expect, timestamp, error)",
                at()
            ),
        }
    }
    let statements: Vec<Value> = weir::Session::new(weir::Config::default())
        .parse(&statements)
        .map(|stmts| {
            stmts
                .into_iter()
                .map(|s| Value::String(format!("{};", s.text)))
                .collect()
        })
        .unwrap_or_else(|_| vec![Value::String(statements.clone())]);
    let mut case = serde_json::json!({
        "id": file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        "category": "sql",
        "statements": statements,
        "inputs": inputs,
        "outputs": outputs,
        "flat": true,
    });
    if let Some(e) = error {
        case["expected_error"] = e;
    }
    Ok(case)
}

/// Runs a case on its own thread with a time limit, so one stuck case cannot stop the run.
fn run_isolated(case: Value, batch_rows: usize) -> Verdict {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let _ = tx.send(run_case(&case, batch_rows));
        });
    if spawned.is_err() {
        return Verdict::Fail("could not start the case's thread".into());
    }
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => Verdict::Fail("timed out after 20 s".into()),
        Err(mpsc::RecvTimeoutError::Disconnected) => Verdict::Fail("the case panicked".into()),
    }
}

/// Properties a case may set that do not change what Weir computes.
const HARMLESS_PROPERTIES: &[&str] = &[
    "ksql.new.query.planner.enabled",
    "ksql.streams.topology.optimization",
];

fn run_case(case: &Value, batch_rows: usize) -> Verdict {
    if let Some(props) = case.get("properties").and_then(Value::as_object) {
        if let Some(k) = props
            .keys()
            .find(|k| !HARMLESS_PROPERTIES.contains(&k.as_str()))
        {
            return Verdict::Skip(format!("property {k}"));
        }
    }
    if case.get("format_variant").and_then(Value::as_str) == Some("DELIMITED") {
        return Verdict::Skip("DELIMITED test records".into());
    }
    let expected_error = case.get("expected_error");
    let statements: Vec<&str> = case
        .get("statements")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let script = statements.join("\n");
    // Records are fed one at a time and settled (see `feed_inputs`); an idle query checks
    // for the next one every millisecond.
    let config = match Config::builder()
        .batch_max_rows(batch_rows)
        .batch_max_delay(std::time::Duration::from_millis(1))
        .workers(1)
        .build()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Fail(e.to_string()),
    };
    let mut session = Session::new(config);
    let failed = |e: weir::Error| -> Verdict {
        match expected_error {
            Some(err) => {
                let want = err.get("message").and_then(Value::as_str).unwrap_or("");
                let got = e.to_string();
                if got.to_lowercase().contains(&want.to_lowercase()) {
                    Verdict::Pass
                } else {
                    Verdict::Fail(format!("expected error containing {want:?}, got {got:?}"))
                }
            }
            None => Verdict::Fail(format!("statement failed: {e}")),
        }
    };
    let parsed = match session.parse(&script) {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    for stmt in &parsed {
        match session.execute_statement(stmt) {
            Ok(Outcome::Query(q)) => drop(q),
            Ok(_) => {}
            Err(e) => return failed(e),
        }
    }
    if let Err(v) = feed_inputs(&mut session, case, batch_rows == 1) {
        return v;
    }
    if let Err(e) = session.finish() {
        return failed(e);
    }
    if let Some(err) = expected_error {
        return Verdict::Fail(format!(
            "expected an error ({err}), but every statement succeeded"
        ));
    }
    compare_outputs(&mut session, case)
}

/// Writes the case's input records in order. In per-record mode each record is processed
/// (by every query, downstream ones included) before the next is written, as ksqlDB's test
/// driver pipes one record at a time: the order across topics is the input order.
fn feed_inputs(session: &mut Session, case: &Value, per_record: bool) -> Result<(), Verdict> {
    let inputs = case
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, record) in inputs.into_iter().enumerate() {
        if per_record && i > 0 {
            session.settle();
        }
        let topic = record
            .get("topic")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut targets: Vec<weir::StreamInfo> = Vec::new();
        for info in session
            .stream_names()
            .iter()
            .filter_map(|n| session.stream_info(n))
            .filter(|i| i.topic == topic)
        {
            // Streams over one topic that share their records get it once.
            if !targets
                .iter()
                .any(|t| session.shares_records(&t.name, &info.name))
            {
                targets.push(info);
            }
        }
        if targets.is_empty() {
            return Err(Verdict::Fail(format!("no stream reads topic {topic}")));
        }
        let value = record.get("value").cloned().unwrap_or(Value::Null);
        let timestamp = record.get("timestamp").and_then(Value::as_i64).unwrap_or(0);
        for info in &targets {
            let record = &json_key(&record, info);
            if value.is_null() {
                let key = record.get("key").cloned().unwrap_or(Value::Null);
                let mut fields = Map::new();
                match (info.key_columns.as_slice(), &key) {
                    ([], _) if !info.is_table => {}
                    ([k], _) => {
                        fields.insert(info.schema.field(*k).name().clone(), key.clone());
                    }
                    (keys, Value::Object(obj)) => {
                        for k in keys {
                            let name = info.schema.field(*k).name();
                            let v = obj
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                                .map(|(_, v)| v.clone());
                            fields.insert(name.clone(), v.unwrap_or(Value::Null));
                        }
                    }
                    _ => return Err(Verdict::Skip("tombstones for keyless tables".into())),
                }
                // A windowed source's null-value record still has its window.
                if let Some(w) = record
                    .get("window")
                    .filter(|_| info.schema.index_of("WINDOWSTART").is_ok())
                {
                    for (bound, name) in [("start", "WINDOWSTART"), ("end", "WINDOWEND")] {
                        fields.insert(name.into(), w.get(bound).cloned().unwrap_or(Value::Null));
                    }
                }
                let text = Value::Object(fields).to_string();
                if let Err(e) = session.delete_json(&info.name, &text, Some(timestamp)) {
                    return Err(Verdict::Fail(format!("could not delete {text}: {e}")));
                }
                continue;
            }
            // A windowed source's records carry their window as two more columns.
            let window = record
                .get("window")
                .filter(|_| info.schema.index_of("WINDOWSTART").is_ok())
                .map(|w| {
                    (
                        w.get("start").cloned().unwrap_or(Value::Null),
                        w.get("end").cloned().unwrap_or(Value::Null),
                    )
                });
            if let (Some(d), Value::String(text), Some((start, end))) =
                (info.delimiter, &value, &window)
            {
                let d = d as char;
                let text = format!("{text}{d}{start}{d}{end}");
                let key = record
                    .get("key")
                    .filter(|k| !k.is_null())
                    .map(Value::to_string);
                if let Err(e) =
                    session.insert_delimited(&info.name, key.as_deref(), &text, Some(timestamp))
                {
                    unreadable(case, &e)?;
                }
                continue;
            }
            if let (Some(_), Value::String(text)) = (info.delimiter, &value) {
                let key = record
                    .get("key")
                    .filter(|k| !k.is_null())
                    .map(Value::to_string);
                if let Err(e) =
                    session.insert_delimited(&info.name, key.as_deref(), text, Some(timestamp))
                {
                    unreadable(case, &e)?;
                }
                continue;
            }
            let mut fields = match &value {
                Value::Object(fields) if !info.unwrapped => fields.clone(),
                // An unwrapped single value (WRAP_SINGLE_VALUE=false) fills the one value column.
                single => {
                    let values: Vec<usize> = (0..info.schema.fields().len())
                        .filter(|i| !info.key_columns.contains(i))
                        .collect();
                    let [only] = values.as_slice() else {
                        return Err(Verdict::Fail(format!(
                            "an unwrapped value for {} needs exactly one value column",
                            info.name
                        )));
                    };
                    let mut m = Map::new();
                    m.insert(info.schema.field(*only).name().clone(), single.clone());
                    m
                }
            };
            if let Some((start, end)) = window {
                fields.insert("WINDOWSTART".into(), start);
                fields.insert("WINDOWEND".into(), end);
            }
            let key = record.get("key").cloned().unwrap_or(Value::Null);
            match info.key_columns.as_slice() {
                // Records of Weir's own format carry key columns in the value.
                _ if record.get("key").is_none() => {}
                [] => {}
                [k] => {
                    fields.insert(info.schema.field(*k).name().clone(), key.clone());
                }
                keys => match &key {
                    Value::Object(obj) => {
                        for k in keys {
                            let name = info.schema.field(*k).name();
                            let v = obj
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                                .map(|(_, v)| v.clone());
                            fields.insert(name.clone(), v.unwrap_or(Value::Null));
                        }
                    }
                    _ => {
                        return Err(Verdict::Skip(
                            "multi-column keys in a non-JSON key format".into(),
                        ))
                    }
                },
            }
            let text = Value::Object(fields.clone()).to_string();
            if let Err(e) = session.insert_json(&info.name, &text, Some(timestamp)) {
                unreadable(case, &e)?;
            }
        }
    }
    Ok(())
}

/// A record whose key is DELIMITED text (`"22"`, `"a,1"`, with CSV quoting) with that key as
/// JSON: a scalar for one key column, an object of the key columns for several.
fn json_key(record: &Value, info: &weir::StreamInfo) -> Value {
    let Some(Value::String(text)) = record.get("key") else {
        return record.clone();
    };
    if info.key_format != "DELIMITED" || info.key_columns.is_empty() {
        return record.clone();
    }
    let fields = csv_fields(text);
    let scalar = |f: &str| -> Value {
        if f.is_empty() {
            return Value::Null;
        }
        match serde_json::from_str::<Value>(f) {
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
            _ => Value::String(f.to_string()),
        }
    };
    let key = match info.key_columns.as_slice() {
        [_] => scalar(fields.first().map(String::as_str).unwrap_or_default()),
        keys => Value::Object(
            keys.iter()
                .zip(&fields)
                .map(|(&k, f)| (info.schema.field(k).name().clone(), scalar(f)))
                .collect(),
        ),
    };
    let mut out = record.clone();
    if let Value::Object(o) = &mut out {
        o.insert("key".into(), key);
    }
    out
}

/// The fields of one CSV line (`,` separated, `"` quoted with `""` escapes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(f) = fields.last_mut() {
                    f.push('"');
                }
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// A record its stream cannot read (a value of the wrong type, bad base64) is skipped, as
/// ksqlDB's test driver skips a record that does not deserialize (and as a file source routes
/// it as a bad record). A case that expects an error may expect this one.
fn unreadable(case: &Value, e: &weir::Error) -> Result<(), Verdict> {
    let Some(want) = case
        .get("expected_error")
        .and_then(|err| err.get("message"))
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    if e.to_string().to_lowercase().contains(&want.to_lowercase()) {
        Err(Verdict::Pass)
    } else {
        Ok(())
    }
}

fn compare_outputs(session: &mut Session, case: &Value) -> Verdict {
    let expected = case
        .get("outputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut topics: Vec<String> = Vec::new();
    for r in &expected {
        let t = r
            .get("topic")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !topics.contains(&t) {
            topics.push(t);
        }
    }
    for topic in topics {
        let want: Vec<&Value> = expected
            .iter()
            .filter(|r| r.get("topic").and_then(Value::as_str) == Some(topic.as_str()))
            .collect();
        let Some(info) = session
            .stream_names()
            .iter()
            .filter_map(|n| session.stream_info(n))
            .find(|i| i.topic == topic)
        else {
            return Verdict::Fail(format!("no stream writes topic {topic}"));
        };
        let got = match read_records(session, &info) {
            Ok(g) => g,
            Err(e) => return Verdict::Fail(format!("reading {}: {e}", info.name)),
        };
        if got.len() != want.len() {
            return Verdict::Fail(format!(
                "{topic}: expected {} records, got {}: first got {}",
                want.len(),
                got.len(),
                got.first().map(Value::to_string).unwrap_or_default()
            ));
        }
        let flat = case.get("flat").and_then(Value::as_bool).unwrap_or(false);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let diff = if flat {
                flat_diff(g, w, &info)
            } else {
                record_diff(g, w)
            };
            if let Some(diff) = diff {
                return Verdict::Fail(format!("{topic} record {i}: {diff}"));
            }
        }
    }
    Verdict::Pass
}

/// One DELIMITED field as ksqlDB's writer (Apache Commons CSV, minimal quoting) writes it:
/// quoted when it holds the delimiter, a quote or a line break, when a record's first field
/// starts with anything but a letter or digit, when any field starts with a character up to
/// `#`, or when it ends in whitespace.
fn csv_field(text: &str, first: bool, delimiter: char) -> String {
    let starts = text.chars().next();
    let quote = text.contains(delimiter)
        || text.contains(['"', '\n', '\r'])
        || (first && starts.is_some_and(|c| !c.is_ascii_alphanumeric()))
        || starts.is_some_and(|c| c <= '#')
        || text.ends_with(|c: char| c <= ' ');
    if quote {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A sink's records as `{key, value, timestamp, window}` objects, in order.
fn read_records(session: &mut Session, info: &weir::StreamInfo) -> anyhow::Result<Vec<Value>> {
    let sql = format!(
        "SELECT *, ROWTIME, ROWDELETED FROM `{}` EMIT CHANGES;",
        info.name
    );
    let query = session.query(&sql)?;
    let mut out = Vec::new();
    for batch in query {
        let batch = batch?;
        let mut buf = Vec::new();
        {
            let mut w =
                weir::json_writer().build::<_, weir::arrow::json::writer::LineDelimited>(&mut buf);
            w.write(&weir::to_wire_format(&batch)?)?;
            w.finish()?;
        }
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Value::Object(mut row) = serde_json::from_slice::<Value>(line)? else {
                bail!("a row did not serialise as an object");
            };
            let timestamp = row.remove("ROWTIME").unwrap_or(Value::Null);
            let deleted = row.remove("ROWDELETED") == Some(Value::Bool(true));
            let start = row.remove("WINDOWSTART");
            let end = row.remove("WINDOWEND");
            let key_names: Vec<String> = info
                .key_columns
                .iter()
                .map(|&k| info.schema.field(k).name().clone())
                .collect();
            let mut key_fields = Map::new();
            for k in &key_names {
                if let Some(v) = row.remove(k) {
                    key_fields.insert(k.clone(), v);
                }
            }
            let key = match key_fields.len() {
                _ if info.key_format == "NONE" => Value::Null,
                // A DELIMITED key is its text: the key columns, comma-separated.
                1 if info.key_format == "DELIMITED" && key_fields.values().all(Value::is_null) => {
                    Value::Null
                }
                n if n > 0 && info.key_format == "DELIMITED" => Value::String(
                    key_fields
                        .values()
                        .enumerate()
                        .map(|(i, v)| match v {
                            Value::Null => String::new(),
                            Value::String(s) => csv_field(s, i == 0, ','),
                            other => csv_field(&other.to_string(), i == 0, ','),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                0 => Value::Null,
                1 => key_fields
                    .into_iter()
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null),
                _ => Value::Object(key_fields),
            };
            let value = match info.delimiter {
                // A tombstone: the key is deleted.
                _ if deleted => Value::Null,
                // DELIMITED values compare as the text ksqlDB would write: the value columns in
                // declared order.
                Some(d) => {
                    let fields: Vec<String> = info
                        .schema
                        .fields()
                        .iter()
                        .filter_map(|f| row.get(f.name()))
                        .enumerate()
                        .map(|(i, v)| match v {
                            Value::Null => String::new(),
                            Value::String(s) => csv_field(s, i == 0, d as char),
                            other => csv_field(&other.to_string(), i == 0, d as char),
                        })
                        .collect();
                    Value::String(fields.join(&(d as char).to_string()))
                }
                // WRAP_SINGLE_VALUE=false: the one value column, bare.
                None if info.unwrapped && row.len() == 1 => row
                    .into_iter()
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null),
                None => Value::Object(row),
            };
            let mut record = Map::new();
            record.insert("key".into(), key);
            record.insert("value".into(), value);
            record.insert("timestamp".into(), timestamp);
            if let (Some(s), Some(e)) = (start, end) {
                record.insert("window".into(), serde_json::json!({"start": s, "end": e}));
            }
            out.push(Value::Object(record));
        }
    }
    Ok(out)
}

/// Weir's own format compares whole rows: key columns and values together.
fn flat_diff(got: &Value, want: &Value, info: &weir::StreamInfo) -> Option<String> {
    let mut row = got
        .get("value")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    match got.get("key") {
        Some(Value::Object(keys)) => row.extend(keys.clone()),
        Some(Value::Null) | None => {}
        Some(k) => {
            if let Some(&col) = info.key_columns.first() {
                row.insert(info.schema.field(col).name().clone(), k.clone());
            }
        }
    }
    // (In the stream's column order, as the query selects them.)
    let mut ordered = Map::new();
    for f in info.schema.fields() {
        if let Some(v) = row.remove(f.name()) {
            ordered.insert(f.name().clone(), v);
        }
    }
    ordered.extend(row);
    let mut row = ordered;
    let want = want.get("value").unwrap_or(&Value::Null);
    // A windowed row's bounds, when the expectation names them.
    if let (Some(window), Some(w)) = (got.get("window"), want.as_object()) {
        for (part, name) in [("start", "WINDOWSTART"), ("end", "WINDOWEND")] {
            if w.contains_key(name) {
                row.insert(
                    name.into(),
                    window.get(part).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    let row = Value::Object(row);
    (!values_match(&row, want)).then(|| format!("expected {want}, got {row}"))
}

/// Why `got` does not match `want` (tolerant numeric comparison), or `None`.
fn record_diff(got: &Value, want: &Value) -> Option<String> {
    let g_key = got.get("key").unwrap_or(&Value::Null);
    let w_key = want.get("key").unwrap_or(&Value::Null);
    if !values_match(g_key, w_key) {
        return Some(format!("key: expected {w_key}, got {g_key}"));
    }
    let g_val = got.get("value").unwrap_or(&Value::Null);
    let w_val = want.get("value").unwrap_or(&Value::Null);
    // An unwrapped single value is compared with the one value column.
    let single;
    let g_val = match (g_val, w_val) {
        (Value::Object(g), w) if !w.is_object() && !w.is_null() && g.len() == 1 => {
            single = g.values().next().cloned().unwrap_or(Value::Null);
            &single
        }
        _ => g_val,
    };
    match (g_val, w_val) {
        (Value::Object(g), Value::Object(w)) => {
            if g.len() != w.len() {
                return Some(format!("value: expected {w_val}, got {g_val}"));
            }
            for (name, wv) in w {
                let gv = g.get(name).or_else(|| g.get(&name.to_uppercase()));
                match gv {
                    Some(gv) if values_match(gv, wv) => {}
                    _ => return Some(format!("value: expected {w_val}, got {g_val}")),
                }
            }
        }
        _ if !values_match(g_val, w_val) => {
            return Some(format!("value: expected {w_val}, got {g_val}"))
        }
        _ => {}
    }
    if let Some(wt) = want.get("timestamp") {
        let gt = got.get("timestamp").unwrap_or(&Value::Null);
        if !values_match(gt, wt) {
            return Some(format!("timestamp: expected {wt}, got {gt}"));
        }
    }
    if let Some(ww) = want.get("window") {
        let Some(gw) = got.get("window") else {
            return Some("window: expected window bounds, the output has none".into());
        };
        for part in ["start", "end"] {
            if !values_match(
                gw.get(part).unwrap_or(&Value::Null),
                ww.get(part).unwrap_or(&Value::Null),
            ) {
                return Some(format!("window: expected {ww}, got {gw}"));
            }
        }
    }
    None
}

fn values_match(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => match (g.as_f64(), w.as_f64()) {
            (Some(g), Some(w)) => (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            _ => g == w,
        },
        // DELIMITED keys are text.
        (Value::Number(g), Value::String(w)) => w
            .parse::<f64>()
            .ok()
            .zip(g.as_f64())
            .is_some_and(|(w, g)| w == g),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| values_match(a, b))
        }
        (Value::Object(g), Value::Object(w)) => {
            g.len() == w.len()
                && w.iter().all(|(k, wv)| {
                    g.get(k)
                        .or_else(|| g.get(&k.to_uppercase()))
                        .or_else(|| {
                            g.iter()
                                .find(|(gk, _)| gk.eq_ignore_ascii_case(k))
                                .map(|(_, v)| v)
                        })
                        .is_some_and(|gv| values_match(gv, wv))
                })
        }
        _ => got == want,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn csv_fields_unquote() {
        assert_eq!(csv_fields("a,1"), ["a", "1"]);
        assert_eq!(csv_fields("\"22\""), ["22"]);
        assert_eq!(csv_fields("\"x,\"\"y\",z"), ["x,\"y", "z"]);
        assert_eq!(csv_fields(""), [""]);
    }

    use super::*;

    /// Runs the public ksqlDB corpus (`../shared/conformance/ksql` beside the repository) and
    /// prints the pass rate per category. It fails only if the runner breaks or the pass count
    /// drops below the floor, which is raised as features land.
    #[test]
    fn conformance_corpus_pass_count_stays_above_floor() {
        const FLOOR: usize = 915;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/ksql");
        if !dir.is_dir() {
            // The corpus is a test asset beside the repository, not part of it.
            println!("conformance corpus not found at {}; not run", dir.display());
            return;
        }
        let report = run(&[dir], None, 1).expect("the runner reads the corpus");
        report.print(false, false);
        assert!(
            report.passed() >= FLOOR,
            "pass count {} fell below the floor {FLOOR}",
            report.passed()
        );
    }

    /// The example pipeline tests in `tests/pipelines` all pass.
    #[test]
    fn example_pipeline_tests_pass() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/pipelines");
        let report = run(&[dir], None, 1).expect("the runner reads the examples");
        assert_eq!(report.failures, Vec::<(String, String)>::new());
        assert_eq!((report.passed(), report.skipped()), (5, 0));
    }

    #[test]
    fn numbers_compare_with_tolerance_and_names_case_insensitively() {
        let got = serde_json::json!({"key": 1, "value": {"NAME": "a", "V": 0.30000000000000004}});
        let want = serde_json::json!({"key": 1, "value": {"name": "a", "V": 0.3}});
        assert_eq!(record_diff(&got, &want), None);
        let want = serde_json::json!({"key": 2, "value": {"name": "a", "V": 0.3}});
        assert!(record_diff(&got, &want).is_some());
    }
}
