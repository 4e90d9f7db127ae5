//! Person segmentation: the page, its state, its browser code (blending the overlay from the
//! returned probability map) and its no-JavaScript result page.

#[cfg(feature = "hydrate")]
pub mod browser;
pub mod page;
pub mod pixels;
#[cfg(feature = "ssr")]
pub mod result;
pub mod state;

pub use page::SegmentPage;
