//! The four tasks as traits, what each answers, and [`Model`], a loaded model of any task.
//! Every implementation (under `segment/`, `detect/`, `classify/`, `summarize/`) is `Sync` and
//! takes `&self`: callers run it on a blocking thread and share it between requests.

use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use image::RgbImage;

use crate::catalog::ModelSpec;
use crate::detect::nms::BBox;
use crate::error::{ModelError, Result};
use crate::image::postprocess::{ClassMap, ProbMap};
use crate::image::preprocess;
// The summarizer's trait stays beside its request and answer types in summarize/.
pub use crate::summarize::Summarizer;

/// One segmentation model's answer for one image, at the model's resolution: the foreground
/// probability (for multi-class models, 1 - P(background)), and for multi-class models the
/// per-pixel class.
#[derive(Debug, Clone)]
pub struct Segmentation {
    pub probs: ProbMap,
    /// `None` for person/background models.
    pub classes: Option<ClassMap>,
    pub timings: Timings,
}

/// Where an image task's time went, in milliseconds (every image task reports these three).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timings {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
}

impl Timings {
    /// The stages between four instants: start, pre-processed, inferred, post-processed.
    pub fn between(
        t0: std::time::Instant,
        t1: std::time::Instant,
        t2: std::time::Instant,
        t3: std::time::Instant,
    ) -> Self {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        Self {
            preprocess_ms: ms(t1 - t0),
            inference_ms: ms(t2 - t1),
            postprocess_ms: ms(t3 - t2),
        }
    }
}

/// A segmentation model. Sync and `&self`: callers run it on a blocking thread and may share it.
pub trait Segmenter: Send + Sync {
    fn spec(&self) -> &ModelSpec;
    fn segment(&self, img: &RgbImage) -> Result<Segmentation>;
    /// Several images at once, one answer per image in order, each equal to [`segment`]'s
    /// for that image alone. Models that gain from a batched forward override this.
    ///
    /// [`segment`]: Segmenter::segment
    fn segment_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Segmentation>> {
        imgs.iter().map(|img| self.segment(img)).collect()
    }
}

/// One object found in the image, in the original image's pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Detection {
    /// Index into the model's labels (COCO-80 order for both detectors).
    pub category_id: usize,
    pub label: String,
    pub score: f32,
    /// `[x1, y1, x2, y2]`.
    pub bbox: BBox,
}

impl Detection {
    /// COCO's `[x, y, width, height]`.
    pub fn coco_bbox(&self) -> [f32; 4] {
        let b = self.bbox;
        [b[0], b[1], b[2] - b[0], b[3] - b[1]]
    }
}

#[derive(Debug, Clone)]
pub struct Detections {
    pub width: u32,
    pub height: u32,
    pub score_floor: f32,
    pub detections: Vec<Detection>,
    pub timings: Timings,
}

/// A detection model. Sync and `&self`: run on a blocking thread, shared between requests.
pub trait Detector: Send + Sync {
    fn spec(&self) -> &ModelSpec;
    /// Every detection scoring at least `min_score` (never below
    /// [`SCORE_FLOOR`](crate::detect::SCORE_FLOOR)).
    fn detect(&self, img: &RgbImage, min_score: f32) -> Result<Detections>;
    /// Several images at once (each with its own `min_score`), one answer per image in order,
    /// each equal to [`detect`]'s for that image alone.
    ///
    /// [`detect`]: Detector::detect
    fn detect_batch(&self, items: &[(&RgbImage, f32)]) -> Vec<Result<Detections>> {
        items.iter().map(|(img, s)| self.detect(img, *s)).collect()
    }
}

/// Class probabilities for one image (softmax over the model's labels).
#[derive(Debug, Clone)]
pub struct Classification {
    pub probs: Vec<f32>,
    pub timings: Timings,
}

/// A classification model. Sync and `&self`: run on a blocking thread, shared between requests.
pub trait Classifier: Send + Sync {
    fn spec(&self) -> &ModelSpec;
    fn classify(&self, img: &RgbImage) -> Result<Classification>;
    /// Several images at once, one answer per image in order, each equal to [`classify`]'s
    /// for that image alone. Models that gain from a batched forward override this.
    ///
    /// [`classify`]: Classifier::classify
    fn classify_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Classification>> {
        imgs.iter().map(|img| self.classify(img)).collect()
    }
}

/// A loaded model, by task.
#[derive(Clone)]
pub enum Model {
    Segmenter(Arc<dyn Segmenter>),
    Detector(Arc<dyn Detector>),
    Classifier(Arc<dyn Classifier>),
    Summarizer(Arc<dyn Summarizer>),
}

/// An image task's three stages on a batch, for a model that maps `[N, 3, H, W]` to logits:
/// the catalog's preprocessing, one `forward` for all images, then `decode` of the logits into
/// one answer per image. The times are the whole batch's (how long each request waited).
pub(crate) fn run_logits_batch<T>(
    spec: &ModelSpec,
    device: &Device,
    imgs: &[&RgbImage],
    forward: impl Fn(&Tensor) -> Result<Tensor>,
    decode: impl FnOnce(&Tensor) -> Result<Vec<T>>,
) -> Result<(Vec<T>, Timings)> {
    let t0 = Instant::now();
    let x = preprocess::to_batch(imgs, spec.image_input(), device)?;
    let t1 = Instant::now();
    let logits = forward(&x)?;
    let t2 = Instant::now();
    let answers = decode(&logits)?;
    Ok((answers, Timings::between(t0, t1, t2, Instant::now())))
}

/// A trait's batch method from a run over the whole batch: no images, no run; a failure is
/// every image's failure.
pub(crate) fn per_image<T>(n: usize, run: impl FnOnce() -> Result<Vec<T>>) -> Vec<Result<T>> {
    if n == 0 {
        return Vec::new();
    }
    ModelError::for_each(n, run())
}
