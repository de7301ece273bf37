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

/// Mistakes found by trying to break the engine: each is a clear plan-time error.
#[test]
fn mistakes_are_refused_with_a_reason() {
    let mut s = session_with(
        "CREATE STREAM a (k INT KEY, x INT, ts BIGINT) WITH (TIMESTAMP='ts');
         CREATE STREAM b (k INT KEY, y INT, ts BIGINT) WITH (TIMESTAMP='ts');
         CREATE TABLE t (k INT PRIMARY KEY, v INT);
         CREATE TABLE counts AS SELECT k, COUNT(*) AS n FROM a GROUP BY k;",
        Config::default(),
    );
    for (sql, expected) in [
        ("SET 'workers'='9999999999999';", "workers must be from 1 to 1024"),
        ("SET 'assignment.static'='0:1, 0:0';", "lists partition 0 twice"),
        (
            "SELECT a.x FROM a JOIN b WITHIN 1 HOUR ON 1 = 1;",
            "Each side of the join comparision must contain references from exactly one source",
        ),
        (
            "SELECT a.x FROM a JOIN b WITHIN 1 HOUR ON a.k = a.x;",
            "Each side of the join comparision",
        ),
        ("SPLIT a INTO p WHERE x INTO q;", "in the condition of branch P"),
        (
            "SPLIT a INTO p WITH (PARTITIONS=3) WHERE x > 0 INTO q;",
            "take no WITH options",
        ),
        (
            "SELECT PARSE_TIMESTAMP('2019-11-03 01:30 EDT', 'yyyy-MM-dd HH:mm zzz') FROM a;",
            "zone names (z) can be formatted but not parsed",
        ),
        (
            "SELECT FORMAT_DATE(FROM_DAYS(1), 'yyyy-MM-dd''') FROM a;",
            "a quoted literal is not closed",
        ),
        (
            "SELECT FORMAT_DATE(FROM_DAYS(1), 'yyyy-MM-dd[ HH:mm]') FROM a;",
            "optional sections",
        ),
        (
            "CREATE OR REPLACE TABLE counts AS SELECT k, COUNT(*) AS n, SUM(x) AS sx FROM a GROUP BY k;",
            "its query keeps state",
        ),
        ("ALTER TABLE a ADD COLUMN z INT;", "A is a stream, not a table"),
        (
            "SELECT k, v FROM t UNION ALL SELECT k, x FROM a;",
            "UNION ALL combines streams; T is a table",
        ),
        (
            "SELECT x FROM a WHERE x REGEXP 'y';",
            "REGEXP / RLIKE is not supported",
        ),
        (
            "CREATE STREAM twice AS SELECT k, k AS k2, x FROM a;",
            "The projection contains a key column (`K`) more than once, aliased as: K and K2.",
        ),
        (
            "SELECT k, COUNT(*) FROM a WINDOW TUMBLING (SIZE 1 SECOND) EMIT FINAL;",
            "Non-aggregate SELECT expression(s) not part of GROUP BY: K",
        ),
        (
            "SELECT k FROM a WINDOW TUMBLING (SIZE 1 SECOND);",
            "WINDOW clause requires a GROUP BY clause.",
        ),
    ] {
        let text = error(&mut s, sql);
        assert!(text.contains(expected), "{sql}\n{text}");
    }
}

/// A row whose values an expression cannot use gives NULL (a WHERE on it: the row does not
/// pass), as in ksqlDB; the other rows of the batch are unaffected.
#[test]
fn expression_errors_on_one_row_do_not_stop_the_query() {
    let mut s = session_with(
        "CREATE STREAM raw (id INT, code STRING, a INT, b INT, ms BIGINT);
         INSERT INTO raw VALUES (1, '12', 10, 2, 0), (2, 'C536379', 10, 0, 9223372036854775807),
                                (3, '7', 3, 1, 86400000);",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT id, CAST(code AS INT) AS n, a / b AS q, FROM_UNIXTIME(ms) AS t FROM raw;",
    );
    assert_eq!(strings(&out, "N"), ["12", "null", "7"]);
    assert_eq!(strings(&out, "Q"), ["5", "null", "3"]);
    assert_eq!(
        strings(&out, "T"),
        ["1970-01-01T00:00:00", "null", "1970-01-02T00:00:00"]
    );
    let out = rows(&mut s, "SELECT id FROM raw WHERE CAST(code AS INT) > 5;");
    assert_eq!(strings(&out, "ID"), ["1", "3"]);
    // STRUCT and MAP constructors work in VALUES as in queries.
    s.execute(
        "CREATE STREAM nested (id INT, s STRUCT<A INT>, m MAP<STRING, INT>);
         INSERT INTO nested VALUES (1, STRUCT(a := 2), MAP('k' := 1));",
    )
    .unwrap();
    let out = rows(&mut s, "SELECT s->a AS a, m['k'] AS k FROM nested;");
    assert_eq!(strings(&out, "A"), ["2"]);
    assert_eq!(strings(&out, "K"), ["1"]);
}

#[test]
fn grouped_queries_name_what_is_not_grouped() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(
        &mut s,
        "SELECT vendor_id, payment_type, fare_amount * COUNT(*) AS x FROM trips GROUP BY vendor_id;",
    );
    assert!(
        text.contains(
            "Non-aggregate SELECT expression(s) not part of GROUP BY: PAYMENT_TYPE, (FARE_AMOUNT * COUNT(*))"
        ),
        "{text}"
    );
    let text = error(
        &mut s,
        "SELECT vendor_id, COUNT(*) AS n FROM trips GROUP BY vendor_id HAVING MAX(fare_amount) > tip_amount;",
    );
    assert!(
        text.contains("Non-aggregate HAVING expression not part of GROUP BY: TIP_AMOUNT"),
        "{text}"
    );
    // Built from grouped expressions is fine, and so is concatenating strings with `+`.
    let out = rows(
        &mut s,
        "SELECT vendor_id * 10 AS v, 'vendor ' + CAST(vendor_id AS STRING) AS label, COUNT(*) AS n
         FROM trips WHERE vendor_id = 1 GROUP BY vendor_id;",
    );
    assert_eq!(strings(&out, "LABEL"), ["vendor 1"]);
    assert_eq!(strings(&out, "V"), ["10"]);
}

#[test]
fn comparing_a_number_with_a_string_is_a_type_error() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(
        &mut s,
        "SELECT trip_id FROM trips WHERE fare_amount > 'abc';",
    );
    assert!(
        text.contains(
            "Error in WHERE expression: Cannot compare FARE_AMOUNT (DOUBLE) to 'abc' (STRING) with GREATER_THAN."
        ),
        "{text}"
    );
    let text = error(
        &mut s,
        "SELECT vendor_id, COUNT(*) AS n FROM trips GROUP BY vendor_id HAVING COUNT(*) > '10';",
    );
    assert!(
        text.contains("Error in HAVING expression: Cannot compare"),
        "{text}"
    );
    let text = error(
        &mut s,
        "SELECT trip_id FROM trips WHERE vendor_id IN (1, 'two');",
    );
    assert!(
        text.contains("Invalid Predicate: invalid input syntax for type INTEGER: \"two\"."),
        "{text}"
    );
    // Numbers in IN lists given as numeric strings are fine, as in ksqlDB.
    let out = rows(
        &mut s,
        "SELECT trip_id FROM trips WHERE vendor_id IN ('1') LIMIT 1;",
    );
    assert_eq!(count(&out), 1);
}

#[test]
fn aggregates_in_group_by_and_nested_types_are_named() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(
        &mut s,
        "SELECT vendor_id, COUNT(*) FROM trips GROUP BY vendor_id, ABS(SUM(fare_amount));",
    );
    assert!(
        text.contains(
            "GROUP BY does not support aggregate functions: SUM is an aggregate function."
        ),
        "{text}"
    );
    let text = error(&mut s, "CREATE STREAM x (a NULL);");
    assert!(text.contains("Syntax error at or near 'NULL'"), "{text}");
}

#[test]
fn lambdas_are_checked_when_planned() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, a ARRAY<INT>);",
        Config::default(),
    );
    for (sql, want) in [
        (
            "SELECT REDUCE(a, 0, x => x) FROM s;",
            "REDUCE takes a lambda of two parameters",
        ),
        (
            "SELECT FILTER(a, x => x + 1) FROM s;",
            "FILTER's lambda must return a BOOLEAN, not BIGINT",
        ),
        (
            "SELECT REDUCE(a, 0.5, (acc, x) => acc + x) FROM s;",
            "REDUCE: the lambda returns DECIMAL(12, 1) but the initial state is DECIMAL(1, 1)",
        ),
        (
            "SELECT ABS(x => x) FROM s;",
            "only TRANSFORM, FILTER and REDUCE take a lambda",
        ),
        (
            "SELECT id, TRANSFORM(COLLECT_LIST(id), x => x) FROM s GROUP BY id;",
            "TRANSFORM over an aggregate is not supported yet",
        ),
    ] {
        let text = error(&mut s, sql);
        assert!(text.contains(want), "{sql}: {text}");
    }
}

#[test]
fn insert_into_a_stream_of_other_columns_shows_both_schemas() {
    let mut s = session_with(
        "CREATE STREAM src (k STRING KEY, data STRING);
         CREATE STREAM out (k STRING KEY, data_1 STRING, data_2 STRING);",
        Config::default(),
    );
    let text = error(&mut s, "INSERT INTO out SELECT k, data AS data_1 FROM src;");
    assert!(
        text.contains(
            "Result schema is `K` STRING KEY, `DATA_1` STRING\nSink schema is `K` STRING KEY, `DATA_1` STRING, `DATA_2` STRING"
        ),
        "{text}"
    );
}

#[test]
fn formats_refuse_what_they_cannot_hold() {
    let mut s = Session::new(Config::default());
    let text = error(
        &mut s,
        "CREATE STREAM a (m MAP<INT, DOUBLE>) WITH (VALUE_FORMAT='JSON');",
    );
    assert!(
        text.contains("JSON only supports MAP types with STRING keys"),
        "{text}"
    );
    let text = error(
        &mut s,
        "CREATE STREAM b (k STRING KEY, v INT) WITH (KEY_FORMAT='NONE');",
    );
    assert!(
        text.contains(
            "The 'NONE' format can only be used when no columns are defined. Got: [`K` STRING KEY]"
        ),
        "{text}"
    );
}

#[test]
fn unknown_names_say_where_they_are() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(&mut s, "SELECT trip_id FROM trips WHERE ABS(bob) < 10;");
    assert!(
        text.contains("WHERE column 'BOB' cannot be resolved."),
        "{text}"
    );
    let text = error(&mut s, "DROP STREAM trps;");
    assert!(text.contains("Stream TRPS does not exist"), "{text}");
    assert!(text.contains("did you mean TRIPS?"), "{text}");
}

#[test]
fn constructors_without_a_type_or_with_repeated_fields_are_refused() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let text = error(
        &mut s,
        "SELECT STRUCT(a := trip_id, a := vendor_id) AS s FROM trips;",
    );
    assert!(
        text.contains("Duplicate field names found in STRUCT: `A`"),
        "{text}"
    );
    let text = error(
        &mut s,
        "SELECT CASE WHEN vendor_id = 1 THEN NULL ELSE NULL END AS c FROM trips;",
    );
    assert!(
        text.contains("Invalid Case expression. All case branches have NULL type"),
        "{text}"
    );
}

#[test]
fn key_and_format_properties_are_checked() {
    let mut s = Session::new(weir::Config::default());
    for (sql, expected) in [
        (
            "CREATE STREAM a (k MAP<STRING, INT> KEY, v INT) WITH (FORMAT='JSON');",
            "Map keys, including types that contain maps, are not supported",
        ),
        (
            "CREATE STREAM b (k STRING KEY, v STRUCT<F MAP<STRING, INT>>) WITH (FORMAT='JSON');
             CREATE STREAM c AS SELECT * FROM b PARTITION BY v;",
            "Key column name: `V`. Column type: STRUCT<`F` MAP<STRING, INTEGER>>",
        ),
        (
            "CREATE TABLE d (k DECIMAL(4, 2) PRIMARY KEY, v INT) WITH (VALUE_FORMAT='JSON');",
            "The 'KAFKA' format does not support type 'DECIMAL'",
        ),
        (
            "CREATE STREAM e (k BOOLEAN KEY, v INT) WITH (KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');",
            "The 'KAFKA' format does not support type 'BOOLEAN'",
        ),
        (
            "CREATE STREAM f WITH (VALUE_FORMAT='DELIMITED', VALUE_DELIMITER='<~>');",
            "Invalid delimiter value: '<~>'. Delimiter must be a single character or TAB,SPACE",
        ),
        (
            "CREATE STREAM g (v INT) WITH (VALUE_FORMAT='DELIMITED', VALUE_DELIMITER=' ');",
            "Delimiter cannot be empty",
        ),
        ("CREATE STREAM h WITH (VALUE_FORMAT='FOO');", "Unknown format: FOO"),
    ] {
        let err = error(&mut s, sql);
        assert!(err.contains(expected), "{sql}: {err}");
    }
    // A JSON key holds what KAFKA cannot.
    s.execute(
        "CREATE STREAM ok (k BOOLEAN KEY, v INT) WITH (KEY_FORMAT='JSON', VALUE_FORMAT='JSON');",
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Grouping and join mistakes name what is wrong, in ksqlDB's words.
#[test]
fn grouping_and_join_mistakes_are_named() {
    let mut s = session_with(
        "CREATE STREAM l (id INT KEY, a INT, b STRING);
         CREATE STREAM r (id INT KEY, a INT, c STRING);
         CREATE TABLE t (id INT PRIMARY KEY, v STRING);",
        Config::default(),
    );
    for (sql, expected) in [
        (
            "SELECT SUM(COUNT(*)) FROM l GROUP BY a;",
            "Aggregate functions can not be nested: SUM(COUNT())",
        ),
        (
            "SELECT a, COUNT(*) FROM l GROUP BY a, L.A;",
            "Duplicate GROUP BY expression: L.A",
        ),
        (
            "SELECT a, b FROM l GROUP BY a, b;",
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.",
        ),
        (
            "SELECT a, NO_SUCH_FN(b) FROM l GROUP BY a;",
            "Can't find any functions with the name 'NO_SUCH_FN'",
        ),
        (
            "SELECT b, COUNT(*) FROM l;",
            "Non-aggregate SELECT expression(s) not part of GROUP BY: B",
        ),
        (
            "SELECT * FROM l JOIN r WITHIN 1 SECOND ON l.id = r.id AND l.a = r.a;",
            "joins on multiple conditions are not yet supported. Got ((L.ID = R.ID) AND (L.A = R.A))",
        ),
        (
            "SELECT * FROM l JOIN r WITHIN 1 SECOND ON l.id = 0;",
            "Invalid comparison expression '0' in join '(L.ID = 0)'",
        ),
        (
            "SELECT * FROM l JOIN r WITHIN 1 SECOND ON l.id = r.nope;",
            "JOIN ON column 'R.NOPE' cannot be resolved.",
        ),
        (
            "SELECT * FROM l JOIN r WITHIN 1 SECOND ON l.id = x.id;",
            "'X' is not a valid stream/table name or alias.",
        ),
        (
            "SELECT * FROM l FULL OUTER JOIN t ON l.id = t.id;",
            "Invalid join type: full-outer join not supported for stream-table join. Got L [FULL] OUTER JOIN T.",
        ),
    ] {
        let err = s.query(sql).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(expected), "{sql}: {err}");
    }
}

/// Constructors, comparisons, literals and PARTITION BY mistakes are refused at plan time.
#[test]
fn expression_and_partitioning_mistakes_are_refused() {
    let mut s = session_with(
        "CREATE STREAM e (id INT KEY, m MAP<STRING, INT>, st STRUCT<A INT>, v INT);",
        Config::default(),
    );
    for (sql, expected) in [
        ("SELECT ARRAY[] FROM e;", "Array constructor cannot be empty"),
        (
            "SELECT ARRAY[NULL, NULL] FROM e;",
            "Cannot construct an array with all NULL elements",
        ),
        (
            "SELECT MAP('a' := NULL) FROM e;",
            "Cannot construct a map with all NULL values",
        ),
        ("SELECT NULL <> NULL FROM e;", "Comparison with NULL not supported: NULL <> NULL"),
        (
            "SELECT m < m FROM e;",
            "Cannot compare M (MAP<STRING, INTEGER>) to M (MAP<STRING, INTEGER>) with LESS_THAN.",
        ),
        (
            "SELECT st >= st FROM e;",
            "Cannot compare ST (STRUCT<`A` INTEGER>) to ST (STRUCT<`A` INTEGER>) with GREATER_THAN_OR_EQUAL.",
        ),
        ("SELECT 9223372036854775808 FROM e;", "Invalid numeric literal: 9223372036854775808"),
        ("SELECT 1.8E308 FROM e;", "Number overflows DOUBLE: 1.8E308"),
        (
            "SELECT id, v AS w FROM e PARTITION BY w;",
            "PARTITION BY column 'W' cannot be resolved. 'W' must be a column in the source schema",
        ),
        (
            "SELECT id, v FROM e PARTITION BY NULL, v;",
            "Cannot PARTITION BY multiple columns including NULL",
        ),
    ] {
        let err = s.query(sql).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(expected), "{sql}: {err}");
    }
    // The smallest BIGINT is a literal, and equal maps compare.
    let out = rows(&mut s, "SELECT -9223372036854775808 AS lo FROM e;");
    assert_eq!(count(&out), 0);
    let err = error(
        &mut s,
        "CREATE STREAM k WITH (KEY_FORMAT='KAFKA') AS SELECT * FROM e PARTITION BY NULL;",
    );
    assert!(
        err.contains("Key format specified for stream without key columns."),
        "{err}"
    );
}

/// In a join, a column two sources have must be qualified, a source joined twice needs an
/// alias per side, and a qualified system column is named after its source.
#[test]
fn join_names_must_say_which_source() {
    let mut s = session_with(
        "CREATE STREAM a (id INT KEY, x INT);
         CREATE STREAM b (id INT KEY, y INT);
         CREATE TABLE t (id INT PRIMARY KEY, z INT);",
        Config::default(),
    );
    let text = error(
        &mut s,
        "SELECT id FROM a JOIN b WITHIN 1 SECOND ON a.id = b.id;",
    );
    assert!(
        text.starts_with("line 1:8: Column 'ID' is ambiguous."),
        "{text}"
    );
    assert!(text.contains("qualify it"), "{text}");
    let text = error(
        &mut s,
        "SELECT * FROM a JOIN t ON a.id = t.id JOIN t ON a.x = t.id;",
    );
    assert!(
        text.contains(
            "N-way joins do not support multiple occurrences of the same source. Source: 'T'"
        ),
        "{text}"
    );
    s.execute(
        "CREATE STREAM j AS SELECT a.id, a.ROWTIME, t.ROWTIME, z FROM a JOIN t ON a.id = t.id;",
    )
    .unwrap();
    assert_eq!(
        column_names(&s, "J"),
        ["A_ID", "A_ROWTIME", "T_ROWTIME", "Z"]
    );
}

/// INSERT into a stream that does not exist says so in ksqlDB's words; a quoted name whose
/// upper-case form exists gets a hint about the quotes.
#[test]
fn insert_into_an_unknown_stream() {
    let mut s = session_with(
        "CREATE STREAM input (id INT KEY, val STRING);",
        Config::default(),
    );
    let text = error(&mut s, "INSERT INTO \"input\" (id, val) VALUES (1, 'a');");
    assert!(
        text.contains("Cannot insert values into an unknown stream/table: `input`"),
        "{text}"
    );
    assert!(
        text.contains("did you mean INPUT? Hint: try removing double quotes from the source name."),
        "{text}"
    );
    let text = error(&mut s, "INSERT INTO inpt SELECT * FROM input;");
    assert!(text.contains("Source `INPT` does not exist."), "{text}");
    assert!(text.contains("did you mean INPUT?"), "{text}");
}

/// A function's argument error points at the call or at the literal it names, in SQL terms;
/// DataFusion's far-fetched guesses for unknown functions are dropped.
#[test]
fn function_errors_point_at_the_call() {
    let mut s = session_with(
        "CREATE STREAM t (s STRING, v DOUBLE); CREATE STREAM u (i INT);",
        Config::default(),
    );
    let text = error(
        &mut s,
        "SELECT PARSE_TIMESTAMP(s, 'yyyy', 'Mars/X') FROM t;",
    );
    assert!(
        text.starts_with("line 1:35: unknown time zone 'Mars/X'"),
        "{text}"
    );
    let text = error(&mut s, "SELECT s,\n  ROUND(v, 'x') FROM t;");
    assert!(
        text.starts_with("line 2:3: Function 'round' does not accept parameters (DOUBLE, STRING)"),
        "{text}"
    );
    let text = error(&mut s, "SELECT UPPER(v) FROM t;");
    assert!(
        text.contains("Function 'upper' does not accept parameters (DOUBLE): it takes STRING"),
        "{text}"
    );
    let text = error(&mut s, "SELECT nofunc(v) FROM t;");
    assert!(text.contains("Invalid function 'nofunc'."), "{text}");
    assert!(!text.contains("Did you mean"), "{text}");
    let text = error(&mut s, "INSERT INTO u VALUES ('bad');");
    assert!(text.contains("'bad' is not a valid INTEGER"), "{text}");
    // A number with an exponent is a DOUBLE (as in ksqlDB), however large.
    s.execute("INSERT INTO t VALUES ('a', 1.5e2);").unwrap();
    let out = rows(&mut s, "SELECT 1e300 AS big, 2.5E-3 AS small, v FROM t;");
    assert_eq!(strings(&out, "BIG"), ["1e300"]);
    assert_eq!(strings(&out, "SMALL"), ["0.0025"]);
    assert_eq!(strings(&out, "V"), ["150.0"]);
}

/// A misspelt clause keyword gets the keyword as a hint; a statement run into the next one
/// asks for the missing `;`.
#[test]
fn misspelt_keywords_are_suggested() {
    let mut s = session_with("CREATE STREAM t (s STRING, v DOUBLE);", Config::default());
    for (sql, hint) in [
        ("SELECT * FORM t;", "did you mean FROM?"),
        ("SELECT s FROM t WHER v > 1;", "did you mean WHERE?"),
        ("SELECT s FROM t PARTITON BY s;", "did you mean PARTITION?"),
        (
            "SELECT s, COUNT(*) FROM t WINDOW TUMBLNG (SIZE 1 HOUR) GROUP BY s;",
            "did you mean TUMBLING?",
        ),
        (
            "SELECT s FROM t\nSELECT v FROM t;",
            "is a ';' missing at the end of the statement before?",
        ),
    ] {
        let text = error(&mut s, sql);
        assert!(text.contains(&format!("hint: {hint}")), "{sql}: {text}");
    }
}

/// What ported ksqlDB scripts do: `SET 'auto.offset.reset'` is accepted (and has no effect),
/// `DROP TABLE` of a stream is refused, `EXPLAIN <query id>` shows a running query.
#[test]
fn ksqldb_script_habits() {
    let mut s = session_with(
        "SET 'auto.offset.reset'='earliest';
         CREATE STREAM input (id INT KEY, name STRING, address STRUCT<street STRING, town STRING>);
         CREATE STREAM by_town AS SELECT * FROM input PARTITION BY address->town;
         CREATE STREAM by_name AS SELECT UCASE(name) AS k, id FROM input PARTITION BY UCASE(name);",
        Config::default(),
    );
    let text = error(&mut s, "DROP TABLE input;");
    assert!(
        text.contains("Incompatible data source type is STREAM, but statement was DROP TABLE"),
        "{text}"
    );
    let text = error(&mut s, "DROP STREAM by_town;");
    assert!(
        text.contains("stream BY_TOWN is used by query CSAS_BY_TOWN_1"),
        "{text}"
    );
    let explained = s.execute("EXPLAIN CSAS_BY_TOWN_1;").unwrap();
    let text = format!("{explained:?}");
    assert!(
        text.contains("Query CSAS_BY_TOWN_1: CREATE STREAM by_town"),
        "{text}"
    );
    assert!(text.contains("PARTITION BY"), "{text}");
    // `address->town` keys the result as TOWN, first (ksqlDB's names and order).
    assert_eq!(
        column_names(&s, "BY_TOWN"),
        ["TOWN", "NAME", "ADDRESS", "ID"]
    );
    let info = s.stream_info("BY_TOWN").unwrap();
    assert_eq!(info.key_columns, [0]);
    let info = s.stream_info("BY_NAME").unwrap();
    assert_eq!(info.key_columns, [0]);
}

/// Aggregating a windowed table is refused with a reason (its rows are per window).
#[test]
fn aggregating_a_windowed_table_is_refused() {
    let mut s = session_with(
        "CREATE STREAM s (k STRING KEY, n INT);
         CREATE TABLE w AS SELECT k, COUNT(*) AS n FROM s WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY k;",
        Config::default(),
    );
    let text = error(&mut s, "SELECT SUM(n) AS total FROM w GROUP BY 1;");
    assert!(
        text.contains("aggregating the windowed table W is not supported"),
        "{text}"
    );
}

/// An INSERT of a DECIMAL that does not fit its column is refused (not rounded), ROLLUP is
/// refused with a reason, and UNSET of a ksqlDB setting is accepted like its SET.
#[test]
fn inserted_decimals_must_fit_and_rollup_is_refused() {
    let mut s = session_with(
        "CREATE STREAM d (v DECIMAL(4,2)); CREATE STREAM g (a INT, b INT);",
        Config::default(),
    );
    for (sql, expected) in [
        (
            "INSERT INTO d VALUES (1.234);",
            "Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding",
        ),
        (
            "INSERT INTO d VALUES (123.4);",
            "Cannot fit decimal '123.4' into DECIMAL(4, 2) without rounding",
        ),
        (
            "SELECT a, b, COUNT(*) FROM g GROUP BY ROLLUP(a, b);",
            "GROUP BY ROLLUP, CUBE and GROUPING SETS are not supported",
        ),
    ] {
        let text = error(&mut s, sql);
        assert!(text.contains(expected), "{sql}: {text}");
    }
    s.execute("INSERT INTO d VALUES (1.5), (-3); UNSET 'auto.offset.reset';")
        .unwrap();
    assert_eq!(
        strings(&rows(&mut s, "SELECT * FROM d;"), "V"),
        ["1.50", "-3.00"]
    );
}
