//! Boxes and per-class non-maximum suppression: pure functions on plain data.

/// An axis-aligned box `[x1, y1, x2, y2]` in pixels.
pub type BBox = [f32; 4];

/// One scored box of one class, before or after suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub class: usize,
    pub score: f32,
    pub bbox: BBox,
}

pub fn area(b: &BBox) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// Intersection over union; 0 for two empty boxes.
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let inter = area(&[
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ]);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Greedy NMS within each class: highest score first, dropping boxes of the same class that
/// overlap a kept one by more than `iou_threshold`. Keeps at most `max_keep`, best first.
/// Ties in score keep the earlier candidate (stable), so the result does not depend on sort luck.
pub fn nms_per_class(
    mut cands: Vec<Candidate>,
    iou_threshold: f32,
    max_keep: usize,
) -> Vec<Candidate> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in cands {
        if kept.len() == max_keep {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class == c.class && iou(&k.bbox, &c.bbox) > iou_threshold);
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

/// Maps a box from a stretched `from` (w, h) frame to the `to` (w, h) frame, clamped to it.
pub fn rescale(b: &BBox, from: (u32, u32), to: (u32, u32)) -> BBox {
    let sx = to.0 as f32 / from.0 as f32;
    let sy = to.1 as f32 / from.1 as f32;
    let (w, h) = (to.0 as f32, to.1 as f32);
    [
        (b[0] * sx).clamp(0.0, w),
        (b[1] * sy).clamp(0.0, h),
        (b[2] * sx).clamp(0.0, w),
        (b[3] * sy).clamp(0.0, h),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(class: usize, score: f32, bbox: BBox) -> Candidate {
        Candidate { class, score, bbox }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0., 0., 2., 2.], &[0., 0., 2., 2.]), 1.0);
        assert_eq!(iou(&[0., 0., 2., 2.], &[2., 2., 4., 4.]), 0.0);
        // Half-overlap: inter 2, union 6.
        assert!((iou(&[0., 0., 2., 2.], &[1., 0., 3., 2.]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&[0., 0., 0., 0.], &[0., 0., 0., 0.]), 0.0);
    }

    #[test]
    fn nms_suppresses_within_a_class_only() {
        let out = nms_per_class(
            vec![
                c(0, 0.6, [0., 0., 10., 10.]),
                c(0, 0.9, [1., 1., 11., 11.]),
                c(1, 0.8, [1., 1., 11., 11.]),
                c(0, 0.5, [50., 50., 60., 60.]),
            ],
            0.5,
            100,
        );
        let got: Vec<(usize, f32)> = out.iter().map(|k| (k.class, k.score)).collect();
        assert_eq!(got, [(0, 0.9), (1, 0.8), (0, 0.5)]);
        assert_eq!(nms_per_class(out, 0.5, 2).len(), 2);
    }

    #[test]
    fn rescale_stretches_and_clamps() {
        let b = rescale(&[-4., 104., 208., 416.], (416, 416), (832, 208));
        assert_eq!(b, [0., 52., 416., 208.]);
    }
}
