//! Image -> model input tensor. Pure functions: no I/O, no globals.

use candle_core::{Device, Tensor};
use image::{imageops::FilterType, RgbImage};

use crate::catalog::{Channels, InputSpec, Layout};
use crate::error::Result;

/// Brings an image to the model's input size. By default it stretches, ignoring aspect ratio
/// (the segmenters and detectors were trained on stretched inputs, and their outputs are
/// stretched back, so no letterbox bars leak into results). With `centre_crop_from` it resizes
/// the shorter side to that size (bicubic) and takes the centre crop, as classifiers expect.
pub fn resize_for(img: &RgbImage, spec: &InputSpec) -> RgbImage {
    if let Some(shorter) = spec.centre_crop_from {
        return resize_and_centre_crop(img, shorter, spec.width, spec.height);
    }
    if img.dimensions() == (spec.width, spec.height) {
        return img.clone();
    }
    image::imageops::resize(img, spec.width, spec.height, FilterType::Triangle)
}

/// The size an image gets when its shorter side becomes `shorter` (aspect kept, rounded).
pub fn shorter_side_to(w: u32, h: u32, shorter: u32) -> (u32, u32) {
    let scale = shorter as f64 / w.min(h) as f64;
    let fit = |v: u32| ((v as f64 * scale).round() as u32).max(shorter);
    if w <= h {
        (shorter, fit(h))
    } else {
        (fit(w), shorter)
    }
}

fn resize_and_centre_crop(img: &RgbImage, shorter: u32, width: u32, height: u32) -> RgbImage {
    let (w, h) = shorter_side_to(img.width(), img.height(), shorter.max(width).max(height));
    let resized = if (w, h) == img.dimensions() {
        img.clone()
    } else {
        image::imageops::resize(img, w, h, FilterType::CatmullRom)
    };
    let (x, y) = ((w - width) / 2, (h - height) / 2);
    image::imageops::crop_imm(&resized, x, y, width, height).to_image()
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
