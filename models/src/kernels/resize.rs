//! Bilinear resize with TF's coordinate rules (`align_corners`, `half_pixel_centers`).

use candle_core::{Result, Tensor};

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
}
