//! Numeric functions ksqlDB has and DataFusion lacks.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array};
use arrow::datatypes::DataType;
use datafusion_common::{plan_err, Result, ScalarValue};
use datafusion_expr::ScalarUDF;

use super::{function, literal_str, Args, Ret, P};

/// Earth's radius as ksqlDB's GEO_DISTANCE uses it.
const EARTH_RADIUS_KM: f64 = 6371.0;
const EARTH_RADIUS_MILES: f64 = 3959.0;

fn radius(unit: &str) -> Option<f64> {
    match unit.to_ascii_lowercase().as_str() {
        "km" | "kilometers" | "kilometres" => Some(EARTH_RADIUS_KM),
        "mi" | "miles" | "mile" => Some(EARTH_RADIUS_MILES),
        _ => None,
    }
}

fn check_unit(args: &[Option<&ScalarValue>]) -> Result<()> {
    match literal_str(args, 4) {
        Some(u) if radius(u).is_none() => {
            plan_err!("GEO_DISTANCE unit '{u}' is not known: use 'KM' or 'MILES'")
        }
        _ => Ok(()),
    }
}

/// Great-circle distance (haversine) between two points given in decimal degrees.
fn haversine(lat1: f64, lon1: f64, lat2: f64, lon2: f64, r: f64) -> Option<f64> {
    if !(-90.0..=90.0).contains(&lat1)
        || !(-90.0..=90.0).contains(&lat2)
        || !(-180.0..=180.0).contains(&lon1)
        || !(-180.0..=180.0).contains(&lon2)
    {
        return None;
    }
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    Some(2.0 * r * a.sqrt().asin())
}

fn geo_distance(args: &Args) -> Result<ArrayRef> {
    let (lat1, lon1, lat2, lon2) = (
        args.double(0)?,
        args.double(1)?,
        args.double(2)?,
        args.double(3)?,
    );
    let unit = if args.len() > 4 {
        Some(args.str(4)?)
    } else {
        None
    };
    let out: Float64Array = (0..args.rows)
        .map(|r| {
            let r_earth = match &unit {
                None => EARTH_RADIUS_KM,
                Some(u) => radius(u.get(r)?)?,
            };
            haversine(
                lat1.get(r)?,
                lon1.get(r)?,
                lat2.get(r)?,
                lon2.get(r)?,
                r_earth,
            )
        })
        .collect();
    Ok(Arc::new(out))
}

fn sign(args: &Args) -> Result<ArrayRef> {
    let x = args.double(0)?;
    let out: arrow::array::Int32Array = (0..args.rows)
        .map(|r| {
            x.get(r).and_then(|v| {
                if v.is_nan() {
                    None
                } else if v > 0.0 {
                    Some(1)
                } else if v < 0.0 {
                    Some(-1)
                } else {
                    Some(0)
                }
            })
        })
        .collect();
    Ok(Arc::new(out))
}

/// ksqlDB's `LOG`: the natural logarithm of `x`, or with two arguments the logarithm of
/// `x` in `base` (NaN for a base that is not positive or is 1, as ksqlDB answers).
fn log(args: &Args) -> Result<ArrayRef> {
    let out: Float64Array = if args.len() == 1 {
        let x = args.double(0)?;
        (0..args.rows).map(|r| x.get(r).map(f64::ln)).collect()
    } else {
        let (base, x) = (args.double(0)?, args.double(1)?);
        (0..args.rows)
            .map(|r| {
                let (b, v) = (base.get(r)?, x.get(r)?);
                Some(if b <= 0.0 || b == 1.0 {
                    f64::NAN
                } else {
                    v.ln() / b.ln()
                })
            })
            .collect()
    };
    Ok(Arc::new(out))
}

/// The numeric functions.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    vec![
        function(
            "sign",
            "The sign of a number: -1, 0 or 1 (NULL for NULL or NaN).",
            Ret::Fixed(DataType::Int32),
            sign,
        )
        .overload(&[Double])
        .build(),
        function(
            "geo_distance",
            "Great-circle distance between two (latitude, longitude) points in decimal degrees, \
         in kilometres (default) or miles. NULL for coordinates out of range.",
            Ret::Fixed(DataType::Float64),
            geo_distance,
        )
        .overload(&[Double, Double, Double, Double])
        .overload(&[Double, Double, Double, Double, Str])
        .check(check_unit)
        .syntax("GEO_DISTANCE(lat1, lon1, lat2, lon2 [, 'KM' | 'MILES'])")
        .example("GEO_DISTANCE(37.4439, -122.1615, 51.5072, -0.1276, 'KM')")
        .build(),
        round(),
        carry_digit_udf(datafusion_functions::math::ceil()),
        carry_digit_udf(datafusion_functions::math::floor()),
        function(
            "log",
            "The natural logarithm of x, or with a base first, the logarithm of x in that base \
         (NaN for a base that is not positive or is 1; -Infinity for 0, NaN below).",
            Ret::Fixed(DataType::Float64),
            log,
        )
        .overload(&[Double])
        .overload(&[Double, Double])
        .syntax("LOG(x) | LOG(base, x)")
        .example("LOG(2, 8)")
        .build(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_known_distances() {
        // Palo Alto to London, as in ksqlDB's documentation: about 8634 km.
        let d = haversine(37.4439, -122.1615, 51.5072, -0.1276, EARTH_RADIUS_KM).unwrap();
        assert!((d - 8634.6).abs() < 1.0, "{d}");
        assert_eq!(haversine(0.0, 0.0, 0.0, 0.0, EARTH_RADIUS_KM), Some(0.0));
        assert_eq!(haversine(91.0, 0.0, 0.0, 0.0, EARTH_RADIUS_KM), None);
    }
}

/// ksqlDB's `ROUND`: half up (`ROUND(-1.5)` is -1, `ROUND(2.5)` is 3), a DOUBLE without
/// decimal places gives a BIGINT, integers stay integers, a DECIMAL keeps its type (rounded
/// half away from zero, as `BigDecimal.setScale(n, HALF_UP)`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Round {
    signature: datafusion_expr::Signature,
}

impl Round {
    fn target(t: &DataType) -> Option<DataType> {
        match t {
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(DataType::Float64),
            DataType::Int8 | DataType::Int16 | DataType::Int32 => Some(DataType::Int32),
            DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => {
                Some(DataType::Int64)
            }
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => Some(DataType::Decimal128(*p, *s)),
            DataType::Null => Some(DataType::Float64),
            _ => None,
        }
    }
}

/// A DECIMAL type with room for the digit rounding up may carry (`ROUND(99.99)` is
/// `100.00`): one more digit of precision, the same scale.
fn carry_digit(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some(DataType::Decimal128((*p + 1).min(38), *s)),
        _ => None,
    }
}

/// CEIL and FLOOR as ksqlDB has them: DataFusion's, with a DECIMAL widened by the digit the
/// result may carry (`CEIL(99.99)` is `100.00`, not an overflow).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CarryDigit {
    inner: Arc<ScalarUDF>,
    signature: datafusion_expr::Signature,
}

impl datafusion_expr::ScalarUDFImpl for CarryDigit {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn documentation(&self) -> Option<&datafusion_expr::Documentation> {
        self.inner.documentation()
    }

    fn signature(&self) -> &datafusion_expr::Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            // An INTEGER or BIGINT is its own ceiling and floor.
            [t @ (DataType::Int32 | DataType::Int64)] => Ok(vec![t.clone()]),
            [t] if t.is_integer() => Ok(vec![DataType::Int64]),
            [t @ (DataType::Float32 | DataType::Float64 | DataType::Null)] => Ok(vec![t.clone()]),
            [t] => match carry_digit(t) {
                // (Coercion must be idempotent: the carry goes into the result type.)
                Some(DataType::Decimal128(..)) => Ok(vec![match t {
                    DataType::Decimal32(p, s)
                    | DataType::Decimal64(p, s)
                    | DataType::Decimal256(p, s) => DataType::Decimal128(*p, *s),
                    other => other.clone(),
                }]),
                _ => plan_err!(
                    "Function '{}' does not accept parameters ({}).",
                    self.name(),
                    crate::types::sql_type_name(t)
                ),
            },
            _ => plan_err!("Function '{}' takes one number", self.name()),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t @ DataType::Decimal128(..)] => Ok(carry_digit(t).unwrap_or_else(|| t.clone())),
            [t @ (DataType::Int32 | DataType::Int64)] => Ok(t.clone()),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn invoke_with_args(
        &self,
        mut args: datafusion_expr::ScalarFunctionArgs,
    ) -> Result<datafusion_expr::ColumnarValue> {
        let wide = args.return_field.data_type().clone();
        if matches!(wide, DataType::Int32 | DataType::Int64) {
            if let Some(arg) = args.args.pop() {
                return Ok(arg);
            }
        }
        if let (Some(arg), DataType::Decimal128(..)) = (args.args.first_mut(), &wide) {
            // The input at the result's precision: the inner function keeps its type.
            *arg = arg.cast_to(&wide, None)?;
            if let Some(f) = args.arg_fields.first_mut() {
                *f = Arc::new(f.as_ref().clone().with_data_type(wide));
            }
        }
        self.inner.invoke_with_args(args)
    }
}

fn carry_digit_udf(inner: Arc<ScalarUDF>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(CarryDigit {
        inner,
        signature: datafusion_expr::Signature::user_defined(datafusion_expr::Volatility::Immutable),
    }))
}

impl datafusion_expr::ScalarUDFImpl for Round {
    fn name(&self) -> &str {
        "round"
    }

    fn documentation(&self) -> Option<&datafusion_expr::Documentation> {
        static DOC: std::sync::OnceLock<datafusion_expr::Documentation> =
            std::sync::OnceLock::new();
        Some(DOC.get_or_init(|| {
            datafusion_expr::Documentation::builder(
                datafusion_expr::DocSection {
                    include: true,
                    label: "ksqlDB functions",
                    description: None,
                },
                "Rounds to `scale` decimal places (default 0): a DOUBLE half up, toward positive \
                 infinity on .5 as Java's Math.round (-2.5 -> -2); a DECIMAL half away from zero \
                 (-2.5 -> -3). A DOUBLE without a scale rounds to a BIGINT; with one it stays \
                 DOUBLE; a DECIMAL keeps its scale, with one more digit of precision for the \
                 carry; a negative scale rounds to tens, hundreds, ...",
                "ROUND(DOUBLE) -> BIGINT\n              ROUND(DOUBLE, INTEGER) -> DOUBLE\n              \
                 ROUND(DECIMAL [, INTEGER]) -> DECIMAL\n              ROUND(BIGINT | INTEGER) -> the same type",
            )
            .with_sql_example(
                "ROUND(CAST(2.5 AS DOUBLE)) -> 3, ROUND(CAST(-2.5 AS DOUBLE)) -> -2, \
                 ROUND(-2.5) -> -3.0 (a DECIMAL literal), \
                 ROUND(1.2345, 2) -> 1.2300, ROUND(1234, -2) -> 1200",
            )
            .build()
        }))
    }

    fn signature(&self) -> &datafusion_expr::Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let scale_ok = |t: &DataType| t.is_integer() || t == &DataType::Null;
        match arg_types {
            [t] => Round::target(t).map(|t| vec![t]),
            [t, s] if scale_ok(s) => Round::target(t).map(|t| vec![t, DataType::Int32]),
            _ => None,
        }
        .map_or_else(
            || {
                let given: Vec<String> =
                    arg_types.iter().map(crate::types::sql_type_name).collect();
                plan_err!(
                    "Function 'round' does not accept parameters ({}). Valid alternatives are: (DOUBLE), (DOUBLE, INTEGER), (DECIMAL), (DECIMAL, INTEGER), (BIGINT), (INTEGER)",
                    given.join(", ")
                )
            },
            Ok,
        )
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match arg_types {
            [DataType::Float64] => DataType::Int64,
            [t @ DataType::Decimal128(..), ..] => carry_digit(t).unwrap_or_else(|| t.clone()),
            [t, ..] => t.clone(),
            [] => DataType::Null,
        })
    }

    fn invoke_with_args(
        &self,
        args: datafusion_expr::ScalarFunctionArgs,
    ) -> Result<datafusion_expr::ColumnarValue> {
        use arrow::array::{Array, AsArray, Decimal128Array, Int32Array, Int64Array};
        use arrow::datatypes::{Decimal128Type, Float64Type, Int32Type, Int64Type};
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let Some(x) = arrays.first() else {
            return plan_err!("ROUND takes a number");
        };
        let scale = |r: usize| -> Option<i32> {
            match arrays.get(1) {
                None => Some(0),
                Some(s) => {
                    let s = s.as_primitive::<Int32Type>();
                    s.is_valid(r).then(|| s.value(r))
                }
            }
        };
        let out: ArrayRef = match x.data_type() {
            DataType::Float64 => {
                let v = x.as_primitive::<Float64Type>();
                let half_up = |value: f64, places: i32| -> f64 {
                    let factor = 10f64.powi(places);
                    let scaled = value * factor;
                    if !scaled.is_finite() || scaled.abs() >= 9.0e15 {
                        return value;
                    }
                    (scaled + 0.5).floor() / factor
                };
                if arrays.len() == 1 {
                    Arc::new(
                        (0..rows)
                            .map(|r| {
                                if v.is_null(r) || v.value(r).is_nan() {
                                    return None;
                                }
                                let rounded = (v.value(r) + 0.5).floor();
                                (rounded.abs() < 9.2e18).then_some(rounded as i64)
                            })
                            .collect::<Int64Array>(),
                    )
                } else {
                    Arc::new(
                        (0..rows)
                            .map(|r| {
                                let s = scale(r)?;
                                v.is_valid(r).then(|| half_up(v.value(r), s))
                            })
                            .collect::<Float64Array>(),
                    )
                }
            }
            DataType::Int32 => {
                let v = x.as_primitive::<Int32Type>();
                Arc::new(
                    (0..rows)
                        .map(|r| {
                            let s = scale(r)?;
                            v.is_valid(r)
                                .then(|| round_int(i64::from(v.value(r)), s))
                                .flatten()
                                .and_then(|n| i32::try_from(n).ok())
                        })
                        .collect::<Int32Array>(),
                )
            }
            DataType::Int64 => {
                let v = x.as_primitive::<Int64Type>();
                Arc::new(
                    (0..rows)
                        .map(|r| {
                            let s = scale(r)?;
                            v.is_valid(r).then(|| round_int(v.value(r), s)).flatten()
                        })
                        .collect::<Int64Array>(),
                )
            }
            DataType::Decimal128(p, s) => {
                let v = x.as_primitive::<Decimal128Type>();
                let (p, s) = (*p, *s);
                let out: Decimal128Array = (0..rows)
                    .map(|r| {
                        let places = scale(r)?;
                        if v.is_null(r) {
                            return None;
                        }
                        let drop = i32::from(s) - places;
                        if drop <= 0 {
                            return Some(v.value(r));
                        }
                        let factor = 10i128.checked_pow(u32::try_from(drop).ok()?)?;
                        let value = v.value(r);
                        let q = value / factor;
                        let rem = value % factor;
                        let q = if rem.abs() * 2 >= factor {
                            q + value.signum()
                        } else {
                            q
                        };
                        q.checked_mul(factor)
                    })
                    .collect();
                Arc::new(out.with_precision_and_scale((p + 1).min(38), s)?)
            }
            other => return plan_err!("ROUND cannot round {other}"),
        };
        Ok(datafusion_expr::ColumnarValue::Array(out))
    }
}

/// An integer rounded half up to `places` (negative: tens, hundreds, ...).
fn round_int(value: i64, places: i32) -> Option<i64> {
    if places >= 0 {
        return Some(value);
    }
    let factor = 10i64.checked_pow(u32::try_from(-places).ok()?)?;
    let floor = value.div_euclid(factor) * factor;
    let rem = value - floor;
    if rem * 2 >= factor {
        floor.checked_add(factor)
    } else {
        Some(floor)
    }
}

/// ksqlDB's ROUND.
pub(crate) fn round() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::from(Round {
        signature: datafusion_expr::Signature::user_defined(datafusion_expr::Volatility::Immutable),
    }))
}

#[cfg(test)]
mod round_tests {
    use super::*;

    #[test]
    fn integers_round_half_up() {
        assert_eq!(round_int(1234, -2), Some(1200));
        assert_eq!(round_int(1250, -2), Some(1300));
        assert_eq!(round_int(-1250, -2), Some(-1200));
        assert_eq!(round_int(7, 0), Some(7));
    }
}

/// ksqlDB's DECIMAL division: `DECIMAL(p1, s1) / DECIMAL(p2, s2)` has scale
/// `max(6, s1 + p2 + 1)` and precision `p1 - s1 + s2 + scale` (at most 38), rounded half up;
/// INTEGER and BIGINT operands count as DECIMAL(10, 0) and DECIMAL(19, 0). Division by zero,
/// or a quotient too large for the type, is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalDivide {
    signature: datafusion_expr::Signature,
}

/// The DECIMAL an operand of a DECIMAL division counts as.
fn as_decimal(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((*p, *s)),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => Some((10, 0)),
        DataType::Int64 => Some((19, 0)),
        _ => None,
    }
}

/// The type of a DECIMAL division, as ksqlDB gives it.
pub(crate) fn decimal_quotient_type(left: &DataType, right: &DataType) -> Option<DataType> {
    let (p1, s1) = as_decimal(left)?;
    let (p2, s2) = as_decimal(right)?;
    let (p1, s1, p2, s2) = (i32::from(p1), i32::from(s1), i32::from(p2), i32::from(s2));
    let scale = (s1 + p2 + 1).clamp(6, 38);
    let whole = p1 - s1 + s2;
    // At most 38 digits: the whole digits come first, the scale gets what is left (at least 6
    // when there is room).
    let precision = (whole + scale).clamp(1, 38);
    let scale = scale.min((38 - whole).max(0)).min(precision);
    Some(DataType::Decimal128(precision as u8, scale as i8))
}

impl datafusion_expr::ScalarUDFImpl for DecimalDivide {
    fn name(&self) -> &str {
        "decimal_divide"
    }

    fn signature(&self) -> &datafusion_expr::Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        arg_types
            .iter()
            .map(|t| match as_decimal(t) {
                Some((p, s)) => Ok(DataType::Decimal128(p, s)),
                None => plan_err!("DECIMAL division of {t}"),
            })
            .collect()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [l, r] => match decimal_quotient_type(l, r) {
                Some(t) => Ok(t),
                None => plan_err!("DECIMAL division of {l} and {r}"),
            },
            _ => plan_err!("DECIMAL division takes two operands"),
        }
    }

    fn invoke_with_args(
        &self,
        args: datafusion_expr::ScalarFunctionArgs,
    ) -> Result<datafusion_expr::ColumnarValue> {
        use arrow::array::{Array, AsArray, Decimal128Array};
        use arrow::datatypes::Decimal128Type;
        let rows = args.number_rows;
        let DataType::Decimal128(p, s) = args.return_field.data_type().clone() else {
            return plan_err!("DECIMAL division without a DECIMAL type");
        };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let [l, r] = arrays.as_slice() else {
            return plan_err!("DECIMAL division takes two operands");
        };
        let (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) =
            (l.data_type(), r.data_type())
        else {
            return plan_err!(
                "DECIMAL division of {} and {}",
                l.data_type(),
                r.data_type()
            );
        };
        // a / b at scale s: a * 10^(s + s2 - s1) / b, rounded half away from zero.
        let shift = i32::from(s) + i32::from(*s2) - i32::from(*s1);
        let (l, r) = (
            l.as_primitive::<Decimal128Type>(),
            r.as_primitive::<Decimal128Type>(),
        );
        let limit = 10i128.checked_pow(u32::from(p)).unwrap_or(i128::MAX);
        let divide = |a: i128, b: i128| -> Option<i128> {
            if b == 0 {
                return None;
            }
            let (num, den) = if shift >= 0 {
                (a.checked_mul(10i128.checked_pow(shift as u32)?)?, b)
            } else {
                (a, b.checked_mul(10i128.checked_pow((-shift) as u32)?)?)
            };
            let q = num / den;
            let rem = num % den;
            let q = if rem.unsigned_abs().checked_mul(2)? >= den.unsigned_abs() {
                q + if (num < 0) != (den < 0) { -1 } else { 1 }
            } else {
                q
            };
            (q.abs() < limit).then_some(q)
        };
        let out: Decimal128Array = (0..rows)
            .map(|i| {
                if l.is_null(i) || r.is_null(i) {
                    None
                } else {
                    divide(l.value(i), r.value(i))
                }
            })
            .collect();
        Ok(datafusion_expr::ColumnarValue::Array(Arc::new(
            out.with_precision_and_scale(p, s)?,
        )))
    }
}

/// ksqlDB's DECIMAL division (see [`DecimalDivide`]): the typing pass calls it for `/`
/// with a DECIMAL operand.
pub(crate) fn decimal_divide() -> Arc<ScalarUDF> {
    static UDF: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    Arc::clone(UDF.get_or_init(|| {
        Arc::new(ScalarUDF::from(DecimalDivide {
            signature: datafusion_expr::Signature::user_defined(
                datafusion_expr::Volatility::Immutable,
            ),
        }))
    }))
}
