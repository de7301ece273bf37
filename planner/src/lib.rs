//! # weir-planner
//!
//! Turns parsed statements into plans Weir's engine runs:
//!
//! 1. [`Catalog`] holds every stream's [`StreamDef`]: declared columns, key, partition count and
//!    source ([`SourceSpec`]).
//! 2. [`plan_query`] plans a query with DataFusion's `SqlToRel` (through a catalog-backed
//!    context provider), type-coerces it with DataFusion's analyzer, rejects what cannot run on
//!    an unbounded stream, and lowers the result into a [`DataflowPlan`]: a DAG of [`Node`]s
//!    over Arrow record batches, each with its schema and [`Partitioning`]. An
//!    [`Op::Exchange`] appears exactly where rows must change partition, with the reason.
//! 3. [`DataflowPlan::explain`] prints the plan for `EXPLAIN`.
//!
//! ```
//! use weir_parser::{parse, StatementKind};
//! use weir_planner::{plan_query, Catalog, PlanOptions, StreamDef};
//!
//! let stmts = parse("CREATE STREAM trips (vendor_id INT KEY, fare DOUBLE) WITH (PARTITIONS=2);
//!                    SELECT vendor_id, fare FROM trips WHERE fare > 10;")?;
//! let mut catalog = Catalog::new();
//! let StatementKind::CreateSource(create) = &stmts[0].kind else { unreachable!() };
//! catalog.insert(StreamDef::from_create(create)?);
//! let StatementKind::Query(query) = &stmts[1].kind else { unreachable!() };
//! let plan = plan_query(&catalog, query, &PlanOptions::default())?;
//! // The projection keeps the key, so no exchange is needed.
//! assert!(!plan.explain().contains("Exchange"));
//! assert!(plan.explain().contains("2 partitions by hash(VENDOR_ID)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod catalog;
pub mod columns;
mod dataflow;
mod error;
mod functions;
mod grouping;
mod json_encoding;
mod plan;
mod provider;
mod typecheck;
mod types;
mod values;

pub use catalog::{Catalog, Format, SourceSpec, StreamDef, TimestampSpec};
pub use dataflow::{
    AggregateSpec, DataflowPlan, EmitMode, JoinKind, LookupJoinSpec, MapStep, Node, NodeId,
    NullValueColumns, Op, Partitioning, TableJoinSpec, WindowDef, WindowJoinSpec, WindowType,
    HASH_VERSION,
};
pub use error::{PlanError, Result};
pub use functions::{json_texts, timefmt};
pub use json_encoding::json_writer;
pub use plan::{plan_query, PlanOptions, DEFAULT_GRACE_MS};
pub use types::{arrow_type, sql_type_name};
pub use values::{values_batch, ValuesRows};

/// Names of the scalar functions queries can call (DataFusion's library and ksqlDB aliases).
pub fn function_names() -> Vec<String> {
    provider::FunctionRegistry::get().scalar_names()
}

/// What `DESCRIBE FUNCTION name` prints: kind, description, syntax and arguments, from the
/// function's own documentation; `None` for an unknown name.
pub fn describe_function(name: &str) -> Option<String> {
    use std::fmt::Write as _;
    let registry = provider::FunctionRegistry::get();
    let lower = name.to_lowercase();
    let (kind, doc, canonical, signatures) = if let Some(f) = registry.scalars.get(&lower) {
        (
            "scalar",
            f.documentation().cloned(),
            f.name().to_string(),
            f.signature().type_signature.to_string_repr(),
        )
    } else if let Some(f) = registry.aggregates.get(&lower) {
        (
            "aggregate",
            f.documentation().cloned(),
            f.name().to_string(),
            f.signature().type_signature.to_string_repr(),
        )
    } else {
        return None;
    };
    let mut out = format!(
        "Name        : {}\nType        : {kind}\n",
        name.to_uppercase()
    );
    if canonical.to_lowercase() != lower {
        let _ = writeln!(out, "Same as     : {}", canonical.to_uppercase());
    }
    match doc {
        Some(doc) => {
            let _ = writeln!(out, "Description : {}", doc.description.trim());
            let _ = writeln!(out, "Syntax      : {}", doc.syntax_example.trim());
            for (arg, what) in doc.arguments.unwrap_or_default() {
                let _ = writeln!(out, "  {arg}: {}", what.trim());
            }
            if let Some(example) = doc.sql_example {
                let example: Vec<&str> = example
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("```"))
                    .collect();
                let _ = writeln!(out, "Example     :\n{}", example.join("\n").trim_end());
            }
        }
        None => out.push_str("Description : (not documented)\n"),
    }
    // The argument types it accepts, as DataFusion matches them.
    let signatures: Vec<String> = signatures
        .into_iter()
        .filter(|s| !s.contains("UserDefined") && !s.is_empty())
        .collect();
    for (i, sig) in signatures.iter().enumerate() {
        let label = if i == 0 {
            "Signatures  :"
        } else {
            "             "
        };
        let _ = writeln!(out, "{label} {}({sig})", name.to_uppercase());
    }
    Some(out)
}

/// Checks that a derived stream's value format can hold its columns (DELIMITED holds no
/// ARRAY, MAP or STRUCT), once its format is settled (it may be inherited from its source).
pub fn check_derived_format(def: &StreamDef, with: &weir_parser::WithOptions) -> Result<()> {
    let props = catalog::Properties::new(with, catalog::SINK_PROPERTIES)?;
    let values: Vec<arrow::datatypes::Field> = def
        .columns
        .fields()
        .iter()
        .enumerate()
        .filter(|(i, _)| !def.key_columns.contains(i))
        .map(|(_, f)| f.as_ref().clone())
        .collect();
    let values = arrow::datatypes::Schema::new(values);
    catalog::check_map_keys(&def.columns, &def.key_columns)?;
    catalog::check_delimited(&def.format, &values, &props)?;
    catalog::check_json_maps(&def.format, &values)?;
    catalog::check_key_format(&def.key_format, &def.columns, &def.key_columns)
}

/// Builds the definition of the stream a `CREATE STREAM ... AS SELECT` creates.
pub fn derived_stream(
    name: &weir_parser::Name,
    plan: &DataflowPlan,
    with: &weir_parser::WithOptions,
) -> Result<StreamDef> {
    let props = catalog::Properties::new(with, catalog::SINK_PROPERTIES)?;
    let format = props.format()?;
    let sink = props.text("PATH").map(|path| {
        if path == "-" {
            SourceSpec::Stdin {
                format: format.clone(),
            }
        } else {
            SourceSpec::File {
                path: path.to_string(),
                format: format.clone(),
            }
        }
    });
    if matches!(sink, Some(SourceSpec::Stdin { .. })) {
        return Err(PlanError::invalid(
            "PATH='-' (stdin) cannot be written to; give a file path",
            with.get("PATH").and_then(|o| o.position),
        ));
    }
    let columns = plan.visible_schema();
    if let Some(f) = columns
        .fields()
        .iter()
        .find(|f| f.data_type() == &arrow::datatypes::DataType::Null)
    {
        return Err(PlanError::invalid(
            format!(
                "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR). (Column {}.)",
                f.name()
            ),
            name.position,
        ));
    }
    for f in columns.fields() {
        let window_bound = f.name() == columns::WINDOWSTART || f.name() == columns::WINDOWEND;
        let windowed = plan.changelog || plan.windowed_source;
        if columns::RESERVED.contains(&f.name().as_str()) && !(windowed && window_bound) {
            return Err(PlanError::invalid(
                format!(
                    "Reserved column name in select: `{}`. Please remove or alias the column.",
                    f.name()
                ),
                name.position,
            ));
        }
    }
    let partitioning = &plan.output().partitioning;
    let mut key_columns: Vec<usize> = match partitioning {
        Partitioning::Hash { keys, .. } => keys
            .iter()
            .filter_map(|k| columns.index_of(k).ok())
            .collect(),
        Partitioning::Unkeyed { .. } => Vec::new(),
    };
    if plan.changelog {
        // A windowed table's key includes the window.
        for w in [columns::WINDOWSTART, columns::WINDOWEND] {
            if let Ok(i) = columns.index_of(w) {
                key_columns.push(i);
            }
        }
    }
    if let (true, Some(k)) = (key_columns.is_empty(), props.get("KEY_FORMAT")) {
        if !k.value.as_text().eq_ignore_ascii_case("NONE") {
            return Err(PlanError::invalid(
                "Key format specified for stream without key columns.",
                k.position,
            )
            .with_suggestion(Some("leave KEY_FORMAT out, or set it to 'NONE'".into())));
        }
    }
    let timestamp = catalog::timestamp_spec(&props, &columns)?;
    catalog::check_unwrapped(&format, &props, columns.fields().len() - key_columns.len())?;
    Ok(StreamDef {
        name: name.value.clone(),
        kind: if plan.changelog {
            weir_parser::SourceKind::Table
        } else {
            weir_parser::SourceKind::Stream
        },
        columns,
        key_columns,
        partitions: partitioning.partitions(),
        source: SourceSpec::Memory,
        timestamp,
        sink,
        read_only: false,
        topic: props.text("KAFKA_TOPIC").map(str::to_string),
        format,
        windowed: None,
        // Without KEY_FORMAT (or FORMAT) the key format is decided by the caller, from the
        // source (see `inherit_key_format`).
        key_format: props.key_format("")?,
        unknown_fields: None,
    })
}
