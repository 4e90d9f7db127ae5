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
