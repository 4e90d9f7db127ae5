//! The summarization page's state, shared by its component (`page.rs`) and its browser code
//! (`browser.rs`).

use leptos::prelude::*;

use crate::dto::SummarizeResponse;
use crate::widgets::run::RunState;

/// The page's signals, handed to the browser-side code. All `Copy`.
#[derive(Clone, Copy)]
pub struct SummarizeCtx {
    pub model: RwSignal<String>,
    pub text: RwSignal<String>,
    pub min_tokens: RwSignal<String>,
    pub max_tokens: RwSignal<String>,
    pub summary: RwSignal<String>,
    /// While streaming: tokens received, when the first arrived (ms, page clock), tokens/s since.
    pub live: RwSignal<(usize, f64, f64)>,
    pub done: RwSignal<Option<SummarizeResponse>>,
    pub run: RunState,
}

/// The home page's "try it" text (`/summarize?example=news`), written for this site.
pub const NEWS_SAMPLE: &str = "The city council voted on Tuesday to turn the old railway depot \
into a public library and community workshop. The project will cost about four million euros, \
paid partly by a regional grant, and construction is planned to start next spring. Supporters \
said the neighbourhood has lacked a library for twenty years, while critics worried about \
parking and the loss of the depot's historic facade, which the architects have promised to keep.";
