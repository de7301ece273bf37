//! Table–table join on primary keys.
//!
//! Per partition (both tables are copartitioned on their keys), each side keeps its latest
//! row per key. Every update, from either side, emits the key's new joined row: INNER when
//! both sides have the key, LEFT / RIGHT / FULL OUTER also when only the kept side has it
//! (with NULLs for the other). The result is a changelog keyed like the left table; its time
//! is the later of the two rows' times.
//!
//! A tombstone (`ROWDELETED`) deletes its key from its side. When that removes a joined row
//! that existed (for an INNER join, both sides had the key), the result is a tombstone too;
//! when the other side is kept alone (an outer join), the key's row loses this side instead.

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
    foreign: ForeignIndex,
    /// Rows emitted so far (their offsets).
    emitted: i64,
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
            foreign: ForeignIndex::default(),
            emitted: 0,
            spec,
        })
    }

    fn update(&mut self, s: usize, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.spec.left_foreign_key.is_some() {
            return self.update_foreign(s, batch, out);
        }
        let batch =
            RecordBatch::try_new(Arc::clone(&self.sides[s].schema), batch.columns().to_vec())?;
        let keys = self.sides[s].keys(&batch)?;
        let deleted_col = if s == 0 {
            self.spec.left_deleted
        } else {
            self.spec.right_deleted
        };
        let deleted = batch.column(deleted_col).as_boolean().clone();
        let at = self.sides[s].batches.len();
        self.sides[s].batches.push(batch);
        let keep = [self.spec.kind.keeps_left(), self.spec.kind.keeps_right()];
        let other = 1 - s;
        // Whether the join has a row for a key with these sides present.
        let joined = |this: bool, that: bool| (this && (that || keep[s])) || (that && keep[other]);
        // (left (batch, row), right (batch, row)) of each emitted row; (0, 0) is the NULL row.
        let mut picks: [Vec<(usize, usize)>; 2] = [Vec::new(), Vec::new()];
        let mut tombstones: Vec<bool> = Vec::new();
        let mut triggers: Vec<usize> = Vec::new();
        for (r, key) in keys.iter().enumerate() {
            // A NULL primary key is not a row of the table.
            let Some(key) = key else { continue };
            let partner = self.sides[other].latest.get(key).copied();
            if deleted.value(r) {
                let existed = self.sides[s].latest.remove(key).is_some();
                if joined(false, partner.is_some()) {
                    // The other side stays, without this one.
                    picks[s].push((0, 0));
                    picks[other].push(partner.unwrap_or((0, 0)));
                    tombstones.push(false);
                    triggers.push(r);
                } else if joined(existed, partner.is_some()) {
                    picks[s].push((at, r));
                    picks[other].push((0, 0));
                    tombstones.push(true);
                    triggers.push(r);
                }
                continue;
            }
            self.sides[s].latest.insert(key.clone(), (at, r));
            if !joined(true, partner.is_some()) {
                continue;
            }
            picks[s].push((at, r));
            picks[other].push(partner.unwrap_or((0, 0)));
            tombstones.push(false);
            triggers.push(r);
        }
        self.emit(s, at, &picks, tombstones, &triggers, out)
    }

    /// Output rows: `picks[side]` says which row of each side (`(0, 0)` is the NULL row),
    /// `triggers` the row of the update (side `s`, batch `at`) that produced each.
    fn emit(
        &mut self,
        s: usize,
        at: usize,
        picks: &[Vec<(usize, usize)>; 2],
        tombstones: Vec<bool>,
        triggers: &[usize],
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if picks[0].is_empty() {
            return Ok(());
        }
        let other = 1 - s;
        let mut columns = Vec::with_capacity(self.spec.output.fields().len());
        let mut times: [Vec<Option<i64>>; 2] = [Vec::new(), Vec::new()];
        for (side_no, side) in self.sides.iter().enumerate() {
            let time_col = if side_no == 0 {
                self.spec.left_time
            } else {
                self.spec.right_time
            };
            for c in 0..side.schema.fields().len() {
                let arrays: Vec<&dyn Array> =
                    side.batches.iter().map(|b| b.column(c).as_ref()).collect();
                let column = interleave(&arrays, &picks[side_no])?;
                if c == time_col {
                    times[side_no] = match column.as_primitive_opt::<Int64Type>() {
                        Some(a) => a.iter().collect(),
                        None => vec![None; column.len()],
                    };
                }
                columns.push(column);
            }
        }
        // The update that produced each row (also when it removed this side of the row) gives
        // its time when that is later than the other side's.
        let time_col = if s == 0 {
            self.spec.left_time
        } else {
            self.spec.right_time
        };
        let trigger = &self.sides[s].batches[at];
        let trigger_times = trigger.column(time_col).as_primitive::<Int64Type>();
        let time: Int64Array = triggers
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let t = trigger_times.value(r);
                Some(t.max(times[other][i].unwrap_or(i64::MIN)))
            })
            .collect();
        // The result's own positions, in the order its rows are made: the two sides' offsets
        // do not compare (a later row must not look older than the one it replaces).
        let first = self.emitted;
        self.emitted += triggers.len() as i64;
        let offset: Int64Array = (first..self.emitted).map(Some).collect();
        columns[self.spec.left_time] = Arc::new(time);
        columns[self.spec.left_offset] = Arc::new(offset);
        columns[self.spec.left_deleted] = Arc::new(arrow::array::BooleanArray::from(tombstones));
        // The result's key is the left key, or the right one where the left side is missing.
        let left_key = Arc::clone(&columns[self.spec.left_key_column]);
        let right_key = &columns[self.spec.left_columns + self.spec.right_key_column];
        let present = arrow::compute::is_not_null(&left_key)?;
        columns[self.spec.left_key_column] =
            arrow::compute::kernels::zip::zip(&present, &left_key, right_key)?;
        out.push(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?);
        Ok(())
    }
}

impl TableJoinOperator {
    /// A foreign-key join: the left table's rows meet the right table's row whose primary key
    /// is their join expression's value. A left update looks its partner up; a right update
    /// re-emits every left row that refers to it (in the order they came to refer to it).
    /// The result is keyed by the left primary key. INNER and LEFT only.
    fn update_foreign(
        &mut self,
        s: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let batch =
            RecordBatch::try_new(Arc::clone(&self.sides[s].schema), batch.columns().to_vec())?;
        let keys = self.sides[s].keys(&batch)?;
        let deleted_col = if s == 0 {
            self.spec.left_deleted
        } else {
            self.spec.right_deleted
        };
        let deleted = batch.column(deleted_col).as_boolean().clone();
        let foreign = match (&self.spec.left_foreign_key, s) {
            (Some(expr), 0) => self.foreign.keys_of(expr, &batch)?,
            _ => Vec::new(),
        };
        let at = self.sides[s].batches.len();
        self.sides[s].batches.push(batch);
        let left_outer = self.spec.kind.keeps_left();
        let mut picks: [Vec<(usize, usize)>; 2] = [Vec::new(), Vec::new()];
        let mut tombstones: Vec<bool> = Vec::new();
        let mut triggers: Vec<usize> = Vec::new();
        for (r, key) in keys.iter().enumerate() {
            let Some(key) = key else { continue };
            if s == 0 {
                // Whether this left key had a result row before the update.
                let old_fk = self.foreign.unlink(key);
                let had = self.sides[0].latest.contains_key(key)
                    && (left_outer
                        || old_fk
                            .as_ref()
                            .is_some_and(|f| self.sides[1].latest.contains_key(f)));
                if deleted.value(r) {
                    if self.sides[0].latest.remove(key).is_some() {
                        picks[0].push((at, r));
                        picks[1].push((0, 0));
                        tombstones.push(true);
                        triggers.push(r);
                    }
                    continue;
                }
                self.sides[0].latest.insert(key.clone(), (at, r));
                let fk = foreign.get(r).cloned().flatten();
                let partner = fk
                    .as_ref()
                    .and_then(|f| self.sides[1].latest.get(f).copied());
                if let Some(f) = fk {
                    self.foreign.link(key, f);
                }
                if partner.is_some() || left_outer {
                    picks[0].push((at, r));
                    picks[1].push(partner.unwrap_or((0, 0)));
                    tombstones.push(false);
                    triggers.push(r);
                } else if had {
                    picks[0].push((at, r));
                    picks[1].push((0, 0));
                    tombstones.push(true);
                    triggers.push(r);
                }
            } else {
                let existed = if deleted.value(r) {
                    self.sides[1].latest.remove(key).is_some()
                } else {
                    self.sides[1].latest.insert(key.clone(), (at, r));
                    true
                };
                let referring = self.foreign.referring(key);
                for left_key in referring {
                    let Some(&left_row) = self.sides[0].latest.get(&left_key) else {
                        continue;
                    };
                    if deleted.value(r) {
                        if !existed {
                            continue;
                        }
                        // INNER: the row goes; LEFT: it stays, without the right side.
                        picks[0].push(left_row);
                        picks[1].push((0, 0));
                        tombstones.push(!left_outer);
                    } else {
                        picks[0].push(left_row);
                        picks[1].push((at, r));
                        tombstones.push(false);
                    }
                    triggers.push(r);
                }
            }
        }
        self.emit(s, at, &picks, tombstones, &triggers, out)
    }
}

/// A foreign-key join's index: each left key's foreign key, and the left keys that refer to
/// each foreign key (in the order they came to).
#[derive(Default)]
struct ForeignIndex {
    converter: Option<RowConverter>,
    of: HashMap<Vec<u8>, Vec<u8>>,
    referring: HashMap<Vec<u8>, Vec<Vec<u8>>>,
}

impl ForeignIndex {
    fn keys_of(
        &mut self,
        expr: &Arc<dyn PhysicalExpr>,
        batch: &RecordBatch,
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let key = expr.evaluate(batch)?.into_array(batch.num_rows())?;
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

    fn link(&mut self, left: &[u8], foreign: Vec<u8>) {
        self.referring
            .entry(foreign.clone())
            .or_default()
            .push(left.to_vec());
        self.of.insert(left.to_vec(), foreign);
    }

    /// Forgets a left key's foreign key (returned).
    fn unlink(&mut self, left: &[u8]) -> Option<Vec<u8>> {
        let foreign = self.of.remove(left)?;
        if let Some(list) = self.referring.get_mut(&foreign) {
            list.retain(|k| k.as_slice() != left);
            if list.is_empty() {
                self.referring.remove(&foreign);
            }
        }
        Some(foreign)
    }

    fn referring(&self, foreign: &[u8]) -> Vec<Vec<u8>> {
        self.referring.get(foreign).cloned().unwrap_or_default()
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

    fn merges_inputs_by_time(&self) -> Option<usize> {
        Some(0)
    }
}
