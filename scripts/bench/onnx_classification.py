"""ONNX Runtime side of `make bench-race` for the classifier: EfficientNet-Lite0 exported from the
PyTorch reference (the model and weights exactly as scripts/golden/classification.py loads them)
to ONNX, once, into ~/.cache/candlelit/bench/; its logits are checked against PyTorch's on the
timed input (max abs diff printed, > 1e-3 is an error), then the ORT forward (CPU execution
provider, 2 intra-op threads, all graph optimisations) is timed on the same input as
scripts/bench/classification.py (the parity_inputs case for person.jpg). Prints one JSON line per
classification model in that script's shape, which scripts/bench/run.mjs reads.

    ~/.cache/candlelit/py-bench/bin/python scripts/bench/onnx_classification.py <parity-dir> [runs]
    (the venv: scripts/bench/pyenv-bench.sh)
"""
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from classification import arch_for, load_model, make_input  # noqa: E402

CACHE = Path(os.environ.get("CANDLELIT_CACHE", Path.home() / ".cache/candlelit")) / "bench"


def pct(v, p):
    s = sorted(v)
    return s[round((len(s) - 1) * p)]


def exported(c, x):
    """The case's model as ONNX, exported on first use; named by its weights' hash."""
    arch = arch_for(c)
    digest = hashlib.sha256(Path(c["graph"]).read_bytes()).hexdigest()[:12]
    path = CACHE / f"{arch}-{digest}.onnx"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.onnx")
        torch.onnx.export(load_model(c["graph"], arch), (x,), str(tmp), input_names=["x"],
                          output_names=["logits"], external_data=False)
        tmp.rename(path)
    return path


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: onnx_classification.py <parity-dir> [runs]")
    parity_dir, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 30
    torch.set_num_threads(2)
    picked = {}  # per installed EfficientNet-Lite: the person.jpg case, else its first case
    for c in json.loads((Path(parity_dir) / "inputs.json").read_text()):
        if (c["task"] == "classification" and c["model"].startswith("efficientnet-lite") and Path(c["graph"]).exists()
                and (c["model"] not in picked or c["photo"] == "person.jpg")):
            picked[c["model"]] = c
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for c in picked.values():
        x = make_input(parity_dir, c)
        path = exported(c, x)
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        with torch.no_grad():
            want = load_model(c["graph"], arch_for(c))(x).numpy()
        diff = float(np.abs(sess.run(None, feed)[0] - want).max())
        print(f"{c['model']}: ONNX Runtime vs PyTorch logits, max abs diff {diff:.2e} ({path})", file=sys.stderr)
        if diff > 1e-3:
            raise SystemExit(f"{c['model']}: the ONNX export disagrees with PyTorch")
        times = []
        for i in range(runs + 3):
            t0 = time.perf_counter()
            sess.run(None, feed)
            if i >= 3:
                times.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"model": c["model"], "runtime": f"onnxruntime {ort.__version__} cpu",
                          "min": pct(times, 0), "p50": pct(times, 0.5), "p90": pct(times, 0.9), "max_abs_diff": diff}), flush=True)


if __name__ == "__main__":
    main()
