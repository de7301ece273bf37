//! The micro-batch executor.
//!
//! A [`Pipeline`] is a [`DataflowPlan`] instantiated for one run: a source reader per scan,
//! one operator per partition per map node, and exchange routing. Each call of
//! [`Pipeline::run_epoch`] is one micro-batch: every scan reads what it can (closing the batch
//! on `batch.max.rows` or `batch.max.delay`, whichever comes first), then every node runs in
//! topological order — partitions of a node in parallel — and the output node's batches come
//! back per partition. All work of an epoch finishes before the next begins, so the state
//! between epochs is a consistent cut (what a checkpoint needs).

pub(crate) mod aggregate;
pub(crate) mod align;
pub(crate) mod changes;
pub(crate) mod groups;
pub(crate) mod hash;
pub(crate) mod join;
pub(crate) mod log;
pub(crate) mod operator;
pub(crate) mod route;
pub(crate) mod runner;
pub(crate) mod state_store;
pub(crate) mod table_aggregate;
pub(crate) mod table_join;
pub(crate) mod window_join;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;
use weir_planner::columns::{ROWOFFSET, ROWTIME};
use weir_planner::{DataflowPlan, Op};

use crate::assignment::WorkerPlan;
use crate::error::{Error, Result};
use crate::sources::{Metrics, Scan, ScanPoll};
use aggregate::AggregateOperator;
use align::Aligner;
use join::LookupJoinOperator;
use operator::{MapOperator, Operator};
use route::{merge_in_source_order, split_by_key, split_evenly};
use table_join::TableJoinOperator;
use window_join::WindowJoinOperator;

enum Stage {
    Scan {
        scan: Box<Scan>,
        done: bool,
        max_time: Vec<Option<i64>>,
        /// A bounded table a join looks up: read to its end before any other source.
        load_first: bool,
        /// Whether its event times count for the watermark.
        drives_time: bool,
    },
    /// Map or aggregate: one operator per partition.
    Ops { ops: Vec<Box<dyn Operator>> },
    Exchange {
        keys: Vec<Arc<dyn PhysicalExpr>>,
        partitions: usize,
        offset_column: Option<usize>,
    },
}

/// What one epoch produced.
pub(crate) struct Epoch {
    /// Output batches per partition of the output node.
    pub(crate) output: Vec<Vec<RecordBatch>>,
    /// Every source has ended and everything has been flushed.
    pub(crate) finished: bool,
    /// Every source had read all that was available, and nothing is held back: what was
    /// available when the epoch began has been processed.
    pub(crate) caught_up: bool,
}

/// A running instance of a dataflow plan.
pub(crate) struct Pipeline {
    metrics: Arc<Metrics>,
    stages: Vec<Stage>,
    inputs: Vec<Vec<usize>>,
    /// Per stage: the event-time alignment of an operator whose inputs meet in time order.
    aligners: Vec<Option<Aligner>>,
    /// Workers and assignment strategy, shared with the session (`SET 'workers'` reaches
    /// running queries at their next micro-batch).
    workers: Arc<RwLock<WorkerPlan>>,
    watermark: i64,
}

impl Pipeline {
    /// Instantiates `plan`; `open` opens the reader of each scanned stream.
    pub(crate) fn new(
        plan: &DataflowPlan,
        workers: Arc<RwLock<WorkerPlan>>,
        metrics: &Arc<Metrics>,
        mut open: impl FnMut(&str, bool) -> Result<(Scan, bool)>,
    ) -> Result<Self> {
        let mut stages = Vec::with_capacity(plan.nodes.len());
        let mut inputs = Vec::with_capacity(plan.nodes.len());
        let mut aligners = Vec::with_capacity(plan.nodes.len());
        for node in &plan.nodes {
            let stage = match &node.op {
                Op::Scan { stream, source } => {
                    // A joined table is read as its changelog (looked up as of each row).
                    let (scan, event_time) = open(stream, feeds_join_table(plan, node.id))?;
                    Stage::Scan {
                        scan: Box::new(scan),
                        done: false,
                        max_time: vec![None; node.partitioning.partitions()],
                        // A table file without event times is there before any stream row; one
                        // with event times is looked up as of each stream row's time.
                        load_first: matches!(source, weir_planner::SourceSpec::File { .. })
                            && !event_time
                            && feeds_join_table(plan, node.id),
                        // A table that is looked up does not drive event time.
                        drives_time: !feeds_join_table(plan, node.id),
                    }
                }
                Op::Map { steps } => {
                    let steps = Arc::new(steps.clone());
                    Stage::Ops {
                        ops: (0..node.partitioning.partitions())
                            .map(|_| {
                                Box::new(MapOperator::new(Arc::clone(&steps))) as Box<dyn Operator>
                            })
                            .collect(),
                    }
                }
                Op::Aggregate(spec) if spec.retract_column.is_some() => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            table_aggregate::TableAggregateOperator::new(
                                Arc::clone(spec),
                                Arc::clone(metrics),
                            )
                            .map(|op| Box::new(op) as Box<dyn Operator>)
                        })
                        .collect::<Result<_>>()?,
                },
                Op::Aggregate(spec) => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            AggregateOperator::new(Arc::clone(spec), Arc::clone(metrics))
                                .map(|op| Box::new(op) as Box<dyn Operator>)
                        })
                        .collect::<Result<_>>()?,
                },
                Op::Changes { key_columns } => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            Box::new(changes::ChangesOperator::new(key_columns.clone()))
                                as Box<dyn Operator>
                        })
                        .collect(),
                },
                Op::LookupJoin(spec) => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            LookupJoinOperator::new(Arc::clone(spec))
                                .map(|op| Box::new(op) as Box<dyn Operator>)
                        })
                        .collect::<Result<_>>()?,
                },
                Op::TableJoin(spec) => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            TableJoinOperator::new(Arc::clone(spec))
                                .map(|op| Box::new(op) as Box<dyn Operator>)
                        })
                        .collect::<Result<_>>()?,
                },
                Op::Union => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            Box::new(operator::UnionOperator::new(Arc::clone(&node.schema)))
                                as Box<dyn Operator>
                        })
                        .collect(),
                },
                Op::WindowJoin(spec) => Stage::Ops {
                    ops: (0..node.partitioning.partitions())
                        .map(|_| {
                            WindowJoinOperator::new(Arc::clone(spec))
                                .map(|op| Box::new(op) as Box<dyn Operator>)
                        })
                        .collect::<Result<_>>()?,
                },
                Op::Exchange { keys, .. } => Stage::Exchange {
                    keys: keys.clone(),
                    partitions: node.partitioning.partitions(),
                    offset_column: node.schema.index_of(ROWOFFSET).ok(),
                },
            };
            let first = match &stage {
                Stage::Ops { ops } if node.inputs.len() > 1 => {
                    ops.first().and_then(|op| op.merges_inputs_by_time())
                }
                _ => None,
            };
            aligners.push(
                first.map(|f| Aligner::new(f, node.partitioning.partitions(), node.inputs.len())),
            );
            stages.push(stage);
            inputs.push(node.inputs.clone());
        }
        Ok(Self {
            metrics: Arc::clone(metrics),
            stages,
            inputs,
            aligners,
            workers,
            watermark: i64::MIN,
        })
    }

    /// Runs one micro-batch.
    pub(crate) fn run_epoch(&mut self, max_rows: usize, max_delay: Duration) -> Result<Epoch> {
        let deadline = Instant::now() + max_delay;
        let mut outputs: Vec<Vec<Vec<RecordBatch>>> = vec![Vec::new(); self.stages.len()];
        let mut all_done = true;
        // Per stage: whether nothing more is waiting upstream of it (every source it reads has
        // read all that is available now).
        let mut caught_up = vec![true; self.stages.len()];
        let mut skipped = false;
        // 1. Read every source; the epoch's watermark follows from what they read. While a
        //    bounded join table is still loading, only such tables are read.
        let loading = self.stages.iter().any(|s| {
            matches!(
                s,
                Stage::Scan {
                    load_first: true,
                    done: false,
                    ..
                }
            )
        });
        for (i, stage) in self.stages.iter_mut().enumerate() {
            let Stage::Scan {
                scan,
                done,
                max_time,
                load_first,
                drives_time,
            } = stage
            else {
                continue;
            };
            let parts = max_time.len();
            if loading && !*load_first {
                // Not read yet: its input is still waiting.
                all_done &= *done;
                // It does not hold the loading table back (the table goes first), but its
                // input is still waiting.
                skipped |= !*done;
                outputs[i] = vec![Vec::new(); parts];
                continue;
            }
            outputs[i] = if *done {
                vec![Vec::new(); parts]
            } else {
                match scan.poll(max_rows, deadline)? {
                    ScanPoll::Data(batches) => {
                        all_done = false;
                        if *drives_time {
                            track_event_time(&batches, max_time);
                        }
                        caught_up[i] = !scan.has_more()?;
                        batches
                    }
                    ScanPoll::Pending => {
                        all_done = false;
                        vec![Vec::new(); parts]
                    }
                    ScanPoll::Finished => {
                        // Ending is progress: the next epoch decides whether anything is left.
                        *done = true;
                        vec![Vec::new(); parts]
                    }
                }
            };
        }
        let watermark = self.next_watermark(all_done);
        // 2. Every other node in topological order; an operator sees the watermark right after
        //    its input, so what it emits on the watermark still flows downstream this epoch.
        for i in 0..self.stages.len() {
            let inputs: Vec<Vec<Vec<RecordBatch>>> = self.inputs[i]
                .iter()
                .map(|&j| std::mem::take(&mut outputs[j]))
                .collect();
            let inputs_caught_up: Vec<bool> =
                self.inputs[i].iter().map(|&j| caught_up[j]).collect();
            if !matches!(self.stages[i], Stage::Scan { .. }) {
                caught_up[i] = inputs_caught_up.iter().all(|&c| c);
            }
            let plan = match self.workers.read() {
                Ok(p) => p.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            match &mut self.stages[i] {
                Stage::Scan { .. } => {}
                Stage::Ops { ops } => {
                    let mut out = run_partitions(
                        ops,
                        inputs,
                        &plan,
                        self.aligners[i].as_mut(),
                        &inputs_caught_up,
                    )?;
                    if let Some(wm) = watermark {
                        for (op, slot) in ops.iter_mut().zip(out.iter_mut()) {
                            op.on_watermark(wm, slot)?;
                            if all_done {
                                op.finish(slot)?;
                            }
                        }
                    }
                    outputs[i] = out;
                }
                Stage::Exchange {
                    keys,
                    partitions,
                    offset_column,
                } => {
                    let mut routed = vec![Vec::new(); *partitions];
                    for batch in inputs.into_iter().flatten().flatten() {
                        if keys.is_empty() {
                            split_evenly(&batch, *partitions, &mut routed);
                        } else {
                            split_by_key(&batch, keys, *partitions, &mut routed)?;
                        }
                    }
                    outputs[i] = routed
                        .into_iter()
                        .map(|pieces| merge_in_source_order(pieces, *offset_column))
                        .collect::<Result<Vec<_>>>()?;
                }
            }
        }
        let output = outputs.pop().unwrap_or_default();
        let nothing_held = self.aligners.iter().flatten().all(Aligner::is_empty);
        Ok(Epoch {
            output,
            finished: all_done,
            caught_up: !skipped && nothing_held && caught_up.iter().all(|&c| c),
        })
    }

    /// The watermark is the smallest, over source partitions that have seen data, of the largest
    /// event time seen; at the end of input it jumps to the end of time so operators flush.
    /// Returns the new watermark when it advanced.
    fn next_watermark(&mut self, finished: bool) -> Option<i64> {
        let mut candidate: Option<i64> = None;
        for stage in &self.stages {
            if let Stage::Scan { max_time, .. } = stage {
                for t in max_time.iter().flatten() {
                    candidate = Some(candidate.map_or(*t, |c| c.min(*t)));
                }
            }
        }
        let next = if finished {
            i64::MAX
        } else {
            candidate.unwrap_or(i64::MIN)
        };
        if next <= self.watermark {
            return None;
        }
        self.watermark = next;
        self.metrics.set_watermark(next);
        Some(next)
    }
}

fn track_event_time(batches: &[Vec<RecordBatch>], max_time: &mut [Option<i64>]) {
    for (p, list) in batches.iter().enumerate() {
        for b in list {
            let Ok(idx) = b.schema().index_of(ROWTIME) else {
                continue;
            };
            let Some(col) = b.column(idx).as_primitive_opt::<Int64Type>() else {
                continue;
            };
            if let Some(m) = arrow::compute::max(col) {
                let slot = &mut max_time[p];
                *slot = Some(slot.map_or(m, |s| s.max(m)));
            }
        }
    }
}

/// Runs each partition's operator over its inputs (`inputs[input][partition]`), in parallel
/// when it pays off. Later inputs are applied first: a join's table side (input 1) is up to
/// date before its stream side (input 0) looks it up.
fn run_partitions(
    ops: &mut [Box<dyn Operator>],
    inputs: Vec<Vec<Vec<RecordBatch>>>,
    plan: &WorkerPlan,
    aligner: Option<&mut Aligner>,
    caught_up: &[bool],
) -> Result<Vec<Vec<RecordBatch>>> {
    let rows: usize = inputs
        .iter()
        .flatten()
        .flatten()
        .map(RecordBatch::num_rows)
        .sum();
    let parts = ops.len();
    // Per partition: its batches, each tagged with its input index, in processing order.
    let mut per_partition: Vec<Vec<(usize, RecordBatch)>> = vec![Vec::new(); parts];
    for (input, by_partition) in inputs.into_iter().enumerate().rev() {
        for (p, batches) in by_partition.into_iter().enumerate() {
            per_partition[p % parts].extend(batches.into_iter().map(|b| (input, b)));
        }
    }
    if let Some(aligner) = aligner {
        for (p, items) in per_partition.iter_mut().enumerate() {
            *items = aligner.release(p, std::mem::take(items), caught_up)?;
        }
    }
    type Work<'a> = (
        &'a mut Box<dyn Operator>,
        Vec<(usize, RecordBatch)>,
        Vec<RecordBatch>,
    );
    let mut work: Vec<Work<'_>> = ops
        .iter_mut()
        .zip(per_partition)
        .map(|(op, input)| (op, input, Vec::new()))
        .collect();
    let process = |slice: &mut [Work<'_>]| -> Result<()> {
        for (op, input, out) in slice.iter_mut() {
            for (i, batch) in input.drain(..) {
                op.process_input(i, batch, out)?;
            }
        }
        Ok(())
    };
    let owners = plan.strategy.assign(parts, plan.workers)?;
    if plan.workers <= 1 || parts <= 1 || rows < 4_096 {
        // Small epochs are not worth a thread each; results do not depend on who runs them.
        process(&mut work)?;
        return Ok(work.into_iter().map(|(_, _, out)| out).collect());
    }
    // Each worker processes the partitions assigned to it, in partition order.
    let mut groups: Vec<Vec<(usize, Work<'_>)>> = (0..plan.workers).map(|_| Vec::new()).collect();
    for (p, item) in work.into_iter().enumerate() {
        groups[owners[p]].push((p, item));
    }
    let mut done: Vec<(usize, Vec<RecordBatch>)> = std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .filter(|g| !g.is_empty())
            .map(|group| {
                s.spawn(move || -> Result<Vec<(usize, Vec<RecordBatch>)>> {
                    let mut out = Vec::with_capacity(group.len());
                    for (p, (op, input, mut produced)) in group {
                        for (i, batch) in input {
                            op.process_input(i, batch, &mut produced)?;
                        }
                        out.push((p, produced));
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| Error::Internal("a partition worker panicked".into()))??,
            );
        }
        Ok::<_, Error>(all)
    })?;
    done.sort_by_key(|(p, _)| *p);
    Ok(done.into_iter().map(|(_, out)| out).collect())
}

/// Whether the scan `scan` feeds (through maps and exchanges) the table side of a join.
fn feeds_join_table(plan: &DataflowPlan, scan: usize) -> bool {
    plan.nodes.iter().any(|n| match &n.op {
        Op::LookupJoin(_) => {
            let mut node = n.inputs.get(1).copied();
            while let Some(id) = node {
                if id == scan {
                    return true;
                }
                node = plan.nodes[id].inputs.first().copied();
            }
            false
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::operator::{MapOperator, Operator};

    #[test]
    fn stateless_snapshot_round_trips() {
        let mut op = MapOperator::new(std::sync::Arc::new(Vec::new()));
        let state = op.snapshot().unwrap();
        op.restore(state).unwrap();
    }
}
