//! Stream–stream join within a time window (`JOIN b WITHIN ... ON a.k = b.k`).
//!
//! How it works, per partition (both sides are copartitioned on the join key by the planner):
//! 1. Each side keeps the rows it has seen in a buffer, indexed by join key (Arrow row
//!    format). A row arriving on one side is matched against the other side's buffer — a right
//!    row at time `r` matches a left row at time `l` when `l - before <= r <= l + after` — and
//!    then joins its own side's buffer. Every matching pair is emitted exactly once, when the
//!    later of its two rows arrives, whatever the batch boundaries.
//! 2. A result's time is the later of its two rows' times (ksqlDB's rule).
//! 3. When the watermark passes a row's last possible partner time plus the grace period,
//!    the row leaves the buffer; an outer join (LEFT / RIGHT / FULL) emits it with NULLs for
//!    the other side if it never matched. Outer rows are therefore emitted once the window
//!    has closed, never speculatively, so the output does not depend on arrival timing; the
//!    end of a bounded input closes every window.
//! 4. Output batches are built column by column with `interleave` over the buffered batches,
//!    the arriving batch and an all-NULL row; no per-row evaluation of expressions.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::interleave;
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use weir_planner::WindowJoinSpec;

use super::operator::Operator;
use crate::error::{Error, Result};

/// A buffered row: where it is, its time and whether it has found a partner.
#[derive(Debug, Clone, Copy)]
struct Held {
    batch: usize,
    row: usize,
    time: i64,
    matched: bool,
    alive: bool,
}

/// One side's buffer.
struct Side {
    schema: SchemaRef,
    key: Arc<dyn PhysicalExpr>,
    time_column: usize,
    batches: Vec<RecordBatch>,
    rows: Vec<Held>,
    by_key: HashMap<Vec<u8>, Vec<usize>>,
    dead: usize,
}

impl Side {
    fn new(schema: SchemaRef, key: Arc<dyn PhysicalExpr>, time_column: usize) -> Self {
        Self {
            schema,
            key,
            time_column,
            batches: Vec::new(),
            rows: Vec::new(),
            by_key: HashMap::new(),
            dead: 0,
        }
    }

    /// One all-NULL row of this side's schema (the missing side of an outer row).
    fn null_row(&self) -> Result<RecordBatch> {
        let fields: Vec<arrow::datatypes::Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let columns: Vec<ArrayRef> = fields
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        Ok(RecordBatch::try_new_with_options(
            Arc::new(arrow::datatypes::Schema::new(fields)),
            columns,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
        )?)
    }

    /// Frees rows that have left the window once half the buffer is dead.
    fn compact(&mut self) -> Result<()> {
        if self.dead == 0 || self.dead * 2 < self.rows.len() {
            return Ok(());
        }
        let alive: Vec<Held> = self.rows.iter().copied().filter(|h| h.alive).collect();
        let batch = if alive.is_empty() {
            None
        } else {
            let sources: Vec<&RecordBatch> = self.batches.iter().collect();
            let picks: Vec<(usize, usize)> = alive.iter().map(|h| (h.batch, h.row)).collect();
            let columns = (0..self.schema.fields().len())
                .map(|c| {
                    let arrays: Vec<&dyn Array> =
                        sources.iter().map(|b| b.column(c).as_ref()).collect();
                    interleave(&arrays, &picks)
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Some(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
        };
        self.batches.clear();
        self.rows.clear();
        self.by_key.clear();
        self.dead = 0;
        if let Some(batch) = batch {
            let keys = self.keys_of(&batch)?;
            let matched: Vec<bool> = alive.iter().map(|h| h.matched).collect();
            self.append(batch, &keys, &matched)?;
        }
        Ok(())
    }

    /// Keys of `batch` in row format (`None` where the key is NULL: it never matches).
    fn keys_of(&self, batch: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let key = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        let converter = RowConverter::new(vec![SortField::new(key.data_type().clone())])?;
        let rows = converter.convert_columns(&[Arc::clone(&key)])?;
        Ok((0..batch.num_rows())
            .map(|r| key.is_valid(r).then(|| rows.row(r).as_ref().to_vec()))
            .collect())
    }

    fn append(
        &mut self,
        batch: RecordBatch,
        keys: &[Option<Vec<u8>>],
        matched: &[bool],
    ) -> Result<()> {
        let times = times_of(&batch, self.time_column)?;
        let b = self.batches.len();
        for (r, key) in keys.iter().enumerate() {
            let id = self.rows.len();
            self.rows.push(Held {
                batch: b,
                row: r,
                time: times.value(r),
                matched: matched[r],
                alive: true,
            });
            if let Some(k) = key {
                self.by_key.entry(k.clone()).or_default().push(id);
            }
        }
        self.batches.push(batch);
        Ok(())
    }
}

fn times_of(batch: &RecordBatch, column: usize) -> Result<&Int64Array> {
    batch
        .column(column)
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| Error::Internal("ROWTIME is not BIGINT".into()))
}

/// Where an output row's columns of one side come from.
#[derive(Clone, Copy)]
enum From {
    Held(usize),
    New(usize),
    Null,
}

pub(crate) struct WindowJoinOperator {
    spec: Arc<WindowJoinSpec>,
    left: Side,
    right: Side,
}

impl WindowJoinOperator {
    pub(crate) fn new(spec: Arc<WindowJoinSpec>) -> Result<Self> {
        let fields = spec.output.fields();
        let left_schema = Arc::new(arrow::datatypes::Schema::new(
            fields[..spec.left_columns].to_vec(),
        ));
        let right_schema = Arc::new(arrow::datatypes::Schema::new(
            fields[spec.left_columns..].to_vec(),
        ));
        Ok(Self {
            left: Side::new(left_schema, Arc::clone(&spec.left_key), spec.left_time),
            right: Side::new(right_schema, Arc::clone(&spec.right_key), spec.right_time),
            spec,
        })
    }

    /// Matches an arriving batch of one side against the other side's buffer, emits the
    /// pairs, and buffers the batch.
    fn arrive(
        &mut self,
        is_left: bool,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let (this, other) = if is_left {
            (&mut self.left, &mut self.right)
        } else {
            (&mut self.right, &mut self.left)
        };
        // The batch as this side's schema (nullability may differ from the input's).
        let batch = RecordBatch::try_new(Arc::clone(&this.schema), batch.columns().to_vec())?;
        let keys = this.keys_of(&batch)?;
        let times = times_of(&batch, this.time_column)?.clone();
        let (before, after) = (self.spec.before_ms, self.spec.after_ms);
        let mut matched = vec![false; n];
        let mut pairs: Vec<(From, From)> = Vec::new();
        let eager = self.spec.eager_outer
            && if is_left {
                self.spec.kind.keeps_left()
            } else {
                self.spec.kind.keeps_right()
            };
        for (r, key) in keys.iter().enumerate() {
            let found = pairs.len();
            let t = times.value(r);
            let ids = key.as_ref().and_then(|k| other.by_key.get(k));
            for &id in ids.into_iter().flatten() {
                let held = &mut other.rows[id];
                if !held.alive {
                    continue;
                }
                let (l, rt) = if is_left {
                    (t, held.time)
                } else {
                    (held.time, t)
                };
                if rt < l.saturating_sub(before) || rt > l.saturating_add(after) {
                    continue;
                }
                held.matched = true;
                matched[r] = true;
                pairs.push(if is_left {
                    (From::New(r), From::Held(id))
                } else {
                    (From::Held(id), From::New(r))
                });
            }
            if eager && pairs.len() == found {
                pairs.push(if is_left {
                    (From::New(r), From::Null)
                } else {
                    (From::Null, From::New(r))
                });
            }
        }
        let new = batch.clone();
        this.append(batch, &keys, &matched)?;
        if !pairs.is_empty() {
            let (l_new, r_new) = if is_left {
                (Some(&new), None)
            } else {
                (None, Some(&new))
            };
            out.push(self.build(&pairs, l_new, r_new)?);
        }
        Ok(())
    }

    /// Output rows for `pairs`; `New` refers to the arriving batch of that side.
    fn build(
        &self,
        pairs: &[(From, From)],
        left_new: Option<&RecordBatch>,
        right_new: Option<&RecordBatch>,
    ) -> Result<RecordBatch> {
        let mut columns = Vec::with_capacity(self.spec.output.fields().len());
        let mut times: Vec<[Option<i64>; 2]> = vec![[None, None]; pairs.len()];
        let mut offsets: Vec<[Option<i64>; 2]> = vec![[None, None]; pairs.len()];
        for (s, (side, new)) in [(&self.left, left_new), (&self.right, right_new)]
            .into_iter()
            .enumerate()
        {
            let null_row = side.null_row()?;
            let mut sources: Vec<&RecordBatch> = side.batches.iter().collect();
            let new_at = sources.len();
            if let Some(b) = new {
                sources.push(b);
            }
            let null_at = sources.len();
            sources.push(&null_row);
            let picks: Vec<(usize, usize)> = pairs
                .iter()
                .map(|p| match if s == 0 { p.0 } else { p.1 } {
                    From::Held(id) => (side.rows[id].batch, side.rows[id].row),
                    From::New(r) => (new_at, r),
                    From::Null => (null_at, 0),
                })
                .collect();
            let (time_col, offset_col) = if s == 0 {
                (self.spec.left_time, self.spec.left_offset)
            } else {
                (self.spec.right_time, self.spec.right_offset)
            };
            for c in 0..side.schema.fields().len() {
                let arrays: Vec<&dyn Array> =
                    sources.iter().map(|b| b.column(c).as_ref()).collect();
                let column = interleave(&arrays, &picks)?;
                if c == time_col || c == offset_col {
                    if let Some(values) = column.as_primitive_opt::<Int64Type>() {
                        for i in 0..values.len() {
                            let v = values.is_valid(i).then(|| values.value(i));
                            if c == time_col {
                                times[i][s] = v;
                            } else {
                                offsets[i][s] = v;
                            }
                        }
                    }
                }
                columns.push(column);
            }
        }
        // The result's time is the later of the two; its offset the left's (else the right's).
        let time: Int64Array = times
            .iter()
            .map(|[l, r]| match (l, r) {
                (Some(l), Some(r)) => Some(*l.max(r)),
                (l, r) => l.or(*r),
            })
            .collect();
        let offset: Int64Array = offsets.iter().map(|[l, r]| l.or(*r)).collect();
        columns[self.spec.left_time] = Arc::new(time);
        columns[self.spec.left_offset] = Arc::new(offset);
        Ok(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?)
    }

    /// Rows whose window (plus grace) the watermark has passed leave the buffers; unmatched
    /// ones are emitted by outer joins.
    fn expire(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        let grace = self.spec.grace_ms;
        // A left row at l can still meet right rows up to l + after; a right row at r can
        // still meet left rows up to r + before.
        let reach = [self.spec.after_ms, self.spec.before_ms];
        // (Eager outer rows were emitted when they arrived.)
        let keep = [
            self.spec.kind.keeps_left() && !self.spec.eager_outer,
            self.spec.kind.keeps_right() && !self.spec.eager_outer,
        ];
        let mut outer: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (s, side) in [&mut self.left, &mut self.right].into_iter().enumerate() {
            for (id, held) in side.rows.iter_mut().enumerate() {
                if !held.alive {
                    continue;
                }
                let closes = held.time.saturating_add(reach[s]).saturating_add(grace);
                if watermark > closes || watermark == i64::MAX {
                    held.alive = false;
                    side.dead += 1;
                    if keep[s] && !held.matched {
                        outer[s].push(id);
                    }
                }
            }
        }
        // Outer rows in time order (then arrival order), left before right at equal times.
        let mut rows: Vec<(i64, usize, usize)> = Vec::new();
        for (s, ids) in outer.iter().enumerate() {
            let side = if s == 0 { &self.left } else { &self.right };
            rows.extend(ids.iter().map(|&id| (side.rows[id].time, s, id)));
        }
        rows.sort_unstable();
        if !rows.is_empty() {
            let pairs: Vec<(From, From)> = rows
                .iter()
                .map(|&(_, s, id)| {
                    if s == 0 {
                        (From::Held(id), From::Null)
                    } else {
                        (From::Null, From::Held(id))
                    }
                })
                .collect();
            out.push(self.build(&pairs, None, None)?);
        }
        self.left.compact()?;
        self.right.compact()?;
        Ok(())
    }
}

impl Operator for WindowJoinOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.arrive(true, batch, out)
    }

    fn process_input(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.arrive(input == 0, batch, out)
    }

    /// Both sides meet in event-time order (right first on equal times), so which rows have
    /// a partner when they arrive does not depend on batch boundaries.
    fn merges_inputs_by_time(&self) -> Option<usize> {
        Some(1)
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.expire(watermark, out)
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.expire(i64::MAX, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion_physical_expr::expressions::Column;
    use weir_planner::JoinKind;

    fn schema(prefix: &str) -> Vec<Field> {
        vec![
            Field::new(format!("{prefix}K"), DataType::Utf8, true),
            Field::new("ROWTIME", DataType::Int64, true),
            Field::new("ROWOFFSET", DataType::Int64, true),
        ]
    }

    fn op(kind: JoinKind) -> WindowJoinOperator {
        op_with(kind, false)
    }

    fn op_with(kind: JoinKind, eager_outer: bool) -> WindowJoinOperator {
        let mut fields = schema("L");
        fields.extend(schema("R"));
        let spec = WindowJoinSpec {
            left_key: Arc::new(Column::new("LK", 0)),
            right_key: Arc::new(Column::new("RK", 0)),
            kind,
            before_ms: 10,
            after_ms: 10,
            grace_ms: 0,
            eager_outer,
            left_columns: 3,
            left_time: 1,
            left_offset: 2,
            right_time: 1,
            right_offset: 2,
            output: Arc::new(Schema::new(fields)),
            display: "L.K = R.K".into(),
        };
        WindowJoinOperator::new(Arc::new(spec)).unwrap()
    }

    fn rows(prefix: &str, data: &[(&str, i64)]) -> RecordBatch {
        let s = Arc::new(Schema::new(schema(prefix)));
        RecordBatch::try_new(
            s,
            vec![
                Arc::new(StringArray::from(
                    data.iter().map(|d| d.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    data.iter().map(|d| d.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from((0..data.len() as i64).collect::<Vec<_>>())),
            ],
        )
        .unwrap()
    }

    fn show(out: &[RecordBatch]) -> Vec<String> {
        let mut v = Vec::new();
        for b in out {
            let l = b.column(0).as_string::<i32>();
            let t = b.column(1).as_primitive::<Int64Type>();
            let r = b.column(3).as_string::<i32>();
            for i in 0..b.num_rows() {
                let lk = if l.is_null(i) { "-" } else { l.value(i) };
                let rk = if r.is_null(i) { "-" } else { r.value(i) };
                v.push(format!("{lk}/{rk}@{}", t.value(i)));
            }
        }
        v
    }

    #[test]
    fn pairs_within_the_window_are_emitted_once_whichever_side_comes_first() {
        let mut j = op(JoinKind::Inner);
        let mut out = Vec::new();
        j.process_input(0, rows("L", &[("a", 100), ("b", 100)]), &mut out)
            .unwrap();
        // 95 and 110 are within 10 ms of 100; 111 is not.
        j.process_input(
            1,
            rows("R", &[("a", 95), ("a", 111), ("b", 110), ("c", 100)]),
            &mut out,
        )
        .unwrap();
        j.process_input(0, rows("L", &[("a", 105)]), &mut out)
            .unwrap();
        assert_eq!(show(&out), ["a/a@100", "b/b@110", "a/a@105", "a/a@111"]);
    }

    #[test]
    fn outer_rows_wait_for_the_window_to_close() {
        let mut j = op(JoinKind::Full);
        let mut out = Vec::new();
        j.process_input(0, rows("L", &[("a", 100), ("x", 100)]), &mut out)
            .unwrap();
        j.process_input(1, rows("R", &[("a", 105), ("y", 120)]), &mut out)
            .unwrap();
        assert_eq!(show(&out), ["a/a@105"]);
        // At 110 the left x (window up to 110) is not closed yet; past it, it is.
        j.on_watermark(110, &mut out).unwrap();
        assert_eq!(show(&out).len(), 1);
        j.on_watermark(111, &mut out).unwrap();
        assert_eq!(show(&out), ["a/a@105", "x/-@100"]);
        j.finish(&mut out).unwrap();
        assert_eq!(show(&out), ["a/a@105", "x/-@100", "-/y@120"]);
    }

    #[test]
    fn without_grace_outer_rows_are_emitted_as_they_arrive() {
        let mut j = op_with(JoinKind::Left, true);
        let mut out = Vec::new();
        j.process_input(0, rows("L", &[("a", 100), ("x", 100)]), &mut out)
            .unwrap();
        // No partner yet: both at once; a's partner then joins it again.
        assert_eq!(show(&out), ["a/-@100", "x/-@100"]);
        j.process_input(1, rows("R", &[("a", 105)]), &mut out)
            .unwrap();
        j.on_watermark(i64::MAX, &mut out).unwrap();
        assert_eq!(show(&out), ["a/-@100", "x/-@100", "a/a@105"]);
    }
}
