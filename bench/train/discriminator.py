"""The MetricGAN-style discriminator that learns to predict normalised wideband PESQ.

Its input is the clean and the (enhanced or clean) compressed magnitude, stacked as two
channels. Four spectral-normed 4x4 stride-2 convolutions with instance norm and PReLU,
a global max pool, then two spectral-normed linear layers and a learnable sigmoid give a
score in (0, 1) per pair, the target being (PESQ - 1) / 3.5.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class LearnableSigmoid1d(nn.Module):
    """beta * sigmoid(slope * x) with one learned slope per feature of the last dimension.

    Upstream's LearnableSigmoid_1d. `imse.dense.LearnableSigmoid` is upstream's 2-D one: a
    slope of shape (bins, 1) for the second-to-last dimension and beta 2. Using it here
    would turn the discriminator's `head.4.slope` from shape (1,) into (1, 1), which
    existing checkpoints (and their AdamW states) could not be loaded into.
    """

    def __init__(self, features: int, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * torch.sigmoid(self.slope * x)


class GlobalMaxPool(nn.Module):
    """[batch, channels, H, W] -> [batch, channels] maxima: AdaptiveMaxPool2d(1) + Flatten, with a
    deterministic backward on GPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(x, dim=(2, 3))


def _downsampling_layer(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        spectral_norm(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.PReLU(out_channels),
    ]


class MetricDiscriminator(nn.Module):
    """D(clean magnitude, other magnitude) -> [batch, 1] predicted normalised PESQ."""

    def __init__(self, channels: int = 16, dropout: float = 0.3) -> None:
        super().__init__()
        widths = (2, channels, channels * 2, channels * 4, channels * 8)
        layers: list[nn.Module] = []
        for in_channels, out_channels in zip(widths[:-1], widths[1:], strict=True):
            layers += _downsampling_layer(in_channels, out_channels)
        self.features = nn.Sequential(*layers, GlobalMaxPool())
        self.head = nn.Sequential(
            spectral_norm(nn.Linear(channels * 8, channels * 4)),
            nn.Dropout(dropout),
            nn.PReLU(channels * 4),
            spectral_norm(nn.Linear(channels * 4, 1)),
            LearnableSigmoid1d(1),
        )

    def forward(self, clean_magnitude: torch.Tensor, other_magnitude: torch.Tensor) -> torch.Tensor:
        pair = torch.stack((clean_magnitude, other_magnitude), dim=1)  # [batch, 2, frequency, frames]
        return self.head(self.features(pair))
