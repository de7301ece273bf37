//! Throughput of stateless queries on Nexmark-style bid events (q0 pass-through, q1 projection
//! with arithmetic, q2 filter):
//! (a) from an in-memory Arrow source, (b) from a JSON-lines file, beside the baseline
//! "arrow-json decode of the same file, nothing else" measured in the same process;
//! (c) a tumbling-window aggregation beside q0 — from memory, and end to end from the JSON
//! file (decode included, as Nexmark's q0 includes its source); (d) a stream-table join,
//! copartitioned against one that must repartition every event.
//!
//! Run with `cargo bench --bench throughput` (release build). Figures are events per second on
//! one thread (`threads = 1`, one partition): events/s per core.

use std::io::{BufReader, Write};
use std::sync::Arc;
use std::time::Instant;

use weir::arrow::array::{Int64Array, RecordBatch, StringArray};
use weir::arrow::datatypes::{DataType, Field, Schema};
use weir::{Config, Session};

const BATCH: usize = 8192;

fn bids_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("AUCTION", DataType::Int64, true),
        Field::new("BIDDER", DataType::Int64, true),
        Field::new("PRICE", DataType::Int64, true),
        Field::new("CHANNEL", DataType::Utf8, true),
        Field::new("DATE_TIME", DataType::Int64, true),
    ]))
}

/// Deterministic pseudo-random bids (a small LCG; no external generator needed).
fn bids(n: usize) -> Vec<RecordBatch> {
    let channels = ["Google", "Facebook", "Baidu", "Apple"];
    let mut state: u64 = 42;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let len = BATCH.min(n - start);
        let auction: Int64Array = (0..len).map(|_| 1000 + (next() % 10_000) as i64).collect();
        let bidder: Int64Array = (0..len).map(|_| (next() % 100_000) as i64).collect();
        let price: Int64Array = (0..len)
            .map(|_| 100 + (next() % 1_000_000) as i64)
            .collect();
        let channel: StringArray = (0..len)
            .map(|_| Some(channels[(next() % 4) as usize]))
            .collect();
        let date_time: Int64Array = (0..len)
            .map(|i| 1_546_300_800_000 + (start + i) as i64)
            .collect();
        out.push(
            RecordBatch::try_new(
                bids_schema(),
                vec![
                    Arc::new(auction),
                    Arc::new(bidder),
                    Arc::new(price),
                    Arc::new(channel),
                    Arc::new(date_time),
                ],
            )
            .expect("valid batch"),
        );
        start += len;
    }
    out
}

const TUMBLING: &str = "SELECT auction, COUNT(*) AS bids, MAX(price) AS top FROM bids \
     WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY auction EMIT FINAL;";

const QUERIES: [(&str, &str); 3] = [
    ("q0 pass-through", "SELECT * FROM bids;"),
    (
        "q1 projection",
        "SELECT auction, bidder, price * 908 / 1000 AS price_eur, date_time FROM bids;",
    ),
    (
        "q2 filter",
        "SELECT auction, price FROM bids WHERE auction % 123 = 0;",
    ),
];

fn run(session: &mut Session, sql: &str) -> (usize, f64) {
    let start = Instant::now();
    let rows: usize = session
        .query(sql)
        .expect("query starts")
        .map(|b| b.expect("batch").num_rows())
        .sum();
    (rows, start.elapsed().as_secs_f64())
}

fn best_of(times: usize, mut f: impl FnMut() -> (usize, f64)) -> (usize, f64) {
    (0..times)
        .map(|_| f())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one run")
}

fn config() -> Config {
    Config::builder()
        .workers(1)
        .batch_max_rows(BATCH)
        .build()
        .expect("valid config")
}

fn main() {
    let n: usize = std::env::var("WEIR_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let data = bids(n);
    // `WEIR_BENCH_ONLY=c` (or `ad`, ...) runs only those sections.
    let only = std::env::var("WEIR_BENCH_ONLY").unwrap_or_default();
    let wants = |section: &str| only.is_empty() || only.contains(section);
    println!("Weir throughput, {n} bid events, 1 thread, batches of {BATCH}");

    if wants("a") {
        // (a) In-memory Arrow source.
        println!("\n(a) in-memory source (target: >= 5M events/s per core)");
        for (name, sql) in QUERIES {
            let (rows, secs) = best_of(3, || {
                let mut s = Session::new(config());
                s.execute("CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, date_time BIGINT);")
                    .expect("ddl");
                for b in &data {
                    s.push("bids", b.clone()).expect("push");
                }
                s.close_stream("bids").expect("close");
                run(&mut s, sql)
            });
            println!(
                "  {name:<16} {:>7.2} M events/s  ({rows} rows out)",
                n as f64 / secs / 1e6
            );
        }
    }
    if wants("c") {
        // (c) Tumbling-window aggregation (Nexmark q5/q7-like), beside q0 of this run.
        // In memory, q0 is zero-copy (a few ns per event): the end-to-end comparison, with the
        // JSON decode both pay, is in (b).
        println!("\n(c) tumbling window COUNT/MAX per auction, in memory, beside q0 (end to end: see (b))");
        let ddl = "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, date_time BIGINT) \
                   WITH (TIMESTAMP='date_time');";
        let mut rates = Vec::new();
        for (name, sql) in [
            ("q0 pass-through", "SELECT * FROM bids;"),
            ("tumbling 10 s", TUMBLING),
            (
                "tumbling CHANGES",
                "SELECT auction, COUNT(*) AS bids, MAX(price) AS top FROM bids \
                 WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 0 SECONDS) GROUP BY auction EMIT CHANGES;",
            ),
            (
                "group by CHANGES",
                "SELECT bidder, COUNT(*) AS bids, MAX(price) AS top FROM bids GROUP BY bidder EMIT CHANGES;",
            ),
        ] {
            let (rows, secs) = best_of(3, || {
                let mut s = Session::new(config());
                s.execute(ddl).expect("ddl");
                for b in &data {
                    s.push("bids", b.clone()).expect("push");
                }
                s.close_stream("bids").expect("close");
                run(&mut s, sql)
            });
            let rate = n as f64 / secs;
            rates.push(rate);
            let ratio = rate / rates[0];
            println!("  {name:<16} {:>7.2} M events/s  ({ratio:.3} of q0, {rows} rows out)", rate / 1e6);
        }
    }
    if wants("d") {
        // (d) Stream-table join: copartitioned (bids keyed by auction, 4 partitions like the
        // table: no exchange) against forced (bids keyed by bidder: every bid is repartitioned).
        println!("\n(d) stream-table join on auction, 4 partitions, 1 worker");
        let auctions = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("ID", DataType::Int64, true),
                Field::new("CATEGORY", DataType::Utf8, true),
            ])),
            vec![
                Arc::new((1000..11_000).collect::<Int64Array>()),
                Arc::new(
                    (0..10_000)
                        .map(|i| Some(["books", "toys", "garden", "music"][i % 4]))
                        .collect::<StringArray>(),
                ),
            ],
        )
        .expect("auctions");
        let join_sql =
            "SELECT b.auction, b.price, a.category FROM bids b JOIN auctions a ON b.auction = a.id;";
        let mut join_rates = Vec::new();
        for (name, key) in [("copartitioned", "auction"), ("exchange", "bidder")] {
            let ddl = format!(
                "CREATE STREAM bids (auction BIGINT{}, bidder BIGINT{}, price BIGINT, channel STRING, date_time BIGINT) \
                 WITH (PARTITIONS=4); CREATE TABLE auctions (id BIGINT PRIMARY KEY, category STRING) WITH (PARTITIONS=4);",
                if key == "auction" { " KEY" } else { "" },
                if key == "bidder" { " KEY" } else { "" },
            );
            let (rows, secs) = best_of(3, || {
                let mut s = Session::new(config());
                s.execute(&ddl).expect("ddl");
                s.push("auctions", auctions.clone()).expect("push auctions");
                s.close_stream("auctions").expect("close");
                for b in &data {
                    s.push("bids", b.clone()).expect("push");
                }
                s.close_stream("bids").expect("close");
                run(&mut s, join_sql)
            });
            let rate = n as f64 / secs;
            join_rates.push(rate);
            println!(
                "  {name:<16} {:>7.2} M events/s  ({:.2} of copartitioned, {rows} rows out)",
                rate / 1e6,
                rate / join_rates[0]
            );
        }
    }
    if wants("b") {
        // (b) JSON-lines file.
        let path =
            std::env::temp_dir().join(format!("weir-bench-bids-{}.jsonl", std::process::id()));
        {
            let file = std::fs::File::create(&path).expect("create bench file");
            let mut w = weir::arrow::json::LineDelimitedWriter::new(std::io::BufWriter::new(file));
            for b in &data {
                w.write(b).expect("write");
            }
            w.finish().expect("finish");
            w.into_inner().flush().expect("flush");
        }
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "\n(b) JSON-lines file ({:.0} MB; targets: >= 0.8 of the decode-only baseline; tumbling >= 0.5 of q0)",
            bytes as f64 / 1e6
        );
        let (base_rows, base_secs) = best_of(3, || {
            let start = Instant::now();
            let file = std::fs::File::open(&path).expect("open");
            let reader = weir::arrow::json::ReaderBuilder::new(bids_schema())
                .with_batch_size(BATCH)
                .build(BufReader::new(file))
                .expect("reader");
            let rows: usize = reader.map(|b| b.expect("decode").num_rows()).sum();
            (rows, start.elapsed().as_secs_f64())
        });
        assert_eq!(base_rows, n);
        let base = n as f64 / base_secs;
        println!(
            "  {:<16} {:>7.2} M events/s  (baseline, 1.00)",
            "arrow-json decode",
            base / 1e6
        );
        let mut q0 = None;
        let tumbling = ("tumbling 10 s", TUMBLING);
        for (name, sql) in QUERIES.into_iter().chain([tumbling]) {
            let ddl = format!(
                "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, date_time BIGINT) \
                 WITH (PATH='{}', VALUE_FORMAT='JSON', TIMESTAMP='date_time');",
                path.display()
            );
            let (rows, secs) = best_of(3, || {
                let mut s = Session::new(config());
                s.execute(&ddl).expect("ddl");
                run(&mut s, sql)
            });
            let rate = n as f64 / secs;
            let q0 = *q0.get_or_insert(rate);
            println!(
                "  {name:<16} {:>7.2} M events/s  ({:.2} of baseline, {:.2} of q0, {rows} rows out)",
                rate / 1e6,
                rate / base,
                rate / q0
            );
        }
        let _ = std::fs::remove_file(&path);
    }
}
