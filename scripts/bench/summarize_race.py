"""SmolLM2 summarization, candle against llama.cpp on the same GGUF, in one run (`make bench-race`):
each round runs candle's `bench_summarize <gguf> <runs> quantized`, then scripts/bench/llamacpp.py
(2 threads), so machine drift hits both; prints a markdown table of the medians over rounds:
prefill (ms, and prompt tokens/s = mean prompt length / prefill p50, the same formula for both),
generation tokens/s (63 one-token passes / their time, both sides), peak RSS of each process, and
the ratios llama.cpp / candle, under a line naming the CPU and its SIMD flags. A benchmark, not a
test; stdlib only.

    python3 scripts/bench/summarize_race.py --candle BIN [--python PY] <gguf> [runs] [rounds]

--candle: the bench_summarize example; --python: the bench venv's interpreter (default
~/.cache/candlelit/py-bench/bin/python, made by scripts/bench/pyenv-bench.sh).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAGS = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni"}


def machine():
    """'N cores, <CPU model> (<SIMD flags>)' from /proc/cpuinfo (AMX listed: advertised, crashes)."""
    info = Path("/proc/cpuinfo").read_text()
    field = lambda k: next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith(k)), "?")
    flags = [f for f in field("flags").split() if f in FLAGS or f.startswith("amx")]
    return f"{os.cpu_count()} cores, {field('model name')} ({' '.join(flags)})"


def cpu_ticks():
    """(steal, total) jiffies from /proc/stat's `cpu` line: on a VM, time the host ran others."""
    f = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return f[7], sum(f)


def steal_since(t0):
    """Share of CPU time stolen by the hypervisor since `t0 = cpu_ticks()`: above a few per
    cent, timings (multi-threaded ones most) are not comparable with a quiet run."""
    s1, n1 = cpu_ticks()
    return 100.0 * (s1 - t0[0]) / max(n1 - t0[1], 1)


def json_lines(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candle", required=True)
    ap.add_argument("--python", default=str(Path.home() / ".cache/candlelit/py-bench/bin/python"))
    ap.add_argument("gguf")
    ap.add_argument("runs", nargs="?", default="3")
    ap.add_argument("rounds", nargs="?", type=int, default=3)
    a = ap.parse_args()
    sides = {
        "candle": [a.candle, a.gguf, a.runs, "quantized"],
        "llama.cpp": [a.python, str(HERE / "llamacpp.py"), a.gguf, a.runs, "2"],
    }
    got = {k: [] for k in sides}
    t0 = time.time()
    ticks = cpu_ticks()
    for i in range(a.rounds):
        for name, cmd in sides.items():
            t = time.time()
            got[name] += json_lines(cmd)
            print(f"round {i + 1}/{a.rounds}: {name} {time.time() - t:.0f} s", file=sys.stderr)

    med = lambda rs, k: statistics.median(r[k] for r in rs)
    row = {}
    for name, rs in got.items():
        prefill = med(rs, "prefill_p50")
        row[name] = {
            "runtime": rs[0]["runtime"] + (f" (int8 {rs[0]['int8']} kernels)" if rs[0].get("int8")
                                           else f" ({rs[0]['kernels']})" if "kernels" in rs[0] else ""),
            "prefill": prefill,
            "prefill_tps": statistics.mean(rs[0]["prompt_tokens"]) / (prefill / 1e3),
            "tps": med(rs, "tokens_per_s"), "rss": max(r["peak_rss_mb"] for r in rs),
            "threads": rs[0]["threads"], "weights": rs[0]["weights"],
        }
    c, l = row["candle"], row["llama.cpp"]
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end; "
          f"CPU steal during the run {steal_since(ticks):.0f} %.")
    print(f"SmolLM2-135M-Instruct, prompts of {got['candle'][0]['prompt_tokens']} tokens + 64 greedy tokens; "
          f"{a.runs} runs x {a.rounds} alternating rounds ({(time.time() - t0) / 60:.1f} min); medians over rounds.\n")
    print("| runtime | weights | threads | prefill p50 | prefill tok/s | generation tok/s | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for r in (c, l):
        print(f"| {r['runtime']} | {r['weights']} | {r['threads']} | {r['prefill']:.0f} ms | {r['prefill_tps']:.0f} "
              f"| {r['tps']:.1f} | {r['rss']:.0f} MB |")
    print(f"| ratio llama.cpp / candle | | | | {l['prefill_tps'] / c['prefill_tps']:.2f}x "
          f"| {l['tps'] / c['tps']:.2f}x | {l['rss'] / c['rss']:.2f}x |")
    if got["candle"][0]["prompt_tokens"] != got["llama.cpp"][0]["prompt_tokens"]:
        print(f"\nWARNING: the prompts differ in length: candle {got['candle'][0]['prompt_tokens']}, "
              f"llama.cpp {got['llama.cpp'][0]['prompt_tokens']}.")


if __name__ == "__main__":
    main()
