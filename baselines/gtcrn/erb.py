"""The ERB filter bank: GTCRN's fixed map from the upper STFT bins to fewer, perceptually
spaced bands, and its transpose back.

The lowest `low_bins` bins (0-2 kHz at 512 points) pass unchanged; the rest are summed by
triangular filters whose centres are equally spaced on the ERB-rate scale (Glasberg and
Moore's 21.4 log10(1 + 0.00437 f)) between the first merged bin and the Nyquist frequency.
Neighbouring triangles overlap so that the bank sums to one in every bin.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional


def hz_to_erb_rate(frequency: np.ndarray | float) -> np.ndarray:
    """ERB-rate (Cams) of a frequency in Hz."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(frequency, dtype=np.float64))


def erb_rate_to_hz(rate: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of an ERB-rate, the inverse of `hz_to_erb_rate`."""
    return (10.0 ** (np.asarray(rate, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def band_centres(low_bins: int, bands: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """The STFT bin at the centre of each band: ERB-rate steps, rounded to the nearest bin."""
    lowest = hz_to_erb_rate(low_bins / n_fft * sample_rate)
    highest = hz_to_erb_rate(sample_rate / 2)
    rates = np.linspace(lowest, highest, bands)
    return np.round(erb_rate_to_hz(rates) / sample_rate * n_fft).astype(np.int64)


def erb_matrix(low_bins: int, bands: int, n_fft: int, sample_rate: int) -> torch.Tensor:
    """[bands, bins above low_bins] triangular weights: band b rises from centre b-1 to centre b
    and falls to centre b+1; the first has no rising side, the last no falling side."""
    centres = band_centres(low_bins, bands, n_fft, sample_rate)
    bins = np.arange(n_fft // 2 + 1, dtype=np.float64)
    weights = np.zeros((bands, bins.size))
    for band in range(bands):
        centre = centres[band]
        if band > 0:
            previous = centres[band - 1]
            rising = (bins >= previous) & (bins < centre)
            weights[band, rising] = (bins[rising] - previous) / (centre - previous)
        if band < bands - 1:
            following = centres[band + 1]
            falling = (bins >= centre) & (bins < following)
            weights[band, falling] = (following - bins[falling]) / (following - centre)
    weights[bands - 1, centres[-1]] = 1.0
    return torch.from_numpy(weights[:, low_bins:].astype(np.float32))


class ERBFilterBank(nn.Module):
    """Bins -> bands (`analyse`) and bands -> bins (`synthesise`) along the last axis.

    The matrices are buffers: fixed, not trained, but saved, because the authors' checkpoint
    stores them (their transpose-pair is loaded and checked against what this module computes).
    """

    def __init__(self, low_bins: int = 65, bands: int = 64, n_fft: int = 512, sample_rate: int = 16_000) -> None:
        super().__init__()
        self.low_bins = low_bins
        matrix = erb_matrix(low_bins, bands, n_fft, sample_rate)
        self.register_buffer("analysis", matrix)
        self.register_buffer("synthesis", matrix.T.contiguous())

    def analyse(self, spectrum: torch.Tensor) -> torch.Tensor:
        """[..., bins] -> [..., low_bins + bands]."""
        low, high = spectrum[..., : self.low_bins], spectrum[..., self.low_bins :]
        return torch.cat([low, functional.linear(high, self.analysis)], dim=-1)

    def synthesise(self, bands: torch.Tensor) -> torch.Tensor:
        """[..., low_bins + bands] -> [..., bins]: the low bins as they are, the bands spread back."""
        low, high = bands[..., : self.low_bins], bands[..., self.low_bins :]
        return torch.cat([low, functional.linear(high, self.synthesis)], dim=-1)
