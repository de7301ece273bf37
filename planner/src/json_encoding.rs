//! How JSON output spells values Arrow's writer would lose: a DOUBLE that is NaN or infinite
//! is written as ksqlDB (Jackson) writes it, the string `"NaN"`, `"Infinity"` or
//! `"-Infinity"`, instead of `null`.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, FieldRef, Float32Type, Float64Type};
use arrow::error::ArrowError;
use arrow::json::writer::{make_encoder, Encoder, EncoderFactory, EncoderOptions, NullableEncoder};

/// A JSON lines writer configured as Weir writes JSON: explicit nulls, non-finite doubles as
/// ksqlDB writes them.
pub fn json_writer() -> arrow::json::WriterBuilder {
    arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(NonFiniteDoubles))
}

#[derive(Debug)]
struct NonFiniteDoubles;

/// Arrow's own encoders, for the finite values.
static PLAIN: LazyLock<EncoderOptions> = LazyLock::new(EncoderOptions::default);

impl EncoderFactory for NonFiniteDoubles {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let values: Vec<f64> = match array.data_type() {
            DataType::Float64 => {
                let a = array.as_primitive::<Float64Type>();
                if a.values().iter().all(|v| v.is_finite()) {
                    return Ok(None);
                }
                a.values().to_vec()
            }
            DataType::Float32 => {
                let a = array.as_primitive::<Float32Type>();
                if a.values().iter().all(|v| v.is_finite()) {
                    return Ok(None);
                }
                a.values().iter().map(|&v| f64::from(v)).collect()
            }
            _ => return Ok(None),
        };
        let plain = make_encoder(field, array, &PLAIN)?;
        Ok(Some(NullableEncoder::new(
            Box::new(SpelledDoubles { values, plain }),
            array.nulls().cloned(),
        )))
    }
}

struct SpelledDoubles<'a> {
    values: Vec<f64>,
    plain: NullableEncoder<'a>,
}

impl Encoder for SpelledDoubles<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.values[idx];
        if v.is_nan() {
            out.extend_from_slice(b"\"NaN\"");
        } else if v == f64::INFINITY {
            out.extend_from_slice(b"\"Infinity\"");
        } else if v == f64::NEG_INFINITY {
            out.extend_from_slice(b"\"-Infinity\"");
        } else {
            self.plain.encode(idx, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, RecordBatch};

    #[test]
    fn non_finite_doubles_are_spelled_out() {
        let batch = RecordBatch::try_from_iter([(
            "d",
            Arc::new(Float64Array::from(vec![
                Some(f64::NAN),
                Some(1.5),
                None,
                Some(f64::NEG_INFINITY),
            ])) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let mut out = Vec::new();
        {
            let mut w = json_writer().build::<_, arrow::json::writer::LineDelimited>(&mut out);
            w.write(&batch).unwrap();
            w.finish().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"d\":\"NaN\"}\n{\"d\":1.5}\n{\"d\":null}\n{\"d\":\"-Infinity\"}\n"
        );
    }
}
