//! EfficientNet-Lite (Google's mobile variant of EfficientNet: no squeeze-excite, ReLU6, fixed
//! stem and head) on candle, reading the `efficientnet_pytorch` tensor names
//! (`_conv_stem`, `_blocks.N._expand_conv`, ...). Batch norms are folded into the convolutions
//! at load, and the network runs in NHWC on plain buffers with the direct kernels it shares
//! with the TF.js runtime ([`crate::kernels`]): im2col stem and 1x1 convs through the gemm with
//! bias, ReLU6 and the residual fused into the product's epilogue, and the NHWC depthwise kernel
//! with its bias and ReLU6 fused (candle's grouped conv runs one convolution per channel, and
//! each separate bias/clamp/add would be another pass over the activations).
//! Convolutions use TensorFlow's "SAME" padding (asymmetric for stride 2), as the weights were
//! trained with.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;

use super::{classify_batch_with, classify_images};
use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::image::preprocess;
use crate::kernels::conv::{output_size, same_padding};
use crate::kernels::depthwise::{
    self, depthwise_nhwc_slice, depthwise_row, depthwise_row_channels,
};
use crate::kernels::gemm::{
    gemm_direct_to_vec, gemm_serial, gemm_serial_panels, gemm_to_vec, Activation, PackedB,
    PANEL_COLUMNS,
};
use crate::kernels::sync_ptr::SyncPtr;
use crate::kernels::with_f32_slice;
use crate::task::{Classification, Classifier};

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

/// A dense conv (the stem) as patches x `[kh*kw*in, out]` + bias (batch norm folded in),
/// packed.
struct DenseConv {
    w: PackedB,
    k: usize,
    stride: usize,
}

/// A 1x1 conv: `[in, out]` + bias, packed.
struct Pointwise {
    w: PackedB,
}

/// A depthwise conv: filter `[kh, kw, c]` flattened + bias `[c]`.
struct Depthwise {
    w: Arc<Vec<f32>>,
    b: Vec<f32>,
    k: usize,
    stride: usize,
}

/// NHWC activations on a plain buffer.
struct Nhwc {
    data: Vec<f32>,
    dims: (usize, usize, usize, usize),
}

fn packed(w: &Tensor, bias: &Tensor) -> Result<PackedB> {
    let (k, n) = w.dims2()?;
    let w = w.flatten_all()?.to_vec1::<f32>()?;
    Ok(PackedB::new(&w, k, n, Some(&bias.to_vec1::<f32>()?)))
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
    fc: PackedB,
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
            w: packed(&w, &shift)?,
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
        Ok(Pointwise {
            w: packed(&w, &shift)?,
        })
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
            b: shift.to_vec1::<f32>()?,
            k: kh,
            stride,
        })
    }
}

fn same_pads(h: usize, w: usize, k: usize, stride: usize) -> [usize; 4] {
    let (t, b) = same_padding(h, k, stride, 1);
    let (l, r) = same_padding(w, k, stride, 1);
    [t, b, l, r]
}

impl DenseConv {
    /// From the model's NCHW input (`dims` being (N, C, H, W)) to NHWC activations: the input
    /// is copied once with its padding (a row and a column of zeros for a 224x224 image), and
    /// the product's tiles read each pixel's patch from that copy in place
    /// ([`gemm_direct_to_vec`]): nothing is transposed, no patch is gathered.
    fn forward_nchw(
        &self,
        x: &[f32],
        (n, c, h, w): (usize, usize, usize, usize),
        act: Activation,
    ) -> candle_core::Result<Nhwc> {
        let [pad_t, pad_b, pad_l, pad_r] = same_pads(h, w, self.k, self.stride);
        let (k, s) = (self.k, self.stride);
        if c * k * k != self.w.k() {
            let expects = self.w.k() / (k * k);
            candle_core::bail!("stem input has {c} channels, its filter expects {expects}");
        }
        if x.len() != n * c * h * w {
            candle_core::bail!("stem input of {} values for {n}x{c}x{h}x{w}", x.len());
        }
        let (hp, wp) = (h + pad_t + pad_b, w + pad_l + pad_r);
        let (oh, ow) = ((hp - k) / s + 1, (wp - k) / s + 1);
        // Taps in (ky, kx, c) order, the filter's rows (HWIO).
        let offsets: Vec<usize> = (0..k * k * c)
            .map(|t| (t / (k * c)) * wp + (t / c % k) + (t % c) * hp * wp)
            .collect();
        let data = PADDED.with_borrow_mut(|padded| {
            pad_planes(x, (n * c, h, w), [pad_t, pad_b, pad_l, pad_r], padded);
            gemm_direct_to_vec(n * oh * ow, &self.w, act, padded, &offsets, |i| {
                let (b, oy, ox) = (i / (oh * ow), i / ow % oh, i % ow);
                b * c * hp * wp + oy * s * wp + ox * s
            })
        });
        Ok(Nhwc {
            data,
            dims: (n, oh, ow, self.w.n()),
        })
    }
}

thread_local! {
    /// The stem's padded input, kept between forwards (a fresh 0.6 MB buffer a forward would
    /// be fresh pages to fault in).
    static PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `planes` planes of `h x w` from `x` into `out`, each with `[top, bottom, left, right]`
/// rows and columns of zeros around it; every value of `out` is written, bands of rows split
/// over the team (serial, the copy was a tenth of the stem's time at two threads).
fn pad_planes(
    x: &[f32],
    (planes, h, w): (usize, usize, usize),
    pads: [usize; 4],
    out: &mut Vec<f32>,
) {
    let [t, b, l, r] = pads;
    let (hp, wp) = (h + t + b, w + l + r);
    // Grown once and then kept (it is the thread's own), so not zeroed again each forward.
    out.resize(planes * hp * wp, 0.0);
    const BANDS: usize = 8;
    let per_band = hp.div_ceil(BANDS);
    let dst = SyncPtr::new(out);
    crate::team::for_each(planes * BANDS, |task| {
        let (plane, band) = (task / BANDS, task % BANDS);
        let src = &x[plane * h * w..(plane + 1) * h * w];
        for y in band * per_band..((band + 1) * per_band).min(hp) {
            // SAFETY: each task writes its own band of rows of its own plane.
            let row = unsafe { dst.slice((plane * hp + y) * wp, wp) };
            if (t..t + h).contains(&y) {
                row[..l].fill(0.0);
                row[l..l + w].copy_from_slice(&src[(y - t) * w..(y - t + 1) * w]);
                row[l + w..].fill(0.0);
            } else {
                row.fill(0.0);
            }
        }
    });
}

impl Pointwise {
    /// `act(x · w + b [+ residual])`.
    fn forward(&self, x: &Nhwc, act: Activation, residual: Option<&Nhwc>) -> Nhwc {
        let (n, h, w, _) = x.dims;
        let res = residual.map(|r| r.data.as_slice());
        let data = gemm_to_vec(&x.data, n * h * w, &self.w, act, res);
        Nhwc {
            data,
            dims: (n, h, w, self.w.n()),
        }
    }
}

impl Depthwise {
    /// Its SAME padding (top, bottom, left, right) over an `h x w` input, and its output
    /// size.
    fn geometry(&self, h: usize, w: usize) -> candle_core::Result<([usize; 4], (usize, usize))> {
        let (k, s) = (self.k, self.stride);
        let pads = same_pads(h, w, k, s);
        Ok((pads, output_size("depthwise", (h, w), (k, k), s, 1, pads)?))
    }

    fn forward(&self, x: &Nhwc) -> candle_core::Result<Nhwc> {
        let (_, h, w, _) = x.dims;
        let pads = same_pads(h, w, self.k, self.stride);
        let k = (self.k, self.k);
        let (data, dims) = depthwise_nhwc_slice(
            &x.data,
            x.dims,
            &self.w,
            k,
            self.stride,
            1,
            pads,
            Some(&self.b),
            Activation::Relu6,
        )?;
        Ok(Nhwc { data, dims })
    }
}

/// Blocks whose expanded activations reach this size run fused ([`Block::forward_fused`]):
/// EfficientNet-Lite0's first three expanding blocks (4.8, 1.8 and 1.8 MB at 224x224). Below
/// it the expanded tensor stays in L2 anyway, and bands of a 14- or 7-row image would spend
/// more recomputing their top rows than the fusion saves.
const FUSE_FROM_BYTES: usize = 1 << 20;

/// Blocks on images this small (EfficientNet-Lite0's 14x14 and 7x7 stages) run split by
/// channel ranges ([`Block::forward_split`]).
const SPLIT_UP_TO_PIXELS: usize = 14 * 14;

/// Most rows a fused block's depthwise window spans (the depthwise row kernels' 5x5).
const MAX_K: usize = 5;

impl Block {
    fn forward(&self, x: &Nhwc) -> candle_core::Result<Nhwc> {
        if let Some(expand) = &self.expand {
            let (_, h, w, _) = x.dims;
            let k = self.depthwise.k;
            if depthwise::row_available((k, k)) {
                if h * w * expand.w.n() * 4 >= FUSE_FROM_BYTES {
                    return self.forward_fused(x, expand);
                }
                if h * w <= SPLIT_UP_TO_PIXELS && crate::team::size() > 1 {
                    return self.forward_split(x, expand);
                }
            }
        }
        self.forward_layers(x)
    }

    /// One layer at a time, each over the whole image.
    fn forward_layers(&self, x: &Nhwc) -> candle_core::Result<Nhwc> {
        let expanded = self
            .expand
            .as_ref()
            .map(|e| e.forward(x, Activation::Relu6, None));
        let y = self.depthwise.forward(expanded.as_ref().unwrap_or(x))?;
        let residual = self.residual.then_some(x);
        Ok(self.project.forward(&y, Activation::None, residual))
    }
}

impl Block {
    /// expand -> depthwise -> project over bands of output rows, one band per task, so the
    /// expanded activations (six times the block's input) are never written out whole: from
    /// 224x224 the first expanding block's are 4.8 MB, past L2, and writing them then reading
    /// them back cost more than the product that made them (0.56 ms for a 19 MMAC product on
    /// the 2-core AVX2 EPYC). A band keeps the `k` expanded input rows its next output row
    /// needs in a ring (each computed once as the band moves down; `k - stride` more at its
    /// top), runs the depthwise row from the ring, then the project product on that one row,
    /// straight into the output.
    fn forward_fused(&self, x: &Nhwc, expand: &Pointwise) -> candle_core::Result<Nhwc> {
        let (n, h, w, cin) = x.dims;
        let dw = &self.depthwise;
        let (k, s) = (dw.k, dw.stride);
        let ([pad_t, _, pad_l, _], (oh, ow)) = dw.geometry(h, w)?;
        let (ce, cout) = (expand.w.n(), self.project.w.n());
        // Two bands a thread: enough to even out, few enough that recomputed top rows stay
        // a small share (56 rows: bands of 14).
        let per_band = oh.div_ceil((2 * crate::team::size()).clamp(1, oh));
        let bands = oh.div_ceil(per_band);
        let mut out = vec![0f32; n * oh * ow * cout];
        let dst = SyncPtr::new(&mut out);
        crate::team::for_each(n * bands, |task| {
            let (b, band) = (task / bands, task % bands);
            let image = &x.data[b * h * w * cin..(b + 1) * h * w * cin];
            let mut ring = vec![0f32; k * w * ce];
            // The input row each ring slot holds: row `iy` lives in slot `iy % k`, so the `k`
            // consecutive rows one output row reads never share a slot.
            let mut held = [usize::MAX; MAX_K];
            let mut drow = vec![0f32; ow * ce];
            for oy in band * per_band..((band + 1) * per_band).min(oh) {
                let tap_row = |ky: usize| depthwise::tap_row(oy, ky, s, 1, pad_t, h);
                for iy in (0..k).filter_map(tap_row) {
                    let slot = iy % k;
                    if held[slot] != iy {
                        gemm_serial(
                            &image[iy * w * cin..(iy + 1) * w * cin],
                            w,
                            &expand.w,
                            Activation::Relu6,
                            None,
                            &mut ring[slot * w * ce..(slot + 1) * w * ce],
                        );
                        held[slot] = iy;
                    }
                }
                let rows: [Option<&[f32]>; MAX_K] = std::array::from_fn(|ky| {
                    let iy = tap_row(ky).filter(|_| ky < k)?;
                    Some(&ring[(iy % k) * w * ce..(iy % k + 1) * w * ce])
                });
                depthwise_row(
                    &rows[..k],
                    (w, ce),
                    (k, k),
                    s,
                    pad_l,
                    &dw.w,
                    Some(&dw.b),
                    Activation::Relu6,
                    &mut drow,
                );
                let at = (b * oh + oy) * ow * cout;
                // A residual block keeps its shape (stride 1, as many channels out as in).
                let res = self.residual.then(|| &x.data[at..at + ow * cout]);
                // SAFETY: this task alone writes output row `oy` of image `b`.
                let orow = unsafe { dst.slice(at, ow * cout) };
                gemm_serial(&drow, ow, &self.project.w, Activation::None, res, orow);
            }
        });
        Ok(Nhwc {
            data: out,
            dims: (n, oh, ow, cout),
        })
    }
}

impl Block {
    /// expand -> depthwise by ranges of the expanded channels, one range per task, then
    /// project over the whole. A depthwise channel reads only the expanded channel of the
    /// same index, so a task runs its range's expand product and then its depthwise rows
    /// with no wait between them and on data its own core just wrote: one parallel pass
    /// where there were two, each ending in a wait for the slower thread (on 14x14 and 7x7
    /// images a layer takes 20-200 us, so those waits and hand-overs were a large share).
    fn forward_split(&self, x: &Nhwc, expand: &Pointwise) -> candle_core::Result<Nhwc> {
        let (n, h, w, _) = x.dims;
        let dw = &self.depthwise;
        let (k, s) = (dw.k, dw.stride);
        let ([pad_t, _, pad_l, _], (oh, ow)) = dw.geometry(h, w)?;
        let ce = expand.w.n();
        let panels = ce.div_ceil(PANEL_COLUMNS);
        // A few ranges a thread, in whole panels, so a late thread can be made up for.
        let parts = (4 * crate::team::size()).min(panels);
        let (mlen, dlen) = (n * h * w * ce, n * oh * ow * ce);
        let (mut expanded, mut dwout) = (Vec::with_capacity(mlen), Vec::with_capacity(dlen));
        let e_out = SyncPtr::new_uninit(&mut expanded.spare_capacity_mut()[..mlen]);
        let d_out = SyncPtr::new_uninit(&mut dwout.spare_capacity_mut()[..dlen]);
        crate::team::for_each(parts, |part| {
            let range = part * panels / parts..(part + 1) * panels / parts;
            let chans = range.start * PANEL_COLUMNS..(range.end * PANEL_COLUMNS).min(ce);
            // SAFETY: tasks write disjoint panels (channels) of `expanded`.
            unsafe {
                gemm_serial_panels(
                    &x.data,
                    n * h * w,
                    &expand.w,
                    Activation::Relu6,
                    range,
                    e_out,
                )
            };
            for row in 0..n * oh {
                let (b, oy) = (row / oh, row % oh);
                let rows: [Option<*const f32>; MAX_K] = std::array::from_fn(|ky| {
                    let iy = depthwise::tap_row(oy, ky, s, 1, pad_t, h).filter(|_| ky < k)?;
                    // SAFETY: row `iy` of image `b` lies within the expanded buffer.
                    Some(unsafe { e_out.ptr().add(((b * h + iy) * w) * ce) }.cast_const())
                });
                // SAFETY: the rows are whole rows of the expanded buffer, whose channels
                // `chans` this task wrote just above and nothing writes again (other tasks'
                // channels are never read here); tasks write disjoint channels of each
                // output row.
                unsafe {
                    depthwise_row_channels(
                        &rows[..k],
                        (w, ce),
                        (k, k),
                        s,
                        pad_l,
                        (&dw.w, Some(&dw.b), Activation::Relu6),
                        (chans.clone(), ow),
                        d_out.ptr().add(row * ow * ce),
                    )
                };
            }
        });
        // SAFETY: the ranges cover every panel of the expand product and every channel of
        // every depthwise row, and both kernels write every value they cover.
        unsafe {
            expanded.set_len(mlen);
            dwout.set_len(dlen);
        }
        drop(expanded);
        let y = Nhwc {
            data: dwout,
            dims: (n, oh, ow, ce),
        };
        Ok(self
            .project
            .forward(&y, Activation::None, self.residual.then_some(x)))
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
        let fc_w = wts.get("_fc.weight")?; // [classes, features]
        let classes = fc_w.dim(0)?;
        let fc = packed(&fc_w.t()?.contiguous()?, &wts.get("_fc.bias")?)?;
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
        // Every loop of this forward is one of our kernels: the spinning team pays here.
        crate::team::scope(|| self.forward_layers(x))
    }

    fn forward_layers(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims4()?;
        let mut x = with_f32_slice(x, |s| self.stem.forward_nchw(s, dims, Activation::Relu6))??;
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        x = self.head.forward(&x, Activation::Relu6, None);
        let (n, h, w, c) = x.dims;
        let mut pooled = vec![0f32; n * c]; // global average pool: [N, C]
        for (img, p) in x
            .data
            .chunks_exact(h * w * c)
            .zip(pooled.chunks_exact_mut(c))
        {
            for px in img.chunks_exact(c) {
                for (a, v) in p.iter_mut().zip(px) {
                    *a += v;
                }
            }
            p.iter_mut().for_each(|a| *a /= (h * w) as f32);
        }
        let logits = gemm_to_vec(&pooled, n, &self.fc, Activation::None, None);
        Ok(Tensor::from_vec(logits, (n, self.fc.n()), &self.device)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_reference::values;

    fn pointwise(cin: usize, cout: usize, seed: u32) -> Pointwise {
        let w = values(cin * cout, seed);
        Pointwise {
            w: PackedB::new(&w, cin, cout, Some(&values(cout, seed + 1))),
        }
    }

    /// The fused bands against the layer-at-a-time path, exactly (same products, same order
    /// of sums): odd sizes, both strides and windows, with and without a residual, more
    /// bands than threads, and two images.
    #[test]
    fn fused_and_split_blocks_match_layer_by_layer() {
        if !depthwise::row_available((3, 3)) {
            return; // no SIMD row kernel on this CPU: neither path is taken
        }
        for (h, w, cin, ce, cout, k, stride) in [
            (23, 17, 8, 48, 8, 3, 1),
            (23, 17, 8, 48, 12, 3, 2),
            (19, 20, 16, 40, 16, 5, 1),
            (19, 20, 16, 40, 24, 5, 2),
            (2, 3, 4, 8, 4, 5, 1),
            // Several panels of expanded channels, a ragged last one (split ranges).
            (7, 7, 16, 200, 16, 5, 1),
            (14, 14, 24, 144, 40, 3, 2),
        ] {
            let block = Block {
                expand: Some(pointwise(cin, ce, 1)),
                depthwise: Depthwise {
                    w: Arc::new(values(k * k * ce, 3)),
                    b: values(ce, 4),
                    k,
                    stride,
                },
                project: pointwise(ce, cout, 5),
                residual: stride == 1 && cin == cout,
            };
            let x = Nhwc {
                data: values(2 * h * w * cin, 6),
                dims: (2, h, w, cin),
            };
            let fused = block
                .forward_fused(&x, block.expand.as_ref().unwrap())
                .unwrap();
            let layers = block.forward_layers(&x).unwrap();
            assert_eq!(fused.dims, layers.dims, "{h}x{w} k{k} s{stride}");
            assert_eq!(fused.data, layers.data, "{h}x{w} k{k} s{stride}");
            let split = block
                .forward_split(&x, block.expand.as_ref().unwrap())
                .unwrap();
            assert_eq!(split.dims, layers.dims, "split {h}x{w} k{k} s{stride}");
            assert_eq!(split.data, layers.data, "split {h}x{w} k{k} s{stride}");
        }
    }
}
