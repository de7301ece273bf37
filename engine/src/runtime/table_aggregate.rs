//! `GROUP BY` over a table: additions and retractions (from [`super::changes`]) update
//! per-group aggregates, emitted as a changelog (as ksqlDB aggregates a table: an update
//! takes the old row out of its group and adds the new one; a deleted row only leaves).
//!
//! Each group has one accumulator per aggregate. Aggregates that can take rows back out
//! (DataFusion's `retract_batch`: COUNT, SUM, AVG, STDDEV, CORRELATION, ...) are updated in
//! place, one vectorised call per group and kind per batch. The others (COLLECT_LIST,
//! HISTOGRAM, TOPK, ...) are recomputed for the groups a batch changed, from the group's live
//! contributions (a retraction removes the latest contribution with equal values, as ksqlDB's
//! undo does). A group whose rows have all left stays, with its empty aggregate (COUNT 0).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use weir_planner::AggregateSpec;

use super::groups::GroupIndex;
use super::operator::Operator;
use crate::error::{Error, Result};
use crate::sources::Metrics;

/// A row a group holds: its encoded argument values, and where the arguments are
/// (`args[batch]`, row).
type Contribution = (Box<[u8]>, usize, usize);

/// Aggregates whose retraction takes back exactly the given rows, whichever they are.
const ORDER_FREE_RETRACT: &[&str] = &[
    "count",
    "sum",
    "avg",
    "stddev",
    "stddev_pop",
    "var",
    "var_pop",
    "corr",
    "covar_samp",
    "covar_pop",
];

pub(crate) struct TableAggregateOperator {
    spec: Arc<AggregateSpec>,
    retract_column: usize,
    converter: RowConverter,
    groups: GroupIndex,
    /// Per group: one accumulator per aggregate.
    accumulators: Vec<Vec<Box<dyn Accumulator>>>,
    /// Whether every aggregate can retract; otherwise groups are recomputed from `live`.
    retractable: bool,
    /// Recomputing: per group, its live contributions (encoded argument values, and where
    /// the arguments are: `args[batch]`, row).
    live: Vec<Vec<Contribution>>,
    args: Vec<Vec<ArrayRef>>,
    args_converter: Option<RowConverter>,
    last_time: Vec<i64>,
    last_offset: Vec<i64>,
    /// Per group: how many rows it holds now.
    rows: Vec<i64>,
    metrics: Arc<Metrics>,
    reported: usize,
}

impl TableAggregateOperator {
    pub(crate) fn new(spec: Arc<AggregateSpec>, metrics: Arc<Metrics>) -> Result<Self> {
        let retract_column = spec
            .retract_column
            .ok_or_else(|| Error::Internal("table aggregation without retractions".into()))?;
        let converter = RowConverter::new(
            spec.group_types
                .iter()
                .map(|t| SortField::new(t.clone()))
                .collect(),
        )?;
        let retractable = spec.aggregates.iter().all(|a| {
            // DataFusion's retract_batch serves sliding window frames: it takes back the
            // *oldest* rows. Only where order does not matter is that any row.
            ORDER_FREE_RETRACT.contains(&a.fun().name())
                && a.create_sliding_accumulator()
                    .is_ok_and(|acc| acc.supports_retract_batch())
        });
        Ok(Self {
            spec,
            retract_column,
            converter,
            groups: GroupIndex::new(),
            accumulators: Vec::new(),
            retractable,
            live: Vec::new(),
            args: Vec::new(),
            args_converter: None,
            last_time: Vec::new(),
            last_offset: Vec::new(),
            rows: Vec::new(),
            metrics,
            reported: 0,
        })
    }

    fn fresh(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.spec
            .aggregates
            .iter()
            .map(|a| {
                if self.retractable {
                    a.create_sliding_accumulator()
                } else {
                    a.create_accumulator()
                }
            })
            .collect::<Result<_, _>>()
            .map_err(Error::from)
    }

    /// Every aggregate's arguments, evaluated on the batch (one list of arrays per aggregate).
    fn arguments(&self, batch: &RecordBatch) -> Result<Vec<Vec<ArrayRef>>> {
        let rows = batch.num_rows();
        self.spec
            .aggregates
            .iter()
            .map(|agg| {
                agg.expressions()
                    .iter()
                    .map(|e| e.evaluate(batch).and_then(|v| v.into_array(rows)))
                    .collect::<Result<Vec<ArrayRef>, _>>()
                    .map_err(Error::from)
            })
            .collect()
    }

    /// Applies additions and retractions to a retractable group.
    fn apply(
        &mut self,
        group: usize,
        args: &[Vec<ArrayRef>],
        adds: &[u32],
        retracts: &[u32],
    ) -> Result<()> {
        for (i, acc) in self.accumulators[group].iter_mut().enumerate() {
            for (rows, retract) in [(adds, false), (retracts, true)] {
                if rows.is_empty() {
                    continue;
                }
                let idx = UInt32Array::from(rows.to_vec());
                let taken = args[i]
                    .iter()
                    .map(|a| take(a.as_ref(), &idx, None))
                    .collect::<Result<Vec<_>, _>>()?;
                if retract {
                    acc.retract_batch(&taken)?;
                } else {
                    acc.update_batch(&taken)?;
                }
            }
        }
        Ok(())
    }

    /// Recomputes a group from its live contributions.
    fn recompute(&mut self, group: usize) -> Result<()> {
        let mut accs = self.fresh()?;
        let live = &self.live[group];
        if !live.is_empty() {
            let picks: Vec<(usize, usize)> = live.iter().map(|(_, b, r)| (*b, *r)).collect();
            let mut column = 0;
            for (i, acc) in accs.iter_mut().enumerate() {
                let n = self.spec.aggregates[i].expressions().len();
                let values = (column..column + n)
                    .map(|c| {
                        let arrays: Vec<&dyn Array> =
                            self.args.iter().map(|b| b[c].as_ref()).collect();
                        interleave(&arrays, &picks)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                acc.update_batch(&values)?;
                column += n;
            }
        }
        self.accumulators[group] = accs;
        Ok(())
    }

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
        let encoded = self.converter.convert_columns(&keys)?;
        let retract = batch.column(self.retract_column).as_boolean().clone();
        let times = batch
            .column(self.spec.rowtime_column)
            .as_primitive::<Int64Type>()
            .clone();
        let offsets = batch
            .column(self.spec.rowoffset_column)
            .as_primitive::<Int64Type>()
            .clone();
        let args = self.arguments(&batch)?;
        // Per changed group: its additions and retractions, in row order.
        let mut changed: Vec<usize> = Vec::new();
        let mut per_group: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
        let mut slot: std::collections::HashMap<usize, usize> = Default::default();
        let mut bad = 0;
        for r in 0..rows {
            // Rows whose GROUP BY key is NULL belong to no group (as in ksqlDB).
            if keys.iter().any(|k| k.is_null(r)) {
                bad += 1;
                continue;
            }
            let (g, new) = self.groups.intern(encoded.row(r).data());
            if new {
                let fresh = self.fresh()?;
                self.accumulators.push(fresh);
                self.live.push(Vec::new());
                self.last_time.push(i64::MIN);
                self.last_offset.push(i64::MIN);
                self.rows.push(0);
            }
            self.last_time[g] = self.last_time[g].max(times.value(r));
            self.last_offset[g] = self.last_offset[g].max(offsets.value(r));
            let s = *slot.entry(g).or_insert_with(|| {
                changed.push(g);
                per_group.push((Vec::new(), Vec::new()));
                per_group.len() - 1
            });
            if retract.value(r) {
                per_group[s].1.push(r as u32);
                self.rows[g] -= 1;
            } else {
                per_group[s].0.push(r as u32);
                self.rows[g] += 1;
            }
        }
        if bad > 0 {
            self.metrics.add_bad(bad);
        }
        if self.retractable {
            for (&g, (adds, retracts)) in changed.iter().zip(&per_group) {
                self.apply(g, &args, adds, retracts)?;
            }
        } else {
            self.track_live(&args, &changed, &per_group, &retract)?;
            for &g in &changed {
                self.recompute(g)?;
            }
        }
        changed.sort_by_key(|&g| self.last_offset[g]);
        out.push(self.emit(&changed)?);
        Ok(())
    }

    /// Recomputing groups: adds and removes their live contributions, in row order.
    fn track_live(
        &mut self,
        args: &[Vec<ArrayRef>],
        changed: &[usize],
        per_group: &[(Vec<u32>, Vec<u32>)],
        retract: &BooleanArray,
    ) -> Result<()> {
        let flat: Vec<ArrayRef> = args.iter().flatten().cloned().collect();
        if self.args_converter.is_none() {
            self.args_converter = Some(RowConverter::new(
                flat.iter()
                    .map(|a| SortField::new(a.data_type().clone()))
                    .collect(),
            )?);
        }
        let encoded = match &self.args_converter {
            Some(c) if !flat.is_empty() => Some(c.convert_columns(&flat)?),
            _ => None,
        };
        let batch_index = self.args.len();
        self.args.push(flat);
        for (&g, (adds, retracts)) in changed.iter().zip(per_group) {
            let mut rows_in_order: Vec<u32> = adds.iter().chain(retracts).copied().collect();
            rows_in_order.sort_unstable();
            for r in rows_in_order {
                let value: Box<[u8]> = match &encoded {
                    Some(e) => e.row(r as usize).data().into(),
                    None => Box::new([]),
                };
                let live = &mut self.live[g];
                if retract.value(r as usize) {
                    if let Some(at) = live.iter().rposition(|(v, _, _)| *v == value) {
                        live.remove(at);
                    }
                } else {
                    live.push((value, batch_index, r as usize));
                }
            }
        }
        Ok(())
    }

    /// The current rows of the groups `changed`.
    fn emit(&mut self, changed: &[usize]) -> Result<RecordBatch> {
        let parser = self.converter.parser();
        let mut columns = self
            .converter
            .convert_rows(changed.iter().map(|&g| parser.parse(self.groups.key(g))))?;
        let n_groups = self.spec.group_types.len();
        for i in 0..self.spec.aggregates.len() {
            // A group whose rows have all left sums to 0 and collects [] (as ksqlDB's undo
            // leaves them), where DataFusion's aggregates of no rows give NULL.
            let empty_is_zero = matches!(self.spec.aggregates[i].fun().name(), "sum" | "array_agg");
            let values = changed
                .iter()
                .map(|&g| {
                    let v = self.accumulators[g][i].evaluate()?;
                    if empty_is_zero && self.rows[g] <= 0 && v.is_null() {
                        ScalarValue::new_default(&v.data_type())
                    } else {
                        Ok(v)
                    }
                })
                .collect::<Result<Vec<ScalarValue>, _>>()?;
            let field = self.spec.output.field(n_groups + i);
            let array = if values.is_empty() {
                arrow::array::new_empty_array(field.data_type())
            } else {
                ScalarValue::iter_to_array(values)?
            };
            columns.push(if array.data_type() == field.data_type() {
                array
            } else {
                arrow::compute::cast(&array, field.data_type())?
            });
        }
        columns.push(Arc::new(
            changed
                .iter()
                .map(|&g| self.last_time[g])
                .collect::<Int64Array>(),
        ));
        columns.push(Arc::new(
            changed
                .iter()
                .map(|&g| self.last_offset[g])
                .collect::<Int64Array>(),
        ));
        columns.push(Arc::new(BooleanArray::from(vec![false; changed.len()])));
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?)
    }
}

impl Operator for TableAggregateOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let result = self.update(batch, out);
        let now = self.groups.len();
        self.metrics
            .add_state_groups(now as i64 - self.reported as i64);
        self.reported = now;
        result
    }
}
