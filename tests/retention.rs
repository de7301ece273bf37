//! Long runs stay within bounded state: closed windows are freed, and a windowed table keeps
//! only the windows of its RETENTION.

use std::io::Write;

use weir::{Config, Session};

use crate::common::{count, rows, session_with, strings, temp_file};

/// 200,000 readings of 50 sensors, one every 10 ms (2,000 seconds of event time), as JSON
/// lines in a file named `name`.
fn long_input(name: &str) -> String {
    let mut text = Vec::with_capacity(8 << 20);
    for i in 0..200_000u64 {
        writeln!(
            text,
            r#"{{"sensor":"s{}","v":{},"ts":{}}}"#,
            i % 50,
            i % 7,
            i * 10
        )
        .unwrap();
    }
    temp_file(name, &text)
}

fn ddl(path: &str) -> String {
    format!(
        "CREATE STREAM readings (sensor STRING KEY, v INT, ts BIGINT)
           WITH (PATH='{path}', TIMESTAMP='ts');"
    )
}

#[test]
fn closed_windows_are_freed_so_state_stays_flat() {
    let input = long_input("flat.jsonl");
    let mut s = session_with(
        &ddl(&input),
        Config::builder().batch_max_rows(1000).build().unwrap(),
    );
    let mut q = s
        .query(
            "SELECT sensor, COUNT(*) AS n, SUM(v) AS total FROM readings
             WINDOW TUMBLING (SIZE 1 SECOND, GRACE PERIOD 0 SECONDS) GROUP BY sensor EMIT FINAL;",
        )
        .unwrap();
    let out: Vec<_> = q.by_ref().collect::<weir::Result<_>>().unwrap();
    // Every window of every sensor, once: 2,000 windows x 50 sensors, 2 readings each.
    assert_eq!(count(&out), 100_000);
    assert!(strings(&out, "N").iter().all(|n| n == "2"));
    let stats = q.stats();
    // A micro-batch of 1,000 readings spans 10 windows (500 groups); the watermark closes
    // them at its end. State never grows with the length of the run.
    assert!(
        stats.peak_state_groups <= 600,
        "peak state {} groups",
        stats.peak_state_groups
    );
    assert_eq!(stats.state_groups, 0, "everything is freed at the end");
}

fn windows_kept(retention: &str, batch: usize) -> (usize, Vec<String>) {
    let input = long_input(&format!("kept{}-{batch}.jsonl", retention.len()));
    let mut s = Session::new(Config::builder().batch_max_rows(batch).build().unwrap());
    s.execute(&ddl(&input)).unwrap();
    s.execute(&format!(
        "CREATE TABLE per_second AS SELECT sensor, COUNT(*) AS n FROM readings
           WINDOW TUMBLING (SIZE 1 SECOND, GRACE PERIOD 0 SECONDS{retention}) GROUP BY sensor;"
    ))
    .unwrap();
    s.finish().unwrap();
    let state = rows(&mut s, "SELECT * FROM per_second;");
    let mut starts = strings(&state, "WINDOWSTART");
    starts.sort_by_key(|s| s.parse::<i64>().unwrap());
    starts.dedup();
    (count(&state), starts)
}

#[test]
fn a_windowed_table_keeps_the_windows_of_its_retention() {
    let (all, starts) = windows_kept("", 1000);
    assert_eq!(all, 100_000);
    assert_eq!(starts.len(), 2000);
    // RETENTION 10 SECONDS: windows that ended more than 10 s before stream time (1999.99 s)
    // are gone — the 11 windows ending at 1990 s .. 2000 s are left, however rows were batched.
    for batch in [1000, 8192] {
        let (kept, starts) = windows_kept(", RETENTION 10 SECONDS", batch);
        assert_eq!(starts.len(), 11, "batch {batch}");
        assert_eq!(kept, 11 * 50, "batch {batch}");
        assert_eq!(starts.first().map(String::as_str), Some("1989000"));
        assert_eq!(starts.last().map(String::as_str), Some("1999000"));
    }
}

#[test]
fn retention_shorter_than_a_window_is_refused() {
    let mut s = Session::new(Config::default());
    s.execute("CREATE STREAM r (k STRING KEY, ts BIGINT) WITH (TIMESTAMP='ts');")
        .unwrap();
    let err = s
        .execute(
            "CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM r
             WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 10 MINUTES, RETENTION 1 HOUR) GROUP BY k;",
        )
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "RETENTION (3600000 ms) must not be less than the window size plus the grace period"
        ),
        "{err}"
    );
    // Without an explicit grace period, the retention bounds it.
    s.execute(
        "CREATE TABLE t AS SELECT k, COUNT(*) AS n FROM r
         WINDOW TUMBLING (SIZE 1 HOUR, RETENTION 2 HOURS) GROUP BY k;",
    )
    .unwrap();
}
