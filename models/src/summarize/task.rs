//! The summarization task: the [`Summarizer`] trait, its request and answer, and the pieces
//! every summarizer shares (request validation, streaming detokenization, timings).

use super::generate::StopReason;
use super::tokenizer::tk_err;
use crate::error::{ModelError, Result};

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
