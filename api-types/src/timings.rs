//! Where an image request's time went.

use serde::{Deserialize, Serialize};

/// Where a request's time went on the server, in milliseconds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct StageTimings {
    /// Waiting in the model's queue (and for the rest of its batch).
    pub queue_ms: f64,
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
    pub total_ms: f64,
}
