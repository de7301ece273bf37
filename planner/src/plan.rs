//! SQL query → DataFusion logical plan (type-coerced) → [`DataflowPlan`].

use std::ops::ControlFlow;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion_common::{DFSchemaRef, ScalarValue};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::logical_plan::{
    Aggregate, FetchType, Join, JoinType, LogicalPlan, LogicalPlanBuilder, Projection, SkipType,
};
use datafusion_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion_expr::{Expr, ExprSchemable};
use datafusion_optimizer::analyzer::Analyzer;
use datafusion_physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion_physical_expr::expressions::{Column as PhysicalColumn, Literal};
use datafusion_physical_expr::{create_physical_expr, PhysicalExpr};
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use weir_parser::sqlparser::ast::{
    visit_relations, Expr as SqlExpr, GroupByExpr, Ident, ObjectName, ObjectNamePart, Query,
    SelectItem, SetExpr, Spanned, Statement as SqlStatement, TableFactor,
};
use weir_parser::{Emit, Position, SourceKind, StreamQuery, WindowKind, WindowSpec};

use crate::columns::{window_fields, ROWDELETED, ROWOFFSET, ROWTIME, WINDOWEND, WINDOWSTART};
use crate::dataflow::{
    AggregateSpec, DataflowPlan, EmitMode, JoinKind, LookupJoinSpec, MapStep, Node, NodeId,
    NullValueColumns, Op, Partitioning, TableJoinSpec, WindowDef, WindowJoinSpec, WindowType,
};
use crate::error::{PlanError, Result};
use crate::provider::Provider;
use crate::{Catalog, StreamDef};

/// Options that shape a plan beyond its SQL.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Partition count of the output (`WITH (PARTITIONS=n)` of a `CREATE ... AS SELECT`).
    pub output_partitions: Option<usize>,
}

/// Plans a query over the catalog's streams.
///
/// ```
/// use weir_planner::{plan_query, Catalog, PlanOptions, StreamDef};
/// use weir_parser::{parse, StatementKind};
///
/// let mut catalog = Catalog::new();
/// for stmt in parse("CREATE STREAM bids (auction BIGINT KEY, price BIGINT) WITH (PARTITIONS=2);
///                    SELECT auction, price * 2 AS doubled FROM bids WHERE price > 10 PARTITION BY price;")? {
///     match &stmt.kind {
///         StatementKind::CreateSource(c) => catalog.insert(StreamDef::from_create(c)?),
///         StatementKind::Query(q) => {
///             let plan = plan_query(&catalog, q, &PlanOptions::default())?;
///             let text = plan.explain();
///             assert!(text.contains("Exchange [2 -> 2 partitions by hash(PRICE)]"), "{text}");
///         }
///         _ => unreachable!(),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_query(
    catalog: &Catalog,
    query: &StreamQuery,
    options: &PlanOptions,
) -> Result<DataflowPlan> {
    let at = Some(query.position);
    let mut ast = query.query.clone();
    check_streamable(&ast, at)?;
    check_relations(catalog, &ast)?;
    let star = selects_star(&ast);
    let synthetic_key = expand_wildcards(catalog, &mut ast)?;
    explode_as_unnest(&mut ast);
    if star {
        // `SELECT * ... PARTITION BY expr` keeps the new key (named as ksqlDB names it).
        select_partition_keys(&mut ast, &query.partition_by);
        if !query.partition_by.is_empty() {
            old_keys_last(catalog, &mut ast, &query.partition_by);
        }
    }
    if let SetExpr::Select(select) = ast.body.as_ref() {
        for item in &select.projection {
            if let SelectItem::ExprWithAlias { expr, alias } = item {
                let name = alias.value.to_uppercase();
                let same = crate::grouping::text(expr) == name;
                if crate::columns::RESERVED.contains(&name.as_str()) && !same {
                    return Err(PlanError::invalid(
                        format!("`{name}` is a reserved column name. You cannot use it as an alias for a column."),
                        at,
                    ));
                }
            }
        }
    }
    let grouped = is_grouped(&ast);
    if grouped {
        let mut windowed = None;
        let _ = visit_relations(&ast, |name: &ObjectName| {
            let table = table_name(name);
            let is_windowed =
                |d: &StreamDef| d.windowed.is_some() || d.columns.index_of(WINDOWSTART).is_ok();
            if catalog.get(&table).is_some_and(is_windowed) {
                windowed = Some(table);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if let Some(table) = windowed {
            return Err(PlanError::unsupported(
                format!(
                    "aggregating the windowed table {table} is not supported: its rows are per \
                     window (aggregate the stream it was built from, with the window you need)"
                ),
                at,
            ));
        }
    }
    if let Some(message) = crate::grouping::check_lambdas(&ast) {
        return Err(PlanError::invalid(message, at));
    }
    if let Some(message) = crate::grouping::check_constructors(&ast) {
        return Err(PlanError::invalid(message, at));
    }
    if let Some(message) = crate::grouping::check(&ast) {
        return Err(PlanError::invalid(message, at));
    }
    if !grouped {
        if let Some(items) = ungrouped_columns_beside_aggregates(&ast) {
            return Err(PlanError::invalid(
                format!("Non-aggregate SELECT expression(s) not part of GROUP BY: {items}"),
                query.window.as_ref().and_then(|w| w.position).or(at),
            )
            .with_suggestion(Some(format!("add GROUP BY {items}"))));
        }
    }
    let window = match &query.window {
        None => None,
        Some(w) => Some(window_def(w, grouped, at)?),
    };
    if window.is_some() {
        if let Some(message) = crate::grouping::check_window_bounds(&ast) {
            return Err(PlanError::invalid(message, at));
        }
        add_window_groups(&mut ast);
    }
    let emit = match query.emit {
        Some(Emit::Final) if window.is_none() => {
            return Err(PlanError::invalid(
                "EMIT FINAL is only supported for windowed aggregations.",
                at,
            )
            .with_suggestion(Some(
                "add a WINDOW clause (GROUP BY with WINDOW TUMBLING/HOPPING/SESSION), or use EMIT CHANGES"
                    .into(),
            )))
        }
        Some(Emit::Final) => EmitMode::Final,
        _ => EmitMode::Changes,
    };
    if grouped && !query.partition_by.is_empty() {
        return Err(PlanError::invalid(
            "PARTITION BY cannot be combined with GROUP BY: an aggregation is keyed by its GROUP BY columns",
            at,
        ));
    }

    let mut provider = Provider::new(catalog);
    provider.windowed = window.is_some();
    let sql = SqlToRel::new_with_options(&provider, parser_options());
    let clauses = Clauses::of(&ast);
    let logical = sql
        .sql_statement_to_plan(SqlStatement::Query(ast))
        .map_err(|e| where_type_error(e, &clauses, at))?;
    let logical =
        crate::typecheck::coerce_in_lists(logical).map_err(|m| PlanError::invalid(m, at))?;
    let logical =
        crate::typecheck::rewrite_casts(logical).map_err(|m| PlanError::invalid(m, at))?;
    let logical = Analyzer::new()
        .execute_and_check(logical, &provider.options, |_, _| {})
        .map_err(|e| where_type_error(e, &clauses, at))?;
    if let Some(message) = crate::typecheck::check_filter_lambdas(&logical) {
        return Err(PlanError::invalid(message, at));
    }

    let mut b = Builder {
        catalog,
        nodes: Vec::new(),
        at,
        window,
        emit,
        output_partitions: options.output_partitions,
        aggregated: false,
        reads_table: false,
        aggregates_table: false,
        under_aggregate: false,
        windowed_source: false,
        state_keys: Vec::new(),
        within: query.within.clone(),
        join_key: None,
        dropped_join_key: None,
        synthetic_key,
    };
    let (limit, body) = peel_limit(&logical, at)?;
    let mut dropped_key = None;
    let mut duplicate_key = None;
    let out = match body {
        LogicalPlan::Projection(p) => {
            let input = b.lower(&p.input)?;
            let input = if !query.partition_by.is_empty() {
                // PARTITION BY gives the rows a new key: a join's no longer counts.
                b.join_key = None;
                b.partition_by(
                    &sql,
                    &p.input,
                    input,
                    &query.partition_by,
                    options.output_partitions,
                )?
            } else {
                b.rebalance(input, options.output_partitions)
            };
            let before = b.nodes[input.node].partitioning.clone();
            let out = b.project(p, input)?;
            if let (Partitioning::Hash { keys, .. }, Partitioning::Unkeyed { .. }) =
                (&before, &b.nodes[out.node].partitioning)
            {
                dropped_key = Some(b.dropped_key(keys, !query.partition_by.is_empty()));
            }
            if let Some(columns) = b.dropped_join_key.take() {
                let synthetic =
                    b.synthetic_key.is_some() && b.synthetic_key == columns.first().cloned();
                let kind = if synthetic {
                    "synthetic join key"
                } else {
                    "join expression"
                };
                dropped_key = Some((kind.into(), columns));
            }
            let joined = b.nodes.iter().any(|n| {
                matches!(
                    n.op,
                    Op::LookupJoin(_) | Op::WindowJoin(_) | Op::TableJoin(_) | Op::Union
                )
            });
            // (In a join, columns of several sources share names; the check is for one source.)
            if let (Partitioning::Hash { keys, .. }, false) = (&before, joined) {
                for key in keys {
                    let aliases: Vec<String> = p
                        .expr
                        .iter()
                        .zip(p.schema.fields())
                        .filter(|(e, _)| matches!((*e).clone().unalias(), Expr::Column(c) if &c.name == key))
                        .map(|(_, f)| f.name().clone())
                        .collect();
                    if aliases.len() > 1 {
                        duplicate_key = Some((key.clone(), aliases, b.aggregated));
                    }
                }
            }
            out
        }
        LogicalPlan::Union(union) => {
            if !query.partition_by.is_empty() {
                return Err(PlanError::unsupported(
                    "PARTITION BY with UNION ALL: repartition the union's result in a second query",
                    at,
                ));
            }
            b.union(union, options.output_partitions)?
        }
        other => {
            let input = b.lower(other)?;
            b.rebalance(input, options.output_partitions)
        }
    };
    let visible = out.visible;
    let state_keys = {
        let schema = &b.nodes[out.node].schema;
        let mut keys: Vec<usize> = b
            .state_keys
            .iter()
            .filter_map(|k| schema.index_of(k).ok())
            .collect();
        if !keys.is_empty() {
            keys.extend(
                [WINDOWSTART, WINDOWEND]
                    .iter()
                    .filter_map(|w| schema.index_of(w).ok()),
            );
        }
        keys
    };
    Ok(DataflowPlan {
        nodes: b.nodes,
        limit,
        visible_columns: visible,
        changelog: b.aggregated || b.reads_table,
        aggregates_table: b.aggregates_table,
        windowed_source: b.windowed_source,
        state_keys,
        dropped_key,
        duplicate_key,
    })
}

pub(crate) fn parser_options() -> ParserOptions {
    ParserOptions {
        enable_ident_normalization: false,
        collect_spans: true,
        // `1.005` is a DECIMAL literal (as in ksqlDB), so DECIMAL arithmetic stays exact.
        parse_float_as_decimal: true,
        ..ParserOptions::new()
    }
}

/// Rejects SQL that cannot run on an unbounded stream, or that Weir cannot run yet.
fn check_streamable(query: &Query, at: Option<Position>) -> Result<()> {
    if query.order_by.is_some() {
        return Err(PlanError::unsupported(
            "ORDER BY is not supported on a stream: an unbounded input never ends, so it cannot be sorted",
            at,
        ));
    }
    if query.with.is_some() {
        return Err(PlanError::unsupported(
            "WITH (common table expressions) is not supported yet",
            at,
        ));
    }
    check_set_expr(query.body.as_ref(), at)
}

/// A query body: a SELECT, or SELECTs combined with `UNION ALL`.
fn check_set_expr(body: &SetExpr, at: Option<Position>) -> Result<()> {
    use weir_parser::sqlparser::ast::{SetOperator, SetQuantifier};
    match body {
        SetExpr::Select(select) => check_select(select, at),
        SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            left,
            right,
        } => {
            for side in [left, right] {
                if let SetExpr::Select(s) = side.as_ref() {
                    if !matches!(&s.group_by, GroupByExpr::Expressions(e, _) if e.is_empty()) {
                        return Err(PlanError::unsupported(
                            "UNION ALL combines plain SELECTs: aggregate its result in a second query (CREATE STREAM u AS SELECT ... UNION ALL ...; SELECT ... FROM u GROUP BY ...)",
                            at,
                        ));
                    }
                }
                check_set_expr(side, at)?;
            }
            Ok(())
        }
        SetExpr::SetOperation {
            op: SetOperator::Union,
            ..
        } => Err(PlanError::unsupported(
            "UNION without ALL removes duplicates, which needs unbounded state on a stream: use UNION ALL",
            at,
        )),
        SetExpr::Query(q) => check_streamable(q, at),
        _ => Err(PlanError::unsupported(
            "only SELECT queries (and UNION ALL of them) are supported here",
            at,
        )),
    }
}

fn check_select(select: &weir_parser::sqlparser::ast::Select, at: Option<Position>) -> Result<()> {
    let position = |span: weir_parser::sqlparser::tokenizer::Span| Position::from_span(span).or(at);
    // A source joined twice needs an alias to tell its two sides apart.
    let mut seen: Vec<String> = Vec::new();
    for t in &select.from {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, alias, .. } = factor {
                let qualifier = alias
                    .as_ref()
                    .map_or_else(|| table_name(name), |a| a.name.value.clone())
                    .to_uppercase();
                if seen.contains(&qualifier) {
                    return Err(PlanError::invalid(
                        format!(
                            "N-way joins do not support multiple occurrences of the same source. Source: '{qualifier}'"
                        ),
                        position(factor.span()),
                    )
                    .with_suggestion(Some(format!(
                        "give each occurrence its own alias: {} AS a ... JOIN {} AS b",
                        table_name(name),
                        table_name(name)
                    ))));
                }
                seen.push(qualifier);
            }
        }
    }
    for t in &select.from {
        for j in &t.joins {
            use weir_parser::sqlparser::ast::JoinOperator as J;
            let constraint = match &j.join_operator {
                J::Join(c)
                | J::Inner(c)
                | J::Left(c)
                | J::LeftOuter(c)
                | J::Right(c)
                | J::RightOuter(c)
                | J::FullOuter(c) => c,
                _ => {
                    return Err(PlanError::unsupported(
                        "joins are INNER, LEFT, RIGHT or FULL OUTER with an ON condition",
                        position(j.relation.span()),
                    ))
                }
            };
            if !matches!(
                constraint,
                weir_parser::sqlparser::ast::JoinConstraint::On(_)
            ) {
                return Err(PlanError::unsupported(
                    "a join needs an ON condition (ON a.key = b.key)",
                    position(j.relation.span()),
                ));
            }
        }
    }
    if select.from.len() > 1 {
        return Err(PlanError::unsupported(
            "a comma-separated FROM list is a cross join, which is not supported on streams",
            position(select.from[1].relation.span()),
        ));
    }
    if select.from.is_empty() {
        return Err(PlanError::invalid("a query needs FROM <stream>", at));
    }
    if matches!(select.group_by, GroupByExpr::All(_)) {
        return Err(PlanError::unsupported("GROUP BY ALL is not supported", at));
    }
    if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
        if let Some(e) = exprs.iter().find(|e| {
            matches!(
                e,
                SqlExpr::Rollup(_) | SqlExpr::Cube(_) | SqlExpr::GroupingSets(_)
            )
        }) {
            return Err(PlanError::unsupported(
                "GROUP BY ROLLUP, CUBE and GROUPING SETS are not supported: group by the columns, one query per grouping",
                position(e.span()),
            ));
        }
    }
    if select.distinct.is_some() {
        return Err(PlanError::unsupported(
            "SELECT DISTINCT needs unbounded state on a stream and is not supported",
            at,
        ));
    }
    Ok(())
}

fn is_grouped(query: &Query) -> bool {
    match query.body.as_ref() {
        SetExpr::Select(select) => match &select.group_by {
            GroupByExpr::All(_) => true,
            GroupByExpr::Expressions(e, _) => !e.is_empty(),
        },
        _ => false,
    }
}

/// Prefix of a changelog key column the projection does not select (kept hidden).
const HIDDEN_KEY_PREFIX: &str = "__KEY_";

/// Default grace period of a window (ksqlDB's default): records up to 24 hours late still count.
pub const DEFAULT_GRACE_MS: i64 = 24 * 3_600_000;

fn window_def(w: &WindowSpec, grouped: bool, at: Option<Position>) -> Result<WindowDef> {
    let pos = w.position.or(at);
    if !grouped {
        return Err(PlanError::invalid(
            "WINDOW clause requires a GROUP BY clause.",
            pos,
        )
        .with_suggestion(Some(
            "a windowed aggregation groups by its key: ... WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY k"
                .into(),
        )));
    }
    let grace_ms = w.grace_ms.unwrap_or(DEFAULT_GRACE_MS);
    let (size_ms, advance_ms) = match w.kind {
        WindowKind::Tumbling { size_ms } => (size_ms, size_ms),
        WindowKind::Hopping {
            size_ms,
            advance_ms,
        } => (size_ms, advance_ms),
        WindowKind::Session { gap_ms } => {
            if gap_ms <= 0 {
                return Err(PlanError::invalid(
                    "a SESSION window's inactivity gap must be positive",
                    pos,
                ));
            }
            let grace_ms = implicit_grace(w, gap_ms, grace_ms);
            check_retention(w, gap_ms, grace_ms, "inactivity gap", pos)?;
            return Ok(WindowDef {
                kind: WindowType::Session { gap_ms },
                grace_ms,
                retention_ms: w.retention_ms,
            });
        }
    };
    if size_ms <= 0 || advance_ms <= 0 {
        return Err(PlanError::invalid(
            "window SIZE and ADVANCE BY must be positive",
            pos,
        ));
    }
    if size_ms / advance_ms > 10_000 {
        return Err(PlanError::invalid(
            format!(
                "a HOPPING window of SIZE {size_ms} ms advancing by {advance_ms} ms puts every record in {} windows; at most 10000 are allowed",
                size_ms / advance_ms
            ),
            pos,
        ));
    }
    if advance_ms > size_ms {
        return Err(PlanError::invalid(
            format!(
                "ADVANCE BY ({advance_ms} ms) cannot be larger than the window SIZE ({size_ms} ms)"
            ),
            pos,
        ));
    }
    let grace_ms = implicit_grace(w, size_ms, grace_ms);
    check_retention(w, size_ms, grace_ms, "window size", pos)?;
    Ok(WindowDef {
        kind: WindowType::Time {
            size_ms,
            advance_ms,
        },
        grace_ms,
        retention_ms: w.retention_ms,
    })
}

/// Without an explicit GRACE PERIOD, a RETENTION shorter than size + the default grace
/// shortens the grace to what the retention leaves (a window closes before it is dropped).
fn implicit_grace(w: &WindowSpec, size_ms: i64, grace_ms: i64) -> i64 {
    match (w.grace_ms, w.retention_ms) {
        (None, Some(r)) if r >= size_ms => grace_ms.min(r - size_ms),
        _ => grace_ms,
    }
}

/// A window must be kept at least until it closes: RETENTION >= size (or gap) + grace.
fn check_retention(
    w: &WindowSpec,
    size_ms: i64,
    grace_ms: i64,
    what: &str,
    pos: Option<Position>,
) -> Result<()> {
    match w.retention_ms {
        Some(r) if r < size_ms.saturating_add(grace_ms) => {
            // Without an explicit grace, the grace shrinks to fit: only the size must fit.
            let least = if w.grace_ms.is_some() {
                size_ms.saturating_add(grace_ms)
            } else {
                size_ms
            };
            Err(PlanError::invalid(
                format!(
                    "RETENTION ({r} ms) must not be less than the {what} plus the grace period ({size_ms} ms + {grace_ms} ms): a window would be dropped before it closes"
                ),
                pos,
            )
            .with_suggestion(Some(format!(
                "use RETENTION {} SECONDS or more",
                (least + 999) / 1000
            ))))
        }
        _ => Ok(()),
    }
}

/// A windowed aggregation groups by the window too.
fn add_window_groups(query: &mut Query) {
    if let SetExpr::Select(select) = query.body.as_mut() {
        if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
            for name in [WINDOWSTART, WINDOWEND] {
                exprs.push(SqlExpr::Identifier(Ident::with_quote('"', name)));
            }
        }
    }
}

/// The (already normalised) name of the stream an object name refers to.
fn table_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Unknown streams get an error at the name, with a suggestion.
fn check_relations(catalog: &Catalog, query: &Query) -> Result<()> {
    let flow = visit_relations(query, |name: &ObjectName| {
        let table = table_name(name);
        if catalog.get(&table).is_none() {
            return ControlFlow::Break(catalog.unknown(&table, Position::from_span(name.span())));
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The text of a query's clauses, to say which one an unknown name is in.
struct Clauses {
    select: String,
    where_: Option<String>,
    /// The joins' ON conditions.
    on: String,
    /// Names and aliases of the sources in FROM (upper case).
    relations: Vec<String>,
}

impl Clauses {
    fn of(query: &Query) -> Self {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Self {
                select: String::new(),
                where_: None,
                on: String::new(),
                relations: Vec::new(),
            };
        };
        let mut on = Vec::new();
        let mut relations = Vec::new();
        let mut relation = |f: &TableFactor| {
            if let TableFactor::Table { name, alias, .. } = f {
                relations.extend(name.0.last().map(|p| p.to_string().to_uppercase()));
                relations.extend(alias.as_ref().map(|a| a.name.value.to_uppercase()));
            }
        };
        for from in &select.from {
            relation(&from.relation);
            for j in &from.joins {
                relation(&j.relation);
                if let Some((_, cond)) = j.to_string().split_once(" ON ") {
                    on.push(cond.to_string());
                }
            }
        }
        Self {
            select: select
                .projection
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            // (ksqlDB writes a binary expression in parentheses.)
            where_: select.selection.as_ref().map(|e| match e {
                SqlExpr::BinaryOp { .. } => format!("({e})"),
                _ => e.to_string(),
            }),
            on: on.join(" "),
            relations,
        }
    }
}

/// A WHERE condition that is not a boolean, and unknown names, in ksqlDB's words (saying which
/// clause names them); other errors as they are.
fn where_type_error(
    err: datafusion_common::DataFusionError,
    clauses: &Clauses,
    at: Option<Position>,
) -> PlanError {
    let where_text = clauses.where_.as_deref();
    let select_text = clauses.select.as_str();
    if let datafusion_common::DataFusionError::SchemaError(e, _) = err.find_root() {
        if let datafusion_common::SchemaError::FieldNotFound { field, .. } = e.as_ref() {
            let named = |t: &str| {
                t.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == field.name)
            };
            // A qualifier that names no source.
            if let Some(r) = &field.relation {
                let r = r.to_string();
                if !clauses.relations.is_empty() && !clauses.relations.contains(&r.to_uppercase()) {
                    let message = format!("'{r}' is not a valid stream/table name or alias.");
                    return PlanError::from_datafusion(err, at).reworded(message);
                }
            }
            // A column only the WHERE clause (or a join's ON) names, and no source has: say
            // where it is.
            if where_text.is_some_and(named) && !named(select_text) {
                let message = format!("WHERE column '{}' cannot be resolved.", field.name);
                return PlanError::from_datafusion(err, at).reworded(message);
            }
            if named(&clauses.on) && !named(select_text) && !where_text.is_some_and(named) {
                let name = match &field.relation {
                    Some(r) => format!("{r}.{}", field.name),
                    None => field.name.clone(),
                };
                let message = format!("JOIN ON column '{name}' cannot be resolved.");
                return PlanError::from_datafusion(err, at).reworded(message);
            }
        }
    }
    let message = err.to_string();
    if let (Some(text), true) = (
        where_text,
        message.contains("Cannot create filter with non-boolean predicate"),
    ) {
        let arrow_type = message.rsplit("returning ").next().unwrap_or("").trim();
        let sql_type = match arrow_type {
            "Utf8" | "Utf8View" | "LargeUtf8" => "STRING",
            "Float64" | "Float32" => "DOUBLE",
            "Int64" => "BIGINT",
            "Int32" | "Int16" | "Int8" => "INTEGER",
            other if other.starts_with("Decimal") => "DECIMAL",
            other if other.starts_with("Timestamp") => "TIMESTAMP",
            _ => arrow_type,
        };
        return PlanError::invalid(
            format!(
                "Type error in WHERE expression: Should evaluate to boolean but is {text} ({sql_type}) instead."
            ),
            at,
        );
    }
    // `Cannot coerce arithmetic expression Boolean + Decimal128(2, 1) to valid types`.
    if let Some(rest) = message.split("Cannot coerce arithmetic expression ").nth(1) {
        let operands = rest.split(" to valid types").next().unwrap_or(rest);
        let parts: Vec<&str> = operands.splitn(3, ' ').collect();
        let in_where = |op: &str| {
            where_text.is_some_and(|w| w.contains(&format!(" {op} ")))
                && !select_text.contains(&format!(" {op} "))
        };
        if let ([left, op, right], Some(text), true) = (
            parts.as_slice(),
            where_text,
            parts.get(1).is_some_and(|op| in_where(op)),
        ) {
            let _ = op;
            let name = |t: &str| {
                if t.starts_with("Decimal") {
                    "DECIMAL".to_string()
                } else {
                    crate::error::arrow_type_name(t)
                }
            };
            return PlanError::invalid(
                format!(
                    "Error in WHERE expression: Error processing expression: {text}. Unsupported arithmetic types. {} {}",
                    name(left).to_uppercase(),
                    name(right).to_uppercase()
                ),
                at,
            );
        }
    }
    PlanError::from_datafusion(err, at)
}

/// For a query without GROUP BY that aggregates: its select items that are not aggregates.
fn ungrouped_columns_beside_aggregates(query: &Query) -> Option<String> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let registry = crate::provider::FunctionRegistry::get();
    let is_aggregate = |e: &SqlExpr| {
        let mut found = false;
        let _ = weir_parser::sqlparser::ast::visit_expressions(e, |x| {
            if let SqlExpr::Function(f) = x {
                if registry
                    .aggregates
                    .contains_key(&f.name.to_string().to_lowercase())
                {
                    found = true;
                }
            }
            ControlFlow::<()>::Continue(())
        });
        found
    };
    let exprs: Vec<&SqlExpr> = select
        .projection
        .iter()
        .filter_map(|i| match i {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    if !exprs.iter().any(|e| is_aggregate(e)) {
        return None;
    }
    let plain: Vec<String> = exprs
        .iter()
        .filter(|e| !is_aggregate(e))
        .map(|e| e.to_string())
        .collect();
    (!plain.is_empty()).then(|| plain.join(", "))
}

/// ksqlDB's `EXPLODE(array)` table function is DataFusion's `UNNEST` (planned as an
/// `Unnest` node, lowered to an explode step).
fn explode_as_unnest(query: &mut Query) {
    let _ = weir_parser::sqlparser::ast::visit_expressions_mut(query, |e| {
        if let SqlExpr::Function(f) = e {
            if f.name.to_string().eq_ignore_ascii_case("explode") {
                f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("unnest"))]);
            } else if f.name.to_string().eq_ignore_ascii_case("cube_explode") {
                // CUBE_EXPLODE(a) is EXPLODE(CUBE_LISTS(a)).
                let mut inner = f.clone();
                inner.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("cube_lists"))]);
                f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("unnest"))]);
                f.args = weir_parser::sqlparser::ast::FunctionArguments::List(
                    weir_parser::sqlparser::ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![weir_parser::sqlparser::ast::FunctionArg::Unnamed(
                            weir_parser::sqlparser::ast::FunctionArgExpr::Expr(SqlExpr::Function(
                                inner,
                            )),
                        )],
                        clauses: vec![],
                    },
                );
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Whether the query is `SELECT *` (possibly with more columns).
fn selects_star(query: &Query) -> bool {
    match query.body.as_ref() {
        SetExpr::Select(select) => select
            .projection
            .iter()
            .any(|i| matches!(i, SelectItem::Wildcard(_))),
        _ => false,
    }
}

/// Adds each `PARTITION BY` expression that is not a plain column to the projection, as
/// `KSQL_COL_n`: the key a `SELECT *` re-keyed by an expression carries.
fn select_partition_keys(query: &mut Query, partition_by: &[SqlExpr]) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let mut generated = select
        .projection
        .iter()
        .filter(|i| matches!(i, SelectItem::ExprWithAlias { alias, .. } if alias.value.starts_with("KSQL_COL_")))
        .count();
    let taken = |projection: &[SelectItem], name: &str| {
        projection.iter().any(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } => alias.value.eq_ignore_ascii_case(name),
            SelectItem::UnnamedExpr(SqlExpr::Identifier(id)) => id.value.eq_ignore_ascii_case(name),
            SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(parts)) => parts
                .last()
                .is_some_and(|id| id.value.eq_ignore_ascii_case(name)),
            _ => false,
        })
    };
    // The new key columns come first, in PARTITION BY order (ksqlDB's column order).
    let mut front = Vec::new();
    for e in partition_by {
        if matches!(e, SqlExpr::Value(v) if matches!(v.value, weir_parser::sqlparser::ast::Value::Null))
        {
            continue;
        }
        let text = crate::grouping::text(e);
        if let Some(at) = select.projection.iter().position(
            |i| matches!(i, SelectItem::UnnamedExpr(x) if crate::grouping::text(x) == text),
        ) {
            front.push(select.projection.remove(at));
            continue;
        }
        if matches!(e, SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)) {
            continue;
        }
        // `address->town` is named TOWN (unless taken); other expressions KSQL_COL_n.
        let field = match e {
            SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("get_field") => {
                match &f.args {
                    weir_parser::sqlparser::ast::FunctionArguments::List(list) => {
                        match list.args.get(1) {
                            Some(weir_parser::sqlparser::ast::FunctionArg::Unnamed(
                                weir_parser::sqlparser::ast::FunctionArgExpr::Expr(SqlExpr::Value(
                                    v,
                                )),
                            )) => match &v.value {
                                weir_parser::sqlparser::ast::Value::SingleQuotedString(n)
                                    if n != weir_parser::ALL_FIELDS =>
                                {
                                    Some(n.clone())
                                }
                                _ => None,
                            },
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let alias = match field {
            Some(name) if !taken(&select.projection, &name) && !taken(&front, &name) => name,
            _ => {
                generated += 1;
                format!("KSQL_COL_{}", generated - 1)
            }
        };
        front.push(SelectItem::ExprWithAlias {
            expr: e.clone(),
            alias: Ident::with_quote('"', alias),
        });
    }
    front.append(&mut select.projection);
    select.projection = front;
}

/// `SELECT * ... PARTITION BY x` over one source: the old key columns become values, after
/// the others (ksqlDB's column order for the re-keyed stream).
fn old_keys_last(catalog: &Catalog, query: &mut Query, partition_by: &[SqlExpr]) {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let [from] = select.from.as_slice() else {
        return;
    };
    if !from.joins.is_empty() {
        return;
    }
    let TableFactor::Table { name, .. } = &from.relation else {
        return;
    };
    let Some(def) = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .and_then(|i| catalog.get(&i.value.to_uppercase()))
    else {
        return;
    };
    let keys = def.key_names();
    let new_keys: Vec<String> = partition_by.iter().map(crate::grouping::text).collect();
    let is_old_key = |item: &SelectItem| match item {
        SelectItem::UnnamedExpr(e) => {
            let t = crate::grouping::text(e);
            keys.contains(&t) && !new_keys.contains(&t)
        }
        _ => false,
    };
    let (old, rest): (Vec<SelectItem>, Vec<SelectItem>) =
        select.projection.drain(..).partition(|i| is_old_key(i));
    select.projection = rest;
    select.projection.extend(old);
}

/// `SELECT *` lists the declared columns only (the system columns stay hidden). Returns the
/// name of a FULL OUTER join's synthetic key column, when the query has one.
fn expand_wildcards(catalog: &Catalog, query: &mut Query) -> Result<Option<String>> {
    expand_set_expr(catalog, query.body.as_mut())
}

/// The key of a FULL OUTER join is none of its columns (either side may be missing): ksqlDB
/// adds a synthetic key column, `ROWKEY` (`ROWKEY_n` when a source has a column of that
/// name), holding the first non-NULL of the join expressions. Returns its name and value.
fn synthetic_join_key(
    select: &weir_parser::sqlparser::ast::Select,
    sources: &[(String, &StreamDef)],
) -> Option<(String, SqlExpr)> {
    use weir_parser::sqlparser::ast::{BinaryOperator, JoinConstraint, JoinOperator as J};
    let coalesce = |a: SqlExpr, b: SqlExpr| {
        use weir_parser::sqlparser::ast::{
            Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
        };
        SqlExpr::Function(Function {
            name: ObjectName::from(vec![Ident::new("COALESCE")]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: [a, b]
                    .into_iter()
                    .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                    .collect(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })
    };
    let is_column = |e: &SqlExpr| match e {
        SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_) => true,
        SqlExpr::Cast { expr, .. } | SqlExpr::Nested(expr) => matches!(
            **expr,
            SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)
        ),
        _ => false,
    };
    // The key so far (its value, whether it is synthetic), and the join expressions equal
    // to it.
    let mut key: Option<(SqlExpr, bool, Vec<String>)> = None;
    for join in select.from.first().map_or(&[][..], |t| &t.joins) {
        let (full, constraint) = match &join.join_operator {
            J::FullOuter(c) => (true, c),
            J::Join(c)
            | J::Inner(c)
            | J::Left(c)
            | J::LeftOuter(c)
            | J::Right(c)
            | J::RightOuter(c) => (false, c),
            _ => return None,
        };
        let JoinConstraint::On(SqlExpr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        }) = constraint
        else {
            return None;
        };
        let (l, r) = (left.to_string(), right.to_string());
        // A later join on an expression equal to the key keeps that key.
        let earlier = key.take().filter(|(_, synthetic, class)| {
            (full || !synthetic) && (class.contains(&l) || class.contains(&r))
        });
        let right_join = matches!(join.join_operator, J::Right(_) | J::RightOuter(_));
        key = Some(match earlier {
            Some((e, synthetic, mut class)) => {
                let other = if class.contains(&l) { right } else { left };
                class.extend([l, r]);
                if full {
                    (coalesce(e, (**other).clone()), true, class)
                } else {
                    (e, synthetic, class)
                }
            }
            None if full => (
                coalesce((**left).clone(), (**right).clone()),
                true,
                vec![l, r],
            ),
            None => {
                let synthetic = !is_column(left) && !is_column(right);
                let value = if right_join { right } else { left };
                ((**value).clone(), synthetic, vec![l, r])
            }
        });
    }
    let (value, synthetic, _) = key?;
    if !synthetic {
        return None;
    }
    let taken = |name: &str| {
        sources.iter().any(|(_, def)| {
            def.columns
                .fields()
                .iter()
                .any(|f| f.name().eq_ignore_ascii_case(name))
        })
    };
    let name = std::iter::once("ROWKEY".to_string())
        .chain((1..).map(|n| format!("ROWKEY_{n}")))
        .find(|n| !taken(n))?;
    Some((name, value))
}

/// `get_field(s, ALL_FIELDS)` (`s->*`): `s`.
fn all_fields_of(f: &weir_parser::sqlparser::ast::Function) -> Option<&SqlExpr> {
    use weir_parser::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    if !f.name.to_string().eq_ignore_ascii_case("get_field") {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(base)), FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(v)))]
            if v.value
                == weir_parser::sqlparser::ast::Value::SingleQuotedString(
                    weir_parser::ALL_FIELDS.to_string(),
                ) =>
        {
            Some(base)
        }
        _ => None,
    }
}

/// `get_field(base, 'name')` (`base->name`).
fn field_of(base: SqlExpr, name: &str) -> SqlExpr {
    use weir_parser::sqlparser::ast::{
        Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments,
        ObjectName, Value,
    };
    SqlExpr::Function(Function {
        name: ObjectName::from(vec![Ident::new("get_field")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![
                FunctionArg::Unnamed(FunctionArgExpr::Expr(base)),
                FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::value(
                    Value::SingleQuotedString(name.to_string()),
                ))),
            ],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// The fields of the STRUCT `e` reads (a column of a FROM source, or a field of one).
fn struct_fields(
    sources: &[(String, &StreamDef)],
    e: &SqlExpr,
) -> Option<arrow::datatypes::Fields> {
    let column = |qualifier: Option<&str>, name: &str| {
        sources
            .iter()
            .filter(|(q, _)| qualifier.is_none_or(|w| q.eq_ignore_ascii_case(w)))
            .find_map(|(_, def)| {
                def.columns
                    .fields()
                    .iter()
                    .find(|f| f.name().eq_ignore_ascii_case(name))
                    .map(|f| f.data_type().clone())
            })
    };
    let t = match e {
        SqlExpr::Identifier(i) => column(None, &i.value)?,
        SqlExpr::CompoundIdentifier(parts) => match parts.as_slice() {
            [q, c] => column(Some(&q.value), &c.value)?,
            [c] => column(None, &c.value)?,
            _ => return None,
        },
        SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("get_field") => {
            use weir_parser::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(base)), FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(v)))] =
                list.args.as_slice()
            else {
                return None;
            };
            let weir_parser::sqlparser::ast::Value::SingleQuotedString(name) = &v.value else {
                return None;
            };
            let parent = struct_fields(sources, base)?;
            parent
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))?
                .data_type()
                .clone()
        }
        _ => return None,
    };
    match t {
        arrow::datatypes::DataType::Struct(fields) => Some(fields),
        _ => None,
    }
}

fn expand_set_expr(catalog: &Catalog, body: &mut SetExpr) -> Result<Option<String>> {
    let select = match body {
        SetExpr::Select(select) => select,
        SetExpr::SetOperation { left, right, .. } => {
            expand_set_expr(catalog, left)?;
            expand_set_expr(catalog, right)?;
            return Ok(None);
        }
        SetExpr::Query(q) => return expand_wildcards(catalog, q),
        _ => return Ok(None),
    };
    // (qualifier, stream) of every source in FROM, in order.
    let mut sources: Vec<(String, &StreamDef)> = Vec::new();
    for t in &select.from {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            if let TableFactor::Table { name, alias, .. } = factor {
                let table = table_name(name);
                if let Some(def) = catalog.get(&table) {
                    let qualifier = alias
                        .as_ref()
                        .map(|a| a.name.value.clone())
                        .unwrap_or(table);
                    sources.push((qualifier, def));
                }
            }
        }
    }
    let joined = sources.len() > 1;
    let synthetic = synthetic_join_key(select, &sources);
    let column = |qualifier: &str, name: &str| {
        SqlExpr::CompoundIdentifier(vec![
            Ident::with_quote('"', qualifier),
            Ident::with_quote('"', name),
        ])
    };
    let mut projection = Vec::with_capacity(select.projection.len());
    for item in select.projection.drain(..) {
        // `s->*`: one column per field of STRUCT `s`, named as the field.
        if let SelectItem::UnnamedExpr(SqlExpr::Function(f))
        | SelectItem::ExprWithAlias {
            expr: SqlExpr::Function(f),
            ..
        } = &item
        {
            if let Some(base) = all_fields_of(f) {
                let Some(fields) = struct_fields(&sources, base) else {
                    return Err(PlanError::invalid(
                        format!("{base}->* needs a STRUCT"),
                        None,
                    ));
                };
                for field in fields.iter() {
                    projection.push(SelectItem::ExprWithAlias {
                        expr: field_of(base.clone(), field.name()),
                        alias: Ident::with_quote('"', field.name()),
                    });
                }
                continue;
            }
        }
        let is_synthetic = |e: &SqlExpr| match (e, &synthetic) {
            (SqlExpr::Identifier(i), Some((name, _))) => i.value.eq_ignore_ascii_case(name),
            _ => false,
        };
        match item {
            SelectItem::UnnamedExpr(e) if is_synthetic(&e) => {
                if let Some((name, value)) = &synthetic {
                    projection.push(SelectItem::ExprWithAlias {
                        expr: value.clone(),
                        alias: Ident::with_quote('"', name),
                    });
                }
            }
            SelectItem::ExprWithAlias { expr, alias } if is_synthetic(&expr) => {
                if let Some((_, value)) = &synthetic {
                    projection.push(SelectItem::ExprWithAlias {
                        expr: value.clone(),
                        alias,
                    });
                }
            }
            SelectItem::Wildcard(_) => {
                if let Some((name, value)) = &synthetic {
                    projection.push(SelectItem::ExprWithAlias {
                        expr: value.clone(),
                        alias: Ident::with_quote('"', name),
                    });
                }
                for (qualifier, def) in &sources {
                    for f in def.columns.fields() {
                        projection.push(if joined {
                            // ksqlDB names the columns of a joined `*` QUALIFIER_COLUMN.
                            SelectItem::ExprWithAlias {
                                expr: column(qualifier, f.name()),
                                alias: Ident::with_quote('"', format!("{qualifier}_{}", f.name())),
                            }
                        } else {
                            SelectItem::UnnamedExpr(column(qualifier, f.name()))
                        });
                    }
                }
            }
            SelectItem::QualifiedWildcard(kind, options) => {
                let text = kind.to_string();
                let wanted = text
                    .trim_end_matches(".*")
                    .trim_matches(['"', '`'])
                    .to_uppercase();
                match sources
                    .iter()
                    .find(|(q, _)| q.eq_ignore_ascii_case(&wanted))
                {
                    Some((qualifier, def)) => {
                        for f in def.columns.fields() {
                            projection.push(if joined {
                                // As for `*`: QUALIFIER_COLUMN in a join.
                                SelectItem::ExprWithAlias {
                                    expr: column(qualifier, f.name()),
                                    alias: Ident::with_quote(
                                        '"',
                                        format!("{qualifier}_{}", f.name()),
                                    ),
                                }
                            } else {
                                SelectItem::UnnamedExpr(column(qualifier, f.name()))
                            });
                        }
                    }
                    None => projection.push(SelectItem::QualifiedWildcard(kind, options)),
                }
            }
            // In a join, a qualified column whose name more than one source has is named
            // QUALIFIER_COLUMN (ksqlDB's rule), so the result's columns stay distinct.
            SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(parts))
                if joined
                    && parts.len() == 2
                    && sources
                        .iter()
                        .filter(|(_, d)| {
                            // (Every source has the system columns.)
                            [ROWTIME, ROWOFFSET, crate::columns::ROWPARTITION]
                                .iter()
                                .any(|c| c.eq_ignore_ascii_case(&parts[1].value))
                                || d.columns
                                    .fields()
                                    .iter()
                                    .any(|f| f.name().eq_ignore_ascii_case(&parts[1].value))
                        })
                        .count()
                        > 1 =>
            {
                let alias = format!(
                    "{}_{}",
                    parts[0].value.to_uppercase(),
                    parts[1].value.to_uppercase()
                );
                projection.push(SelectItem::ExprWithAlias {
                    expr: SqlExpr::CompoundIdentifier(parts),
                    alias: Ident::with_quote('"', alias),
                });
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    Ok(synthetic.map(|(name, _)| name))
}

fn peel_limit(plan: &LogicalPlan, at: Option<Position>) -> Result<(Option<usize>, &LogicalPlan)> {
    if let LogicalPlan::Limit(limit) = plan {
        let skip = limit
            .get_skip_type()
            .map_err(|e| PlanError::from_datafusion(e, at))?;
        if !matches!(skip, SkipType::Literal(0)) {
            return Err(PlanError::unsupported(
                "OFFSET is not supported on a stream",
                at,
            ));
        }
        let fetch = match limit
            .get_fetch_type()
            .map_err(|e| PlanError::from_datafusion(e, at))?
        {
            FetchType::Literal(n) => n,
            FetchType::UnsupportedExpr => {
                return Err(PlanError::invalid("LIMIT must be a number", at))
            }
        };
        return Ok((fetch, &limit.input));
    }
    Ok((None, plan))
}

/// A lowered subplan: its last node, its logical schema and its physical schema (the logical
/// columns, then the hidden system columns).
struct Lowered {
    node: NodeId,
    logical: DFSchemaRef,
    physical: SchemaRef,
    visible: usize,
}

impl Lowered {
    fn node_partitions(&self, nodes: &[Node]) -> usize {
        nodes[self.node].partitioning.partitions()
    }
}

struct Builder<'a> {
    catalog: &'a Catalog,
    nodes: Vec<Node>,
    at: Option<Position>,
    window: Option<WindowDef>,
    emit: EmitMode,
    output_partitions: Option<usize>,
    aggregated: bool,
    reads_table: bool,
    aggregates_table: bool,
    /// Lowering the input of an aggregation (tables become additions and retractions).
    under_aggregate: bool,
    /// A windowed source is read: its rows keep their window through projections.
    windowed_source: bool,
    /// The names of the output changelog's key columns (hidden ones included).
    state_keys: Vec<String>,
    /// `WITHIN` clauses of the query's joins.
    within: Vec<weir_parser::JoinWithin>,
    /// The key of the last stream join's output.
    join_key: Option<JoinKey>,
    /// A projection over a join left out every column of its key: those columns, qualified.
    dropped_join_key: Option<Vec<String>>,
    /// The name of a FULL OUTER join's synthetic key column (see [`synthetic_join_key`]).
    synthetic_key: Option<String>,
}

/// The name a projection gives the key column `key` of its input: the key selected as is or
/// renamed, or (a key PARTITION BY computed) the same expression selected again.
fn projected_key(key: &str, p: &Projection) -> Option<String> {
    p.expr
        .iter()
        .zip(p.schema.fields())
        .find_map(|(e, f)| match e.clone().unalias_nested().data {
            Expr::Column(c) if c.name == key => Some(f.name().clone()),
            other if !matches!(other, Expr::Column(_)) && other.to_string() == key => {
                Some(f.name().clone())
            }
            _ => None,
        })
}

/// An expression as `EXPLAIN` shows it: SQL-like, with only the name it is given (not the
/// names DataFusion's rewrites stacked on it).
fn explain_expr(e: &Expr) -> String {
    let name = match e {
        Expr::Alias(a) => Some(a.name.clone()),
        _ => None,
    };
    let bare = e.clone().unalias_nested().data;
    let text = bare.human_display().to_string();
    match name {
        Some(n) if n != text => format!("{text} AS {n}"),
        _ => text,
    }
}

/// A join side without the cast type coercion may have put around it (nor its alias).
fn as_written(e: &Expr) -> Expr {
    match e.clone().unalias() {
        Expr::Cast(c) => *c.expr,
        other => other,
    }
}

/// An expression's text without its casts and aliases (a synthetic join key's value is
/// compared so).
fn without_casts(e: &Expr) -> String {
    use datafusion_common::tree_node::{Transformed, TreeNode};
    e.clone()
        .transform_up(|e| {
            Ok(match e {
                Expr::Cast(c) => Transformed::yes(*c.expr),
                Expr::TryCast(c) => Transformed::yes(*c.expr),
                Expr::Alias(a) => Transformed::yes(*a.expr),
                other => Transformed::no(other),
            })
        })
        .map_or_else(|_| e.to_string(), |t| t.data.to_string())
        .to_lowercase()
}

/// The column a join expression is (through a CAST), if it is one.
fn join_column(e: &Expr) -> Option<datafusion_common::Column> {
    match e.clone().unalias() {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => match *c.expr {
            Expr::Column(col) => Some(col),
            _ => None,
        },
        _ => None,
    }
}

/// The key of a stream join's output, as ksqlDB keys it: the join expression. Any column
/// that holds it (`L.A` or `R.A` of `ON L.A = R.A`) may stand for the key in the projection,
/// and takes the key's value (an outer join's missing side has NULL there).
#[derive(Debug, Clone)]
struct JoinKey {
    /// The join node.
    node: NodeId,
    /// Columns equal to the key, preferred first (the left one).
    columns: Vec<datafusion_common::Column>,
    /// The join expressions equal to the key (as [`without_casts`] writes them): a later
    /// join on one of them keeps this key.
    class: Vec<String>,
    /// The key's value on the join's output rows, over its columns: the left side's join
    /// expression, a RIGHT join's right side's (its right-only rows have NULL on the left), a
    /// FULL join's first non-NULL of both.
    value: Expr,
    /// The key is a FULL join's, which none of its columns stands for: only the synthetic
    /// key column (an expression equal to `value`) does.
    synthetic: bool,
}

impl<'a> Builder<'a> {
    fn add(
        &mut self,
        op: Op,
        inputs: Vec<NodeId>,
        schema: SchemaRef,
        partitioning: Partitioning,
    ) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            id,
            op,
            inputs,
            schema,
            partitioning,
        });
        id
    }

    fn physical(&self, expr: &Expr, schema: &DFSchemaRef) -> Result<Arc<dyn PhysicalExpr>> {
        // Simplify first: some functions (COALESCE, IFNULL, NVL) are only executable once
        // rewritten, and constant sub-expressions fold once instead of per batch.
        let context = datafusion_optimizer::simplify_expressions::SimplifyContext::builder()
            .with_schema(Arc::clone(schema))
            .build();
        let simplified = datafusion_optimizer::simplify_expressions::ExprSimplifier::new(context)
            .simplify(expr.clone())
            .unwrap_or_else(|_| expr.clone());
        create_physical_expr(
            &simplified,
            schema,
            &ExecutionProps::new(),
            &PhysicalPlanningContext::default(),
        )
        .map_err(|e| PlanError::from_datafusion(e, self.at))
    }

    fn lower(&mut self, plan: &LogicalPlan) -> Result<Lowered> {
        match plan {
            LogicalPlan::TableScan(scan) => {
                let def = self
                    .catalog
                    .get(scan.table_name.table())
                    .ok_or_else(|| self.catalog.unknown(scan.table_name.table(), self.at))?;
                if scan.projection.is_some() || !scan.filters.is_empty() {
                    return Err(PlanError::Internal(
                        "scan with pushed-down projection or filters".into(),
                    ));
                }
                let schema = def.physical_schema();
                self.reads_table |= def.kind == weir_parser::SourceKind::Table;
                self.windowed_source |= def.windowed.is_some();
                let mut node = self.add(
                    Op::Scan {
                        stream: def.name.clone(),
                        source: def.source.clone(),
                    },
                    vec![],
                    Arc::clone(&schema),
                    def.partitioning(),
                );
                if self.under_aggregate && def.kind == SourceKind::Table {
                    node = self.add(
                        Op::Changes {
                            key_columns: def.key_columns.clone(),
                        },
                        vec![node],
                        Arc::clone(&schema),
                        def.partitioning(),
                    );
                }
                let lowered = Lowered {
                    node,
                    logical: Arc::clone(&scan.projected_schema),
                    physical: Arc::clone(&schema),
                    visible: def.columns.fields().len(),
                };
                // Tables (looked up by joins) have no windows: only streams are windowed.
                let Some(window) = self
                    .window
                    .clone()
                    .filter(|_| def.kind == SourceKind::Stream)
                else {
                    return Ok(lowered);
                };
                let rowtime_column = schema
                    .index_of(ROWTIME)
                    .map_err(|_| PlanError::Internal("scan without ROWTIME".into()))?;
                let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
                fields.extend(window_fields());
                let physical = Arc::new(Schema::new(fields));
                let step = match window.kind {
                    WindowType::Time {
                        size_ms,
                        advance_ms,
                    } => MapStep::AssignWindows {
                        size_ms,
                        advance_ms,
                        rowtime_column,
                        schema: Arc::clone(&physical),
                    },
                    // A record starts as a session of its own, [t, t]; the aggregation merges
                    // it with the sessions of its key it falls within the gap of.
                    WindowType::Session { .. } => {
                        let mut exprs: Vec<Arc<dyn PhysicalExpr>> = schema
                            .fields()
                            .iter()
                            .enumerate()
                            .map(|(i, f)| {
                                Arc::new(PhysicalColumn::new(f.name(), i)) as Arc<dyn PhysicalExpr>
                            })
                            .collect();
                        for _ in 0..2 {
                            exprs.push(Arc::new(PhysicalColumn::new(ROWTIME, rowtime_column)));
                        }
                        MapStep::Project {
                            exprs,
                            schema: Arc::clone(&physical),
                            null_values: None,
                            display: "session of its own: WINDOWSTART = WINDOWEND = ROWTIME".into(),
                        }
                    }
                };
                let partitioning = self.nodes[node].partitioning.clone();
                let logical = Arc::clone(&lowered.logical);
                let visible = lowered.visible;
                Ok(self.push_step(
                    lowered,
                    step,
                    Some((logical, physical, visible, partitioning)),
                ))
            }
            LogicalPlan::Filter(filter) => {
                let clause = if matches!(filter.input.as_ref(), LogicalPlan::Aggregate(_)) {
                    "HAVING"
                } else {
                    "WHERE"
                };
                if let Some(message) = crate::typecheck::check_predicate(
                    &filter.predicate,
                    filter.input.schema(),
                    clause,
                ) {
                    return Err(PlanError::invalid(message, self.at));
                }
                let input = self.lower(&filter.input)?;
                let input = self.drop_null_values(input);
                let predicate = self.physical(&filter.predicate, &input.logical)?;
                let tombstones = if self.is_changelog(input.node) {
                    input.physical.index_of(ROWDELETED).ok()
                } else {
                    None
                };
                let keys = match &self.nodes[input.node].op {
                    _ if tombstones.is_none() => Vec::new(),
                    Op::Aggregate(spec) => (0..spec.group_types.len()).collect(),
                    Op::Scan { stream, .. } => self
                        .catalog
                        .get(stream)
                        .map(|d| d.key_columns.clone())
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                let step = MapStep::Filter {
                    predicate,
                    tombstones,
                    keys,
                    display: filter.predicate.to_string(),
                };
                Ok(self.push_step(input, step, None))
            }
            LogicalPlan::Projection(p) => {
                let input = self.lower(&p.input)?;
                self.project(p, input)
            }
            LogicalPlan::Unnest(unnest) => {
                let input = self.lower(&unnest.input)?;
                self.explode(unnest, input)
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let input = self.lower(&alias.input)?;
                Ok(Lowered {
                    logical: Arc::clone(&alias.schema),
                    ..input
                })
            }
            LogicalPlan::Limit(_) => Err(PlanError::unsupported(
                "LIMIT is only supported on the outer query",
                self.at,
            )),
            LogicalPlan::Sort(_) => Err(PlanError::unsupported(
                "ORDER BY is not supported on a stream",
                self.at,
            )),
            LogicalPlan::Aggregate(agg) => {
                // A table scanned for an aggregation is read as additions and retractions.
                let joins_before = self.count_joins();
                let outer = std::mem::replace(&mut self.under_aggregate, true);
                let input = self.lower(&agg.input);
                self.under_aggregate = outer;
                let input = input?;
                // Joined tables would need retractions of the joined rows: not yet.
                self.aggregates_table |= self.reads_table && self.count_joins() > joins_before;
                self.aggregate(agg, input)
            }
            LogicalPlan::Join(join) => self.lookup_join(join),
            LogicalPlan::Window(_) => Err(PlanError::unsupported(
                "window functions (OVER) are not supported on streams",
                self.at,
            )),
            other => Err(PlanError::unsupported(
                format!("{} is not supported on streams", other.display()),
                self.at,
            )),
        }
    }

    /// Appends a step to the input's Map node, or starts a new Map.
    fn push_step(
        &mut self,
        input: Lowered,
        step: MapStep,
        out: Option<(DFSchemaRef, SchemaRef, usize, Partitioning)>,
    ) -> Lowered {
        let input_node = &self.nodes[input.node];
        let (logical, physical, visible, partitioning) = out.unwrap_or_else(|| {
            (
                input.logical,
                input.physical,
                input.visible,
                input_node.partitioning.clone(),
            )
        });
        let node = if let Op::Map { steps } = &mut self.nodes[input.node].op {
            steps.push(step);
            input.node
        } else {
            self.add(
                Op::Map { steps: vec![step] },
                vec![input.node],
                Arc::clone(&physical),
                partitioning.clone(),
            )
        };
        let n = &mut self.nodes[node];
        n.schema = Arc::clone(&physical);
        n.partitioning = partitioning;
        Lowered {
            node,
            logical,
            physical,
            visible,
        }
    }

    /// `EXPLODE` (DataFusion's `Unnest` of list columns, one level deep); hidden columns are
    /// repeated with their row.
    fn explode(
        &mut self,
        unnest: &datafusion_expr::logical_plan::Unnest,
        input: Lowered,
    ) -> Result<Lowered> {
        if !unnest.struct_type_columns.is_empty()
            || unnest.list_type_columns.iter().any(|(_, l)| l.depth != 1)
        {
            return Err(PlanError::unsupported(
                "EXPLODE takes an array (one level deep)",
                self.at,
            ));
        }
        if self.is_changelog(input.node) {
            return Err(PlanError::unsupported(
                "Table source is not supported with table functions",
                self.at,
            ));
        }
        let input = self.drop_null_values(input);
        let lists: Vec<usize> = unnest.list_type_columns.iter().map(|(i, _)| *i).collect();
        let mut from = unnest.dependency_indices.clone();
        let mut fields: Vec<Arc<Field>> = unnest.schema.fields().iter().cloned().collect();
        let visible = fields.len();
        for i in input.visible..input.physical.fields().len() {
            from.push(i);
            fields.push(Arc::new(input.physical.field(i).clone()));
        }
        let physical = Arc::new(Schema::new(fields));
        let partitioning = self.nodes[input.node].partitioning.clone();
        let step = MapStep::Explode {
            lists,
            from,
            schema: Arc::clone(&physical),
            display: unnest
                .exec_columns
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let logical = Arc::clone(&unnest.schema);
        Ok(self.push_step(
            input,
            step,
            Some((logical, physical, visible, partitioning)),
        ))
    }

    /// Whether a node's rows are a changelog (a table's rows, an aggregation's output, a
    /// table-table join's): later rows replace earlier ones of their key, and tombstones
    /// (`ROWDELETED`) delete keys.
    fn is_changelog(&self, node: NodeId) -> bool {
        let node = &self.nodes[node];
        match &node.op {
            Op::Scan { stream, .. } => self
                .catalog
                .get(stream)
                .is_some_and(|d| d.kind == SourceKind::Table),
            Op::Aggregate(_) | Op::TableJoin(_) => true,
            Op::Map { .. } | Op::Exchange { .. } => {
                node.inputs.first().is_some_and(|&i| self.is_changelog(i))
            }
            Op::LookupJoin(_) | Op::WindowJoin(_) | Op::Union | Op::Changes { .. } => false,
        }
    }

    /// Whether a node's rows are additions and retractions (`ROWDELETED` marks these).
    fn is_retraction(&self, node: NodeId) -> bool {
        let node = &self.nodes[node];
        match &node.op {
            Op::Changes { .. } => true,
            Op::Map { .. } | Op::Exchange { .. } => {
                node.inputs.first().is_some_and(|&i| self.is_retraction(i))
            }
            _ => false,
        }
    }

    /// The key of an earlier join that `left` (a join's left side, read from `input`) stands
    /// for: `S JOIN T2 ON S.ID = T2.ID JOIN T3 ON S.ID = T3.ID` joins on the first join's key.
    fn earlier_join_key(&self, input: NodeId, left: &Expr) -> Option<JoinKey> {
        let text = without_casts(left);
        self.join_key
            .clone()
            .filter(|k| self.reads_node(input, k.node) && k.class.contains(&text))
    }

    /// Records the key of a stream join's output (see [`JoinKey`]): the columns of the left
    /// side `left` (or of the earlier join's key it stands for) and of `right` stand for it;
    /// its value follows the join kind.
    fn set_join_key(
        &mut self,
        node: NodeId,
        left_input: NodeId,
        (left, right): (&Expr, &Expr),
        key_type: &arrow::datatypes::DataType,
        kind: JoinKind,
    ) {
        // (An inner or outer join after a FULL join is keyed by its own expressions.)
        let earlier = self
            .earlier_join_key(left_input, left)
            .filter(|k| kind == JoinKind::Full || !k.synthetic);
        // A FULL join's key, or one of expressions that are no column, is no source column.
        let synthetic = kind == JoinKind::Full
            || match &earlier {
                Some(k) => k.synthetic,
                None => join_column(left).is_none() && join_column(right).is_none(),
            };
        let mut class = earlier.as_ref().map_or_else(Vec::new, |k| k.class.clone());
        class.extend([without_casts(left), without_casts(right)]);
        let cast = |e: &Expr| datafusion_expr::cast(e.clone(), key_type.clone());
        let left_value = earlier
            .as_ref()
            .map(|k| k.value.clone())
            .unwrap_or_else(|| cast(left));
        let value = match kind {
            JoinKind::Inner | JoinKind::Left => left_value,
            JoinKind::Right => cast(right),
            JoinKind::Full => {
                datafusion_functions::core::expr_fn::coalesce(vec![left_value, cast(right)])
            }
        };
        let mut columns = match earlier {
            Some(k) => k.columns,
            None => join_column(left).into_iter().collect(),
        };
        columns.extend(join_column(right));
        self.join_key = (!columns.is_empty() || synthetic).then_some(JoinKey {
            node,
            columns,
            class,
            value,
            synthetic,
        });
    }

    /// Whether `node`'s rows are `ancestor`'s, as they are (filtered, or moved by exchanges).
    fn reads_node(&self, mut node: NodeId, ancestor: NodeId) -> bool {
        loop {
            if node == ancestor {
                return true;
            }
            let n = &self.nodes[node];
            let passes = match &n.op {
                Op::Map { steps } => steps
                    .iter()
                    .all(|s| matches!(s, MapStep::Filter { .. } | MapStep::DropNullValues { .. })),
                Op::Exchange { .. } => true,
                _ => false,
            };
            match (passes, n.inputs.first()) {
                (true, Some(&i)) => node = i,
                _ => return false,
            }
        }
    }

    /// Whether a node's rows may include a stream's null-value records (`ROWDELETED` on a
    /// stream): a stream's scan, and what passes its rows on unfiltered.
    fn has_null_values(&self, node: NodeId) -> bool {
        let node = &self.nodes[node];
        match &node.op {
            Op::Scan { stream, .. } => self
                .catalog
                .get(stream)
                .is_some_and(|d| d.kind == SourceKind::Stream),
            Op::Map { steps } => {
                !steps
                    .iter()
                    .any(|s| matches!(s, MapStep::DropNullValues { .. }))
                    && node
                        .inputs
                        .first()
                        .is_some_and(|&i| self.has_null_values(i))
            }
            Op::Exchange { .. } => node
                .inputs
                .first()
                .is_some_and(|&i| self.has_null_values(i)),
            Op::Union => node.inputs.iter().any(|&i| self.has_null_values(i)),
            _ => false,
        }
    }

    /// Skips a stream's null-value records, which filters, aggregations and joins ignore (as
    /// ksqlDB does: they have no value to test, count or join).
    fn drop_null_values(&mut self, input: Lowered) -> Lowered {
        if !self.has_null_values(input.node) {
            return input;
        }
        let Ok(column) = input.physical.index_of(ROWDELETED) else {
            return input;
        };
        self.push_step(input, MapStep::DropNullValues { column }, None)
    }

    fn count_joins(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.op,
                    Op::LookupJoin(_) | Op::WindowJoin(_) | Op::TableJoin(_)
                )
            })
            .count()
    }

    /// A projection carries the hidden system columns through, and keeps the key when the key
    /// columns are projected as they are.
    fn project(&mut self, p: &Projection, input: Lowered) -> Result<Lowered> {
        let mut exprs = Vec::with_capacity(p.expr.len() + 2);
        for e in &p.expr {
            exprs.push(self.physical(e, &input.logical)?);
        }
        // Any projected value may be NULL: a row whose expression cannot be evaluated (a CAST
        // that does not fit) gets NULL rather than failing the query.
        let mut fields: Vec<Arc<Field>> = p
            .schema
            .fields()
            .iter()
            .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
            .collect();
        // A windowed aggregation's rows always say which window they are for (the window is
        // part of their key), selected or not.
        if (self.aggregated && self.window.is_some()) || self.windowed_source {
            for bound in [WINDOWSTART, WINDOWEND] {
                if fields.iter().any(|f| f.name() == bound) {
                    continue;
                }
                if let Ok(idx) = input.physical.index_of(bound) {
                    exprs.push(Arc::new(PhysicalColumn::new(bound, idx)));
                    fields.push(Arc::new(input.physical.field(idx).clone()));
                }
            }
        }
        let visible = fields.len();
        let changelog = self.is_changelog(input.node);
        if changelog {
            // A changelog's tombstones have NULL values in every column but the key.
            for f in &mut fields {
                if !f.is_nullable() {
                    *f = Arc::new(f.as_ref().clone().with_nullable(true));
                }
            }
        }
        // A changelog's key stays with its rows even when it is not selected (hidden), so
        // its state can still be told apart by key (`SELECT COUNT(*) ... GROUP BY k`).
        if changelog {
            if let Partitioning::Hash { keys, .. } = &self.nodes[input.node].partitioning {
                let mut names = Vec::new();
                for key in keys {
                    if fields.iter().any(|f| f.name() == key) {
                        names.push(key.clone());
                        continue;
                    }
                    // Selected as an expression or under another name (`UCASE(k) AS uk`).
                    if let Some(name) = projected_key(key, p) {
                        names.push(name);
                        continue;
                    }
                    if let Ok(idx) = input.physical.index_of(key) {
                        let hidden = format!("{HIDDEN_KEY_PREFIX}{key}");
                        exprs.push(Arc::new(PhysicalColumn::new(key, idx)));
                        fields.push(Arc::new(Field::new(
                            &hidden,
                            input.physical.field(idx).data_type().clone(),
                            true,
                        )));
                        names.push(hidden);
                    }
                }
                self.state_keys = names;
            }
        }
        // A stream's null-value records pass a projection without a value: only the key,
        // when it is projected unchanged, keeps its value.
        let null_values = match input.physical.index_of(ROWDELETED) {
            Ok(deleted) if !changelog && self.has_null_values(input.node) => {
                // What is computed from the key alone keeps its value (as ksqlDB evaluates a
                // key-only PARTITION BY on such a record), and so do the system columns (the
                // record's time, flag and window), unless PARTITION BY made them the new key.
                let keys = self
                    .scanned(input.node)
                    .map(StreamDef::key_names)
                    .unwrap_or_default();
                let new_keys = match &self.nodes[input.node].partitioning {
                    Partitioning::Hash { keys, .. } => keys.clone(),
                    Partitioning::Unkeyed { .. } => Vec::new(),
                };
                let system = |name: &str| {
                    (crate::columns::is_hidden(name) || name == WINDOWSTART || name == WINDOWEND)
                        && !new_keys.iter().any(|k| k == name)
                };
                let kept = |e: &Expr| match e.clone().unalias() {
                    Expr::Column(c) if system(&c.name) => true,
                    // (A constant, `PARTITION BY 1`, reads no value column either.)
                    e => e.column_refs().iter().all(|c| keys.contains(&c.name)),
                };
                let cleared = p
                    .expr
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| !kept(e))
                    .map(|(i, _)| i)
                    .collect();
                Some(NullValueColumns { deleted, cleared })
            }
            _ => None,
        };
        let carries_deleted = changelog || self.is_retraction(input.node) || null_values.is_some();
        for hidden in [ROWTIME, ROWOFFSET, ROWDELETED] {
            if fields.iter().any(|f| f.name() == hidden) {
                continue;
            }
            if hidden == ROWDELETED && !carries_deleted {
                // Every stream's rows say whether they have a value; these (a join's) all do.
                if !self.aggregated {
                    exprs.push(Arc::new(Literal::new(ScalarValue::Boolean(Some(false)))));
                    fields.push(crate::columns::tombstone_field());
                }
                continue;
            }
            if let Ok(idx) = input.physical.index_of(hidden) {
                exprs.push(Arc::new(PhysicalColumn::new(hidden, idx)));
                fields.push(Arc::new(input.physical.field(idx).clone()));
            }
        }
        let physical = Arc::new(Schema::new(fields));
        let mut partitioning = self.projected_partitioning(&self.nodes[input.node].partitioning, p);
        if let Some(key) = self
            .join_key
            .clone()
            .filter(|k| self.reads_node(input.node, k.node))
        {
            let found = if key.synthetic {
                let value = without_casts(&key.value);
                p.expr
                    .iter()
                    .position(|e| without_casts(e) == value)
                    .map(|i| (0, i))
            } else {
                key.columns.iter().enumerate().find_map(|(rank, col)| {
                    p.expr
                        .iter()
                        .position(|e| matches!(e.clone().unalias(), Expr::Column(c) if &c == col))
                        .map(|i| (rank, i))
                })
            };
            let partitions = partitioning.partitions();
            match found {
                Some((_, i)) => {
                    // The key takes the join key's value, whichever column stands for it.
                    let value = datafusion_expr::cast(
                        key.value.clone(),
                        physical.field(i).data_type().clone(),
                    );
                    exprs[i] = self.physical(&value, &input.logical)?;
                    partitioning = Partitioning::Hash {
                        keys: vec![physical.field(i).name().clone()],
                        partitions,
                    };
                    if changelog && key.synthetic {
                        // A FULL table join's changelog is keyed by the synthetic column.
                        self.state_keys = vec![physical.field(i).name().clone()];
                    }
                }
                None if key.synthetic => {
                    self.dropped_join_key = Some(vec![self
                        .synthetic_key
                        .clone()
                        .unwrap_or_else(|| "ROWKEY".into())]);
                    partitioning = Partitioning::Unkeyed { partitions };
                }
                None => {
                    self.dropped_join_key = Some(
                        key.columns
                            .iter()
                            .map(|c| match &c.relation {
                                Some(r) => format!("{}.{}", r.table().to_uppercase(), c.name),
                                None => c.name.clone(),
                            })
                            .collect(),
                    );
                    partitioning = Partitioning::Unkeyed { partitions };
                }
            }
        }
        let display = p
            .expr
            .iter()
            .map(explain_expr)
            .collect::<Vec<_>>()
            .join(", ");
        let step = MapStep::Project {
            exprs,
            schema: Arc::clone(&physical),
            null_values,
            display,
        };
        Ok(self.push_step(
            input,
            step,
            Some((Arc::clone(&p.schema), physical, visible, partitioning)),
        ))
    }

    fn projected_partitioning(&self, before: &Partitioning, p: &Projection) -> Partitioning {
        let Partitioning::Hash { keys, partitions } = before else {
            return before.clone();
        };
        let mut renamed = Vec::with_capacity(keys.len());
        for key in keys {
            match projected_key(key, p) {
                Some(name) => renamed.push(name),
                None => {
                    return Partitioning::Unkeyed {
                        partitions: *partitions,
                    }
                }
            }
        }
        Partitioning::Hash {
            keys: renamed,
            partitions: *partitions,
        }
    }

    /// `PARTITION BY e, ...`: evaluate the key on the rows before the projection and move each
    /// row to its key's partition — unless the input is already partitioned that way.
    fn partition_by(
        &mut self,
        sql: &SqlToRel<'_, Provider<'_>>,
        input_plan: &Arc<LogicalPlan>,
        input: Lowered,
        exprs: &[SqlExpr],
        partitions: Option<usize>,
    ) -> Result<Lowered> {
        let is_null = |e: &SqlExpr| matches!(e, SqlExpr::Value(v) if matches!(v.value, weir_parser::sqlparser::ast::Value::Null));
        if exprs.iter().any(is_null) {
            if exprs.len() > 1 {
                return Err(PlanError::invalid(
                    "Cannot PARTITION BY multiple columns including NULL",
                    self.at,
                ));
            }
            // PARTITION BY NULL: the rows lose their key, and spread evenly.
            let before = self.nodes[input.node].partitioning.clone();
            let node = self.add(
                Op::Exchange {
                    keys: Vec::new(),
                    reason: "PARTITION BY NULL removes the key".into(),
                },
                vec![input.node],
                Arc::clone(&input.physical),
                Partitioning::Unkeyed {
                    partitions: partitions.unwrap_or(before.partitions()),
                },
            );
            return Ok(Lowered { node, ..input });
        }
        let mut logical = Vec::with_capacity(exprs.len());
        for e in exprs {
            let pos = Position::from_span(e.span()).or(self.at);
            let expr = sql
                .sql_to_expr(e.clone(), input_plan.schema(), &mut PlannerContext::new())
                .map_err(|err| {
                    // PARTITION BY reads the input: an output alias is not a column there.
                    if let datafusion_common::DataFusionError::SchemaError(se, _) = err.find_root()
                    {
                        if let datafusion_common::SchemaError::FieldNotFound { field, .. } =
                            se.as_ref()
                        {
                            let name = field.name.clone();
                            return PlanError::from_datafusion(err, pos).reworded(format!(
                                "PARTITION BY column '{name}' cannot be resolved. '{name}' must be \
                                 a column in the source schema since PARTITION BY is applied on \
                                 the input."
                            ));
                        }
                    }
                    PlanError::from_datafusion(err, pos)
                })?;
            logical.push(expr);
        }
        // Type-coerce the key expressions the same way as the query: plan them as a projection.
        let projected = LogicalPlanBuilder::from(Arc::clone(input_plan))
            .project(logical)
            .and_then(|b| b.build())
            .map_err(|e| PlanError::from_datafusion(e, self.at))?;
        let projected = Analyzer::new()
            .execute_and_check(projected, &Provider::new(self.catalog).options, |_, _| {})
            .map_err(|e| PlanError::from_datafusion(e, self.at))?;
        let LogicalPlan::Projection(proj) = projected else {
            return Err(PlanError::Internal(
                "key projection did not plan as a projection".into(),
            ));
        };
        let key_names: Vec<String> = proj
            .expr
            .iter()
            .map(|e| match e.clone().unalias() {
                Expr::Column(c) => c.name,
                other => other.to_string(),
            })
            .collect();
        let before = self.nodes[input.node].partitioning.clone();
        let target = partitions.unwrap_or(before.partitions());
        let wanted = Partitioning::Hash {
            keys: key_names.clone(),
            partitions: target,
        };
        if before == wanted {
            return Ok(input);
        }
        let mut keys = Vec::with_capacity(proj.expr.len());
        for e in &proj.expr {
            if matches!(e, Expr::Literal(ScalarValue::Null, _)) {
                continue;
            }
            keys.push(self.physical(e, &input.logical)?);
        }
        let reason = format!("PARTITION BY {} re-keys the stream", key_names.join(", "));
        let node = self.add(
            Op::Exchange { keys, reason },
            vec![input.node],
            Arc::clone(&input.physical),
            wanted,
        );
        Ok(Lowered { node, ..input })
    }

    /// The stream a node reads, following its first input up to the scan.
    /// How many sources feed `node`.
    fn scans_under(&self, node: NodeId) -> usize {
        let n = &self.nodes[node];
        match &n.op {
            Op::Scan { .. } => 1,
            _ => n.inputs.iter().map(|&i| self.scans_under(i)).sum(),
        }
    }

    fn scanned(&self, mut node: NodeId) -> Option<&'a StreamDef> {
        loop {
            let n = &self.nodes[node];
            match &n.op {
                Op::Scan { stream, .. } => return self.catalog.get(stream),
                _ => node = *n.inputs.first()?,
            }
        }
    }

    /// Stream–table join on the table's primary key: the stream is repartitioned to the table's
    /// partitioning unless it is already copartitioned; the table side is never repartitioned.
    fn lookup_join(&mut self, join: &Join) -> Result<Lowered> {
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            JoinType::Right => JoinKind::Right,
            JoinType::Full => JoinKind::Full,
            _ => {
                return Err(PlanError::unsupported(
                    "joins are INNER, LEFT, RIGHT or FULL OUTER",
                    self.at,
                ))
            }
        };
        let left_outer = kind == JoinKind::Left;
        // `SqlToRel` leaves `ON a = b` in the join filter; take the equality out.
        let mut on = join.on.clone();
        if let Some(filter) = &join.filter {
            match filter {
                Expr::BinaryExpr(b) if on.is_empty() && b.op == datafusion_expr::Operator::Eq => {
                    let left_has = |e: &Expr| {
                        e.column_refs().iter().all(|c| join.left.schema().has_column(c))
                    };
                    if left_has(&b.left) {
                        on.push(((*b.left).clone(), (*b.right).clone()));
                    } else {
                        on.push(((*b.right).clone(), (*b.left).clone()));
                    }
                }
                Expr::BinaryExpr(b) if b.op == datafusion_expr::Operator::And => {
                    let mut parts: Vec<String> = on
                        .iter()
                        .map(|(l, r)| format!("({} = {})", join_text(l), join_text(r)))
                        .collect();
                    parts.extend(
                        datafusion_expr::utils::split_conjunction(filter)
                            .into_iter()
                            .map(join_text),
                    );
                    return Err(multiple_join_conditions(&parts, self.at));
                }
                _ => {
                    return Err(PlanError::unsupported(
                        "a join condition must be one equality with the table's primary key (ON s.col = t.key)",
                        self.at,
                    ))
                }
            }
        }
        if on.len() > 1 {
            let parts: Vec<String> = on
                .iter()
                .map(|(l, r)| format!("({} = {})", join_text(l), join_text(r)))
                .collect();
            return Err(multiple_join_conditions(&parts, self.at));
        }
        if on.len() != 1 {
            return Err(PlanError::unsupported(
                "a join condition must be one equality with the table's primary key (ON s.col = t.key)",
                self.at,
            ));
        }
        // Each side of the equality must read exactly one source, the one on its side.
        {
            let (l, r) = &on[0];
            let reads = |e: &Expr, schema: &DFSchemaRef| {
                let refs = e.column_refs();
                !refs.is_empty() && refs.iter().all(|c| schema.has_column(c))
            };
            let (left_ok, right_ok) = (reads(l, join.left.schema()), reads(r, join.right.schema()));
            if !left_ok || !right_ok {
                let bad = if left_ok { r } else { l };
                return Err(PlanError::invalid(
                    format!(
                        "Invalid comparison expression '{}' in join '({} = {})'. Each side of the join comparision must contain references from exactly one source.",
                        join_text(bad),
                        join_text(l),
                        join_text(r)
                    ),
                    self.at,
                ));
            }
        }
        let stream = self.lower(&join.left)?;
        let stream = self.drop_null_values(stream);
        // The table is looked up, not read as a changelog: the join's output is a stream.
        let reads_table = self.reads_table;
        let under_aggregate = std::mem::replace(&mut self.under_aggregate, false);
        let table = self.lower(&join.right);
        self.under_aggregate = under_aggregate;
        let table = self.drop_null_values(table?);
        self.reads_table = reads_table;
        let (Some(stream_def), Some(table_def)) =
            (self.scanned(stream.node), self.scanned(table.node))
        else {
            return Err(PlanError::Internal("join input without a scan".into()));
        };
        if stream_def.name == table_def.name {
            return Err(PlanError::invalid(
                format!(
                    "Can not join '{}' to '{}': self joins are not yet supported.",
                    stream_def.name, table_def.name
                ),
                self.at,
            ));
        }
        // Windowed sources join only windowed sources of the same kind (ksqlDB's rules).
        match (&stream_def.windowed, &table_def.windowed) {
            (None, None) => {}
            (Some(l), Some(r)) if (l == "SESSION") != (r == "SESSION") => {
                return Err(PlanError::invalid(
                    format!(
                        "Incompatible windowed sources.\nLeft source: {l}\nRight source: {r}\nSession windowed sources can only be joined to other session windowed sources, and may still not result in expected behaviour as session bounds must be an exact match for the join to work"
                    ),
                    self.at,
                ));
            }
            (Some(_), Some(_)) => {}
            (Some(kind), None) | (None, Some(kind)) => {
                let (w, other) = if stream_def.windowed.is_some() {
                    (&stream_def.name, &table_def.name)
                } else {
                    (&table_def.name, &stream_def.name)
                };
                return Err(PlanError::invalid(
                    format!(
                        "Can not join windowed source to non-windowed source.\n`{w}` is {kind} windowed\n`{other}` is not windowed"
                    ),
                    self.at,
                ));
            }
        }
        // Joins nest to the left: this is join number (sources on the left - 1).
        let join_index = self.scans_under(stream.node).saturating_sub(1);
        let within = self.within.iter().find(|w| w.join == join_index).cloned();
        if let (Some(w), false) = (
            &within,
            stream_def.kind == SourceKind::Stream && table_def.kind == SourceKind::Stream,
        ) {
            return Err(PlanError::invalid(
                "WITHIN is only for stream-stream joins: joins with a table are not windowed",
                w.position.or(self.at),
            ));
        }
        if stream_def.kind == SourceKind::Stream && table_def.kind == SourceKind::Stream {
            let Some(w) = within else {
                return Err(PlanError::invalid(
                    "Stream-Stream joins must have a WITHIN clause specified. None was provided.",
                    self.at,
                )
                .with_suggestion(Some(
                    "add the window after the joined stream: JOIN b WITHIN 1 HOUR ON a.id = b.id"
                        .into(),
                )));
            };
            return self.window_join(join, kind, &on[0], stream, table, &w);
        }
        if stream_def.kind == SourceKind::Table && table_def.kind == SourceKind::Table {
            let (left_def, right_def) = (stream_def.clone(), table_def.clone());
            return self.table_join(join, kind, &on[0], stream, table, &left_def, &right_def);
        }
        if matches!(kind, JoinKind::Right | JoinKind::Full) {
            let (word, shown) = match kind {
                JoinKind::Full => ("full-outer", "[FULL] OUTER"),
                _ => ("right", "RIGHT"),
            };
            return Err(PlanError::unsupported(
                format!(
                    "Invalid join type: {word} join not supported for stream-table join. Got {} {shown} JOIN {}.",
                    stream_def.name, table_def.name
                ),
                self.at,
            )
            .with_suggestion(Some(
                "the stream side drives a stream-table join: use INNER or LEFT".into(),
            )));
        }
        match (stream_def.kind, table_def.kind) {
            (SourceKind::Stream, SourceKind::Table) => {}
            (SourceKind::Table, SourceKind::Stream) => {
                let kind = if left_outer {
                    "LEFT [OUTER]"
                } else {
                    "[INNER]"
                };
                return Err(PlanError::invalid(
                    format!(
                        "Invalid join order: table-stream joins are not supported; only stream-table joins. Got {} {kind} JOIN {}.",
                        stream_def.name, table_def.name
                    ),
                    self.at,
                )
                .with_suggestion(Some(format!("write the stream first: {} JOIN {}", table_def.name, stream_def.name))));
            }
            (SourceKind::Stream, SourceKind::Stream) => {
                return Err(PlanError::Internal(
                    "stream-stream join not dispatched".into(),
                ))
            }
            (SourceKind::Table, SourceKind::Table) => {
                return Err(PlanError::unsupported(
                    "table-table joins are not supported yet",
                    self.at,
                ))
            }
        }
        for side in [&stream, &table] {
            if side.logical.fields().len() != side.physical.fields().len() {
                return Err(PlanError::unsupported(
                    "join inputs must be streams or tables read directly, not subqueries",
                    self.at,
                ));
            }
        }
        let (left_key, right_key) = &on[0];
        let right_col = match right_key.clone().unalias() {
            Expr::Column(c) => Some(c.name),
            Expr::Cast(c) => match *c.expr {
                Expr::Column(col) => Some(col.name),
                _ => None,
            },
            _ => None,
        };
        let key_names = table_def.key_names();
        if right_col
            .as_ref()
            .is_none_or(|c| key_names.len() != 1 || &key_names[0] != c)
        {
            return Err(PlanError::invalid(
                format!(
                    "Invalid join condition: stream-table joins require to join on the table's primary key. Got {left_key} = {right_key}."
                ),
                self.at,
            )
            .with_suggestion(Some(format!("join on {}.{}", table_def.name, key_names.join(", ")))));
        }
        let key_index = table_def.key_columns[0];
        let key_type = table_def.columns.field(key_index).data_type().clone();
        let left_expr = left_key.clone().unalias();
        let left_expr = match &left_expr {
            Expr::Cast(c) => (*c.expr).clone(),
            other => other.clone(),
        };
        let left_type = left_expr
            .get_type(&stream.logical)
            .map_err(|e| PlanError::from_datafusion(e, self.at))?;
        let integer = |t: &arrow::datatypes::DataType| t.is_integer();
        if left_type != key_type && !(integer(&left_type) && integer(&key_type)) {
            return Err(PlanError::invalid(
                format!(
                    "Invalid join condition: types don't match. Got {left_expr}{{{}}} = {right_key}{{{}}}.",
                    crate::types::sql_type_name(&left_type),
                    crate::types::sql_type_name(&key_type)
                ),
                self.at,
            )
            .with_suggestion(Some("CAST one side to the other's type".into())));
        }
        // (After an outer join, the column named is looked up as it is, NULL on the rows of
        // the other side alone, as ksqlDB does.)
        let stream_key = self.physical(
            &datafusion_expr::cast(left_expr.clone(), key_type.clone()),
            &stream.logical,
        )?;
        let left_name = match &left_expr {
            Expr::Column(c) => c.name.clone(),
            other => other.to_string(),
        };
        let partitions = table_def.partitions;
        let wanted = Partitioning::Hash {
            keys: vec![left_name.clone()],
            partitions,
        };
        let same_type = match &left_expr {
            Expr::Column(c) => stream
                .physical
                .index_of(&c.name)
                .map(|i| stream.physical.field(i).data_type() == &key_type)
                .unwrap_or(false),
            _ => false,
        };
        let mut stream_node = stream.node;
        if !(same_type && self.nodes[stream_node].partitioning == wanted) {
            let reason = format!(
                "JOIN: the stream is repartitioned by {left_name} to meet table {}'s {partitions} partition{}",
                table_def.name,
                if partitions == 1 { "" } else { "s" }
            );
            stream_node = self.add(
                Op::Exchange {
                    keys: vec![Arc::clone(&stream_key)],
                    reason,
                },
                vec![stream_node],
                Arc::clone(&stream.physical),
                wanted.clone(),
            );
        }
        let mut fields: Vec<Arc<Field>> = stream.physical.fields().iter().cloned().collect();
        let stream_columns = fields.len();
        fields.extend(
            table
                .physical
                .fields()
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true))),
        );
        let output = Arc::new(Schema::new(fields));
        if output.fields().len() != join.schema.fields().len() {
            return Err(PlanError::Internal(
                "join schema does not line up with its inputs".into(),
            ));
        }
        let spec = LookupJoinSpec {
            stream_key,
            table_key_columns: vec![key_index],
            left_outer,
            stream_columns,
            output: Arc::clone(&output),
            display: format!("{left_key} = {right_key}"),
        };
        let node = self.add(
            Op::LookupJoin(Arc::new(spec)),
            vec![stream_node, table.node],
            Arc::clone(&output),
            wanted,
        );
        self.set_join_key(node, stream.node, (&left_expr, right_key), &key_type, kind);
        Ok(Lowered {
            node,
            logical: Arc::clone(&join.schema),
            physical: output,
            visible: stream_columns,
        })
    }

    /// Table–table join on primary keys. Tables are never repartitioned: both must have the
    /// same partition count and join on their primary keys, so partition i meets partition i.
    #[allow(clippy::too_many_arguments)]
    fn table_join(
        &mut self,
        join: &Join,
        kind: JoinKind,
        on: &(Expr, Expr),
        left: Lowered,
        right: Lowered,
        left_def: &StreamDef,
        right_def: &StreamDef,
    ) -> Result<Lowered> {
        for side in [&left, &right] {
            if side.logical.fields().len() != side.physical.fields().len() {
                return Err(PlanError::unsupported(
                    "join inputs must be tables read directly, not subqueries",
                    self.at,
                ));
            }
        }
        let column_of = |e: &Expr| match e.clone().unalias() {
            Expr::Column(c) => Some(c.name),
            Expr::Cast(c) => match *c.expr {
                Expr::Column(col) => Some(col.name),
                _ => None,
            },
            _ => None,
        };
        let is_key = |def: &StreamDef, col: &Option<String>| {
            let keys = def.key_names();
            keys.len() == 1 && col.as_ref() == Some(&keys[0])
        };
        let (left_col, right_col) = (column_of(&on.0), column_of(&on.1));
        if !is_key(right_def, &right_col) {
            return Err(PlanError::invalid(
                format!(
                    "Invalid join condition: table-table joins require to join on the primary key of the right input table. Got {} = {}.",
                    on.0, on.1
                ),
                self.at,
            )
            .with_suggestion(Some(format!("join on {}.{}", right_def.name, right_def.key_names().join(", ")))));
        }
        // Joining on anything but the left table's key is a foreign-key join.
        let foreign = !is_key(left_def, &left_col);
        if foreign {
            return self.foreign_key_join(join, kind, on, left, right, left_def, right_def);
        }
        if left_def.partitions != right_def.partitions {
            return Err(PlanError::invalid(
                format!(
                    "Can't join `{}` with `{}` since the number of partitions don't match. `{}` partitions = {}; `{}` partitions = {}. Please repartition either one so that the number of partitions match.",
                    left_def.name, right_def.name, left_def.name, left_def.partitions, right_def.name, right_def.partitions
                ),
                self.at,
            ));
        }
        let left_type = left_def
            .columns
            .field(left_def.key_columns[0])
            .data_type()
            .clone();
        let right_type = right_def
            .columns
            .field(right_def.key_columns[0])
            .data_type()
            .clone();
        if left_type != right_type {
            return Err(PlanError::invalid(
                format!(
                    "Invalid join condition: types don't match. Got {}{{{}}} = {}{{{}}}.",
                    on.0,
                    crate::types::sql_type_name(&left_type),
                    on.1,
                    crate::types::sql_type_name(&right_type)
                ),
                self.at,
            ));
        }
        let left_key = self.physical(&on.0.clone().unalias(), &left.logical)?;
        let right_key = self.physical(&on.1.clone().unalias(), &right.logical)?;
        let nullable = |f: &Arc<Field>, yes: bool| {
            if yes {
                Arc::new(f.as_ref().clone().with_nullable(true))
            } else {
                Arc::clone(f)
            }
        };
        let mut fields: Vec<Arc<Field>> = left
            .physical
            .fields()
            .iter()
            .map(|f| nullable(f, kind.keeps_right()))
            .collect();
        let left_columns = fields.len();
        fields.extend(right.physical.fields().iter().map(|f| nullable(f, true)));
        let output = Arc::new(Schema::new(fields));
        if output.fields().len() != join.schema.fields().len() {
            return Err(PlanError::Internal(
                "join schema does not line up with its inputs".into(),
            ));
        }
        let hidden = |schema: &Schema, name: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name() == name)
                .ok_or_else(|| PlanError::Internal(format!("join input without {name}")))
        };
        let spec = TableJoinSpec {
            left_key,
            right_key,
            kind,
            left_foreign_key: None,
            left_key_column: left_def.key_columns[0],
            right_key_column: right_def.key_columns[0],
            left_columns,
            left_time: hidden(&left.physical, ROWTIME)?,
            left_offset: hidden(&left.physical, ROWOFFSET)?,
            right_time: hidden(&right.physical, ROWTIME)?,
            right_offset: hidden(&right.physical, ROWOFFSET)?,
            left_deleted: hidden(&left.physical, ROWDELETED)?,
            right_deleted: hidden(&right.physical, ROWDELETED)?,
            output: Arc::clone(&output),
            display: format!("{} = {}", on.0, on.1),
        };
        let partitioning = self.nodes[left.node].partitioning.clone();
        let node = self.add(
            Op::TableJoin(Arc::new(spec)),
            vec![left.node, right.node],
            Arc::clone(&output),
            partitioning,
        );
        if kind == JoinKind::Full {
            // The key is the synthetic column of both keys (the operator already fills the
            // left key column so).
            self.set_join_key(node, left.node, (&on.0, &on.1), &left_type, kind);
        }
        Ok(Lowered {
            node,
            logical: Arc::clone(&join.schema),
            physical: output,
            visible: left_columns,
        })
    }

    /// Foreign-key table–table join (`FROM orders o JOIN customers c ON o.customer_id = c.id`):
    /// every left row meets the right row its expression refers to; the result is keyed by the
    /// left table's primary key. Rows of one foreign key may sit in any left partition, so both
    /// tables meet in one partition (an exchange gathers a side that has more).
    #[allow(clippy::too_many_arguments)]
    fn foreign_key_join(
        &mut self,
        join: &Join,
        kind: JoinKind,
        on: &(Expr, Expr),
        left: Lowered,
        right: Lowered,
        left_def: &StreamDef,
        right_def: &StreamDef,
    ) -> Result<Lowered> {
        if matches!(kind, JoinKind::Right | JoinKind::Full) {
            return Err(PlanError::unsupported(
                format!(
                    "{} OUTER JOIN on a foreign key is not supported: a foreign-key join is keyed by the left table",
                    if kind == JoinKind::Right { "RIGHT" } else { "FULL" }
                ),
                self.at,
            ));
        }
        if left_def.key_columns.len() != 1 {
            return Err(PlanError::unsupported(
                "a foreign-key join needs a left table with one primary key column",
                self.at,
            ));
        }
        // (The types as written: a cast coercion added to make them comparable does not count.)
        let (fk_written, pk_written) = (as_written(&on.0), as_written(&on.1));
        let fk_type = fk_written
            .get_type(&left.logical)
            .map_err(|e| PlanError::from_datafusion(e, self.at))?;
        let right_type = right_def
            .columns
            .field(right_def.key_columns[0])
            .data_type()
            .clone();
        if fk_type != right_type && !(fk_type.is_integer() && right_type.is_integer()) {
            return Err(PlanError::invalid(
                format!(
                    "Invalid join condition: types don't match. Got {}{{{}}} = {}{{{}}}.",
                    fk_written,
                    crate::types::sql_type_name(&fk_type),
                    pk_written,
                    crate::types::sql_type_name(&right_type)
                ),
                self.at,
            )
            .with_suggestion(Some(
                "CAST the foreign key to the primary key's type".into(),
            )));
        }
        let pk = left_def.key_columns[0];
        let (qualifier, pk_field) = left.logical.qualified_field(pk);
        let pk_expr = Expr::Column(datafusion_common::Column::new(
            qualifier.cloned(),
            pk_field.name(),
        ));
        let left_key = self.physical(&pk_expr, &left.logical)?;
        let foreign_key = self.physical(&on.0.clone().unalias(), &left.logical)?;
        let right_key = self.physical(&on.1.clone().unalias(), &right.logical)?;
        let pk_name = left_def.key_names()[0].clone();
        let right_pk_name = right_def.key_names()[0].clone();
        let mut gather = |node: NodeId, key: String, schema: &SchemaRef, name: &str| {
            if self.nodes[node].partitioning.partitions() == 1 {
                return node;
            }
            self.add(
                Op::Exchange {
                    keys: Vec::new(),
                    reason: format!(
                        "JOIN: a foreign-key join meets {name} in one partition (rows of a foreign key may be in any)"
                    ),
                },
                vec![node],
                Arc::clone(schema),
                Partitioning::Hash {
                    keys: vec![key],
                    partitions: 1,
                },
            )
        };
        let left_node = gather(left.node, pk_name.clone(), &left.physical, &left_def.name);
        let right_node = gather(right.node, right_pk_name, &right.physical, &right_def.name);
        let mut fields: Vec<Arc<Field>> = left.physical.fields().iter().cloned().collect();
        let left_columns = fields.len();
        fields.extend(
            right
                .physical
                .fields()
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true))),
        );
        let output = Arc::new(Schema::new(fields));
        if output.fields().len() != join.schema.fields().len() {
            return Err(PlanError::Internal(
                "join schema does not line up with its inputs".into(),
            ));
        }
        let hidden = |schema: &Schema, name: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name() == name)
                .ok_or_else(|| PlanError::Internal(format!("join input without {name}")))
        };
        let spec = TableJoinSpec {
            left_key,
            right_key,
            kind,
            left_foreign_key: Some(foreign_key),
            left_key_column: pk,
            right_key_column: right_def.key_columns[0],
            left_columns,
            left_time: hidden(&left.physical, ROWTIME)?,
            left_offset: hidden(&left.physical, ROWOFFSET)?,
            right_time: hidden(&right.physical, ROWTIME)?,
            right_offset: hidden(&right.physical, ROWOFFSET)?,
            left_deleted: hidden(&left.physical, ROWDELETED)?,
            right_deleted: hidden(&right.physical, ROWDELETED)?,
            output: Arc::clone(&output),
            display: format!("{} = {} (foreign key)", on.0, on.1),
        };
        let node = self.add(
            Op::TableJoin(Arc::new(spec)),
            vec![left_node, right_node],
            Arc::clone(&output),
            Partitioning::Hash {
                keys: vec![pk_name],
                partitions: 1,
            },
        );
        Ok(Lowered {
            node,
            logical: Arc::clone(&join.schema),
            physical: output,
            visible: left_columns,
        })
    }

    /// Stream–stream join within a window. Both sides must be hash-partitioned on their join
    /// key with the same partition count: a side that is not is repartitioned (streams can
    /// be), to the left side's partition count.
    fn window_join(
        &mut self,
        join: &Join,
        kind: JoinKind,
        on: &(Expr, Expr),
        left: Lowered,
        right: Lowered,
        within: &weir_parser::JoinWithin,
    ) -> Result<Lowered> {
        for side in [&left, &right] {
            if side.logical.fields().len() != side.physical.fields().len() {
                return Err(PlanError::unsupported(
                    "join inputs must be streams read directly, not subqueries",
                    self.at,
                ));
            }
        }
        let typed = |(l, r): (Expr, Expr)| -> Result<_> {
            let lt = l
                .get_type(&left.logical)
                .map_err(|e| PlanError::from_datafusion(e, self.at))?;
            let rt = r
                .get_type(&right.logical)
                .map_err(|e| PlanError::from_datafusion(e, self.at))?;
            Ok((l, r, lt, rt))
        };
        // The casts coercion added go; a CAST the query wrote (one that makes the types
        // match) stays.
        let (mut left_expr, mut right_expr, mut left_type, mut right_type) =
            typed((as_written(&on.0), as_written(&on.1)))?;
        if left_type != right_type && !(left_type.is_integer() && right_type.is_integer()) {
            let written = typed((on.0.clone().unalias(), on.1.clone().unalias()))?;
            if written.2 == written.3 {
                (left_expr, right_expr, left_type, right_type) = written;
            }
        }
        let key_type = if left_type == right_type {
            left_type.clone()
        } else if left_type.is_integer() && right_type.is_integer() {
            arrow::datatypes::DataType::Int64
        } else {
            return Err(PlanError::invalid(
                format!(
                    "Invalid join condition: types don't match. Got {left_expr}{{{}}} = {right_expr}{{{}}}.",
                    crate::types::sql_type_name(&left_type),
                    crate::types::sql_type_name(&right_type)
                ),
                self.at,
            )
            .with_suggestion(Some("CAST one side to the other's type".into())));
        };
        let name_of = |e: &Expr| match e {
            Expr::Column(c) => c.name.clone(),
            other => other.to_string(),
        };
        let partitions = left.node_partitions(&self.nodes);
        let mut sides = Vec::new();
        for (side, expr, ty) in [
            (&left, &left_expr, &left_type),
            (&right, &right_expr, &right_type),
        ] {
            let key = self.physical(
                &datafusion_expr::cast(expr.clone(), key_type.clone()),
                &side.logical,
            )?;
            let name = name_of(expr);
            let wanted = Partitioning::Hash {
                keys: vec![name.clone()],
                partitions,
            };
            let mut node = side.node;
            let keyed = ty == &key_type
                && matches!(expr, Expr::Column(_))
                && self.nodes[node].partitioning == wanted;
            if !keyed {
                let reason = format!(
                    "JOIN: the stream is repartitioned by {name} to be copartitioned with the other side ({partitions} partition{})",
                    if partitions == 1 { "" } else { "s" }
                );
                node = self.add(
                    Op::Exchange {
                        keys: vec![Arc::clone(&key)],
                        reason,
                    },
                    vec![node],
                    Arc::clone(&side.physical),
                    wanted,
                );
            }
            sides.push((node, key, name));
        }
        let (right_node, right_key, _) = sides
            .pop()
            .ok_or_else(|| PlanError::Internal("join side".into()))?;
        let (left_node, left_key, left_name) = sides
            .pop()
            .ok_or_else(|| PlanError::Internal("join side".into()))?;
        let nullable = |f: &Arc<Field>, yes: bool| {
            if yes {
                Arc::new(f.as_ref().clone().with_nullable(true))
            } else {
                Arc::clone(f)
            }
        };
        let mut fields: Vec<Arc<Field>> = left
            .physical
            .fields()
            .iter()
            .map(|f| nullable(f, kind.keeps_right()))
            .collect();
        let left_columns = fields.len();
        fields.extend(right.physical.fields().iter().map(|f| nullable(f, true)));
        let output = Arc::new(Schema::new(fields));
        if output.fields().len() != join.schema.fields().len() {
            return Err(PlanError::Internal(
                "join schema does not line up with its inputs".into(),
            ));
        }
        let hidden = |schema: &Schema, name: &str| {
            schema
                .fields()
                .iter()
                .position(|f| f.name() == name)
                .ok_or_else(|| PlanError::Internal(format!("join input without {name}")))
        };
        let spec = WindowJoinSpec {
            left_key,
            right_key,
            kind,
            before_ms: within.before_ms,
            after_ms: within.after_ms,
            grace_ms: within.grace_ms.unwrap_or(DEFAULT_GRACE_MS),
            eager_outer: within.grace_ms.is_none(),
            left_columns,
            left_time: hidden(&left.physical, ROWTIME)?,
            left_offset: hidden(&left.physical, ROWOFFSET)?,
            right_time: hidden(&right.physical, ROWTIME)?,
            right_offset: hidden(&right.physical, ROWOFFSET)?,
            output: Arc::clone(&output),
            display: format!("{} = {}", on.0, on.1),
        };
        let node = self.add(
            Op::WindowJoin(Arc::new(spec)),
            vec![left_node, right_node],
            Arc::clone(&output),
            Partitioning::Hash {
                keys: vec![left_name],
                partitions,
            },
        );
        self.set_join_key(node, left.node, (&left_expr, &right_expr), &key_type, kind);
        Ok(Lowered {
            node,
            logical: Arc::clone(&join.schema),
            physical: output,
            visible: left_columns,
        })
    }

    /// `UNION ALL`: each branch is projected on its own, brought to one partition count, and
    /// merged. The branches' columns must line up (DataFusion coerces compatible types).
    fn union(
        &mut self,
        union: &datafusion_expr::logical_plan::Union,
        partitions: Option<usize>,
    ) -> Result<Lowered> {
        let mut branches = Vec::new();
        for input in &union.inputs {
            let branch = match input.as_ref() {
                LogicalPlan::Projection(p) => {
                    let lowered = self.lower(&p.input)?;
                    self.project(p, lowered)?
                }
                LogicalPlan::Union(inner) => self.union(inner, partitions)?,
                other => self.lower(other)?,
            };
            branches.push(branch);
        }
        for branch in &branches {
            if let Some(def) = self.scanned(branch.node) {
                if def.kind == SourceKind::Table {
                    return Err(PlanError::invalid(
                        format!("UNION ALL combines streams; {} is a table", def.name),
                        self.at,
                    ));
                }
            }
        }
        let Some(first) = branches.first() else {
            return Err(PlanError::Internal("UNION without inputs".into()));
        };
        let target = partitions.unwrap_or_else(|| self.nodes[first.node].partitioning.partitions());
        let schema = Arc::new(Schema::new(
            first
                .physical
                .fields()
                .iter()
                .map(|f| Arc::new(f.as_ref().clone().with_nullable(true)))
                .collect::<Vec<_>>(),
        ));
        let visible = first.visible;
        let logical = Arc::clone(&union.schema);
        let mut nodes = Vec::new();
        let mut partitionings = Vec::new();
        for branch in branches {
            let types: Vec<_> = branch
                .physical
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect();
            let want: Vec<_> = schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect();
            if types != want {
                let show = |t: &[arrow::datatypes::DataType]| {
                    t.iter()
                        .take(visible)
                        .map(crate::types::sql_type_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(PlanError::invalid(
                    format!(
                        "UNION ALL branches must have the same column types: ({}) vs ({})",
                        show(&want),
                        show(&types)
                    ),
                    self.at,
                )
                .with_suggestion(Some(
                    "CAST the columns of one branch to the other's types".into(),
                )));
            }
            let before = branch.node;
            let branch = self.rebalance(branch, Some(target));
            if branch.node != before {
                if let Op::Exchange { reason, .. } = &mut self.nodes[branch.node].op {
                    *reason = format!("UNION ALL: the branch is brought to {target} partitions");
                }
            }
            partitionings.push(self.nodes[branch.node].partitioning.clone());
            nodes.push(branch.node);
        }
        // Still hash-partitioned when every branch is, on the same key.
        let partitioning = if partitionings.windows(2).all(|w| w[0] == w[1]) {
            partitionings[0].clone()
        } else {
            Partitioning::Unkeyed { partitions: target }
        };
        let node = self.add(Op::Union, nodes, Arc::clone(&schema), partitioning);
        Ok(Lowered {
            node,
            logical,
            physical: schema,
            visible,
        })
    }

    /// What kind of key a projection dropped, and its names (as ksqlDB words them).
    fn dropped_key(&self, keys: &[String], partitioned: bool) -> (String, Vec<String>) {
        if self.aggregated {
            return ("grouping expression".into(), keys.to_vec());
        }
        if partitioned {
            let stream = self.nodes.iter().find_map(|n| match &n.op {
                Op::Scan { stream, .. } => Some(stream.clone()),
                _ => None,
            });
            let qualify = |k: &String| match &stream {
                Some(s) if !k.contains('(') => format!("{s}.{k}"),
                _ => k.to_uppercase(),
            };
            return (
                "partitioning expression".into(),
                keys.iter().map(qualify).collect(),
            );
        }
        ("key column".into(), keys.to_vec())
    }

    /// `GROUP BY`: rows move to the partition of their group key (unless already there), then
    /// each partition keeps per-group aggregate state.
    fn aggregate(&mut self, agg: &Aggregate, input: Lowered) -> Result<Lowered> {
        let input = self.drop_null_values(input);
        if agg
            .group_expr
            .iter()
            .any(|e| matches!(e, Expr::GroupingSet(_)))
        {
            return Err(PlanError::unsupported(
                "GROUPING SETS, CUBE and ROLLUP are not supported",
                self.at,
            ));
        }
        let n_groups = agg.group_expr.len();
        let out_fields: Vec<Arc<Field>> = agg.schema.fields().iter().cloned().collect();
        let mut group_exprs = Vec::with_capacity(n_groups);
        let mut group_types = Vec::with_capacity(n_groups);
        let mut key_exprs = Vec::new();
        let mut key_names = Vec::new();
        for (e, f) in agg.group_expr.iter().zip(&out_fields) {
            let physical = self.physical(e, &input.logical)?;
            group_types.push(f.data_type().clone());
            let is_window =
                matches!(e, Expr::Column(c) if c.name == WINDOWSTART || c.name == WINDOWEND);
            if !is_window {
                key_exprs.push(Arc::clone(&physical));
                key_names.push(f.name().clone());
            }
            group_exprs.push(physical);
        }
        let arrow_input = Arc::new(input.logical.as_arrow().clone());
        let mut aggregates = Vec::with_capacity(agg.aggr_expr.len());
        for e in &agg.aggr_expr {
            let lowered = LoweredAggregateBuilder::new(
                e,
                &input.logical,
                &arrow_input,
                &ExecutionProps::new(),
                &PhysicalPlanningContext::default(),
            )
            .build()
            .map_err(|err| PlanError::from_datafusion(err, self.at))?;
            if lowered.filter.is_some() || !lowered.order_bys.is_empty() {
                return Err(PlanError::unsupported(
                    "FILTER (WHERE ...) and ORDER BY inside aggregate calls are not supported",
                    self.at,
                ));
            }
            aggregates.push(lowered.aggregate);
        }
        // Partition by the group key.
        let before = self.nodes[input.node].partitioning.clone();
        let target = if key_exprs.is_empty() {
            1
        } else {
            self.output_partitions.unwrap_or(before.partitions())
        };
        let satisfied = match &before {
            Partitioning::Hash { keys, partitions } => {
                *partitions == target
                    && !key_names.is_empty()
                    && keys.iter().all(|k| key_names.contains(k))
            }
            Partitioning::Unkeyed { partitions } => *partitions == 1 && target == 1,
        };
        let mut node = input.node;
        if !satisfied {
            let reason = if key_names.is_empty() {
                "an aggregation without GROUP BY keys runs in one partition".to_string()
            } else {
                format!(
                    "GROUP BY {} needs rows of a group in one partition",
                    key_names.join(", ")
                )
            };
            let partitioning = if key_names.is_empty() {
                Partitioning::Unkeyed { partitions: 1 }
            } else {
                Partitioning::Hash {
                    keys: key_names.clone(),
                    partitions: target,
                }
            };
            node = self.add(
                Op::Exchange {
                    keys: key_exprs,
                    reason,
                },
                vec![node],
                Arc::clone(&input.physical),
                partitioning,
            );
        }
        let column = |name: &str| {
            input
                .physical
                .index_of(name)
                .map_err(|_| PlanError::Internal(format!("aggregate input without {name}")))
        };
        // Aggregate values are NULL on the tombstones a changelog may carry.
        let mut fields: Vec<Arc<Field>> = out_fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i < n_groups {
                    Arc::clone(f)
                } else {
                    Arc::new(f.as_ref().clone().with_nullable(true))
                }
            })
            .collect();
        fields.extend(crate::columns::hidden_fields());
        fields.push(crate::columns::tombstone_field());
        let output = Arc::new(Schema::new(fields));
        let spec = AggregateSpec {
            group_exprs,
            group_types,
            aggregates,
            window: self.window.clone(),
            window_end_column: if self.window.is_some() {
                Some(column(WINDOWEND)?)
            } else {
                None
            },
            rowtime_column: column(ROWTIME)?,
            rowoffset_column: column(ROWOFFSET)?,
            emit: self.emit,
            output: Arc::clone(&output),
            display_keys: if key_names.is_empty() {
                "()".into()
            } else {
                key_names.join(", ")
            },
            display_aggregates: agg
                .aggr_expr
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            retract_column: if self.is_retraction(input.node) {
                Some(column(ROWDELETED)?)
            } else {
                None
            },
        };
        let partitioning = if key_names.is_empty() {
            Partitioning::Unkeyed { partitions: 1 }
        } else {
            Partitioning::Hash {
                keys: key_names,
                partitions: target,
            }
        };
        let node = self.add(
            Op::Aggregate(Arc::new(spec)),
            vec![node],
            Arc::clone(&output),
            partitioning,
        );
        self.aggregated = true;
        Ok(Lowered {
            node,
            logical: Arc::clone(&agg.schema),
            physical: output,
            visible: out_fields.len(),
        })
    }

    /// Changes the partition count when the output asks for another one, keeping the key.
    fn rebalance(&mut self, input: Lowered, partitions: Option<usize>) -> Lowered {
        let before = self.nodes[input.node].partitioning.clone();
        let Some(target) = partitions.filter(|&p| p != before.partitions()) else {
            return input;
        };
        let (keys, partitioning) = match &before {
            Partitioning::Hash { keys, .. } => {
                let exprs: Vec<Arc<dyn PhysicalExpr>> = keys
                    .iter()
                    .filter_map(|k| input.physical.index_of(k).ok().map(|i| (k, i)))
                    .map(|(k, i)| Arc::new(PhysicalColumn::new(k, i)) as Arc<dyn PhysicalExpr>)
                    .collect();
                (
                    exprs,
                    Partitioning::Hash {
                        keys: keys.clone(),
                        partitions: target,
                    },
                )
            }
            Partitioning::Unkeyed { .. } => {
                (Vec::new(), Partitioning::Unkeyed { partitions: target })
            }
        };
        let reason = format!("PARTITIONS={target} changes the partition count");
        let node = self.add(
            Op::Exchange { keys, reason },
            vec![input.node],
            Arc::clone(&input.physical),
            partitioning,
        );
        Lowered { node, ..input }
    }
}

/// A join condition's side as ksqlDB prints it: `T.ID`, `0`, `null`, `'x'`.
fn join_text(e: &Expr) -> String {
    match e {
        Expr::Column(c) => c.to_string(),
        Expr::Cast(c) => join_text(&c.expr),
        Expr::TryCast(c) => join_text(&c.expr),
        Expr::Alias(a) => join_text(&a.expr),
        Expr::Literal(v, _) if v.is_null() => "null".into(),
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => format!("'{s}'"),
        Expr::Literal(v, _) => v.to_string(),
        Expr::BinaryExpr(b) => format!("({} {} {})", join_text(&b.left), b.op, join_text(&b.right)),
        other => other.to_string(),
    }
}

/// ksqlDB joins on one equality.
fn multiple_join_conditions(parts: &[String], at: Option<Position>) -> PlanError {
    PlanError::unsupported(
        format!(
            "Invalid join condition: joins on multiple conditions are not yet supported. Got ({}).",
            parts.join(" AND ")
        ),
        at,
    )
    .with_suggestion(Some(
        "join on one equality, and filter on the rest in WHERE".into(),
    ))
}
