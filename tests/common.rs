//! Helpers shared by the integration tests.

use std::path::PathBuf;

use weir::arrow::array::{Array, AsArray, RecordBatch};
use weir::arrow::compute::cast;
use weir::arrow::datatypes::{DataType, Float64Type};
use weir::{Config, Session};

pub fn taxi_path() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/nyc_taxi/trips_2019-01.jsonl")
        .display()
        .to_string()
}

/// `CREATE STREAM trips ...` over the bundled January 2019 trips.
pub fn taxi_ddl(partitions: usize) -> String {
    format!(
        "CREATE STREAM trips (
           trip_id STRING, vendor_id INT KEY, pickup_datetime STRING, dropoff_datetime STRING,
           pickup_ts BIGINT, dropoff_ts BIGINT, passenger_count INT, trip_distance DOUBLE,
           rate_code_id INT, store_and_fwd_flag STRING, pickup_location_id INT, dropoff_location_id INT,
           payment_type INT, fare_amount DOUBLE, extra DOUBLE, mta_tax DOUBLE, tip_amount DOUBLE,
           tolls_amount DOUBLE, improvement_surcharge DOUBLE, total_amount DOUBLE, congestion_surcharge DOUBLE
         ) WITH (PATH='{}', VALUE_FORMAT='JSON', PARTITIONS={partitions}, TIMESTAMP='pickup_ts');",
        taxi_path()
    )
}

pub fn session_with(setup: &str, config: Config) -> Session {
    let mut s = Session::new(config);
    s.execute(setup)
        .unwrap_or_else(|e| panic!("{}", e.render(setup)));
    s
}

pub fn rows(session: &mut Session, sql: &str) -> Vec<RecordBatch> {
    session
        .query(sql)
        .unwrap_or_else(|e| panic!("{}", e.render(sql)))
        .collect::<weir::Result<Vec<_>>>()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// A column's values as strings ("null" for nulls), in output order.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let idx = b
            .schema()
            .index_of(column)
            .unwrap_or_else(|_| panic!("no column {column}"));
        let Ok(c) = cast(b.column(idx), &DataType::Utf8) else {
            // Maps and other types without a cast to text: as the REPL prints them.
            let options = weir::arrow::util::display::FormatOptions::default().with_null("null");
            let f = weir::arrow::util::display::ArrayFormatter::try_new(b.column(idx), &options)
                .unwrap();
            out.extend((0..b.num_rows()).map(|i| f.value(i).to_string()));
            continue;
        };
        let c = c.as_string::<i32>();
        for i in 0..c.len() {
            out.push(if c.is_null(i) {
                "null".into()
            } else {
                c.value(i).to_string()
            });
        }
    }
    out
}

pub fn sum(batches: &[RecordBatch], column: &str) -> f64 {
    let mut total = 0.0;
    for b in batches {
        let idx = b.schema().index_of(column).unwrap();
        let c = cast(b.column(idx), &DataType::Float64).unwrap();
        total += c
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .sum::<f64>();
    }
    total
}

pub fn temp_file(name: &str, contents: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("weir-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.display().to_string()
}

/// Every row of `column` in `table`'s changelog, with `ROWDELETED`, as `value/deleted` strings.
pub fn changelog(session: &mut weir::Session, table: &str, columns: &[&str]) -> Vec<String> {
    let sql = format!("SELECT *, ROWDELETED FROM {table} EMIT CHANGES;");
    let batches = rows(session, &sql);
    let mut cols: Vec<Vec<String>> = columns.iter().map(|c| strings(&batches, c)).collect();
    cols.push(strings(&batches, "ROWDELETED"));
    (0..cols[0].len())
        .map(|i| {
            cols.iter()
                .map(|c| c[i].as_str())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

/// The columns of a stream or table, in order.
pub fn column_names(session: &Session, stream: &str) -> Vec<String> {
    let info = session
        .stream_info(stream)
        .unwrap_or_else(|| panic!("no stream {stream}"));
    info.schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}
