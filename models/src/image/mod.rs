//! Image work around the networks, as pure functions: `preprocess` (resize, crop, normalise
//! into the catalog's input tensor), `postprocess` (probability and class maps to masks,
//! overlays and PNGs) and `draw` (detection boxes and labels).

pub mod draw;
pub mod postprocess;
pub mod preprocess;
