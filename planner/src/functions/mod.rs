//! ksqlDB's scalar functions that DataFusion lacks or defines differently.
//!
//! Each function is a [`KsqlFunction`]: a name, the parameter lists it accepts (ksqlDB's
//! overloads, with ksqlDB's implicit widening), a return type, documentation for
//! `DESCRIBE FUNCTION`, and a vectorised body that sees whole Arrow arrays. Literal arguments
//! (patterns, zone names) are checked when the query is planned, so a bad pattern is a
//! plan-time error with the function's name rather than a failure at the first row. Per-row
//! bad input (a string that does not parse) gives NULL, as in ksqlDB.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BinaryArray, Float64Array, Int32Array, Int64Array,
    StringArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Field, FieldRef, Time32MillisecondType, TimeUnit,
    TimestampMillisecondType,
};
use datafusion_common::{exec_err, plan_err, Result, ScalarValue};
use datafusion_expr::{
    ColumnarValue, DocSection, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

pub(crate) mod aggregates;
mod bytes;
mod collections;
pub use collections::json_texts;
mod datetime;
mod json;
mod kernels;
pub(crate) mod lambdas;
mod math;
pub(crate) mod reduce;
mod strings;
mod text;

pub(crate) use collections::cast_to_string;
pub(crate) use math::decimal_divide;
pub mod timefmt;

/// A parameter kind, with ksqlDB's implicit conversions into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum P {
    /// STRING.
    Str,
    /// INTEGER (smaller integers widen).
    Int,
    /// BIGINT (any integer widens).
    Long,
    /// DOUBLE (any number widens).
    Double,
    /// TIMESTAMP (milliseconds).
    Ts,
    /// DATE.
    Date,
    /// TIME (milliseconds).
    Time,
    /// BYTES.
    Bytes,
    /// Any type, unchanged.
    Any,
    /// Any ARRAY.
    List,
}

impl P {
    /// The type an argument of type `t` is converted to, or `None` when it does not fit.
    fn accept(self, t: &DataType) -> Option<DataType> {
        use DataType::*;
        let null = matches!(t, Null);
        let int = matches!(t, Int8 | Int16 | Int32 | UInt8 | UInt16);
        let long = int || matches!(t, Int64 | UInt32);
        Some(match self {
            P::Str if null || matches!(t, Utf8 | LargeUtf8 | Utf8View) => Utf8,
            P::Int if null || int || matches!(t, Int64) => Int32,
            P::Long if null || long => Int64,
            P::Double
                if null
                    || long
                    || matches!(t, UInt64 | Float16 | Float32 | Float64)
                    || matches!(
                        t,
                        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..)
                    ) =>
            {
                Float64
            }
            P::Ts if null || matches!(t, Timestamp(_, _)) => Timestamp(TimeUnit::Millisecond, None),
            P::Date if null || matches!(t, Date32 | Date64) => Date32,
            P::Time if null || matches!(t, Time32(_) | Time64(_)) => Time32(TimeUnit::Millisecond),
            P::Bytes if null || matches!(t, Binary | LargeBinary | BinaryView) => Binary,
            P::Any => t.clone(),
            P::List if null || matches!(t, List(_) | LargeList(_) | FixedSizeList(..)) => t.clone(),
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            P::Str => "STRING",
            P::Int => "INTEGER",
            P::Long => "BIGINT",
            P::Double => "DOUBLE",
            P::Ts => "TIMESTAMP",
            P::Date => "DATE",
            P::Time => "TIME",
            P::Bytes => "BYTES",
            P::Any => "ANY",
            P::List => "ARRAY",
        }
    }
}

/// How a function's result type is found.
pub(crate) enum Ret {
    /// Always this type.
    Fixed(DataType),
    /// The (converted) type of argument `i`.
    Arg(usize),
    /// An ARRAY of the (converted) type of argument `i`.
    ListOf(usize),
    /// Computed from the (converted) argument types.
    Derived(fn(&[DataType]) -> Result<DataType>),
}

/// The body of a function: whole argument arrays in, one array of `args.rows` values out.
pub(crate) type Body = fn(&Args) -> Result<ArrayRef>;

/// A check of the literal arguments, run when a query is planned.
pub(crate) type Check = fn(&[Option<&ScalarValue>]) -> Result<()>;

/// A ksqlDB scalar function.
pub(crate) struct KsqlFunction {
    name: &'static str,
    aliases: Vec<String>,
    overloads: Vec<Vec<P>>,
    /// The last parameter of every overload may repeat.
    variadic: bool,
    ret: Ret,
    body: Body,
    check: Option<Check>,
    signature: Signature,
    doc: Documentation,
}

/// Declares a function; finish with [`Builder::build`].
pub(crate) struct Builder {
    f: KsqlFunction,
    syntax: Vec<String>,
    description: &'static str,
    example: Option<&'static str>,
}

impl Builder {
    /// One more accepted parameter list.
    pub(crate) fn overload(mut self, params: &[P]) -> Self {
        self.f.overloads.push(params.to_vec());
        self
    }

    /// The last parameter repeats (any number of times, at least once).
    pub(crate) fn variadic(mut self) -> Self {
        self.f.variadic = true;
        self
    }

    /// Literal arguments are checked with `check` at plan time.
    pub(crate) fn check(mut self, check: Check) -> Self {
        self.f.check = Some(check);
        self
    }

    /// The result may differ between calls with the same arguments (`UUID`, `RANDOM`, now).
    pub(crate) fn volatile(mut self) -> Self {
        self.f.signature = Signature::user_defined(Volatility::Volatile);
        self
    }

    /// A usage line for `DESCRIBE FUNCTION`, e.g. `FORMAT_DATE(date, pattern)`.
    pub(crate) fn syntax(mut self, line: &str) -> Self {
        self.syntax.push(line.to_string());
        self
    }

    /// An example for `DESCRIBE FUNCTION`.
    pub(crate) fn example(mut self, sql: &'static str) -> Self {
        self.example = Some(sql);
        self
    }

    /// The finished function.
    pub(crate) fn build(mut self) -> Arc<ScalarUDF> {
        let syntax = if self.syntax.is_empty() {
            self.f
                .overloads
                .iter()
                .map(|o| {
                    let params: Vec<&str> = o.iter().map(|p| p.name()).collect();
                    format!("{}({})", self.f.name.to_uppercase(), params.join(", "))
                })
                .collect::<Vec<_>>()
        } else {
            std::mem::take(&mut self.syntax)
        };
        let mut doc = Documentation::builder(
            DocSection {
                include: true,
                label: "ksqlDB functions",
                description: None,
            },
            self.description,
            syntax.join("\n              "),
        );
        if let Some(example) = self.example {
            doc = doc.with_sql_example(example);
        }
        self.f.doc = doc.build();
        Arc::new(ScalarUDF::from(self.f))
    }
}

/// Starts declaring function `name` with its description and result type.
pub(crate) fn function(
    name: &'static str,
    description: &'static str,
    ret: Ret,
    body: Body,
) -> Builder {
    Builder {
        f: KsqlFunction {
            name,
            aliases: Vec::new(),
            overloads: Vec::new(),
            variadic: false,
            ret,
            body,
            check: None,
            signature: Signature::user_defined(Volatility::Immutable),
            doc: Documentation::builder(DocSection::default(), "", "").build(),
        },
        syntax: Vec::new(),
        description,
        example: None,
    }
}

impl KsqlFunction {
    /// The converted argument types for the first overload the arguments fit.
    fn resolve(&self, types: &[DataType]) -> Option<Vec<DataType>> {
        self.overloads.iter().find_map(|params| {
            let fits_len = if self.variadic {
                types.len() >= params.len()
            } else {
                types.len() == params.len()
            };
            if !fits_len {
                return None;
            }
            types
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let p = params.get(i).or(params.last())?;
                    p.accept(t)
                })
                .collect()
        })
    }
}

impl fmt::Debug for KsqlFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KsqlFunction({})", self.name)
    }
}

impl PartialEq for KsqlFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for KsqlFunction {}

impl Hash for KsqlFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for KsqlFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match self.resolve(arg_types) {
            Some(types) => Ok(types),
            None => {
                let given: Vec<String> = arg_types
                    .iter()
                    .map(|t| match t {
                        DataType::Null => "NULL".to_string(),
                        other => crate::types::sql_type_name(other),
                    })
                    .collect();
                let valid: Vec<String> = self
                    .overloads
                    .iter()
                    .map(|o| {
                        let names: Vec<&str> = o.iter().map(|p| p.name()).collect();
                        let more = if self.variadic { ", ..." } else { "" };
                        format!("({}{more})", names.join(", "))
                    })
                    .collect();
                plan_err!(
                    "Function '{}' does not accept parameters ({}). Valid alternatives are: {}",
                    self.name,
                    given.join(", "),
                    valid.join(", ")
                )
            }
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &self.ret {
            Ret::Fixed(t) => Ok(t.clone()),
            Ret::Arg(i) => Ok(arg_types.get(*i).cloned().unwrap_or(DataType::Null)),
            Ret::ListOf(i) => Ok(DataType::List(Arc::new(Field::new(
                "item",
                arg_types.get(*i).cloned().unwrap_or(DataType::Null),
                true,
            )))),
            Ret::Derived(f) => f(arg_types),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(check) = self.check {
            check(args.scalar_arguments)?;
        }
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let t = self.return_type(&types)?;
        Ok(Arc::new(Field::new(self.name, t, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let cols = args
            .args
            .into_iter()
            .map(|v| match v {
                ColumnarValue::Array(a) => Ok((a, false)),
                ColumnarValue::Scalar(s) => Ok((s.to_array_of_size(1)?, true)),
            })
            .collect::<Result<Vec<_>>>()?;
        let out = (self.body)(&Args {
            name: self.name,
            cols,
            rows,
        })?;
        if out.len() != rows {
            return exec_err!(
                "{} produced {} values for {rows} rows",
                self.name,
                out.len()
            );
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// A function's arguments for one batch: arrays (a literal is a one-value array that
/// applies to every row).
pub(crate) struct Args {
    name: &'static str,
    cols: Vec<(ArrayRef, bool)>,
    /// Rows in the batch.
    pub(crate) rows: usize,
}

/// One argument, typed: `get(row)` reads the row's value (or the literal's).
pub(crate) struct Col<A> {
    array: A,
    scalar: bool,
}

impl<A: ArrayAccessor> Col<A> {
    /// The value for `row`, `None` when null.
    pub(crate) fn get(&self, row: usize) -> Option<A::Item> {
        let i = if self.scalar { 0 } else { row };
        if i >= self.array.len() || self.array.is_null(i) {
            None
        } else {
            Some(self.array.value(i))
        }
    }
}

macro_rules! typed_arg {
    ($fn:ident, $arr:ty, $cast:ident) => {
        /// Argument `i` as this type (after the overload's conversion).
        pub(crate) fn $fn(&self, i: usize) -> Result<Col<&$arr>> {
            let (array, scalar) = self.col(i)?;
            match array.$cast() {
                Some(a) => Ok(Col { array: a, scalar }),
                None => exec_err!(
                    "{}: argument {} has type {}, not the expected one",
                    self.name,
                    i + 1,
                    array.data_type()
                ),
            }
        }
    };
}

impl Args {
    fn col(&self, i: usize) -> Result<(&ArrayRef, bool)> {
        match self.cols.get(i) {
            Some((a, s)) => Ok((a, *s)),
            None => exec_err!("{}: missing argument {}", self.name, i + 1),
        }
    }

    /// The same call with other argument arrays.
    pub(crate) fn with_columns(&self, cols: Vec<(ArrayRef, bool)>) -> Args {
        Args {
            name: self.name,
            cols,
            rows: self.rows,
        }
    }

    /// Number of arguments.
    pub(crate) fn len(&self) -> usize {
        self.cols.len()
    }

    /// Argument `i` as an array, and whether it is a literal.
    pub(crate) fn raw(&self, i: usize) -> Result<(&ArrayRef, bool)> {
        self.col(i)
    }

    typed_arg!(str, StringArray, as_string_opt);
    typed_arg!(bytes, BinaryArray, as_binary_opt);

    /// Argument `i` as INTEGER.
    pub(crate) fn int(&self, i: usize) -> Result<Col<&Int32Array>> {
        self.prim(i)
    }

    /// Argument `i` as BIGINT.
    pub(crate) fn long(&self, i: usize) -> Result<Col<&Int64Array>> {
        self.prim(i)
    }

    /// Argument `i` as DOUBLE.
    pub(crate) fn double(&self, i: usize) -> Result<Col<&Float64Array>> {
        self.prim(i)
    }

    /// Argument `i` as TIMESTAMP (epoch milliseconds).
    pub(crate) fn ts(
        &self,
        i: usize,
    ) -> Result<Col<&arrow::array::PrimitiveArray<TimestampMillisecondType>>> {
        self.prim(i)
    }

    /// Argument `i` as DATE (days since the epoch).
    pub(crate) fn date(&self, i: usize) -> Result<Col<&arrow::array::PrimitiveArray<Date32Type>>> {
        self.prim(i)
    }

    /// Argument `i` as TIME (milliseconds since midnight).
    pub(crate) fn time(
        &self,
        i: usize,
    ) -> Result<Col<&arrow::array::PrimitiveArray<Time32MillisecondType>>> {
        self.prim(i)
    }

    fn prim<T: arrow::datatypes::ArrowPrimitiveType>(
        &self,
        i: usize,
    ) -> Result<Col<&arrow::array::PrimitiveArray<T>>> {
        let (array, scalar) = self.col(i)?;
        match array.as_primitive_opt::<T>() {
            Some(a) => Ok(Col { array: a, scalar }),
            None => exec_err!(
                "{}: argument {} has type {}, not {}",
                self.name,
                i + 1,
                array.data_type(),
                T::DATA_TYPE
            ),
        }
    }
}

/// A literal string argument at plan time: `Ok(None)` when the argument is not a literal (or
/// is NULL).
pub(crate) fn literal_str<'a>(args: &[Option<&'a ScalarValue>], i: usize) -> Option<&'a str> {
    match args.get(i).copied().flatten() {
        Some(ScalarValue::Utf8(Some(s)))
        | Some(ScalarValue::LargeUtf8(Some(s)))
        | Some(ScalarValue::Utf8View(Some(s))) => Some(s.as_str()),
        _ => None,
    }
}

/// Every function defined here.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    let mut v = collections::all();
    v.extend(datetime::all());
    v.extend(math::all());
    v.extend(bytes::all());
    v.extend(strings::all());
    v.extend(text::all());
    v.extend(json::all());
    v
}
