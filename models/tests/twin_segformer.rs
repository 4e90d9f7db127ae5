//! candle's SegFormer vs transformers on random-initialised twins (tests/twins/segformer_*,
//! made by scripts/twins/segformer.py with save_pretrained): the same model folder and inputs
//! must give the same outputs. Required: segmentation argmax agreement with
//! `post_process_semantic_segmentation` >= 99.9 % and max |Δlogit| < 1e-3 on the logits it
//! resizes to the input size; classification max |Δlogit| < 1e-4.

mod twin_support;

use candle_core::Device;
use models::catalog::Task;
use models::classify::segformer::{SegFormerClassifier, SegFormerForImageClassification};
use models::segment::segformer::{SegFormerForSemanticSegmentation, SegFormerSegmenter};
use models::Classifier;

#[test]
fn segmentation_twin_matches_transformers() {
    let dir = twin_support::fixture("segformer_segmentation");
    let model = SegFormerForSemanticSegmentation::load(&dir, &Device::Cpu).unwrap();
    let io = twin_support::io(&dir);
    let ours = model.forward(&io["input"]).unwrap();
    let agreement = twin_support::argmax_agreement(&ours, &io["classes"]);
    let max_diff = twin_support::max_abs_diff(&ours, &io["logits"]);
    println!(
        "segformer segmentation: logits {:?}, argmax agreement {:.4} %, max |Δlogit| {max_diff:.3e}",
        ours.dims(),
        agreement * 100.0
    );
    assert!(agreement >= 0.999, "argmax agreement {agreement}");
    assert!(max_diff < 1e-3, "max |Δlogit| {max_diff}");
}

#[test]
fn classification_twin_matches_transformers() {
    let dir = twin_support::fixture("segformer_classification");
    let model = SegFormerForImageClassification::load(&dir, &Device::Cpu).unwrap();
    let io = twin_support::io(&dir);
    let ours = model.forward(&io["input"]).unwrap();
    let max_diff = twin_support::max_abs_diff(&ours, &io["logits"]);
    println!(
        "segformer classification: logits {:?}, max |Δlogit| {max_diff:.3e}",
        ours.dims()
    );
    assert!(max_diff < 1e-4, "max |Δlogit| {max_diff}");
}

#[test]
fn labels_and_preprocessing_come_from_the_model_folder() {
    let dir = twin_support::fixture("segformer_segmentation");
    let model = SegFormerForSemanticSegmentation::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(model.labels(), ["background", "person", "car", "tree"]);
    let p = model.preprocessing();
    assert_eq!((p.width, p.height), (64, 64));
    // ImageNet's mean/std on 0..1 values, scaled to 0..255.
    assert!((p.mean[0] - 123.675).abs() < 1e-3 && (p.std[2] - 57.375).abs() < 1e-3);
    let dir = twin_support::fixture("segformer_classification");
    let model = SegFormerForImageClassification::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(model.labels().len(), 10);
    assert_eq!(model.labels()[3], "class 3");
}

#[test]
fn segmenter_works_through_the_task_trait() {
    let dir = twin_support::fixture("segformer_segmentation");
    let labels: Vec<String> = ["background", "person", "car", "tree"]
        .map(String::from)
        .to_vec();
    let spec = twin_support::spec("segformer", Task::Segmentation, (45, 37), &labels);
    let model = SegFormerSegmenter::load(&spec, &dir, &Device::Cpu).unwrap();
    twin_support::segment_through_trait(&model, (45, 37), 4);
}

#[test]
fn classifier_works_through_the_task_trait() {
    let dir = twin_support::fixture("segformer_classification");
    let spec = twin_support::spec("mit", Task::Classification, (64, 64), &[]);
    let model = SegFormerClassifier::load(&spec, &dir, &Device::Cpu).unwrap();
    let img = twin_support::picture(70, 50);
    let c = model.classify(&img).unwrap();
    assert_eq!(c.probs.len(), 10);
    let sum: f32 = c.probs.iter().sum();
    assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    let batch = model.classify_batch(&[&img, &img]);
    let d = batch[1]
        .as_ref()
        .unwrap()
        .probs
        .iter()
        .zip(&c.probs)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(d < 1e-6, "batched and single answers differ by {d}");
}
