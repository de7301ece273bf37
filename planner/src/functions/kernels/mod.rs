//! Row-level kernels for ksqlDB's scalar functions: plain Rust on `&str` and integers,
//! matching ksqlDB's semantics, for the vectorised UDFs to call once per row.

pub(crate) mod json;
pub(crate) mod mask;
pub(crate) mod text;
pub(crate) mod url;
