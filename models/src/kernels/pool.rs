//! Pooling whose windows tile the input, directly on NHWC data.

use candle_core::{Result, Tensor};

use super::{with_f32_slice, Dims4};

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

/// Max or average pooling of NHWC data `xs` over `k` windows every `stride`, the input seen
/// padded by `pads` (top, bottom, left, right). Padded positions are left out, as TF does: a
/// max ignores them, an average divides by the positions inside the input. Output rows are
/// spread over rayon's threads.
pub fn pool_nhwc_slice(
    xs: &[f32],
    (n, h, w, c): Dims4,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    [pt, pb, pl, pr]: [usize; 4],
    max: bool,
) -> Result<(Vec<f32>, Dims4)> {
    if h + pt + pb < kh || w + pl + pr < kw || sh == 0 || sw == 0 {
        candle_core::bail!("pool input {h}x{w} is smaller than its {kh}x{kw} window");
    }
    let (oh, ow) = ((h + pt + pb - kh) / sh + 1, (w + pl + pr - kw) / sw + 1);
    let mut out = vec![0f32; n * oh * ow * c];
    if c == 0 {
        return Ok((out, (n, oh, ow, c)));
    }
    crate::team::for_each_chunk_mut(&mut out, ow * c, |row, orow| {
        let (b, oy) = (row / oh, row % oh);
        // The window's rows inside the input: [y0, y1).
        let y0 = (oy * sh).saturating_sub(pt);
        let y1 = (oy * sh + kh).saturating_sub(pt).min(h);
        for (ox, o) in orow.chunks_exact_mut(c).enumerate() {
            let x0 = (ox * sw).saturating_sub(pl);
            let x1 = (ox * sw + kw).saturating_sub(pl).min(w);
            o.fill(if max { f32::NEG_INFINITY } else { 0.0 });
            for y in y0..y1 {
                let line = &xs[((b * h + y) * w + x0) * c..((b * h + y) * w + x1) * c];
                for px in line.chunks_exact(c) {
                    if max {
                        o.iter_mut().zip(px).for_each(|(o, &v)| *o = o.max(v));
                    } else {
                        o.iter_mut().zip(px).for_each(|(o, &v)| *o += v);
                    }
                }
            }
            if !max {
                let inside = ((y1 - y0) * (x1 - x0)).max(1) as f32;
                o.iter_mut().for_each(|v| *v /= inside);
            }
        }
    });
    Ok((out, (n, oh, ow, c)))
}

/// The mean over H and W of NHWC data (global average pooling): `[N, C]`, one pass over the
/// input with the channel loop innermost.
pub fn mean_hw_nhwc(xs: &[f32], (n, h, w, c): Dims4) -> Vec<f32> {
    let mut out = vec![0f32; n * c];
    let scale = 1.0 / (h * w).max(1) as f32;
    for (b, o) in out.chunks_exact_mut(c.max(1)).enumerate().take(n) {
        for px in xs[b * h * w * c..(b + 1) * h * w * c].chunks_exact(c.max(1)) {
            o.iter_mut().zip(px).for_each(|(o, &v)| *o += v);
        }
        o.iter_mut().for_each(|v| *v *= scale);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_reference::max_abs_diff;
    use candle_core::Device;

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
            let diff = max_abs_diff(&ours, &r);
            assert!(diff < 1e-5, "max={max}: {diff}");
        }
    }

    /// Overlapping windows with padding, against candle's pools on an input padded by hand
    /// (-inf for max; for the average, padding left out of the count, so only VALID compares).
    #[test]
    fn windowed_pools_match_candle_pools() {
        let x = Tensor::randn(0f32, 1.0, (2, 9, 11, 5), &Device::Cpu).unwrap();
        let dims = x.dims4().unwrap();
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        for (max, pads) in [(true, [1, 1, 0, 2]), (true, [0; 4]), (false, [0; 4])] {
            let (ours, d) = pool_nhwc_slice(&xs, dims, (3, 3), (2, 2), pads, max).unwrap();
            let ours = Tensor::from_vec(ours, d, &Device::Cpu).unwrap();
            let [t, b, l, r] = pads;
            let xc = x.permute((0, 3, 1, 2)).unwrap();
            let xc = crate::kernels::conv::pad_const(&xc, 2, t, b, f32::NEG_INFINITY).unwrap();
            let xc = crate::kernels::conv::pad_const(&xc, 3, l, r, f32::NEG_INFINITY).unwrap();
            let xc = xc.contiguous().unwrap();
            let want = if max {
                xc.max_pool2d_with_stride(3, 2)
            } else {
                xc.avg_pool2d_with_stride(3, 2)
            }
            .unwrap()
            .permute((0, 2, 3, 1))
            .unwrap();
            assert_eq!(ours.dims(), want.dims(), "max={max} pads={pads:?}");
            let diff = max_abs_diff(&ours, &want);
            assert!(diff < 1e-5, "max={max} pads={pads:?}: {diff}");
        }
    }

    #[test]
    fn spatial_mean_matches_candle() {
        let x = Tensor::randn(0f32, 1.0, (2, 5, 7, 19), &Device::Cpu).unwrap();
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let ours =
            Tensor::from_vec(mean_hw_nhwc(&xs, x.dims4().unwrap()), (2, 19), &Device::Cpu).unwrap();
        let want = x.mean(2).unwrap().mean(1).unwrap();
        assert!(max_abs_diff(&ours, &want) < 1e-5);
    }

    /// TF's SAME average divides by the positions inside the input: a corner window of a
    /// constant input averages to the constant, not to a fraction of it.
    #[test]
    fn a_padded_average_leaves_the_padding_out() {
        let xs = vec![2f32; 4 * 4];
        let (out, d) =
            pool_nhwc_slice(&xs, (1, 4, 4, 1), (3, 3), (1, 1), [1, 1, 1, 1], false).unwrap();
        assert_eq!(d, (1, 4, 4, 1));
        assert!(out.iter().all(|&v| (v - 2.0).abs() < 1e-6), "{out:?}");
    }
}
