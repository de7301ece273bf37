//! Bad SQL gets a message with line:column, a caret, and a suggestion where one helps.

use weir::{Config, Session};

use crate::common::*;

fn error(session: &mut Session, sql: &str) -> String {
    match session.execute(sql) {
        Ok(_) => panic!("expected an error for {sql}"),
        Err(e) => e.render(sql),
    }
}

#[test]
fn unknown_stream_and_column_suggest_names() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(&mut s, "SELECT trip_id\nFROM trps;");
    assert!(
        text.starts_with("line 2:6: stream 'TRPS' does not exist"),
        "{text}"
    );
    assert!(text.contains("hint: did you mean TRIPS?"), "{text}");
    assert!(text.contains("2 | FROM trps;\n         ^"), "{text}");

    let text = error(&mut s, "SELECT fare_amont FROM trips;");
    assert!(
        text.contains("column 'FARE_AMONT' cannot be resolved"),
        "{text}"
    );
    assert!(text.contains("did you mean FARE_AMOUNT?"), "{text}");
    assert!(text.starts_with("line 1:8"), "{text}");
}

#[test]
fn syntax_errors_point_at_the_token() {
    let mut s = Session::new(Config::default());
    let text = error(
        &mut s,
        "CREATE STREAM x (a INT) WITH (VALUE_FORMAT='JSON', PARTITONS=2);",
    );
    assert!(text.contains("unknown property PARTITONS"), "{text}");
    assert!(text.contains("did you mean PARTITIONS?"), "{text}");
    let text = error(&mut s, "SELEC * FROM x;");
    assert!(text.contains("did you mean SELECT?"), "{text}");
}

#[test]
fn streaming_illegal_sql_is_rejected_at_plan_time() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(&mut s, "SELECT trip_id FROM trips ORDER BY trip_id;");
    assert!(
        text.contains("ORDER BY is not supported on a stream"),
        "{text}"
    );
    let text = error(&mut s, "INSERT INTO trips SELECT * FROM trips;");
    assert!(text.contains("cannot insert into TRIPS"), "{text}");
}

#[test]
fn bad_settings_are_rejected() {
    let mut s = Session::new(Config::default());
    let text = error(&mut s, "SET 'batch.max.rowz' = '10';");
    assert!(text.contains("did you mean 'batch.max.rows'?"), "{text}");
    let text = error(&mut s, "SET 'errors.policy' = 'ignore';");
    assert!(text.contains("skip, fail or dead-letter"), "{text}");
}

#[test]
fn a_file_sink_cannot_overwrite_an_input() {
    let path = temp_file("loop.jsonl", b"{\"a\":1}\n{\"a\":2}\n");
    let mut s = session_with(
        &format!("CREATE STREAM s (a INT) WITH (PATH='{path}');"),
        Config::default(),
    );
    let text = error(
        &mut s,
        &format!("CREATE STREAM t WITH (PATH='{path}') AS SELECT a FROM s;"),
    );
    assert!(text.contains("is already used by stream S"), "{text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
}

#[test]
fn a_persistent_query_must_keep_its_key() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(
        &mut s,
        "CREATE STREAM fares AS SELECT trip_id, fare_amount FROM trips;",
    );
    assert!(
        text.contains("The query used to build `FARES` must include the key column VENDOR_ID in its projection"),
        "{text}"
    );
}
