//! Text summarization: the task ([`Summarizer`], its request and answer) and its models.
//!
//! - [`smollm`]: SmolLM2-Instruct (a llama GGUF) prompted to summarize, with its pieces:
//!   [`tokenizer`] (the GGUF's own tokenizer), [`chat`] (the ChatML prompt), [`generate`] (the
//!   greedy loop, model-agnostic), [`llama`] (the forward pass over the GGUF's weights as
//!   stored), [`qkernels`] (its quantized matrix kernels) and [`weights`]. They stay flat here
//!   rather than in `smollm/` because the CPU kernels elsewhere (`gemm.rs`, `cpu.rs`) share
//!   [`qkernels::simd_level`] by this path.
//! - [`seq2seq`]: encoder-decoder summarizers (T5, BART) and their greedy and beam search.
//! - [`task`]: the [`Summarizer`] trait, its request and answer, and what every summarizer
//!   shares (request validation, streaming detokenization, timings).

pub mod chat;
pub mod generate;
pub mod llama;
pub mod qkernels;
pub mod seq2seq;
pub mod smollm;
pub mod task;
pub mod tokenizer;
pub mod weights;

pub use generate::{Generation, Limits, LogitsSource, StopReason};
pub use seq2seq::bart::BartSummarizer;
pub use seq2seq::t5::T5Summarizer;
pub use smollm::{Prompt, Session, SmolLm, SmolLmConfig, MAX_SEQ_LEN};
pub use task::{SummarizeRequest, Summarizer, Summary, Timings};
pub use weights::{Activations, WeightFormat};
