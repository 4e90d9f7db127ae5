//! `POST /segment` and `POST /api/v1/segment/{model_id}`.

use serde::{Deserialize, Serialize};

use crate::StageTimings;

/// The query (or multipart form fields) of the segmentation routes. Numbers are kept as text so
/// a bad value gets a 400 that names it.
#[derive(Debug, Default, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct SegmentQuery {
    /// `mask`, `overlay`, `json`, `probability` or (multi-class models) `colour`.
    pub output: Option<String>,
    /// 0..1 (default 0.5): the probability at which a pixel counts as the class.
    pub threshold: Option<String>,
    /// 0..1 (default 0.55): how strongly the overlay tints.
    pub opacity: Option<String>,
    pub model: Option<String>,
    /// For `output=json`: comma list of `probability`, `image` and/or `overlay` to embed as
    /// base64 PNGs.
    pub include: Option<String>,
}

/// One class's share of the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassShare {
    pub id: usize,
    pub label: String,
    pub share: f32,
    /// The class's colour in `colour` and `overlay` outputs. The server always sends it; the
    /// page's own legend rows may have none (drawn untinted).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = [u8; 3]))]
    pub colour: Option<[u8; 3]>,
}

/// `POST /api/v1/segment/{id}?output=json&include=probability,image,overlay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentResponse {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub threshold: f32,
    pub classes: Vec<ClassShare>,
    pub timings: StageTimings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability_png: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_png: Option<String>,
    /// With `include=overlay`: the overlay at this threshold and opacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay_png: Option<String>,
}
