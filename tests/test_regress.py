"""bench.regress: within tolerance it passes; a planted change to the DSP makes it fail, readably."""

from __future__ import annotations

import dataclasses

import pytest

from bench import regress
from imse.frontend import STFTConfig
from imse.registry import ModelSpec, registry

CHECK = next(check for check in regress.CHECKS if check.name == "imse-vb-3.399@vbdmd-sample")


@pytest.fixture
def committed_baseline():
    import json

    path = regress.BASELINES / f"{CHECK.name}.json"
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with python -m bench.regress --update")
    return json.loads(path.read_text())


def test_fresh_measurement_is_within_tolerance_of_the_baseline(shared_dir, monkeypatch, tmp_path, committed_baseline):
    monkeypatch.setenv("IMSE_CHECKPOINT_DIR", str(shared_dir / "checkpoints"))
    fresh = regress.measure(CHECK, tmp_path, limit=2)
    assert len(fresh) == 2
    assert regress.compare(CHECK, committed_baseline, fresh, complete=False) == []


def test_a_changed_compression_exponent_fails_the_check(shared_dir, monkeypatch, tmp_path, committed_baseline):
    monkeypatch.setenv("IMSE_CHECKPOINT_DIR", str(shared_dir / "checkpoints"))
    spec = registry.model("imse")
    planted = dataclasses.replace(spec.config, stft=STFTConfig(compress_factor=0.31))
    monkeypatch.setitem(registry.models, "imse", ModelSpec("imse", planted, spec.description))
    problems = regress.compare(CHECK, committed_baseline, regress.measure(CHECK, tmp_path, limit=2), complete=False)
    assert any(" pesq: " in line and "tolerance 0.002" in line for line in problems), problems


def test_missing_utterances_and_status_changes_are_differences():
    baseline = {"utterances": {"a": {"status": "ok", **dict.fromkeys(regress.METRICS, 1.0)},
                               "b": {"status": "ok", **dict.fromkeys(regress.METRICS, 1.0)}}}
    fresh = {"a": {"status": "failed", **dict.fromkeys(regress.METRICS, float("nan"))}}
    problems = regress.compare(CHECK, baseline, fresh)
    assert any("a: status ok -> failed" in line for line in problems)
    assert any("b: in the baseline, missing" in line for line in problems)
