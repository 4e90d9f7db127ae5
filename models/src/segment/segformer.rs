//! SegFormer semantic segmentation (`SegformerForSemanticSegmentation`): the shared encoder
//! ([`crate::segformer`]) with the all-MLP decode head, behind the [`Segmenter`] trait.

use std::path::Path;

use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;
use image::RgbImage;

use super::layers::{self, nchw_to_tokens, tokens_to_nchw, Conv, Tensors};
use crate::catalog::ModelSpec;
use crate::error::Result;
use crate::segformer::{
    check_classes, segformer_model, Checkpoint, Encoder, Preprocessing, SegFormer, SegFormerModel,
    NORM_EPS,
};
use crate::task::{Segmentation, Segmenter};

/// All-MLP decoder: each stage projected to the decoder width and resized (bilinear) to the
/// finest stage, concatenated coarsest first, fused by a 1x1 conv + BN + ReLU, classified.
struct DecodeHead {
    projections: Vec<Linear>,
    fuse: Conv,
    classifier: Conv,
}

impl DecodeHead {
    fn load(t: &Tensors, stages: usize) -> Result<Self> {
        let projections = (0..stages)
            .map(|i| t.linear(&format!("decode_head.linear_c.{i}.proj")))
            .collect::<Result<_>>()?;
        Ok(Self {
            projections,
            fuse: t.conv_bn(
                "decode_head.linear_fuse",
                "decode_head.batch_norm",
                NORM_EPS,
                1,
                1,
            )?,
            classifier: t.conv("decode_head.classifier", 1, 1)?,
        })
    }

    /// `[N, classes, H/4, W/4]` logits (the finest stage's size).
    fn forward(&self, stages: &[Tensor]) -> candle_core::Result<Tensor> {
        let (_, _, h0, w0) = stages[0].dims4()?;
        let mut resized = stages
            .iter()
            .zip(&self.projections)
            .map(|(s, proj)| {
                let (_, _, h, w) = s.dims4()?;
                let y = tokens_to_nchw(&proj.forward(&nchw_to_tokens(s)?)?, h, w)?;
                y.upsample_bilinear2d(h0, w0, false)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        resized.reverse();
        let fused = self.fuse.forward(&Tensor::cat(&resized, 1)?)?.relu()?; // Dropout: eval no-op
        self.classifier.forward(&fused)
    }
}

/// `SegformerForSemanticSegmentation`. Its `load`/`labels`/`preprocessing` read like the
/// classification head's (crate::classify::segformer): the checkpoint reading they share is
/// [`Checkpoint`]; what differs is the head each loads and checks.
pub struct SegFormerForSemanticSegmentation {
    encoder: Encoder,
    head: DecodeHead,
    labels: Vec<String>,
    preprocessing: Preprocessing,
}

impl SegFormerForSemanticSegmentation {
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let c = Checkpoint::open(dir, device)?;
        let head = DecodeHead::load(&c.tensors, c.config.num_encoder_blocks)?;
        check_classes("segformer", head.classifier.out_channels(), &c.labels)?;
        Ok(Self {
            encoder: Encoder::load(&c.tensors, &c.config)?,
            head,
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

    /// Logits `[N, classes, H, W]` for a normalised `[N, 3, H, W]` input, resized bilinearly
    /// (align_corners = False) from the decoder's H/4 x W/4 to the input size, as
    /// `post_process_semantic_segmentation` does with the input size as target.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let logits = self.head.forward(&self.encoder.forward(x)?)?;
        Ok(logits.upsample_bilinear2d(h, w, false)?)
    }
}
segformer_model!(SegFormerForSemanticSegmentation);

/// SegFormer semantic segmentation behind the [`Segmenter`] trait.
pub type SegFormerSegmenter = SegFormer<SegFormerForSemanticSegmentation>;

impl Segmenter for SegFormerSegmenter {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn segment(&self, img: &RgbImage) -> Result<Segmentation> {
        let mut v = layers::segment_images(&self.spec, &self.device, &[img], |x| self.forward(x))?;
        Ok(v.remove(0))
    }

    fn segment_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Segmentation>> {
        layers::segment_batch_with(&self.spec, &self.device, imgs, |x| self.forward(x))
    }
}
