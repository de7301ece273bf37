//! ksqlDB's check of a grouped query: every SELECT (and HAVING) expression outside aggregate
//! calls must be a GROUP BY expression or built from them. It runs on the SQL before
//! DataFusion plans it, so the message names the offending expressions as ksqlDB does:
//! `Non-aggregate SELECT expression(s) not part of GROUP BY: (F1 * SUM(F2))`.

use std::ops::ControlFlow;

use weir_parser::sqlparser::ast::{
    visit_expressions, BinaryOperator, Expr as SqlExpr, FunctionArg, FunctionArgExpr,
    FunctionArguments, GroupByExpr, Query, SelectItem, SetExpr,
};

use crate::columns::{ROWTIME, WINDOWEND, WINDOWSTART};
use crate::provider::FunctionRegistry;

/// The first violation, as ksqlDB words it.
pub(crate) fn check(query: &Query) -> Option<String> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if let Some(name) = lambda_over_aggregate(select) {
        return Some(format!(
            "{name} over an aggregate is not supported yet: aggregate in one query \
             (CREATE TABLE t AS SELECT ..., COLLECT_LIST(x) AS xs ... GROUP BY ...), then apply \
             {name} to its column in a second"
        ));
    }
    let selected: Vec<&SqlExpr> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    // An aggregate inside an aggregate.
    for e in selected.iter().copied().chain(select.having.as_ref()) {
        let mut nested = None;
        let _ = weir_parser::sqlparser::ast::visit_expressions(e, |x| {
            if let SqlExpr::Function(f) = x {
                if is_aggregate(x) && function_args(f).iter().any(|a| contains_aggregate(a)) {
                    nested = Some(text(x).replace("(*)", "()"));
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(call) = nested {
            return Some(format!("Aggregate functions can not be nested: {call}"));
        }
    }
    let GroupByExpr::Expressions(group_by, _) = &select.group_by else {
        return None;
    };
    if group_by.is_empty() {
        return None;
    }
    if group_by.iter().any(|e| match e {
        SqlExpr::Rollup(_) | SqlExpr::Cube(_) | SqlExpr::GroupingSets(_) => true,
        SqlExpr::Function(f) => matches!(
            f.name.to_string().to_uppercase().as_str(),
            "ROLLUP" | "CUBE" | "GROUPING SETS"
        ),
        _ => false,
    }) {
        return Some(
            "GROUP BY ROLLUP, CUBE and GROUPING SETS are not supported: group by the columns, one query per grouping"
                .into(),
        );
    }
    // The same grouping expression twice.
    let source = match select.from.as_slice() {
        [one] if one.joins.is_empty() => match &one.relation {
            weir_parser::sqlparser::ast::TableFactor::Table { name, alias, .. } => alias
                .as_ref()
                .map(|a| a.name.value.to_uppercase())
                .or_else(|| name.0.last().map(|p| p.to_string().to_uppercase())),
            _ => None,
        },
        _ => None,
    };
    let mut seen: Vec<String> = Vec::new();
    for g in group_by {
        let t = text(g);
        if seen.contains(&t) {
            let shown = match (g, &source) {
                (SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_), Some(s)) => {
                    format!("{s}.{t}")
                }
                _ => t,
            };
            return Some(format!("Duplicate GROUP BY expression: {shown}"));
        }
        seen.push(t);
    }
    if let Some(unknown) = unknown_function(&selected) {
        return Some(format!(
            "Can't find any functions with the name '{unknown}'"
        ));
    }
    // A GROUP BY groups for its aggregates.
    if !selected
        .iter()
        .copied()
        .chain(select.having.as_ref())
        .any(contains_aggregate)
    {
        return Some(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.".into(),
        );
    }
    // An aggregate in a GROUP BY expression, at any depth.
    for g in group_by {
        let mut found = None;
        let _ = weir_parser::sqlparser::ast::visit_expressions(g, |e| {
            if is_aggregate(e) {
                if let SqlExpr::Function(f) = e {
                    found = Some(f.name.to_string().to_uppercase());
                }
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if let Some(name) = found {
            return Some(format!(
                "GROUP BY does not support aggregate functions: {name} is an aggregate function."
            ));
        }
    }
    let groups: Vec<String> = group_by.iter().map(text).collect();
    let bad: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .filter(|e| !derived(e, &groups))
        .map(text)
        .collect();
    if !bad.is_empty() {
        return Some(format!(
            "Non-aggregate SELECT expression(s) not part of GROUP BY: {}\nEither add the column(s) to the GROUP BY or remove them from the SELECT.",
            bad.join(", ")
        ));
    }
    let having = select.having.as_ref()?;
    let mut columns = Vec::new();
    loose_columns(having, &groups, &mut columns);
    (!columns.is_empty()).then(|| {
        format!(
            "Non-aggregate HAVING expression not part of GROUP BY: {}\nEither add the column to the GROUP BY or remove it from the HAVING.",
            columns.join(", ")
        )
    })
}

fn is_aggregate(e: &SqlExpr) -> bool {
    match e {
        SqlExpr::Function(f) => FunctionRegistry::get()
            .aggregates
            .contains_key(&f.name.to_string().to_lowercase()),
        _ => false,
    }
}

/// Whether `e` calls an aggregate anywhere.
fn contains_aggregate(e: &SqlExpr) -> bool {
    let mut found = false;
    let _ = weir_parser::sqlparser::ast::visit_expressions(e, |x| {
        if is_aggregate(x) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

/// The first function the expressions call that no library has (upper-cased).
fn unknown_function(exprs: &[&SqlExpr]) -> Option<String> {
    let registry = FunctionRegistry::get();
    let mut found = None;
    for e in exprs {
        let _ = weir_parser::sqlparser::ast::visit_expressions(*e, |x| {
            if let SqlExpr::Function(f) = x {
                let name = f.name.to_string().to_lowercase();
                if !registry.scalars.contains_key(&name)
                    && !registry.aggregates.contains_key(&name)
                    && !registry.higher_order.contains_key(&name)
                {
                    found = Some(name.to_uppercase());
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if found.is_some() {
            break;
        }
    }
    found
}

fn is_system(name: &str) -> bool {
    [ROWTIME, WINDOWSTART, WINDOWEND].contains(&name)
}

/// Whether `e` is computed from GROUP BY expressions, aggregates and literals only.
fn derived(e: &SqlExpr, groups: &[String]) -> bool {
    if groups.contains(&text(e)) || is_aggregate(e) {
        return true;
    }
    match e {
        SqlExpr::Identifier(i) => is_system(&i.value.to_uppercase()),
        SqlExpr::CompoundIdentifier(parts) => parts
            .last()
            .is_some_and(|i| is_system(&i.value.to_uppercase())),
        SqlExpr::Value(_) => true,
        SqlExpr::Nested(inner) => derived(inner, groups),
        SqlExpr::BinaryOp { left, right, .. } => derived(left, groups) && derived(right, groups),
        SqlExpr::UnaryOp { expr, .. } => derived(expr, groups),
        SqlExpr::Function(f) => function_args(f).iter().all(|a| derived(a, groups)),
        // A lambda's parameters are its own, not columns.
        SqlExpr::Lambda(l) => derived(&l.body, &with_parameters(groups, l)),
        // Anything else: every column it reads outside aggregates must be grouped.
        other => {
            let mut columns = Vec::new();
            loose_columns(other, groups, &mut columns);
            columns.is_empty()
        }
    }
}

/// Lambdas with the parameters their function gives: REDUCE `(state, element)` over an array
/// or `(state, key, value)` over a map; TRANSFORM and FILTER `(element)` over an array,
/// `(key, value)` over a map.
pub(crate) fn check_lambdas(query: &Query) -> Option<String> {
    let mut found = None;
    let _ = weir_parser::sqlparser::ast::visit_expressions(query, |e| {
        let SqlExpr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_uppercase();
        for a in function_args(f) {
            let SqlExpr::Lambda(l) = a else { continue };
            let n = l.params.len();
            let message = match name.as_str() {
                "REDUCE" if !(2..=3).contains(&n) => Some(
                    "REDUCE takes a lambda of two parameters (state, element) over an array, three \
                     (state, key, value) over a map",
                ),
                "TRANSFORM" | "FILTER" if !(1..=2).contains(&n) => Some(
                    "TRANSFORM and FILTER take lambdas of one parameter (element) over an array, \
                     two (key, value) over a map",
                ),
                "REDUCE" | "TRANSFORM" | "FILTER" => None,
                _ => Some("only TRANSFORM, FILTER and REDUCE take a lambda"),
            };
            if let Some(m) = message {
                found = Some(m.to_string());
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// A lambda function (TRANSFORM, FILTER, REDUCE) applied to an aggregate's result in the
/// SELECT list or HAVING: its name.
fn lambda_over_aggregate(select: &weir_parser::sqlparser::ast::Select) -> Option<String> {
    let items = select.projection.iter().filter_map(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    });
    let mut found = None;
    for e in items.chain(select.having.as_ref()) {
        let _ = visit_expressions(e, |e| {
            if let SqlExpr::Function(f) = e {
                let args = function_args(f);
                let has_lambda = args.iter().any(|a| matches!(a, SqlExpr::Lambda(_)));
                let over_aggregate = args.iter().any(|a| {
                    let mut agg = false;
                    let _ = visit_expressions(*a, |x| {
                        if is_aggregate(x) {
                            agg = true;
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    });
                    agg
                });
                if has_lambda && over_aggregate {
                    found = Some(f.name.to_string().to_uppercase());
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if found.is_some() {
            break;
        }
    }
    found
}

/// The GROUP BY expressions and a lambda's parameters (which its body may read freely).
fn with_parameters(
    groups: &[String],
    lambda: &weir_parser::sqlparser::ast::LambdaFunction,
) -> Vec<String> {
    let mut names = groups.to_vec();
    names.extend(lambda.params.iter().map(|p| p.name.value.to_uppercase()));
    names
}

/// Columns read by `e` outside aggregate calls and outside GROUP BY expressions.
fn loose_columns(e: &SqlExpr, groups: &[String], out: &mut Vec<String>) {
    if groups.contains(&text(e)) || is_aggregate(e) {
        return;
    }
    match e {
        SqlExpr::Lambda(l) => loose_columns(&l.body, &with_parameters(groups, l), out),
        SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_) => {
            let t = text(e);
            if !is_system(&t) && !out.contains(&t) {
                out.push(t);
            }
        }
        SqlExpr::Function(f) => {
            for a in function_args(f) {
                loose_columns(a, groups, out);
            }
        }
        SqlExpr::BinaryOp { left, right, .. } => {
            loose_columns(left, groups, out);
            loose_columns(right, groups, out);
        }
        SqlExpr::Nested(inner) | SqlExpr::UnaryOp { expr: inner, .. } => {
            loose_columns(inner, groups, out)
        }
        other => {
            // Visit the direct children generically: identifiers anywhere below, except
            // inside aggregates and grouped sub-expressions (checked from the top down).
            let mut children = Vec::new();
            let _ = visit_expressions(other, |x| {
                if !std::ptr::eq(x, other) {
                    children.push(x.clone());
                }
                ControlFlow::<()>::Continue(())
            });
            for c in children
                .iter()
                .filter(|c| matches!(c, SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)))
            {
                if !inside_skipped(other, c, groups) {
                    loose_columns(c, groups, out);
                }
            }
        }
    }
}

/// Whether the identifier `target` sits inside an aggregate or a grouped sub-expression of `e`.
fn inside_skipped(e: &SqlExpr, target: &SqlExpr, groups: &[String]) -> bool {
    let mut skipped = false;
    let _ = visit_expressions(e, |x| {
        if !std::ptr::eq(x, e) && (is_aggregate(x) || groups.contains(&text(x))) {
            let mut found = false;
            let _ = visit_expressions(x, |y| {
                if y == target {
                    found = true;
                }
                ControlFlow::<()>::Continue(())
            });
            if found {
                skipped = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    skipped
}

fn function_args(f: &weir_parser::sqlparser::ast::Function) -> Vec<&SqlExpr> {
    match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// An expression as ksqlDB prints it: names upper-cased and unqualified, binary operations in
/// parentheses, calls as `NAME(args)`.
pub(crate) fn text(e: &SqlExpr) -> String {
    match e {
        SqlExpr::Identifier(i) => name(i),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map(name).unwrap_or_default(),
        SqlExpr::Nested(inner) => text(inner),
        SqlExpr::BinaryOp { left, op, right } => {
            format!("({} {op} {})", text(left), text(right))
        }
        SqlExpr::UnaryOp { op, expr } => format!("{op}{}", text(expr)),
        SqlExpr::Function(f) => {
            let args: Vec<String> = match &f.args {
                FunctionArguments::List(list) => list
                    .args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => text(e),
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => "*".into(),
                        other => other.to_string().to_uppercase(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            format!("{}({})", f.name.to_string().to_uppercase(), args.join(", "))
        }
        SqlExpr::Value(v) => v.to_string(),
        other => other.to_string().to_uppercase(),
    }
}

fn name(i: &weir_parser::sqlparser::ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_uppercase()
    }
}

/// The first window bound (`WINDOWSTART`, `WINDOWEND`) `e` reads, if any.
fn window_bound(e: &SqlExpr) -> Option<String> {
    let mut found = None;
    let _ = weir_parser::sqlparser::ast::visit_expressions(e, |e| {
        let name = match e {
            SqlExpr::Identifier(i) => Some(i.value.to_uppercase()),
            SqlExpr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_uppercase()),
            _ => None,
        };
        match name {
            Some(n) if n == WINDOWSTART || n == WINDOWEND => {
                found = Some(n);
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    });
    found
}

/// In a windowed aggregation the window bounds are results, known once a window is: only the
/// SELECT list may read them, outside aggregate calls (ksqlDB's rule and messages).
pub(crate) fn check_window_bounds(query: &Query) -> Option<String> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if let Some(name) = select.selection.as_ref().and_then(window_bound) {
        return Some(format!("Error in WHERE expression: Unknown column {name}."));
    }
    let only_in_select = |name: String| {
        format!(
            "Window bounds column {name} can only be used in the SELECT clause of windowed aggregations"
        )
    };
    if let GroupByExpr::Expressions(group_by, _) = &select.group_by {
        if let Some(name) = group_by.iter().find_map(window_bound) {
            return Some(only_in_select(name));
        }
    }
    if let Some(name) = select.having.as_ref().and_then(window_bound) {
        return Some(only_in_select(name));
    }
    for item in &select.projection {
        let (SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) = item else {
            continue;
        };
        let mut found = None;
        let _ = weir_parser::sqlparser::ast::visit_expressions(e, |e| {
            if is_aggregate(e) {
                if let Some(name) = window_bound(e) {
                    found = Some(name);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(name) = found {
            return Some(only_in_select(name));
        }
    }
    None
}

/// Expressions ksqlDB refuses before typing them: a STRUCT naming a field twice, a CASE whose
/// every branch is NULL (it has no type).
pub(crate) fn check_constructors(query: &Query) -> Option<String> {
    use weir_parser::sqlparser::ast::Value;
    let is_null = |e: &SqlExpr| matches!(e, SqlExpr::Value(v) if v.value == Value::Null);
    let mut found = None;
    let _ = visit_expressions(query, |e| {
        match e {
            SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("named_struct") => {
                let mut names: Vec<String> = Vec::new();
                for (i, a) in function_args(f).iter().enumerate() {
                    if let (0, SqlExpr::Value(v)) = (i % 2, a) {
                        if let Value::SingleQuotedString(n) = &v.value {
                            if names.contains(n) {
                                found =
                                    Some(format!("Duplicate field names found in STRUCT: `{n}`"));
                                return ControlFlow::Break(());
                            }
                            names.push(n.clone());
                        }
                    }
                }
            }
            SqlExpr::Function(f)
                if ["GREATEST", "LEAST", "COALESCE"]
                    .contains(&f.name.to_string().to_uppercase().as_str())
                    && function_args(f).is_empty() =>
            {
                let name = f.name.to_string().to_uppercase();
                let shown = if name == "COALESCE" {
                    name
                } else {
                    name.to_lowercase()
                };
                found = Some(format!("Function '{shown}' does not accept parameters ()."));
                return ControlFlow::Break(());
            }
            SqlExpr::Array(a) if a.elem.is_empty() => {
                found = Some(
                    "Array constructor cannot be empty. Please supply at least one element \
                     (see https://github.com/confluentinc/ksql/issues/4239)."
                        .into(),
                );
                return ControlFlow::Break(());
            }
            SqlExpr::Array(a) if a.elem.iter().all(is_null) => {
                found = Some(
                    "Cannot construct an array with all NULL elements \
                     (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you \
                     may cast a NULL value to the desired type."
                        .into(),
                );
                return ControlFlow::Break(());
            }
            SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("make_map") => {
                let args = function_args(f);
                let all = |parity: usize| {
                    args.iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == parity)
                        .all(|(_, a)| is_null(a))
                };
                if !args.is_empty() && (all(0) || all(1)) {
                    let what = if all(0) { "keys" } else { "values" };
                    found = Some(format!("Cannot construct a map with all NULL {what}"));
                    return ControlFlow::Break(());
                }
            }
            SqlExpr::BinaryOp { left, op, right }
                if is_null(left)
                    && is_null(right)
                    && matches!(
                        op,
                        BinaryOperator::Eq
                            | BinaryOperator::NotEq
                            | BinaryOperator::Lt
                            | BinaryOperator::LtEq
                            | BinaryOperator::Gt
                            | BinaryOperator::GtEq
                    ) =>
            {
                found = Some(format!(
                    "Comparison with NULL not supported: NULL {op} NULL"
                ));
                return ControlFlow::Break(());
            }
            SqlExpr::Case {
                conditions,
                else_result,
                ..
            } if conditions.iter().all(|c| is_null(&c.result))
                && else_result.as_deref().is_none_or(is_null) =>
            {
                found = Some("Invalid Case expression. All case branches have NULL type".into());
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    found
}
