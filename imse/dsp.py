"""The signal path shared by IMSE, MUSE and every model on the skeleton.

STFT with a 510-point Hann window and hop 100 (centred, reflect padding), power-law
compression of the magnitude, its inverse, and the RMS normalisation that upstream applies
before the network. Training, enhancement and the tests all use these functions.
"""

from __future__ import annotations

import torch

from imse.frontend import UNET_STFT, STFTConfig

_WINDOWS: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}


def hann_window(length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A periodic Hann window, cached per device and dtype."""
    key = (length, device, dtype)
    if key not in _WINDOWS:
        _WINDOWS[key] = torch.hann_window(length, device=device, dtype=dtype)
    return _WINDOWS[key]


def magnitude_phase_stft(
    waveform: torch.Tensor, config: STFTConfig = UNET_STFT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compressed magnitude |X|^c and phase angle(X), each [batch, frequency, frames]."""
    window = hann_window(config.win_length, waveform.device, waveform.dtype)
    spectrum = torch.stft(
        waveform,
        config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        return_complex=True,
    )
    magnitude = spectrum.abs().pow(config.compress_factor)
    return magnitude, spectrum.angle()


def complex_from_polar(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Stack (m cos p, m sin p) on a last axis of 2, as the models and losses expect."""
    return torch.stack((magnitude * torch.cos(phase), magnitude * torch.sin(phase)), dim=-1)


def magnitude_phase_istft(
    magnitude: torch.Tensor, phase: torch.Tensor, config: STFTConfig = UNET_STFT
) -> torch.Tensor:
    """Undo the compression and invert the STFT: [batch, frequency, frames] -> [batch, samples]."""
    magnitude = magnitude.pow(1.0 / config.compress_factor)
    spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
    window = hann_window(config.win_length, spectrum.device, magnitude.dtype)
    return torch.istft(
        spectrum,
        config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=window,
        center=True,
    )


def rms_normalisation_factor(waveform: torch.Tensor) -> torch.Tensor:
    """Upstream's factor sqrt(N / sum(x^2)) over the last axis, which scales x to unit RMS.

    An all-zero signal has no defined factor; it is refused rather than turned into inf/NaN.
    """
    energy = waveform.pow(2).sum(dim=-1, keepdim=True)
    if bool((energy == 0).any()):
        raise ValueError("cannot RMS-normalise an all-zero signal")
    return torch.sqrt(waveform.shape[-1] / energy)
