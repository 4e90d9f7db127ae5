//! `POST /predict/image_classes` and `POST /api/v1/classify/{model_id}`.

use serde::{Deserialize, Serialize};

use crate::StageTimings;

/// The query (or multipart form fields) of the classification routes.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ClassifyQuery {
    pub model: Option<String>,
    pub top_k: Option<String>,
    /// `image`: embed the decoded input as a PNG data URL (for pages given only a URL).
    pub include: Option<String>,
}

/// One ranked class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassProb {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// `POST /api/v1/classify/{id}?top_k=n&include=image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassifyResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    /// Best first.
    pub top_k: Vec<ClassProb>,
    pub timings: StageTimings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_png: Option<String>,
}

/// The seed's answer (`POST /predict/image_classes`): the top class's common name, plus its
/// probability and full label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassLabel {
    pub class_label: String,
    pub label: String,
    pub probability: f32,
    pub model: String,
}
