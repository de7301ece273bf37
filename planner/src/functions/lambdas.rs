//! ksqlDB's TRANSFORM and FILTER: over an ARRAY they are DataFusion's `array_transform` and
//! `array_filter`; over a MAP they take `(k, v)` lambdas — TRANSFORM two (the new key, the new
//! value), FILTER one (keep the entry) — evaluated once over all the batch's entries.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{filter, take_arrays};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion_common::utils::list_values_row_number;
use datafusion_common::{exec_err, plan_err, Result};
use datafusion_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaParametersProgress, ValueOrLambda, Volatility,
};

#[derive(Debug)]
struct MapOrArray {
    name: &'static str,
    /// The function over arrays.
    array: Arc<HigherOrderUDF>,
    signature: HigherOrderSignature,
}

impl PartialEq for MapOrArray {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for MapOrArray {}

impl std::hash::Hash for MapOrArray {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// A map type's key and value fields.
fn entry_fields(t: &DataType) -> Option<(FieldRef, FieldRef, FieldRef)> {
    let DataType::Map(entries, _) = t else {
        return None;
    };
    let DataType::Struct(kv) = entries.data_type() else {
        return None;
    };
    (kv.len() == 2).then(|| (Arc::clone(entries), Arc::clone(&kv[0]), Arc::clone(&kv[1])))
}

impl HigherOrderUDFImpl for MapOrArray {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types.first() {
            Some(DataType::Map(..)) => Ok(arg_types.to_vec()),
            _ => self.array.coerce_value_types(arg_types),
        }
    }

    fn lambda_parameters(
        &self,
        step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let Some(ValueOrLambda::Value(collection)) = fields.first() else {
            return plan_err!("{} takes a collection first", self.name.to_uppercase());
        };
        let Some((_, k, v)) = entry_fields(collection.data_type()) else {
            return self.array.lambda_parameters(step, fields);
        };
        let params = vec![
            Arc::new(Field::new("k", k.data_type().clone(), true)),
            Arc::new(Field::new("v", v.data_type().clone(), true)),
        ];
        let lambdas = fields.len() - 1;
        Ok(LambdaParametersProgress::Complete(vec![params; lambdas]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let Some(ValueOrLambda::Value(collection)) = args.arg_fields.first() else {
            return plan_err!("{} takes a collection first", self.name.to_uppercase());
        };
        let Some((entries, k, v)) = entry_fields(collection.data_type()) else {
            return self.array.return_field_from_args(args);
        };
        let lambdas: Vec<&FieldRef> = args.arg_fields[1..]
            .iter()
            .filter_map(|a| match a {
                ValueOrLambda::Lambda(f) => Some(f),
                ValueOrLambda::Value(_) => None,
            })
            .collect();
        let (key, value) = match (self.name, lambdas.as_slice()) {
            ("transform", [new_key, new_value]) => (
                Field::new(k.name(), new_key.data_type().clone(), false),
                Field::new(v.name(), new_value.data_type().clone(), true),
            ),
            ("filter", [keep]) if keep.data_type() == &DataType::Boolean => {
                (k.as_ref().clone(), v.as_ref().clone())
            }
            ("filter", [keep]) => {
                return plan_err!(
                    "FILTER's lambda must return a BOOLEAN, not {}",
                    crate::types::sql_type_name(keep.data_type())
                )
            }
            ("transform", _) => {
                return plan_err!(
                    "TRANSFORM over a MAP takes two lambdas: (k, v) => new key, (k, v) => new value"
                )
            }
            _ => return plan_err!("FILTER over a MAP takes one lambda: (k, v) => keep"),
        };
        let entries = Field::new(
            entries.name(),
            DataType::Struct(Fields::from(vec![key, value])),
            false,
        );
        Ok(Arc::new(Field::new(
            self.name,
            DataType::Map(Arc::new(entries), false),
            collection.is_nullable(),
        )))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let Some(ValueOrLambda::Value(collection)) = args.args.first() else {
            return exec_err!("{} takes a collection first", self.name.to_uppercase());
        };
        if !matches!(collection.data_type(), DataType::Map(..)) {
            return self.array.invoke_with_args(args);
        }
        let map_array = collection.to_array(args.number_rows)?;
        // Compact (a slice's entries outside it would not line up with its rows).
        let compact = {
            let m = map_array.as_map();
            m.value_offsets().first().copied().unwrap_or(0) != 0
                || m.value_offsets().last().copied().unwrap_or(0) as usize != m.keys().len()
        };
        let map_array = if compact {
            arrow::compute::take(
                map_array.as_ref(),
                &arrow::array::UInt32Array::from_iter_values(0..map_array.len() as u32),
                None,
            )?
        } else {
            map_array
        };
        let map = map_array.as_map();
        let (keys, values) = (Arc::clone(map.keys()), Arc::clone(map.values()));
        let rows_of_entries = list_values_row_number(&map_array)?;
        let lambdas: Vec<_> = args.args[1..]
            .iter()
            .filter_map(|a| match a {
                ValueOrLambda::Lambda(l) => Some(l),
                ValueOrLambda::Value(_) => None,
            })
            .collect();
        let k_param = || Ok(Arc::clone(&keys));
        let v_param = || Ok(Arc::clone(&values));
        let evaluate = |i: usize| -> Result<ArrayRef> {
            lambdas[i]
                .evaluate(&[&k_param, &v_param], |captured| {
                    Ok(take_arrays(captured, &rows_of_entries, None)?)
                })?
                .into_array(keys.len())
        };
        let DataType::Map(entries_field, _) = args.return_type() else {
            return exec_err!("{} over a MAP returns a MAP", self.name.to_uppercase());
        };
        let DataType::Struct(kv) = entries_field.data_type() else {
            return exec_err!("a MAP's entries are a STRUCT");
        };
        let (new_keys, new_values, offsets) = if self.name == "transform" {
            (evaluate(0)?, evaluate(1)?, map.offsets().clone())
        } else {
            let keep = evaluate(0)?;
            let keep = keep.as_boolean();
            // (A NULL answer does not keep the entry.)
            let keep = match keep.nulls() {
                Some(_) => arrow::compute::prep_null_mask_filter(keep),
                None => keep.clone(),
            };
            // Per row: how many of its entries are kept.
            let o = map.value_offsets();
            let mut lengths = Vec::with_capacity(map.len());
            for r in 0..map.len() {
                let (s, e) = (o[r] as usize, o[r + 1] as usize);
                lengths.push(keep.slice(s, e - s).true_count());
            }
            (
                filter(keys.as_ref(), &keep)?,
                filter(values.as_ref(), &keep)?,
                OffsetBuffer::from_lengths(lengths),
            )
        };
        let entries = StructArray::try_new(kv.clone(), vec![new_keys, new_values], None)?;
        Ok(ColumnarValue::Array(Arc::new(MapArray::try_new(
            Arc::clone(entries_field),
            offsets,
            entries,
            map.nulls().cloned(),
            false,
        )?)))
    }
}

/// TRANSFORM and FILTER, over arrays or maps.
pub(crate) fn all(
    array_transform: Arc<HigherOrderUDF>,
    array_filter: Arc<HigherOrderUDF>,
) -> Vec<Arc<HigherOrderUDF>> {
    [("transform", array_transform), ("filter", array_filter)]
        .into_iter()
        .map(|(name, array)| {
            Arc::new(HigherOrderUDF::new_from_impl(MapOrArray {
                name,
                array,
                signature: HigherOrderSignature::variadic_any(Volatility::Immutable),
            }))
        })
        .collect()
}
