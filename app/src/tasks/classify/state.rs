//! The classification page's state, shared by its component (`page.rs`) and its browser code
//! (`browser.rs`).

use leptos::prelude::*;

use crate::dto::ClassProb;
use crate::widgets::run::RunState;

/// How many classes the page asks for once; the selector shows up to this many.
pub const FETCH_TOP_K: usize = 20;

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct ClassifyCtx {
    pub model: RwSignal<String>,
    pub classes: RwSignal<Vec<ClassProb>>,
    pub run: RunState,
    /// The server's `--body-limit`, checked before an upload.
    pub body_limit_bytes: u64,
}
