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

use arrow::datatypes::SchemaRef;
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
        /// For EXPLAIN.
        display: String,
    },
    /// Compute the output columns (the node's schema, after this step).
    Project {
        /// One expression per output column.
        exprs: Vec<Arc<dyn PhysicalExpr>>,
        /// Schema produced.
        schema: SchemaRef,
        /// For EXPLAIN.
        display: String,
    },
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
                        MapStep::Project { display, .. } => {
                            let _ = writeln!(out, "{indent}  project: {display}");
                        }
                    }
                }
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
