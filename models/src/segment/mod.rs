//! Semantic segmentation: the TF.js-graph person segmenters, DeepLabV3 and SegFormer (the task
//! trait is [`crate::task::Segmenter`]).

pub mod deeplab;
pub(crate) mod layers;
pub mod segformer;

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, IndexOp, Tensor};
use image::RgbImage;

use crate::catalog::{ModelSpec, OutputKind, OutputSpec};
use crate::error::{ModelError, Result};
use crate::image::postprocess::ProbMap;
use crate::image::preprocess;
use crate::task::{Segmentation, Segmenter, Timings};
use crate::tfjs::Graph;
pub use deeplab::{DeepLabSegmenter, DeepLabV3};
pub use segformer::SegFormerSegmenter;

/// A person/background model stored as a TF.js graph (MediaPipe Selfie, Meet).
pub struct TfjsSegmenter {
    spec: ModelSpec,
    output: OutputSpec,
    graph: Graph,
    device: Device,
}

impl TfjsSegmenter {
    pub fn load(spec: &ModelSpec, graph_path: &Path, device: &Device) -> Result<Self> {
        let graph = Graph::load(graph_path, device)?;
        if graph.inputs().len() != 1 || graph.output_names().len() != 1 {
            return Err(ModelError::Graph(format!(
                "{}: a segmenter needs one input and one output",
                spec.id
            )));
        }
        let output = spec.output.ok_or_else(|| {
            ModelError::Catalog(format!("{}: a segmenter needs an output spec", spec.id))
        })?;
        Ok(Self {
            spec: spec.clone(),
            output,
            graph,
            device: device.clone(),
        })
    }

    /// Runs the graph on an image already at the model's input size; exposed for parity tests.
    pub fn probabilities(&self, resized: &RgbImage) -> Result<ProbMap> {
        Ok(self.probabilities_batch(&[resized])?.remove(0))
    }

    /// One graph run over images already at the input size, stacked as `[N, H, W, 3]`.
    pub fn probabilities_batch(&self, resized: &[&RgbImage]) -> Result<Vec<ProbMap>> {
        let inputs = resized
            .iter()
            .map(|r| preprocess::to_tensor(r, self.spec.image_input(), &self.device))
            .collect::<Result<Vec<_>>>()?;
        let input = Tensor::cat(&inputs, 0)?;
        let out = self.graph.run(&[input])?.remove(0); // [N, H, W, C]
        let (n, h, w, c) = out.dims4()?;
        if n != resized.len() {
            return Err(ModelError::Graph(format!(
                "{}: {} images in, {n} maps out",
                self.spec.id,
                resized.len()
            )));
        }
        let channel = self.output.channel;
        if channel >= c {
            return Err(ModelError::Graph(format!(
                "{}: output has {c} channels, no channel {channel}",
                self.spec.id
            )));
        }
        let probs = match self.output.kind {
            OutputKind::Sigmoid => out.i((.., .., .., channel))?,
            OutputKind::Softmax => {
                candle_nn::ops::softmax_last_dim(&out)?.i((.., .., .., channel))?
            }
        };
        (0..n)
            .map(|i| {
                ProbMap::new(
                    w as u32,
                    h as u32,
                    probs.i(i)?.flatten_all()?.to_vec1::<f32>()?,
                )
            })
            .collect()
    }
}

impl TfjsSegmenter {
    /// The graph, for benchmarks and profiling.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl Segmenter for TfjsSegmenter {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn segment(&self, img: &RgbImage) -> Result<Segmentation> {
        let t0 = Instant::now();
        let resized = preprocess::resize_for(img, self.spec.image_input());
        let t1 = Instant::now();
        let probs = self.probabilities(&resized)?;
        let t2 = Instant::now();
        Ok(Segmentation {
            probs,
            classes: None,
            timings: Timings {
                preprocess_ms: (t1 - t0).as_secs_f64() * 1e3,
                inference_ms: (t2 - t1).as_secs_f64() * 1e3,
                postprocess_ms: 0.0,
            },
        })
    }

    /// One graph run for the whole batch; each answer carries the batch's times.
    fn segment_batch(&self, imgs: &[&RgbImage]) -> Vec<Result<Segmentation>> {
        if imgs.len() < 2 {
            return imgs.iter().map(|i| self.segment(i)).collect();
        }
        let t0 = Instant::now();
        let resized: Vec<RgbImage> = imgs
            .iter()
            .map(|i| preprocess::resize_for(i, self.spec.image_input()))
            .collect();
        let t1 = Instant::now();
        let refs: Vec<&RgbImage> = resized.iter().collect();
        match self.probabilities_batch(&refs) {
            Ok(maps) => {
                let timings = Timings {
                    preprocess_ms: (t1 - t0).as_secs_f64() * 1e3,
                    inference_ms: t1.elapsed().as_secs_f64() * 1e3,
                    postprocess_ms: 0.0,
                };
                maps.into_iter()
                    .map(|probs| {
                        Ok(Segmentation {
                            probs,
                            classes: None,
                            timings,
                        })
                    })
                    .collect()
            }
            Err(e) => {
                // A graph whose ops pin the batch to 1: run the images one by one.
                tracing::debug!(model = %self.spec.id, error = %e, "batched run failed; one by one");
                imgs.iter().map(|i| self.segment(i)).collect()
            }
        }
    }
}
