//! Per-group aggregate state for `EMIT CHANGES`, kept as Arrow partial-state rows.
//!
//! A micro-batch must emit the new value of every group it changed. DataFusion's
//! `GroupsAccumulator` can only hand out (and reset) the state of *all* its groups, which
//! would make every batch cost O(all groups). Here instead the state of each group lives in
//! append-only chunks of partial-state rows (the accumulators' `state` layout), with an index
//! from group to its latest row. A batch:
//! 1. updates a fresh accumulator over just the groups it touches (dense local indices);
//! 2. merges in those groups' previous state rows (one `interleave` per state column);
//! 3. appends the merged states as a new chunk and evaluates them for the output.
//!
//! So a batch costs O(its rows + the groups it touched). Superseded rows are garbage; once
//! they outnumber the live ones the chunks are compacted into one (amortised O(1) per update).

use arrow::array::{Array, ArrayRef};
use arrow::compute::interleave;
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use std::sync::Arc;

use crate::error::Result;

type NewAccumulator = fn(&Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>>;

pub(crate) struct StateStore {
    /// `chunks[c][aggregate]`: that aggregate's state columns for the rows of chunk `c`.
    chunks: Vec<Vec<Vec<ArrayRef>>>,
    /// Per group: its latest state row (chunk, row), if it has one.
    at: Vec<Option<(usize, usize)>>,
    stored: usize,
    new_accumulator: NewAccumulator,
}

impl StateStore {
    pub(crate) fn new(new_accumulator: NewAccumulator) -> Self {
        Self {
            chunks: Vec::new(),
            at: Vec::new(),
            stored: 0,
            new_accumulator,
        }
    }

    /// Applies one batch: `args[aggregate]` are the aggregate's arguments, `local[row]` the
    /// position in `changed` of the row's group. Returns each aggregate's new values for the
    /// groups `changed`, in that order.
    pub(crate) fn update(
        &mut self,
        aggregates: &[Arc<AggregateFunctionExpr>],
        args: &[Vec<ArrayRef>],
        local: &[usize],
        changed: &[usize],
    ) -> Result<Vec<ArrayRef>> {
        if let Some(&max) = changed.iter().max() {
            if self.at.len() <= max {
                self.at.resize(max + 1, None);
            }
        }
        let n = changed.len();
        // Groups that have a previous state, and their positions among `changed`.
        let previous: Vec<(usize, (usize, usize))> = changed
            .iter()
            .enumerate()
            .filter_map(|(i, &g)| self.at[g].map(|at| (i, at)))
            .collect();
        let positions: Vec<usize> = previous.iter().map(|(i, _)| *i).collect();
        let picks: Vec<(usize, usize)> = previous.iter().map(|(_, at)| *at).collect();
        let chunk = self.chunks.len();
        let mut new_chunk = Vec::with_capacity(aggregates.len());
        let mut values = Vec::with_capacity(aggregates.len());
        for (a, agg) in aggregates.iter().enumerate() {
            let mut delta = (self.new_accumulator)(agg)?;
            delta.update_batch(&args[a], local, None, n)?;
            let mut merged = (self.new_accumulator)(agg)?;
            if !picks.is_empty() {
                let columns = self.chunks[0][a].len();
                let old = (0..columns)
                    .map(|c| {
                        let arrays: Vec<&dyn Array> =
                            self.chunks.iter().map(|ch| ch[a][c].as_ref()).collect();
                        interleave(&arrays, &picks)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                merged.merge_batch(&old, &positions, n)?;
            }
            let delta_state = delta.state(EmitTo::All)?;
            let all: Vec<usize> = (0..n).collect();
            merged.merge_batch(&delta_state, &all, n)?;
            let state = merged.state(EmitTo::All)?;
            let mut reader = (self.new_accumulator)(agg)?;
            reader.merge_batch(&state, &all, n)?;
            values.push(reader.evaluate(EmitTo::All)?);
            new_chunk.push(state);
        }
        self.chunks.push(new_chunk);
        for (i, &g) in changed.iter().enumerate() {
            self.at[g] = Some((chunk, i));
        }
        self.stored += n;
        self.compact_if_sparse()?;
        Ok(values)
    }

    /// Keeps the groups `kept` (in that order, as the new indices 0..), as the operator's
    /// bookkeeping does when windows close.
    pub(crate) fn retain(&mut self, kept: &[usize]) -> Result<()> {
        self.at = kept
            .iter()
            .map(|&g| self.at.get(g).copied().flatten())
            .collect();
        self.compact_if_sparse()
    }

    fn compact_if_sparse(&mut self) -> Result<()> {
        let live = self.at.iter().flatten().count();
        if self.stored < 1024 || self.stored < 2 * live {
            return Ok(());
        }
        let picks: Vec<(usize, usize)> = self.at.iter().flatten().copied().collect();
        let Some(first) = self.chunks.first() else {
            return Ok(());
        };
        let mut chunk = Vec::with_capacity(first.len());
        for a in 0..first.len() {
            let columns = (0..first[a].len())
                .map(|c| {
                    let arrays: Vec<&dyn Array> =
                        self.chunks.iter().map(|ch| ch[a][c].as_ref()).collect();
                    interleave(&arrays, &picks)
                })
                .collect::<Result<Vec<_>, _>>()?;
            chunk.push(columns);
        }
        for (row, slot) in self.at.iter_mut().flatten().enumerate() {
            *slot = (0, row);
        }
        self.chunks = vec![chunk];
        self.stored = live;
        Ok(())
    }
}
