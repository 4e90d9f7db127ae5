//! Depthwise convolution (channel multiplier 1) directly on NHWC data.

use candle_core::{Result, Tensor};

use super::conv::output_size;
use super::gemm::Activation;
use super::{with_f32_slice, Dims4};

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
    pads: [usize; 4],
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
    let (oh, ow) = output_size("depthwise", (h, wd), (kh, kw), stride, dilation, pads)?;
    let [pad_t, _, pad_l, _] = pads;
    let len = n * oh * ow * c;
    #[cfg(target_arch = "x86_64")]
    if let (Some(level), true) = (
        crate::summarize::qkernels::simd_level(),
        x86::has_kernel((kh, kw)),
    ) {
        let window = x86::Window {
            h,
            wd,
            c,
            stride,
            dilation,
            pad_t,
            pad_l,
            ow,
        };
        // Not zeroed first: the kernel writes every value of every row.
        let mut out: Vec<f32> = Vec::with_capacity(len);
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(ow * c)
            .enumerate()
            .for_each(|(row, orow)| {
                let (b, oy) = (row / oh, row % oh);
                let image = &xs[b * h * wd * c..(b + 1) * h * wd * c];
                // SAFETY: `level` was detected on this CPU; `image` is one h x wd x c image,
                // `w` holds kh*kw*c values and the bias c (checked above), `orow` one output
                // row, which the kernel only writes.
                unsafe { x86::row(level, &window, (kh, kw), image, w, bias, act, oy, orow) }
            });
        // SAFETY: the rows cover all `len` values and `x86::row` wrote each of them.
        unsafe { out.set_len(len) };
        return Ok((out, (n, oh, ow, c)));
    }
    let mut out = vec![0f32; len];
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

/// The SIMD kernel, written once over [`Lanes`] and compiled for AVX-512 and AVX2: per output
/// row, one vector of channels at a time (16 or 8), the window's weights held in registers and
/// four output pixels accumulated side by side, each written once with its bias and activation
/// (the plain loop above adds each tap into the output row in memory).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::kernels::gemm::Activation;
    use crate::kernels::simd::{activate, Avx2, Avx512, Lanes};
    use crate::summarize::qkernels::Simd;

    /// The geometry shared by all rows of one call.
    pub struct Window {
        pub h: usize,
        pub wd: usize,
        pub c: usize,
        pub stride: usize,
        pub dilation: usize,
        pub pad_t: usize,
        pub pad_l: usize,
        pub ow: usize,
    }

    /// Raw pointers to one call's data.
    struct Data {
        image: *const f32,
        w: *const f32,
        bias: Option<*const f32>,
        act: Activation,
    }

    /// True for the window sizes with a kernel here (3x3 and 5x5).
    pub fn has_kernel(k: (usize, usize)) -> bool {
        matches!(k, (3, 3) | (5, 5))
    }

    /// Writes every value of output row `oy` into `orow` (`ow * c` values).
    ///
    /// # Safety
    /// The CPU must have `level`'s instructions; `k` [`has_kernel`]; `image` is `h * wd * c`
    /// values, `w` `kh * kw * c`, `bias` (if any) `c`, and `orow` `ow * c`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn row(
        level: Simd,
        g: &Window,
        k: (usize, usize),
        image: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        act: Activation,
        oy: usize,
        orow: &mut [std::mem::MaybeUninit<f32>],
    ) {
        assert!(has_kernel(k) && orow.len() == g.ow * g.c);
        let data = Data {
            image: image.as_ptr(),
            w: w.as_ptr(),
            bias: bias.map(|b| b.as_ptr()),
            act,
        };
        let o = orow.as_mut_ptr().cast();
        match level {
            Simd::Avx512 => row_avx512(g, k, &data, oy, o),
            Simd::Avx2 => row_avx2(g, k, &data, oy, o),
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn row_avx512(g: &Window, k: (usize, usize), d: &Data, oy: usize, o: *mut f32) {
        match k {
            (3, 3) => row_k::<Avx512, 3, 3>(g, d, oy, o),
            _ => row_k::<Avx512, 5, 5>(g, d, oy, o),
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_avx2(g: &Window, k: (usize, usize), d: &Data, oy: usize, o: *mut f32) {
        match k {
            (3, 3) => row_k::<Avx2, 3, 3>(g, d, oy, o),
            _ => row_k::<Avx2, 5, 5>(g, d, oy, o),
        }
    }

    #[inline(always)]
    unsafe fn row_k<S: Lanes, const KH: usize, const KW: usize>(
        g: &Window,
        data: &Data,
        oy: usize,
        orow: *mut f32,
    ) {
        let (s, d, c) = (g.stride, g.dilation, g.c);
        let (w, act) = (data.w, data.act);
        // The input rows each tap row reads (None: in the padding).
        let rows: [Option<*const f32>; KH] = std::array::from_fn(|ky| {
            let iy = (oy * s + ky * d).checked_sub(g.pad_t)?;
            (iy < g.h).then(|| data.image.add(iy * g.wd * c))
        });
        // Output pixels whose whole window lies inside the input row: [in0, in1).
        let in0 = g.pad_l.div_ceil(s).min(g.ow);
        let last = (KW - 1) * d;
        let in1 = if g.wd + g.pad_l > last {
            ((g.wd + g.pad_l - last - 1) / s + 1).clamp(in0, g.ow)
        } else {
            in0
        };
        let mut cb = 0;
        while cb < c {
            let mask = S::mask(c - cb);
            let wv: [[S::V; KW]; KH] = std::array::from_fn(|ky| {
                std::array::from_fn(|kx| S::load_masked(mask, w.add((ky * KW + kx) * c + cb)))
            });
            let b = match data.bias {
                Some(b) => S::load_masked(mask, b.add(cb)),
                None => S::zero(),
            };
            let taps = Taps::<S, KH, KW> {
                rows: &rows,
                w: &wv,
                bias: b,
                mask,
                cb,
            };
            for ox in 0..in0 {
                edge(g, &taps, act, ox, orow);
            }
            // Interior pixels, four at a time: four independent accumulator chains.
            let mut ox = in0;
            while ox + 4 <= in1 {
                let mut acc = [b; 4];
                for (ky, row) in rows.iter().enumerate() {
                    let Some(row) = row else { continue };
                    for (kx, wk) in wv[ky].iter().enumerate() {
                        for (j, a) in acc.iter_mut().enumerate() {
                            let ix = (ox + j) * s + kx * d - g.pad_l;
                            let xv = S::load_masked(mask, row.add(ix * c + cb));
                            *a = S::fma(xv, *wk, *a);
                        }
                    }
                }
                for (j, a) in acc.iter().enumerate() {
                    S::store_masked(orow.add((ox + j) * c + cb), mask, activate::<S>(*a, act));
                }
                ox += 4;
            }
            for ox in ox..g.ow {
                edge(g, &taps, act, ox, orow);
            }
            cb += S::N;
        }
    }

    /// One channel block's window: the input rows it reads, its weights and bias.
    struct Taps<'a, S: Lanes, const KH: usize, const KW: usize> {
        rows: &'a [Option<*const f32>; KH],
        w: &'a [[S::V; KW]; KH],
        bias: S::V,
        mask: S::Mask,
        cb: usize,
    }

    /// One output pixel with bounds checks on every tap (the borders).
    #[inline(always)]
    unsafe fn edge<S: Lanes, const KH: usize, const KW: usize>(
        g: &Window,
        t: &Taps<S, KH, KW>,
        act: Activation,
        ox: usize,
        orow: *mut f32,
    ) {
        let (s, d, c) = (g.stride, g.dilation, g.c);
        let mut acc = t.bias;
        for (ky, row) in t.rows.iter().enumerate() {
            let Some(row) = row else { continue };
            for (kx, wk) in t.w[ky].iter().enumerate() {
                let Some(ix) = (ox * s + kx * d).checked_sub(g.pad_l) else {
                    continue;
                };
                if ix < g.wd {
                    let xv = S::load_masked(t.mask, row.add(ix * c + t.cb));
                    acc = S::fma(xv, *wk, acc);
                }
            }
        }
        S::store_masked(orow.add(ox * c + t.cb), t.mask, activate::<S>(acc, act));
    }
}

#[cfg(test)]
mod depthwise_tests {
    use super::*;
    use crate::kernels::test_reference::{conv2d_nhwc, max_abs_diff};
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
            let wc = w
                .permute((2, 0, 1))
                .unwrap()
                .unsqueeze(1)
                .unwrap()
                .contiguous()
                .unwrap();
            let reference = conv2d_nhwc(&x, pads, &wc, stride, dilation, 5);
            assert_eq!(ours.dims(), reference.dims());
            assert!(
                max_abs_diff(&ours, &reference) < 1e-4,
                "stride {stride} dilation {dilation}"
            );
        }
        let _ = Tensor::zeros((1, 1), candle_core::DType::F32, &dev)
            .unwrap()
            .i(0);
    }

    /// 3x3 and 5x5 windows (the AVX-512 kernel's), 1x1 (the plain loop's), several 16-channel
    /// blocks plus a ragged one, rows wide enough for four-pixel groups, with bias and ReLU6.
    #[test]
    fn depthwise_with_bias_and_activation_matches_candle_grouped_conv() {
        let dev = Device::Cpu;
        for (k, c, stride, dilation, pads) in [
            (3, 37, 1, 1, [1, 1, 1, 1]),
            (3, 16, 2, 1, [0, 1, 0, 1]),
            (5, 37, 1, 1, [2, 2, 2, 2]),
            (5, 24, 2, 1, [1, 2, 1, 2]),
            (3, 8, 1, 2, [2, 2, 2, 2]),
            (1, 20, 1, 1, [0, 0, 0, 0]),
        ] {
            let x = Tensor::randn(0f32, 1.0, (2, 11, 23, c), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (k, k, c), &dev).unwrap();
            let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.1 - 1.0).collect();
            let dims = x.dims4().unwrap();
            let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
            let ws: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
            let (ours, d) = depthwise_nhwc_slice(
                &xs,
                dims,
                &ws,
                (k, k),
                stride,
                dilation,
                pads,
                Some(&bias),
                Activation::Relu6,
            )
            .unwrap();
            let ours = Tensor::from_vec(ours, d, &dev).unwrap();
            let wc = w
                .permute((2, 0, 1))
                .unwrap()
                .unsqueeze(1)
                .unwrap()
                .contiguous()
                .unwrap();
            let reference = conv2d_nhwc(&x, pads, &wc, stride, dilation, c)
                .broadcast_add(&Tensor::new(bias.as_slice(), &dev).unwrap())
                .unwrap()
                .clamp(0f32, 6f32)
                .unwrap();
            assert_eq!(ours.dims(), reference.dims());
            let diff = max_abs_diff(&ours, &reference);
            assert!(
                diff < 1e-4,
                "{k}x{k} c={c} stride {stride} dilation {dilation}: {diff}"
            );
        }
    }
}
