//! # Weir — streaming SQL on Arrow record batches
//!
//! Weir runs ksqlDB-style SQL over streams of events: files (JSON lines or CSV), standard
//! input, or in-memory streams fed from code. Statements are parsed by `weir-parser`, planned
//! by `weir-planner` (DataFusion's SQL planner and expressions) into a partition-aware
//! dataflow, and run here by a micro-batch executor.
//!
//! The API is small and synchronous:
//! - [`Session`] holds the catalog and the running queries; [`Session::execute`] runs
//!   statements, [`Session::query`] starts a `SELECT` and returns a [`Query`], an iterator of
//!   Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es;
//! - [`Session::push`] appends batches to an in-memory stream;
//! - [`Config`] (built with [`Config::builder`]) sets batch size, batch delay and what happens
//!   to bad records ([`ErrorPolicy`]);
//! - every failure is an [`Error`] that says whose fault it is and, for SQL, where.
//!
//! ```
//! use weir::{Config, Session};
//! use weir::arrow::util::pretty::pretty_format_batches;
//!
//! let dir = std::env::temp_dir().join(format!("weir-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("trips.jsonl");
//! std::fs::write(&path, concat!(
//!     "{\"trip_id\":\"T1\",\"vendor_id\":1,\"fare_amount\":52.0}\n",
//!     "{\"trip_id\":\"T2\",\"vendor_id\":2,\"fare_amount\":14.5}\n",
//!     "{\"trip_id\":\"T3\",\"vendor_id\":1,\"fare_amount\":8.0}\n",
//! ))?;
//!
//! let mut session = Session::new(Config::default());
//! session.execute(&format!(
//!     "CREATE STREAM trips (trip_id STRING, vendor_id INT KEY, fare_amount DOUBLE)
//!      WITH (PATH='{}', VALUE_FORMAT='JSON', PARTITIONS=2);", path.display()))?;
//! let query = session.query("SELECT trip_id, fare_amount * 2 AS doubled FROM trips WHERE fare_amount > 10;")?;
//! let mut batches = query.collect::<weir::Result<Vec<_>>>()?;
//! let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
//! assert_eq!(rows, 2);
//! println!("{}", pretty_format_batches(&batches)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod assignment;
mod config;
mod error;
mod query;
mod runtime;
mod session;
mod sources;
mod wire;

pub use assignment::PartitionAssignor;
pub use config::{Config, ConfigBuilder, ErrorPolicy};
pub use error::{Error, Position, Result};
pub use query::{CancelHandle, Query, QueryStream};
pub use session::{ExecuteResult, Outcome, Session, StreamInfo, DEAD_LETTERS};
pub use sources::{BadRecord, QueryStats};
pub use weir_parser::Statement;
pub use weir_planner::json_texts;
pub use weir_planner::json_writer;
pub use wire::{bytes_as_base64, to_wire_format};

/// Names of the scalar functions queries can call (for completion and `SHOW FUNCTIONS`).
pub fn function_names() -> Vec<String> {
    weir_planner::function_names()
}

/// The Arrow crate Weir's batches come from.
pub use arrow;
