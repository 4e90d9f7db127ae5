//! What the site needs to know of the server's settings, provided to the Leptos app as context
//! when the server renders a page, so no server setting is repeated in `app`.

use serde::{Deserialize, Serialize};

/// The server's limits and the models it serves, as the pages show them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SiteConfig {
    /// The request body limit (`--body-limit`), checked by the page before an upload.
    pub body_limit_bytes: u64,
    /// The text limit (`--text-limit`), in characters, shown by the summarize text box.
    pub text_limit_chars: usize,
    /// The catalog models the server serves, each task's default first.
    pub models: Vec<SiteModel>,
}

/// One model a page offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteModel {
    pub id: String,
    /// `segmentation`, `detection`, `classification` or `summarization` (as the API lists them).
    pub task: String,
    /// What the model picker shows, e.g. "MediaPipe Selfie (256×256)".
    pub label: String,
    /// The task's default model (used when a request names none).
    pub default: bool,
}

impl SiteConfig {
    /// The models of `task` (`"segmentation"`, ...), its default first.
    pub fn models_of(&self, task: &str) -> Vec<SiteModel> {
        let mut models: Vec<SiteModel> = self
            .models
            .iter()
            .filter(|m| m.task == task)
            .cloned()
            .collect();
        models.sort_by_key(|m| !m.default);
        models
    }

    /// The id of `task`'s default model (empty when the server serves none).
    pub fn default_model(&self, task: &str) -> String {
        self.models_of(task)
            .into_iter()
            .next()
            .map(|m| m.id)
            .unwrap_or_default()
    }
}
