"""Training steps per second for IMSE and MUSE at the paper's batch and crop (2 x 30,700 samples) on CPU.

    python -m pytest benchmarks/test_train_speed.py --benchmark-enable -s

Each round is one real `Trainer.train_step` (the loop's own code): generator forward,
PESQ targets, discriminator update, generator loss, backward and AdamW, with 2 torch
threads. The PESQ targets are computed in this process (pesq_workers=0) so that their
cost shows on its own; with the default 2 workers they overlap the discriminator's forward.
The official code took 2.97 s (IMSE) and 8.46 s (MUSE) per generator step (forward,
backward and AdamW) on this machine class. The last test prints the split per model.
"""

from __future__ import annotations

import os
import statistics

import pytest
import torch

from bench.train.config import profile_config
from bench.train.data import TrainingSplits
from bench.train.loop import RunOptions, Trainer
from imse.registry import registry
from tests.dummies.training import synthetic_utterances

UPSTREAM_GENERATOR_SECONDS = {"imse": 2.97, "muse": 8.46}
ROUNDS = 3
SPLITS: dict[str, dict[str, float]] = {}


def splits() -> TrainingSplits:
    """Utterances longer than a crop, so each crop is real signal (no padding)."""
    train = synthetic_utterances(4, "s01", 0, seconds=2.6)
    return TrainingSplits(train, synthetic_utterances(1, "s02", 50), "clean", "synthetic")


@pytest.fixture(autouse=True)
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.mark.parametrize("model", ["imse", "muse"])
def test_paper_step(benchmark, model, tmp_path):
    if model not in registry.model_names():
        pytest.skip(f"model {model!r} is not registered (yet)")
    config = profile_config("paper", model, "synthetic", pesq_workers=0)
    trainer = Trainer(config, RunOptions(tmp_path / model, progress=False), splits=splits())
    clean, noisy = trainer.batches.batch(0, 0)
    assert clean.shape == (2, 30_700)
    trainer.train_step(clean, noisy)  # warm-up: allocator, first-call overheads
    timings: list[dict] = []

    def step() -> None:
        timings.append(trainer.train_step(clean, noisy)[1])

    benchmark.pedantic(step, rounds=ROUNDS, iterations=1)
    median = {key: statistics.median(timing[key] for timing in timings) for key in timings[0]}
    median["generator"] = median["forward"] + median["generator_loss"] + median["backward"]
    median["load_average"] = os.getloadavg()[0]
    SPLITS[model] = median
    benchmark.extra_info.update(median)


def test_report():
    if not SPLITS:
        pytest.skip("no step was timed")
    print(
        f"\n{'model':6} {'step s':>7} {'steps/s':>8} {'forward':>8} {'PESQ':>6} {'disc.':>6} {'G loss':>7} "
        f"{'backward':>9} {'G step':>7} {'upstream G step':>16} {'load':>5}"
    )
    for model, median in SPLITS.items():
        print(
            f"{model:6} {median['seconds']:7.2f} {1 / median['seconds']:8.3f} {median['forward']:8.2f} "
            f"{median['pesq_wait']:6.2f} {median['discriminator']:6.2f} {median['generator_loss']:7.2f} "
            f"{median['backward']:9.2f} {median['generator']:7.2f} {UPSTREAM_GENERATOR_SECONDS[model]:16.2f} "
            f"{median['load_average']:5.1f}"
        )
