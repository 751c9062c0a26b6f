"""The signal path's functions: STFT and its inverse, power-law compression, RMS
normalisation, and the analysis and synthesis that a model's declared front end asks for
(`imse.frontend` holds the declarations). Training, enhancement and the tests all use these.
"""

from __future__ import annotations

import torch

from imse.frontend import UNET_STFT, FrontEnd, STFTConfig

_WINDOWS: dict[tuple[int, str, torch.device, torch.dtype], torch.Tensor] = {}


def stft_window(config: STFTConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The config's periodic Hann window (or its square root), cached per device and dtype."""
    key = (config.win_length, config.window, device, dtype)
    if key not in _WINDOWS:
        window = torch.hann_window(config.win_length, device=device, dtype=dtype)
        _WINDOWS[key] = window.sqrt() if config.window == "sqrt-hann" else window
    return _WINDOWS[key]


def _frame_arguments(config: STFTConfig, window: torch.Tensor) -> dict:
    """The framing that the STFT and its inverse share: centred frames of the config's window."""
    return {"n_fft": config.n_fft, "hop_length": config.hop_length, "win_length": config.win_length,
            "window": window, "center": True}


def complex_stft(waveform: torch.Tensor, config: STFTConfig = UNET_STFT) -> torch.Tensor:
    """Centred STFT with reflect padding: [batch, samples] -> complex [batch, frequency, frames]."""
    window = stft_window(config, waveform.device, waveform.dtype)
    return torch.stft(waveform, **_frame_arguments(config, window), pad_mode="reflect", normalized=False,
                      return_complex=True)


def inverse_stft(spectrum: torch.Tensor, config: STFTConfig = UNET_STFT) -> torch.Tensor:
    """Inverse of `complex_stft`: complex [batch, frequency, frames] -> [batch, (frames - 1) * hop]."""
    return torch.istft(spectrum, **_frame_arguments(config, stft_window(config, spectrum.device, spectrum.real.dtype)))


def magnitude_phase_stft(
    waveform: torch.Tensor, config: STFTConfig = UNET_STFT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compressed magnitude |X|^c and phase angle(X), each [batch, frequency, frames]."""
    spectrum = complex_stft(waveform, config)
    return spectrum.abs().pow(config.compress_factor), spectrum.angle()


def complex_from_polar(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Stack (m cos p, m sin p) on a last axis of 2, as the models and losses expect."""
    return torch.stack((magnitude * torch.cos(phase), magnitude * torch.sin(phase)), dim=-1)


def magnitude_phase_istft(
    magnitude: torch.Tensor, phase: torch.Tensor, config: STFTConfig = UNET_STFT
) -> torch.Tensor:
    """Undo the compression and invert the STFT: [batch, frequency, frames] -> [batch, samples]."""
    magnitude = magnitude.pow(1.0 / config.compress_factor)
    return inverse_stft(torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase)), config)


def analyse(waveform: torch.Tensor, front_end: FrontEnd) -> tuple[torch.Tensor, ...]:
    """The network's inputs for a [batch, samples] waveform, in the front end's representation."""
    if front_end.representation == "complex":
        return (torch.view_as_real(complex_stft(waveform, front_end.stft)),)
    return magnitude_phase_stft(waveform, front_end.stft)


def synthesise(outputs: torch.Tensor | tuple[torch.Tensor, ...], front_end: FrontEnd) -> torch.Tensor:
    """The waveform [batch, samples] of the network's outputs, in the front end's representation."""
    if front_end.representation == "complex":
        return inverse_stft(torch.view_as_complex(outputs.contiguous()), front_end.stft)
    magnitude, phase = outputs[0], outputs[1]
    return magnitude_phase_istft(magnitude, phase, front_end.stft)


def rms_normalisation_factor(waveform: torch.Tensor) -> torch.Tensor:
    """Upstream's factor sqrt(N / sum(x^2)) over the last axis, which scales x to unit RMS.

    An all-zero signal has no defined factor; it is refused rather than turned into inf/NaN.
    """
    energy = waveform.pow(2).sum(dim=-1, keepdim=True)
    if bool((energy == 0).any()):
        raise ValueError("cannot RMS-normalise an all-zero signal")
    return torch.sqrt(waveform.shape[-1] / energy)
