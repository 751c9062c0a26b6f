"""What a training run leaves behind: its budget (steps from the summary, minutes from the step timings) and its
learning curve."""

from __future__ import annotations

import json

import pytest

from bench.train.budget import BudgetError, TrainingBudget
from bench.train.config import profile_config


def test_budget_of_a_run_directory(tmp_path):
    profile_config("smoke", "imse").save(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"steps": 100, "best_step": 50}))
    (tmp_path / "timing.csv").write_text("step,seconds,forward\n1,12.5,2\n2,3.5,1\n3,44.0,1\n")
    budget = TrainingBudget.from_run(tmp_path)
    assert budget.steps == 100 and budget.batch_size == 2 and budget.data == "vb-mini"
    assert budget.crop_seconds == 7_900 / 16_000
    assert budget.step_minutes == 1.0  # (12.5 + 3.5 + 44) s
    assert budget.label() == "smoke: 100 steps x 2 crops of 0.49 s on vb-mini"
    assert TrainingBudget.from_record(budget.as_record()) == budget


def test_a_run_that_never_finished_an_invocation_is_named_with_the_fix(tmp_path):
    profile_config("smoke", "imse").save(tmp_path)
    with pytest.raises(BudgetError, match=r"summary.json is missing.*--resume"):
        TrainingBudget.from_run(tmp_path)

