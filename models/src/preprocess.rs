//! Image -> model input tensor. Pure functions: no I/O, no globals.

use candle_core::{Device, Tensor};
use image::{imageops::FilterType, RgbImage};

use crate::catalog::{Channels, InputSpec, Layout};
use crate::error::Result;

/// Resizes to the model's input size, ignoring aspect ratio (the models were trained on
/// stretched inputs, and masks are stretched back, so no letterbox bars leak into results).
pub fn resize_for(img: &RgbImage, spec: &InputSpec) -> RgbImage {
    if img.dimensions() == (spec.width, spec.height) {
        return img.clone();
    }
    image::imageops::resize(img, spec.width, spec.height, FilterType::Triangle)
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

    fn spec(layout: Layout, channels: Channels) -> InputSpec {
        InputSpec {
            width: 2,
            height: 1,
            layout,
            channels,
            mean: [0.0, 10.0, 20.0],
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
