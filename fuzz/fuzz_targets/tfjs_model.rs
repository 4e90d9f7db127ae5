//! A TF.js `model.json` and its weights: the JSON (up to the first NUL byte) is parsed as the
//! model and its manifest, and the rest of the input is the weights' bytes for every group.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use models::tfjs::format::{decode_group, ModelJson};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (json, weights) = data.split_at(split);
    let Ok(model) = serde_json::from_slice::<ModelJson>(json) else {
        return;
    };
    let weights = weights.get(1..).unwrap_or_default();
    let mut out = HashMap::new();
    for group in &model.weights_manifest {
        let _ = decode_group(&group.weights, weights, &candle_core::Device::Cpu, &mut out);
    }
});
