//! YOLOv8's head output to boxes: ultralytics' `non_max_suppression` for one image.

use crate::detect::nms::{nms_per_class, Candidate};

/// Ultralytics' predictor default IoU for NMS (cfg `iou`).
pub const NMS_IOU: f32 = 0.7;

/// Thresholds of [`non_max_suppression`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmsConfig {
    /// Keep anchors whose best class score is strictly above this.
    pub conf: f32,
    /// Suppress a box overlapping a better one of its class by more than this.
    pub iou: f32,
    pub max_det: usize,
}

impl Default for NmsConfig {
    /// Ultralytics' predictor defaults.
    fn default() -> Self {
        Self {
            conf: 0.25,
            iou: NMS_IOU,
            max_det: 300,
        }
    }
}

/// Ultralytics' `non_max_suppression` on one image's head output (`[4 + classes, anchors]`,
/// row-major): best class per anchor, `score > conf`, xywh to xyxy, class-aware greedy NMS, best
/// first. Boxes stay in input pixels.
///
/// Ultralytics separates classes by offsetting boxes by `class * 7680` px before one class-agnostic
/// NMS; `nms_per_class` compares boxes of the same class only, which is the same rule without the
/// f32 rounding the offset adds to far-off classes' coordinates.
pub fn non_max_suppression(head: &[f32], classes: usize, cfg: &NmsConfig) -> Vec<Candidate> {
    /// Ultralytics' cap on boxes entering NMS (`max_nms`).
    const MAX_NMS: usize = 30_000;
    let anchors = head.len() / (4 + classes);
    let at = |row: usize, a: usize| head[row * anchors + a];
    let mut cands: Vec<Candidate> = (0..anchors)
        .filter_map(|a| {
            // First maximum wins ties, as torch's max does.
            let (class, score) = (0..classes).map(|c| (c, at(4 + c, a))).fold(
                (0, f32::NEG_INFINITY),
                |best, cur| {
                    if cur.1 > best.1 {
                        cur
                    } else {
                        best
                    }
                },
            );
            (score > cfg.conf).then(|| {
                let (cx, cy, hw, hh) = (at(0, a), at(1, a), at(2, a) / 2.0, at(3, a) / 2.0);
                Candidate {
                    class,
                    score,
                    bbox: [cx - hw, cy - hh, cx + hw, cy + hh],
                }
            })
        })
        .collect();
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    cands.truncate(MAX_NMS);
    nms_per_class(cands, cfg.iou, cfg.max_det)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(anchors: &[([f32; 4], [f32; 2])]) -> Vec<f32> {
        // Rows: cx, cy, w, h, score class 0, score class 1; columns: anchors.
        (0..6)
            .flat_map(|row| {
                anchors
                    .iter()
                    .map(move |(b, s)| if row < 4 { b[row] } else { s[row - 4] })
            })
            .collect()
    }

    #[test]
    fn nms_takes_the_best_class_converts_to_xyxy_and_suppresses_per_class() {
        let head = head_of(&[
            ([10., 10., 4., 4.], [0.9, 0.1]),
            ([10.5, 10., 4., 4.], [0.8, 0.85]), // class 1: survives next to a class-0 box
            ([10.2, 10., 4., 4.], [0.7, 0.2]),  // class 0, IoU > 0.7 with the first: dropped
            ([50., 50., 2., 2.], [0.25, 0.1]),  // at the threshold: not strictly above
        ]);
        let got = non_max_suppression(&head, 2, &NmsConfig::default());
        let summary: Vec<(usize, f32)> = got.iter().map(|c| (c.class, c.score)).collect();
        assert_eq!(summary, [(0, 0.9), (1, 0.85)]);
        assert_eq!(got[0].bbox, [8., 8., 12., 12.]);
    }
}
