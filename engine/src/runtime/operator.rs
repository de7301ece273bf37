//! The operator contract, and the stateless map operator.

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
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

    /// Event time has advanced to `watermark` (ms since the epoch).
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
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
}

impl MapOperator {
    pub(crate) fn new(steps: Arc<Vec<MapStep>>) -> Self {
        Self { steps }
    }
}

impl Operator for MapOperator {
    fn process(&mut self, batch: RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let mut batch = batch;
        for step in self.steps.iter() {
            if batch.num_rows() == 0 {
                return Ok(());
            }
            batch = match step {
                MapStep::Filter { predicate, .. } => {
                    let mask = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
                    if mask.data_type() != &DataType::Boolean {
                        return Err(Error::Internal("filter predicate is not boolean".into()));
                    }
                    filter_record_batch(&batch, mask.as_boolean())?
                }
                MapStep::Project { exprs, schema, .. } => {
                    let rows = batch.num_rows();
                    let columns = exprs
                        .iter()
                        .map(|e| e.evaluate(&batch).and_then(|v| v.into_array(rows)))
                        .collect::<Result<Vec<_>, _>>()?;
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
