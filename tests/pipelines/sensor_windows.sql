-- A windowed aggregation in Weir's test format: expectations may name WINDOWSTART and WINDOWEND.
CREATE STREAM readings (sensor STRING KEY, temp DOUBLE, ts BIGINT) WITH (TIMESTAMP='ts');
CREATE TABLE maxes AS SELECT sensor, MAX(temp) AS mx, COUNT(*) AS n FROM readings WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY sensor EMIT CHANGES;
--@input readings {"sensor": "a1", "temp": 31.5, "ts": 1000}
--@input readings {"sensor": "a1", "temp": 35.0, "ts": 61000}
--@expect maxes {"SENSOR": "a1", "MX": 31.5, "N": 1, "WINDOWSTART": 0, "WINDOWEND": 60000}
--@expect maxes {"SENSOR": "a1", "MX": 35.0, "N": 1, "WINDOWSTART": 60000, "WINDOWEND": 120000}
