//! A table's changelog as additions and retractions, for an aggregation over a table.
//!
//! Per partition (the input is keyed by the table's primary key), the latest row of every key
//! is kept. Each input row becomes: the key's previous row, marked as a retraction
//! (`ROWDELETED` = true), if there is one; then the row itself (`ROWDELETED` = false), unless
//! it is a tombstone. Both carry the input row's time and offset, so they stay in source order.
//! Downstream, filters and projections treat both kinds alike, the exchange routes each to
//! its group's partition (an update that changes the group retracts in one partition and adds
//! in another), and the aggregation takes retractions back out of their group.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::{interleave, take};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use weir_planner::columns::{ROWDELETED, ROWOFFSET, ROWTIME};

use super::groups::GroupIndex;
use super::operator::Operator;
use crate::error::{Error, Result};

pub(crate) struct ChangesOperator {
    key_columns: Vec<usize>,
    converter: Option<RowConverter>,
    keys: GroupIndex,
    /// Per key: where its latest row is (`batches[b]`, row `r`), or none after a tombstone.
    latest: Vec<Option<(usize, usize)>>,
    batches: Vec<RecordBatch>,
    live_rows: usize,
    stored_rows: usize,
}

impl ChangesOperator {
    pub(crate) fn new(key_columns: Vec<usize>) -> Self {
        Self {
            key_columns,
            converter: None,
            keys: GroupIndex::new(),
            latest: Vec::new(),
            batches: Vec::new(),
            live_rows: 0,
            stored_rows: 0,
        }
    }

    /// Keeps only the latest rows once replaced rows outnumber them: memory follows the
    /// table's size, not the length of its changelog.
    fn compact(&mut self) -> Result<()> {
        if self.stored_rows < 1024 || self.stored_rows < 2 * self.live_rows {
            return Ok(());
        }
        let Some(first) = self.batches.first() else {
            return Ok(());
        };
        let schema = first.schema();
        let live: Vec<(usize, (usize, usize))> = self
            .latest
            .iter()
            .enumerate()
            .filter_map(|(k, at)| at.map(|at| (k, at)))
            .collect();
        let sources: Vec<&RecordBatch> = self.batches.iter().collect();
        let picks: Vec<(usize, usize)> = live.iter().map(|(_, at)| *at).collect();
        let columns = (0..schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn Array> =
                    sources.iter().map(|b| b.column(c).as_ref()).collect();
                interleave(&arrays, &picks)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let kept = RecordBatch::try_new(schema, columns)?;
        for (row, (k, _)) in live.iter().enumerate() {
            self.latest[*k] = Some((0, row));
        }
        self.stored_rows = kept.num_rows();
        self.batches = vec![kept];
        Ok(())
    }
}

impl Operator for ChangesOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let schema = batch.schema();
        let column = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| Error::Internal(format!("table changelog without {name}")))
        };
        let (deleted_col, time_col, offset_col) =
            (column(ROWDELETED)?, column(ROWTIME)?, column(ROWOFFSET)?);
        let keys: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&k| Arc::clone(batch.column(k)))
            .collect();
        if self.converter.is_none() {
            self.converter = Some(RowConverter::new(
                keys.iter()
                    .map(|k| SortField::new(k.data_type().clone()))
                    .collect(),
            )?);
        }
        let encoded = match &self.converter {
            Some(c) => c.convert_columns(&keys)?,
            None => return Err(Error::Internal("no key converter".into())),
        };
        let deleted = batch.column(deleted_col).as_boolean().clone();
        let this = self.batches.len();
        // Output rows: (source batch, row) to copy, the input row they belong to, retraction?
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(rows * 2);
        let mut owners: Vec<u32> = Vec::with_capacity(rows * 2);
        let mut retracts: Vec<bool> = Vec::with_capacity(rows * 2);
        for r in 0..rows {
            // A table has no row for a NULL key.
            if keys.iter().any(|k| k.is_null(r)) {
                continue;
            }
            let (k, new) = self.keys.intern(encoded.row(r).data());
            if new {
                self.latest.push(None);
            }
            if let Some(prev) = self.latest[k] {
                picks.push(prev);
                owners.push(r as u32);
                retracts.push(true);
                self.live_rows -= 1;
            }
            if deleted.value(r) {
                self.latest[k] = None;
            } else {
                picks.push((this, r));
                owners.push(r as u32);
                retracts.push(false);
                self.latest[k] = Some((this, r));
                self.live_rows += 1;
            }
        }
        self.batches.push(batch.clone());
        self.stored_rows += rows;
        if !picks.is_empty() {
            let sources: Vec<&RecordBatch> = self.batches.iter().collect();
            let owners = arrow::array::UInt32Array::from(owners);
            let columns = (0..schema.fields().len())
                .map(|c| -> Result<ArrayRef> {
                    if c == deleted_col {
                        Ok(Arc::new(BooleanArray::from(retracts.clone())))
                    } else if c == time_col || c == offset_col {
                        Ok(take(batch.column(c).as_ref(), &owners, None)?)
                    } else {
                        let arrays: Vec<&dyn Array> =
                            sources.iter().map(|b| b.column(c).as_ref()).collect();
                        Ok(interleave(&arrays, &picks)?)
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(RecordBatch::try_new(schema, columns)?);
        }
        self.compact()
    }
}
