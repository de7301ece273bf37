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
                 CREATE TABLE customers (name STRING PRIMARY KEY, city STRING);
                 INSERT INTO orders VALUES (1, 'ann', 10.0), (2, 'bob', 20.0), (3, NULL, 5.0);";
    let mut s = session_with(setup, Config::default());
    s.insert_json("customers", "{\"name\": \"ann\", \"city\": \"Oslo\"}", None)
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
    // Within a micro-batch the table side is applied first, so ann is known; bob has no
    // customer row and order 3 has a NULL key (which never matches).
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
    assert!(err.to_string().contains("stream-stream joins"), "{err}");
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
