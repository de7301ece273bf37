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
