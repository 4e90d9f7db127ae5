//! SmolLM's (decoder-only) decoding loop, generic over where logits come from so that its rules (greedy choice,
//! `min_tokens`, `max_tokens`, stop tokens, cancellation) are tested without a model.

use std::time::Instant;

use crate::error::Result;

/// Anything that turns token ids into next-token logits, keeping its own cache.
pub trait LogitsSource {
    /// Feeds `tokens` at absolute positions `pos..pos + tokens.len()` and returns the logits
    /// over the vocabulary for the token after the last one.
    fn next_logits(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its answer (an end-of-turn or EOS token).
    Eos,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The caller's callback asked to stop (its client went away).
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// End-of-turn tokens are masked out until this many tokens were generated.
    pub min_tokens: usize,
    pub max_tokens: usize,
    /// Token ids that end the answer; never part of the output.
    pub stop: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct Generation {
    /// Generated ids, without the stop token.
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    /// The forward pass over the prompt (it also yields the first token's logits).
    pub prefill_ms: f64,
    /// All one-token forward passes after the prompt.
    pub decode_ms: f64,
    /// How many one-token forward passes `decode_ms` covers.
    pub decode_steps: usize,
}

/// Index of the largest logit; the first one on ties, as `torch.argmax` does.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Greedy decoding. `on_token` sees each new id (and may return `false` to cancel) before the
/// next forward pass starts, so a streaming caller gets tokens as soon as they exist.
pub fn generate(
    src: &mut dyn LogitsSource,
    prompt: &[u32],
    limits: &Limits,
    on_token: &mut dyn FnMut(u32) -> bool,
) -> Result<Generation> {
    let mut out = Vec::with_capacity(limits.max_tokens);
    let (mut prefill_ms, mut decode_ms, mut decode_steps) = (0.0, 0.0, 0usize);
    let mut stop = StopReason::MaxTokens;
    let mut pos = 0;
    let mut feed: Vec<u32> = prompt.to_vec();
    while out.len() < limits.max_tokens {
        let t0 = Instant::now();
        let mut logits = src.next_logits(&feed, pos)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        if pos == 0 {
            prefill_ms = ms;
        } else {
            decode_ms += ms;
            decode_steps += 1;
        }
        pos += feed.len();
        if out.len() < limits.min_tokens {
            for &s in &limits.stop {
                if let Some(l) = logits.get_mut(s as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let next = argmax(&logits);
        if limits.stop.contains(&next) {
            stop = StopReason::Eos;
            break;
        }
        out.push(next);
        if !on_token(next) {
            stop = StopReason::Cancelled;
            break;
        }
        feed = vec![next];
    }
    Ok(Generation {
        tokens: out,
        stop,
        prefill_ms,
        decode_ms,
        decode_steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake model: at step `k` (0 = after the prompt) it prefers `script[k]`, with the
    /// stop token 0 always the runner-up so that masking it is observable.
    struct Scripted {
        script: Vec<u32>,
        vocab: usize,
        calls: Vec<(Vec<u32>, usize)>,
    }

    impl LogitsSource for Scripted {
        fn next_logits(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
            let step = self.calls.len();
            self.calls.push((tokens.to_vec(), pos));
            let mut l = vec![0.0; self.vocab];
            l[0] = 1.0;
            let want = self.script.get(step).copied().unwrap_or(0);
            l[want as usize] = 2.0;
            Ok(l)
        }
    }

    fn run(script: &[u32], min: usize, max: usize, cancel_after: usize) -> (Generation, Scripted) {
        let mut src = Scripted {
            script: script.to_vec(),
            vocab: 10,
            calls: vec![],
        };
        let limits = Limits {
            min_tokens: min,
            max_tokens: max,
            stop: vec![0],
        };
        let mut seen = 0;
        let g = generate(&mut src, &[7, 8, 9], &limits, &mut |_| {
            seen += 1;
            seen < cancel_after
        })
        .unwrap();
        (g, src)
    }

    #[test]
    fn stops_on_eos_without_emitting_it() {
        let (g, src) = run(&[3, 4, 0, 5], 0, 10, usize::MAX);
        assert_eq!(g.tokens, [3, 4]);
        assert_eq!(g.stop, StopReason::Eos);
        // Prompt once at 0, then one token per step at the right position.
        assert_eq!(src.calls, [(vec![7, 8, 9], 0), (vec![3], 3), (vec![4], 4)]);
        assert_eq!(g.decode_steps, 2);
    }

    #[test]
    fn min_tokens_masks_eos_until_reached() {
        // The model wants to stop from step 1 on. With EOS masked every other logit is 0.0,
        // so the first of them (id 1) wins until 4 tokens exist; then EOS is allowed again.
        let (g, _) = run(&[3, 0, 0, 0, 0], 4, 10, usize::MAX);
        assert_eq!(g.tokens, [3, 1, 1, 1]);
        assert_eq!(g.stop, StopReason::Eos);
    }

    #[test]
    fn max_tokens_caps_and_skips_the_last_forward() {
        let (g, src) = run(&[1, 2, 3, 4, 5, 6], 0, 3, usize::MAX);
        assert_eq!(g.tokens, [1, 2, 3]);
        assert_eq!(g.stop, StopReason::MaxTokens);
        assert_eq!(src.calls.len(), 3, "no forward pass for a token never used");
    }

    #[test]
    fn callback_false_cancels() {
        let (g, src) = run(&[1, 2, 3, 4, 5, 6], 0, 10, 2);
        assert_eq!(g.tokens, [1, 2]);
        assert_eq!(g.stop, StopReason::Cancelled);
        assert_eq!(src.calls.len(), 2);
    }

    #[test]
    fn zero_max_tokens_runs_nothing() {
        let (g, src) = run(&[1], 0, 0, usize::MAX);
        assert!(g.tokens.is_empty());
        assert!(src.calls.is_empty());
    }

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -3.0]), 1);
    }
}
