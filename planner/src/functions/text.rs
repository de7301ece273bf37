//! ksqlDB's text functions on the row kernels of [`super::kernels`]: substring and padding
//! with ksqlDB's rules, INSTR, ENCODE, CHR, ELT/FIELD, SPLIT, INITCAP, URL parts, the MASK
//! family and SHA-256 for pseudonymisation. A row whose arguments a function rejects gives
//! NULL (ksqlDB's behaviour); literal arguments are checked when the query is planned.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion_common::{plan_err, Result, ScalarValue};
use datafusion_expr::ScalarUDF;
use sha2::Digest as _;

use super::kernels::{mask, text, url};
use super::strings::hex;
use super::{function, literal_str, Args, Col, Ret, P};

/// Longest string LPAD/RPAD build (characters); longer targets give NULL.
const MAX_PAD: i64 = 1 << 20;

fn strings(rows: usize, f: impl FnMut(usize) -> Option<String>) -> ArrayRef {
    Arc::new((0..rows).map(f).collect::<StringArray>())
}

fn ints(rows: usize, f: impl FnMut(usize) -> Option<i32>) -> ArrayRef {
    Arc::new((0..rows).map(f).collect::<Int32Array>())
}

/// BIGINT or INTEGER argument `i` as i64.
fn long_at(args: &Args, i: usize, row: usize) -> Result<Option<i64>> {
    let (array, _) = args.raw(i)?;
    Ok(if matches!(array.data_type(), DataType::Int32) {
        args.int(i)?.get(row).map(i64::from)
    } else {
        args.long(i)?.get(row)
    })
}

/// BYTES as text of one character per byte (U+0000..U+00FF), so the character kernels apply
/// to bytes as they do to characters; and back.
fn bytes_as_chars(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

fn chars_as_bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| u32::from(c) as u8).collect()
}

/// A string function's body run on BYTES arguments (the same positions, in bytes).
fn on_bytes(args: &Args, body: fn(&Args) -> Result<ArrayRef>) -> Result<Option<ArrayRef>> {
    use arrow::array::AsArray as _;
    if args.raw(0)?.0.data_type() != &DataType::Binary {
        return Ok(None);
    }
    let cols = (0..args.len())
        .map(|i| {
            let (a, scalar) = args.raw(i)?;
            let a: ArrayRef = match a.as_binary_opt::<i32>() {
                Some(b) => Arc::new(
                    b.iter()
                        .map(|v| v.map(bytes_as_chars))
                        .collect::<StringArray>(),
                ),
                None => Arc::clone(a),
            };
            Ok((a, scalar))
        })
        .collect::<Result<Vec<_>>>()?;
    let text = body(&args.with_columns(cols))?;
    let out: arrow::array::BinaryArray = text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(chars_as_bytes))
        .collect();
    Ok(Some(Arc::new(out)))
}

fn substring(args: &Args) -> Result<ArrayRef> {
    if let Some(b) = on_bytes(args, substring)? {
        return Ok(b);
    }
    let s = args.str(0)?;
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        let len = if args.len() > 2 {
            match long_at(args, 2, r)? {
                Some(l) => Some(l),
                None => {
                    out.push(None);
                    continue;
                }
            }
        } else {
            None
        };
        out.push(match (s.get(r), long_at(args, 1, r)?) {
            (Some(s), Some(pos)) => Some(text::substring(s, pos, len).to_string()),
            _ => None,
        });
    }
    Ok(Arc::new(StringArray::from(out)))
}

fn pad(args: &Args, left: bool) -> Result<ArrayRef> {
    let body = if left { lpad } else { rpad };
    if let Some(b) = on_bytes(args, body)? {
        return Ok(b);
    }
    let (s, p) = (args.str(0)?, args.str(2)?);
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        out.push(match (s.get(r), long_at(args, 1, r)?, p.get(r)) {
            (Some(s), Some(len), Some(p)) if len <= MAX_PAD => {
                if left {
                    text::lpad(s, len, p)
                } else {
                    text::rpad(s, len, p)
                }
            }
            _ => None,
        });
    }
    Ok(Arc::new(StringArray::from(out)))
}

fn lpad(args: &Args) -> Result<ArrayRef> {
    pad(args, true)
}

fn rpad(args: &Args) -> Result<ArrayRef> {
    pad(args, false)
}

fn instr(args: &Args) -> Result<ArrayRef> {
    let (s, sub) = (args.str(0)?, args.str(1)?);
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        let pos = if args.len() > 2 {
            long_at(args, 2, r)?
        } else {
            Some(1)
        };
        let occ = if args.len() > 3 {
            long_at(args, 3, r)?
        } else {
            Some(1)
        };
        out.push(match (s.get(r), sub.get(r), pos, occ) {
            (Some(s), Some(sub), Some(p), Some(o)) => Some(text::instr(s, sub, p, o)),
            _ => None,
        });
    }
    Ok(Arc::new(Int32Array::from(out)))
}

fn check_encode(args: &[Option<&ScalarValue>]) -> Result<()> {
    if let (Some(a), Some(b)) = (literal_str(args, 1), literal_str(args, 2)) {
        if let Err(e) = text::Encoder::new(a, b) {
            return plan_err!("{e}");
        }
    }
    Ok(())
}

fn encode(args: &Args) -> Result<ArrayRef> {
    let (s, from, to) = (args.str(0)?, args.str(1)?, args.str(2)?);
    let mut encoders: HashMap<(&str, &str), Option<text::Encoder>> = HashMap::new();
    Ok(strings(args.rows, |r| {
        let (f, t) = (from.get(r)?, to.get(r)?);
        let encoder = encoders
            .entry((f, t))
            .or_insert_with(|| text::Encoder::new(f, t).ok())
            .as_ref()?;
        encoder.encode(s.get(r)?)
    }))
}

fn chr(args: &Args) -> Result<ArrayRef> {
    let (array, _) = args.raw(0)?;
    if matches!(array.data_type(), DataType::Utf8) {
        let s = args.str(0)?;
        return Ok(strings(args.rows, |r| text::chr_from_text(s.get(r)?)));
    }
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        out.push(long_at(args, 0, r)?.and_then(text::chr_from_code));
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// The string arguments from `from` on, per row.
fn rest(args: &Args, from: usize) -> Result<Vec<Col<&StringArray>>> {
    (from..args.len()).map(|i| args.str(i)).collect()
}

fn elt(args: &Args) -> Result<ArrayRef> {
    let choices = rest(args, 1)?;
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        let values: Vec<Option<&str>> = choices.iter().map(|c| c.get(r)).collect();
        out.push(long_at(args, 0, r)?.and_then(|n| text::elt(n, &values)));
    }
    Ok(Arc::new(StringArray::from(out)))
}

fn field(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let choices = rest(args, 1)?;
    Ok(ints(args.rows, |r| {
        let values: Vec<Option<&str>> = choices.iter().map(|c| c.get(r)).collect();
        // FIELD(NULL, ...) is 0 in ksqlDB.
        Some(s.get(r).map_or(0, |s| text::field(s, &values)))
    }))
}

fn split(args: &Args) -> Result<ArrayRef> {
    if args.raw(0)?.0.data_type() == &DataType::Binary {
        return split_bytes(args);
    }
    let (s, d) = (args.str(0)?, args.str(1)?);
    let mut out = ListBuilder::new(StringBuilder::new());
    for r in 0..args.rows {
        match (s.get(r), d.get(r)) {
            (Some(s), Some(d)) => {
                for part in text::split(s, d) {
                    out.values().append_value(part);
                }
                out.append(true);
            }
            _ => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// SPLIT on BYTES: at every occurrence of the delimiter's bytes (an empty delimiter splits
/// into single bytes).
fn split_bytes(args: &Args) -> Result<ArrayRef> {
    let (s, d) = (args.bytes(0)?, args.bytes(1)?);
    let mut out = arrow::array::ListBuilder::new(arrow::array::BinaryBuilder::new());
    for r in 0..args.rows {
        match (s.get(r), d.get(r)) {
            (Some(s), Some(d)) => {
                if d.is_empty() {
                    for b in s {
                        out.values().append_value([*b]);
                    }
                } else {
                    let mut start = 0;
                    let mut i = 0;
                    while i + d.len() <= s.len() {
                        if &s[i..i + d.len()] == d {
                            out.values().append_value(&s[start..i]);
                            i += d.len();
                            start = i;
                        } else {
                            i += 1;
                        }
                    }
                    out.values().append_value(&s[start..]);
                }
                out.append(true);
            }
            _ => out.append(false),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn initcap(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    Ok(strings(args.rows, |r| Some(text::initcap(s.get(r)?))))
}

fn url_encode_param(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    Ok(strings(args.rows, |r| {
        Some(url::url_encode_param(s.get(r)?))
    }))
}

fn url_decode_param(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    Ok(strings(args.rows, |r| url::url_decode_param(s.get(r)?)))
}

fn url_part(args: &Args, part: fn(&str) -> Option<String>) -> Result<ArrayRef> {
    let s = args.str(0)?;
    Ok(strings(args.rows, |r| part(s.get(r)?)))
}

fn url_protocol(args: &Args) -> Result<ArrayRef> {
    url_part(args, |u| url::url_extract_protocol(u).map(str::to_string))
}

fn url_host(args: &Args) -> Result<ArrayRef> {
    url_part(args, |u| url::url_extract_host(u).map(str::to_string))
}

fn url_path(args: &Args) -> Result<ArrayRef> {
    url_part(args, |u| url::url_extract_path(u).map(|c| c.into_owned()))
}

fn url_query(args: &Args) -> Result<ArrayRef> {
    url_part(args, |u| url::url_extract_query(u).map(|c| c.into_owned()))
}

fn url_fragment(args: &Args) -> Result<ArrayRef> {
    url_part(args, |u| {
        url::url_extract_fragment(u).map(|c| c.into_owned())
    })
}

fn url_port(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    Ok(ints(args.rows, |r| url::url_extract_port(s.get(r)?)))
}

fn url_parameter(args: &Args) -> Result<ArrayRef> {
    let (u, name) = (args.str(0)?, args.str(1)?);
    Ok(strings(args.rows, |r| {
        url::url_extract_parameter(u.get(r)?, name.get(r)?)
    }))
}

/// The masks of a MASK call whose mask arguments start at `first` (defaults without them).
fn masks_at(args: &Args, first: usize, row: usize) -> Result<Option<mask::MaskChars>> {
    if args.len() <= first {
        return Ok(Some(mask::MaskChars::default()));
    }
    let get = |i: usize| -> Result<Option<&str>> { Ok(args.str(first + i)?.get(row)) };
    Ok(mask::MaskChars::from_args(get(0)?, get(1)?, get(2)?, get(3)?).ok())
}

fn check_masks_from(args: &[Option<&ScalarValue>], first: usize) -> Result<()> {
    for i in first..args.len() {
        if let Some(s) = literal_str(args, i) {
            if let Err(e) = mask::mask_char(Some(s)) {
                return plan_err!("{e}");
            }
        }
    }
    Ok(())
}

fn check_mask(args: &[Option<&ScalarValue>]) -> Result<()> {
    check_masks_from(args, 1)
}

fn check_mask_n(args: &[Option<&ScalarValue>]) -> Result<()> {
    match args.get(1).copied().flatten() {
        Some(ScalarValue::Int64(Some(n))) if *n < 0 => {
            return plan_err!("function input must be >= 0, not {n}")
        }
        Some(ScalarValue::Int32(Some(n))) if *n < 0 => {
            return plan_err!("function input must be >= 0, not {n}")
        }
        _ => {}
    }
    check_masks_from(args, 2)
}

fn mask_all(args: &Args) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        out.push(match (s.get(r), masks_at(args, 1, r)?) {
            (Some(s), Some(m)) => Some(mask::mask(s, &m)),
            _ => None,
        });
    }
    Ok(Arc::new(StringArray::from(out)))
}

fn mask_n(
    args: &Args,
    f: fn(&str, i64, &mask::MaskChars) -> std::result::Result<String, String>,
) -> Result<ArrayRef> {
    let s = args.str(0)?;
    let mut out = Vec::with_capacity(args.rows);
    for r in 0..args.rows {
        out.push(
            match (s.get(r), long_at(args, 1, r)?, masks_at(args, 2, r)?) {
                (Some(s), Some(n), Some(m)) => f(s, n, &m).ok(),
                _ => None,
            },
        );
    }
    Ok(Arc::new(StringArray::from(out)))
}

fn mask_left(args: &Args) -> Result<ArrayRef> {
    mask_n(args, mask::mask_left)
}

fn mask_right(args: &Args) -> Result<ArrayRef> {
    mask_n(args, mask::mask_right)
}

fn mask_keep_left(args: &Args) -> Result<ArrayRef> {
    mask_n(args, mask::mask_keep_left)
}

fn mask_keep_right(args: &Args) -> Result<ArrayRef> {
    mask_n(args, mask::mask_keep_right)
}

fn sha256(args: &Args) -> Result<ArrayRef> {
    let (array, _) = args.raw(0)?;
    if matches!(array.data_type(), DataType::Binary) {
        let b = args.bytes(0)?;
        return Ok(strings(args.rows, |r| {
            Some(hex(&sha2::Sha256::digest(b.get(r)?)))
        }));
    }
    let s = args.str(0)?;
    Ok(strings(args.rows, |r| {
        Some(hex(&sha2::Sha256::digest(s.get(r)?.as_bytes())))
    }))
}

/// The text functions.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    use P::*;
    let s = || Ret::Fixed(DataType::Utf8);
    vec![
        function(
            "substring",
            "Characters from a 1-based position (negative counts from the end), optionally \
             at most `length` of them.",
            Ret::Arg(0),
            substring,
        )
        .overload(&[Str, Long])
        .overload(&[Str, Long, Long])
        .overload(&[Bytes, Long])
        .overload(&[Bytes, Long, Long])
        .syntax("SUBSTRING(string, position [, length])")
        .build(),
        function(
            "lpad",
            "Pads on the left with `padding` to `length` characters (cuts longer input).",
            Ret::Arg(0),
            lpad,
        )
        .overload(&[Str, Long, Str])
        .overload(&[Bytes, Long, Bytes])
        .syntax("LPAD(string, length, padding)")
        .build(),
        function(
            "rpad",
            "Pads on the right with `padding` to `length` characters (cuts longer input).",
            Ret::Arg(0),
            rpad,
        )
        .overload(&[Str, Long, Str])
        .overload(&[Bytes, Long, Bytes])
        .syntax("RPAD(string, length, padding)")
        .build(),
        function(
            "instr",
            "1-based position of the `occurrence`-th match of `substring`, searching from \
             `position` (negative: backwards from the end); 0 when not found.",
            Ret::Fixed(DataType::Int32),
            instr,
        )
        .overload(&[Str, Str])
        .overload(&[Str, Str, Long])
        .overload(&[Str, Str, Long, Long])
        .syntax("INSTR(string, substring [, position [, occurrence]])")
        .build(),
        function(
            "encode",
            "Re-encodes text between 'hex', 'utf8', 'ascii' and 'base64'.",
            s(),
            encode,
        )
        .overload(&[Str, Str, Str])
        .check(check_encode)
        .syntax("ENCODE(string, input_encoding, output_encoding)")
        .build(),
        function(
            "chr",
            "The character with a Unicode code point, given as a number or as '\\uXXXX' text.",
            s(),
            chr,
        )
        .overload(&[Long])
        .overload(&[Str])
        .build(),
        function(
            "elt",
            "The n-th (1-based) of the strings that follow; NULL when out of range.",
            s(),
            elt,
        )
        .overload(&[Long, Str])
        .variadic()
        .syntax("ELT(n, string1, string2, ...)")
        .build(),
        function(
            "field",
            "1-based position of a string among the ones that follow; 0 when absent.",
            Ret::Fixed(DataType::Int32),
            field,
        )
        .overload(&[Str, Str])
        .variadic()
        .syntax("FIELD(string, string1, string2, ...)")
        .build(),
        function(
            "split",
            "Splits at every occurrence of a delimiter; an empty delimiter splits into characters \
             (BYTES split into BYTES).",
            Ret::ListOf(0),
            split,
        )
        .overload(&[Str, Str])
        .overload(&[Bytes, Bytes])
        .syntax("SPLIT(string, delimiter) | SPLIT(bytes, delimiter_bytes)")
        .build(),
        function(
            "initcap",
            "Upper-cases the first letter of each word, lower-cases the rest.",
            s(),
            initcap,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_encode_param",
            "Encodes text for a URL query parameter (application/x-www-form-urlencoded).",
            s(),
            url_encode_param,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_decode_param",
            "Decodes a URL query parameter.",
            s(),
            url_decode_param,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_extract_protocol",
            "The scheme of a URL.",
            s(),
            url_protocol,
        )
        .overload(&[Str])
        .build(),
        function("url_extract_host", "The host of a URL.", s(), url_host)
            .overload(&[Str])
            .build(),
        function(
            "url_extract_port",
            "The port of a URL (NULL when it has none).",
            Ret::Fixed(DataType::Int32),
            url_port,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_extract_path",
            "The decoded path of a URL.",
            s(),
            url_path,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_extract_query",
            "The decoded query of a URL.",
            s(),
            url_query,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_extract_fragment",
            "The decoded fragment of a URL.",
            s(),
            url_fragment,
        )
        .overload(&[Str])
        .build(),
        function(
            "url_extract_parameter",
            "The decoded value of a query parameter of a URL.",
            s(),
            url_parameter,
        )
        .overload(&[Str, Str])
        .syntax("URL_EXTRACT_PARAMETER(url, name)")
        .build(),
        function(
            "mask",
            "Masks a string: upper-case letters become 'X', lower-case 'x', digits 'n', \
             anything else '-', unless other replacements are given (NULL keeps that class).",
            s(),
            mask_all,
        )
        .overload(&[Str])
        .overload(&[Str, Str, Str, Str, Str])
        .check(check_mask)
        .syntax("MASK(string [, upper, lower, digit, other])")
        .example("MASK('Card 4111-1111') -> 'Xxxx-nnnn-nnnn'")
        .build(),
        function(
            "mask_left",
            "Masks the first n characters (as MASK).",
            s(),
            mask_left,
        )
        .overload(&[Str, Long])
        .overload(&[Str, Long, Str, Str, Str, Str])
        .check(check_mask_n)
        .syntax("MASK_LEFT(string, n [, upper, lower, digit, other])")
        .build(),
        function(
            "mask_right",
            "Masks the last n characters (as MASK).",
            s(),
            mask_right,
        )
        .overload(&[Str, Long])
        .overload(&[Str, Long, Str, Str, Str, Str])
        .check(check_mask_n)
        .syntax("MASK_RIGHT(string, n [, upper, lower, digit, other])")
        .build(),
        function(
            "mask_keep_left",
            "Masks all but the first n characters (as MASK).",
            s(),
            mask_keep_left,
        )
        .overload(&[Str, Long])
        .overload(&[Str, Long, Str, Str, Str, Str])
        .check(check_mask_n)
        .syntax("MASK_KEEP_LEFT(string, n [, upper, lower, digit, other])")
        .build(),
        function(
            "mask_keep_right",
            "Masks all but the last n characters (as MASK).",
            s(),
            mask_keep_right,
        )
        .overload(&[Str, Long])
        .overload(&[Str, Long, Str, Str, Str, Str])
        .check(check_mask_n)
        .syntax("MASK_KEEP_RIGHT(string, n [, upper, lower, digit, other])")
        .example("MASK_KEEP_RIGHT(card_number, 4) -> 'nnnn-nnnn-nnnn-1111'")
        .build(),
        function(
            "sha256",
            "SHA-256 of a string (its UTF-8 bytes) or BYTES, as lower-case hex: a stable \
             pseudonym for an identifier.",
            s(),
            sha256,
        )
        .overload(&[Str])
        .overload(&[Bytes])
        .build(),
    ]
}
