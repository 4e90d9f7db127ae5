//! TF.js graph models (`model.json` + `.bin`) executed with candle ops.

pub mod format;
pub mod graph;
pub mod ops;

pub use graph::{Graph, GraphInput, Value};
