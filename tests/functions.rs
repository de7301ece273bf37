//! ksqlDB's function library as queries call it, family by family, with the edge cases that
//! matter: NULLs, empty strings, out-of-range arguments and invalid literals.

use weir::Config;

use crate::common::*;

/// One row of `SELECT <exprs> FROM one` as strings, in column order.
fn eval(s: &mut weir::Session, exprs: &str) -> Vec<String> {
    let out = rows(s, &format!("SELECT {exprs} FROM one;"));
    let schema = out[0].schema();
    schema
        .fields()
        .iter()
        .map(|f| strings(&out, f.name())[0].clone())
        .collect()
}

fn session() -> weir::Session {
    session_with(
        "CREATE STREAM one (id INT, s STRING, n STRING, j STRING, u STRING);
         INSERT INTO one VALUES (1, 'T2019-00001', NULL,
           '{\"b\": [1, 2.50], \"a\": {\"c\": \"x\"}, \"d\": null}',
           'https://user@weir.example:8080/a%20b/c?q=stream%20sql&x=1#top');",
        Config::default(),
    )
}

#[test]
fn masking_and_pseudonyms() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "MASK(s) AS a, MASK_KEEP_RIGHT(s, 3) AS b, MASK_LEFT(s, 5) AS c,
             MASK_RIGHT(s, 2, NULL, NULL, '#', NULL) AS d, MASK_KEEP_LEFT(s, 1, '*', '*', '*', '*') AS e,
             MASK(n) AS f, SHA256(s) AS g, MASK('') AS h"
        ),
        [
            "Xnnnn-nnnnn",
            "Xnnnn-nn001",
            "Xnnnn-00001",
            "T2019-000##",
            "T**********",
            "null",
            "4e54a754a3d2b87d70e77446303af3ade927a2031fb7aef99b8736aaa3d3c12a",
            "",
        ]
    );
    for (sql, expected) in [
        ("SELECT MASK(s, 'XY', 'x', 'n', '-') FROM one;", "XY"),
        ("SELECT MASK_LEFT(s, -1) FROM one;", "must be >= 0"),
    ] {
        let err = s
            .query(sql)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{sql}: {err}");
    }
}

#[test]
fn strings_with_ksqldb_rules() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "SUBSTRING(s, 2, 4) AS a, SUBSTRING(s, -3) AS b, LPAD('7', 3, '0') AS c,
             RPAD(s, 3, '!') AS d, INSTR(s, '0', 1, 2) AS e, INSTR(s, 'zz') AS f,
             INITCAP('hello stream sql') AS g, ENCODE('Weir', 'utf8', 'base64') AS h,
             CHR(87) AS i, ELT(2, 'a', 'b', 'c') AS j, FIELD('c', 'a', 'b', 'c') AS k,
             ARRAY_JOIN(SPLIT('a,b,,c', ','), '|') AS l, ARRAY_LENGTH(SPLIT('abc', '')) AS m,
             REGEXP_REPLACE(s, '[0-9]', '#') AS o, REGEXP_EXTRACT('T(\\d+)', s, 1) AS p,
             LPAD(s, 3, '') AS q, SUBSTRING(n, 1) AS r"
        ),
        [
            "2019",
            "001",
            "007",
            "T20",
            "7",
            "0",
            "Hello Stream Sql",
            "V2Vpcg==",
            "W",
            "b",
            "3",
            "a|b||c",
            "3",
            "T####-#####",
            "2019",
            "null",
            "null",
        ]
    );
}

#[test]
fn json_functions_keep_document_order() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "EXTRACTJSONFIELD(j, '$.a.c') AS a, EXTRACTJSONFIELD(j, '$.b[1]') AS b,
             EXTRACTJSONFIELD(j, '$.missing') AS c, ARRAY_JOIN(JSON_KEYS(j)) AS d,
             JSON_ARRAY_LENGTH(EXTRACTJSONFIELD(j, '$.b')) AS e, IS_JSON_STRING(j) AS f,
             IS_JSON_STRING('{nope') AS g, JSON_CONCAT('{\"a\": 1}', '{\"b\": 2}') AS h,
             JSON_ARRAY_CONTAINS('[1, \"x\"]', 'x') AS i, TO_JSON_STRING(s) AS k,
             JSON_RECORDS(j)['d'] AS l"
        ),
        [
            "x",
            "2.50",
            "null",
            "b,a,d",
            "2",
            "true",
            "false",
            "{\"a\":1,\"b\":2}",
            "true",
            "\"T2019-00001\"",
            "null",
        ]
    );
    let err = s
        .query("SELECT EXTRACTJSONFIELD(j, 'a..b') FROM one;")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("invalid JSON path"), "{err}");
}

#[test]
fn url_parts() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "URL_EXTRACT_PROTOCOL(u) AS a, URL_EXTRACT_HOST(u) AS b, URL_EXTRACT_PORT(u) AS c,
             URL_EXTRACT_PATH(u) AS d, URL_EXTRACT_PARAMETER(u, 'q') AS e,
             URL_EXTRACT_FRAGMENT(u) AS f, URL_EXTRACT_PORT('http://weir.example/') AS g,
             URL_ENCODE_PARAM('a b&c') AS h, URL_DECODE_PARAM('a%20b') AS i"
        ),
        [
            "https",
            "weir.example",
            "8080",
            "/a b/c",
            "stream sql",
            "top",
            "null",
            "a+b%26c",
            "a b",
        ]
    );
}

#[test]
fn math_and_describe() {
    let mut s = session();
    let out = eval(
        &mut s,
        "ROUND(GEO_DISTANCE(37.4439, -122.1615, 51.5072, -0.1276), 0) AS a,
         ROUND(GEO_DISTANCE(37.4439, -122.1615, 51.5072, -0.1276, 'MILES'), 0) AS b,
         SIGN(-3) AS c, SIGN(0.0) AS d, GEO_DISTANCE(91.0, 0.0, 0.0, 0.0) AS e",
    );
    assert_eq!(out, ["8635.0", "5366.0", "-1", "0", "null"]);
    let text = format!(
        "{:?}",
        s.execute("DESCRIBE FUNCTION mask_keep_right;").unwrap()
    );
    assert!(
        text.contains("MASK_KEEP_RIGHT(string, n [, upper, lower, digit, other])"),
        "{text}"
    );
    assert!(
        text.contains("Masks all but the last n characters"),
        "{text}"
    );
}

#[test]
fn null_handling_functions() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "COALESCE(n, s) AS a, IFNULL(n, 'none') AS b, COALESCE(n, NULL, 'last') AS c,
             NULLIF(s, s) AS d, CASE WHEN n IS NULL THEN 'missing' ELSE n END AS e"
        ),
        ["T2019-00001", "none", "last", "null", "missing"]
    );
}

#[test]
fn round_is_half_up_and_keeps_decimals_exact() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, m DECIMAL(10,2), d DOUBLE, i INT);
         INSERT INTO s VALUES (1, 1.25, -1.5, 1250), (2, -1.25, -0.125, 7);",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT ROUND(m, 1) AS r1, ROUND(m) AS r0, ROUND(d) AS rd, ROUND(d, 2) AS rd2,
                ROUND(i, -2) AS ri FROM s;",
    );
    assert_eq!(strings(&out, "R1"), ["1.30", "-1.30"]);
    assert_eq!(strings(&out, "R0"), ["1.00", "-1.00"]);
    // DOUBLE rounds half up (towards +infinity), as Java's Math.round.
    assert_eq!(strings(&out, "RD"), ["-1", "0"]);
    assert_eq!(strings(&out, "RD2"), ["-1.5", "-0.12"]);
    assert_eq!(strings(&out, "RI"), ["1300", "0"]);
}

#[test]
fn decimal_literals_keep_decimal_arithmetic_exact() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, m DECIMAL(10,2), d DOUBLE);
         INSERT INTO s VALUES (1, 12345678.99, 1.5), (2, -0.01, 2.0);",
        Config::default(),
    );
    let out = rows(&mut s, "SELECT m + 1.005 AS a, d * 1.5 AS b FROM s;");
    assert_eq!(strings(&out, "A"), ["12345679.995", "0.995"]);
    assert_eq!(strings(&out, "B"), ["2.25", "3.0"]);
}

/// IN lists type their literals as ksqlDB does: compared with a BOOLEAN, 'yes'/'TrUe' are
/// booleans; compared with a STRING, numbers and booleans are their text. An item of another
/// type that is not a literal is an error.
#[test]
fn in_lists_coerce_literals_to_the_compared_type() {
    let mut s = session_with(
        "CREATE STREAM flags (id INT KEY, on_off BOOLEAN, label STRING);",
        Config::builder().batch_max_rows(1).build().unwrap(),
    );
    for (id, on_off, label) in [(1, "true", "10"), (2, "false", "true"), (3, "false", "x")] {
        s.insert_json(
            "flags",
            &format!(r#"{{"id": {id}, "on_off": {on_off}, "label": "{label}"}}"#),
            Some(id),
        )
        .unwrap();
    }
    s.finish().unwrap();
    let got = rows(
        &mut s,
        "SELECT id FROM flags WHERE on_off IN ('Y', 'TrUe');",
    );
    assert_eq!(strings(&got, "ID"), ["1"]);
    let got = rows(&mut s, "SELECT id FROM flags WHERE label IN (10, true);");
    assert_eq!(strings(&got, "ID"), ["1", "2"]);
    let err = s
        .execute("SELECT id FROM flags WHERE on_off IN (true, label);")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("operator does not exist: BOOLEAN = STRING (LABEL)"),
        "{err}"
    );
    let err = s
        .execute("SELECT id FROM flags WHERE on_off IN ('maybe');")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid input syntax for type BOOLEAN: \"maybe\""),
        "{err}"
    );
}

/// ksqlDB's LOG: natural with one argument, base first with two; NaN and infinities are
/// written as ksqlDB writes them ("NaN", "-Infinity"), not as NULL.
#[test]
fn log_is_natural_and_non_finite_doubles_survive() {
    let mut s = session();
    assert_eq!(
        eval(&mut s, "LOG(1), LOG(2, 8), LOG(1, 13), LOG(0), LOG(-1)"),
        ["0.0", "3.0", "NaN", "-inf", "NaN"]
    );
    let out = rows(&mut s, "SELECT LOG(-1) AS x, LOG(0) AS y FROM one;");
    let mut buf = Vec::new();
    {
        let mut w =
            weir::json_writer().build::<_, weir::arrow::json::writer::LineDelimited>(&mut buf);
        w.write_batches(&out.iter().collect::<Vec<_>>()).unwrap();
        w.finish().unwrap();
    }
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        "{\"X\":\"NaN\",\"Y\":\"-Infinity\"}\n"
    );
}

/// BYTES functions: encodings both ways, numbers from big- and little-endian bytes, SPLIT,
/// SUBSTRING and LPAD on bytes; an unknown encoding is refused when the query is planned.
#[test]
fn bytes_functions() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "FROM_BYTES(TO_BYTES('AQID', 'base64'), 'hex'), FROM_BYTES(TO_BYTES('0aff', 'hex'), 'base64'), \
             FROM_BYTES(TO_BYTES('héllo', 'utf8'), 'utf8'), TO_BYTES('é', 'ascii'), \
             INT_FROM_BYTES(TO_BYTES('000007e5', 'hex')), \
             INT_FROM_BYTES(TO_BYTES('e5070000', 'hex'), 'LITTLE_ENDIAN'), \
             BIGINT_FROM_BYTES(TO_BYTES('00', 'hex')), \
             DOUBLE_FROM_BYTES(TO_BYTES('4080a6fd9bc9f582', 'hex'))"
        ),
        ["010203", "Cv8=", "héllo", "null", "2021", "2021", "null", "532.8738323"]
    );
    assert_eq!(
        eval(
            &mut s,
            "ARRAY_LENGTH(SPLIT(TO_BYTES('a.b.c', 'utf8'), TO_BYTES('.', 'utf8'))), \
             FROM_BYTES(SUBSTRING(TO_BYTES('00ff10', 'hex'), 2), 'hex'), \
             FROM_BYTES(LPAD(TO_BYTES('ff', 'hex'), 3, TO_BYTES('00', 'hex')), 'hex')"
        ),
        ["3", "ff10", "0000ff"]
    );
    let err = s
        .execute("SELECT TO_BYTES('x', 'utf16') FROM one;")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Supported input and output encodings are: hex, utf8, ascii and base64"),
        "{err}"
    );
}

/// Lambdas as ksqlDB writes them: TRANSFORM and FILTER over arrays (`x => ...`) and maps
/// (`(k, v) => ...`), REDUCE over arrays (`(s, x) => ...`) and maps (`(s, k, v) => ...`), NULL
/// collections keep the initial state; lambdas read the row's columns.
#[test]
fn transform_filter_and_reduce_take_lambdas() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "TRANSFORM(ARRAY[1, 2, 3], x => x * 10), FILTER(ARRAY['a', 'bb', 'ccc'], w => LEN(w) > 1), \
             REDUCE(ARRAY[1, 2, 3], 0, (acc, x) => acc + x), \
             REDUCE(MAP('a' := 2, 'b' := 3), 1, (acc, k, v) => acc * v), \
             REDUCE(CAST(NULL AS ARRAY<INT>), 7, (acc, x) => acc + x), \
             TRANSFORM(ARRAY[1, 2], x => ARRAY[x, id]), \
             TRANSFORM(MAP('a' := 1, 'b' := 2), (k, v) => UCASE(k), (k, v) => v * 10 + id), \
             FILTER(MAP('a' := 1, 'b' := 2), (k, v) => v > 1)"
        ),
        [
            "[10, 20, 30]",
            "[bb, ccc]",
            "6",
            "6",
            "7",
            "[[1, 1], [2, 1]]",
            "{A: 11, B: 21}",
            "{b: 2}"
        ]
    );
}

/// `s->*` selects every field of a STRUCT as a column named as the field.
#[test]
fn struct_all_fields() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, v STRUCT<a INT, `b c` STRING, n STRUCT<x INT>>);
         INSERT INTO s VALUES (1, STRUCT(a := 5, `b c` := 'x', n := STRUCT(x := 7)));",
        Config::default(),
    );
    let got = rows(&mut s, "SELECT id, v->*, v->n->* FROM s;");
    let names: Vec<String> = got[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["ID", "A", "b c", "N", "X"]);
    assert_eq!(strings(&got, "X"), ["7"]);
    let err = s.execute("SELECT id->* FROM s;").unwrap_err();
    assert!(err.to_string().contains("needs a STRUCT"), "{err}");
}

/// CUBE_EXPLODE: one row per combination of the array's elements kept or NULL (a NULL
/// element does not double the rows).
#[test]
fn cube_explode_rows() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, a INT, b INT);
         INSERT INTO s VALUES (1, 1, 2);
         INSERT INTO s VALUES (2, 1, NULL);",
        Config::default(),
    );
    let got = rows(&mut s, "SELECT id, CUBE_EXPLODE(ARRAY[a, b]) AS v FROM s;");
    assert_eq!(strings(&got, "ID"), ["1", "1", "1", "1", "2", "2"]);
    assert_eq!(
        strings(&got, "V"),
        ["[, ]", "[, 2]", "[1, ]", "[1, 2]", "[, ]", "[1, ]"]
    );
}

/// SLICE (1-based, both ends included) and AS_MAP (keys and values lists), ksqlDB's names.
#[test]
fn slice_and_as_map() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "SLICE(ARRAY['a', 'b', 'c'], 2, 3), AS_MAP(ARRAY['a', 'b'], ARRAY[1, 2])"
        ),
        ["[b, c]", "{a: 1, b: 2}"]
    );
}

#[test]
fn casts_of_nested_values() {
    let mut s = session_with(
        "CREATE STREAM nested (l ARRAY<BIGINT>, m MAP<STRING, BIGINT>, st STRUCT<F0 INT, `f1` DOUBLE>,
           mm MAP<STRING, MAP<STRING, STRING>>);
         INSERT INTO nested VALUES (ARRAY[1, 3], MAP('k' := 2), STRUCT(F0 := 1, `f1` := 1e7),
           MAP('a' := MAP('b' := '10')));
         INSERT INTO nested VALUES (NULL, MAP('k' := NULL), STRUCT(F0 := NULL, `f1` := 0.5), NULL);",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT CAST(l AS STRING) AS ls, CAST(m AS STRING) AS ms, CAST(st AS STRING) AS ss,
           CAST(l AS ARRAY<STRING>) AS la, CAST(mm AS MAP<STRING, MAP<STRING, INT>>) AS mi,
           CAST(st AS STRUCT<F0 BIGINT, `f1` STRING>) AS sc
         FROM nested;",
    );
    assert_eq!(strings(&out, "LS"), ["[1, 3]", "null"]);
    assert_eq!(strings(&out, "MS"), ["{k=2}", "{k=null}"]);
    assert_eq!(
        strings(&out, "SS"),
        ["Struct{F0=1,f1=1.0E7}", "Struct{f1=0.5}"]
    );
    assert_eq!(strings(&out, "LA"), ["[1, 3]", "null"]);
    assert_eq!(strings(&out, "MI"), ["{a: {b: 10}}", "null"]);
    assert_eq!(
        strings(&out, "SC"),
        ["{F0: 1, f1: 10000000.0}", "{F0: null, f1: 0.5}"]
    );
    // The inner map's values became INTEGERs (nothing in the source is 32-bit).
    let mi = out[0]
        .schema()
        .field_with_name("MI")
        .map(|f| f.data_type().to_string());
    assert!(mi.as_deref().is_ok_and(|t| t.contains("Int32")), "{mi:?}");
    for (sql, expected) in [
        (
            "SELECT CAST(CAST(l AS STRING) AS ARRAY<INT>) FROM nested;",
            "Invalid Select: Cast of STRING to ARRAY<INTEGER> is not supported",
        ),
        (
            "SELECT * FROM nested WHERE CAST('x' AS MAP<STRING, INT>) IS NULL;",
            "Invalid Predicate: Cast of STRING to MAP<STRING, INTEGER> is not supported",
        ),
        (
            "SELECT CAST(m AS MAP<STRING, FOO>) FROM nested;",
            "not a type",
        ),
    ] {
        let err = s
            .query(sql)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{sql}: {err}");
    }
}

#[test]
fn ksqldb_forms_of_collection_and_date_functions() {
    let mut s = session_with(
        "CREATE STREAM m (v MAP<STRING, INT>, d STRING);
         INSERT INTO m VALUES (MAP('id' := 1, 'x' := NULL), '2004');",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT TO_JSON_STRING(v) AS j, TO_JSON_STRING(ARRAY_SORT(MAP_VALUES(v))) AS up,
           TO_JSON_STRING(ARRAY_SORT(MAP_VALUES(v), 'desc')) AS down,
           PARSE_DATE(d, 'yyyy-MM-dd') AS exact, PARSE_DATE(d + '-03-04-extra', 'yyyy-MM-dd') AS trailing,
           PARSE_DATE('JAN-2022', 'MMM-yyyy') AS no_day, PARSE_DATE(d, 'yyyy') AS no_month
         FROM m;",
    );
    assert_eq!(strings(&out, "J"), [r#"{"id":1,"x":null}"#]);
    assert_eq!(strings(&out, "UP"), ["[1,null]"]);
    assert_eq!(strings(&out, "DOWN"), ["[1,null]"]);
    assert_eq!(strings(&out, "EXACT"), ["null"]);
    assert_eq!(strings(&out, "TRAILING"), ["2004-03-04"]);
    assert_eq!(strings(&out, "NO_DAY"), ["2022-01-01"]);
    assert_eq!(strings(&out, "NO_MONTH"), ["2004-01-01"]);
}

/// `s->a[1]->b` reads the field, then the element, then the field; a field access is named
/// after its field, with `_1`, `_2` when that name is taken.
#[test]
fn struct_field_access_chains_and_names() {
    let mut s = session_with(
        "CREATE STREAM n (b INT, a STRUCT<B INT, L ARRAY<STRUCT<D INT>>, M MAP<STRING, STRUCT<D INT>>>,
           c STRUCT<B INT>);
         INSERT INTO n VALUES (0, STRUCT(B := 1, L := ARRAY[STRUCT(D := 7)], M := MAP('k' := STRUCT(D := 8))),
           STRUCT(B := 2));",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT b, a->B, c->B, a->L[1]->D, a->M['k']->D FROM n;",
    );
    let names: Vec<String> = out[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["B", "B_1", "B_2", "D", "D_1"]);
    assert_eq!(
        names
            .iter()
            .map(|n| strings(&out, n)[0].clone())
            .collect::<Vec<_>>(),
        ["0", "1", "2", "7", "8"]
    );
}

/// ENTRIES lists a map's entries as K/V structs (sorted by key on request); GREATEST and LEAST
/// take arguments of one kind.
#[test]
fn entries_and_greatest_argument_checks() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "ENTRIES(MAP('b' := 2, 'a' := 1), true), GREATEST(1, 2.5), LEAST('b', 'a')"
        ),
        ["[{K: a, V: 1}, {K: b, V: 2}]", "2.5", "a"]
    );
    for (sql, expected) in [
        (
            "SELECT GREATEST() FROM one;",
            "Function 'greatest' does not accept parameters ().",
        ),
        (
            "SELECT LEAST(id, s) FROM one;",
            "Function 'least' does not accept parameters (INTEGER, STRING).",
        ),
    ] {
        let err = s
            .query(sql)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(expected), "{sql}: {err}");
    }
}

/// ROUND, CEIL and FLOOR of a DECIMAL have room for the digit they may carry; DECIMAL
/// arithmetic that overflows its precision is NULL, not a wrong number.
#[test]
fn decimal_rounding_carries_and_overflow_is_null() {
    let mut s = session_with(
        "CREATE STREAM d (v DECIMAL(4,2));
         INSERT INTO d VALUES (99.99), (9.5), (-0.5);",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT ROUND(v) AS r, ROUND(v, 1) AS r1, CEIL(v) AS c, FLOOR(-v) AS f, CEIL(3) AS i,
           CAST(1 AS DECIMAL(38,37)) * 10 AS big FROM d;",
    );
    assert_eq!(strings(&out, "R"), ["100.00", "10.00", "-1.00"]);
    assert_eq!(strings(&out, "R1"), ["100.00", "9.50", "-0.50"]);
    assert_eq!(strings(&out, "C"), ["100.00", "10.00", "0.00"]);
    assert_eq!(strings(&out, "F"), ["-100.00", "-10.00", "0.00"]);
    assert_eq!(strings(&out, "I"), ["3", "3", "3"]);
    assert_eq!(strings(&out, "BIG"), ["null", "null", "null"]);
}

/// TIMESTAMP is milliseconds: BIGINT epoch milliseconds cast to it and back unchanged; a time
/// zone may be a whole-hour offset.
#[test]
fn timestamps_cast_as_milliseconds_and_zones_as_offsets() {
    let mut s = session_with(
        "CREATE STREAM d (v BIGINT, s STRING);
         INSERT INTO d VALUES (1546300800000, '2019-01-01T00:00:00');",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT CAST(v AS TIMESTAMP) AS t, CAST(CAST(s AS TIMESTAMP) AS BIGINT) AS back,
           PARSE_TIMESTAMP('2019-01-01 05:00', 'yyyy-MM-dd HH:mm', '+05:00') AS east,
           FORMAT_TIMESTAMP(CAST(v AS TIMESTAMP), 'HH:mm', 'UTC-8') AS west FROM d;",
    );
    assert_eq!(strings(&out, "T"), ["2019-01-01T00:00:00"]);
    assert_eq!(strings(&out, "BACK"), ["1546300800000"]);
    assert_eq!(strings(&out, "EAST"), ["2019-01-01T00:00:00"]);
    assert_eq!(strings(&out, "WEST"), ["16:00"]);
}

/// DECIMAL division as ksqlDB types it: scale max(6, s1 + p2 + 1), rounded half up; an
/// INTEGER counts as DECIMAL(10, 0); division by zero is NULL.
#[test]
fn decimal_division_follows_ksqldb_scale() {
    let mut s = session_with(
        "CREATE STREAM d (v DECIMAL(4,2), i INT);
         INSERT INTO d VALUES (99.99, 3), (-1.00, 0);",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT CAST(1.0 AS DECIMAL(4,1)) / CAST(3.0 AS DECIMAL(4,1)) AS a, 2 / 3.0 AS c,
           v / i AS d, v / 0.7 AS f, i / 2 AS e FROM d;",
    );
    assert_eq!(strings(&out, "A"), ["0.333333", "0.333333"]);
    assert_eq!(strings(&out, "C"), ["0.666667", "0.666667"]);
    assert_eq!(strings(&out, "D"), ["33.3300000000000", "null"]);
    assert_eq!(strings(&out, "F"), ["142.842857", "-1.428571"]);
    assert_eq!(strings(&out, "E"), ["1", "0"]);
    let types: Vec<String> = out[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(types[0], "Decimal128(10, 6)");
    assert_eq!(types[2], "Decimal128(15, 13)");
}

/// Text literals among the numbers of an ARRAY or MAP constructor read as numbers; text that
/// is no number is refused.
#[test]
fn constructor_text_literals_read_as_numbers() {
    let mut s = session_with(
        "CREATE STREAM n (a INT, b BIGINT, k STRING);
         INSERT INTO n VALUES (30, 40, 'x');",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT ARRAY[NULL, 10, '2e1', a, b] AS l, MAP(k := a, 'y' := '7') AS m FROM n;",
    );
    assert_eq!(strings(&out, "L"), ["[, 10, 20, 30, 40]"]);
    assert_eq!(strings(&out, "M"), ["{x: 30, y: 7}"]);
    for sql in [
        "SELECT ARRAY[1, 'not a number'] FROM n;",
        "SELECT MAP(k := a, 'y' := 'hello') FROM n;",
    ] {
        let err = s
            .query(sql)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("invalid input syntax for type INTEGER"),
            "{sql}: {err}"
        );
    }
}

/// CAST(... AS STRING) is a STRING like any other: ARRAY_JOIN writes its elements bare.
#[test]
fn cast_to_string_is_plain_text() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "ARRAY_JOIN(ARRAY['a', CAST(NULL AS STRING), CAST(id AS VARCHAR)], '-')"
        ),
        ["a-null-1"]
    );
}

/// MAP_UNION keeps both maps' entries, the second's value where a key is in both; NULL only
/// when both are NULL.
#[test]
fn map_union_of_two_maps() {
    let mut s = session_with(
        "CREATE STREAM m (a MAP<STRING, INT>, b MAP<STRING, INT>);
         INSERT INTO m VALUES (MAP('x' := 1, 'y' := 2), MAP('y' := 20, 'z' := 30));
         INSERT INTO m VALUES (NULL, MAP('q' := 1));
         INSERT INTO m VALUES (NULL, NULL);",
        Config::default(),
    );
    let out = rows(&mut s, "SELECT MAP_UNION(a, b) AS u FROM m;");
    assert_eq!(
        strings(&out, "U"),
        ["{x: 1, y: 20, z: 30}", "{q: 1}", "null"]
    );
}

/// A time zone may be any UTC offset, half hours included.
#[test]
fn half_hour_offsets_are_zones() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "PARSE_TIMESTAMP('2019-01-01 05:30', 'yyyy-MM-dd HH:mm', '+05:30'),
             FORMAT_TIMESTAMP(PARSE_TIMESTAMP('2019-01-01 00:00', 'yyyy-MM-dd HH:mm'), 'HH:mm XXX', '-03:30')"
        ),
        ["2019-01-01T00:00:00", "20:30 -03:30"]
    );
}

/// A DECIMAL quotient of wide operands keeps its whole digits (the scale gives way).
#[test]
fn wide_decimal_division_keeps_whole_digits() {
    let mut s = session();
    assert_eq!(
        eval(
            &mut s,
            "CAST(10 AS DECIMAL(38,0)) / CAST(4 AS DECIMAL(38,0))"
        ),
        ["3"]
    );
}
