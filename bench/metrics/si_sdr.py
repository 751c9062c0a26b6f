"""Scale-invariant signal-to-distortion ratio (SI-SDR, in dB; Le Roux et al., ICASSP 2019).

Both signals have their mean removed first. Le Roux et al. define SI-SDR for zero-mean
signals (as do the DNS and URGENT challenge scripts): a DC offset is neither speech nor the
distortion the measure is about, and without the removal an offset in the estimate would
move the optimal scale of the target. The estimate is projected on the clean signal,
`target = (<e, s> / <s, s>) s`, and SI-SDR = 10 log10(|target|^2 / |e - target|^2), in
float64.
"""

from __future__ import annotations

import math

import numpy as np

from bench.metrics.pesq_stoi import MetricFailure


def si_sdr(clean: np.ndarray, enhanced: np.ndarray) -> float:
    """SI-SDR in dB of `enhanced` against `clean` (1-D, same length); MetricFailure where it is undefined.

    Undefined (a failure, never a clipped number): a silent clean signal (no target to
    project on), an estimate with no component along it (minus infinity) and an exact
    scaled copy of it (plus infinity, no distortion).
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
    target = (float(np.dot(enhanced, clean)) / reference_energy) * clean
    distortion = enhanced - target
    target_energy = float(np.dot(target, target))
    distortion_energy = float(np.dot(distortion, distortion))
    if target_energy == 0.0:
        raise MetricFailure("si-sdr-no-target", "the enhanced signal has no component along the clean one")
    if distortion_energy == 0.0:
        raise MetricFailure("si-sdr-identical", "the enhanced signal is an exact scaled copy of the clean one")
    return 10.0 * math.log10(target_energy / distortion_energy)
