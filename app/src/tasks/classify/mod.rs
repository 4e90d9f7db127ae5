//! Image classification: the page, its state, its browser code and its no-JavaScript result
//! page.

#[cfg(feature = "hydrate")]
pub mod browser;
pub mod page;
#[cfg(feature = "ssr")]
pub mod result;
pub mod state;

pub use page::ClassifyPage;
