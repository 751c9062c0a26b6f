"""IMSE's embedding: inception depthwise convolution (IDConv), after InceptionNeXt."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class InceptionDepthwiseEmbedding(nn.Module):
    """A 1x1 projection, then InceptionNeXt's channel split into four branches.

    One eighth of the channels goes through each of a depthwise 3x3, a depthwise 1x11
    band along frequency and a depthwise 11x1 band along time; the rest pass unchanged.
    The branches are concatenated back, with no activation. The bands give a large
    receptive field in time and in frequency for a few parameters.
    """

    upstream_names: ClassVar[dict[str, str]] = {
        "pointwise": "pwconv",
        "square": "dwconv_hw",
        "frequency_band": "dwconv_w",
        "time_band": "dwconv_h",
    }

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        square_kernel: int = 3,
        band_kernel: int = 11,
        branch_ratio: float = 0.125,
    ) -> None:
        super().__init__()
        branch = int(out_channels * branch_ratio)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.square = nn.Conv2d(branch, branch, square_kernel, padding=square_kernel // 2, groups=branch)
        self.frequency_band = nn.Conv2d(
            branch, branch, (1, band_kernel), padding=(0, band_kernel // 2), groups=branch
        )
        self.time_band = nn.Conv2d(branch, branch, (band_kernel, 1), padding=(band_kernel // 2, 0), groups=branch)
        self.split = (out_channels - 3 * branch, branch, branch, branch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity, square, frequency, time = torch.split(self.pointwise(x), self.split, dim=1)
        return torch.cat((identity, self.square(square), self.frequency_band(frequency), self.time_band(time)), 1)
