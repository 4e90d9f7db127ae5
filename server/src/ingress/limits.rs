//! Request limits: the format is sniffed from the bytes (never the file name or the declared
//! type), and an image's size is checked from its header against every limit before any pixel
//! buffer is allocated (see `decode`).

use image::ImageFormat;

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes (`--body-limit`).
    pub body_bytes: usize,
    /// Largest decoded image, in pixels (`--max-pixels`).
    pub max_pixels: u64,
    /// Longest side of an image, in pixels (`--max-side`).
    pub max_side: u32,
    /// Largest ratio of an image's longer side to its shorter (`--max-aspect`).
    pub max_aspect: f64,
    /// Largest image an answer may carry at the upload's size (mask, overlay, annotated image,
    /// the input echoed back), in pixels (`--max-output-pixels`).
    pub max_output_pixels: u64,
    /// Longest text to summarize, in characters (`--text-limit`).
    pub text_chars: usize,
    /// Most tokens a summary may ask for (`--max-summary-tokens`).
    pub summary_tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 16 * 1024 * 1024,
            max_pixels: 40_000_000,
            max_side: 16_384,
            max_aspect: 20.0,
            max_output_pixels: 24_000_000,
            text_chars: 20_000,
            summary_tokens: 512,
        }
    }
}

pub const ALLOWED_FORMATS: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Gif,
    ImageFormat::Bmp,
];

/// The sniffed image format, if it is one we accept.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, ApiError> {
    match image::guess_format(bytes) {
        Ok(f) if ALLOWED_FORMATS.contains(&f) => Ok(f),
        Ok(f) => Err(ApiError::UnsupportedMediaType(format!(
            "{f:?} images are not accepted; send JPEG, PNG, WebP, GIF or BMP"
        ))),
        Err(_) => Err(ApiError::UnsupportedMediaType(
            "the data is not an image (accepted: JPEG, PNG, WebP, GIF, BMP; detected from the bytes)".into(),
        )),
    }
}

impl Limits {
    /// Every limit on an image's size, checked from its header: 422 naming the flag.
    pub fn check_size(&self, w: u32, h: u32, output_at_size: bool) -> Result<(), ApiError> {
        let refuse = |why: String| Err(ApiError::Unprocessable(why));
        if w == 0 || h == 0 {
            return refuse("the image has no pixels".into());
        }
        let pixels = w as u64 * h as u64;
        if pixels > self.max_pixels {
            return refuse(format!(
                "the image is {w}x{h} = {pixels} pixels; the limit is {} pixels (--max-pixels)",
                self.max_pixels
            ));
        }
        if w.max(h) > self.max_side {
            return refuse(format!(
                "the image is {w}x{h}; no side may be longer than {} pixels (--max-side)",
                self.max_side
            ));
        }
        let aspect = w.max(h) as f64 / w.min(h) as f64;
        if aspect > self.max_aspect {
            return refuse(format!(
                "the image is {w}x{h}, an aspect ratio of {aspect:.0}:1; the limit is {}:1 (--max-aspect)",
                self.max_aspect
            ));
        }
        if output_at_size && pixels > self.max_output_pixels {
            return refuse(format!(
                "the answer would be an image of {w}x{h} = {pixels} pixels; the limit is {} pixels (--max-output-pixels): ask for JSON, or send a smaller image",
                self.max_output_pixels
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ingress::decode::{decode, inspect, Need};

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([1, 2, 3]));
        models::image::postprocess::encode_png_rgb(&img).unwrap()
    }

    fn decode_full(bytes: &[u8], limits: &Limits) -> Result<image::RgbImage, ApiError> {
        let header = inspect(bytes, limits, Need::full())?;
        Ok((*decode(bytes, &header, Need::full())?.img).clone())
    }

    #[test]
    fn decodes_within_limits() {
        let img = decode_full(&png(4, 3), &Limits::default()).unwrap();
        assert_eq!(img.dimensions(), (4, 3));
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let err = decode_full(
            &png(100, 100),
            &Limits {
                max_pixels: 9_999,
                ..Limits::default()
            },
        )
        .unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.to_string().contains("--max-pixels"));
    }

    #[test]
    fn text_and_truncated_images_are_refused() {
        assert_eq!(
            decode_full(b"hello, not an image", &Limits::default())
                .unwrap_err()
                .status(),
            415
        );
        let mut p = png(64, 64);
        p.truncate(40);
        assert_eq!(
            decode_full(&p, &Limits::default()).unwrap_err().status(),
            422
        );
    }

    #[test]
    fn extreme_shapes_are_refused_before_any_pixel_exists() {
        let l = Limits::default();
        for (w, h) in [(40_000_000, 1), (1, 40_000_000), (4_000_000, 10), (21, 1)] {
            let e = l.check_size(w, h, false).unwrap_err();
            assert_eq!(e.status(), 422, "{w}x{h}");
        }
        assert!(
            l.check_size(20, 1, false).is_ok(),
            "20:1 is within the default"
        );
        assert!(l.check_size(16_384, 1_000, false).is_ok());
        assert!(l.check_size(0, 5, false).is_err());
    }
}
