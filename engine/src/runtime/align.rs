//! Event-time alignment of an operator's inputs (joins whose sides are changelogs or tables).
//!
//! A join that looks a table up "as of" each row's time must see the rows of its inputs in
//! event-time order, as Kafka Streams processes the input whose next record is earliest. Within
//! a micro-batch that is a merge by `ROWTIME`; across micro-batches it needs holding back: a
//! source may have read further ahead than another one that still has rows waiting (a table
//! update at time 20 must not be applied before a stream row at time 10 that is still unread).
//!
//! So per partition, each input's rows are buffered and released up to the **frontier**: the
//! smallest, over inputs that still have rows waiting upstream, of the latest time received from
//! them. An input that has read everything available (caught up) does not hold others back
//! (Kafka Streams does not wait for an empty input either), and at the end of input everything
//! is released. Each input keeps its own order; the released rows are merged by time, with
//! ties going to the operator's preferred input.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use weir_planner::columns::ROWTIME;

use crate::error::Result;

/// Held-back rows of one time-aligned operator, per partition.
pub(crate) struct Aligner {
    /// The input whose rows go first on equal times.
    first: usize,
    /// `held[partition][input]`: rows not released yet, in arrival order.
    held: Vec<Vec<Vec<RecordBatch>>>,
    /// `latest[partition][input]`: the latest time received from an input.
    latest: Vec<Vec<Option<i64>>>,
}

impl Aligner {
    pub(crate) fn new(first: usize, partitions: usize, inputs: usize) -> Self {
        Self {
            first,
            held: vec![vec![Vec::new(); inputs]; partitions],
            latest: vec![vec![None; inputs]; partitions],
        }
    }

    /// Whether no rows are held back.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.iter().flatten().all(Vec::is_empty)
    }

    /// Takes this micro-batch's rows (`items`, tagged by input, for `partition`) and returns
    /// those that may be processed now, in time order. `caught_up[i]` says whether input `i`
    /// has nothing more waiting upstream.
    pub(crate) fn release(
        &mut self,
        partition: usize,
        items: Vec<(usize, RecordBatch)>,
        caught_up: &[bool],
    ) -> Result<Vec<(usize, RecordBatch)>> {
        let held = &mut self.held[partition];
        let latest = &mut self.latest[partition];
        for (input, batch) in items {
            if batch.num_rows() == 0 {
                continue;
            }
            if let Some(max) = times(&batch).and_then(|t| arrow::compute::max(&t)) {
                let slot = &mut latest[input];
                *slot = Some(slot.map_or(max, |s| s.max(max)));
            }
            held[input].push(batch);
        }
        let frontier = (0..held.len())
            .filter(|&i| !caught_up.get(i).copied().unwrap_or(true))
            .map(|i| latest[i].unwrap_or(i64::MIN))
            .min()
            .unwrap_or(i64::MAX);
        let mut ready = Vec::new();
        for (input, batches) in held.iter_mut().enumerate() {
            if frontier == i64::MAX {
                ready.extend(batches.drain(..).map(|b| (input, b)));
                continue;
            }
            // The longest prefix of this input at or before the frontier.
            let mut taken = 0;
            let mut rest = None;
            for batch in batches.iter() {
                let cut = match times(batch) {
                    Some(t) => t.values().iter().position(|&v| v > frontier),
                    None => None,
                };
                match cut {
                    None => taken += 1,
                    Some(r) => {
                        rest = Some(r);
                        break;
                    }
                }
            }
            ready.extend(batches.drain(..taken).map(|b| (input, b)));
            if let Some(r) = rest.filter(|&r| r > 0) {
                let batch = &batches[0];
                ready.push((input, batch.slice(0, r)));
                batches[0] = batch.slice(r, batch.num_rows() - r);
            }
        }
        if ready.len() <= 1 {
            return Ok(ready);
        }
        merge_by_time(ready, self.first)
    }
}

fn times(batch: &RecordBatch) -> Option<arrow::array::Int64Array> {
    let c = batch.schema().index_of(ROWTIME).ok()?;
    batch.column(c).as_primitive_opt::<Int64Type>().cloned()
}

/// Rows of several inputs in event-time order: repeatedly the input whose next row has the
/// earliest `ROWTIME` (input `first`, then the lower input, on ties), each input keeping its
/// own order; returned as slices of the original batches.
pub(crate) fn merge_by_time(
    items: Vec<(usize, RecordBatch)>,
    first: usize,
) -> Result<Vec<(usize, RecordBatch)>> {
    let inputs = items.iter().map(|(i, _)| *i + 1).max().unwrap_or(0);
    // Per input: its (item, row) sequence, with times.
    let mut queues: Vec<Vec<(usize, usize, i64)>> = vec![Vec::new(); inputs];
    for (k, (input, batch)) in items.iter().enumerate() {
        let times = times(batch);
        for r in 0..batch.num_rows() {
            let t = times.as_ref().map_or(0, |t| t.value(r));
            queues[*input].push((k, r, t));
        }
    }
    let mut heads = vec![0usize; inputs];
    let mut out: Vec<(usize, RecordBatch)> = Vec::new();
    // The run being collected: (input, item, first row, rows).
    let mut run: Option<(usize, usize, usize, usize)> = None;
    loop {
        let next = (0..inputs)
            .filter(|&i| heads[i] < queues[i].len())
            .min_by_key(|&i| (queues[i][heads[i]].2, i != first, i));
        let Some(i) = next else { break };
        let (k, r, _) = queues[i][heads[i]];
        heads[i] += 1;
        run = match run {
            Some((ri, rk, start, len)) if ri == i && rk == k && start + len == r => {
                Some((ri, rk, start, len + 1))
            }
            Some((ri, rk, start, len)) => {
                out.push((ri, items[rk].1.slice(start, len)));
                Some((i, k, r, 1))
            }
            None => Some((i, k, r, 1)),
        };
    }
    if let Some((ri, rk, start, len)) = run {
        out.push((ri, items[rk].1.slice(start, len)));
    }
    Ok(out)
}
