"""The training dataset: upstream's random segments, made reproducible.

Each item is one utterance, RMS-normalised as upstream does (both signals multiplied by
sqrt(len(noisy) / sum(noisy^2)), computed over the whole utterance), then cut to a random
`segment_size` stretch, or zero-padded at the end when shorter. The crop offset comes
from numpy.random.default_rng([seed, epoch, index]) and nothing else, so the batches are
the same however many DataLoader workers fetch them and in whatever order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bench.data.source import Source
from bench.data.utterance import TRAIN
from imse.dsp import rms_normalisation_factor

SEGMENT_SIZE = 30_700
SEED = 1234


def crop_or_pad(
    clean: torch.Tensor, noisy: torch.Tensor, segment_size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random `segment_size` stretch of the pair, or the pair zero-padded to it."""
    length = clean.shape[-1]
    if length >= segment_size:
        start = int(rng.integers(0, length - segment_size + 1))
        return clean[start : start + segment_size], noisy[start : start + segment_size]
    padding = (0, segment_size - length)
    return torch.nn.functional.pad(clean, padding), torch.nn.functional.pad(noisy, padding)


class TrainingDataset(torch.utils.data.Dataset):
    """(clean, noisy) float32 segments of `segment_size` samples from `ids` of `source`.

    Call `set_epoch(epoch)` before each epoch (and create the DataLoader iterator after it;
    with persistent_workers the workers would keep the old epoch).
    """

    def __init__(
        self,
        source: Source,
        ids: Sequence[str],
        *,
        segment_size: int = SEGMENT_SIZE,
        seed: int = SEED,
        split: str = TRAIN,
    ):
        self.source = source
        self.ids = list(ids)
        self.segment_size = segment_size
        self.seed = seed
        self.split = split
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        utterance = self.source.load(self.split, self.ids[index])
        clean = torch.from_numpy(utterance.clean)
        noisy = torch.from_numpy(utterance.noisy)
        norm = rms_normalisation_factor(noisy)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return crop_or_pad(clean * norm, noisy * norm, self.segment_size, rng)
