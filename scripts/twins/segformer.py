"""Random-initialised SegFormer twins (semantic segmentation and ImageNet-style classification)
for the candle parity test models/tests/twin_segformer.rs.

Run from the repository root with the twins venv (CPU only, deterministic):

    ~/.cache/candlelit/py-twins/bin/python scripts/twins/segformer.py

Writes models/tests/twins/segformer_{segmentation,classification}/ with what transformers'
save_pretrained writes (config.json, model.safetensors under the Hub's tensor names,
preprocessor_config.json) and io.safetensors: the inputs, and
- segmentation: post_process_semantic_segmentation's per-pixel classes and the logits it
  resizes (bilinear, align_corners=False) to the input size ("segmentation_scores");
- classification: the logits.

The twins are tiny through SegformerConfig's own knobs (hidden sizes, depths, heads, decoder
width). initializer_range is raised from 0.02 so that activations keep an O(1) scale through the
random network (otherwise the logits are nearly constant and a tolerance says little), layer
norms get random affine parameters, and the decode head's batch norm gets running statistics
measured on random images.
"""

from pathlib import Path

import torch
from torch import nn
from safetensors.torch import save_file
from transformers import (
    SegformerConfig,
    SegformerForImageClassification,
    SegformerForSemanticSegmentation,
    SegformerImageProcessor,
)

OUT = Path(__file__).resolve().parents[2] / "models/tests/twins"
# Odd sizes: every overlapping patch embedding rounds, the sequence-reduction convs drop
# remainders, and the decoder's upsampling is not an integer factor.
BATCH, HEIGHT, WIDTH = 2, 49, 65
SEGMENTATION_LABELS = ["background", "person", "car", "tree"]
CLASSIFICATION_LABELS = [f"class {i}" for i in range(10)]


def tiny_config(labels: list[str]) -> SegformerConfig:
    return SegformerConfig(
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 2, 1, 1],
        num_attention_heads=[1, 2, 2, 4],
        sr_ratios=[8, 4, 2, 1],
        mlp_ratios=[2, 2, 2, 2],
        decoder_hidden_size=16,
        initializer_range=0.3,
        drop_path_rate=0.0,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )


def randomise_norms(model: nn.Module) -> None:
    """Random layer-norm affine parameters; batch-norm statistics measured on random images."""
    for m in model.modules():
        if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
            m.weight.data = torch.rand(m.weight.shape) + 0.5
            m.bias.data = torch.randn(m.bias.shape) * 0.2
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(pixel_values=torch.randn(4, 3, HEIGHT, WIDTH))
    model.eval()


def save_model(model, name: str) -> Path:
    out = OUT / name
    model.save_pretrained(out)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(out)
    return out


# segmentation() and classification() start alike (seed, tiny model, random input); each head
# keeps its own seed and order of draws, which the committed twins in models/tests/twins pin.
def segmentation() -> None:
    torch.manual_seed(10)
    model = SegformerForSemanticSegmentation(tiny_config(SEGMENTATION_LABELS))
    randomise_norms(model)
    x = torch.randn(BATCH, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        outputs = model(pixel_values=x)
    processor = SegformerImageProcessor()
    post = processor.post_process_semantic_segmentation(
        outputs, target_sizes=[(HEIGHT, WIDTH)] * BATCH, return_segmentation_scores=True
    )
    classes = torch.stack([p.segmentation for p in post])
    logits = torch.stack([p.segmentation_scores for p in post])
    out = save_model(model, "segformer_segmentation")
    save_file(
        {"input": x.contiguous(), "logits": logits.contiguous(), "classes": classes.contiguous()},
        out / "io.safetensors",
    )
    shares = torch.bincount(classes.flatten(), minlength=len(SEGMENTATION_LABELS)) / classes.numel()
    print(
        f"segformer_segmentation: logits {tuple(logits.shape)} in"
        f" [{logits.min():.3f}, {logits.max():.3f}], class shares"
        f" {[round(v, 3) for v in shares.tolist()]}"
    )


def classification() -> None:
    torch.manual_seed(20)
    model = SegformerForImageClassification(tiny_config(CLASSIFICATION_LABELS))
    randomise_norms(model)
    x = torch.randn(BATCH, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        logits = model(pixel_values=x).logits
    out = save_model(model, "segformer_classification")
    save_file({"input": x.contiguous(), "logits": logits.contiguous()}, out / "io.safetensors")
    print(f"segformer_classification: logits {logits.tolist()}")


def main() -> None:
    segmentation()
    classification()


if __name__ == "__main__":
    main()
