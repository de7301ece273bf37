//! The operator contract, and the stateless map operator.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, Int64Array, UInt32Array,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use weir_planner::columns::{ROWOFFSET, ROWTIME};
use weir_planner::MapStep;

use crate::error::{Error, Result};

/// State an operator hands to a checkpoint: named Arrow batches plus small metadata.
#[derive(Debug, Default, Clone)]
pub(crate) struct OperatorState {
    pub(crate) batches: Vec<(String, RecordBatch)>,
    pub(crate) metadata: Vec<u8>,
}

/// One operator instance per partition. Only [`Operator::process`] is required; stateful
/// operators override the hooks they need.
///
/// Lifecycle, per micro-batch (epoch): `process` for each input batch, then `on_watermark`
/// once with the epoch's watermark. At the end of a bounded input, `finish` flushes what is
/// left. `snapshot`/`restore` are called between epochs only, so a snapshot is consistent.
pub(crate) trait Operator: Send {
    /// Processes one batch, appending results to `out`.
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()>;

    /// Processes one batch of input `input` (operators with several inputs override this).
    fn process_input(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.process(batch, out)
    }

    /// Event time has advanced to `watermark` (ms since the epoch).
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// Whether rows of several inputs must arrive in event-time order (each input keeping its
    /// own order), as Kafka Streams picks the input whose next record is earliest: `Some(i)`
    /// names the input whose rows go first when times are equal.
    fn merges_inputs_by_time(&self) -> Option<usize> {
        None
    }

    /// The input has ended.
    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// The operator's state, for a checkpoint.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "checkpointing calls this; tests exercise it now")
    )]
    fn snapshot(&self) -> Result<OperatorState> {
        Ok(OperatorState::default())
    }

    /// Restores state taken by [`Operator::snapshot`].
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "checkpointing calls this; tests exercise it now")
    )]
    fn restore(&mut self, state: OperatorState) -> Result<()> {
        if state.batches.is_empty() && state.metadata.is_empty() {
            Ok(())
        } else {
            Err(Error::Internal(
                "a stateless operator was given state".into(),
            ))
        }
    }
}

/// Filter and project steps fused into one pass over each batch.
pub(crate) struct MapOperator {
    steps: Arc<Vec<MapStep>>,
    /// Per step: for a keyed changelog filter, the keys whose latest row passed it.
    passed: Vec<Option<PassedKeys>>,
}

/// The keys (Arrow row format) whose latest row passed a changelog filter.
struct PassedKeys {
    converter: RowConverter,
    keys: hashbrown::HashSet<Box<[u8]>, foldhash::fast::RandomState>,
}

impl MapOperator {
    pub(crate) fn new(steps: Arc<Vec<MapStep>>) -> Self {
        let passed = steps.iter().map(|_| None).collect();
        Self { steps, passed }
    }
}

/// A keyed changelog filter: rows that pass, tombstones, and — for a key whose latest row
/// passed — a tombstone in place of a row that does not (values NULL but the key's).
fn filter_changelog(
    batch: &RecordBatch,
    mask: &BooleanArray,
    deleted_column: usize,
    key_columns: &[usize],
    state: &mut Option<PassedKeys>,
) -> Result<RecordBatch> {
    let keys: Vec<ArrayRef> = key_columns
        .iter()
        .map(|&k| Arc::clone(batch.column(k)))
        .collect();
    if state.is_none() {
        *state = Some(PassedKeys {
            converter: RowConverter::new(
                keys.iter()
                    .map(|k| SortField::new(k.data_type().clone()))
                    .collect(),
            )?,
            keys: Default::default(),
        });
    }
    let Some(state) = state.as_mut() else {
        return Err(Error::Internal("changelog filter without state".into()));
    };
    let encoded = state.converter.convert_columns(&keys)?;
    let deleted = batch.column(deleted_column).as_boolean();
    let rows = batch.num_rows();
    let mut keep = BooleanBufferBuilder::new(rows);
    let mut retract = BooleanBufferBuilder::new(rows);
    for r in 0..rows {
        let key = encoded.row(r).data();
        let (k, t) = if deleted.value(r) {
            state.keys.remove(key);
            (true, false)
        } else if mask.is_valid(r) && mask.value(r) {
            if !state.keys.contains(key) {
                state.keys.insert(key.into());
            }
            (true, false)
        } else if state.keys.remove(key) {
            (true, true)
        } else {
            (false, false)
        };
        keep.append(k);
        if k {
            retract.append(t);
        }
    }
    let kept = filter_record_batch(batch, &BooleanArray::new(keep.finish(), None))?;
    let retract = BooleanArray::new(retract.finish(), None);
    if retract.true_count() == 0 {
        return Ok(kept);
    }
    let schema = kept.schema();
    let columns = kept
        .columns()
        .iter()
        .enumerate()
        .map(|(c, col)| -> Result<ArrayRef> {
            let name = schema.field(c).name();
            if c == deleted_column {
                Ok(Arc::new(arrow::compute::or(col.as_boolean(), &retract)?))
            } else if key_columns.contains(&c) || name == ROWTIME || name == ROWOFFSET {
                Ok(Arc::clone(col))
            } else {
                Ok(arrow::compute::nullif(col.as_ref(), &retract)?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

impl Operator for MapOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let mut batch = batch;
        for (i, step) in self.steps.iter().enumerate() {
            if batch.num_rows() == 0 {
                return Ok(());
            }
            batch = match step {
                MapStep::Filter {
                    predicate,
                    tombstones,
                    keys,
                    ..
                } => {
                    // A row the condition cannot be evaluated on does not pass it.
                    let mask = evaluate_lenient(predicate, &batch)?;
                    let mask = match arrow::array::Array::nulls(&mask) {
                        Some(_) if mask.data_type() == &DataType::Boolean => {
                            Arc::new(arrow::compute::prep_null_mask_filter(mask.as_boolean()))
                        }
                        _ => mask,
                    };
                    if mask.data_type() != &DataType::Boolean {
                        return Err(Error::Internal("filter predicate is not boolean".into()));
                    }
                    match tombstones {
                        Some(t) if !keys.is_empty() => filter_changelog(
                            &batch,
                            mask.as_boolean(),
                            *t,
                            keys,
                            &mut self.passed[i],
                        )?,
                        Some(t) => {
                            let keep = arrow::compute::or(
                                mask.as_boolean(),
                                batch.column(*t).as_boolean(),
                            )?;
                            filter_record_batch(&batch, &keep)?
                        }
                        None => filter_record_batch(&batch, mask.as_boolean())?,
                    }
                }
                MapStep::AssignWindows {
                    size_ms,
                    advance_ms,
                    rowtime_column,
                    schema,
                } => assign_windows(&batch, *size_ms, *advance_ms, *rowtime_column, schema)?,
                MapStep::Explode {
                    lists,
                    from,
                    schema,
                    ..
                } => explode(&batch, lists, from, schema)?,
                MapStep::DropNullValues { column } => {
                    let deleted = batch.column(*column).as_boolean();
                    if deleted.true_count() == 0 {
                        batch
                    } else {
                        filter_record_batch(&batch, &arrow::compute::not(deleted)?)?
                    }
                }
                MapStep::Project {
                    exprs,
                    schema,
                    null_values,
                    ..
                } => {
                    let rows = batch.num_rows();
                    let mut columns = exprs
                        .iter()
                        .map(|e| evaluate_lenient(e, &batch))
                        .collect::<Result<Vec<_>>>()?;
                    debug_assert!(columns.iter().all(|c| c.len() == rows));
                    if let Some(nv) = null_values {
                        let deleted = batch.column(nv.deleted).as_boolean();
                        if deleted.true_count() > 0 {
                            for &c in &nv.cleared {
                                columns[c] = arrow::compute::nullif(columns[c].as_ref(), deleted)?;
                            }
                        }
                    }
                    RecordBatch::try_new(Arc::clone(schema), columns)?
                }
            };
        }
        if batch.num_rows() > 0 {
            out.push(batch);
        }
        Ok(())
    }
}

/// Evaluates `expr` on the whole batch. When that fails because of some row's values (a
/// CAST that does not fit, a division by zero), the batch is evaluated row by row and the rows
/// that fail get NULL, as ksqlDB does; the cost is only paid by batches with such rows.
fn evaluate_lenient(
    expr: &Arc<dyn datafusion_physical_expr::PhysicalExpr>,
    batch: &RecordBatch,
) -> Result<arrow::array::ArrayRef> {
    let rows = batch.num_rows();
    match expr.evaluate(batch).and_then(|v| v.into_array(rows)) {
        // A DECIMAL result with more digits than its precision (arithmetic that overflowed
        // it) is NULL, as ksqlDB's failed arithmetic is.
        Ok(array) => match array.data_type() {
            arrow::datatypes::DataType::Decimal128(p, s) => {
                use arrow::array::AsArray;
                let (p, s) = (*p, *s);
                let values = array.as_primitive::<arrow::datatypes::Decimal128Type>();
                // (A copy only when some value overflowed.)
                if values.validate_decimal_precision(p).is_ok() {
                    return Ok(array);
                }
                Ok(Arc::new(
                    values
                        .null_if_overflow_precision(p)
                        .with_precision_and_scale(p, s)?,
                ))
            }
            _ => Ok(array),
        },
        Err(e) if rows == 0 => Err(e.into()),
        Err(_) => {
            let data_type = expr.data_type(&batch.schema())?;
            let parts = (0..rows)
                .map(|r| {
                    expr.evaluate(&batch.slice(r, 1))
                        .and_then(|v| v.into_array(1))
                        .unwrap_or_else(|_| arrow::array::new_null_array(&data_type, 1))
                })
                .collect::<Vec<_>>();
            let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            Ok(arrow::compute::concat(&refs)?)
        }
    }
}

/// Appends `WINDOWSTART`/`WINDOWEND` from `ROWTIME`: one window per row when tumbling; every
/// window containing the row (earliest first) when hopping, repeating the row with one `take`
/// (windows starting before the epoch do not exist, as in Kafka Streams).
fn assign_windows(
    batch: &RecordBatch,
    size: i64,
    advance: i64,
    rowtime_column: usize,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<RecordBatch> {
    let times = batch.column(rowtime_column).as_primitive::<Int64Type>();
    let (base, starts) = if size == advance {
        let starts: Int64Array = times.unary(|t| t - t.rem_euclid(size));
        (batch.clone(), starts)
    } else {
        let mut indices = Vec::with_capacity(times.len() * (size / advance + 1) as usize);
        let mut starts = Vec::with_capacity(indices.capacity());
        let mut windows = Vec::new();
        for (row, t) in times.values().iter().enumerate() {
            windows.clear();
            let mut s = t - t.rem_euclid(advance);
            // As Kafka Streams: no window starts before the epoch.
            while s > t - size && s >= 0 {
                windows.push(s);
                s -= advance;
            }
            for &s in windows.iter().rev() {
                indices.push(row as u32);
                starts.push(s);
            }
        }
        let taken = arrow::compute::take_record_batch(batch, &UInt32Array::from(indices))?;
        (taken, Int64Array::from(starts))
    };
    let ends: Int64Array = starts.unary(|s| s.saturating_add(size));
    let mut columns = base.columns().to_vec();
    columns.push(Arc::new(starts));
    columns.push(Arc::new(ends));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// One row per element of the `lists` columns (padded with NULL to the longest list of the
/// row; NULL or empty lists give no rows): the elements are taken from each list's flat
/// values, every other column is repeated with one `take`.
fn explode(
    batch: &RecordBatch,
    lists: &[usize],
    from: &[usize],
    schema: &arrow::datatypes::SchemaRef,
) -> Result<RecordBatch> {
    let arrays: Vec<&arrow::array::ListArray> = lists
        .iter()
        .map(|&c| {
            batch
                .column(c)
                .as_list_opt::<i32>()
                .ok_or_else(|| Error::Internal("EXPLODE of a column that is not a list".into()))
        })
        .collect::<Result<_>>()?;
    let len = |a: &arrow::array::ListArray, r: usize| {
        if a.is_null(r) {
            0
        } else {
            a.value_length(r) as usize
        }
    };
    let mut rows: Vec<u32> = Vec::new();
    let mut elements: Vec<Vec<Option<u32>>> = vec![Vec::new(); arrays.len()];
    for r in 0..batch.num_rows() {
        let n = arrays.iter().map(|a| len(a, r)).max().unwrap_or(0);
        for j in 0..n {
            rows.push(r as u32);
            for (k, a) in arrays.iter().enumerate() {
                let start = a.value_offsets()[r] as usize;
                elements[k].push((j < len(a, r)).then(|| (start + j) as u32));
            }
        }
    }
    let rows = UInt32Array::from(rows);
    let exploded = arrays
        .iter()
        .zip(elements)
        .map(|(a, idx)| arrow::compute::take(a.values().as_ref(), &UInt32Array::from(idx), None))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = from
        .iter()
        .zip(schema.fields())
        .map(|(&c, field)| -> Result<ArrayRef> {
            let column = match lists.iter().position(|&l| l == c) {
                Some(k) => Arc::clone(&exploded[k]),
                None => arrow::compute::take(batch.column(c).as_ref(), &rows, None)?,
            };
            if column.data_type() == field.data_type() {
                Ok(column)
            } else {
                Ok(arrow::compute::cast(&column, field.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )?)
}

/// `UNION ALL`: passes every input's batches through under the union's schema.
pub(crate) struct UnionOperator {
    schema: arrow::datatypes::SchemaRef,
}

impl UnionOperator {
    pub(crate) fn new(schema: arrow::datatypes::SchemaRef) -> Self {
        Self { schema }
    }
}

impl Operator for UnionOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        out.push(RecordBatch::try_new(
            Arc::clone(&self.schema),
            batch.columns().to_vec(),
        )?);
        Ok(())
    }
}
