"""The smoke profile on VB-mini: training lowers the generator loss and raises validation PESQ.

The model is IMSE's skeleton and blocks at dense_channel 8 with one block per stage, so
that the run fits in about a minute on two CPU cores; `python -m bench.train --profile
smoke --model imse --data vb-mini` trains the full-size IMSE the same way.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bench.train.budget import TrainingBudget
from bench.train.config import profile_config
from bench.train.logs import TRAIN_LOG
from bench.train.loop import RunOptions, train
from tests.dummies.models import TINY_OVERRIDES as TINY

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_smoke_run_on_vb_mini_lowers_the_loss_and_raises_validation_pesq(tmp_path):
    config = profile_config(
        "smoke", "imse", "vb-mini", model_overrides=TINY, max_steps=60, validation_interval=60, pesq_workers=0
    )
    assert config.segment_size == 7_900 and config.validation_utterances == 4
    result = train(config, RunOptions(tmp_path / "smoke", progress=False))
    assert result.steps == 60
    with open(tmp_path / "smoke" / TRAIN_LOG, encoding="utf-8", newline="") as stream:
        losses = [float(row["generator_total"]) for row in csv.DictReader(stream)]
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.9 * first, (first, last)
    untrained, trained = result.validations[0], result.validations[-1]
    assert (untrained["step"], trained["step"]) == (0, 60)
    assert untrained["failures"] == trained["failures"] == 0
    assert trained["pesq"] > untrained["pesq"], (untrained["pesq"], trained["pesq"])
    assert result.best_step == 60 and result.protocol == "clean"
    budget = TrainingBudget.from_run(tmp_path / "smoke")  # what the trained rows of results/ will carry
    assert (budget.steps, budget.batch_size, budget.data) == (60, 2, "vb-mini") and budget.step_minutes > 0
    assert (tmp_path / "smoke" / "learning_curve.png").stat().st_size > 0
