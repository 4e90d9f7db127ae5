//! Summarization: the page, its state, its browser code (reading the summary streamed by the
//! `summarize_text` server function, one JSON event a line) and its no-JavaScript result page.

#[cfg(feature = "hydrate")]
pub mod browser;
pub mod lines;
pub mod page;
#[cfg(feature = "ssr")]
pub mod result;
pub mod state;

pub use page::SummarizePage;
