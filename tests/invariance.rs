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
        .workers(threads)
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

/// Everything on worker 0 except the last partition (an embedder's own assignment).
#[derive(Debug)]
struct LastPartitionAlone;

impl weir::PartitionAssignor for LastPartitionAlone {
    fn name(&self) -> &str {
        "last-partition-alone"
    }
    fn assign(&self, partitions: usize, workers: usize) -> Vec<usize> {
        (0..partitions)
            .map(|p| usize::from(p + 1 == partitions && workers > 1))
            .collect()
    }
}

fn by_key_with(config: Config, settings: &str) -> BTreeMap<String, Vec<String>> {
    let setup = format!(
        "{settings}
         {}
         CREATE STREAM by_zone WITH (PARTITIONS=5) AS
           SELECT pickup_location_id, trip_id, fare_amount * 2 AS double_fare FROM trips
           WHERE trip_distance > 1.5
           PARTITION BY pickup_location_id;",
        taxi_ddl(3),
    );
    let mut s = session_with(&setup, config);
    let out = rows(&mut s, "SELECT * FROM by_zone;");
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, t) in strings(&out, "PICKUP_LOCATION_ID")
        .into_iter()
        .zip(strings(&out, "TRIP_ID"))
    {
        grouped.entry(k).or_default().push(t);
    }
    grouped
}

#[test]
fn any_partition_assignment_gives_the_same_results() {
    // Batches big enough (the whole file) that every epoch runs on several workers.
    let config = |workers| {
        Config::builder()
            .batch_max_rows(20_000)
            .workers(workers)
            .build()
            .unwrap()
    };
    let reference = by_key_with(config(1), "");
    for settings in [
        "SET 'workers'='3'; SET 'assignment.strategy'='round-robin';",
        "SET 'workers'='2'; SET 'assignment.strategy'='range';",
        "SET 'workers'='3'; SET 'assignment.static'='0:2, 1:2, 4:1'; SET 'assignment.strategy'='static';",
    ] {
        assert_eq!(by_key_with(config(1), settings), reference, "{settings}");
    }
    let custom = Config::builder()
        .batch_max_rows(20_000)
        .workers(2)
        .assignor(LastPartitionAlone)
        .build()
        .unwrap();
    assert_eq!(by_key_with(custom, ""), reference);
}

#[test]
fn show_assignments_and_live_reassignment() {
    let mut s = session_with(
        "SET 'workers'='2';
         CREATE STREAM s (k INT KEY, v INT) WITH (PARTITIONS=4);
         CREATE STREAM t WITH (PARTITIONS=4) AS SELECT k, v * 10 AS v10 FROM s;",
        Config::default(),
    );
    let shown = |s: &mut weir::Session| {
        let out = s.execute("SHOW ASSIGNMENTS;").unwrap();
        let Some(weir::ExecuteResult::Rows(batches)) = out.first() else {
            panic!("SHOW ASSIGNMENTS gives rows");
        };
        strings(batches, "PARTITIONS")
    };
    assert_eq!(shown(&mut s), ["0, 2", "1, 3"]);
    s.execute("INSERT INTO s VALUES (1, 1), (2, 2), (3, 3);")
        .unwrap();
    // The running query is reassigned at its next micro-batch.
    s.execute("SET 'workers'='3'; SET 'assignment.strategy'='range';")
        .unwrap();
    assert_eq!(shown(&mut s), ["0, 1", "2, 3"]);
    s.execute("INSERT INTO s VALUES (4, 4), (5, 5);").unwrap();
    let out = rows(&mut s, "SELECT k, v10 FROM t;");
    let mut got: Vec<(String, String)> = strings(&out, "K")
        .into_iter()
        .zip(strings(&out, "V10"))
        .collect();
    got.sort();
    let want: Vec<(String, String)> = (1..=5)
        .map(|i| (i.to_string(), (i * 10).to_string()))
        .collect();
    assert_eq!(got, want);
    let err = s
        .execute("SET 'assignment.strategy'='sticky';")
        .unwrap_err()
        .to_string();
    assert!(err.contains("round-robin, range or static"), "{err}");
}
