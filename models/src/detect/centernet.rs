//! CenterNet decoding (the tail of the TF graph, `tower_0/detections`, reimplemented): peaks of
//! the class heatmap (a cell that equals the 3x3 max around it), the top `k` peaks over all
//! cells and classes, and a box from each peak's four side distances.

use super::nms::Candidate;

/// The graph outputs the decoder reads: class heatmap `[1, H, W, C]` (sigmoid applied) and
/// side distances `[1, H, W, 4]` (left, top, right, bottom) in input pixels.
pub const OUTPUTS: [&str; 2] = ["tower_0/keypoints", "tower_0/wh"];
/// Peaks can still overlap (a large object has several); suppress within a class like NanoDet.
pub const NMS_IOU: f32 = 0.5;

pub struct Heatmap<'a> {
    pub width: usize,
    pub height: usize,
    pub classes: usize,
    /// `[H, W, C]` row-major.
    pub scores: &'a [f32],
    /// `[H, W, 4]` row-major.
    pub wh: &'a [f32],
}

impl Heatmap<'_> {
    fn at(&self, y: usize, x: usize, c: usize) -> f32 {
        self.scores[(y * self.width + x) * self.classes + c]
    }

    /// Whether (y, x, c) is the maximum of its 3x3 neighbourhood (max-pool "SAME" + equal).
    fn is_peak(&self, y: usize, x: usize, c: usize) -> bool {
        let v = self.at(y, x, c);
        for ny in y.saturating_sub(1)..=(y + 1).min(self.height - 1) {
            for nx in x.saturating_sub(1)..=(x + 1).min(self.width - 1) {
                if self.at(ny, nx, c) > v {
                    return false;
                }
            }
        }
        true
    }
}

/// The top `k` peaks scoring at least `floor`, as boxes in input pixels. Like the graph's own
/// decode, boxes are not clamped (they may cross the input's edges); rescaling clamps them.
pub fn decode(heat: &Heatmap, input: (u32, u32), floor: f32, k: usize) -> Vec<Candidate> {
    let stride_x = input.0 as f32 / heat.width as f32;
    let stride_y = input.1 as f32 / heat.height as f32;
    let mut peaks: Vec<(f32, usize)> = Vec::new();
    for (i, &s) in heat.scores.iter().enumerate() {
        if s < floor {
            continue;
        }
        let c = i % heat.classes;
        let cell = i / heat.classes;
        if heat.is_peak(cell / heat.width, cell % heat.width, c) {
            peaks.push((s, i));
        }
    }
    // Highest score first; equal scores by flat index, as top-k does.
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    peaks.truncate(k);
    peaks
        .into_iter()
        .map(|(score, i)| {
            let class = i % heat.classes;
            let cell = i / heat.classes;
            let cx = (cell % heat.width) as f32 * stride_x;
            let cy = (cell / heat.width) as f32 * stride_y;
            let d = &heat.wh[cell * 4..cell * 4 + 4];
            Candidate {
                class,
                score,
                bbox: [cx - d[0], cy - d[1], cx + d[2], cy + d[3]],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_peaks_not_their_neighbours() {
        // 4x4 grid, 1 class: a peak at (1, 1) with a strong neighbour, a weaker peak at (3, 3).
        let mut scores = vec![0.0f32; 16];
        scores[5] = 0.9;
        scores[6] = 0.8; // beside the peak: not a peak itself
        scores[15] = 0.4;
        let wh: Vec<f32> = (0..16).flat_map(|_| [2.0, 2.0, 2.0, 3.0]).collect();
        let heat = Heatmap {
            width: 4,
            height: 4,
            classes: 1,
            scores: &scores,
            wh: &wh,
        };
        let got = decode(&heat, (16, 16), 0.1, 100);
        let found: Vec<(f32, [f32; 4])> = got.iter().map(|c| (c.score, c.bbox)).collect();
        // Cell points at (x * 4, y * 4), sides (2, 2, 2, 3): unclamped, like the graph's decode.
        assert_eq!(
            found,
            [(0.9, [2., 2., 6., 7.]), (0.4, [10., 10., 14., 15.])]
        );
        assert_eq!(decode(&heat, (16, 16), 0.1, 1).len(), 1);
        assert!(decode(&heat, (16, 16), 0.95, 100).is_empty());
    }
}
