"""Random-initialised DeepLabV3 twins (ResNet-50 and MobileNetV3-Large layouts) for the candle
parity test models/tests/twin_deeplab.rs.

Run from the repository root with the twins venv (CPU only, deterministic):

    ~/.cache/candlelit/py-twins/bin/python scripts/twins/deeplab.py

Writes models/tests/twins/deeplab_{resnet50,mobilenet_v3_large}/{weights,io}.safetensors:
the torchvision state dict under torchvision's own names, and the inputs with torchvision's
eval-mode logits ("out", bilinearly upsampled to the input size by DeepLabV3.forward).

The twins are built from torchvision's classes with their own knobs so that they stay tiny:
- ResNet: torchvision's ResNet with replace_stride_with_dilation=[False, True, True] (output
  stride 8, as deeplabv3_resnet50), a Bottleneck subclass with expansion 1 instead of 4 (the
  only way to keep layer4 narrow: ResNet fixes the stage widths at 64..512 * expansion), and
  layers [1, 1, 2, 2] so the dilated (non-first) blocks of layer3 and layer4 are exercised.
- MobileNetV3-Large: _mobilenet_v3_conf(width_mult=0.25, dilated=True) assembled exactly as
  _deeplabv3_mobilenetv3 does, with an aux classifier so that the loader must skip it.
- Both heads keep DeepLabHead's layout (ASPP(in, [12, 24, 36]), 3x3 conv, BN, ReLU, 1x1 conv)
  with 8 channels instead of 256 (DeepLabHead hard-codes 256).
Batch-norm affine parameters are randomised and their running statistics measured on random
images, so that the eval-mode batch norms (and their folding in candle) are actually tested. To fit the fixture budget the floating-point
tensors are stored as float16; the reference runs in float32 on exactly those rounded values, so
the candle side (which loads any float dtype as float32) sees the same network.
"""

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3, _deeplabv3_mobilenetv3

OUT = Path(__file__).resolve().parents[2] / "models/tests/twins"
CLASSES = 4
HEAD_CHANNELS = 8
# (batch, height, width) per twin. Odd sizes, so every strided layer rounds and the final
# upsampling is not an integer factor. The ResNet twin's input is larger so that its 13x15
# output-stride-8 features are wider than ASPP's first atrous rate (12): smaller maps leave only
# the centre tap of every atrous conv inside the image. (Rates 24/36 and the MobileNet twin's
# 4x5 map stay centre-only: larger inputs would not fit the fixture budget.)
RESNET_INPUT = (1, 97, 113)
MOBILENET_INPUT = (2, 49, 65)


class NarrowBottleneck(Bottleneck):
    """torchvision's Bottleneck with expansion 1 (stage outputs 64..512 instead of 256..2048)."""

    expansion = 1


def small_deeplab_head(in_channels: int) -> nn.Sequential:
    """DeepLabHead's module layout (classifier.0 = ASPP, .1 conv, .2 BN, .3 ReLU, .4 conv)."""
    return nn.Sequential(
        ASPP(in_channels, [12, 24, 36], out_channels=HEAD_CHANNELS),
        nn.Conv2d(HEAD_CHANNELS, HEAD_CHANNELS, 3, padding=1, bias=False),
        nn.BatchNorm2d(HEAD_CHANNELS),
        nn.ReLU(),
        nn.Conv2d(HEAD_CHANNELS, CLASSES, 1),
    )


def resnet_twin() -> DeepLabV3:
    resnet = ResNet(
        NarrowBottleneck,
        [1, 1, 2, 2],
        width_per_group=4,
        replace_stride_with_dilation=[False, True, True],
    )
    # As torchvision's _deeplabv3_resnet: keep everything up to layer4 under its own names.
    backbone = IntermediateLayerGetter(resnet, return_layers={"layer4": "out"})
    return DeepLabV3(backbone, small_deeplab_head(512 * NarrowBottleneck.expansion), None)


def mobilenet_twin() -> DeepLabV3:
    setting, last_channel = _mobilenet_v3_conf("mobilenet_v3_large", width_mult=0.25, dilated=True)
    model = _deeplabv3_mobilenetv3(MobileNetV3(setting, last_channel), CLASSES, aux=True)
    model.classifier = small_deeplab_head(model.classifier[0].convs[0][0].in_channels)
    return model


def randomise_batch_norms(model: nn.Module, height: int, width: int) -> None:
    """Random affine parameters, and running statistics measured on random images: with
    PyTorch's default init a deep random net's activations fade to nearly constant maps in eval
    mode, which would hide spatial mistakes (padding, dilation, resizing) in the comparison."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.weight.data = torch.rand(m.num_features) + 0.5
        m.bias.data = torch.randn(m.num_features) * 0.2
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(4, 3, height, width))
    model.eval()


def round_to_float16(model: nn.Module) -> None:
    """Rounds every float parameter and buffer to float16 values, kept in float32 for the run."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())


def write(name: str, model: DeepLabV3, seed: int, size: tuple[int, int, int]) -> None:
    batch, height, width = size
    torch.manual_seed(seed)
    randomise_batch_norms(model, height, width)
    # With PyTorch's default init the final conv's bias outweighs the features and one class
    # wins everywhere, which would make the argmax check vacuous; unit-variance weights and a
    # small bias give a map with several classes.
    final = model.classifier[4]
    final.weight.data.normal_(0.0, 1.0)
    final.bias.data.normal_(0.0, 0.01)
    round_to_float16(model)
    model.eval()
    x = torch.randn(batch, 3, height, width)
    with torch.no_grad():
        logits = model(x)["out"]
    assert logits.shape == (batch, CLASSES, height, width)
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    # The whole state dict, num_batches_tracked included, as a converted checkpoint has it.
    state = {
        k: (v.half() if v.is_floating_point() else v).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, out / "weights.safetensors")
    save_file({"input": x.contiguous(), "logits": logits.contiguous()}, out / "io.safetensors")
    params = sum(v.numel() for v in state.values())
    shares = torch.bincount(logits.argmax(1).flatten(), minlength=CLASSES) / logits[:, 0].numel()
    print(
        f"{name}: {params} values, logits in [{logits.min():.3f}, {logits.max():.3f}],"
        f" class shares {[round(v, 3) for v in shares.tolist()]}"
    )


def main() -> None:
    torch.manual_seed(0)
    write("deeplab_resnet50", resnet_twin(), seed=1, size=RESNET_INPUT)
    torch.manual_seed(2)
    write("deeplab_mobilenet_v3_large", mobilenet_twin(), seed=3, size=MOBILENET_INPUT)


if __name__ == "__main__":
    main()
