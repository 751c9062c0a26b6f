"""What a training run leaves behind: its budget (steps from the summary, minutes from the step timings) and its
learning curve."""

from __future__ import annotations

import json

import pandas
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
    assert budget.label() == "smoke: 100 steps x 2 crops of 0.49 s, learning rate 0.0005, on vb-mini"
    assert TrainingBudget.from_record(budget.as_record()) == budget
    older = {name: value for name, value in budget.as_record().items() if name != "learning_rate"}
    unrecorded = TrainingBudget.from_record(older)  # a record written before learning rates were
    assert unrecorded.label() == "smoke: 100 steps x 2 crops of 0.49 s, learning rate not recorded, on vb-mini"
    assert unrecorded.key != budget.key  # never compared as alike with a run that records one


def test_a_run_that_never_finished_an_invocation_is_named_with_the_fix(tmp_path):
    profile_config("smoke", "imse").save(tmp_path)
    with pytest.raises(BudgetError, match=r"summary.json is missing.*--config .*config.json --resume --out"):
        TrainingBudget.from_run(tmp_path)
    (tmp_path / "summary.json").write_text("{oops")
    (tmp_path / "timing.csv").write_text("step,seconds\n1,2.0\n")
    with pytest.raises(BudgetError, match=r"summary.json: not a bench.train summary"):
        TrainingBudget.from_run(tmp_path)


def test_learning_curve_plots_every_loss_term_and_validation_measure_of_the_logs(tmp_path, monkeypatch):
    from bench import plots

    columns = {"step": [1, 2, 3, 4], **{term: [4.0, 3.0, 2.5, 2.0] for term in plots.GENERATOR_TERMS},
               **{term: [0.5, 0.4, 0.3, 0.2] for term in plots.DISCRIMINATOR_TERMS}, "batch_pesq": [1.1, 1.2, 1.3, 1.5]}
    pandas.DataFrame(columns).assign(magnitude=[1.0, 0.5, 0.25, 0.125]).to_csv(tmp_path / "train_log.csv", index=False)
    pandas.DataFrame({"step": [0, 4], "pesq": [1.03, 1.41], "csig": [None, None], "cbak": [None, None],
                      "covl": [None, None], "stoi": [None, None]}).to_csv(tmp_path / "validation_log.csv", index=False)
    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, output, name: figures.append((figure, output, name)) or [])
    plots.learning_curve(tmp_path)
    (figure, output, name), = figures
    assert (output, name) == (tmp_path, "learning_curve")
    generator, discriminator, validation = figure.axes
    raw = {line.get_label(): list(line.get_ydata()) for line in generator.lines if not line.get_label().startswith("_")}
    assert set(raw) == set(plots.GENERATOR_TERMS)
    assert raw["magnitude"][0] == 1.0  # a running mean of a 4-step run is the raw value (window 1)
    assert {line.get_label() for line in discriminator.lines if not line.get_label().startswith("_")} == {
        *plots.DISCRIMINATOR_TERMS, "batch_pesq"}
    (pesq,) = validation.lines  # the empty measures are not drawn
    assert (list(pesq.get_xdata()), list(pesq.get_ydata())) == ([0, 4], [1.03, 1.41])
