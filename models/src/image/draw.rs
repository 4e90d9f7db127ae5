//! Drawing detections onto an image (boxes, labels) and JPEG encoding: pure functions.
//! Text uses the public-domain 8x8 bitmap font from `font8x8`, so no font file is needed.

use image::{Rgb, RgbImage};

use crate::error::{ModelError, Result};
use crate::task::Detection;

/// Okabe & Ito's colour-blind-safe palette (without black), cycled by class id. The site keeps
/// the same table (`app::dto::PALETTE`: the wasm build cannot depend on this crate); a server
/// test checks the two are equal.
pub const PALETTE: [[u8; 3]; 7] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
];

pub fn class_colour(class: usize) -> [u8; 3] {
    PALETTE[class % PALETTE.len()]
}

/// Black or white, whichever reads better on `bg` (by perceived luminance).
fn text_colour(bg: [u8; 3]) -> [u8; 3] {
    let l = 0.299 * bg[0] as f32 + 0.587 * bg[1] as f32 + 0.114 * bg[2] as f32;
    if l > 140.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    }
}

/// A rectangle outline `thickness` pixels wide, inside the box edges.
pub fn draw_box(img: &mut RgbImage, b: [f32; 4], thickness: i64, c: [u8; 3]) {
    let [x0, y0, x1, y1] = b.map(|v| v.round() as i64);
    fill_rect(img, x0, y0, x1, y0 + thickness, c);
    fill_rect(img, x0, y1 - thickness, x1, y1, c);
    fill_rect(img, x0, y0, x0 + thickness, y1, c);
    fill_rect(img, x1 - thickness, y0, x1, y1, c);
}

/// Text in the 8x8 font scaled by `scale`, top-left at (x, y); non-ASCII shows as '?'.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: i64, c: [u8; 3]) {
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY[if ch.is_ascii() {
            ch as usize
        } else {
            b'?' as usize
        }];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    let px = x + (i as i64 * 8 + col) * scale;
                    let py = y + row as i64 * scale;
                    fill_rect(img, px, py, px + scale, py + scale, c);
                }
            }
        }
    }
}

/// The image with each detection's box and a "label 0.87" tag drawn in its class colour.
/// Line width and text size follow the image size so they read on small and large photos.
pub fn annotate(img: &RgbImage, dets: &[Detection]) -> RgbImage {
    let mut out = img.clone();
    let short = img.width().min(img.height()) as i64;
    let thickness = (short / 200).clamp(2, 8);
    let scale = (short / 300).clamp(1, 4);
    for d in dets.iter().rev() {
        // Worst first, so the best boxes end up on top.
        let c = class_colour(d.category_id);
        draw_box(&mut out, d.bbox, thickness, c);
        let text = format!("{} {:.2}", d.label, d.score);
        let (tw, th) = (text.len() as i64 * 8 * scale + 4, 8 * scale + 4);
        let x = d.bbox[0].round() as i64;
        let top = d.bbox[1].round() as i64;
        let y = if top - th >= 0 { top - th } else { top };
        fill_rect(&mut out, x, y, x + tw, y + th, c);
        draw_text(&mut out, x + 2, y + 2, &text, scale, text_colour(c));
    }
    out
}

pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .map_err(|e| ModelError::Input(format!("jpeg encoding failed: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class: usize, bbox: [f32; 4]) -> Detection {
        Detection {
            category_id: class,
            label: "dog".into(),
            score: 0.9,
            bbox,
        }
    }

    #[test]
    fn boxes_are_drawn_on_their_edges_only() {
        let img = RgbImage::from_pixel(100, 100, Rgb([10, 10, 10]));
        let out = annotate(&img, &[det(1, [20., 40., 80., 90.])]);
        let c = Rgb(class_colour(1));
        assert_eq!(*out.get_pixel(20, 60), c, "left edge");
        assert_eq!(*out.get_pixel(79, 60), c, "right edge");
        assert_eq!(*out.get_pixel(50, 89), c, "bottom edge");
        assert_eq!(
            *out.get_pixel(50, 65),
            Rgb([10, 10, 10]),
            "inside untouched"
        );
        // The label tag sits above the box.
        let tagged = (20..60).any(|x| out.get_pixel(x, 35) != &Rgb([10, 10, 10]));
        assert!(tagged);
        assert_eq!(img.get_pixel(20, 60), &Rgb([10, 10, 10]), "input unchanged");
    }

    #[test]
    fn text_renders_glyph_pixels() {
        let mut img = RgbImage::new(16, 8);
        draw_text(&mut img, 0, 0, "I", 1, [255, 255, 255]);
        let lit = img.pixels().filter(|p| p[0] == 255).count();
        assert!(lit > 5 && lit < 40, "{lit} pixels lit for 'I'");
    }

    #[test]
    fn jpeg_round_trips_size() {
        let img = RgbImage::from_pixel(33, 17, Rgb([200, 100, 50]));
        let back = image::load_from_memory(&encode_jpeg(&img, 85).unwrap()).unwrap();
        assert_eq!((back.width(), back.height()), (33, 17));
    }
}
