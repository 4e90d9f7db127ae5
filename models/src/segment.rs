//! Semantic segmentation: the task trait and its TF.js-graph implementation.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, IndexOp};
use image::RgbImage;

use crate::catalog::{ModelSpec, OutputKind, OutputSpec};
use crate::error::{ModelError, Result};
use crate::postprocess::ProbMap;
use crate::preprocess;
use crate::tfjs::Graph;

/// One model's answer for one image: the foreground probability at the model's resolution.
#[derive(Debug, Clone)]
pub struct Segmentation {
    pub probs: ProbMap,
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timings {
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
}

/// A segmentation model. Sync and `&self`: callers run it on a blocking thread and may share it.
pub trait Segmenter: Send + Sync {
    fn spec(&self) -> &ModelSpec;
    fn segment(&self, img: &RgbImage) -> Result<Segmentation>;
}

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
        let input = preprocess::to_tensor(resized, self.spec.image_input(), &self.device)?;
        let out = self.graph.run(&[input])?.remove(0); // [1, H, W, C]
        let (_, h, w, c) = out.dims4()?;
        let channel = self.output.channel;
        if channel >= c {
            return Err(ModelError::Graph(format!(
                "{}: output has {c} channels, no channel {channel}",
                self.spec.id
            )));
        }
        let probs = match self.output.kind {
            OutputKind::Sigmoid => out.i((0, .., .., channel))?,
            OutputKind::Softmax => {
                candle_nn::ops::softmax_last_dim(&out)?.i((0, .., .., channel))?
            }
        };
        let data = probs.flatten_all()?.to_vec1::<f32>()?;
        ProbMap::new(w as u32, h as u32, data)
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
            timings: Timings {
                preprocess_ms: (t1 - t0).as_secs_f64() * 1e3,
                inference_ms: (t2 - t1).as_secs_f64() * 1e3,
                postprocess_ms: 0.0,
            },
        })
    }
}
