//! ksqlDB functions that DataFusion has no equivalent of.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// `AS_VALUE(x)`: `x` unchanged. ksqlDB uses it to copy a key column into the value; Weir
/// keeps keys as ordinary columns, so it is the identity.
#[derive(Debug, PartialEq, Eq, Hash)]
struct AsValue {
    signature: Signature,
}

impl ScalarUDFImpl for AsValue {
    fn name(&self) -> &str {
        "as_value"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion_common::Result<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion_common::Result<ColumnarValue> {
        match args.args.into_iter().next() {
            Some(v) => Ok(v),
            None => datafusion_common::exec_err!("AS_VALUE takes one argument"),
        }
    }
}

/// The functions defined here.
pub(crate) fn all() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(AsValue {
        signature: Signature::any(1, Volatility::Immutable),
    }))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_value_is_the_identity() {
        let f = &all()[0];
        assert_eq!(f.name(), "as_value");
        assert_eq!(f.return_type(&[DataType::Int32]).unwrap(), DataType::Int32);
    }
}
