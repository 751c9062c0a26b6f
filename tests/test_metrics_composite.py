"""The vectorised composite measures against a plain frame loop and against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import solve_toeplitz

from bench.metrics import VARIANTS
from bench.metrics import composite as measures
from tests.dummies import reference_composite as reference
from tests.dummies.audio import noisy_version, speech_like


@pytest.fixture(scope="module")
def pair():
    clean = speech_like(1.5, seed=3)
    return clean, noisy_version(clean, snr_db=3.0, seed=4)


def test_variants_are_named_scales():
    assert dict(VARIANTS) == {"loizou": 1.0, "upstream-float": 1.0 / 32768.0}
    with pytest.raises(ValueError, match="unknown composite variant 'float'.*loizou"):
        measures.wss_scale("float")


def test_frames_follow_composite_m():
    window, hop = measures.frame_geometry(16_000)
    assert (window, hop) == (480, 120)
    assert measures.frame_geometry(8_000) == (240, 60)
    # floor((length - window) / hop) frames; an exact fit leaves the last one out.
    assert measures.windowed_frames(np.ones(480 + 120 * 10), 16_000).shape == (10, 480)
    assert measures.windowed_frames(np.ones(480 + 120 * 10 + 119), 16_000).shape == (10, 480)
    assert measures.windowed_frames(np.ones(479), 16_000).shape == (0, 480)
    window_values = measures.analysis_window(480)
    assert window_values[0] > 0 and window_values[-1] > 0
    assert np.allclose(window_values, window_values[::-1])
    signal = np.arange(2000.0)
    frames = measures.windowed_frames(signal, 16_000)
    np.testing.assert_array_equal(frames[3], signal[360:840] * window_values)


def test_levinson_durbin_solves_the_normal_equations():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((7, 480)) * measures.analysis_window(480)
    lags = measures.autocorrelation_from_power(measures.power_spectra(frames, 1024), 16)
    for frame, row in zip(frames, lags, strict=True):
        direct = [frame[: 480 - k] @ frame[k:] for k in range(17)]
        np.testing.assert_allclose(row, direct, rtol=0, atol=1e-13 * direct[0])
    polynomials = measures.levinson_durbin(lags)
    assert np.all(polynomials[:, 0] == 1.0)
    for row, polynomial in zip(lags, polynomials, strict=True):
        np.testing.assert_allclose(-polynomial[1:], solve_toeplitz(row[:16], row[1:]), rtol=1e-8, atol=1e-10)


def test_llr_is_zero_for_identical_and_positive_for_different(pair):
    clean, noisy = pair
    assert measures.log_likelihood_ratio(clean, clean, 16_000) == pytest.approx(0.0, abs=1e-12)
    per_frame = measures.log_likelihood_ratio_per_frame(clean, noisy, 16_000)
    assert np.all(per_frame > -1e-9)  # the clean LPC minimises the residual energy
    assert measures.log_likelihood_ratio(clean, noisy, 16_000) > 0.1


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_vectorised_equals_frame_loop(pair, variant):
    clean, noisy = pair
    scale = VARIANTS[variant]
    np.testing.assert_allclose(
        measures.log_likelihood_ratio_per_frame(clean, noisy, 16_000),
        reference.llr_frames(clean, noisy, 16_000),
        rtol=1e-6,
        atol=1e-8,
    )
    np.testing.assert_allclose(
        measures.weighted_spectral_slope_per_frame(clean, noisy, 16_000, scale),
        reference.wss_frames(clean, noisy, 16_000, scale),
        rtol=1e-9,
        atol=1e-9,
    )
    vectorised = measures.composite_measures(clean, noisy, 16_000, pesq=2.0, variant=variant)
    looped = reference.composite(clean, noisy, 16_000, 2.0, scale)
    np.testing.assert_allclose(
        [vectorised.csig, vectorised.cbak, vectorised.covl, vectorised.llr, vectorised.wss, vectorised.segmental_snr],
        looped,
        rtol=1e-7,
        atol=1e-9,
    )


def test_vectorised_equals_frame_loop_at_8_khz():
    clean = speech_like(1.0, seed=5, sample_rate=8_000)
    noisy = noisy_version(clean, 10.0, seed=6)
    assert measures.lpc_order(8_000) == 10
    assert measures.log_likelihood_ratio(clean, noisy, 8_000) == pytest.approx(
        reference.llr(clean, noisy, 8_000), rel=1e-7
    )
    assert measures.weighted_spectral_slope(clean, noisy, 8_000) == pytest.approx(
        reference.wss(clean, noisy, 8_000), rel=1e-9
    )


def test_nearest_peaks_by_hand():
    energies = np.array([[0.0, 2.0, 5.0, 4.0, 1.0, 3.0, 3.0, 0.0]])
    slopes = np.diff(energies, axis=1)  # [2, 3, -1, -3, 2, 0, -3]
    peaks = measures._nearest_peaks(energies, slopes)
    # rising: search right to the first non-rising slope n, take energy[n - 1] (composite.m);
    # falling or flat: search left to the last rising slope n, take energy[n + 1].
    np.testing.assert_array_equal(peaks, [[2.0, 2.0, 5.0, 5.0, 1.0, 3.0, 3.0]])


def test_wss_floor_is_what_the_variants_differ_by(pair):
    clean, noisy = pair
    loud = measures.weighted_spectral_slope(clean, noisy, 16_000, 1.0)
    # Far above the 1e-10 floor the measure is scale-free ...
    assert measures.weighted_spectral_slope(clean * 0.5, noisy * 0.5, 16_000, 1.0) == pytest.approx(loud, rel=1e-9)
    # ... the doubly scaled input hits the floor and the distance shrinks.
    assert measures.weighted_spectral_slope(clean, noisy, 16_000, VARIANTS["upstream-float"]) < loud - 1.0


def test_segmental_snr_definition():
    clean = speech_like(1.0, seed=7)
    assert measures.segmental_snr(clean, clean, 16_000) == 35.0
    assert measures.segmental_snr(clean, -clean, 16_000) == pytest.approx(10 * math.log10(0.25))
    assert measures.segmental_snr(clean, np.zeros_like(clean) + 1.0, 16_000) == -10.0
    half = measures.segmental_snr_per_frame(clean, 0.5 * clean, 16_000)
    np.testing.assert_allclose(half[np.abs(half) < 35], 10 * math.log10(4.0), atol=1e-9)


def test_composite_formulas_and_clipping():
    csig, cbak, covl = measures.composite_from_parts(pesq=3.0, llr=0.5, wss=30.0, segmental_snr_db=5.0)
    assert csig == pytest.approx(3.093 - 1.029 * 0.5 + 0.603 * 3.0 - 0.009 * 30.0)
    assert cbak == pytest.approx(1.634 + 0.478 * 3.0 - 0.007 * 30.0 + 0.063 * 5.0)
    assert covl == pytest.approx(1.594 + 0.805 * 3.0 - 0.512 * 0.5 - 0.007 * 30.0)
    assert measures.composite_from_parts(4.6, 0.0, 0.0, 35.0) == (5.0, 5.0, 5.0)
    assert measures.composite_from_parts(1.0, 3.0, 150.0, -10.0) == (1.0, 1.0, 1.0)
    unclipped = measures.composite_from_parts(4.6, 0.0, 0.0, 35.0, clip=False)
    assert unclipped[0] > 5.0


def test_composite_propagates_nan_instead_of_inventing_numbers(pair):
    clean, noisy = pair
    scores = measures.composite_measures(clean, noisy, 16_000, pesq=float("nan"))
    assert math.isnan(scores.csig) and math.isnan(scores.cbak) and math.isnan(scores.covl)
    assert math.isfinite(scores.llr)
    silent = noisy.copy()
    silent[: int(0.5 * silent.size)] = 0.0  # half the estimate is digital silence: LLR undefined there
    assert math.isnan(measures.composite_measures(clean, silent, 16_000, pesq=2.0).csig)


def test_unequal_lengths_are_refused_here(pair):
    clean, noisy = pair
    with pytest.raises(ValueError, match="equal length"):
        measures.log_likelihood_ratio(clean, noisy[:-1], 16_000)
