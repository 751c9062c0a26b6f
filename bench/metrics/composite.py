"""Hu & Loizou's composite measures (CSIG, CBAK, COVL) and their parts: LLR, WSS, segmental SNR.

Written from the definitions in Hu & Loizou (2008), "Evaluation of objective quality measures
for speech enhancement", and Loizou's `composite.m`, vectorised over frames with numpy.

Every function takes float waveforms on the [-1, 1] scale (what `imse.audio.read_audio`
gives). The only measure that depends on the absolute level is WSS (its band energies are
floored at 1e-10 before the dB conversion), and that is where the two variants differ:

- ``loizou``: WSS on the [-1, 1] scale, as MATLAB's `composite.m` does it. This equals the
  Python code of CMGAN fed with int16 samples (it divides by 32768 once).
- ``upstream-float``: WSS on the [-1, 1] scale divided by 32768 once more, which is what
  the same Python code does when it is given floats, as the published MP-SENet, MUSE and
  IMSE evaluations did. The floor then clips quiet bands and inflates CSIG/CBAK/COVL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Factor applied to the [-1, 1] waveform before the WSS band energies, per variant.
VARIANTS: MappingProxyType[str, float] = MappingProxyType({"loizou": 1.0, "upstream-float": 1.0 / 32768.0})
DEFAULT_VARIANT = "loizou"

#: Share of frames (the lowest-distortion ones) that LLR and WSS average over.
KEPT_FRAME_SHARE = 0.95
SEGMENTAL_SNR_RANGE_DB = (-10.0, 35.0)
#: Klatt's constants for the WSS weights (Klatt 1982, p. 1280).
KLATT_GLOBAL_MAXIMUM = 20.0
KLATT_LOCAL_MAXIMUM = 1.0
WSS_ENERGY_FLOOR = 1e-10

#: Critical band centre frequencies and bandwidths in Hz (25 bands up to about 3.6 kHz).
CRITICAL_BAND_CENTRES_HZ = np.array([
    50.0000, 120.000, 190.000, 260.000, 330.000, 400.000, 470.000, 540.000, 617.372, 703.378,
    798.717, 904.128, 1020.38, 1148.30, 1288.72, 1442.54, 1610.70, 1794.16, 1993.93, 2211.08,
    2446.71, 2701.97, 2978.04, 3276.17, 3597.63,
])
CRITICAL_BANDWIDTHS_HZ = np.array([
    70.0000, 70.0000, 70.0000, 70.0000, 70.0000, 70.0000, 70.0000, 77.3724, 86.0056, 95.3398,
    105.411, 116.256, 127.914, 140.423, 153.823, 168.154, 183.457, 199.776, 217.153, 235.631,
    255.255, 276.072, 298.126, 321.465, 346.136,
])


@dataclass(frozen=True)
class CompositeScores:
    """The three composite ratings and the distortions they were predicted from."""

    csig: float
    cbak: float
    covl: float
    llr: float
    wss: float
    segmental_snr: float


def wss_scale(variant: str) -> float:
    """The WSS input scale of a named variant; an unknown name is an error listing the known ones."""
    try:
        return VARIANTS[variant]
    except KeyError:
        raise ValueError(f"unknown composite variant {variant!r}; choose one of {sorted(VARIANTS)}") from None


def frame_geometry(sample_rate: int) -> tuple[int, int]:
    """Window and hop in samples: 30 ms windows, a quarter-window hop."""
    window_length = int(round(30 * sample_rate / 1000))
    return window_length, window_length // 4


def analysis_window(window_length: int) -> np.ndarray:
    """Loizou's Hann window, 0.5 (1 - cos(2 pi n / (N + 1))) for n = 1..N (no zero end points)."""
    n = np.arange(1, window_length + 1)
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * n / (window_length + 1)))


def windowed_frames(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Frames of shape (frames, window), each multiplied by the analysis window.

    The number of frames is floor((length - window) / hop), as in `composite.m` (which leaves
    out the last full frame when the division is exact).
    """
    window_length, hop = frame_geometry(sample_rate)
    signal = np.asarray(signal, dtype=np.float64)
    count = max((signal.size - window_length) // hop, 0)
    if count == 0:
        return np.empty((0, window_length))
    frames = sliding_window_view(signal, window_length)[::hop][:count]
    return frames * analysis_window(window_length)


def _mean_of_lowest(values: np.ndarray, share: float = KEPT_FRAME_SHARE) -> float:
    """Mean of the lowest round(share * N) values (MATLAB rounding; NaN sorts last)."""
    kept = int(math.floor(values.size * share + 0.5))
    if kept == 0:
        return float("nan")
    return float(np.mean(np.sort(values)[:kept]))


def _check_pair(clean: np.ndarray, processed: np.ndarray) -> None:
    if np.shape(clean) != np.shape(processed) or np.ndim(clean) != 1:
        raise ValueError(
            f"clean and processed must be 1-D and of equal length, got {np.shape(clean)} and {np.shape(processed)}"
        )


def lpc_order(sample_rate: int) -> int:
    """LPC order: 10 below 10 kHz, 16 above."""
    return 10 if sample_rate < 10_000 else 16


def fft_size(sample_rate: int) -> int:
    """FFT length of the WSS spectra: the power of two at or above twice the window (1024 at 16 kHz)."""
    window_length, _ = frame_geometry(sample_rate)
    return 2 ** int(math.ceil(math.log2(2 * window_length)))


def power_spectra(frames: np.ndarray, size: int) -> np.ndarray:
    """|FFT|^2 of each frame, zero-padded to `size`, bins 0..size/2: shape (frames, size/2 + 1)."""
    return np.abs(np.fft.rfft(frames, size, axis=1)) ** 2


def autocorrelation_from_power(power: np.ndarray, order: int) -> np.ndarray:
    """Autocorrelation lags 0..order of each frame from its power spectrum (Wiener-Khinchin).

    The FFT is at least twice the frame, so the circular lags equal the linear ones. A small
    cosine product replaces a second (inverse) FFT; LLR and WSS thus share one FFT per frame.
    """
    size = 2 * (power.shape[1] - 1)
    bins = np.arange(power.shape[1])
    weights = np.where((bins == 0) | (bins == size // 2), 1.0, 2.0) / size
    cosines = weights[:, None] * np.cos(2.0 * np.pi * np.outer(bins, np.arange(order + 1)) / size)
    return power @ cosines


def levinson_durbin(lags: np.ndarray) -> np.ndarray:
    """LPC polynomials [1, -a_1, ..., -a_p] of each row of autocorrelation lags, shape (frames, p + 1).

    The recursion runs over the model order; all frames are solved at once. A frame of zeros
    gives NaN coefficients, as it does in `composite.m`.
    """
    frames, width = lags.shape
    order = width - 1
    predictor = np.zeros((frames, order))
    error = lags[:, 0].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(order):
            # reflection coefficient: (R[i+1] - sum_j a_j R[i-j]) / E_i
            correlation = lags[:, i + 1] - np.einsum("ij,ij->i", predictor[:, :i], lags[:, i:0:-1])
            reflection = correlation / error
            previous = predictor[:, :i].copy()
            predictor[:, :i] = previous - reflection[:, None] * previous[:, ::-1]
            predictor[:, i] = reflection
            error = (1.0 - reflection**2) * error
    return np.concatenate([np.ones((frames, 1)), -predictor], axis=1)


def log_likelihood_ratio_per_frame(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> np.ndarray:
    """LLR of each frame: log(a_p R_c a_p^T / a_c R_c a_c^T), R_c the clean autocorrelation matrix."""
    return _llr_of_frames(*_power_spectra_of_pair(clean, processed, sample_rate), sample_rate)


def _power_spectra_of_pair(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra of the windowed frames of both signals (checked to be a 1-D equal-length pair)."""
    _check_pair(clean, processed)
    size = fft_size(sample_rate)
    return (power_spectra(windowed_frames(clean, sample_rate), size),
            power_spectra(windowed_frames(processed, sample_rate), size))


def _llr_of_frames(clean_power: np.ndarray, processed_power: np.ndarray, sample_rate: int) -> np.ndarray:
    order = lpc_order(sample_rate)
    clean_lags = autocorrelation_from_power(clean_power, order)
    processed_lags = autocorrelation_from_power(processed_power, order)
    clean_polynomial = levinson_durbin(clean_lags)
    processed_polynomial = levinson_durbin(processed_lags)
    with np.errstate(divide="ignore", invalid="ignore"):
        numerator = _toeplitz_quadratic_form(processed_polynomial, clean_lags)
        denominator = _toeplitz_quadratic_form(clean_polynomial, clean_lags)
        return np.log(numerator / denominator)


def _toeplitz_quadratic_form(polynomials: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """a R a^T per frame, R the symmetric Toeplitz matrix of `lags`, without forming R.

    a R a^T = sum_k w_k r_k c_k, with c_k = sum_j a_j a_(j+k) and w_0 = 1, w_k = 2 otherwise.
    """
    width = polynomials.shape[1]
    products = np.stack(
        [np.einsum("ij,ij->i", polynomials[:, : width - lag], polynomials[:, lag:]) for lag in range(width)], axis=1
    )
    products[:, 1:] *= 2.0
    return np.einsum("ij,ij->i", products, lags)


def log_likelihood_ratio(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """Mean LLR over the lowest 95 % of frames."""
    return _mean_of_lowest(log_likelihood_ratio_per_frame(clean, processed, sample_rate))


def critical_band_filters(sample_rate: int, size: int) -> np.ndarray:
    """Gaussian critical band filters over the first size/2 bins of a size-point FFT, shape (25, size/2).

    Each has equal area (scaled by bw_min / bw), and weights below -30 dB are zeroed.
    """
    half = size // 2
    nyquist = sample_rate / 2
    centres = np.floor(CRITICAL_BAND_CENTRES_HZ / nyquist * half)
    widths = CRITICAL_BANDWIDTHS_HZ / nyquist * half
    gain = np.log(CRITICAL_BANDWIDTHS_HZ[0]) - np.log(CRITICAL_BANDWIDTHS_HZ)
    bins = np.arange(half)
    filters = np.exp(-11.0 * ((bins[None, :] - centres[:, None]) / widths[:, None]) ** 2 + gain[:, None])
    minimum = math.exp(-30.0 / (2.0 * 2.303))
    return np.where(filters > minimum, filters, 0.0)


def _band_energies_db(power: np.ndarray, filters: np.ndarray, scale: float) -> np.ndarray:
    """Filterbank energies in dB of frames scaled by `scale`, floored at 1e-10 before the log.

    Scaling the waveform by s scales the power by s^2 (exactly, for the powers of two in
    `VARIANTS`). Each filter is a narrow run of bins, so each band is one short dot product
    over all frames at once (a loop over the 25 bands, not over frames).
    """
    energies = np.empty((power.shape[0], filters.shape[0]))
    for band, weights in enumerate(filters):
        support = np.flatnonzero(weights)
        low, high = support[0], support[-1] + 1
        energies[:, band] = power[:, low:high] @ weights[low:high]
    return 10.0 * np.log10(np.maximum(energies * scale**2, WSS_ENERGY_FLOOR))


def _nearest_peaks(energies: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """Energy of the nearest spectral peak for each band, as `composite.m` finds it.

    On a rising slope it searches right to the first band index n with a non-rising slope and
    takes the energy at n - 1 (Loizou's code, kept as it is); on a falling or flat slope it
    searches left to the last rising slope n and takes the energy at n + 1.
    """
    bands = slopes.shape[1]
    index = np.arange(bands)
    next_non_rising = np.where(slopes <= 0, index, bands)
    next_non_rising = np.minimum.accumulate(next_non_rising[:, ::-1], axis=1)[:, ::-1]
    last_rising = np.maximum.accumulate(np.where(slopes > 0, index, -1), axis=1)
    right = np.take_along_axis(energies, np.maximum(next_non_rising - 1, 0), axis=1)
    left = np.take_along_axis(energies, last_rising + 1, axis=1)
    return np.where(slopes > 0, right, left)


def weighted_spectral_slope_per_frame(
    clean: np.ndarray, processed: np.ndarray, sample_rate: int, scale: float = 1.0
) -> np.ndarray:
    """Klatt's weighted spectral slope distance of each frame, normalised by the sum of weights.

    `scale` multiplies both waveforms first; it matters only through the 1e-10 energy floor
    (see `VARIANTS`).
    """
    return _wss_of_frames(*_power_spectra_of_pair(clean, processed, sample_rate), sample_rate, scale)


def _wss_of_frames(clean_power: np.ndarray, processed_power: np.ndarray, sample_rate: int, scale: float) -> np.ndarray:
    filters = critical_band_filters(sample_rate, fft_size(sample_rate))
    clean_db = _band_energies_db(clean_power, filters, scale)
    processed_db = _band_energies_db(processed_power, filters, scale)
    weights = []
    slopes = []
    for energies in (clean_db, processed_db):
        slope = np.diff(energies, axis=1)
        peaks = _nearest_peaks(energies, slope)
        lower = energies[:, :-1]
        global_weight = KLATT_GLOBAL_MAXIMUM / (
            KLATT_GLOBAL_MAXIMUM + energies.max(axis=1, keepdims=True) - lower
        )
        local_weight = KLATT_LOCAL_MAXIMUM / (KLATT_LOCAL_MAXIMUM + peaks - lower)
        weights.append(global_weight * local_weight)
        slopes.append(slope)
    weight = (weights[0] + weights[1]) / 2.0
    return np.sum(weight * (slopes[0] - slopes[1]) ** 2, axis=1) / np.sum(weight, axis=1)


def weighted_spectral_slope(
    clean: np.ndarray, processed: np.ndarray, sample_rate: int, scale: float = 1.0
) -> float:
    """Mean WSS over the lowest 95 % of frames."""
    return _mean_of_lowest(weighted_spectral_slope_per_frame(clean, processed, sample_rate, scale))


def segmental_snr_per_frame(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> np.ndarray:
    """Windowed per-frame SNR in dB, clipped to [-10, 35] dB (eps terms as in `composite.m`)."""
    _check_pair(clean, processed)
    return _segmental_snr_of_frames(windowed_frames(clean, sample_rate), windowed_frames(processed, sample_rate))


def _segmental_snr_of_frames(clean_frames: np.ndarray, processed_frames: np.ndarray) -> np.ndarray:
    signal_energy = np.sum(clean_frames**2, axis=1)
    noise_energy = np.sum((clean_frames - processed_frames) ** 2, axis=1)
    eps = np.finfo(np.float64).eps
    with np.errstate(divide="ignore"):
        snr = 10.0 * np.log10(signal_energy / (noise_energy + eps) + eps)
    return np.clip(snr, *SEGMENTAL_SNR_RANGE_DB)


def segmental_snr(clean: np.ndarray, processed: np.ndarray, sample_rate: int) -> float:
    """Mean segmental SNR over all frames, in dB."""
    values = segmental_snr_per_frame(clean, processed, sample_rate)
    return float(np.mean(values)) if values.size else float("nan")


def composite_from_parts(
    pesq: float, llr: float, wss: float, segmental_snr_db: float, clip: bool = True
) -> tuple[float, float, float]:
    """CSIG, CBAK, COVL from the regression of Hu & Loizou (2008), clipped to [1, 5] unless told not to."""
    csig = 3.093 - 1.029 * llr + 0.603 * pesq - 0.009 * wss
    cbak = 1.634 + 0.478 * pesq - 0.007 * wss + 0.063 * segmental_snr_db
    covl = 1.594 + 0.805 * pesq - 0.512 * llr - 0.007 * wss
    if clip:
        csig, cbak, covl = (min(5.0, max(1.0, value)) for value in (csig, cbak, covl))
    return float(csig), float(cbak), float(covl)


def composite_measures(
    clean: np.ndarray,
    processed: np.ndarray,
    sample_rate: int,
    pesq: float,
    variant: str = DEFAULT_VARIANT,
    clip: bool = True,
) -> CompositeScores:
    """CSIG, CBAK and COVL of equal-length [-1, 1] waveforms, given their wideband PESQ.

    NaN in, NaN out: a NaN PESQ or a frame measure that cannot be formed (digital silence in
    more than 5 % of frames) gives NaN ratings, never a made-up number.
    """
    scale = wss_scale(variant)
    _check_pair(clean, processed)
    clean_frames = windowed_frames(clean, sample_rate)
    processed_frames = windowed_frames(processed, sample_rate)
    size = fft_size(sample_rate)
    clean_power = power_spectra(clean_frames, size)
    processed_power = power_spectra(processed_frames, size)
    llr = _mean_of_lowest(_llr_of_frames(clean_power, processed_power, sample_rate))
    wss = _mean_of_lowest(_wss_of_frames(clean_power, processed_power, sample_rate, scale))
    snr_frames = _segmental_snr_of_frames(clean_frames, processed_frames)
    snr = float(np.mean(snr_frames)) if snr_frames.size else float("nan")
    if not all(math.isfinite(value) for value in (pesq, llr, wss, snr)):
        nan = float("nan")
        return CompositeScores(nan, nan, nan, llr, wss, snr)
    csig, cbak, covl = composite_from_parts(pesq, llr, wss, snr, clip=clip)
    return CompositeScores(csig, cbak, covl, llr, wss, snr)
