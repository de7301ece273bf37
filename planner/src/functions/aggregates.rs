//! ksqlDB aggregates DataFusion lacks: `TOPK`, `TOPKDISTINCT`, `HISTOGRAM` and `ATTR`.
//!
//! They keep a bounded state per group (TOPK: at most about 2k candidate values, compacted as
//! they come; HISTOGRAM: one count per distinct value) and merge like any DataFusion
//! accumulator, so they run in windows and changelogs as the built-in aggregates do.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Builder, MapBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion_common::{exec_err, plan_err, Result, ScalarValue};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
use datafusion_physical_expr::expressions::Literal;

/// `TOPK(col, k)` / `TOPKDISTINCT(col, k)`: the k largest values, largest first.
/// `TOPK(col, other, ..., k)`: the rows of the k largest `col` values, as structs
/// `{sort_col, col0, col1, ...}` (ksqlDB's form).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TopK {
    name: &'static str,
    distinct: bool,
    signature: Signature,
}

fn list_of(t: &DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t.clone(), true)))
}

/// What a TOPK keeps per value: the value itself, or (with other columns) a struct of the
/// sorted value and the others.
fn topk_item_type(arg_types: &[DataType]) -> Option<DataType> {
    match arg_types {
        [] | [_] => None,
        [t, _k] => Some(t.clone()),
        [sorted @ .., _k] => Some(DataType::Struct(
            sorted
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let name = if i == 0 {
                        "sort_col".to_string()
                    } else {
                        format!("col{}", i - 1)
                    };
                    Field::new(name, t.clone(), true)
                })
                .collect(),
        )),
    }
}

impl AggregateUDFImpl for TopK {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match topk_item_type(arg_types) {
            Some(t) => Ok(list_of(&t)),
            None => plan_err!("{} takes a column and k", self.name.to_uppercase()),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let name = self.name.to_uppercase();
        if args.exprs.len() < 2 {
            return plan_err!("{name} takes a column and k, e.g. {name}(price, 3)");
        }
        let k_expr = &args.exprs[args.exprs.len() - 1];
        let k = match k_expr.downcast_ref::<Literal>().map(Literal::value) {
            Some(ScalarValue::Int64(Some(k))) if *k > 0 => {
                usize::try_from(*k).unwrap_or(usize::MAX)
            }
            Some(ScalarValue::Int32(Some(k))) if *k > 0 => {
                usize::try_from(*k).unwrap_or(usize::MAX)
            }
            _ => return plan_err!("{name}'s k must be a positive whole number literal"),
        };
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let Some(data_type) = topk_item_type(&types) else {
            return plan_err!("{name} takes a column and k");
        };
        Ok(Box::new(TopKAccumulator {
            k,
            distinct: self.distinct,
            with_columns: types.len() > 2,
            data_type,
            entries: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let types: Vec<DataType> = args
            .input_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let t = topk_item_type(&types).unwrap_or(DataType::Null);
        Ok(vec![Arc::new(Field::new(
            format!("{}[candidates]", args.name),
            list_of(&t),
            true,
        ))])
    }
}

#[derive(Debug)]
struct TopKAccumulator {
    k: usize,
    distinct: bool,
    /// Other columns come with the sorted one: the values kept are structs whose first
    /// field is sorted.
    with_columns: bool,
    /// The type of the values kept.
    data_type: DataType,
    /// Candidates: the sorted value and what is kept for it.
    entries: Vec<(ScalarValue, ScalarValue)>,
}

impl TopKAccumulator {
    /// Adds the items of `array` (of the kept type); items whose sorted value is NULL are
    /// left out.
    fn add_array(&mut self, array: &ArrayRef) -> Result<()> {
        let sorted = match array.as_struct_opt() {
            Some(s) if self.with_columns => match s.columns().first() {
                Some(c) => Arc::clone(c),
                None => return Ok(()),
            },
            _ => Arc::clone(array),
        };
        for i in 0..array.len() {
            if array.is_valid(i) && sorted.is_valid(i) {
                self.entries.push((
                    ScalarValue::try_from_array(&sorted, i)?,
                    ScalarValue::try_from_array(array, i)?,
                ));
                if self.entries.len() > self.k.saturating_mul(2).saturating_add(64) {
                    self.compact();
                }
            }
        }
        Ok(())
    }

    /// Largest first (ties in the order they came); distinct when asked; at most k.
    fn compact(&mut self) {
        self.entries
            .sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        if self.distinct {
            self.entries.dedup_by(|a, b| a.1 == b.1);
        }
        self.entries.truncate(self.k);
    }

    fn list(&mut self) -> ScalarValue {
        self.compact();
        let items: Vec<ScalarValue> = self.entries.iter().map(|(_, v)| v.clone()).collect();
        ScalarValue::List(ScalarValue::new_list_nullable(&items, &self.data_type))
    }
}

impl Accumulator for TopKAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values {
            [] | [_] => Ok(()),
            [value, _k] => self.add_array(value),
            [columns @ .., _k] => {
                let DataType::Struct(fields) = &self.data_type else {
                    return exec_err!("TOPK of several columns keeps structs");
                };
                let rows =
                    arrow::array::StructArray::try_new(fields.clone(), columns.to_vec(), None)?;
                self.add_array(&(Arc::new(rows) as ArrayRef))
            }
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.list())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .entries
                .iter()
                .map(|(s, v)| s.size() + v.size())
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.list()])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return exec_err!("TOPK state is not a list");
        };
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.add_array(&lists.value(i))?;
            }
        }
        Ok(())
    }
}

/// `HISTOGRAM(col)`: how often each value occurs, as `MAP<STRING, BIGINT>`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Histogram {
    signature: Signature,
}

fn histogram_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Int64, true),
            ])),
            false,
        )),
        false,
    )
}

impl AggregateUDFImpl for Histogram {
    fn name(&self) -> &str {
        "histogram"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(histogram_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(HistogramAccumulator::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                list_of(&DataType::Utf8),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[counts]", args.name),
                list_of(&DataType::Int64),
                true,
            )),
        ])
    }
}

#[derive(Debug, Default)]
struct HistogramAccumulator {
    counts: BTreeMap<String, i64>,
}

impl Accumulator for HistogramAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(array) = values.first() else {
            return Ok(());
        };
        let strings = arrow::compute::cast(array, &DataType::Utf8)?;
        for v in strings.as_string::<i32>().iter().flatten() {
            *self.counts.entry(v.to_string()).or_insert(0) += 1;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut b = MapBuilder::new(
            Some(arrow::array::MapFieldNames {
                entry: "entries".into(),
                key: "keys".into(),
                value: "values".into(),
            }),
            StringBuilder::new(),
            Int64Builder::new(),
        );
        for (k, c) in &self.counts {
            b.keys().append_value(k);
            b.values().append_value(*c);
        }
        b.append(true)?;
        Ok(ScalarValue::Map(Arc::new(b.finish())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .counts
                .keys()
                .map(|k| k.len() + std::mem::size_of::<(String, i64)>())
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let keys: Vec<ScalarValue> = self
            .counts
            .keys()
            .map(|k| ScalarValue::Utf8(Some(k.clone())))
            .collect();
        let counts: Vec<ScalarValue> = self
            .counts
            .values()
            .map(|c| ScalarValue::Int64(Some(*c)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&keys, &DataType::Utf8)),
            ScalarValue::List(ScalarValue::new_list_nullable(&counts, &DataType::Int64)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(keys), Some(counts)) = (
            states.first().and_then(|s| s.as_list_opt::<i32>()),
            states.get(1).and_then(|s| s.as_list_opt::<i32>()),
        ) else {
            return exec_err!("HISTOGRAM state is not two lists");
        };
        for i in 0..keys.len() {
            if !keys.is_valid(i) || !counts.is_valid(i) {
                continue;
            }
            let (k, c) = (keys.value(i), counts.value(i));
            let (Some(k), Some(c)) = (
                k.as_string_opt::<i32>(),
                c.as_primitive_opt::<arrow::datatypes::Int64Type>(),
            ) else {
                return exec_err!("HISTOGRAM state has the wrong types");
            };
            for (key, count) in k.iter().zip(c.iter()) {
                if let (Some(key), Some(count)) = (key, count) {
                    *self.counts.entry(key.to_string()).or_insert(0) += count;
                }
            }
        }
        Ok(())
    }
}

/// `EARLIEST_BY_OFFSET(col [, n] [, ignore_nulls])` / `LATEST_BY_OFFSET(...)`: the first
/// (last) value of a group in offset order — NULLs skipped unless `ignore_nulls` is false, as
/// in ksqlDB — or, with `n`, an array of the first (last) n.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ByOffset {
    name: &'static str,
    latest: bool,
    signature: Signature,
}

/// (n, ignore_nulls) from the literal arguments after the column.
fn by_offset_args(
    name: &str,
    exprs: &[Arc<dyn datafusion_physical_expr::PhysicalExpr>],
) -> Result<(Option<usize>, bool)> {
    let mut n = None;
    let mut ignore_nulls = true;
    for e in exprs.iter().skip(1) {
        match e.downcast_ref::<Literal>().map(Literal::value) {
            Some(ScalarValue::Boolean(Some(b))) => ignore_nulls = *b,
            Some(ScalarValue::Int64(Some(k))) if *k > 0 => n = usize::try_from(*k).ok(),
            Some(ScalarValue::Int32(Some(k))) if *k > 0 => n = usize::try_from(*k).ok(),
            _ => {
                return plan_err!(
                    "{}'s extra arguments are a positive whole number n and/or a boolean ignoreNulls, as literals",
                    name.to_uppercase()
                )
            }
        }
    }
    Ok((n, ignore_nulls))
}

impl AggregateUDFImpl for ByOffset {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let Some(t) = arg_types.first() else {
            return plan_err!("{} takes a column", self.name.to_uppercase());
        };
        // With a count, an array of values.
        let counted = arg_types.iter().skip(1).any(|a| a.is_integer());
        Ok(if counted { list_of(t) } else { t.clone() })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (n, ignore_nulls) = by_offset_args(self.name, args.exprs)?;
        let data_type = args
            .expr_fields
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        Ok(Box::new(ByOffsetAccumulator {
            latest: self.latest,
            n,
            ignore_nulls,
            data_type,
            values: std::collections::VecDeque::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let t = args
            .input_fields
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            list_of(&t),
            true,
        ))])
    }
}

#[derive(Debug)]
struct ByOffsetAccumulator {
    latest: bool,
    n: Option<usize>,
    ignore_nulls: bool,
    data_type: DataType,
    values: std::collections::VecDeque<ScalarValue>,
}

impl ByOffsetAccumulator {
    fn keep(&self) -> usize {
        self.n.unwrap_or(1)
    }

    fn add_array(&mut self, array: &ArrayRef) -> Result<()> {
        for i in 0..array.len() {
            if self.ignore_nulls && array.is_null(i) {
                continue;
            }
            if !self.latest && self.values.len() >= self.keep() {
                return Ok(());
            }
            self.values
                .push_back(ScalarValue::try_from_array(array, i)?);
            if self.latest && self.values.len() > self.keep() {
                self.values.pop_front();
            }
        }
        Ok(())
    }
}

impl Accumulator for ByOffsetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(a) => self.add_array(a),
            None => Ok(()),
        }
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values: Vec<ScalarValue> = self.values.iter().cloned().collect();
        if self.n.is_some() {
            return Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &values,
                &self.data_type,
            )));
        }
        match values.into_iter().next() {
            Some(v) => Ok(v),
            None => ScalarValue::try_from(&self.data_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(ScalarValue::size).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values: Vec<ScalarValue> = self.values.iter().cloned().collect();
        Ok(vec![ScalarValue::List(ScalarValue::new_list_nullable(
            &values,
            &self.data_type,
        ))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return exec_err!(
                "{} state is not a list",
                if self.latest {
                    "LATEST_BY_OFFSET"
                } else {
                    "EARLIEST_BY_OFFSET"
                }
            );
        };
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.add_array(&lists.value(i))?;
            }
        }
        Ok(())
    }
}

/// The aggregates defined here.
/// `COLLECT_SET(col)`: the distinct values (NULL among them), in the order they first came,
/// as ksqlDB keeps them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CollectSet {
    signature: Signature,
}

impl AggregateUDFImpl for CollectSet {
    fn name(&self) -> &str {
        "collect_set"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => Ok(list_of(t)),
            None => plan_err!("COLLECT_SET takes one argument"),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let item = match args.return_field.data_type() {
            DataType::List(item) => item.data_type().clone(),
            other => return plan_err!("COLLECT_SET returns a list, not {other}"),
        };
        Ok(Box::new(CollectSetAccumulator {
            item,
            values: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[values]", args.name),
            args.return_field.data_type().clone(),
            true,
        ))])
    }
}

#[derive(Debug)]
struct CollectSetAccumulator {
    item: DataType,
    values: Vec<ScalarValue>,
}

impl Accumulator for CollectSetAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(array) = values.first() else {
            return Ok(());
        };
        for i in 0..array.len() {
            let v = ScalarValue::try_from_array(array, i)?;
            if !self.values.contains(&v) {
                self.values.push(v);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(
            &self.values,
            &self.item,
        )))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.iter().map(ScalarValue::size).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return exec_err!("COLLECT_SET state is not a list");
        };
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.update_batch(&[lists.value(i)])?;
            }
        }
        Ok(())
    }
}

/// `ATTR(col)`: the group's value when all its rows have the same one (NULL counting as a
/// value), otherwise NULL — an attribute of the group, as ksqlDB's ATTR.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Attr {
    signature: Signature,
}

impl AggregateUDFImpl for Attr {
    fn name(&self) -> &str {
        "attr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => Ok(t.clone()),
            None => plan_err!("ATTR takes one argument"),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(AttrAccumulator {
            data_type: args.return_field.data_type().clone(),
            distinct: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[distinct]", args.name),
            list_of(args.return_field.data_type()),
            true,
        ))])
    }
}

/// The distinct values seen (NULL among them), up to two: two means "not one attribute".
#[derive(Debug)]
struct AttrAccumulator {
    data_type: DataType,
    distinct: Vec<ScalarValue>,
}

impl AttrAccumulator {
    fn add(&mut self, v: ScalarValue) {
        if self.distinct.len() < 2 && !self.distinct.contains(&v) {
            self.distinct.push(v);
        }
    }
}

impl Accumulator for AttrAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(array) = values.first() else {
            return Ok(());
        };
        for i in 0..array.len() {
            if self.distinct.len() >= 2 {
                break;
            }
            self.add(ScalarValue::try_from_array(array, i)?);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        match self.distinct.as_slice() {
            [one] => Ok(one.clone()),
            _ => ScalarValue::try_from(&self.data_type),
        }
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.distinct.iter().map(ScalarValue::size).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::List(ScalarValue::new_list_nullable(
            &self.distinct,
            &self.data_type,
        ))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(lists) = states.first().and_then(|s| s.as_list_opt::<i32>()) else {
            return exec_err!("ATTR state is not a list");
        };
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.update_batch(&[lists.value(i)])?;
            }
        }
        Ok(())
    }
}

/// A DataFusion aggregate whose NULL result ksqlDB gives as a number: CORRELATION of fewer
/// than two pairs (or of a constant) is NaN, STDDEV_SAMPLE of one value is 0.0.
#[derive(Debug)]
struct NullAs {
    name: &'static str,
    inner: Arc<AggregateUDF>,
    value: f64,
}

impl PartialEq for NullAs {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value.to_bits() == other.value.to_bits()
    }
}

impl Eq for NullAs {}

impl std::hash::Hash for NullAs {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.value.to_bits().hash(state);
    }
}

/// `value` wherever `array` (a DOUBLE result) is NULL.
fn fill_nulls(array: ArrayRef, value: f64) -> Result<ArrayRef> {
    if array.null_count() == 0 || array.data_type() != &DataType::Float64 {
        return Ok(array);
    }
    let nulls = arrow::compute::is_null(&array)?;
    let fill = arrow::array::Float64Array::new_scalar(value);
    Ok(arrow::compute::kernels::zip::zip(&nulls, &fill, &array)?)
}

impl AggregateUDFImpl for NullAs {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(NullAsAccumulator {
            inner: self.inner.accumulator(args)?,
            value: self.value,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn datafusion_expr::GroupsAccumulator>> {
        Ok(Box::new(NullAsGroups {
            inner: self.inner.create_groups_accumulator(args)?,
            value: self.value,
        }))
    }
}

#[derive(Debug)]
struct NullAsAccumulator {
    inner: Box<dyn Accumulator>,
    value: f64,
}

impl Accumulator for NullAsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match self.inner.evaluate()? {
            ScalarValue::Float64(None) => ScalarValue::Float64(Some(self.value)),
            other => other,
        })
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

struct NullAsGroups {
    inner: Box<dyn datafusion_expr::GroupsAccumulator>,
    value: f64,
}

impl datafusion_expr::GroupsAccumulator for NullAsGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&arrow::array::BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: datafusion_expr::EmitTo) -> Result<ArrayRef> {
        fill_nulls(self.inner.evaluate(emit_to)?, self.value)
    }

    fn state(&mut self, emit_to: datafusion_expr::EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&arrow::array::BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}

/// An aggregate over the elements of ARRAY values: `SUM_LIST(xs)` sums every element of
/// every row's array (NULL arrays and NULL elements count for nothing).
#[derive(Debug, PartialEq, Eq, Hash)]
struct OverElements {
    name: &'static str,
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

/// The element field of an ARRAY field.
fn element_field(f: &FieldRef) -> Result<FieldRef> {
    match f.data_type() {
        DataType::List(item) | DataType::LargeList(item) => Ok(Arc::clone(item)),
        other => plan_err!("expected an ARRAY, not {other}"),
    }
}

/// The elements of a list column's valid rows, in order.
fn elements(values: &ArrayRef) -> Result<ArrayRef> {
    let Some(list) = values.as_list_opt::<i32>() else {
        return exec_err!("expected an ARRAY, not {}", values.data_type());
    };
    let offsets = list.value_offsets();
    let mut take = Vec::new();
    for row in (0..list.len()).filter(|&r| list.is_valid(r)) {
        take.extend(offsets[row] as u32..offsets[row + 1] as u32);
    }
    Ok(arrow::compute::take(
        list.values().as_ref(),
        &arrow::array::UInt32Array::from(take),
        None,
    )?)
}

impl AggregateUDFImpl for OverElements {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::List(item)) | Some(DataType::LargeList(item)) => {
                self.inner.return_type(&[item.data_type().clone()])
            }
            _ => plan_err!("{} takes an ARRAY of numbers", self.name.to_uppercase()),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let item = args
            .expr_fields
            .iter()
            .map(element_field)
            .collect::<Result<Vec<_>>>()?;
        let inner = self.inner.accumulator(AccumulatorArgs {
            expr_fields: &item,
            ..args
        })?;
        Ok(Box::new(ElementsAccumulator { inner }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let item = args
            .input_fields
            .iter()
            .map(element_field)
            .collect::<Result<Vec<_>>>()?;
        self.inner.state_fields(StateFieldsArgs {
            input_fields: &item,
            ..args
        })
    }
}

#[derive(Debug)]
struct ElementsAccumulator {
    inner: Box<dyn Accumulator>,
}

impl Accumulator for ElementsAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let flat = values.iter().map(elements).collect::<Result<Vec<_>>>()?;
        self.inner.update_batch(&flat)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let flat = values.iter().map(elements).collect::<Result<Vec<_>>>()?;
        self.inner.retract_batch(&flat)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }
}

/// CORRELATION and STDDEV_SAMPLE as ksqlDB gives them, from DataFusion's `corr` and
/// `stddev_samp` (`None` when those are missing).
pub(crate) fn ksql_statistics(
    corr: Option<Arc<AggregateUDF>>,
    stddev_samp: Option<Arc<AggregateUDF>>,
    sum: Option<Arc<AggregateUDF>>,
) -> Vec<Arc<AggregateUDF>> {
    let mut out: Vec<Arc<AggregateUDF>> = [
        ("correlation", corr, f64::NAN),
        ("stddev_sample", stddev_samp, 0.0),
    ]
    .into_iter()
    .filter_map(|(name, inner, value)| {
        inner.map(|inner| Arc::new(AggregateUDF::from(NullAs { name, inner, value })))
    })
    .collect();
    if let Some(inner) = sum {
        out.push(Arc::new(AggregateUDF::from(OverElements {
            name: "sum_list",
            inner,
            signature: Signature::any(1, Volatility::Immutable),
        })));
    }
    out
}

pub(crate) fn all() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(CollectSet {
            signature: Signature::any(1, Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::from(Attr {
            signature: Signature::any(1, Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::from(TopK {
            name: "topk",
            distinct: false,
            signature: Signature::variadic_any(Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::from(TopK {
            name: "topkdistinct",
            distinct: true,
            signature: Signature::any(2, Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::from(ByOffset {
            name: "earliest_by_offset",
            latest: false,
            signature: Signature::variadic_any(Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::from(ByOffset {
            name: "latest_by_offset",
            latest: true,
            signature: Signature::variadic_any(Volatility::Immutable),
        })),
        Arc::new(AggregateUDF::from(Histogram {
            signature: Signature::any(1, Volatility::Immutable),
        })),
    ]
}
