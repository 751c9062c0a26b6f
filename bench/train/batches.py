"""Training batches: random crops in an order that is a pure function of (seed, epoch, position).

The pairs may be any sequence (a list, or one that reads from disk on indexing). Each
utterance is RMS-normalised as a whole with the noisy signal's factor (upstream's
recipe), then cut by `crop_or_pad`: a `segment_size` crop at a random start, or zero
padding for a shorter utterance. The epoch's order is a permutation drawn from (seed, epoch), and each crop's start from
(seed, epoch, position), so a resumed run can jump straight to any batch and N processes
can each take their share of the same global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bench.data.utterance import DataError
from bench.train.data import TrainingUtterance
from imse.dsp import rms_normalisation_factor


@dataclass(frozen=True)
class NormalisedUtterance:
    """An utterance's clean and noisy samples, both scaled by the noisy signal's RMS factor."""

    id: str
    clean: np.ndarray
    noisy: np.ndarray


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


def normalise(pair: TrainingUtterance) -> NormalisedUtterance:
    clean = torch.as_tensor(np.asarray(pair.clean, dtype=np.float32))
    noisy = torch.as_tensor(np.asarray(pair.noisy, dtype=np.float32))
    if clean.shape != noisy.shape or clean.ndim != 1:
        raise ValueError(f"utterance {pair.id}: clean {tuple(clean.shape)} and noisy {tuple(noisy.shape)} differ")
    factor = rms_normalisation_factor(noisy)
    return NormalisedUtterance(pair.id, (clean * factor).numpy(), (noisy * factor).numpy())


class CropBatches:
    """Batches of (clean, noisy) crops [batch / world_size, segment_size] for one process."""

    def __init__(
        self,
        pairs: Sequence[TrainingUtterance],
        segment_size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"the global batch {batch_size} does not split evenly over {world_size} processes")
        self.pairs = pairs
        if len(pairs) < batch_size:
            raise DataError(f"the train split has {len(pairs)} utterances, fewer than a batch ({batch_size})")
        self.segment_size = segment_size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    @property
    def batches_per_epoch(self) -> int:
        """Full global batches per epoch (the last partial batch is dropped, as upstream does)."""
        return len(self.pairs) // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's permutation of utterance indices."""
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))

    def crop(self, pair: TrainingUtterance, epoch: int, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The crop at `position` of `epoch`: a random start, or zero padding for a short utterance."""
        pair = normalise(pair)
        rng = np.random.default_rng([self.seed, epoch, position])
        return crop_or_pad(torch.from_numpy(pair.clean), torch.from_numpy(pair.noisy), self.segment_size, rng)

    def batch(self, epoch: int, index: int, order: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's share of global batch `index` of `epoch`: positions rank, rank + N, ..."""
        if order is None:
            order = self.order(epoch)
        positions = range(index * self.batch_size + self.rank, (index + 1) * self.batch_size, self.world_size)
        crops = [self.crop(self.pairs[order[position]], epoch, position) for position in positions]
        return torch.stack([crop[0] for crop in crops]), torch.stack([crop[1] for crop in crops])
