#!/usr/bin/env python3
"""Full-size random-initialised twins of the catalog's torchvision checkpoints, for the opt-in
parity test `make twins-full` (not part of `make test`: the weights are 160 MB and 44 MB, so
they live in the cache, never in the repository).

    ~/.cache/candlelit/py-twins/bin/python scripts/twins/full_size.py [out-dir]

Builds torchvision's own `deeplabv3_resnet50` and `deeplabv3_mobilenet_v3_large` with 21
classes and the aux classifier (exactly the layout of deeplabv3_resnet50_coco-cd0a2569.pth and
deeplabv3_mobilenet_v3_large-fc3c493d.pth), randomises their batch norms as the tiny twins do,
and runs one 520x520 input (the catalog's size) in eval mode, in float32 (`logits`) and in
float64 (`logits64`, the exact answer). Writes
<out-dir>/deeplab_{resnet50,mobilenet_v3_large}_full/{weights,io}.safetensors.

Why float64 too: at full size the logits span about +-100 (R50) to +-800 (MobileNet), and
torch's own float32 result is 9e-3 (R50) / 4e-3 away from the float64 one, so a fixed 1e-3
bound on |candle - torch f32| would test rounding order, not the network. The test instead
holds candle to float32 accuracy: its distance from the float64 answer must be within twice
torch float32's own.
"""

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large, deeplabv3_resnet50

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deeplab import randomise_batch_norms  # noqa: E402  (the tiny twins' calibration)

SIZE = 520
CLASSES = 21


def write(out: Path, name: str, model, seed: int) -> None:
    torch.manual_seed(seed)
    # Statistics from small random images: the network, not the calibration, is under test.
    randomise_batch_norms(model, 97, 113)
    final = model.classifier[4]
    final.weight.data.normal_(0.0, 1.0)  # several classes win somewhere (see deeplab.py)
    final.bias.data.normal_(0.0, 0.01)
    model.eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        logits = model(x)["out"]
        logits64 = model.double()(x.double())["out"]
    model.float()
    assert logits.shape == (1, CLASSES, SIZE, SIZE)
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, d / "weights.safetensors")
    save_file(
        {"input": x.contiguous(), "logits": logits.contiguous(), "logits64": logits64.contiguous()},
        d / "io.safetensors",
    )
    shares = torch.bincount(logits.argmax(1).flatten(), minlength=CLASSES) / (SIZE * SIZE)
    drift = float((logits.double() - logits64).abs().max())
    print(f"{name}: {sum(v.numel() for v in model.state_dict().values())} values, "
          f"{int((shares > 0).sum())} classes present, torch f32 vs f64 max |d| {drift:.3e}")


def main() -> None:
    default = Path(os.environ.get("CANDLELIT_CACHE", Path.home() / ".cache/candlelit")) / "twins-full"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    torch.manual_seed(0)
    r50 = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=CLASSES, aux_loss=True)
    write(out, "deeplab_resnet50_full", r50, seed=1)
    torch.manual_seed(2)
    mbv3 = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=CLASSES, aux_loss=True)
    write(out, "deeplab_mobilenet_v3_large_full", mbv3, seed=3)


if __name__ == "__main__":
    main()
