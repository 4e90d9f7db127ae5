//! Text summarization: the task ([`Summarizer`], its request and answer) and its models.
//!
//! - [`smollm`]: SmolLM2-Instruct (a llama GGUF) prompted to summarize, with its pieces:
//!   [`tokenizer`] (the GGUF's own tokenizer), [`chat`] (the ChatML prompt), [`generate`] (the
//!   greedy loop, model-agnostic), [`llama`] (the forward pass over the GGUF's weights as
//!   stored), [`qkernels`] (its quantized matrix kernels) and [`weights`]. They stay flat here
//!   rather than in `smollm/` because the CPU kernels elsewhere (`gemm.rs`, `cpu.rs`) share
//!   [`qkernels::simd_level`] by this path.
//! - [`seq2seq`]: encoder-decoder summarizers (T5, BART) and their greedy and beam search.

pub mod chat;
pub mod generate;
pub mod llama;
pub mod qkernels;
pub mod seq2seq;
pub mod smollm;
pub mod tokenizer;
pub mod weights;

use crate::error::{ModelError, Result};
pub use generate::{Generation, Limits, LogitsSource, StopReason};
pub use seq2seq::bart::BartSummarizer;
pub use seq2seq::t5::T5Summarizer;
/// The old paths `summarize::{bart, t5}`, kept only while registry.rs (restructured on another
/// branch) still imports them; drop at merge in favour of the summarizers above.
pub use seq2seq::{bart, t5};
pub use smollm::{Prompt, Session, SmolLm, SmolLmConfig, MAX_SEQ_LEN};
pub use weights::WeightFormat;

use tokenizer::tk_err;

/// What to summarize and how long the summary may be, in generated tokens.
#[derive(Debug, Clone)]
pub struct SummarizeRequest {
    pub text: String,
    /// The end-of-turn token is suppressed until this many tokens were generated.
    pub min_tokens: usize,
    pub max_tokens: usize,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timings {
    /// The forward pass over the prompt.
    pub prefill_ms: f64,
    /// The one-token forward passes after it.
    pub generate_ms: f64,
    /// One-token forward passes per second (decode speed; 0 when there were none).
    pub tokens_per_s: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The decoded answer, without special tokens and surrounding whitespace.
    pub text: String,
    pub tokens_generated: usize,
    /// Tokens in the input the model saw (SmolLM's chat template, or a seq2seq model's task
    /// prefix and special tokens, included).
    pub prompt_tokens: usize,
    /// The text was cut so that prompt + `max_tokens` fit the context.
    pub input_truncated: bool,
    pub stop_reason: StopReason,
    pub timings: Timings,
}

impl SummarizeRequest {
    /// Refuses an empty text and token limits no summarizer can honour.
    pub fn validate(&self) -> Result<()> {
        if self.text.trim().is_empty() {
            return Err(ModelError::Input("text is empty".into()));
        }
        if self.max_tokens == 0 || self.min_tokens > self.max_tokens {
            return Err(ModelError::Input(format!(
                "need 0 <= min_tokens <= max_tokens and max_tokens > 0, got {}..{}",
                self.min_tokens, self.max_tokens
            )));
        }
        Ok(())
    }
}

impl Timings {
    /// A prefill of `prefill_ms`, then `decode_steps` one-token passes taking `decode_ms` in all.
    pub fn new(prefill_ms: f64, decode_ms: f64, decode_steps: usize) -> Self {
        let tokens_per_s = if decode_steps > 0 && decode_ms > 0.0 {
            decode_steps as f64 / (decode_ms / 1e3)
        } else {
            0.0
        };
        Self {
            prefill_ms,
            generate_ms: decode_ms,
            tokens_per_s,
        }
    }
}

/// Runs `decode` with a per-token callback that detokenizes ids as they come and hands each
/// completed piece of text to `on_token` (whose `false` stops decoding). A detokenizer error
/// stops decoding too and is returned.
pub(crate) fn stream_pieces<T>(
    tokenizer: &tokenizers::Tokenizer,
    on_token: &mut dyn FnMut(&str) -> bool,
    decode: impl FnOnce(&mut dyn FnMut(u32) -> bool) -> Result<T>,
) -> Result<T> {
    let mut stream = tokenizer.decode_stream(true);
    let mut decode_err = None;
    let out = decode(&mut |id| match stream.step(id) {
        Ok(Some(piece)) => on_token(&piece),
        Ok(None) => true,
        Err(e) => {
            decode_err = Some(e);
            false
        }
    })?;
    match decode_err {
        Some(e) => Err(tk_err(e)),
        None => Ok(out),
    }
}

/// A summarization model. Sync and `&self`: callers run it on a blocking thread and may share
/// it between concurrent requests.
pub trait Summarizer: Send + Sync {
    fn id(&self) -> &str;
    /// Generates a summary, handing each new piece of text to `on_token` as soon as it decodes
    /// (pieces concatenate to the answer before trimming). `on_token` returns `false` to stop
    /// (the client went away); the summary so far comes back with `StopReason::Cancelled`.
    fn summarize(
        &self,
        req: &SummarizeRequest,
        on_token: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Summary>;
}
