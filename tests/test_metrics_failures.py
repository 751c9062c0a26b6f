"""score_pair on pairs that cannot be scored: NaN with a reason, never -1, never an exception."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics import METRICS, score_pair
from bench.metrics.pesq_stoi import MetricFailure, narrowband_pesq, stoi, wideband_pesq
from tests.dummies.audio import noisy_version, speech_like


@pytest.fixture(scope="module")
def pair():
    clean = speech_like(1.5, seed=11)
    return clean, noisy_version(clean, 5.0, seed=12)


def test_ok_pair(pair):
    result = score_pair(*pair)
    assert result["status"] == "ok" and result["reason"] == "" and result["failure_kinds"] == []
    assert result["variant"] == "loizou" and result["truncated_samples"] == 0
    assert all(math.isfinite(result[name]) for name in METRICS)
    assert 1.0 <= result["pesq"] <= 4.65 and 0.0 < result["stoi"] <= 1.0


def test_silent_reference(pair):
    _, noisy = pair
    result = score_pair(np.zeros_like(noisy), noisy)
    assert result["status"] == "failed"
    assert "pesq-no-utterances" in result["failure_kinds"]
    assert math.isnan(result["pesq"]) and math.isnan(result["csig"]) and math.isnan(result["covl"])
    assert result["pesq"] != -1


def test_silent_estimate(pair):
    clean, _ = pair
    result = score_pair(clean, np.zeros_like(clean))
    assert result["status"] == "failed"
    assert result["failure_kinds"][0] == "pesq-silent-estimate"
    assert "all zeros" in result["reason"]
    assert all(math.isnan(result[name]) for name in ("pesq", "csig", "cbak", "covl"))


def test_nan_estimate(pair):
    clean, noisy = pair
    broken = noisy.copy()
    broken[100] = np.nan
    result = score_pair(clean, broken)
    assert result["status"] == "failed"
    assert result["failure_kinds"][0] == "pesq-nan-estimate"
    assert "stoi-nan" in result["failure_kinds"]
    assert math.isnan(result["pesq"]) and math.isnan(result["stoi"])


def test_too_short(pair):
    clean, noisy = pair
    result = score_pair(clean[:3000], noisy[:3000])  # 0.19 s
    assert result["status"] == "failed"
    assert result["failure_kinds"][:1] == ["pesq-too-short"]
    assert "stoi-too-short" in result["failure_kinds"]
    assert "0.25 s" in result["reason"] and "0.188 s" in result["reason"]


def test_length_mismatch_is_truncated_and_reported(pair):
    clean, noisy = pair
    result = score_pair(clean, noisy[:-321])
    assert result["status"] == "ok" and result["truncated_samples"] == 321
    same = score_pair(clean[:-321], noisy[:-321])
    for name in METRICS:
        assert result[name] == pytest.approx(same[name], abs=1e-9)
    assert score_pair(clean[:-5], noisy)["truncated_samples"] == 5


def test_unknown_variant_and_bad_shape_raise(pair):
    clean, noisy = pair
    with pytest.raises(ValueError, match="unknown composite variant"):
        score_pair(clean, noisy, variant="Loizou")
    with pytest.raises(ValueError, match="1-D"):
        score_pair(np.stack([clean, clean]), noisy)


def test_optional_measures(pair):
    result = score_pair(*pair, extended_stoi=True, narrowband=True)
    assert result["status"] == "ok"
    assert 0.0 < result["estoi"] < result["stoi"]
    assert 1.0 <= result["pesq_nb"] <= 4.55
    assert narrowband_pesq(*pair) == result["pesq_nb"]


def test_failures_carry_their_kind(pair):
    clean, _ = pair
    with pytest.raises(MetricFailure) as caught:
        wideband_pesq(clean, np.zeros_like(clean))
    assert caught.value.kind == "pesq-silent-estimate"
    assert str(caught.value).startswith("pesq-silent-estimate: ")
    with pytest.raises(ValueError, match="16 kHz"):
        wideband_pesq(clean, clean, 8_000)
    with pytest.raises(MetricFailure, match="estoi-too-short"):
        stoi(clean[:2000], clean[:2000], 16_000, extended=True)


def test_digital_silence_in_the_estimate_keeps_the_composite_defined(pair):
    # As in composite.m, eps is added before the frame measures: exact zeros (a PCM_16 output
    # whose quiet parts round to 0) give a finite LLR, not NaN, and the pair is scored.
    clean, noisy = pair
    gapped = noisy.copy()
    gapped[4000:12000] = 0.0  # a third of the frames
    result = score_pair(clean, gapped)
    assert result["status"] == "ok", result["reason"]
    assert all(math.isfinite(result[name]) for name in METRICS)
    assert result["csig"] < score_pair(clean, noisy)["csig"]


@pytest.mark.parametrize("silent", ["clean", "enhanced"])
def test_estoi_of_an_all_zero_signal_is_a_failure_not_pystoi_s_random_number(pair, silent):
    signals = dict(zip(("clean", "enhanced"), pair, strict=True))
    signals[silent] = np.zeros_like(signals[silent])
    with pytest.raises(MetricFailure) as caught:
        stoi(signals["clean"], signals["enhanced"], 16_000, extended=True)
    assert caught.value.kind == f"estoi-silent-{silent}"
