//! Pooling whose windows tile the input, directly on NHWC data.

use candle_core::{Result, Tensor};

use super::with_f32_slice;

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
}
