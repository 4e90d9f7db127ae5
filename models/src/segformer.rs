//! SegFormer (Xie et al., 2021) from a Hugging Face model folder (`config.json`,
//! `preprocessor_config.json`, `model.safetensors` under the Hub's tensor names): the Mix
//! Transformer encoder and the checkpoint reading that both heads share. The heads live with
//! their tasks: the all-MLP decode head in [`crate::segment::segformer`] (semantic
//! segmentation), the mean-pooled linear head in [`crate::classify::segformer`] (ImageNet
//! classification, `nvidia/mit-b0`).
//!
//! The config is parsed with `candle_transformers::models::segformer::Config`, but the network
//! is ours: candle-transformers 0.11's model differs from transformers' in ways that break
//! parity, namely
//! - the decode head resizes each stage's features with nearest instead of bilinear
//!   (align_corners = False) interpolation;
//! - the decode head's classifier conv drops its bias;
//! - layer norms and the decode head's batch norm use `config.layer_norm_eps` (1e-6), while
//!   transformers' modules use PyTorch's default 1e-5 and ignore that setting;
//! - the classification head is sized by `decoder_hidden_size` instead of the last hidden size
//!   (equal for mit-b0 only).

use std::path::Path;

use candle_core::{Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear};
use candle_transformers::models::segformer::Config;

use crate::catalog::ModelSpec;
use crate::error::{ModelError, Result};
use crate::segment::layers::{self, nchw_to_tokens, tokens_to_nchw, Conv, Tensors};

/// PyTorch's LayerNorm/BatchNorm2d default, which transformers' SegFormer modules use.
pub(crate) const NORM_EPS: f64 = 1e-5;

/// What `preprocessor_config.json` asks of an input, on 0..255 values:
/// resize to `width`x`height`, then `(v - mean) / std` per RGB channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessing {
    pub width: u32,
    pub height: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(serde::Deserialize)]
struct PreprocessorConfig {
    size: serde_json::Value,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default = "one_255th")]
    rescale_factor: f32,
    #[serde(default = "yes")]
    do_normalize: bool,
    image_mean: [f32; 3],
    image_std: [f32; 3],
}

fn yes() -> bool {
    true
}

fn one_255th() -> f32 {
    1.0 / 255.0
}

impl Preprocessing {
    fn from_json(text: &str) -> Result<Self> {
        let c: PreprocessorConfig = serde_json::from_str(text)
            .map_err(|e| ModelError::Catalog(format!("preprocessor_config.json: {e}")))?;
        let side = |key: &str| c.size.get(key).and_then(|v| v.as_u64());
        let (width, height) = match (c.size.as_u64(), side("width"), side("height")) {
            (Some(s), _, _) => (s, s),
            (None, Some(w), Some(h)) => (w, h),
            _ => {
                return Err(ModelError::Catalog(format!(
                    "preprocessor_config.json: size {} is neither a number nor height/width",
                    c.size
                )))
            }
        };
        // The processor feeds (v * r - mean) / std = (v - mean / r) / (std / r).
        let r = if c.do_rescale { c.rescale_factor } else { 1.0 };
        let (mean, std) = if c.do_normalize {
            (c.image_mean, c.image_std)
        } else {
            ([0.0; 3], [1.0; 3])
        };
        Ok(Self {
            width: width as u32,
            height: height as u32,
            mean: mean.map(|m| m / r),
            std: std.map(|s| s / r),
        })
    }
}

/// Efficient self-attention: keys and values come from a strided-conv-reduced sequence.
struct Attention {
    heads: usize,
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    reduction: Option<(Conv, LayerNorm)>,
}

impl Attention {
    fn forward(&self, x: &Tensor, h: usize, w: usize) -> candle_core::Result<Tensor> {
        let (b, n, c) = x.dims3()?;
        let d = c / self.heads;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            let m = t.dim(1)?;
            t.reshape((b, m, self.heads, d))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let kv = match &self.reduction {
            Some((sr, norm)) => {
                norm.forward(&nchw_to_tokens(&sr.forward(&tokens_to_nchw(x, h, w)?)?)?)?
            }
            None => x.clone(),
        };
        let k = split(self.key.forward(&kv)?)?;
        let v = split(self.value.forward(&kv)?)?;
        let scores = (q.matmul(&k.t()?)? * (d as f64).powf(-0.5))?;
        let attn = candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v)?;
        let attn = attn.transpose(1, 2)?.reshape((b, n, c))?;
        self.output.forward(&attn)
    }
}

/// Mix-FFN: linear, 3x3 depthwise conv (the positional signal), activation, linear.
struct MixFfn {
    dense1: Linear,
    dwconv: Conv,
    act: candle_nn::Activation,
    dense2: Linear,
}

impl MixFfn {
    fn forward(&self, x: &Tensor, h: usize, w: usize) -> candle_core::Result<Tensor> {
        let y = self.dwconv.forward_tokens(&self.dense1.forward(x)?, h, w)?;
        self.dense2.forward(&self.act.forward(&y)?)
    }
}

struct Layer {
    norm1: LayerNorm,
    attention: Attention,
    norm2: LayerNorm,
    mlp: MixFfn,
}

impl Layer {
    fn forward(&self, x: &Tensor, h: usize, w: usize) -> candle_core::Result<Tensor> {
        let x = (self.attention.forward(&self.norm1.forward(x)?, h, w)? + x)?;
        self.mlp.forward(&self.norm2.forward(&x)?, h, w)? + x
    }
}

/// One encoder stage: overlapping patch embedding, transformer layers, layer norm.
struct Stage {
    embed: Conv,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    norm: LayerNorm,
}

impl Stage {
    /// `[N, C_in, H, W]` -> `[N, C, H', W']`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let e = self.embed.forward(x)?;
        let (_, _, h, w) = e.dims4()?;
        let mut t = self.embed_norm.forward(&nchw_to_tokens(&e)?)?;
        for layer in &self.layers {
            t = layer.forward(&t, h, w)?;
        }
        tokens_to_nchw(&self.norm.forward(&t)?, h, w)?.contiguous()
    }
}

pub(crate) struct Encoder {
    stages: Vec<Stage>,
}

impl Encoder {
    pub(crate) fn load(t: &Tensors, c: &Config) -> Result<Self> {
        let n = c.num_encoder_blocks;
        let per_stage = [&c.depths, &c.strides, &c.num_attention_heads, &c.sr_ratios];
        if per_stage.iter().any(|v| v.len() != n) {
            return Err(ModelError::Catalog(format!(
                "segformer config: depths, strides, heads and sr_ratios need {n} entries each"
            )));
        }
        let e = "segformer.encoder";
        let stages = (0..n)
            .map(|i| {
                let layers = (0..c.depths[i])
                    .map(|j| load_layer(t, c, &format!("{e}.block.{i}.{j}"), i))
                    .collect::<Result<_>>()?;
                let pe = format!("{e}.patch_embeddings.{i}");
                Ok(Stage {
                    embed: t.conv(&format!("{pe}.proj"), c.strides[i], 1)?,
                    embed_norm: t.layer_norm(&format!("{pe}.layer_norm"), NORM_EPS)?,
                    layers,
                    norm: t.layer_norm(&format!("{e}.layer_norm.{i}"), NORM_EPS)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { stages })
    }

    /// Every stage's output, finest first.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut outs = Vec::with_capacity(self.stages.len());
        let mut x = x.clone();
        for s in &self.stages {
            x = s.forward(&x)?;
            outs.push(x.clone());
        }
        Ok(outs)
    }
}

fn load_layer(t: &Tensors, c: &Config, p: &str, stage: usize) -> Result<Layer> {
    let a = format!("{p}.attention");
    let sr = c.sr_ratios[stage];
    let reduction = (sr > 1)
        .then(|| -> Result<_> {
            Ok((
                t.conv_unpadded(&format!("{a}.self.sr"), sr)?,
                t.layer_norm(&format!("{a}.self.layer_norm"), NORM_EPS)?,
            ))
        })
        .transpose()?;
    let query = t.linear(&format!("{a}.self.query"))?;
    let heads = c.num_attention_heads[stage];
    let hidden = query.weight().dim(0)?;
    if heads == 0 || hidden % heads != 0 {
        return Err(ModelError::Catalog(format!(
            "segformer: stage {stage} has {hidden} channels, not divisible into {heads} heads"
        )));
    }
    Ok(Layer {
        norm1: t.layer_norm(&format!("{p}.layer_norm_1"), NORM_EPS)?,
        attention: Attention {
            heads,
            query,
            key: t.linear(&format!("{a}.self.key"))?,
            value: t.linear(&format!("{a}.self.value"))?,
            output: t.linear(&format!("{a}.output.dense"))?,
            reduction,
        },
        norm2: t.layer_norm(&format!("{p}.layer_norm_2"), NORM_EPS)?,
        mlp: MixFfn {
            dense1: t.linear(&format!("{p}.mlp.dense1"))?,
            dwconv: t.conv(&format!("{p}.mlp.dwconv.dwconv"), 1, 1)?,
            act: c.hidden_act,
            dense2: t.linear(&format!("{p}.mlp.dense2"))?,
        },
    })
}

/// What a model folder holds besides the weights.
pub(crate) struct Checkpoint {
    pub config: Config,
    pub labels: Vec<String>,
    pub preprocessing: Preprocessing,
    pub tensors: Tensors,
}

impl Checkpoint {
    pub(crate) fn open(dir: &Path, device: &Device) -> Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))
        };
        let config: Config = serde_json::from_str(&read("config.json")?)
            .map_err(|e| ModelError::Catalog(format!("{}/config.json: {e}", dir.display())))?;
        let preprocessing = Preprocessing::from_json(&read("preprocessor_config.json")?)?;
        let labels = labels_by_id(&config)?;
        let tensors = Tensors::load(&dir.join("model.safetensors"), device, "segformer")?;
        Ok(Self {
            config,
            labels,
            preprocessing,
            tensors,
        })
    }
}

/// `id2label` as a list ordered by id; the ids must be exactly 0..n.
fn labels_by_id(config: &Config) -> Result<Vec<String>> {
    let mut pairs = config
        .id2label
        .iter()
        .map(|(id, label)| {
            id.parse::<usize>()
                .map(|i| (i, label.clone()))
                .map_err(|_| ModelError::Catalog(format!("segformer id2label: bad id '{id}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    pairs.sort();
    if pairs.iter().enumerate().any(|(i, (id, _))| *id != i) {
        return Err(ModelError::Catalog(
            "segformer id2label: ids are not 0..n".into(),
        ));
    }
    Ok(pairs.into_iter().map(|(_, l)| l).collect())
}

/// The head's output count must match the checkpoint's labels.
pub(crate) fn check_classes(what: &str, weights: usize, labels: &[String]) -> Result<()> {
    if weights != labels.len() {
        return Err(ModelError::Catalog(format!(
            "{what}: the classifier has {weights} outputs, id2label {} labels",
            labels.len()
        )));
    }
    Ok(())
}

/// The catalog's input settings should be the checkpoint's own; a mismatch is worth a warning
/// (the catalog wins: it is what the server was configured with).
fn warn_if_preprocessing_differs(spec: &ModelSpec, p: &Preprocessing) {
    let Some(input) = &spec.input else { return };
    let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-2);
    if (input.width, input.height) != (p.width, p.height)
        || !close(input.mean, p.mean)
        || !close(input.std, p.std)
    {
        tracing::warn!(
            model = %spec.id,
            "catalog input {}x{} mean {:?} std {:?} differs from preprocessor_config.json's {p:?}",
            input.width,
            input.height,
            input.mean,
            input.std
        );
    }
}

/// What the task wrappers need from a SegFormer checkpoint, whichever head it has.
pub trait SegFormerModel: Sized + Send + Sync {
    fn load(dir: &Path, device: &Device) -> Result<Self>;
    fn labels(&self) -> &[String];
    fn preprocessing(&self) -> &Preprocessing;
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
}

macro_rules! segformer_model {
    ($t:ty) => {
        impl SegFormerModel for $t {
            fn load(dir: &Path, device: &Device) -> Result<Self> {
                <$t>::load(dir, device)
            }
            fn labels(&self) -> &[String] {
                <$t>::labels(self)
            }
            fn preprocessing(&self) -> &Preprocessing {
                <$t>::preprocessing(self)
            }
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                <$t>::forward(self, x)
            }
        }
    };
}
pub(crate) use segformer_model;

/// A SegFormer checkpoint behind a task trait:
/// [`SegFormerSegmenter`](crate::segment::SegFormerSegmenter) (semantic segmentation) or
/// [`SegFormerClassifier`](crate::classify::SegFormerClassifier) (ImageNet classification).
pub struct SegFormer<M> {
    pub(crate) spec: ModelSpec,
    pub(crate) model: M,
    pub(crate) device: Device,
}

impl<M: SegFormerModel> SegFormer<M> {
    pub fn load(spec: &ModelSpec, dir: &Path, device: &Device) -> Result<Self> {
        let model = M::load(dir, device)?;
        layers::check_labels(spec, model.labels().len())?;
        warn_if_preprocessing_differs(spec, model.preprocessing());
        // The checkpoint's own id2label names the classes when the catalog does not.
        let mut spec = spec.clone();
        if spec.labels.is_empty() {
            spec.labels = model.labels().to_vec();
        }
        Ok(Self {
            spec,
            model,
            device: device.clone(),
        })
    }

    pub fn labels(&self) -> &[String] {
        self.model.labels()
    }

    pub fn preprocessing(&self) -> &Preprocessing {
        self.model.preprocessing()
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.model.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessing_is_scaled_to_0_255_values() {
        let p = Preprocessing::from_json(
            r#"{"size": {"height": 64, "width": 32}, "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.25, 0.25, 0.25], "rescale_factor": 0.00392156862745098}"#,
        )
        .unwrap();
        assert_eq!((p.width, p.height), (32, 64));
        assert!((p.mean[0] - 127.5).abs() < 1e-3 && (p.std[2] - 63.75).abs() < 1e-3);
        let square = Preprocessing::from_json(
            r#"{"size": 512, "image_mean": [0, 0, 0], "image_std": [1, 1, 1]}"#,
        )
        .unwrap();
        assert_eq!((square.width, square.height), (512, 512));
        assert!(Preprocessing::from_json(
            r#"{"size": {"shortest_edge": 8}, "image_mean": [0,0,0], "image_std": [1,1,1]}"#
        )
        .is_err());
    }
}
