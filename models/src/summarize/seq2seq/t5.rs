//! T5 for summarization (t5-small and kin): candle-transformers' T5 config and encoder, and a
//! decoder of our own, checked against transformers on a random twin (tests/twin_seq2seq.rs).
//!
//! Why not candle-transformers' `T5ForConditionalGeneration` for decoding (0.11.1):
//! - its decoder buckets relative positions bidirectionally (16 buckets each way) where
//!   transformers' decoder is causal (32 buckets, one way), so from 9 tokens back the position
//!   bias is wrong;
//! - with tied embeddings it multiplies the decoder output by `sqrt(d_model)` before the LM
//!   head where transformers multiplies by `1 / sqrt(d_model)` (the argmax survives, log-probs
//!   and so beam search do not);
//! - its cache is private, so beams cannot be reordered.
//!
//! The encoder has none of these issues and is used as is.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear_no_bias, rms_norm, Embedding, Linear, RmsNorm, VarBuilder};
use candle_transformers::models::t5::{ActivationWithOptionalGating, Config, T5EncoderModel};

use super::attention;
use super::config::read_json;
use super::kv_cache::{CachedDecoder, Decoder, KvCache};
use super::model::{DecoderStep, Seq2SeqModel};
use super::summarizer::Seq2SeqSummarizer;
use super::text::Seq2SeqText;
use crate::error::{ModelError, Result};

/// T5's position bucket for a key `distance` tokens before the query (causal: later keys do not
/// exist), as transformers' `_relative_position_bucket(bidirectional=False)`: exact buckets for
/// the nearest half, logarithmic ones up to `max_distance`, the last bucket beyond.
pub fn causal_bucket(distance: usize, num_buckets: usize, max_distance: usize) -> usize {
    let max_exact = num_buckets / 2;
    if distance < max_exact {
        return distance;
    }
    // f32 as torch computes it, truncated toward zero by `.to(torch.long)`.
    let log_ratio =
        (distance as f32 / max_exact as f32).ln() / (max_distance as f32 / max_exact as f32).ln();
    let large = max_exact + (log_ratio * (num_buckets - max_exact) as f32) as usize;
    large.min(num_buckets - 1)
}

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    d_kv: usize,
}

impl Attention {
    fn load(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let inner = cfg.num_heads * cfg.d_kv;
        Ok(Self {
            q: linear_no_bias(cfg.d_model, inner, vb.pp("q"))?,
            k: linear_no_bias(cfg.d_model, inner, vb.pp("k"))?,
            v: linear_no_bias(cfg.d_model, inner, vb.pp("v"))?,
            o: linear_no_bias(inner, cfg.d_model, vb.pp("o"))?,
            heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    /// `[b, t, d]` projected by `w` -> `[b, heads, t, d_kv]`.
    fn split(&self, w: &Linear, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        Ok(w.forward(x)?
            .reshape((b, t, self.heads, self.d_kv))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    /// Softmax attention without scaling (T5 folds it into the init), plus an optional additive
    /// bias broadcast over rows; `[b, tq, d]` out.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        Ok(self.o.forward(&attention::attend(q, k, v, bias)?)?)
    }

    /// One query per row over the encoder's keys, shared by every row.
    fn attend_shared(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        Ok(self.o.forward(&attention::attend_shared(q, k, v)?)?)
    }
}

#[derive(Debug, Clone)]
enum FeedForward {
    Plain {
        wi: Linear,
        wo: Linear,
    },
    Gated {
        wi_0: Linear,
        wi_1: Linear,
        wo: Linear,
    },
}

#[derive(Debug, Clone)]
struct Ff {
    kind: FeedForward,
    act: candle_nn::Activation,
}

impl Ff {
    fn load(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let ActivationWithOptionalGating { gated, activation } = cfg.feed_forward_proj.clone();
        let (d, f) = (cfg.d_model, cfg.d_ff);
        let kind = if gated {
            FeedForward::Gated {
                wi_0: linear_no_bias(d, f, vb.pp("wi_0"))?,
                wi_1: linear_no_bias(d, f, vb.pp("wi_1"))?,
                wo: linear_no_bias(f, d, vb.pp("wo"))?,
            }
        } else {
            FeedForward::Plain {
                wi: linear_no_bias(d, f, vb.pp("wi"))?,
                wo: linear_no_bias(f, d, vb.pp("wo"))?,
            }
        };
        Ok(Self {
            kind,
            act: activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.kind {
            FeedForward::Plain { wi, wo } => wo.forward(&self.act.forward(&wi.forward(x)?)?)?,
            FeedForward::Gated { wi_0, wi_1, wo } => {
                let g = self.act.forward(&wi_0.forward(x)?)?;
                wo.forward(&(g * wi_1.forward(x)?)?)?
            }
        })
    }
}

#[derive(Debug, Clone)]
struct DecoderBlock {
    self_attn: Attention,
    self_norm: RmsNorm,
    cross_attn: Attention,
    cross_norm: RmsNorm,
    ff: Ff,
    ff_norm: RmsNorm,
}

/// T5 weights. The encoder is candle-transformers' (cloned per request: its `forward` takes
/// `&mut self`, and a clone shares every weight tensor); the decoder is ours.
#[derive(Debug, Clone)]
pub struct T5 {
    encoder: T5EncoderModel,
    shared: Arc<Embedding>,
    blocks: Vec<DecoderBlock>,
    relative_bias: Embedding,
    final_norm: RmsNorm,
    lm_head: Tensor,
    /// `d_model^-0.5` when the LM head is the tied embedding (transformers'
    /// `scale_decoder_outputs`), else 1.
    output_scale: f64,
    num_buckets: usize,
    max_distance: usize,
    device: Device,
}

impl T5 {
    /// `scale_decoder_outputs` is transformers 5's name for "tied, rescale": it defaults to
    /// `tie_word_embeddings` for configs written before it existed.
    pub fn load(cfg: &Config, scale_decoder_outputs: Option<bool>, vb: VarBuilder) -> Result<Self> {
        if !cfg.is_encoder_decoder {
            return Err(ModelError::Input("T5 config is not encoder-decoder".into()));
        }
        let encoder = T5EncoderModel::load(vb.clone(), cfg)?;
        let shared_vb = if vb.contains_tensor("shared.weight") {
            vb.pp("shared")
        } else {
            vb.pp("decoder.embed_tokens")
        };
        let shared = Arc::new(candle_nn::embedding(
            cfg.vocab_size,
            cfg.d_model,
            shared_vb,
        )?);
        let d = vb.pp("decoder");
        let eps = cfg.layer_norm_epsilon;
        let layers = cfg.num_decoder_layers.unwrap_or(cfg.num_layers);
        let blocks = (0..layers)
            .map(|i| {
                let b = d.pp(format!("block.{i}.layer"));
                Ok(DecoderBlock {
                    self_attn: Attention::load(cfg, b.pp("0.SelfAttention"))?,
                    self_norm: rms_norm(cfg.d_model, eps, b.pp("0.layer_norm"))?,
                    cross_attn: Attention::load(cfg, b.pp("1.EncDecAttention"))?,
                    cross_norm: rms_norm(cfg.d_model, eps, b.pp("1.layer_norm"))?,
                    ff: Ff::load(cfg, b.pp("2.DenseReluDense"))?,
                    ff_norm: rms_norm(cfg.d_model, eps, b.pp("2.layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let relative_bias = candle_nn::embedding(
            cfg.relative_attention_num_buckets,
            cfg.num_heads,
            d.pp("block.0.layer.0.SelfAttention.relative_attention_bias"),
        )?;
        let lm_head = if cfg.tie_word_embeddings {
            shared.embeddings().clone()
        } else {
            vb.get((cfg.vocab_size, cfg.d_model), "lm_head.weight")?
        };
        let scale = scale_decoder_outputs.unwrap_or(cfg.tie_word_embeddings);
        Ok(Self {
            encoder,
            shared,
            blocks,
            relative_bias,
            final_norm: rms_norm(cfg.d_model, eps, d.pp("final_layer_norm"))?,
            lm_head,
            output_scale: if scale {
                (cfg.d_model as f64).powf(-0.5)
            } else {
                1.0
            },
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
            device: vb.device().clone(),
        })
    }

    /// The self-attention bias of the query at `pos` over keys `0..=pos`: `[1, h, 1, pos + 1]`.
    fn position_bias(&self, pos: usize) -> Result<Tensor> {
        let buckets: Vec<u32> = (0..=pos)
            .map(|j| causal_bucket(pos - j, self.num_buckets, self.max_distance) as u32)
            .collect();
        let ids = Tensor::new(buckets.as_slice(), &self.device)?;
        // [t, h] -> [1, h, 1, t]
        Ok(self
            .relative_bias
            .forward(&ids)?
            .t()?
            .unsqueeze(0)?
            .unsqueeze(2)?)
    }
}

impl Seq2SeqModel for T5 {
    fn encode(&self, ids: &[u32]) -> Result<Tensor> {
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        Ok(self.encoder.clone().forward(&ids)?)
    }

    // Same signature and shape as Bart's (the trait's); which weights give the cross keys differ.
    fn decoder<'a>(
        &'a self,
        encoder_out: &Tensor,
        rows: usize,
    ) -> Result<Box<dyn DecoderStep + 'a>> {
        let cross = self
            .blocks
            .iter()
            .map(|b| {
                let a = &b.cross_attn;
                Ok((a.split(&a.k, encoder_out)?, a.split(&a.v, encoder_out)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Decoder::new(
            self,
            KvCache::new(cross, rows, &self.device),
        )))
    }
}

impl CachedDecoder for T5 {
    fn decode_step(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let pos = cache.start_step(tokens)?;
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(1)?;
        // [rows, 1, d]
        let mut x = self.shared.forward(&ids)?;
        // transformers computes the bias in the first block and reuses it in all.
        let bias = self.position_bias(pos)?;
        for (i, b) in self.blocks.iter().enumerate() {
            let a = &b.self_attn;
            let h = b.self_norm.forward(&x)?;
            let (q, k, v) = (a.split(&a.q, &h)?, a.split(&a.k, &h)?, a.split(&a.v, &h)?);
            let (k, v) = cache.append(i, k, v)?;
            x = (x + a.attend(&q, &k, &v, Some(&bias))?)?;
            let c = &b.cross_attn;
            let h = b.cross_norm.forward(&x)?;
            let (ck, cv) = cache.cross(i);
            x = (&x + c.attend_shared(&c.split(&c.q, &h)?, ck, cv)?)?;
            x = (&x + b.ff.forward(&b.ff_norm.forward(&x)?)?)?;
        }
        cache.finish_step();
        let h = (self.final_norm.forward(&x)?.squeeze(1)? * self.output_scale)?;
        let logits = h.matmul(&self.lm_head.t()?)?;
        Ok(logits.to_dtype(DType::F32)?.to_vec2()?)
    }
}

/// A T5 checkpoint directory as a [`Summarizer`](crate::summarize::Summarizer). The input gets
/// the task prefix (`task_specific_params.summarization.prefix` from config.json, else
/// `summarize: `); decoding settings come from config.json, its summarization task parameters,
/// then generation_config.json (t5-small's ask for 4 beams).
pub type T5Summarizer = Seq2SeqSummarizer<T5>;

/// Inputs longer than this are cut when config.json has no `n_positions` (T5's positions are
/// relative; this is the length it was trained on).
const DEFAULT_MAX_INPUT: usize = 512;

impl T5Summarizer {
    /// `dir` holds `config.json`, `tokenizer.json`, `model.safetensors` and optionally
    /// `generation_config.json`.
    pub fn load(id: impl Into<String>, dir: &Path, device: &Device) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config = read_json(&config_path)?;
        let cfg: Config = serde_json::from_value(config.clone())
            .map_err(|e| ModelError::Input(format!("{}: {e}", config_path.display())))?;
        let scale = config
            .get("scale_decoder_outputs")
            .and_then(|v| v.as_bool());
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), device)?;
        let model = T5::load(
            &cfg,
            scale,
            VarBuilder::from_tensors(tensors, DType::F32, device),
        )?;
        let max_input = config
            .get("n_positions")
            .and_then(|v| v.as_u64())
            .map_or(DEFAULT_MAX_INPUT, |n| n as usize);
        let text = Seq2SeqText::load(dir, &config, Some("summarize: "), max_input)?;
        Ok(Self {
            id: id.into(),
            model,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::causal_bucket;

    #[test]
    fn causal_buckets_match_transformers() {
        // torch: T5Attention._relative_position_bucket(-arange(0, 200), False, 32, 128)
        // exact below 16, then 16 + floor(log(d / 16) / log(8) * 16), capped at 31.
        for d in 0..16 {
            assert_eq!(causal_bucket(d, 32, 128), d);
        }
        assert_eq!(causal_bucket(16, 32, 128), 16);
        assert_eq!(causal_bucket(20, 32, 128), 17);
        assert_eq!(causal_bucket(32, 32, 128), 21);
        assert_eq!(causal_bucket(64, 32, 128), 26);
        assert_eq!(causal_bucket(127, 32, 128), 31);
        assert_eq!(causal_bucket(1000, 32, 128), 31);
    }
}
