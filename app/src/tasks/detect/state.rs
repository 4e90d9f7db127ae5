//! The detection page's state, shared by its component (`page.rs`) and its browser code
//! (`browser.rs`).

use leptos::prelude::*;

use crate::dto::Detection;
use crate::widgets::run::RunState;

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct DetectCtx {
    pub model: RwSignal<String>,
    pub confidence: RwSignal<f32>,
    pub detections: RwSignal<Vec<Detection>>,
    /// The highlighted box: its index among the boxes shown (best first).
    pub hover: RwSignal<Option<usize>>,
    pub run: RunState,
    /// The server's `--body-limit`, checked before an upload.
    pub body_limit_bytes: u64,
}
