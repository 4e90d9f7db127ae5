//! Building blocks the PyTorch-layout segmenters (DeepLabV3, SegFormer) share: a checkpoint's
//! named tensors, NCHW convolutions with eval-mode batch norm folded in, PyTorch's activations,
//! and logits -> [`Segmentation`] for the task trait. The SegFormer encoder
//! ([`crate::segformer`]), which the mit-b0 classifier uses too, reads its checkpoint with these.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, IndexOp, Tensor};
use image::RgbImage;

use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::image::postprocess::{ClassMap, ProbMap};
use crate::kernels::depthwise::depthwise_nhwc;
use crate::task::{per_image, run_logits_batch, Segmentation};

/// One checkpoint's tensors by name, every float tensor as f32 (f16/bf16 checkpoints load too).
pub(crate) struct Tensors {
    what: String,
    tensors: HashMap<String, Tensor>,
}

impl Tensors {
    pub fn load(path: &Path, device: &Device, what: &str) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such weights file"),
            ));
        }
        let tensors = candle_core::safetensors::load(path, device)?
            .into_iter()
            .map(|(k, v)| {
                let v = if v.dtype().is_float() {
                    v.to_dtype(DType::F32)?
                } else {
                    v
                };
                Ok((k, v))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            what: what.to_owned(),
            tensors,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| ModelError::Graph(format!("{}: missing tensor {name}", self.what)))
    }

    /// How many `{prefix}.{i}.{child}` exist for i = 0, 1, ... (stops at the first gap).
    pub fn count(&self, prefix: &str, child: &str) -> usize {
        (0..)
            .take_while(|i| self.contains(&format!("{prefix}.{i}.{child}")))
            .count()
    }

    pub fn linear(&self, prefix: &str) -> Result<candle_nn::Linear> {
        Ok(candle_nn::Linear::new(
            self.get(&format!("{prefix}.weight"))?,
            Some(self.get(&format!("{prefix}.bias"))?),
        ))
    }

    pub fn layer_norm(&self, prefix: &str, eps: f64) -> Result<candle_nn::LayerNorm> {
        Ok(candle_nn::LayerNorm::new(
            self.get(&format!("{prefix}.weight"))?,
            self.get(&format!("{prefix}.bias"))?,
            eps,
        ))
    }

    /// The conv `{prefix}.weight` (and `{prefix}.bias` when the checkpoint has one), with
    /// PyTorch's "same" padding for odd kernels: `(k - 1) / 2 * dilation` on every side.
    pub fn conv(&self, prefix: &str, stride: usize, dilation: usize) -> Result<Conv> {
        let w = self.get(&format!("{prefix}.weight"))?;
        let padding = same_padding(&w, dilation)?;
        Conv::new(w, self.bias(prefix)?, stride, padding, dilation)
    }

    /// A conv without padding (patchify-style: kernel == stride).
    pub fn conv_unpadded(&self, prefix: &str, stride: usize) -> Result<Conv> {
        let w = self.get(&format!("{prefix}.weight"))?;
        Conv::new(w, self.bias(prefix)?, stride, 0, 1)
    }

    fn bias(&self, prefix: &str) -> Result<Option<Tensor>> {
        let name = format!("{prefix}.bias");
        self.contains(&name).then(|| self.get(&name)).transpose()
    }

    /// A bias-free conv followed by the eval-mode batch norm `bn`, folded into one conv.
    pub fn conv_bn(
        &self,
        conv: &str,
        bn: &str,
        eps: f64,
        stride: usize,
        dilation: usize,
    ) -> Result<Conv> {
        let w = self.get(&format!("{conv}.weight"))?;
        let gamma = self.get(&format!("{bn}.weight"))?;
        let beta = self.get(&format!("{bn}.bias"))?;
        let mean = self.get(&format!("{bn}.running_mean"))?;
        let var = self.get(&format!("{bn}.running_var"))?;
        let scale = gamma.div(&(var + eps)?.sqrt()?)?;
        let shift = beta.sub(&mean.mul(&scale)?)?;
        let w = w.broadcast_mul(&scale.reshape(((), 1, 1, 1))?)?;
        let padding = same_padding(&w, dilation)?;
        Conv::new(w, Some(shift), stride, padding, dilation)
    }
}

fn same_padding(weight: &Tensor, dilation: usize) -> Result<usize> {
    let (_, _, kh, kw) = weight.dims4()?;
    if kh != kw || kh % 2 == 0 {
        return Err(ModelError::Graph(format!(
            "conv kernel {kh}x{kw}: \"same\" padding needs a square odd kernel"
        )));
    }
    Ok((kh - 1) / 2 * dilation)
}

/// A 2-D convolution on NCHW tensors: dense (groups 1) or depthwise (one filter per channel).
pub(crate) struct Conv {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    dilation: usize,
    /// Depthwise filters as `[kh*kw, c]` (channel innermost) for the direct CPU kernel: candle
    /// runs a grouped conv as one im2col convolution per channel, which dominates MobileNets.
    depthwise: Option<Arc<Vec<f32>>>,
}

impl Conv {
    fn new(
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        padding: usize,
        dilation: usize,
    ) -> Result<Self> {
        let (out, per_group, kh, kw) = weight.dims4()?;
        if kh != kw {
            return Err(ModelError::Graph(format!(
                "conv kernel {kh}x{kw}: only square kernels are supported"
            )));
        }
        // A 1-input-channel filter wider than 1x1 is a depthwise conv in these networks (their
        // dense convs all read at least 3 channels).
        let depthwise = (per_group == 1 && kh > 1)
            .then(|| -> Result<_> {
                let w = weight.reshape((out, kh * kw))?.t()?.flatten_all()?;
                Ok(Arc::new(w.to_vec1::<f32>()?))
            })
            .transpose()?;
        Ok(Self {
            padding,
            weight,
            bias,
            stride,
            dilation,
            depthwise,
        })
    }

    pub fn out_channels(&self) -> usize {
        self.weight
            .dim(0)
            .expect("conv weights are 4-D (checked in new)")
    }

    pub fn in_channels(&self) -> usize {
        if self.depthwise.is_some() {
            self.out_channels()
        } else {
            self.weight
                .dim(1)
                .expect("conv weights are 4-D (checked in new)")
        }
    }

    pub fn kernel(&self) -> usize {
        self.weight
            .dim(2)
            .expect("conv weights are 4-D (checked in new)")
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = match &self.depthwise {
            Some(w) if x.device().is_cpu() => {
                let k = self.kernel();
                let p = self.padding;
                let nhwc = x.permute((0, 2, 3, 1))?.contiguous()?;
                let y = depthwise_nhwc(&nhwc, w, (k, k), self.stride, self.dilation, [p; 4])?;
                y.permute((0, 3, 1, 2))?
            }
            Some(_) => x.conv2d(
                &self.weight,
                self.padding,
                self.stride,
                self.dilation,
                self.out_channels(),
            )?,
            None => x.conv2d(&self.weight, self.padding, self.stride, self.dilation, 1)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(y),
        }
    }
}

impl Conv {
    /// The conv on a token sequence `[N, h*w, C]` (row-major pixels, i.e. NHWC), returning
    /// tokens: a depthwise conv runs on it directly on CPU, without layout changes.
    pub fn forward_tokens(&self, x: &Tensor, h: usize, w: usize) -> candle_core::Result<Tensor> {
        let (n, _, c) = x.dims3()?;
        let y = match &self.depthwise {
            Some(filter) if x.device().is_cpu() => {
                let k = self.kernel();
                let p = self.padding;
                let nhwc = x.reshape((n, h, w, c))?;
                let y = depthwise_nhwc(&nhwc, filter, (k, k), self.stride, self.dilation, [p; 4])?;
                let (_, oh, ow, oc) = y.dims4()?;
                let y = y.reshape((n, oh * ow, oc))?;
                return match &self.bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                };
            }
            _ => self.forward(&tokens_to_nchw(x, h, w)?)?,
        };
        nchw_to_tokens(&y)
    }
}

/// `[N, h*w, C]` tokens -> `[N, C, h, w]`.
pub(crate) fn tokens_to_nchw(x: &Tensor, h: usize, w: usize) -> candle_core::Result<Tensor> {
    let (n, _, c) = x.dims3()?;
    x.transpose(1, 2)?.reshape((n, c, h, w))
}

/// `[N, C, h, w]` -> `[N, h*w, C]` tokens.
pub(crate) fn nchw_to_tokens(x: &Tensor) -> candle_core::Result<Tensor> {
    x.flatten_from(2)?.transpose(1, 2)?.contiguous()
}

/// PyTorch's `Hardswish`: x * relu6(x + 3) / 6.
pub(crate) fn hardswish(x: &Tensor) -> candle_core::Result<Tensor> {
    x.mul(&hardsigmoid(x)?)
}

/// PyTorch's `Hardsigmoid`: relu6(x + 3) / 6.
pub(crate) fn hardsigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    (x + 3.0)?.clamp(0f32, 6f32)? / 6.0
}

/// Per-image maps from `[N, C, H, W]` logits: P(foreground) = 1 - softmax P(class 0, the
/// background) and the per-pixel argmax.
pub(crate) fn class_maps(logits: &Tensor) -> Result<Vec<(ProbMap, ClassMap)>> {
    let (n, c, h, w) = logits.dims4()?;
    if c > u16::MAX as usize {
        return Err(ModelError::Graph(format!(
            "{c} classes do not fit a class map"
        )));
    }
    let probs = candle_nn::ops::softmax(logits, 1)?;
    let foreground = (1.0 - probs.i((.., 0))?)?; // [N, H, W]
    let ids = logits.argmax(1)?; // [N, H, W], u32
    (0..n)
        .map(|i| {
            let fg = foreground.i(i)?.flatten_all()?.to_vec1::<f32>()?;
            let id: Vec<u16> = ids
                .i(i)?
                .flatten_all()?
                .to_vec1::<u32>()?
                .into_iter()
                .map(|v| v as u16)
                .collect();
            Ok((
                ProbMap::new(w as u32, h as u32, fg)?,
                ClassMap::new(w as u32, h as u32, id)?,
            ))
        })
        .collect()
}

/// The task trait's work for a dense (per-pixel logits) model: resize and normalise each image
/// as the catalog says, one forward for all, maps at the model's input resolution. Each answer
/// carries the whole batch's times (that is how long each request waited).
pub(crate) fn segment_images(
    spec: &ModelSpec,
    device: &Device,
    imgs: &[&RgbImage],
    forward: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<Segmentation>> {
    let (maps, timings) = run_logits_batch(spec, device, imgs, forward, class_maps)?;
    Ok(maps
        .into_iter()
        .map(|(probs, classes)| Segmentation {
            probs,
            classes: Some(classes),
            timings,
        })
        .collect())
}

/// `segment_batch` from [`segment_images`]: a failure is every image's failure.
pub(crate) fn segment_batch_with(
    spec: &ModelSpec,
    device: &Device,
    imgs: &[&RgbImage],
    forward: impl Fn(&Tensor) -> Result<Tensor>,
) -> Vec<Result<Segmentation>> {
    per_image(imgs.len(), || segment_images(spec, device, imgs, forward))
}

/// The catalog's labels must match the checkpoint's class count when the catalog lists any.
pub(crate) fn check_labels(spec: &ModelSpec, classes: usize) -> Result<()> {
    if !spec.labels.is_empty() && spec.labels.len() != classes {
        return Err(ModelError::Catalog(format!(
            "{}: the checkpoint has {classes} classes, the catalog {} labels",
            spec.id,
            spec.labels.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_fast_path_matches_candle_grouped_conv() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 5, 9, 7), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (5, 1, 3, 3), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 5, &dev).unwrap();
        for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
            let conv = Conv::new(w.clone(), Some(b.clone()), stride, dilation, dilation).unwrap();
            let ours = conv.forward(&x).unwrap();
            let reference = x
                .conv2d(&w, dilation, stride, dilation, 5)
                .unwrap()
                .broadcast_add(&b.reshape((1, 5, 1, 1)).unwrap())
                .unwrap();
            assert_eq!(ours.dims(), reference.dims());
            let d = (ours - reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-5, "stride {stride} dilation {dilation}: {d}");
        }
    }

    #[test]
    fn class_maps_take_the_argmax_and_the_background_complement() {
        // One image, 2 classes, 1x2 pixels: pixel 0 favours class 0, pixel 1 class 1.
        let logits =
            Tensor::from_vec(vec![2f32, 0.0, 0.0, 2.0], (1, 2, 1, 2), &Device::Cpu).unwrap();
        let (probs, classes) = class_maps(&logits).unwrap().remove(0);
        assert_eq!(classes.ids, vec![0, 1]);
        let p1 = 1.0 / (1.0 + (-2f32).exp());
        assert!((probs.data[0] - (1.0 - p1)).abs() < 1e-6);
        assert!((probs.data[1] - p1).abs() < 1e-6);
    }
}
