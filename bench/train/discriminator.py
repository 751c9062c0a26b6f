"""The MetricGAN-style discriminator that learns to predict normalised wideband PESQ.

Its input is the clean and the (enhanced or clean) compressed magnitude, stacked as two
channels. Four spectral-normed 4x4 stride-2 convolutions with instance norm and PReLU,
a global max pool, then two spectral-normed linear layers and a learnable sigmoid give a
score in (0, 1) per pair, the target being (PESQ - 1) / 3.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

_SPECTRAL_NORM_NAMES = {
    "parametrizations.weight.original": "weight_orig",
    "parametrizations.weight.0._u": "weight_u",
    "parametrizations.weight.0._v": "weight_v",
}
"""torch's parametrized spectral norm's names -> the older `nn.utils.spectral_norm`'s, which upstream uses."""


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


class SpectralNorm(nn.Module):
    """Spectral normalisation W / sigma(W), computed as upstream computes it: a parametrization.

    Upstream uses torch's older `nn.utils.spectral_norm`, whose one power iteration per
    training call updates v = normalize(W^T u) first and then u = normalize(W v), and which
    starts from random u, v. torch's `parametrizations.spectral_norm` updates u first, then v,
    and starts with 15 iterations. From the same state the two give a sigma about 1% apart
    after one iteration, and the discriminator's loss with it (measured by `bench.train.parity`).
    This module keeps the order of upstream and the state-dict names of the parametrization
    (`parametrizations.weight.original`, `...0._u`, `...0._v`). Like any parametrization it
    iterates on every read of `.weight` in training mode; the discriminator reads each once
    per call, as upstream's forward hook runs once per call.
    """

    def __init__(self, weight: torch.Tensor, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps
        rows, columns = weight.flatten(1).shape
        with torch.no_grad():
            self.register_buffer("_u", F.normalize(weight.new_empty(rows).normal_(0, 1), dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(weight.new_empty(columns).normal_(0, 1), dim=0, eps=eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        matrix = weight.flatten(1)
        if self.training:
            with torch.no_grad():
                self._v = F.normalize(torch.mv(matrix.t(), self._u), dim=0, eps=self.eps, out=self._v)
                self._u = F.normalize(torch.mv(matrix, self._v), dim=0, eps=self.eps, out=self._u)
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        return weight / torch.dot(u, torch.mv(matrix, v))


def spectral_norm(module: nn.Module) -> nn.Module:
    """`module` with its weight spectrally normalised as upstream does (`SpectralNorm`)."""
    # unsafe: the safe registration calls the parametrization once to check its shape, which in
    # training mode runs a power iteration that upstream's construction does not
    parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight), unsafe=True)
    return module


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

    def upstream_key_map(self) -> dict[str, str]:
        """Our state-dict key -> the authors' (`layers.N...`, spectral norm as `weight_orig`, `weight_u`,
        `weight_v`), for every tensor in `state_dict()`: upstream's one Sequential has a max pool
        and a Flatten where we have `GlobalMaxPool`, so the head starts at their index 14."""
        head_offset = len(self.features) + 1
        mapping = {}
        for key in self.state_dict():
            part, index, rest = key.split(".", 2)
            position = int(index) + (head_offset if part == "head" else 0)
            for ours, theirs in _SPECTRAL_NORM_NAMES.items():
                rest = rest.replace(ours, theirs)
            mapping[key] = f"layers.{position}.{rest}"
        return mapping
