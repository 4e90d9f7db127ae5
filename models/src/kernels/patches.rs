//! im2col rows made on demand, for [`super::gemm::gemm_gathered_to_vec`]: a task gathers the
//! patches of its own output pixels into a buffer that stays in L1, instead of the whole
//! patch matrix being written out and read back (see [`super::conv::im2col_nhwc_slice`]).
//! The image may be NHWC or NCHW: a stem convolution reads the model's NCHW input directly,
//! so it is never transposed first (0.18 ms of EfficientNet-Lite0's forward, on one thread,
//! on the 2-core AVX2 EPYC).

use candle_core::Result;

use super::conv::output_size;

/// How an image is laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nhwc,
    Nchw,
}

/// Where each tap of a convolution window lies in an image, relative to the window's
/// top-left input pixel. Taps are in (ky, kx, c) order, so a TF HWIO filter (or a PyTorch
/// OIHW one transposed to it) reshaped to `[KH*KW*C, O]` multiplies the rows directly.
#[derive(Debug, Clone)]
pub struct PatchGather {
    h: usize,
    w: usize,
    /// Output height and width.
    oh: usize,
    ow: usize,
    stride: usize,
    pad_t: usize,
    pad_l: usize,
    /// Input rows and columns the window spans (with dilation).
    span: (usize, usize),
    /// Elements between one input row (and column) and the next, and between images.
    row_step: usize,
    col_step: usize,
    image_step: usize,
    /// Per tap: its offset from the window's top-left pixel, all below `window_len`; and
    /// its input row and column within the window (for windows that padding cuts).
    offsets: Vec<usize>,
    window_len: usize,
    positions: Vec<(usize, usize)>,
}

impl PatchGather {
    /// Patches of a `kh x kw` window over images of `(n, h, w, c)`, whatever `layout` they
    /// are stored in, padded by `pads` (top, bottom, left, right) with zeros.
    pub fn new(
        layout: Layout,
        (_, h, w, c): (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        stride: usize,
        dilation: usize,
        pads: [usize; 4],
    ) -> Result<Self> {
        let (oh, ow) = output_size("conv", (h, w), (kh, kw), stride, dilation, pads)?;
        let (row_step, col_step, chan_step) = match layout {
            Layout::Nhwc => (w * c, c, 1),
            Layout::Nchw => (w, 1, h * w),
        };
        let (mut offsets, mut positions) = (Vec::new(), Vec::new());
        for ky in 0..kh {
            for kx in 0..kw {
                let (dy, dx) = (ky * dilation, kx * dilation);
                for ch in 0..c {
                    offsets.push(dy * row_step + dx * col_step + ch * chan_step);
                    positions.push((dy, dx));
                }
            }
        }
        let window_len = offsets.iter().max().map_or(0, |m| m + 1);
        Ok(Self {
            h,
            w,
            oh,
            ow,
            stride,
            pad_t: pads[0],
            pad_l: pads[2],
            span: ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1),
            row_step,
            col_step,
            image_step: h * w * c,
            offsets,
            window_len,
            positions,
        })
    }

    /// Values in one patch (the product's depth).
    pub fn depth(&self) -> usize {
        self.offsets.len()
    }

    /// Output (height, width).
    pub fn output(&self) -> (usize, usize) {
        (self.oh, self.ow)
    }

    /// Writes the patches of output pixels `pixels` (numbered image by image, row by row)
    /// of the images in `x` into `buf`, one patch after another.
    pub fn fill(&self, x: &[f32], pixels: std::ops::Range<usize>, buf: &mut [f32]) {
        let depth = self.depth();
        assert_eq!(buf.len(), pixels.len() * depth, "patch buffer");
        // Divided once, then stepped: three divisions a pixel cost more than its copy.
        let (mut b, mut oy, mut ox) = (
            pixels.start / (self.oh * self.ow),
            pixels.start / self.ow % self.oh,
            pixels.start % self.ow,
        );
        for patch in buf.chunks_exact_mut(depth) {
            let image = &x[b * self.image_step..(b + 1) * self.image_step];
            // The window's top-left input pixel, which padding may put outside the image.
            let iy = (oy * self.stride) as isize - self.pad_t as isize;
            let ix = (ox * self.stride) as isize - self.pad_l as isize;
            let inside = iy >= 0
                && ix >= 0
                && iy as usize + self.span.0 <= self.h
                && ix as usize + self.span.1 <= self.w;
            if inside {
                // The window's span inside the image; every offset falls in it.
                let corner = iy as usize * self.row_step + ix as usize * self.col_step;
                let window = &image[corner..corner + self.window_len];
                for (v, &off) in patch.iter_mut().zip(&self.offsets) {
                    // SAFETY: `off < window_len` for every offset (from `new`), and
                    // `window` is `window_len` long. Unchecked because this copy is most of
                    // a stem's time besides its product: 0.25 of 0.58 ms on one thread.
                    *v = unsafe { *window.get_unchecked(off) };
                }
            } else {
                let taps = self.offsets.iter().zip(&self.positions);
                for (v, (&off, &(dy, dx))) in patch.iter_mut().zip(taps) {
                    let (y, x) = (iy + dy as isize, ix + dx as isize);
                    let valid = y >= 0 && x >= 0 && (y as usize) < self.h && (x as usize) < self.w;
                    *v = if valid {
                        // The tap's offset from the window's corner, from its pixel's.
                        let corner = iy * self.row_step as isize + ix * self.col_step as isize;
                        image[(corner + off as isize) as usize]
                    } else {
                        0.0
                    };
                }
            }
            ox += 1;
            if ox == self.ow {
                ox = 0;
                oy += 1;
                if oy == self.oh {
                    oy = 0;
                    b += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::im2col_nhwc_slice;
    use crate::kernels::test_reference::values;

    /// NCHW copy of an NHWC buffer.
    fn to_nchw(x: &[f32], (n, h, w, c): (usize, usize, usize, usize)) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for b in 0..n {
            for y in 0..h {
                for xx in 0..w {
                    for ch in 0..c {
                        out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
                    }
                }
            }
        }
        out
    }

    #[test]
    fn gathered_rows_match_im2col_in_both_layouts() {
        for (dims, k, stride, dilation, pads) in [
            ((2, 11, 9, 3), (3, 3), 2, 1, [0, 1, 0, 1]),
            ((1, 224, 224, 3), (3, 3), 2, 1, [0, 1, 0, 1]),
            ((2, 7, 6, 4), (3, 3), 1, 1, [1, 1, 1, 1]),
            ((1, 8, 10, 2), (5, 5), 1, 2, [4, 4, 4, 4]),
            ((1, 6, 6, 5), (2, 3), 2, 1, [0, 0, 1, 1]),
        ] {
            let x = values(dims.0 * dims.1 * dims.2 * dims.3, 7);
            let (want, (n, oh, ow)) =
                im2col_nhwc_slice(&x, dims, k, stride, dilation, pads).unwrap();
            for layout in [Layout::Nhwc, Layout::Nchw] {
                let g = PatchGather::new(layout, dims, k, stride, dilation, pads).unwrap();
                assert_eq!(g.output(), (oh, ow));
                let input = match layout {
                    Layout::Nhwc => x.clone(),
                    Layout::Nchw => to_nchw(&x, dims),
                };
                let m = n * oh * ow;
                // Ragged ranges, as tasks ask for them.
                let mut got = vec![f32::NAN; m * g.depth()];
                let mut start = 0;
                for len in [1, 5, 17, 48].into_iter().cycle() {
                    let end = (start + len).min(m);
                    g.fill(
                        &input,
                        start..end,
                        &mut got[start * g.depth()..end * g.depth()],
                    );
                    start = end;
                    if start == m {
                        break;
                    }
                }
                assert_eq!(got, want, "{dims:?} {k:?} s{stride} d{dilation} {layout:?}");
            }
        }
    }
}
