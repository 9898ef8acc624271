//! The Genesys Cloud Analytics API over the lake: conversation **aggregate** and **detail**
//! query bodies (`POST /api/v2/analytics/conversations/aggregates/query` and
//! `.../details/query`) answered from the stored detail records, in the JSON Genesys returns.
//!
//! - [`aggregate`]: request model, validation, the SQL plan over `metrics`, and the response
//!   (derived metrics, views, topN);
//! - [`details`]: detail queries, answered from `raw_conversations`;
//! - [`server`]: `convlake serve`, the same engine behind HTTP with the Genesys error shape,
//!   bearer tokens, a client-credentials token endpoint and per-request limits;
//! - [`tokens`]: the bearer tokens the server accepts, issues and revokes, bounded per client;
//! - [`buckets`]: intervals, ISO-8601 granularities and time-zone stepping;
//! - [`vocab`]: the exact Genesys enums requests are checked against.
//!
//! Every failure a client can cause is an [`ApiError`] with an HTTP status and a Genesys-style
//! code; the CLI prints it as JSON and exits with status 2.

pub mod aggregate;
pub mod buckets;
pub mod details;
pub mod server;
pub mod tokens;
pub mod vocab;

use std::fmt;

use serde::Serialize;

/// An error answered to a client: the Genesys error body (`status`, `code`, `message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// HTTP status: 400 bad request, 401, 404, 408 timeout, 413 too large, 429, 500.
    pub status: u16,
    /// A Genesys-style code such as `bad.request` or `invalid.value`.
    pub code: String,
    /// What went wrong and what to do instead.
    pub message: String,
}

impl ApiError {
    /// A 400 with `code` and `message`.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(400, code, message)
    }

    /// An error of any status.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// A 500 for a failure of the lake or the engine (not the request's fault).
    pub fn internal(err: impl fmt::Display) -> Self {
        ApiError::new(500, "internal.server.error", err.to_string())
    }

    /// A failure of the engine: a 413 when the query ran out of its memory, else a 500.
    pub fn engine(err: datafusion::error::DataFusionError) -> Self {
        if matches!(
            err.find_root(),
            datafusion::error::DataFusionError::ResourcesExhausted(_)
        ) {
            return ApiError::new(
                413,
                "query.too.large",
                "the query needs more memory than each request may use: narrow the interval, the groups or the filter (the server's --query-memory sets the limit)",
            );
        }
        ApiError::internal(err)
    }

    /// The error as the JSON body Genesys sends.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The result of answering a query body: the response JSON and notes for the caller (which
/// the CLI prints on stderr and the server sends as `X-Convlake-Notice` headers).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response body (JSON text, in Genesys's field order).
    pub body: String,
    /// Things the caller should know about the answer (lake coverage, as-of state).
    pub notices: Vec<String>,
}

/// Parses a request body into `T`, naming the JSON path of a wrong field in the 400.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "bad.request"
        } else {
            "invalid.value"
        };
        let at = if path == "." {
            String::new()
        } else {
            format!(" at {path}")
        };
        ApiError::bad_request(
            code,
            format!("the request body is not a valid query{at}: {inner}"),
        )
    })
}

/// A result column as 64-bit integers (NULL stays NULL).
pub(crate) fn ints(array: &arrow::array::ArrayRef) -> Result<arrow::array::Int64Array, ApiError> {
    use arrow::array::AsArray;
    let cast = arrow::compute::cast(array, &arrow::datatypes::DataType::Int64)
        .map_err(ApiError::internal)?;
    Ok(cast.as_primitive::<arrow::datatypes::Int64Type>().clone())
}

/// A result column as text (enums, booleans and numbers as they print).
pub(crate) fn text(array: &arrow::array::ArrayRef) -> Result<arrow::array::StringArray, ApiError> {
    use arrow::array::AsArray;
    let cast = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8)
        .map_err(ApiError::internal)?;
    Ok(cast.as_string::<i32>().clone())
}

/// Quotes `text` as a SQL string literal.
pub(crate) fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `did you mean` for a name out of `names`, if one is close.
pub(crate) fn suggest(word: &str, names: &[&str]) -> String {
    let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    crate::query::closest(word, &owned)
        .map(|best| format!(" (did you mean {best:?}?)"))
        .unwrap_or_default()
}
