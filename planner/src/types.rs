//! ksqlDB SQL types and their Arrow representation.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use weir_parser::SqlType;

/// The Arrow type that holds values of a ksqlDB type.
pub fn arrow_type(t: &SqlType) -> DataType {
    match t {
        SqlType::Boolean => DataType::Boolean,
        SqlType::Int => DataType::Int32,
        SqlType::Bigint => DataType::Int64,
        SqlType::Double => DataType::Float64,
        SqlType::Decimal(p, s) => DataType::Decimal128(*p, *s),
        SqlType::String => DataType::Utf8,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        SqlType::Date => DataType::Date32,
        SqlType::Time => DataType::Time32(TimeUnit::Millisecond),
        SqlType::Bytes => DataType::Binary,
        SqlType::Array(inner) => {
            DataType::List(Arc::new(Field::new("item", arrow_type(inner), true)))
        }
        SqlType::Map(k, v) => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("keys", arrow_type(k), false),
                    Field::new("values", arrow_type(v), true),
                ])),
                false,
            )),
            false,
        ),
        SqlType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|(n, t)| Field::new(n, arrow_type(t), true))
                .collect(),
        ),
        _ => DataType::Null,
    }
}

/// The ksqlDB name of an Arrow type, for `DESCRIBE` (types without a ksqlDB name print as Arrow's).
pub fn sql_type_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 | DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTES".into(),
        DataType::List(f) | DataType::LargeList(f) => {
            format!("ARRAY<{}>", sql_type_name(f.data_type()))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                format!(
                    "MAP<{}, {}>",
                    sql_type_name(kv[0].data_type()),
                    sql_type_name(kv[1].data_type())
                )
            }
            other => other.to_string(),
        },
        DataType::Struct(fields) => format!(
            "STRUCT<{}>",
            fields
                .iter()
                .map(|f| format!("`{}` {}", f.name(), sql_type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names() {
        for t in [
            SqlType::Int,
            SqlType::Decimal(10, 2),
            SqlType::Array(Box::new(SqlType::String)),
            SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Bigint)),
            SqlType::Struct(vec![("A".into(), SqlType::Double)]),
        ] {
            assert_eq!(sql_type_name(&arrow_type(&t)), t.to_string());
        }
    }
}
