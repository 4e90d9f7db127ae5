//! Convolution as a matrix product on NHWC data: TF's SAME padding rule, constant padding, and
//! im2col patches that a TF HWIO filter multiplies directly (see [`super::gemm`]).

use candle_core::{Result, Tensor};

use super::with_f32_slice;

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

/// (OH, OW) of a `kh`x`kw` window sliding over an `h`x`wd` input padded by `pads` (top,
/// bottom, left, right); an input smaller than the window is an error naming `op`.
pub(crate) fn output_size(
    op: &str,
    (h, wd): (usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    dilation: usize,
    [pad_t, pad_b, pad_l, pad_r]: [usize; 4],
) -> Result<(usize, usize)> {
    let span_h = (kh - 1) * dilation + 1;
    let span_w = (kw - 1) * dilation + 1;
    if h + pad_t + pad_b < span_h || wd + pad_l + pad_r < span_w {
        candle_core::bail!("{op} input {h}x{wd} is smaller than its {kh}x{kw} window");
    }
    Ok((
        (h + pad_t + pad_b - span_h) / stride + 1,
        (wd + pad_l + pad_r - span_w) / stride + 1,
    ))
}

/// [`im2col_nhwc`] on a slice of `dims` (N, H, W, C); returns the patches and (N, OH, OW).
pub fn im2col_nhwc_slice(
    xs: &[f32],
    (n, h, wd, c): (usize, usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    dilation: usize,
    pads: [usize; 4],
) -> Result<(Vec<f32>, (usize, usize, usize))> {
    let (oh, ow) = output_size("conv", (h, wd), (kh, kw), stride, dilation, pads)?;
    let [pad_t, _, pad_l, _] = pads;
    let k = kh * kw * c;
    let len = n * oh * ow * k;
    // Not zeroed first: every tap is written, the padding's as zeros.
    let mut patches: Vec<f32> = Vec::with_capacity(len);
    crate::team::for_each_chunk_mut(
        &mut patches.spare_capacity_mut()[..len],
        ow * k,
        |row, prow| {
            let (b, oy) = (row / oh, row % oh);
            let image = &xs[b * h * wd * c..(b + 1) * h * wd * c];
            for ox in 0..ow {
                let patch = &mut prow[ox * k..(ox + 1) * k];
                // Whole window inside the row, taps adjacent: each tap row is one run of
                // kw * c values in the image (a stem's 3x3 over RGB: 9 values, not 3 taps of 3).
                let ix0 = (ox * stride) as isize - pad_l as isize;
                let inside = dilation == 1 && ix0 >= 0 && ix0 as usize + kw <= wd;
                for ky in 0..kh {
                    let iy = (oy * stride + ky * dilation) as isize - pad_t as isize;
                    if inside && iy >= 0 && (iy as usize) < h {
                        let src = (iy as usize * wd + ix0 as usize) * c;
                        let dst = &mut patch[ky * kw * c..(ky + 1) * kw * c];
                        for (d, s) in dst.iter_mut().zip(&image[src..src + kw * c]) {
                            d.write(*s);
                        }
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * stride + kx * dilation) as isize - pad_l as isize;
                        let dst = &mut patch[(ky * kw + kx) * c..(ky * kw + kx + 1) * c];
                        if iy < 0 || iy >= h as isize || ix < 0 || ix >= wd as isize {
                            dst.fill(std::mem::MaybeUninit::new(0.0));
                        } else {
                            let src = (iy as usize * wd + ix as usize) * c;
                            for (d, s) in dst.iter_mut().zip(&image[src..src + c]) {
                                d.write(*s);
                            }
                        }
                    }
                }
            }
        },
    );
    // SAFETY: the chunks cover all `len` values and every tap of every patch was written.
    unsafe { patches.set_len(len) };
    Ok((patches, (n, oh, ow)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_reference::{conv2d_nhwc, max_abs_diff};
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
    fn pad_const_with_negative_infinity() {
        let x = Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap();
        let y = pad_const(&x, 0, 1, 2, f32::NEG_INFINITY).unwrap();
        let v: Vec<f32> = y.to_vec1().unwrap();
        assert_eq!(v[1..3], [1.0, 2.0]);
        assert!(v[0].is_infinite() && v[3].is_infinite() && v[4] < 0.0);
    }

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
            let wc = w.permute((3, 2, 0, 1)).unwrap().contiguous().unwrap();
            let reference = conv2d_nhwc(&x, pads, &wc, stride, dilation, 1);
            assert_eq!(ours.dims(), reference.dims(), "k{k} s{stride}");
            let diff = max_abs_diff(&ours, &reference);
            assert!(diff < 1e-4, "k{k} s{stride} d{dilation}: {diff}");
        }
    }
}
