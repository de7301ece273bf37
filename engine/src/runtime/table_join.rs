//! Table–table join on primary keys.
//!
//! Per partition (both tables are copartitioned on their keys), each side keeps its latest
//! row per key. Every update, from either side, emits the key's new joined row: INNER when
//! both sides have the key, LEFT / RIGHT / FULL OUTER also when only the kept side has it
//! (with NULLs for the other). The result is a changelog keyed like the left table; its time
//! is the later of the two rows' times.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::interleave;
use arrow::datatypes::{Int64Type, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use weir_planner::TableJoinSpec;

use super::operator::Operator;
use crate::error::Result;

/// One table's state: its batches and where each key's latest row is.
struct Side {
    schema: SchemaRef,
    key: Arc<dyn PhysicalExpr>,
    /// Index 0 is a one-row all-NULL batch (the missing side of an outer row).
    batches: Vec<RecordBatch>,
    latest: HashMap<Vec<u8>, (usize, usize)>,
    converter: Option<RowConverter>,
}

impl Side {
    fn new(schema: SchemaRef, key: Arc<dyn PhysicalExpr>) -> Result<Self> {
        let nullable = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let nulls: Vec<ArrayRef> = nullable
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        let null_row = RecordBatch::try_new_with_options(
            nullable,
            nulls,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        Ok(Self {
            schema,
            key,
            batches: vec![null_row],
            latest: HashMap::new(),
            converter: None,
        })
    }

    fn keys(&mut self, batch: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let key = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        if self.converter.is_none() {
            self.converter = Some(RowConverter::new(vec![SortField::new(
                key.data_type().clone(),
            )])?);
        }
        let Some(converter) = &self.converter else {
            return Ok(Vec::new());
        };
        let rows = converter.convert_columns(&[Arc::clone(&key)])?;
        Ok((0..batch.num_rows())
            .map(|r| key.is_valid(r).then(|| rows.row(r).as_ref().to_vec()))
            .collect())
    }
}

pub(crate) struct TableJoinOperator {
    spec: Arc<TableJoinSpec>,
    sides: [Side; 2],
}

impl TableJoinOperator {
    pub(crate) fn new(spec: Arc<TableJoinSpec>) -> Result<Self> {
        let fields = spec.output.fields();
        let left = Arc::new(Schema::new(fields[..spec.left_columns].to_vec()));
        let right = Arc::new(Schema::new(fields[spec.left_columns..].to_vec()));
        Ok(Self {
            sides: [
                Side::new(left, Arc::clone(&spec.left_key))?,
                Side::new(right, Arc::clone(&spec.right_key))?,
            ],
            spec,
        })
    }

    fn update(&mut self, s: usize, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch =
            RecordBatch::try_new(Arc::clone(&self.sides[s].schema), batch.columns().to_vec())?;
        let keys = self.sides[s].keys(&batch)?;
        let at = self.sides[s].batches.len();
        self.sides[s].batches.push(batch);
        let keep = [self.spec.kind.keeps_left(), self.spec.kind.keeps_right()];
        let other = 1 - s;
        // (left (batch, row), right (batch, row)) of each emitted row; (0, 0) is the NULL row.
        let mut picks: [Vec<(usize, usize)>; 2] = [Vec::new(), Vec::new()];
        for (r, key) in keys.iter().enumerate() {
            // A NULL primary key is not a row of the table.
            let Some(key) = key else { continue };
            self.sides[s].latest.insert(key.clone(), (at, r));
            let partner = self.sides[other].latest.get(key).copied();
            if partner.is_none() && !keep[s] {
                continue;
            }
            picks[s].push((at, r));
            picks[other].push(partner.unwrap_or((0, 0)));
        }
        if picks[0].is_empty() {
            return Ok(());
        }
        let mut columns = Vec::with_capacity(self.spec.output.fields().len());
        let mut times: [Vec<Option<i64>>; 2] = [Vec::new(), Vec::new()];
        let mut offsets: [Vec<Option<i64>>; 2] = [Vec::new(), Vec::new()];
        for (side_no, side) in self.sides.iter().enumerate() {
            let (time_col, offset_col) = if side_no == 0 {
                (self.spec.left_time, self.spec.left_offset)
            } else {
                (self.spec.right_time, self.spec.right_offset)
            };
            for c in 0..side.schema.fields().len() {
                let arrays: Vec<&dyn Array> =
                    side.batches.iter().map(|b| b.column(c).as_ref()).collect();
                let column = interleave(&arrays, &picks[side_no])?;
                if c == time_col || c == offset_col {
                    let values: Vec<Option<i64>> = match column.as_primitive_opt::<Int64Type>() {
                        Some(a) => a.iter().collect(),
                        None => vec![None; column.len()],
                    };
                    if c == time_col {
                        times[side_no] = values;
                    } else {
                        offsets[side_no] = values;
                    }
                }
                columns.push(column);
            }
        }
        let time: Int64Array = times[0]
            .iter()
            .zip(&times[1])
            .map(|(l, r)| match (l, r) {
                (Some(l), Some(r)) => Some(*l.max(r)),
                (l, r) => l.or(*r),
            })
            .collect();
        // The row's position is the update's (the side that triggered it).
        let offset: Int64Array = offsets[s].iter().copied().collect();
        columns[self.spec.left_time] = Arc::new(time);
        columns[self.spec.left_offset] = Arc::new(offset);
        if self.spec.kind.keeps_right() {
            let left_key = Arc::clone(&columns[self.spec.left_key_column]);
            let right_key = &columns[self.spec.left_columns + self.spec.right_key_column];
            let present = arrow::compute::is_not_null(&left_key)?;
            columns[self.spec.left_key_column] =
                arrow::compute::kernels::zip::zip(&present, &left_key, right_key)?;
        }
        out.push(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?);
        Ok(())
    }
}

impl Operator for TableJoinOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.update(0, batch, out)
    }

    fn process_input(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.update(input.min(1), batch, out)
    }
}
