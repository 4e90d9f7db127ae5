//! Summarization: the page, its state, its browser code (reading the streamed summary as
//! server-sent events) and its no-JavaScript result page.

#[cfg(feature = "hydrate")]
pub mod browser;
pub mod page;
#[cfg(feature = "ssr")]
pub mod result;
pub mod sse;
pub mod state;

pub use page::SummarizePage;
