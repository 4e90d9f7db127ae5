//! Shapes shared between the server's JSON and the page. Plain serde types, no candle.

use serde::{Deserialize, Serialize};

/// A segmentation model the page offers.
#[derive(Debug, Clone, Copy)]
pub struct ModelChoice {
    pub id: &'static str,
    pub label: &'static str,
}

/// The segmentation models in the catalog, default first.
pub const SEGMENTATION_MODELS: &[ModelChoice] = &[
    ModelChoice {
        id: "selfie",
        label: "MediaPipe Selfie (256×256)",
    },
    ModelChoice {
        id: "meet",
        label: "MediaPipe Meet (256×144)",
    },
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassShare {
    pub id: usize,
    pub label: String,
    pub share: f32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub decode_ms: f64,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
    pub total_ms: f64,
}

/// `POST /api/v1/segment/{id}?output=json&include=probability,image`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub threshold: f32,
    pub classes: Vec<ClassShare>,
    pub timings: Timings,
    #[serde(default)]
    pub probability_png: Option<String>,
    #[serde(default)]
    pub image_png: Option<String>,
}

/// Every API error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(rename = "type")]
    pub kind: String,
}
