//! Stream–table joins (enrichment): taxi trips enriched with the TLC zone table. Expected
//! per-borough counts were computed independently (Python over the same files).

use weir::Config;

use crate::common::*;

fn zones_ddl(partitions: usize) -> String {
    format!(
        "CREATE TABLE zones (location_id INT PRIMARY KEY, borough STRING, zone STRING, service_zone STRING)
         WITH (PATH='{}/examples/data/nyc_taxi/zones.csv', VALUE_FORMAT='DELIMITED', HEADER=true, PARTITIONS={partitions});",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn per_borough(trip_partitions: usize, zone_partitions: usize) -> Vec<String> {
    let setup = format!(
        "{}{}
         CREATE TABLE per_borough AS
           SELECT z.borough AS borough, COUNT(*) AS trips
           FROM trips t JOIN zones z ON t.pickup_location_id = z.location_id
           GROUP BY z.borough;",
        taxi_ddl(trip_partitions),
        zones_ddl(zone_partitions)
    );
    let mut s = session_with(&setup, Config::default());
    let out = rows(&mut s, "SELECT * FROM per_borough;");
    let mut got: Vec<String> = strings(&out, "BOROUGH")
        .into_iter()
        .zip(strings(&out, "TRIPS"))
        .map(|(b, n)| format!("{b}:{n}"))
        .collect();
    got.sort();
    got
}

#[test]
fn trips_per_borough_match_independent_counts() {
    let expected = [
        "Bronx:13",
        "Brooklyn:127",
        "EWR:1",
        "Manhattan:9066",
        "Queens:572",
        "Unknown:221",
    ];
    assert_eq!(per_borough(2, 3), expected);
    assert_eq!(per_borough(1, 1), expected);
    assert_eq!(per_borough(4, 2), expected);
}

#[test]
fn left_join_keeps_unmatched_rows_with_nulls() {
    let setup = "CREATE STREAM orders (id INT KEY, customer STRING, amount DOUBLE);
                 CREATE TABLE customers (name STRING PRIMARY KEY, city STRING);";
    let mut s = session_with(setup, Config::default());
    s.insert_json(
        "customers",
        "{\"name\": \"ann\", \"city\": \"Oslo\"}",
        Some(0),
    )
    .unwrap();
    s.execute("INSERT INTO orders VALUES (1, 'ann', 10.0), (2, 'bob', 20.0), (3, NULL, 5.0);")
        .unwrap();
    let out = rows(
        &mut s,
        "SELECT o.id, c.city FROM orders o LEFT JOIN customers c ON o.customer = c.name;",
    );
    let got: Vec<String> = strings(&out, "ID")
        .into_iter()
        .zip(strings(&out, "CITY"))
        .map(|(i, c)| format!("{i}:{c}"))
        .collect();
    // Ann's row is older than the orders, so it is known; bob has no customer row and
    // order 3 has a NULL key (which never matches).
    assert_eq!(got, ["1:Oslo", "2:null", "3:null"]);
    let inner = rows(
        &mut s,
        "SELECT o.id, c.city FROM orders o JOIN customers c ON o.customer = c.name;",
    );
    assert_eq!(strings(&inner, "ID"), ["1"]);
}

#[test]
fn explain_shows_copartitioning() {
    let setup = format!(
        "{}
         CREATE STREAM by_zone (trip_id STRING, zone_id INT KEY) WITH (PARTITIONS=3);",
        zones_ddl(3)
    );
    let mut s = session_with(&setup, Config::default());
    let copartitioned = format!(
        "{:?}",
        s.execute("EXPLAIN SELECT b.trip_id, z.borough FROM by_zone b JOIN zones z ON b.zone_id = z.location_id;")
            .unwrap()
    );
    assert!(!copartitioned.contains("Exchange"), "{copartitioned}");
    s.execute("CREATE STREAM other (trip_id STRING, zone_id INT KEY) WITH (PARTITIONS=2);")
        .unwrap();
    let repartitioned = format!(
        "{:?}",
        s.execute("EXPLAIN SELECT o.trip_id, z.borough FROM other o JOIN zones z ON o.zone_id = z.location_id;")
            .unwrap()
    );
    assert!(
        repartitioned.contains("Exchange [2 -> 3 partitions by hash(ZONE_ID)]: JOIN: the stream is repartitioned by ZONE_ID to meet table ZONES's 3 partitions"),
        "{repartitioned}"
    );
}

#[test]
fn join_errors_are_clear() {
    let setup = format!("{}{}", taxi_ddl(1), zones_ddl(1));
    let mut s = session_with(&setup, Config::default());
    let err = s
        .execute("SELECT t.trip_id FROM trips t JOIN zones z ON t.pickup_location_id = z.borough;")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("stream-table joins require to join on the table's primary key"),
        "{err}"
    );
    let err = s
        .execute("SELECT a.trip_id FROM trips a JOIN trips b ON a.trip_id = b.trip_id;")
        .unwrap_err();
    assert!(err.to_string().contains("self joins"), "{err}");
    s.execute("CREATE STREAM more_trips (trip_id STRING, vendor_id INT KEY);")
        .unwrap();
    let err = s
        .execute("SELECT a.trip_id FROM trips a JOIN more_trips b ON a.vendor_id = b.vendor_id;")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Stream-Stream joins must have a WITHIN clause"),
        "{err}"
    );
}

fn flights_weather_ddl(partitions: usize) -> String {
    let data = |f: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(f)
            .display()
            .to_string()
    };
    format!(
        "CREATE STREAM flights (flight_id STRING, origin STRING KEY, sched_dep_ts BIGINT)
           WITH (PATH='{}', TIMESTAMP='sched_dep_ts', PARTITIONS={partitions});
         CREATE STREAM weather (origin STRING, temp DOUBLE, time_hour STRING, obs_ts BIGINT)
           WITH (PATH='{}', TIMESTAMP='obs_ts');",
        data("flights_2013-01-01_morning.jsonl"),
        data("weather_2013-01-01_morning.jsonl")
    )
}

/// Flights of 2013-01-01 05:00-11:59 joined with the weather observed at their airport in the
/// hour before departure. Expected values computed independently (Python over the same
/// files): every one of the 297 flights has exactly one observation in its hour.
#[test]
fn flights_with_the_weather_of_their_departure_hour() {
    for (partitions, batch) in [(1, 1000), (3, 7)] {
        let config = Config::builder().batch_max_rows(batch).build().unwrap();
        let mut s = session_with(&flights_weather_ddl(partitions), config);
        let plan = format!(
            "{:?}",
            s.execute(
                "EXPLAIN SELECT f.flight_id, w.temp FROM flights f JOIN weather w
                   WITHIN (3599999 MILLISECONDS, 0 MILLISECONDS) ON f.origin = w.origin;"
            )
            .unwrap()
        );
        assert!(plan.contains("INNER stream-stream"), "{plan}");
        // The flights are keyed by origin already; only the weather is repartitioned.
        assert_eq!(plan.matches("Exchange").count(), 1, "{plan}");
        let out = rows(
            &mut s,
            "SELECT f.flight_id AS flight, f.origin AS origin, w.temp AS temp, w.time_hour AS hour
             FROM flights f JOIN weather w WITHIN (3599999 MILLISECONDS, 0 MILLISECONDS)
             ON f.origin = w.origin;",
        );
        assert_eq!(count(&out), 297);
        assert!((sum(&out, "TEMP") - 11805.84).abs() < 1e-6);
        let mut per_origin = std::collections::BTreeMap::new();
        for o in strings(&out, "ORIGIN") {
            *per_origin.entry(o).or_insert(0) += 1;
        }
        assert_eq!(
            per_origin.into_iter().collect::<Vec<_>>(),
            [
                ("EWR".to_string(), 100),
                ("JFK".to_string(), 93),
                ("LGA".to_string(), 104)
            ]
        );
        let mut joined: Vec<(String, String, String)> = strings(&out, "FLIGHT")
            .into_iter()
            .zip(strings(&out, "TEMP"))
            .zip(strings(&out, "HOUR"))
            .map(|((f, t), h)| (f, t, h))
            .collect();
        joined.sort();
        assert_eq!(
            joined[0],
            (
                "2013-01-01/9E/3538/JFK".to_string(),
                "39.92".to_string(),
                "2013-01-01T13:00:00Z".to_string()
            )
        );
    }
}

/// With only the half hour before departure, 99 flights find no observation: a LEFT join
/// keeps them with NULL weather — once their window has closed (with a GRACE PERIOD), or as
/// they arrive (without one, ksqlDB's legacy rule; an observation at the very departure time
/// comes first, so no flight is emitted twice).
#[test]
fn left_join_keeps_flights_without_weather() {
    for grace in ["", " GRACE PERIOD 10 MINUTES"] {
        left_join_flights_weather(grace);
    }
}

fn left_join_flights_weather(grace: &str) {
    let mut s = session_with(&flights_weather_ddl(2), Config::default());
    let out = rows(
        &mut s,
        &format!(
            "SELECT f.flight_id AS flight, w.temp AS temp
             FROM flights f LEFT JOIN weather w WITHIN (30 MINUTES, 0 MINUTES){grace}
             ON f.origin = w.origin;"
        ),
    );
    let temps = strings(&out, "TEMP");
    assert_eq!(count(&out), 297);
    assert_eq!(temps.iter().filter(|t| *t == "null").count(), 99);
    let mut missing: Vec<String> = strings(&out, "FLIGHT")
        .into_iter()
        .zip(temps)
        .filter(|(_, t)| t == "null")
        .map(|(f, _)| f)
        .collect();
    missing.sort();
    assert_eq!(
        missing[..3],
        [
            "2013-01-01/AA/1141/JFK",
            "2013-01-01/AA/1357/JFK",
            "2013-01-01/AA/1623/EWR"
        ]
    );
}

#[test]
fn windowed_aggregation_over_a_join() {
    let setup = format!("{}{}", taxi_ddl(2), zones_ddl(3));
    let mut s = session_with(&setup, Config::default());
    let out = rows(
        &mut s,
        "SELECT z.borough AS borough, COUNT(*) AS n FROM trips t JOIN zones z ON t.pickup_location_id = z.location_id
         WINDOW TUMBLING (SIZE 31 DAYS) GROUP BY z.borough EMIT FINAL;",
    );
    // January 2019 starts a 31-day window (epoch-aligned) on 2018-12-27 and the next on
    // 2019-01-27: the per-borough totals over both windows are the whole month's.
    let mut totals = std::collections::BTreeMap::<String, u64>::new();
    for (b, n) in strings(&out, "BOROUGH").into_iter().zip(strings(&out, "N")) {
        *totals.entry(b).or_default() += n.parse::<u64>().unwrap();
    }
    assert_eq!(totals["Manhattan"], 9066);
    assert_eq!(totals["Queens"], 572);
}

#[test]
fn pull_query_on_a_table_file_reads_the_latest_row_per_key() {
    let path = temp_file(
        "tbl.csv",
        b"id,name,grp\n1,one,a\n2,two,b\n1,uno,a\n,nokey,c\n3,three,c\n2,dos,b\n",
    );
    let ddl = format!(
        "CREATE TABLE tb (id INT PRIMARY KEY, name STRING, grp STRING)
         WITH (PATH='{path}', VALUE_FORMAT='DELIMITED', HEADER=true, PARTITIONS=2);"
    );
    let mut s = session_with(&ddl, Config::default());
    let out = rows(&mut s, "SELECT id, name FROM tb;");
    let mut got: Vec<String> = strings(&out, "ID")
        .into_iter()
        .zip(strings(&out, "NAME"))
        .map(|(i, n)| format!("{i}:{n}"))
        .collect();
    got.sort();
    assert_eq!(got, ["1:uno", "2:dos", "3:three"]);
}

/// Flights enriched with their aircraft: 54 of the 297 tail numbers are not in the planes table
/// (a real gap of the data set); a LEFT join keeps those flights with NULL aircraft columns.
/// Expected values computed independently (Python over the same files).
#[test]
fn flights_left_join_planes_keeps_unknown_tail_numbers() {
    let data = |f: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(f)
            .display()
            .to_string()
    };
    let mut s = session_with(
        &format!(
            "CREATE STREAM flights (flight_id STRING, tailnum STRING, sched_dep_ts BIGINT)
               WITH (PATH='{}', TIMESTAMP='sched_dep_ts', PARTITIONS=2);
             CREATE TABLE planes (tailnum STRING PRIMARY KEY, manufacturer STRING, seats INT)
               WITH (PATH='{}', PARTITIONS=3);",
            data("flights_2013-01-01_morning.jsonl"),
            data("planes_2013-01-01_morning.jsonl")
        ),
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT f.flight_id AS flight, p.manufacturer AS maker
         FROM flights f LEFT JOIN planes p ON f.tailnum = p.tailnum;",
    );
    assert_eq!(count(&out), 297);
    let makers = strings(&out, "MAKER");
    let mut per_maker = std::collections::BTreeMap::new();
    for m in &makers {
        *per_maker.entry(m.as_str()).or_insert(0) += 1;
    }
    assert_eq!(per_maker["null"], 54);
    assert_eq!(per_maker["BOEING"], 84);
    assert_eq!(per_maker["AIRBUS"], 55);
    assert_eq!(per_maker["EMBRAER"], 39);
    let mut unknown: Vec<String> = strings(&out, "FLIGHT")
        .into_iter()
        .zip(makers)
        .filter(|(_, m)| m == "null")
        .map(|(f, _)| f)
        .collect();
    unknown.sort();
    assert_eq!(
        unknown[..3],
        [
            "2013-01-01/AA/1357/JFK",
            "2013-01-01/AA/1623/EWR",
            "2013-01-01/AA/1815/JFK"
        ]
    );
    let inner = rows(
        &mut s,
        "SELECT f.flight_id FROM flights f JOIN planes p ON f.tailnum = p.tailnum;",
    );
    assert_eq!(count(&inner), 297 - 54);
}

#[test]
fn table_table_joins_follow_updates_from_either_side() {
    let mut s = session_with(
        "CREATE TABLE users (id INT PRIMARY KEY, name STRING) WITH (PARTITIONS=2);
         CREATE TABLE scores (id INT PRIMARY KEY, score INT) WITH (PARTITIONS=2);
         CREATE TABLE joined AS
           SELECT u.id, u.name, s.score FROM users u LEFT JOIN scores s ON u.id = s.id;
         CREATE TABLE both_sides AS
           SELECT u.id, u.name, s.score FROM users u JOIN scores s ON u.id = s.id;
         CREATE TABLE everyone AS
           SELECT ROWKEY AS uid, s.id AS sid, u.name, s.score
           FROM users u FULL OUTER JOIN scores s ON u.id = s.id;",
        Config::default(),
    );
    for sql in [
        "INSERT INTO users VALUES (1, 'ann'), (2, 'bob');",
        "INSERT INTO scores VALUES (1, 10);",
        "INSERT INTO scores VALUES (1, 11), (3, 30);",
        "INSERT INTO users VALUES (2, 'bobby');",
    ] {
        s.execute(sql).unwrap();
    }
    let state = |s: &mut weir::Session, sql: &str, cols: &[&str]| {
        let out = rows(s, sql);
        let mut v: Vec<String> = (0..count(&out))
            .map(|i| {
                cols.iter()
                    .map(|c| strings(&out, c)[i].clone())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        v.sort();
        v
    };
    // The current state of each joined table (a pull query reads the latest row per key).
    assert_eq!(
        state(&mut s, "SELECT * FROM joined;", &["U_ID", "NAME", "SCORE"]),
        ["1|ann|11", "2|bobby|null"]
    );
    assert_eq!(
        state(
            &mut s,
            "SELECT * FROM both_sides;",
            &["U_ID", "NAME", "SCORE"]
        ),
        ["1|ann|11"]
    );
    // Score 30 has no user and bob no score: FULL OUTER keeps both; the result is keyed by
    // the synthetic ROWKEY, the first non-NULL of both keys, so the user-less row has key 3.
    let everyone = rows(&mut s, "SELECT * FROM everyone;");
    let mut pairs: Vec<String> = strings(&everyone, "UID")
        .into_iter()
        .zip(strings(&everyone, "SCORE"))
        .map(|(u, s)| format!("{u}:{s}"))
        .collect();
    pairs.sort();
    assert_eq!(pairs, ["1:11", "2:null", "3:30"]);
    let err = s
        .execute("SELECT u.id FROM users u JOIN scores s ON u.id = s.score;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "table-table joins require to join on the primary key of the right input table"
        ),
        "{err}"
    );
    s.execute("CREATE TABLE other (id INT PRIMARY KEY, x INT) WITH (PARTITIONS=3);")
        .unwrap();
    let err = s
        .execute("SELECT u.id FROM users u JOIN other o ON u.id = o.id;")
        .unwrap_err()
        .to_string();
    assert!(err.contains("number of partitions don't match"), "{err}");
}

/// Three-way join: each trip enriched with its pickup and its dropoff zone (the zones table
/// read twice). Expected counts computed independently (Python over the same files).
#[test]
fn trips_with_pickup_and_dropoff_boroughs() {
    for (trip_partitions, zone_partitions) in [(1, 1), (2, 3)] {
        let setup = format!(
            "{}{}",
            taxi_ddl(trip_partitions),
            zones_ddl(zone_partitions)
        );
        let mut s = session_with(&setup, Config::default());
        let out = rows(
            &mut s,
            "SELECT t.trip_id, p.borough AS pickup, d.borough AS dropoff
             FROM trips t
             JOIN zones p ON t.pickup_location_id = p.location_id
             JOIN zones d ON t.dropoff_location_id = d.location_id;",
        );
        assert_eq!(count(&out), 10_000);
        let pairs: Vec<(String, String)> = strings(&out, "PICKUP")
            .into_iter()
            .zip(strings(&out, "DROPOFF"))
            .collect();
        let n = |from: &str, to: &str| pairs.iter().filter(|(a, b)| a == from && b == to).count();
        assert_eq!(n("Manhattan", "Queens"), 261);
        assert_eq!(n("Queens", "Manhattan"), 315);
        assert_eq!(n("Manhattan", "Manhattan"), 8495);
    }
}

/// A stream-stream join feeding a stream-table join: orders matched with their payment
/// within a minute, then enriched with the customer.
#[test]
fn stream_stream_then_table_join() {
    let mut s = session_with(
        "CREATE STREAM orders (id INT KEY, customer INT, ts BIGINT) WITH (TIMESTAMP='ts');
         CREATE TABLE customers (id INT PRIMARY KEY, name STRING);
         CREATE STREAM payments (order_id INT KEY, amount DOUBLE, ts BIGINT) WITH (TIMESTAMP='ts');
         INSERT INTO customers (ROWTIME, id, name) VALUES (0, 1, 'ann'), (0, 2, 'bob');
         INSERT INTO orders VALUES (100, 1, 1000), (101, 2, 2000), (102, 3, 3000);
         INSERT INTO payments VALUES (100, 9.5, 1500), (101, 1.5, 900000), (102, 4.0, 3100);",
        Config::default(),
    );
    let out = rows(
        &mut s,
        "SELECT o.id, p.amount, c.name FROM orders o
         JOIN payments p WITHIN 1 MINUTE ON o.id = p.order_id
         LEFT JOIN customers c ON o.customer = c.id;",
    );
    let mut got: Vec<String> = (0..count(&out))
        .map(|i| {
            format!(
                "{}|{}|{}",
                // ID is a column of two sources: ksqlDB names the qualified one O_ID.
                strings(&out, "O_ID")[i],
                strings(&out, "AMOUNT")[i],
                strings(&out, "NAME")[i]
            )
        })
        .collect();
    got.sort();
    // Order 101's payment came 15 minutes late: no match within a minute.
    assert_eq!(got, ["100|9.5|ann", "102|4.0|null"]);
    // The table is looked up as of each row's event time: customers inserted now (ROWTIME =
    // wall clock) are not there yet for orders of 1970.
    s.execute("INSERT INTO customers VALUES (3, 'cyd');")
        .unwrap();
    s.execute(
        "INSERT INTO orders VALUES (103, 3, 4000); INSERT INTO payments VALUES (103, 1.0, 4100);",
    )
    .unwrap();
    let out = rows(
        &mut s,
        "SELECT o.id, c.name FROM orders o
         JOIN payments p WITHIN 1 MINUTE ON o.id = p.order_id
         LEFT JOIN customers c ON o.customer = c.id WHERE o.id = 103;",
    );
    assert_eq!(strings(&out, "NAME"), ["null"]);
}

/// A table with event times is looked up as of each stream row's time: every flight gets the
/// latest observation at its airport at or before its scheduled departure (not the last one
/// of the file). Expected values computed independently (Python over the same files).
#[test]
fn flights_see_the_weather_as_of_their_departure() {
    let data = |f: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(f)
            .display()
            .to_string()
    };
    for partitions in [1, 2] {
        let mut s = session_with(
            &format!(
                "CREATE STREAM flights (flight_id STRING, origin STRING KEY, sched_dep_ts BIGINT)
                   WITH (PATH='{}', TIMESTAMP='sched_dep_ts', PARTITIONS={partitions});
                 CREATE TABLE weather (origin STRING PRIMARY KEY, temp DOUBLE, obs_ts BIGINT)
                   WITH (PATH='{}', TIMESTAMP='obs_ts', PARTITIONS={partitions});",
                data("flights_2013-01-01_morning.jsonl"),
                data("weather_2013-01-01_morning.jsonl")
            ),
            Config::default(),
        );
        let out = rows(
            &mut s,
            "SELECT f.flight_id AS flight, w.temp AS temp
             FROM flights f LEFT JOIN weather w ON f.origin = w.origin;",
        );
        assert_eq!(count(&out), 297);
        assert!(
            (sum(&out, "TEMP") - 11_805.84).abs() < 1e-6,
            "{}",
            sum(&out, "TEMP")
        );
        let first = strings(&out, "FLIGHT")
            .into_iter()
            .zip(strings(&out, "TEMP"))
            .find(|(f, _)| f == "2013-01-01/UA/1545/EWR")
            .map(|(_, t)| t);
        assert_eq!(first.as_deref(), Some("39.02"));
    }
}

/// A stream join's output is keyed by the join expression: either side's join column may stand
/// for the key in the projection (the left one preferred), and it holds the key's value — for a
/// RIGHT join's unmatched right rows too. Leaving every join column out is an error naming them.
#[test]
fn a_join_is_keyed_by_its_join_expression() {
    let mut s = session_with(
        "CREATE STREAM l (id BIGINT KEY, name STRING);
         CREATE STREAM r (id BIGINT KEY, f1 STRING);
         CREATE STREAM rj AS SELECT l.id, name, f1 FROM l RIGHT JOIN r WITHIN 10 SECONDS ON l.id = r.id;
         CREATE STREAM ij AS SELECT r.*, l.name, l.id FROM l JOIN r WITHIN 10 SECONDS ON l.id = r.id;
         CREATE STREAM fj AS SELECT * FROM l FULL OUTER JOIN r WITHIN 10 SECONDS ON l.id = r.id;
         CREATE STREAM ej AS SELECT r.id, name, f1 FROM l LEFT JOIN r WITHIN 10 SECONDS ON l.id + 0 = r.id;",
        Config::builder().batch_max_rows(1).build().unwrap(),
    );
    s.insert_json("l", r#"{"id": 0, "name": "zero"}"#, Some(0))
        .unwrap();
    s.insert_json("r", r#"{"id": 0, "f1": "blah"}"#, Some(1000))
        .unwrap();
    s.insert_json("r", r#"{"id": 100, "f1": "new"}"#, Some(2000))
        .unwrap();
    s.finish().unwrap();
    let info = s.stream_info("RJ").unwrap();
    assert_eq!(info.key_columns, [0]);
    let got = rows(&mut s, "SELECT * FROM rj;");
    assert_eq!(strings(&got, "L_ID"), ["0", "100"]);
    assert_eq!(strings(&got, "NAME"), ["zero", "null"]);
    // A FULL join's key is neither side's column (either may be missing): it is the
    // synthetic ROWKEY, the first non-NULL of both, and `*` selects it first.
    assert_eq!(
        column_names(&s, "FJ"),
        ["ROWKEY", "L_ID", "L_NAME", "R_ID", "R_F1"]
    );
    let info = s.stream_info("FJ").unwrap();
    assert_eq!(info.key_columns, [0]);
    let got = rows(&mut s, "SELECT * FROM fj;");
    let keyed: Vec<String> = (0..count(&got))
        .map(|i| {
            ["ROWKEY", "L_ID", "R_F1"]
                .map(|c| strings(&got, c)[i].clone())
                .join("|")
        })
        .collect();
    assert_eq!(keyed, ["0|0|null", "0|0|blah", "100|null|new"]);
    let err = s
        .execute(
            "CREATE STREAM bad AS SELECT l.id, name FROM l FULL OUTER JOIN r WITHIN 10 SECONDS ON l.id = r.id;",
        )
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "must include the join expression ROWKEY in its projection (eg, SELECT ROWKEY...).\nROWKEY was added as a synthetic key column"
        ),
        "{err}"
    );
    // With an expression on the left, the right column stands for the key, with its value.
    // (The unmatched left row is emitted at once, before its match.)
    let got = rows(&mut s, "SELECT * FROM ej;");
    assert_eq!(strings(&got, "R_ID"), ["0", "0"]);
    assert_eq!(strings(&got, "F1"), ["null", "blah"]);
    // The left join column is the key; the right one stays a value column.
    let info = s.stream_info("IJ").unwrap();
    let key: Vec<&str> = info
        .key_columns
        .iter()
        .map(|&k| info.schema.field(k).name().as_str())
        .collect();
    assert_eq!(key, ["L_ID"]);
    let err = s
        .execute(
            "CREATE STREAM bad AS SELECT name, f1 FROM l JOIN r WITHIN 10 SECONDS ON l.id = r.id;",
        )
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "must include the join expressions L.ID or R.ID in its projection (eg, SELECT L.ID...)"
        ),
        "{err}"
    );
}

/// A foreign-key join whose foreign key and primary key have different types is refused (a
/// cast coercion would add to make them comparable does not hide it).
#[test]
fn foreign_key_join_types_must_match() {
    let mut s = session_with(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer STRING);
         CREATE TABLE customers (id BIGINT PRIMARY KEY, name STRING);",
        Config::default(),
    );
    let err = s
        .execute("SELECT o.id, name FROM orders o JOIN customers c ON o.customer = c.id;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "Invalid join condition: types don't match. Got O.CUSTOMER{STRING} = C.ID{BIGINT}."
        ),
        "{err}"
    );
}

/// A table-table LEFT join fed several rows per micro-batch: the joined row comes after the
/// left row alone (the result's positions follow the order its rows are made), so the latest
/// row per key is the joined one.
#[test]
fn table_join_results_keep_their_order_within_a_batch() {
    let mut s = session_with(
        "CREATE TABLE a (id INT PRIMARY KEY, x STRING);
         CREATE TABLE b (id INT PRIMARY KEY, y STRING);
         INSERT INTO a VALUES (1, 'a1'), (2, 'a2');
         INSERT INTO b VALUES (2, 'b2'), (3, 'b3');",
        Config::default(),
    );
    let out = rows(&mut s, "SELECT * FROM a LEFT JOIN b ON a.id = b.id;");
    let got: Vec<String> = (0..count(&out))
        .map(|i| format!("{}:{}", strings(&out, "A_X")[i], strings(&out, "B_Y")[i]))
        .collect();
    assert_eq!(got, ["a1:null", "a2:b2"]);
}
