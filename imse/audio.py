"""Audio reading, validation, resampling and atomic writing.

Every part of the project that touches a WAV file goes through here, so that a wrong
sample rate, a stereo file, a silent or empty file or a corrupt header is caught the same
way everywhere, with an error that names the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from imse.atomic import atomic_write
from imse.frontend import SAMPLE_RATE


class AudioError(ValueError):
    """A file that cannot be used as it is. The message names the file and the fix.

    `kind` is a short stable tag of what is wrong (as `bench.metrics.MetricFailure` has), so
    that callers classify the failure by it and never by the wording of the message.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __reduce__(self):  # rebuilt from both arguments, e.g. when it crosses a process boundary
        return type(self), (self.kind, self.message)


@dataclass(frozen=True)
class Audio:
    """A mono float32 waveform and what was done to it on the way in."""

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None
    original_sample_rate: int | None = None
    downmixed_channels: int | None = None

    @property
    def resampled(self) -> bool:
        return self.original_sample_rate is not None and self.original_sample_rate != self.sample_rate

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample with soxr's very-high-quality filter."""
    if from_rate == to_rate:
        return samples
    return soxr.resample(samples, from_rate, to_rate, quality="VHQ").astype(np.float32)


def _why_not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"is a broken symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        return "is a directory, not an audio file"
    if path.exists():
        return "is not a regular file"
    return "no such file"


def read_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    *,
    resample_to_rate: bool = False,
    downmix: bool = False,
    allow_silent: bool = False,
) -> Audio:
    """Read a file as mono float32 at `sample_rate`.

    A file at another rate is an error unless `resample_to_rate` is set; a multi-channel
    file is an error unless `downmix` is set (then the channels are averaged). Empty files
    are always refused; all-zero files are refused unless `allow_silent` is set.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("missing-file", f"{path}: {_why_not_a_file(path)}")
    try:
        samples, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        message = f"{path}: cannot be read as audio ({error}); is the header corrupt?"
        raise AudioError("corrupt-file", message) from error
    channels = samples.shape[1]
    downmixed = None
    if channels > 1:
        if not downmix:
            raise AudioError(
                "multi-channel",
                f"{path}: has {channels} channels; speech enhancement here is mono. "
                "Pass downmix=True (--downmix on the command line) to average the channels."
            )
        samples = samples.mean(axis=1, keepdims=True)
        downmixed = channels
    samples = np.ascontiguousarray(samples[:, 0])
    if samples.size == 0:
        raise AudioError("empty-file", f"{path}: is empty (0 samples)")
    if not np.all(np.isfinite(samples)):
        raise AudioError("non-finite-samples", f"{path}: contains NaN or infinite samples")
    original = None
    if file_rate != sample_rate:
        if not resample_to_rate:
            raise AudioError(
                "wrong-sample-rate",
                f"{path}: sample rate is {file_rate} Hz, expected {sample_rate} Hz; resample it first "
                "(or pass resample_to_rate=True)"
            )
        samples = resample(samples, file_rate, sample_rate)
        original = file_rate
    if not allow_silent and not np.any(samples):
        raise AudioError("silent-file", f"{path}: is all zeros (silent); there is nothing to enhance or score")
    return Audio(samples, sample_rate, path, original, downmixed)


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write a WAV atomically (`imse.atomic`): a killed job never leaves half a file."""
    with atomic_write(path, "wb") as stream:
        soundfile.write(stream, samples, sample_rate, subtype=subtype, format="WAV")
