//! Moving rows between partitions: split a batch by target partition with one `take`, and
//! merge the pieces a partition receives back into source order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use datafusion_physical_expr::PhysicalExpr;

use super::hash::partition_ids;
use crate::error::Result;

/// Splits `batch` by the hash of `keys`; `out[p]` receives the rows for partition `p`,
/// in their original order.
pub(crate) fn split_by_key(
    batch: &RecordBatch,
    keys: &[Arc<dyn PhysicalExpr>],
    partitions: usize,
    out: &mut [Vec<RecordBatch>],
) -> Result<()> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Ok(());
    }
    if partitions == 1 {
        out[0].push(batch.clone());
        return Ok(());
    }
    let arrays = keys
        .iter()
        .map(|k| k.evaluate(batch).and_then(|v| v.into_array(rows)))
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    split_by_arrays(batch, &arrays, partitions, out)
}

/// Like [`split_by_key`], with the key columns already evaluated.
pub(crate) fn split_by_arrays(
    batch: &RecordBatch,
    keys: &[ArrayRef],
    partitions: usize,
    out: &mut [Vec<RecordBatch>],
) -> Result<()> {
    let rows = batch.num_rows();
    let ids = partition_ids(keys, rows, partitions)?;
    // Counting sort of row indices by partition: stable, so order within a partition is kept.
    let mut counts = vec![0usize; partitions + 1];
    for &id in &ids {
        counts[id as usize + 1] += 1;
    }
    if let Some(p) = counts.iter().skip(1).position(|&c| c == rows) {
        out[p].push(batch.clone());
        return Ok(());
    }
    for p in 1..=partitions {
        counts[p] += counts[p - 1];
    }
    let starts = counts.clone();
    let mut indices = vec![0u32; rows];
    for (row, &id) in ids.iter().enumerate() {
        let slot = &mut counts[id as usize];
        indices[*slot] = row as u32;
        *slot += 1;
    }
    let sorted = take_record_batch(batch, &UInt32Array::from(indices))?;
    for p in 0..partitions {
        let len = starts[p + 1] - starts[p];
        if len > 0 {
            out[p].push(sorted.slice(starts[p], len));
        }
    }
    Ok(())
}

/// Spreads an unkeyed batch over partitions in contiguous runs (partition 0 gets the first rows).
pub(crate) fn split_evenly(batch: &RecordBatch, partitions: usize, out: &mut [Vec<RecordBatch>]) {
    let rows = batch.num_rows();
    if rows == 0 {
        return;
    }
    let per = rows.div_ceil(partitions);
    let mut start = 0;
    for slot in out.iter_mut().take(partitions) {
        if start >= rows {
            break;
        }
        let len = per.min(rows - start);
        slot.push(batch.slice(start, len));
        start += len;
    }
}

/// Merges the pieces one partition received from several others in one epoch back into source
/// order (by the `ROWOFFSET` column at `offset_column`), so order within a key does not depend
/// on how many partitions there were.
pub(crate) fn merge_in_source_order(
    pieces: Vec<RecordBatch>,
    offset_column: Option<usize>,
) -> Result<Vec<RecordBatch>> {
    let Some(col) = offset_column else {
        return Ok(pieces);
    };
    if pieces.len() <= 1 {
        return Ok(pieces);
    }
    let schema = pieces[0].schema();
    let merged = concat_batches(&schema, &pieces)?;
    let offsets = merged.column(col);
    if offsets.null_count() > 0 || offsets.as_any().downcast_ref::<Int64Array>().is_none() {
        return Ok(vec![merged]);
    }
    let Some(offsets) = offsets.as_any().downcast_ref::<Int64Array>() else {
        return Ok(vec![merged]);
    };
    // Stable: rows with equal offsets (one input row in several hopping windows) keep their order.
    let mut order: Vec<u32> = (0..merged.num_rows() as u32).collect();
    order.sort_by_key(|&i| offsets.value(i as usize));
    Ok(vec![take_record_batch(&merged, &UInt32Array::from(order))?])
}

/// Gives the rows of `batches` (already in source order) the offsets `first`, `first + 1`, ...
/// in their `ROWOFFSET` column at `offset_column` — what a log does with rows it receives, so
/// that offsets stay unique when several queries write one stream.
pub(crate) fn restamp_offsets(
    batches: Vec<RecordBatch>,
    offset_column: usize,
    first: i64,
) -> Result<Vec<RecordBatch>> {
    let mut next = first;
    batches
        .into_iter()
        .map(|b| {
            let n = b.num_rows() as i64;
            let offsets: ArrayRef =
                std::sync::Arc::new(Int64Array::from_iter_values(next..next + n));
            next += n;
            let mut columns = b.columns().to_vec();
            columns[offset_column] = offsets;
            Ok(RecordBatch::try_new(b.schema(), columns)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(keys: &[&str], offsets: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("K", DataType::Utf8, true),
            Field::new("ROWOFFSET", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(Int64Array::from(offsets.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn split_keeps_order_within_partition() {
        let b = batch(&["a", "b", "a", "c", "b", "a"], &[0, 1, 2, 3, 4, 5]);
        let mut out = vec![Vec::new(); 3];
        split_by_arrays(&b, &[Arc::clone(b.column(0))], 3, &mut out).unwrap();
        let total: usize = out.iter().flatten().map(|b| b.num_rows()).sum();
        assert_eq!(total, 6);
        for part in out.iter().flatten() {
            let offs = part
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let v: Vec<i64> = offs.values().to_vec();
            let mut sorted = v.clone();
            sorted.sort();
            assert_eq!(v, sorted);
        }
    }

    #[test]
    fn merge_restores_source_order() {
        let merged = merge_in_source_order(
            vec![batch(&["a", "a"], &[3, 7]), batch(&["a"], &[5])],
            Some(1),
        )
        .unwrap();
        let offs = merged[0]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(offs.values().to_vec(), vec![3, 5, 7]);
    }

    #[test]
    fn even_split_is_contiguous() {
        let b = batch(&["a", "b", "c", "d", "e"], &[0, 1, 2, 3, 4]);
        let mut out = vec![Vec::new(); 2];
        split_evenly(&b, 2, &mut out);
        assert_eq!(out[0][0].num_rows(), 3);
        assert_eq!(out[1][0].num_rows(), 2);
    }
}
