"""MUSE's deformable embedding: the block that opens each of MUSE's seven U-Net stages."""

from __future__ import annotations

import math
from typing import ClassVar

from torch import Tensor, nn

from baselines.muse.deformable import DeformConv2d

# Offsets are bounded to one bin/frame either way, as upstream's default offset_clamp.
OFFSET_LIMIT = 1.0
KERNEL = 3


class DeformableEmbedding(nn.Module):
    """Depthwise deformable 3x3 conv, 1x1 projection and Hardswish: [B, C_in, T, F] -> [B, C_out, T, F].

    The (dy, dx) offsets of the nine taps come from a depthwise 3x3 and a 1x1 conv to 18
    channels (no biases), clamped to [-1, 1]; one offset field serves every channel.
    """

    upstream_names: ClassVar[dict[str, str]] = {
        "offset_depthwise.": "offset_generator.0.",
        "offset_projection.": "offset_generator.1.",
        "deformable.": "dcn.",
        "pointwise.": "pwconv.",
    }

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.offset_depthwise = nn.Conv2d(
            in_channels, in_channels, KERNEL, padding=KERNEL // 2, groups=in_channels, bias=False
        )
        self.offset_projection = nn.Conv2d(in_channels, 2 * KERNEL * KERNEL, 1, bias=False)
        self.deformable = DeformConv2d(
            in_channels, in_channels, KERNEL, padding=KERNEL // 2, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.activation = nn.Hardswish()
        # Upstream draws its plain convs from N(0, 2 / (k * k * out)); the deformable conv
        # keeps torchvision's default.
        for conv in (self.offset_depthwise, self.offset_projection, self.pointwise):
            fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
            nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: Tensor) -> Tensor:
        offset = self.offset_projection(self.offset_depthwise(x)).clamp(-OFFSET_LIMIT, OFFSET_LIMIT)
        return self.activation(self.pointwise(self.deformable(x, offset)))
