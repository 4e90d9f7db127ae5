//! Decoding for encoder-decoder summarizers (T5, BART): greedy and beam search with the rules of
//! transformers' `generate` (5.x), so that a checkpoint summarizes here as it does there.
//!
//! Lengths follow transformers: `min_length` / `max_length` count the decoder sequence *with* its
//! start token, so `max_new_tokens = n` is `max_length = n + 1`. The logits processors run in
//! transformers' order (n-gram blocking, minimum length, forced BOS, forced EOS); greedy applies
//! them to raw logits, beam search to log-probabilities, as `generate` does. The beam search is
//! the vectorised one of transformers 5 (top `2 * num_beams` candidates per step, finished
//! hypotheses kept in `num_beams` slots, its early-stop heuristic), including its `-1e9`
//! sentinels in f32, because which hypothesis wins can depend on them.

use std::path::Path;
use std::time::Instant;

use candle_core::Tensor;
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationParams};

use super::generate::{argmax, StopReason};
use super::tokenizer::tk_err;
use super::{SummarizeRequest, Summary, Timings};
use crate::error::{ModelError, Result};

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
}

/// A decoder with its own cache, one row per live hypothesis.
pub trait DecoderStep {
    /// Feeds one token per row and returns each row's next-token logits.
    fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>>;
    /// Rebuilds the cache from rows `rows` of the current one (in that order, repeats allowed):
    /// after it, row `i` continues what row `rows[i]` was.
    fn reorder(&mut self, rows: &[usize]) -> Result<()>;
}

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

/// What a search produced.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Generated ids: no decoder start token; the EOS is included when one was generated.
    pub tokens: Vec<u32>,
    /// Beam search: the winner's length-penalised score (transformers' `sequences_scores`).
    pub score: Option<f32>,
    pub stop: StopReason,
    /// The first decoder step.
    pub first_step_ms: f64,
    /// All decoder steps after the first.
    pub decode_ms: f64,
    pub decode_steps: usize,
}

impl Decoded {
    /// The generated ids without a final EOS.
    pub fn content(&self, eos: u32) -> &[u32] {
        match self.tokens.split_last() {
            Some((&last, rest)) if last == eos => rest,
            _ => &self.tokens,
        }
    }
}

/// `log(softmax(logits))`, computed as torch does (max-shifted, f32).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
    let log_sum = sum.ln();
    logits.iter().map(|&x| x - max - log_sum).collect()
}

/// Tokens that would repeat an n-gram of `seq`: each earlier occurrence of the last `n - 1`
/// tokens bans the token that followed it.
pub fn banned_ngram_tokens(seq: &[u32], n: usize) -> Vec<u32> {
    if n == 0 || seq.len() < n {
        return vec![];
    }
    let prefix = &seq[seq.len() + 1 - n..];
    seq.windows(n)
        .filter(|w| &w[..n - 1] == prefix)
        .map(|w| w[n - 1])
        .collect()
}

/// transformers' logits processors for the next token after `seq` (start token included), in
/// its order: n-gram blocking, minimum length, forced BOS, forced EOS.
pub fn process_scores(scores: &mut [f32], seq: &[u32], cfg: &SearchConfig) {
    let cur_len = seq.len();
    for t in banned_ngram_tokens(seq, cfg.no_repeat_ngram_size) {
        if let Some(s) = scores.get_mut(t as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    if cur_len < cfg.min_length {
        if let Some(s) = scores.get_mut(cfg.eos as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
    let forced = match (cfg.forced_bos, cfg.forced_eos) {
        (Some(bos), _) if cur_len == 1 => Some(bos),
        (_, Some(eos)) if cur_len + 1 == cfg.max_length => Some(eos),
        _ => None,
    };
    if let Some(f) = forced {
        scores.fill(f32::NEG_INFINITY);
        if let Some(s) = scores.get_mut(f as usize) {
            *s = 0.0;
        }
    }
}

/// `generated_len ^ length_penalty`, rounded to f32 as torch does when it divides an f32 tensor
/// by a Python float.
pub fn length_divisor(generated_len: usize, length_penalty: f64) -> f32 {
    (generated_len as f64).powf(length_penalty) as f32
}

/// The `k` best (index, score) pairs, best first; equal scores keep index order.
pub fn top_k(scores: &[f32], k: usize) -> Vec<(usize, f32)> {
    let cmp = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let mut all: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    let k = k.min(all.len());
    if k < all.len() && k > 0 {
        all.select_nth_unstable_by(k - 1, cmp);
        all.truncate(k);
    }
    all.sort_by(cmp);
    all
}

/// How a search ended, given the generated tokens: EOS chosen by the model, or the length
/// limit (an EOS forced at the limit counts as the limit).
pub fn stop_reason(tokens: &[u32], cfg: &SearchConfig) -> StopReason {
    let at_limit = tokens.len() + 1 >= cfg.max_length;
    let forced_last = cfg.forced_eos.is_some() && at_limit;
    match tokens.last() {
        Some(&t) if t == cfg.eos && !forced_last => StopReason::Eos,
        _ => StopReason::MaxTokens,
    }
}

/// Times decoder steps: the first one apart from the rest.
struct Clock {
    first_ms: Option<f64>,
    rest_ms: f64,
    rest_steps: usize,
}

impl Clock {
    fn new() -> Self {
        Self {
            first_ms: None,
            rest_ms: 0.0,
            rest_steps: 0,
        }
    }

    fn step(&mut self, dec: &mut dyn DecoderStep, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let t0 = Instant::now();
        let out = dec.step(tokens)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if self.first_ms.is_none() {
            self.first_ms = Some(ms);
        } else {
            self.rest_ms += ms;
            self.rest_steps += 1;
        }
        Ok(out)
    }

    fn finish(self, tokens: Vec<u32>, score: Option<f32>, stop: StopReason) -> Decoded {
        Decoded {
            tokens,
            score,
            stop,
            first_step_ms: self.first_ms.unwrap_or(0.0),
            decode_ms: self.rest_ms,
            decode_steps: self.rest_steps,
        }
    }
}

/// Greedy decoding on a one-row decoder. `on_token` sees each id as it is chosen (EOS
/// included) and may return `false` to stop (`StopReason::Cancelled`).
pub fn greedy(
    dec: &mut dyn DecoderStep,
    cfg: &SearchConfig,
    on_token: &mut dyn FnMut(u32) -> bool,
) -> Result<Decoded> {
    let mut clock = Clock::new();
    let mut seq = vec![cfg.decoder_start];
    if cfg.max_length <= 1 {
        return Ok(clock.finish(vec![], None, StopReason::MaxTokens));
    }
    let mut logits = clock.step(dec, &seq[..1])?.swap_remove(0);
    loop {
        process_scores(&mut logits, &seq, cfg);
        let next = argmax(&logits);
        seq.push(next);
        if !on_token(next) {
            return Ok(clock.finish(seq[1..].to_vec(), None, StopReason::Cancelled));
        }
        if next == cfg.eos || seq.len() >= cfg.max_length {
            let tokens = seq[1..].to_vec();
            let stop = stop_reason(&tokens, cfg);
            return Ok(clock.finish(tokens, None, stop));
        }
        logits = clock.step(dec, &[next])?.swap_remove(0);
    }
}

/// Scores at or below this are transformers' "impossible" marks, added rather than assigned.
const MASK: f32 = -1.0e9;

struct Finished {
    tokens: Vec<u32>,
    score: f32,
    done: bool,
}

/// Beam search on a decoder with `cfg.num_beams` rows, as transformers 5's `_beam_search` for
/// one input: the returned tokens are the best finished hypothesis.
pub fn beam_search(dec: &mut dyn DecoderStep, cfg: &SearchConfig) -> Result<Decoded> {
    let k = cfg.num_beams.max(1);
    // One EOS id: transformers keeps max(2, 1 + n_eos) * num_beams candidates.
    let keep = 2 * k;
    let mut clock = Clock::new();
    if cfg.max_length <= 1 {
        return Ok(clock.finish(vec![], None, StopReason::MaxTokens));
    }
    let mut running: Vec<Vec<u32>> = vec![vec![cfg.decoder_start]; k];
    // Only the first beam starts live, so that the first step does not pick k copies.
    let mut running_scores: Vec<f32> = (0..k).map(|b| if b == 0 { 0.0 } else { MASK }).collect();
    let mut finished: Vec<Finished> = (0..k)
        .map(|_| Finished {
            tokens: vec![cfg.decoder_start],
            score: MASK,
            done: false,
        })
        .collect();
    let mut improvable = true;
    let mut cur_len = 1;
    let mut logits = clock.step(dec, &vec![cfg.decoder_start; k])?;
    loop {
        let vocab = logits[0].len();
        let mut flat = Vec::with_capacity(k * vocab);
        for (b, row) in logits.iter().enumerate() {
            let mut lp = log_softmax(row);
            process_scores(&mut lp, &running[b], cfg);
            flat.extend(lp.into_iter().map(|x| x + running_scores[b]));
        }
        let cands: Vec<(usize, u32, f32)> = top_k(&flat, keep)
            .into_iter()
            .map(|(i, s)| (i / vocab, (i % vocab) as u32, s))
            .collect();
        let hits: Vec<bool> = cands
            .iter()
            .map(|&(_, t, _)| t == cfg.eos || cur_len + 1 >= cfg.max_length)
            .collect();

        // The best `k` candidates that did not finish carry on.
        let masked: Vec<f32> = cands
            .iter()
            .zip(&hits)
            .map(|(c, &h)| if h { c.2 + MASK } else { c.2 })
            .collect();
        let next = top_k(&masked, k);

        // Finished candidates among the top `k` compete for the finished slots.
        let all_done = finished.iter().all(|f| f.done);
        let divisor = length_divisor(cur_len, cfg.length_penalty);
        let mut merged: Vec<Finished> = std::mem::take(&mut finished);
        for (i, (&(b, t, s), &h)) in cands.iter().zip(&hits).enumerate() {
            let just_done = h && i < k;
            let mut score = s / divisor;
            if all_done && cfg.early_stopping == EarlyStopping::Done {
                score += MASK;
            }
            if !improvable {
                score += MASK;
            }
            if !just_done {
                score += MASK;
            }
            let mut tokens = running[b].clone();
            tokens.push(t);
            merged.push(Finished {
                tokens,
                score,
                done: just_done,
            });
        }
        let merged_scores: Vec<f32> = merged.iter().map(|f| f.score).collect();
        let order = top_k(&merged_scores, k);
        let mut slots: Vec<Option<Finished>> = merged.into_iter().map(Some).collect();
        finished = order
            .iter()
            .map(|&(i, _)| slots[i].take().expect("top_k indices are distinct"))
            .collect();

        let rows: Vec<usize> = next.iter().map(|&(i, _)| cands[i].0).collect();
        running = next
            .iter()
            .map(|&(i, _)| {
                let mut t = running[cands[i].0].clone();
                t.push(cands[i].1);
                t
            })
            .collect();
        running_scores = next.iter().map(|&(_, s)| s).collect();
        cur_len += 1;

        // transformers' early-stop heuristic: can the best running beam still beat the worst
        // finished slot (an unfilled slot counts as -1e9)?
        let best_len = if cfg.early_stopping == EarlyStopping::Never && cfg.length_penalty > 0.0 {
            cfg.max_length - 1
        } else {
            cur_len - 1
        };
        let best_possible = running_scores[0] / length_divisor(best_len, cfg.length_penalty);
        let min_finished = finished
            .iter()
            .map(|f| f.score)
            .fold(f32::INFINITY, f32::min);
        improvable = improvable
            && finished.iter().any(|f| {
                let worst = if f.done { min_finished } else { MASK };
                best_possible > worst
            });
        let open = !(finished.iter().all(|f| f.done) && cfg.early_stopping == EarlyStopping::Done);
        let can_continue = !hits.iter().all(|&h| h);
        if !(improvable && open && can_continue) {
            break;
        }
        dec.reorder(&rows)?;
        let last: Vec<u32> = running.iter().map(|t| *t.last().unwrap()).collect();
        logits = clock.step(dec, &last)?;
    }
    let best = finished.swap_remove(0);
    let tokens = best.tokens[1..].to_vec();
    let stop = stop_reason(&tokens, cfg);
    Ok(clock.finish(tokens, Some(best.score), stop))
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Input(format!("{}: {e}", path.display())))
}

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
        if req.text.trim().is_empty() {
            return Err(ModelError::Input("text is empty".into()));
        }
        if req.max_tokens == 0 || req.min_tokens > req.max_tokens {
            return Err(ModelError::Input(format!(
                "need 0 <= min_tokens <= max_tokens and max_tokens > 0, got {}..{}",
                req.min_tokens, req.max_tokens
            )));
        }
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
            let mut stream = self.tokenizer.decode_stream(true);
            let mut decode_err = None;
            let d = greedy(dec.as_mut(), &cfg, &mut |t| match stream.step(t) {
                Ok(Some(piece)) => on_token(&piece),
                Ok(None) => true,
                Err(e) => {
                    decode_err = Some(e);
                    false
                }
            })?;
            if let Some(e) = decode_err {
                return Err(tk_err(e));
            }
            d
        } else {
            let mut d = beam_search(dec.as_mut(), &cfg)?;
            if !on_token(&self.decode(d.content(cfg.eos))?) {
                d.stop = StopReason::Cancelled;
            }
            d
        };
        let content = decoded.content(cfg.eos);
        let tokens_per_s = if decoded.decode_steps > 0 && decoded.decode_ms > 0.0 {
            decoded.decode_steps as f64 / (decoded.decode_ms / 1e3)
        } else {
            0.0
        };
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
            timings: Timings {
                prefill_ms: encode_ms + decoded.first_step_ms,
                generate_ms: decoded.decode_ms,
                tokens_per_s,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SearchConfig {
        SearchConfig {
            num_beams: 2,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Done,
            min_length: 0,
            max_length: 10,
            no_repeat_ngram_size: 0,
            decoder_start: 0,
            eos: 1,
            forced_bos: None,
            forced_eos: None,
        }
    }

    #[test]
    fn ngram_blocking_bans_what_followed_the_suffix() {
        // 5 6 7 ... 5 6 -> 7 would repeat "5 6 7".
        assert_eq!(banned_ngram_tokens(&[5, 6, 7, 9, 5, 6], 3), [7]);
        assert_eq!(banned_ngram_tokens(&[5, 6, 5, 6, 5, 6], 3), [5, 5]);
        // Bigram: every earlier successor of the last token.
        assert_eq!(banned_ngram_tokens(&[3, 4, 3, 8, 3], 2), [4, 8]);
        // Too short for any n-gram, or disabled.
        assert!(banned_ngram_tokens(&[5, 6], 3).is_empty());
        assert!(banned_ngram_tokens(&[5, 5, 5], 0).is_empty());
    }

    #[test]
    fn processors_min_length_and_forced_tokens() {
        let mut c = cfg();
        c.min_length = 3;
        c.forced_bos = Some(4);
        c.forced_eos = Some(1);
        let mut s = vec![0.5; 6];
        process_scores(&mut s, &[0, 2], &c);
        assert_eq!(s[1], f32::NEG_INFINITY, "EOS masked below min_length");
        let mut s = vec![0.5; 6];
        process_scores(&mut s, &[0, 2, 3], &c);
        assert_eq!(s[1], 0.5, "EOS allowed from min_length on");
        let mut s = vec![0.5; 6];
        process_scores(&mut s, &[0], &c);
        assert_eq!(
            s,
            [
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
                0.0,
                f32::NEG_INFINITY
            ]
        );
        let mut s = vec![0.5; 6];
        process_scores(&mut s, &[0; 9], &c);
        assert_eq!(s[1], 0.0, "EOS forced at max_length - 1");
        assert_eq!(s[2], f32::NEG_INFINITY);
    }

    #[test]
    fn log_softmax_normalises() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f32 = lp.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!((lp[2] - lp[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn top_k_is_ordered_and_breaks_ties_by_index() {
        let t = top_k(&[0.1, 0.9, 0.5, 0.9, f32::NEG_INFINITY], 3);
        assert_eq!(t, [(1, 0.9), (3, 0.9), (2, 0.5)]);
        assert_eq!(top_k(&[1.0], 4), [(0, 1.0)]);
    }

    #[test]
    fn length_penalty_divides_by_len_pow() {
        assert_eq!(length_divisor(4, 2.0), 16.0);
        assert_eq!(length_divisor(4, 0.0), 1.0);
        assert!((length_divisor(4, -1.0) - 0.25).abs() < 1e-7);
    }

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

    /// A decoder whose next-token distribution depends only on the last token, per a table;
    /// rows are independent, so reordering only has to be recorded.
    struct Table {
        next: fn(u32) -> Vec<f32>,
        last: Vec<u32>,
        reorders: usize,
    }

    impl DecoderStep for Table {
        fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
            self.last = tokens.to_vec();
            Ok(tokens.iter().map(|&t| (self.next)(t)).collect())
        }
        fn reorder(&mut self, rows: &[usize]) -> Result<()> {
            assert!(rows.iter().all(|&r| r < self.last.len()));
            self.reorders += 1;
            Ok(())
        }
    }

    /// Vocabulary 4 (0 start, 1 EOS). After the start, 2 is likely and 3 less so; after 2
    /// the model is unsure; after 3 it is sure of EOS. Greedy goes 2, 2, ...; beam search
    /// finds that 3 then EOS has the better total.
    fn trap(t: u32) -> Vec<f32> {
        let p: [f32; 4] = match t {
            0 => [0.0, 0.0, 0.6, 0.4],
            2 => [0.0, 0.3, 0.35, 0.35],
            _ => [0.0, 0.98, 0.01, 0.01],
        };
        p.iter()
            .map(|x| if *x == 0.0 { -30.0 } else { x.ln() })
            .collect()
    }

    #[test]
    fn beam_search_finds_the_better_total_that_greedy_misses() {
        let mut c = cfg();
        c.max_length = 6;
        let mut dec = Table {
            next: trap,
            last: vec![],
            reorders: 0,
        };
        let g = greedy(&mut dec, &c, &mut |_| true).unwrap();
        assert_eq!(g.tokens, [2, 2, 2, 2, 2]);
        assert_eq!(g.stop, StopReason::MaxTokens);
        let mut dec = Table {
            next: trap,
            last: vec![],
            reorders: 0,
        };
        let b = beam_search(&mut dec, &c).unwrap();
        assert_eq!(b.tokens, [3, 1]);
        assert_eq!(b.stop, StopReason::Eos);
        // log(0.4 * 0.98) / 2 with length penalty 1.
        assert!((b.score.unwrap() - (0.4f32 * 0.98).ln() / 2.0).abs() < 1e-5);
        assert!(dec.reorders > 0);
    }

    #[test]
    fn min_length_keeps_beams_going_past_an_early_eos() {
        let mut c = cfg();
        c.max_length = 6;
        c.min_length = 4;
        let mut dec = Table {
            next: trap,
            last: vec![],
            reorders: 0,
        };
        let b = beam_search(&mut dec, &c).unwrap();
        assert!(b.tokens.len() >= 4, "{:?}", b.tokens);
        assert!(!b.tokens[..b.tokens.len() - 1].contains(&1));
    }

    #[test]
    fn greedy_streams_and_cancels() {
        let c = cfg();
        let mut dec = Table {
            next: trap,
            last: vec![],
            reorders: 0,
        };
        let mut seen = vec![];
        let g = greedy(&mut dec, &c, &mut |t| {
            seen.push(t);
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen, [2, 2]);
        assert_eq!(g.stop, StopReason::Cancelled);
    }

    #[test]
    fn forced_eos_at_the_limit_is_a_length_stop() {
        let mut c = cfg();
        c.max_length = 4;
        c.forced_eos = Some(1);
        let mut dec = Table {
            next: trap,
            last: vec![],
            reorders: 0,
        };
        let g = greedy(&mut dec, &c, &mut |_| true).unwrap();
        assert_eq!(g.tokens, [2, 2, 1]);
        assert_eq!(g.stop, StopReason::MaxTokens);
        assert_eq!(g.content(1), [2, 2]);
    }
}
