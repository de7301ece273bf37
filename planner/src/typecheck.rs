//! ksqlDB refuses to compare a number with a string; DataFusion would coerce the string (and
//! a value that does not parse then silently fails to match). This check runs on the
//! type-coerced predicate of a WHERE or HAVING and names the comparison ksqlDB's way:
//! `Error in WHERE expression: Cannot compare ID (INTEGER) to 'x' (STRING) with GREATER_THAN.`

use datafusion_common::tree_node::TreeNode;
use datafusion_common::{DFSchema, ScalarValue};
use datafusion_expr::{Expr, ExprSchemable, Operator};

use crate::types::sql_type_name;

/// The first comparison of a number with a string in `predicate`, as ksqlDB words it.
pub(crate) fn check_predicate(predicate: &Expr, schema: &DFSchema, clause: &str) -> Option<String> {
    let mut found = None;
    let _ = predicate.apply(|e| {
        if found.is_some() {
            return Ok(datafusion_common::tree_node::TreeNodeRecursion::Stop);
        }
        match e {
            Expr::BinaryExpr(b) => {
                if let Some(op) = comparison_name(b.op) {
                    for (this, other) in [(&*b.left, &*b.right), (&*b.right, &*b.left)] {
                        if let Some(text) = coerced_string(this, schema) {
                            let other_type = other
                                .get_type(schema)
                                .map(|t| sql_type_name(&t))
                                .unwrap_or_default();
                            let (l, r) = if std::ptr::eq(this, &*b.left) {
                                (text.clone(), display(other))
                            } else {
                                (display(other), text.clone())
                            };
                            let (lt, rt) = if std::ptr::eq(this, &*b.left) {
                                ("STRING".to_string(), other_type)
                            } else {
                                (other_type, "STRING".to_string())
                            };
                            found = Some(format!(
                                "Error in {clause} expression: Cannot compare {l} ({lt}) to {r} ({rt}) with {op}."
                            ));
                            break;
                        }
                    }
                }
            }
            Expr::InList(list) => {
                // The compared value's own type (before coercion widened it).
                let target = strip_cast(&list.expr)
                    .get_type(schema)
                    .map(|t| sql_type_name(&t))
                    .unwrap_or_default();
                for item in &list.list {
                    if let Some(text) = bad_numeric_literal(item) {
                        found = Some(format!(
                            "Invalid Predicate: invalid input syntax for type {target}: \"{text}\"."
                        ));
                        break;
                    }
                    if let Some(text) = coerced_string(item, schema) {
                        if !matches!(strip_cast(item), Expr::Literal(..)) {
                            found = Some(format!(
                                "Invalid Predicate: operator does not exist: {target} = STRING ({text})"
                            ));
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(datafusion_common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

fn comparison_name(op: Operator) -> Option<&'static str> {
    Some(match op {
        Operator::Eq => "EQUAL",
        Operator::NotEq => "NOT_EQUAL",
        Operator::Lt => "LESS_THAN",
        Operator::LtEq => "LESS_THAN_OR_EQUAL",
        Operator::Gt => "GREATER_THAN",
        Operator::GtEq => "GREATER_THAN_OR_EQUAL",
        _ => return None,
    })
}

fn strip_cast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_cast(&c.expr),
        Expr::TryCast(c) => strip_cast(&c.expr),
        other => other,
    }
}

fn is_number(t: &arrow::datatypes::DataType) -> bool {
    t.is_numeric()
}

/// A string that DataFusion's coercion cast to a number: its ksqlDB display.
fn coerced_string(e: &Expr, schema: &DFSchema) -> Option<String> {
    let (inner, to) = match e {
        Expr::Cast(c) => (&*c.expr, c.field.data_type()),
        Expr::TryCast(c) => (&*c.expr, c.field.data_type()),
        _ => return None,
    };
    let from = inner.get_type(schema).ok()?;
    let text = matches!(
        from,
        arrow::datatypes::DataType::Utf8
            | arrow::datatypes::DataType::LargeUtf8
            | arrow::datatypes::DataType::Utf8View
    );
    (text && is_number(to)).then(|| display(inner))
}

/// An IN-list literal string that does not parse as the number it is compared with.
fn bad_numeric_literal(e: &Expr) -> Option<String> {
    let Expr::Cast(c) = e else { return None };
    let Expr::Literal(
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)),
        _,
    ) = &*c.expr
    else {
        return None;
    };
    if !is_number(c.field.data_type()) {
        return None;
    }
    let parses = arrow::compute::cast(
        &arrow::array::StringArray::from(vec![s.as_str()]),
        c.field.data_type(),
    )
    .is_ok_and(|a| arrow::array::Array::null_count(&a) == 0);
    (!parses).then(|| s.clone())
}

/// An expression as ksqlDB prints it: unqualified upper-case names, quoted strings.
fn display(e: &Expr) -> String {
    match e {
        Expr::Column(c) => unqualify(&c.name),
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => {
            format!("'{s}'")
        }
        Expr::Cast(c) => display(&c.expr),
        Expr::TryCast(c) => display(&c.expr),
        other => unqualify(&other.to_string()),
    }
}

/// `sum(TEST.VALUE)` → `SUM(VALUE)`.
fn unqualify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, dot: bool| {
        if !dot {
            out.push_str(&word.to_uppercase());
        }
        word.clear();
    };
    for ch in text.chars() {
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out, ch == '.');
            if ch != '.' {
                out.push(ch);
            }
        }
    }
    flush(&mut word, &mut out, false);
    out
}

/// Expressions DataFusion does not take as ksqlDB does. An ARRAY, MAP or STRUCT cast to
/// STRING is printed as ksqlDB prints it (`{k=1}`, `Struct{A=1}`); STRING cast to one of them
/// is an error; MAPs and STRUCTs have no order, so `<`, `<=`, `>`, `>=` on them is an error.
pub(crate) fn rewrite_casts(
    plan: datafusion_expr::LogicalPlan,
) -> Result<datafusion_expr::LogicalPlan, String> {
    use arrow::datatypes::DataType;
    use datafusion_common::tree_node::Transformed;
    use datafusion_expr::LogicalPlan;
    let nested = |t: &DataType| {
        matches!(
            t,
            DataType::List(_) | DataType::LargeList(_) | DataType::Map(..) | DataType::Struct(_)
        )
    };
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let mut error = None;
    let result = plan.transform_up_with_subqueries(|node| {
        let inputs = node.inputs();
        let Some(schema) = inputs.first().map(|i| std::sync::Arc::clone(i.schema())) else {
            return Ok(Transformed::no(node));
        };
        let clause = match &node {
            LogicalPlan::Filter(_) => "Invalid Predicate: ",
            LogicalPlan::Projection(_) => "Invalid Select: ",
            _ => "",
        };
        node.map_expressions(|e| {
            e.transform_up(|e| match e {
                Expr::Cast(c) => {
                    let Ok(from) = c.expr.get_type(&schema) else {
                        return Ok(Transformed::no(Expr::Cast(c)));
                    };
                    let to = c.field.data_type().clone();
                    if nested(&from) && text(&to) {
                        let udf = crate::functions::cast_to_string();
                        let call = udf.call(vec![*c.expr]);
                        let call = if to == DataType::Utf8 {
                            call
                        } else {
                            call.cast_to(&to, &schema)?
                        };
                        return Ok(Transformed::yes(call));
                    }
                    if text(&from) && nested(&to) {
                        error.get_or_insert(format!(
                            "{clause}Cast of {} to {} is not supported",
                            sql_type_name(&from),
                            sql_type_name(&to)
                        ));
                    }
                    Ok(Transformed::no(Expr::Cast(c)))
                }
                // `ARRAY[1, '2']`, `MAP('a' := 1, 'b' := '2')`: text literals among numbers are
                // read as numbers (ksqlDB's constructors), or the query is refused.
                Expr::ScalarFunction(mut f)
                    if matches!(f.func.name(), "make_array" | "make_map") =>
                {
                    let step = if f.func.name() == "make_map" { 2 } else { 1 };
                    let first = step - 1;
                    let mut items: Vec<Expr> =
                        f.args.iter().skip(first).step_by(step).cloned().collect();
                    match numbers_from_text(&mut items, &schema) {
                        Ok(true) => {
                            for (slot, item) in
                                f.args.iter_mut().skip(first).step_by(step).zip(items)
                            {
                                *slot = item;
                            }
                            Ok(Transformed::yes(Expr::ScalarFunction(f)))
                        }
                        Ok(false) => Ok(Transformed::no(Expr::ScalarFunction(f))),
                        Err(message) => {
                            error.get_or_insert(message);
                            Ok(Transformed::no(Expr::ScalarFunction(f)))
                        }
                    }
                }
                Expr::ScalarFunction(f) if matches!(f.func.name(), "greatest" | "least") => {
                    let types: Vec<DataType> = f
                        .args
                        .iter()
                        .filter_map(|a| a.get_type(&schema).ok())
                        .collect();
                    let number = types.iter().any(|t| t.is_numeric());
                    if number && types.iter().any(text) {
                        let names: Vec<String> = types.iter().map(sql_type_name).collect();
                        error.get_or_insert(format!(
                            "Function '{}' does not accept parameters ({}).",
                            f.func.name(),
                            names.join(", ")
                        ));
                    }
                    Ok(Transformed::no(Expr::ScalarFunction(f)))
                }
                // ksqlDB's DECIMAL division (its scale and rounding are not DataFusion's).
                Expr::BinaryExpr(b)
                    if b.op == Operator::Divide
                        && [&b.left, &b.right].iter().any(|e| {
                            e.get_type(&schema).is_ok_and(|t| {
                                matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
                            })
                        })
                        && [&b.left, &b.right].iter().all(|e| {
                            e.get_type(&schema).is_ok_and(|t| {
                                t.is_integer()
                                    || matches!(
                                        t,
                                        DataType::Decimal128(..) | DataType::Decimal256(..)
                                    )
                            })
                        }) =>
                {
                    Ok(Transformed::yes(
                        crate::functions::decimal_divide().call(vec![*b.left, *b.right]),
                    ))
                }
                Expr::BinaryExpr(b) => {
                    let ordering = matches!(
                        b.op,
                        Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
                    );
                    let unordered =
                        |t: &DataType| matches!(t, DataType::Map(..) | DataType::Struct(_));
                    if let (true, Ok(lt), Ok(rt)) = (
                        ordering,
                        b.left.get_type(&schema),
                        b.right.get_type(&schema),
                    ) {
                        if unordered(&lt) || unordered(&rt) {
                            error.get_or_insert(format!(
                                "Cannot compare {} ({}) to {} ({}) with {}.",
                                display(&b.left),
                                sql_type_name(&lt),
                                display(&b.right),
                                sql_type_name(&rt),
                                comparison_name(b.op).unwrap_or_default()
                            ));
                        }
                    }
                    Ok(Transformed::no(Expr::BinaryExpr(b)))
                }
                other => Ok(Transformed::no(other)),
            })
        })
        // (A rewritten expression may have another type: every node's schema follows.)
        .and_then(|t| t.map_data(|p| p.recompute_schema()))
    });
    if let Some(message) = error {
        return Err(message);
    }
    result.map(|t| t.data).map_err(|e| e.to_string())
}

/// IN lists as ksqlDB types them, before DataFusion's coercion (which finds no common type
/// for `b IN (true, 'yes')`): a literal item takes the compared value's type — a number or
/// BOOLEAN literal compared with a STRING becomes its text, a string literal compared with a
/// BOOLEAN or a number is parsed — and any other item of an incompatible type is an error.
pub(crate) fn coerce_in_lists(
    plan: datafusion_expr::LogicalPlan,
) -> Result<datafusion_expr::LogicalPlan, String> {
    use datafusion_common::tree_node::Transformed;
    let mut error = None;
    let result = plan.transform_up_with_subqueries(|node| {
        let inputs = node.inputs();
        let Some(schema) = inputs.first().map(|i| std::sync::Arc::clone(i.schema())) else {
            return Ok(Transformed::no(node));
        };
        node.map_expressions(|e| {
            e.transform_up(|e| match e {
                Expr::InList(mut list) => {
                    let Ok(target) = list.expr.get_type(&schema) else {
                        return Ok(Transformed::no(Expr::InList(list)));
                    };
                    let mut changed = false;
                    for item in list.list.iter_mut() {
                        match coerce_item(item, &target, &schema) {
                            Ok(Some(new)) => {
                                *item = new;
                                changed = true;
                            }
                            Ok(None) => {}
                            Err(message) => {
                                error.get_or_insert(message);
                            }
                        }
                    }
                    let e = Expr::InList(list);
                    Ok(if changed {
                        Transformed::yes(e)
                    } else {
                        Transformed::no(e)
                    })
                }
                other => Ok(Transformed::no(other)),
            })
        })
    });
    if let Some(message) = error {
        return Err(message);
    }
    result.map(|t| t.data).map_err(|e| e.to_string())
}

/// One IN-list item compared with a value of type `target`: `Ok(Some(_))` when it is a
/// literal that takes the target's type.
fn coerce_item(
    item: &Expr,
    target: &arrow::datatypes::DataType,
    schema: &DFSchema,
) -> Result<Option<Expr>, String> {
    use arrow::datatypes::DataType;
    let Ok(item_type) = item.get_type(schema) else {
        return Ok(None);
    };
    let text_type =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let compatible = &item_type == target
        || (item_type.is_numeric() && target.is_numeric())
        || item_type == DataType::Null
        || (text_type(&item_type) && text_type(target));
    if compatible {
        return Ok(None);
    }
    let target_name = sql_type_name(target);
    // (An integer literal that fits is an INTEGER in ksqlDB.)
    let item_name = match item {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) if i32::try_from(*v).is_ok() => {
            "INTEGER".to_string()
        }
        _ => sql_type_name(&item_type),
    };
    let mismatch = || {
        format!(
            "Invalid Predicate: operator does not exist: {target_name} = {item_name} ({})\nHint: You might need to add explicit type casts.",
            literal_text(item)
        )
    };
    let Expr::Literal(value, _) = item else {
        // Left to the checks after coercion (nested types, casts DataFusion knows).
        return if target.is_nested() || item_type.is_nested() {
            Ok(None)
        } else {
            Err(mismatch())
        };
    };
    let lit = |v: ScalarValue| Ok(Some(Expr::Literal(v, None)));
    match (target, value) {
        // A number or BOOLEAN compared with a STRING: its text.
        (t, v)
            if text_type(t)
                && (v.data_type().is_numeric() || v.data_type() == DataType::Boolean) =>
        {
            lit(ScalarValue::Utf8(Some(literal_text(item))))
        }
        (DataType::Boolean, ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => {
            match parse_boolean(s) {
                Some(b) => lit(ScalarValue::Boolean(Some(b))),
                None => Err(format!(
                    "Invalid Predicate: invalid input syntax for type BOOLEAN: \"{s}\"."
                )),
            }
        }
        // A string compared with a number is parsed (a bad one is reported after coercion).
        (t, ScalarValue::Utf8(Some(_)) | ScalarValue::Utf8View(Some(_))) if t.is_numeric() => {
            Ok(None)
        }
        _ => Err(mismatch()),
    }
}

/// ksqlDB's text for BOOLEAN: any prefix of `true`/`yes` or `false`/`no`, in any case.
fn parse_boolean(s: &str) -> Option<bool> {
    let lower = s.trim().to_lowercase();
    if lower.is_empty() {
        return None;
    }
    if "true".starts_with(&lower) || "yes".starts_with(&lower) {
        Some(true)
    } else if "false".starts_with(&lower) || "no".starts_with(&lower) {
        Some(false)
    } else {
        None
    }
}

/// A literal as SQL text (`true`, `10.30`, `x`); other expressions as ksqlDB prints them.
fn literal_text(e: &Expr) -> String {
    match e {
        Expr::Literal(ScalarValue::Boolean(Some(b)), _) => b.to_string(),
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => s.clone(),
        Expr::Literal(v, _) if v.data_type().is_numeric() => v.to_string(),
        other => display(other),
    }
}

/// A FILTER lambda must return a BOOLEAN (DataFusion's would keep nothing, silently).
pub(crate) fn check_filter_lambdas(plan: &datafusion_expr::LogicalPlan) -> Option<String> {
    use datafusion_common::tree_node::TreeNodeRecursion;
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        let Some(schema) = node
            .inputs()
            .first()
            .map(|i| std::sync::Arc::clone(i.schema()))
        else {
            return Ok(TreeNodeRecursion::Continue);
        };
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::HigherOrderFunction(h) = e {
                    if matches!(h.func.name(), "array_filter" | "filter") {
                        for a in &h.args {
                            if let Expr::Lambda(l) = a {
                                match l.body.get_type(&schema) {
                                    Ok(arrow::datatypes::DataType::Boolean)
                                    | Ok(arrow::datatypes::DataType::Null)
                                    | Err(_) => {}
                                    Ok(t) => {
                                        found = Some(format!(
                                            "FILTER's lambda must return a BOOLEAN, not {}",
                                            sql_type_name(&t)
                                        ));
                                        return Ok(TreeNodeRecursion::Stop);
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// Text literals among the numbers of a constructor (`ARRAY[1, '2']`) read as numbers of the
/// others' type: INTEGER when every number fits one, else BIGINT, or DOUBLE when one is.
/// Returns whether any changed; text that is no number is an error in ksqlDB's words.
fn numbers_from_text(
    items: &mut [Expr],
    schema: &datafusion_common::DFSchema,
) -> Result<bool, String> {
    use arrow::datatypes::DataType;
    use datafusion_common::ScalarValue;
    let text = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(t)), _) => Some(t.clone()),
        _ => None,
    };
    let mut types = Vec::new();
    for e in items.iter().filter(|e| text(e).is_none()) {
        match e.get_type(schema) {
            Ok(DataType::Null) => {}
            Ok(t) => types.push((t, e)),
            Err(_) => return Ok(false),
        }
    }
    if types.is_empty() || !types.iter().all(|(t, _)| t.is_integer() || t.is_floating()) {
        return Ok(false);
    }
    let small = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => i32::try_from(*v).is_ok(),
        _ => false,
    };
    let target = if types.iter().any(|(t, _)| t.is_floating()) {
        DataType::Float64
    } else if types
        .iter()
        .all(|(t, e)| matches!(t, DataType::Int8 | DataType::Int16 | DataType::Int32) || small(e))
    {
        DataType::Int32
    } else {
        DataType::Int64
    };
    let mut changed = false;
    for item in items.iter_mut() {
        let Some(t) = text(item) else {
            continue;
        };
        let parsed = t.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        let value = match (&target, parsed) {
            (DataType::Float64, Some(v)) => Some(ScalarValue::Float64(Some(v))),
            (DataType::Int32, Some(v)) if v.fract() == 0.0 && v.abs() <= f64::from(i32::MAX) => {
                Some(ScalarValue::Int32(Some(v as i32)))
            }
            (DataType::Int64, Some(v)) if v.fract() == 0.0 && v.abs() < 9.2e18 => {
                Some(ScalarValue::Int64(Some(v as i64)))
            }
            _ => None,
        };
        match value {
            Some(v) => {
                *item = Expr::Literal(v, None);
                changed = true;
            }
            None => {
                return Err(format!(
                    "invalid input syntax for type {}: \"{t}\".",
                    sql_type_name(&target)
                ))
            }
        }
    }
    Ok(changed)
}
