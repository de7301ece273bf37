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
