"""Scale-invariant signal-to-distortion ratio (SI-SDR, in dB; Le Roux et al., ICASSP 2019).

Both signals have their mean removed first. Le Roux et al. define SI-SDR for zero-mean
signals (as do the DNS and URGENT challenge scripts): a DC offset is neither speech nor the
distortion the measure is about, and without the removal an offset in the estimate would
move the optimal scale of the target. The estimate is projected on the clean signal,
`target = (<e, s> / <s, s>) s`, and

    SI-SDR = 10 log10((|target|^2 + eps) / (|e - target|^2 + eps)),   eps = float64 machine epsilon,

in float64. The eps terms (as in torchmetrics and asteroid) matter only at the extremes: an
exact scaled copy of the clean signal scores 10 log10(|target|^2 / eps), well over 100 dB,
instead of +inf, so that scoring the clean files against themselves stays a valid run.
"""

from __future__ import annotations

import math

import numpy as np

from bench.metrics.pesq_stoi import MetricFailure

EPS = float(np.finfo(np.float64).eps)


def si_sdr(clean: np.ndarray, enhanced: np.ndarray) -> float:
    """SI-SDR in dB of `enhanced` against `clean` (1-D, same length); MetricFailure where it is undefined.

    Undefined (a failure, never a made-up number): a non-finite sample, a constant (silent)
    clean signal, which leaves no target to project on, and a constant (silent) estimate.
    """
    clean = np.asarray(clean, dtype=np.float64)
    enhanced = np.asarray(enhanced, dtype=np.float64)
    if clean.shape != enhanced.shape:
        raise ValueError(f"SI-SDR needs signals of one length, got {clean.shape} and {enhanced.shape}")
    if not (np.all(np.isfinite(clean)) and np.all(np.isfinite(enhanced))):
        raise MetricFailure("si-sdr-nan", "a signal contains NaN or infinite samples")
    clean = clean - clean.mean()
    enhanced = enhanced - enhanced.mean()
    reference_energy = float(np.dot(clean, clean))
    if reference_energy == 0.0:
        raise MetricFailure("si-sdr-silent-reference", "the clean signal is constant (silent): no target")
    if not np.any(enhanced):
        raise MetricFailure("si-sdr-silent-estimate", "the enhanced signal is constant (silent)")
    target = (float(np.dot(enhanced, clean)) / reference_energy) * clean
    distortion = enhanced - target
    return 10.0 * math.log10((float(np.dot(target, target)) + EPS) / (float(np.dot(distortion, distortion)) + EPS))
