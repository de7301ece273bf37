//! The handle of a running transient query.

use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::error::Result;
use crate::runtime::runner::QueryControl;
use crate::sources::QueryStats;

/// A running `SELECT`: iterate it for result batches as they are produced.
///
/// Iteration ends at the end of a bounded input, at `LIMIT`, or after [`Query::cancel`].
/// Dropping the handle cancels the query.
pub struct Query {
    pub(crate) rx: Option<Receiver<Result<RecordBatch>>>,
    pub(crate) control: Arc<QueryControl>,
    pub(crate) schema: SchemaRef,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) changelog_keys: Option<Vec<usize>>,
    pub(crate) deleted_column: Option<usize>,
}

/// Cancels a query from another thread (e.g. a Ctrl-C handler).
#[derive(Clone)]
pub struct CancelHandle(Arc<QueryControl>);

impl CancelHandle {
    /// Asks the query to stop after its current micro-batch.
    pub fn cancel(&self) {
        self.0.cancel();
    }

    /// The query's record counts and watermark so far (e.g. for a progress line).
    pub fn stats(&self) -> QueryStats {
        self.0.metrics.snapshot()
    }

    /// Whether the query has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Query {
    /// Schema of the result batches.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// For a query whose output is a changelog (it aggregates, or reads a table): the key
    /// columns of its rows — a later row with the same key updates the earlier one.
    pub fn changelog_keys(&self) -> Option<&[usize]> {
        self.changelog_keys.as_deref()
    }

    /// For a changelog (`EMIT CHANGES` over a table or an aggregation): the BOOLEAN column
    /// `ROWDELETED`, last in each batch, true on a row that deletes its key (a tombstone: a
    /// deleted table row, a session merged into another, a group that stopped passing
    /// `HAVING`). Its other non-key values are NULL.
    pub fn deleted_column(&self) -> Option<usize> {
        self.deleted_column
    }

    /// Record counts so far.
    pub fn stats(&self) -> QueryStats {
        self.control.metrics.snapshot()
    }

    /// Stops the query after its current micro-batch.
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// A handle that can cancel this query from elsewhere.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(Arc::clone(&self.control))
    }

    /// Collects every remaining batch (for bounded inputs).
    pub fn collect_batches(self) -> Result<Vec<RecordBatch>> {
        self.collect()
    }
}

impl Query {
    /// The query as an async `Stream` of batches, for async callers (no runtime is required:
    /// a plain thread forwards the batches; dropping the stream cancels the query).
    ///
    /// ```
    /// use futures::StreamExt;
    /// let mut session = weir::Session::new(weir::Config::default());
    /// session.execute("CREATE STREAM s (v INT); INSERT INTO s VALUES (1), (2);")?;
    /// let stream = session.query("SELECT v FROM s;")?.into_stream();
    /// let rows: usize = futures::executor::block_on(stream.map(|b| b.map(|b| b.num_rows()).unwrap_or(0)).collect::<Vec<_>>())
    ///     .into_iter()
    ///     .sum();
    /// assert_eq!(rows, 2);
    /// # Ok::<(), weir::Error>(())
    /// ```
    pub fn into_stream(self) -> QueryStream {
        let cancel = self.cancel_handle();
        let (tx, rx) = futures_channel::mpsc::unbounded();
        let forward = std::thread::spawn(move || {
            for batch in self {
                if tx.unbounded_send(batch).is_err() {
                    break;
                }
            }
        });
        QueryStream {
            rx,
            cancel,
            _forward: forward,
        }
    }
}

/// A running query as an async stream of record batches (see [`Query::into_stream`]).
pub struct QueryStream {
    rx: futures_channel::mpsc::UnboundedReceiver<Result<RecordBatch>>,
    cancel: CancelHandle,
    _forward: JoinHandle<()>,
}

impl futures_core::Stream for QueryStream {
    type Item = Result<RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl Drop for QueryStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Iterator for Query {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for Query {
    fn drop(&mut self) {
        self.control.cancel();
        // Closing the channel unblocks a producer waiting to send; then wait for it to stop.
        drop(self.rx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
