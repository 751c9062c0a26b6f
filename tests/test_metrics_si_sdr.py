"""SI-SDR against cases computed by hand, and its undefined cases as named failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics import MetricFailure, score_pair
from bench.metrics.si_sdr import si_sdr
from tests.dummies.audio import speech_like

CLEAN = np.array([1.0, -1.0, 1.0, -1.0])
NOISE = np.array([0.1, 0.1, -0.1, -0.1])
"""Zero-mean and orthogonal to CLEAN: |2 CLEAN|^2 = 16 and |NOISE|^2 = 0.04, so SI-SDR is 10 log10(400) dB."""


def test_scaled_clean_plus_orthogonal_noise_gives_the_energy_ratio():
    assert si_sdr(CLEAN, 2.0 * CLEAN + NOISE) == pytest.approx(10 * math.log10(400), abs=1e-12)


def test_it_is_invariant_to_the_estimate_s_scale_and_to_a_dc_offset():
    expected = 10 * math.log10(400)
    assert si_sdr(CLEAN, -0.3 * (2.0 * CLEAN + NOISE)) == pytest.approx(expected, abs=1e-12)
    assert si_sdr(CLEAN + 5.0, 2.0 * CLEAN + NOISE - 0.7) == pytest.approx(expected, abs=1e-12)


def test_a_speech_like_case_matches_the_closed_form():
    clean = speech_like(1.0, seed=3)
    clean = clean - clean.mean()
    noise = np.random.default_rng(4).standard_normal(clean.size)
    noise -= noise.mean()
    noise -= (noise @ clean) / (clean @ clean) * clean  # orthogonal to clean, still zero-mean
    noise *= math.sqrt(0.5 * (clean @ clean) / (noise @ noise))  # |noise|^2 = |clean|^2 / 2
    assert si_sdr(clean, 0.8 * clean + noise) == pytest.approx(10 * math.log10(0.64 / 0.5), abs=1e-9)


@pytest.mark.parametrize(("clean", "enhanced", "kind"), [
    (np.full(4, 0.5), CLEAN, "si-sdr-silent-reference"),
    (CLEAN, np.full(4, -0.2), "si-sdr-silent-estimate"),
    (CLEAN, np.array([1.0, np.nan, 0.0, 0.0]), "si-sdr-nan"),
])
def test_undefined_cases_are_named_failures(clean, enhanced, kind):
    with pytest.raises(MetricFailure) as caught:
        si_sdr(clean, enhanced)
    assert caught.value.kind == kind


def test_an_exact_copy_and_an_orthogonal_estimate_are_finite_through_eps():
    eps = np.finfo(np.float64).eps
    assert si_sdr(CLEAN, 3.0 * CLEAN) == pytest.approx(10 * math.log10((36.0 + eps) / eps), abs=1e-9)  # ~172 dB
    assert si_sdr(CLEAN, NOISE) == pytest.approx(10 * math.log10(eps / (0.04 + eps)), abs=1e-9)  # ~-142 dB


def test_score_pair_has_si_sdr_beside_the_2008_suite():
    clean = speech_like(1.0, seed=5)
    noise = 0.05 * np.random.default_rng(6).standard_normal(clean.size)
    result = score_pair(clean, clean + noise)
    centred_clean, centred_noise = clean - clean.mean(), noise - noise.mean()
    projection = (centred_noise @ centred_clean) / (centred_clean @ centred_clean)
    target = (1 + projection) ** 2 * (centred_clean @ centred_clean)
    residual = centred_noise - projection * centred_clean
    assert result["status"] == "ok"
    assert result["si_sdr"] == pytest.approx(10 * math.log10(target / (residual @ residual)), abs=1e-9)

