//! ksqlDB's JSON functions on the row kernels of [`super::kernels::json`] (a parser that
//! keeps document order and number text, as ksqlDB's Jackson does).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListBuilder, MapBuilder, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int32Type, Int64Type};
use datafusion_common::{plan_err, Result, ScalarValue};
use datafusion_expr::ScalarUDF;

use super::kernels::json as k;
use super::strings::string_list;
use super::{function, literal_str, Args, Ret, P};

fn check_path(args: &[Option<&ScalarValue>]) -> Result<()> {
    if let Some(p) = literal_str(args, 1) {
        if let Err(e) = k::JsonPath::parse(p) {
            return plan_err!("invalid JSON path '{p}': {e}");
        }
    }
    Ok(())
}

fn extract_json_field(args: &Args) -> Result<ArrayRef> {
    let (json, path) = (args.str(0)?, args.str(1)?);
    let mut paths: HashMap<&str, Option<k::JsonPath>> = HashMap::new();
    let out: StringArray = (0..args.rows)
        .map(|r| {
            let p = path.get(r)?;
            let compiled = paths
                .entry(p)
                .or_insert_with(|| k::JsonPath::parse(p).ok())
                .as_ref()?;
            k::extract_json_field_with(json.get(r)?, compiled)
        })
        .collect();
    Ok(Arc::new(out))
}

fn is_json_string(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let out: BooleanArray = (0..args.rows)
        .map(|r| Some(s.get(r).is_some_and(k::is_json_string)))
        .collect();
    Ok(Arc::new(out))
}

fn json_array_length(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let out: Int32Array = (0..args.rows)
        .map(|r| k::json_array_length(s.get(r)?))
        .collect();
    Ok(Arc::new(out))
}

fn lists(args: &Args, f: fn(&str) -> Option<Vec<String>>) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for r in 0..args.rows {
        match s.get(r).and_then(f) {
            Some(items) => {
                for item in items {
                    out.values().append_value(item);
                }
                out.append(true);
            }
            None => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn json_keys(args: &Args) -> Result<ArrayRef> {
    lists(args, k::json_keys)
}

fn json_items(args: &Args) -> Result<ArrayRef> {
    lists(args, k::json_items)
}

fn string_map() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

fn json_records(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let names = arrow::array::MapFieldNames {
        entry: "entries".into(),
        key: "keys".into(),
        value: "values".into(),
    };
    let mut out = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new());
    for r in 0..args.rows {
        match s.get(r).and_then(k::json_records) {
            Some(records) => {
                for (key, value) in records {
                    out.keys().append_value(key);
                    out.values().append_value(value);
                }
                out.append(true)?;
            }
            None => out.append(false)?,
        }
    }
    Ok(Arc::new(out.finish()))
}

fn json_concat(args: &Args) -> Result<ArrayRef> {
    let parts = (0..args.len())
        .map(|i| args.str(i))
        .collect::<Result<Vec<_>>>()?;
    let out: StringArray = (0..args.rows)
        .map(|r| {
            let values: Vec<Option<&str>> = parts.iter().map(|p| p.get(r)).collect();
            k::json_concat(&values)
        })
        .collect();
    Ok(Arc::new(out))
}

fn json_array_contains(args: &Args) -> Result<ArrayRef> {
    let json = args.str(0)?;
    let (value, scalar) = args.raw(1)?;
    let at = |r: usize| if scalar { 0 } else { r };
    let needle = |r: usize| -> Option<k::Needle<'_>> {
        let i = at(r);
        if value.is_null(i) {
            return Some(k::Needle::Null);
        }
        Some(match value.data_type() {
            DataType::Boolean => k::Needle::Bool(value.as_boolean().value(i)),
            DataType::Int32 => k::Needle::Int(value.as_primitive::<Int32Type>().value(i)),
            DataType::Int64 => k::Needle::BigInt(value.as_primitive::<Int64Type>().value(i)),
            DataType::Float64 => k::Needle::Double(value.as_primitive::<Float64Type>().value(i)),
            DataType::Utf8 => k::Needle::Str(value.as_string::<i32>().value(i)),
            // ksqlDB finds nothing for other types (DECIMAL, ...).
            _ => return None,
        })
    };
    let out: BooleanArray = (0..args.rows)
        .map(|r| {
            let found = match (json.get(r), needle(r)) {
                (Some(j), Some(n)) => k::json_array_contains(j, &n),
                _ => false,
            };
            Some(found)
        })
        .collect();
    Ok(Arc::new(out))
}

/// The JSON functions.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    vec![
        function(
            "extractjsonfield",
            "The value at a JSON path ('$.a.b[0]') in JSON text: strings unquoted, other values \
             as JSON; NULL when absent or not JSON.",
            Ret::Fixed(DataType::Utf8),
            extract_json_field,
        )
        .overload(&[Str, Str])
        .check(check_path)
        .syntax("EXTRACTJSONFIELD(json, path)")
        .example("EXTRACTJSONFIELD('{\"a\": {\"b\": 1}}', '$.a.b') -> '1'")
        .build(),
        function(
            "is_json_string",
            "Whether text is valid JSON.",
            Ret::Fixed(DataType::Boolean),
            is_json_string,
        )
        .overload(&[Str])
        .build(),
        function(
            "json_array_length",
            "The number of elements of a JSON array (NULL when not an array).",
            Ret::Fixed(DataType::Int32),
            json_array_length,
        )
        .overload(&[Str])
        .build(),
        function(
            "json_keys",
            "The keys of a JSON object, in document order.",
            Ret::Fixed(string_list()),
            json_keys,
        )
        .overload(&[Str])
        .build(),
        function(
            "json_items",
            "The elements of a JSON array, each as JSON text.",
            Ret::Fixed(string_list()),
            json_items,
        )
        .overload(&[Str])
        .build(),
        function(
            "json_records",
            "A JSON object as a MAP of its keys to their values' JSON text.",
            Ret::Fixed(string_map()),
            json_records,
        )
        .overload(&[Str])
        .build(),
        function(
            "json_concat",
            "Merges JSON values: objects merge (later keys win), arrays concatenate, other \
             values are wrapped in arrays.",
            Ret::Fixed(DataType::Utf8),
            json_concat,
        )
        .overload(&[Str, Str])
        .variadic()
        .syntax("JSON_CONCAT(json1, json2, ...)")
        .build(),
        function(
            "json_array_contains",
            "Whether a JSON array holds a value of the same type (1 is not 1.0).",
            Ret::Fixed(DataType::Boolean),
            json_array_contains,
        )
        .overload(&[Str, Any])
        .syntax("JSON_ARRAY_CONTAINS(json_array, value)")
        .build(),
    ]
}
