//! Printing results: an aligned table for people, JSON lines or CSV for pipes.

use std::io::Write;

use weir::arrow::array::{AsArray, RecordBatch};
use weir::arrow::compute::cast;
use weir::arrow::datatypes::SchemaRef;
use weir::arrow::datatypes::{DataType, TimeUnit};
use weir::arrow::util::display::{ArrayFormatter, FormatOptions};
use weir::QueryStats;

/// Output format of result rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Some(Self::Table),
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// The narrowest a column is cut to on a terminal (wider when there are few columns).
const MAX_WIDTH: usize = 32;

/// How wide a column may be: on a terminal, about 120 characters shared by the columns (but
/// at least [`MAX_WIDTH`]); written to a file or a pipe, as wide as its values.
fn column_cap(columns: usize) -> usize {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        (120 / columns.max(1)).max(MAX_WIDTH)
    } else {
        usize::MAX / 4
    }
}

/// Display columns a character takes on a terminal: East Asian wide and emoji take two,
/// combining marks none.
fn char_width(c: char) -> usize {
    let u = u32::from(c);
    match u {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F => 0,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Display columns `text` takes on a terminal.
fn text_width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

pub struct Printer {
    /// Set while a status line is on the terminal (cleared before rows are printed).
    pub status_shown: std::sync::Arc<std::sync::atomic::AtomicBool>,
    format: Format,
    widths: Vec<usize>,
    /// For changelog results (table mode): key columns, and the keys shown so far — rows get
    /// an `OP` column saying whether they insert a key or update it.
    changelog: Option<(Vec<usize>, std::collections::HashSet<String>)>,
    /// The changelog's `ROWDELETED` column: not shown in table mode, its rows say `delete`.
    deleted: Option<usize>,
    csv_header_written: bool,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self {
            status_shown: Default::default(),
            format,
            widths: Vec::new(),
            changelog: None,
            deleted: None,
            csv_header_written: false,
        }
    }

    /// Marks the next result as a changelog keyed by `keys` whose tombstones are flagged in
    /// column `deleted` (None, None for an append-only result).
    pub fn set_changelog(&mut self, keys: Option<&[usize]>, deleted: Option<usize>) {
        self.changelog = keys.map(|k| (k.to_vec(), Default::default()));
        self.deleted = deleted.filter(|_| self.changelog.is_some());
    }

    /// Switches the output format (the REPL's `\\format`).
    pub fn set_format(&mut self, format: Format) {
        self.format = format;
    }

    /// Confirmations: stdout for people, stderr when stdout carries data.
    pub fn info(&self, msg: &str) {
        match self.format {
            Format::Table => println!("{msg}"),
            _ => eprintln!("{msg}"),
        }
    }

    pub fn text(&self, text: &str) {
        match self.format {
            Format::Table => print!("{text}"),
            _ => eprint!("{text}"),
        }
    }

    /// A complete result table (SHOW ...).
    pub fn table(&mut self, batch: &RecordBatch) -> weir::Result<()> {
        self.start(&batch.schema());
        self.rows(batch)?;
        if self.format == Format::Table {
            self.rule();
        }
        Ok(())
    }

    pub fn start(&mut self, schema: &SchemaRef) {
        self.widths.clear();
        self.csv_header_written = false;
        if self.format == Format::Table {
            self.widths = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != self.deleted)
                .map(|(_, f)| text_width(f.name()).max(4))
                .collect();
            let cap = column_cap(self.widths.len());
            for w in &mut self.widths {
                *w = (*w).min(cap);
            }
        }
    }

    fn rule(&self) {
        let parts: Vec<String> = self.widths.iter().map(|w| "-".repeat(w + 2)).collect();
        println!("+{}+", parts.join("+"));
    }

    pub fn rows(&mut self, batch: &RecordBatch) -> weir::Result<()> {
        clear_status(&self.status_shown);
        // BYTES read as base64, as ksqlDB shows them (and Weir writes them).
        let batch = &weir::bytes_as_base64(batch)?;
        // Table mode shows a changelog's deletions in the OP column instead of ROWDELETED.
        let (batch, deleted) = match self.deleted {
            Some(d) if self.format == Format::Table && d < batch.num_columns() => {
                let flags = batch.column(d).as_boolean_opt().cloned();
                let keep: Vec<usize> = (0..batch.num_columns()).filter(|&i| i != d).collect();
                (batch.project(&keep)?, flags)
            }
            _ => (batch.clone(), None),
        };
        let batch = &batch;
        let options = FormatOptions::default().with_null("null");
        // People read window bounds as UTC timestamps (JSON and CSV keep epoch milliseconds).
        let shown: Vec<weir::arrow::array::ArrayRef> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| {
                let bound = f.name() == "WINDOWSTART" || f.name() == "WINDOWEND";
                // TIMESTAMPs are UTC: the table says so, as it does for window bounds.
                let timestamp = matches!(c.data_type(), DataType::Timestamp(_, None));
                if self.format == Format::Table
                    && ((bound && c.data_type() == &DataType::Int64) || timestamp)
                {
                    cast(
                        c,
                        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    )
                } else {
                    Ok(std::sync::Arc::clone(c))
                }
            })
            .collect::<Result<_, _>>()?;
        let formatters = shown
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        match self.format {
            Format::Json => {
                let mut w = weir::json_writer()
                    .build::<_, weir::arrow::json::writer::LineDelimited>(&mut out);
                w.write(batch)?;
                w.finish()?;
            }
            Format::Csv => {
                let mut w = weir::arrow::csv::WriterBuilder::new()
                    .with_header(!self.csv_header_written)
                    .build(&mut out);
                w.write(&nested_as_json(batch)?)?;
                self.csv_header_written = true;
            }
            Format::Table => {
                if self.widths.iter().all(|w| *w > 0) && !self.csv_header_written {
                    // First rows of this result: size columns from them, then print the header.
                    let cap = column_cap(self.widths.len());
                    for (i, f) in formatters.iter().enumerate() {
                        for row in 0..batch.num_rows().min(100) {
                            let len = text_width(&f.value(row).to_string());
                            self.widths[i] = self.widths[i].max(len.min(cap));
                        }
                    }
                    if self.changelog.is_some() {
                        self.widths.insert(0, 6);
                    }
                    drop(out);
                    self.rule();
                    let mut names: Vec<String> = Vec::new();
                    if self.changelog.is_some() {
                        names.push(cell("OP", 6));
                    }
                    let data_widths = &self.widths[usize::from(self.changelog.is_some())..];
                    names.extend(
                        batch
                            .schema()
                            .fields()
                            .iter()
                            .zip(data_widths)
                            .map(|(f, w)| cell(f.name(), *w)),
                    );
                    println!("| {} |", names.join(" | "));
                    self.rule();
                    self.csv_header_written = true;
                    out = stdout.lock();
                }
                let offset = usize::from(self.changelog.is_some());
                for row in 0..batch.num_rows() {
                    let mut cells: Vec<String> = Vec::new();
                    if let Some((keys, seen)) = &mut self.changelog {
                        let key: Vec<String> = keys
                            .iter()
                            .map(|&k| formatters[k].value(row).to_string())
                            .collect();
                        let key = key.join("\u{1f}");
                        let op = if deleted.as_ref().is_some_and(|d| d.value(row)) {
                            seen.remove(&key);
                            "delete"
                        } else if seen.insert(key) {
                            "insert"
                        } else {
                            "update"
                        };
                        cells.push(cell(op, 6));
                    }
                    cells.extend(
                        formatters
                            .iter()
                            .zip(&self.widths[offset..])
                            .map(|(f, w)| cell(&f.value(row).to_string(), *w)),
                    );
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
            }
        }
        let _ = out.flush();
        Ok(())
    }

    pub fn finish(&mut self, stats: QueryStats) {
        clear_status(&self.status_shown);
        if self.format == Format::Table {
            if self.csv_header_written {
                self.rule();
            } else {
                println!("(no rows)");
            }
        }
        let bad = if stats.bad_records > 0 {
            format!(", {} bad", stats.bad_records)
        } else {
            String::new()
        };
        let late = if stats.late_records > 0 {
            format!(", {} late (dropped: window closed)", stats.late_records)
        } else {
            String::new()
        };
        eprintln!(
            "{} records in, {} out{bad}{late}",
            stats.records_in, stats.records_out
        );
        self.csv_header_written = false;
    }
}

/// Pads or truncates (with an ellipsis) to `width` characters.
fn cell(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = flat.as_str();
    let len = text_width(text);
    if len > width {
        let mut kept = String::new();
        let mut used = 0;
        for c in text.chars() {
            if used + char_width(c) > width.saturating_sub(1) {
                break;
            }
            used += char_width(c);
            kept.push(c);
        }
        format!("{kept}…{}", " ".repeat(width.saturating_sub(1 + used)))
    } else {
        format!("{text}{}", " ".repeat(width - len))
    }
}

fn clear_status(shown: &std::sync::atomic::AtomicBool) {
    if shown.swap(false, std::sync::atomic::Ordering::SeqCst) {
        eprint!("\r\x1b[K");
    }
}

/// While a query runs on a terminal and no rows arrive, a status line on stderr says what it
/// has done and why nothing shows: rows so far, records read, the watermark, waiting for input.
pub fn status_line(
    query: weir::CancelHandle,
    shown: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> StatusGuard {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let stop = std::sync::Arc::clone(&done);
    let thread = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut last_out = 0;
        let mut quiet_since = std::time::Instant::now();
        while !stop.load(Ordering::SeqCst) && !query.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(250));
            let stats = query.stats();
            if stats.records_out != last_out {
                last_out = stats.records_out;
                quiet_since = std::time::Instant::now();
                continue;
            }
            if quiet_since.elapsed() < std::time::Duration::from_secs(1)
                || stop.load(Ordering::SeqCst)
            {
                continue;
            }
            let rate = stats.records_in as f64 / started.elapsed().as_secs_f64().max(0.001);
            let watermark = stats
                .watermark
                .and_then(weir::arrow::temporal_conversions::timestamp_ms_to_datetime)
                .map(|t| format!(" · watermark {}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")))
                .unwrap_or_default();
            eprint!(
                "\r\x1b[K… {} rows · {} read ({rate:.0}/s){watermark} · waiting for input (Ctrl-C stops)",
                stats.records_out, stats.records_in
            );
            shown.store(true, Ordering::SeqCst);
        }
    });
    StatusGuard {
        done,
        thread: Some(thread),
    }
}

/// Stops the status line when dropped.
pub struct StatusGuard {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StatusGuard {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// CSV has no nested values: ARRAY, MAP and STRUCT columns become their JSON text.
fn nested_as_json(batch: &RecordBatch) -> weir::Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if f.data_type().is_nested() {
            let texts = weir::json_texts(c).map_err(|e| weir::Error::Execution(e.to_string()))?;
            let array: weir::arrow::array::StringArray = texts
                .iter()
                .enumerate()
                .map(|(i, t)| (!c.is_null(i)).then_some(t.as_str()))
                .collect();
            fields.push(weir::arrow::datatypes::Field::new(
                f.name(),
                DataType::Utf8,
                true,
            ));
            columns.push(std::sync::Arc::new(array) as weir::arrow::array::ArrayRef);
        } else {
            fields.push(f.as_ref().clone());
            columns.push(std::sync::Arc::clone(c));
        }
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(weir::arrow::datatypes::Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod width_tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(text_width("東京都"), 6);
        assert_eq!(text_width("abc"), 3);
        assert_eq!(cell("東京都", 8), "東京都  ");
        assert_eq!(cell("東京都", 5), "東京…");
        assert_eq!(cell("東京都", 4), "東… ");
        assert_eq!(cell("abcdef", 4), "abc…");
    }
}
