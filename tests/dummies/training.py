"""Synthetic training data: speech-like utterances in white noise, split like a real source.

Tests hand `synthetic_splits` to the trainer; a subprocess (torchrun, a killed CLI run) trains
on it through the launcher script in tests/test_train_loop.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.train.data import TrainingSplits
from tests.dummies.audio import noisy_version, speech_like


@dataclass(frozen=True)
class SyntheticUtterance:
    id: str
    speaker: str
    clean: np.ndarray
    noisy: np.ndarray


def synthetic_utterances(count: int, speaker: str, first_seed: int, seconds: float = 1.6) -> list[SyntheticUtterance]:
    """`count` pairs of `seconds` each at 0 to 10 dB SNR, deterministic from `first_seed`."""
    utterances = []
    for number in range(count):
        seed = first_seed + number
        clean = speech_like(seconds + 0.1 * (number % 4), seed=seed)
        noisy = noisy_version(clean, snr_db=float(seed % 3) * 5.0, seed=seed + 1000)
        utterances.append(
            SyntheticUtterance(f"{speaker}_{number:03d}", speaker, clean.astype(np.float32), noisy.astype(np.float32))
        )
    return utterances


def synthetic_splits(protocol: str = "clean", train: int = 8, validation: int = 2) -> TrainingSplits:
    """Training speakers s01/s02 and a held-out s03 (`clean`), or a separate test speaker (`upstream`)."""
    pairs = synthetic_utterances(train // 2, "s01", 0) + synthetic_utterances(train - train // 2, "s02", 100)
    held_out = synthetic_utterances(validation, "s03" if protocol == "clean" else "t01", 200)
    return TrainingSplits(pairs, held_out, protocol, "synthetic")


def empty_train_splits(protocol: str = "clean") -> TrainingSplits:
    """A source with test utterances only, for the 'no train split' error."""
    return TrainingSplits([], synthetic_utterances(2, "t01", 300), protocol, "test-only")
