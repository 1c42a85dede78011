"""FLOPs of CNNs counted layer by layer from their published architectures.

A CNN's FLOPs follow its input size, not its weights, so the benchmark tables' CNNs get theirs
counted here at the input size each benchmark states. The same count gives each network's
weights, which tests/unit/test_calibration.py checks against the model's card: a misread
architecture would not match it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conv:
    """A k×k convolution (or k×k stride-k transposed one) run at 1/stride of the input size."""

    inputs: int
    outputs: int
    kernel: int
    stride: int  # of its output grid relative to the network's input


def macs(layers: list[Conv], height: int, width: int) -> int:
    return sum(
        c.inputs * c.outputs * c.kernel**2 * (height // c.stride) * (width // c.stride)
        for c in layers
    )


def weights(layers: list[Conv]) -> int:
    return sum(c.inputs * c.outputs * c.kernel**2 + c.outputs for c in layers)


def openpose() -> list[Conv]:
    """CMU OpenPose body model (ildoonet's graph_opt.pb, which Neuron's tutorial compiles):
    VGG-19's first ten convolutions and two CPM layers, one stage of two 3×3 branches (part
    affinity fields, 38 maps; heatmaps, 19), then five refinement stages of two 7×7 branches."""
    layers = [
        Conv(3, 64, 3, 1), Conv(64, 64, 3, 1),
        Conv(64, 128, 3, 2), Conv(128, 128, 3, 2),
        Conv(128, 256, 3, 4), *[Conv(256, 256, 3, 4)] * 3,
        Conv(256, 512, 3, 8), Conv(512, 512, 3, 8),
        Conv(512, 256, 3, 8), Conv(256, 128, 3, 8),
    ]  # fmt: skip
    for maps in (38, 19):
        layers += [*[Conv(128, 128, 3, 8)] * 3, Conv(128, 512, 1, 8), Conv(512, maps, 1, 8)]
    stage_input = 128 + 38 + 19
    for _ in range(5):
        for maps in (38, 19):
            layers += [
                Conv(stage_input, 128, 7, 8),
                *[Conv(128, 128, 7, 8)] * 4,
                Conv(128, 128, 1, 8),
                Conv(128, maps, 1, 8),
            ]
    return layers


def unet() -> list[Conv]:
    """milesial/Pytorch-UNet with transposed-convolution upsampling (bilinear=False), 3 input
    channels and 2 classes: four down steps from 64 to 1024 channels and four up steps."""
    layers: list[Conv] = []

    def double(inputs: int, outputs: int, stride: int) -> None:
        layers.extend([Conv(inputs, outputs, 3, stride), Conv(outputs, outputs, 3, stride)])

    for i, (inputs, outputs) in enumerate(
        [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1024)]
    ):
        double(inputs, outputs, 2**i)
    for i, channels in enumerate([1024, 512, 256, 128]):
        stride = 2 ** (3 - i)
        # a 2×2 stride-2 transposed convolution: 4 MACs per input/output channel pair and
        # input position, counted here as a 2×2 kernel over the coarser grid
        layers.append(Conv(channels, channels // 2, 2, stride * 2))
        double(channels, channels // 2, stride)
    layers.append(Conv(64, 2, 1, 1))
    return layers


def gflops(layers: list[Conv], height: int, width: int) -> float:
    """Forward GFLOPs of one image: 2 FLOPs per multiply-accumulate."""
    return round(2 * macs(layers, height, width) / 1e9, 1)
