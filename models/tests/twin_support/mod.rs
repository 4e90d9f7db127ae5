//! Shared by the twin parity tests (tests/twin_*.rs): the committed fixtures under
//! tests/twins/<arch>/ (made by scripts/twins/*.py), comparisons, and a catalog entry for
//! driving a model through its task trait. A missing fixture is a failure, never a skip.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use models::catalog::{
    Channels, Format, InputSpec, Layout, OutputKind, OutputSpec, Registry, Source, Task,
};
use models::{ModelSpec, Segmentation, Segmenter};

/// `tests/twins/<arch>/`, which must exist.
pub fn fixture(arch: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/twins")
        .join(arch);
    assert!(
        dir.is_dir(),
        "twin fixture {} is missing; make it with scripts/twins/ (see scripts/twins/README.md)",
        dir.display()
    );
    dir
}

/// The inputs and reference outputs in `<fixture>/io.safetensors`.
pub fn io(dir: &std::path::Path) -> HashMap<String, Tensor> {
    let path = dir.join("io.safetensors");
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The share of pixels where the argmax over `logits` `[N, C, H, W]` is `classes` `[N, H, W]`.
pub fn argmax_agreement(logits: &Tensor, classes: &Tensor) -> f64 {
    let ours = logits.argmax(1).unwrap().to_dtype(DType::I64).unwrap();
    let theirs = classes.to_dtype(DType::I64).unwrap();
    assert_eq!(ours.dims(), theirs.dims(), "shapes differ");
    let ours: Vec<i64> = ours.flatten_all().unwrap().to_vec1().unwrap();
    let theirs: Vec<i64> = theirs.flatten_all().unwrap().to_vec1().unwrap();
    let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    same as f64 / ours.len() as f64
}

/// A catalog entry for a twin: RGB NCHW input of `width`x`height` with ImageNet mean/std.
pub fn spec(id: &str, task: Task, (width, height): (u32, u32), labels: &[String]) -> ModelSpec {
    ModelSpec {
        id: id.into(),
        task,
        name: id.into(),
        description: String::new(),
        default: false,
        licence: "test fixture".into(),
        homepage: String::new(),
        format: Format::Safetensors,
        // Read by the YOLOv8 loader only, whose test sets it.
        arch: None,
        graph: "weights.safetensors".into(),
        labels: labels.to_vec(),
        label_set: None,
        source: Source {
            registry: Registry::Pypi,
            package: "none".into(),
            version: "0".into(),
            sha256: String::new(),
        },
        files: Vec::new(),
        convert: None,
        input: Some(InputSpec {
            width,
            height,
            layout: Layout::Nchw,
            channels: Channels::Rgb,
            mean: [123.675, 116.28, 103.53],
            std: [58.395, 57.12, 57.375],
            centre_crop_from: None,
        }),
        output: (task == Task::Segmentation).then_some(OutputSpec {
            kind: OutputKind::Softmax,
            channel: 0,
        }),
    }
}

/// A small photo-like test image: smooth colour ramps with a bright square.
pub fn picture(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let inside = x > width / 3 && x < width * 2 / 3 && y > height / 4 && y < height / 2;
        if inside {
            image::Rgb([250, 240, 230])
        } else {
            image::Rgb([
                (x * 255 / width) as u8,
                (y * 255 / height) as u8,
                ((x + y) * 128 / (width + height)) as u8,
            ])
        }
    })
}

/// Segments two pictures through the task trait, alone and as a batch, and checks the lone
/// answer: a class map and probabilities at `(width, height)`, ids below `classes`,
/// probabilities in 0..=1, and the batch's first answer naming the same classes. Returns the
/// lone answer and the batch's first, for checks of a model's own.
pub fn segment_through_trait(
    model: &dyn Segmenter,
    (width, height): (u32, u32),
    classes: u16,
) -> (Segmentation, Segmentation) {
    let (a, b) = (picture(80, 60), picture(50, 70));
    let one = model.segment(&a).unwrap();
    let ids = one
        .classes
        .as_ref()
        .expect("a multi-class model fills classes");
    assert_eq!((one.probs.width, one.probs.height), (width, height));
    assert_eq!((ids.width, ids.height), (width, height));
    assert!(ids.ids.iter().all(|&c| c < classes));
    assert!(one.probs.data.iter().all(|p| (0.0..=1.0).contains(p)));
    // A batch answers each image as a lone call does.
    let mut batch = model.segment_batch(&[&a, &b]);
    assert_eq!(batch.len(), 2);
    let first = batch.remove(0).unwrap();
    assert_eq!(first.classes, one.classes);
    (one, first)
}
