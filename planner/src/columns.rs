//! Names of the system columns every stream carries, defined once.
//!
//! Each record has two pseudo columns beside its declared ones, kept at the end of every
//! batch and hidden from `SELECT *`:
//! - [`ROWTIME`]: the record's event time in milliseconds since the epoch (the `TIMESTAMP`
//!   column when one is declared, otherwise the time the record was ingested);
//! - [`ROWOFFSET`]: the record's position in its original source (0-based), which also
//!   restores source order when an exchange merges rows from several partitions.
//!
//! And a third, after those:
//! - [`ROWDELETED`]: true on a record whose value is NULL (a Kafka record with a null value).
//!   In a table (and every changelog, such as an aggregation's output) that is a tombstone: it
//!   deletes its key, as in a compacted topic. In a stream it is a null-value record: a
//!   projection passes it on (still without a value, its key as projected), while filters,
//!   aggregations and joins skip it, as ksqlDB does.
//!
//! A stream or table read by a query also shows [`ROWPARTITION`], the partition the record
//! is read from (INTEGER); it is not stored with the record but added by the reader.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};

/// Event time of the record, BIGINT milliseconds since the epoch.
pub const ROWTIME: &str = "ROWTIME";
/// Position of the record in its original source, BIGINT.
pub const ROWOFFSET: &str = "ROWOFFSET";
/// The partition a record is read from, INTEGER (added when it is read, not stored).
pub const ROWPARTITION: &str = "ROWPARTITION";
/// Whether a row has a NULL value (in a changelog: a tombstone, deleting its key), BOOLEAN.
pub const ROWDELETED: &str = "ROWDELETED";
/// Start of a record's window (ms), in windowed aggregations.
pub const WINDOWSTART: &str = "WINDOWSTART";
/// End of a record's window (ms, exclusive), in windowed aggregations.
pub const WINDOWEND: &str = "WINDOWEND";
/// Names users may not give their own columns.
pub const RESERVED: &[&str] = &[
    ROWTIME,
    ROWOFFSET,
    ROWDELETED,
    ROWPARTITION,
    "WINDOWSTART",
    "WINDOWEND",
];

/// Whether `name` is one of the hidden system columns.
pub fn is_hidden(name: &str) -> bool {
    name == ROWTIME || name == ROWOFFSET || name == ROWDELETED || name == ROWPARTITION
}

/// The hidden fields appended to every stream's physical schema.
pub fn hidden_fields() -> [Arc<Field>; 2] {
    [
        Arc::new(Field::new(ROWTIME, DataType::Int64, false)),
        Arc::new(Field::new(ROWOFFSET, DataType::Int64, false)),
    ]
}

/// The null-value (tombstone) flag every row carries after the hidden fields.
pub fn tombstone_field() -> Arc<Field> {
    Arc::new(Field::new(ROWDELETED, DataType::Boolean, false))
}

/// The partition field a reader adds after the stored columns.
pub fn partition_field() -> Arc<Field> {
    Arc::new(Field::new(ROWPARTITION, DataType::Int32, true))
}

/// The window-bound fields a windowed query adds after the hidden columns.
pub fn window_fields() -> [Arc<Field>; 2] {
    [
        Arc::new(Field::new(WINDOWSTART, DataType::Int64, false)),
        Arc::new(Field::new(WINDOWEND, DataType::Int64, false)),
    ]
}
