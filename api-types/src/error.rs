//! The one error shape of the API.

use serde::{Deserialize, Serialize};

/// Every API error body: `{"error","type","code"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for people; never internal detail.
    pub error: String,
    /// A stable machine-readable kind: `bad_request`, `not_found`, `overloaded`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status, repeated for clients that only keep the body. A streamed `error` event
    /// has none (it arrives inside a 200), hence the default when reading.
    #[serde(default)]
    pub code: u16,
}

/// A summary stream's `error` event: `{"error","type"}` (the stream's status was already 200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamError {
    pub error: String,
    #[serde(rename = "type")]
    pub kind: String,
}
