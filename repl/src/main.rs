//! `weir`: run SQL scripts, one-off statements, or an interactive REPL.

mod conformance;
mod helper;
mod interrupt;
mod output;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context as _;
use rustyline::error::ReadlineError;
use weir::{Config, Outcome, Session};

use output::{Format, Printer};

const USAGE: &str = "\
usage:
  weir run <script.sql> [--format table|json|csv]   run a script's statements in order
  weir -e \"<SQL>\" [--format table|json|csv]         run statements given on the command line
  weir test <file-or-dir>... [--filter TEXT] [--batch-rows N]
                                                    run pipeline tests (ksqlDB format or .sql)
  weir [--format ...]                               open the interactive REPL
                                                    (SQL piped on stdin is run as a script)
exit codes: 0 ok, 1 query error, 2 usage error";

enum Mode {
    Test(Vec<String>, Option<String>, usize),
    Script(String),
    Inline(String),
    Repl,
}

fn parse_args(args: &[String]) -> Result<(Mode, Format), String> {
    let mut mode = None;
    let mut format = Format::Table;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "run" if mode.is_none() => {
                let path = args.get(i + 1).ok_or("`weir run` needs a script path")?;
                if path == "-h" || path == "--help" {
                    return Err(String::new());
                }
                mode = Some(Mode::Script(path.clone()));
                i += 2;
            }
            "test" if mode.is_none() => {
                let mut files = Vec::new();
                let mut filter = None;
                let mut batch_rows = 1;
                i += 1;
                while i < args.len() {
                    match args[i].as_str() {
                        "--filter" => {
                            filter = Some(args.get(i + 1).ok_or("--filter needs text")?.clone());
                            i += 2;
                        }
                        "--batch-rows" => {
                            batch_rows = args
                                .get(i + 1)
                                .and_then(|n| n.parse().ok())
                                .filter(|&n: &usize| n > 0)
                                .ok_or("--batch-rows needs a positive number")?;
                            i += 2;
                        }
                        "-h" | "--help" => return Err(String::new()),
                        f => {
                            files.push(f.to_string());
                            i += 1;
                        }
                    }
                }
                if files.is_empty() {
                    return Err("`weir test` needs test files or folders".into());
                }
                mode = Some(Mode::Test(files, filter, batch_rows));
            }
            "-e" | "--execute" if mode.is_none() => {
                let sql = args.get(i + 1).ok_or("-e needs SQL text")?;
                mode = Some(Mode::Inline(sql.clone()));
                i += 2;
            }
            "--format" | "-f" => {
                let f = args.get(i + 1).ok_or("--format needs table, json or csv")?;
                format = Format::parse(f)
                    .ok_or_else(|| format!("unknown format '{f}': use table, json or csv"))?;
                i += 2;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unexpected argument '{other}'")),
        }
    }
    Ok((mode.unwrap_or(Mode::Repl), format))
}

fn main() -> ExitCode {
    // Planning recurses over the SQL; a big stack lets long expression chains plan instead of
    // overflowing (the space is reserved, not committed).
    match std::thread::Builder::new()
        .name("weir-main".into())
        .stack_size(512 << 20)
        .spawn(real_main)
        .map(|t| t.join())
    {
        Ok(Ok(code)) => code,
        _ => ExitCode::from(1),
    }
}

fn real_main() -> ExitCode {
    interrupt::install();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, format) = match parse_args(&args) {
        Ok(v) => v,
        Err(msg) => {
            if msg.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match mode {
        Mode::Test(files, filter, batch_rows) => {
            let paths: Vec<std::path::PathBuf> =
                files.iter().map(std::path::PathBuf::from).collect();
            return match conformance::run(&paths, filter.as_deref(), batch_rows) {
                Ok(report) => {
                    report.print(true, true);
                    if report.failed() == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Mode::Script(path) => match std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read script '{path}'"))
        {
            Ok(sql) => run_script(&sql, format),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
        Mode::Inline(sql) => run_script(&sql, format),
        Mode::Repl => {
            if std::io::stdin().is_terminal() {
                // Ctrl-C in the REPL cancels a query, never the session: leaving it with
                // Ctrl-D or \\q is a normal exit.
                return match repl(format) {
                    Ok(_) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        ExitCode::from(1)
                    }
                };
            } else {
                let mut sql = String::new();
                if let Err(e) = std::io::stdin().read_to_string(&mut sql) {
                    eprintln!("error: cannot read standard input: {e}");
                    return ExitCode::from(2);
                }
                run_script(&sql, format)
            }
        }
    };
    match result {
        _ if interrupt::was_interrupted() => ExitCode::from(130),
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn new_session() -> Session {
    let mut session = Session::new(Config::default());
    // The first few bad records of each stream are shown; the run summary counts them all.
    const SHOWN: usize = 10;
    let seen: std::sync::Mutex<std::collections::HashMap<String, usize>> = Default::default();
    session.on_bad_record(move |bad| {
        let count = match seen.lock() {
            Ok(mut seen) => {
                let n = seen.entry(bad.stream.clone()).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => 1,
        };
        if count <= SHOWN {
            eprintln!(
                "warning: bad record in {} at {}: {}",
                bad.stream, bad.location, bad.reason
            );
        }
        if count == SHOWN {
            eprintln!(
                "warning: further bad records in {} are not shown (the run summary counts them)",
                bad.stream
            );
        }
    });
    session
}

/// Runs statements in order, stopping at the first error. Returns false when one failed.
/// A script with each `RUN SCRIPT 'file';` line replaced by that file's statements (nested up
/// to a few levels).
fn expand_run_scripts(sql: &str, depth: usize) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    for line in sql.lines() {
        // `RUN SCRIPT 'f';` at the start of a line (more statements may follow it).
        let (head, rest) = match line.split_once(';') {
            Some((head, rest)) => (head, rest),
            None => (line, ""),
        };
        match run_script_path(head).filter(|_| line.contains(';')) {
            Some(path) if depth < 8 => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read script '{path}': {e}"))?;
                out.push_str(&expand_run_scripts(&text, depth + 1)?);
                out.push_str(rest);
            }
            Some(path) => return Err(format!("RUN SCRIPT '{path}' nests too deeply")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

fn run_script(sql: &str, format: Format) -> anyhow::Result<bool> {
    let mut session = new_session();
    let mut printer = Printer::new(format);
    let sql = &match expand_run_scripts(sql, 0) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(false);
        }
    };
    let statements = match session.parse(sql) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", e.render(sql));
            return Ok(false);
        }
    };
    for stmt in &statements {
        // In a script nothing can insert while a push query runs: it ends with its input.
        if Session::is_push_query(stmt) {
            session.end_external_input();
        }
        if let Err(e) = run_statement(&mut session, stmt, &mut printer) {
            eprintln!("error: {}", e.render(sql));
            return Ok(false);
        }
        if interrupt::was_interrupted() {
            eprintln!("interrupted");
            return Ok(false);
        }
    }
    if let Err(e) = session.finish() {
        eprintln!("error: {e}");
        return Ok(false);
    }
    Ok(true)
}

fn run_statement(
    session: &mut Session,
    stmt: &weir::Statement,
    printer: &mut Printer,
) -> weir::Result<()> {
    match session.execute_statement(stmt)? {
        Outcome::Done(msg) => printer.info(&msg),
        Outcome::Text(text) => printer.text(&text),
        Outcome::Table(batch) => {
            printer.set_changelog(None, None);
            printer.table(&batch)?
        }
        Outcome::Query(mut query) => {
            // Ctrl-C cancels the running query (the REPL stays; a script stops after it).
            let _watch = interrupt::watch(query.cancel_handle());
            let status = std::io::stderr().is_terminal().then(|| {
                output::status_line(
                    query.cancel_handle(),
                    std::sync::Arc::clone(&printer.status_shown),
                )
            });
            let schema = query.schema();
            printer.set_changelog(query.changelog_keys(), query.deleted_column());
            printer.start(&schema);
            let mut result = Ok(());
            for batch in query.by_ref() {
                match batch {
                    Ok(b) => printer.rows(&b)?,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            drop(status);
            let stats = query.stats();
            printer.finish(stats);
            if interrupt::was_interrupted() {
                eprintln!("query cancelled");
            }
            result?;
        }
        _ => {}
    }
    Ok(())
}

fn repl(format: Format) -> anyhow::Result<bool> {
    let mut session = new_session();
    let mut printer = Printer::new(format);
    let names = std::sync::Arc::new(std::sync::Mutex::new(helper::Names::default()));
    let mut editor: rustyline::Editor<helper::WeirHelper, rustyline::history::DefaultHistory> =
        rustyline::Editor::with_config(
            rustyline::Config::builder()
                .completion_type(rustyline::CompletionType::List)
                .auto_add_history(false)
                .build(),
        )
        .context("cannot start the line editor")?;
    editor.set_helper(Some(helper::WeirHelper::new(
        std::sync::Arc::clone(&names),
        std::io::stdout().is_terminal(),
    )));
    refresh_names(&session, &names);
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "Weir {} — streaming SQL. End statements with ';'. Ctrl-D exits.",
        env!("CARGO_PKG_VERSION")
    );
    let mut buffer = String::new();
    let mut timing = false;
    loop {
        let prompt = if buffer.is_empty() {
            "weir> "
        } else {
            "   -> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                // An empty line at the prompt starts nothing.
                if buffer.is_empty() && line.trim().is_empty() {
                    continue;
                }
                if buffer.is_empty() {
                    match meta_command(line.trim(), &mut printer, &mut timing) {
                        Meta::Quit => break,
                        Meta::Done => {
                            let _ = editor.add_history_entry(line.trim());
                            continue;
                        }
                        Meta::Sql => {}
                    }
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if !statement_complete(&buffer) {
                    continue;
                }
                let mut sql = std::mem::take(&mut buffer);
                interrupt::reset();
                let _ = editor.add_history_entry(sql.trim());
                // (Saved as it goes: a killed session keeps its history.)
                if let Some(h) = &history {
                    let _ = editor.append_history(h);
                }
                let started = std::time::Instant::now();
                if let Some(path) = run_script_path(&sql) {
                    match std::fs::read_to_string(&path) {
                        Ok(text) => sql = text,
                        Err(e) => {
                            eprintln!("error: cannot read script '{path}': {e}");
                            continue;
                        }
                    }
                }
                match session.parse(&sql) {
                    Ok(stmts) => {
                        for stmt in &stmts {
                            if let Err(e) = run_statement(&mut session, stmt, &mut printer) {
                                eprintln!("error: {}", e.render(&sql));
                                break;
                            }
                        }
                    }
                    Err(e) => eprintln!("error: {}", e.render(&sql)),
                }
                if timing {
                    eprintln!("Time: {:.3} s", started.elapsed().as_secs_f64());
                }
                refresh_names(&session, &names);
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(true)
}

const HELP: &str = "\
Statements end with ';' and may span lines. Tab completes keywords, streams, columns, functions.
  CREATE STREAM s (col TYPE [KEY], ...) WITH (PATH='file', VALUE_FORMAT='JSON'|'DELIMITED', ...);
  CREATE TABLE t (col TYPE PRIMARY KEY, ...) WITH (...);
  CREATE STREAM|TABLE x [WITH (...)] AS SELECT ...;      persistent query
  SELECT ... FROM s [JOIN t ON ...] [WINDOW ...] [WHERE ...] [GROUP BY ...] [PARTITION BY ...]
         [EMIT CHANGES|FINAL] [LIMIT n];                 Ctrl-C cancels it
  INSERT INTO s [(cols)] VALUES (...);   INSERT INTO s SELECT ...;
  SPLIT s INTO a WHERE ... INTO b WHERE ... [INTO rest];   one scan, several branches
  CREATE TYPE name AS STRUCT<...>;   DROP TYPE name;
  SHOW STREAMS|TABLES|QUERIES|PROPERTIES|FUNCTIONS|TYPES|TOPICS|ASSIGNMENTS;
  DESCRIBE [EXTENDED] s;   DESCRIBE FUNCTION f;   EXPLAIN <query>|<query id>;
  SET 'prop'='value';   UNSET 'prop';   TERMINATE <query id>|ALL;   DROP STREAM s;   DROP TABLE t;
  RUN SCRIPT 'file.sql';
Meta commands (no ';'):  \\format table|json|csv   \\timing   help   \\q (or Ctrl-D)";

enum Meta {
    Quit,
    Done,
    Sql,
}

/// REPL commands that are not SQL.
fn meta_command(line: &str, printer: &mut Printer, timing: &mut bool) -> Meta {
    let lower = line.trim_end_matches(';').trim().to_lowercase();
    let mut words = lower.split_whitespace();
    match (words.next(), words.next()) {
        (Some("help" | "\\h" | "\\?"), None) => println!("{HELP}"),
        (Some("\\q" | "quit" | "exit"), None) => return Meta::Quit,
        (Some("\\timing"), None) => {
            *timing = !*timing;
            println!("Timing is {}.", if *timing { "on" } else { "off" });
        }
        (Some("\\format"), Some(f)) => match Format::parse(f) {
            Some(format) => {
                printer.set_format(format);
                println!("Output format is {f}.");
            }
            None => eprintln!("error: unknown format '{f}': use table, json or csv"),
        },
        (Some(w), _) if w.starts_with('\\') => eprintln!("error: unknown command {w} (try help)"),
        _ => return Meta::Sql,
    }
    Meta::Done
}

/// `RUN SCRIPT 'path';` names a file of statements to run.
fn run_script_path(sql: &str) -> Option<String> {
    let t = sql.trim().trim_end_matches(';').trim();
    let upper = t.to_uppercase();
    let rest = upper.strip_prefix("RUN SCRIPT")?;
    let offset = t.len() - rest.len();
    let quoted = t[offset..].trim();
    quoted
        .strip_prefix('\'')
        .and_then(|q| q.strip_suffix('\''))
        .map(str::to_string)
}

/// The history file in the user's state directory (`$XDG_STATE_HOME/weir/history`, by default
/// `~/.local/state/weir/history`).
fn history_path() -> Option<std::path::PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
        })?;
    let dir = state.join("weir");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

/// Completion candidates: streams, their columns, and functions.
fn refresh_names(session: &Session, names: &std::sync::Mutex<helper::Names>) {
    let mut words: Vec<String> = Vec::new();
    let streams = session.stream_names();
    for stream in &streams {
        if let Some(info) = session.stream_info(stream) {
            words.extend(info.schema.fields().iter().map(|f| f.name().clone()));
        }
        words.push(stream.clone());
    }
    words.extend(weir::function_names().into_iter().map(|f| f.to_uppercase()));
    if let Ok(mut n) = names.lock() {
        n.words = words;
        n.streams = streams;
    }
}

/// Whether the buffer ends with a `;` outside strings, quoted names and comments.
fn statement_complete(sql: &str) -> bool {
    let mut last_significant = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                last_significant = Some(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {}
            c => last_significant = Some(c),
        }
    }
    last_significant == Some(';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_only_outside_strings_and_comments() {
        assert!(statement_complete("SELECT 1;"));
        assert!(!statement_complete("SELECT ';'"));
        assert!(!statement_complete("SELECT 1 -- done;"));
        assert!(statement_complete("SELECT ';' FROM s;\n"));
    }
}
