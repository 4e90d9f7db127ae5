"""Reference-runtime side of `make bench` for the classifier: EfficientNet-Lite0 in PyTorch (CPU,
2 threads, eval, no_grad) on the same inputs candle uses (written by the `parity_inputs` example),
the model and weights exactly as scripts/golden/classification.py loads them. Prints one JSON line
per classification model: p50/p90 in ms of the forward pass over warm runs, on the person.jpg
case (the first case of that model if there is no person.jpg). Input conversion is not timed.

    ~/.cache/candlelit/py/bin/python scripts/bench/classification.py <parity-dir> [runs]
"""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from classification import arch_for, load_model, make_input  # noqa: E402


def pct(v, p):
    s = sorted(v)
    return s[round((len(s) - 1) * p)]


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: classification.py <parity-dir> [runs]")
    parity_dir, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 30
    torch.set_num_threads(2)
    cases = [c for c in json.loads((Path(parity_dir) / "inputs.json").read_text()) if c["task"] == "classification"]
    picked = {}
    for c in cases:
        if c["model"] not in picked or c["photo"] == "person.jpg":
            picked.setdefault(c["model"], c)
            if c["photo"] == "person.jpg":
                picked[c["model"]] = c
    for c in picked.values():
        model = load_model(c["graph"], arch_for(c))
        x = make_input(parity_dir, c)
        times = []
        with torch.no_grad():
            for i in range(runs + 3):
                t0 = time.perf_counter()
                model(x)
                dt = (time.perf_counter() - t0) * 1000
                if i >= 3:
                    times.append(dt)
        print(json.dumps({"model": c["model"], "runtime": f"torch {torch.__version__.split('+')[0]} cpu", "min": pct(times, 0), "p50": pct(times, 0.5), "p90": pct(times, 0.9)}), flush=True)


if __name__ == "__main__":
    main()
