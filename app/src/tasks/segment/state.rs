//! The segmentation page's state, shared by its component (`page.rs`) and its browser code
//! (`browser.rs`).

use leptos::prelude::*;

use crate::widgets::run::RunState;

/// A legend swatch's style: the class colour, or none (drawn untinted).
pub fn swatch_style(colour: Option<[u8; 3]>) -> String {
    match colour {
        Some([r, g, b]) => format!("background: rgb({r},{g},{b})"),
        None => "background: transparent".to_string(),
    }
}

/// One legend row: a class, its colour in the overlay (none: drawn untinted), its pixel share.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub colour: Option<[u8; 3]>,
    pub share: f32,
}

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct SegmentCtx {
    pub model: RwSignal<String>,
    pub threshold: RwSignal<f64>,
    pub opacity: RwSignal<f64>,
    pub run: RunState,
    /// The server's `--body-limit`, checked before an upload.
    pub body_limit_bytes: u64,
    pub legend: RwSignal<Vec<LegendEntry>>,
    /// Before/after split instead of side by side, and where the split is (0..100 %).
    pub split: RwSignal<bool>,
    pub split_at: RwSignal<f64>,
    /// The legend row under the pointer or keyboard focus: its pixels stay lit, the rest dim.
    pub highlight: RwSignal<Option<usize>>,
}
