//! SmolLM2-Instruct (or any llama-architecture chat GGUF with a byte-level BPE vocabulary and a
//! ChatML template) answering "summarize this": loading, the prompt and its truncation, and
//! the [`Summarizer`] over [`generate`](super::generate).

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::Device;

use super::chat::{self, Piece};
use super::generate::{self, Generation, Limits, LogitsSource};
use super::llama::{KvCache, Llama};
use super::qkernels;
use super::task::{stream_pieces, SummarizeRequest, Summarizer, Summary, Timings};
use super::tokenizer::{self, tk_err};
use super::weights::{Activations, WeightFormat};
use crate::error::{ModelError, Result};

/// The longest context a model is loaded for (the RoPE table and the KV cache's bound).
pub const MAX_SEQ_LEN: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct SmolLmConfig {
    /// Prompt + `max_tokens` must fit in this many tokens; longer texts are truncated.
    pub context_tokens: usize,
    pub weights: WeightFormat,
    pub activations: Activations,
}

impl Default for SmolLmConfig {
    fn default() -> Self {
        Self {
            context_tokens: 2048,
            weights: WeightFormat::Quantized,
            activations: Activations::Int8,
        }
    }
}

/// The prompt for one request, as token ids.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

/// SmolLM2-Instruct (or any llama-architecture chat GGUF with a byte-level BPE vocabulary and a
/// ChatML template) answering "summarize this".
///
/// Concurrency: the weights ([`Llama`]) are read-only and shared; each request decodes on its
/// own [`Session`] (a KV cache and work buffers that die with the request). No lock, no pool to
/// size, and no request can see another's cache. How many requests run at once is the caller's
/// executor's decision; each holds its KV cache, ~46 KB per token for SmolLM2-135M
/// (30 layers x K+V x 3 heads x 64 x f32), grown as the request needs it.
pub struct SmolLm {
    id: String,
    model: Llama,
    /// Reads control-token strings in user text as plain text (`encode_special_tokens`).
    tokenizer: tokenizers::Tokenizer,
    system: Option<String>,
    im_start: u32,
    im_end: u32,
    stop: Vec<u32>,
    context: usize,
}

impl SmolLm {
    pub fn load(gguf_path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(gguf_path, device, SmolLmConfig::default())
    }

    pub fn load_with(gguf_path: &Path, device: &Device, config: SmolLmConfig) -> Result<Self> {
        let mut file = File::open(gguf_path).map_err(|e| ModelError::io(gguf_path, e))?;
        let ct = gguf_file::Content::read(&mut file)?;
        let arch = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            return Err(ModelError::Input(format!(
                "{}: architecture '{arch}', expected llama",
                gguf_path.display()
            )));
        }
        let trained_context = ct
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map_or(MAX_SEQ_LEN, |n| n as usize);
        let max_context = trained_context.min(MAX_SEQ_LEN);
        if config.context_tokens == 0 || config.context_tokens > max_context {
            return Err(ModelError::Input(format!(
                "context_tokens {} must be in 1..={max_context}",
                config.context_tokens
            )));
        }

        let mut tokenizer = tokenizer::from_gguf(&ct)?;
        tokenizer.set_encode_special_tokens(true);
        let im_start = tokenizer::required_id(&tokenizer, chat::IM_START)?;
        let im_end = tokenizer::required_id(&tokenizer, chat::IM_END)?;
        // End of turn, plus the GGUF's eos and `<|endoftext|>` when they differ from it.
        let mut stop = vec![im_end];
        let eos = ct
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok());
        for id in eos
            .into_iter()
            .chain(tokenizer.token_to_id("<|endoftext|>"))
        {
            if !stop.contains(&id) {
                stop.push(id);
            }
        }
        let system = ct
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .and_then(|t| chat::default_system(t));

        if !device.is_cpu() {
            return Err(ModelError::Input(
                "SmolLM runs on the CPU kernels only; load it with the CPU device".into(),
            ));
        }
        let model = Llama::load(
            &ct,
            &mut file,
            config.weights,
            config.activations,
            config.context_tokens,
        )?;
        tracing::debug!(
            weights_mb = model.weight_bytes() / (1 << 20),
            kernels = ?qkernels::simd_level(),
            int8 = config.activations == Activations::Int8 && qkernels::int8::available(),
            "SmolLM loaded"
        );
        Ok(Self {
            id: "smollm2".into(),
            model,
            tokenizer,
            system,
            im_start,
            im_end,
            stop,
            context: config.context_tokens,
        })
    }

    /// The registry id reported by [`Summarizer::id`] (default `smollm2`).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The default system message read from the GGUF's chat template.
    pub fn system_prompt(&self) -> Option<&str> {
        self.system.as_deref()
    }

    /// The exact prompt string for `text` (before any truncation).
    pub fn prompt_text(&self, text: &str) -> String {
        chat::render(&chat::pieces(
            self.system.as_deref(),
            &chat::user_message(text),
        ))
    }

    fn encode_pieces(&self, pieces: &[Piece]) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        for p in pieces {
            match p {
                Piece::Special(chat::IM_START) => ids.push(self.im_start),
                Piece::Special(chat::IM_END) => ids.push(self.im_end),
                Piece::Special(other) => return Err(tk_err(format!("no id for {other}"))),
                Piece::Text(t) => ids.extend_from_slice(
                    self.tokenizer
                        .encode_fast(t.as_str(), false)
                        .map_err(tk_err)?
                        .get_ids(),
                ),
            }
        }
        Ok(ids)
    }

    fn encode_text(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_pieces(&chat::pieces(
            self.system.as_deref(),
            &chat::user_message(text),
        ))
    }

    /// The prompt ids for `text`, cut at a token boundary of the text so that the prompt plus
    /// `max_tokens` fits the context.
    pub fn prompt(&self, text: &str, max_tokens: usize) -> Result<Prompt> {
        let budget = self.context.saturating_sub(max_tokens);
        let ids = self.encode_text(text)?;
        if ids.len() <= budget {
            return Ok(Prompt {
                ids,
                truncated: false,
            });
        }
        let fixed = self.encode_text("")?.len();
        if fixed >= budget {
            return Err(ModelError::Input(format!(
                "max_tokens {max_tokens} leaves no room for text in a {}-token context",
                self.context
            )));
        }
        let text = text.trim();
        let enc = self.tokenizer.encode(text, false).map_err(tk_err)?;
        let offsets = enc.get_offsets();
        let mut keep = (budget - fixed).min(offsets.len());
        while keep > 0 {
            // Cut before the first dropped token, on a char boundary.
            let mut cut = offsets[keep].0.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let ids = self.encode_text(&text[..cut])?;
            if ids.len() <= budget {
                return Ok(Prompt {
                    ids,
                    truncated: true,
                });
            }
            // Tokens can merge differently at the new end: drop the excess and retry.
            keep = keep.saturating_sub((ids.len() - budget).max(1));
        }
        Err(ModelError::Input(format!(
            "no prefix of the text fits a {}-token context with max_tokens {max_tokens}",
            self.context
        )))
    }

    /// Greedy decoding from `prompt` on a private copy of the model (see the type's docs).
    pub fn generate(
        &self,
        prompt: &[u32],
        min_tokens: usize,
        max_tokens: usize,
        on_id: &mut dyn FnMut(u32) -> bool,
    ) -> Result<Generation> {
        let limits = Limits {
            min_tokens,
            max_tokens,
            stop: self.stop.clone(),
        };
        let mut session = self.session();
        generate::generate(&mut session, prompt, &limits, on_id)
    }

    /// A fresh decoding state over the shared weights: an empty KV cache.
    pub fn session(&self) -> Session<'_> {
        Session {
            model: &self.model,
            cache: KvCache::default(),
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(tk_err)
    }
}

/// One request's model state; a [`LogitsSource`].
pub struct Session<'a> {
    model: &'a Llama,
    cache: KvCache,
}

impl LogitsSource for Session<'_> {
    fn next_logits(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        self.model.forward(&mut self.cache, tokens, pos)
    }
}

impl Summarizer for SmolLm {
    fn id(&self) -> &str {
        &self.id
    }

    fn summarize(
        &self,
        req: &SummarizeRequest,
        on_token: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Summary> {
        req.validate()?;
        let prompt = self.prompt(&req.text, req.max_tokens)?;
        let t0 = Instant::now();
        let gen = stream_pieces(&self.tokenizer, on_token, |on_id| {
            self.generate(&prompt.ids, req.min_tokens, req.max_tokens, on_id)
        })?;
        let text = self.decode(&gen.tokens)?.trim().to_string();
        tracing::debug!(
            id = %self.id,
            prompt_tokens = prompt.ids.len(),
            generated = gen.tokens.len(),
            total_ms = t0.elapsed().as_secs_f64() * 1e3,
            "summarized"
        );
        Ok(Summary {
            text,
            tokens_generated: gen.tokens.len(),
            prompt_tokens: prompt.ids.len(),
            input_truncated: prompt.truncated,
            stop_reason: gen.stop,
            timings: Timings::new(gen.prefill_ms, gen.decode_ms, gen.decode_steps),
        })
    }
}
