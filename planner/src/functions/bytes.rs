//! BYTES functions: text to and from bytes in an encoding (`TO_BYTES`, `FROM_BYTES`) and
//! numbers from their big- or little-endian bytes (`INT_FROM_BYTES`, `BIGINT_FROM_BYTES`,
//! `DOUBLE_FROM_BYTES`), as ksqlDB has them.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use base64::Engine as _;
use datafusion_common::{plan_err, Result, ScalarValue};
use datafusion_expr::ScalarUDF;

use super::{function, literal_str, Args, Ret, P};

const ENCODINGS: &str = "Supported input and output encodings are: hex, utf8, ascii and base64";

/// Text as bytes in `encoding` (`None` when the text is not in that encoding).
fn encode(text: &str, encoding: &str) -> Option<Vec<u8>> {
    match encoding.to_ascii_lowercase().as_str() {
        "utf8" => Some(text.as_bytes().to_vec()),
        "ascii" => text.is_ascii().then(|| text.as_bytes().to_vec()),
        "base64" => base64::engine::general_purpose::STANDARD.decode(text).ok(),
        "hex" => {
            let digits = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .unwrap_or(text);
            if !digits.len().is_multiple_of(2) {
                return None;
            }
            (0..digits.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
                .collect()
        }
        _ => None,
    }
}

/// Bytes as text in `encoding`.
fn decode(bytes: &[u8], encoding: &str) -> Option<String> {
    match encoding.to_ascii_lowercase().as_str() {
        "utf8" => String::from_utf8(bytes.to_vec()).ok(),
        "ascii" => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into_owned()),
        "base64" => Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        "hex" => Some(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        _ => None,
    }
}

fn known_encoding(e: &str) -> bool {
    matches!(
        e.to_ascii_lowercase().as_str(),
        "hex" | "utf8" | "ascii" | "base64"
    )
}

fn check_encoding(args: &[Option<&ScalarValue>]) -> Result<()> {
    match literal_str(args, 1) {
        Some(e) if !known_encoding(e) => plan_err!("{ENCODINGS}"),
        _ => Ok(()),
    }
}

fn to_bytes(args: &Args) -> Result<ArrayRef> {
    let (text, encoding) = (args.str(0)?, args.str(1)?);
    let out: BinaryArray = (0..args.rows)
        .map(|r| encode(text.get(r)?, encoding.get(r)?))
        .collect();
    Ok(Arc::new(out))
}

fn from_bytes(args: &Args) -> Result<ArrayRef> {
    let (bytes, encoding) = (args.bytes(0)?, args.str(1)?);
    let out: StringArray = (0..args.rows)
        .map(|r| decode(bytes.get(r)?, encoding.get(r)?))
        .collect();
    Ok(Arc::new(out))
}

/// Whether the (optional) byte order argument says little-endian.
fn little_endian(args: &Args, row: usize) -> Result<Option<bool>> {
    if args.len() < 2 {
        return Ok(Some(false));
    }
    let order = args.str(1)?;
    Ok(order
        .get(row)
        .and_then(|o| match o.to_ascii_uppercase().as_str() {
            "BIG_ENDIAN" => Some(false),
            "LITTLE_ENDIAN" => Some(true),
            _ => None,
        }))
}

fn check_order(args: &[Option<&ScalarValue>]) -> Result<()> {
    match literal_str(args, 1) {
        Some(o)
            if !matches!(
                o.to_ascii_uppercase().as_str(),
                "BIG_ENDIAN" | "LITTLE_ENDIAN"
            ) =>
        {
            plan_err!("Byte order must be BIG_ENDIAN or LITTLE_ENDIAN, not '{o}'")
        }
        _ => Ok(()),
    }
}

/// The `N` bytes of a row in the row's byte order (NULL for another length).
fn fixed<const N: usize>(args: &Args, row: usize) -> Result<Option<[u8; N]>> {
    let bytes = args.bytes(0)?;
    let Some(little) = little_endian(args, row)? else {
        return Ok(None);
    };
    Ok(bytes.get(row).and_then(|b| {
        let mut a: [u8; N] = b.try_into().ok()?;
        if little {
            a.reverse();
        }
        Some(a)
    }))
}

fn int_from_bytes(args: &Args) -> Result<ArrayRef> {
    let out = (0..args.rows)
        .map(|r| Ok(fixed::<4>(args, r)?.map(i32::from_be_bytes)))
        .collect::<Result<Int32Array>>()?;
    Ok(Arc::new(out))
}

fn bigint_from_bytes(args: &Args) -> Result<ArrayRef> {
    let out = (0..args.rows)
        .map(|r| Ok(fixed::<8>(args, r)?.map(i64::from_be_bytes)))
        .collect::<Result<Int64Array>>()?;
    Ok(Arc::new(out))
}

fn double_from_bytes(args: &Args) -> Result<ArrayRef> {
    let out = (0..args.rows)
        .map(|r| Ok(fixed::<8>(args, r)?.map(f64::from_be_bytes)))
        .collect::<Result<Float64Array>>()?;
    Ok(Arc::new(out))
}

/// The BYTES functions.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    let number = |name: &'static str, what: &'static str, t: DataType, body: super::Body| {
        function(name, what, Ret::Fixed(t), body)
            .overload(&[Bytes])
            .overload(&[Bytes, Str])
            .check(check_order)
            .build()
    };
    vec![
        function(
            "to_bytes",
            "The bytes of a string in an encoding: 'hex', 'utf8', 'ascii' or 'base64' (NULL when \
             the string is not in that encoding).",
            Ret::Fixed(DataType::Binary),
            to_bytes,
        )
        .overload(&[Str, Str])
        .check(check_encoding)
        .syntax("TO_BYTES(string, encoding)")
        .example("TO_BYTES('AQID', 'base64')")
        .build(),
        function(
            "from_bytes",
            "Bytes as a string in an encoding: 'hex', 'utf8', 'ascii' or 'base64'.",
            Ret::Fixed(DataType::Utf8),
            from_bytes,
        )
        .overload(&[Bytes, Str])
        .check(check_encoding)
        .syntax("FROM_BYTES(bytes, encoding)")
        .example("FROM_BYTES(b, 'hex')")
        .build(),
        number(
            "int_from_bytes",
            "The INTEGER in 4 bytes, big-endian unless 'LITTLE_ENDIAN' is given (NULL for \
             another length).",
            DataType::Int32,
            int_from_bytes,
        ),
        number(
            "bigint_from_bytes",
            "The BIGINT in 8 bytes, big-endian unless 'LITTLE_ENDIAN' is given (NULL for \
             another length).",
            DataType::Int64,
            bigint_from_bytes,
        ),
        number(
            "double_from_bytes",
            "The DOUBLE in 8 bytes, big-endian unless 'LITTLE_ENDIAN' is given (NULL for \
             another length).",
            DataType::Float64,
            double_from_bytes,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        assert_eq!(encode("0a0B", "hex"), Some(vec![10, 11]));
        assert_eq!(encode("abc", "HEX"), None);
        assert_eq!(encode("é", "ascii"), None);
        assert_eq!(encode("AQID", "base64"), Some(vec![1, 2, 3]));
        assert_eq!(decode(&[1, 2, 3], "base64").as_deref(), Some("AQID"));
        assert_eq!(decode(&[10, 255], "hex").as_deref(), Some("0aff"));
        assert_eq!(decode(&[0xff], "utf8"), None);
        assert!(!known_encoding("utf16"));
    }
}
