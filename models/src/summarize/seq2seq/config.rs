//! The generation settings of a seq2seq checkpoint, as transformers reads them.
//!
//! Lengths follow transformers: `min_length` / `max_length` count the decoder sequence *with* its
//! start token, so `max_new_tokens = n` is `max_length = n + 1`.

use std::path::Path;

use serde_json::Value;

use crate::error::{ModelError, Result};

/// transformers' `early_stopping`: `true`, `false` or `"never"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyStopping {
    /// `true`: stop as soon as `num_beams` hypotheses are finished.
    Done,
    /// `false`: stop when the best running beam, at its current length, cannot beat the worst
    /// finished one.
    Heuristic,
    /// `"never"`: as `Heuristic`, but a positive length penalty assumes the running beam could
    /// still grow to `max_length`.
    Never,
}

impl EarlyStopping {
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(true) => Some(Self::Done),
            Value::Bool(false) => Some(Self::Heuristic),
            Value::String(s) if s == "never" => Some(Self::Never),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// 1 is greedy.
    pub num_beams: usize,
    /// Finished scores are `sum_logprobs / generated_len ^ length_penalty`.
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    /// EOS is masked while the decoder sequence (start token included) is shorter than this.
    pub min_length: usize,
    /// The longest decoder sequence, start token included.
    pub max_length: usize,
    /// 0 disables it.
    pub no_repeat_ngram_size: usize,
    pub decoder_start: u32,
    pub eos: u32,
    /// Forced as the first generated token (BART's `<s>`).
    pub forced_bos: Option<u32>,
    /// Forced as the last token when `max_length` is reached.
    pub forced_eos: Option<u32>,
}

impl SearchConfig {
    /// Limits in generated tokens (transformers' `min_new_tokens` / `max_new_tokens`).
    pub fn with_new_tokens(mut self, min_new: usize, max_new: usize) -> Self {
        self.min_length = min_new + 1;
        self.max_length = max_new + 1;
        self
    }
}

/// Generation settings read from a checkpoint, every field optional so that files can be
/// layered: `config.json`, then its `task_specific_params.summarization` (what
/// `pipeline("summarization")` adds), then `generation_config.json`, later ones winning, as
/// transformers lets a generation config override the model config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationDefaults {
    pub num_beams: Option<usize>,
    pub length_penalty: Option<f64>,
    pub early_stopping: Option<EarlyStopping>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub no_repeat_ngram_size: Option<usize>,
    pub decoder_start_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    pub forced_bos_token_id: Option<u32>,
    pub forced_eos_token_id: Option<u32>,
    /// T5's task prefix (`summarize: `), from `task_specific_params`.
    pub prefix: Option<String>,
}

impl GenerationDefaults {
    /// The settings present in one JSON object (others stay `None`).
    pub fn from_json(v: &Value) -> Self {
        let usize_of = |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize);
        // A list of EOS ids (newer configs) is reduced to its first one.
        let id_of = |k: &str| {
            let x = v.get(k)?;
            x.as_u64()
                .or_else(|| x.as_array()?.first()?.as_u64())
                .map(|n| n as u32)
        };
        Self {
            num_beams: usize_of("num_beams"),
            length_penalty: v.get("length_penalty").and_then(Value::as_f64),
            early_stopping: v.get("early_stopping").and_then(EarlyStopping::from_json),
            min_length: usize_of("min_length"),
            max_length: usize_of("max_length"),
            no_repeat_ngram_size: usize_of("no_repeat_ngram_size"),
            decoder_start_token_id: id_of("decoder_start_token_id"),
            eos_token_id: id_of("eos_token_id"),
            forced_bos_token_id: id_of("forced_bos_token_id"),
            forced_eos_token_id: id_of("forced_eos_token_id"),
            prefix: v.get("prefix").and_then(Value::as_str).map(str::to_string),
        }
    }

    /// `self` with every field that `over` sets replaced by it.
    pub fn overlay(self, over: Self) -> Self {
        Self {
            num_beams: over.num_beams.or(self.num_beams),
            length_penalty: over.length_penalty.or(self.length_penalty),
            early_stopping: over.early_stopping.or(self.early_stopping),
            min_length: over.min_length.or(self.min_length),
            max_length: over.max_length.or(self.max_length),
            no_repeat_ngram_size: over.no_repeat_ngram_size.or(self.no_repeat_ngram_size),
            decoder_start_token_id: over.decoder_start_token_id.or(self.decoder_start_token_id),
            eos_token_id: over.eos_token_id.or(self.eos_token_id),
            forced_bos_token_id: over.forced_bos_token_id.or(self.forced_bos_token_id),
            forced_eos_token_id: over.forced_eos_token_id.or(self.forced_eos_token_id),
            prefix: over.prefix.or(self.prefix),
        }
    }

    /// config.json, its summarization task parameters, then generation_config.json if any.
    pub fn layered(config: &Value, generation_config: Option<&Value>) -> Self {
        let mut d = Self::from_json(config);
        if let Some(task) = config.pointer("/task_specific_params/summarization") {
            d = d.overlay(Self::from_json(task));
        }
        if let Some(g) = generation_config {
            d = d.overlay(Self::from_json(g));
        }
        d
    }

    /// A search config with transformers' defaults where nothing was set (greedy, penalty 1,
    /// `early_stopping=false`, `max_length=20`). `None` without start or EOS token ids.
    pub fn search_config(&self) -> Option<SearchConfig> {
        Some(SearchConfig {
            num_beams: self.num_beams.unwrap_or(1).max(1),
            length_penalty: self.length_penalty.unwrap_or(1.0),
            early_stopping: self.early_stopping.unwrap_or(EarlyStopping::Heuristic),
            min_length: self.min_length.unwrap_or(0),
            max_length: self.max_length.unwrap_or(20),
            no_repeat_ngram_size: self.no_repeat_ngram_size.unwrap_or(0),
            decoder_start: self.decoder_start_token_id?,
            eos: self.eos_token_id?,
            forced_bos: self.forced_bos_token_id,
            forced_eos: self.forced_eos_token_id,
        })
    }
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_defaults_layer_later_over_earlier() {
        let config = serde_json::json!({
            "eos_token_id": 2, "decoder_start_token_id": 2, "num_beams": 1, "max_length": 50,
            "task_specific_params": {"summarization": {"num_beams": 4, "prefix": "summarize: "}}
        });
        let gen = serde_json::json!({"max_length": 142, "early_stopping": "never",
                                     "eos_token_id": [2, 5]});
        let d = GenerationDefaults::layered(&config, Some(&gen));
        assert_eq!(d.num_beams, Some(4));
        assert_eq!(d.max_length, Some(142));
        assert_eq!(d.early_stopping, Some(EarlyStopping::Never));
        assert_eq!(d.prefix.as_deref(), Some("summarize: "));
        let c = d.search_config().unwrap();
        assert_eq!((c.eos, c.decoder_start, c.min_length), (2, 2, 0));
        assert!(GenerationDefaults::default().search_config().is_none());
    }
}
