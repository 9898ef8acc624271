//! `to_json(value)`: any value as JSON text, the form in which the PostgreSQL server hands
//! maps, structs and lists of them to clients (PostgreSQL clients have no type for an Arrow
//! map or an anonymous struct). Maps with text keys become JSON objects, structs objects with
//! every field (nulls included), lists arrays, timestamps ISO-8601 strings; a null value is
//! SQL NULL, not the text `null`. Registered in every convlake session, as PostgreSQL's and
//! DuckDB's function of the same name.

use std::sync::Arc;

use arrow::array::{Array, StringBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::json::writer::{make_encoder, EncoderOptions};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The name the function is registered under.
pub const NAME: &str = "to_json";

/// The `to_json` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToJson {
    signature: Signature,
}

impl Default for ToJson {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// `to_json` as a registrable function.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(ToJson::default())
}

/// Whether a column of `data_type` is sent to PostgreSQL clients as JSON text: maps, structs,
/// and lists whose elements are not plain scalars (PostgreSQL arrays hold scalars only).
pub fn needs_json(data_type: &DataType) -> bool {
    match data_type {
        DataType::Map(..) | DataType::Struct(_) | DataType::Union(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => {
            let inner = f.data_type();
            needs_json(inner) || inner.is_nested()
        }
        DataType::Dictionary(_, value) => needs_json(value),
        _ => false,
    }
}

impl ScalarUDFImpl for ToJson {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return exec_err!("to_json takes one argument");
        };
        let is_scalar = matches!(value, ColumnarValue::Scalar(_));
        let array = value.to_array(args.number_rows.max(1))?;
        let field = Arc::new(Field::new("value", array.data_type().clone(), true));
        let options = EncoderOptions::default().with_explicit_nulls(true);
        let mut encoder = make_encoder(&field, array.as_ref(), &options)?;
        let mut out = StringBuilder::with_capacity(array.len(), array.len() * 64);
        let mut buffer = Vec::with_capacity(256);
        for row in 0..array.len() {
            if array.is_null(row) {
                out.append_null();
                continue;
            }
            buffer.clear();
            encoder.encode(row, &mut buffer);
            match std::str::from_utf8(&buffer) {
                Ok(text) => out.append_value(text),
                Err(e) => return exec_err!("to_json produced invalid UTF-8: {e}"),
            }
        }
        let result: Arc<dyn Array> = Arc::new(out.finish());
        if is_scalar {
            return Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::try_from_array(&result, 0)?,
            ));
        }
        Ok(ColumnarValue::Array(result))
    }
}
