//! SegFormer's Mix Transformer as an ImageNet classifier (`SegformerForImageClassification`,
//! e.g. `nvidia/mit-b0`): the shared encoder ([`crate::segformer`]) with a mean-pooled linear
//! head, behind the [`Classifier`] trait.

use std::path::Path;

use candle_core::{Device, Module, Tensor, D};
use candle_nn::Linear;
use image::RgbImage;

use super::{classify_batch_with, classify_images};
use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::segformer::{
    check_classes, segformer_model, Checkpoint, Encoder, Preprocessing, SegFormer, SegFormerModel,
};
use crate::task::{Classification, Classifier};

/// `SegformerForImageClassification`. Its `load`/`labels`/`preprocessing` read like the
/// segmentation head's (crate::segment::segformer): the checkpoint reading is [`Checkpoint`].
pub struct SegFormerForImageClassification {
    encoder: Encoder,
    classifier: Linear,
    labels: Vec<String>,
    preprocessing: Preprocessing,
}

impl SegFormerForImageClassification {
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let c = Checkpoint::open(dir, device)?;
        let classifier = c.tensors.linear("classifier")?;
        check_classes("segformer", classifier.weight().dim(0)?, &c.labels)?;
        Ok(Self {
            encoder: Encoder::load(&c.tensors, &c.config)?,
            classifier,
            labels: c.labels,
            preprocessing: c.preprocessing,
        })
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn preprocessing(&self) -> &Preprocessing {
        &self.preprocessing
    }

    /// Logits `[N, classes]`: the last stage's features averaged over all pixels, then linear.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let stages = self.encoder.forward(x)?;
        let last = stages.last().ok_or_else(|| {
            ModelError::Catalog("segformer: the config has no encoder stages".into())
        })?;
        let pooled = last.mean(D::Minus1)?.mean(D::Minus1)?; // [N, C]
        Ok(self.classifier.forward(&pooled)?)
    }
}
segformer_model!(SegFormerForImageClassification);

/// SegFormer (Mix Transformer) ImageNet classification behind the [`Classifier`] trait.
pub type SegFormerClassifier = SegFormer<SegFormerForImageClassification>;

// The same shape as EfficientNetLite's impl: each model type states its trait impl, and the
// shared work (preprocess, one forward, softmax, per-image errors) is in `classify_images`.
impl Classifier for SegFormerClassifier {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn classify(&self, img: &RgbImage) -> Result<Classification> {
        let mut v = classify_images(&self.spec, &self.device, &[img], |x| self.forward(x))?;
        Ok(v.remove(0))
    }

    fn classify_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Classification>> {
        classify_batch_with(&self.spec, &self.device, imgs, |x| self.forward(x))
    }
}
