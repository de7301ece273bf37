//! Raw input: files (or globs of files) and standard input, cut into chunks of whole lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};

/// Consecutive non-blank input lines, stored back to back (each ends with `\n`).
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) data: Vec<u8>,
    /// `(start, end, line number)` of each line in `data`; `end` excludes the newline.
    pub(crate) lines: Vec<(usize, usize, u64)>,
    /// The file the lines came from (`<stdin>` for standard input).
    pub(crate) origin: Arc<str>,
    /// Indices of records whose quoted field never closed (CSV): bad records.
    pub(crate) unterminated: Vec<usize>,
}

impl Chunk {
    pub(crate) fn line(&self, i: usize) -> &[u8] {
        let (s, e, _) = self.lines[i];
        &self.data[s..e]
    }

    fn push(&mut self, line: &[u8], number: u64) {
        let start = self.data.len();
        self.data.extend_from_slice(line);
        let end = self.data.len();
        self.data.push(b'\n');
        self.lines.push((start, end, number));
    }
}

/// What a poll of a line reader found.
pub(crate) enum LinesPoll {
    Lines(Chunk),
    Pending,
    Finished,
}

/// A source of input lines.
pub(crate) trait LineReader: Send {
    /// Up to `max_lines` lines; waits at most until `deadline` when none are ready yet.
    fn poll(&mut self, max_lines: usize, deadline: Instant) -> Result<LinesPoll>;

    /// Whether more lines are known to be waiting (a file until its end; a pipe cannot say).
    fn has_more(&self) -> bool {
        true
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let [rest @ .., b'\n' | b'\r'] = l {
        l = rest;
    }
    l
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// A quoted CSV field may span at most this many lines; past that (or at end of input) the
/// record is reported as bad instead of swallowing the rest of the input.
const MAX_RECORD_LINES: u64 = 100;

/// Whether a CSV line leaves a quoted field open, given whether it started inside one. A quote
/// opens a field only at the field's start; inside a quoted field `""` is an escaped quote.
fn ends_in_quotes(line: &[u8], delimiter: u8, mut in_quotes: bool) -> bool {
    let mut at_field_start = !in_quotes;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if in_quotes {
            if b == b'"' {
                if line.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
            at_field_start = false;
        } else if b == b'"' && at_field_start {
            in_quotes = true;
            at_field_start = false;
        } else {
            at_field_start = b == delimiter;
        }
        i += 1;
    }
    in_quotes
}

/// Appends the next record's text to `buf`: one line, or for CSV (`csv` = the delimiter)
/// several while a quoted field is open. Returns the physical lines consumed (0 at end of
/// input) and whether the record is complete (not cut by end of input or the line limit).
fn read_record_into(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    csv: Option<u8>,
) -> std::io::Result<(u64, bool)> {
    let mut lines = 0;
    let mut in_quotes = false;
    loop {
        let from = buf.len();
        let n = reader.read_until(b'\n', buf)?;
        if n == 0 {
            return Ok((lines, !in_quotes));
        }
        lines += 1;
        let Some(delimiter) = csv else {
            return Ok((lines, true));
        };
        in_quotes = ends_in_quotes(&buf[from..], delimiter, in_quotes);
        if !in_quotes {
            return Ok((lines, true));
        }
        if lines >= MAX_RECORD_LINES {
            return Ok((lines, false));
        }
    }
}

/// Like [`read_record_into`], replacing `buf`.
fn read_record(
    reader: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    csv: Option<u8>,
) -> std::io::Result<(u64, bool)> {
    buf.clear();
    read_record_into(reader, buf, csv)
}

/// Reads files one after another.
pub(crate) struct FileLines {
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<(BufReader<File>, Arc<str>, u64)>,
    skip_header: bool,
    csv: Option<u8>,
    buf: Vec<u8>,
}

impl FileLines {
    /// The first file to be read.
    pub(crate) fn first_file(&self) -> Option<&PathBuf> {
        self.files.first()
    }

    /// Expands `pattern` (a path, or a glob with `*`/`?` in its file name) into files.
    pub(crate) fn open(pattern: &str, skip_header: bool, csv: Option<u8>) -> Result<Self> {
        let files = expand(pattern)?;
        Ok(Self {
            files,
            next_file: 0,
            current: None,
            skip_header,
            csv,
            buf: Vec::with_capacity(1024),
        })
    }
}

fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    let path = PathBuf::from(pattern);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        if path.is_dir() {
            return Err(Error::io(
                format!("cannot read '{pattern}'"),
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "it is a directory; give a file or a glob such as dir/*.jsonl",
                ),
            ));
        }
        if !path.is_file() {
            let (kind, why) = if path.exists() {
                (
                    std::io::ErrorKind::InvalidInput,
                    "it is not a regular file (a FIFO or a device): feed it on stdin with PATH='-' instead",
                )
            } else {
                (std::io::ErrorKind::NotFound, "no such file")
            };
            return Err(Error::io(
                format!("cannot read '{pattern}'"),
                std::io::Error::new(kind, why),
            ));
        }
        return Ok(vec![path]);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list '{}'", dir.display()), e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .is_some_and(|n| glob_match(&name, &n.to_string_lossy()))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::io(
            format!("no file matches '{pattern}'"),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no match"),
        ));
    }
    Ok(files)
}

/// `*` and `?` wildcards over a file name.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl LineReader for FileLines {
    fn poll(&mut self, max_lines: usize, _deadline: Instant) -> Result<LinesPoll> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.get(self.next_file) else {
                    return Ok(LinesPoll::Finished);
                };
                self.next_file += 1;
                let file = File::open(path)
                    .map_err(|e| Error::io(format!("cannot open '{}'", path.display()), e))?;
                let origin: Arc<str> = path.display().to_string().into();
                let mut reader = BufReader::with_capacity(1 << 20, file);
                skip_bom(&mut reader)
                    .map_err(|e| Error::io(format!("cannot read '{origin}'"), e))?;
                let mut line_no = 0;
                if self.skip_header {
                    line_no += read_record(&mut reader, &mut self.buf, self.csv)
                        .map(|(lines, _)| lines)
                        .map_err(|e| Error::io(format!("cannot read '{origin}'"), e))?;
                }
                self.current = Some((reader, origin, line_no));
            }
            let Some((reader, origin, line_no)) = self.current.as_mut() else {
                continue;
            };
            let mut chunk = Chunk {
                origin: Arc::clone(origin),
                data: Vec::with_capacity(self.buf.capacity().max(1 << 16)),
                lines: Vec::with_capacity(max_lines.min(1 << 16)),
                unterminated: Vec::new(),
            };
            while chunk.lines.len() < max_lines {
                // Read the record straight into the chunk (no second copy).
                let start = chunk.data.len();
                let (consumed, balanced) = read_record_into(reader, &mut chunk.data, self.csv)
                    .map_err(|e| Error::io(format!("cannot read '{origin}'"), e))?;
                if consumed == 0 {
                    break;
                }
                let first = *line_no + 1;
                *line_no += consumed;
                let end = start + trim_line(&chunk.data[start..]).len();
                if is_blank(&chunk.data[start..end]) {
                    chunk.data.truncate(start);
                } else {
                    chunk.data.truncate(end);
                    chunk.data.push(b'\n');
                    if !balanced {
                        chunk.unterminated.push(chunk.lines.len());
                    }
                    chunk.lines.push((start, end, first));
                }
            }
            self.buf = Vec::with_capacity(chunk.data.len());
            if chunk.lines.len() < max_lines {
                self.current = None;
            }
            if !chunk.lines.is_empty() {
                return Ok(LinesPoll::Lines(chunk));
            }
        }
    }
}

/// Reads standard input on a background thread, so a batch can close on time while input is slow.
pub(crate) struct StdinLines {
    rx: Receiver<std::io::Result<(Vec<u8>, u64, bool)>>,
    line_no: u64,
    skip_header: bool,
    done: bool,
    origin: Arc<str>,
}

impl StdinLines {
    pub(crate) fn spawn(skip_header: bool, csv: Option<u8>) -> Self {
        Self::spawn_reader(Box::new(std::io::stdin()), skip_header, csv)
    }

    pub(crate) fn spawn_reader(
        input: Box<dyn Read + Send>,
        skip_header: bool,
        csv: Option<u8>,
    ) -> Self {
        let (tx, rx) = sync_channel(4096);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(input);
            let mut buf = Vec::new();
            loop {
                match read_record(&mut reader, &mut buf, csv) {
                    Ok((0, _)) => return,
                    Ok((lines, complete)) => {
                        if tx.send(Ok((buf.clone(), lines, complete))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        Self {
            rx,
            line_no: 0,
            skip_header,
            done: false,
            origin: "<stdin>".into(),
        }
    }
}

impl LineReader for StdinLines {
    fn has_more(&self) -> bool {
        false
    }

    fn poll(&mut self, max_lines: usize, deadline: Instant) -> Result<LinesPoll> {
        if self.done {
            return Ok(LinesPoll::Finished);
        }
        let mut chunk = Chunk {
            origin: Arc::clone(&self.origin),
            ..Chunk::default()
        };
        while chunk.lines.len() < max_lines {
            // The batch closes at the deadline (time trigger) or when full (volume trigger).
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Ok((line, lines, complete))) => {
                    let first = self.line_no + 1;
                    self.line_no += lines;
                    if self.skip_header {
                        self.skip_header = false;
                        continue;
                    }
                    let l = trim_line(&line);
                    if !is_blank(l) {
                        if !complete {
                            chunk.unterminated.push(chunk.lines.len());
                        }
                        chunk.push(l, first);
                    }
                }
                Ok(Err(e)) => return Err(Error::io("cannot read standard input", e)),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    self.done = true;
                    break;
                }
            }
        }
        if !chunk.lines.is_empty() {
            Ok(LinesPoll::Lines(chunk))
        } else if self.done {
            Ok(LinesPoll::Finished)
        } else {
            Ok(LinesPoll::Pending)
        }
    }
}

/// Skips a UTF-8 byte order mark at the start of a file (spreadsheet exports write one).
fn skip_bom<R: BufRead>(reader: &mut R) -> std::io::Result<()> {
    if reader.fill_buf()?.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

/// The first `n` non-blank lines of a file (to learn how its records spell field names).
pub(crate) fn sample_lines(path: &std::path::Path, n: usize) -> Result<Vec<Vec<u8>>> {
    let file =
        File::open(path).map_err(|e| Error::io(format!("cannot open '{}'", path.display()), e))?;
    let mut reader = BufReader::new(file);
    skip_bom(&mut reader).map_err(|e| Error::io(format!("cannot read '{}'", path.display()), e))?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while out.len() < n {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io(format!("cannot read '{}'", path.display()), e))?;
        if read == 0 {
            break;
        }
        let line = trim_line(&buf);
        if !is_blank(line) {
            out.push(line.to_vec());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("trips_*.jsonl", "trips_2019-01.jsonl"));
        assert!(!glob_match("trips_*.jsonl", "trips_2019-01.csv"));
        assert!(glob_match("a?c", "abc"));
    }

    #[test]
    fn stdin_batches_close_on_time_and_end() {
        let input = std::io::Cursor::new(b"a\n\nb\nc\n".to_vec());
        let mut r = StdinLines::spawn_reader(Box::new(input), false, None);
        let mut lines = Vec::new();
        loop {
            match r
                .poll(2, Instant::now() + std::time::Duration::from_millis(200))
                .unwrap()
            {
                LinesPoll::Lines(c) => {
                    lines.extend((0..c.lines.len()).map(|i| (c.line(i).to_vec(), c.lines[i].2)))
                }
                LinesPoll::Pending => {}
                LinesPoll::Finished => break,
            }
        }
        assert_eq!(
            lines,
            vec![(b"a".to_vec(), 1), (b"b".to_vec(), 3), (b"c".to_vec(), 4)]
        );
    }
}

#[cfg(test)]
mod quoting_tests {
    use super::ends_in_quotes;

    #[test]
    fn quotes_open_only_at_field_start() {
        assert!(!ends_in_quotes(b"1,5\" pipe,x\n", b',', false));
        assert!(ends_in_quotes(b"1,\"open,x\n", b',', false));
        assert!(!ends_in_quotes(b"1,\"a \"\"b\"\" c\",x\n", b',', false));
        assert!(!ends_in_quotes(b"still open\",x\n", b',', true));
    }
}
