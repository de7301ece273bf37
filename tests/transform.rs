//! Transformations users reach for: local time to UTC across DST changes (checked against the
//! UTC instants the data sets carry), format conversion to CSV, schema evolution, replacing a
//! running query, and the errors bad function calls give.

use std::path::PathBuf;

use weir::{Config, Session};

use crate::common::*;

fn data(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file)
        .display()
        .to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Trips of 2019-03-09..11 (the DST start is 2019-03-10 02:00 in New York), as CSV.
fn dst_trips_ddl() -> String {
    format!(
        "CREATE STREAM trips (
           trip_id STRING, vendor_id INT KEY, pickup_datetime STRING, dropoff_datetime STRING,
           pickup_ts BIGINT, dropoff_ts BIGINT, passenger_count INT, trip_distance DOUBLE,
           rate_code_id INT, store_and_fwd_flag STRING, pickup_location_id INT, dropoff_location_id INT,
           payment_type INT, fare_amount DOUBLE, extra DOUBLE, mta_tax DOUBLE, tip_amount DOUBLE,
           tolls_amount DOUBLE, improvement_surcharge DOUBLE, total_amount DOUBLE, congestion_surcharge DOUBLE
         ) WITH (PATH='{}', VALUE_FORMAT='DELIMITED', HEADER=true, PARTITIONS=2);",
        data("trips_2019-03-09_to_11.csv")
    )
}

#[test]
fn local_pickup_times_convert_to_utc_across_the_dst_start() {
    let mut s = session_with(&dst_trips_ddl(), Config::default());
    // The data set's pickup_ts was computed independently from the same local times: every
    // one of the 923 trips must agree, before, on and after the DST change.
    let all = rows(
        &mut s,
        "SELECT trip_id,
                UNIX_TIMESTAMP(PARSE_TIMESTAMP(pickup_datetime, 'yyyy-MM-dd HH:mm:ss',
                                               'America/New_York')) - pickup_ts AS diff
         FROM trips;",
    );
    assert_eq!(count(&all), 923);
    assert!(strings(&all, "DIFF").iter().all(|d| d == "0"));
    // Around the gap: 01:55 is still EST (UTC-5), 03:08 already EDT (UTC-4).
    let around = rows(
        &mut s,
        "SELECT trip_id,
                FORMAT_TIMESTAMP(PARSE_TIMESTAMP(pickup_datetime, 'yyyy-MM-dd HH:mm:ss',
                                                 'America/New_York'),
                                 'yyyy-MM-dd''T''HH:mm:ssXXX') AS utc,
                FORMAT_TIMESTAMP(FROM_UNIXTIME(pickup_ts), 'HH:mm zzz', 'America/New_York') AS local
         FROM trips
         WHERE pickup_datetime BETWEEN '2019-03-10 01:50:00' AND '2019-03-10 03:10:00';",
    );
    assert_eq!(strings(&around, "TRIP_ID"), ["T2019-23024", "T2019-23025"]);
    assert_eq!(
        strings(&around, "UTC"),
        ["2019-03-10T06:55:45Z", "2019-03-10T07:08:41Z"]
    );
    assert_eq!(strings(&around, "LOCAL"), ["01:55 EST", "03:08 EDT"]);
}

#[test]
fn flight_departures_convert_to_utc_across_the_dst_end() {
    let mut s = session_with(
        &format!(
            "CREATE STREAM flights (flight_id STRING, sched_dep_local STRING,
                                    sched_dep_utc STRING, sched_dep_ts BIGINT)
             WITH (PATH='{}');",
            data("flights_2013-11-03_dst_end.jsonl")
        ),
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT flight_id,
                FORMAT_TIMESTAMP(PARSE_TIMESTAMP(sched_dep_local, 'yyyy-MM-dd''T''HH:mm:ss',
                                                 'America/New_York'),
                                 'yyyy-MM-dd''T''HH:mm:ssX') AS utc,
                sched_dep_utc,
                UNIX_TIMESTAMP(PARSE_TIMESTAMP(sched_dep_local, 'yyyy-MM-dd''T''HH:mm:ss',
                                               'America/New_York')) - sched_dep_ts AS diff
         FROM flights;",
    );
    assert_eq!(count(&out), 214);
    assert_eq!(strings(&out, "UTC"), strings(&out, "SCHED_DEP_UTC"));
    assert!(strings(&out, "DIFF").iter().all(|d| d == "0"));
    // 20:00 on the 2nd is EDT (UTC-4); 08:59 on the 3rd is EST (UTC-5).
    let utc = strings(&out, "UTC");
    assert_eq!(
        utc.first().map(String::as_str),
        Some("2013-11-03T00:00:00Z")
    );
    assert_eq!(utc.last().map(String::as_str), Some("2013-11-03T13:59:00Z"));
}

#[test]
fn json_trips_reduced_and_written_as_csv() {
    let dir = temp_dir("csv");
    let out = dir.join("fares.csv");
    let mut s = session_with(&taxi_ddl(2), Config::default());
    s.execute(&format!(
        "CREATE STREAM fares WITH (PATH='{}', VALUE_FORMAT='DELIMITED', HEADER=true) AS
           SELECT vendor_id, trip_id,
                  FORMAT_TIMESTAMP(FROM_UNIXTIME(pickup_ts), 'EEE, d MMM yyyy HH:mm',
                                   'America/New_York') AS pickup,
                  total_amount
           FROM trips WHERE total_amount < 0;",
        out.display()
    ))
    .unwrap();
    s.finish().unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The header once, then the 7 refunds of January in source order; the comma inside the
    // formatted time is quoted (RFC 4180).
    assert_eq!(lines[0], "VENDOR_ID,TRIP_ID,PICKUP,TOTAL_AMOUNT");
    assert_eq!(lines.len(), 1 + 7);
    assert_eq!(lines[1], "2,T2019-02095,\"Tue, 8 Jan 2019 14:06\",-52.8");
    assert_eq!(lines[2], "2,T2019-02325,\"Wed, 9 Jan 2019 10:04\",-52.8");
}

#[test]
fn quotes_and_delimiters_survive_json_to_csv_and_back() {
    let dir = temp_dir("roundtrip");
    let input = dir.join("notes.jsonl");
    std::fs::write(
        &input,
        "{\"id\":1,\"note\":\"plain\"}\n{\"id\":2,\"note\":\"a, b\"}\n{\"id\":3,\"note\":\"say \\\"hi\\\"\"}\n{\"id\":4,\"note\":null}\n",
    )
    .unwrap();
    let csv = dir.join("notes.csv");
    let mut s = session_with(
        &format!(
            "CREATE STREAM notes (id INT, note STRING) WITH (PATH='{}');
             CREATE STREAM notes_csv WITH (PATH='{}', VALUE_FORMAT='DELIMITED') AS
               SELECT id, note FROM notes;",
            input.display(),
            csv.display()
        ),
        Config::default(),
    );
    s.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "1,plain\n2,\"a, b\"\n3,\"say \"\"hi\"\"\"\n4,\n"
    );
    s.execute(&format!(
        "CREATE STREAM back (id INT, note STRING) WITH (PATH='{}', VALUE_FORMAT='DELIMITED');",
        csv.display()
    ))
    .unwrap();
    let out = rows(&mut s, "SELECT id, note FROM back;");
    assert_eq!(
        strings(&out, "NOTE"),
        ["plain", "a, b", "say \"hi\"", "null"]
    );
}

#[test]
fn later_records_that_gained_a_field() {
    let dir = temp_dir("evolve");
    let input = dir.join("readings.jsonl");
    // The producer added `unit` half-way, and sends a field nobody declared.
    std::fs::write(
        &input,
        concat!(
            "{\"sensor\":\"a\",\"value\":1.5}\n",
            "{\"sensor\":\"b\",\"value\":2.5}\n",
            "{\"sensor\":\"a\",\"value\":3.5,\"unit\":\"C\",\"firmware\":\"2.1\"}\n",
        ),
    )
    .unwrap();
    let mut s = session_with(
        &format!(
            "CREATE STREAM readings (sensor STRING, value DOUBLE, unit STRING)
             WITH (PATH='{}');",
            input.display()
        ),
        Config::default(),
    );
    let out = rows(&mut s, "SELECT sensor, unit FROM readings;");
    assert_eq!(strings(&out, "UNIT"), ["null", "null", "C"]);
    // Kept when asked: the undeclared fields as a JSON object in a STRING column.
    s.execute(&format!(
        "CREATE STREAM kept (sensor STRING, value DOUBLE, extra STRING)
         WITH (PATH='{}', UNKNOWN_FIELDS='extra');",
        input.display()
    ))
    .unwrap();
    let out = rows(
        &mut s,
        "SELECT extra, EXTRACTJSONFIELD(extra, '$.firmware') AS fw FROM kept;",
    );
    assert_eq!(
        strings(&out, "EXTRA"),
        ["null", "null", r#"{"unit":"C","firmware":"2.1"}"#]
    );
    assert_eq!(strings(&out, "FW"), ["null", "null", "2.1"]);
    let err = s
        .execute("CREATE STREAM bad (sensor STRING, n INT) WITH (UNKNOWN_FIELDS='n');")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must name a declared STRING value column"),
        "{err}"
    );
}

#[test]
fn alter_stream_adds_columns_older_rows_read_as_null() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, a STRING);
         INSERT INTO s VALUES (1, 'x');
         CREATE STREAM upper_s AS SELECT id, UCASE(a) AS up FROM s;",
        Config::default(),
    );
    s.execute("ALTER STREAM s ADD COLUMN b DOUBLE, ADD COLUMN c STRING;")
        .unwrap();
    s.execute("INSERT INTO s VALUES (2, 'y', 2.5, 'z');")
        .unwrap();
    let out = rows(&mut s, "SELECT id, a, b, c FROM s;");
    assert_eq!(strings(&out, "B"), ["null", "2.5"]);
    assert_eq!(strings(&out, "C"), ["null", "z"]);
    // The query started before the change keeps running on its columns.
    let up = rows(&mut s, "SELECT up FROM upper_s;");
    assert_eq!(strings(&up, "UP"), ["X", "Y"]);
    let err = s
        .execute("ALTER STREAM s ADD COLUMN a INT;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("A column with the same name already exists"),
        "{err}"
    );
    let err = s
        .execute("ALTER STREAM upper_s ADD COLUMN z INT;")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not supported for CREATE ... AS"), "{err}");
}

#[test]
fn create_or_replace_continues_where_the_old_query_stopped() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, a STRING, n INT);
         CREATE STREAM t AS SELECT id, a FROM s;
         CREATE STREAM u AS SELECT id, UCASE(a) AS up FROM t;
         INSERT INTO s VALUES (1, 'x', 10);",
        Config::default(),
    );
    let done = s
        .execute("CREATE OR REPLACE STREAM t AS SELECT id, a, n * 2 AS n2 FROM s;")
        .unwrap();
    assert!(format!("{done:?}").contains("continues where it stopped"));
    s.execute("INSERT INTO s VALUES (2, 'y', 20);").unwrap();
    // Each input row was processed once: by the old query before, by the new one after.
    let t = rows(&mut s, "SELECT id, a, n2 FROM t;");
    assert_eq!(strings(&t, "ID"), ["1", "2"]);
    assert_eq!(strings(&t, "N2"), ["null", "40"]);
    // The downstream query kept running across the replacement.
    let u = rows(&mut s, "SELECT up FROM u;");
    assert_eq!(strings(&u, "UP"), ["X", "Y"]);
    let err = s
        .execute("CREATE OR REPLACE STREAM t AS SELECT id, n FROM s;")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not upgrade compatible"), "{err}");
}

#[test]
fn bad_function_calls_are_plan_errors() {
    let mut s = session_with(
        "CREATE STREAM t (id INT, ts TIMESTAMP, d DATE, s STRING);",
        Config::default(),
    );
    for (sql, expected) in [
        (
            "SELECT FORMAT_DATE(d, 'yyyy-QQ') FROM t;",
            "pattern letter 'Q' is not supported",
        ),
        (
            "SELECT FORMAT_TIMESTAMP(ts, 'yyyy', 'Mars/Olympus') FROM t;",
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            "SELECT DATEADD(d, 5, d) FROM t;",
            "Function 'dateadd' does not accept parameters (DATE, BIGINT, DATE)",
        ),
        (
            "SELECT REGEXP_EXTRACT('(', s) FROM t;",
            "invalid regular expression '('",
        ),
    ] {
        let err = s
            .query(sql)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{sql}: {err}");
    }
    // Per-row text that does not parse is NULL, as in ksqlDB.
    s.execute("INSERT INTO t (id, s) VALUES (1, 'not a time'), (2, '2019-01-01 00:00:00');")
        .unwrap();
    let out = rows(
        &mut s,
        "SELECT PARSE_TIMESTAMP(s, 'yyyy-MM-dd HH:mm:ss') AS p FROM t;",
    );
    assert_eq!(strings(&out, "P"), ["null", "2019-01-01T00:00:00"]);
}

#[test]
fn unwrapped_single_values_read_and_write() {
    let dir = temp_dir("unwrapped");
    let input = dir.join("amounts.jsonl");
    std::fs::write(&input, "10\n20\n\"x\"\nnull\n30\n").unwrap();
    let output = dir.join("doubled.jsonl");
    let mut s = Session::new(Config::default());
    let bad = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&bad);
    s.on_bad_record(move |b| seen.lock().unwrap().push(b.location.clone()));
    s.execute(&format!(
        "CREATE STREAM amounts (amount INT) WITH (PATH='{}', WRAP_SINGLE_VALUE=false);
         CREATE STREAM doubled WITH (PATH='{}', WRAP_SINGLE_VALUE=false) AS
           SELECT amount * 2 AS doubled FROM amounts;",
        input.display(),
        output.display()
    ))
    .unwrap();
    s.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "20\n40\nnull\n60\n"
    );
    assert_eq!(*bad.lock().unwrap(), [format!("{}:3", input.display())]);
    let err = s
        .execute(&format!(
            "CREATE STREAM two (a INT, b INT) WITH (PATH='{}', WRAP_SINGLE_VALUE=false);",
            input.display()
        ))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("only valid for single-field value schemas"),
        "{err}"
    );
}

#[test]
fn trip_identifiers_masked_and_pseudonymised() {
    let mut s = session_with(&taxi_ddl(2), Config::default());
    let out = rows(
        &mut s,
        "SELECT MASK_KEEP_RIGHT(trip_id, 3) AS trip, SHA256(trip_id) AS pseudonym,
                MASK(store_and_fwd_flag) AS flag
         FROM trips;",
    );
    assert_eq!(count(&out), 10_000);
    let trips = strings(&out, "TRIP");
    assert_eq!(trips[..2], ["Xnnnn-nn001", "Xnnnn-nn002"]);
    // Nothing but the last three characters survives.
    assert!(trips.iter().all(|t| t.len() == 11 && t[..8] == *"Xnnnn-nn"));
    let pseudonyms = strings(&out, "PSEUDONYM");
    assert_eq!(
        pseudonyms[0],
        "4e54a754a3d2b87d70e77446303af3ade927a2031fb7aef99b8736aaa3d3c12a"
    );
    // A stable pseudonym: one per trip, no collisions.
    let distinct: std::collections::BTreeSet<&String> = pseudonyms.iter().collect();
    assert_eq!(distinct.len(), 10_000);
    assert!(strings(&out, "FLAG").iter().all(|f| f == "X"));
}

#[test]
fn json_values_in_string_columns_keep_their_json_text() {
    let dir = temp_dir("nested");
    let input = dir.join("events.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\":1,\"payload\":{\"a\":{\"b\":[1,2]}}}\n",
            "{\"id\":2,\"payload\":\"{\\\"a\\\":{\\\"b\\\":[3]}}\"}\n",
            "{\"id\":3,\"payload\":[1,2]}\n",
            "{\"id\":4,\"payload\":12.5}\n",
        ),
    )
    .unwrap();
    let mut s = session_with(
        &format!(
            "CREATE STREAM events (id INT, payload STRING) WITH (PATH='{}');",
            input.display()
        ),
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT payload, EXTRACTJSONFIELD(payload, '$.a.b[0]') AS b0 FROM events;",
    );
    assert_eq!(
        strings(&out, "PAYLOAD"),
        [
            "{\"a\":{\"b\":[1,2]}}",
            "{\"a\":{\"b\":[3]}}",
            "[1,2]",
            "12.5"
        ]
    );
    assert_eq!(strings(&out, "B0"), ["1", "3", "null", "null"]);
}

/// A windowed source (`WINDOW_TYPE`): hourly trip counts written by one pipeline are read
/// back, windows and all, by another (as ksqlDB reads a windowed topic).
#[test]
fn windowed_results_read_back_as_a_windowed_source() {
    let dir = temp_dir("windowed-source");
    let path = dir.join("hourly.jsonl").display().to_string();
    let _ = std::fs::remove_file(&path);
    let mut s = session_with(&taxi_ddl(2), Config::default());
    s.execute(&format!(
        "CREATE TABLE hourly WITH (PATH='{path}') AS
           SELECT vendor_id, COUNT(*) AS trips FROM trips
           WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 0 SECONDS) GROUP BY vendor_id EMIT FINAL;"
    ))
    .unwrap();
    s.finish().unwrap();
    let direct = rows(&mut s, "SELECT * FROM hourly;");

    let mut r = session_with(
        &format!(
            "CREATE STREAM hourly (vendor_id INT KEY, trips BIGINT)
               WITH (PATH='{path}', WINDOW_TYPE='TUMBLING', WINDOW_SIZE='1 HOUR');"
        ),
        Config::default(),
    );
    let back = rows(
        &mut r,
        "SELECT vendor_id, WINDOWSTART, WINDOWEND, trips FROM hourly;",
    );
    assert_eq!(count(&back), count(&direct));
    assert_eq!(sum(&back, "TRIPS"), sum(&direct, "TRIPS"));
    let starts = strings(&back, "WINDOWSTART");
    let ends = strings(&back, "WINDOWEND");
    assert!(starts
        .iter()
        .zip(&ends)
        .all(|(s, e)| e.parse::<i64>().unwrap() - s.parse::<i64>().unwrap() == 3_600_000));
    // A derived stream keeps the window, selected or not.
    r.execute("CREATE STREAM busy AS SELECT vendor_id, trips FROM hourly WHERE trips > 20;")
        .unwrap();
    r.finish().unwrap();
    let busy = rows(&mut r, "SELECT * FROM busy;");
    assert!(busy
        .iter()
        .all(|b| b.schema().index_of("WINDOWSTART").is_ok()));
    let expected = strings(&direct, "TRIPS")
        .iter()
        .filter(|t| t.parse::<i64>().unwrap() > 20)
        .count();
    assert!(expected > 0);
    assert_eq!(count(&busy), expected);
    let err = r
        .execute(
            "CREATE STREAM bad (k INT KEY) WITH (WINDOW_TYPE='SESSION', WINDOW_SIZE='1 HOUR');",
        )
        .unwrap_err();
    assert!(err
        .to_string()
        .contains("'WINDOW_SIZE' should not be set for SESSION windows."));
}

/// `CREATE TYPE` names a type for columns (nested too) and casts; an unknown name is refused
/// with a suggestion; `DROP TYPE` forgets it.
#[test]
fn custom_types_name_structs() {
    let mut s = session_with(
        "CREATE TYPE address AS STRUCT<number INTEGER, street VARCHAR>;
         CREATE TYPE person AS STRUCT<name STRING, home ADDRESS>;
         CREATE STREAM people (id INT KEY, who PERSON) WITH (VALUE_FORMAT='JSON');",
        Config::default(),
    );
    s.insert_json(
        "people",
        r#"{"id": 1, "who": {"name": "jay", "home": {"number": 899, "street": "W. Evelyn"}}}"#,
        None,
    )
    .unwrap();
    let out = rows(
        &mut s,
        "SELECT who->home->street AS street, CAST(NULL AS ADDRESS) AS none FROM people;",
    );
    assert_eq!(strings(&out, "STREET"), ["W. Evelyn"]);
    assert_eq!(strings(&out, "NONE"), ["null"]);
    let info = s.stream_info("PEOPLE").unwrap();
    let who = info.schema.field(1).data_type().to_string();
    assert!(
        who.contains("\"HOME\": Struct(\"NUMBER\": Int32, \"STREET\": Utf8)"),
        "{who}"
    );
    let err = s
        .execute("CREATE STREAM x (a ADRESS);")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'ADRESS': not a type (did you mean ADDRESS?)"),
        "{err}"
    );
    s.execute("DROP TYPE address;").unwrap();
    let err = s
        .execute("CREATE STREAM y (a ADDRESS);")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a type"), "{err}");
}

/// CREATE OR REPLACE of an in-memory stream keeps its records and the queries reading it:
/// columns may be added at the end; changing a column's type is refused.
#[test]
fn create_or_replace_of_a_declared_stream_keeps_its_records() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, v INT);
         INSERT INTO s VALUES (1, 2);
         CREATE STREAM d AS SELECT id, v FROM s;
         CREATE OR REPLACE STREAM s (id INT KEY, v INT, w STRING);
         INSERT INTO s VALUES (2, 3, 'x');",
        Config::default(),
    );
    let out = rows(&mut s, "SELECT * FROM s;");
    assert_eq!(strings(&out, "V"), ["2", "3"]);
    assert_eq!(strings(&out, "W"), ["null", "x"]);
    assert_eq!(strings(&rows(&mut s, "SELECT * FROM d;"), "V"), ["2", "3"]);
    let err = s
        .execute("CREATE OR REPLACE STREAM s (id INT KEY, v STRING);")
        .unwrap_err()
        .to_string();
    assert!(err.contains("Cannot upgrade data source S"), "{err}");
}

/// A custom type cannot take a built-in type's name, nor a STRUCT two fields of one name.
#[test]
fn custom_types_are_checked() {
    let mut s = weir::Session::new(Config::default());
    for (sql, expected) in [
        (
            "CREATE TYPE INT AS STRUCT<x INT>;",
            "name of a built-in type",
        ),
        (
            "CREATE TYPE t AS STRUCT<a INT, a STRING>;",
            "Duplicate field names found in STRUCT: 'A'",
        ),
        (
            "CREATE OR REPLACE TYPE t AS INT;",
            "CREATE OR REPLACE TYPE is not supported",
        ),
    ] {
        let err = s.execute(sql).unwrap_err().to_string();
        assert!(err.contains(expected), "{sql}: {err}");
    }
}
