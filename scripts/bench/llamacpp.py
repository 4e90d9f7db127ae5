"""llama.cpp (through llama-cpp-python) on the SmolLM2 GGUF, the counterpart of candle's
`bench_summarize <gguf> <runs> quantized`: the three golden texts
(models/tests/golden/summarization/*.json) as the ChatML prompt models/src/summarize/chat.rs
builds (default system turn from the GGUF's template, then the instruction and the text), fed as
the golden prompt ids, greedy (argmax, first on ties), exactly 64 new tokens with no stop on EOS,
after one warm-up round. Times are wall clock around llama.cpp's own calls, split as candle splits
them: prefill = the forward pass over the prompt (it yields token 1), prompt tokens/s = mean
prompt length / prefill p50; generation = the 63 one-token passes after it, tokens/s = 63 / their
time. p50 over all requests. A benchmark, not a test. Prints one JSON line in bench_summarize's
shape.

    ~/.cache/candlelit/py-bench/bin/python scripts/bench/llamacpp.py <gguf> [runs] [threads]
    (the venv: scripts/bench/pyenv-bench.sh)
"""
import json
import statistics
import sys
import time
from pathlib import Path

import llama_cpp
import numpy as np

NEW_TOKENS = 64
GOLDEN = Path(__file__).resolve().parents[2] / "models/tests/golden/summarization"
INSTRUCTION = "Summarize the following text in one sentence."  # chat.rs INSTRUCTION


def pct(v, p):
    s = sorted(v)
    return s[round((len(s) - 1) * p)]


def vm_kib(field):
    line = next(l for l in open("/proc/self/status") if l.startswith(field))
    return int(line.split()[1])


def chatml(template, text):
    """chat.rs `pieces(default_system(template), user_message(text))`, rendered."""
    start = template.index("<|im_start|>system") + len("<|im_start|>system")
    system = template[start:].removeprefix("\\n").removeprefix("\n").split("<|im_end|>")[0]
    user = f"{INSTRUCTION}\n\n{text.strip()}"
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


def main():
    if not 2 <= len(sys.argv) <= 4:
        raise SystemExit("usage: llamacpp.py <gguf> [runs] [threads]")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    goldens = [json.loads(p.read_text()) for p in sorted(GOLDEN.glob("smollm2-*.json"))]
    t = time.perf_counter()
    llm = llama_cpp.Llama(sys.argv[1], n_ctx=2048, n_threads=threads, n_threads_batch=threads,
                          verbose=False)
    load_ms = (time.perf_counter() - t) * 1e3
    n_vocab = llm.n_vocab()
    for g in goldens:  # the prompt is chat.rs's, and llama.cpp's tokenizer agrees with the golden ids
        prompt = chatml(llm.metadata["tokenizer.chat_template"], g["text"])
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        if prompt != g["prompt"] or ids != g["prompt_token_ids"]:
            print("note: llama.cpp's prompt/tokens differ from the golden's; timing the golden ids", file=sys.stderr)

    def next_token():
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(n_vocab,))
        return int(np.argmax(logits))

    prefill, tps, total, agree = [], [], [], []
    for run in range(runs + 1):
        for g in goldens:
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(g["prompt_token_ids"])
            t1 = time.perf_counter()
            out = [next_token()]
            decode_s = 0.0
            while len(out) < NEW_TOKENS:
                d = time.perf_counter()
                llm.eval([out[-1]])
                decode_s += time.perf_counter() - d
                out.append(next_token())
            if run == 0:
                want = g["greedy_token_ids"]
                agree.append(next((i for i, (a, b) in enumerate(zip(out, want)) if a != b), len(want)))
                continue
            total.append((time.perf_counter() - t0) * 1e3)
            prefill.append((t1 - t0) * 1e3)
            tps.append((NEW_TOKENS - 1) / decode_s)
    prompt_tokens = [len(g["prompt_token_ids"]) for g in goldens]
    print(json.dumps({
        "model": "smollm2",
        "runtime": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "weights": "q4_1",
        "threads": threads,
        "prompt_tokens": prompt_tokens,
        "new_tokens": NEW_TOKENS,
        "runs": len(total),
        "p50": round(pct(total, 0.5), 1),
        "p90": round(pct(total, 0.9), 1),
        "prefill_p50": round(pct(prefill, 0.5), 1),
        "prefill_tokens_per_s": round(statistics.mean(prompt_tokens) / (pct(prefill, 0.5) / 1e3), 1),
        "tokens_per_s": round(pct(tps, 0.5), 1),
        "golden_tokens_agreed": agree,
        "timing": "wall clock around llama_decode",
        "load_ms": round(load_ms, 1),
        "rss_mb": round(vm_kib("VmRSS:") / 1024, 1),
        "peak_rss_mb": round(vm_kib("VmHWM:") / 1024, 1),
    }))


if __name__ == "__main__":
    main()
