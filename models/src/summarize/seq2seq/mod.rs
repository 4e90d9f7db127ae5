//! Encoder-decoder summarizers (T5, BART) and their decoding, with the rules of transformers'
//! `generate` (5.x), so that a checkpoint summarizes here as it does there.
//!
//! - [`model`]: what a network provides ([`Seq2SeqModel`], [`DecoderStep`]);
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
pub mod model;
pub mod search;
pub mod summarizer;
pub mod t5;
pub mod text;

pub use config::{EarlyStopping, GenerationDefaults, SearchConfig};
pub use model::{DecoderStep, Seq2SeqModel};
pub use search::{beam_search, greedy, Decoded};
pub use summarizer::Seq2SeqSummarizer;
pub use text::Seq2SeqText;
