"""DNSMOS through speechmos: parity with Microsoft's DNS-Challenge script, and what it refuses.

The reference (../shared/parity/dnsmos_reference.json) was computed with the logic of
microsoft/DNS-Challenge DNSMOS/dnsmos_local.py on the ONNX model speechmos 0.0.1.1 ships.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bench.metrics import MetricFailure
from bench.metrics.dnsmos import INSTALL, DnsmosUnavailable, dnsmos
from imse.audio import read_audio

TOLERANCE = 1e-3
"""What the parity README asks of an implementation that computes what the DNS challenge computes."""
P835 = {"SIG": "dnsmos_sig", "BAK": "dnsmos_bak", "OVRL": "dnsmos_ovrl"}


def load(shared_dir, key: str) -> np.ndarray:
    """The waveform behind a reference key: folder/utterance."""
    folder, utterance = key.split("/")
    if folder == "imse_enhanced":
        return np.load(shared_dir / "parity" / "imse_enhanced" / f"{utterance}.npy")
    return read_audio(shared_dir / "vbdmd-sample" / folder / f"{utterance}.wav").samples


@pytest.fixture(scope="module")
def reference(shared_dir) -> dict:
    return json.loads((shared_dir / "parity" / "dnsmos_reference.json").read_text())


def test_p835_matches_the_dns_challenge_script_within_1e_3(shared_dir, reference):
    assert len(reference) == 6
    for key, expected in reference.items():
        scores = dnsmos(load(shared_dir, key))
        for label, column in P835.items():
            assert abs(scores[column] - expected[label]) <= TOLERANCE, (key, label, scores[column], expected[label])
        assert 1.0 <= scores["dnsmos_p808"] <= 5.0, key


def test_samples_outside_plus_minus_one_are_a_counted_failure_not_clipped():
    samples = np.full(16_000, 0.5)
    samples[[10, 20, 30]] = [1.5, -1.25, 1.0001]
    with pytest.raises(MetricFailure) as caught:
        dnsmos(samples)
    assert caught.value.kind == "dnsmos-out-of-range" and "3 samples" in caught.value.message


def test_silent_and_non_finite_signals_are_named_failures():
    with pytest.raises(MetricFailure, match="dnsmos-silent"):
        dnsmos(np.zeros(16_000))
    with pytest.raises(MetricFailure, match="dnsmos-nan"):
        dnsmos(np.array([0.1, np.nan]))


def test_without_the_mos_extra_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "speechmos", None)  # import speechmos now raises ImportError
    with pytest.raises(DnsmosUnavailable, match="mos extra") as caught:
        dnsmos(np.full(16_000, 0.1))
    assert INSTALL in str(caught.value) and INSTALL == 'pip install -e ".[mos]"'
