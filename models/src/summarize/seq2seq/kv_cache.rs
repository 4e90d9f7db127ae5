//! One request's decoder state for T5 and BART: each layer's self-attention keys and values
//! (`[rows, heads, t, head_dim]`, one position longer per step), the encoder's keys and values
//! per layer (computed once, `[1, heads, s, head_dim]`, shared by every row), and the beam
//! reorder that makes row `i` continue what row `rows[i]` was.

use candle_core::{Device, Tensor};

use super::model::DecoderStep;
use crate::error::{ModelError, Result};

pub struct KvCache {
    self_attn: Vec<Option<(Tensor, Tensor)>>,
    cross: Vec<(Tensor, Tensor)>,
    /// Live hypotheses: the batch size of every step.
    rows: usize,
    /// Positions already decoded (the next token's position).
    pos: usize,
    device: Device,
}

impl KvCache {
    /// An empty cache for `rows` hypotheses over the encoder's keys and values, one pair per
    /// decoder layer.
    pub fn new(cross: Vec<(Tensor, Tensor)>, rows: usize, device: &Device) -> Self {
        Self {
            self_attn: vec![None; cross.len()],
            cross,
            rows,
            pos: 0,
            device: device.clone(),
        }
    }

    /// The position of the tokens of the coming step, after checking there is one per row.
    pub fn start_step(&self, tokens: &[u32]) -> Result<usize> {
        if tokens.len() != self.rows {
            return Err(ModelError::Input(format!(
                "{} tokens for {} decoder rows",
                tokens.len(),
                self.rows
            )));
        }
        Ok(self.pos)
    }

    /// Appends this step's self-attention keys and values to layer `layer`'s and returns the
    /// whole of them (cached positions first).
    pub fn append(&mut self, layer: usize, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match &self.self_attn[layer] {
            Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
            None => (k, v),
        };
        self.self_attn[layer] = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    /// The encoder's keys and values for layer `layer`.
    pub fn cross(&self, layer: usize) -> (&Tensor, &Tensor) {
        let (k, v) = &self.cross[layer];
        (k, v)
    }

    /// Ends a step: the next one decodes the following position.
    pub fn finish_step(&mut self) {
        self.pos += 1;
    }

    /// Rebuilds the self-attention cache from rows `rows` of the current one (in that order,
    /// repeats allowed). The encoder's keys are shared by all rows and stay as they are.
    pub fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        let idx = Tensor::new(idx.as_slice(), &self.device)?;
        for kv in self.self_attn.iter_mut().flatten() {
            *kv = (kv.0.index_select(&idx, 0)?, kv.1.index_select(&idx, 0)?);
        }
        self.rows = rows.len();
        Ok(())
    }
}

/// A network's decoder step over a [`KvCache`] (T5's and BART's layer stacks).
pub trait CachedDecoder {
    /// Feeds one token per row at the cache's next position, growing the cache, and returns
    /// each row's next-token logits.
    fn decode_step(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<Vec<f32>>>;
}

/// One request's decoder: the shared weights and a cache of its own.
pub struct Decoder<'a, M> {
    model: &'a M,
    cache: KvCache,
}

impl<'a, M> Decoder<'a, M> {
    pub fn new(model: &'a M, cache: KvCache) -> Self {
        Self { model, cache }
    }
}

impl<M: CachedDecoder> DecoderStep for Decoder<'_, M> {
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        self.model.decode_step(&mut self.cache, tokens)
    }

    fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        self.cache.reorder(rows)
    }
}
