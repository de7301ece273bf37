//! Statements of Weir's dialect. Queries stay sqlparser ASTs; the ksqlDB clauses that sqlparser
//! does not know (`PARTITION BY`, `WINDOW`, `EMIT`) are lifted out beside them.

use std::fmt;

use sqlparser::ast::{Expr, Query};

use crate::Position;

/// One parsed statement with where it starts and its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What the statement says.
    pub kind: StatementKind,
    /// Where the statement starts in the parsed text.
    pub position: Position,
    /// The statement's own text (without the terminating `;`).
    pub text: String,
}

/// The statements Weir understands.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatementKind {
    /// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (cols) WITH (...)`.
    CreateSource(CreateSource),
    /// `CREATE [OR REPLACE] STREAM|TABLE name [WITH (...)] AS SELECT ...`.
    CreateAs(CreateAs),
    /// A transient `SELECT`.
    Query(StreamQuery),
    /// `INSERT INTO name [WITH (...)] SELECT ...`.
    InsertSelect {
        /// The stream written to.
        target: Name,
        /// The query producing the rows.
        query: StreamQuery,
    },
    /// `INSERT INTO name [(cols)] VALUES (...)[, (...)]`.
    InsertValues {
        /// The stream written to.
        target: Name,
        /// Explicit column list (empty = all columns in order).
        columns: Vec<Name>,
        /// Rows of literal expressions.
        rows: Vec<Vec<Expr>>,
    },
    /// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]`.
    Drop {
        /// Stream or table.
        kind: SourceKind,
        /// What to drop.
        name: Name,
        /// No error when it does not exist.
        if_exists: bool,
        /// `DELETE TOPIC`: its records go too (refused for a read-only `SOURCE`).
        delete_topic: bool,
    },
    /// `ALTER STREAM|TABLE name ADD [COLUMN] c TYPE, ...`: new value columns (schema
    /// evolution; records without them read as NULL).
    Alter {
        /// Stream or table.
        kind: SourceKind,
        /// What to alter.
        name: Name,
        /// The added columns, in order.
        columns: Vec<ColumnDef>,
    },
    /// `SPLIT source INTO a WHERE c1 INTO b WHERE c2 ... [INTO rest]`: one scan of `source`
    /// routes each event to the first branch whose condition holds (a branch without `WHERE`,
    /// last, takes the rest; without one, unmatched events are dropped).
    Split {
        /// The stream split.
        source: Name,
        /// The branches, in order.
        branches: Vec<SplitBranch>,
    },
    /// `SHOW|LIST ...`.
    Show(ShowKind),
    /// `DESCRIBE [EXTENDED] name`.
    Describe {
        /// The stream or table described.
        name: Name,
        /// Include runtime details.
        extended: bool,
    },
    /// `DESCRIBE FUNCTION name`.
    DescribeFunction(Name),
    /// `EXPLAIN <statement>`.
    Explain(Box<Statement>),
    /// `EXPLAIN <query id>`: a running persistent query's dataflow.
    ExplainQuery(Name),
    /// `SET 'property' = 'value'`.
    Set {
        /// Property name as written (case preserved).
        name: String,
        /// Property value.
        value: String,
    },
    /// `UNSET 'property'`.
    Unset(String),
    /// `TERMINATE query_id` or `TERMINATE ALL`.
    Terminate(Option<String>),
    /// `CREATE TYPE [IF NOT EXISTS] name AS type`: a name for a type (ksqlDB's custom types).
    CreateType {
        /// The type's name.
        name: Name,
        /// What it stands for.
        data_type: SqlType,
        /// No error when a type of that name exists.
        if_not_exists: bool,
    },
    /// `DROP TYPE [IF EXISTS] name`.
    DropType {
        /// The type's name.
        name: Name,
        /// No error when it does not exist.
        if_exists: bool,
    },
}

/// A name with the position where it was written. Unquoted names are upper-cased (ksqlDB rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The normalised name.
    pub value: String,
    /// Where it was written.
    pub position: Option<Position>,
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Streams are append-only; tables are keyed changelogs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An append-only event stream.
    Stream,
    /// A keyed table (latest value per key).
    Table,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        })
    }
}

/// `CREATE ... STREAM|TABLE name (cols) WITH (...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSource {
    /// Stream or table.
    pub kind: SourceKind,
    /// The new source's name.
    pub name: Name,
    /// `OR REPLACE` was given.
    pub or_replace: bool,
    /// `IF NOT EXISTS` was given.
    pub if_not_exists: bool,
    /// `SOURCE` (read-only) was given.
    pub read_only: bool,
    /// The declared columns.
    pub columns: Vec<ColumnDef>,
    /// The `WITH (...)` properties.
    pub with: WithOptions,
}

/// `CREATE ... AS SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateAs {
    /// Stream or table.
    pub kind: SourceKind,
    /// The new source's name.
    pub name: Name,
    /// `OR REPLACE` was given.
    pub or_replace: bool,
    /// `IF NOT EXISTS` was given.
    pub if_not_exists: bool,
    /// The `WITH (...)` properties (sink path, format, partitions).
    pub with: WithOptions,
    /// The query whose results fill the new source.
    pub query: StreamQuery,
}

/// A declared column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Column name (normalised).
    pub name: Name,
    /// Column type.
    pub data_type: SqlType,
    /// `KEY` or `PRIMARY KEY`.
    pub key: KeyKind,
}

/// Whether a column is part of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A value column.
    None,
    /// A stream key column (`KEY`).
    Key,
    /// A table primary key column (`PRIMARY KEY`).
    PrimaryKey,
}

/// ksqlDB's SQL types.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqlType {
    /// `BOOLEAN`
    Boolean,
    /// `INT` / `INTEGER` (32 bit)
    Int,
    /// `BIGINT` (64 bit)
    Bigint,
    /// `DOUBLE`
    Double,
    /// `DECIMAL(precision, scale)`
    Decimal(u8, i8),
    /// `STRING` / `VARCHAR`
    String,
    /// `TIMESTAMP` (milliseconds since the epoch, UTC)
    Timestamp,
    /// `DATE` (days since the epoch)
    Date,
    /// `TIME` (milliseconds of the day)
    Time,
    /// `BYTES`
    Bytes,
    /// `ARRAY<T>`
    Array(Box<SqlType>),
    /// `MAP<K, V>`
    Map(Box<SqlType>, Box<SqlType>),
    /// `STRUCT<name T, ...>` (displayed with quoted field names, which keeps their case)
    Struct(Vec<(String, SqlType)>),
    /// A type registered with `CREATE TYPE name AS ...`, by name (resolved when the
    /// statement runs).
    Custom(String),
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INTEGER"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Array(t) => write!(f, "ARRAY<{t}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            SqlType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (n, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{n}` {t}")?;
                }
                f.write_str(">")
            }
            SqlType::Custom(name) => f.write_str(name),
        }
    }
}

/// A `WITH (...)` property value.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A quoted string.
    String(String),
    /// A number, as written.
    Number(String),
    /// A bare word such as `true`.
    Word(String),
}

impl OptionValue {
    /// The value as text (strings unquoted, numbers as written).
    pub fn as_text(&self) -> &str {
        match self {
            OptionValue::String(s) | OptionValue::Number(s) | OptionValue::Word(s) => s,
        }
    }
}

/// One `WITH` property.
#[derive(Debug, Clone, PartialEq)]
pub struct WithOption {
    /// Upper-cased property name.
    pub key: String,
    /// The value.
    pub value: OptionValue,
    /// Where the property was written.
    pub position: Option<Position>,
}

/// The `WITH (...)` properties in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WithOptions(pub Vec<WithOption>);

impl WithOptions {
    /// The property `key` (case-insensitive), if given.
    pub fn get(&self, key: &str) -> Option<&WithOption> {
        self.0.iter().find(|o| o.key.eq_ignore_ascii_case(key))
    }
}

/// A query with the ksqlDB clauses that sit outside standard SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamQuery {
    /// The standard part, as sqlparser parsed it (identifiers already normalised).
    pub query: Box<Query>,
    /// `PARTITION BY e, ...`.
    pub partition_by: Vec<Expr>,
    /// `WINDOW TUMBLING|HOPPING|SESSION (...)`.
    pub window: Option<WindowSpec>,
    /// `EMIT CHANGES` or `EMIT FINAL`.
    pub emit: Option<Emit>,
    /// `WITHIN` clauses of stream-stream joins, in join order.
    pub within: Vec<JoinWithin>,
    /// Where the query starts.
    pub position: Position,
}

/// One branch of a `SPLIT`.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitBranch {
    /// The stream the branch writes (created by the statement).
    pub name: Name,
    /// `WITH (...)` of that stream (`PARTITIONS`, ...).
    pub with: WithOptions,
    /// `WHERE` condition; `None` for the default branch.
    pub condition: Option<Expr>,
}

/// A stream-stream join window: `WITHIN n unit`, `WITHIN (before, after)`, `GRACE PERIOD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinWithin {
    /// Which join of the FROM clause (0 = the first `JOIN`).
    pub join: usize,
    /// How far (ms) the right row's time may lie before the left row's.
    pub before_ms: i64,
    /// How far (ms) the right row's time may lie after the left row's.
    pub after_ms: i64,
    /// `GRACE PERIOD`: how late (ms) rows may arrive after the window.
    pub grace_ms: Option<i64>,
    /// Where the clause starts.
    pub position: Option<Position>,
}

/// The `EMIT` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// A push query: keep emitting as input arrives.
    Changes,
    /// Emit each window once, after it closes.
    Final,
}

/// A window clause (sizes in milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// The window kind and its sizes.
    pub kind: WindowKind,
    /// `GRACE PERIOD n unit`.
    pub grace_ms: Option<i64>,
    /// `RETENTION n unit`.
    pub retention_ms: Option<i64>,
    /// Where the clause starts.
    pub position: Option<Position>,
}

/// Window kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed, non-overlapping windows of `size_ms`.
    Tumbling {
        /// Window size.
        size_ms: i64,
    },
    /// Overlapping windows of `size_ms`, one starting every `advance_ms`.
    Hopping {
        /// Window size.
        size_ms: i64,
        /// Distance between window starts.
        advance_ms: i64,
    },
    /// Activity sessions closed by an inactivity gap.
    Session {
        /// Inactivity gap.
        gap_ms: i64,
    },
}

/// What `SHOW` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowKind {
    /// Streams.
    Streams,
    /// Tables.
    Tables,
    /// Running persistent queries.
    Queries,
    /// Session properties.
    Properties,
    /// Functions.
    Functions,
    /// Which worker processes which partitions of each running query.
    Assignments,
    /// Types registered with `CREATE TYPE`.
    Types,
    /// The topics of the streams and tables, and who reads or writes them.
    Topics,
}
