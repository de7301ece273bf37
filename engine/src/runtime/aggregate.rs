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
//!    record, as ksqlDB emits with caching off).
//! 3. Per watermark: windows whose end + grace has passed are closed. `EMIT FINAL` emits them
//!    now (once); both modes then free their state. At the end of a bounded input the
//!    watermark jumps to the end of time, which closes every window.
//! 4. Output rows carry `ROWTIME` = the latest event time of the group's inputs and
//!    `ROWOFFSET` = the offset of its latest input row.
//!
//! Reading some groups, or dropping closed ones, goes through the accumulators' partial state
//! (`state` + `merge_batch`, as DataFusion's two-phase aggregation does): the state of every
//! group is taken out once, the survivors are merged back under their new indices, and the
//! groups to read are merged into a scratch accumulator that is evaluated.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::GroupsAccumulatorAdapter;
use weir_planner::{AggregateSpec, EmitMode};

use super::operator::Operator;
use crate::error::Result;
use crate::sources::Metrics;

pub(crate) struct AggregateOperator {
    spec: Arc<AggregateSpec>,
    converter: RowConverter,
    /// Encoded group key → group index.
    ids: HashMap<Vec<u8>, usize>,
    /// Per group index: its encoded key, window end, latest event time and offset.
    keys: Vec<Vec<u8>>,
    window_ends: Vec<Option<i64>>,
    last_time: Vec<i64>,
    last_offset: Vec<i64>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    watermark: i64,
    /// The largest event time this partition has seen ("stream time", as Kafka Streams keeps
    /// it): a row is late when its window closed before the rows ahead of it.
    stream_time: i64,
    metrics: Arc<Metrics>,
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
        let fields = spec
            .group_types
            .iter()
            .map(|t| SortField::new(t.clone()))
            .collect();
        let accumulators = spec
            .aggregates
            .iter()
            .map(new_accumulator)
            .collect::<Result<_>>()?;
        Ok(Self {
            converter: RowConverter::new(fields)?,
            spec,
            ids: HashMap::new(),
            keys: Vec::new(),
            window_ends: Vec::new(),
            last_time: Vec::new(),
            last_offset: Vec::new(),
            accumulators,
            watermark: i64::MIN,
            stream_time: i64::MIN,
            metrics,
        })
    }

    fn groups(&self) -> usize {
        self.keys.len()
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
        let parser = self.converter.parser();
        let mut columns = self
            .converter
            .convert_rows(read.iter().map(|&g| parser.parse(&self.keys[g])))?;
        for (i, array) in values.into_iter().enumerate() {
            let field = self.spec.output.field(self.spec.group_types.len() + i);
            columns.push(if array.data_type() == field.data_type() {
                array
            } else {
                arrow::compute::cast(&array, field.data_type())?
            });
        }
        columns.push(Arc::new(
            read.iter()
                .map(|&g| self.last_time[g])
                .collect::<Int64Array>(),
        ));
        columns.push(Arc::new(
            read.iter()
                .map(|&g| self.last_offset[g])
                .collect::<Int64Array>(),
        ));
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?))
    }

    /// Drops (and counts) rows whose window end + grace is at or before the stream time the
    /// rows ahead of them reached — row by row, so the answer does not depend on batch size.
    fn drop_late(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let (Some(end_col), Some(window)) = (self.spec.window_end_column, &self.spec.window) else {
            return Ok(batch);
        };
        let ends = batch.column(end_col).as_primitive::<Int64Type>();
        let times = batch
            .column(self.spec.rowtime_column)
            .as_primitive::<Int64Type>();
        let grace = window.grace_ms;
        let mut time = self.stream_time.max(self.watermark);
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
            return Ok(batch);
        }
        self.metrics.add_late(dropped as u64);
        Ok(filter_record_batch(&batch, &keep)?)
    }
}

impl Operator for AggregateOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let batch = self.drop_late(batch)?;
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
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
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
            let id = match self.ids.get(key) {
                Some(&id) => id,
                None => {
                    let id = self.keys.len();
                    self.ids.insert(key.to_vec(), id);
                    self.keys.push(key.to_vec());
                    self.window_ends.push(ends.as_ref().map(|e| e.value(row)));
                    self.last_time.push(i64::MIN);
                    self.last_offset.push(i64::MIN);
                    id
                }
            };
            self.last_time[id] = self.last_time[id].max(times.value(row));
            self.last_offset[id] = self.last_offset[id].max(offsets.value(row));
            indices.push(id);
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

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.watermark = watermark;
        let Some(window) = &self.spec.window else {
            return Ok(());
        };
        let cutoff = watermark.saturating_sub(window.grace_ms);
        // The end of input (watermark at the end of time) closes every window.
        let closes = |g: usize| {
            self.window_ends[g].is_some_and(|end| watermark == i64::MAX || end <= cutoff)
        };
        let mut closed: Vec<usize> = (0..self.groups()).filter(|&g| closes(g)).collect();
        if closed.is_empty() {
            return Ok(());
        }
        closed.sort_by_key(|&g| (self.window_ends[g], self.last_offset[g]));
        let kept: Vec<usize> = (0..self.groups()).filter(|&g| !closes(g)).collect();
        let read: &[usize] = if self.spec.emit == EmitMode::Final {
            &closed
        } else {
            &[]
        };
        let values = self.reshape(read, Some(&kept))?;
        if let Some(b) = self.rows(read, values)? {
            out.push(b);
        }
        // Renumber the surviving groups.
        let take_vec = |v: &Vec<i64>| kept.iter().map(|&g| v[g]).collect::<Vec<_>>();
        self.last_time = take_vec(&self.last_time);
        self.last_offset = take_vec(&self.last_offset);
        self.window_ends = kept.iter().map(|&g| self.window_ends[g]).collect();
        self.keys = kept
            .iter()
            .map(|&g| std::mem::take(&mut self.keys[g]))
            .collect();
        self.ids = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Ok(())
    }
}
