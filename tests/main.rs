//! Weir's integration tests: one binary, one module per area.

mod aggregation;
mod bad_records;
mod common;
mod embedding;
mod functions;
mod invariance;
mod joins;
mod retention;
mod sessions;
mod sql_errors;
mod tables;
mod taxi;
mod topology;
mod transform;
