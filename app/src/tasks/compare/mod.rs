//! Compare: two models of one task on the same photo. Its browser code reuses the segment,
//! detect and classify browser code; it has no no-JavaScript variant.

#[cfg(feature = "hydrate")]
pub mod browser;
pub mod page;
pub mod state;

pub use page::ComparePage;
