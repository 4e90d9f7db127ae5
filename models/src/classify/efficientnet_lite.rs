//! EfficientNet-Lite (Google's mobile variant of EfficientNet: no squeeze-excite, ReLU6, fixed
//! stem and head) on candle, reading the `efficientnet_pytorch` tensor names
//! (`_conv_stem`, `_blocks.N._expand_conv`, ...). Batch norms are folded into the convolutions
//! at load, and the network runs in NHWC with the same direct kernels as the TF.js runtime
//! (im2col stem, NHWC depthwise, 1x1 convs as one matmul), because candle's grouped conv runs
//! one convolution per channel.
//! Convolutions use TensorFlow's "SAME" padding (asymmetric for stride 2), as the weights were
//! trained with.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use image::RgbImage;

use super::{classify_batch_with, classify_images, Classification, Classifier};
use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::preprocess;
use crate::tfjs::ops;

/// (repeats, kernel, stride, expand ratio, output channels) per stage, EfficientNet-Lite0.
const LITE0_STAGES: [(usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
];
const STEM_CHANNELS: usize = 32;
const BN_EPS: f64 = 1e-3;

/// A dense conv as NHWC patches x `[kh*kw*in, out]` + bias (batch norm folded in).
struct DenseConv {
    w: Tensor,
    b: Tensor,
    k: usize,
    stride: usize,
}

/// A 1x1 conv: `[in, out]` + bias.
struct Pointwise {
    w: Tensor,
    b: Tensor,
}

/// A depthwise conv: filter `[kh, kw, c]` flattened + bias `[c]`.
struct Depthwise {
    w: Arc<Vec<f32>>,
    b: Tensor,
    k: usize,
    stride: usize,
}

struct Block {
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
    residual: bool,
}

pub struct EfficientNetLite {
    spec: ModelSpec,
    stem: DenseConv,
    blocks: Vec<Block>,
    head: Pointwise,
    fc: candle_nn::Linear,
    device: Device,
}

/// Reads the named tensors of one checkpoint and folds batch norms into the convs before them.
struct Weights {
    tensors: std::collections::HashMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| ModelError::Graph(format!("efficientnet-lite: missing tensor {name}")))
    }

    /// `(scale, shift)` of the eval-mode batch norm `bn` (prefix): y = x * scale + shift.
    fn batch_norm(&self, bn: &str) -> Result<(Tensor, Tensor)> {
        let gamma = self.get(&format!("{bn}.weight"))?;
        let beta = self.get(&format!("{bn}.bias"))?;
        let mean = self.get(&format!("{bn}.running_mean"))?;
        let var = self.get(&format!("{bn}.running_var"))?;
        let scale = gamma.div(&(var + BN_EPS)?.sqrt()?)?;
        let shift = beta.sub(&mean.mul(&scale)?)?;
        Ok((scale, shift))
    }

    /// OIHW conv + batch norm -> `[kh*kw*in, out]` matrix (im2col order) and bias.
    fn dense(&self, conv: &str, bn: &str, stride: usize) -> Result<DenseConv> {
        let w = self.get(&format!("{conv}.weight"))?; // [out, in, kh, kw]
        let (out, cin, kh, kw) = w.dims4()?;
        let (scale, shift) = self.batch_norm(bn)?;
        let w = w
            .permute((2, 3, 1, 0))? // HWIO
            .reshape((kh * kw * cin, out))?
            .broadcast_mul(&scale.unsqueeze(0)?)?
            .contiguous()?;
        Ok(DenseConv {
            w,
            b: shift,
            k: kh,
            stride,
        })
    }

    fn pointwise(&self, conv: &str, bn: &str) -> Result<Pointwise> {
        let w = self.get(&format!("{conv}.weight"))?; // [out, in, 1, 1]
        let (out, cin, _, _) = w.dims4()?;
        let (scale, shift) = self.batch_norm(bn)?;
        let w = w
            .reshape((out, cin))?
            .t()?
            .broadcast_mul(&scale.unsqueeze(0)?)?
            .contiguous()?;
        Ok(Pointwise { w, b: shift })
    }

    fn depthwise(&self, conv: &str, bn: &str, stride: usize) -> Result<Depthwise> {
        let w = self.get(&format!("{conv}.weight"))?; // [c, 1, kh, kw]
        let (c, _, kh, kw) = w.dims4()?;
        let (scale, shift) = self.batch_norm(bn)?;
        let w = w
            .reshape((c, kh * kw))?
            .broadcast_mul(&scale.unsqueeze(1)?)?
            .t()? // [kh*kw, c]: channel innermost, as the NHWC kernel reads it
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(Depthwise {
            w: Arc::new(w),
            b: shift,
            k: kh,
            stride,
        })
    }
}

fn relu6(x: Tensor) -> candle_core::Result<Tensor> {
    ops::relu6(&x)
}

fn same_pads(h: usize, w: usize, k: usize, stride: usize) -> [usize; 4] {
    let (t, b) = ops::same_padding(h, k, stride, 1);
    let (l, r) = ops::same_padding(w, k, stride, 1);
    [t, b, l, r]
}

impl DenseConv {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, h, w, _) = x.dims4()?;
        let pads = same_pads(h, w, self.k, self.stride);
        let (patches, (n, oh, ow)) = ops::im2col_nhwc(x, (self.k, self.k), self.stride, 1, pads)?;
        patches
            .matmul(&self.w)?
            .broadcast_add(&self.b)?
            .reshape((n, oh, ow, self.w.dim(1)?))
    }
}

impl Pointwise {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (n, h, w, c) = x.dims4()?;
        x.reshape((n * h * w, c))?
            .matmul(&self.w)?
            .broadcast_add(&self.b)?
            .reshape((n, h, w, self.w.dim(1)?))
    }
}

impl Depthwise {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, h, w, _) = x.dims4()?;
        let pads = same_pads(h, w, self.k, self.stride);
        ops::depthwise_nhwc(x, &self.w, (self.k, self.k), self.stride, 1, pads)?
            .broadcast_add(&self.b)
    }
}

impl Block {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = relu6(e.forward(&y)?)?;
        }
        y = relu6(self.depthwise.forward(&y)?)?;
        y = self.project.forward(&y)?;
        if self.residual {
            y = (y + x)?;
        }
        Ok(y)
    }
}

impl EfficientNetLite {
    /// Loads EfficientNet-Lite0 from safetensors with `efficientnet_pytorch` names.
    pub fn load(spec: &ModelSpec, path: &Path, device: &Device) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, device)?
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        let wts = Weights { tensors };
        let stem = wts.dense("_conv_stem", "_bn0", 2)?;
        let mut blocks = Vec::new();
        let mut cin = STEM_CHANNELS;
        for (repeats, k, stride, expand, cout) in LITE0_STAGES {
            for r in 0..repeats {
                let i = blocks.len();
                let p = format!("_blocks.{i}");
                let stride = if r == 0 { stride } else { 1 };
                let depthwise = wts.depthwise(
                    &format!("{p}._depthwise_conv"),
                    &format!("{p}._bn1"),
                    stride,
                )?;
                if depthwise.k != k {
                    return Err(ModelError::Graph(format!(
                        "{}: block {i} has a {}x{0} filter, EfficientNet-Lite0 has {k}x{k}",
                        spec.id, depthwise.k
                    )));
                }
                blocks.push(Block {
                    expand: (expand != 1)
                        .then(|| wts.pointwise(&format!("{p}._expand_conv"), &format!("{p}._bn0")))
                        .transpose()?,
                    depthwise,
                    project: wts.pointwise(&format!("{p}._project_conv"), &format!("{p}._bn2"))?,
                    residual: stride == 1 && cin == cout,
                });
                cin = cout;
            }
        }
        let head = wts.pointwise("_conv_head", "_bn1")?;
        let fc = candle_nn::Linear::new(wts.get("_fc.weight")?, Some(wts.get("_fc.bias")?));
        let classes = fc.weight().dim(0)?;
        if classes != spec.labels.len() {
            return Err(ModelError::Catalog(format!(
                "{}: the checkpoint has {classes} classes, the catalog {} labels",
                spec.id,
                spec.labels.len()
            )));
        }
        Ok(Self {
            spec: spec.clone(),
            stem,
            blocks,
            head,
            fc,
            device: device.clone(),
        })
    }

    /// Logits `[N, classes]` for an input tensor in the catalog layout (`[N, 3, H, W]`).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.permute((0, 2, 3, 1))?.contiguous()?; // NCHW -> NHWC
        x = relu6(self.stem.forward(&x)?)?;
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        x = relu6(self.head.forward(&x)?)?;
        let pooled = x.mean(1)?.mean(1)?; // [N, C]
        Ok(self.fc.forward(&pooled)?)
    }

    /// Logits for an image already resized and cropped to the input size; for parity tests.
    pub fn logits(&self, resized: &RgbImage) -> Result<Vec<f32>> {
        let x = preprocess::to_tensor(resized, self.spec.image_input(), &self.device)?;
        Ok(self.forward(&x)?.squeeze(0)?.to_vec1::<f32>()?)
    }
}

impl Classifier for EfficientNetLite {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn classify(&self, img: &RgbImage) -> Result<Classification> {
        let mut v = classify_images(&self.spec, &self.device, &[img], |x| self.forward(x))?;
        Ok(v.remove(0))
    }

    /// One forward over the images stacked as `[N, 3, H, W]`; each answer carries the whole
    /// batch's times (that is how long each request waited for it).
    fn classify_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Classification>> {
        classify_batch_with(&self.spec, &self.device, imgs, |x| self.forward(x))
    }
}
