//! Image classification (the task trait is [`crate::task::Classifier`]): top-k as a pure
//! function, and EfficientNet-Lite.

pub mod efficientnet_lite;
pub mod segformer;

use candle_core::{Device, Tensor, D};
use image::RgbImage;

use crate::catalog::ModelSpec;
use crate::error::Result;
use crate::task::{per_image, run_logits_batch, Classification};
pub use efficientnet_lite::EfficientNetLite;
pub use segformer::SegFormerClassifier;

/// One ranked class.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ranked {
    pub index: usize,
    pub label: String,
    pub probability: f32,
}

/// The task's work for a logits model: resize and normalise each image as the catalog says, one
/// forward for all (`[N, 3, H, W]` to `[N, classes]`), softmax. Each answer carries the whole
/// batch's times (that is how long each request waited for it).
pub(crate) fn classify_images(
    spec: &ModelSpec,
    device: &Device,
    imgs: &[&RgbImage],
    forward: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Classification>> {
    let decode = |logits: &Tensor| Ok(candle_nn::ops::softmax(logits, D::Minus1)?.to_vec2()?);
    let (probs, timings) = run_logits_batch(spec, device, imgs, forward, decode)?;
    Ok(probs
        .into_iter()
        .map(|probs| Classification { probs, timings })
        .collect())
}

/// `classify_batch` from [`classify_images`]: a failure is every image's failure.
pub(crate) fn classify_batch_with(
    spec: &ModelSpec,
    device: &Device,
    imgs: &[&RgbImage],
    forward: impl Fn(&Tensor) -> Result<Tensor>,
) -> Vec<Result<Classification>> {
    per_image(imgs.len(), || classify_images(spec, device, imgs, forward))
}

/// The `k` most probable classes, best first; equal probabilities keep index order.
pub fn top_k(probs: &[f32], labels: &[String], k: usize) -> Vec<Ranked> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(k)
        .map(|i| Ranked {
            index: i,
            label: labels.get(i).cloned().unwrap_or_default(),
            probability: probs[i],
        })
        .collect()
}

/// The first name of an ImageNet-style label ("kite, Milvus milvus" -> "kite").
pub fn short_label(label: &str) -> &str {
    label.split(',').next().unwrap_or(label).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_ranks_by_probability_then_index() {
        let labels: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let got = top_k(&[0.1, 0.4, 0.1, 0.4], &labels, 3);
        let idx: Vec<usize> = got.iter().map(|r| r.index).collect();
        assert_eq!(idx, [1, 3, 0]);
        assert_eq!(got[0].label, "b");
        assert_eq!(top_k(&[0.5, 0.5], &labels, 10).len(), 2);
    }

    #[test]
    fn short_labels() {
        assert_eq!(short_label("kite, Milvus milvus"), "kite");
        assert_eq!(short_label("zebra"), "zebra");
    }
}
