//! Session windows and tombstones: sessions that merge retract what they replaced, tables
//! that lose a key delete it downstream.

use std::path::PathBuf;

use weir::Config;

use crate::common::{changelog, rows, session_with, strings};

fn nasa_path() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nasa_1995-07-01_first3000.jsonl")
        .display()
        .to_string()
}

#[test]
fn a_record_that_bridges_two_sessions_merges_them_and_retracts_both() {
    let setup = "
        CREATE STREAM clicks (user_id STRING KEY, page STRING, ts BIGINT)
          WITH (TIMESTAMP='ts');
        CREATE TABLE visits AS
          SELECT user_id, COUNT(*) AS pages, COLLECT_LIST(page) AS path
          FROM clicks WINDOW SESSION (1 SECOND) GROUP BY user_id;
    ";
    // Per-record mode sees every input on its own; with normal batching all five rows
    // arrive in one INSERT and so in one micro-batch.
    let one_by_one = "
        INSERT INTO clicks VALUES ('ann', 'home', 0);
        INSERT INTO clicks VALUES ('ann', 'cart', 1500);
        INSERT INTO clicks VALUES ('bob', 'home', 200);
        INSERT INTO clicks VALUES ('ann', 'search', 700);
        INSERT INTO clicks VALUES ('ann', 'pay', 2400);
    ";
    let all_at_once = "
        INSERT INTO clicks VALUES ('ann', 'home', 0), ('ann', 'cart', 1500),
          ('bob', 'home', 200), ('ann', 'search', 700), ('ann', 'pay', 2400);
    ";
    for (batch, inserts) in [(1, one_by_one), (1000, all_at_once)] {
        let mut s = session_with(
            &format!("{setup}{inserts}"),
            Config::builder().batch_max_rows(batch).build().unwrap(),
        );
        s.finish().unwrap();
        let got = changelog(
            &mut s,
            "visits",
            &["USER_ID", "WINDOWSTART", "WINDOWEND", "PAGES", "PATH"],
        );
        if batch == 1 {
            // Every input's update: the bridging record at 700 deletes [0,0] and [1500,1500]
            // and emits [0,1500]; the one at 2400 extends it to [0,2400].
            assert_eq!(
                got,
                [
                    "ann/0/0/1/[home]/false",
                    "ann/1500/1500/1/[cart]/false",
                    "bob/200/200/1/[home]/false",
                    "ann/0/0/null/null/true",
                    "ann/1500/1500/null/null/true",
                    "ann/0/1500/3/[home, cart, search]/false",
                    "ann/0/1500/null/null/true",
                    "ann/0/2400/4/[home, cart, search, pay]/false",
                ]
            );
        } else {
            // One batch: sessions never emitted are never retracted.
            assert_eq!(
                got,
                [
                    "bob/200/200/1/[home]/false",
                    "ann/0/2400/4/[home, cart, search, pay]/false",
                ]
            );
        }
        // The table's state is the same either way.
        let state = rows(&mut s, "SELECT user_id, WINDOWSTART, pages FROM visits;");
        assert_eq!(strings(&state, "PAGES"), ["1", "4"], "batch {batch}");
    }
}

#[test]
fn late_records_outside_the_grace_period_do_not_reopen_sessions() {
    let mut s = session_with(
        "
        CREATE STREAM clicks (user_id STRING KEY, ts BIGINT) WITH (TIMESTAMP='ts');
        CREATE TABLE visits AS
          SELECT user_id, COUNT(*) AS pages FROM clicks
          WINDOW SESSION (10 SECONDS, GRACE PERIOD 5 SECONDS) GROUP BY user_id EMIT FINAL;
        INSERT INTO clicks VALUES ('ann', 0);
        INSERT INTO clicks VALUES ('ann', 8000);
        INSERT INTO clicks VALUES ('ann', 60000);
        INSERT INTO clicks VALUES ('ann', 9000);
        INSERT INTO clicks VALUES ('ann', 61000);
        ",
        Config::builder().batch_max_rows(1).build().unwrap(),
    );
    s.finish().unwrap();
    // The record at 9000 arrives when stream time is 60000: later than 8000 + 5 s of grace.
    let got = changelog(&mut s, "visits", &["WINDOWSTART", "WINDOWEND", "PAGES"]);
    assert_eq!(got, ["0/8000/2/false", "60000/61000/2/false"]);
}

fn nasa_sessions(partitions: usize, batch: usize) -> Vec<String> {
    let mut s = session_with(
        &format!(
            "CREATE STREAM requests (client_id STRING KEY, ts BIGINT, url STRING, bytes INT)
               WITH (PATH='{}', VALUE_FORMAT='JSON', PARTITIONS={partitions}, TIMESTAMP='ts');",
            nasa_path()
        ),
        Config::builder().batch_max_rows(batch).build().unwrap(),
    );
    let out = rows(
        &mut s,
        "SELECT client_id, WINDOWSTART, WINDOWEND, COUNT(*) AS requests, SUM(bytes) AS bytes
         FROM requests WINDOW SESSION (10 MINUTES) GROUP BY client_id EMIT FINAL;",
    );
    let cols: Vec<Vec<String>> = ["CLIENT_ID", "WINDOWSTART", "WINDOWEND", "REQUESTS", "BYTES"]
        .iter()
        .map(|c| strings(&out, c))
        .collect();
    let mut got: Vec<String> = (0..cols[0].len())
        .map(|i| {
            cols.iter()
                .map(|c| c[i].as_str())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    got.sort();
    got
}

/// The first 3,000 requests of 1 July 1995 sessionised per client with a 10-minute gap.
/// Expected values computed independently (a sequential scan per client in Python).
#[test]
fn nasa_web_log_sessions_per_client() {
    let got = nasa_sessions(1, 1000);
    assert_eq!(got.len(), 349);
    let of = |client: &str| -> Vec<&String> {
        got.iter()
            .filter(|r| r.starts_with(&format!("{client}/")))
            .collect()
    };
    assert_eq!(
        of("client-00044"),
        [
            "client-00044/804571377000/804571872000/14/257732",
            "client-00044/804572778000/804573035000/10/1164060",
            "client-00044/804574075000/804574229000/8/111837",
        ]
    );
    assert_eq!(
        of("client-00046"),
        ["client-00046/804571378000/804573168000/58/1442450"]
    );
    assert_eq!(
        of("client-00009"),
        [
            "client-00009/804571219000/804571787000/5/195192",
            "client-00009/804574034000/804574086000/3/76555",
        ]
    );
    let requests: u64 = got
        .iter()
        .map(|r| r.split('/').nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(requests, 3000);
    // Independent of partitioning and batch size.
    assert_eq!(nasa_sessions(4, 1), got);
    assert_eq!(nasa_sessions(3, 64), got);
}

#[test]
fn table_table_join_deletes_propagate() {
    let mut s = session_with(
        "
        CREATE TABLE users (id BIGINT PRIMARY KEY, name STRING);
        CREATE TABLE plans (id BIGINT PRIMARY KEY, plan STRING);
        CREATE TABLE inner_j AS SELECT u.id, name, plan FROM users u JOIN plans p ON u.id = p.id;
        CREATE TABLE left_j AS SELECT u.id, name, plan FROM users u LEFT JOIN plans p ON u.id = p.id;
        ",
        Config::builder().batch_max_rows(1).build().unwrap(),
    );
    s.insert_json("users", r#"{"id": 1, "name": "ann"}"#, Some(0))
        .unwrap();
    s.insert_json("plans", r#"{"id": 1, "plan": "pro"}"#, Some(10))
        .unwrap();
    s.delete_json("plans", r#"{"id": 1}"#, Some(20)).unwrap();
    s.delete_json("users", r#"{"id": 1}"#, Some(30)).unwrap();
    // Deleting a key that was never there deletes nothing downstream.
    s.delete_json("plans", r#"{"id": 2}"#, Some(40)).unwrap();
    s.finish().unwrap();
    assert_eq!(
        changelog(&mut s, "inner_j", &["U_ID", "NAME", "PLAN"]),
        ["1/ann/pro/false", "1/null/null/true"]
    );
    assert_eq!(
        changelog(&mut s, "left_j", &["U_ID", "NAME", "PLAN"]),
        [
            "1/ann/null/false",
            "1/ann/pro/false",
            "1/ann/null/false",
            "1/null/null/true"
        ]
    );
    // A pull query shows what is left: nothing.
    assert!(rows(&mut s, "SELECT * FROM left_j;")
        .iter()
        .all(|b| b.num_rows() == 0));
    // A table's tombstone needs its key.
    let err = s.delete_json("users", r#"{"id": null}"#, None).unwrap_err();
    assert!(err.to_string().contains("needs its key"), "{err}");
}

/// A stream record with a NULL value (a Kafka record without a value) is passed on by a
/// projection, still without a value (its key as projected; a key computed by PARTITION BY
/// from value columns is NULL), and skipped by filters, aggregations and joins.
#[test]
fn null_value_records_pass_projections_and_skip_filters_aggregations_and_joins() {
    for batch in [1, 64] {
        let mut s = session_with(
            "
            CREATE STREAM events (id BIGINT KEY, name STRING);
            CREATE TABLE users (id BIGINT PRIMARY KEY, city STRING);
            CREATE STREAM copied AS SELECT id, name, UCASE(name) AS up FROM events;
            CREATE STREAM rekeyed AS SELECT * FROM events PARTITION BY name;
            CREATE STREAM unnamed AS SELECT * FROM events WHERE name IS NULL;
            CREATE TABLE counts AS SELECT id, COUNT(*) AS n FROM events GROUP BY id;
            CREATE STREAM enriched AS SELECT e.id, name, city FROM events e JOIN users u ON e.id = u.id;
            ",
            Config::builder().batch_max_rows(batch).build().unwrap(),
        );
        s.insert_json("users", r#"{"id": 1, "city": "paris"}"#, Some(0))
            .unwrap();
        s.insert_json("events", r#"{"id": 1, "name": "a"}"#, Some(1))
            .unwrap();
        s.delete_json("events", r#"{"id": 1}"#, Some(2)).unwrap();
        s.insert_json("events", r#"{"id": 1, "name": null}"#, Some(3))
            .unwrap();
        s.delete_json("events", "{}", Some(4)).unwrap();
        s.finish().unwrap();
        assert_eq!(
            changelog(&mut s, "copied", &["ID", "NAME", "UP"]),
            [
                "1/a/A/false",
                "1/null/null/true",
                "1/null/null/false",
                "null/null/null/true"
            ],
            "batch {batch}"
        );
        assert_eq!(
            changelog(&mut s, "rekeyed", &["NAME", "ID"]),
            [
                "a/1/false",
                "null/null/true",
                "null/1/false",
                "null/null/true"
            ],
            "batch {batch}"
        );
        assert_eq!(
            changelog(&mut s, "unnamed", &["ID", "NAME"]),
            ["1/null/false"],
            "batch {batch}"
        );
        let counts = rows(&mut s, "SELECT * FROM counts;");
        assert_eq!(
            (strings(&counts, "ID"), strings(&counts, "N")),
            (vec!["1".to_string()], vec!["2".to_string()]),
            "batch {batch}"
        );
        assert_eq!(
            changelog(&mut s, "enriched", &["E_ID", "NAME", "CITY"]),
            ["1/a/paris/false", "1/null/paris/false"],
            "batch {batch}"
        );
    }
}

#[test]
fn a_deleted_table_row_no_longer_enriches_the_stream() {
    let mut s = session_with(
        "
        CREATE TABLE users (id BIGINT PRIMARY KEY, name STRING);
        CREATE STREAM orders (id BIGINT KEY, amount INT);
        CREATE STREAM enriched AS
          SELECT o.id, amount, name FROM orders o LEFT JOIN users u ON o.id = u.id;
        ",
        Config::builder().batch_max_rows(1).build().unwrap(),
    );
    s.insert_json("users", r#"{"id": 1, "name": "ann"}"#, Some(0))
        .unwrap();
    s.insert_json("users", r#"{"id": 2, "name": "bob"}"#, Some(0))
        .unwrap();
    s.insert_json("orders", r#"{"id": 1, "amount": 5}"#, Some(10))
        .unwrap();
    s.delete_json("users", r#"{"id": 1}"#, Some(20)).unwrap();
    s.insert_json("orders", r#"{"id": 1, "amount": 7}"#, Some(30))
        .unwrap();
    s.insert_json("orders", r#"{"id": 2, "amount": 9}"#, Some(40))
        .unwrap();
    s.finish().unwrap();
    let got = rows(&mut s, "SELECT O_ID, AMOUNT, NAME FROM enriched;");
    assert_eq!(strings(&got, "NAME"), ["ann", "null", "bob"]);
    assert_eq!(strings(&got, "AMOUNT"), ["5", "7", "9"]);
    // The table itself no longer holds the deleted key.
    let left = rows(&mut s, "SELECT id, name FROM users;");
    assert_eq!(strings(&left, "NAME"), ["bob"]);
}

/// `EMIT CHANGES` keeps each group's state as partial-state rows and rewrites only the groups
/// a micro-batch touched (compacting superseded rows as it goes): the final state is the same
/// for any batch size. Expected values computed independently (Python over the same file).
#[test]
fn changelog_state_is_the_same_for_any_batch_size() {
    for batch in [1, 7, 64, 5000] {
        let mut s = session_with(
            &format!(
                "CREATE STREAM requests (client_id STRING KEY, bytes INT, ts BIGINT)
                   WITH (PATH='{}', TIMESTAMP='ts', PARTITIONS=2);
                 CREATE TABLE per_client AS
                   SELECT client_id, COUNT(*) AS n, SUM(bytes) AS b FROM requests GROUP BY client_id;",
                nasa_path()
            ),
            Config::builder().batch_max_rows(batch).build().unwrap(),
        );
        s.finish().unwrap();
        let state = rows(&mut s, "SELECT * FROM per_client;");
        assert_eq!(crate::common::count(&state), 321, "batch {batch}");
        let n: Vec<u64> = strings(&state, "N")
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        let b: Vec<u64> = strings(&state, "B")
            .iter()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(n.iter().sum::<u64>(), 3000, "batch {batch}");
        assert_eq!(b.iter().sum::<u64>(), 64_579_556, "batch {batch}");
        let top = strings(&state, "CLIENT_ID")
            .into_iter()
            .zip(n.iter().zip(&b))
            .find(|(c, _)| c == "client-00046")
            .map(|(_, (n, b))| (*n, *b));
        assert_eq!(top, Some((58, 1_442_450)), "batch {batch}");
    }
}

/// `EXPLODE` (a table function): one row per path segment of each requested URL. Expected
/// values computed independently (Python's `str.split('/')` over the same file).
#[test]
fn explode_url_path_segments() {
    for partitions in [1, 3] {
        let mut s = session_with(
            &format!(
                "CREATE STREAM requests (client_id STRING KEY, url STRING, ts BIGINT)
                   WITH (PATH='{}', TIMESTAMP='ts', PARTITIONS={partitions});",
                nasa_path()
            ),
            Config::default(),
        );
        let out = rows(
            &mut s,
            "SELECT client_id, EXPLODE(SPLIT(url, '/')) AS part FROM requests;",
        );
        let parts = strings(&out, "PART");
        assert_eq!(parts.len(), 12_505);
        assert_eq!(parts[..4], ["", "history", "apollo", ""]);
        assert_eq!(parts.iter().filter(|p| *p == "apollo").count(), 252);
        // A filter after the table function sees the exploded rows.
        let out = rows(
            &mut s,
            "SELECT part, COUNT(*) AS n FROM (SELECT EXPLODE(SPLIT(url, '/')) AS part FROM requests)
             WHERE part = 'apollo' GROUP BY part;",
        );
        assert_eq!(strings(&out, "N"), ["252"], "{partitions} partitions");
    }
}

/// ROWPARTITION: the partition a record is read from — the same for every record of a key;
/// a reserved name that a projection must alias.
#[test]
fn rowpartition_is_the_partition_a_record_is_read_from() {
    let mut s = session_with(
        "CREATE STREAM s (id INT KEY, v INT) WITH (PARTITIONS=3);",
        Config::default(),
    );
    for i in 0..30 {
        s.insert_json("s", &format!(r#"{{"id": {}, "v": {i}}}"#, i % 7), Some(i))
            .unwrap();
    }
    s.finish().unwrap();
    let got = rows(&mut s, "SELECT id, ROWPARTITION AS p FROM s;");
    let pairs: Vec<(String, String)> = strings(&got, "ID")
        .into_iter()
        .zip(strings(&got, "P"))
        .collect();
    assert_eq!(pairs.len(), 30);
    for (id, p) in &pairs {
        assert!(["0", "1", "2"].contains(&p.as_str()), "{p}");
        assert!(pairs.iter().all(|(i, q)| i != id || q == p), "{pairs:?}");
    }
    let err = s
        .execute("CREATE STREAM bad AS SELECT id, ROWPARTITION FROM s;")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Reserved column name in select: `ROWPARTITION`"),
        "{err}"
    );
}

/// The key format: KEY_FORMAT, else FORMAT, else KAFKA; a derived stream keeps its source's
/// unless its WITH says otherwise.
#[test]
fn key_formats_are_declared_or_inherited() {
    let mut s = session_with(
        "CREATE STREAM a (id INT KEY, v STRING) WITH (FORMAT='DELIMITED');
         CREATE STREAM b AS SELECT * FROM a;
         CREATE STREAM c WITH (KEY_FORMAT='JSON') AS SELECT * FROM a;
         CREATE STREAM d (id INT KEY, v STRING);",
        Config::default(),
    );
    let formats: Vec<String> = ["A", "B", "C", "D"]
        .iter()
        .map(|n| s.stream_info(n).unwrap().key_format)
        .collect();
    assert_eq!(formats, ["DELIMITED", "DELIMITED", "JSON", "KAFKA"]);
    s.finish().unwrap();
}
