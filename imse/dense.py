"""The dense encoder and the magnitude and phase decoders around the U-Net (from MP-SENet).

They are the same for every model on the skeleton; only the U-Net's embedding and
attention blocks change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.nn import functional

from imse.blocks import trains_fast, unmodified_convs


def _conv_norm_activation(conv: nn.Conv2d, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))


def time_dilated_conv_by_phases(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` for a conv dilated by d in time alone (padding d), as one undilated conv over the d
    interleaved phases of time (rows t = q * d + r for each r), stacked along the batch.

    Each output row sums the same inputs with the same weights as the dilated conv; for contiguous
    float32 batches, which oneDNN runs, the forward is the same bits (tests/test_skeleton.py;
    elsewhere, e.g. float64 or batch 1 of a small map, it agrees to rounding). The point is the
    backward: oneDNN's weight gradient of a conv dilated in time runs about 5x slower than an
    undilated one's (64 -> 16 channels at 308 x 256, dilation 8: 220 against 43 ms), so a dense
    block's forward and backward take about half the time. The weight gradient is summed in
    another order: at training sizes about 5e-6 from float64 against the plain conv's 5e-7, still
    a tenth of the whole network's float32 gradient error (scripts/muse_float32_error.py: 6e-5).
    """
    dilation = conv.dilation[0]
    if conv.stride != (1, 1) or conv.dilation[1] != 1 or conv.padding[0] % dilation or conv.padding_mode != "zeros":
        raise ValueError(f"time_dilated_conv_by_phases: {conv} is not a stride-1 conv dilated in time alone, "
                         "zero-padded by whole phases")
    batch, channels, time, frequency = x.shape
    rows = -(-time // dilation)  # time is padded with zeros to whole phases; the conv pads zeros too
    phases = (
        functional.pad(x, (0, 0, 0, rows * dilation - time))
        .reshape(batch, channels, rows, dilation, frequency)
        .permute(0, 3, 1, 2, 4)
        .reshape(batch * dilation, channels, rows, frequency)
    )
    output = functional.conv2d(phases, conv.weight, conv.bias, padding=(conv.padding[0] // dilation, conv.padding[1]))
    out_channels = output.shape[1]
    return (
        output.reshape(batch, dilation, out_channels, rows, frequency)
        .permute(0, 2, 3, 1, 4)
        .reshape(batch, out_channels, rows * dilation, frequency)[:, :, :time]
    )


class DenseBlock(nn.Module):
    """Four 3x3 convs with time dilation 1, 2, 4, 8, each fed the concatenation of all before.

    In training, the dilated convs run by phases (`time_dilated_conv_by_phases`): the same outputs,
    a faster backward. Inference, export and MAC counters see the plain convs.
    """

    upstream_order = False
    """Train with upstream's dilated convs (`imse.upstream.use_upstream_order`)."""

    def __init__(self, channels: int, depth: int = 4) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            _conv_norm_activation(
                nn.Conv2d(channels * (i + 1), channels, 3, dilation=(2**i, 1), padding=(2**i, 1)), channels
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        by_phases = trains_fast(self, x)
        skip = x
        for layer in self.layers:
            conv, norm, activation = layer
            if by_phases and conv.dilation[0] > 1 and unmodified_convs(conv):
                x = activation(norm(time_dilated_conv_by_phases(conv, skip)))
            else:
                x = layer(skip)
            skip = torch.cat([x, skip], dim=1)
        return x


class DenseEncoder(nn.Module):
    """[batch, 2, time, 256] -> [batch, channels, time, 128]: 1x1 conv, dense block, strided conv."""

    def __init__(self, channels: int, in_channels: int = 2) -> None:
        super().__init__()
        self.input_conv = _conv_norm_activation(nn.Conv2d(in_channels, channels, 1), channels)
        self.dense_block = DenseBlock(channels)
        self.frequency_downsample = _conv_norm_activation(
            nn.Conv2d(channels, channels, (1, 3), (1, 2), padding=(0, 1)), channels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.frequency_downsample(self.dense_block(self.input_conv(x)))


class LearnableSigmoid(nn.Module):
    """beta * sigmoid(slope * x), with one learnable slope per frequency bin."""

    def __init__(self, frequency_bins: int, beta: float = 2.0) -> None:
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(frequency_bins, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * torch.sigmoid(self.slope * x)


class FrequencyUpsampling(nn.Module):
    """Upstream's decoder head: a 1x1 conv to 4x channels, pixel-shuffle by 2, a depthwise (1, 3)
    conv with stride 2 in time, then the given layers. Net effect: frequency doubles (128 -> 256),
    time is unchanged. The layers are numbered as in upstream's nn.Sequential, so the state-dict
    keys are upstream's.

    The stride keeps only the even rows of the shuffled map, which come from the first row of
    each channel's 2x2 group: half of the 1x1 conv's output is thrown away. The forward computes
    only what is kept: the 1x1 conv to 2x channels, a shuffle along frequency alone, and the
    depthwise conv without stride, at a third of the time (forward and backward, 67 -> 21 ms at
    the paper's batch). The output is upstream's bit for bit; so are the gradients at the U-Nets'
    width of 16 channels (tests/test_skeleton.py), which keeps trained weights where they were;
    at other shapes oneDNN may sum the gradients in another order. MAC counters count what is
    computed: 2 x 16 x 32 x 128 fewer per frame than upstream's code (21.5 M per second of audio,
    0.46% of IMSE's), as they already leave out the one-path fusion's no-op arithmetic.
    """

    def __init__(self, channels: int, layers: Callable[[], Iterable[nn.Module]]) -> None:
        """`layers` makes the layers after the head, called once the head's are made: a seeded
        initialisation then draws its numbers in upstream's order, and a seed trains upstream's weights."""
        super().__init__()
        head = (
            nn.Conv2d(channels, channels * 4, 1, bias=False),
            nn.PixelShuffle(2),
            nn.Conv2d(channels, channels, (1, 3), stride=(2, 1), padding=(0, 1), groups=channels, bias=False),
        )
        for index, layer in enumerate((*head, *layers())):
            self.add_module(str(index), layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pointwise, shuffle, depthwise, *layers = self.children()
        factor = shuffle.upscale_factor
        channels = depthwise.in_channels
        # the first row of each channel's factor x factor group of output channels
        kept = pointwise.weight.unflatten(0, (channels, factor, factor))[:, 0].flatten(0, 1)
        x = functional.conv2d(x, kept)  # [batch, channels * factor, time, frequency]
        batch, _, time, frequency = x.shape
        x = x.reshape(batch, channels, factor, time, frequency).permute(0, 1, 3, 4, 2)
        x = functional.conv2d(x.reshape(batch, channels, time, frequency * factor), depthwise.weight,
                              padding=depthwise.padding, groups=depthwise.groups)
        for layer in layers:
            x = layer(x)
        return x


class MaskDecoder(nn.Module):
    """U-Net features -> a bounded magnitude mask [batch, 1, time, 256]."""

    def __init__(self, channels: int, frequency_bins: int = 256, beta: float = 2.0) -> None:
        super().__init__()
        self.dense_block = DenseBlock(channels)
        self.mask_conv = FrequencyUpsampling(
            channels,
            lambda: (nn.Conv2d(channels, 1, 1), nn.InstanceNorm2d(1, affine=True), nn.PReLU(1), nn.Conv2d(1, 1, 1)),
        )
        self.learnable_sigmoid = LearnableSigmoid(frequency_bins, beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mask_conv(self.dense_block(x))  # [batch, 1, time, frequency]
        return self.learnable_sigmoid(x.transpose(2, 3)).transpose(2, 3)


class PhaseDecoder(nn.Module):
    """U-Net features -> phase [batch, 1, time, 256] as atan2 of two parallel 1x1 convs."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dense_block = DenseBlock(channels)
        self.phase_conv = FrequencyUpsampling(
            channels, lambda: (nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))
        )
        self.real_conv = nn.Conv2d(channels, 1, 1)
        self.imaginary_conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.phase_conv(self.dense_block(x))
        return torch.atan2(self.imaginary_conv(x), self.real_conv(x))
