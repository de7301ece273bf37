//! Branching one stream into several (`SPLIT`) and merging several into one (`UNION ALL`,
//! `INSERT INTO` from several queries), over the bundled taxi trips. Expected counts were
//! computed independently (Python over the same file).

use weir::Config;

use crate::common::*;

const SPLIT: &str = "SPLIT trips
    INTO refunds WHERE total_amount < 0
    INTO airport WHERE rate_code_id IN (2, 3)
    INTO other_trips;";

#[test]
fn split_routes_each_trip_to_its_first_matching_branch() {
    for partitions in [1, 3] {
        let mut s = session_with(&taxi_ddl(partitions), Config::default());
        let plan = format!("{:?}", s.execute(&format!("EXPLAIN {SPLIT}")).unwrap());
        // One scan feeds every branch.
        assert_eq!(plan.matches("Scan TRIPS").count(), 1, "{plan}");
        s.execute(SPLIT).unwrap();
        let refunds = rows(&mut s, "SELECT trip_id, total_amount FROM refunds;");
        let airport = rows(&mut s, "SELECT trip_id, total_amount FROM airport;");
        let other = rows(&mut s, "SELECT trip_id FROM other_trips;");
        assert_eq!(count(&refunds), 7);
        assert_eq!(count(&airport), 221);
        assert_eq!(count(&other), 9772);
        assert!((sum(&airport, "TOTAL_AMOUNT") - 15029.79).abs() < 1e-6);
        // A refund at an airport rate goes to the first branch only.
        assert_eq!(
            strings(&refunds, "TRIP_ID")[..2],
            ["T2019-02095", "T2019-02325"]
        );
        let err = s
            .execute("SPLIT trips INTO a INTO b WHERE total_amount > 0;")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be the last"), "{err}");
    }
}

#[test]
fn split_without_a_default_drops_what_no_branch_takes() {
    let mut s = session_with(&taxi_ddl(2), Config::default());
    s.execute("SPLIT trips INTO cash WHERE payment_type = 2 INTO disputes WHERE payment_type = 4;")
        .unwrap();
    let cash = count(&rows(&mut s, "SELECT trip_id FROM cash;"));
    let disputes = count(&rows(&mut s, "SELECT trip_id FROM disputes;"));
    let all_cash = count(&rows(
        &mut s,
        "SELECT trip_id FROM trips WHERE payment_type = 2;",
    ));
    let all_disputes = count(&rows(
        &mut s,
        "SELECT trip_id FROM trips WHERE payment_type = 4;",
    ));
    assert_eq!((cash, disputes), (all_cash, all_disputes));
}

#[test]
fn union_all_merges_streams_and_checks_their_schemas() {
    let mut s = session_with(&taxi_ddl(2), Config::default());
    s.execute(SPLIT).unwrap();
    let merged = rows(
        &mut s,
        "SELECT trip_id, total_amount FROM refunds
         UNION ALL SELECT trip_id, total_amount FROM airport;",
    );
    assert_eq!(count(&merged), 7 + 221);
    // 15029.79 from the airport trips, -122.71 from the refunds.
    assert!((sum(&merged, "TOTAL_AMOUNT") - 14907.08).abs() < 1e-6);
    let err = s
        .execute("SELECT trip_id FROM refunds UNION ALL SELECT trip_id, total_amount FROM airport;")
        .unwrap_err()
        .to_string();
    assert!(err.contains("different number of columns"), "{err}");
    let err = s
        .execute("SELECT trip_id FROM refunds UNION SELECT trip_id FROM airport;")
        .unwrap_err()
        .to_string();
    assert!(err.contains("use UNION ALL"), "{err}");
}

#[test]
fn insert_into_merges_several_queries_into_one_stream() {
    let mut s = session_with(&taxi_ddl(2), Config::default());
    s.execute(
        "CREATE STREAM flagged (trip_id STRING, vendor_id INT KEY, reason STRING);
         INSERT INTO flagged SELECT trip_id, vendor_id, 'refund' AS reason FROM trips WHERE total_amount < 0;
         INSERT INTO flagged SELECT trip_id, vendor_id, 'long' AS reason FROM trips WHERE trip_distance > 50;",
    )
    .unwrap();
    let out = rows(&mut s, "SELECT reason FROM flagged;");
    let reasons = strings(&out, "REASON");
    assert_eq!(reasons.iter().filter(|r| *r == "refund").count(), 7);
    let long = count(&rows(
        &mut s,
        "SELECT trip_id FROM trips WHERE trip_distance > 50;",
    ));
    assert_eq!(reasons.iter().filter(|r| *r == "long").count(), long);
}

/// `PARTITION BY NULL` removes the key: the old key becomes a value, and every row is kept.
#[test]
fn partition_by_null_removes_the_key() {
    let mut s = session_with(
        "CREATE STREAM src (id INT KEY, v STRING) WITH (PARTITIONS=3);
         CREATE STREAM keyless AS SELECT * FROM src PARTITION BY NULL;",
        Config::default(),
    );
    for (id, v) in [(1, "a"), (2, "b"), (1, "c")] {
        s.insert_json("src", &format!(r#"{{"id": {id}, "v": "{v}"}}"#), Some(id))
            .unwrap();
    }
    s.finish().unwrap();
    assert_eq!(
        s.stream_info("KEYLESS").map(|i| i.key_columns.len()),
        Some(0)
    );
    let out = rows(&mut s, "SELECT * FROM keyless;");
    let mut got: Vec<String> = strings(&out, "ID")
        .into_iter()
        .zip(strings(&out, "V"))
        .map(|(i, v)| format!("{i}{v}"))
        .collect();
    got.sort();
    assert_eq!(got, ["1a", "1c", "2b"]);
}

/// Declarations over one KAFKA_TOPIC share its records (as in ksqlDB): a record inserted
/// through either is read from both, each with its own columns; a query's result topic can
/// be declared again; a table cannot share a stream's topic.
#[test]
fn streams_over_one_topic_share_records() {
    let mut s = session_with(
        "CREATE STREAM k1 (id STRING KEY, v INT) WITH (KAFKA_TOPIC='events');
         INSERT INTO k1 VALUES ('a', 1);
         CREATE STREAM k2 (id STRING KEY, v INT, w STRING) WITH (KAFKA_TOPIC='events');
         INSERT INTO k2 VALUES ('b', 2, 'x');
         CREATE STREAM doubled AS SELECT id, v * 2 AS v2 FROM k1;
         CREATE STREAM again (id STRING KEY, v2 BIGINT) WITH (KAFKA_TOPIC='DOUBLED');",
        Config::default(),
    );
    assert!(s.shares_records("K1", "K2"));
    let topics = format!("{:?}", s.execute("SHOW TOPICS;").unwrap());
    assert!(topics.contains("K1, K2"), "{topics}");
    let k2 = rows(&mut s, "SELECT * FROM k2;");
    assert_eq!(strings(&k2, "ID"), ["a", "b"]);
    assert_eq!(strings(&k2, "W"), ["null", "x"]);
    assert_eq!(strings(&rows(&mut s, "SELECT * FROM k1;"), "V"), ["1", "2"]);
    assert_eq!(
        strings(&rows(&mut s, "SELECT * FROM again;"), "V2"),
        ["2", "4"]
    );
    let err = s
        .execute("CREATE TABLE t (id STRING PRIMARY KEY, v INT) WITH (KAFKA_TOPIC='events');")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("KAFKA_TOPIC 'events' is the topic of stream K1"),
        "{err}"
    );
}

/// Sharing a topic cannot make a loop or mix shapes: a query writing one declaration cannot
/// read another over the same topic, declarations must agree on key and types, and a query's
/// result cannot take a declared stream's topic.
#[test]
fn shared_topics_refuse_loops_and_other_shapes() {
    let mut s = session_with(
        "CREATE STREAM a (id INT KEY, v STRING) WITH (KAFKA_TOPIC='t');
         CREATE STREAM b (id INT KEY, v STRING) WITH (KAFKA_TOPIC='t');",
        Config::default(),
    );
    let err = |s: &mut weir::Session, sql: &str| s.execute(sql).unwrap_err().to_string();
    assert!(err(&mut s, "INSERT INTO a SELECT * FROM b;").contains("it would feed itself"));
    assert!(err(
        &mut s,
        "CREATE STREAM c (id STRING KEY, v STRING) WITH (KAFKA_TOPIC='t');"
    )
    .contains("its key columns differ"));
    assert!(err(
        &mut s,
        "CREATE STREAM d (id INT KEY, v INT) WITH (KAFKA_TOPIC='t');"
    )
    .contains("column V has another type"));
    assert!(err(
        &mut s,
        "CREATE STREAM e WITH (KAFKA_TOPIC='t') AS SELECT * FROM a;"
    )
    .contains("KAFKA_TOPIC 't' is already the topic of stream"));
}
