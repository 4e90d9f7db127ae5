//! `GET /api/v1/models`.

use serde::{Deserialize, Serialize};

/// One catalog model as `GET /api/v1/models` lists it. Reading is tolerant (every field has a
/// default), so the page can parse an older or trimmed list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ModelInfo {
    pub id: String,
    /// `segmentation`, `detection`, `classification` or `summarization`.
    #[cfg_attr(feature = "openapi", schema(example = "segmentation"))]
    pub task: String,
    pub name: String,
    pub description: String,
    pub licence: String,
    pub homepage: String,
    /// Registry, package and version the weights come from.
    pub source: String,
    pub input_width: Option<u32>,
    pub input_height: Option<u32>,
    pub labels_count: usize,
    pub labels: Vec<String>,
    /// The task's default model (used when a request names none).
    pub default: bool,
    /// Set when the model serves from memory but its store copy went bad since loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_problem: Option<String>,
    /// The engine's settings, once the model is ready.
    pub workers: Option<usize>,
    pub queue: Option<usize>,
    pub max_batch: Option<usize>,
    /// `loading`, `warming_up`, `ready`, `missing`, `not_installed`, `corrupt`, `failed` or
    /// `disabled`.
    pub state: String,
    /// What is wrong (`corrupt`, `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The command that fixes it (`missing`, `not_installed`, `corrupt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl ModelInfo {
    pub fn ready(&self) -> bool {
        self.state == "ready"
    }
}
