//! The partitioning hash, version 1 ([`weir_planner::HASH_VERSION`]).
//!
//! A key is serialised the way Kafka's default serializers write it (INT: 4 bytes big-endian,
//! BIGINT: 8 bytes big-endian, DOUBLE: IEEE-754 bits big-endian, STRING: UTF-8), hashed with
//! Kafka's murmur2, and mapped to `(hash & 0x7fffffff) % partitions` — exactly what Kafka's
//! default partitioner does, so a Weir stream and a Kafka topic keyed the same way are
//! copartitioned. Several key columns are serialised one after another, each prefixed by its
//! length (4 bytes big-endian). Rows whose key is NULL go to partition 0.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type};

use crate::error::{Error, Result};

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's partition for a serialised key.
pub(crate) fn kafka_partition(key: &[u8], partitions: usize) -> usize {
    ((murmur2(key) as u32 & 0x7fff_ffff) as usize) % partitions
}

/// Appends the key bytes of row `row` of `array` to `out`; returns false when the value is null.
fn encode(array: &dyn Array, row: usize, out: &mut Vec<u8>) -> Result<bool> {
    if array.is_null(row) {
        return Ok(false);
    }
    match array.data_type() {
        DataType::Int8 => out.extend_from_slice(
            &i32::from(array.as_primitive::<Int8Type>().value(row)).to_be_bytes(),
        ),
        DataType::Int16 => out.extend_from_slice(
            &i32::from(array.as_primitive::<Int16Type>().value(row)).to_be_bytes(),
        ),
        DataType::Int32 => {
            out.extend_from_slice(&array.as_primitive::<Int32Type>().value(row).to_be_bytes())
        }
        DataType::Int64 => {
            out.extend_from_slice(&array.as_primitive::<Int64Type>().value(row).to_be_bytes())
        }
        DataType::Float64 => {
            out.extend_from_slice(&array.as_primitive::<Float64Type>().value(row).to_be_bytes())
        }
        DataType::Utf8 => out.extend_from_slice(array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => {
            out.extend_from_slice(array.as_string::<i64>().value(row).as_bytes())
        }
        DataType::Utf8View => out.extend_from_slice(array.as_string_view().value(row).as_bytes()),
        DataType::Boolean => out.push(u8::from(array.as_boolean().value(row))),
        DataType::Binary => out.extend_from_slice(array.as_binary::<i32>().value(row)),
        _ => {
            // Other types hash their canonical text form (stable across runs and platforms).
            let text = arrow::util::display::array_value_to_string(array, row)
                .map_err(|e| Error::Internal(format!("cannot hash key value: {e}")))?;
            out.extend_from_slice(text.as_bytes());
        }
    }
    Ok(true)
}

/// The target partition of every row, from the key columns.
pub(crate) fn partition_ids(keys: &[ArrayRef], rows: usize, partitions: usize) -> Result<Vec<u32>> {
    let mut ids = Vec::with_capacity(rows);
    if partitions <= 1 {
        ids.resize(rows, 0);
        return Ok(ids);
    }
    let mut buf = Vec::with_capacity(64);
    if let [key] = keys {
        let key = key.as_ref();
        for row in 0..rows {
            buf.clear();
            let id = if encode(key, row, &mut buf)? {
                kafka_partition(&buf, partitions)
            } else {
                0
            };
            ids.push(id as u32);
        }
        return Ok(ids);
    }
    let mut part = Vec::with_capacity(32);
    for row in 0..rows {
        buf.clear();
        let mut any = false;
        for key in keys {
            part.clear();
            if encode(key.as_ref(), row, &mut part)? {
                any = true;
            }
            buf.extend_from_slice(&(part.len() as u32).to_be_bytes());
            buf.extend_from_slice(&part);
        }
        let id = if any {
            kafka_partition(&buf, partitions)
        } else {
            0
        };
        ids.push(id as u32);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray};

    use super::*;

    /// Golden values from Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn ids_are_stable_and_null_goes_to_zero() {
        let keys: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![
            Some("foobar"),
            None,
            Some("abc"),
        ]))];
        let ids = partition_ids(&keys, 3, 8).unwrap();
        // (murmur2 & 0x7fffffff) % 8, computed from the golden values above.
        assert_eq!(
            ids,
            vec![
                ((-790_332_482i32 as u32 & 0x7fff_ffff) % 8),
                0,
                (479_470_107 % 8)
            ]
        );
        let ints: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(vec![1, 2, 3, 1]))];
        let a = partition_ids(&ints, 4, 4).unwrap();
        assert_eq!(a[0], a[3]);
    }
}
