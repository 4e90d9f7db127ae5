//! candle model code for candlelit: the catalog and store (where weights come from), a TF.js
//! graph runtime on candle, per-task traits with their implementations, the registry that
//! loads them, and pre/post-processing as pure functions. Nothing here knows about HTTP.

pub mod catalog;
pub mod classify;
pub mod convert;
pub mod cpu;
pub mod detect;
pub mod draw;
pub mod error;
pub mod hub;
pub mod kernels;
pub mod postprocess;
pub mod preprocess;
pub mod registry;
pub mod segment;
pub mod store;
pub mod summarize;
pub mod tfjs;

// The summarizers' kernels (summarize/) still import `crate::sync_ptr`; kept until that
// folder's imports move to `crate::kernels::sync_ptr`.
pub(crate) use kernels::sync_ptr;

pub use catalog::{Catalog, ModelSpec, Task};
pub use classify::{Classification, Classifier, EfficientNetLite};
pub use detect::{Detection, Detections, Detector, TfjsDetector};
pub use error::{ModelError, Result};
pub use registry::{LoadState, Model, Registry};
pub use segment::{Segmentation, Segmenter, TfjsSegmenter};
pub use store::{ModelState, Store};
pub use summarize::{SmolLm, StopReason, SummarizeRequest, Summarizer, Summary};
