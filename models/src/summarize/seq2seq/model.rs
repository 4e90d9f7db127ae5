//! What a seq2seq network provides to the search and the request loop.

use candle_core::Tensor;

use crate::error::Result;

/// An encoder-decoder model: encode once, then decode on a fresh per-request cache.
pub trait Seq2SeqModel: Send + Sync {
    /// The encoder output `[1, s, d_model]` for one input.
    fn encode(&self, ids: &[u32]) -> Result<Tensor>;
    /// A decoder over `encoder_out` with `rows` hypotheses and an empty cache of its own.
    fn decoder<'a>(
        &'a self,
        encoder_out: &Tensor,
        rows: usize,
    ) -> Result<Box<dyn DecoderStep + 'a>>;
    /// The most tokens a summary can have, when the network bounds it (learned positions).
    fn max_new_tokens(&self) -> Option<usize> {
        None
    }
}

/// A decoder with its own cache, one row per live hypothesis.
pub trait DecoderStep {
    /// Feeds one token per row and returns each row's next-token logits.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>>;
    /// Rebuilds the cache from rows `rows` of the current one (in that order, repeats allowed):
    /// after it, row `i` continues what row `rows[i]` was.
    fn reorder(&mut self, rows: &[usize]) -> Result<()>;
}
