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
}
