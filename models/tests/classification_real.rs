//! EfficientNet-Lite0 on real photos (Debian `darknet` images): the answers a person expects.

mod common;

use candle_core::Device;
use models::classify::{short_label, top_k};
use models::{Classifier, EfficientNetLite};

fn top5(m: &EfficientNetLite, photo: &str) -> Vec<String> {
    let out = m.classify(&common::photo(photo)).unwrap();
    let sum: f32 = out.probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
    let ranked = top_k(&out.probs, &m.spec().labels, 5);
    for r in &ranked {
        println!(
            "{photo}: {:>3} {:<30} {:.3}",
            r.index,
            short_label(&r.label),
            r.probability
        );
    }
    ranked
        .iter()
        .map(|r| short_label(&r.label).to_owned())
        .collect()
}

#[test]
fn eagle_dog_and_giraffe_photos() {
    let (spec, store) = common::ready("efficientnet-lite0");
    let m = EfficientNetLite::load(&spec, &store.graph_path(&spec), &Device::Cpu).unwrap();
    let eagle = top5(&m, "eagle.jpg");
    assert!(
        ["kite", "bald eagle"].contains(&eagle[0].as_str()),
        "{eagle:?}"
    );
    let dog = top5(&m, "dog.jpg");
    let dogs = [
        "malamute",
        "German shepherd",
        "Siberian husky",
        "Eskimo dog",
    ];
    assert!(
        dog[..2].iter().any(|l| dogs.contains(&l.as_str())),
        "{dog:?}"
    );
    // Giraffe is not an ImageNet-1k class; its patterned coat reads as a zebra.
    let giraffe = top5(&m, "giraffe.jpg");
    assert_eq!(giraffe[0], "zebra", "{giraffe:?}");
}

/// A batch of photos gives each photo the probabilities it gets alone (the server batches).
#[test]
fn a_batch_answers_each_photo_as_alone() {
    let (spec, store) = common::ready("efficientnet-lite0");
    let m = EfficientNetLite::load(&spec, &store.graph_path(&spec), &Device::Cpu).unwrap();
    let photos: Vec<_> = ["eagle.jpg", "dog.jpg", "giraffe.jpg", "person.jpg"]
        .iter()
        .map(|p| common::photo(p))
        .collect();
    let refs: Vec<_> = photos.iter().collect();
    let mut worst = 0f32;
    for (img, got) in photos.iter().zip(m.classify_batch(&refs)) {
        let got = got.unwrap().probs;
        let alone = m.classify(img).unwrap().probs;
        let idx = |p: &[f32]| -> Vec<usize> {
            top_k(p, &spec.labels, 5).iter().map(|r| r.index).collect()
        };
        assert_eq!(idx(&got), idx(&alone), "the same top-5");
        for (a, b) in got.iter().zip(&alone) {
            worst = worst.max((a - b).abs());
        }
    }
    println!("batch of 4 vs alone: max |Δp| {worst:.2e}");
    assert!(worst < 1e-5, "max |Δp| {worst}");
}
