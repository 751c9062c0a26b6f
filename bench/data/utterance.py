"""What every source yields, what it may refuse, and the checks shared by all of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imse.frontend import SAMPLE_RATE

FULL_SCALE = 32767 / 32768
CLIPPED_RUN = 3
TRAIN = "train"
TEST = "test"
SPLITS = (TRAIN, TEST)
FULL_CORPUS_COUNTS = {TRAIN: 11_572, TEST: 824}


class DataError(ValueError):
    """Input that cannot be used as it is. The message names the file and says what to do."""


@dataclass(frozen=True)
class Utterance:
    """One clean/noisy pair: 16 kHz, mono, float32, the same length."""

    id: str
    speaker: str
    clean: np.ndarray
    noisy: np.ndarray
    sample_rate: int = SAMPLE_RATE
    snr_db: float | None = None
    noise_type: str | None = None

    @property
    def duration(self) -> float:
        return self.clean.size / self.sample_rate


@dataclass(frozen=True)
class Skipped:
    """An utterance left out by a caller that asked to skip bad input, and why."""

    split: str
    id: str
    reason: str


def speaker_of(utterance_id: str) -> str:
    """The speaker of a VoiceBank-style id: everything before the last underscore (p226_001 -> p226)."""
    speaker, separator, _ = utterance_id.rpartition("_")
    if not separator or not speaker:
        raise DataError(
            f"utterance id {utterance_id!r} has no speaker prefix; ids are <speaker>_<number> as in p226_001"
        )
    return speaker


def clipped(samples: np.ndarray) -> bool:
    """True if `CLIPPED_RUN` or more consecutive samples sit at full scale."""
    at_full_scale = np.abs(samples) >= FULL_SCALE
    if np.count_nonzero(at_full_scale) < CLIPPED_RUN:
        return False
    window = np.convolve(at_full_scale.astype(np.int32), np.ones(CLIPPED_RUN, dtype=np.int32), "valid")
    return bool(np.any(window == CLIPPED_RUN))


def check_pair(utterance_id: str, clean: np.ndarray, noisy: np.ndarray, where: str) -> None:
    """Refuse a pair of different lengths, or with a silent or clipped side; `where` names the files."""
    if clean.size != noisy.size:
        raise DataError(
            f"{where}: {utterance_id} clean has {clean.size} samples but noisy has {noisy.size}; "
            "the pair does not belong together, fix or remove it"
        )
    for side, samples in (("clean", clean), ("noisy", noisy)):
        if not np.any(samples):
            raise DataError(f"{where}: {utterance_id} {side} is silent (all zeros); remove the pair")
        if clipped(samples):
            raise DataError(
                f"{where}: {utterance_id} {side} is clipped ({CLIPPED_RUN}+ consecutive samples at full "
                "scale); VoiceBank+DEMAND never clips, so this file was damaged, replace it"
            )
