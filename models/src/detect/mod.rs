//! Object detection (the task trait is [`crate::task::Detector`]): the TF.js-graph detectors
//! (NanoDet, CenterNet) and YOLOv8, with decoding and suppression as pure functions in the
//! submodules.

pub mod centernet;
pub mod letterbox;
pub mod nanodet;
pub mod nms;
pub mod yolov8;

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use image::RgbImage;

use crate::catalog::{Arch as CatalogArch, ModelSpec};
use crate::error::{ModelError, Result};
use crate::image::preprocess;
use crate::task::{Detection, Detections, Detector, Timings};
use crate::tfjs::Graph;
pub use nms::{BBox, Candidate};

#[cfg(test)]
mod tests {
    #[test]
    fn coco_ids_follow_the_official_numbering() {
        // person 1, bicycle 2, stop sign 13 (12 is unused), toothbrush 90.
        assert_eq!(super::coco91_id(0), 1);
        assert_eq!(super::coco91_id(1), 2);
        assert_eq!(super::coco91_id(11), 13);
        assert_eq!(super::coco91_id(79), 90);
        assert_eq!(super::coco91_id(80), 0);
    }
}

/// The lowest score any detector reports; callers filter higher (the page re-thresholds in the
/// browser without a new request, so the API returns everything down to here).
pub const SCORE_FLOOR: f32 = 0.05;
/// At most this many boxes per image, best first.
pub const MAX_DETECTIONS: usize = 100;

/// COCO's official category ids (1..90, with gaps) for the 80 classes detectors index 0..79.
const COCO91: [u32; 80] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
];

/// The COCO category id of class index `i` (0..79); out-of-range indices map to 0.
pub fn coco91_id(i: usize) -> u32 {
    COCO91.get(i).copied().unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    NanoDet,
    CenterNet,
}

/// A COCO detector stored as a TF.js graph, decoded outside the graph.
pub struct TfjsDetector {
    spec: ModelSpec,
    arch: Arch,
    graph: Graph,
    device: Device,
}

impl TfjsDetector {
    pub fn load(spec: &ModelSpec, graph_path: &Path, device: &Device) -> Result<Self> {
        let (arch, graph) = match spec.arch {
            // Outputs sorted by name: Identity (stride 8 scores), _1, _2, then _3.._5 (boxes).
            Some(CatalogArch::NanoDet) => (Arch::NanoDet, Graph::load(graph_path, device)?),
            // Only the heatmap and box sizes: the graph's own top-k tail is replaced by
            // `centernet::decode`, which computes the same boxes.
            Some(CatalogArch::CenterNet) => (
                Arch::CenterNet,
                Graph::load_outputs(graph_path, device, &centernet::OUTPUTS)?,
            ),
            other => {
                return Err(ModelError::Catalog(format!(
                    "{}: no detection decoder for arch {other:?}",
                    spec.id
                )))
            }
        };
        if spec.labels.is_empty() {
            return Err(ModelError::Catalog(format!("{}: no labels", spec.id)));
        }
        Ok(Self {
            spec: spec.clone(),
            arch,
            graph,
            device: device.clone(),
        })
    }

    fn input_size(&self) -> (u32, u32) {
        let i = self.spec.image_input();
        (i.width, i.height)
    }

    /// Runs the graph on an image already at the model's input size and returns the
    /// suppressed candidates in input pixels; exposed for parity tests.
    pub fn candidates(&self, resized: &RgbImage, min_score: f32) -> Result<Vec<Candidate>> {
        let x = preprocess::to_tensor(resized, self.spec.image_input(), &self.device)?;
        let outs = self.graph.run(&[x])?;
        self.decode(&outs, min_score.max(SCORE_FLOOR))
    }

    fn decode(&self, outs: &[Tensor], floor: f32) -> Result<Vec<Candidate>> {
        let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
        let classes = self.spec.labels.len();
        let cands = match self.arch {
            Arch::NanoDet => {
                if outs.len() != 6 {
                    return Err(ModelError::Graph(format!(
                        "{}: NanoDet has 6 outputs, got {}",
                        self.spec.id,
                        outs.len()
                    )));
                }
                let data: Vec<Vec<f32>> = outs.iter().map(flat).collect::<Result<_>>()?;
                let levels: Vec<nanodet::Level> = (0..3)
                    .map(|i| nanodet::Level {
                        stride: nanodet::STRIDES[i],
                        scores: &data[i],
                        dists: &data[i + 3],
                    })
                    .collect();
                let c = nanodet::decode(&levels, classes, self.input_size(), floor);
                nms::nms_per_class(c, nanodet::NMS_IOU, MAX_DETECTIONS)
            }
            Arch::CenterNet => {
                let (_, h, w, c) = outs[0].dims4()?;
                let heat = centernet::Heatmap {
                    width: w,
                    height: h,
                    classes: c,
                    scores: &flat(&outs[0])?,
                    wh: &flat(&outs[1])?,
                };
                let c = centernet::decode(&heat, self.input_size(), floor, MAX_DETECTIONS);
                nms::nms_per_class(c, centernet::NMS_IOU, MAX_DETECTIONS)
            }
        };
        Ok(cands)
    }

    /// The graph, for benchmarks and profiling.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl Detector for TfjsDetector {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn detect(&self, img: &RgbImage, min_score: f32) -> Result<Detections> {
        let t0 = Instant::now();
        let resized = preprocess::resize_for(img, self.spec.image_input());
        let x = preprocess::to_tensor(&resized, self.spec.image_input(), &self.device)?;
        let t1 = Instant::now();
        let outs = self.graph.run(&[x])?;
        let t2 = Instant::now();
        let floor = min_score.max(SCORE_FLOOR);
        let size = (img.width(), img.height());
        let detections = self
            .decode(&outs, floor)?
            .into_iter()
            .map(|c| Detection {
                category_id: c.class,
                label: self.spec.labels.get(c.class).cloned().unwrap_or_default(),
                score: c.score,
                bbox: nms::rescale(&c.bbox, self.input_size(), size),
            })
            .collect();
        let t3 = Instant::now();
        Ok(Detections {
            width: size.0,
            height: size.1,
            score_floor: floor,
            detections,
            timings: Timings {
                preprocess_ms: ms(t1 - t0),
                inference_ms: ms(t2 - t1),
                postprocess_ms: ms(t3 - t2),
            },
        })
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
