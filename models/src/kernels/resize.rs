//! Bilinear resize with TF's coordinate rules (`align_corners`, `half_pixel_centers`).

use candle_core::{Result, Tensor};

use super::{with_f32_slice, Dims4};

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

/// Bilinear resize of an NHWC tensor to `(height, width)`.
pub fn resize_bilinear_nhwc(
    x: &Tensor,
    height: usize,
    width: usize,
    align_corners: bool,
    half_pixel: bool,
) -> Result<Tensor> {
    let dims = x.dims4()?;
    let out = with_f32_slice(x, |xs| {
        resize_bilinear_nhwc_slice(xs, dims, (height, width), align_corners, half_pixel)
    })?;
    Tensor::from_vec(out, (dims.0, height, width, dims.3), x.device())
}

/// [`resize_bilinear_nhwc`] on a slice of `dims` (N, H, W, C), in one pass: output rows over
/// rayon's threads, the four taps of a pixel read once and blended in TF's order
/// (`top = tl + (tr - tl)·fx`, `bottom` likewise, `top + (bottom - top)·fy`), the channel loop
/// innermost and contiguous so it vectorises. Through candle it was ten ops (two index
/// selects, a subtract, a multiply and an add per axis), each a pass and an allocation: a
/// third of Selfie's forward.
pub fn resize_bilinear_nhwc_slice(
    xs: &[f32],
    (n, h, w, c): Dims4,
    (oh, ow): (usize, usize),
    align_corners: bool,
    half_pixel: bool,
) -> Vec<f32> {
    assert_eq!(xs.len(), n * h * w * c, "resize input");
    let (ylo, yhi, fy) = bilinear_taps(h, oh, align_corners, half_pixel);
    let (xlo, xhi, fx) = bilinear_taps(w, ow, align_corners, half_pixel);
    let mut out = vec![0f32; n * oh * ow * c];
    if c == 0 || ow == 0 {
        return out;
    }
    crate::team::for_each_chunk_mut(&mut out, ow * c, |row, orow| {
        let (b, oy) = (row / oh, row % oh);
        let image = &xs[b * h * w * c..(b + 1) * h * w * c];
        let top = &image[ylo[oy] as usize * w * c..][..w * c];
        let bottom = &image[yhi[oy] as usize * w * c..][..w * c];
        let fy = fy[oy];
        for (ox, o) in orow.chunks_exact_mut(c).enumerate() {
            let (l, r, fx) = (xlo[ox] as usize * c, xhi[ox] as usize * c, fx[ox]);
            let (tl, tr) = (&top[l..l + c], &top[r..r + c]);
            let (bl, br) = (&bottom[l..l + c], &bottom[r..r + c]);
            for i in 0..c {
                let t = tl[i] + (tr[i] - tl[i]) * fx;
                let b = bl[i] + (br[i] - bl[i]) * fx;
                o[i] = t + (b - t) * fy;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

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

    /// The two-pass resize through candle ops (height, then width), which this kernel
    /// replaced: the same values up to the order of the blend.
    fn resize_reference(x: &Tensor, oh: usize, ow: usize, ac: bool, hp: bool) -> Tensor {
        let axis = |x: &Tensor, axis: usize, out: usize| -> Tensor {
            let (lo, hi, frac) = bilinear_taps(x.dim(axis).unwrap(), out, ac, hp);
            let dev = x.device();
            let lo = x
                .index_select(&Tensor::new(lo, dev).unwrap(), axis)
                .unwrap();
            let hi = x
                .index_select(&Tensor::new(hi, dev).unwrap(), axis)
                .unwrap();
            let mut shape = vec![1usize; 4];
            shape[axis] = out;
            let w = Tensor::new(frac, dev).unwrap().reshape(shape).unwrap();
            lo.broadcast_add(&(hi - &lo).unwrap().broadcast_mul(&w).unwrap())
                .unwrap()
        };
        axis(&axis(x, 1, oh), 2, ow)
    }

    #[test]
    fn one_pass_resize_matches_the_two_pass_reference() {
        let dev = Device::Cpu;
        for (h, w, c, oh, ow) in [(8, 8, 3, 16, 16), (9, 7, 17, 4, 13), (5, 6, 1, 5, 6)] {
            let x = Tensor::randn(0f32, 1.0, (2, h, w, c), &dev).unwrap();
            for (ac, hp) in [(false, false), (true, false), (false, true)] {
                let got = resize_bilinear_nhwc(&x, oh, ow, ac, hp).unwrap();
                let want = resize_reference(&x, oh, ow, ac, hp);
                assert_eq!(got.dims(), want.dims());
                let diff = crate::kernels::test_reference::max_abs_diff(&got, &want);
                assert!(
                    diff < 1e-5,
                    "{h}x{w}x{c} -> {oh}x{ow} ac={ac} hp={hp}: {diff}"
                );
            }
        }
    }
}
