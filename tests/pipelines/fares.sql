-- A pipeline test in Weir's own format: statements, then records in --@ comments.
CREATE STREAM trips (trip_id STRING KEY, vendor INT, fare DOUBLE, tip DOUBLE);
CREATE STREAM tipped AS SELECT trip_id, vendor, ROUND(tip / fare * 100, 1) AS tip_pct FROM trips WHERE tip > 0;
CREATE TABLE per_vendor AS SELECT vendor, COUNT(*) AS trips FROM trips GROUP BY vendor;

--@timestamp 1000
--@input trips {"trip_id": "T1", "vendor": 1, "fare": 52.0, "tip": 7.0}
--@input trips {"trip_id": "T2", "vendor": 2, "fare": 14.5, "tip": 0.0}
--@input trips {"trip_id": "T3", "vendor": 1, "fare": 40.0, "tip": 10.0}

--@expect tipped {"TRIP_ID": "T1", "VENDOR": 1, "TIP_PCT": 13.5}
--@expect tipped {"TRIP_ID": "T3", "VENDOR": 1, "TIP_PCT": 25.0}
--@expect per_vendor {"VENDOR": 1, "TRIPS": 1}
--@expect per_vendor {"VENDOR": 2, "TRIPS": 1}
--@expect per_vendor {"VENDOR": 1, "TRIPS": 2}
