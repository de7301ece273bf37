//! The dataflow plan: a small DAG of nodes over Arrow record batches, each knowing its schema
//! and its partitioning.
//!
//! ```text
//!   Scan ──▶ Map (filter, project) ──▶ Exchange (hash of new key) ──▶ Map ──▶ output
//!   n partitions                        n ──▶ m partitions              m partitions
//! ```
//!
//! A `Map` fuses every stateless step between two exchanges and runs per partition; an
//! `Exchange` is the only place rows move between partitions.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion_physical_expr::aggregate::AggregateFunctionExpr;
use datafusion_physical_expr::PhysicalExpr;

use crate::catalog::SourceSpec;

/// Index of a node in [`DataflowPlan::nodes`].
pub type NodeId = usize;

/// How a node's rows are spread over partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partitioning {
    /// Rows with equal values of `keys` are in the same partition (routed by
    /// [`HASH_VERSION`] of the keys).
    Hash {
        /// Key column names (or key expressions, when they are not output columns).
        keys: Vec<String>,
        /// Partition count.
        partitions: usize,
    },
    /// No key: rows are spread in contiguous runs.
    Unkeyed {
        /// Partition count.
        partitions: usize,
    },
}

impl Partitioning {
    /// The partition count.
    pub fn partitions(&self) -> usize {
        match self {
            Partitioning::Hash { partitions, .. } | Partitioning::Unkeyed { partitions } => {
                *partitions
            }
        }
    }
}

impl fmt::Display for Partitioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partitioning::Hash { keys, partitions } => {
                write!(
                    f,
                    "{partitions} partition{} by hash({})",
                    plural(*partitions),
                    keys.join(", ")
                )
            }
            Partitioning::Unkeyed { partitions } => {
                write!(f, "{partitions} partition{}, unkeyed", plural(*partitions))
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Version of the partitioning hash. Routing is part of the persistent format (checkpoints,
/// pre-partitioned inputs), so any change to it must bump this.
pub const HASH_VERSION: u32 = 1;

/// One stateless step of a [`Op::Map`].
#[derive(Debug, Clone)]
pub enum MapStep {
    /// Keep rows where the predicate is true.
    Filter {
        /// Boolean predicate.
        predicate: Arc<dyn PhysicalExpr>,
        /// On a changelog, the `ROWDELETED` column: tombstones pass whatever the predicate says
        /// (they delete a key, and the key's earlier row may have passed).
        tombstones: Option<usize>,
        /// On a changelog whose key columns are known (a table, an aggregation's `HAVING`):
        /// those columns. A key whose row passed and whose new row does not is deleted (a
        /// tombstone is emitted instead of the row), as a KTable filter does.
        keys: Vec<usize>,
        /// For EXPLAIN.
        display: String,
    },
    /// `EXPLODE` (a table function): one row per element of the `lists` columns (the longest
    /// list of a row decides; shorter ones are padded with NULL; a NULL or empty list yields
    /// no rows). Output column `i` comes from input column `from[i]`: the element when that is
    /// one of `lists`, the row's value repeated otherwise.
    Explode {
        /// Input columns that are lists to explode.
        lists: Vec<usize>,
        /// Per output column, its input column.
        from: Vec<usize>,
        /// Output schema.
        schema: SchemaRef,
        /// For EXPLAIN.
        display: String,
    },
    /// Assign each row to its time windows by `ROWTIME`, appending `WINDOWSTART` and
    /// `WINDOWEND` (a hopping window repeats a row once per window it falls in).
    AssignWindows {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts (= size for tumbling windows).
        advance_ms: i64,
        /// Index of `ROWTIME` in the input.
        rowtime_column: usize,
        /// Schema produced.
        schema: SchemaRef,
    },
    /// Drop a stream's null-value records (`ROWDELETED`), which filters, aggregations and
    /// joins skip.
    DropNullValues {
        /// The input's `ROWDELETED` column.
        column: usize,
    },
    /// Compute the output columns (the node's schema, after this step).
    Project {
        /// One expression per output column.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// Schema produced.
        schema: SchemaRef,
        /// On a stream that may carry null-value records: which columns stay NULL on them.
        null_values: Option<NullValueColumns>,
        /// For EXPLAIN.
        display: String,
    },
}

/// How a projection passes on a stream's null-value records: without a value, so every
/// output column but the unchanged key is NULL on them (a key computed by `PARTITION BY` too).
#[derive(Debug, Clone)]
pub struct NullValueColumns {
    /// The input's `ROWDELETED` column.
    pub deleted: usize,
    /// Output columns that are NULL on a null-value record.
    pub cleared: Vec<usize>,
}

/// What a node does.
#[derive(Debug, Clone)]
pub enum Op {
    /// Read a stream.
    Scan {
        /// Stream name.
        stream: String,
        /// Where it reads from (for EXPLAIN).
        source: SourceSpec,
    },
    /// Stateless steps fused per partition.
    Map {
        /// Applied in order.
        steps: Vec<MapStep>,
    },
    /// `GROUP BY`: per-group aggregate state, emitted as a changelog.
    Aggregate(Arc<AggregateSpec>),
    /// A table's changelog as additions and retractions, for an aggregation over a table:
    /// every row is preceded by its key's previous row marked as a retraction
    /// (`ROWDELETED` = true); a tombstone only retracts. Input keyed by the primary key.
    Changes {
        /// The primary key columns.
        key_columns: Vec<usize>,
    },
    /// Stream–table join: each stream row (input 0) looks up the table's current row for its
    /// key (input 1, keyed by its primary key).
    LookupJoin(Arc<LookupJoinSpec>),
    /// `UNION ALL`: the inputs' rows, partition by partition (inputs share a partition count).
    Union,
    /// Table–table join on primary keys: an update on either side emits the key's new
    /// joined row. Input 0 is the left table, input 1 the right.
    TableJoin(Arc<TableJoinSpec>),
    /// Stream–stream join within a time window (`WITHIN`): both sides are buffered and
    /// matched; input 0 is the left stream, input 1 the right.
    WindowJoin(Arc<WindowJoinSpec>),
    /// Move rows to the partition of their key (or spread them, when `keys` is empty).
    Exchange {
        /// Key expressions evaluated on the input; empty = rebalance without a key.
        keys: Vec<Arc<dyn PhysicalExpr>>,
        /// Why the exchange is here (for EXPLAIN).
        reason: String,
    },
}

/// A node of the dataflow.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its index.
    pub id: NodeId,
    /// What it does.
    pub op: Op,
    /// Its inputs.
    pub inputs: Vec<NodeId>,
    /// Schema of its output (declared columns, then the hidden `ROWTIME`, `ROWOFFSET`).
    pub schema: SchemaRef,
    /// Partitioning of its output.
    pub partitioning: Partitioning,
}

/// A planned query: nodes in topological order; the last node is the output.
#[derive(Debug, Clone)]
pub struct DataflowPlan {
    /// Nodes, inputs before the nodes that read them.
    pub nodes: Vec<Node>,
    /// Stop after this many output rows (transient queries).
    pub limit: Option<usize>,
    /// How many leading columns of the output are visible (the rest are system columns).
    pub visible_columns: usize,
    /// The output is a changelog of a table (the query aggregates): a later row for a key
    /// replaces the earlier one.
    pub changelog: bool,
    /// An aggregation reads a join of tables (needs retractions of joined rows: not yet).
    pub aggregates_table: bool,
    /// It reads a windowed source (`WINDOW_TYPE`): its rows carry `WINDOWSTART`/`WINDOWEND`.
    pub windowed_source: bool,
    /// A changelog's key columns in the output schema, hidden ones (keys the projection does
    /// not select) included; empty when unknown.
    pub state_keys: Vec<usize>,
    /// Key columns the final projection drops (what kind of key, and their names): a
    /// persistent query must keep its key.
    pub dropped_key: Option<(String, Vec<String>)>,
    /// A key column the final projection selects more than once (its name, the names it is
    /// selected as, and whether it is a grouping key): a persistent query's key must be one
    /// column.
    pub duplicate_key: Option<(String, Vec<String>, bool)>,
}

impl DataflowPlan {
    /// The output node.
    pub fn output(&self) -> &Node {
        // A plan always has at least a scan: the planner never builds an empty one.
        &self.nodes[self.nodes.len() - 1]
    }

    /// Visible output schema (without system columns).
    pub fn visible_schema(&self) -> SchemaRef {
        let schema = &self.output().schema;
        let indices: Vec<usize> = (0..self.visible_columns).collect();
        schema
            .project(&indices)
            .map(Arc::new)
            .unwrap_or_else(|_| Arc::clone(schema))
    }

    /// The error a persistent query writing `sink` gets when its projection drops the key.
    pub fn dropped_key_message(&self, sink: &str) -> Option<String> {
        if let Some((key, aliases, grouped)) = &self.duplicate_key {
            if *grouped {
                let quoted: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
                return Some(format!(
                    "The projection contains a key column more than once: {}.",
                    quoted.join(" and ")
                ));
            }
            let list = match aliases.as_slice() {
                [init @ .., last] => format!("{} and {last}", init.join(", ")),
                [] => key.clone(),
            };
            return Some(format!(
                "The projection contains a key column (`{key}`) more than once, aliased as: {list}."
            ));
        }
        let (kind, names) = self.dropped_key.as_ref()?;
        if let ("synthetic join key", [name]) = (kind.as_str(), names.as_slice()) {
            return Some(format!(
                "Key missing from projection (ie, SELECT).\nThe query used to build `{sink}` must include the join expression {name} in its projection (eg, SELECT {name}...).\n{name} was added as a synthetic key column because the join criteria did not match any source column. This expression must be included in the projection and may be aliased."
            ));
        }
        let plural = if names.len() == 1 { "" } else { "s" };
        // Any one of a join's key columns will do; every grouping expression is needed.
        let and = if kind == "join expression" {
            "or"
        } else {
            "and"
        };
        let list = match names.as_slice() {
            [one] => one.clone(),
            [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
            [] => return None,
        };
        let example = if kind == "join expression" {
            names[0].clone()
        } else {
            names.join(", ")
        };
        Some(format!(
            "Key missing from projection (ie, SELECT).\nThe query used to build `{sink}` must include the {kind}{plural} {list} in its projection (eg, SELECT {example}...)."
        ))
    }

    /// Streams read by this plan.
    pub fn sources(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Scan { stream, .. } => Some(stream.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The indented tree `EXPLAIN` prints, output first.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let out_node = self.output();
        let cols: Vec<String> = self
            .visible_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let _ = write!(
            out,
            "Output [{}] columns: {}",
            out_node.partitioning,
            cols.join(", ")
        );
        if let Some(l) = self.limit {
            let _ = write!(out, " (LIMIT {l})");
        }
        out.push('\n');
        self.explain_node(out_node.id, 1, &mut out);
        out
    }

    fn explain_node(&self, id: NodeId, depth: usize, out: &mut String) {
        let node = &self.nodes[id];
        let indent = "  ".repeat(depth);
        match &node.op {
            Op::Scan { stream, source } => {
                let _ = writeln!(
                    out,
                    "{indent}Scan {stream} [{}] from {source}",
                    node.partitioning
                );
            }
            Op::Map { steps } => {
                let _ = writeln!(out, "{indent}Map [{}]", node.partitioning);
                for s in steps {
                    match s {
                        MapStep::Filter { display, .. } => {
                            let _ = writeln!(out, "{indent}  filter: {display}");
                        }
                        MapStep::AssignWindows {
                            size_ms,
                            advance_ms,
                            ..
                        } => {
                            let _ = writeln!(out, "{indent}  assign windows: size {size_ms} ms, advance {advance_ms} ms");
                        }
                        MapStep::Project { display, .. } => {
                            let _ = writeln!(out, "{indent}  project: {display}");
                        }
                        MapStep::DropNullValues { .. } => {
                            let _ = writeln!(out, "{indent}  skip null-value records");
                        }
                        MapStep::Explode { display, .. } => {
                            let _ = writeln!(out, "{indent}  explode: {display}");
                        }
                    }
                }
            }
            Op::Aggregate(spec) => {
                let window = match spec.window.as_ref().map(|w| (w.kind, w.grace_ms)) {
                    Some((
                        WindowType::Time {
                            size_ms,
                            advance_ms,
                        },
                        grace,
                    )) if advance_ms == size_ms => {
                        format!(" window TUMBLING {size_ms} ms, grace {grace} ms")
                    }
                    Some((
                        WindowType::Time {
                            size_ms,
                            advance_ms,
                        },
                        grace,
                    )) => {
                        format!(" window HOPPING {size_ms} ms by {advance_ms} ms, grace {grace} ms")
                    }
                    Some((WindowType::Session { gap_ms }, grace)) => {
                        format!(" window SESSION gap {gap_ms} ms, grace {grace} ms")
                    }
                    None => String::new(),
                };
                let emit = match spec.emit {
                    EmitMode::Changes => "EMIT CHANGES",
                    EmitMode::Final => "EMIT FINAL",
                };
                let _ = writeln!(
                    out,
                    "{indent}Aggregate [{}]: group by {}; {}{window}; {emit}",
                    node.partitioning, spec.display_keys, spec.display_aggregates
                );
            }
            Op::LookupJoin(spec) => {
                let kind = if spec.left_outer { "LEFT" } else { "INNER" };
                let _ = writeln!(
                    out,
                    "{indent}Join [{}]: {kind} stream-table on {}; a bounded table is loaded first",
                    node.partitioning, spec.display
                );
            }
            Op::TableJoin(spec) => {
                let how = if spec.left_foreign_key.is_some() {
                    "keyed by the left primary key; a right update reaches every left row referring to it"
                } else {
                    "copartitioned on the primary keys; updates from either side"
                };
                let _ = writeln!(
                    out,
                    "{indent}Join [{}]: {} table-table on {} ({how})",
                    node.partitioning,
                    spec.kind.name(),
                    spec.display
                );
            }
            Op::Changes { .. } => {
                let _ = writeln!(
                    out,
                    "{indent}Changes [{}]: each table row retracts its key's previous row (for the aggregation)",
                    node.partitioning
                );
            }
            Op::Union => {
                let _ = writeln!(
                    out,
                    "{indent}Union [{}]: {} inputs merged partition by partition",
                    node.partitioning,
                    node.inputs.len()
                );
            }
            Op::WindowJoin(spec) => {
                let _ = writeln!(
                    out,
                    "{indent}Join [{}]: {} stream-stream on {} within ({} ms before, {} ms after), grace {} ms",
                    node.partitioning,
                    spec.kind.name(),
                    spec.display,
                    spec.before_ms,
                    spec.after_ms,
                    spec.grace_ms
                );
            }
            Op::Exchange { reason, .. } => {
                let from = node
                    .inputs
                    .first()
                    .map(|&i| self.nodes[i].partitioning.partitions())
                    .unwrap_or(0);
                let _ = writeln!(
                    out,
                    "{indent}Exchange [{from} -> {}]: {reason}",
                    node.partitioning
                );
            }
        }
        for &input in &node.inputs {
            self.explain_node(input, depth + 1, out);
        }
    }
}

/// How a `GROUP BY` emits its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitMode {
    /// Every change of a group, per micro-batch (a changelog).
    Changes,
    /// Each window once, when it closes (window end + grace passed by the watermark).
    Final,
}

/// The window of a windowed `GROUP BY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDef {
    /// Its shape.
    pub kind: WindowType,
    /// How long after its end a window still accepts late records.
    pub grace_ms: i64,
    /// `RETENTION`: how long (behind stream time) a windowed table keeps a window's rows;
    /// older windows are dropped from the table and no longer queryable.
    pub retention_ms: Option<i64>,
}

/// The shape of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowType {
    /// Fixed-size, epoch-aligned windows `[start, start + size)`, starting every `advance_ms`
    /// (tumbling: `advance_ms == size_ms`); assigned to each row as it is read.
    Time {
        /// Window length.
        size_ms: i64,
        /// Distance between window starts.
        advance_ms: i64,
    },
    /// Per-key activity sessions: a record within `gap_ms` of a session (before its start or
    /// after its end) joins it, and one that bridges two sessions merges them. Bounds are the
    /// first and last event times; the aggregation assigns them.
    Session {
        /// Inactivity gap.
        gap_ms: i64,
    },
}

/// A streaming aggregation (see the engine's aggregate operator for how it runs).
#[derive(Debug)]
pub struct AggregateSpec {
    /// Group key expressions evaluated on the input (window bounds included, last).
    pub group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// Their types.
    pub group_types: Vec<DataType>,
    /// The aggregate functions.
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    /// The window, for windowed aggregations.
    pub window: Option<WindowDef>,
    /// Column of the input holding `WINDOWEND`, for windowed aggregations.
    pub window_end_column: Option<usize>,
    /// Column of the input holding `ROWTIME`.
    pub rowtime_column: usize,
    /// Column of the input holding `ROWOFFSET`.
    pub rowoffset_column: usize,
    /// Emission mode.
    pub emit: EmitMode,
    /// Output schema: group columns, aggregate columns, `ROWTIME`, `ROWOFFSET`.
    pub output: SchemaRef,
    /// Group keys, for EXPLAIN.
    pub display_keys: String,
    /// Aggregates, for EXPLAIN.
    pub display_aggregates: String,
    /// Over a table: the column that marks a row as a retraction (the aggregate takes the
    /// row's contribution back out of its group).
    pub retract_column: Option<usize>,
}

/// A stream–stream join within a time window.
#[derive(Debug)]
pub struct WindowJoinSpec {
    /// Left key, evaluated on left rows (cast to the common key type).
    pub left_key: Arc<dyn PhysicalExpr>,
    /// Right key, evaluated on right rows (same type as the left key).
    pub right_key: Arc<dyn PhysicalExpr>,
    /// INNER, LEFT, RIGHT or FULL OUTER.
    pub kind: JoinKind,
    /// A right row matches a left row at time `t` when its time is in
    /// `[t - before_ms, t + after_ms]`.
    pub before_ms: i64,
    /// See `before_ms`.
    pub after_ms: i64,
    /// How long rows wait for late partners after their window has passed.
    pub grace_ms: i64,
    /// Without an explicit `GRACE PERIOD`, ksqlDB's legacy outer-join rule: a row that finds
    /// no partner when it arrives (in event-time order) is emitted with NULLs right away, and
    /// joined again if a partner comes later. With one, outer rows wait for the window to close.
    pub eager_outer: bool,
    /// How many leading output columns come from the left stream.
    pub left_columns: usize,
    /// `ROWTIME` and `ROWOFFSET` within the left and the right columns.
    pub left_time: usize,
    /// See `left_time`.
    pub left_offset: usize,
    /// See `left_time`.
    pub right_time: usize,
    /// See `left_time`.
    pub right_offset: usize,
    /// Output: the left stream's columns, then the right's. The left `ROWTIME` holds the
    /// result's time: the later of the two rows' (the present row's for outer rows).
    pub output: SchemaRef,
    /// For EXPLAIN.
    pub display: String,
}

/// A table–table join on primary keys.
#[derive(Debug)]
pub struct TableJoinSpec {
    /// Left key (the left table's primary key column).
    pub left_key: Arc<dyn PhysicalExpr>,
    /// Right key (the right table's primary key column).
    pub right_key: Arc<dyn PhysicalExpr>,
    /// INNER, LEFT, RIGHT or FULL OUTER.
    pub kind: JoinKind,
    /// A foreign-key join: the left expression that refers to the right table's primary key
    /// (`left_key` is then the left table's own primary key).
    pub left_foreign_key: Option<Arc<dyn PhysicalExpr>>,
    /// The primary key column in the left and in the right columns: a row without a left
    /// side takes its key from the right (the join key is the result's key).
    pub left_key_column: usize,
    /// See `left_key_column`.
    pub right_key_column: usize,
    /// How many leading output columns come from the left table.
    pub left_columns: usize,
    /// `ROWTIME` and `ROWOFFSET` within the left and the right columns.
    pub left_time: usize,
    /// See `left_time`.
    pub left_offset: usize,
    /// See `left_time`.
    pub right_time: usize,
    /// See `left_time`.
    pub right_offset: usize,
    /// `ROWDELETED` within the left and the right columns: tombstones delete a key from its
    /// side, and the left one holds whether a result row is a tombstone.
    pub left_deleted: usize,
    /// See `left_deleted`.
    pub right_deleted: usize,
    /// Output: the left table's columns, then the right's; the left `ROWTIME` holds the later
    /// of the two rows' times.
    pub output: SchemaRef,
    /// For EXPLAIN.
    pub display: String,
}

/// Which rows a join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Matches only.
    Inner,
    /// Matches, and left rows without one (right side NULL).
    Left,
    /// Matches, and right rows without one (left side NULL).
    Right,
    /// Matches, and rows of either side without one.
    Full,
}

impl JoinKind {
    /// As SQL spells it.
    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT",
            JoinKind::Right => "RIGHT",
            JoinKind::Full => "FULL OUTER",
        }
    }

    /// Whether unmatched left rows are kept.
    pub fn keeps_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }

    /// Whether unmatched right rows are kept.
    pub fn keeps_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }
}

/// A stream–table join on the table's primary key.
#[derive(Debug)]
pub struct LookupJoinSpec {
    /// Stream-side key, evaluated on stream rows (cast to the table key's type).
    pub stream_key: Arc<dyn PhysicalExpr>,
    /// Columns of the table holding its primary key.
    pub table_key_columns: Vec<usize>,
    /// Keep stream rows without a match (LEFT JOIN), with NULL table columns.
    pub left_outer: bool,
    /// How many leading output columns come from the stream.
    pub stream_columns: usize,
    /// Output: the stream's columns, then the table's.
    pub output: SchemaRef,
    /// For EXPLAIN.
    pub display: String,
}
