//! Selfie and Meet on real photos, through the TF.js graph runtime.

mod common;

use candle_core::Device;
use models::{Segmenter, TfjsSegmenter};

fn load(id: &str) -> TfjsSegmenter {
    let (spec, store) = common::ready(id);
    TfjsSegmenter::load(&spec, &store.graph_path(&spec), &Device::Cpu).unwrap()
}

#[test]
fn selfie_finds_the_person_in_person_jpg() {
    let m = load("selfie");
    let img = common::photo("person.jpg");
    let seg = m.segment(&img).unwrap();
    assert_eq!((seg.probs.width, seg.probs.height), (256, 256));
    let full = seg.probs.resize(img.width(), img.height());
    let share = full.share(0.5);
    // The man covers roughly 5-6 % of the frame (weights.md); allow a margin, not a free pass.
    assert!((0.02..0.15).contains(&share), "person share {share}");
    // The man stands left of centre (x ~ 190-270 of 640): most person pixels fall there.
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut left = 0usize;
    let mut total = 0usize;
    for y in 0..h {
        for x in 0..w {
            if full.data[y * w + x] >= 0.5 {
                total += 1;
                if (150..330).contains(&x) {
                    left += 1;
                }
            }
        }
    }
    assert!(
        left as f32 / total as f32 > 0.7,
        "{left} of {total} person pixels in the man's columns"
    );
}

#[test]
fn meet_and_selfie_agree_on_the_man_in_person_jpg() {
    let img = common::photo("person.jpg");
    let meet = load("meet").segment(&img).unwrap();
    assert_eq!((meet.probs.width, meet.probs.height), (256, 144));
    let a = meet.probs.resize(img.width(), img.height());
    let b = load("selfie")
        .segment(&img)
        .unwrap()
        .probs
        .resize(img.width(), img.height());
    let (mut inter, mut union) = (0usize, 0usize);
    for (p, q) in a.data.iter().zip(&b.data) {
        inter += usize::from(*p >= 0.5 && *q >= 0.5);
        union += usize::from(*p >= 0.5 || *q >= 0.5);
    }
    let iou = inter as f32 / union as f32;
    // Two different models: they agree on the man, not on every false positive.
    assert!(iou > 0.5, "selfie/meet IoU {iou}");
}

#[test]
fn unsupported_models_fail_at_load_naming_the_op() {
    // CenterNet needs ops (TopKV2, _FusedConv2D, ...) that this runtime does not have yet: the
    // load must fail with the op's name rather than at request time.
    let store = common::store();
    let path = store.dir.join("centernet-probe/centernet.json");
    if !path.exists() {
        // Build a minimal graph with an unknown op instead of depending on an extra download.
        let dir =
            std::env::temp_dir().join(format!("candlelit-unsupported-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = r#"{"format":"graph-model","signature":{"outputs":{"y:0":{"name":"y:0"}}},
            "modelTopology":{"node":[{"name":"x","op":"Placeholder"},{"name":"y","op":"TopKV2","input":["x"]}]},
            "weightsManifest":[{"paths":["m.bin"],"weights":[]}]}"#;
        std::fs::write(dir.join("m.json"), json).unwrap();
        std::fs::write(dir.join("m.bin"), b"").unwrap();
        let err = models::tfjs::Graph::load(&dir.join("m.json"), &Device::Cpu).unwrap_err();
        assert!(err.to_string().contains("TopKV2"), "{err}");
    }
}

/// A batch of photos gives each photo the map it gets alone (the server batches requests).
#[test]
fn a_batch_answers_each_photo_as_alone() {
    for id in ["selfie", "meet"] {
        let m = load(id);
        let photos: Vec<_> = ["person.jpg", "horses.jpg", "dog.jpg"]
            .iter()
            .map(|p| common::photo(p))
            .collect();
        let refs: Vec<_> = photos.iter().collect();
        let batch = m.segment_batch(&refs);
        assert_eq!(batch.len(), 3);
        let mut worst = 0f32;
        for (img, got) in photos.iter().zip(batch) {
            let got = got.unwrap().probs;
            let alone = m.segment(img).unwrap().probs;
            assert_eq!((got.width, got.height), (alone.width, alone.height));
            for (a, b) in got.data.iter().zip(&alone.data) {
                worst = worst.max((a - b).abs());
            }
        }
        println!("{id}: batch of 3 vs alone, max |Δp| {worst:.2e}");
        assert!(worst < 1e-5, "{id}: max |Δp| {worst}");
    }
}
