//! NanoDet (GFL head) decoding, as upstream `nanodet/model/head/gfl_head.py` does it: for each
//! stride level, each grid cell has 80 class scores (sigmoid already applied in the graph) and
//! a distance distribution per box side (`reg_max + 1` bins, softmax, expectation, x stride),
//! measured from the cell centre `((col + 0.5) * stride, (row + 0.5) * stride)`.

use super::nms::Candidate;

/// The three strides of NanoDet-g, in the graph's output order.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Bins per side minus one (NanoDet's `reg_max`).
pub const REG_MAX: usize = 10;
/// Upstream's NMS overlap threshold (`nms_cfg.iou_threshold`).
pub const NMS_IOU: f32 = 0.6;

/// One stride level's raw outputs, row-major over the grid: `scores` is `[cells, classes]`,
/// `dists` is `[cells, 4 * (REG_MAX + 1)]` with sides in (left, top, right, bottom) order.
pub struct Level<'a> {
    pub stride: usize,
    pub scores: &'a [f32],
    pub dists: &'a [f32],
}

/// Softmax expectation of one side's bins, in units of the stride.
fn expected_distance(bins: &[f32]) -> f32 {
    let max = bins.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut weighted) = (0.0f32, 0.0f32);
    for (i, &b) in bins.iter().enumerate() {
        let e = (b - max).exp();
        sum += e;
        weighted += e * i as f32;
    }
    weighted / sum
}

/// Every (cell, class) whose score is at least `floor`, with its box in input pixels
/// (clamped to the `input` (w, h) frame). Suppression is the caller's.
pub fn decode(levels: &[Level], classes: usize, input: (u32, u32), floor: f32) -> Vec<Candidate> {
    let bins = REG_MAX + 1;
    let (in_w, in_h) = (input.0 as f32, input.1 as f32);
    let mut out = Vec::new();
    for level in levels {
        let cols = (input.0 as usize).div_ceil(level.stride);
        let cells = level.scores.len() / classes;
        for cell in 0..cells {
            let scores = &level.scores[cell * classes..(cell + 1) * classes];
            if !scores.iter().any(|&s| s >= floor) {
                continue;
            }
            let s = level.stride as f32;
            let cx = ((cell % cols) as f32 + 0.5) * s;
            let cy = ((cell / cols) as f32 + 0.5) * s;
            let d = &level.dists[cell * 4 * bins..(cell + 1) * 4 * bins];
            let side = |k: usize| expected_distance(&d[k * bins..(k + 1) * bins]) * s;
            let bbox = [
                (cx - side(0)).clamp(0.0, in_w),
                (cy - side(1)).clamp(0.0, in_h),
                (cx + side(2)).clamp(0.0, in_w),
                (cy + side(3)).clamp(0.0, in_h),
            ];
            for (class, &score) in scores.iter().enumerate() {
                if score >= floor {
                    out.push(Candidate { class, score, bbox });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-hot-ish bins: a large logit on bin `k` makes the expectation ~k.
    fn peaked(k: usize) -> Vec<f32> {
        (0..=REG_MAX)
            .map(|i| if i == k { 30.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn expectation_of_a_peaked_and_a_flat_distribution() {
        assert!((expected_distance(&peaked(3)) - 3.0).abs() < 1e-6);
        assert!((expected_distance(&[0.0; 11]) - 5.0).abs() < 1e-6);
    }

    #[test]
    fn decodes_a_cell_into_a_box_around_its_centre() {
        // A 2x2 grid at stride 8 on a 16x16 input, 2 classes; only cell (row 1, col 0) fires.
        let mut scores = vec![0.01f32; 4 * 2];
        scores[2 * 2 + 1] = 0.9;
        let mut dists = vec![0.0f32; 4 * 44];
        let cell = 2;
        for (side, k) in [(0, 0), (1, 1), (2, 1), (3, 0)] {
            let at = cell * 44 + side * 11;
            dists[at..at + 11].copy_from_slice(&peaked(k));
        }
        let levels = [Level {
            stride: 8,
            scores: &scores,
            dists: &dists,
        }];
        let got = decode(&levels, 2, (16, 16), 0.5);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].class, got[0].score), (1, 0.9));
        // Centre (4, 12); left 0, top 8, right 8, bottom 0 pixels.
        let b = got[0].bbox;
        let want = [4.0, 4.0, 12.0, 12.0];
        for (g, w) in b.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "{b:?}");
        }
        assert!(decode(&levels, 2, (16, 16), 0.95).is_empty());
    }
}
