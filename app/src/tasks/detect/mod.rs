//! Object detection: the page, its state, its browser code (drawing and filtering the boxes)
//! and its no-JavaScript result page.

#[cfg(feature = "hydrate")]
pub mod browser;
pub mod page;
#[cfg(feature = "ssr")]
pub mod result;
pub mod state;

pub use page::DetectPage;
