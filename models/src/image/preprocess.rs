//! Image -> model input tensor. Pure functions: no I/O, no globals.

use candle_core::{Device, Tensor};
use image::RgbImage;

use crate::catalog::{Channels, InputSpec, Layout};
use crate::error::Result;

/// Brings an image to the model's input size. By default it stretches, ignoring aspect ratio
/// (the segmenters and detectors were trained on stretched inputs, and their outputs are
/// stretched back, so no letterbox bars leak into results). With `centre_crop_from` it resizes
/// the shorter side to that size (Catmull-Rom) and takes the centre crop, as classifiers expect.
/// Either way it is one pass that allocates only the destination (and `fast_image_resize`'s
/// one-row-per-output-row scratch), whatever the source's shape.
pub fn resize_for(img: &RgbImage, spec: &InputSpec) -> RgbImage {
    if let Some(shorter) = spec.centre_crop_from {
        return resize_and_centre_crop(img, shorter, spec.width, spec.height);
    }
    resize(img, spec.width, spec.height, Filter::Bilinear, None)
}

/// The resampling filters the models' pre-processing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Antialiased bilinear (a triangle filter widened when shrinking).
    Bilinear,
    /// Catmull-Rom cubic, what torchvision's bicubic resize approximates.
    CatmullRom,
}

/// A source rectangle `(left, top, width, height)` in source pixels (fractions allowed).
pub type Crop = (f64, f64, f64, f64);

/// `img`, or its `crop` rectangle, resampled to `width` x `height` (`fast_image_resize`, SIMD).
/// A no-op copy when nothing changes.
///
/// Memory: the destination plus one intermediate of `min(src_w * dst_h, dst_w * src_h)` pixels.
/// The library's own u8 path always filters vertically first, whose intermediate is
/// `src_w * dst_h` (3 GB for a 4,000,000 x 10 upload going to 256 x 256); when the other order
/// is smaller, the two passes are run here one at a time, horizontal first.
pub fn resize(
    img: &RgbImage,
    width: u32,
    height: u32,
    filter: Filter,
    crop: Option<Crop>,
) -> RgbImage {
    let (sw, sh) = img.dimensions();
    let (left, top, cw, ch) = crop.unwrap_or((0.0, 0.0, sw as f64, sh as f64));
    let (width, height) = (width.max(1), height.max(1));
    if crop.is_none() && (sw, sh) == (width, height) {
        return img.clone();
    }
    let vertical_first = sw as u64 * height as u64;
    let horizontal_first = width as u64 * sh as u64;
    let both = cw != width as f64 && ch != height as f64;
    if both && horizontal_first < vertical_first {
        let rows = resample(img, width, sh, filter, (left, 0.0, cw, sh as f64));
        return resample(&rows, width, height, filter, (0.0, top, width as f64, ch));
    }
    resample(img, width, height, filter, (left, top, cw, ch))
}

fn resample(img: &RgbImage, width: u32, height: u32, filter: Filter, crop: Crop) -> RgbImage {
    use fast_image_resize as fr;
    let src =
        fr::images::ImageRef::new(img.width(), img.height(), img.as_raw(), fr::PixelType::U8x3)
            .expect("an RgbImage's buffer is width * height * 3 bytes");
    let mut dst = fr::images::Image::new(width, height, fr::PixelType::U8x3);
    let alg = fr::ResizeAlg::Convolution(match filter {
        Filter::Bilinear => fr::FilterType::Bilinear,
        Filter::CatmullRom => fr::FilterType::CatmullRom,
    });
    let (left, top, w, h) = crop;
    let options = fr::ResizeOptions::new()
        .resize_alg(alg)
        .crop(left, top, w, h);
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .expect("same pixel type on both sides");
    RgbImage::from_raw(width, height, dst.into_vec())
        .expect("the destination is width * height * 3 bytes")
}

/// The size an image gets when its shorter side becomes `shorter` (aspect kept, rounded).
/// Computed in f64 and clamped, so no shape overflows (a 40,000,000 x 1 image asks for a
/// width past `u32::MAX`; callers refuse such aspect ratios before getting here).
pub fn shorter_side_to(w: u32, h: u32, shorter: u32) -> (u32, u32) {
    let scale = shorter as f64 / w.min(h).max(1) as f64;
    let fit = |v: u32| ((v as f64 * scale).round().min(u32::MAX as f64) as u32).max(shorter);
    if w <= h {
        (shorter, fit(h))
    } else {
        (fit(w), shorter)
    }
}

/// The least an upload must keep, aspect kept, for `spec`'s pre-processing to be unchanged in
/// kind: both sides at least the input's, and the shorter side at least the centre-crop size.
pub fn cover_for(spec: &InputSpec) -> (u32, u32) {
    let crop = spec.centre_crop_from.unwrap_or(0);
    (spec.width.max(crop), spec.height.max(crop))
}

/// The smallest size, aspect kept, at which both sides are still at least `min_w` and `min_h`
/// (rounded up); the image's own size when it is already no larger. Shrinking an upload to
/// this before it waits in a queue keeps every model's pre-processing exact enough (each model
/// still resizes down from it) while the full-resolution pixels are dropped early.
pub fn cover_size(w: u32, h: u32, min_w: u32, min_h: u32) -> (u32, u32) {
    let scale = f64::max(
        min_w as f64 / w.max(1) as f64,
        min_h as f64 / h.max(1) as f64,
    );
    if scale >= 1.0 {
        return (w, h);
    }
    let side = |v: u32, min: u32| ((v as f64 * scale).ceil() as u32).clamp(min.max(1), v);
    (side(w, min_w), side(h, min_h))
}

/// The shorter side resized to `shorter` and the centre `width` x `height` taken, in one pass:
/// the crop is folded into the resize as a source rectangle, so the resized full frame is
/// never made.
fn resize_and_centre_crop(img: &RgbImage, shorter: u32, width: u32, height: u32) -> RgbImage {
    let (w, h) = shorter_side_to(img.width(), img.height(), shorter.max(width).max(height));
    let (x, y) = ((w - width) / 2, (h - height) / 2);
    // The crop rectangle in source pixels: output pixel (x, y) of the resized frame maps back
    // by the per-axis scale.
    let (sx, sy) = (
        img.width() as f64 / w as f64,
        img.height() as f64 / h as f64,
    );
    let crop = (
        x as f64 * sx,
        y as f64 * sy,
        width as f64 * sx,
        height as f64 * sy,
    );
    resize(img, width, height, Filter::CatmullRom, Some(crop))
}

/// Each image resized as `spec` says and normalised, stacked as one `[N, 3, H, W]` batch.
pub fn to_batch(imgs: &[&RgbImage], spec: &InputSpec, device: &Device) -> Result<Tensor> {
    let xs = imgs
        .iter()
        .map(|img| to_tensor(&resize_for(img, spec), spec, device))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&xs, 0)?)
}

/// Turns an image already at the input size into a `[1, H, W, 3]` or `[1, 3, H, W]` f32 tensor:
/// channels reordered as the model wants, then `(v - mean) / std` on 0..255 values.
pub fn to_tensor(img: &RgbImage, spec: &InputSpec, device: &Device) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    let order: [usize; 3] = match spec.channels {
        Channels::Rgb => [0, 1, 2],
        Channels::Bgr => [2, 1, 0],
    };
    let scale: [f32; 3] = [1.0 / spec.std[0], 1.0 / spec.std[1], 1.0 / spec.std[2]];
    let mut data = vec![0f32; w * h * 3];
    match spec.layout {
        Layout::Nhwc => {
            for (i, px) in img.pixels().enumerate() {
                for (c, &src) in order.iter().enumerate() {
                    data[i * 3 + c] = (px[src] as f32 - spec.mean[c]) * scale[c];
                }
            }
            Ok(Tensor::from_vec(data, (1, h, w, 3), device)?)
        }
        Layout::Nchw => {
            let plane = w * h;
            for (i, px) in img.pixels().enumerate() {
                for (c, &src) in order.iter().enumerate() {
                    data[c * plane + i] = (px[src] as f32 - spec.mean[c]) * scale[c];
                }
            }
            Ok(Tensor::from_vec(data, (1, 3, h, w), device)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_side_keeps_the_aspect_ratio() {
        assert_eq!(shorter_side_to(768, 576, 256), (341, 256));
        assert_eq!(shorter_side_to(576, 768, 256), (256, 341));
        assert_eq!(shorter_side_to(100, 100, 256), (256, 256));
        // Past u32: clamped, never wrapped.
        assert_eq!(shorter_side_to(40_000_000, 1, 256).0, u32::MAX);
    }

    #[test]
    fn cover_size_keeps_both_sides_at_least_the_minimum() {
        assert_eq!(cover_size(4000, 3000, 256, 256), (342, 256));
        assert_eq!(cover_size(3000, 4000, 416, 416), (416, 555));
        assert_eq!(cover_size(200, 100, 256, 256), (200, 100), "never grows");
        assert_eq!(cover_size(16384, 819, 320, 320), (6402, 320));
    }

    #[test]
    fn extreme_shapes_resize_in_bounded_memory() {
        // 4,000,000 x 10 (12 MB of pixels): the old resizer's intermediate was 4,000,000 x 256
        // f32 RGBA, 16 GB. This one allocates the destination and a few rows.
        for (w, h) in [(4_000_000, 10), (10, 4_000_000)] {
            let img = RgbImage::from_pixel(w, h, image::Rgb([200, 100, 50]));
            let out = resize(&img, 256, 256, Filter::Bilinear, None);
            assert_eq!(out.dimensions(), (256, 256));
            assert_eq!(out.get_pixel(128, 128).0, [200, 100, 50]);
        }
    }

    #[test]
    fn centre_crop_takes_the_middle() {
        // 40x20, left half black, right half white; shorter side 10 -> 20x10, crop 10x10 centre.
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let mut s = spec(Layout::Nhwc, Channels::Rgb);
        (s.width, s.height, s.centre_crop_from) = (10, 10, Some(10));
        let out = resize_for(&img, &s);
        assert_eq!(out.dimensions(), (10, 10));
        assert!(out.get_pixel(0, 5)[0] < 30, "left edge stays dark");
        assert!(out.get_pixel(9, 5)[0] > 225, "right edge stays bright");
    }

    fn spec(layout: Layout, channels: Channels) -> InputSpec {
        InputSpec {
            width: 2,
            height: 1,
            layout,
            channels,
            mean: [0.0, 10.0, 20.0],
            centre_crop_from: None,
            std: [1.0, 2.0, 4.0],
        }
    }

    #[test]
    fn nhwc_rgb_normalises_per_channel() {
        let img = RgbImage::from_raw(2, 1, vec![10, 30, 60, 0, 10, 20]).unwrap();
        let t = to_tensor(&img, &spec(Layout::Nhwc, Channels::Rgb), &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 1, 2, 3]);
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![10.0, 10.0, 10.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn nchw_bgr_swaps_channels_into_planes() {
        let img = RgbImage::from_raw(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let s = InputSpec {
            mean: [0.0; 3],
            std: [1.0; 3],
            ..spec(Layout::Nchw, Channels::Bgr)
        };
        let v: Vec<f32> = to_tensor(&img, &s, &Device::Cpu)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(v, vec![3.0, 6.0, 2.0, 5.0, 1.0, 4.0]);
    }

    #[test]
    fn resize_is_a_no_op_at_the_input_size() {
        let img = RgbImage::from_pixel(2, 1, image::Rgb([9, 9, 9]));
        assert_eq!(resize_for(&img, &spec(Layout::Nhwc, Channels::Rgb)), img);
        let big = RgbImage::from_pixel(8, 4, image::Rgb([9, 9, 9]));
        assert_eq!(
            resize_for(&big, &spec(Layout::Nhwc, Channels::Rgb)).dimensions(),
            (2, 1)
        );
    }
}
