//! `INSERT INTO s [(cols)] VALUES (...)`: literal rows into a record batch of the stream.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion_common::DFSchema;
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::{cast, Expr};
use datafusion_optimizer::analyzer::type_coercion::TypeCoercionRewriter;
use datafusion_physical_expr::create_physical_expr;
use datafusion_sql::planner::{PlannerContext, SqlToRel};
use weir_parser::sqlparser::ast::{Expr as SqlExpr, Spanned};
use weir_parser::{closest_match, Name, Position};

use crate::columns::ROWTIME;
use crate::error::{PlanError, Result};
use crate::plan::parser_options;
use crate::provider::Provider;
use crate::{Catalog, StreamDef};

/// Rows of an `INSERT ... VALUES`: the declared columns, and `ROWTIME` when it was given.
#[derive(Debug, Clone)]
pub struct ValuesRows {
    /// One column per declared column of the stream.
    pub batch: RecordBatch,
    /// Event times given for `ROWTIME`, when the statement listed it.
    pub rowtime: Option<ArrayRef>,
}

/// Evaluates `VALUES` rows against the stream's columns, casting each literal to its column type.
pub fn values_batch(
    catalog: &Catalog,
    def: &StreamDef,
    columns: &[Name],
    rows: &[Vec<SqlExpr>],
) -> Result<ValuesRows> {
    let declared = &def.columns;
    let targets: Vec<(String, Option<Position>)> = if columns.is_empty() {
        declared
            .fields()
            .iter()
            .map(|f| (f.name().clone(), None))
            .collect()
    } else {
        columns
            .iter()
            .map(|c| (c.value.clone(), c.position))
            .collect()
    };
    let mut slots = Vec::with_capacity(targets.len());
    for (i, (name, pos)) in targets.iter().enumerate() {
        if targets[..i].iter().any(|(n, _)| n == name) {
            return Err(PlanError::invalid(
                format!("column {name} is listed twice"),
                *pos,
            ));
        }
        if name == ROWTIME {
            slots.push(None);
            continue;
        }
        let idx = declared.index_of(name).map_err(|_| {
            PlanError::invalid(format!("stream {} has no column '{name}'", def.name), *pos)
                .with_suggestion(
                    closest_match(name, declared.fields().iter().map(|f| f.name()))
                        .map(|s| format!("did you mean {s}?")),
                )
        })?;
        slots.push(Some(idx));
    }
    let provider = Provider::new(catalog);
    let sql = SqlToRel::new_with_options(&provider, parser_options());
    let empty = DFSchema::empty();
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .map_err(|e| PlanError::Internal(e.to_string()))?;
    let mut per_column: Vec<Vec<ArrayRef>> =
        vec![Vec::with_capacity(rows.len()); declared.fields().len()];
    let mut rowtimes = Vec::new();
    for row in rows {
        if row.len() != targets.len() {
            let pos = row.first().and_then(|e| Position::from_span(e.span()));
            return Err(PlanError::invalid(
                format!("expected {} values, got {}", targets.len(), row.len()),
                pos,
            ));
        }
        let mut given = vec![false; declared.fields().len()];
        for (value, slot) in row.iter().zip(&slots) {
            let pos = Position::from_span(value.span());
            let ty = match slot {
                Some(i) => declared.field(*i).data_type().clone(),
                None => DataType::Int64,
            };
            let expr = sql
                .sql_to_expr(value.clone(), &empty, &mut PlannerContext::new())
                .map_err(|e| PlanError::from_datafusion(e, pos))?;
            let expr = coerce(expr, &empty).map_err(|e| e.or_position(pos))?;
            // A DECIMAL value must fit its column without rounding (as when read from a file).
            if let DataType::Decimal128(p, sc) = &ty {
                let raw =
                    evaluate(expr.clone(), &empty, &one_row).map_err(|e| e.or_position(pos))?;
                if matches!(raw.data_type(), DataType::Decimal128(..)) && raw.is_valid(0) {
                    let fits = arrow::compute::cast(&raw, &ty)
                        .ok()
                        .filter(|n| n.is_valid(0))
                        .and_then(|n| arrow::compute::cast(&n, raw.data_type()).ok())
                        .is_some_and(|back| back.as_ref() == raw.as_ref());
                    let fits = fits
                        && arrow::compute::cast(&raw, &ty).is_ok_and(|n| {
                            use arrow::array::AsArray;
                            n.as_primitive::<arrow::datatypes::Decimal128Type>()
                                .validate_decimal_precision(*p)
                                .is_ok()
                        });
                    if !fits {
                        let text = arrow::util::display::array_value_to_string(&raw, 0)
                            .unwrap_or_default();
                        return Err(PlanError::invalid(
                            format!("Cannot fit decimal '{text}' into DECIMAL({p}, {sc}) without rounding"),
                            pos,
                        ));
                    }
                }
            }
            let array = evaluate(cast(expr, ty.clone()), &empty, &one_row)
                .map_err(|e| e.or_position(pos))?;
            match slot {
                Some(i) => {
                    per_column[*i].push(array);
                    given[*i] = true;
                }
                None => rowtimes.push(array),
            }
        }
        for (i, g) in given.iter().enumerate() {
            if !g {
                per_column[i].push(new_null_array(declared.field(i).data_type(), 1));
            }
        }
    }
    let arrays = per_column
        .iter()
        .map(|parts| concat(&parts.iter().map(|a| a.as_ref()).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PlanError::Internal(e.to_string()))?;
    let batch = RecordBatch::try_new(Arc::clone(declared), arrays)
        .map_err(|e| PlanError::Internal(e.to_string()))?;
    let rowtime = if rowtimes.is_empty() {
        None
    } else {
        Some(
            concat(&rowtimes.iter().map(|a| a.as_ref()).collect::<Vec<_>>())
                .map_err(|e| PlanError::Internal(e.to_string()))?,
        )
    };
    Ok(ValuesRows { batch, rowtime })
}

/// Type-coerces a literal expression (e.g. `2.0 * 3`) the way queries are coerced.
fn coerce(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    use datafusion_common::tree_node::TreeNode;
    let mut rewriter = TypeCoercionRewriter::new(schema);
    expr.rewrite(&mut rewriter)
        .map(|t| t.data)
        .map_err(|e| PlanError::from_datafusion(e, None))
}

fn evaluate(expr: Expr, schema: &DFSchema, batch: &RecordBatch) -> Result<ArrayRef> {
    let physical = create_physical_expr(
        &expr,
        schema,
        &ExecutionProps::new(),
        &PhysicalPlanningContext::default(),
    )
    .map_err(|e| PlanError::from_datafusion(e, None))?;
    physical
        .evaluate(batch)
        .and_then(|v| v.into_array(1))
        .map_err(|e| PlanError::invalid(invalid_value(&e.strip_backtrace()), None))
}

/// A value that does not convert to its column's type, in SQL terms: Arrow's `Cannot cast
/// string 'bad' to value of Int32 type` is `'bad' is not a valid INTEGER`.
fn invalid_value(message: &str) -> String {
    if let Some(rest) = message.split("Cannot cast string '").nth(1) {
        if let Some((value, tail)) = rest.rsplit_once("' to value of ") {
            let arrow = tail.trim_end_matches(" type").trim();
            return format!(
                "'{value}' is not a valid {}",
                crate::error::arrow_type_name(arrow)
            );
        }
    }
    format!("invalid value: {message}")
}
