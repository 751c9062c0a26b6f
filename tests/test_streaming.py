"""Streaming: a causal model fed one hop at a time gives the whole-utterance output; IMSE and
MUSE, which are not causal, are refused."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from baselines.gtcrn import GTCRNConfig
from imse.enhance import enhance
from imse.loading import load_model
from imse.registry import registry
from imse.streaming import NotStreamableError, StreamingEnhancer, check_streamable, enhance_stream
from tests.dummies.models import TINY_OVERRIDES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HOP = 256


@pytest.fixture(scope="module")
def untrained():
    import torch

    torch.manual_seed(7)
    return GTCRNConfig().build().eval()


@pytest.mark.parametrize("length", [512, 513, 767, 768, 1_000, 5 * HOP + 17])
def test_stream_equals_the_whole_utterance_pass(untrained, length):
    noisy = np.random.default_rng(length).standard_normal(length).astype(np.float32) * 0.1
    whole = enhance(noisy, untrained)
    streamed = enhance_stream(noisy, untrained)
    assert streamed.shape == whole.shape == (length,)
    assert np.abs(streamed - whole).max() < 1e-4
    np.testing.assert_allclose(enhance(noisy, untrained, mode="stream"), whole, rtol=0, atol=1e-4)


def test_each_push_returns_one_hop_one_hop_late(untrained):
    noisy = np.random.default_rng(0).standard_normal(6 * HOP).astype(np.float32) * 0.1
    enhancer = StreamingEnhancer(untrained)
    outputs = [enhancer.push(noisy[start : start + HOP]) for start in range(0, noisy.size, HOP)]
    assert all(output.shape == (HOP,) for output in outputs) and not outputs[0].any()
    rest = enhancer.finish()
    assert rest.shape == (HOP,)
    streamed = np.concatenate(outputs + [rest])[HOP:]
    assert np.abs(streamed - enhance(noisy, untrained)).max() < 1e-4
    with pytest.raises(ValueError, match="exactly 256"):
        StreamingEnhancer(untrained).push(noisy[:100])


@pytest.mark.parametrize("name", ["imse", "muse"])
def test_non_causal_models_are_refused(name):
    with pytest.raises(NotStreamableError, match="not causal"):
        check_streamable(registry.build(name, **TINY_OVERRIDES), name)
    with pytest.raises(NotStreamableError, match="not causal"):
        enhance(np.ones(40_000, dtype=np.float32), registry.build(name, **TINY_OVERRIDES), mode="stream")


def test_official_weights_stream_as_they_run_whole(checkpoint_dir, sample_dir):
    model = load_model("gtcrn-vb", cache_dir=checkpoint_dir).model
    noisy, _ = soundfile.read(sample_dir / "noisy" / "p257_015.wav", dtype="float32")
    assert np.abs(enhance_stream(noisy, model) - enhance(noisy, model)).max() < 1e-4


def test_the_command_line_refuses_streaming_imse(checkpoint_dir, sample_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "imse.enhance", str(sample_dir / "noisy" / "p232_005.wav"), "--checkpoint",
         "imse-vb-3.399", "--output-dir", str(tmp_path / "out"), "--mode", "stream"],
        capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "IMSE_CHECKPOINT_DIR": str(checkpoint_dir)},
    )
    assert result.returncode == 2
    assert "model 'imse' is not causal" in result.stderr and "--mode stream" in result.stderr
    assert not (tmp_path / "out").exists()
