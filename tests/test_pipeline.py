"""The reproduce pipeline keeps results from different torch thread counts apart and says which made them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from bench import pipeline
from bench.results import ORIGIN_UPSTREAM, provenance_path
from imse.loading import LoadedModel
from tests.dummies.models import tiny_model


def _test_set(root: Path) -> pipeline.TestSet:
    for kind in ("clean", "noisy"):
        (root / kind).mkdir(parents=True)
        audio = np.random.default_rng(0).standard_normal(16_300).astype(np.float32) * 0.1
        soundfile.write(root / kind / "u0.wav", audio, 16_000, subtype="FLOAT")
    return pipeline.TestSet("tiny", root / "clean", root / "noisy", "one synthetic pair")


def test_provenance_records_the_thread_count(tmp_path, one_torch_thread):
    test_set = _test_set(tmp_path / "audio")
    pipeline.record_provenance(tmp_path, test_set, "system", ORIGIN_UPSTREAM)
    assert json.loads(provenance_path(tmp_path, "tiny", "system").read_text())["torch_threads"] == 1
    torch.set_num_threads(2)
    pipeline.record_provenance(tmp_path, test_set, "system", ORIGIN_UPSTREAM)
    assert json.loads(provenance_path(tmp_path, "tiny", "system").read_text())["torch_threads"] == 2


def test_provenance_names_the_commit_of_this_checkout(tmp_path):
    repository = Path(pipeline.__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repository / ".git").exists():
        pytest.skip(f"{repository} is not a git checkout with git installed, so it has no commit to name")
    head = subprocess.run(["git", "-C", str(repository), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    pipeline.record_provenance(tmp_path, _test_set(tmp_path / "audio"), "system", ORIGIN_UPSTREAM)
    revision = json.loads(provenance_path(tmp_path, "tiny", "system").read_text())["revision"]
    assert revision in (head, f"{head}-dirty")


def test_enhanced_audio_is_cached_per_thread_count(tmp_path, one_torch_thread):
    test_set = _test_set(tmp_path / "audio")
    loaded = LoadedModel(tiny_model().eval(), "imse", tmp_path / "weights.pt", "0" * 64, None)
    one_thread = pipeline.enhance_test_set(loaded, test_set, tmp_path / "work")
    torch.set_num_threads(2)
    two_threads = pipeline.enhance_test_set(loaded, test_set, tmp_path / "work")
    assert one_thread != two_threads
    assert (one_thread / "u0.wav").exists() and (two_threads / "u0.wav").exists()


def _layout_with_conditions(root: Path, conditions: dict | None, monkeypatch) -> str:
    """A tiny upstream-layout source (test speaker p009) with a conditions.csv when `conditions` is given."""
    import bench.data
    from bench.conditions import write_conditions
    from bench.data.resolve import open_source
    from tests.dummies.layouts import make_upstream_layout, synthetic_pairs

    make_upstream_layout(root, synthetic_pairs(("p001",), 1), synthetic_pairs(("p009",), 2, seed=1))
    if conditions is not None:
        write_conditions(root / "conditions.csv", conditions)
    monkeypatch.setattr(bench.data, "open_source", lambda data: open_source(data, partial=True))
    return str(root)


def test_an_exported_test_split_carries_the_conditions_of_its_utterances(tmp_path, monkeypatch):
    from bench.conditions import Condition, read_conditions

    known = {"p001_001": Condition(5.0, "cafe"), "p009_001": Condition(2.5, "bus"),
             "p009_002": Condition(17.5, "living")}
    data = _layout_with_conditions(tmp_path / "data", known, monkeypatch)
    test_set = pipeline.export_test_split(data, "tiny", tmp_path / "work")
    assert test_set.conditions == tmp_path / "work" / "data" / "tiny" / "conditions.csv"
    assert read_conditions(test_set.conditions) == {"p009_001": known["p009_001"], "p009_002": known["p009_002"]}
    # an export made before conditions were exported (no "conditions" in its manifest) is redone
    manifest = tmp_path / "work" / "data" / "tiny" / "manifest.json"
    test_set.conditions.unlink()
    manifest.write_text(json.dumps({"data": data, "source": "upstream-16k", "utterances": 2}))
    assert read_conditions(pipeline.export_test_split(data, "tiny", tmp_path / "work").conditions) == {
        "p009_001": known["p009_001"], "p009_002": known["p009_002"]}


def test_a_test_split_without_conditions_has_none_and_a_partial_one_is_refused(tmp_path, monkeypatch):
    from bench.conditions import Condition

    data = _layout_with_conditions(tmp_path / "bare", None, monkeypatch)
    test_set = pipeline.export_test_split(data, "bare", tmp_path / "work")
    assert test_set.conditions is None and not (tmp_path / "work" / "data" / "bare" / "conditions.csv").exists()
    data = _layout_with_conditions(tmp_path / "partial", {"p009_001": Condition(2.5, "bus")}, monkeypatch)
    with pytest.raises(pipeline.PipelineError, match="1 of 2 test utterances have no SNR and noise type"):
        pipeline.export_test_split(data, "partial", tmp_path / "work")


def test_enhancement_shared_among_worker_processes_is_bit_identical_to_one_process(tmp_path, one_torch_thread):
    """Each worker computes on the parent's thread count, so splitting the files changes no sample; a
    difference here would silently make the main job's numbers depend on the core count."""
    from imse.checkpoint import save_checkpoint
    from imse.loading import load_model

    root = tmp_path / "audio"
    for kind in ("clean", "noisy"):
        (root / kind).mkdir(parents=True)
        for index, length in enumerate((16_300, 9_000, 40_000, 31_000)):
            audio = np.random.default_rng(index).standard_normal(length).astype(np.float32) * 0.1
            soundfile.write(root / kind / f"u{index}.wav", audio, 16_000, subtype="FLOAT")
    test_set = pipeline.TestSet("tiny", root / "clean", root / "noisy", "four synthetic pairs")
    model = tiny_model()
    weights = tmp_path / "tiny.pt"
    save_checkpoint(weights, {"generator": model.state_dict(), "model": "imse", "config": model.config.to_dict()})
    loaded = load_model(weights, trust_unknown=True)

    alone = pipeline.enhance_test_set(loaded, test_set, tmp_path / "alone", jobs=1)
    shared = pipeline.enhance_test_set(loaded, test_set, tmp_path / "shared", jobs=2)
    for index in range(4):
        expected, _ = soundfile.read(alone / f"u{index}.wav", dtype="float32")
        got, _ = soundfile.read(shared / f"u{index}.wav", dtype="float32")
        assert expected.shape == got.shape and np.array_equal(expected, got), f"u{index}.wav differs"


def test_a_worker_failure_names_the_file(tmp_path, one_torch_thread):
    from imse.checkpoint import save_checkpoint
    from imse.loading import load_model

    root = tmp_path / "audio"
    (root / "noisy").mkdir(parents=True)
    soundfile.write(root / "noisy" / "good.wav", np.full(16_000, 0.1, np.float32), 16_000, subtype="FLOAT")
    (root / "noisy" / "broken.wav").write_bytes(b"RIFF not audio")
    test_set = pipeline.TestSet("tiny", root / "clean", root / "noisy", "a good and a broken file")
    model = tiny_model()
    weights = tmp_path / "tiny.pt"
    save_checkpoint(weights, {"generator": model.state_dict(), "model": "imse", "config": model.config.to_dict()})
    with pytest.raises(pipeline.PipelineError, match="broken.wav"):
        pipeline.enhance_test_set(load_model(weights, trust_unknown=True), test_set, tmp_path / "work", jobs=2)


def test_a_worker_that_dies_is_a_failure_named_by_its_file(tmp_path, one_torch_thread):
    from tests.dummies.models import TINY_IMSE, DyingModel

    root = tmp_path / "audio"
    (root / "noisy").mkdir(parents=True)
    soundfile.write(root / "noisy" / "doomed.wav", np.full(16_000, 0.1, np.float32), 16_000, subtype="FLOAT")
    test_set = pipeline.TestSet("tiny", root / "clean", root / "noisy", "one file")
    loaded = LoadedModel(DyingModel(TINY_IMSE).eval(), "imse", tmp_path / "weights.pt", "0" * 64, None)
    (root / "noisy" / "second.wav").write_bytes((root / "noisy" / "doomed.wav").read_bytes())
    with pytest.raises(pipeline.PipelineError, match=r"doomed\.wav: an enhancement worker process died"):
        pipeline.enhance_test_set(loaded, test_set, tmp_path / "work", jobs=2)


def test_jobs_below_one_are_refused(tmp_path, one_torch_thread):
    loaded = LoadedModel(tiny_model().eval(), "imse", tmp_path / "weights.pt", "0" * 64, None)
    with pytest.raises(ValueError, match="at least 1"):
        pipeline.enhance_test_set(loaded, _test_set(tmp_path / "audio"), tmp_path / "work", jobs=0)


def test_training_runs_shared_among_processes_answer_each_model_in_order(tmp_path, one_torch_thread):
    """Two runs at a time in spawned workers: a refusal in a worker comes back as that model's Skip (its
    reason intact), in the order the models were asked for, and nothing is trained."""
    answers = pipeline.train_runs(["muse", "imse"], "paper", 0, "vb-mini", tmp_path / "runs", jobs=2)
    assert list(answers) == ["muse", "imse"]
    for model, answer in answers.items():
        assert isinstance(answer, pipeline.Skip)
        assert f"training {model} at the paper profile: it needs a GPU" in str(answer)
    assert not (tmp_path / "runs").exists()


def test_training_jobs_below_one_are_refused(tmp_path):
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        pipeline.train_runs(["imse"], "smoke", 0, "vb-mini", tmp_path / "runs", jobs=0)


def test_a_training_run_is_keyed_by_the_code_that_decides_its_weights(tmp_path):
    root = Path(pipeline.__file__).resolve().parent.parent
    for package in ("imse", "baselines", "bench"):
        shutil.copytree(root / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    fingerprint = pipeline.training_code_fingerprint(tmp_path)
    assert fingerprint == pipeline.training_code_fingerprint()
    (tmp_path / "bench" / "tables.py").write_text("# presentation only\n")
    (tmp_path / "imse" / ".#blocks.py").symlink_to(tmp_path / "nowhere")  # an editor's lock file
    assert pipeline.training_code_fingerprint(tmp_path) == fingerprint
    for model_file in ("imse/blocks.py", "baselines/muse/attention.py"):  # IMSE's blocks, MUSE's attention
        edited = tmp_path / model_file
        original = edited.read_text()
        edited.write_text(original + "\n# any change to a model\n")
        assert pipeline.training_code_fingerprint(tmp_path) != fingerprint, model_file
        edited.write_text(original)
    shutil.rmtree(tmp_path / "baselines")
    with pytest.raises(pipeline.PipelineError, match="baselines: not found"):
        pipeline.training_code_fingerprint(tmp_path)
