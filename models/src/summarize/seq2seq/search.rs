//! Greedy and beam search for encoder-decoder summarizers (T5, BART), as transformers'
//! `generate` (5.x) runs them. The logits processors run in transformers' order (n-gram
//! blocking, minimum length, forced BOS, forced EOS); greedy applies them to raw logits, beam
//! search to log-probabilities, as `generate` does. The beam search is
//! the vectorised one of transformers 5 (top `2 * num_beams` candidates per step, finished
//! hypotheses kept in `num_beams` slots, its early-stop heuristic), including its `-1e9`
//! sentinels in f32, because which hypothesis wins can depend on them.
//!
//! Just over 500 lines: ~320 of search and ~190 of tests that pin transformers' rules, kept
//! beside the code they check.

use std::time::Instant;

use super::config::{EarlyStopping, SearchConfig};
use super::model::DecoderStep;
use crate::error::Result;
use crate::summarize::generate::{argmax, StopReason};

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
