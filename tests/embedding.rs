//! The embedding API: in-memory streams fed from code, INSERT VALUES, persistent queries
//! reading other queries' streams.

use std::sync::Arc;

use weir::arrow::array::{Float64Array, Int32Array, RecordBatch};
use weir::{Config, Session};

use crate::common::*;

#[test]
fn push_batches_and_read_them_back() {
    let mut s = Session::new(Config::default());
    s.execute("CREATE STREAM readings (sensor INT KEY, value DOUBLE) WITH (PARTITIONS=2);")
        .unwrap();
    s.execute("CREATE STREAM hot AS SELECT sensor, value FROM readings WHERE value > 30;")
        .unwrap();
    let schema = Arc::new(weir::arrow::datatypes::Schema::new(vec![
        weir::arrow::datatypes::Field::new("SENSOR", weir::arrow::datatypes::DataType::Int32, true),
        weir::arrow::datatypes::Field::new(
            "VALUE",
            weir::arrow::datatypes::DataType::Float64,
            true,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(vec![1, 2, 1, 3])),
            Arc::new(Float64Array::from(vec![31.0, 12.5, 35.5, 40.0])),
        ],
    )
    .unwrap();
    s.push("readings", batch).unwrap();
    s.execute("INSERT INTO readings (sensor, value) VALUES (2, 33.3);")
        .unwrap();
    let out = rows(&mut s, "SELECT * FROM hot;");
    let mut got: Vec<(String, String)> = strings(&out, "SENSOR")
        .into_iter()
        .zip(strings(&out, "VALUE"))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [("1", "31.0"), ("1", "35.5"), ("2", "33.3"), ("3", "40.0")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    s.finish().unwrap();
}

#[test]
fn push_query_ends_when_the_stream_is_closed() {
    let mut s = Session::new(Config::default());
    s.execute("CREATE STREAM events (id BIGINT, kind STRING);")
        .unwrap();
    s.execute("INSERT INTO events VALUES (1, 'click'), (2, 'view'), (3, 'click');")
        .unwrap();
    s.close_stream("events").unwrap();
    let out = rows(
        &mut s,
        "SELECT id FROM events WHERE kind = 'click' EMIT CHANGES;",
    );
    assert_eq!(strings(&out, "ID"), ["1", "3"]);
}

#[test]
fn limit_ends_a_push_query() {
    let mut s = Session::new(Config::default());
    s.execute("CREATE STREAM events (id BIGINT);").unwrap();
    s.execute("INSERT INTO events VALUES (1), (2), (3);")
        .unwrap();
    let out = rows(&mut s, "SELECT id FROM events EMIT CHANGES LIMIT 2;");
    assert_eq!(strings(&out, "ID"), ["1", "2"]);
}

#[test]
fn file_sink_writes_json_lines() {
    let out_path = temp_file("airport.jsonl", b"");
    let setup = format!(
        "{}
         CREATE STREAM airport WITH (PATH='{out_path}') AS
           SELECT vendor_id, trip_id, total_amount FROM trips WHERE rate_code_id = 3;",
        taxi_ddl(2)
    );
    let mut s = session_with(&setup, Config::default());
    s.finish().unwrap();
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l.contains("\"TRIP_ID\":\"T2019-")),
        "{}",
        lines[0]
    );
}

#[test]
fn struct_fields_array_index_and_string_event_time() {
    let path = temp_file(
        "nested.jsonl",
        b"{\"id\":1,\"s\":{\"a\":5,\"b\":\"x\"},\"arr\":[10,20,30],\"ts\":\"2019-01-01 00:00:50\"}\n\
          {\"id\":2,\"s\":{\"a\":1,\"b\":\"y\"},\"arr\":[1],\"ts\":\"not a time\"}\n\
          {\"id\":3,\"s\":{\"a\":9,\"b\":\"xz\"},\"arr\":[],\"ts\":\"2019-01-01 00:01:00\"}\n",
    );
    // Nested field names match case-insensitively too (declared A, B; the file says a, b).
    let ddl = format!(
        "CREATE STREAM n (id INT, s STRUCT<a INT, b STRING>, arr ARRAY<INT>, ts STRING)
         WITH (PATH='{path}', TIMESTAMP='ts', TIMESTAMP_FORMAT='yyyy-MM-dd HH:mm:ss');"
    );
    let mut s = session_with(&ddl, Config::default());
    let mut q = s
        .query("SELECT id, s->b AS b, arr[2] AS second, ROWTIME FROM n WHERE s->a > 2 AND s->b LIKE 'x%';")
        .unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<Vec<_>>>().unwrap();
    assert_eq!(strings(&out, "ID"), ["1", "3"]);
    assert_eq!(strings(&out, "B"), ["x", "xz"]);
    assert_eq!(strings(&out, "SECOND"), ["20", "null"]);
    assert_eq!(strings(&out, "ROWTIME"), ["1546300850000", "1546300860000"]);
    assert_eq!(
        q.stats().bad_records,
        1,
        "the record whose time does not parse"
    );
}

#[test]
fn insert_select_routes_rows_by_the_target_key() {
    let mut s = Session::new(Config::default());
    s.execute(
        "CREATE STREAM a (id INT KEY, v INT) WITH (PARTITIONS=2);
         CREATE STREAM src (id INT, v INT) WITH (PARTITIONS=2);
         INSERT INTO a SELECT id, v FROM src;
         INSERT INTO src VALUES (1, 10), (1, 11), (1, 12), (1, 13);",
    )
    .unwrap();
    s.finish().unwrap();
    let out = rows(&mut s, "SELECT id, COUNT(*) AS n FROM a GROUP BY id;");
    assert_eq!(strings(&out, "N").last().map(String::as_str), Some("4"));
    assert_eq!(strings(&out, "ID"), ["1"]);
}

#[test]
fn rows_written_by_several_queries_keep_their_write_order() {
    let path = temp_file("later.jsonl", b"{\"x\":200}\n{\"x\":201}\n{\"x\":202}\n");
    let mut s = Session::new(Config::default());
    s.execute(&format!(
        "CREATE STREAM m (x INT);
         INSERT INTO m VALUES (100), (101), (102);
         CREATE STREAM f (x INT) WITH (PATH='{path}');
         INSERT INTO m SELECT x FROM f;"
    ))
    .unwrap();
    s.finish().unwrap();
    let out = rows(&mut s, "SELECT x FROM m LIMIT 4;");
    assert_eq!(strings(&out, "X"), ["100", "101", "102", "200"]);
}
