//! In-memory partitioned logs: the "topics" behind streams that are not files. Persistent
//! queries append to them, `INSERT` writes to them, and readers follow them by position.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use arrow::array::{new_null_array, AsArray};
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use weir_planner::columns::{ROWTIME, WINDOWEND};

use crate::error::{Error, Result};

#[derive(Debug, Default)]
struct LogState {
    partitions: Vec<Vec<RecordBatch>>,
    sealed: bool,
    /// Queries currently writing.
    writers: usize,
    /// Seal when the last writer ends (logs of `CREATE ... AS SELECT`).
    seal_when_unwritten: bool,
    next_offset: i64,
    rows: usize,
    /// Per partition: batches dropped from its front by retention (positions stay absolute).
    dropped: Vec<usize>,
    /// A windowed table's `RETENTION` (ms): windows that ended longer than this before the
    /// latest event time appended are dropped.
    retention_ms: Option<i64>,
    stream_time: i64,
}

impl LogState {
    fn end(&self, p: usize) -> usize {
        self.dropped.get(p).copied().unwrap_or(0) + self.partitions[p].len()
    }

    /// Drops, from the front of every partition, the batches whose windows all ended more
    /// than the retention before stream time.
    fn expire(&mut self) {
        let Some(retention) = self.retention_ms else {
            return;
        };
        let horizon = self.stream_time.saturating_sub(retention);
        for (p, list) in self.partitions.iter_mut().enumerate() {
            let expired = list
                .iter()
                .take_while(|b| max_of(b, WINDOWEND).is_some_and(|end| end < horizon))
                .count();
            if expired > 0 {
                list.drain(..expired);
                self.dropped[p] += expired;
            }
        }
    }
}

/// The rows of `batch` whose window ended at or after `horizon`.
pub(crate) fn within_retention(batch: RecordBatch, horizon: Option<i64>) -> Result<RecordBatch> {
    let Some(horizon) = horizon else {
        return Ok(batch);
    };
    let Ok(c) = batch.schema_ref().index_of(WINDOWEND) else {
        return Ok(batch);
    };
    let Some(ends) = batch.column(c).as_primitive_opt::<Int64Type>() else {
        return Ok(batch);
    };
    let keep =
        arrow::compute::kernels::cmp::gt_eq(ends, &arrow::array::Int64Array::new_scalar(horizon))?;
    if keep.true_count() == batch.num_rows() {
        return Ok(batch);
    }
    Ok(arrow::compute::filter_record_batch(&batch, &keep)?)
}

fn max_of(batch: &RecordBatch, column: &str) -> Option<i64> {
    let c = batch.schema_ref().index_of(column).ok()?;
    arrow::compute::max(batch.column(c).as_primitive_opt::<Int64Type>()?)
}

/// `batch` with exactly the columns of `want`, matched by name; missing ones are NULL.
fn conform_to(batch: &RecordBatch, want: &SchemaRef) -> Result<RecordBatch> {
    if Arc::ptr_eq(batch.schema_ref(), want) || batch.schema_ref().fields() == want.fields() {
        return Ok(batch.clone());
    }
    let columns = want
        .fields()
        .iter()
        .map(|f| match batch.schema_ref().index_of(f.name()) {
            // (A reader declared over the same topic may give a column another type.)
            Ok(i) if batch.column(i).data_type() != f.data_type() => {
                Ok(arrow::compute::cast(batch.column(i), f.data_type())?)
            }
            Ok(i) => Ok(Arc::clone(batch.column(i))),
            Err(_) => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(Arc::clone(want), columns)?)
}

/// An append-only log of record batches per partition.
///
/// Locking is per appended *batch* (never per record). A log is *sealed* when no more
/// records will come (its producing query finished over bounded input); push queries over a
/// sealed log end when they have read it all.
#[derive(Debug)]
pub(crate) struct Log {
    /// The schema rows are appended with now (`ALTER STREAM ... ADD COLUMN` extends it;
    /// rows appended earlier keep theirs and are widened as they are read).
    schema: RwLock<SchemaRef>,
    state: Mutex<LogState>,
    changed: Condvar,
}

impl Log {
    pub(crate) fn new(schema: SchemaRef, partitions: usize) -> Self {
        Self {
            schema: RwLock::new(schema),
            state: Mutex::new(LogState {
                partitions: vec![Vec::new(); partitions.max(1)],
                dropped: vec![0; partitions.max(1)],
                stream_time: i64::MIN,
                ..LogState::default()
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, LogState>> {
        self.state
            .lock()
            .map_err(|_| Error::Internal("a query panicked while writing a stream".into()))
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        match self.schema.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Rows appended from now on have `schema` (a superset of the old one).
    pub(crate) fn set_schema(&self, schema: SchemaRef) {
        match self.schema.write() {
            Ok(mut s) => *s = schema,
            Err(poisoned) => *poisoned.into_inner() = schema,
        }
    }

    pub(crate) fn partitions(&self) -> usize {
        self.lock().map(|s| s.partitions.len()).unwrap_or(1)
    }

    /// Reserves `n` consecutive record offsets (for records that enter through this log).
    pub(crate) fn reserve_offsets(&self, n: usize) -> Result<i64> {
        let mut s = self.lock()?;
        let first = s.next_offset;
        s.next_offset += n as i64;
        Ok(first)
    }

    /// Appends batches per partition (`batches[p]` goes to partition `p`).
    pub(crate) fn append(&self, batches: Vec<Vec<RecordBatch>>) -> Result<()> {
        let mut s = self.lock()?;
        let parts = s.partitions.len();
        for (p, list) in batches.into_iter().enumerate() {
            for b in list {
                if b.num_rows() > 0 {
                    s.rows += b.num_rows();
                    if s.retention_ms.is_some() {
                        if let Some(t) = max_of(&b, ROWTIME) {
                            s.stream_time = s.stream_time.max(t);
                        }
                    }
                    s.partitions[p % parts].push(b);
                }
            }
        }
        s.expire();
        drop(s);
        self.changed.notify_all();
        Ok(())
    }

    /// With a retention: the earliest window end still kept. Readers drop older rows, so
    /// what they see does not depend on how rows were batched (whole batches are dropped
    /// from memory only once all their windows have expired).
    pub(crate) fn horizon(&self) -> Option<i64> {
        let s = self.lock().ok()?;
        s.retention_ms.map(|r| s.stream_time.saturating_sub(r))
    }

    /// Keeps a windowed table's windows only `retention_ms` behind the latest event time.
    pub(crate) fn set_retention(&self, retention_ms: i64) {
        if let Ok(mut s) = self.state.lock() {
            s.retention_ms = Some(retention_ms);
        }
    }

    /// Makes the log seal itself when its last writer ends.
    pub(crate) fn seal_when_unwritten(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.seal_when_unwritten = true;
        }
    }

    /// A query starts writing.
    pub(crate) fn add_writer(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.writers += 1;
            s.sealed = false;
        }
    }

    /// A query stopped writing; the last writer seals a derived log.
    pub(crate) fn remove_writer(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.writers = s.writers.saturating_sub(1);
            if s.writers == 0 && s.seal_when_unwritten {
                s.sealed = true;
            }
        }
        self.changed.notify_all();
    }

    /// Marks the log complete: no more records after those of the queries writing it now.
    pub(crate) fn seal(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.seal_when_unwritten = true;
            if s.writers == 0 {
                s.sealed = true;
            }
        }
        self.changed.notify_all();
    }

    /// Batches of `partition` from position `from` on (about `max_rows` rows), with the
    /// columns of `want` (by name: a column the batch lacks reads as NULL), and the position
    /// of the first one: later than `from` when retention dropped what `from` pointed at.
    pub(crate) fn read(
        &self,
        partition: usize,
        from: usize,
        max_rows: usize,
        want: &SchemaRef,
    ) -> Result<(usize, Vec<RecordBatch>)> {
        let s = self.lock()?;
        let list = &s.partitions[partition];
        let dropped = s.dropped[partition];
        let first = from.max(dropped);
        let mut out = Vec::new();
        let mut rows = 0;
        for b in list.iter().skip(first - dropped) {
            if rows >= max_rows && !out.is_empty() {
                break;
            }
            rows += b.num_rows();
            out.push(conform_to(b, want)?);
        }
        Ok((first, out))
    }

    /// Current end position (in batches) of every partition.
    pub(crate) fn ends(&self) -> Result<Vec<usize>> {
        let s = self.lock()?;
        Ok((0..s.partitions.len()).map(|p| s.end(p)).collect())
    }

    /// Whether the log is sealed and `cursors` have read all of it.
    pub(crate) fn is_sealed_at(&self, cursors: &[usize]) -> Result<bool> {
        let s = self.lock()?;
        Ok(s.sealed && cursors.iter().enumerate().all(|(p, &c)| c >= s.end(p)))
    }

    /// Total rows appended so far.
    pub(crate) fn rows(&self) -> usize {
        self.lock().map(|s| s.rows).unwrap_or(0)
    }

    /// Waits until some partition has data past `cursors`, the log is sealed, or `deadline`.
    pub(crate) fn wait(&self, cursors: &[usize], deadline: Instant) -> Result<()> {
        let mut s = self.lock()?;
        loop {
            let has_data = cursors.iter().enumerate().any(|(p, &c)| s.end(p) > c);
            if has_data || s.sealed {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .map_err(|_| Error::Internal("a query panicked while writing a stream".into()))?
                .0;
        }
    }
}
