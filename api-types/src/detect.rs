//! `POST /predict` and `POST /api/v1/detect/{model_id}`.

use serde::{Deserialize, Serialize};

use crate::StageTimings;

/// The query (or multipart form fields) of the detection routes.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DetectQuery {
    pub model: Option<String>,
    /// Minimum score, 0..1 (kept as text so a bad value gets a clear 400).
    pub confidence: Option<String>,
    /// `image`: embed the decoded input as a PNG data URL (for pages given only a URL).
    pub include: Option<String>,
}

/// One box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Detection {
    /// COCO's `[x, y, width, height]` in the original image's pixels.
    pub bbox: [f32; 4],
    pub label: String,
    /// The official COCO category id (1..90).
    pub category_id: u32,
    /// The model's class index (0..79).
    pub class_index: usize,
    pub score: f32,
}

/// `POST /api/v1/detect/{id}?include=image`: every box down to the model's score floor, so a
/// page can re-threshold without a new request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    /// Boxes scoring below this are never returned.
    pub score_floor: f32,
    /// The threshold applied to this answer (`confidence`, at least the floor).
    pub min_score: f32,
    pub detections: Vec<Detection>,
    pub timings: StageTimings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_png: Option<String>,
}
