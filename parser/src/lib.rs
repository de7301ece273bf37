//! # weir-parser
//!
//! Parses Weir's SQL dialect — the ksqlDB surface (`CREATE STREAM ... WITH (...)`,
//! `CREATE STREAM ... AS SELECT`, `PARTITION BY`, `WINDOW ...`, `EMIT CHANGES`) — into
//! [`Statement`]s. Queries and expressions stay [`sqlparser`] ASTs, so the planner can hand
//! them to DataFusion; only the clauses sqlparser does not know are lifted out beside them.
//!
//! Every error carries a [`Position`] (line and column) and, where one exists, a suggestion;
//! [`render_excerpt`] turns it into the message users see, with a caret under the spot.
//!
//! ```
//! use weir_parser::{parse, StatementKind};
//!
//! let stmts = parse("SELECT trip_id, fare * 2 AS double_fare FROM trips WHERE fare > 10 EMIT CHANGES;")?;
//! let StatementKind::Query(q) = &stmts[0].kind else { unreachable!() };
//! assert!(q.emit.is_some());
//! # Ok::<(), weir_parser::ParseError>(())
//! ```
#![deny(missing_docs)]

mod ast;
mod dialect;
mod error;
mod parser;

pub use ast::{
    ColumnDef, CreateAs, CreateSource, Emit, JoinWithin, KeyKind, Name, OptionValue, ShowKind,
    SourceKind, SplitBranch, SqlType, Statement, StatementKind, StreamQuery, WindowKind,
    WindowSpec, WithOption, WithOptions,
};
pub use dialect::KsqlDialect;
pub use error::{closest_match, render_excerpt, ParseError, Position};
pub use parser::{cast_type, parse, ALL_FIELDS};
pub use sqlparser;
