//! Stream–table lookup join (enrichment).
//!
//! How it works, per partition (the stream is copartitioned with the table by the planner):
//! 1. Table rows (input 1) are kept as they arrive; an index maps each primary key (Arrow row
//!    format) to its latest row, so a later row for a key replaces the earlier one.
//! 2. Within a micro-batch both sides are applied in event-time order (table rows first on
//!    equal times), so a stream row sees the table as of its own time and a tombstone removes
//!    its key from then on; a bounded table file is loaded completely before any stream row is
//!    read (the pipeline sees to that), so enrichment never depends on timing.
//! 3. Each stream batch (input 0) evaluates its key, looks every row up, and builds the output
//!    with one `take` of the stream columns and one `interleave` per table column. INNER drops
//!    rows without a match; LEFT keeps them with NULL table columns. A NULL key never matches.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use weir_planner::LookupJoinSpec;

use super::operator::Operator;
use crate::error::{Error, Result};

pub(crate) struct LookupJoinOperator {
    spec: Arc<LookupJoinSpec>,
    converter: RowConverter,
    /// Table batches received so far; the last one is a single all-NULL row (for LEFT).
    table: Vec<RecordBatch>,
    latest: HashMap<Vec<u8>, (usize, usize)>,
}

impl LookupJoinOperator {
    pub(crate) fn new(spec: Arc<LookupJoinSpec>) -> Result<Self> {
        let table_fields: Vec<_> = spec
            .output
            .fields()
            .iter()
            .skip(spec.stream_columns)
            .cloned()
            .collect();
        let key_type = table_fields
            .get(spec.table_key_columns[0])
            .map(|f| f.data_type().clone())
            .ok_or_else(|| Error::Internal("join key outside the table schema".into()))?;
        let schema = Arc::new(arrow::datatypes::Schema::new(table_fields));
        let nulls: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        let null_row = RecordBatch::try_new(schema, nulls)?;
        Ok(Self {
            converter: RowConverter::new(vec![SortField::new(key_type)])?,
            spec,
            table: vec![null_row],
            latest: HashMap::new(),
        })
    }

    fn upsert(&mut self, batch: RecordBatch) -> Result<()> {
        let batch = RecordBatch::try_new(self.table[0].schema(), batch.columns().to_vec())?;
        let keys: Vec<ArrayRef> = self
            .spec
            .table_key_columns
            .iter()
            .map(|&k| Arc::clone(batch.column(k)))
            .collect();
        let rows = self.converter.convert_columns(&keys)?;
        let at = self.table.len();
        // A tombstone (ROWDELETED) removes its key: later stream rows find no match.
        let deleted = batch
            .schema()
            .index_of(weir_planner::columns::ROWDELETED)
            .ok()
            .and_then(|c| batch.column(c).as_boolean_opt().cloned());
        for r in 0..batch.num_rows() {
            if !keys[0].is_valid(r) {
                continue;
            }
            if deleted.as_ref().is_some_and(|d| d.value(r)) {
                self.latest.remove(rows.row(r).as_ref());
            } else {
                self.latest.insert(rows.row(r).as_ref().to_vec(), (at, r));
            }
        }
        self.table.push(batch);
        Ok(())
    }

    fn probe(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = batch.num_rows();
        let key = self.spec.stream_key.evaluate(&batch)?.into_array(n)?;
        let rows = self.converter.convert_columns(&[Arc::clone(&key)])?;
        let mut stream_rows = Vec::with_capacity(n);
        let mut table_rows = Vec::with_capacity(n);
        for r in 0..n {
            let hit = if key.is_valid(r) {
                self.latest.get(rows.row(r).as_ref()).copied()
            } else {
                None
            };
            match hit {
                Some(at) => {
                    stream_rows.push(r as u32);
                    table_rows.push(at);
                }
                None if self.spec.left_outer => {
                    stream_rows.push(r as u32);
                    table_rows.push((0, 0));
                }
                None => {}
            }
        }
        if stream_rows.is_empty() {
            return Ok(());
        }
        let picked = UInt32Array::from(stream_rows);
        let mut columns = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &picked, None))
            .collect::<Result<Vec<_>, _>>()?;
        for j in 0..self.table[0].num_columns() {
            let sources: Vec<&dyn Array> =
                self.table.iter().map(|b| b.column(j).as_ref()).collect();
            columns.push(interleave(&sources, &table_rows)?);
        }
        out.push(RecordBatch::try_new(
            Arc::clone(&self.spec.output),
            columns,
        )?);
        Ok(())
    }
}

impl Operator for LookupJoinOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.probe(batch, out)
    }

    fn process_input(
        &mut self,
        input: usize,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if input == 1 {
            self.upsert(batch)
        } else {
            self.probe(batch, out)
        }
    }

    /// Stream and table rows meet in event-time order, table rows first on equal times: a
    /// stream row sees the table as of its own time.
    fn merges_inputs_by_time(&self) -> Option<usize> {
        Some(1)
    }
}
