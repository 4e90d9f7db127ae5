//! candle model code for candlelit: the catalog and store (where weights come from), a TF.js
//! graph runtime on candle, per-task traits with their implementations, the registry that
//! loads them, and pre/post-processing as pure functions. Nothing here knows about HTTP.

pub mod catalog;
pub mod classify;
pub mod cpu;
pub mod detect;
pub mod draw;
pub mod error;
pub mod gemm;
pub mod postprocess;
pub mod preprocess;
pub mod registry;
pub mod segment;
pub mod store;
pub mod summarize;
pub(crate) mod sync_ptr;
pub mod tfjs;

/// The hub source's old path, kept only while registry.rs (restructured on another branch)
/// still calls `hub::by_hand`; drop at merge.
pub use store::sources::hub;

pub use catalog::{Catalog, ModelSpec, Task};
pub use classify::{Classification, Classifier, EfficientNetLite};
pub use detect::{Detection, Detections, Detector, TfjsDetector};
pub use error::{ModelError, Result};
pub use registry::{LoadState, Model, Registry};
pub use segment::{Segmentation, Segmenter, TfjsSegmenter};
pub use store::{ModelState, Store};
pub use summarize::{SmolLm, StopReason, SummarizeRequest, Summarizer, Summary};
