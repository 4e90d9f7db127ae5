//! The text side of a seq2seq summarizer: tokenizer, task prefix, input limit, and the request
//! loop that turns a [`SummarizeRequest`] into a [`Summary`] on any [`Seq2SeqModel`].

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use tokenizers::{Tokenizer, TruncationParams};

use super::config::{read_json, GenerationDefaults, SearchConfig};
use super::model::Seq2SeqModel;
use super::search::{beam_search, greedy};
use crate::error::{ModelError, Result};
use crate::summarize::generate::StopReason;
use crate::summarize::task::{stream_pieces, SummarizeRequest, Summary, Timings};
use crate::summarize::tokenizer::tk_err;

/// The text side of a seq2seq summarizer: its tokenizer (`tokenizer.json`), task prefix,
/// input limit and decoding defaults, and the request loop shared by T5 and BART.
pub struct Seq2SeqText {
    tokenizer: Tokenizer,
    prefix: String,
    defaults: GenerationDefaults,
    search: SearchConfig,
}

impl Seq2SeqText {
    /// Reads `dir/tokenizer.json` and `dir/generation_config.json` (optional) over `config`.
    /// Inputs are cut to `max_input_tokens` (special tokens included). The prefix comes from
    /// the task parameters, else `default_prefix`.
    pub fn load(
        dir: &Path,
        config: &Value,
        default_prefix: Option<&str>,
        max_input_tokens: usize,
    ) -> Result<Self> {
        let gen_path = dir.join("generation_config.json");
        let gen = if gen_path.exists() {
            Some(read_json(&gen_path)?)
        } else {
            None
        };
        let defaults = GenerationDefaults::layered(config, gen.as_ref());
        let search = defaults.search_config().ok_or_else(|| {
            ModelError::Input(format!(
                "{}: no decoder_start_token_id / eos_token_id",
                dir.display()
            ))
        })?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(tk_err)?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_input_tokens,
                ..Default::default()
            }))
            .map_err(tk_err)?;
        tokenizer.with_padding(None);
        let prefix = defaults
            .prefix
            .clone()
            .or(default_prefix.map(str::to_string))
            .unwrap_or_default();
        Ok(Self {
            tokenizer,
            prefix,
            defaults,
            search,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The layered settings as read (the request's token limits replace the lengths).
    pub fn defaults(&self) -> &GenerationDefaults {
        &self.defaults
    }

    /// The search the checkpoint asks for, with its own length limits.
    pub fn search_config(&self) -> &SearchConfig {
        &self.search
    }

    /// Overrides the checkpoint's beam count (1: greedy, streamed).
    pub fn set_num_beams(&mut self, num_beams: usize) {
        self.search.num_beams = num_beams.max(1);
    }

    /// Encoder input ids for `text` (prefix and special tokens added) and whether they were cut.
    pub fn encode(&self, text: &str) -> Result<(Vec<u32>, bool)> {
        let enc = self
            .tokenizer
            .encode(format!("{}{text}", self.prefix), true)
            .map_err(tk_err)?;
        Ok((enc.get_ids().to_vec(), !enc.get_overflowing().is_empty()))
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(tk_err)
    }

    /// Runs one request on `model`: greedy (streamed) or beam search (one callback at the end),
    /// `min_tokens` / `max_tokens` as `min_new_tokens` / `max_new_tokens`.
    pub fn summarize(
        &self,
        id: &str,
        model: &dyn Seq2SeqModel,
        req: &SummarizeRequest,
        on_token: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Summary> {
        req.validate()?;
        let (ids, truncated) = self.encode(req.text.trim())?;
        let cfg = self
            .search
            .clone()
            .with_new_tokens(req.min_tokens, req.max_tokens);
        let t0 = Instant::now();
        let encoded = model.encode(&ids)?;
        let encode_ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut dec = model.decoder(&encoded, cfg.num_beams)?;
        let decoded = if cfg.num_beams == 1 {
            stream_pieces(&self.tokenizer, on_token, |on_id| {
                greedy(dec.as_mut(), &cfg, on_id)
            })?
        } else {
            let mut d = beam_search(dec.as_mut(), &cfg)?;
            if !on_token(&self.decode(d.content(cfg.eos))?) {
                d.stop = StopReason::Cancelled;
            }
            d
        };
        let content = decoded.content(cfg.eos);
        tracing::debug!(
            id,
            prompt_tokens = ids.len(),
            generated = content.len(),
            beams = cfg.num_beams,
            total_ms = t0.elapsed().as_secs_f64() * 1e3,
            "summarized"
        );
        Ok(Summary {
            text: self.decode(content)?.trim().to_string(),
            tokens_generated: content.len(),
            prompt_tokens: ids.len(),
            input_truncated: truncated,
            stop_reason: decoded.stop,
            timings: Timings::new(
                encode_ms + decoded.first_step_ms,
                decoded.decode_ms,
                decoded.decode_steps,
            ),
        })
    }
}
