//! What the kernels' tests compare against: candle's own NCHW convolution on the same NHWC
//! data, and the largest difference between two results.

use candle_core::Tensor;

/// Largest |a - b| over all elements. tests/twin_support has the same function: that is an
/// integration-test crate, which sees only the public API, and this is `cfg(test)` crate code.
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// candle's `conv2d` on NHWC `x` zero-padded by `pads` (top, bottom, left, right), with an
/// OIHW filter; the result back in NHWC.
pub(crate) fn conv2d_nhwc(
    x: &Tensor,
    pads: [usize; 4],
    w_oihw: &Tensor,
    stride: usize,
    dilation: usize,
    groups: usize,
) -> Tensor {
    x.permute((0, 3, 1, 2))
        .unwrap()
        .pad_with_zeros(2, pads[0], pads[1])
        .unwrap()
        .pad_with_zeros(3, pads[2], pads[3])
        .unwrap()
        .contiguous()
        .unwrap()
        .conv2d(w_oihw, 0, stride, dilation, groups)
        .unwrap()
        .permute((0, 2, 3, 1))
        .unwrap()
}

/// `n` deterministic pseudo-random values in [-1, 1) (an LCG; no rand dependency), for kernel
/// tests that compare two paths on the same data.
pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}
