"""What a model declares about its signal path: sample rate, STFT, normalisation, segmenting.

Each constant of the signal path has its home here, and everything else imports it:
the harness, training and the tests never write 16,000 or 30,700 again.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATE = 16_000
"""Every model and metric of the project works at 16 kHz (VoiceBank+DEMAND's 16 kHz copies)."""

SEGMENT_SIZE = 30_700
"""Upstream's segment: the U-Nets' inference segment and training crop (308 STFT frames)."""


@dataclass(frozen=True)
class STFTConfig:
    """Short-time Fourier transform and compression; the defaults are the U-Nets' (upstream's)."""

    n_fft: int = 510
    hop_length: int = 100
    win_length: int = 510
    compress_factor: float = 0.3
    sample_rate: int = SAMPLE_RATE

    @property
    def frequency_bins(self) -> int:
        return self.n_fft // 2 + 1

    def frames(self, samples: int) -> int:
        """Frame count of a centred STFT of `samples` samples."""
        return samples // self.hop_length + 1


UNET_STFT = STFTConfig()
"""The U-Nets' STFT (IMSE, MUSE and the hybrids): 510-point Hann, hop 100, compression 0.3."""
