-- Weir tour over 10,000 real NYC taxi trips (January 2019). Run from the repository root:
--   cargo run -p weir-repl -- run examples/taxi.sql

-- A stream over a JSON-lines file, hash-partitioned on its key as it is read.
CREATE STREAM trips (
  trip_id STRING, vendor_id INT KEY, pickup_datetime STRING, dropoff_datetime STRING,
  pickup_ts BIGINT, dropoff_ts BIGINT, passenger_count INT, trip_distance DOUBLE,
  rate_code_id INT, store_and_fwd_flag STRING, pickup_location_id INT, dropoff_location_id INT,
  payment_type INT, fare_amount DOUBLE, extra DOUBLE, mta_tax DOUBLE, tip_amount DOUBLE,
  tolls_amount DOUBLE, improvement_surcharge DOUBLE, total_amount DOUBLE, congestion_surcharge DOUBLE
) WITH (PATH='examples/data/nyc_taxi/trips_2019-01.jsonl', VALUE_FORMAT='JSON',
        PARTITIONS=2, TIMESTAMP='pickup_ts');

DESCRIBE trips;

-- Filter + map, re-keyed by pickup zone: a persistent query into a new stream (and a file).
CREATE STREAM airport_trips WITH (PATH='target/airport_trips.jsonl', PARTITIONS=4) AS
  SELECT trip_id, pickup_location_id, rate_code_id, trip_distance, total_amount,
         ROUND(tip_amount / fare_amount * 100, 1) AS tip_pct
  FROM trips
  WHERE rate_code_id IN (2, 3) AND fare_amount > 0
  PARTITION BY pickup_location_id;

-- Where the exchange is, and why.
EXPLAIN SELECT trip_id, total_amount FROM trips WHERE total_amount < 0 PARTITION BY payment_type;

-- Read the derived stream (the first 10 rows).
SELECT * FROM airport_trips LIMIT 10;

-- Refunds and voids (negative totals): map-value keeps the key, drops the rest.
SELECT vendor_id, trip_id, UCASE(store_and_fwd_flag) AS buffered, total_amount
FROM trips WHERE total_amount < 0 EMIT CHANGES LIMIT 5;

-- Enrichment: a stream-table join with the TLC zone lookup table (the table file is loaded
-- first; the stream is repartitioned on the join key to meet the table's partitions).
CREATE TABLE zones (location_id INT PRIMARY KEY, borough STRING, zone STRING, service_zone STRING)
  WITH (PATH='examples/data/nyc_taxi/zones.csv', VALUE_FORMAT='DELIMITED', HEADER=true, PARTITIONS=2);

-- Aggregation into a table: trips and revenue per pickup borough; a pull query reads its state.
CREATE TABLE per_borough AS
  SELECT z.borough AS borough, COUNT(*) AS trips, ROUND(SUM(t.total_amount), 2) AS revenue
  FROM trips t JOIN zones z ON t.pickup_location_id = z.location_id
  GROUP BY z.borough;
SELECT * FROM per_borough;

-- Event-time windows: trips per vendor and day, each day emitted once it has closed.
SELECT vendor_id, COUNT(*) AS trips, MAX(fare_amount) AS max_fare
FROM trips WINDOW TUMBLING (SIZE 1 DAY, GRACE PERIOD 1 HOUR)
GROUP BY vendor_id EMIT FINAL LIMIT 4;

SHOW QUERIES;
