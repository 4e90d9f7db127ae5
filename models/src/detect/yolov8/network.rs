//! The YOLOv8 (ultralytics) detection network in candle: backbone, PAN neck, decoupled head.
//!
//! Weights use the tensor names of candle's yolo-v8 example (`net.b1.0.conv.weight`, `fpn.n1.cv1.bn.bias`,
//! `head.cv3.2.2.weight`, ...), so `yolov8n.safetensors` / `yolov8s.safetensors` from `lmz/candle-yolo-v8`
//! load unmodified. Channel counts are read from the weights' shapes (so narrow test twins load with the
//! same code) and checked against the variant's [`Multiples`]; block repeats come from the multiples.
//! BatchNorm runs after the convolution as one per-channel affine (as PyTorch's eval BatchNorm does),
//! not folded into the weights: folding measured twice the head error against ultralytics' unfused
//! model (4.6e-4 vs 2.1e-4 px on the twin) for two elementwise ops per layer saved.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use crate::catalog::Arch;
use crate::error::{ModelError, Result};

/// Feature strides of the three detection levels (P3, P4, P5).
const STRIDES: [usize; 3] = [8, 16, 32];
/// Ultralytics sets every BatchNorm's eps to 1e-3 (`initialize_weights`).
const BN_EPS: f64 = 1e-3;
/// Ultralytics' compound scaling: `[depth, width, max_channels]` of the yaml's `scales`, with
/// `max_channels` expressed as `ratio = max_channels / 512` as candle's example does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Multiples {
    pub depth: f64,
    pub width: f64,
    pub ratio: f64,
}

impl Multiples {
    pub const N: Self = Self {
        depth: 0.33,
        width: 0.25,
        ratio: 2.0,
    };
    pub const S: Self = Self {
        depth: 0.33,
        width: 0.50,
        ratio: 2.0,
    };

    /// The preset for a catalog `arch` (`yolov8n`, `yolov8s`).
    pub fn for_arch(arch: Option<Arch>) -> Option<Self> {
        match arch? {
            Arch::YoloV8n => Some(Self::N),
            Arch::YoloV8s => Some(Self::S),
            _ => None,
        }
    }

    /// A yaml row's repeat count after the depth gain (`max(round(n * depth), 1)` for n > 1).
    fn repeats(&self, n: usize) -> usize {
        if n > 1 {
            ((n as f64 * self.depth).round_ties_even() as usize).max(1)
        } else {
            n
        }
    }

    /// A yaml row's channel count after the width gain (`make_divisible(min(c, max) * width, 8)`).
    fn channels(&self, c: usize) -> usize {
        let scaled = (c as f64).min(512.0 * self.ratio) * self.width;
        (scaled / 8.0).ceil() as usize * 8
    }
}

/// Conv (no bias) + BatchNorm + SiLU; the BatchNorm as `x * scale + shift` per channel, `[1, C, 1, 1]`.
#[derive(Debug)]
struct ConvBlock {
    conv: Conv2d,
    scale: Tensor,
    shift: Tensor,
}

impl ConvBlock {
    fn load(vb: VarBuilder, stride: usize) -> Result<Self> {
        let w = vb.get_unchecked("conv.weight")?;
        let (c_out, _, k, _) = w.dims4()?;
        let bn = vb.pp("bn");
        let bn_param = |name: &str| bn.get(c_out, name);
        let scale = (bn_param("weight")? / (bn_param("running_var")? + BN_EPS)?.sqrt()?)?;
        let shift = (bn_param("bias")? - (bn_param("running_mean")? * &scale)?)?;
        let cfg = Conv2dConfig {
            padding: k / 2,
            stride,
            ..Default::default()
        };
        Ok(Self {
            conv: Conv2d::new(w, None, cfg),
            scale: scale.reshape((1, c_out, 1, 1))?,
            shift: shift.reshape((1, c_out, 1, 1))?,
        })
    }

    fn out_channels(&self) -> usize {
        self.conv.weight().dim(0).unwrap_or(0)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self
            .conv
            .forward(x)?
            .broadcast_mul(&self.scale)?
            .broadcast_add(&self.shift)?;
        Ok(candle_nn::ops::silu(&y)?)
    }
}

/// Two 3x3 convs, with a residual add in the backbone (where in and out channels agree).
#[derive(Debug)]
struct Bottleneck {
    cv1: ConvBlock,
    cv2: ConvBlock,
    residual: bool,
}

impl Bottleneck {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.cv2.forward(&self.cv1.forward(x)?)?;
        Ok(if self.residual { (x + y)? } else { y })
    }
}

/// CSP block with two convolutions: split in halves, chain bottlenecks on the second half, and
/// concatenate every intermediate before the output conv.
#[derive(Debug)]
struct C2f {
    cv1: ConvBlock,
    cv2: ConvBlock,
    bottlenecks: Vec<Bottleneck>,
}

impl C2f {
    fn load(vb: VarBuilder, repeats: usize, shortcut: bool) -> Result<Self> {
        let surplus = format!("bottleneck.{repeats}.cv1.conv.weight");
        if vb.contains_tensor(&surplus) {
            return Err(ModelError::Catalog(format!(
                "{}: the weights have more than {repeats} bottlenecks; wrong depth multiple?",
                vb.prefix()
            )));
        }
        let bottlenecks = (0..repeats)
            .map(|i| {
                let vb = vb.pp(format!("bottleneck.{i}"));
                let cv1 = ConvBlock::load(vb.pp("cv1"), 1)?;
                Ok(Bottleneck {
                    cv1,
                    cv2: ConvBlock::load(vb.pp("cv2"), 1)?,
                    residual: shortcut,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            cv1: ConvBlock::load(vb.pp("cv1"), 1)?,
            cv2: ConvBlock::load(vb.pp("cv2"), 1)?,
            bottlenecks,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut parts = self.cv1.forward(x)?.chunk(2, 1)?;
        for b in &self.bottlenecks {
            let next = b.forward(parts.last().expect("two halves"))?;
            parts.push(next);
        }
        self.cv2.forward(&Tensor::cat(&parts, 1)?)
    }
}

/// Spatial pyramid pooling, fast: three chained 5x5 stride-1 max pools.
#[derive(Debug)]
struct Sppf {
    cv1: ConvBlock,
    cv2: ConvBlock,
}

impl Sppf {
    const KERNEL: usize = 5;

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let pool = |t: &Tensor| -> Result<Tensor> {
            // PyTorch's MaxPool2d pads with -inf; repeating the edge gives the same maxima (the edge
            // value is inside every window that reaches past it). candle's example pads with zeros,
            // which differs wherever a border window is all negative (SiLU goes down to -0.28).
            let p = Self::KERNEL / 2;
            let padded = t.pad_with_same(2, p, p)?.pad_with_same(3, p, p)?;
            Ok(padded.max_pool2d_with_stride(Self::KERNEL, 1)?)
        };
        let y0 = self.cv1.forward(x)?;
        let y1 = pool(&y0)?;
        let y2 = pool(&y1)?;
        let y3 = pool(&y2)?;
        self.cv2.forward(&Tensor::cat(&[y0, y1, y2, y3], 1)?)
    }
}

#[derive(Debug)]
struct Backbone {
    stem: [ConvBlock; 2],
    /// `b2`, `b3`, `b4`: a stride-2 conv then a C2f; `b2` also holds the P2 C2f first.
    p2: C2f,
    p3: (ConvBlock, C2f),
    p4: (ConvBlock, C2f),
    p5: (ConvBlock, C2f),
    sppf: Sppf,
}

impl Backbone {
    fn load(vb: VarBuilder, m: &Multiples) -> Result<Self> {
        let stem = [
            ConvBlock::load(vb.pp("b1.0"), 2)?,
            ConvBlock::load(vb.pp("b1.1"), 2)?,
        ];
        let backbone = Self {
            p2: C2f::load(vb.pp("b2.0"), m.repeats(3), true)?,
            p3: (
                ConvBlock::load(vb.pp("b2.1"), 2)?,
                C2f::load(vb.pp("b2.2"), m.repeats(6), true)?,
            ),
            p4: (
                ConvBlock::load(vb.pp("b3.0"), 2)?,
                C2f::load(vb.pp("b3.1"), m.repeats(6), true)?,
            ),
            p5: (
                ConvBlock::load(vb.pp("b4.0"), 2)?,
                C2f::load(vb.pp("b4.1"), m.repeats(3), true)?,
            ),
            sppf: Sppf {
                cv1: ConvBlock::load(vb.pp("b5.0.cv1"), 1)?,
                cv2: ConvBlock::load(vb.pp("b5.0.cv2"), 1)?,
            },
            stem,
        };
        backbone.check_widths(m)?;
        Ok(backbone)
    }

    /// The yaml's stage widths (64, 128, 256, 512, 1024) under the multiples must be the
    /// weights': loading yolov8s weights as yolov8n (same depth) would otherwise go unnoticed.
    fn check_widths(&self, m: &Multiples) -> Result<()> {
        let stages = [
            ("net.b1.0", &self.stem[0], 64),
            ("net.b1.1", &self.stem[1], 128),
            ("net.b2.1", &self.p3.0, 256),
            ("net.b3.0", &self.p4.0, 512),
            ("net.b4.0", &self.p5.0, 1024),
        ];
        for (name, block, yaml) in stages {
            let (got, want) = (block.out_channels(), m.channels(yaml));
            if got != want {
                return Err(ModelError::Catalog(format!(
                    "{name}: the weights have {got} channels, multiples {m:?} give {want}"
                )));
            }
        }
        Ok(())
    }

    /// P3, P4 and the SPPF'd P5.
    fn forward(&self, x: &Tensor) -> Result<[Tensor; 3]> {
        let x = self.stem[1].forward(&self.stem[0].forward(x)?)?;
        let x = self.p2.forward(&x)?;
        let p3 = self.p3.1.forward(&self.p3.0.forward(&x)?)?;
        let p4 = self.p4.1.forward(&self.p4.0.forward(&p3)?)?;
        let p5 = self.p5.1.forward(&self.p5.0.forward(&p4)?)?;
        Ok([p3, p4, self.sppf.forward(&p5)?])
    }
}

/// PAN neck: top-down (upsample, concat, C2f) then bottom-up (stride-2 conv, concat, C2f).
#[derive(Debug)]
struct Neck {
    top_down: [C2f; 2],
    down: [ConvBlock; 2],
    bottom_up: [C2f; 2],
}

impl Neck {
    fn load(vb: VarBuilder, m: &Multiples) -> Result<Self> {
        let n = m.repeats(3);
        Ok(Self {
            top_down: [
                C2f::load(vb.pp("n1"), n, false)?,
                C2f::load(vb.pp("n2"), n, false)?,
            ],
            down: [
                ConvBlock::load(vb.pp("n3"), 2)?,
                ConvBlock::load(vb.pp("n5"), 2)?,
            ],
            bottom_up: [
                C2f::load(vb.pp("n4"), n, false)?,
                C2f::load(vb.pp("n6"), n, false)?,
            ],
        })
    }

    fn forward(&self, [p3, p4, p5]: &[Tensor; 3]) -> Result<[Tensor; 3]> {
        let up = |t: &Tensor| -> Result<Tensor> {
            let (_, _, h, w) = t.dims4()?;
            Ok(t.upsample_nearest2d(2 * h, 2 * w)?)
        };
        let m4 = self.top_down[0].forward(&Tensor::cat(&[&up(p5)?, p4], 1)?)?;
        let out3 = self.top_down[1].forward(&Tensor::cat(&[&up(&m4)?, p3], 1)?)?;
        let down3 = self.down[0].forward(&out3)?;
        let out4 = self.bottom_up[0].forward(&Tensor::cat(&[&down3, &m4], 1)?)?;
        let down4 = self.down[1].forward(&out4)?;
        let out5 = self.bottom_up[1].forward(&Tensor::cat(&[&down4, p5], 1)?)?;
        Ok([out3, out4, out5])
    }
}

/// One level's branch: two 3x3 ConvBlocks then a plain 1x1 conv with bias.
#[derive(Debug)]
struct Branch {
    convs: [ConvBlock; 2],
    out: Conv2d,
}

impl Branch {
    fn load(vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_unchecked("2.weight")?;
        let bias = vb.get(weight.dim(0)?, "2.bias")?;
        Ok(Self {
            convs: [
                ConvBlock::load(vb.pp("0"), 1)?,
                ConvBlock::load(vb.pp("1"), 1)?,
            ],
            out: Conv2d::new(weight, Some(bias), Conv2dConfig::default()),
        })
    }

    /// `[N, C, H * W]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.convs[1].forward(&self.convs[0].forward(x)?)?;
        Ok(self.out.forward(&y)?.flatten_from(2)?)
    }
}

/// Decoupled head: per level a box branch (4 x reg_max distance bins) and a class branch; DFL
/// turns the bins into expected distances from each anchor.
#[derive(Debug)]
struct Head {
    boxes: [Branch; 3],
    classes: [Branch; 3],
    /// The DFL conv's weights, `0..reg_max` in every file ultralytics writes, as `[1, 1, reg_max, 1]`.
    bins: Tensor,
    reg_max: usize,
}

impl Head {
    fn load(vb: VarBuilder, num_classes: usize) -> Result<Self> {
        let branches = |name: &str| -> Result<[Branch; 3]> {
            Ok([
                Branch::load(vb.pp(format!("{name}.0")))?,
                Branch::load(vb.pp(format!("{name}.1")))?,
                Branch::load(vb.pp(format!("{name}.2")))?,
            ])
        };
        let bins = vb.get_unchecked("dfl.conv.weight")?;
        let reg_max = bins.elem_count();
        let head = Self {
            boxes: branches("cv2")?,
            classes: branches("cv3")?,
            bins: bins.reshape((1, 1, reg_max, 1))?,
            reg_max,
        };
        for (level, branch) in head.classes.iter().enumerate() {
            let got = branch.out.weight().dim(0)?;
            if got != num_classes {
                return Err(ModelError::Catalog(format!(
                    "head.cv3.{level}: the weights have {got} classes, expected {num_classes}"
                )));
            }
        }
        Ok(head)
    }

    /// `[N, 4 + classes, anchors]`: xywh in input pixels, then sigmoid scores (ultralytics' eval output).
    fn forward(&self, feats: &[Tensor; 3]) -> Result<Tensor> {
        let mut dists = Vec::with_capacity(3);
        let mut logits = Vec::with_capacity(3);
        for (i, f) in feats.iter().enumerate() {
            dists.push(self.boxes[i].forward(f)?);
            logits.push(self.classes[i].forward(f)?);
        }
        let dists = self.dfl(&Tensor::cat(&dists, 2)?)?;
        let (anchors, strides) = anchor_grid(feats)?;
        // dist2bbox: left/top and right/bottom distances around the anchor, as centre and size.
        let lt = dists.narrow(1, 0, 2)?;
        let rb = dists.narrow(1, 2, 2)?;
        let x1y1 = anchors.broadcast_sub(&lt)?;
        let x2y2 = anchors.broadcast_add(&rb)?;
        let centre = ((&x1y1 + &x2y2)? / 2.0)?;
        let size = (x2y2 - x1y1)?;
        let xywh = Tensor::cat(&[centre, size], 1)?.broadcast_mul(&strides)?;
        let scores = candle_nn::ops::sigmoid(&Tensor::cat(&logits, 2)?)?;
        Ok(Tensor::cat(&[xywh, scores], 1)?)
    }

    /// `[N, 4 * reg_max, A]` bin logits -> `[N, 4, A]` expected distances (in stride units).
    fn dfl(&self, x: &Tensor) -> Result<Tensor> {
        let (n, _, a) = x.dims3()?;
        let probs = candle_nn::ops::softmax(&x.reshape((n, 4, self.reg_max, a))?, 2)?;
        Ok(probs.broadcast_mul(&self.bins)?.sum(2)?)
    }
}

/// Anchor centres (`[1, 2, A]`, in cells: `x + 0.5`, `y + 0.5`, row-major per level) and their
/// strides (`[1, 1, A]`), as ultralytics' `make_anchors(feats, strides, 0.5)`.
fn anchor_grid(feats: &[Tensor; 3]) -> Result<(Tensor, Tensor)> {
    let (mut xs, mut ys, mut strides) = (Vec::new(), Vec::new(), Vec::new());
    for (f, &stride) in feats.iter().zip(&STRIDES) {
        let (_, _, h, w) = f.dims4()?;
        for y in 0..h {
            for x in 0..w {
                xs.push(x as f32 + 0.5);
                ys.push(y as f32 + 0.5);
                strides.push(stride as f32);
            }
        }
    }
    let a = xs.len();
    let device = feats[0].device();
    xs.extend(ys);
    Ok((
        Tensor::from_vec(xs, (1, 2, a), device)?,
        Tensor::from_vec(strides, (1, 1, a), device)?,
    ))
}

/// YOLOv8 detection network (backbone, PAN neck, decoupled head).
#[derive(Debug)]
pub struct YoloV8 {
    backbone: Backbone,
    neck: Neck,
    head: Head,
    num_classes: usize,
}

impl YoloV8 {
    /// Loads a safetensors file in candle's yolo-v8 example layout (any float dtype; run in f32).
    pub fn load(
        path: &Path,
        multiples: Multiples,
        num_classes: usize,
        device: &Device,
    ) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Ok(Self {
            backbone: Backbone::load(vb.pp("net"), &multiples)?,
            neck: Neck::load(vb.pp("fpn"), &multiples)?,
            head: Head::load(vb.pp("head"), num_classes)?,
            num_classes,
        })
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// `x`: `[N, 3, H, W]` RGB in 0..1, H and W multiples of 32. Returns `[N, 4 + classes, anchors]`:
    /// boxes as centre x, centre y, width, height in input pixels, then per-class sigmoid scores.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        let stride = STRIDES[2];
        if c != 3 || !h.is_multiple_of(stride) || !w.is_multiple_of(stride) {
            return Err(ModelError::Input(format!(
                "YOLOv8 wants [N, 3, H, W] with H, W multiples of {stride}, got {:?}",
                x.dims()
            )));
        }
        let feats = self.backbone.forward(x)?;
        let feats = self.neck.forward(&feats)?;
        self.head.forward(&feats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiples_reproduce_the_yaml_scaling() {
        // yolov8n: 16, 32, 64, 128, 256 channels; yolov8s twice that; repeats 1 and 2.
        let n: Vec<usize> = [64, 128, 256, 512, 1024]
            .map(|c| Multiples::N.channels(c))
            .into();
        assert_eq!(n, [16, 32, 64, 128, 256]);
        assert_eq!(Multiples::S.channels(1024), 512);
        assert_eq!((Multiples::N.repeats(3), Multiples::N.repeats(6)), (1, 2));
        // A narrow twin rounds up to multiples of 8, as make_divisible does.
        let twin = Multiples {
            depth: 0.33,
            width: 1.0 / 16.0,
            ratio: 2.0,
        };
        assert_eq!((twin.channels(64), twin.channels(1024)), (8, 64));
    }
}
