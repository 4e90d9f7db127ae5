//! Latency of the SmolLM2 summarizer on the golden texts (models/tests/golden/summarization/smollm2-*.json):
//! whole `summarize` calls with exactly 64 new tokens (min = max = 64), p50/p90 over the runs,
//! prefill time and decode speed. A benchmark, not a test. Prints one JSON line per weight
//! format, like scripts/bench/summarization.py does for transformers.
//!
//! cargo run --release -p models --example bench_summarize -- <gguf> [runs] [quantized|f32|both]
//!
//! `make test` runs it with one run so it cannot rot; `make bench-race` races it against llama.cpp.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use models::summarize::{SmolLm, SmolLmConfig, SummarizeRequest, Summarizer, WeightFormat};

const NEW_TOKENS: usize = 64;

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// (current, peak) resident memory of this process in MB, from /proc (Linux only).
fn rss_mb() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let gguf = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "model-store/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into()),
    );
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    if runs == 0 {
        return Err("runs must be at least 1".into());
    }
    let formats = match args.next().as_deref() {
        None | Some("quantized") => vec![WeightFormat::Quantized],
        Some("f32") => vec![WeightFormat::F32],
        Some("both") => vec![WeightFormat::F32, WeightFormat::Quantized],
        Some(other) => return Err(format!("unknown weight format {other}").into()),
    };
    // Relative to the working directory first: the target dir is shared between clones (CI
    // builds in its own), so the manifest dir baked in at compile time may be another checkout.
    let golden = [
        "models/tests/golden/summarization",
        "tests/golden/summarization",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
    .unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/summarization")
    });
    let mut texts = vec![];
    for n in 1..=3 {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            golden.join(format!("smollm2-{n}.json")),
        )?)?;
        texts.push(v["text"].as_str().ok_or("golden without text")?.to_string());
    }
    for weights in formats {
        let t = Instant::now();
        let m = SmolLm::load_with(
            &gguf,
            &Device::Cpu,
            SmolLmConfig {
                weights,
                ..Default::default()
            },
        )?;
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        let (mut total, mut prefill, mut tps, mut prompt_tokens) = (vec![], vec![], vec![], vec![]);
        for run in 0..=runs {
            for text in &texts {
                let req = SummarizeRequest {
                    text: text.clone(),
                    min_tokens: NEW_TOKENS,
                    max_tokens: NEW_TOKENS,
                };
                let t = Instant::now();
                // On rayon's pool, as the server's engine runs it (`models::threads`).
                let s = models::threads::on_pool(|| m.summarize(&req, &mut |_| true))?;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                assert_eq!(s.tokens_generated, NEW_TOKENS);
                if run == 0 {
                    prompt_tokens.push(s.prompt_tokens);
                    continue; // warm-up
                }
                total.push(ms);
                prefill.push(s.timings.prefill_ms);
                tps.push(s.timings.tokens_per_s);
            }
        }
        let (rss, peak) = rss_mb();
        println!(
            "{}",
            serde_json::json!({
                "model": "smollm2",
                "runtime": "candle",
                "weights": match weights { WeightFormat::F32 => "f32", WeightFormat::Quantized => "q4_1" },
                "threads": rayon::current_num_threads(),
                "kernels": format!("{:?}", models::summarize::qkernels::simd_level()),
                "int8": models::summarize::qkernels::int8::kernel().map(|k| format!("{k:?}")),
                "prompt_tokens": prompt_tokens,
                "new_tokens": NEW_TOKENS,
                "runs": total.len(),
                "p50": round(pct(&total, 0.5)),
                "p90": round(pct(&total, 0.9)),
                "prefill_p50": round(pct(&prefill, 0.5)),
                "prefill_tokens_per_s": round(
                    prompt_tokens.iter().sum::<usize>() as f64 / prompt_tokens.len() as f64
                        / (pct(&prefill, 0.5) / 1e3)
                ),
                "tokens_per_s": round(pct(&tps, 0.5)),
                "load_ms": round(load_ms),
                "rss_mb": round(rss),
                "peak_rss_mb": round(peak),
            })
        );
    }
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
