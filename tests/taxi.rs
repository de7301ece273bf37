//! Filter, projection and PARTITION BY over 10,000 real taxi trips. Expected values were
//! computed independently (Python over the same JSON file) and written here.

use std::collections::BTreeMap;

use weir::Config;

use crate::common::*;

#[test]
fn filter_and_project_airport_trips() {
    let mut s = session_with(&taxi_ddl(2), Config::default());
    let out = rows(
        &mut s,
        "SELECT trip_id, total_amount, ROUND(tip_amount / fare_amount * 100, 1) AS tip_pct
         FROM trips WHERE rate_code_id IN (2, 3) AND fare_amount > 0;",
    );
    assert_eq!(count(&out), 221);
    assert!((sum(&out, "TOTAL_AMOUNT") - 15029.79).abs() < 1e-6);
    assert_eq!(
        out[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        ["TRIP_ID", "TOTAL_AMOUNT", "TIP_PCT"]
    );
}

#[test]
fn negative_totals_in_source_order() {
    let mut s = session_with(&taxi_ddl(1), Config::default());
    let out = rows(
        &mut s,
        "SELECT trip_id FROM trips WHERE total_amount < 0 EMIT CHANGES;",
    );
    assert_eq!(
        strings(&out, "TRIP_ID")[..5],
        [
            "T2019-02095",
            "T2019-02325",
            "T2019-02432",
            "T2019-04931",
            "T2019-05122"
        ]
    );
    assert_eq!(count(&out), 7);
}

#[test]
fn partition_by_payment_type_counts_and_sums() {
    let setup = format!(
        "{}
         CREATE STREAM big_fares WITH (PARTITIONS=3) AS
           SELECT payment_type, trip_id, total_amount FROM trips WHERE total_amount > 50
           PARTITION BY payment_type;",
        taxi_ddl(2)
    );
    let mut s = session_with(&setup, Config::default());
    let out = rows(&mut s, "SELECT * FROM big_fares;");
    let mut per_key: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let keys = strings(&out, "PAYMENT_TYPE");
    let totals = strings(&out, "TOTAL_AMOUNT");
    for (k, t) in keys.iter().zip(&totals) {
        let e = per_key.entry(k.clone()).or_default();
        e.0 += 1;
        e.1 += t.parse::<f64>().unwrap();
    }
    let expected = [
        ("1", 326, 22034.92),
        ("2", 56, 6842.88),
        ("3", 2, 708.95),
        ("4", 2, 117.12),
    ];
    assert_eq!(per_key.len(), expected.len());
    for (k, n, total) in expected {
        let (got_n, got_total) = per_key[k];
        assert_eq!(got_n, n, "count for payment type {k}");
        assert!(
            (got_total - total).abs() < 1e-6,
            "sum for payment type {k}: {got_total}"
        );
    }
    // The derived stream is keyed by payment type over 3 partitions.
    let describe = s.execute("DESCRIBE big_fares;").unwrap();
    let text = format!("{describe:?}");
    assert!(
        text.contains("3 partitions by hash(PAYMENT_TYPE)"),
        "{text}"
    );
}

#[test]
fn explain_shows_the_exchange_and_why() {
    let mut s = session_with(&taxi_ddl(2), Config::default());
    let out = s
        .execute("EXPLAIN SELECT trip_id FROM trips WHERE fare_amount > 10 PARTITION BY pickup_location_id;")
        .unwrap();
    let text = format!("{out:?}");
    assert!(
        text.contains("Exchange [2 -> 2 partitions by hash(PICKUP_LOCATION_ID)]: PARTITION BY PICKUP_LOCATION_ID re-keys the stream"),
        "{text}"
    );
    // Partitioning by the key the stream already has needs no exchange.
    let out = s
        .execute("EXPLAIN SELECT vendor_id, trip_id FROM trips PARTITION BY vendor_id;")
        .unwrap();
    let text = format!("{out:?}");
    assert!(!text.contains("Exchange"), "{text}");
    assert!(text.contains("2 partitions by hash(VENDOR_ID)"), "{text}");
}

#[test]
fn csv_file_with_header_reads_as_delimited() {
    let path = format!(
        "{}/examples/data/nyc_taxi/trips_2019-q1_first3000.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let header = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let columns: Vec<String> = header
        .split(',')
        .map(|c| match c {
            "trip_id" | "pickup_datetime" | "dropoff_datetime" | "store_and_fwd_flag" => {
                format!("{c} STRING")
            }
            "pickup_ts" | "dropoff_ts" => format!("{c} BIGINT"),
            "vendor_id"
            | "passenger_count"
            | "rate_code_id"
            | "pickup_location_id"
            | "dropoff_location_id"
            | "payment_type" => format!("{c} INT"),
            _ => format!("{c} DOUBLE"),
        })
        .collect();
    let ddl = format!(
        "CREATE STREAM q1 ({}) WITH (PATH='{path}', VALUE_FORMAT='DELIMITED', HEADER=true);",
        columns.join(", ")
    );
    let mut s = session_with(&ddl, Config::default());
    let out = rows(&mut s, "SELECT trip_id FROM q1;");
    assert_eq!(count(&out), 3000);
    assert_eq!(s.query("SELECT * FROM q1;").unwrap().stats().bad_records, 0);
}
