"""Where training gets its utterances: a train split and a validation split chosen by the protocol.

`bench.data` opens a named source (`vb-mini`, the VoiceBank+DEMAND copies, a directory)
and splits it by protocol: `clean` validates on held-out training speakers, `upstream` on
the test set as the official code did. This module only adapts that to two sequences of
utterances, read from the source when indexed. Callers with utterances of their own (the
tests' synthetic ones) give the trainer `TrainingSplits` directly; `check_splits` refuses
empty ones either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm import tqdm

from bench.data.utterance import DataError

__all__ = ["DataError", "TrainingSplits", "TrainingUtterance", "check_splits", "open_splits"]


class TrainingUtterance(Protocol):
    """What training reads of an utterance (`bench.data.Utterance` has it): float32 16 kHz mono, equal lengths."""

    id: str
    clean: np.ndarray
    noisy: np.ndarray


@dataclass
class TrainingSplits:
    """The utterances to train and to validate on, and the protocol that chose the validation set."""

    train: Sequence[TrainingUtterance]
    validation: Sequence[TrainingUtterance]
    protocol: str
    source: str


def open_splits(data: str | None, protocol: str, partial: bool = False) -> TrainingSplits:
    """The train and validation utterances of the `bench.data` source `data` under `protocol`."""
    return check_splits(_from_bench_data(data, protocol, partial))


def check_splits(splits: TrainingSplits) -> TrainingSplits:
    """`splits` itself, refused with a DataError if either split is empty."""
    if not splits.train:
        raise DataError(f"data source {splits.source!r} has no train split (or it is empty); it cannot train a model")
    if not splits.validation:
        raise DataError(
            f"data source {splits.source!r} gives no validation utterances under protocol {splits.protocol!r}"
        )
    return splits


class SourceUtterances(Sequence):
    """Utterances of one split, read from the source when indexed (the corpus need not fit in memory)."""

    def __init__(self, source: object, split: str, ids: Sequence[str]) -> None:
        self.source = source
        self.split = split
        self.ids = list(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> TrainingUtterance:
        return self.source.load(self.split, self.ids[index])


def _check_readable(source: object, split: str) -> None:
    """Read every pair of `split` once before training, so that a bad file stops the run at its
    start, listed with the others, rather than hours in (`bench.data describe` skips the same ones)."""
    skipped: list = []
    for _ in tqdm(source.utterances(split, skipped), total=len(source.ids(split)), desc=f"checking {split} data",
                  unit="pair", leave=False):
        pass
    if skipped:
        listed = "; ".join(f"{item.id}: {item.reason}" for item in skipped[:5])
        more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
        raise DataError(
            f"data source {source.location}: {len(skipped)} of the {split} pairs cannot be used: {listed}{more}. "
            "Fix or remove them (python -m bench.data describe lists them all); training does not skip data silently."
        )


def _from_bench_data(data: str | None, protocol: str, partial: bool) -> TrainingSplits:
    from bench import data as data_layer

    source = data_layer.open_source(data, partial=partial)
    if data_layer.TRAIN not in source.splits() or not source.ids(data_layer.TRAIN):
        raise DataError(f"data source {source.location} has no train split (or it is empty); it cannot train a model")
    chosen = data_layer.split_for_protocol(source, protocol)
    for split in dict.fromkeys((data_layer.TRAIN, chosen.validation_split)):
        _check_readable(source, split)
    return TrainingSplits(
        SourceUtterances(source, data_layer.TRAIN, chosen.train),
        SourceUtterances(source, chosen.validation_split, chosen.validation),
        protocol,
        f"{source.name} ({source.location}); {chosen.label}",
    )
