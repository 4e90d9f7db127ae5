//! Pixel work the segmentation views do in the browser on buffers the server returned: blend
//! the tint over the original, build the mask, measure the share. Pure, so tested here.

/// Person tint, Okabe–Ito orange (matches the server's overlay).
pub const TINT: [u8; 3] = [230, 159, 0];

/// The original RGBA with `tint` blended at `alpha` wherever the probability is ≥ `threshold`.
pub fn blend(rgba: &[u8], prob: &[u8], threshold: u8, alpha: f64, tint: [u8; 3]) -> Vec<u8> {
    let mut out = rgba.to_vec();
    for (px, &p) in out.chunks_exact_mut(4).zip(prob) {
        if p >= threshold {
            for c in 0..3 {
                px[c] = (px[c] as f64 * (1.0 - alpha) + tint[c] as f64 * alpha).round() as u8;
            }
        }
    }
    out
}

/// The thresholded mask as opaque RGBA: white where the probability is ≥ `threshold`, else
/// black (as the server's `output=mask`).
pub fn mask(prob: &[u8], threshold: u8) -> Vec<u8> {
    prob.iter()
        .flat_map(|&p| {
            let v = if p >= threshold { 255 } else { 0 };
            [v, v, v, 255]
        })
        .collect()
}

/// The fraction of pixels with probability ≥ `threshold`.
pub fn share(prob: &[u8], threshold: u8) -> f32 {
    if prob.is_empty() {
        return 0.0;
    }
    prob.iter().filter(|&&p| p >= threshold).count() as f32 / prob.len() as f32
}

/// Dims every pixel outside the highlighted region to `keep` of its brightness, so a hovered
/// legend entry stands out: the person (`person: true`, probability ≥ `threshold`) or the
/// background (the rest).
pub fn spotlight(rgba: &mut [u8], prob: &[u8], threshold: u8, person: bool, keep: f64) {
    for (px, &p) in rgba.chunks_exact_mut(4).zip(prob) {
        if (p >= threshold) != person {
            for c in px.iter_mut().take(3) {
                *c = (*c as f64 * keep).round() as u8;
            }
        }
    }
}

/// A slider's 0..1 threshold as the probability map's 0..255 level.
pub fn level(threshold: f64) -> u8 {
    (threshold * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_tints_only_above_the_threshold() {
        let rgba = [0, 0, 0, 255, 100, 100, 100, 255];
        let out = blend(&rgba, &[200, 10], 128, 0.5, TINT);
        assert_eq!(&out[..4], &[115, 80, 0, 255]);
        assert_eq!(&out[4..], &rgba[4..]);
    }

    #[test]
    fn spotlight_dims_everything_but_the_highlighted_class() {
        let rgba = [200, 100, 50, 255, 200, 100, 50, 255];
        let prob = [255, 0];
        let mut person = rgba;
        spotlight(&mut person, &prob, 128, true, 0.5);
        assert_eq!(person, [200, 100, 50, 255, 100, 50, 25, 255]);
        let mut background = rgba;
        spotlight(&mut background, &prob, 128, false, 0.5);
        assert_eq!(background, [100, 50, 25, 255, 200, 100, 50, 255]);
    }

    #[test]
    fn mask_and_share_follow_the_threshold() {
        let prob = [0, 100, 200, 255];
        assert_eq!(share(&prob, level(0.5)), 0.5);
        assert_eq!(share(&prob, 0), 1.0);
        assert_eq!(mask(&prob, 150)[..8], [0, 0, 0, 255, 0, 0, 0, 255]);
        assert_eq!(mask(&prob, 150)[8..12], [255, 255, 255, 255]);
    }
}
