//! `REDUCE(collection, initial, lambda)`: folds an ARRAY (`(s, x) => ...`) or a MAP
//! (`(s, k, v) => ...`) into one value, starting from `initial`, as ksqlDB's REDUCE.
//!
//! Vectorised by position: step `k` evaluates the lambda once over every row that has a `k`-th
//! element (its state so far, and that element), so a batch costs as many lambda evaluations
//! as its longest collection has elements, not one per element.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{cast, interleave, take};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{exec_err, plan_err, Result};
use datafusion_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaParametersProgress, ValueOrLambda, Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
struct Reduce {
    signature: HigherOrderSignature,
}

/// The collection's element parameters: `x` for an ARRAY, `k` and `v` for a MAP.
fn element_fields(collection: &DataType) -> Result<Vec<FieldRef>> {
    match collection {
        DataType::List(item) | DataType::LargeList(item) => Ok(vec![Arc::new(Field::new(
            "x",
            item.data_type().clone(),
            true,
        ))]),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Ok(vec![
                Arc::new(Field::new("k", kv[0].data_type().clone(), true)),
                Arc::new(Field::new("v", kv[1].data_type().clone(), true)),
            ]),
            other => plan_err!("REDUCE: a map's entries are key and value, not {other}"),
        },
        other => plan_err!("REDUCE takes an ARRAY or a MAP, not {other}"),
    }
}

impl HigherOrderUDFImpl for Reduce {
    fn name(&self) -> &str {
        "reduce"
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let [ValueOrLambda::Value(collection), ValueOrLambda::Value(initial), ValueOrLambda::Lambda(_)] =
            fields
        else {
            return plan_err!("REDUCE takes a collection, an initial state and a lambda");
        };
        let mut params = vec![Arc::new(Field::new("s", initial.data_type().clone(), true))];
        params.extend(element_fields(collection.data_type())?);
        Ok(LambdaParametersProgress::Complete(vec![params]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let [_, ValueOrLambda::Value(initial), ValueOrLambda::Lambda(body)] = args.arg_fields
        else {
            return plan_err!("REDUCE takes a collection, an initial state and a lambda");
        };
        // A NULL initial state takes the lambda's type; otherwise the lambda must return the
        // state's type (integers of another width and floats are converted).
        let (init, result) = (initial.data_type(), body.data_type());
        let fits = init == result
            || (init.is_integer() && result.is_integer())
            || (init.is_floating() && result.is_numeric())
            || result == &DataType::Null;
        let t = match init {
            DataType::Null => result.clone(),
            _ if fits => init.clone(),
            _ => {
                return plan_err!(
                    "REDUCE: the lambda returns {} but the initial state is {}; give an initial \
                     state of the lambda's type (e.g. CAST(0 AS DOUBLE))",
                    crate::types::sql_type_name(result),
                    crate::types::sql_type_name(init)
                )
            }
        };
        Ok(Arc::new(Field::new("reduce", t, true)))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [ValueOrLambda::Value(collection), ValueOrLambda::Value(initial), ValueOrLambda::Lambda(lambda)] =
            args.args.as_slice()
        else {
            return exec_err!("REDUCE takes a collection, an initial state and a lambda");
        };
        let out_type = args.return_type().clone();
        let collection = collection.to_array(rows)?;
        let mut state = cast(&initial.to_array(rows)?, &out_type)?;
        // Per row: where its elements start, and how many there are (none for NULL).
        let (offsets, columns): (Vec<(usize, usize)>, Vec<ArrayRef>) = match collection.data_type()
        {
            DataType::List(_) => {
                let l = collection.as_list::<i32>();
                let o = l.value_offsets();
                (
                    (0..rows)
                        .map(|r| {
                            let len = if l.is_null(r) {
                                0
                            } else {
                                (o[r + 1] - o[r]) as usize
                            };
                            (o[r] as usize, len)
                        })
                        .collect(),
                    vec![Arc::clone(l.values())],
                )
            }
            DataType::Map(..) => {
                let m = collection.as_map();
                let o = m.value_offsets();
                (
                    (0..rows)
                        .map(|r| {
                            let len = if m.is_null(r) {
                                0
                            } else {
                                (o[r + 1] - o[r]) as usize
                            };
                            (o[r] as usize, len)
                        })
                        .collect(),
                    vec![Arc::clone(m.keys()), Arc::clone(m.values())],
                )
            }
            other => return exec_err!("REDUCE takes an ARRAY or a MAP, not {other}"),
        };
        let longest = offsets.iter().map(|&(_, n)| n).max().unwrap_or(0);
        for k in 0..longest {
            let here: Vec<u32> = (0..rows)
                .filter(|&r| offsets[r].1 > k)
                .map(|r| r as u32)
                .collect();
            let picked = UInt32Array::from(here.clone());
            let elements = UInt32Array::from(
                here.iter()
                    .map(|&r| (offsets[r as usize].0 + k) as u32)
                    .collect::<Vec<_>>(),
            );
            let so_far = take(state.as_ref(), &picked, None)?;
            let parts: Vec<ArrayRef> = columns
                .iter()
                .map(|c| take(c.as_ref(), &elements, None))
                .collect::<std::result::Result<_, _>>()?;
            let s_param = || Ok(Arc::clone(&so_far));
            let p0 = || Ok(Arc::clone(&parts[0]));
            let p1 = || Ok(Arc::clone(parts.get(1).unwrap_or(&parts[0])));
            let params: Vec<&dyn Fn() -> Result<ArrayRef>> = if parts.len() == 1 {
                vec![&s_param, &p0]
            } else {
                vec![&s_param, &p0, &p1]
            };
            let next = lambda
                .evaluate(&params, |captured| {
                    captured
                        .iter()
                        .map(|c| Ok(take(c.as_ref(), &picked, None)?))
                        .collect()
                })?
                .into_array(here.len())?;
            let next = cast(&next, &out_type)?;
            // Rows with a k-th element take the lambda's value; the others keep theirs.
            let mut position = 0;
            let from: Vec<(usize, usize)> = (0..rows)
                .map(|r| {
                    if offsets[r].1 > k {
                        position += 1;
                        (1, position - 1)
                    } else {
                        (0, r)
                    }
                })
                .collect();
            state = interleave(&[state.as_ref(), next.as_ref()], &from)?;
        }
        Ok(ColumnarValue::Array(state))
    }
}

/// The REDUCE higher-order function.
pub(crate) fn reduce() -> Arc<HigherOrderUDF> {
    Arc::new(HigherOrderUDF::new_from_impl(Reduce {
        signature: HigherOrderSignature::exact(
            vec![
                ValueOrLambda::Value(()),
                ValueOrLambda::Value(()),
                ValueOrLambda::Lambda(()),
            ],
            Volatility::Immutable,
        ),
    }))
}
