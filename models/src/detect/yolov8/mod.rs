//! YOLOv8 (ultralytics) object detection behind the [`Detector`] trait: the network is in
//! [`network`], the head's decoding and NMS in [`decode`]; this module letterboxes the images,
//! runs both, and maps the boxes back to image pixels.

pub mod decode;
pub mod network;

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, IndexOp};
use image::RgbImage;

use self::decode::{non_max_suppression, NmsConfig, NMS_IOU};
use self::network::{Multiples, YoloV8};
use super::letterbox::{to_input_tensor, Letterbox};
use super::{MAX_DETECTIONS, SCORE_FLOOR};
use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::task::{Detection, Detections, Detector, Timings};

/// YOLOv8 behind the [`Detector`] trait: letterbox, network, NMS, boxes back in image pixels.
pub struct YoloDetector {
    spec: ModelSpec,
    model: YoloV8,
    device: Device,
}

impl YoloDetector {
    /// `spec.arch` picks the variant (`yolov8n`, `yolov8s`); `spec.labels` gives the classes.
    pub fn load(spec: &ModelSpec, path: &Path, device: &Device) -> Result<Self> {
        let multiples = Multiples::for_arch(spec.arch).ok_or_else(|| {
            ModelError::Catalog(format!("{}: unknown YOLOv8 arch {:?}", spec.id, spec.arch))
        })?;
        let model = YoloV8::load(path, multiples, spec.labels.len(), device)?;
        Self::new(spec, model, device)
    }

    /// Wraps an already loaded network (e.g. a test twin with its own multiples).
    pub fn new(spec: &ModelSpec, model: YoloV8, device: &Device) -> Result<Self> {
        if spec.labels.len() != model.num_classes() {
            return Err(ModelError::Catalog(format!(
                "{}: {} labels for a {}-class network",
                spec.id,
                spec.labels.len(),
                model.num_classes()
            )));
        }
        let input = spec.image_input();
        if !input.width.is_multiple_of(32) || !input.height.is_multiple_of(32) {
            return Err(ModelError::Catalog(format!(
                "{}: YOLOv8 input {}x{} is not a multiple of 32",
                spec.id, input.width, input.height
            )));
        }
        Ok(Self {
            spec: spec.clone(),
            model,
            device: device.clone(),
        })
    }

    fn input_size(&self) -> (u32, u32) {
        let i = self.spec.image_input();
        (i.width, i.height)
    }

    /// Runs one batch; the images are letterboxed to the input size together.
    fn run(&self, items: &[(&RgbImage, f32)]) -> Result<Vec<Detections>> {
        let t0 = Instant::now();
        let boxes: Vec<Letterbox> = items
            .iter()
            .map(|(img, _)| Letterbox::fit(img.dimensions(), self.input_size()))
            .collect();
        let inputs: Vec<RgbImage> = items
            .iter()
            .zip(&boxes)
            .map(|((img, _), lb)| lb.apply(img))
            .collect();
        let x = to_input_tensor(&inputs.iter().collect::<Vec<_>>(), &self.device)?;
        let t1 = Instant::now();
        let head = self.model.forward(&x)?;
        let head = head.to_device(&Device::Cpu)?;
        let t2 = Instant::now();
        let classes = self.model.num_classes();
        let mut out = Vec::with_capacity(items.len());
        for (i, ((img, min_score), lb)) in items.iter().zip(&boxes).enumerate() {
            let floor = min_score.max(SCORE_FLOOR);
            // The conf test is strict (ultralytics'); nudge down so `min_score` itself is kept, as
            // the trait promises "at least".
            let cfg = NmsConfig {
                conf: floor.next_down(),
                iou: NMS_IOU,
                max_det: MAX_DETECTIONS,
            };
            let scores = head.i(i)?.flatten_all()?.to_vec1::<f32>()?;
            let detections = non_max_suppression(&scores, classes, &cfg)
                .into_iter()
                .map(|c| Detection {
                    category_id: c.class,
                    label: self.spec.labels.get(c.class).cloned().unwrap_or_default(),
                    score: c.score,
                    bbox: lb.unmap(&c.bbox),
                })
                .collect();
            out.push(Detections {
                width: img.width(),
                height: img.height(),
                score_floor: floor,
                detections,
                timings: Timings::default(),
            });
        }
        let t3 = Instant::now();
        // A batch shares its stages; each image reports its share.
        let share = |d: std::time::Duration| d.as_secs_f64() * 1e3 / items.len() as f64;
        for d in &mut out {
            d.timings = Timings {
                preprocess_ms: share(t1 - t0),
                inference_ms: share(t2 - t1),
                postprocess_ms: share(t3 - t2),
            };
        }
        Ok(out)
    }
}

impl Detector for YoloDetector {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn detect(&self, img: &RgbImage, min_score: f32) -> Result<Detections> {
        Ok(self.run(&[(img, min_score)])?.remove(0))
    }

    /// One forward pass for the whole batch (all images letterbox to the same input size).
    fn detect_batch(&self, items: &[(&RgbImage, f32)]) -> Vec<Result<Detections>> {
        if items.is_empty() {
            return Vec::new();
        }
        match self.run(items) {
            Ok(all) => all.into_iter().map(Ok).collect(),
            // Errors are not Clone: report the batch's failure per image by message.
            Err(e) => items
                .iter()
                .map(|_| Err(ModelError::Input(format!("batch failed: {e}"))))
                .collect(),
        }
    }
}
