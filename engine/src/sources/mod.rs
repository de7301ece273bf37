//! Sources: where a query's records come from, decoded into record batches of the stream's
//! physical schema and spread over the stream's partitions.

mod decode;
pub(crate) mod lines;
use weir_planner::timefmt;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray};

use crate::runtime::log::within_retention;
use arrow::record_batch::RecordBatch;
use weir_planner::{SourceSpec, StreamDef};

pub(crate) use decode::{
    conform, dead_letter_batch, dead_letter_columns, delimited_schema, respell, RecordDecoder,
};
pub(crate) use lines::{FileLines, LineReader, LinesPoll, StdinLines};

use crate::config::ErrorPolicy;
use crate::error::{Error, Result};
use crate::runtime::log::Log;
use crate::runtime::route::{split_by_arrays, split_evenly};

/// A record that could not be read: where it was, why, and its raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The stream being read.
    pub stream: String,
    /// `file:line`.
    pub location: String,
    /// Why it could not be read.
    pub reason: String,
    /// The record's text (invalid UTF-8 replaced by U+FFFD).
    pub record: String,
}

impl BadRecord {
    fn new(chunk: &lines::Chunk, line: usize, _offset: i64, reason: &str) -> Self {
        Self {
            stream: String::new(),
            location: format!("{}:{}", chunk.origin, chunk.lines[line].2),
            reason: reason.to_string(),
            record: String::from_utf8_lossy(chunk.line(line)).into_owned(),
        }
    }
}

/// Callback told about each bad record as it is found.
pub type BadRecordHook = Arc<dyn Fn(&BadRecord) + Send + Sync>;

/// Counters of a running query, shared with its handle.
#[derive(Debug)]
pub(crate) struct Metrics {
    records_in: AtomicU64,
    records_out: AtomicU64,
    bad: AtomicU64,
    late: AtomicU64,
    /// The query's watermark (i64::MIN until event time is known).
    watermark: std::sync::atomic::AtomicI64,
    /// Groups (keys × windows) held by its aggregations now, and the most ever held at once.
    state_groups: std::sync::atomic::AtomicI64,
    peak_state_groups: std::sync::atomic::AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            late: AtomicU64::new(0),
            watermark: std::sync::atomic::AtomicI64::new(i64::MIN),
            state_groups: std::sync::atomic::AtomicI64::new(0),
            peak_state_groups: std::sync::atomic::AtomicI64::new(0),
        }
    }
}

impl Metrics {
    pub(crate) fn add_in(&self, n: u64) {
        self.records_in.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_out(&self, n: u64) {
        self.records_out.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn set_watermark(&self, watermark: i64) {
        self.watermark.store(watermark, Ordering::Relaxed);
    }
    pub(crate) fn add_bad(&self, n: u64) {
        self.bad.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_late(&self, n: u64) {
        self.late.fetch_add(n, Ordering::Relaxed);
    }
    /// An aggregation now holds `delta` more (or fewer) groups.
    pub(crate) fn add_state_groups(&self, delta: i64) {
        if delta == 0 {
            return;
        }
        let now = self.state_groups.fetch_add(delta, Ordering::Relaxed) + delta;
        self.peak_state_groups.fetch_max(now, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> QueryStats {
        QueryStats {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            bad_records: self.bad.load(Ordering::Relaxed),
            late_records: self.late.load(Ordering::Relaxed),
            watermark: match self.watermark.load(Ordering::Relaxed) {
                0 | i64::MIN | i64::MAX => None,
                w => Some(w),
            },
            state_groups: self.state_groups.load(Ordering::Relaxed).max(0) as u64,
            peak_state_groups: self.peak_state_groups.load(Ordering::Relaxed).max(0) as u64,
        }
    }
}

/// Record counts of a query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Records read from sources (good and bad).
    pub records_in: u64,
    /// Records the query produced.
    pub records_out: u64,
    /// Records that could not be read (skipped, dead-lettered, or the one that failed the query).
    pub bad_records: u64,
    /// Records that arrived after their window closed (window end + grace), and were dropped.
    pub late_records: u64,
    /// The query's watermark (ms since the epoch), once event time has been seen.
    pub watermark: Option<i64>,
    /// Groups (key × window) its aggregations hold now: closed windows are freed, so this
    /// stays bounded by the open windows on a long run.
    pub state_groups: u64,
    /// The most groups held at once so far.
    pub peak_state_groups: u64,
}

/// What a source needs to report and route bad records.
#[derive(Clone)]
pub(crate) struct SourceContext {
    pub(crate) stream: String,
    pub(crate) policy: ErrorPolicy,
    pub(crate) dead_letters: Option<Arc<Log>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) hook: Option<BadRecordHook>,
}

impl SourceContext {
    /// Counts, reports and routes one bad record; `Err` when the policy is to fail.
    fn bad(&self, mut record: BadRecord) -> Result<()> {
        record.stream.clone_from(&self.stream);
        self.metrics.bad.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.hook {
            hook(&record);
        }
        match self.policy {
            ErrorPolicy::Skip => Ok(()),
            ErrorPolicy::Fail => Err(Error::BadRecord {
                location: record.location,
                reason: record.reason,
            }),
            ErrorPolicy::DeadLetter => {
                if let Some(log) = &self.dead_letters {
                    let offset = log.reserve_offsets(1)?;
                    let batch = dead_letter_batch(&log.schema(), &record, offset)?;
                    log.append(vec![vec![batch]])?;
                }
                Ok(())
            }
        }
    }
}

/// The last row of every key (in log order), in the order those rows were written.
pub(crate) fn latest_per_key(
    batches: &[RecordBatch],
    keys: &[usize],
) -> Result<Option<RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let all = arrow::compute::concat_batches(&first.schema(), batches)?;
    if keys.is_empty() {
        return Ok((all.num_rows() > 0).then(|| all.slice(all.num_rows() - 1, 1)));
    }
    let columns: Vec<ArrayRef> = keys.iter().map(|&k| Arc::clone(all.column(k))).collect();
    let converter = arrow::row::RowConverter::new(
        columns
            .iter()
            .map(|c| arrow::row::SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&columns)?;
    let mut seen: hashbrown::HashSet<&[u8], foldhash::fast::RandomState> =
        hashbrown::HashSet::with_capacity_and_hasher(all.num_rows(), Default::default());
    // A table has no row for a NULL key.
    let mut keep: Vec<u32> = (0..all.num_rows())
        .rev()
        .filter(|&i| columns.iter().all(|c| c.is_valid(i)))
        .filter(|&i| seen.insert(rows.row(i).data()))
        .map(|i| i as u32)
        .collect();
    keep.reverse();
    // A key whose latest row is a tombstone (ROWDELETED) is not in the table.
    if let Some(deleted) = all
        .schema()
        .index_of(weir_planner::columns::ROWDELETED)
        .ok()
        .and_then(|c| all.column(c).as_boolean_opt().cloned())
    {
        keep.retain(|&i| !deleted.value(i as usize));
    }
    Ok(Some(arrow::compute::take_record_batch(
        &all,
        &arrow::array::UInt32Array::from(keep),
    )?))
}

/// Event times (ms) from a TIMESTAMP column: BIGINT or TIMESTAMP as they are, strings parsed
/// with the `TIMESTAMP_FORMAT` pattern (NULL where a value does not match).
pub(crate) fn event_times(column: &ArrayRef, format: Option<&str>) -> Result<ArrayRef> {
    match format {
        None => Ok(arrow::compute::cast(
            column,
            &arrow::datatypes::DataType::Int64,
        )?),
        Some(pattern) => {
            let f = timefmt::TimestampFormat::new(pattern).map_err(Error::Config)?;
            let strings = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
            let strings = arrow::array::AsArray::as_string::<i32>(&strings);
            Ok(Arc::new(
                strings
                    .iter()
                    .map(|s| s.and_then(|s| f.parse_millis(s)))
                    .collect::<arrow::array::Int64Array>(),
            ))
        }
    }
}

/// Validates a `TIMESTAMP_FORMAT` pattern.
pub(crate) fn check_timestamp_format(pattern: &str) -> Result<()> {
    timefmt::TimestampFormat::new(pattern)
        .map(|_| ())
        .map_err(Error::Config)
}

/// What one poll of a scan produced.
pub(crate) enum ScanPoll {
    /// Batches per partition (may be all empty).
    Data(Vec<Vec<RecordBatch>>),
    /// Nothing now; more may come.
    Pending,
    /// The input has ended.
    Finished,
}

/// Reads one stream for one query.
pub(crate) enum Scan {
    /// Files or stdin: decode, then route rows to partitions by key.
    Lines {
        reader: Box<dyn LineReader>,
        decoder: Box<RecordDecoder>,
        key_columns: Vec<usize>,
        partitions: usize,
    },
    /// A pull query over a table read from a file: the whole file, then the latest row per key.
    Latest {
        inner: Box<Scan>,
        keys: Vec<usize>,
        buffered: Vec<Vec<RecordBatch>>,
        done: bool,
    },
    /// Another scan's records with the partition each is read from (`ROWPARTITION`, last):
    /// one constant column per partition, sliced for each batch.
    Partitioned {
        inner: Box<Scan>,
        schema: arrow::datatypes::SchemaRef,
        numbers: Vec<ArrayRef>,
    },
    /// An in-memory log, read partition by partition.
    Log {
        log: Arc<Log>,
        cursors: Vec<usize>,
        /// Pull queries stop at the end they saw when they started.
        stop_at: Option<Vec<usize>>,
        metrics: Arc<Metrics>,
        /// A pull query over a table sees its current state: the latest row per key.
        latest_by: Option<Vec<usize>>,
        /// Rows of the batch at each cursor already read.
        skip: Vec<usize>,
        /// The stream's schema when the reader opened (older rows are widened to it).
        schema: arrow::datatypes::SchemaRef,
    },
}

impl Scan {
    /// Opens the reader for a stream: its records as stored, with the partition each is read
    /// from (`ROWPARTITION`).
    /// A table read without `follow` shows its current state (the latest row per key),
    /// unless `history` asks for its whole changelog (a join looks it up as of each row).
    pub(crate) fn open(
        def: &StreamDef,
        log: Option<Arc<Log>>,
        follow: bool,
        history: bool,
        from_end: bool,
        ctx: SourceContext,
    ) -> Result<Self> {
        let stored = Self::open_stored(def, log, follow, history, from_end, ctx)?;
        Ok(Scan::Partitioned {
            inner: Box::new(stored),
            schema: def.physical_schema(),
            numbers: Vec::new(),
        })
    }

    fn open_stored(
        def: &StreamDef,
        log: Option<Arc<Log>>,
        follow: bool,
        history: bool,
        from_end: bool,
        ctx: SourceContext,
    ) -> Result<Self> {
        match &def.source {
            SourceSpec::File { path, format } => {
                let (header, quoted) = header_quotes(format);
                let reader = FileLines::open(path, header, quoted)?;
                let first = reader.first_file().cloned();
                let sample = match (format, first) {
                    (weir_planner::Format::Json, Some(f)) => Some(lines::sample_lines(&f, 1000)?),
                    (
                        weir_planner::Format::Delimited {
                            delimiter,
                            header: true,
                        },
                        Some(f),
                    ) => {
                        check_header(def, &f, *delimiter)?;
                        None
                    }
                    _ => None,
                };
                let scan = Self::lines(def, Box::new(reader), format.clone(), ctx, sample)?;
                if def.kind == weir_parser::SourceKind::Table && !follow && !history {
                    return Ok(Scan::Latest {
                        inner: Box::new(scan),
                        keys: def.key_columns.clone(),
                        buffered: vec![Vec::new(); def.partitions],
                        done: false,
                    });
                }
                Ok(scan)
            }
            SourceSpec::Stdin { format } => {
                let (header, quoted) = header_quotes(format);
                let reader = Box::new(StdinLines::spawn(header, quoted));
                Ok(Self::lines(def, reader, format.clone(), ctx, None)?)
            }
            SourceSpec::Memory => {
                let log =
                    log.ok_or_else(|| Error::Internal(format!("stream {} has no log", def.name)))?;
                let parts = log.partitions();
                let stop_at = if follow { None } else { Some(log.ends()?) };
                let latest_by = (!follow && !history && def.kind == weir_parser::SourceKind::Table)
                    .then(|| def.key_columns.clone());
                let cursors = if from_end {
                    log.ends()?
                } else {
                    vec![0; parts]
                };
                Ok(Scan::Log {
                    log,
                    cursors,
                    stop_at,
                    metrics: ctx.metrics,
                    latest_by,
                    skip: vec![0; parts],
                    schema: def.stored_schema(),
                })
            }
        }
    }

    fn lines(
        def: &StreamDef,
        reader: Box<dyn LineReader>,
        format: weir_planner::Format,
        ctx: SourceContext,
        sample: Option<Vec<Vec<u8>>>,
    ) -> Result<Self> {
        Ok(Scan::Lines {
            reader,
            decoder: Box::new(RecordDecoder::new(def, format, ctx, sample)?),
            key_columns: def.key_columns.clone(),
            partitions: def.partitions,
        })
    }

    /// Whether more records are known to be available right now (read ahead is possible):
    /// a file until its end, an in-memory log until its cursor reaches the end; stdin never
    /// says so (nothing waits for it).
    pub(crate) fn has_more(&self) -> Result<bool> {
        Ok(match self {
            Scan::Partitioned { inner, .. } => inner.has_more()?,
            Scan::Lines { reader, .. } => reader.has_more(),
            Scan::Latest { done, .. } => !done,
            Scan::Log {
                latest_by: Some(_), ..
            } => false,
            Scan::Log {
                log,
                cursors,
                stop_at,
                ..
            } => {
                let ends = match stop_at {
                    Some(s) => s.clone(),
                    None => log.ends()?,
                };
                cursors.iter().zip(&ends).any(|(c, e)| c < e)
            }
        })
    }

    /// Reads up to `max_rows` records, waiting at most until `deadline` for the first.
    pub(crate) fn poll(&mut self, max_rows: usize, deadline: Instant) -> Result<ScanPoll> {
        match self {
            Scan::Partitioned {
                inner,
                schema,
                numbers,
            } => {
                let parts = match inner.poll(max_rows, deadline)? {
                    ScanPoll::Data(parts) => parts,
                    other => return Ok(other),
                };
                let mut out = Vec::with_capacity(parts.len());
                for (p, batches) in parts.into_iter().enumerate() {
                    let mut list = Vec::with_capacity(batches.len());
                    for b in batches {
                        let n = b.num_rows();
                        if numbers.len() <= p {
                            numbers.resize(
                                p + 1,
                                Arc::new(arrow::array::Int32Array::from(Vec::<i32>::new())),
                            );
                        }
                        if numbers[p].len() < n {
                            numbers[p] = Arc::new(arrow::array::Int32Array::from_value(
                                p as i32,
                                n.max(8192),
                            ));
                        }
                        let mut columns = b.columns().to_vec();
                        columns.push(numbers[p].slice(0, n));
                        list.push(RecordBatch::try_new(Arc::clone(schema), columns)?);
                    }
                    out.push(list);
                }
                Ok(ScanPoll::Data(out))
            }
            Scan::Latest {
                inner,
                keys,
                buffered,
                done,
            } => {
                if *done {
                    return Ok(ScanPoll::Finished);
                }
                loop {
                    match inner.poll(max_rows, deadline)? {
                        ScanPoll::Data(parts) => {
                            for (p, batches) in parts.into_iter().enumerate() {
                                buffered[p].extend(batches);
                            }
                        }
                        ScanPoll::Pending => return Ok(ScanPoll::Pending),
                        ScanPoll::Finished => break,
                    }
                }
                *done = true;
                let mut out = Vec::with_capacity(buffered.len());
                for batches in buffered.drain(..) {
                    out.push(latest_per_key(&batches, keys)?.into_iter().collect());
                }
                Ok(ScanPoll::Data(out))
            }
            Scan::Lines {
                reader,
                decoder,
                key_columns,
                partitions,
            } => match reader.poll(max_rows, deadline)? {
                LinesPoll::Finished => Ok(ScanPoll::Finished),
                LinesPoll::Pending => Ok(ScanPoll::Pending),
                LinesPoll::Lines(chunk) => {
                    let batch = decoder.decode(&chunk)?;
                    let mut out = vec![Vec::new(); *partitions];
                    if key_columns.is_empty() {
                        split_evenly(&batch, *partitions, &mut out);
                    } else {
                        let keys: Vec<ArrayRef> = key_columns
                            .iter()
                            .map(|&i| Arc::clone(batch.column(i)))
                            .collect();
                        split_by_arrays(&batch, &keys, *partitions, &mut out)?;
                    }
                    Ok(ScanPoll::Data(out))
                }
            },
            Scan::Log {
                log,
                cursors,
                stop_at,
                metrics,
                latest_by: Some(keys),
                schema,
                ..
            } => {
                let ends = stop_at.clone().unwrap_or(log.ends()?);
                let mut out = vec![Vec::new(); cursors.len()];
                let mut any = false;
                for (p, cursor) in cursors.iter_mut().enumerate() {
                    if *cursor >= ends[p] {
                        continue;
                    }
                    let (first, batches) = log.read(p, *cursor, usize::MAX, schema)?;
                    let batches: Vec<RecordBatch> = batches
                        .into_iter()
                        .take(ends[p].saturating_sub(first))
                        .collect();
                    *cursor = ends[p];
                    if let Some(latest) = latest_per_key(&batches, keys)? {
                        let latest = within_retention(latest, log.horizon())?;
                        metrics.add_in(latest.num_rows() as u64);
                        out[p].push(latest);
                        any = true;
                    }
                }
                Ok(if any {
                    ScanPoll::Data(out)
                } else {
                    ScanPoll::Finished
                })
            }
            Scan::Log {
                log,
                cursors,
                stop_at,
                metrics,
                latest_by: None,
                skip,
                schema,
            } => {
                if stop_at.is_none() {
                    log.wait(cursors, deadline)?;
                }
                let mut out = vec![Vec::new(); cursors.len()];
                let mut any = false;
                for (p, cursor) in cursors.iter_mut().enumerate() {
                    let end = stop_at.as_ref().map_or(usize::MAX, |s| s[p]);
                    if *cursor >= end {
                        continue;
                    }
                    // At most `max_rows` rows: a batch may be read in several pieces.
                    let (first, batches) = log.read(p, *cursor, max_rows + skip[p], schema)?;
                    if first > *cursor {
                        // Retention dropped what the cursor pointed at: go on after it.
                        *cursor = first;
                        skip[p] = 0;
                        if *cursor >= end {
                            continue;
                        }
                    }
                    let mut budget = max_rows;
                    for b in batches.into_iter().take(end - *cursor) {
                        if budget == 0 {
                            break;
                        }
                        let start = skip[p].min(b.num_rows());
                        let n = (b.num_rows() - start).min(budget);
                        budget -= n;
                        if start + n == b.num_rows() {
                            *cursor += 1;
                            skip[p] = 0;
                        } else {
                            skip[p] = start + n;
                        }
                        if n > 0 {
                            any = true;
                            let piece = within_retention(b.slice(start, n), log.horizon())?;
                            metrics.add_in(piece.num_rows() as u64);
                            out[p].push(piece);
                        }
                    }
                }
                if any {
                    return Ok(ScanPoll::Data(out));
                }
                if stop_at.is_some() || log.is_sealed_at(cursors)? {
                    return Ok(ScanPoll::Finished);
                }
                Ok(ScanPoll::Pending)
            }
        }
    }
}

/// A CSV header must name the declared columns, in order (columns are read by position).
fn check_header(def: &StreamDef, file: &std::path::Path, delimiter: u8) -> Result<()> {
    let Some(first) = lines::sample_lines(file, 1)?.into_iter().next() else {
        return Ok(());
    };
    let header = String::from_utf8_lossy(&first);
    let names: Vec<String> = header
        .split(delimiter as char)
        .map(|n| n.trim().trim_matches('"').to_string())
        .collect();
    let declared: Vec<&String> = def.columns.fields().iter().map(|f| f.name()).collect();
    let matches = names.len() == declared.len()
        && names
            .iter()
            .zip(&declared)
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if matches {
        return Ok(());
    }
    let kind = def.kind.to_string().to_lowercase();
    let message = match names
        .iter()
        .zip(&declared)
        .position(|(a, b)| !a.eq_ignore_ascii_case(b))
    {
        Some(i) if names.len() == declared.len() => format!(
            "column {} of the header of '{}' is '{}', but {kind} {} declares {} there (header: {}; declared: {})",
            i + 1,
            file.display(),
            names[i],
            def.name,
            declared[i],
            names.join(", "),
            declared.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
        _ => format!(
            "the header of '{}' names {} columns ({}), but {kind} {} declares {} ({})",
            file.display(),
            names.len(),
            names.join(", "),
            def.name,
            declared.len(),
            declared.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    Err(Error::Sql {
        message,
        position: None,
        suggestion: Some("DELIMITED columns are read by position: declare every column of the file, in its order".into()),
    })
}

/// At `CREATE`: a DELIMITED file with `HEADER=true` that exists must name the declared
/// columns (a missing file is reported when a query reads it).
pub(crate) fn check_header_now(def: &StreamDef) -> Result<()> {
    if let SourceSpec::File {
        path,
        format:
            weir_planner::Format::Delimited {
                header: true,
                delimiter,
            },
    } = &def.source
    {
        let file = std::path::Path::new(path);
        if file.is_file() {
            return check_header(def, file, *delimiter);
        }
    }
    Ok(())
}

/// Whether to skip a header line, and the CSV delimiter (quoted fields may span lines).
fn header_quotes(format: &weir_planner::Format) -> (bool, Option<u8>) {
    match format {
        weir_planner::Format::Json | weir_planner::Format::JsonValue => (false, None),
        weir_planner::Format::Delimited { header, delimiter } => (*header, Some(*delimiter)),
    }
}
