"""Latency of SmolLM2-135M-Instruct in transformers (float32, dequantized from the same GGUF),
the counterpart of `cargo run --release -p models --example bench_summarize`: the golden texts,
the same prompt ids, exactly 64 new tokens per request (greedy, KV cache), p50/p90 of whole
requests over the runs after one warm-up round, and the decode speed. A benchmark, not a test.

    python scripts/bench/summarization.py <gguf> [runs] [threads]

Prints one JSON line in the format of the Rust example.
"""

import glob
import json
import os
import resource
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM

NEW_TOKENS = 64


def pct(values, p):
    v = sorted(values)
    return v[round((len(v) - 1) * p)]


def main():
    gguf_path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    golden_dir = os.path.join(os.path.dirname(__file__), "../../models/tests/golden")
    goldens = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(golden_dir, "smollm2-*.json")))]
    t = time.perf_counter()
    d, f = os.path.split(os.path.abspath(gguf_path))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    load_ms = (time.perf_counter() - t) * 1e3
    total, prefill, tps = [], [], []
    with torch.inference_mode():
        for run in range(runs + 1):
            for g in goldens:
                t0 = time.perf_counter()
                out = model(torch.tensor([g["prompt_token_ids"]]), use_cache=True)
                t1 = time.perf_counter()
                nxt = int(torch.argmax(out.logits[0, -1]))
                for _ in range(NEW_TOKENS - 1):  # min = max = 64: no stop token check
                    out = model(torch.tensor([[nxt]]), past_key_values=out.past_key_values, use_cache=True)
                    nxt = int(torch.argmax(out.logits[0, -1]))
                t2 = time.perf_counter()
                if run == 0:
                    continue
                total.append((t2 - t0) * 1e3)
                prefill.append((t1 - t0) * 1e3)
                tps.append((NEW_TOKENS - 1) / (t2 - t1))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "model": "smollm2",
        "runtime": f"transformers {transformers.__version__} (torch {torch.__version__})",
        "weights": "f32",
        "threads": threads,
        "prompt_tokens": [len(g["prompt_token_ids"]) for g in goldens],
        "new_tokens": NEW_TOKENS,
        "runs": len(total),
        "p50": round(pct(total, 0.5), 1),
        "p90": round(pct(total, 0.9), 1),
        "prefill_p50": round(pct(prefill, 0.5), 1),
        "tokens_per_s": round(pct(tps, 0.5), 1),
        "load_ms": round(load_ms, 1),
        "peak_rss_mb": round(peak, 1),
    }))


if __name__ == "__main__":
    main()
