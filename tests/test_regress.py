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


def _measured_from(baseline: dict) -> dict:
    return {u: {k: (float("nan") if v is None else v) for k, v in values.items()}
            for u, values in baseline["utterances"].items()}


@pytest.fixture
def baselines(tmp_path, committed_baseline, monkeypatch):
    """A copy of the committed baseline in a temporary directory, and a `measure` that records its calls."""
    import json

    measured = []

    def fake_measure(check, work, limit=None):
        measured.append(check.name)
        return _measured_from(committed_baseline)

    monkeypatch.setattr(regress, "measure", fake_measure)
    path = tmp_path / f"{CHECK.name}.json"
    path.write_text(json.dumps(committed_baseline))
    return path, measured


def test_a_valid_baseline_is_measured_against(baselines):
    path, measured = baselines
    assert regress.main(["--check", CHECK.name, "--baselines", str(path.parent)]) == 0
    assert measured == [CHECK.name]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda doc: doc["utterances"][next(iter(doc["utterances"]))].update(pesq=None), "pesq is not a finite number"),
    (lambda doc: doc["utterances"][next(iter(doc["utterances"]))].update(stoi="0.9"), "stoi is not a finite number"),
    (lambda doc: doc.pop("tolerances"), "tolerances"),
    (lambda doc: doc["tolerances"].pop("covl"), "no tolerance for covl"),
    (lambda doc: doc.update(utterances={}), "no utterances"),
    (lambda doc: doc.update(check="muse-vb@vb-mini"), "is the baseline of 'muse-vb@vb-mini'"),
    (lambda doc: doc["utterances"][next(iter(doc["utterances"]))].update(status="great"), "status"),
])
def test_a_broken_baseline_is_refused_before_anything_is_measured(baselines, capsys, damage, message):
    import json

    path, measured = baselines
    document = json.loads(path.read_text())
    damage(document)
    path.write_text(json.dumps(document))
    assert regress.main(["--check", CHECK.name, "--baselines", str(path.parent)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and message in error
    assert measured == []


def test_a_truncated_or_missing_baseline_is_refused_before_anything_is_measured(baselines, capsys):
    path, measured = baselines
    path.write_text(path.read_text()[:200])
    assert regress.main(["--check", CHECK.name, "--baselines", str(path.parent)]) == 2
    assert str(path) in capsys.readouterr().err and measured == []
    path.unlink()
    other = "muse-vb@vbdmd-sample"
    assert regress.main(["--check", other, CHECK.name, "--baselines", str(path.parent)]) == 2
    error = capsys.readouterr().err
    assert "no baseline" in error and "--update" in error and measured == []


NEWER = {"estoi": 0.8, "si_sdr": 12.0, "dnsmos_sig": 3.5, "dnsmos_bak": 4.0, "dnsmos_ovrl": 3.2, "dnsmos_p808": 3.6}


def test_newer_measures_are_compared_where_the_baseline_holds_them():
    classic = {"status": "ok", **dict.fromkeys(regress.METRICS, 1.0)}
    fresh = {"a": {**classic, **NEWER, "si_sdr": 12.5, "dnsmos_ovrl": 3.2 + 0.004}}
    older = {"tolerances": CHECK.tolerances, "utterances": {"a": dict(classic)}}
    assert regress.compare(CHECK, older, fresh) == []  # a baseline from before them checks the six
    newer = {"tolerances": CHECK.tolerances, "utterances": {"a": {**classic, **NEWER}}}
    problems = regress.compare(CHECK, newer, fresh)
    assert problems == ["imse-vb-3.399@vbdmd-sample a si_sdr: 12.0000 -> 12.5000 (moved +0.5000, tolerance 0.01)"]


def test_every_newer_measure_has_an_explicit_tolerance_in_every_check():
    for check in regress.CHECKS:
        assert set(regress.NEWER_MEASURES) <= set(check.tolerances), check.name


def test_a_baseline_holding_a_newer_measure_needs_its_tolerance(baselines, capsys):
    import json

    path, measured = baselines
    document = json.loads(path.read_text())
    for values in document["utterances"].values():
        values["dnsmos_ovrl"] = 3.0
    document["tolerances"].pop("dnsmos_ovrl", None)
    path.write_text(json.dumps(document))
    assert regress.main(["--check", CHECK.name, "--baselines", str(path.parent)]) == 2
    assert "no tolerance for dnsmos_ovrl" in capsys.readouterr().err and measured == []
