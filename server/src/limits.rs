//! Request limits and image decoding under them: the format is sniffed from the bytes (never
//! the file name or the declared type), and the pixel count is checked from the header before
//! any pixel buffer is allocated.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, RgbImage};

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes (`--body-limit`).
    pub body_bytes: usize,
    /// Largest decoded image, in pixels (`--max-pixels`).
    pub max_pixels: u64,
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

pub fn decode(bytes: &[u8], limits: &Limits) -> Result<RgbImage, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::BadRequest("the image is empty".into()));
    }
    let format = sniff(bytes)?;
    let (w, h) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| ApiError::Unprocessable(format!("the image header could not be read: {e}")))?;
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(ApiError::Unprocessable(format!(
            "the image is {w}x{h} = {pixels} pixels; the limit is {} pixels (--max-pixels)",
            limits.max_pixels
        )));
    }
    if w == 0 || h == 0 {
        return Err(ApiError::Unprocessable("the image has no pixels".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = image::Limits::default();
    l.max_image_width = Some(w);
    l.max_image_height = Some(h);
    l.max_alloc = Some(pixels * 16 + (64 << 20));
    reader.limits(l);
    let img = reader
        .decode()
        .map_err(|e| ApiError::Unprocessable(format!("the image could not be decoded: {e}")))?;
    Ok(img.to_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbImage::from_pixel(w, h, image::Rgb([1, 2, 3]));
        models::postprocess::encode_png_rgb(&img).unwrap()
    }

    #[test]
    fn decodes_within_limits() {
        let img = decode(&png(4, 3), &Limits::default()).unwrap();
        assert_eq!(img.dimensions(), (4, 3));
    }

    #[test]
    fn pixel_limit_is_checked_from_the_header() {
        let err = decode(
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
            decode(b"hello, not an image", &Limits::default())
                .unwrap_err()
                .status(),
            415
        );
        let mut p = png(64, 64);
        p.truncate(40);
        assert_eq!(decode(&p, &Limits::default()).unwrap_err().status(), 422);
    }
}
