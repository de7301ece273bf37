//! How Weir writes values to files (and, for Kafka, topics): ksqlDB's serialisation, so
//! consumers of a ksqlDB topic read Weir's output unchanged.
//!
//! | SQL type  | JSON / DELIMITED value              |
//! |-----------|-------------------------------------|
//! | TIMESTAMP | epoch milliseconds (number)         |
//! | DATE      | days since 1970-01-01 (number)      |
//! | TIME      | milliseconds since midnight (number)|
//! | BYTES     | base64 text                         |
//! | DOUBLE    | shortest text that reads back exactly |
//!
//! Readers accept the same forms (and ISO 8601 text for the temporal types). To write a
//! human-readable time, format it in the query: `FORMAT_TIMESTAMP(ts, 'yyyy-MM-dd HH:mm:ss')`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::Result;

/// The type a column is written as.
fn wire_type(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(..) | DataType::Date64 => DataType::Int64,
        DataType::Date32 | DataType::Time32(_) => DataType::Int32,
        DataType::Time64(_) => DataType::Int64,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Utf8,
        DataType::List(f) => DataType::List(Arc::new(wire_field(f))),
        DataType::LargeList(f) => DataType::LargeList(Arc::new(wire_field(f))),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| wire_field(f)).collect())
        }
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(wire_field(entries)), *sorted),
        other => other.clone(),
    }
}

fn wire_field(f: &Field) -> Field {
    Field::new(f.name(), wire_type(f.data_type()), f.is_nullable())
}

fn has_binary(t: &DataType) -> bool {
    match t {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => {
            has_binary(f.data_type())
        }
        DataType::Struct(fields) => fields.iter().any(|f| has_binary(f.data_type())),
        _ => false,
    }
}

/// A column with its BYTES (at any depth) as base64 text; with `temporal`, its temporal
/// values as numbers too (the written form).
fn written(column: &ArrayRef, temporal: bool) -> Result<ArrayRef> {
    let target = wire_type(column.data_type());
    if &target == column.data_type() || (!temporal && !has_binary(column.data_type())) {
        return Ok(Arc::clone(column));
    }
    if let DataType::Binary = column.data_type() {
        use base64::Engine as _;
        let bytes = column.as_binary::<i32>();
        let out: StringArray = bytes
            .iter()
            .map(|b| b.map(|b| base64::engine::general_purpose::STANDARD.encode(b)))
            .collect();
        return Ok(Arc::new(out));
    }
    if let DataType::Timestamp(unit, _) = column.data_type() {
        // Epoch milliseconds, whatever unit a computation produced.
        let millis = if *unit == arrow::datatypes::TimeUnit::Millisecond {
            Arc::clone(column)
        } else {
            arrow::compute::cast(
                column,
                &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
            )?
        };
        return Ok(arrow::compute::cast(&millis, &DataType::Int64)?);
    }
    if has_binary(column.data_type()) {
        // BYTES nested in a list, map or struct: each child in its written form.
        match column.data_type() {
            DataType::List(item) => {
                let l = column.as_list::<i32>();
                let values = written(l.values(), temporal)?;
                return Ok(Arc::new(arrow::array::ListArray::try_new(
                    Arc::new(Field::new(
                        item.name(),
                        values.data_type().clone(),
                        item.is_nullable(),
                    )),
                    l.offsets().clone(),
                    values,
                    l.nulls().cloned(),
                )?));
            }
            DataType::Struct(fields) => {
                let s = column.as_struct();
                let children = s
                    .columns()
                    .iter()
                    .map(|c| written(c, temporal))
                    .collect::<Result<Vec<_>>>()?;
                let fields: Vec<Field> = fields
                    .iter()
                    .zip(&children)
                    .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), f.is_nullable()))
                    .collect();
                return Ok(Arc::new(arrow::array::StructArray::try_new(
                    fields.into(),
                    children,
                    s.nulls().cloned(),
                )?));
            }
            DataType::Map(entries, sorted) => {
                let m = column.as_map();
                let entries_array: ArrayRef = Arc::new(m.entries().clone());
                let entries_written = written(&entries_array, temporal)?;
                let field = Field::new(entries.name(), entries_written.data_type().clone(), false);
                return Ok(Arc::new(arrow::array::MapArray::try_new(
                    Arc::new(field),
                    m.offsets().clone(),
                    entries_written.as_struct().clone(),
                    m.nulls().cloned(),
                    *sorted,
                )?));
            }
            _ => {}
        }
    }
    Ok(arrow::compute::cast(column, &target)?)
}

/// `batch` with BYTES values (at any depth) as base64 text, as ksqlDB shows them; other
/// values as they are (for display: a terminal shows timestamps as timestamps).
pub fn bytes_as_base64(batch: &RecordBatch) -> Result<RecordBatch> {
    rewrite(batch, false)
}

/// `batch` with every column converted to the form Weir writes it in (see the module docs):
/// temporal values become numbers and BYTES base64 text, as ksqlDB serialises them.
pub fn to_wire_format(batch: &RecordBatch) -> Result<RecordBatch> {
    rewrite(batch, true)
}

/// Every column of `batch` through [`written`]; the batch itself when none changes.
fn rewrite(batch: &RecordBatch, temporal: bool) -> Result<RecordBatch> {
    let changes = |t: &DataType| {
        if temporal {
            &wire_type(t) != t
        } else {
            has_binary(t)
        }
    };
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| changes(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(|c| written(c, temporal))
        .collect::<Result<Vec<_>>>()?;
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), f.is_nullable()))
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, Date32Array, TimestampMillisecondArray};

    #[test]
    fn temporal_values_are_written_as_numbers() {
        let batch = RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(vec![Some(10), None])) as ArrayRef,
            ),
            (
                "d",
                Arc::new(Date32Array::from(vec![Some(-10), Some(3)])) as ArrayRef,
            ),
            (
                "b",
                Arc::new(BinaryArray::from_opt_vec(vec![Some(b"yes"), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        let wire = to_wire_format(&batch).unwrap();
        let mut out = Vec::new();
        {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(&wire).unwrap();
            w.finish().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ts\":10,\"d\":-10,\"b\":\"eWVz\"}\n{\"d\":3}\n"
        );
    }

    #[test]
    fn nested_bytes_are_written_as_base64() {
        // In a map (whose keys may not be nullable).
        let keys = arrow::array::StringArray::from(vec!["a"]);
        let values = BinaryArray::from_opt_vec(vec![Some(b"c")]);
        let map = arrow::array::MapArray::new_from_strings(
            keys.iter().map(|k| k.unwrap_or_default()),
            &values,
            &[0, 1],
        )
        .unwrap();
        let batch = RecordBatch::try_from_iter([("m", Arc::new(map) as ArrayRef)]).unwrap();
        let wire = to_wire_format(&batch).unwrap();
        let mut out = Vec::new();
        {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(&wire).unwrap();
            w.finish().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"m\":{\"a\":\"Yw==\"}}\n"
        );

        let bytes: ArrayRef = Arc::new(BinaryArray::from_opt_vec(vec![Some(b"a"), None]));
        let list: ArrayRef = Arc::new(arrow::array::ListArray::new(
            Arc::new(Field::new("item", DataType::Binary, true)),
            arrow::buffer::OffsetBuffer::from_lengths([2]),
            Arc::clone(&bytes),
            None,
        ));
        let strukt: ArrayRef = Arc::new(arrow::array::StructArray::from(vec![(
            Arc::new(Field::new("B", DataType::Binary, true)),
            Arc::new(BinaryArray::from_opt_vec(vec![Some(b"b")])) as ArrayRef,
        )]));
        let batch = RecordBatch::try_from_iter([("l", list), ("s", strukt)]).unwrap();
        let wire = to_wire_format(&batch).unwrap();
        let mut out = Vec::new();
        {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            w.write(&wire).unwrap();
            w.finish().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"l\":[\"YQ==\",null],\"s\":{\"B\":\"Yg==\"}}\n"
        );
    }
}
