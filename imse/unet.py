"""The one skeleton: dense encoder -> 3-level U-Net with refinement stages -> mask and phase decoders.

IMSE is this skeleton with IDConv embeddings and MALA attention; MUSE plugs in deformable
embeddings and Taylor attention; the ablations are the mixed pairs. The skeleton never
asks which blocks it holds: it looks them up by name in the model registry, which loads
every plug-in on the first look-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from imse.blocks import Downsample, Stage, Upsample
from imse.dense import DenseEncoder, MaskDecoder, PhaseDecoder
from imse.dsp import complex_from_polar
from imse.frontend import SEGMENT_SIZE, FrontEnd, STFTConfig
from imse.registry import registry

TIME_DOWNSAMPLING = 4
"""The U-Net halves time twice, so its frame count must be a multiple of 4."""

FULL_PASS_BYTES_PER_SAMPLE = 4_500
"""Peak memory of a whole-utterance pass grows by about 62 MB per second of audio for IMSE
and 71 MB for MUSE (maximum resident size after 2 s and 8 s, one thread, torch 2.13 CPU):
3,900 and 4,450 bytes per sample. The larger, rounded up, serves all four U-Nets."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes an architecture. The defaults are the paper's IMSE."""

    embedding: str = "idconv"
    attention: str = "mala"
    dense_channel: int = 16
    heads: tuple[int, int, int] = (2, 4, 6)
    """Heads at the 1x, 2x and 3x dense_channel levels (IMSE: dim // 8; MUSE: 1, 2, 8)."""
    blocks_per_stage: int = 4
    feedforward_expansion: float = 2.66
    mask_beta: float = 2.0
    segment_size: int = SEGMENT_SIZE
    stft: STFTConfig = field(default_factory=STFTConfig)

    def __post_init__(self) -> None:
        """Refuse, naming the field, a config that would fail only later, deep in a forward pass."""
        whole = (self.dense_channel, self.blocks_per_stage, self.segment_size)
        if not all(isinstance(value, int) and value >= 1 for value in whole):
            raise ValueError(f"dense_channel, blocks_per_stage and segment_size must be whole numbers >= 1, "
                             f"got {whole}")
        heads = tuple(self.heads) if isinstance(self.heads, (tuple, list)) else ()
        if len(heads) != 3 or not all(isinstance(count, int) and count >= 1 for count in heads):
            raise ValueError(f"heads must be three whole numbers >= 1 (one per U-Net level), got {self.heads!r}")
        hops, remainder = divmod(self.segment_size, self.stft.hop_length)
        if remainder or (hops + 1) % TIME_DOWNSAMPLING or self.segment_size < self.stft.n_fft:
            raise ValueError(
                f"segment_size {self.segment_size} must be a multiple of the hop ({self.stft.hop_length}) of at "
                f"least one window ({self.stft.n_fft}) whose frame count is a multiple of {TIME_DOWNSAMPLING}, "
                f"e.g. {SEGMENT_SIZE}"
            )

    @property
    def front_end(self) -> FrontEnd:
        """Upstream's signal path: compressed magnitude and phase, RMS-normalised, in segments."""
        return FrontEnd(stft=self.stft, representation="compressed-polar", rms_normalisation=True,
                        segment_size=self.segment_size, frame_multiple=TIME_DOWNSAMPLING,
                        full_pass_bytes_per_sample=FULL_PASS_BYTES_PER_SAMPLE)

    def build(self) -> SpeechEnhancementNet:
        return SpeechEnhancementNet(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        values = dict(values)
        values["stft"] = STFTConfig(**values.get("stft", {}))
        values["heads"] = tuple(values.get("heads", cls.heads))
        return cls(**values)


class UNet(nn.Module):
    """Three levels (widths c, 2c, 3c), encoder and decoder stages, and two refinement
    stages that split into a magnitude path and a phase path."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        embedding = registry.embedding(config.embedding)
        attention = registry.attention(config.attention)
        width = config.dense_channel
        widths = (width, width * 2, width * 3)

        def stage(level: int) -> Stage:
            return Stage(
                widths[level],
                config.heads[level],
                embedding,
                attention,
                config.blocks_per_stage,
                config.feedforward_expansion,
            )

        self.encoder1 = stage(0)
        self.down1 = Downsample(widths[0], widths[1])
        self.encoder2 = stage(1)
        self.down2 = Downsample(widths[1], widths[2])
        self.bottleneck = stage(2)
        self.up2 = Upsample(widths[2], widths[1])
        self.reduce2 = nn.Conv2d(widths[1] * 2, widths[1], 1, bias=False)
        self.decoder2 = stage(1)
        self.up1 = Upsample(widths[1], widths[0])
        self.reduce1 = nn.Conv2d(widths[0] * 2, widths[0], 1, bias=False)
        self.decoder1 = stage(0)
        self.magnitude_refinement = stage(0)
        self.magnitude_output = nn.Conv2d(widths[0], widths[0], 3, padding=1, bias=False)
        self.phase_refinement = stage(0)
        self.phase_output = nn.Conv2d(widths[0], widths[0], 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        level1 = self.encoder1(x)
        level2 = self.encoder2(self.down1(level1))
        latent = self.bottleneck(self.down2(level2))
        decoded2 = self.decoder2(self.reduce2(torch.cat([self.up2(latent), level2], dim=1)))
        decoded1 = self.decoder1(self.reduce1(torch.cat([self.up1(decoded2), level1], dim=1)))
        magnitude = self.magnitude_output(self.magnitude_refinement(decoded1)) + x
        phase = self.phase_output(self.phase_refinement(decoded1)) + x
        return magnitude, phase


class SpeechEnhancementNet(nn.Module):
    """Compressed magnitude and phase in, enhanced magnitude, phase and complex spectrum out.

    Shapes follow upstream: inputs [batch, frequency, frames]; outputs the same, and the
    complex spectrum [batch, frequency, frames, 2]. The frame count must be a multiple of 4.
    """

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        channels = config.dense_channel
        self.encoder = DenseEncoder(channels)
        self.unet = UNet(config)
        self.mask_decoder = MaskDecoder(channels, config.stft.frequency_bins, config.mask_beta)
        self.phase_decoder = PhaseDecoder(channels)

    def forward(
        self, noisy_magnitude: torch.Tensor, noisy_phase: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        frames = noisy_magnitude.shape[-1]
        if frames % TIME_DOWNSAMPLING:
            raise ValueError(f"the U-Net needs a frame count divisible by {TIME_DOWNSAMPLING}, got {frames}")
        magnitude = noisy_magnitude.transpose(1, 2).unsqueeze(1)  # [batch, 1, T, F]
        phase = noisy_phase.transpose(1, 2).unsqueeze(1)
        features = self.encoder(torch.cat((magnitude, phase), dim=1))
        magnitude_features, phase_features = self.unet(features)
        enhanced_magnitude = (magnitude * self.mask_decoder(magnitude_features)).squeeze(1).transpose(1, 2)
        enhanced_phase = self.phase_decoder(phase_features).squeeze(1).transpose(1, 2)
        return enhanced_magnitude, enhanced_phase, complex_from_polar(enhanced_magnitude, enhanced_phase)
