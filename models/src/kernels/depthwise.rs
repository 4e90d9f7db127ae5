//! Depthwise convolution (channel multiplier 1) directly on NHWC data.

use candle_core::{Result, Tensor};

use super::conv::output_size;
use super::gemm::Activation;
use super::sync_ptr::SyncPtr;
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
            wd,
            c,
            stride,
            dilation,
            pad_l,
            ow,
        };
        // Not zeroed first: the kernel writes every value of every task's part.
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let dst = SyncPtr::new_uninit(&mut out.spare_capacity_mut()[..len]);
        let rows = n * oh;
        let per_row = channel_splits(rows, c, crate::team::size());
        let span = c.div_ceil(per_row);
        crate::team::for_each(rows * per_row, |task| {
            let (row, part) = (task / per_row, task % per_row);
            let (b, oy) = (row / oh, row % oh);
            let chans = part * span..((part + 1) * span).min(c);
            let image = &xs[b * h * wd * c..(b + 1) * h * wd * c];
            let rows = input_rows(image, (h, wd, c), kh, oy, stride, dilation, pad_t);
            // SAFETY: `level` was detected on this CPU; each row is `wd * c` values of the
            // image, `w` holds kh*kw*c values and the bias c (checked above); the task writes
            // only channels `chans` of output row `row`, which no other task writes.
            unsafe {
                let orow = dst.ptr().add(row * ow * c);
                x86::row(level, &window, (kh, kw), &rows, w, bias, act, chans, orow)
            }
        });
        // SAFETY: the tasks cover every (row, channel) pair and `x86::row` wrote each value.
        unsafe { out.set_len(len) };
        return Ok((out, (n, oh, ow, c)));
    }
    let mut out = vec![0f32; len];
    crate::team::for_each_chunk_mut(&mut out, ow * c, |row, orow| {
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

/// Most tap rows a SIMD kernel has (5x5).
const MAX_KH: usize = 5;

/// The input row under each of the `kh` tap rows of output row `oy` (None: in the padding).
fn input_rows(
    image: &[f32],
    (h, wd, c): (usize, usize, usize),
    kh: usize,
    oy: usize,
    stride: usize,
    dilation: usize,
    pad_t: usize,
) -> [Option<*const f32>; MAX_KH] {
    std::array::from_fn(|ky| {
        let iy = tap_row(oy, ky, stride, dilation, pad_t, h).filter(|_| ky < kh)?;
        Some(image[iy * wd * c..(iy + 1) * wd * c].as_ptr())
    })
}

/// The input row under tap row `ky` of output row `oy` of an `h`-row input padded by `pad_t`
/// on top; None where it falls in the padding.
pub(crate) fn tap_row(
    oy: usize,
    ky: usize,
    stride: usize,
    dilation: usize,
    pad_t: usize,
    h: usize,
) -> Option<usize> {
    (oy * stride + ky * dilation)
        .checked_sub(pad_t)
        .filter(|&iy| iy < h)
}

/// Whether [`depthwise_row`] runs here: a SIMD kernel for this window on this CPU.
pub fn row_available(k: (usize, usize)) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::summarize::qkernels::simd_level().is_some() && x86::has_kernel(k)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = k;
        false
    }
}

/// One output row of [`depthwise_nhwc_slice`] (dilation 1), all `c` channels, from the input
/// rows under its tap rows: `rows[ky]` is `wd * c` values, None where it falls in the
/// padding. For callers that produce their input a few rows at a time (a fused block's ring
/// of expanded rows, `classify::efficientnet_lite`). Writes all `out.len() / c` pixels.
///
/// # Panics
/// Where not [`row_available`], or on lengths that do not match.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_row(
    rows: &[Option<&[f32]>],
    (wd, c): (usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    pad_l: usize,
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    out: &mut [f32],
) {
    // The kernel, filter and bias are checked by `depthwise_row_channels`; these slices
    // only here.
    assert!(rows.len() == kh && rows.iter().flatten().all(|r| r.len() == wd * c));
    assert!(out.len().is_multiple_of(c));
    let ow = out.len() / c;
    let ptrs: [Option<*const f32>; MAX_KH] =
        std::array::from_fn(|ky| rows.get(ky).copied().flatten().map(|r| r.as_ptr()));
    // SAFETY: each row is `wd * c` values (asserted) that nothing writes while we read;
    // `out` is this row's `ow * c` values, all ours.
    unsafe {
        depthwise_row_channels(
            &ptrs[..kh],
            (wd, c),
            (kh, kw),
            stride,
            pad_l,
            (w, bias, act),
            (0..c, ow),
            out.as_mut_ptr(),
        )
    }
}

/// [`depthwise_row`] for channels `chans` only, into an output row of `ow` pixels at `out`
/// that other threads may be writing other channels of (a block split by channel ranges,
/// `classify::efficientnet_lite`).
///
/// # Safety
/// Each of `rows` (None: in the padding) points to an input row of `wd * c` values whose
/// channels `chans` are initialised and not being written; `out` points to `ow * c` values
/// that no other thread writes in channels `chans`.
///
/// # Panics
/// Where not [`row_available`], or on lengths that do not match.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn depthwise_row_channels(
    rows: &[Option<*const f32>],
    (wd, c): (usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    pad_l: usize,
    (w, bias, act): (&[f32], Option<&[f32]>, Activation),
    (chans, ow): (std::ops::Range<usize>, usize),
    out: *mut f32,
) {
    assert!(
        row_available((kh, kw)),
        "no depthwise row kernel for {kh}x{kw} here"
    );
    assert!(rows.len() == kh && kh <= MAX_KH);
    assert!(w.len() == kh * kw * c && bias.is_none_or(|b| b.len() == c) && chans.end <= c);
    #[cfg(target_arch = "x86_64")]
    {
        let level = crate::summarize::qkernels::simd_level().expect("checked above");
        let ptrs: [Option<*const f32>; MAX_KH] =
            std::array::from_fn(|ky| rows.get(ky).copied().flatten());
        let window = x86::Window {
            wd,
            c,
            stride,
            dilation: 1,
            pad_l,
            ow,
        };
        // SAFETY: the level was detected on this CPU and the window has a kernel (asserted);
        // the lengths were checked above; `out`'s contract is the caller's.
        unsafe { x86::row(level, &window, (kh, kw), &ptrs, w, bias, act, chans, out) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (wd, stride, pad_l, act, chans, ow, out);
}

/// Into how many channel ranges each output row is split, so that small late layers (7x7
/// outputs: seven rows for two threads) still give every thread several tasks to balance.
/// Ranges stay multiples of 64 channels (whole vector groups at every level).
fn channel_splits(rows: usize, c: usize, threads: usize) -> usize {
    const MIN_CHANNELS: usize = 64;
    let wanted = 8 * threads.max(1);
    if rows >= wanted {
        return 1;
    }
    let most = c.div_ceil(MIN_CHANNELS).max(1);
    let parts = wanted.div_ceil(rows).min(most);
    // Whole multiples of MIN_CHANNELS per range, then as few ranges as that allows.
    let span = c.div_ceil(parts).div_ceil(MIN_CHANNELS) * MIN_CHANNELS;
    c.div_ceil(span).max(1)
}

/// The SIMD kernel, written once over [`Lanes`] and compiled for AVX-512 and AVX2. Each output
/// value is `act(bias + sum of taps)`, accumulated in registers and stored once. Interior
/// pixels (whole window inside the input) go four at a time by two vectors of channels: eight
/// independent accumulators, enough to hide the FMA latency, and each weight vector loaded
/// once for four pixels. Border pixels go one at a time over only their valid taps (no
/// per-tap bounds checks) by four vectors of channels, again so that the sums are independent
/// chains: on a 7x7 output with a 5x5 window four of seven pixels per row are borders, and one
/// accumulator per pixel left that layer waiting on FMA latency.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::ops::Range;

    use crate::kernels::gemm::Activation;
    use crate::kernels::simd::{activate, Avx2, Avx512, Lanes};
    use crate::summarize::qkernels::Simd;

    /// The geometry shared by all rows of one call, along a row (the caller finds the rows).
    pub struct Window {
        pub wd: usize,
        pub c: usize,
        pub stride: usize,
        pub dilation: usize,
        pub pad_l: usize,
        pub ow: usize,
    }

    /// One task: an output row's channel range, and the input rows its taps read.
    struct Task<'a, const KH: usize> {
        g: &'a Window,
        /// The input row of each tap row (None: in the padding).
        rows: [Option<*const f32>; KH],
        w: *const f32,
        bias: Option<*const f32>,
        act: Activation,
        out: *mut f32,
    }

    /// True for the window sizes with a kernel here (3x3 and 5x5).
    pub fn has_kernel(k: (usize, usize)) -> bool {
        matches!(k, (3, 3) | (5, 5))
    }

    /// Writes channels `chans` of every pixel of one output row to `out` (the row's start),
    /// from `rows[ky]`, the input row under tap row `ky` (None: in the padding).
    ///
    /// # Safety
    /// The CPU must have `level`'s instructions; `k` [`has_kernel`]; each row is `wd * c`
    /// values, `w` `kh * kw * c`, `bias` (if any) `c`; `out` has `ow * c` values, and
    /// `chans` lies within `0..c`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn row(
        level: Simd,
        g: &Window,
        k: (usize, usize),
        rows: &[Option<*const f32>],
        w: &[f32],
        bias: Option<&[f32]>,
        act: Activation,
        chans: Range<usize>,
        out: *mut f32,
    ) {
        assert!(has_kernel(k) && chans.end <= g.c && rows.len() >= k.0);
        let (w, bias) = (w.as_ptr(), bias.map(|b| b.as_ptr()));
        match (level, k) {
            (Simd::Avx512, (3, 3)) => row_avx512::<3, 3>(&task(g, rows, w, bias, act, out), chans),
            (Simd::Avx512, _) => row_avx512::<5, 5>(&task(g, rows, w, bias, act, out), chans),
            (Simd::Avx2, (3, 3)) => row_avx2::<3, 3>(&task(g, rows, w, bias, act, out), chans),
            (Simd::Avx2, _) => row_avx2::<5, 5>(&task(g, rows, w, bias, act, out), chans),
        }
    }

    /// The task for a `KH`-row window (`rows` has at least `KH` entries).
    fn task<'a, const KH: usize>(
        g: &'a Window,
        rows: &[Option<*const f32>],
        w: *const f32,
        bias: Option<*const f32>,
        act: Activation,
        out: *mut f32,
    ) -> Task<'a, KH> {
        Task {
            g,
            rows: std::array::from_fn(|ky| rows[ky]),
            w,
            bias,
            act,
            out,
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn row_avx512<const KH: usize, const KW: usize>(t: &Task<KH>, chans: Range<usize>) {
        row_k::<Avx512, KH, KW>(t, chans)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn row_avx2<const KH: usize, const KW: usize>(t: &Task<KH>, chans: Range<usize>) {
        row_k::<Avx2, KH, KW>(t, chans)
    }

    #[inline(always)]
    unsafe fn row_k<S: Lanes, const KH: usize, const KW: usize>(t: &Task<KH>, chans: Range<usize>) {
        let g = t.g;
        let (s, d) = (g.stride, g.dilation);
        // Output pixels whose whole window lies inside the input row: [in0, in1).
        let in0 = g.pad_l.div_ceil(s).min(g.ow);
        let last = (KW - 1) * d;
        let in1 = if g.wd + g.pad_l > last {
            ((g.wd + g.pad_l - last - 1) / s + 1).clamp(in0, g.ow)
        } else {
            in0
        };
        // Where both channel widths slide, whole rows do (AVX-512, stride 1 or 2): the edge
        // groups read zeros for columns in the padding. Elsewhere the interior slides or goes
        // by `pixels`, and the borders follow.
        let whole = whole_row_stride::<S, KW>(g);
        // Channel pairs of vectors, then single (possibly ragged) vectors.
        let mut cb = chans.start;
        while cb < chans.end {
            let left = chans.end - cb;
            if left >= 2 * S::N {
                channels::<S, KH, KW, 2>(t, in0..in1, whole, cb, S::mask(S::N));
                cb += 2 * S::N;
            } else {
                channels::<S, KH, KW, 1>(t, in0..in1, whole, cb, S::mask(left));
                cb += S::N;
            }
        }
        if whole.is_some() {
            return;
        }
        // Borders: only the valid taps, four vectors of channels at a time.
        for ox in (0..in0).chain(in1..g.ow) {
            let first = g.pad_l.saturating_sub(ox * s).div_ceil(d).min(KW);
            let end = (g.wd + g.pad_l)
                .saturating_sub(ox * s)
                .div_ceil(d)
                .clamp(first, KW);
            let mut cb = chans.start;
            while cb < chans.end {
                let left = chans.end - cb;
                if left >= 4 * S::N {
                    pixels::<S, KH, KW, 1, 4>(t, ox, first..end, cb, S::mask(S::N));
                    cb += 4 * S::N;
                } else {
                    pixels::<S, KH, KW, 1, 1>(t, ox, first..end, cb, S::mask(left));
                    cb += S::N;
                }
            }
        }
    }

    /// Whether [`sliding`] holds its inputs, weights and sums in registers for `CV` vectors of
    /// channels at stride `st`: spilled, it ran slower than [`pixels`] on AVX2.
    fn slide_fits<S: Lanes, const KW: usize>(cv: usize, st: usize) -> bool {
        (4 + 3 * st + KW + 1) * cv <= S::REGISTERS
    }

    /// The stride at which whole rows slide, pairs of channel vectors included (AVX-512 at
    /// stride 1 or 2, dilation 1); None where only the interior does.
    fn whole_row_stride<S: Lanes, const KW: usize>(g: &Window) -> Option<usize> {
        (g.dilation == 1 && matches!(g.stride, 1 | 2) && slide_fits::<S, KW>(2, g.stride))
            .then_some(g.stride)
    }

    /// `CV` vectors of channels from `cb`: the whole row where it slides at stride `whole`,
    /// else the interior pixels `inner` only.
    #[inline(always)]
    unsafe fn channels<S: Lanes, const KH: usize, const KW: usize, const CV: usize>(
        t: &Task<KH>,
        inner: Range<usize>,
        whole: Option<usize>,
        cb: usize,
        mask: S::Mask,
    ) {
        match whole {
            Some(st) => slide_row::<S, KH, KW, CV>(t, inner, st, cb, mask),
            None => interior::<S, KH, KW, CV>(t, inner, cb, mask),
        }
    }

    /// Every pixel of the row for `CV` vectors of channels from `cb`, four at a time by
    /// [`sliding`]: groups inside `inner` (whole windows in the input) read the input as is,
    /// the others take zeros for the columns in the padding. On a 14x14 image under a 5x5
    /// window four of 14 pixels a row are borders; one at a time by [`pixels`] they took 40 %
    /// of the layer's time (two loads an FMA), on a 7x7 image more.
    #[inline(always)]
    unsafe fn slide_row<S: Lanes, const KH: usize, const KW: usize, const CV: usize>(
        t: &Task<KH>,
        inner: Range<usize>,
        st: usize,
        cb: usize,
        mask: S::Mask,
    ) {
        let ow = t.g.ow;
        let mut ox = 0;
        while ox < ow {
            let p = (ow - ox).min(4);
            let pad = ox < inner.start || ox + p > inner.end;
            macro_rules! go {
                ($p:literal) => {
                    match (st, pad) {
                        (1, false) => sliding::<S, KH, KW, $p, CV, 1, false>(t, ox, cb, mask),
                        (1, true) => sliding::<S, KH, KW, $p, CV, 1, true>(t, ox, cb, mask),
                        (_, false) => sliding::<S, KH, KW, $p, CV, 2, false>(t, ox, cb, mask),
                        (_, true) => sliding::<S, KH, KW, $p, CV, 2, true>(t, ox, cb, mask),
                    }
                };
            }
            match p {
                4 => go!(4),
                3 => go!(3),
                2 => go!(2),
                _ => go!(1),
            }
            ox += p;
        }
    }

    /// The interior pixels `px` for `CV` vectors of channels from `cb`: four at a time, then
    /// the last one to three.
    #[inline(always)]
    unsafe fn interior<S: Lanes, const KH: usize, const KW: usize, const CV: usize>(
        t: &Task<KH>,
        px: Range<usize>,
        cb: usize,
        mask: S::Mask,
    ) {
        let mut ox = px.start;
        // Sliding only where its four accumulators, inputs and weights fit in registers
        // (AVX-512; AVX2 for one vector of channels at stride 1); spilled, it ran slower
        // than `pixels` on AVX2. Fewer than four pixels (a 7x7 image under a 5x5 window has
        // three interior ones a row) slide too.
        let fits = |st: usize| slide_fits::<S, KW>(CV, st);
        let slide = match (t.g.stride, t.g.dilation) {
            (1, 1) if fits(1) => 1,
            (2, 1) if fits(2) => 2,
            _ => 0,
        };
        while ox + 4 <= px.end {
            match slide {
                1 => sliding::<S, KH, KW, 4, CV, 1, false>(t, ox, cb, mask),
                2 => sliding::<S, KH, KW, 4, CV, 2, false>(t, ox, cb, mask),
                _ => pixels::<S, KH, KW, 4, CV>(t, ox, 0..KW, cb, mask),
            }
            ox += 4;
        }
        match (px.end - ox, slide) {
            (3, 1) => sliding::<S, KH, KW, 3, CV, 1, false>(t, ox, cb, mask),
            (3, 2) => sliding::<S, KH, KW, 3, CV, 2, false>(t, ox, cb, mask),
            (3, _) => pixels::<S, KH, KW, 3, CV>(t, ox, 0..KW, cb, mask),
            (2, 1) => sliding::<S, KH, KW, 2, CV, 1, false>(t, ox, cb, mask),
            (2, 2) => sliding::<S, KH, KW, 2, CV, 2, false>(t, ox, cb, mask),
            (2, _) => pixels::<S, KH, KW, 2, CV>(t, ox, 0..KW, cb, mask),
            (1, _) => pixels::<S, KH, KW, 1, CV>(t, ox, 0..KW, cb, mask),
            _ => {}
        }
    }

    /// `CV` vectors from `p`: one may be ragged (`mask`), several are whole.
    #[inline(always)]
    unsafe fn load<S: Lanes, const CV: usize>(mask: S::Mask, p: *const f32) -> S::V {
        if CV == 1 {
            S::load_masked(mask, p)
        } else {
            S::load(p)
        }
    }

    /// The bias of channels `cb..` (zero without one): where every pixel's sums start.
    #[inline(always)]
    unsafe fn bias_at<S: Lanes, const KH: usize, const CV: usize>(
        t: &Task<KH>,
        cb: usize,
        mask: S::Mask,
    ) -> [S::V; CV] {
        std::array::from_fn(|v| match t.bias {
            Some(b) => load::<S, CV>(mask, b.add(cb + v * S::N)),
            None => S::zero(),
        })
    }

    /// Stores `act(sum)` of `P` pixels from `ox`, channels `cb..`.
    #[inline(always)]
    unsafe fn store<S: Lanes, const KH: usize, const P: usize, const CV: usize>(
        t: &Task<KH>,
        acc: &[[S::V; CV]; P],
        ox: usize,
        cb: usize,
        mask: S::Mask,
    ) {
        let c = t.g.c;
        for (p, acc) in acc.iter().enumerate() {
            let o = t.out.add((ox + p) * c + cb);
            for (v, a) in acc.iter().enumerate() {
                let y = activate::<S>(*a, t.act);
                if CV == 1 {
                    S::store_masked(o, mask, y)
                } else {
                    S::store(o.add(v * S::N), y)
                }
            }
        }
    }

    /// Inputs a [`sliding`] row holds at most: `(P - 1) * stride + KW` for four pixels, a
    /// stride of 2 and a 5-wide window.
    const SPAN_MAX: usize = 11;

    /// [`pixels`] for `P` pixels at stride `ST` (dilation 1): each tap row's inputs under the
    /// `P` windows are loaded once and shared by the windows' taps (`(P - 1) * ST + KW` loads
    /// instead of `P * KW`). Every sum takes the same taps in the same order as in [`pixels`]:
    /// the same bits. With `PAD` the windows may reach into the left or right padding, whose
    /// columns read as zeros (adding `0 * w` leaves a sum as it was, but for the sign of a zero).
    #[inline(always)]
    unsafe fn sliding<
        S: Lanes,
        const KH: usize,
        const KW: usize,
        const P: usize,
        const CV: usize,
        const ST: usize,
        const PAD: bool,
    >(
        t: &Task<KH>,
        ox: usize,
        cb: usize,
        mask: S::Mask,
    ) {
        let g = t.g;
        let c = g.c;
        let span = (P - 1) * ST + KW;
        debug_assert!(span <= SPAN_MAX && g.dilation == 1);
        let load = |p: *const f32| load::<S, CV>(mask, p);
        let mut acc = [bias_at::<S, KH, CV>(t, cb, mask); P];
        for (ky, row) in t.rows.iter().enumerate() {
            let Some(row) = *row else { continue };
            let mut xs = [[S::zero(); CV]; SPAN_MAX];
            for (i, x) in xs.iter_mut().enumerate().take(span) {
                // The input column under window column `i` (wrapping: left of the input
                // reads as past its end).
                let col = (ox * ST + i).wrapping_sub(g.pad_l);
                if PAD && col >= g.wd {
                    continue;
                }
                let xp = row.add(col * c + cb);
                for (v, x) in x.iter_mut().enumerate() {
                    *x = load(xp.add(v * S::N));
                }
            }
            for k in 0..KW {
                let wp = t.w.add((ky * KW + k) * c + cb);
                let wv: [S::V; CV] = std::array::from_fn(|v| load(wp.add(v * S::N)));
                for (p, acc) in acc.iter_mut().enumerate() {
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = S::fma(xs[p * ST + k][v], wv[v], *a);
                    }
                }
            }
        }
        store::<S, KH, P, CV>(t, &acc, ox, cb, mask);
    }

    /// `P` output pixels from `ox`, all reading taps `kx` of each valid tap row, times `CV`
    /// vectors of channels from `cb` (a single vector may be ragged: `mask`; several are
    /// whole). Stores `act(bias + taps)`.
    #[inline(always)]
    unsafe fn pixels<
        S: Lanes,
        const KH: usize,
        const KW: usize,
        const P: usize,
        const CV: usize,
    >(
        t: &Task<KH>,
        ox: usize,
        kx: Range<usize>,
        cb: usize,
        mask: S::Mask,
    ) {
        let g = t.g;
        let (s, d, c) = (g.stride, g.dilation, g.c);
        let load = |p: *const f32| load::<S, CV>(mask, p);
        let mut acc = [bias_at::<S, KH, CV>(t, cb, mask); P];
        for (ky, row) in t.rows.iter().enumerate() {
            let Some(row) = *row else { continue };
            for k in kx.clone() {
                let wp = t.w.add((ky * KW + k) * c + cb);
                let wv: [S::V; CV] = std::array::from_fn(|v| load(wp.add(v * S::N)));
                // Valid taps only, so the column is never left of the input.
                let x0 = row.add((ox * s + k * d - g.pad_l) * c + cb);
                for (p, acc) in acc.iter_mut().enumerate() {
                    let xp = x0.add(p * s * c);
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = S::fma(load(xp.add(v * S::N)), wv[v], *a);
                    }
                }
            }
        }
        store::<S, KH, P, CV>(t, &acc, ox, cb, mask);
    }
}

#[cfg(test)]
mod depthwise_tests {
    use super::*;

    #[test]
    fn channel_splits_keep_every_thread_busy_on_small_images() {
        // Enough rows: one task a row.
        assert_eq!(channel_splits(112, 96, 2), 1);
        // 7 rows of 1152 channels for 2 threads: 3 ranges of 384 channels, 21 tasks.
        assert_eq!(channel_splits(7, 1152, 2), 3);
        // Ranges stay whole multiples of 64 channels, the last one ragged.
        assert_eq!(channel_splits(7, 200, 2), 2);
        // Never more ranges than 64-channel groups.
        assert_eq!(channel_splits(1, 100, 8), 2);
        assert_eq!(channel_splits(1, 3, 2), 1);
    }
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

    /// 3x3 and 5x5 windows (the SIMD kernels'), 1x1 (the plain loop's); channel counts that
    /// leave whole vector groups plus a ragged vector at both levels (37, 200); rows wide
    /// enough for four-pixel groups and their remainders; images small enough that borders
    /// meet (7x7 under a 5x5 window has three interior pixels a row, 5x5 none, 2 is narrower
    /// than the window) and that rows are split by channel ranges ([`channel_splits`]); with
    /// bias and ReLU6.
    #[test]
    fn depthwise_with_bias_and_activation_matches_candle_grouped_conv() {
        let dev = Device::Cpu;
        for ((h, wd), k, c, stride, dilation, pads) in [
            ((11, 23), 3, 37, 1, 1, [1, 1, 1, 1]),
            ((11, 23), 3, 16, 2, 1, [0, 1, 0, 1]),
            ((11, 23), 5, 37, 1, 1, [2, 2, 2, 2]),
            ((11, 23), 5, 24, 2, 1, [1, 2, 1, 2]),
            ((11, 23), 3, 8, 1, 2, [2, 2, 2, 2]),
            ((11, 23), 1, 20, 1, 1, [0, 0, 0, 0]),
            ((7, 7), 5, 200, 1, 1, [2, 2, 2, 2]),
            ((5, 5), 5, 200, 1, 1, [2, 2, 2, 2]),
            ((14, 14), 5, 200, 2, 1, [1, 2, 1, 2]),
            ((7, 10), 3, 200, 1, 1, [1, 1, 1, 1]),
            // Narrower than the window, both edges padded in one group; stride 2 with the
            // left padding larger than the stride.
            ((3, 2), 5, 40, 1, 1, [2, 2, 2, 2]),
            ((9, 9), 5, 72, 2, 1, [2, 2, 2, 2]),
        ] {
            let x = Tensor::randn(0f32, 1.0, (2, h, wd, c), &dev).unwrap();
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
