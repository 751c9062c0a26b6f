"""A plain per-frame loop of LLR, WSS and segmental SNR, written from Hu & Loizou's definitions.

It is the test oracle for the vectorised `bench.metrics.composite` and the "frame loop"
baseline in the speed benchmark. It shares no code with the module under test: the LPC
coefficients come from solving the normal equations with scipy.linalg.solve_toeplitz
instead of a Levinson-Durbin recursion, and the peak search walks the bands one by one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_toeplitz

CENTRES = [
    50.0,
    120.0,
    190.0,
    260.0,
    330.0,
    400.0,
    470.0,
    540.0,
    617.372,
    703.378,
    798.717,
    904.128,
    1020.38,
    1148.30,
    1288.72,
    1442.54,
    1610.70,
    1794.16,
    1993.93,
    2211.08,
    2446.71,
    2701.97,
    2978.04,
    3276.17,
    3597.63,
]
WIDTHS = [
    70.0,
    70.0,
    70.0,
    70.0,
    70.0,
    70.0,
    70.0,
    77.3724,
    86.0056,
    95.3398,
    105.411,
    116.256,
    127.914,
    140.423,
    153.823,
    168.154,
    183.457,
    199.776,
    217.153,
    235.631,
    255.255,
    276.072,
    298.126,
    321.465,
    346.136,
]


def _frames(signal, sample_rate):
    length = round(0.03 * sample_rate)
    hop = length // 4
    window = np.array([0.5 * (1 - math.cos(2 * math.pi * n / (length + 1))) for n in range(1, length + 1)])
    for index in range((len(signal) - length) // hop):
        start = index * hop
        yield np.asarray(signal[start : start + length], dtype=np.float64) * window


def _matlab_round(value):
    return int(math.floor(value + 0.5))


def _trimmed_mean(values):
    values = sorted(values, key=lambda value: (math.isnan(value), value))
    kept = _matlab_round(0.95 * len(values))
    return float(np.mean(values[:kept]))


def llr_frames(clean, processed, sample_rate):
    order = 10 if sample_rate < 10000 else 16
    values = []
    for clean_frame, processed_frame in zip(_frames(clean, sample_rate), _frames(processed, sample_rate), strict=True):
        lags_clean = np.array([clean_frame[: len(clean_frame) - k] @ clean_frame[k:] for k in range(order + 1)])
        lags_processed = np.array(
            [processed_frame[: len(processed_frame) - k] @ processed_frame[k:] for k in range(order + 1)]
        )
        polynomial_clean = np.r_[1.0, -solve_toeplitz(lags_clean[:order], lags_clean[1:])]
        polynomial_processed = np.r_[1.0, -solve_toeplitz(lags_processed[:order], lags_processed[1:])]
        matrix = np.array([[lags_clean[abs(i - j)] for j in range(order + 1)] for i in range(order + 1)])
        numerator = polynomial_processed @ matrix @ polynomial_processed
        values.append(math.log(numerator / (polynomial_clean @ matrix @ polynomial_clean)))
    return values


def llr(clean, processed, sample_rate):
    return _trimmed_mean(llr_frames(clean, processed, sample_rate))


def _filterbank(sample_rate, half):
    nyquist = sample_rate / 2
    bank = np.zeros((25, half))
    for band in range(25):
        centre = math.floor(CENTRES[band] / nyquist * half)
        width = WIDTHS[band] / nyquist * half
        for k in range(half):
            weight = math.exp(-11 * ((k - centre) / width) ** 2 + math.log(WIDTHS[0] / WIDTHS[band]))
            bank[band, k] = weight if weight > math.exp(-30 / (2 * 2.303)) else 0.0
    return bank


def _peak(energies, slopes, band):
    if slopes[band] > 0:
        n = band
        while n < len(slopes) and slopes[n] > 0:
            n += 1
        return energies[n - 1]
    n = band
    while n >= 0 and slopes[n] <= 0:
        n -= 1
    return energies[n + 1]


def wss_frames(clean, processed, sample_rate, scale=1.0):
    length = round(0.03 * sample_rate)
    size = 2 ** math.ceil(math.log2(2 * length))
    bank = _filterbank(sample_rate, size // 2)
    values = []
    for clean_frame, processed_frame in zip(_frames(clean, sample_rate), _frames(processed, sample_rate), strict=True):
        parts = []
        for frame in (clean_frame * scale, processed_frame * scale):
            power = np.abs(np.fft.fft(frame, size)[: size // 2]) ** 2
            energies = [10 * math.log10(max(float(bank[b] @ power), 1e-10)) for b in range(25)]
            slopes = [energies[b + 1] - energies[b] for b in range(24)]
            peaks = [_peak(energies, slopes, b) for b in range(24)]
            top = max(energies)
            weights = [20.0 / (20.0 + top - energies[b]) * 1.0 / (1.0 + peaks[b] - energies[b]) for b in range(24)]
            parts.append((slopes, weights))
        (clean_slopes, clean_weights), (processed_slopes, processed_weights) = parts
        weights = [(a + b) / 2 for a, b in zip(clean_weights, processed_weights, strict=True)]
        distance = sum(w * (a - b) ** 2 for w, a, b in zip(weights, clean_slopes, processed_slopes, strict=True))
        values.append(distance / sum(weights))
    return values


def wss(clean, processed, sample_rate, scale=1.0):
    return _trimmed_mean(wss_frames(clean, processed, sample_rate, scale))


def segmental_snr(clean, processed, sample_rate):
    eps = np.finfo(float).eps
    values = []
    for clean_frame, processed_frame in zip(_frames(clean, sample_rate), _frames(processed, sample_rate), strict=True):
        signal = float(clean_frame @ clean_frame)
        noise = float((clean_frame - processed_frame) @ (clean_frame - processed_frame))
        values.append(min(max(10 * math.log10(signal / (noise + eps) + eps), -10.0), 35.0))
    return float(np.mean(values))


def composite(clean, processed, sample_rate, pesq, scale=1.0):
    """(CSIG, CBAK, COVL, LLR, WSS, segSNR) by the frame loop, clipped to [1, 5]."""
    distortion_llr = llr(clean, processed, sample_rate)
    distortion_wss = wss(clean, processed, sample_rate, scale)
    snr = segmental_snr(clean, processed, sample_rate)
    csig = 3.093 - 1.029 * distortion_llr + 0.603 * pesq - 0.009 * distortion_wss
    cbak = 1.634 + 0.478 * pesq - 0.007 * distortion_wss + 0.063 * snr
    covl = 1.594 + 0.805 * pesq - 0.512 * distortion_llr - 0.007 * distortion_wss
    clip = lambda value: min(5.0, max(1.0, value))  # noqa: E731
    return clip(csig), clip(cbak), clip(covl), distortion_llr, distortion_wss, snr
