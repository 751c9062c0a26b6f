"""The training dataset: upstream's crops and normalisation, reproducible across workers and epochs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data import TrainingDataset
from tests.dummies.layouts import MemorySource, synthetic_pairs

SEGMENT = 4_000


@pytest.fixture(scope="module")
def source():
    train = synthetic_pairs(("p001", "p002"), per_speaker=4, seconds=0.5)
    train["p003_001"] = tuple(x[:1_000] + 0.01 for x in train["p001_001"])  # shorter than a segment
    return MemorySource(train, synthetic_pairs(("p009",), per_speaker=1))


def batches(dataset: TrainingDataset, workers: int) -> list[torch.Tensor]:
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, shuffle=False, num_workers=workers)
    return [torch.cat([clean, noisy], dim=1) for clean, noisy in loader]


def test_items_are_normalised_crops_of_the_pair(source):
    ids = source.ids("train")
    dataset = TrainingDataset(source, ids, segment_size=SEGMENT, seed=1)
    for index, utterance_id in enumerate(ids):
        clean, noisy = dataset[index]
        assert clean.shape == noisy.shape == (SEGMENT,) and clean.dtype == torch.float32
        utterance = source.load("train", utterance_id)
        norm = np.sqrt(utterance.noisy.size / np.sum(utterance.noisy.astype(np.float64) ** 2))
        if utterance.noisy.size < SEGMENT:
            np.testing.assert_allclose(noisy[: utterance.noisy.size].numpy(), utterance.noisy * norm, rtol=1e-5)
            assert not torch.any(noisy[utterance.noisy.size :]) and not torch.any(clean[utterance.noisy.size :])
            continue
        # The crop sits where the clean and noisy pieces both match the normalised utterance.
        scaled = utterance.noisy * norm
        heads = np.lib.stride_tricks.sliding_window_view(scaled[: scaled.size - SEGMENT + 32], 32)
        starts = np.flatnonzero(np.all(np.abs(heads - noisy[:32].numpy()) < 1e-4, axis=1))
        assert len(starts) == 1
        np.testing.assert_allclose(noisy.numpy(), scaled[starts[0] : starts[0] + SEGMENT], rtol=1e-5)
        np.testing.assert_allclose(clean.numpy(), utterance.clean[starts[0] : starts[0] + SEGMENT] * norm, rtol=1e-5)


def test_same_seed_same_items_any_number_of_workers(source):
    ids = source.ids("train")
    single = batches(TrainingDataset(source, ids, segment_size=SEGMENT, seed=5), workers=0)
    parallel = batches(TrainingDataset(source, ids, segment_size=SEGMENT, seed=5), workers=2)
    assert len(single) == len(parallel)
    for first, second in zip(single, parallel, strict=True):
        torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_crops_change_with_the_epoch_and_the_seed(source):
    ids = source.ids("train")
    dataset = TrainingDataset(source, ids, segment_size=SEGMENT, seed=5)
    first = batches(dataset, workers=0)
    dataset.set_epoch(1)
    second = batches(dataset, workers=0)
    dataset.set_epoch(0)
    assert all(torch.equal(a, b) for a, b in zip(first, batches(dataset, workers=0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    other_seed = batches(TrainingDataset(source, ids, segment_size=SEGMENT, seed=6), workers=0)
    assert not all(torch.equal(a, b) for a, b in zip(first, other_seed, strict=True))
