//! candle model code for candlelit: the catalog and store (where weights come from), the task
//! traits (`task`) with one implementation per architecture (`segment/`, `detect/`,
//! `classify/`, `summarize/`), `load` that builds one from the store, a TF.js graph runtime
//! (`tfjs/`), the direct CPU kernels the vision networks share (`kernels/`), the SegFormer
//! encoder both its heads share (`segformer`), and image pre/post-processing as pure functions
//! (`image/`). Nothing here knows about HTTP.

pub mod catalog;
pub mod classify;
pub mod cpu;
pub mod detect;
pub mod error;
pub mod image;
pub mod kernels;
pub mod load;
pub mod segformer;
pub mod segment;
pub mod store;
pub mod summarize;
pub mod task;
pub mod team;
pub mod tfjs;
pub mod threads;

pub use catalog::{Catalog, ModelSpec, Task};
pub use classify::EfficientNetLite;
pub use detect::TfjsDetector;
pub use error::{ModelError, Result};
pub use load::ServingState;
pub use segment::TfjsSegmenter;
pub use store::{Store, StoreState};
pub use summarize::{SmolLm, StopReason, SummarizeRequest, Summary};
pub use task::{
    Classification, Classifier, Detection, Detections, Detector, Model, Segmentation, Segmenter,
    Summarizer, Timings,
};
