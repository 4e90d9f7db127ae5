//! candle vs PyTorch for EfficientNet-Lite0 on the same inputs: the golden files
//! (tests/golden/classification/, made by `make golden` with scripts/golden/classification.py,
//! which runs the reference architecture (PyPI `efficientnet-lite-pytorch`) on the original
//! `.pth`, not on our converted safetensors). Tolerance (the issue's): identical top-5 and
//! |Δp| < 1e-3 over all 1000 classes. Max |Δp| and |Δlogit| are printed.

mod common;

use candle_core::Device;
use models::classify::top_k;
use models::EfficientNetLite;

// Every task's golden file starts with these four fields (scripts/golden/ writes them); each
// test spells out its own file's schema where it reads it rather than share a header type.
#[derive(serde::Deserialize)]
struct Golden {
    model: String,
    photo: String,
    input_sha256: String,
    reference: String,
    probs: Vec<f32>,
    logits: Vec<f32>,
}

fn softmax(x: &[f32]) -> Vec<f32> {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn efficientnet_lite0_matches_pytorch_on_real_photos() {
    let files = common::golden_files("classification", 3);
    let (spec, store) = common::ready("efficientnet-lite0");
    let model = EfficientNetLite::load(&spec, &store.graph_path(&spec), &Device::Cpu).unwrap();
    for path in files {
        let g: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(g.model, spec.id);
        let resized = common::golden_input(&spec, &g.photo, &g.input_sha256, &path);
        let logits = model.logits(&resized).unwrap();
        let probs = softmax(&logits);
        assert_eq!(probs.len(), g.probs.len());
        let ours: Vec<usize> = top_k(&probs, &spec.labels, 5)
            .iter()
            .map(|r| r.index)
            .collect();
        let theirs: Vec<usize> = top_k(&g.probs, &spec.labels, 5)
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(ours, theirs, "{}: top-5 differs", path.display());
        let max_dp = probs
            .iter()
            .zip(&g.probs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let max_dl = logits
            .iter()
            .zip(&g.logits)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!(
            "{}: top-5 {ours:?} identical, max |Δp| {max_dp:.2e}, max |Δlogit| {max_dl:.2e} (vs {})",
            g.photo, g.reference
        );
        assert!(max_dp < 1e-3, "{}: max |Δp| {max_dp}", path.display());
    }
}
