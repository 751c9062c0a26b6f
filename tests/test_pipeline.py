"""The reproduce pipeline keeps results from different torch thread counts apart and says which made them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


def test_enhanced_audio_is_cached_per_thread_count(tmp_path, one_torch_thread):
    test_set = _test_set(tmp_path / "audio")
    loaded = LoadedModel(tiny_model().eval(), "imse", tmp_path / "weights.pt", "0" * 64, None)
    one_thread = pipeline.enhance_test_set(loaded, test_set, tmp_path / "work")
    torch.set_num_threads(2)
    two_threads = pipeline.enhance_test_set(loaded, test_set, tmp_path / "work")
    assert one_thread != two_threads
    assert (one_thread / "u0.wav").exists() and (two_threads / "u0.wav").exists()
