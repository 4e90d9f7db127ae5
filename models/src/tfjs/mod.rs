//! TF.js graph models (`model.json` + `.bin`) executed with candle ops: `format` reads the
//! files, `graph` resolves them at load into a step list, `ops` lowers and runs each op family.

pub mod format;
pub mod graph;
mod ops;
mod rewrite;
#[cfg(test)]
mod tests;
pub mod value;

pub use graph::{Graph, GraphInput, Rewrites};
pub use value::Value;
