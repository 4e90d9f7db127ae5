//! DeepLabV3 (Chen et al., 2017) as torchvision builds it, reading torchvision's state dict
//! names as they are (`backbone.*`, `classifier.*`; `aux_classifier.*` is training-only and
//! ignored). Two backbones, told apart by their tensor names:
//! - ResNet-50 (`deeplabv3_resnet50`): Bottleneck blocks with layer3/layer4 dilated instead of
//!   strided (replace_stride_with_dilation = [False, True, True], output stride 8);
//! - MobileNetV3-Large (`deeplabv3_mobilenet_v3_large`): `features` kept up to the last conv by
//!   IntermediateLayerGetter (`backbone.0` .. `backbone.16`), the last stage dilated (output
//!   stride 16), squeeze-excite and hardswish as in the paper's table.
//!
//! Then DeepLabHead: ASPP (1x1, three atrous 3x3 at rates 12/24/36, image pooling), a 3x3 conv
//! and the 1x1 classifier; the logits are bilinearly resized (align_corners = False) to the
//! input size as `DeepLabV3.forward` does. Batch norms are folded into the convs at load, and
//! every channel count comes from the weight shapes, so narrower checkpoints load too.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::RgbImage;

use super::layers::{self, hardsigmoid, hardswish, Conv, Tensors};
use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::task::{Segmentation, Segmenter};

/// torchvision's BatchNorm2d default; the MobileNetV3 backbone uses 1e-3 (its `norm_layer`).
const BN_EPS: f64 = 1e-5;
const MOBILENET_BN_EPS: f64 = 1e-3;
/// DeepLabHead's default atrous rates (not recorded in the weights).
const ATROUS_RATES: [usize; 3] = [12, 24, 36];

/// A bottleneck residual block (torchvision's v1.5: the stride sits on the 3x3 conv).
struct Bottleneck {
    conv1: Conv,
    conv2: Conv,
    conv3: Conv,
    downsample: Option<Conv>,
}

impl Bottleneck {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.conv1.forward(x)?.relu()?;
        let y = self.conv2.forward(&y)?.relu()?;
        let y = self.conv3.forward(&y)?;
        let identity = match &self.downsample {
            Some(d) => d.forward(x)?,
            None => x.clone(),
        };
        (y + identity)?.relu()
    }
}

struct ResNet {
    stem: Conv,
    blocks: Vec<Bottleneck>,
}

impl ResNet {
    fn load(t: &Tensors) -> Result<Self> {
        let stem = t.conv_bn("backbone.conv1", "backbone.bn1", BN_EPS, 2, 1)?;
        let mut blocks = Vec::new();
        // (nominal stride, dilate instead) per stage, as replace_stride_with_dilation = [F, T, T].
        let stages = [(1, false), (2, false), (2, true), (2, true)];
        let mut dilation = 1;
        for (i, (stride, dilate)) in stages.into_iter().enumerate() {
            let layer = format!("backbone.layer{}", i + 1);
            let n = t.count(&layer, "conv1.weight");
            if n == 0 {
                return Err(ModelError::Graph(format!(
                    "deeplabv3: {layer} has no blocks"
                )));
            }
            // torchvision's _make_layer: the first block keeps the previous dilation, the
            // others use the new one.
            let previous = dilation;
            let mut stride = stride;
            if dilate {
                dilation *= stride;
                stride = 1;
            }
            for j in 0..n {
                let p = format!("{layer}.{j}");
                let (s, d) = if j == 0 {
                    (stride, previous)
                } else {
                    (1, dilation)
                };
                let cb = |c: &str, b: &str, s, d| {
                    t.conv_bn(&format!("{p}.{c}"), &format!("{p}.{b}"), BN_EPS, s, d)
                };
                let downsample = t
                    .contains(&format!("{p}.downsample.0.weight"))
                    .then(|| cb("downsample.0", "downsample.1", s, 1))
                    .transpose()?;
                blocks.push(Bottleneck {
                    conv1: cb("conv1", "bn1", 1, 1)?,
                    conv2: cb("conv2", "bn2", s, d)?,
                    conv3: cb("conv3", "bn3", 1, 1)?,
                    downsample,
                });
            }
        }
        Ok(Self { stem, blocks })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.stem.forward(x)?.relu()?;
        // MaxPool2d(3, stride 2, padding 1). Zero padding stands in for -inf because the input
        // is post-ReLU (>= 0) and every window holds at least one real value.
        let mut x = x
            .pad_with_zeros(2, 1, 1)?
            .pad_with_zeros(3, 1, 1)?
            .max_pool2d_with_stride(3, 2)?;
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        Ok(x)
    }
}

#[derive(Clone, Copy)]
enum Activation {
    Relu,
    Hardswish,
}

impl Activation {
    fn forward(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Hardswish => hardswish(x),
        }
    }
}

/// MobileNetV3-Large's inverted residuals `features.1..=15` with what the weights do not record:
/// (stride, dilation, activation). From torchvision's `_mobilenet_v3_conf(dilated=True)`; the
/// dilated blocks' depthwise convs run at stride 1.
const LARGE_BLOCKS: [(usize, usize, Activation); 15] = {
    use Activation::{Hardswish as HS, Relu as RE};
    [
        (1, 1, RE),
        (2, 1, RE),
        (1, 1, RE),
        (2, 1, RE),
        (1, 1, RE),
        (1, 1, RE),
        (2, 1, HS),
        (1, 1, HS),
        (1, 1, HS),
        (1, 1, HS),
        (1, 1, HS),
        (1, 1, HS),
        (2, 2, HS),
        (1, 2, HS),
        (1, 2, HS),
    ]
};

/// Squeeze-excite with torchvision's `fc1`/`fc2` 1x1 convs and a hardsigmoid gate.
struct SqueezeExcite {
    fc1: Conv,
    fc2: Conv,
}

impl SqueezeExcite {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let s = x.mean_keepdim(2)?.mean_keepdim(3)?;
        let s = self.fc1.forward(&s)?.relu()?;
        let s = hardsigmoid(&self.fc2.forward(&s)?)?;
        x.broadcast_mul(&s)
    }
}

struct InvertedResidual {
    expand: Option<Conv>,
    depthwise: Conv,
    se: Option<SqueezeExcite>,
    project: Conv,
    activation: Activation,
    residual: bool,
}

impl InvertedResidual {
    /// `backbone.{i}.block.*`: [expand 1x1], depthwise, [squeeze-excite], project 1x1.
    fn load(
        t: &Tensors,
        i: usize,
        (stride, dilation, activation): (usize, usize, Activation),
    ) -> Result<Self> {
        let p = format!("backbone.{i}.block");
        let cb = |j: usize, s, d| {
            t.conv_bn(
                &format!("{p}.{j}.0"),
                &format!("{p}.{j}.1"),
                MOBILENET_BN_EPS,
                s,
                d,
            )
        };
        let mut j = 0;
        let first = cb(j, 1, 1)?;
        let expand = if first.kernel() == 1 {
            j += 1;
            Some(first)
        } else {
            None
        };
        let depth_stride = if dilation > 1 { 1 } else { stride };
        let depthwise = cb(j, depth_stride, dilation)?;
        j += 1;
        let se = if t.contains(&format!("{p}.{j}.fc1.weight")) {
            let se = SqueezeExcite {
                fc1: t.conv(&format!("{p}.{j}.fc1"), 1, 1)?,
                fc2: t.conv(&format!("{p}.{j}.fc2"), 1, 1)?,
            };
            j += 1;
            Some(se)
        } else {
            None
        };
        let project = cb(j, 1, 1)?;
        let input = expand.as_ref().unwrap_or(&depthwise).in_channels();
        Ok(Self {
            residual: stride == 1 && input == project.out_channels(),
            expand,
            depthwise,
            se,
            project,
            activation,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = self.activation.forward(&e.forward(&y)?)?;
        }
        y = self.activation.forward(&self.depthwise.forward(&y)?)?;
        if let Some(se) = &self.se {
            y = se.forward(&y)?;
        }
        y = self.project.forward(&y)?;
        if self.residual {
            y = (y + x)?;
        }
        Ok(y)
    }
}

struct MobileNetV3 {
    stem: Conv,
    blocks: Vec<InvertedResidual>,
    last: Conv,
}

impl MobileNetV3 {
    fn load(t: &Tensors) -> Result<Self> {
        let last_index = LARGE_BLOCKS.len() + 1;
        if !t.contains(&format!("backbone.{last_index}.0.weight"))
            || t.contains(&format!("backbone.{}.0.weight", last_index + 1))
        {
            return Err(ModelError::Graph(format!(
                "deeplabv3: a MobileNetV3-Large backbone has features 0..={last_index}"
            )));
        }
        let cb = |i: usize, s| {
            t.conv_bn(
                &format!("backbone.{i}.0"),
                &format!("backbone.{i}.1"),
                MOBILENET_BN_EPS,
                s,
                1,
            )
        };
        let blocks = LARGE_BLOCKS
            .into_iter()
            .enumerate()
            .map(|(k, cfg)| InvertedResidual::load(t, k + 1, cfg))
            .collect::<Result<_>>()?;
        Ok(Self {
            stem: cb(0, 2)?,
            blocks,
            last: cb(last_index, 1)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = hardswish(&self.stem.forward(x)?)?;
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        hardswish(&self.last.forward(&x)?)
    }
}

enum Backbone {
    ResNet(ResNet),
    MobileNetV3(MobileNetV3),
}

/// DeepLabHead: `classifier.0` (ASPP), `.1`/`.2` 3x3 conv + BN, `.4` the 1x1 classifier.
struct Head {
    branches: Vec<Conv>,
    pooling: Conv,
    project: Conv,
    conv: Conv,
    classifier: Conv,
}

impl Head {
    fn load(t: &Tensors) -> Result<Self> {
        let aspp = "classifier.0";
        let convs = t.count(&format!("{aspp}.convs"), "0.weight");
        if convs != ATROUS_RATES.len() + 1 {
            return Err(ModelError::Graph(format!(
                "deeplabv3: ASPP has {convs} conv branches, DeepLabHead has {} (rates {ATROUS_RATES:?})",
                ATROUS_RATES.len() + 1
            )));
        }
        let branch = |i: usize, rate| {
            let p = format!("{aspp}.convs.{i}");
            t.conv_bn(&format!("{p}.0"), &format!("{p}.1"), BN_EPS, 1, rate)
        };
        let mut branches = vec![branch(0, 1)?];
        for (i, rate) in ATROUS_RATES.into_iter().enumerate() {
            branches.push(branch(i + 1, rate)?);
        }
        // The pooling branch is Sequential(AdaptiveAvgPool2d, conv, BN, ReLU): conv at index 1.
        let pool = format!("{aspp}.convs.{convs}");
        Ok(Self {
            branches,
            pooling: t.conv_bn(&format!("{pool}.1"), &format!("{pool}.2"), BN_EPS, 1, 1)?,
            project: t.conv_bn(
                &format!("{aspp}.project.0"),
                &format!("{aspp}.project.1"),
                BN_EPS,
                1,
                1,
            )?,
            conv: t.conv_bn("classifier.1", "classifier.2", BN_EPS, 1, 1)?,
            classifier: t.conv("classifier.4", 1, 1)?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let mut outs = self
            .branches
            .iter()
            .map(|b| b.forward(x)?.relu())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let pooled = x.mean_keepdim(2)?.mean_keepdim(3)?;
        let pooled = self.pooling.forward(&pooled)?.relu()?;
        // Bilinear upsampling of a 1x1 map is a broadcast.
        let (n, c, _, _) = pooled.dims4()?;
        outs.push(pooled.broadcast_as((n, c, h, w))?.contiguous()?);
        let y = self.project.forward(&Tensor::cat(&outs, 1)?)?.relu()?; // Dropout: eval no-op
        let y = self.conv.forward(&y)?.relu()?;
        self.classifier.forward(&y)
    }
}

pub struct DeepLabV3 {
    backbone: Backbone,
    head: Head,
}

impl DeepLabV3 {
    /// Loads a torchvision DeepLabV3 state dict saved as safetensors; the backbone is
    /// recognised from the tensor names.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let t = Tensors::load(path, device, "deeplabv3")?;
        let backbone = if t.contains("backbone.conv1.weight") {
            Backbone::ResNet(ResNet::load(&t)?)
        } else if t.contains("backbone.0.0.weight") {
            Backbone::MobileNetV3(MobileNetV3::load(&t)?)
        } else {
            return Err(ModelError::Graph(format!(
                "{}: neither a ResNet (backbone.conv1) nor a MobileNetV3 (backbone.0.0) DeepLabV3",
                path.display()
            )));
        };
        Ok(Self {
            backbone,
            head: Head::load(&t)?,
        })
    }

    pub fn classes(&self) -> usize {
        self.head.classifier.out_channels()
    }

    /// Logits `[N, classes, H, W]` at the input's size for a normalised `[N, 3, H, W]` input.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let features = match &self.backbone {
            Backbone::ResNet(r) => r.forward(x)?,
            Backbone::MobileNetV3(m) => m.forward(x)?,
        };
        let logits = self.head.forward(&features)?;
        Ok(logits.upsample_bilinear2d(h, w, false)?)
    }
}

/// DeepLabV3 behind the [`Segmenter`] trait, with the catalog's pre-processing.
pub struct DeepLabSegmenter {
    spec: ModelSpec,
    model: DeepLabV3,
    device: Device,
}

impl DeepLabSegmenter {
    pub fn load(spec: &ModelSpec, path: &Path, device: &Device) -> Result<Self> {
        let model = DeepLabV3::load(path, device)?;
        layers::check_labels(spec, model.classes())?;
        Ok(Self {
            spec: spec.clone(),
            model,
            device: device.clone(),
        })
    }

    pub fn model(&self) -> &DeepLabV3 {
        &self.model
    }
}

impl Segmenter for DeepLabSegmenter {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn segment(&self, img: &RgbImage) -> Result<Segmentation> {
        let mut v =
            layers::segment_images(&self.spec, &self.device, &[img], |x| self.model.forward(x))?;
        Ok(v.remove(0))
    }

    fn segment_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Segmentation>> {
        layers::segment_batch_with(&self.spec, &self.device, imgs, |x| self.model.forward(x))
    }
}
