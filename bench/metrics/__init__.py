"""The metric suite behind every number in the tables: PESQ, STOI, segmental SNR, CSIG/CBAK/COVL, SI-SDR.

`score_pair` scores one clean/enhanced pair and never raises for a bad pair: a measure that
fails gives NaN, status "failed" and a reason. The composite variant is a name from
`VARIANTS` ("loizou", the default, or "upstream-float"; see `composite`).
"""

from __future__ import annotations

import math

import numpy as np

from bench.metrics.composite import DEFAULT_VARIANT, VARIANTS, composite_measures, segmental_snr, wss_scale
from bench.metrics.pesq_stoi import MetricFailure, narrowband_pesq, stoi, wideband_pesq
from bench.metrics.si_sdr import si_sdr
from imse.frontend import SAMPLE_RATE

__all__ = [
    "DEFAULT_VARIANT",
    "METRICS",
    "MetricFailure",
    "VARIANTS",
    "score_pair",
    "wss_scale",
]

#: The paper's six per-utterance measures (the 2008 suite), in the order of the output columns.
METRICS = ("pesq", "csig", "cbak", "covl", "ssnr", "stoi")
OK = "ok"
FAILED = "failed"


def _as_signal(samples: np.ndarray, name: str) -> np.ndarray:
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"{name} must be a 1-D waveform, got shape {signal.shape}")
    return signal


def _attempt(failures: list[MetricFailure], measure, *arguments, **options) -> float:
    """The measure's value, or NaN with its failure appended to `failures`."""
    try:
        return measure(*arguments, **options)
    except MetricFailure as failure:
        failures.append(failure)
        return float("nan")


def _composite_and_snr(
    clean: np.ndarray, enhanced: np.ndarray, sample_rate: int, pesq: float, variant: str,
    failures: list[MetricFailure],
) -> dict[str, float]:
    """CSIG, CBAK, COVL (when PESQ is finite) and segmental SNR of eps-offset signals, failures appended."""
    result: dict[str, float] = {}
    if math.isfinite(pesq):
        scores = composite_measures(clean, enhanced, sample_rate, pesq, variant)
        if math.isfinite(scores.csig):
            result.update(csig=scores.csig, cbak=scores.cbak, covl=scores.covl)
        else:
            failures.append(
                MetricFailure(
                    "composite-undefined",
                    f"LLR {scores.llr:.4g}, WSS {scores.wss:.4g}, segSNR {scores.segmental_snr:.4g} "
                    "(no LPC model in over 5 % of frames)",
                )
            )
        result["ssnr"] = scores.segmental_snr
    else:
        result["ssnr"] = segmental_snr(clean, enhanced, sample_rate)
    if not math.isfinite(result["ssnr"]):
        failures.append(MetricFailure("ssnr-undefined", "segmental SNR is NaN (signal shorter than one frame?)"))
    return result


def score_pair(
    clean: np.ndarray,
    enhanced: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    variant: str = DEFAULT_VARIANT,
    *,
    extended_stoi: bool = False,
    narrowband: bool = False,
) -> dict:
    """All measures of one pair of [-1, 1] waveforms.

    Returns a dict with pesq, csig, cbak, covl, ssnr, stoi and si_sdr (floats, NaN where a
    measure failed), status ("ok" or "failed"), reason ("" or "kind: detail; ..."), failure_kinds
    (the kinds, for counting), variant, and truncated_samples (how many samples a length
    mismatch cut from the longer signal; 0 if none). With `extended_stoi` an "estoi" entry
    is added, with `narrowband` a "pesq_nb" entry (P.862 at 8 kHz).

    Signals of different lengths are cut to the shorter one. For LLR, WSS and segSNR both
    are offset by machine epsilon, as in `composite.m` (CMGAN's port does it only on a length
    mismatch; the two agree except on frames of exact digital silence, where the port's LLR
    is NaN).
    """
    wss_scale(variant)  # an unknown variant is a programming error: raise now
    clean = _as_signal(clean, "clean")
    enhanced = _as_signal(enhanced, "enhanced")
    truncated = abs(clean.size - enhanced.size)
    length = min(clean.size, enhanced.size)
    clean, enhanced = clean[:length], enhanced[:length]
    # composite.m adds eps to both signals before its frame measures, so that a stretch of
    # digital silence (exact zeros, common in PCM_16 outputs) has a defined LPC model instead
    # of a NaN LLR. PESQ and STOI see the signals as they are.
    eps = np.finfo(np.float64).eps

    result: dict = dict.fromkeys(METRICS, float("nan"))
    failures: list[MetricFailure] = []
    result["pesq"] = _attempt(failures, wideband_pesq, clean, enhanced, sample_rate)
    result.update(_composite_and_snr(clean + eps, enhanced + eps, sample_rate, result["pesq"], variant, failures))
    result["stoi"] = _attempt(failures, stoi, clean, enhanced, sample_rate)
    result["si_sdr"] = _attempt(failures, si_sdr, clean, enhanced)
    if extended_stoi:
        result["estoi"] = _attempt(failures, stoi, clean, enhanced, sample_rate, extended=True)
    if narrowband:
        result["pesq_nb"] = _attempt(failures, narrowband_pesq, clean, enhanced, sample_rate)

    result["status"] = FAILED if failures else OK
    result["reason"] = "; ".join(str(failure) for failure in failures)
    result["failure_kinds"] = [failure.kind for failure in failures]
    result["variant"] = variant
    result["truncated_samples"] = truncated
    return result
