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


WINDOWS = ("hann", "sqrt-hann")

END_PADDINGS = ("zeros", "reflect")
"""How an utterance is extended to the network's valid length: "zeros" (upstream IMSE/MUSE);
"reflect", the mirror image of its last samples, which is what a centred STFT of the unpadded
utterance puts in its last frame, so a causal network gives the official unpadded output
exactly over the official length (GTCRN)."""

REPRESENTATIONS = ("compressed-polar", "complex")
"""What a network takes and gives: "compressed-polar", the U-Nets' compressed magnitude and
phase, each [batch, frequency, frames], out (magnitude, phase, complex); "complex", the
spectrum as [batch, frequency, frames, 2] (real, imaginary) in and out."""


@dataclass(frozen=True)
class STFTConfig:
    """Short-time Fourier transform and compression; the defaults are the U-Nets' (upstream's)."""

    n_fft: int = 510
    hop_length: int = 100
    win_length: int = 510
    compress_factor: float = 0.3
    sample_rate: int = SAMPLE_RATE
    window: str = "hann"
    """"hann" (periodic), or "sqrt-hann", its square root (GTCRN's analysis and synthesis window)."""

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"unknown STFT window {self.window!r}; use one of {WINDOWS}")

    @property
    def frequency_bins(self) -> int:
        return self.n_fft // 2 + 1

    def frames(self, samples: int) -> int:
        """Frame count of a centred STFT of `samples` samples."""
        return samples // self.hop_length + 1


UNET_STFT = STFTConfig()
"""The U-Nets' STFT (IMSE, MUSE and the hybrids): 510-point Hann, hop 100, compression 0.3."""


@dataclass(frozen=True)
class FrontEnd:
    """How a registered model meets a waveform: everything `imse.enhance`, training, complexity
    and export ask the model instead of assuming.

    `segment_size` None means the model takes whole utterances (no segmenting);
    `frame_multiple` is the frame count the network's input must be a multiple of (the
    U-Nets halve time twice: 4); `end_padding` is how a whole-utterance pass extends the
    input to its valid length (see END_PADDINGS).
    """

    stft: STFTConfig
    representation: str
    rms_normalisation: bool
    segment_size: int | None
    frame_multiple: int = 1
    full_pass_bytes_per_sample: int | None = None
    """Peak memory of a whole-utterance pass per input sample, as measured; None if unknown.
    `imse.enhance` refuses a pass that would not fit in the memory available."""
    end_padding: str = "zeros"

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"unknown representation {self.representation!r}; use one of {REPRESENTATIONS}")
        if self.end_padding not in END_PADDINGS:
            raise ValueError(f"unknown end padding {self.end_padding!r}; use one of {END_PADDINGS}")

    @property
    def sample_rate(self) -> int:
        return self.stft.sample_rate

    @property
    def minimum_length(self) -> int:
        """The shortest input that fills one STFT window."""
        return self.stft.n_fft

    def valid_length(self, length: int) -> int:
        """The shortest length >= `length` that the network takes and whose inverse STFT
        gives back at least `length` samples: a multiple of the hop, with a centred frame
        count that is a multiple of `frame_multiple`."""
        hops = -(-length // self.stft.hop_length)
        hops += (-(hops + 1)) % self.frame_multiple
        return hops * self.stft.hop_length
