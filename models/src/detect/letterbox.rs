//! Ultralytics' letterbox (`LetterBox(auto=False)`) and its inverse (`scale_boxes`): pure functions.
//!
//! The image is scaled to fit the input frame with its aspect kept, centred, and the rest padded with
//! grey 114. Python's `round` (ties to even) decides the sizes and pads, so the same is used here:
//! with Rust's `round` a half-pixel tie would move the image one pixel and every box with it.

use candle_core::{Device, Tensor};
use image::{Rgb, RgbImage};

use super::nms::BBox;
use crate::error::Result;

/// Ultralytics' padding grey.
pub const PAD_VALUE: u8 = 114;

/// Where an image of `src` size lands inside a letterboxed frame of `dst` size (both `(w, h)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letterbox {
    pub src: (u32, u32),
    pub dst: (u32, u32),
    /// The scaled image's size, `new_unpad` in ultralytics.
    pub scaled: (u32, u32),
    /// Left and top padding.
    pub offset: (u32, u32),
}

impl Letterbox {
    /// The geometry `LetterBox(new_shape, auto=False, scaleup=True, center=True)` computes.
    pub fn fit(src: (u32, u32), dst: (u32, u32)) -> Self {
        let r = f64::min(dst.1 as f64 / src.1 as f64, dst.0 as f64 / src.0 as f64);
        let side = |v: u32| ((v as f64 * r).round_ties_even() as u32).max(1);
        let scaled = (side(src.0), side(src.1));
        // `round(pad / 2 - 0.1)`: an odd padding puts its extra pixel on the right/bottom.
        let before = |total: u32, used: u32| {
            ((total as f64 - used as f64) / 2.0 - 0.1).round_ties_even() as u32
        };
        Self {
            src,
            dst,
            scaled,
            offset: (before(dst.0, scaled.0), before(dst.1, scaled.1)),
        }
    }

    /// The letterboxed image: bilinear resize as OpenCV does it, then grey padding.
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        debug_assert_eq!(img.dimensions(), self.src);
        let resized;
        let scaled = if img.dimensions() == self.scaled {
            img // ultralytics skips the resize when nothing changes
        } else {
            resized = resize_bilinear_cv2(img, self.scaled);
            &resized
        };
        let mut out = RgbImage::from_pixel(self.dst.0, self.dst.1, Rgb([PAD_VALUE; 3]));
        image::imageops::replace(&mut out, scaled, self.offset.0 as i64, self.offset.1 as i64);
        out
    }

    /// Maps a box from the letterboxed frame back to the original image and clips it there,
    /// as `scale_boxes(img1_shape, boxes, img0_shape)` followed by its `clip_boxes`.
    pub fn unmap(&self, b: &BBox) -> BBox {
        // Per-axis gains from the rounded size, as ultralytics 8.4's scale_boxes computes them.
        let gain_x = (self.scaled.0 as f64 / self.src.0 as f64) as f32;
        let gain_y = (self.scaled.1 as f64 / self.src.1 as f64) as f32;
        let (pad_x, pad_y) = (self.offset.0 as f32, self.offset.1 as f32);
        let (w, h) = (self.src.0 as f32, self.src.1 as f32);
        [
            ((b[0] - pad_x) / gain_x).clamp(0.0, w),
            ((b[1] - pad_y) / gain_y).clamp(0.0, h),
            ((b[2] - pad_x) / gain_x).clamp(0.0, w),
            ((b[3] - pad_y) / gain_y).clamp(0.0, h),
        ]
    }
}

/// `[N, 3, H, W]` RGB in 0..1 (`u8 / 255`, as ultralytics' predictor divides) from same-sized images.
pub fn to_input_tensor(images: &[&RgbImage], device: &Device) -> Result<Tensor> {
    let (w, h) = images.first().map_or((0, 0), |i| i.dimensions());
    let plane = (w * h) as usize;
    let mut data = vec![0f32; images.len() * 3 * plane];
    for (n, img) in images.iter().enumerate() {
        if img.dimensions() != (w, h) {
            return Err(crate::error::ModelError::Input(format!(
                "batch images differ in size: {:?} vs {:?}",
                img.dimensions(),
                (w, h)
            )));
        }
        let base = n * 3 * plane;
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                data[base + c * plane + i] = px[c] as f32 / 255.0;
            }
        }
    }
    let dims = (images.len(), 3, h as usize, w as usize);
    Ok(Tensor::from_vec(data, dims, device)?)
}

/// OpenCV's fixed-point weights: 11 fractional bits.
const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// One output coordinate's two source taps and their fixed-point weights, as `cv::resize`
/// (INTER_LINEAR) computes them: half-pixel centres, edges clamped (no anti-aliasing, unlike
/// `image`'s Triangle filter, which would shift every pixel of a downscaled image).
fn taps(src_len: u32, dst_len: u32) -> Vec<(usize, usize, i32, i32)> {
    // OpenCV inverts its `dst / src` factor rather than dividing the other way round.
    let scale = 1.0 / (dst_len as f64 / src_len as f64);
    let last = src_len as usize - 1;
    (0..dst_len)
        .map(|d| {
            let pos = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = pos.floor() as i64;
            let mut frac = pos - s as f32;
            if s < 0 {
                (s, frac) = (0, 0.0);
            }
            if s as usize >= last {
                (s, frac) = (last as i64, 0.0);
            }
            let s = s as usize;
            // Each weight rounded on its own (they need not sum to 2048), as OpenCV does.
            let w0 = ((1.0 - frac) * COEF_SCALE).round_ties_even() as i32;
            let w1 = (frac * COEF_SCALE).round_ties_even() as i32;
            (s, (s + 1).min(last), w0, w1)
        })
        .collect()
}

/// `cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)` on 8-bit RGB, with OpenCV's integer
/// arithmetic (horizontal pass to 2^11-scaled ints, vertical pass with its shifts and rounding).
pub fn resize_bilinear_cv2(img: &RgbImage, size: (u32, u32)) -> RgbImage {
    let (sw, _) = img.dimensions();
    let xs = taps(sw, size.0);
    let ys = taps(img.height(), size.1);
    let src = img.as_raw();
    let row_stride = sw as usize * 3;
    let horizontal = |row: usize| -> Vec<i32> {
        let line = &src[row * row_stride..(row + 1) * row_stride];
        let mut out = Vec::with_capacity(xs.len() * 3);
        for &(x0, x1, w0, w1) in &xs {
            for c in 0..3 {
                out.push(line[x0 * 3 + c] as i32 * w0 + line[x1 * 3 + c] as i32 * w1);
            }
        }
        out
    };
    let mut out = Vec::with_capacity(size.0 as usize * size.1 as usize * 3);
    for &(y0, y1, w0, w1) in &ys {
        let (r0, r1) = (horizontal(y0), horizontal(y1));
        for (a, b) in r0.iter().zip(&r1) {
            let v = (((w0 * (a >> 4)) >> 16) + ((w1 * (b >> 4)) >> 16) + 2) >> 2;
            out.push(v.clamp(0, 255) as u8);
        }
    }
    RgbImage::from_raw(size.0, size.1, out).expect("buffer sized for the image")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_image_is_padded_top_and_bottom() {
        // 1280x720 -> 640x360, 280 rows of padding split evenly.
        let lb = Letterbox::fit((1280, 720), (640, 640));
        assert_eq!(lb.scaled, (640, 360));
        assert_eq!(lb.offset, (0, 140));
    }

    #[test]
    fn odd_padding_puts_the_extra_pixel_after() {
        // 100x201 into 640: r = 640/201, width round(318.4) = 318, padding 322 -> 161 each side.
        let lb = Letterbox::fit((100, 201), (640, 640));
        assert_eq!(lb.scaled, (318, 640));
        assert_eq!(lb.offset, (161, 0));
        // 3 pixels of padding: round(1.5 - 0.1) = 1 before, 2 after.
        let lb = Letterbox::fit((157, 160), (160, 160));
        assert_eq!((lb.scaled, lb.offset), ((157, 160), (1, 0)));
    }

    #[test]
    fn sizes_round_half_to_even_like_python() {
        // 5x2 into 5x1: r = 0.5, width 2.5 -> 2 (Rust's round would say 3); 7x2: 3.5 -> 4.
        assert_eq!(Letterbox::fit((5, 2), (5, 1)).scaled, (2, 1));
        assert_eq!(Letterbox::fit((7, 2), (7, 1)).scaled, (4, 1));
        // A sliver keeps one pixel.
        assert_eq!(Letterbox::fit((1000, 1), (10, 10)).scaled, (10, 1));
    }

    #[test]
    fn unmap_undoes_scale_and_padding_and_clips() {
        let lb = Letterbox::fit((1280, 720), (640, 640));
        let b = lb.unmap(&[10.0, 150.0, 330.0, 480.0]);
        let want = [20.0, 20.0, 660.0, 680.0];
        for (g, w) in b.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "{b:?} vs {want:?}");
        }
        // A box reaching into the padding is clipped to the image.
        assert_eq!(
            lb.unmap(&[-5.0, 100.0, 700.0, 600.0]),
            [0.0, 0.0, 1280.0, 720.0]
        );
    }

    #[test]
    fn apply_places_the_image_and_pads_grey() {
        let img = RgbImage::from_pixel(4, 2, Rgb([10, 20, 30]));
        let lb = Letterbox::fit((4, 2), (8, 8));
        assert_eq!((lb.scaled, lb.offset), ((8, 4), (0, 2)));
        let out = lb.apply(&img);
        assert_eq!(out.get_pixel(3, 1), &Rgb([PAD_VALUE; 3]));
        assert_eq!(out.get_pixel(3, 2), &Rgb([10, 20, 30]));
        assert_eq!(out.get_pixel(7, 5), &Rgb([10, 20, 30]));
        assert_eq!(out.get_pixel(7, 6), &Rgb([PAD_VALUE; 3]));
    }

    #[test]
    fn bilinear_matches_hand_computed_values() {
        // 2x1 -> 4x1: centres at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
        let img = RgbImage::from_fn(2, 1, |x, _| Rgb([if x == 0 { 0 } else { 200 }; 3]));
        let out = resize_bilinear_cv2(&img, (4, 1));
        let row: Vec<u8> = out.pixels().map(|p| p[0]).collect();
        assert_eq!(row, [0, 50, 150, 200]);
    }

    #[test]
    fn input_tensor_is_nchw_rgb_over_255() {
        let img = RgbImage::from_fn(2, 1, |x, _| Rgb([x as u8 * 255, 51, 0]));
        let t = to_input_tensor(&[&img], &Device::Cpu).unwrap();
        assert_eq!(t.dims(), [1, 3, 1, 2]);
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(v, [0.0, 1.0, 0.2, 0.2, 0.0, 0.0]);
    }
}
