//! BART for summarization (facebook/bart-large-cnn, sshleifer/distilbart-cnn-*), written here
//! with transformers' tensor names, checked against transformers on a random twin
//! (tests/twin_seq2seq.rs).
//!
//! Post-layer-norm encoder and decoder (`normalize_before` false, no final layer norm),
//! learned positions offset by 2, embeddings tied to the LM head plus `final_logits_bias`.
//! candle-transformers' `marian` is the same post-layer-norm shape, but with sinusoidal
//! positions and no `layernorm_embedding`, and its KV cache is private, so beams could not be
//! reordered; hence this file.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{
    embedding, layer_norm, linear, Activation, Embedding, LayerNorm, Linear, VarBuilder,
};
use serde::Deserialize;

use super::attention;
use super::config::read_json;
use super::kv_cache::{CachedDecoder, Decoder, KvCache};
use super::model::{DecoderStep, Seq2SeqModel};
use super::summarizer::Seq2SeqSummarizer;
use super::text::Seq2SeqText;
use crate::error::{ModelError, Result};

/// The fields of a BART `config.json` the model needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BartConfig {
    pub vocab_size: usize,
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "gelu")]
    pub activation_function: Activation,
    #[serde(default)]
    pub scale_embedding: bool,
    /// Pre-layer-norm (mBART) variants; only `false` is implemented.
    #[serde(default)]
    pub normalize_before: bool,
    #[serde(default)]
    pub add_final_layer_norm: bool,
}

fn gelu() -> Activation {
    Activation::Gelu
}

/// transformers' `BartLearnedPositionalEmbedding` reserves the first two rows.
const POSITION_OFFSET: usize = 2;
const LAYER_NORM_EPS: f64 = 1e-5;

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(d: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q: linear(d, d, vb.pp("q_proj"))?,
            k: linear(d, d, vb.pp("k_proj"))?,
            v: linear(d, d, vb.pp("v_proj"))?,
            out: linear(d, d, vb.pp("out_proj"))?,
            heads,
            head_dim: d / heads,
        })
    }

    /// `[b, t, d]` -> `[b, heads, t, head_dim]`.
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        Ok(x.reshape((b, t, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    fn keys_values(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((
            self.split(&self.k.forward(x)?)?,
            self.split(&self.v.forward(x)?)?,
        ))
    }

    fn query(&self, x: &Tensor) -> Result<Tensor> {
        let scale = (self.head_dim as f64).powf(-0.5);
        self.split(&(self.q.forward(x)? * scale)?)
    }

    /// Attention of `q` `[b, h, tq, hd]` over `k`, `v` `[b, h, tk, hd]`, then the output
    /// projection: `[b, tq, d]`.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        Ok(self.out.forward(&attention::attend(q, k, v, None)?)?)
    }

    /// One query per row over the encoder's keys, shared by every row.
    fn attend_shared(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        Ok(self.out.forward(&attention::attend_shared(q, k, v)?)?)
    }
}

#[derive(Debug, Clone)]
struct FeedForward {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

impl FeedForward {
    fn load(d: usize, ffn: usize, act: Activation, vb: &VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(d, ffn, vb.pp("fc1"))?,
            fc2: linear(ffn, d, vb.pp("fc2"))?,
            act,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self
            .fc2
            .forward(&self.act.forward(&self.fc1.forward(x)?)?)?)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attn: Attention,
    attn_norm: LayerNorm,
    ff: FeedForward,
    ff_norm: LayerNorm,
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    self_norm: LayerNorm,
    cross_attn: Attention,
    cross_norm: LayerNorm,
    ff: FeedForward,
    ff_norm: LayerNorm,
}

/// BART weights (no per-request state: caches live in [`BartDecoder`]).
#[derive(Debug, Clone)]
pub struct Bart {
    shared: Embedding,
    embed_scale: f64,
    enc_positions: Embedding,
    enc_norm: LayerNorm,
    enc_layers: Vec<EncoderLayer>,
    dec_positions: Embedding,
    dec_norm: LayerNorm,
    dec_layers: Vec<DecoderLayer>,
    final_logits_bias: Tensor,
    max_positions: usize,
    device: Device,
}

impl Bart {
    pub fn load(cfg: &BartConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.normalize_before || cfg.add_final_layer_norm {
            return Err(ModelError::Input(
                "pre-layer-norm BART (normalize_before / add_final_layer_norm) is not supported"
                    .into(),
            ));
        }
        let d = cfg.d_model;
        let m = vb.pp("model");
        // Hub checkpoints store the tied embedding under one of these names.
        let shared_vb = ["model.shared", "model.decoder.embed_tokens", "lm_head"]
            .into_iter()
            .find(|p| vb.contains_tensor(&format!("{p}.weight")))
            .map(|p| vb.pp(p))
            .unwrap_or_else(|| m.pp("shared"));
        let shared = embedding(cfg.vocab_size, d, shared_vb)?;
        let positions = cfg.max_position_embeddings + POSITION_OFFSET;
        let ln = |vb: VarBuilder| layer_norm(d, LAYER_NORM_EPS, vb);

        let e = m.pp("encoder");
        let enc_layers = (0..cfg.encoder_layers)
            .map(|i| {
                let l = e.pp(format!("layers.{i}"));
                Ok(EncoderLayer {
                    attn: Attention::load(d, cfg.encoder_attention_heads, l.pp("self_attn"))?,
                    attn_norm: ln(l.pp("self_attn_layer_norm"))?,
                    ff: FeedForward::load(d, cfg.encoder_ffn_dim, cfg.activation_function, &l)?,
                    ff_norm: ln(l.pp("final_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let dd = m.pp("decoder");
        let dec_layers = (0..cfg.decoder_layers)
            .map(|i| {
                let l = dd.pp(format!("layers.{i}"));
                let heads = cfg.decoder_attention_heads;
                Ok(DecoderLayer {
                    self_attn: Attention::load(d, heads, l.pp("self_attn"))?,
                    self_norm: ln(l.pp("self_attn_layer_norm"))?,
                    cross_attn: Attention::load(d, heads, l.pp("encoder_attn"))?,
                    cross_norm: ln(l.pp("encoder_attn_layer_norm"))?,
                    ff: FeedForward::load(d, cfg.decoder_ffn_dim, cfg.activation_function, &l)?,
                    ff_norm: ln(l.pp("final_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let final_logits_bias = if vb.contains_tensor("final_logits_bias") {
            vb.get((1, cfg.vocab_size), "final_logits_bias")?
        } else {
            Tensor::zeros((1, cfg.vocab_size), DType::F32, vb.device())?
        };
        Ok(Self {
            shared,
            embed_scale: if cfg.scale_embedding {
                (d as f64).sqrt()
            } else {
                1.0
            },
            enc_positions: embedding(positions, d, e.pp("embed_positions"))?,
            enc_norm: ln(e.pp("layernorm_embedding"))?,
            enc_layers,
            dec_positions: embedding(positions, d, dd.pp("embed_positions"))?,
            dec_norm: ln(dd.pp("layernorm_embedding"))?,
            dec_layers,
            final_logits_bias,
            max_positions: cfg.max_position_embeddings,
            device: vb.device().clone(),
        })
    }

    /// Token embeddings plus learned positions `start..start + t`, for ids `[b, t]`.
    fn embed(&self, ids: &Tensor, start: usize, positions: &Embedding) -> Result<Tensor> {
        let t = ids.dim(1)?;
        if start + t > self.max_positions {
            return Err(ModelError::Input(format!(
                "position {} is past max_position_embeddings {}",
                start + t,
                self.max_positions
            )));
        }
        let tok = (self.shared.forward(ids)? * self.embed_scale)?;
        let pos_ids = Tensor::arange(
            (start + POSITION_OFFSET) as u32,
            (start + t + POSITION_OFFSET) as u32,
            &self.device,
        )?;
        let pos = positions.forward(&pos_ids)?.unsqueeze(0)?;
        Ok(tok.broadcast_add(&pos)?)
    }

    /// Decoder input ids of at most this many positions fit.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }
}

impl Seq2SeqModel for Bart {
    /// `[1, s, d_model]` for one input.
    fn encode(&self, ids: &[u32]) -> Result<Tensor> {
        let ids = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let mut x = self
            .enc_norm
            .forward(&self.embed(&ids, 0, &self.enc_positions)?)?;
        for l in &self.enc_layers {
            let (k, v) = l.attn.keys_values(&x)?;
            let a = l.attn.attend(&l.attn.query(&x)?, &k, &v)?;
            x = l.attn_norm.forward(&(x + a)?)?;
            let f = l.ff.forward(&x)?;
            x = l.ff_norm.forward(&(x + f)?)?;
        }
        Ok(x)
    }

    fn decoder<'a>(
        &'a self,
        encoder_out: &Tensor,
        rows: usize,
    ) -> Result<Box<dyn DecoderStep + 'a>> {
        let cross = self
            .dec_layers
            .iter()
            .map(|l| l.cross_attn.keys_values(encoder_out))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Decoder::new(
            self,
            KvCache::new(cross, rows, &self.device),
        )))
    }

    /// Decoder positions are learned too: the summary cannot outgrow the table (the start
    /// token takes one position).
    fn max_new_tokens(&self) -> Option<usize> {
        Some(self.max_positions - 1)
    }
}

impl CachedDecoder for Bart {
    fn decode_step(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let pos = cache.start_step(tokens)?;
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(1)?; // [rows, 1]
        let mut x = self
            .dec_norm
            .forward(&self.embed(&ids, pos, &self.dec_positions)?)?;
        for (i, l) in self.dec_layers.iter().enumerate() {
            let (k, v) = l.self_attn.keys_values(&x)?;
            let (k, v) = cache.append(i, k, v)?;
            // One new position per row: it may see every cached one, so no causal mask.
            let a = l.self_attn.attend(&l.self_attn.query(&x)?, &k, &v)?;
            x = l.self_norm.forward(&(x + a)?)?;
            let (ck, cv) = cache.cross(i);
            let c = l
                .cross_attn
                .attend_shared(&l.cross_attn.query(&x)?, ck, cv)?;
            x = l.cross_norm.forward(&(x + c)?)?;
            let f = l.ff.forward(&x)?;
            x = l.ff_norm.forward(&(x + f)?)?;
        }
        cache.finish_step();
        let h = x.squeeze(1)?; // [rows, d]
        let logits = h
            .matmul(&self.shared.embeddings().t()?)?
            .broadcast_add(&self.final_logits_bias)?;
        Ok(logits.to_dtype(DType::F32)?.to_vec2()?)
    }
}

/// A BART checkpoint directory as a [`Summarizer`](crate::summarize::Summarizer): no task
/// prefix; decoding settings from `config.json` and `generation_config.json` (bart-large-cnn:
/// 4 beams, length penalty 2, 3-gram blocking, forced `<s>` first and `</s>` at the limit).
pub type BartSummarizer = Seq2SeqSummarizer<Bart>;

impl BartSummarizer {
    /// `dir` holds `config.json`, `tokenizer.json`, `model.safetensors` and optionally
    /// `generation_config.json`.
    pub fn load(id: impl Into<String>, dir: &Path, device: &Device) -> Result<Self> {
        let config = read_json(&dir.join("config.json"))?;
        let cfg: BartConfig = serde_json::from_value(config.clone()).map_err(|e| {
            ModelError::Input(format!("{}: {e}", dir.join("config.json").display()))
        })?;
        let weights = dir.join("model.safetensors");
        let tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&weights, device)?;
        let model = Bart::load(&cfg, VarBuilder::from_tensors(tensors, DType::F32, device))?;
        // Room for the encoder input; BART has no task prefix.
        let text = Seq2SeqText::load(dir, &config, None, cfg.max_position_embeddings)?;
        Ok(Self {
            id: id.into(),
            model,
            text,
        })
    }
}
