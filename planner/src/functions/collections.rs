//! Values as a whole: `AS_VALUE`, `TO_JSON_STRING`, and ksqlDB's array functions whose
//! DataFusion namesakes differ (`ARRAY_JOIN` renders NULL elements as `null`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion_common::{exec_err, Result};
use datafusion_expr::ScalarUDF;

use super::{function, Args, Ret, P};

/// `CUBE_LISTS(array)`: every combination of the array's elements, each element either kept
/// or NULL — first all NULL, last all kept, as ksqlDB's CUBE_EXPLODE orders them; combinations
/// that a NULL element would repeat come once. `CUBE_EXPLODE(a)` is `EXPLODE(CUBE_LISTS(a))`.
fn cube_lists(args: &Args) -> Result<ArrayRef> {
    use arrow::array::{ListArray, UInt32Array};
    use arrow::buffer::{NullBuffer, OffsetBuffer};
    let (array, scalar) = args.raw(0)?;
    let Some(list) = array.as_list_opt::<i32>() else {
        return exec_err!("CUBE_EXPLODE takes an ARRAY");
    };
    let values = list.values();
    let offsets = list.value_offsets();
    let mut outer_lengths = Vec::with_capacity(args.rows);
    let mut inner_lengths = Vec::new();
    let mut indices: Vec<Option<u32>> = Vec::new();
    let mut valid = Vec::with_capacity(args.rows);
    for row in 0..args.rows {
        let r = if scalar { 0 } else { row };
        if list.is_null(r) {
            outer_lengths.push(0);
            valid.push(false);
            continue;
        }
        let (start, end) = (offsets[r] as usize, offsets[r + 1] as usize);
        let n = end - start;
        if n > 20 {
            return exec_err!(
                "CUBE_EXPLODE of {n} elements would make 2^{n} rows (at most 20 elements)"
            );
        }
        let mut combos = 0;
        for mask in 0u32..(1 << n) {
            // A NULL element kept is the same combination as dropped: count it once.
            let repeats =
                (0..n).any(|j| mask & (1 << (n - 1 - j)) != 0 && values.is_null(start + j));
            if repeats {
                continue;
            }
            for j in 0..n {
                let kept = mask & (1 << (n - 1 - j)) != 0;
                indices.push(kept.then_some((start + j) as u32));
            }
            inner_lengths.push(n);
            combos += 1;
        }
        outer_lengths.push(combos);
        valid.push(true);
    }
    let DataType::List(item) = list.data_type() else {
        return exec_err!("CUBE_EXPLODE takes an ARRAY");
    };
    let taken = arrow::compute::take(values.as_ref(), &UInt32Array::from(indices), None)?;
    let inner = ListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::from_lengths(inner_lengths),
        taken,
        None,
    )?;
    let outer = ListArray::try_new(
        Arc::new(Field::new("item", list.data_type().clone(), true)),
        OffsetBuffer::from_lengths(outer_lengths),
        Arc::new(inner),
        Some(NullBuffer::from(valid)),
    )?;
    Ok(Arc::new(outer))
}

/// The type a value is written as in JSON: temporal types as numbers (ksqlDB's form).
fn json_type(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(..) | DataType::Date64 | DataType::Time64(_) => DataType::Int64,
        DataType::Date32 | DataType::Time32(_) => DataType::Int32,
        // (Nullability is kept: a MAP's keys are not nullable, and a cast may not change that.)
        DataType::List(f) => DataType::List(Arc::new(Field::new(
            f.name(),
            json_type(f.data_type()),
            f.is_nullable(),
        ))),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), json_type(f.data_type()), f.is_nullable()))
                .collect(),
        ),
        DataType::Map(entries, sorted) => DataType::Map(
            Arc::new(Field::new(
                entries.name(),
                json_type(entries.data_type()),
                false,
            )),
            *sorted,
        ),
        other => other.clone(),
    }
}

/// Each value of `array` as JSON text (`null` for NULL; TIMESTAMP, DATE and TIME as numbers,
/// as ksqlDB writes them).
pub fn json_texts(array: &ArrayRef) -> Result<Vec<String>> {
    let target = json_type(array.data_type());
    let array = if let DataType::Timestamp(unit, _) = array.data_type() {
        // Epoch milliseconds, whatever unit a computation produced.
        let millis = DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None);
        let ms = if *unit == arrow::datatypes::TimeUnit::Millisecond {
            Arc::clone(array)
        } else {
            arrow::compute::cast(array, &millis)?
        };
        arrow::compute::cast(&ms, &DataType::Int64)?
    } else if array.data_type() == &DataType::Binary {
        // BYTES as base64 text, as ksqlDB writes them.
        use arrow::array::AsArray as _;
        use base64::Engine as _;
        let text: arrow::array::StringArray = array
            .as_binary::<i32>()
            .iter()
            .map(|b| b.map(|b| base64::engine::general_purpose::STANDARD.encode(b)))
            .collect();
        Arc::new(text)
    } else if &target == array.data_type() {
        Arc::clone(array)
    } else {
        arrow::compute::cast(array, &target)?
    };
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        array.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![array])?;
    let mut buf = Vec::new();
    {
        let mut w = crate::json_encoding::json_writer()
            .build::<_, arrow::json::writer::LineDelimited>(&mut buf);
        w.write(&batch)?;
        w.finish()?;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut out = Vec::with_capacity(batch.num_rows());
    for line in text.lines() {
        // Each line is {"v":<value>}.
        match line
            .strip_prefix("{\"v\":")
            .and_then(|l| l.strip_suffix('}'))
        {
            Some(v) => out.push(v.to_string()),
            None => return exec_err!("unexpected JSON writer output: {line}"),
        }
    }
    if out.len() != batch.num_rows() {
        return exec_err!(
            "JSON writer gave {} lines for {} rows",
            out.len(),
            batch.num_rows()
        );
    }
    Ok(out)
}

fn as_value(args: &Args) -> Result<ArrayRef> {
    let (array, scalar) = args.raw(0)?;
    if scalar {
        return Ok(arrow::compute::take(
            array,
            &arrow::array::UInt32Array::from(vec![0u32; args.rows]),
            None,
        )?);
    }
    Ok(Arc::clone(array))
}

fn to_json_string(args: &Args) -> Result<ArrayRef> {
    let (array, scalar) = args.raw(0)?;
    let texts = json_texts(array)?;
    let out: StringArray = (0..args.rows)
        .map(|r| texts.get(if scalar { 0 } else { r }).cloned())
        .collect();
    Ok(Arc::new(out))
}

fn array_join(args: &Args) -> Result<ArrayRef> {
    let (array, scalar) = args.raw(0)?;
    let delimiter = if args.len() > 1 {
        Some(args.str(1)?)
    } else {
        None
    };
    let Some(list) = array.as_list_opt::<i32>() else {
        return exec_err!("ARRAY_JOIN needs an ARRAY, not {}", array.data_type());
    };
    // Elements as text: strings as they are, everything else as its JSON form.
    let values = list.values();
    let texts = json_texts(values)?;
    let strings = values.as_string_opt::<i32>();
    let mut out = StringBuilder::new();
    for r in 0..args.rows {
        let i = if scalar { 0 } else { r };
        if list.is_null(i) {
            out.append_null();
            continue;
        }
        let sep = match &delimiter {
            None => ",",
            Some(d) => d.get(r).unwrap_or(""),
        };
        let (start, end) = (
            list.value_offsets()[i] as usize,
            list.value_offsets()[i + 1] as usize,
        );
        let mut joined = String::new();
        for (e, text) in texts.iter().enumerate().take(end).skip(start) {
            if e > start {
                joined.push_str(sep);
            }
            match strings {
                Some(s) if !s.is_null(e) => joined.push_str(s.value(e)),
                _ => joined.push_str(text),
            }
        }
        out.append_value(joined);
    }
    Ok(Arc::new(out.finish()))
}

/// The functions defined here.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    vec![
        function(
            "as_value",
            "The value unchanged. ksqlDB uses it to copy a key column into the value; Weir \
             keeps keys as ordinary columns.",
            Ret::Arg(0),
            as_value,
        )
        .overload(&[Any])
        .build(),
        function(
            "to_json_string",
            "Any value as JSON text (TIMESTAMP, DATE and TIME as numbers, as ksqlDB writes them).",
            Ret::Fixed(DataType::Utf8),
            to_json_string,
        )
        .overload(&[Any])
        .build(),
        function(
            "entries",
            "A map's entries as an array of structs with fields K and V; sorted by key when \
             the second argument is true.",
            Ret::Derived(entries_type),
            entries,
        )
        .overload(&[Any, Any])
        .syntax("ENTRIES(map, sorted)")
        .example("SELECT ENTRIES(MAP('b' := 2, 'a' := 1), true) FROM s;")
        .build(),
        function(
            "map_union",
            "The entries of both maps; where a key is in both, the second map's value \
             (NULL when both maps are NULL).",
            Ret::Derived(map_union_type),
            map_union,
        )
        .overload(&[Any, Any])
        .syntax("MAP_UNION(map1, map2)")
        .example("SELECT MAP_UNION(MAP('a' := 1), MAP('b' := 2)) FROM s;")
        .build(),
        function(
            "cube_lists",
            "Every combination of an array's elements, each kept or NULL (CUBE_EXPLODE explodes \
             them into rows).",
            Ret::ListOf(0),
            cube_lists,
        )
        .overload(&[List])
        .build(),
        function(
            "array_join",
            "Joins an array's elements into one string (default delimiter ','; NULL elements \
             as 'null').",
            Ret::Fixed(DataType::Utf8),
            array_join,
        )
        .overload(&[List])
        .overload(&[List, Str])
        .syntax("ARRAY_JOIN(array [, delimiter])")
        .build(),
    ]
}

/// The type of `MAP_UNION(a, b)`: their map type (one may be NULL).
fn map_union_type(args: &[DataType]) -> Result<DataType> {
    match args {
        [a @ DataType::Map(..), b] if b == a || b == &DataType::Null => Ok(a.clone()),
        [DataType::Null, b @ DataType::Map(..)] => Ok(b.clone()),
        [DataType::Null, DataType::Null] => Ok(DataType::Null),
        [a, b] => datafusion_common::plan_err!(
            "Function 'map_union' does not accept parameters ({}, {}).",
            crate::types::sql_type_name(a),
            crate::types::sql_type_name(b)
        ),
        _ => datafusion_common::plan_err!("MAP_UNION takes two maps"),
    }
}

/// `MAP_UNION(a, b)`: a's entries (with b's value where b has the key), then b's other ones.
fn map_union(args: &Args) -> Result<ArrayRef> {
    use arrow::array::{MapArray, StructArray};
    use arrow::buffer::{NullBuffer, OffsetBuffer};
    let (a, a_scalar) = args.raw(0)?;
    let (b, b_scalar) = args.raw(1)?;
    let Ok(DataType::Map(field, sorted)) =
        map_union_type(&[a.data_type().clone(), b.data_type().clone()])
    else {
        return Ok(arrow::array::new_null_array(&DataType::Null, args.rows));
    };
    // A NULL map (typed NULL) stands for no entries.
    let as_map = |x: &ArrayRef| -> Result<ArrayRef> {
        if x.data_type() == &DataType::Null {
            Ok(arrow::array::new_null_array(
                &DataType::Map(Arc::clone(&field), sorted),
                x.len(),
            ))
        } else {
            Ok(Arc::clone(x))
        }
    };
    let (a, b) = (as_map(a)?, as_map(b)?);
    let (ma, mb) = (a.as_map(), b.as_map());
    let text =
        |m: &MapArray| -> Result<ArrayRef> { Ok(arrow::compute::cast(m.keys(), &DataType::Utf8)?) };
    let (ka, kb) = (text(ma)?, text(mb)?);
    let (ka, kb) = (ka.as_string::<i32>(), kb.as_string::<i32>());
    let mut picks: Vec<(usize, usize)> = Vec::new();
    let mut offsets = vec![0i32];
    let mut valid = Vec::with_capacity(args.rows);
    for row in 0..args.rows {
        let ra = if a_scalar { 0 } else { row };
        let rb = if b_scalar { 0 } else { row };
        let (a_ok, b_ok) = (ma.is_valid(ra), mb.is_valid(rb));
        valid.push(a_ok || b_ok);
        let range = |m: &MapArray, r: usize, ok: bool| {
            if ok {
                m.value_offsets()[r] as usize..m.value_offsets()[r + 1] as usize
            } else {
                0..0
            }
        };
        let (rows_a, rows_b) = (range(ma, ra, a_ok), range(mb, rb, b_ok));
        for i in rows_a.clone() {
            match rows_b.clone().find(|&j| kb.value(j) == ka.value(i)) {
                Some(j) => picks.push((1, j)),
                None => picks.push((0, i)),
            }
        }
        for j in rows_b {
            if !rows_a.clone().any(|i| ka.value(i) == kb.value(j)) {
                picks.push((1, j));
            }
        }
        offsets.push(i32::try_from(picks.len()).unwrap_or(i32::MAX));
    }
    let entries = arrow::compute::interleave(
        &[ma.entries() as &dyn Array, mb.entries() as &dyn Array],
        &picks,
    )?;
    let Some(entries) = entries.as_struct_opt() else {
        return exec_err!("MAP_UNION: map entries are not structs");
    };
    Ok(Arc::new(MapArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        StructArray::clone(entries),
        Some(NullBuffer::from(valid)),
        sorted,
    )?))
}

/// The type of `ENTRIES(map, sorted)`: `ARRAY<STRUCT<K STRING, V value>>`.
fn entries_type(args: &[DataType]) -> Result<DataType> {
    if !matches!(args.get(1), None | Some(DataType::Boolean | DataType::Null)) {
        return datafusion_common::plan_err!("ENTRIES' second argument (sorted) is a BOOLEAN");
    }
    match args.first() {
        Some(DataType::Map(entries, _)) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => Ok(DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(
                    vec![
                        Field::new("K", kv[0].data_type().clone(), true),
                        Field::new("V", kv[1].data_type().clone(), true),
                    ]
                    .into(),
                ),
                true,
            )))),
            _ => exec_err!("ENTRIES takes a MAP"),
        },
        Some(DataType::Null) => Ok(DataType::Null),
        _ => datafusion_common::plan_err!("ENTRIES takes a MAP and a BOOLEAN (sorted)"),
    }
}

/// `ENTRIES(map, sorted)`: a map's entries as structs `{K, V}`, by key when `sorted`.
fn entries(args: &Args) -> Result<ArrayRef> {
    use arrow::array::{ListArray, StructArray, UInt32Array};
    use arrow::buffer::OffsetBuffer;
    let (array, scalar) = args.raw(0)?;
    if array.data_type() == &DataType::Null {
        return Ok(arrow::array::new_null_array(&DataType::Null, args.rows));
    }
    let (flags, flag_scalar) = args.raw(1)?;
    let Some(flags) = flags.as_boolean_opt() else {
        return exec_err!("ENTRIES' second argument (sorted) is a BOOLEAN");
    };
    let map = array.as_map();
    let DataType::List(item) = entries_type(&[array.data_type().clone(), DataType::Boolean])?
    else {
        return exec_err!("ENTRIES takes a MAP");
    };
    let DataType::Struct(fields) = item.data_type() else {
        return exec_err!("ENTRIES takes a MAP");
    };
    let offsets = map.value_offsets();
    let keys = map.keys();
    // Entry indices, row by row: in map order, or by key.
    let mut indices: Vec<u32> = Vec::with_capacity(keys.len());
    let mut lengths = Vec::with_capacity(args.rows);
    let mut valid = Vec::with_capacity(args.rows);
    let key_text = arrow::compute::cast(keys, &DataType::Utf8)?;
    let key_text = key_text.as_string::<i32>();
    for row in 0..args.rows {
        let r = if scalar { 0 } else { row };
        if map.is_null(r) {
            lengths.push(0);
            valid.push(false);
            continue;
        }
        let (start, end) = (offsets[r] as usize, offsets[r + 1] as usize);
        let mut row_indices: Vec<u32> = (start as u32..end as u32).collect();
        let f = if flag_scalar { 0 } else { row };
        if flags.is_valid(f) && flags.value(f) {
            row_indices
                .sort_by(|&a, &b| key_text.value(a as usize).cmp(key_text.value(b as usize)));
        }
        lengths.push(row_indices.len());
        indices.extend(row_indices);
        valid.push(true);
    }
    let take = UInt32Array::from(indices);
    let k = arrow::compute::take(keys.as_ref(), &take, None)?;
    let v = arrow::compute::take(map.values().as_ref(), &take, None)?;
    let structs = StructArray::try_new(fields.clone(), vec![k, v], None)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(&item),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(structs),
        Some(valid.into()),
    )?))
}

/// `CAST(x AS STRING)` of an ARRAY, MAP or STRUCT, as ksqlDB (Java) prints them:
/// `[1, 3]`, `{k=1, j=2}`, `Struct{A=1,B=x}` (a STRUCT leaves out its NULL fields).
pub(crate) fn cast_to_string() -> Arc<ScalarUDF> {
    function(
        "cast_to_string",
        "An ARRAY, MAP or STRUCT as text, the way ksqlDB casts it to STRING.",
        Ret::Fixed(DataType::Utf8),
        |args| {
            let (array, scalar) = args.raw(0)?;
            let mut out = StringBuilder::new();
            let mut text = String::new();
            for row in 0..args.rows {
                let r = if scalar { 0 } else { row };
                if array.is_null(r) {
                    out.append_null();
                    continue;
                }
                text.clear();
                java_text(array.as_ref(), r, &mut text)?;
                out.append_value(&text);
            }
            Ok(Arc::new(out.finish()))
        },
    )
    .overload(&[P::Any])
    .build()
}

/// One value as Java's `toString` prints it (`null` for NULL).
fn java_text(array: &dyn Array, row: usize, out: &mut String) -> Result<()> {
    use std::fmt::Write;
    if array.is_null(row) {
        out.push_str("null");
        return Ok(());
    }
    match array.data_type() {
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(row);
            out.push('[');
            for i in 0..items.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(items.as_ref(), i, out)?;
            }
            out.push(']');
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            out.push('{');
            for i in 0..entries.len() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(entries.column(0).as_ref(), i, out)?;
                out.push('=');
                java_text(entries.column(1).as_ref(), i, out)?;
            }
            out.push('}');
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            out.push_str("Struct{");
            let mut first = true;
            for (f, column) in fields.iter().zip(s.columns()) {
                if column.is_null(row) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(f.name());
                out.push('=');
                java_text(column.as_ref(), row, out)?;
            }
            out.push('}');
        }
        DataType::Float64 => out.push_str(&java_double(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .value(row),
        )),
        DataType::Utf8 => out.push_str(array.as_string::<i32>().value(row)),
        DataType::Utf8View => out.push_str(array.as_string_view().value(row)),
        _ => {
            let text = arrow::util::display::array_value_to_string(array, row)?;
            let _ = write!(out, "{text}");
        }
    }
    Ok(())
}

/// A DOUBLE as Java's `Double.toString`: `1.0`, `0.001`, `1.0E7`, `1.5E-4`, `NaN`, `Infinity`.
pub(crate) fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = v.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = format!("{v}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    // Shortest round-trip digits in scientific form, with at least one fraction digit.
    let text = format!("{v:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    if mantissa.contains('.') {
        format!("{mantissa}E{exponent}")
    } else {
        format!("{mantissa}.0E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, TimestampMillisecondArray};

    #[test]
    fn json_texts_write_ksqldb_forms() {
        let doubles: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), None, Some(0.0)]));
        assert_eq!(json_texts(&doubles).unwrap(), vec!["1.5", "null", "0.0"]);
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![10]));
        assert_eq!(json_texts(&ts).unwrap(), vec!["10"]);
        let s: ArrayRef = Arc::new(StringArray::from(vec!["a\"b"]));
        assert_eq!(json_texts(&s).unwrap(), vec!["\"a\\\"b\""]);
    }

    #[test]
    fn doubles_print_as_java_does() {
        for (v, text) in [
            (1.0, "1.0"),
            (0.001, "0.001"),
            (1234567.5, "1234567.5"),
            (1e7, "1.0E7"),
            (1.5e-4, "1.5E-4"),
            (-2.5e10, "-2.5E10"),
            (0.0, "0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(super::java_double(v), text);
        }
    }
}
