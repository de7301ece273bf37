//! Tables as changelogs: aggregating a table (updates move a row between groups, deletes take
//! it out), `HAVING` deleting groups that stop passing, and foreign-key table joins.

use weir::Config;

use crate::common::*;

#[test]
fn zones_per_borough_from_the_zone_table() {
    // Counted independently from zones.csv (Python's csv + Counter).
    let expected = [
        "Bronx:43",
        "Brooklyn:61",
        "EWR:1",
        "Manhattan:69",
        "Queens:69",
        "Staten Island:20",
        "Unknown:2",
    ];
    for partitions in [1, 3] {
        let mut s = session_with(
            &format!(
                "CREATE TABLE zones (location_id INT PRIMARY KEY, borough STRING, zone STRING, service_zone STRING)
                   WITH (PATH='{}/examples/data/nyc_taxi/zones.csv', VALUE_FORMAT='DELIMITED', HEADER=true, PARTITIONS={partitions});
                 CREATE TABLE per_borough AS
                   SELECT borough, COUNT(*) AS zones FROM zones GROUP BY borough;",
                env!("CARGO_MANIFEST_DIR")
            ),
            Config::default(),
        );
        s.finish().unwrap();
        let out = rows(&mut s, "SELECT * FROM per_borough;");
        let mut got: Vec<String> = strings(&out, "BOROUGH")
            .into_iter()
            .zip(strings(&out, "ZONES"))
            .map(|(b, n)| format!("{b}:{n}"))
            .collect();
        got.sort();
        assert_eq!(got, expected, "{partitions} partitions");
    }
}

fn per_region(partitions: usize, batch: usize) -> (Vec<String>, Vec<String>) {
    let mut s = session_with(
        &format!(
            "CREATE TABLE users (id INT PRIMARY KEY, name STRING, region STRING, age INT)
               WITH (PARTITIONS={partitions});
             CREATE TABLE per_region AS
               SELECT region, COUNT(*) AS users, SUM(age) AS ages, COLLECT_LIST(name) AS names
               FROM users WHERE age >= 18 GROUP BY region;"
        ),
        Config::builder().batch_max_rows(batch).build().unwrap(),
    );
    let mut t = 0;
    let mut put = |s: &mut weir::Session, json: &str| {
        t += 10;
        s.insert_json("users", json, Some(t)).unwrap();
        s.settle();
    };
    put(
        &mut s,
        r#"{"id": 1, "name": "ann", "region": "north", "age": 30}"#,
    );
    put(
        &mut s,
        r#"{"id": 2, "name": "bob", "region": "north", "age": 40}"#,
    );
    put(
        &mut s,
        r#"{"id": 3, "name": "cyd", "region": "south", "age": 50}"#,
    );
    // Bob moves south: out of north, into south.
    put(
        &mut s,
        r#"{"id": 2, "name": "bob", "region": "south", "age": 41}"#,
    );
    // Too young: the filter drops the new row, so cyd's old row only leaves.
    put(
        &mut s,
        r#"{"id": 3, "name": "cyd", "region": "south", "age": 12}"#,
    );
    // A row that was filtered out leaves nothing to take back.
    put(
        &mut s,
        r#"{"id": 3, "name": "cyd", "region": "south", "age": 13}"#,
    );
    s.delete_json("users", r#"{"id": 1}"#, Some(100)).unwrap();
    s.finish().unwrap();
    let log = changelog(&mut s, "per_region", &["REGION", "USERS", "AGES", "NAMES"]);
    let state = rows(&mut s, "SELECT * FROM per_region;");
    let mut state: Vec<String> = (0..count(&state))
        .map(|i| {
            ["REGION", "USERS", "AGES", "NAMES"]
                .iter()
                .map(|c| strings(&state, c)[i].clone())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    state.sort();
    (log, state)
}

#[test]
fn updates_move_rows_between_groups_and_deletes_take_them_out() {
    let (log, state) = per_region(1, 1);
    assert_eq!(
        log,
        [
            "north/1/30/[ann]/false",
            "north/2/70/[ann, bob]/false",
            "south/1/50/[cyd]/false",
            "north/1/30/[ann]/false",
            "south/2/91/[cyd, bob]/false",
            "south/1/41/[bob]/false",
            "north/0/0/[]/false",
        ]
    );
    // An emptied group stays, with COUNT 0, SUM 0 and an empty COLLECT_LIST (as in ksqlDB).
    assert_eq!(state, ["north/0/0/[]", "south/1/41/[bob]"]);
    // The same state whatever the partitioning and batching.
    assert_eq!(per_region(3, 1).1, state);
    assert_eq!(per_region(2, 1000).1, state);
}

#[test]
fn having_deletes_a_group_that_stops_passing() {
    for batch in [1, 1000] {
        let mut s = session_with(
            "CREATE STREAM readings (sensor STRING KEY, v INT);
             CREATE TABLE hot AS SELECT sensor, AVG(v) AS mean FROM readings
               GROUP BY sensor HAVING AVG(v) > 25;",
            Config::builder().batch_max_rows(batch).build().unwrap(),
        );
        let inserts = [
            "('a', 50)", // a: 50, passes
            "('a', 10)", // a: 30, passes
            "('b', 10)", // b: 10, never passed: nothing
            "('a', 15)", // a: 25, stops passing: tombstone
            "('b', 90)", // b: 50, passes
        ];
        for values in inserts {
            s.execute(&format!("INSERT INTO readings VALUES {values};"))
                .unwrap();
            s.settle();
        }
        s.finish().unwrap();
        let log = changelog(&mut s, "hot", &["SENSOR", "MEAN"]);
        if batch == 1 {
            assert_eq!(
                log,
                [
                    "a/50.0/false",
                    "a/30.0/false",
                    "a/null/true",
                    "b/50.0/false"
                ]
            );
        }
        // A push query over the changelog flags its deletions in a trailing ROWDELETED.
        let q = s
            .query("SELECT sensor, mean FROM hot EMIT CHANGES;")
            .unwrap();
        assert_eq!(q.deleted_column(), Some(2));
        assert_eq!(q.schema().field(2).name(), "ROWDELETED");
        let out = q.collect_batches().unwrap();
        let deletes = strings(&out, "ROWDELETED")
            .iter()
            .filter(|d| *d == "true")
            .count();
        // (Each insert was settled before the next, so both batch sizes saw every update.)
        assert_eq!(deletes, 1, "batch {batch}");
        // Either way, the table holds b only.
        let state = rows(&mut s, "SELECT * FROM hot;");
        assert_eq!(strings(&state, "SENSOR"), ["b"], "batch {batch}");
    }
}

fn data(f: &str) -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(f)
        .display()
        .to_string()
}

/// Foreign-key table join: flights (a table keyed by flight id) refer to their aircraft by
/// tail number. 54 of the 297 tail numbers are not in the planes table (computed
/// independently with Python over the same files): LEFT keeps them, INNER drops them.
#[test]
fn foreign_key_join_of_flights_and_planes() {
    for partitions in [1, 3] {
        let mut s = session_with(
            &format!(
                "CREATE TABLE flights (flight_id STRING PRIMARY KEY, tailnum STRING, origin STRING)
                   WITH (PATH='{}', PARTITIONS={partitions});
                 CREATE TABLE planes (tailnum STRING PRIMARY KEY, manufacturer STRING, seats INT)
                   WITH (PATH='{}', PARTITIONS=2);
                 CREATE TABLE flight_planes AS
                   SELECT f.flight_id, f.tailnum AS tail, p.manufacturer
                   FROM flights f LEFT JOIN planes p ON f.tailnum = p.tailnum;
                 CREATE TABLE known AS
                   SELECT f.flight_id, p.seats FROM flights f JOIN planes p ON f.tailnum = p.tailnum;",
                data("flights_2013-01-01_morning.jsonl"),
                data("planes_2013-01-01_morning.jsonl"),
            ),
            Config::default(),
        );
        s.finish().unwrap();
        let all = rows(&mut s, "SELECT * FROM flight_planes;");
        assert_eq!(count(&all), 297, "{partitions} partitions");
        let unknown = strings(&all, "MANUFACTURER")
            .iter()
            .filter(|m| *m == "null")
            .count();
        assert_eq!(unknown, 54);
        assert_eq!(count(&rows(&mut s, "SELECT * FROM known;")), 243);
    }
}

#[test]
fn foreign_key_join_follows_both_sides() {
    let mut s = session_with(
        "CREATE TABLE orders (id INT PRIMARY KEY, customer INT, total DOUBLE);
         CREATE TABLE customers (id INT PRIMARY KEY, name STRING);
         CREATE TABLE named AS SELECT o.id, o.total, c.name
           FROM orders o JOIN customers c ON o.customer = c.id;",
        Config::builder().batch_max_rows(1).build().unwrap(),
    );
    let mut t = 0;
    let mut put = |s: &mut weir::Session, table: &str, json: &str| {
        t += 10;
        s.insert_json(table, json, Some(t)).unwrap();
        s.settle();
    };
    put(&mut s, "customers", r#"{"id": 7, "name": "ann"}"#);
    put(
        &mut s,
        "orders",
        r#"{"id": 1, "customer": 7, "total": 5.0}"#,
    );
    put(
        &mut s,
        "orders",
        r#"{"id": 2, "customer": 7, "total": 9.0}"#,
    );
    put(
        &mut s,
        "orders",
        r#"{"id": 3, "customer": 8, "total": 1.0}"#,
    );
    // A right update reaches every order that refers to it.
    put(&mut s, "customers", r#"{"id": 7, "name": "anne"}"#);
    // Order 2 moves to a customer that does not exist yet: it leaves the INNER join.
    put(
        &mut s,
        "orders",
        r#"{"id": 2, "customer": 8, "total": 9.0}"#,
    );
    put(&mut s, "customers", r#"{"id": 8, "name": "bob"}"#);
    s.delete_json("customers", r#"{"id": 7}"#, Some(100))
        .unwrap();
    s.finish().unwrap();
    assert_eq!(
        changelog(&mut s, "named", &["O_ID", "NAME"]),
        [
            "1/ann/false",
            "2/ann/false",
            "1/anne/false",
            "2/anne/false",
            "2/null/true",
            "3/bob/false",
            "2/bob/false",
            "1/null/true",
        ]
    );
}
