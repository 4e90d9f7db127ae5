//! Encoder-decoder summarizers (T5, BART) and their decoding, with the rules of transformers'
//! `generate` (5.x), so that a checkpoint summarizes here as it does there.
//!
//! - [`config`]: the generation settings a checkpoint's JSON files ask for;
//! - [`search`]: greedy and beam search over any [`DecoderStep`];
//! - [`kv_cache`]: a request's decoder cache and its beam reorder; [`attention`]: the
//!   attention arithmetic both models compute over it;
//! - [`text`]: tokenizer, task prefix and the request loop ([`Seq2SeqText::summarize`]);
//! - [`summarizer`]: a network and its text side as a `Summarizer`;
//! - [`t5`], [`bart`]: the networks. A new encoder-decoder goes beside them: implement
//!   [`Seq2SeqModel`] and a `load` for `Seq2SeqSummarizer<YourModel>`.

pub mod attention;
pub mod bart;
pub mod config;
pub mod kv_cache;
pub mod search;
pub mod summarizer;
pub mod t5;
pub mod text;

use candle_core::Tensor;

use crate::error::Result;

pub(crate) use config::read_json;
pub use config::{EarlyStopping, GenerationDefaults, SearchConfig};
pub use search::{beam_search, greedy, Decoded};
pub use summarizer::Seq2SeqSummarizer;
pub use text::Seq2SeqText;

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
