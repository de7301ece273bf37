//! Malformed input: never a panic, never silently lost — counted, reported with file and
//! line, and skipped, dead-lettered or fatal as configured.

use std::sync::{Arc, Mutex};

use weir::{Config, Error, ErrorPolicy};

use crate::common::*;

const LINES: &[u8] = b"{\"id\": 1, \"name\": \"a\", \"v\": 1.5}\n\
{\"id\": 2, \"name\": \"b\", \"v\": \n\
{\"id\": \"three\", \"name\": \"c\", \"v\": 3.0}\n\
\n\
{\"id\": 4, \"name\": \"\xff\xfe\", \"v\": 4.0}\n\
[1, 2]\n\
{\"ID\": 6, \"NAME\": \"f\", \"extra\": true}\n";

fn ddl(path: &str) -> String {
    format!("CREATE STREAM s (id INT, name STRING, v DOUBLE) WITH (PATH='{path}', VALUE_FORMAT='JSON');")
}

#[test]
fn skip_counts_and_reports_each_bad_record() {
    let path = temp_file("skip.jsonl", LINES);
    let mut s = session_with(&ddl(&path), Config::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    s.on_bad_record(move |bad| sink.lock().unwrap().push(bad.location.clone()));
    let query = s.query("SELECT id, name, v FROM s;").unwrap();
    let control = query.cancel_handle();
    drop(control);
    let mut query = query;
    let out: Vec<_> = query.by_ref().collect::<weir::Result<Vec<_>>>().unwrap();
    // Good: line 1, and line 7 (fields matched case-insensitively, extra field ignored,
    // missing field null).
    assert_eq!(strings(&out, "ID"), ["1", "6"]);
    assert_eq!(strings(&out, "V"), ["1.5", "null"]);
    let stats = query.stats();
    assert_eq!(
        (stats.records_in, stats.records_out, stats.bad_records),
        (6, 2, 4)
    );
    let locations = seen.lock().unwrap().clone();
    assert_eq!(
        locations,
        [2, 3, 5, 6]
            .iter()
            .map(|l| format!("{path}:{l}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn fail_stops_at_the_first_bad_record() {
    let path = temp_file("fail.jsonl", LINES);
    let config = Config::builder()
        .error_policy(ErrorPolicy::Fail)
        .build()
        .unwrap();
    let mut s = session_with(&ddl(&path), config);
    let result: weir::Result<Vec<_>> = s.query("SELECT * FROM s;").unwrap().collect();
    match result {
        Err(Error::BadRecord { location, .. }) => assert_eq!(location, format!("{path}:2")),
        other => panic!("expected a bad record error, got {other:?}"),
    }
}

#[test]
fn dead_letter_keeps_raw_record_and_reason() {
    let path = temp_file("dlq.jsonl", LINES);
    let mut s = session_with(&ddl(&path), Config::default());
    s.execute("SET 'errors.policy' = 'dead-letter';").unwrap();
    assert_eq!(count(&rows(&mut s, "SELECT * FROM s;")), 2);
    let dead = rows(&mut s, "SELECT location, reason, record FROM dead_letters;");
    assert_eq!(
        strings(&dead, "LOCATION"),
        [2, 3, 5, 6]
            .iter()
            .map(|l| format!("{path}:{l}"))
            .collect::<Vec<_>>()
    );
    let records = strings(&dead, "RECORD");
    assert_eq!(
        records[1],
        "{\"id\": \"three\", \"name\": \"c\", \"v\": 3.0}"
    );
    let reasons = strings(&dead, "REASON");
    assert!(reasons[2].contains("UTF-8"), "{reasons:?}");
    assert!(reasons.iter().all(|r| !r.is_empty()));
}

#[test]
fn csv_wrong_column_count_and_bad_number() {
    let path = temp_file("bad.csv", b"1,a,1.5\n2,b\n3,c,x\n4,d,4.5\n");
    let ddl = format!("CREATE STREAM c (id INT, name STRING, v DOUBLE) WITH (PATH='{path}', VALUE_FORMAT='DELIMITED');");
    let mut s = session_with(&ddl, Config::default());
    let mut q = s.query("SELECT id FROM c;").unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<Vec<_>>>().unwrap();
    assert_eq!(strings(&out, "ID"), ["1", "4"]);
    assert_eq!(q.stats().bad_records, 2);
}

#[test]
fn missing_file_is_a_clear_error() {
    let mut s = session_with(
        "CREATE STREAM m (id INT) WITH (PATH='/nonexistent/weir.jsonl');",
        Config::default(),
    );
    let err = s.query("SELECT * FROM m;").err().unwrap();
    assert!(err.to_string().contains("/nonexistent/weir.jsonl"), "{err}");
}

#[test]
fn mixed_field_spellings_do_not_depend_on_batch_size() {
    let path = temp_file(
        "spell.jsonl",
        b"{\"a\":1,\"b\":\"x\"}\n{\"A\":2,\"B\":\"y\"}\n",
    );
    for rows in [1, 8192] {
        let config = Config::builder().batch_max_rows(rows).build().unwrap();
        let ddl = format!("CREATE STREAM sp (a INT, b STRING) WITH (PATH='{path}');");
        let mut s = session_with(&ddl, config);
        let out = crate::common::rows(&mut s, "SELECT a, b FROM sp;");
        assert_eq!(strings(&out, "A"), ["1", "2"], "batch.max.rows={rows}");
        assert_eq!(strings(&out, "B"), ["x", "y"], "batch.max.rows={rows}");
    }
}

#[test]
fn unterminated_csv_quote_is_a_bad_record_not_a_swallowed_file() {
    let mut text = b"1,x,1.5\n6,\"unterminated,5.5\n".to_vec();
    for i in 7..200 {
        text.extend_from_slice(format!("{i},v,6.5\n").as_bytes());
    }
    let path = temp_file("quote.csv", &text);
    let ddl = format!("CREATE STREAM q (id INT, name STRING, v DOUBLE) WITH (PATH='{path}', VALUE_FORMAT='DELIMITED');");
    let mut s = session_with(&ddl, Config::default());
    let mut q = s.query("SELECT id FROM q;").unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<Vec<_>>>().unwrap();
    // Line 2 opens a quote that never closes: it and the 99 lines it ran into are one bad
    // record; reading resumes after them.
    assert_eq!(q.stats().bad_records, 1);
    let ids = strings(&out, "ID");
    assert_eq!(ids.first().map(String::as_str), Some("1"));
    assert_eq!(ids.len(), 1 + (200 - 7) - 99);
}

#[test]
fn csv_header_must_match_the_declared_columns() {
    let path = temp_file("header.csv", b"b,a\nx,1\n");
    let ddl = format!("CREATE STREAM h (a INT, b STRING) WITH (PATH='{path}', VALUE_FORMAT='DELIMITED', HEADER=true);");
    let mut s = weir::Session::new(Config::default());
    // Refused when the stream is declared (the file is there), naming the first difference.
    let err = s.execute(&ddl).err().unwrap();
    assert!(
        err.to_string().contains("column 1 of the header of")
            && err
                .to_string()
                .contains("is 'b', but stream H declares A there"),
        "{err}"
    );
    let path3 = temp_file(
        "header3.csv",
        b"a,b,c
1,x,y
",
    );
    let err = s
        .execute(&format!("CREATE STREAM h3 (a INT, b STRING) WITH (PATH='{path3}', VALUE_FORMAT='DELIMITED', HEADER=true);"))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("names 3 columns (a, b, c), but stream H3 declares 2 (A, B)"),
        "{err}"
    );
}

#[test]
fn deeply_nested_json_is_a_bad_record_not_a_crash() {
    let mut line = b"{\"a\": ".to_vec();
    line.extend(std::iter::repeat_n(b'[', 20_000));
    line.extend(std::iter::repeat_n(b']', 20_000));
    line.extend_from_slice(b"}\n{\"a\": \"ok\"}\n");
    let path = temp_file("deep.jsonl", &line);
    let mut s = session_with(
        &format!("CREATE STREAM d (a STRING) WITH (PATH='{path}');"),
        Config::default(),
    );
    let mut q = s.query("SELECT a FROM d;").unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<Vec<_>>>().unwrap();
    assert_eq!(strings(&out, "A"), ["ok"]);
    assert_eq!(q.stats().bad_records, 1);
}

#[test]
fn bytes_are_base64_in_json_and_bad_base64_is_a_bad_record() {
    let path = temp_file(
        "bytes.jsonl",
        b"{\"id\":1,\"b\":\"aGVsbG8=\"}\n{\"id\":2,\"b\":\"!!not base64\"}\n{\"id\":3,\"b\":null}\n",
    );
    let mut s = session_with(
        &format!("CREATE STREAM x (id INT, b BYTES) WITH (PATH='{path}');"),
        Config::default(),
    );
    let mut q = s.query("SELECT id, b FROM x;").unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<Vec<_>>>().unwrap();
    assert_eq!(strings(&out, "ID"), ["1", "3"]);
    // The bytes of "hello" (shown as text by the test helper).
    assert_eq!(strings(&out, "B"), ["hello", "null"]);
    assert_eq!(q.stats().bad_records, 1);
}

#[test]
fn a_table_row_without_its_key_is_a_bad_record() {
    let path = temp_file("null-key.csv", b"id,name\n1,a\n,b\n3,c\n");
    let mut s = session_with(
        &format!(
            "CREATE TABLE t (id INT PRIMARY KEY, name STRING)
               WITH (PATH='{path}', VALUE_FORMAT='DELIMITED', HEADER=true);"
        ),
        Config::default(),
    );
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    s.on_bad_record(move |r| {
        sink.lock()
            .unwrap()
            .push(format!("{}: {}", r.location, r.reason))
    });
    let mut q = s.query("SELECT * FROM t;").unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<_>>().unwrap();
    assert_eq!(strings(&out, "NAME"), ["a", "c"]);
    assert_eq!(q.stats().bad_records, 1);
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0].contains("null-key.csv:3") && reports[0].contains("PRIMARY KEY"),
        "{}",
        reports[0]
    );
}

#[test]
fn a_number_out_of_range_is_a_bad_record() {
    let path = temp_file(
        "big.jsonl",
        b"{\"id\":1,\"amt\":1.5}\n{\"id\":2,\"amt\":1e400}\n{\"id\":3,\"amt\":null}\n",
    );
    let mut s = session_with(
        &format!("CREATE STREAM b (id INT, amt DOUBLE) WITH (PATH='{path}');"),
        Config::default(),
    );
    let mut q = s.query("SELECT id, amt FROM b;").unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<_>>().unwrap();
    assert_eq!(strings(&out, "ID"), ["1", "3"]);
    assert_eq!(q.stats().bad_records, 1);
}

#[test]
fn bad_record_reasons_speak_sql_types_and_column_names() {
    let json = temp_file(
        "reasons.jsonl",
        b"{\"id\":1,\"amt\":true}\n{\"id\":\"x\",\"amt\":2}\n{\"id\":4\n",
    );
    let csv = temp_file("reasons.csv", b"1,foo,1.5\nx,b,2\n");
    let mut s = session_with(
        &format!(
            "CREATE STREAM j (id INT, amt DOUBLE) WITH (PATH='{json}');
             CREATE STREAM c (id INT, name STRING, v DOUBLE) WITH (PATH='{csv}', VALUE_FORMAT='DELIMITED');"
        ),
        Config::default(),
    );
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    s.on_bad_record(move |r| sink.lock().unwrap().push(r.reason.clone()));
    rows(&mut s, "SELECT * FROM j;");
    rows(&mut s, "SELECT * FROM c;");
    assert_eq!(
        *reports.lock().unwrap(),
        [
            "field 'amt' (DOUBLE): expected a DOUBLE value, got true",
            "field 'id' (INTEGER): \"x\" is not a valid INTEGER",
            "the JSON record is cut off (it does not close)",
            "'x' is not a valid INTEGER (field 1 of the record, column ID)",
        ]
    );
}

/// A table row needs its key: one written without it is reported and skipped, not stored.
#[test]
fn table_rows_without_a_key_are_reported_and_skipped() {
    let mut s = session_with(
        "CREATE TABLE t (k STRING PRIMARY KEY, v INT);
         CREATE TABLE copy AS SELECT * FROM t;",
        Config::default(),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    s.on_bad_record(move |bad| sink.lock().unwrap().push(bad.reason.clone()));
    for record in [
        r#"{"k": "a", "v": 1}"#,
        r#"{"v": 2}"#,
        r#"{"k": "a", "v": 3}"#,
    ] {
        s.insert_json("t", record, Some(1)).unwrap();
    }
    s.finish().unwrap();
    let got = rows(&mut s, "SELECT * FROM copy;");
    assert_eq!(strings(&got, "K"), ["a"]);
    assert_eq!(strings(&got, "V"), ["3"]);
    assert_eq!(*seen.lock().unwrap(), ["a row of table T needs its key"]);
}

/// A DECIMAL value with more digits than its column holds is a bad record (ksqlDB: "cannot
/// fit without rounding"), in JSON and CSV alike — never silently truncated.
#[test]
fn a_decimal_that_does_not_fit_is_a_bad_record() {
    let json = temp_file(
        "dec.jsonl",
        b"{\"v\": 1.999}\n{\"v\": 1.5}\n{\"v\": 123.4}\n{\"v\": -99.99}\n{\"v\": 2}\n",
    );
    let csv = temp_file("dec.csv", b"1.005\n-0.25\n");
    let mut s = session_with(
        &format!(
            "CREATE STREAM j (v DECIMAL(4,2)) WITH (PATH='{json}');
             CREATE STREAM c (v DECIMAL(4,2)) WITH (PATH='{csv}', VALUE_FORMAT='DELIMITED');"
        ),
        Config::default(),
    );
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    s.on_bad_record(move |r| sink.lock().unwrap().push(r.reason.clone()));
    assert_eq!(
        strings(&rows(&mut s, "SELECT * FROM j;"), "V"),
        ["1.50", "-99.99", "2.00"]
    );
    assert_eq!(strings(&rows(&mut s, "SELECT * FROM c;"), "V"), ["-0.25"]);
    assert_eq!(
        *reports.lock().unwrap(),
        [
            "Cannot fit decimal '1.999' into DECIMAL(4, 2) without rounding",
            "Cannot fit decimal '123.4' into DECIMAL(4, 2) without rounding",
            "Cannot fit decimal '1.005' into DECIMAL(4, 2) without rounding",
        ]
    );
}

/// The DOUBLEs JSON numbers cannot hold are written as "NaN" and "Infinity" and read back so;
/// a number too large is still a bad record. A record whose event time does not parse says
/// which value and pattern.
#[test]
fn non_finite_doubles_read_back_and_timestamp_reasons_show_the_value() {
    let json = temp_file(
        "inf.jsonl",
        b"{\"a\":\"Infinity\",\"b\":\"-Infinity\",\"d\":\"NaN\"}\n{\"a\":1e400,\"b\":1,\"d\":2}\n",
    );
    let times = temp_file(
        "times.jsonl",
        b"{\"t\":\"2019-01-01\"}\n{\"t\":\"01/02/2019\"}\n{\"t\":null}\n",
    );
    let mut s = session_with(
        &format!(
            "CREATE STREAM i (a DOUBLE, b DOUBLE, d DOUBLE) WITH (PATH='{json}');
             CREATE STREAM t (t STRING) WITH (PATH='{times}', TIMESTAMP='t', TIMESTAMP_FORMAT='yyyy-MM-dd');"
        ),
        Config::default(),
    );
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    s.on_bad_record(move |r| sink.lock().unwrap().push(r.reason.clone()));
    let out = rows(&mut s, "SELECT * FROM i;");
    assert_eq!(strings(&out, "A"), ["inf"]);
    assert_eq!(strings(&out, "B"), ["-inf"]);
    assert_eq!(strings(&out, "D"), ["NaN"]);
    assert_eq!(
        strings(&rows(&mut s, "SELECT * FROM t;"), "T"),
        ["2019-01-01"]
    );
    assert_eq!(
        *reports.lock().unwrap(),
        [
            "a number is out of range for its DOUBLE column",
            "the TIMESTAMP column T holds '01/02/2019', which does not match TIMESTAMP_FORMAT 'yyyy-MM-dd'",
            "the TIMESTAMP column T is null",
        ]
    );
}

/// Reading DEAD_LETTERS waits for the persistent queries that may write it, as reading a
/// derived stream waits for its query; a file sink makes its directory.
#[test]
fn dead_letters_of_a_persistent_query_are_there_when_read() {
    let path = temp_file("dlq_csas.jsonl", LINES);
    let out = std::env::temp_dir()
        .join(format!("weir-tests-{}", std::process::id()))
        .join("new_dir/clean.jsonl");
    let mut s = session_with(&ddl(&path), Config::default());
    s.execute("SET 'errors.policy' = 'dead-letter';").unwrap();
    s.execute(&format!(
        "CREATE STREAM clean WITH (PATH='{}') AS SELECT * FROM s;",
        out.display()
    ))
    .unwrap();
    let dead = rows(&mut s, "SELECT location FROM dead_letters;");
    assert_eq!(count(&dead), 4);
    s.finish().unwrap();
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 2);
}
