"""`bench.reproduce --evaluate-run`: a run trained on its own is evaluated as the main job evaluates its own,
with its budget and init in the provenance and its curve kept under results/training/."""

from __future__ import annotations

import json
from pathlib import Path

import pandas
import pytest

from bench import pipeline, reproduce
from bench.results import ORIGIN_TRAINED
from bench.train.config import profile_config


def _finished_run(run_dir, **overrides):
    profile_config("cpu", "imse", **overrides).save(run_dir)
    (run_dir / "summary.json").write_text(json.dumps({"steps": 2000, "best_step": 1750}))
    (run_dir / "timing.csv").write_text("step,seconds\n1,30.0\n2,30.0\n")
    pandas.DataFrame({"step": [1, 2], "generator_total": [3.0, 2.0]}).to_csv(run_dir / "train_log.csv", index=False)
    (run_dir / "best.pt").write_bytes(b"weights")
    return run_dir


def test_a_cpu_run_is_its_own_row_beside_the_main_jobs_smoke_rows():
    assert reproduce.trained_system("imse", "smoke") == "trained-imse"
    assert reproduce.trained_system("imse", "cpu") == "trained-imse-cpu"


def test_evaluate_run_records_the_runs_budget_and_init_and_keeps_its_curve(tmp_path, monkeypatch):
    run = _finished_run(tmp_path / "run", init="imse-vb-3.399", seed=7)
    calls = []
    monkeypatch.setattr(pipeline, "evaluate_weights", lambda *arguments, **details: calls.append((arguments, details)))
    drawn = []

    def draw(run_dir, output):
        drawn.append(run_dir)
        (output / "learning_curve.png").write_bytes(b"png")

    monkeypatch.setattr("bench.plots.learning_curve", draw)
    test_sets = [pipeline.TestSet("vb-mini", tmp_path, tmp_path, "vb-mini test")]
    results = tmp_path / "results"
    reproduce.evaluate_run(run, "trained-imse-finetune", test_sets, results, tmp_path / "work", reproduce.Log())
    ((checkpoint, test_set, _, _, system, origin), details) = calls[0]
    assert (checkpoint, test_set.name, system) == (str(run / "best.pt"), "vb-mini", "trained-imse-finetune")
    assert origin == ORIGIN_TRAINED
    assert (details["seed"], details["profile"], details["init"], details["training_data"]) == (
        7, "cpu", "imse-vb-3.399", "vb-mini")
    assert details["budget"]["steps"] == 2000 and details["budget"]["step_minutes"] == 1.0
    assert details["budget"]["best_step"] == 1750 and details["run"] == str(run.resolve())
    kept = results / "training" / "trained-imse-finetune"
    (kept / "stale.csv").write_text("from an earlier run under this name")
    reproduce.evaluate_run(run, "trained-imse-finetune", test_sets, results, tmp_path / "work", reproduce.Log())
    kept_files = sorted(path.name for path in kept.iterdir())
    assert kept_files == ["config.json", "learning_curve.png", "summary.json", "timing.csv", "train_log.csv"]
    assert drawn == [run, run] and not [p for p in kept.parent.iterdir() if p.name.startswith(".")]
    assert (kept / "train_log.csv").read_bytes() == (run / "train_log.csv").read_bytes()


def test_a_run_without_a_best_checkpoint_is_named_with_the_fix(tmp_path):
    run = _finished_run(tmp_path / "run")
    (run / "best.pt").unlink()
    with pytest.raises(pipeline.PipelineError, match=r"best.pt is missing.*--config .*config.json --resume --out"):
        reproduce.evaluate_run(run, "trained-imse-cpu", [], tmp_path / "results", tmp_path / "work", reproduce.Log())


def test_the_evaluate_run_command_refuses_a_name_tables_would_take_for_upstream_weights(tmp_path, capsys):
    for name in ("imse-cpu", "trained-", "trained-x/../../escaped", "trained-a/b", "noisy"):
        assert reproduce.main(["--evaluate-run", str(tmp_path), "--system", name]) == 2
        assert "is 'trained-' then lower-case letters" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        reproduce.main(["--evaluate-run", str(tmp_path)])


def test_a_run_without_its_training_log_is_refused_before_any_row_is_written(tmp_path, monkeypatch):
    run = _finished_run(tmp_path / "run")
    (run / "train_log.csv").unlink()
    calls = []
    monkeypatch.setattr(pipeline, "evaluate_weights", lambda *arguments, **details: calls.append(arguments))
    test_sets = [pipeline.TestSet("vb-mini", tmp_path, tmp_path, "vb-mini test")]
    with pytest.raises(pipeline.PipelineError, match=r"train_log.csv is missing"):
        reproduce.evaluate_run(run, "trained-imse-cpu", test_sets, tmp_path / "results", tmp_path / "work",
                               reproduce.Log())
    assert calls == [] and not (tmp_path / "results").exists()


def test_the_evaluate_run_command_never_replaces_another_runs_rows(tmp_path, capsys):
    run = _finished_run(tmp_path / "run")
    results = tmp_path / "results"
    existing = results / "measured" / "vb-mini" / "trained-imse.provenance.json"
    existing.parent.mkdir(parents=True)
    existing.write_text(json.dumps({"system": "trained-imse", "run": "/elsewhere/imse-smoke"}))
    arguments = ["--evaluate-run", str(run), "--system", "trained-imse", "--results", str(results)]
    assert reproduce.main(arguments) == 2
    assert "already holds trained-imse from run /elsewhere/imse-smoke" in capsys.readouterr().err


def test_a_retraining_of_the_same_config_may_replace_the_rows(tmp_path, capsys, monkeypatch):
    """The README's commands retrain a committed row from its config.json in another folder; that run may replace
    the row (a run of another config may not, above)."""
    from bench.data.utterance import DataError

    run = _finished_run(tmp_path / "run")
    results = tmp_path / "results"
    existing = results / "measured" / "vb-mini" / "trained-imse.provenance.json"
    existing.parent.mkdir(parents=True)
    existing.write_text(json.dumps({"system": "trained-imse", "run": "/elsewhere/imse-smoke"}))
    record = results / "training" / "trained-imse"
    record.mkdir(parents=True)
    (record / "config.json").write_bytes((run / "config.json").read_bytes())
    (results / "reported.csv").write_text("system\n")

    def stop(*arguments):
        raise DataError("past the guard")

    monkeypatch.setattr(reproduce, "_test_sets", stop)
    arguments = ["--evaluate-run", str(run), "--system", "trained-imse", "--results", str(results)]
    assert reproduce.main(arguments) == 2
    assert "past the guard" in capsys.readouterr().err
    # a record of another config (another seed) is another run's row
    (record / "config.json").write_bytes(profile_config("cpu", "imse", seed=7).save(tmp_path).read_bytes())
    assert reproduce.main(arguments) == 2
    assert "trained from another config.json" in capsys.readouterr().err


def test_a_fine_tuned_row_is_compared_with_the_bundle_it_started_from(tmp_path):
    """Only a trained row whose init is a known bundle gains a pair; a run from scratch or from a file does not,
    and a pair needs both rows scored."""
    from bench.metrics import DEFAULT_VARIANT
    from bench.results import ORIGIN_UPSTREAM, Measured

    def row(system, origin, init=None):
        return Measured("vb-mini", system, DEFAULT_VARIANT, tmp_path / f"{system}.csv", {},
                        {"system": system, "origin": origin, "init": init})

    measured = [row("imse-vb-3.399", ORIGIN_UPSTREAM), row("muse-vb", ORIGIN_UPSTREAM),
                row("trained-imse-finetune", ORIGIN_TRAINED, "imse-vb-3.399"), row("trained-imse-cpu", ORIGIN_TRAINED),
                row("trained-from-file", ORIGIN_TRAINED, "/runs/x.pt")]
    assert reproduce._comparisons(measured) == [("vb-mini", "imse-vb-3.399", "muse-vb"),
                                                ("vb-mini", "trained-imse-finetune", "imse-vb-3.399")]


def test_significance_keeps_every_test_set_that_results_hold(tmp_path):
    """Evaluating a run on fewer test sets than the main job had must not drop the others' comparisons."""
    import shutil

    from tests.dummies.results import write_results

    results = write_results(tmp_path)
    shutil.copytree(results / "measured" / "vbdmd-sample", results / "measured" / "vb-mini")
    reproduce._significance(results)
    written = json.loads((results / "significance.json").read_text())
    assert sorted({entry["dataset"] for entry in written}) == ["vb-mini", "vbdmd-sample"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_malformed_provenance_is_named(tmp_path, content):
    from bench.results import ResultsError
    from tests.dummies.results import write_results

    results = write_results(tmp_path)
    provenance = sorted((results / "measured" / "vbdmd-sample").glob("*.provenance.json"))[0]
    provenance.write_text(content)
    with pytest.raises(ResultsError, match=provenance.name):
        reproduce._significance(results)


def test_the_main_job_trains_imse_alone_and_the_ablation_every_model(monkeypatch, one_torch_thread):
    """The default training fits the hour (IMSE only); --train all is every registered model (nox -s ablation),
    while complexity still covers every model."""
    from imse.registry import registry

    calls = []
    monkeypatch.setattr(reproduce, "run", lambda *arguments: calls.append(arguments) or reproduce.Log())
    assert reproduce.main([]) == 0
    assert reproduce.main(["--skip-complexity", "--train", "all"]) == 0
    (*_, models, skip, training), (*_, _, ablation_skip, ablation) = calls
    assert models == registry.model_names() and not skip and training == ["imse"]
    assert ablation_skip and ablation == registry.model_names()


def test_an_unknown_model_to_train_is_refused_before_any_work(monkeypatch, capsys):
    monkeypatch.setattr(reproduce, "run", lambda *arguments: pytest.fail("the job ran"))
    with pytest.raises(SystemExit) as exit_status:
        reproduce.main(["--train", "imse", "mse"])
    assert exit_status.value.code == 2
    assert "unknown model(s) mse; registered: " in capsys.readouterr().err


def test_a_model_named_twice_is_trained_once_and_all_goes_alone(monkeypatch, one_torch_thread, capsys):
    calls = []
    monkeypatch.setattr(reproduce, "run", lambda *arguments: calls.append(arguments) or reproduce.Log())
    assert reproduce.main(["--train", "imse", "muse", "imse"]) == 0
    assert calls[0][-1] == ["imse", "muse"]
    with pytest.raises(SystemExit):
        reproduce.main(["--train", "all", "imse"])
    assert "give 'all' alone" in capsys.readouterr().err
    with pytest.raises(ValueError, match="each model once"):
        pipeline.train_runs(["imse", "imse"], "smoke", 0, "vb-mini", Path("runs"), jobs=2)


@pytest.mark.parametrize(("change", "system", "message"), [
    ({"finished": False}, "trained-imse-cpu", "the run stopped at step 2000 before its budget's end"),
    ({}, "trained-muse-cpu", "names muse, but .* trained 'imse'"),
    ({}, "trained-imse-de", "names imse-de, but .* trained 'imse'"),
    ({"model_overrides": {"dense_channel": 8}}, "trained-imse-cpu", "overrides 'imse''s architecture"),
])
def test_a_run_whose_rows_would_read_as_something_else_is_refused(tmp_path, monkeypatch, change, system, message):
    """Unfinished, another model than the row's name says, or another architecture: refused before any file is
    written under results/."""
    run = _finished_run(tmp_path / "run", model_overrides=change.get("model_overrides"))
    if "finished" in change:
        (run / "summary.json").write_text(json.dumps({"steps": 2000, "best_step": 1750, "finished": False}))
    monkeypatch.setattr(pipeline, "evaluate_weights", lambda *arguments, **details: pytest.fail("scored"))
    with pytest.raises(pipeline.PipelineError, match=message):
        reproduce.evaluate_run(run, system, [], tmp_path / "results", tmp_path / "work", reproduce.Log())
    assert not (tmp_path / "results").exists()


def test_a_results_folder_without_the_reported_numbers_is_refused_before_any_scoring(tmp_path, capsys):
    run = _finished_run(tmp_path / "run")
    assert reproduce.main(["--evaluate-run", str(run), "--system", "trained-imse-cpu",
                           "--results", str(tmp_path / "fresh")]) == 2
    assert "reported.csv not found: --results names the project's results folder" in capsys.readouterr().err
