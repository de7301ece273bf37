//! Results do not depend on the partition count or the batch size: the same rows, and the same
//! order within each key.

use std::collections::BTreeMap;

use weir::Config;

use crate::common::*;

/// Rows grouped by key, each key's rows in output order.
fn by_key(partitions: usize, batch_rows: usize, threads: usize) -> BTreeMap<String, Vec<String>> {
    let setup = format!(
        "{}
         CREATE STREAM by_zone WITH (PARTITIONS={}) AS
           SELECT pickup_location_id, trip_id, fare_amount * 2 AS double_fare FROM trips
           WHERE trip_distance > 1.5
           PARTITION BY pickup_location_id;",
        taxi_ddl(partitions),
        partitions + 1
    );
    let config = Config::builder()
        .batch_max_rows(batch_rows)
        .threads(threads)
        .build()
        .unwrap();
    let mut s = session_with(&setup, config);
    let out = rows(&mut s, "SELECT * FROM by_zone;");
    let keys = strings(&out, "PICKUP_LOCATION_ID");
    let trips = strings(&out, "TRIP_ID");
    let fares = strings(&out, "DOUBLE_FARE");
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((k, t), f) in keys.into_iter().zip(trips).zip(fares) {
        grouped.entry(k).or_default().push(format!("{t}:{f}"));
    }
    grouped
}

#[test]
fn same_rows_and_per_key_order_for_any_partitions_and_batch_size() {
    let reference = by_key(1, 8192, 1);
    let total: usize = reference.values().map(Vec::len).sum();
    assert!(total > 5000, "{total}");
    // JFK (zone 132): trips in pickup order.
    assert!(reference["132"].windows(2).all(|w| w[0] < w[1]));
    for (partitions, batch, threads) in [(3, 8192, 2), (4, 7, 2), (2, 1000, 1), (1, 1, 1)] {
        assert_eq!(
            by_key(partitions, batch, threads),
            reference,
            "partitions={partitions} batch={batch}"
        );
    }
}

#[test]
fn limit_takes_the_first_rows_in_source_order() {
    let first_five = |partitions: usize| {
        let mut s = session_with(&taxi_ddl(partitions), Config::default());
        strings(
            &rows(
                &mut s,
                "SELECT trip_id FROM trips WHERE fare_amount > 50 LIMIT 5;",
            ),
            "TRIP_ID",
        )
    };
    let expected = [
        "T2019-00001",
        "T2019-00062",
        "T2019-00088",
        "T2019-00096",
        "T2019-00109",
    ];
    for partitions in [1, 2, 5] {
        assert_eq!(first_five(partitions), expected, "PARTITIONS={partitions}");
    }
}
