"""GTCRN's config and front end: a 512-point sqrt-Hann STFT with hop 256, the complex spectrum
in and out, no RMS normalisation, whole utterances (the official `infer.py`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imse.frontend import FrontEnd, STFTConfig

if TYPE_CHECKING:
    from baselines.gtcrn.network import GTCRN

GTCRN_STFT = STFTConfig(n_fft=512, hop_length=256, win_length=512, compress_factor=1.0, window="sqrt-hann")
"""The official STFT: torch.stft(x, 512, 256, 512, hann_window(512) ** 0.5), centred; no compression."""


@dataclass(frozen=True)
class GTCRNConfig:
    """Everything that fixes a GTCRN; the defaults are the released models'."""

    channels: int = 16
    erb_low_bins: int = 65
    """The lowest STFT bins, kept as they are (0 to ~2 kHz)."""
    erb_bands: int = 64
    """ERB bands that the remaining bins are merged into."""
    stft: STFTConfig = field(default_factory=lambda: GTCRN_STFT)

    @property
    def bands(self) -> int:
        """Bands after the encoder's two stride-2 convolutions along frequency (129 -> 65 -> 33)."""
        features = self.erb_low_bins + self.erb_bands
        for _ in range(2):
            features = (features - 1) // 2 + 1
        return features

    @property
    def front_end(self) -> FrontEnd:
        """The official inference: complex spectrum, no normalisation, one pass per utterance; the
        input is extended to a whole hop by reflection, which leaves the official frames as they are."""
        return FrontEnd(stft=self.stft, representation="complex", rms_normalisation=False, segment_size=None,
                        frame_multiple=1, end_padding="reflect")

    def build(self) -> GTCRN:
        from baselines.gtcrn.network import GTCRN

        return GTCRN(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GTCRNConfig:
        values = dict(values)
        if "stft" in values:
            values["stft"] = STFTConfig(**values["stft"])
        return cls(**values)
