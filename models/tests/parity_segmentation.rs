//! candle vs TF.js on the same inputs: the golden files (tests/golden/segmentation/, made by
//! `make golden` with scripts/golden/segmentation.mjs) hold TF.js's person probabilities for
//! Selfie and Meet on three real photos. Tolerance: thresholded masks (p >= 0.5) agree on at
//! least 99.5 % of pixels; max |Δp| is printed and must stay below 1e-3 (measured: ~5e-5).

mod common;

use base64::Engine;
use candle_core::Device;
use models::TfjsSegmenter;

#[derive(serde::Deserialize)]
struct Golden {
    model: String,
    photo: String,
    width: u32,
    height: u32,
    input_sha256: String,
    reference: String,
    probs_u16le_base64: String,
}

#[test]
fn segmentation_matches_tfjs_on_real_photos() {
    let files = common::golden_files("segmentation", 6);
    for path in files {
        let g: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (spec, store) = common::ready(&g.model);
        let model = TfjsSegmenter::load(&spec, &store.graph_path(&spec), &Device::Cpu).unwrap();
        let resized = common::golden_input(&spec, &g.photo, &g.input_sha256, &path);
        let ours = model.probabilities(&resized).unwrap();
        assert_eq!((ours.width, ours.height), (g.width, g.height));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&g.probs_u16le_base64)
            .unwrap();
        let reference: Vec<f32> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 / 65535.0)
            .collect();
        assert_eq!(reference.len(), ours.data.len());
        let mut max_dp = 0f32;
        let mut agree = 0usize;
        for (a, b) in ours.data.iter().zip(&reference) {
            max_dp = max_dp.max((a - b).abs());
            agree += usize::from((*a >= 0.5) == (*b >= 0.5));
        }
        let agreement = agree as f32 / reference.len() as f32;
        println!(
            "parity {:>6} {:<11} mask agreement {:.4}%  max|dp| {:.2e}  (vs {})",
            g.model,
            g.photo,
            agreement * 100.0,
            max_dp,
            g.reference
        );
        assert!(
            agreement >= 0.995,
            "{}: masks agree on {:.3}%",
            path.display(),
            agreement * 100.0
        );
        assert!(max_dp < 1e-3, "{}: max |dp| {max_dp}", path.display());
    }
}
