//! Tensor helpers for TF semantics that candle does not have as one call: TF "SAME" padding,
//! padding with a constant, bilinear resize with TF's coordinate rules. Pure functions on
//! tensors, tested on small hand-computed cases.

use candle_core::{DType, Result, Tensor, D};

pub use crate::gemm::Activation;

/// (N, H, W, C) of an NHWC buffer.
pub type Dims4 = (usize, usize, usize, usize);

/// TF's SAME padding for one spatial dim: output = ceil(input / stride); the extra pixel of an
/// odd total goes after, not before (unlike PyTorch's symmetric padding).
pub fn same_padding(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let effective = (kernel - 1) * dilation + 1;
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + effective).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// Pads `dim` of `x` with `before`/`after` copies of `value`.
pub fn pad_const(
    x: &Tensor,
    dim: usize,
    before: usize,
    after: usize,
    value: f32,
) -> Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(x.clone());
    }
    if value == 0.0 {
        return x.pad_with_zeros(dim, before, after);
    }
    let mut parts = Vec::with_capacity(3);
    let mut dims = x.dims().to_vec();
    if before > 0 {
        dims[dim] = before;
        parts.push(Tensor::full(value, dims.as_slice(), x.device())?.to_dtype(x.dtype())?);
    }
    parts.push(x.clone());
    if after > 0 {
        dims[dim] = after;
        parts.push(Tensor::full(value, dims.as_slice(), x.device())?.to_dtype(x.dtype())?);
    }
    Tensor::cat(&parts, dim)
}

/// Source indices and weights for resizing one axis from `in_size` to `out_size`, following
/// TF's `ResizeBilinear` (and TF.js's, which copies it) for its two coordinate flags.
pub fn bilinear_taps(
    in_size: usize,
    out_size: usize,
    align_corners: bool,
    half_pixel: bool,
) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let scale = if align_corners && out_size > 1 {
        (in_size as f32 - 1.0) / (out_size as f32 - 1.0)
    } else {
        in_size as f32 / out_size as f32
    };
    let mut lower = Vec::with_capacity(out_size);
    let mut upper = Vec::with_capacity(out_size);
    let mut frac = Vec::with_capacity(out_size);
    for o in 0..out_size {
        let src = if half_pixel {
            (o as f32 + 0.5) * scale - 0.5
        } else {
            o as f32 * scale
        };
        let floor = src.floor();
        lower.push(floor.max(0.0) as u32);
        upper.push((src.ceil() as i64).clamp(0, in_size as i64 - 1) as u32);
        frac.push(src - floor);
    }
    (lower, upper, frac)
}

/// Bilinear resize along one axis of `x` (any rank).
pub fn resize_axis(
    x: &Tensor,
    axis: usize,
    out_size: usize,
    align_corners: bool,
    half_pixel: bool,
) -> Result<Tensor> {
    let in_size = x.dim(axis)?;
    if in_size == out_size && !half_pixel && !align_corners {
        return Ok(x.clone());
    }
    let (lo, hi, frac) = bilinear_taps(in_size, out_size, align_corners, half_pixel);
    let dev = x.device();
    // index_select reads contiguous data only (a Transpose upstream leaves strided views).
    let x = &x.contiguous()?;
    let lo = x.index_select(&Tensor::new(lo, dev)?, axis)?;
    let hi = x.index_select(&Tensor::new(hi, dev)?, axis)?;
    let mut wshape = vec![1usize; x.rank()];
    wshape[axis] = out_size;
    let w = Tensor::new(frac, dev)?
        .to_dtype(x.dtype())?
        .reshape(wshape)?;
    lo.broadcast_add(&(hi - &lo)?.broadcast_mul(&w)?)
}

/// Bilinear resize of an NHWC tensor to `(height, width)`.
pub fn resize_bilinear_nhwc(
    x: &Tensor,
    height: usize,
    width: usize,
    align_corners: bool,
    half_pixel: bool,
) -> Result<Tensor> {
    let y = resize_axis(x, 1, height, align_corners, half_pixel)?;
    resize_axis(&y, 2, width, align_corners, half_pixel)
}

pub fn relu6(x: &Tensor) -> Result<Tensor> {
    x.clamp(0f32, 6f32)
}

pub fn leaky_relu(x: &Tensor, alpha: f32) -> Result<Tensor> {
    // max(x, alpha * x) equals LeakyRelu for 0 <= alpha <= 1.
    x.maximum(&(x * alpha as f64)?)
}

pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax_last_dim(&x.to_dtype(DType::F32)?)
}

/// Normalises a possibly negative axis against `rank`.
pub fn axis(axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank {
        candle_core::bail!("axis {axis} out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Mean over several axes, keeping them as size-1 dims when asked.
pub fn mean_axes(x: &Tensor, axes: &[usize], keep_dims: bool) -> Result<Tensor> {
    let mut y = x.clone();
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    for &a in sorted.iter().rev() {
        y = y.mean_keepdim(a)?;
    }
    if !keep_dims {
        for &a in sorted.iter().rev() {
            y = y.squeeze(a)?;
        }
    }
    let _ = D::Minus1;
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn same_padding_matches_tf_for_even_and_odd_sizes() {
        assert_eq!(same_padding(224, 3, 2, 1), (0, 1));
        assert_eq!(same_padding(225, 3, 2, 1), (1, 1));
        assert_eq!(same_padding(256, 3, 1, 1), (1, 1));
        assert_eq!(same_padding(8, 5, 1, 2), (4, 4));
        assert_eq!(same_padding(4, 1, 1, 1), (0, 0));
    }

    #[test]
    fn bilinear_half_pixel_upsample_by_two() {
        // TF: out[o] samples src = (o + 0.5) / 2 - 0.5, clamped at the edges.
        let x = Tensor::new(&[[0f32, 10.0]], &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 2, 1))
            .unwrap();
        let y = resize_bilinear_nhwc(&x, 1, 4, false, true).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![0.0, 2.5, 7.5, 10.0]);
    }

    #[test]
    fn bilinear_align_corners_hits_both_ends() {
        let x = Tensor::new(&[0f32, 10.0, 20.0], &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 3, 1))
            .unwrap();
        let y = resize_bilinear_nhwc(&x, 1, 5, true, false).unwrap();
        let v: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![0.0, 5.0, 10.0, 15.0, 20.0]);
    }

    #[test]
    fn pad_const_with_negative_infinity() {
        let x = Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap();
        let y = pad_const(&x, 0, 1, 2, f32::NEG_INFINITY).unwrap();
        let v: Vec<f32> = y.to_vec1().unwrap();
        assert_eq!(v[1..3], [1.0, 2.0]);
        assert!(v[0].is_infinite() && v[3].is_infinite() && v[4] < 0.0);
    }

    #[test]
    fn leaky_relu_and_relu6() {
        let x = Tensor::new(&[-10f32, 0.5, 8.0], &Device::Cpu).unwrap();
        assert_eq!(
            leaky_relu(&x, 0.1).unwrap().to_vec1::<f32>().unwrap(),
            vec![-1.0, 0.5, 8.0]
        );
        assert_eq!(
            relu6(&x).unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 0.5, 6.0]
        );
    }
}

/// A contiguous CPU f32 tensor's data, without copying.
pub fn with_f32_slice<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("the TF.js runtime's direct kernels run on CPU tensors only");
    };
    let data = cpu.as_slice::<f32>()?;
    let (start, end) = layout.contiguous_offsets().expect("made contiguous above");
    Ok(f(&data[start..end]))
}

/// Depthwise convolution (channel multiplier 1) directly on NHWC data with zero padding.
///
/// candle runs a depthwise conv as `channels` separate convolutions, each through im2col; on
/// MobileNet-style graphs that was ~75 % of the time. Here the channel loop is innermost and
/// contiguous in NHWC, so it vectorises, and output rows are split across threads.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_nhwc(
    x: &Tensor,
    w: &[f32],
    k: (usize, usize),
    stride: usize,
    dilation: usize,
    pads: [usize; 4],
) -> Result<Tensor> {
    let dims = x.dims4()?;
    let (out, (n, oh, ow, c)) = with_f32_slice(x, |xs| {
        depthwise_nhwc_slice(
            xs,
            dims,
            w,
            k,
            stride,
            dilation,
            pads,
            None,
            Activation::None,
        )
    })??;
    Tensor::from_vec(out, (n, oh, ow, c), x.device())
}

/// [`depthwise_nhwc`] on a slice of `dims` (N, H, W, C), with a per-channel bias and an
/// activation applied to each output row while it is in cache. Returns the output and its dims.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_nhwc_slice(
    xs: &[f32],
    (n, h, wd, c): (usize, usize, usize, usize),
    w: &[f32],
    (kh, kw): (usize, usize),
    stride: usize,
    dilation: usize,
    [pad_t, pad_b, pad_l, pad_r]: [usize; 4],
    bias: Option<&[f32]>,
    act: Activation,
) -> Result<(Vec<f32>, Dims4)> {
    use rayon::prelude::*;
    if w.len() != kh * kw * c || xs.len() != n * h * wd * c || bias.is_some_and(|b| b.len() != c) {
        candle_core::bail!(
            "depthwise filter has {} values, expected {kh}x{kw}x{c}",
            w.len()
        );
    }
    let span_h = (kh - 1) * dilation + 1;
    let span_w = (kw - 1) * dilation + 1;
    if h + pad_t + pad_b < span_h || wd + pad_l + pad_r < span_w {
        candle_core::bail!("depthwise input {h}x{wd} is smaller than its {kh}x{kw} window");
    }
    let oh = (h + pad_t + pad_b - span_h) / stride + 1;
    let ow = (wd + pad_l + pad_r - span_w) / stride + 1;
    let mut out = vec![0f32; n * oh * ow * c];
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(row, orow)| {
            let (b, oy) = (row / oh, row % oh);
            let image = &xs[b * h * wd * c..(b + 1) * h * wd * c];
            for ky in 0..kh {
                let iy = (oy * stride + ky * dilation) as isize - pad_t as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let xrow = &image[iy as usize * wd * c..(iy as usize + 1) * wd * c];
                for kx in 0..kw {
                    let wk = &w[(ky * kw + kx) * c..(ky * kw + kx + 1) * c];
                    for ox in 0..ow {
                        let ix = (ox * stride + kx * dilation) as isize - pad_l as isize;
                        if ix < 0 || ix >= wd as isize {
                            continue;
                        }
                        let xi = &xrow[ix as usize * c..(ix as usize + 1) * c];
                        let o = &mut orow[ox * c..(ox + 1) * c];
                        for ((o, &xv), &wv) in o.iter_mut().zip(xi).zip(wk) {
                            *o += xv * wv;
                        }
                    }
                }
            }
            if bias.is_some() || act != Activation::None {
                let zeros;
                let bias = match bias {
                    Some(b) => b,
                    None => {
                        zeros = vec![0f32; c];
                        &zeros
                    }
                };
                for o in orow.chunks_exact_mut(c) {
                    for (v, b) in o.iter_mut().zip(bias) {
                        *v = act.apply(*v + b);
                    }
                }
            }
        });
    Ok((out, (n, oh, ow, c)))
}

#[cfg(test)]
mod depthwise_tests {
    use super::*;
    use candle_core::{Device, IndexOp};

    #[test]
    fn depthwise_kernel_matches_candle_grouped_conv() {
        let dev = Device::Cpu;
        for (stride, dilation, pads) in [
            (1, 1, [1, 1, 1, 1]),
            (2, 1, [0, 1, 0, 1]),
            (1, 2, [2, 2, 2, 2]),
            (2, 1, [1, 1, 1, 1]),
        ] {
            let x = Tensor::randn(0f32, 1.0, (2, 9, 7, 5), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (3, 3, 5), &dev).unwrap();
            let ours = depthwise_nhwc(
                &x,
                &w.flatten_all().unwrap().to_vec1().unwrap(),
                (3, 3),
                stride,
                dilation,
                pads,
            )
            .unwrap();
            // Reference: candle's grouped conv on NCHW with explicit padding.
            let xc = x
                .permute((0, 3, 1, 2))
                .unwrap()
                .pad_with_zeros(2, pads[0], pads[1])
                .unwrap()
                .pad_with_zeros(3, pads[2], pads[3])
                .unwrap();
            let wc = w
                .permute((2, 0, 1))
                .unwrap()
                .unsqueeze(1)
                .unwrap()
                .contiguous()
                .unwrap();
            let reference = xc
                .contiguous()
                .unwrap()
                .conv2d(&wc, 0, stride, dilation, 5)
                .unwrap()
                .permute((0, 2, 3, 1))
                .unwrap();
            assert_eq!(ours.dims(), reference.dims());
            let diff = (ours - reference)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap();
            assert!(
                diff.to_scalar::<f32>().unwrap() < 1e-4,
                "stride {stride} dilation {dilation}"
            );
        }
        let _ = Tensor::zeros((1, 1), candle_core::DType::F32, &dev)
            .unwrap()
            .i(0);
    }
}

/// Patches of an NHWC tensor for a convolution as a matmul: `[N*OH*OW, KH*KW*C]`, ordered
/// (ky, kx, c) so a TF HWIO filter reshaped to `[KH*KW*C, O]` multiplies it directly and the
/// product is already NHWC. Zero padding is applied while copying.
pub fn im2col_nhwc(
    x: &Tensor,
    k: (usize, usize),
    stride: usize,
    dilation: usize,
    pads: [usize; 4],
) -> Result<(Tensor, (usize, usize, usize))> {
    let dims = x.dims4()?;
    let (patches, (n, oh, ow)) = with_f32_slice(x, |xs| {
        im2col_nhwc_slice(xs, dims, k, stride, dilation, pads)
    })??;
    let cols = patches.len() / (n * oh * ow).max(1);
    Ok((
        Tensor::from_vec(patches, (n * oh * ow, cols), x.device())?,
        (n, oh, ow),
    ))
}

/// [`im2col_nhwc`] on a slice of `dims` (N, H, W, C); returns the patches and (N, OH, OW).
pub fn im2col_nhwc_slice(
    xs: &[f32],
    (n, h, wd, c): (usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    dilation: usize,
    [pad_t, pad_b, pad_l, pad_r]: [usize; 4],
) -> Result<(Vec<f32>, (usize, usize, usize))> {
    use rayon::prelude::*;
    let span_h = (kh - 1) * dilation + 1;
    let span_w = (kw - 1) * dilation + 1;
    if h + pad_t + pad_b < span_h || wd + pad_l + pad_r < span_w {
        candle_core::bail!("conv input {h}x{wd} is smaller than its {kh}x{kw} window");
    }
    let oh = (h + pad_t + pad_b - span_h) / stride + 1;
    let ow = (wd + pad_l + pad_r - span_w) / stride + 1;
    let k = kh * kw * c;
    let mut patches = vec![0f32; n * oh * ow * k];
    patches
        .par_chunks_mut(ow * k)
        .enumerate()
        .for_each(|(row, prow)| {
            let (b, oy) = (row / oh, row % oh);
            let image = &xs[b * h * wd * c..(b + 1) * h * wd * c];
            for ox in 0..ow {
                let patch = &mut prow[ox * k..(ox + 1) * k];
                for ky in 0..kh {
                    let iy = (oy * stride + ky * dilation) as isize - pad_t as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * stride + kx * dilation) as isize - pad_l as isize;
                        if ix < 0 || ix >= wd as isize {
                            continue;
                        }
                        let src = (iy as usize * wd + ix as usize) * c;
                        let dst = (ky * kw + kx) * c;
                        patch[dst..dst + c].copy_from_slice(&image[src..src + c]);
                    }
                }
            }
        });
    Ok((patches, (n, oh, ow)))
}

/// Average or max pooling whose windows tile the input exactly (kernel == stride, VALID), by
/// reshaping NHWC into windows and reducing: no layout changes, one pass.
pub fn pool_tiled_nhwc(x: &Tensor, (kh, kw): (usize, usize), max: bool) -> Result<Tensor> {
    let (n, h, w, c) = x.dims4()?;
    let (oh, ow) = (h / kh, w / kw);
    if oh == 0 || ow == 0 {
        candle_core::bail!("pool window {kh}x{kw} is larger than the {h}x{w} input");
    }
    let mut out = vec![if max { f32::NEG_INFINITY } else { 0.0 }; n * oh * ow * c];
    with_f32_slice(x, |xs| {
        for b in 0..n {
            for y in 0..oh * kh {
                let orow = &mut out[(b * oh + y / kh) * ow * c..(b * oh + y / kh + 1) * ow * c];
                let xrow = &xs[(b * h + y) * w * c..(b * h + y) * w * c + ow * kw * c];
                for (xi, px) in xrow.chunks_exact(c).enumerate() {
                    let o = &mut orow[(xi / kw) * c..(xi / kw + 1) * c];
                    if max {
                        o.iter_mut().zip(px).for_each(|(o, &v)| *o = o.max(v));
                    } else {
                        o.iter_mut().zip(px).for_each(|(o, &v)| *o += v);
                    }
                }
            }
        }
    })?;
    if !max {
        let scale = 1.0 / (kh * kw) as f32;
        out.iter_mut().for_each(|v| *v *= scale);
    }
    Tensor::from_vec(out, (n, oh, ow, c), x.device())
}

#[cfg(test)]
mod im2col_tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn im2col_conv_matches_candle_conv2d() {
        let dev = Device::Cpu;
        for (k, stride, dilation, pads) in [
            (3, 2, 1, [0, 1, 0, 1]),
            (3, 1, 1, [1, 1, 1, 1]),
            (5, 1, 2, [4, 4, 4, 4]),
            (2, 2, 1, [0, 0, 0, 0]),
        ] {
            let x = Tensor::randn(0f32, 1.0, (2, 11, 9, 3), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (k, k, 3, 4), &dev).unwrap(); // HWIO
            let (patches, (n, oh, ow)) = im2col_nhwc(&x, (k, k), stride, dilation, pads).unwrap();
            let ours = patches
                .matmul(&w.reshape((k * k * 3, 4)).unwrap())
                .unwrap()
                .reshape((n, oh, ow, 4))
                .unwrap();
            let xc = x
                .permute((0, 3, 1, 2))
                .unwrap()
                .pad_with_zeros(2, pads[0], pads[1])
                .unwrap()
                .pad_with_zeros(3, pads[2], pads[3])
                .unwrap();
            let wc = w.permute((3, 2, 0, 1)).unwrap().contiguous().unwrap();
            let reference = xc
                .contiguous()
                .unwrap()
                .conv2d(&wc, 0, stride, dilation, 1)
                .unwrap()
                .permute((0, 2, 3, 1))
                .unwrap();
            assert_eq!(ours.dims(), reference.dims(), "k{k} s{stride}");
            let diff = (ours - reference)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-4, "k{k} s{stride} d{dilation}: {diff}");
        }
    }

    #[test]
    fn tiled_pools_match_candle_pools() {
        let x = Tensor::randn(0f32, 1.0, (1, 8, 12, 3), &Device::Cpu).unwrap();
        let xc = x.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap();
        for max in [false, true] {
            let ours = pool_tiled_nhwc(&x, (4, 4), max).unwrap();
            let r = if max {
                xc.max_pool2d((4, 4))
            } else {
                xc.avg_pool2d((4, 4))
            }
            .unwrap()
            .permute((0, 2, 3, 1))
            .unwrap();
            let diff = (ours - r)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "max={max}: {diff}");
        }
    }
}
