//! candle vs TF.js for the detectors on the same inputs: the golden files
//! (tests/golden/detection/, made by `make golden` with scripts/golden/detection.mjs) hold the
//! boxes TF.js's run of the same graph gives after the same decoding. Tolerance (the issue's):
//! every reference box scoring >= 0.3 is matched by a candle box of the same class with
//! IoU >= 0.95 and |Δscore| < 0.01. The worst IoU and score difference are printed.

mod common;

use candle_core::Device;
use models::detect::nms::iou;
use models::TfjsDetector;

// Every task's golden file starts with these four fields (scripts/golden/ writes them); each
// test spells out its own file's schema where it reads it rather than share a header type.
#[derive(serde::Deserialize)]
struct Golden {
    model: String,
    photo: String,
    input_sha256: String,
    reference: String,
    detections: Vec<Reference>,
}

#[derive(serde::Deserialize)]
struct Reference {
    category_id: usize,
    label: String,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

const MIN_SCORE: f32 = 0.3;

#[test]
fn detections_match_tfjs_on_real_photos() {
    let files = common::golden_files("detection", 6);
    let mut checked = 0;
    for path in files {
        let g: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (spec, store) = common::ready(&g.model);
        let model = TfjsDetector::load(&spec, &store.graph_path(&spec), &Device::Cpu).unwrap();
        let resized = common::golden_input(&spec, &g.photo, &g.input_sha256, &path);
        let ours = model.candidates(&resized, 0.05).unwrap();
        let (mut worst_iou, mut worst_ds) = (1f32, 0f32);
        for r in g.detections.iter().filter(|r| r.score >= MIN_SCORE) {
            let best = ours
                .iter()
                .filter(|c| c.class == r.category_id)
                .map(|c| (iou(&c.bbox, &r.bbox), (c.score - r.score).abs()))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let Some((i, ds)) = best else {
                panic!(
                    "{}: no candle box of class {} ({})",
                    path.display(),
                    r.category_id,
                    r.label
                );
            };
            assert!(
                i >= 0.95 && ds < 0.01,
                "{}: {} {:.3} {:?}: best candle match IoU {i:.4}, |Δscore| {ds:.4}",
                path.display(),
                r.label,
                r.score,
                r.bbox
            );
            worst_iou = worst_iou.min(i);
            worst_ds = worst_ds.max(ds);
            checked += 1;
        }
        println!(
            "{} {}: {} reference boxes >= {MIN_SCORE}, worst IoU {worst_iou:.5}, max |Δscore| {worst_ds:.2e} (vs {})",
            g.model,
            g.photo,
            g.detections.iter().filter(|r| r.score >= MIN_SCORE).count(),
            g.reference
        );
    }
    assert!(checked >= 10, "only {checked} reference boxes checked");
}
