//! Decoding an upload in memory bounded by what the route needs, whatever the image's shape.
//!
//! The header is read first ([`inspect`]): format sniffed from the bytes, size checked against
//! every limit (pixels, each side, aspect ratio, and the output cap when the answer is an image at
//! the upload's size) before a pixel buffer exists. The caller then reserves [`Header::peak_bytes`]
//! from the memory budget and calls [`decode`], which goes straight to RGB8:
//! - JPEG: `jpeg-decoder`, shrinking in the DCT (1/2, 1/4, 1/8) when the model needs less;
//! - PNG: the `png` crate with 16-bit stripped and palettes expanded while reading;
//! - GIF, WebP, BMP: `image`'s decoders into their native 8-bit buffer, compacted to RGB in place.
//!
//! Then, when the route does not need full resolution, the image is shrunk (aspect kept) to the
//! smallest size that still covers the model's input, so a queued job holds model-sized pixels.
//!
//! (Over 500 lines with its tests: the code is the first 370 lines; the tests stay beside it.)

use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::ApiError;
use crate::ingress::limits::{sniff, Limits};

/// What a route needs from the upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Need {
    /// The decoded image may be shrunk (aspect kept) while both sides stay at least this size;
    /// `None` keeps full resolution (an overlay or annotated image is drawn on it).
    pub cover: Option<(u32, u32)>,
    /// The answer holds an image at the upload's own size (mask, overlay, annotated image, the
    /// input echoed back), so `--max-output-pixels` applies.
    pub output_at_size: bool,
}

impl Need {
    /// Only the model's input: shrink freely down to `(w, h)`, no image answer.
    pub fn model_input(w: u32, h: u32) -> Self {
        Self {
            cover: Some((w, h)),
            output_at_size: false,
        }
    }

    /// Only what `spec`'s pre-processing uses (see `preprocess::cover_for`), no image answer.
    pub fn model_input_of(spec: &models::catalog::InputSpec) -> Self {
        let (w, h) = models::image::preprocess::cover_for(spec);
        Self::model_input(w, h)
    }

    /// The full-resolution image, because the answer is drawn on it.
    pub fn full() -> Self {
        Self {
            cover: None,
            output_at_size: true,
        }
    }
}

/// An upload's header: enough to check limits and to price the decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    /// Progressive JPEGs keep every DCT coefficient until the last scan.
    pub progressive: bool,
}

impl Header {
    pub fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// The most memory decoding this image (to RGB8, before any shrink) may take, in bytes:
    /// what the budget reserves before decoding starts.
    pub fn peak_bytes(&self) -> u64 {
        let per_pixel = match self.format {
            // The RGB output, plus 2 bytes per sample of coefficients when progressive.
            ImageFormat::Jpeg if self.progressive => 3 + 8,
            ImageFormat::Jpeg => 3,
            // The 8-bit output buffer (up to RGBA), compacted in place; grey is expanded into
            // a second, RGB buffer.
            ImageFormat::Png | ImageFormat::WebP | ImageFormat::Bmp => 4,
            // The decoder's own RGBA canvas beside the frame it hands out.
            ImageFormat::Gif => 8,
            _ => 8,
        };
        // Plus fixed overheads (decoder tables, one compressed row, the Huffman state).
        self.pixels() * per_pixel + (1 << 20)
    }
}

/// A decoded upload.
#[derive(Debug)]
pub struct Decoded {
    /// The pixels, at the upload's size or shrunk as [`Need::cover`] allowed (shared with the
    /// model's queue without a copy).
    pub img: std::sync::Arc<RgbImage>,
    /// The upload's own size (boxes, masks and `width`/`height` in answers are in these pixels).
    pub original: (u32, u32),
}

impl Decoded {
    /// The factors from the decoded image's pixels to the upload's: `(x, y)`.
    pub fn scale_to_original(&self) -> (f32, f32) {
        (
            self.original.0 as f32 / self.img.width() as f32,
            self.original.1 as f32 / self.img.height() as f32,
        )
    }
}

/// Most scans a JPEG may have. Each progressive scan is a pass over the whole image, so a small
/// file repeating cheap scans costs seconds of decoding (fuzzing found a 47 KB, 1,005-scan
/// 2048 x 2048 file); encoders write about 10, optimisers rarely more than 30. (libjpeg-turbo
/// offers the same limit as `TJPARAM_SCANLIMIT`.)
pub const MAX_JPEG_SCANS: usize = 100;

/// Start-of-scan markers in a JPEG. Inside entropy-coded data every 0xFF byte is followed by
/// 0x00 or a restart marker, so each 0xFF 0xDA is a real scan header.
fn jpeg_scans(bytes: &[u8]) -> usize {
    bytes.windows(2).filter(|w| w == &[0xff, 0xda]).count()
}

fn unprocessable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable(format!("{what}: {e}"))
}

/// Sniffs the format and reads the size from the header, then checks every limit that does not
/// need pixels: 415 for formats we do not take, 422 (naming the flag) for sizes we will not
/// decode.
pub fn inspect(bytes: &[u8], limits: &Limits, need: Need) -> Result<Header, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::BadRequest("the image is empty".into()));
    }
    let format = sniff(bytes)?;
    if format == ImageFormat::Jpeg {
        let scans = jpeg_scans(bytes);
        if scans > MAX_JPEG_SCANS {
            return Err(ApiError::Unprocessable(format!(
                "the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are decoded (a progressive image needs about 10)"
            )));
        }
    }
    let (width, height, progressive) = if format == ImageFormat::Jpeg {
        let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        d.read_info()
            .map_err(|e| unprocessable("the image header could not be read", e))?;
        let info = d
            .info()
            .ok_or_else(|| ApiError::Unprocessable("the JPEG has no frame header".into()))?;
        (
            info.width as u32,
            info.height as u32,
            info.coding_process == jpeg_decoder::CodingProcess::DctProgressive,
        )
    } else {
        let (w, h) = ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .map_err(|e| unprocessable("the image header could not be read", e))?;
        (w, h, false)
    };
    let header = Header {
        format,
        width,
        height,
        progressive,
    };
    limits.check_size(width, height, need.output_at_size)?;
    Ok(header)
}

/// Decodes to RGB8 within the header's [`Header::peak_bytes`], then shrinks as `need` allows.
/// A decoder that panics on a crafted file is a 422 for that file, not a 500.
pub fn decode(bytes: &[u8], header: &Header, need: Need) -> Result<Decoded, ApiError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_unguarded(bytes, header, need)
    }))
    .unwrap_or_else(|_| {
        tracing::warn!(format = ?header.format, "an image decoder panicked");
        Err(ApiError::Unprocessable(
            "the image could not be decoded (its data is malformed)".into(),
        ))
    })
}

fn decode_unguarded(bytes: &[u8], header: &Header, need: Need) -> Result<Decoded, ApiError> {
    let original = (header.width, header.height);
    let img = match header.format {
        ImageFormat::Jpeg => decode_jpeg(bytes, header, need.cover)?,
        ImageFormat::Png => decode_png(bytes, header)?,
        _ => decode_other(bytes, header)?,
    };
    let img = match need.cover {
        Some((mw, mh)) => {
            let (w, h) = models::image::preprocess::cover_size(img.width(), img.height(), mw, mh);
            if (w, h) == img.dimensions() {
                img
            } else {
                models::image::preprocess::resize(
                    &img,
                    w,
                    h,
                    models::image::preprocess::Filter::Bilinear,
                    None,
                )
            }
        }
        None => img,
    };
    Ok(Decoded {
        img: std::sync::Arc::new(img),
        original,
    })
}

fn decode_jpeg(
    bytes: &[u8],
    header: &Header,
    cover: Option<(u32, u32)>,
) -> Result<RgbImage, ApiError> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    // Never more than the header priced (a crafted file cannot ask for more buffers).
    d.set_max_decoding_buffer_size(header.peak_bytes() as usize);
    if let Some((mw, mh)) = cover {
        // The smallest DCT scale whose output still covers the model's input with the aspect
        // kept: ask for the cover size of the full image (jpeg-decoder rounds up to a scale).
        let (w, h) = models::image::preprocess::cover_size(header.width, header.height, mw, mh);
        d.scale(w.min(u16::MAX as u32) as u16, h.min(u16::MAX as u32) as u16)
            .map_err(|e| unprocessable("the image could not be decoded", e))?;
    }
    let data = d
        .decode()
        .map_err(|e| unprocessable("the image could not be decoded", e))?;
    let info = d
        .info()
        .ok_or_else(|| ApiError::Unprocessable("the JPEG has no frame header".into()))?;
    let (w, h) = (info.width as u32, info.height as u32);
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => data,
        jpeg_decoder::PixelFormat::L8 => data.iter().flat_map(|&v| [v, v, v]).collect(),
        jpeg_decoder::PixelFormat::L16 => data
            .chunks_exact(2)
            .flat_map(|v| {
                let g = v[0]; // big-endian: the high byte
                [g, g, g]
            })
            .collect(),
        // jpeg-decoder undoes Adobe's inversion: 0 is no ink.
        jpeg_decoder::PixelFormat::CMYK32 => {
            let mut data = data;
            let n = data.len() / 4;
            for i in 0..n {
                let [c, m, y, k] = [
                    data[4 * i],
                    data[4 * i + 1],
                    data[4 * i + 2],
                    data[4 * i + 3],
                ];
                let ink = |v: u8| ((255 - v as u32) * (255 - k as u32) / 255) as u8;
                data[3 * i] = ink(c);
                data[3 * i + 1] = ink(m);
                data[3 * i + 2] = ink(y);
            }
            data.truncate(n * 3);
            data.shrink_to_fit();
            data
        }
    };
    RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| ApiError::Unprocessable("the JPEG's pixel data is short".into()))
}

fn decode_png(bytes: &[u8], header: &Header) -> Result<RgbImage, ApiError> {
    let mut d = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: header.peak_bytes() as usize,
        },
    );
    // 16-bit to 8, palettes and low bit depths to 8-bit samples, while reading.
    d.set_transformations(png::Transformations::normalize_to_color8());
    d.set_ignore_text_chunk(true);
    let mut reader = d
        .read_info()
        .map_err(|e| unprocessable("the image could not be decoded", e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ApiError::Unprocessable("the PNG is too large to decode".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| unprocessable("the image could not be decoded", e))?;
    buf.truncate(frame.buffer_size());
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(ApiError::Unprocessable(
                "the PNG's palette could not be expanded".into(),
            ))
        }
    };
    to_rgb(buf, frame.width, frame.height, channels)
}

fn decode_other(bytes: &[u8], header: &Header) -> Result<RgbImage, ApiError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), header.format);
    let mut l = image::Limits::default();
    l.max_image_width = Some(header.width);
    l.max_image_height = Some(header.height);
    l.max_alloc = Some(header.peak_bytes());
    reader.limits(l);
    let decoder = reader
        .into_decoder()
        .map_err(|e| unprocessable("the image could not be decoded", e))?;
    let (w, h) = decoder.dimensions();
    let channels = match decoder.color_type() {
        image::ColorType::L8 => 1,
        image::ColorType::La8 => 2,
        image::ColorType::Rgb8 => 3,
        image::ColorType::Rgba8 => 4,
        other => {
            // No accepted format outside PNG decodes to more than 8 bits; keep a correct path.
            let img = image::DynamicImage::from_decoder(decoder)
                .map_err(|e| unprocessable("the image could not be decoded", e))?;
            tracing::debug!(?other, "decoding through DynamicImage");
            return Ok(img.into_rgb8());
        }
    };
    let mut buf = vec![0u8; decoder.total_bytes() as usize];
    decoder
        .read_image(&mut buf)
        .map_err(|e| unprocessable("the image could not be decoded", e))?;
    to_rgb(buf, w, h, channels)
}

/// 8-bit samples with 1-4 channels to RGB: in place for RGB/RGBA (alpha dropped, as the models
/// see it), into a new buffer for grey.
fn to_rgb(mut buf: Vec<u8>, w: u32, h: u32, channels: usize) -> Result<RgbImage, ApiError> {
    let n = w as usize * h as usize;
    if buf.len() < n * channels {
        return Err(ApiError::Unprocessable(
            "the image's pixel data is short".into(),
        ));
    }
    let rgb = match channels {
        3 => {
            buf.truncate(n * 3);
            buf
        }
        4 => {
            for i in 0..n {
                buf.copy_within(4 * i..4 * i + 3, 3 * i);
            }
            buf.truncate(n * 3);
            buf.shrink_to_fit();
            buf
        }
        1 | 2 => buf[..n * channels]
            .chunks_exact(channels)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        _ => unreachable!("1 to 4 channels"),
    };
    RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| ApiError::Unprocessable("the image's pixel data is short".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
        })
    }

    fn roundtrip(bytes: &[u8], need: Need) -> Decoded {
        let header = inspect(bytes, &Limits::default(), need).unwrap();
        decode(bytes, &header, need).unwrap()
    }

    #[test]
    fn every_format_decodes_to_the_same_rgb() {
        let img = image::DynamicImage::ImageRgb8(gradient(64, 48));
        for format in [
            ImageFormat::Png,
            ImageFormat::Bmp,
            ImageFormat::WebP,
            ImageFormat::Gif,
        ] {
            let out = roundtrip(&encode(&img, format), Need::full());
            assert_eq!(out.original, (64, 48), "{format:?}");
            if format != ImageFormat::Gif {
                assert_eq!(
                    out.img.as_ref(),
                    img.as_rgb8().unwrap(),
                    "{format:?} is lossless"
                );
            }
        }
        let jpeg = roundtrip(&encode(&img, ImageFormat::Jpeg), Need::full());
        assert_eq!(jpeg.img.dimensions(), (64, 48));
        let px = jpeg.img.get_pixel(32, 24).0;
        assert!(
            (px[0] as i32 - 127).abs() < 12 && (px[2] as i32 - 90).abs() < 12,
            "{px:?}"
        );
    }

    #[test]
    fn grey_alpha_and_sixteen_bit_pngs_become_rgb() {
        let grey =
            image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(5, 4, image::Luma([77])));
        assert_eq!(
            roundtrip(&encode(&grey, ImageFormat::Png), Need::full())
                .img
                .get_pixel(1, 1)
                .0,
            [77; 3]
        );
        let rgba = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
            5,
            4,
            image::Rgba([1, 2, 3, 0]),
        ));
        assert_eq!(
            roundtrip(&encode(&rgba, ImageFormat::Png), Need::full())
                .img
                .get_pixel(4, 3)
                .0,
            [1, 2, 3]
        );
        let deep = image::DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
            5,
            4,
            image::Rgb([65535u16, 32896, 0]),
        ));
        assert_eq!(
            roundtrip(&encode(&deep, ImageFormat::Png), Need::full())
                .img
                .get_pixel(0, 0)
                .0,
            [255, 128, 0]
        );
    }

    #[test]
    fn jpeg_shrinks_in_the_dct_and_every_format_shrinks_to_cover_the_input() {
        let img = image::DynamicImage::ImageRgb8(gradient(1600, 1200));
        let need = Need::model_input(256, 256);
        let jpeg = roundtrip(&encode(&img, ImageFormat::Jpeg), need);
        assert_eq!(jpeg.original, (1600, 1200));
        assert_eq!(jpeg.img.dimensions(), (342, 256));
        let png = roundtrip(&encode(&img, ImageFormat::Png), need);
        assert_eq!(png.img.dimensions(), (342, 256));
        let (sx, sy) = png.scale_to_original();
        assert!((sx - 1600.0 / 342.0).abs() < 1e-4 && (sy - 1200.0 / 256.0).abs() < 1e-4);
    }

    #[test]
    fn sizes_are_refused_from_the_header_naming_the_flag() {
        let limits = Limits::default();
        let err = |w, h, need| {
            let img = image::DynamicImage::ImageLuma8(image::GrayImage::new(w, h));
            inspect(&encode(&img, ImageFormat::Png), &limits, need)
                .unwrap_err()
                .to_string()
        };
        assert!(err(16_385, 2_000, Need::model_input(1, 1)).contains("--max-side"));
        assert!(err(4_000, 10, Need::model_input(1, 1)).contains("--max-aspect"));
        let mut big = limits.clone();
        big.max_output_pixels = 1_000;
        let img = image::DynamicImage::ImageLuma8(image::GrayImage::new(40, 30));
        let png = encode(&img, ImageFormat::Png);
        assert!(
            inspect(&png, &big, Need::model_input(1, 1)).is_ok(),
            "no image answer: no output cap"
        );
        let e = inspect(&png, &big, Need::full()).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.to_string().contains("--max-output-pixels"), "{e}");
    }

    #[test]
    fn a_crafted_header_cannot_make_the_decoder_allocate_past_its_price() {
        // PNG claiming 16384 x 1024 whose IDAT is a short run of garbage: refused, not a
        // 50 MB allocation per attempt.
        let mut png = Vec::new();
        png.extend(b"\x89PNG\r\n\x1a\n");
        let mut ihdr = Vec::new();
        ihdr.extend(16_384u32.to_be_bytes());
        ihdr.extend(1_024u32.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
            out.extend((data.len() as u32).to_be_bytes());
            out.extend(kind);
            out.extend(data);
            let mut crc = crc32(kind);
            crc = crc32_update(crc, data);
            out.extend((!crc).to_be_bytes());
        };
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &[0x78, 0x9c, 1, 2, 3, 4]);
        chunk(&mut png, b"IEND", &[]);
        let header = inspect(&png, &Limits::default(), Need::full()).unwrap();
        assert_eq!(
            decode(&png, &header, Need::full()).unwrap_err().status(),
            422
        );
    }

    #[test]
    fn a_jpeg_with_too_many_scans_is_refused_before_decoding() {
        let img = image::DynamicImage::ImageRgb8(gradient(16, 16));
        let jpeg = encode(&img, ImageFormat::Jpeg);
        assert_eq!(jpeg_scans(&jpeg), 1);
        assert!(inspect(&jpeg, &Limits::default(), Need::full()).is_ok());
        // The fuzzer's find: 1,005 scans in 47 KB (kept in the hostile corpus).
        let bomb = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/hostile/jpeg_progressive_many_scans.jpg"
        ))
        .unwrap();
        let e = inspect(&bomb, &Limits::default(), Need::full()).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.to_string().contains("1005 scans"), "{e}");
    }

    fn crc32(data: &[u8]) -> u32 {
        crc32_update(0xffff_ffff, data)
    }

    fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }
}
