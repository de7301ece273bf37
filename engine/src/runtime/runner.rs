//! Driving a pipeline epoch after epoch on its own thread, delivering results to sinks, and
//! the control block that lets a session cancel a query or wait until it has drained.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use weir_planner::Format;

use super::log::Log;
use super::route::{merge_in_source_order, restamp_offsets, split_by_arrays, split_evenly};
use super::Pipeline;
use crate::error::{Error, Result};
use crate::sources::Metrics;
use weir_planner::columns::ROWOFFSET;

#[derive(Debug, Default)]
struct RunState {
    epochs: u64,
    /// The last epoch found nothing more to read and held nothing back.
    caught_up: bool,
    finished: bool,
    error: Option<String>,
}

/// Shared between a running query, its handle and the session.
#[derive(Debug, Default)]
pub(crate) struct QueryControl {
    cancel: AtomicBool,
    state: Mutex<RunState>,
    changed: Condvar,
    pub(crate) metrics: Arc<Metrics>,
}

impl QueryControl {
    pub(crate) fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    fn record_epoch(&self, caught_up: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.epochs += 1;
            s.caught_up = caught_up;
        }
        self.changed.notify_all();
    }

    fn record_end(&self, error: Option<String>) {
        if let Ok(mut s) = self.state.lock() {
            s.finished = true;
            s.error = error;
        }
        self.changed.notify_all();
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.lock().map(|s| s.finished).unwrap_or(true)
    }

    pub(crate) fn error(&self) -> Option<String> {
        self.state.lock().ok().and_then(|s| s.error.clone())
    }

    /// Waits until the query has finished, or has run a whole epoch that started after this
    /// call and ended caught up (nothing more to read, nothing held back) — i.e. it has
    /// processed everything available now.
    pub(crate) fn wait_drained(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        let start = s.epochs;
        while !(s.finished || (s.caught_up && s.epochs >= start + 2)) {
            s = match self.changed.wait_timeout(s, Duration::from_millis(200)) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
    }
}

/// Where a query's output goes.
pub(crate) enum Sink {
    /// A transient query's handle: the visible columns (and, for a changelog, `ROWDELETED`).
    Channel {
        tx: SyncSender<Result<RecordBatch>>,
        columns: Vec<usize>,
    },
    /// An in-memory stream, partition by partition.
    Log(Arc<Log>),
    /// An in-memory stream written by `INSERT INTO`: rows are routed by the stream's own key
    /// columns (`keys`), whatever the query's partitioning.
    KeyedLog { log: Arc<Log>, keys: Vec<usize> },
    /// A file (visible columns only).
    File(FileSink),
    /// A query that shows state (a pull query over a table or an aggregation): the changelog
    /// is collected and, at the end, only the latest row of each key is sent.
    Final {
        tx: SyncSender<Result<RecordBatch>>,
        visible: usize,
        keys: Vec<usize>,
        buffered: Vec<RecordBatch>,
    },
    /// One branch of a `SPLIT`: the rows whose branch column (`column`) equals `branch`, without
    /// that column, appended to the branch's stream partition by partition.
    Branch {
        log: Arc<Log>,
        column: usize,
        branch: i32,
    },
}

/// Writes JSON lines or CSV.
pub(crate) struct FileSink {
    writer: BufWriter<File>,
    format: Format,
    visible: usize,
    wrote_header: bool,
    /// The value column written bare under `WRAP_SINGLE_VALUE=false`.
    value_column: usize,
}

impl FileSink {
    pub(crate) fn create(path: &str, format: Format, visible: usize) -> Result<Self> {
        // (The directory it goes in is made, as `mkdir -p` would.)
        if let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create the directory of '{path}'"), e))?;
        }
        let file =
            File::create(path).map_err(|e| Error::io(format!("cannot create '{path}'"), e))?;
        Ok(Self {
            writer: BufWriter::new(file),
            format,
            visible,
            wrote_header: false,
            value_column: 0,
        })
    }

    /// Which column is the value written bare under `WRAP_SINGLE_VALUE=false`.
    pub(crate) fn with_value_column(mut self, column: usize) -> Self {
        self.value_column = column;
        self
    }

    fn write(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let visible: Vec<RecordBatch> = batches
            .iter()
            .map(|b| crate::wire::to_wire_format(&project_visible(b, self.visible)?))
            .collect::<Result<_>>()?;
        match &self.format {
            Format::Json => {
                let mut w = weir_planner::json_writer()
                    .build::<_, arrow::json::writer::LineDelimited>(&mut self.writer);
                for b in &visible {
                    w.write(b)?;
                }
                w.finish()?;
            }
            Format::JsonValue => {
                // The bare value of the one value column per line (WRAP_SINGLE_VALUE=false).
                use std::io::Write as _;
                for b in &visible {
                    let column = b.column(self.value_column.min(b.num_columns().saturating_sub(1)));
                    for text in weir_planner::json_texts(column)? {
                        writeln!(self.writer, "{text}")
                            .map_err(|e| Error::io("cannot write output file", e))?;
                    }
                }
            }
            Format::Delimited { delimiter, header } => {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_delimiter(*delimiter)
                    .with_header(*header && !self.wrote_header)
                    .build(&mut self.writer);
                for b in &visible {
                    w.write(b)?;
                }
                self.wrote_header = true;
            }
        }
        self.writer
            .flush()
            .map_err(|e| Error::io("cannot write output file", e))
    }
}

/// The first `visible` columns of a batch (system columns dropped).
pub(crate) fn project_visible(batch: &RecordBatch, visible: usize) -> Result<RecordBatch> {
    if batch.num_columns() <= visible {
        return Ok(batch.clone());
    }
    let indices: Vec<usize> = (0..visible).collect();
    Ok(batch.project(&indices)?)
}

/// Everything a query thread needs.
pub(crate) struct Run {
    pub(crate) pipeline: Pipeline,
    pub(crate) sinks: Vec<Sink>,
    pub(crate) control: Arc<QueryControl>,
    pub(crate) limit: Option<usize>,
    pub(crate) batch_rows: usize,
    pub(crate) batch_delay: Duration,
    /// Logs written by this query: released (and sealed if no other writer) when it ends.
    pub(crate) writes: Vec<Arc<Log>>,
    /// The output's `TIMESTAMP` column (`CREATE STREAM ... WITH (TIMESTAMP='c') AS SELECT`):
    /// output rows take their `ROWTIME` from it.
    pub(crate) stamp: Option<weir_planner::TimestampSpec>,
}

impl Run {
    /// Runs to the end of input, to the limit, or until cancelled.
    pub(crate) fn run(mut self) {
        // A bug must end the query with an error, not leave its readers waiting forever.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_loop()))
            .unwrap_or_else(|_| Err(Error::Internal("the query thread panicked".into())));
        for log in &self.writes {
            log.remove_writer();
        }
        let error = match &result {
            Ok(()) | Err(Error::Cancelled) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Err(e) = result {
            for sink in &self.sinks {
                if let Sink::Channel { tx, .. } | Sink::Final { tx, .. } = sink {
                    if !matches!(e, Error::Cancelled) {
                        let _ = tx.send(Err(clone_error(&e)));
                    }
                }
            }
        }
        self.control.record_end(error);
    }

    fn run_loop(&mut self) -> Result<()> {
        let mut remaining = self.limit;
        loop {
            if self.control.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let epoch = self.pipeline.run_epoch(self.batch_rows, self.batch_delay)?;
            let mut output = epoch.output;
            let mut limit_reached = false;
            if let Some(left) = remaining.as_mut() {
                // LIMIT keeps the first rows in source order, whatever the partition count.
                let merged = in_source_order(output)?;
                output = vec![take_rows(vec![merged], left)
                    .into_iter()
                    .flatten()
                    .collect()];
                limit_reached = *left == 0;
            }
            let rows: usize = output.iter().flatten().map(RecordBatch::num_rows).sum();
            self.control.metrics.add_out(rows as u64);
            self.deliver(output)?;
            self.control.record_epoch(epoch.caught_up);
            if epoch.finished || limit_reached {
                return self.flush_final();
            }
        }
    }

    /// Sends what `Final` sinks collected: the latest row of each key.
    fn flush_final(&mut self) -> Result<()> {
        for sink in &mut self.sinks {
            if let Sink::Final {
                tx,
                visible,
                keys,
                buffered,
            } = sink
            {
                let batches = std::mem::take(buffered);
                if let Some(latest) = crate::sources::latest_per_key(&batches, keys)? {
                    if latest.num_rows() > 0 && tx.send(project_visible(&latest, *visible)).is_err()
                    {
                        return Err(Error::Cancelled);
                    }
                }
            }
        }
        Ok(())
    }

    /// `batch` with `ROWTIME` taken from the output's TIMESTAMP column; rows whose time is
    /// null, unparsable or negative are dropped and counted as bad (as ksqlDB drops them).
    fn stamp_rowtime(
        &self,
        batch: &RecordBatch,
        spec: &weir_planner::TimestampSpec,
    ) -> Result<RecordBatch> {
        let Ok(rowtime) = batch.schema().index_of(weir_planner::columns::ROWTIME) else {
            return Ok(batch.clone());
        };
        let times = crate::sources::event_times(batch.column(spec.column), spec.format.as_deref())?;
        let valid =
            arrow::compute::kernels::cmp::gt_eq(&times, &arrow::array::Int64Array::new_scalar(0))?;
        let valid = match arrow::array::Array::nulls(&valid) {
            Some(_) => arrow::compute::prep_null_mask_filter(&valid),
            None => valid,
        };
        let dropped = valid.false_count();
        let (batch, times) = if dropped == 0 {
            (batch.clone(), times)
        } else {
            self.control.metrics.add_bad(dropped as u64);
            (
                arrow::compute::filter_record_batch(batch, &valid)?,
                arrow::compute::filter(&times, &valid)?,
            )
        };
        let mut columns = batch.columns().to_vec();
        columns[rowtime] = arrow::compute::cast(&times, columns[rowtime].data_type())?;
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }

    fn deliver(&mut self, output: Vec<Vec<RecordBatch>>) -> Result<()> {
        if output.iter().all(Vec::is_empty) {
            return Ok(());
        }
        let output = match &self.stamp {
            Some(spec) => output
                .into_iter()
                .map(|part| {
                    part.iter()
                        .map(|b| self.stamp_rowtime(b, spec))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?,
            None => output,
        };
        // People and files see rows in source order; logs keep their partitions. The merge
        // (a concat and a sort) is only paid when a sink needs it.
        let offset_column = output
            .iter()
            .flatten()
            .next()
            .and_then(|b| b.schema().index_of(ROWOFFSET).ok());
        let ordered = if self
            .sinks
            .iter()
            .any(|s| !matches!(s, Sink::Log(_) | Sink::Branch { .. }))
        {
            in_source_order(output.clone())?
        } else {
            Vec::new()
        };
        for sink in &mut self.sinks {
            match sink {
                Sink::Log(log) => {
                    // A log numbers the rows it receives itself (several queries may write it),
                    // in source order, so its readers still see source order.
                    let restamped = match offset_column {
                        Some(col) => {
                            let total: usize =
                                output.iter().flatten().map(RecordBatch::num_rows).sum();
                            let first = log.reserve_offsets(total)?;
                            restamp_partitioned(output.clone(), col, first)?
                        }
                        None => output.clone(),
                    };
                    log.append(restamped)?
                }
                Sink::KeyedLog { log, keys } => {
                    let mut batches = ordered.clone();
                    if let Some(col) = offset_column {
                        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
                        batches = restamp_offsets(batches, col, log.reserve_offsets(total)?)?;
                    }
                    let mut parts = vec![Vec::new(); log.partitions()];
                    for b in &batches {
                        if keys.is_empty() {
                            split_evenly(b, parts.len(), &mut parts);
                        } else {
                            let key_arrays: Vec<_> =
                                keys.iter().map(|&k| Arc::clone(b.column(k))).collect();
                            split_by_arrays(b, &key_arrays, parts.len(), &mut parts)?;
                        }
                    }
                    log.append(parts)?
                }
                Sink::Branch {
                    log,
                    column,
                    branch,
                } => {
                    let mut picked = Vec::with_capacity(output.len());
                    for part in &output {
                        let mut list = Vec::new();
                        for b in part {
                            let mask = arrow::compute::kernels::cmp::eq(
                                b.column(*column),
                                &arrow::array::Int32Array::new_scalar(*branch),
                            )?;
                            let mask = match arrow::array::Array::nulls(&mask) {
                                Some(_) => arrow::compute::prep_null_mask_filter(&mask),
                                None => mask,
                            };
                            if mask.true_count() == 0 {
                                continue;
                            }
                            let kept = arrow::compute::filter_record_batch(b, &mask)?;
                            let indices: Vec<usize> =
                                (0..kept.num_columns()).filter(|i| i != column).collect();
                            list.push(kept.project(&indices)?);
                        }
                        picked.push(list);
                    }
                    let offset = log.schema().index_of(ROWOFFSET).ok();
                    let restamped = match offset {
                        Some(col) => {
                            let total: usize =
                                picked.iter().flatten().map(RecordBatch::num_rows).sum();
                            let first = log.reserve_offsets(total)?;
                            restamp_partitioned(picked, col, first)?
                        }
                        None => picked,
                    };
                    log.append(restamped)?
                }
                Sink::File(f) => f.write(&ordered)?,
                Sink::Final { buffered, .. } => buffered.extend(ordered.iter().cloned()),
                Sink::Channel { tx, columns } => {
                    for batch in &ordered {
                        let projected = batch.project(columns).map_err(Error::from);
                        if tx.send(projected).is_err() {
                            // The handle was dropped: nobody wants more rows.
                            return Err(Error::Cancelled);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Renumbers the rows of per-partition output in source order (by their current `ROWOFFSET`),
/// starting at `first`, keeping each row in its partition.
fn restamp_partitioned(
    output: Vec<Vec<RecordBatch>>,
    col: usize,
    first: i64,
) -> Result<Vec<Vec<RecordBatch>>> {
    // One partition with data: its rows are already in source order — number them as they are.
    if output.iter().filter(|l| !l.is_empty()).count() <= 1 {
        let mut next = first;
        return output
            .into_iter()
            .map(|list| {
                let n: usize = list.iter().map(RecordBatch::num_rows).sum();
                let restamped = restamp_offsets(list, col, next)?;
                next += n as i64;
                Ok(restamped)
            })
            .collect();
    }
    // Every row's current offset, with where it is.
    let mut rows: Vec<(i64, usize, usize, usize)> = Vec::new();
    for (p, list) in output.iter().enumerate() {
        for (b, batch) in list.iter().enumerate() {
            let offsets = batch
                .column(col)
                .as_primitive::<arrow::datatypes::Int64Type>();
            rows.extend(
                offsets
                    .values()
                    .iter()
                    .enumerate()
                    .map(|(r, &o)| (o, p, b, r)),
            );
        }
    }
    rows.sort_by_key(|&(o, p, b, r)| (o, p, b, r));
    let mut fresh: Vec<Vec<Vec<i64>>> = output
        .iter()
        .map(|l| l.iter().map(|b| vec![0; b.num_rows()]).collect())
        .collect();
    for (rank, &(_, p, b, r)) in rows.iter().enumerate() {
        fresh[p][b][r] = first + rank as i64;
    }
    output
        .into_iter()
        .zip(fresh)
        .map(|(list, offs)| {
            list.into_iter()
                .zip(offs)
                .map(|(batch, o)| {
                    let mut columns = batch.columns().to_vec();
                    columns[col] = Arc::new(arrow::array::Int64Array::from(o));
                    Ok(RecordBatch::try_new(batch.schema(), columns)?)
                })
                .collect()
        })
        .collect()
}

/// An epoch's output from all partitions, merged into source order (by `ROWOFFSET`).
fn in_source_order(output: Vec<Vec<RecordBatch>>) -> Result<Vec<RecordBatch>> {
    let pieces: Vec<RecordBatch> = output
        .into_iter()
        .flatten()
        .filter(|b| b.num_rows() > 0)
        .collect();
    let offset_column = pieces
        .first()
        .and_then(|b| b.schema().index_of(ROWOFFSET).ok());
    merge_in_source_order(pieces, offset_column)
}

/// Keeps at most `left` rows (in partition order), decrementing `left`.
fn take_rows(output: Vec<Vec<RecordBatch>>, left: &mut usize) -> Vec<Vec<RecordBatch>> {
    output
        .into_iter()
        .map(|list| {
            let mut kept = Vec::new();
            for b in list {
                if *left == 0 {
                    break;
                }
                let n = b.num_rows().min(*left);
                *left -= n;
                kept.push(if n == b.num_rows() { b } else { b.slice(0, n) });
            }
            kept
        })
        .collect()
}

fn clone_error(e: &Error) -> Error {
    match e {
        Error::BadRecord { location, reason } => Error::BadRecord {
            location: location.clone(),
            reason: reason.clone(),
        },
        Error::Io { context, source } => Error::Io {
            context: context.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::Cancelled => Error::Cancelled,
        other => Error::Execution(
            other
                .to_string()
                .trim_start_matches("query failed: ")
                .to_string(),
        ),
    }
}
