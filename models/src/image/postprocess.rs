//! Probability map -> what users see: masks, overlays, shares, PNG bytes. Pure functions.

use image::{GrayImage, ImageEncoder, RgbImage};

use crate::error::{ModelError, Result};

/// Per-pixel probabilities of the foreground class, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbMap {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

/// Per-pixel class ids (the argmax over a multi-class model's logits), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMap {
    pub width: u32,
    pub height: u32,
    pub ids: Vec<u16>,
}

impl ClassMap {
    pub fn new(width: u32, height: u32, ids: Vec<u16>) -> Result<Self> {
        if ids.len() != (width * height) as usize {
            return Err(ModelError::Input(format!(
                "class map of {} values is not {width}x{height}",
                ids.len()
            )));
        }
        Ok(Self { width, height, ids })
    }

    /// Nearest-neighbour resize with half-pixel centres (class ids must not be blended).
    pub fn resize(&self, width: u32, height: u32) -> ClassMap {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let mut ids = Vec::with_capacity(width as usize * height as usize);
        self.rows_at(width, height, |_, row| ids.extend(row));
        ClassMap { width, height, ids }
    }

    /// The map as [`resize`](Self::resize) would make it, one row at a time: memory for one
    /// row, whatever the size asked for.
    pub fn rows_at(&self, width: u32, height: u32, mut f: impl FnMut(u32, &[u16])) {
        let src = |out: u32, inp: u32, o: u32| -> usize {
            (((o as f32 + 0.5) * inp as f32 / out as f32) as u32).min(inp - 1) as usize
        };
        let xs: Vec<usize> = (0..width).map(|x| src(width, self.width, x)).collect();
        let mut row = Vec::with_capacity(width as usize);
        for y in 0..height {
            let start = src(height, self.height, y) * self.width as usize;
            row.clear();
            row.extend(xs.iter().map(|&x| self.ids[start + x]));
            f(y, &row);
        }
    }

    /// [`to_colour`](Self::to_colour) of the map resized to `width` x `height`, without making
    /// the resized map.
    pub fn colour_at(&self, width: u32, height: u32, palette: &[[u8; 3]]) -> RgbImage {
        let mut out = Vec::with_capacity(width as usize * height as usize * 3);
        self.rows_at(width, height, |_, row| {
            for &id in row {
                out.extend(palette.get(id as usize).copied().unwrap_or([255, 255, 255]));
            }
        });
        RgbImage::from_raw(width, height, out).expect("width * height pixels")
    }

    /// [`overlay`](Self::overlay) with the map resized to the image's size on the fly.
    pub fn overlay_at(&self, img: &RgbImage, palette: &[[u8; 3]], alpha: f32) -> RgbImage {
        let mut out = img.clone();
        let w = img.width() as usize;
        let buf: &mut [u8] = &mut out;
        self.rows_at(img.width(), img.height(), |y, row| {
            let line = &mut buf[y as usize * w * 3..(y as usize + 1) * w * 3];
            for (px, &id) in line.chunks_exact_mut(3).zip(row) {
                if id == 0 {
                    continue;
                }
                let c = palette.get(id as usize).copied().unwrap_or([255, 255, 255]);
                for (v, &t) in px.iter_mut().zip(&c) {
                    *v = (*v as f32 * (1.0 - alpha) + t as f32 * alpha).round() as u8;
                }
            }
        });
        out
    }

    /// The share of pixels of each class id in `0..classes`.
    pub fn shares(&self, classes: usize) -> Vec<f32> {
        let mut counts = vec![0usize; classes];
        for &id in &self.ids {
            if let Some(c) = counts.get_mut(id as usize) {
                *c += 1;
            }
        }
        let n = self.ids.len().max(1) as f32;
        counts.into_iter().map(|c| c as f32 / n).collect()
    }
}

/// The PASCAL VOC colour map (the one DeepLab's VOC masks use): class `i`'s colour spreads the
/// bits of `i` over the high bits of R, G and B. Class 0 (background) is black.
pub fn voc_palette(classes: usize) -> Vec<[u8; 3]> {
    (0..classes)
        .map(|i| {
            let (mut c, mut rgb) = (i, [0u8; 3]);
            for shift in (0..8).rev() {
                for (ch, v) in rgb.iter_mut().enumerate() {
                    *v |= (((c >> ch) & 1) as u8) << shift;
                }
                c >>= 3;
            }
            rgb
        })
        .collect()
}

impl ClassMap {
    /// Each pixel in its class's colour.
    pub fn to_colour(&self, palette: &[[u8; 3]]) -> RgbImage {
        let mut out = RgbImage::new(self.width, self.height);
        for (px, &id) in out.pixels_mut().zip(&self.ids) {
            px.0 = palette.get(id as usize).copied().unwrap_or([255, 255, 255]);
        }
        out
    }

    /// The image with every non-background pixel blended towards its class colour.
    pub fn overlay(&self, img: &RgbImage, palette: &[[u8; 3]], alpha: f32) -> Result<RgbImage> {
        if img.dimensions() != (self.width, self.height) {
            return Err(ModelError::Input("class map and image sizes differ".into()));
        }
        let mut out = img.clone();
        for (px, &id) in out.pixels_mut().zip(&self.ids) {
            if id == 0 {
                continue;
            }
            let c = palette.get(id as usize).copied().unwrap_or([255, 255, 255]);
            for (v, &t) in px.0.iter_mut().zip(&c) {
                *v = (*v as f32 * (1.0 - alpha) + t as f32 * alpha).round() as u8;
            }
        }
        Ok(out)
    }
}

/// Tint used for the person class: Okabe–Ito orange, distinguishable for colour-blind viewers.
pub const PERSON_TINT: [u8; 3] = [230, 159, 0];

impl ProbMap {
    pub fn new(width: u32, height: u32, data: Vec<f32>) -> Result<Self> {
        if data.len() != (width * height) as usize {
            return Err(ModelError::Input(format!(
                "probability map of {} values is not {width}x{height}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Bilinear resize with half-pixel centres (the mapping TF uses), to the original image size.
    pub fn resize(&self, width: u32, height: u32) -> ProbMap {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let mut data = Vec::with_capacity(width as usize * height as usize);
        self.rows_at(width, height, |_, row| data.extend_from_slice(row));
        ProbMap {
            width,
            height,
            data,
        }
    }

    /// The map as [`resize`](Self::resize) would make it, one row at a time: memory for one
    /// row of f32, whatever the size asked for (a 40-megapixel f32 map would be 160 MB).
    pub fn rows_at(&self, width: u32, height: u32, mut f: impl FnMut(u32, &[f32])) {
        if (width, height) == (self.width, self.height) {
            for (y, row) in self.data.chunks_exact(width as usize).enumerate() {
                f(y as u32, row);
            }
            return;
        }
        let taps = |inp: u32, out: u32| -> Vec<(usize, usize, f32)> {
            let scale = inp as f32 / out as f32;
            (0..out)
                .map(|o| {
                    let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                    let lo = (src.floor() as usize).min(inp as usize - 1);
                    let hi = (lo + 1).min(inp as usize - 1);
                    (lo, hi, src - lo as f32)
                })
                .collect()
        };
        let xs = taps(self.width, width);
        let ys = taps(self.height, height);
        let w = self.width as usize;
        let mut row = Vec::with_capacity(width as usize);
        for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
            let (r0, r1) = (
                &self.data[y0 * w..(y0 + 1) * w],
                &self.data[y1 * w..(y1 + 1) * w],
            );
            row.clear();
            for &(x0, x1, fx) in &xs {
                let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
                let bot = r1[x0] + (r1[x1] - r1[x0]) * fx;
                row.push(top + (bot - top) * fy);
            }
            f(y as u32, &row);
        }
    }

    /// [`mask`](Self::mask) of the map resized to `width` x `height`, made row by row.
    pub fn mask_at(&self, width: u32, height: u32, threshold: f32) -> GrayImage {
        let mut px = Vec::with_capacity(width as usize * height as usize);
        self.rows_at(width, height, |_, row| {
            px.extend(row.iter().map(|&p| if p >= threshold { 255u8 } else { 0 }))
        });
        GrayImage::from_raw(width, height, px).expect("width * height pixels")
    }

    /// [`to_gray`](Self::to_gray) of the map resized to `width` x `height`, made row by row.
    pub fn gray_at(&self, width: u32, height: u32) -> GrayImage {
        let mut px = Vec::with_capacity(width as usize * height as usize);
        self.rows_at(width, height, |_, row| {
            px.extend(
                row.iter()
                    .map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8),
            )
        });
        GrayImage::from_raw(width, height, px).expect("width * height pixels")
    }

    /// [`share`](Self::share) of the map resized to `width` x `height`, in one row of memory.
    pub fn share_at(&self, width: u32, height: u32, threshold: f32) -> f32 {
        let total = width as u64 * height as u64;
        if total == 0 {
            return 0.0;
        }
        let mut above = 0u64;
        self.rows_at(width, height, |_, row| {
            above += row.iter().filter(|&&p| p >= threshold).count() as u64
        });
        above as f32 / total as f32
    }

    /// A 0/255 mask: 255 where p >= threshold.
    pub fn mask(&self, threshold: f32) -> GrayImage {
        let px = self
            .data
            .iter()
            .map(|&p| if p >= threshold { 255u8 } else { 0 })
            .collect();
        GrayImage::from_raw(self.width, self.height, px).expect("size checked in new/resize")
    }

    /// Probabilities quantised to 0..=255, for clients that re-threshold themselves.
    pub fn to_gray(&self) -> GrayImage {
        let px = self
            .data
            .iter()
            .map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        GrayImage::from_raw(self.width, self.height, px).expect("size checked in new/resize")
    }

    /// Fraction of pixels at or above the threshold.
    pub fn share(&self, threshold: f32) -> f32 {
        if self.data.is_empty() {
            return 0.0;
        }
        self.data.iter().filter(|&&p| p >= threshold).count() as f32 / self.data.len() as f32
    }
}

/// The image with foreground pixels blended towards `tint` by `alpha`.
pub fn overlay(img: &RgbImage, mask: &GrayImage, tint: [u8; 3], alpha: f32) -> Result<RgbImage> {
    if img.dimensions() != mask.dimensions() {
        return Err(ModelError::Input(
            "overlay: image and mask sizes differ".into(),
        ));
    }
    let a = alpha.clamp(0.0, 1.0);
    let mut out = img.clone();
    for (px, m) in out.pixels_mut().zip(mask.pixels()) {
        if m[0] > 0 {
            for c in 0..3 {
                px[c] = (px[c] as f32 * (1.0 - a) + tint[c] as f32 * a).round() as u8;
            }
        }
    }
    Ok(out)
}

pub fn encode_png_gray(img: &GrayImage) -> Result<Vec<u8>> {
    encode_png(img.as_raw(), img.dimensions(), image::ExtendedColorType::L8)
}

pub fn encode_png_rgb(img: &RgbImage) -> Result<Vec<u8>> {
    encode_png(
        img.as_raw(),
        img.dimensions(),
        image::ExtendedColorType::Rgb8,
    )
}

/// Fast PNG compression: these images are made per request, so speed beats size.
fn encode_png(raw: &[u8], (w, h): (u32, u32), color: image::ExtendedColorType) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut buf,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(raw, w, h, color)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_size_products_equal_the_resized_maps() {
        let p = ProbMap::new(3, 2, vec![0.1, 0.9, 0.4, 0.7, 0.2, 0.55]).unwrap();
        let big = p.resize(11, 7);
        assert_eq!(p.mask_at(11, 7, 0.5), big.mask(0.5));
        assert_eq!(p.gray_at(11, 7), big.to_gray());
        assert_eq!(p.share_at(11, 7, 0.5), big.share(0.5));
        let c = ClassMap::new(3, 2, vec![0, 1, 2, 2, 1, 0]).unwrap();
        let palette = voc_palette(3);
        let cbig = c.resize(11, 7);
        assert_eq!(c.colour_at(11, 7, &palette), cbig.to_colour(&palette));
        let img = RgbImage::from_fn(11, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 7]));
        assert_eq!(
            c.overlay_at(&img, &palette, 0.4),
            cbig.overlay(&img, &palette, 0.4).unwrap()
        );
    }

    #[test]
    fn voc_palette_matches_the_published_colours() {
        let p = voc_palette(21);
        assert_eq!(p[0], [0, 0, 0]);
        assert_eq!(p[1], [128, 0, 0]); // aeroplane
        assert_eq!(p[2], [0, 128, 0]); // bicycle
        assert_eq!(p[15], [192, 128, 128]); // person
        assert_eq!(p[20], [0, 64, 128]); // tv/monitor
    }

    #[test]
    fn class_maps_resize_by_nearest_and_count_shares() {
        let m = ClassMap::new(2, 1, vec![0, 3]).unwrap();
        let big = m.resize(4, 2);
        assert_eq!(big.ids, vec![0, 0, 3, 3, 0, 0, 3, 3]);
        assert_eq!(big.shares(4), vec![0.5, 0.0, 0.0, 0.5]);
        let colour = m.to_colour(&voc_palette(4));
        assert_eq!(colour.get_pixel(1, 0).0, [128, 128, 0]);
        assert!(ClassMap::new(2, 2, vec![0]).is_err());
    }
    use image::Rgb;

    #[test]
    fn resize_keeps_constant_maps_constant_and_interpolates_ramps() {
        let m = ProbMap::new(2, 1, vec![0.0, 1.0]).unwrap();
        let r = m.resize(4, 1);
        assert_eq!(r.data, vec![0.0, 0.25, 0.75, 1.0]);
        let c = ProbMap::new(3, 3, vec![0.5; 9]).unwrap().resize(7, 5);
        assert!(c.data.iter().all(|&v| (v - 0.5).abs() < 1e-6));
        assert_eq!((c.width, c.height), (7, 5));
    }

    #[test]
    fn mask_share_and_gray() {
        let m = ProbMap::new(4, 1, vec![0.1, 0.5, 0.49, 1.0]).unwrap();
        assert_eq!(m.mask(0.5).into_raw(), vec![0, 255, 0, 255]);
        assert_eq!(m.share(0.5), 0.5);
        assert_eq!(m.to_gray().into_raw(), vec![26, 128, 125, 255]);
        assert!(ProbMap::new(2, 2, vec![0.0; 3]).is_err());
    }

    #[test]
    fn overlay_tints_only_masked_pixels() {
        let img = RgbImage::from_pixel(2, 1, Rgb([200, 100, 0]));
        let mask = GrayImage::from_raw(2, 1, vec![0, 255]).unwrap();
        let out = overlay(&img, &mask, [0, 0, 255], 0.5).unwrap();
        assert_eq!(out.get_pixel(0, 0), &Rgb([200, 100, 0]));
        assert_eq!(out.get_pixel(1, 0), &Rgb([100, 50, 128]));
    }

    #[test]
    fn png_round_trip() {
        let mask = GrayImage::from_raw(3, 2, vec![0, 255, 0, 255, 0, 255]).unwrap();
        let bytes = encode_png_gray(&mask).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_luma8();
        assert_eq!(back, mask);
    }
}
