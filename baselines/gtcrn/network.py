"""GTCRN (Rong et al., ICASSP 2024), written for this project from the paper and the official
code: ERB band merging, subband features, a grouped-temporal-convolution encoder, two
dual-path grouped RNNs, a mirrored decoder with skip connections, and a complex ratio mask.

The network takes and returns the spectrum as [batch, frequency, frames, 2] (real, imaginary).
It is causal along time, so `step` can run it a few frames (or one) at a time with a cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from baselines.gtcrn.blocks import ConvBlock, GroupedTemporalConv, subband_features
from baselines.gtcrn.erb import ERBFilterBank
from baselines.gtcrn.rnn import DualPathGroupedRNN
from baselines.gtcrn.upstream import upstream_constants, upstream_key_map

if TYPE_CHECKING:
    from baselines.gtcrn.config import GTCRNConfig

DILATIONS = (1, 2, 5)
"""The three GTConv blocks' dilations along time (encoder order; the decoder mirrors them)."""


@dataclass
class GTCRNCache:
    """What a stream carries from one call of `GTCRN.step` to the next: each GTConv block's past
    depth-wise inputs and attention state, and each dual-path RNN's inter-frame state."""

    encoder: list[tuple[torch.Tensor, torch.Tensor] | None] = field(default_factory=lambda: [None] * len(DILATIONS))
    dual_path: list[torch.Tensor | None] = field(default_factory=lambda: [None, None])
    decoder: list[tuple[torch.Tensor, torch.Tensor] | None] = field(default_factory=lambda: [None] * len(DILATIONS))


def complex_ratio_mask(mask: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
    """Complex product of a mask and a spectrum, both [B, 2, T, F] (real, imaginary)."""
    real = spectrum[:, 0] * mask[:, 0] - spectrum[:, 1] * mask[:, 1]
    imaginary = spectrum[:, 1] * mask[:, 0] + spectrum[:, 0] * mask[:, 1]
    return torch.stack([real, imaginary], dim=1)


def _gtconv(block: GroupedTemporalConv, features: torch.Tensor,
            cache: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    output, past, state = block(features, *(cache or (None, None)))
    return output, (past, state)


class GTCRN(nn.Module):
    """The grouped temporal convolutional recurrent network; `config` is its GTCRNConfig."""

    def __init__(self, config: GTCRNConfig) -> None:
        super().__init__()
        self.config = config
        width = config.channels
        self.erb = ERBFilterBank(config.erb_low_bins, config.erb_bands, config.stft.n_fft, config.stft.sample_rate)
        self.encoder = nn.ModuleList(
            [ConvBlock(3 * 3, width), ConvBlock(width, width, groups=2)]
            + [GroupedTemporalConv(width, width, dilation) for dilation in DILATIONS]
        )
        self.dual_path = nn.ModuleList(DualPathGroupedRNN(width, config.bands) for _ in range(2))
        self.decoder = nn.ModuleList(
            [GroupedTemporalConv(width, width, dilation, transposed=True) for dilation in reversed(DILATIONS)]
            + [ConvBlock(width, width, groups=2, transposed=True), ConvBlock(width, 2, transposed=True, last=True)]
        )

    def forward(self, spectrum: torch.Tensor) -> torch.Tensor:
        """[B, F, T, 2] noisy spectrum -> [B, F, T, 2] enhanced spectrum, from silence before frame 0."""
        return self.step(spectrum, GTCRNCache())[0]

    def _encode(self, features: torch.Tensor, cache: GTCRNCache) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for index, layer in enumerate(self.encoder):
            if isinstance(layer, GroupedTemporalConv):
                slot = index - (len(self.encoder) - len(DILATIONS))
                features, cache.encoder[slot] = _gtconv(layer, features, cache.encoder[slot])
            else:
                features = layer(features)
            skips.append(features)
        return features, skips

    def _decode(self, features: torch.Tensor, skips: list[torch.Tensor], cache: GTCRNCache) -> torch.Tensor:
        for index, layer in enumerate(self.decoder):
            features = features + skips[-1 - index]
            if isinstance(layer, GroupedTemporalConv):
                features, cache.decoder[index] = _gtconv(layer, features, cache.decoder[index])
            else:
                features = layer(features)
        return features

    def stream_cache(self) -> GTCRNCache:
        """A fresh stream's cache: silence before the first frame (`imse.streaming`'s hook)."""
        return GTCRNCache()

    def step(self, spectrum: torch.Tensor, cache: GTCRNCache) -> tuple[torch.Tensor, GTCRNCache]:
        """Enhance the next frames of a stream: [B, F, T, 2] -> ([B, F, T, 2], the updated cache).

        Feeding an utterance in pieces with one cache gives what one `forward` over it gives.
        """
        real, imaginary = spectrum[..., 0].transpose(1, 2), spectrum[..., 1].transpose(1, 2)
        magnitude = torch.sqrt(real.pow(2) + imaginary.pow(2) + 1e-12)
        features = subband_features(self.erb.analyse(torch.stack([magnitude, real, imaginary], dim=1)))
        features, skips = self._encode(features, cache)
        for index, block in enumerate(self.dual_path):
            features, cache.dual_path[index] = block(features, cache.dual_path[index])
        mask = self.erb.synthesise(self._decode(features, skips, cache))
        enhanced = complex_ratio_mask(mask, spectrum.permute(0, 3, 2, 1))
        return enhanced.permute(0, 3, 2, 1), cache

    def upstream_key_map(self) -> dict[str, str]:
        """Our state-dict key -> the official checkpoint's (the loader's hook, `imse.upstream`)."""
        return upstream_key_map(list(self.state_dict()))

    def upstream_constants(self) -> dict[str, torch.Tensor]:
        """The official checkpoint's stored ERB matrices, as this config computes them."""
        config = self.config
        return upstream_constants(config.erb_low_bins, config.erb_bands, config.stft.n_fft, config.stft.sample_rate)
