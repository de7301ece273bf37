//! Streaming `GROUP BY`: per-key (and per-window) aggregate state, emitted as a changelog.
//!
//! How it works, per partition:
//! 1. Per input batch: late rows (window end + grace at or before the watermark) are dropped
//!    and counted; the group key of every row (the GROUP BY values, with `WINDOWSTART`/
//!    `WINDOWEND` for windowed queries) is encoded with Arrow's row format and mapped to a
//!    dense group id; rows are ordered by group id (stable, so input order within a group is
//!    kept) and each group's contiguous slice of the argument columns is fed to that group's
//!    DataFusion accumulators in one call.
//! 2. `EMIT CHANGES`: after each batch, the new value of every group the batch changed is
//!    emitted, in the order of each group's last input row (batch size 1 = one update per input
//!    record, as ksqlDB emits with caching off).
//! 3. Per watermark: windows whose end + grace has passed are closed. `EMIT FINAL` emits them
//!    now (once); both modes then free their state. At the end of a bounded input the
//!    watermark jumps to the end of time, which closes every window.
//! 4. Output rows carry `ROWTIME` = the latest event time of the group's inputs and
//!    `ROWOFFSET` = the offset of its latest input row.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use weir_planner::{AggregateSpec, EmitMode};

use super::operator::Operator;
use crate::error::{Error, Result};
use crate::sources::Metrics;

struct Group {
    key: Vec<u8>,
    accumulators: Vec<Box<dyn Accumulator>>,
    window_end: Option<i64>,
    last_time: i64,
    last_offset: i64,
}

pub(crate) struct AggregateOperator {
    spec: Arc<AggregateSpec>,
    converter: RowConverter,
    ids: HashMap<Vec<u8>, usize>,
    groups: Vec<Option<Group>>,
    free: Vec<usize>,
    watermark: i64,
    metrics: Arc<Metrics>,
}

impl AggregateOperator {
    pub(crate) fn new(spec: Arc<AggregateSpec>, metrics: Arc<Metrics>) -> Result<Self> {
        let fields = spec
            .group_types
            .iter()
            .map(|t| SortField::new(t.clone()))
            .collect();
        Ok(Self {
            converter: RowConverter::new(fields)?,
            spec,
            ids: HashMap::new(),
            groups: Vec::new(),
            free: Vec::new(),
            watermark: i64::MIN,
            metrics,
        })
    }

    fn group_id(&mut self, key: &[u8], window_end: Option<i64>) -> Result<usize> {
        if let Some(&id) = self.ids.get(key) {
            return Ok(id);
        }
        let accumulators = self
            .spec
            .aggregates
            .iter()
            .map(|a| a.create_accumulator())
            .collect::<Result<Vec<_>, _>>()?;
        let group = Group {
            key: key.to_vec(),
            accumulators,
            window_end,
            last_time: i64::MIN,
            last_offset: i64::MIN,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.groups[id] = Some(group);
                id
            }
            None => {
                self.groups.push(Some(group));
                self.groups.len() - 1
            }
        };
        self.ids.insert(key.to_vec(), id);
        Ok(id)
    }

    /// Output rows for `ids`, in that order.
    fn emit(&mut self, ids: &[usize]) -> Result<Option<RecordBatch>> {
        if ids.is_empty() {
            return Ok(None);
        }
        let parser = self.converter.parser();
        let mut keys = Vec::with_capacity(ids.len());
        let mut values: Vec<Vec<ScalarValue>> =
            vec![Vec::with_capacity(ids.len()); self.spec.aggregates.len()];
        let mut times = Vec::with_capacity(ids.len());
        let mut offsets = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(group) = self.groups[id].as_mut() else {
                return Err(Error::Internal("emitting a freed group".into()));
            };
            keys.push(group.key.clone());
            for (slot, acc) in values.iter_mut().zip(group.accumulators.iter_mut()) {
                slot.push(acc.evaluate()?);
            }
            times.push(group.last_time);
            offsets.push(group.last_offset);
        }
        let mut columns = self
            .converter
            .convert_rows(keys.iter().map(|k| parser.parse(k)))?;
        for (i, vals) in values.into_iter().enumerate() {
            let field = self.spec.output.field(self.spec.group_types.len() + i);
            let array = ScalarValue::iter_to_array(vals)?;
            let array = if array.data_type() == field.data_type() {
                array
            } else {
                arrow::compute::cast(&array, field.data_type())?
            };
            columns.push(array);
        }
        columns.push(Arc::new(Int64Array::from(times)));
        columns.push(Arc::new(Int64Array::from(offsets)));
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?))
    }

    fn drop_late(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let (Some(end_col), Some(window)) = (self.spec.window_end_column, &self.spec.window) else {
            return Ok(batch);
        };
        if self.watermark == i64::MIN {
            return Ok(batch);
        }
        let ends = batch.column(end_col).as_primitive::<Int64Type>();
        let cutoff = self.watermark.saturating_sub(window.grace_ms);
        let keep: arrow::array::BooleanArray = ends
            .iter()
            .map(|e| Some(e.is_some_and(|e| e > cutoff)))
            .collect();
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
        let encoded = self.converter.convert_columns(&keys)?;
        let ends = self
            .spec
            .window_end_column
            .map(|c| batch.column(c).as_primitive::<Int64Type>().clone());
        let mut ids = Vec::with_capacity(rows);
        for row in 0..rows {
            let end = ends.as_ref().map(|e| e.value(row));
            ids.push(self.group_id(encoded.row(row).as_ref(), end)? as u32);
        }
        // Rows ordered by group, input order kept within a group.
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_by_key(|&r| ids[r as usize]);
        let order = UInt32Array::from(order);
        let args: Vec<Vec<ArrayRef>> = self
            .spec
            .aggregates
            .iter()
            .map(|a| {
                a.expressions()
                    .iter()
                    .map(|e| {
                        let v = e.evaluate(&batch)?.into_array(rows)?;
                        Ok(take(v.as_ref(), &order, None)?)
                    })
                    .collect::<Result<Vec<ArrayRef>>>()
            })
            .collect::<Result<_>>()?;
        let times = batch
            .column(self.spec.rowtime_column)
            .as_primitive::<Int64Type>()
            .clone();
        let offsets = batch
            .column(self.spec.rowoffset_column)
            .as_primitive::<Int64Type>()
            .clone();
        let mut changed: Vec<(i64, usize)> = Vec::new();
        let mut start = 0;
        while start < rows {
            let id = ids[order.value(start) as usize] as usize;
            let mut end = start + 1;
            while end < rows && ids[order.value(end) as usize] as usize == id {
                end += 1;
            }
            let Some(group) = self.groups[id].as_mut() else {
                return Err(Error::Internal("updating a freed group".into()));
            };
            for (acc, cols) in group.accumulators.iter_mut().zip(&args) {
                let slices: Vec<ArrayRef> =
                    cols.iter().map(|c| c.slice(start, end - start)).collect();
                acc.update_batch(&slices)?;
            }
            for k in start..end {
                let r = order.value(k) as usize;
                group.last_time = group.last_time.max(times.value(r));
                group.last_offset = group.last_offset.max(offsets.value(r));
            }
            changed.push((group.last_offset, id));
            start = end;
        }
        if self.spec.emit == EmitMode::Changes {
            changed.sort_unstable();
            let ids: Vec<usize> = changed.into_iter().map(|(_, id)| id).collect();
            if let Some(b) = self.emit(&ids)? {
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
        let mut closed: Vec<(i64, i64, usize)> = self
            .groups
            .iter()
            .enumerate()
            .filter_map(|(id, g)| {
                let g = g.as_ref()?;
                let end = g.window_end?;
                (end <= cutoff).then_some((end, g.last_offset, id))
            })
            .collect();
        if closed.is_empty() {
            return Ok(());
        }
        closed.sort_unstable();
        let ids: Vec<usize> = closed.iter().map(|c| c.2).collect();
        if self.spec.emit == EmitMode::Final {
            if let Some(b) = self.emit(&ids)? {
                out.push(b);
            }
        }
        for id in ids {
            if let Some(g) = self.groups[id].take() {
                self.ids.remove(&g.key);
                self.free.push(id);
            }
        }
        Ok(())
    }
}
