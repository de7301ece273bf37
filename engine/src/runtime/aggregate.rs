//! Streaming `GROUP BY`: per-key (and per-window) aggregate state, emitted as a changelog.
//!
//! How it works, per partition:
//! 1. Per input batch: late rows (window end + grace at or before the watermark) are dropped
//!    and counted; the group key of every row (the GROUP BY values, with `WINDOWSTART`/
//!    `WINDOWEND` for windowed queries) is encoded with Arrow's row format and mapped to a
//!    dense group index; the whole batch then updates DataFusion's `GroupsAccumulator`s in one
//!    vectorised call per aggregate.
//! 2. `EMIT CHANGES`: after each batch, the new value of every group the batch changed is
//!    emitted, in the order of each group's last input row (batch size 1 = one update per input
//!    record, as ksqlDB emits with caching off). The groups' state then lives in a
//!    [`StateStore`] of partial-state rows, so a batch reads and writes only the groups it
//!    touched (not all of them).
//! 3. Per watermark: windows whose end + grace has passed are closed. `EMIT FINAL` emits them
//!    now (once); both modes then free their state. At the end of a bounded input the
//!    watermark jumps to the end of time, which closes every window.
//! 4. Output rows carry `ROWTIME` = the latest event time of the group's inputs and
//!    `ROWOFFSET` = the offset of its latest input row.
//!
//! Session windows have no fixed bounds, so they are assigned here rather than at the scan:
//! every key keeps its open sessions, a record within the inactivity gap of one joins it, and
//! a record that bridges several merges them (their accumulator states are merged, as in
//! step 3's reshaping). A session whose bounds changed, or that was merged into another, was
//! emitted under its old bounds: `EMIT CHANGES` retracts it with a tombstone (`ROWDELETED`)
//! right before the new session's row, as ksqlDB does.
//!
//! Reading some groups, or dropping closed ones, goes through the accumulators' partial state
//! (`state` + `merge_batch`, as DataFusion's two-phase aggregation does): the state of every
//! group is taken out once, the survivors are merged back under their new indices, and the
//! groups to read are merged into a scratch accumulator that is evaluated.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::GroupsAccumulatorAdapter;
use weir_planner::{AggregateSpec, EmitMode, WindowType};

use super::groups::GroupIndex;
use super::operator::Operator;
use super::state_store::StateStore;
use crate::error::Result;
use crate::sources::Metrics;

/// One output row: a group, with the bounds, time and offset it is emitted with.
#[derive(Clone, Copy)]
struct OutRow {
    group: usize,
    start: i64,
    end: i64,
    time: i64,
    offset: i64,
}

pub(crate) struct AggregateOperator {
    spec: Arc<AggregateSpec>,
    converter: RowConverter,
    /// Encoded group keys and their dense indices.
    groups: GroupIndex,
    /// Per group index: its window end, latest event time and offset.
    window_ends: Vec<Option<i64>>,
    /// Session windows: the inactivity gap, each group's session start (its end is in
    /// `window_ends`), and the open sessions of every key (encoded without the window).
    session_gap: Option<i64>,
    window_starts: Vec<i64>,
    sessions: HashMap<Vec<u8>, Vec<usize>>,
    last_time: Vec<i64>,
    last_offset: Vec<i64>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    watermark: i64,
    /// The largest event time this partition has seen ("stream time", as Kafka Streams keeps
    /// it): a row is late when its window closed before the rows ahead of it.
    stream_time: i64,
    metrics: Arc<Metrics>,
    /// Groups last reported to `metrics`.
    reported: usize,
    /// `EMIT CHANGES` (not sessions): the groups' state, read and written per changed group.
    store: Option<StateStore>,
    /// The earliest window end of any group (windows close in this order).
    earliest_end: Option<i64>,
}

fn new_accumulator(agg: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if agg.groups_accumulator_supported() {
        return Ok(agg.create_groups_accumulator()?);
    }
    let agg = Arc::clone(agg);
    Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
        agg.create_accumulator()
    })))
}

impl AggregateOperator {
    pub(crate) fn new(spec: Arc<AggregateSpec>, metrics: Arc<Metrics>) -> Result<Self> {
        let session_gap = match spec.window.as_ref().map(|w| w.kind) {
            Some(WindowType::Session { gap_ms }) => Some(gap_ms),
            _ => None,
        };
        // A session group's key is encoded without its (changing) window bounds.
        let encoded_keys = spec.group_types.len() - 2 * usize::from(session_gap.is_some());
        let fields = spec.group_types[..encoded_keys]
            .iter()
            .map(|t| SortField::new(t.clone()))
            .collect();
        let accumulators = spec
            .aggregates
            .iter()
            .map(new_accumulator)
            .collect::<Result<_>>()?;
        let changes_store = spec.emit == EmitMode::Changes && session_gap.is_none();
        Ok(Self {
            converter: RowConverter::new(fields)?,
            spec,
            groups: GroupIndex::new(),
            window_ends: Vec::new(),
            session_gap,
            window_starts: Vec::new(),
            sessions: HashMap::new(),
            last_time: Vec::new(),
            last_offset: Vec::new(),
            accumulators,
            watermark: i64::MIN,
            stream_time: i64::MIN,
            metrics,
            reported: 0,
            earliest_end: None,
            store: changes_store.then(|| StateStore::new(new_accumulator)),
        })
    }

    fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Tells the query's metrics how many groups this partition holds now.
    fn report_state(&mut self) {
        let now = self.groups();
        self.metrics
            .add_state_groups(now as i64 - self.reported as i64);
        self.reported = now;
    }

    /// Takes every group's partial state out, keeps the groups `keep` names (in that order, as
    /// the new indices 0..), and returns the final values of the groups `read` names.
    fn reshape(&mut self, read: &[usize], keep: Option<&[usize]>) -> Result<Vec<ArrayRef>> {
        let n = self.groups();
        let mut values = Vec::with_capacity(self.accumulators.len());
        for (acc, agg) in self.accumulators.iter_mut().zip(&self.spec.aggregates) {
            let state = acc.state(EmitTo::All)?;
            let mut fresh = new_accumulator(agg)?;
            match keep {
                None => fresh.merge_batch(&state, &(0..n).collect::<Vec<_>>(), n)?,
                Some(kept) => {
                    let idx = UInt32Array::from(kept.iter().map(|&g| g as u32).collect::<Vec<_>>());
                    let taken = state
                        .iter()
                        .map(|s| take(s.as_ref(), &idx, None))
                        .collect::<Result<Vec<_>, _>>()?;
                    fresh.merge_batch(&taken, &(0..kept.len()).collect::<Vec<_>>(), kept.len())?;
                }
            }
            if !read.is_empty() {
                let idx = UInt32Array::from(read.iter().map(|&g| g as u32).collect::<Vec<_>>());
                let taken = state
                    .iter()
                    .map(|s| take(s.as_ref(), &idx, None))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut reader = new_accumulator(agg)?;
                reader.merge_batch(&taken, &(0..read.len()).collect::<Vec<_>>(), read.len())?;
                values.push(reader.evaluate(EmitTo::All)?);
            }
            *acc = fresh;
        }
        Ok(values)
    }

    /// Output rows for the groups `read` (values already evaluated, in the same order).
    fn rows(&self, read: &[usize], values: Vec<ArrayRef>) -> Result<Option<RecordBatch>> {
        if read.is_empty() {
            return Ok(None);
        }
        let rows: Vec<OutRow> = read
            .iter()
            .map(|&g| OutRow {
                group: g,
                start: self.window_starts.get(g).copied().unwrap_or(0),
                end: self.window_ends[g].unwrap_or(0),
                time: self.last_time[g],
                offset: self.last_offset[g],
            })
            .collect();
        self.assemble(&rows, Some(values)).map(Some)
    }

    /// Output rows: the group keys of `rows` (with their session bounds, for sessions), the
    /// aggregate `values` — or, without values, tombstones (NULL values, `ROWDELETED`).
    fn assemble(&self, rows: &[OutRow], values: Option<Vec<ArrayRef>>) -> Result<RecordBatch> {
        let parser = self.converter.parser();
        let mut columns = self
            .converter
            .convert_rows(rows.iter().map(|r| parser.parse(self.groups.key(r.group))))?;
        if self.session_gap.is_some() {
            columns.push(Arc::new(
                rows.iter().map(|r| r.start).collect::<Int64Array>(),
            ));
            columns.push(Arc::new(rows.iter().map(|r| r.end).collect::<Int64Array>()));
        }
        let groups = self.spec.group_types.len();
        let deleted = values.is_none();
        match values {
            Some(values) => {
                for (i, array) in values.into_iter().enumerate() {
                    let field = self.spec.output.field(groups + i);
                    columns.push(if array.data_type() == field.data_type() {
                        array
                    } else {
                        arrow::compute::cast(&array, field.data_type())?
                    });
                }
            }
            None => {
                for i in 0..self.spec.aggregates.len() {
                    let field = self.spec.output.field(groups + i);
                    columns.push(arrow::array::new_null_array(field.data_type(), rows.len()));
                }
            }
        }
        columns.push(Arc::new(
            rows.iter().map(|r| r.time).collect::<Int64Array>(),
        ));
        columns.push(Arc::new(
            rows.iter().map(|r| r.offset).collect::<Int64Array>(),
        ));
        columns.push(Arc::new(BooleanArray::from(vec![deleted; rows.len()])));
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?)
    }

    /// Keeps the groups `kept` (in that order, as the new indices 0..) in the bookkeeping
    /// (the accumulators are reshaped separately).
    fn compact(&mut self, kept: &[usize]) {
        let old_len = self.groups();
        let take_vec = |v: &Vec<i64>| kept.iter().map(|&g| v[g]).collect::<Vec<_>>();
        self.last_time = take_vec(&self.last_time);
        self.last_offset = take_vec(&self.last_offset);
        self.window_ends = kept.iter().map(|&g| self.window_ends[g]).collect();
        self.earliest_end = self.window_ends.iter().flatten().copied().min();
        self.groups.retain(kept, self.session_gap.is_none());
        if self.session_gap.is_some() {
            self.window_starts = take_vec(&self.window_starts);
            let mut new_index = vec![usize::MAX; old_len];
            for (i, &g) in kept.iter().enumerate() {
                new_index[g] = i;
            }
            self.sessions.retain(|_, list| {
                list.retain_mut(|g| match new_index.get(*g) {
                    Some(&i) if i != usize::MAX => {
                        *g = i;
                        true
                    }
                    _ => false,
                });
                !list.is_empty()
            });
        }
    }

    /// Drops (and counts) rows whose window end + grace is at or before the stream time the
    /// rows ahead of them reached — row by row, so the answer does not depend on batch size.
    /// Stream time is this aggregation's own (as Kafka Streams keeps it per processor): rows
    /// skipped before it (filtered out, NULL values or keys) do not advance it.
    fn drop_late(
        &mut self,
        batch: RecordBatch,
        keys: Vec<ArrayRef>,
    ) -> Result<(RecordBatch, Vec<ArrayRef>)> {
        let (Some(end_col), Some(window)) = (self.spec.window_end_column, &self.spec.window) else {
            return Ok((batch, keys));
        };
        let ends = batch.column(end_col).as_primitive::<Int64Type>();
        let times = batch
            .column(self.spec.rowtime_column)
            .as_primitive::<Int64Type>();
        let grace = window.grace_ms;
        let mut time = self.stream_time;
        let keep: arrow::array::BooleanArray = ends
            .values()
            .iter()
            .zip(times.values().iter())
            .map(|(&end, &t)| {
                let on_time = time == i64::MIN || end.saturating_add(grace) > time;
                time = time.max(t);
                Some(on_time)
            })
            .collect();
        self.stream_time = time;
        let dropped = keep.false_count();
        if dropped == 0 {
            return Ok((batch, keys));
        }
        self.metrics.add_late(dropped as u64);
        let keys = keys
            .iter()
            .map(|k| arrow::compute::filter(k.as_ref(), &keep))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((filter_record_batch(&batch, &keep)?, keys))
    }
}

impl AggregateOperator {
    /// Session windows: assigns each row to a session of its key (creating, extending or
    /// merging sessions, in row order), updates the accumulators, and emits the changes —
    /// tombstones for the sessions that were emitted under bounds they no longer have.
    fn process_sessions(
        &mut self,
        batch: &RecordBatch,
        keys: &[ArrayRef],
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let gap = self.session_gap.unwrap_or(0);
        let rows = batch.num_rows();
        let encoded = if keys.is_empty() {
            None
        } else {
            Some(self.converter.convert_columns(keys)?)
        };
        let times = batch
            .column(self.spec.rowtime_column)
            .as_primitive::<Int64Type>()
            .clone();
        let offsets = batch
            .column(self.spec.rowoffset_column)
            .as_primitive::<Int64Type>()
            .clone();
        let old_total = self.groups();
        // Groups merged into another during this batch (→ the group that absorbed them).
        let mut merged_into: HashMap<usize, usize> = HashMap::new();
        // Bounds and time of the groups that existed before this batch, as last emitted.
        let mut before: HashMap<usize, (i64, i64, i64)> = HashMap::new();
        let mut row_group = Vec::with_capacity(rows);
        for row in 0..rows {
            let key: &[u8] = match &encoded {
                Some(r) => r.row(row).data(),
                None => &[],
            };
            let (t, offset) = (times.value(row), offsets.value(row));
            if !self.sessions.contains_key(key) {
                self.sessions.insert(key.to_vec(), Vec::new());
            }
            let Some(list) = self.sessions.get_mut(key) else {
                continue;
            };
            // Sessions this record falls within the gap of (as Kafka Streams finds them:
            // end >= t - gap and start <= t + gap), earliest first.
            let mut hits: Vec<usize> = list
                .iter()
                .copied()
                .filter(|&g| {
                    self.window_starts[g].saturating_sub(gap) <= t
                        && t <= self.window_ends[g].unwrap_or(i64::MIN).saturating_add(gap)
                })
                .collect();
            hits.sort_by_key(|&g| (self.window_starts[g], g));
            for &g in &hits {
                if g < old_total {
                    before.entry(g).or_insert((
                        self.window_starts[g],
                        self.window_ends[g].unwrap_or(0),
                        self.last_time[g],
                    ));
                }
            }
            let target = match hits.split_first() {
                None => {
                    let id = self.groups.push_unindexed(key);
                    self.window_starts.push(t);
                    self.window_ends.push(Some(t));
                    self.earliest_end = Some(self.earliest_end.map_or(t, |e| e.min(t)));
                    self.last_time.push(t);
                    self.last_offset.push(offset);
                    list.push(id);
                    id
                }
                Some((&first, rest)) => {
                    for &g in rest {
                        self.window_starts[first] =
                            self.window_starts[first].min(self.window_starts[g]);
                        self.window_ends[first] = self.window_ends[first].max(self.window_ends[g]);
                        self.last_time[first] = self.last_time[first].max(self.last_time[g]);
                        self.last_offset[first] = self.last_offset[first].max(self.last_offset[g]);
                        merged_into.insert(g, first);
                    }
                    list.retain(|g| !rest.contains(g));
                    first
                }
            };
            self.window_starts[target] = self.window_starts[target].min(t);
            self.window_ends[target] = self.window_ends[target].max(Some(t));
            self.last_time[target] = self.last_time[target].max(t);
            self.last_offset[target] = self.last_offset[target].max(offset);
            row_group.push(target);
        }
        let find = |mut g: usize| {
            while let Some(&to) = merged_into.get(&g) {
                g = to;
            }
            g
        };
        // Renumber: merged-away groups leave, the others keep their order.
        let total = self.groups();
        let kept: Vec<usize> = (0..total)
            .filter(|g| !merged_into.contains_key(g))
            .collect();
        let mut new_index = vec![usize::MAX; total];
        for (i, &g) in kept.iter().enumerate() {
            new_index[g] = i;
        }
        let resolve = |g: usize| new_index[find(g)];
        if merged_into.keys().any(|&g| g < old_total) {
            // Fold the states of merged sessions into the sessions that absorbed them.
            let targets: Vec<usize> = (0..old_total).map(resolve).collect();
            for (acc, agg) in self.accumulators.iter_mut().zip(&self.spec.aggregates) {
                let state = acc.state(EmitTo::All)?;
                let mut fresh = new_accumulator(agg)?;
                fresh.merge_batch(&state, &targets, kept.len())?;
                *acc = fresh;
            }
        }
        // Tombstones for the sessions emitted under bounds they no longer have, keyed by the
        // group (new index) whose row follows them.
        let mut retracted: Vec<(usize, OutRow)> = Vec::new();
        if self.spec.emit == EmitMode::Changes {
            for (&g, &(start, end, time)) in &before {
                let now = find(g);
                let moved =
                    now != g || self.window_starts[g] != start || self.window_ends[g] != Some(end);
                if moved {
                    retracted.push((
                        new_index[now],
                        OutRow {
                            group: new_index[now],
                            start,
                            end,
                            time,
                            offset: self.last_offset[now],
                        },
                    ));
                }
            }
        }
        let indices: Vec<usize> = row_group.iter().map(|&g| resolve(g)).collect();
        if kept.len() != total {
            self.compact(&kept);
        }
        let groups = self.groups();
        for (acc, agg) in self.accumulators.iter_mut().zip(&self.spec.aggregates) {
            let args = agg
                .expressions()
                .iter()
                .map(|e| e.evaluate(batch).and_then(|v| v.into_array(rows)))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            acc.update_batch(&args, &indices, None, groups)?;
        }
        if self.spec.emit != EmitMode::Changes {
            return Ok(());
        }
        let mut changed = indices;
        changed.sort_unstable();
        changed.dedup();
        changed.sort_by_key(|&g| self.last_offset[g]);
        let values = self.reshape(&changed, None)?;
        let Some(updates) = self.rows(&changed, values)? else {
            return Ok(());
        };
        if retracted.is_empty() {
            out.push(updates);
            return Ok(());
        }
        // Each session's tombstones (earliest first), then its new row.
        retracted.sort_by_key(|(owner, row)| (*owner, row.start));
        let tombstones =
            self.assemble(&retracted.iter().map(|(_, r)| *r).collect::<Vec<_>>(), None)?;
        let mut by_owner: HashMap<usize, Vec<usize>> = HashMap::new();
        for (j, (owner, _)) in retracted.iter().enumerate() {
            by_owner.entry(*owner).or_default().push(j);
        }
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(retracted.len() + changed.len());
        for (i, g) in changed.iter().enumerate() {
            for &j in by_owner.get(g).map(Vec::as_slice).unwrap_or(&[]) {
                order.push((0, j));
            }
            order.push((1, i));
        }
        out.push(arrow::compute::interleave_record_batch(
            &[&tombstones, &updates],
            &order,
        )?);
        Ok(())
    }
}

impl Operator for AggregateOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let result = self.update(batch, out);
        self.report_state();
        result
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        let result = self.close_windows(watermark, out);
        self.report_state();
        result
    }
}

impl AggregateOperator {
    /// Applies one batch to the groups (and emits the changes, for `EMIT CHANGES`).
    fn update(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let keys = self
            .spec
            .group_exprs
            .iter()
            .map(|e| e.evaluate(&batch).and_then(|v| v.into_array(rows)))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        // Rows whose GROUP BY key is NULL belong to no group (as in ksqlDB): skipped, counted.
        let window_keys = usize::from(self.spec.window.is_some()) * 2;
        let key_count = keys.len().saturating_sub(window_keys);
        let null_key = keys[..key_count].iter().any(|k| k.null_count() > 0);
        let (batch, keys) = if null_key {
            let mut keep = arrow::array::BooleanBufferBuilder::new(rows);
            for r in 0..rows {
                keep.append(keys[..key_count].iter().all(|k| k.is_valid(r)));
            }
            let keep = arrow::array::BooleanArray::new(keep.finish(), None);
            self.metrics.add_bad((rows - keep.true_count()) as u64);
            let batch = filter_record_batch(&batch, &keep)?;
            let keys = keys
                .iter()
                .map(|k| arrow::compute::filter(k.as_ref(), &keep))
                .collect::<Result<Vec<_>, _>>()?;
            (batch, keys)
        } else {
            (batch, keys)
        };
        // Late rows go after the keyless ones: those never reach the windows, so they do not
        // advance stream time.
        let (batch, keys) = self.drop_late(batch, keys)?;
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        if self.session_gap.is_some() {
            return self.process_sessions(&batch, &keys[..key_count], out);
        }
        // A global aggregate (no GROUP BY) has one group with an empty key.
        let encoded = if keys.is_empty() {
            None
        } else {
            Some(self.converter.convert_columns(&keys)?)
        };
        let ends = self
            .spec
            .window_end_column
            .map(|c| batch.column(c).as_primitive::<Int64Type>().clone());
        let times = batch
            .column(self.spec.rowtime_column)
            .as_primitive::<Int64Type>()
            .clone();
        let offsets = batch
            .column(self.spec.rowoffset_column)
            .as_primitive::<Int64Type>()
            .clone();
        let mut indices = Vec::with_capacity(rows);
        for row in 0..rows {
            let key: &[u8] = match &encoded {
                Some(rows) => rows.row(row).data(),
                None => &[],
            };
            let (id, new) = self.groups.intern(key);
            if new {
                let end = ends.as_ref().map(|e| e.value(row));
                if let Some(end) = end {
                    self.earliest_end = Some(self.earliest_end.map_or(end, |e| e.min(end)));
                }
                self.window_ends.push(end);
                self.last_time.push(i64::MIN);
                self.last_offset.push(i64::MIN);
            }
            self.last_time[id] = self.last_time[id].max(times.value(row));
            self.last_offset[id] = self.last_offset[id].max(offsets.value(row));
            indices.push(id);
        }
        if let Some(store) = self.store.as_mut() {
            // EMIT CHANGES: only the groups this batch touched are read and written.
            let args = self
                .spec
                .aggregates
                .iter()
                .map(|agg| {
                    agg.expressions()
                        .iter()
                        .map(|e| e.evaluate(&batch).and_then(|v| v.into_array(rows)))
                        .collect::<Result<Vec<ArrayRef>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut changed = indices.clone();
            changed.sort_unstable();
            changed.dedup();
            let last_offset = &self.last_offset;
            changed.sort_by_key(|&g| last_offset[g]);
            let mut position = vec![usize::MAX; self.groups.len()];
            for (i, &g) in changed.iter().enumerate() {
                position[g] = i;
            }
            let local: Vec<usize> = indices.iter().map(|&g| position[g]).collect();
            let values = store.update(&self.spec.aggregates, &args, &local, &changed)?;
            if let Some(b) = self.rows(&changed, values)? {
                out.push(b);
            }
            return Ok(());
        }
        let total = self.groups();
        for (acc, agg) in self.accumulators.iter_mut().zip(&self.spec.aggregates) {
            let args = agg
                .expressions()
                .iter()
                .map(|e| e.evaluate(&batch).and_then(|v| v.into_array(rows)))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            acc.update_batch(&args, &indices, None, total)?;
        }
        if self.spec.emit == EmitMode::Changes {
            let mut changed = indices;
            changed.sort_unstable();
            changed.dedup();
            changed.sort_by_key(|&g| self.last_offset[g]);
            let values = self.reshape(&changed, None)?;
            if let Some(b) = self.rows(&changed, values)? {
                out.push(b);
            }
        }
        Ok(())
    }

    /// Closes the windows the watermark has passed (emitting them, for `EMIT FINAL`).
    fn close_windows(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = watermark;
        let Some(window) = &self.spec.window else {
            return Ok(());
        };
        // A session can still grow (and merge) until its end + gap has passed too. Windows
        // close by this aggregation's stream time (which decides lateness), bounded by the
        // watermark: a record that skipped the aggregation closes nothing.
        let gap = self.session_gap.unwrap_or(0);
        let cutoff = watermark
            .min(self.stream_time)
            .saturating_sub(window.grace_ms)
            .saturating_sub(gap);
        // The end of input (watermark at the end of time) closes every window.
        let closes = |g: usize| {
            self.window_ends[g].is_some_and(|end| watermark == i64::MAX || end <= cutoff)
        };
        // Nothing to close until the earliest window end is behind the cutoff.
        if watermark != i64::MAX && self.earliest_end.is_none_or(|e| e > cutoff) {
            return Ok(());
        }
        let mut closed: Vec<(i64, i64, usize)> = (0..self.groups())
            .filter(|&g| closes(g))
            .map(|g| (self.window_ends[g].unwrap_or(0), self.last_offset[g], g))
            .collect();
        if closed.is_empty() {
            return Ok(());
        }
        // (end, offset) is unique: a row's several groups (hopping windows) differ in end.
        closed.sort_unstable();
        let closed: Vec<usize> = closed.into_iter().map(|(_, _, g)| g).collect();
        let kept: Vec<usize> = (0..self.groups()).filter(|&g| !closes(g)).collect();
        let read: &[usize] = if self.spec.emit == EmitMode::Final {
            &closed
        } else {
            &[]
        };
        if let Some(store) = self.store.as_mut() {
            store.retain(&kept)?;
        } else {
            let values = self.reshape(read, Some(&kept))?;
            if let Some(b) = self.rows(read, values)? {
                out.push(b);
            }
        }
        self.compact(&kept);
        Ok(())
    }
}
